//! The IPVS worker's last status as the parent keeps it between its
//! reports, for status.json, the metrics and STATUS=.
//!
//! Each virtual server's real servers are packed into one byte buffer,
//! about 12 bytes a server over IPv4 (flags, address, port, then the
//! weights and connection counts as LEB128 varints), and unpacked when
//! the status is rendered. As a list of `RealServerStatus` (52 bytes) the
//! record was 0.52 MiB of the parent at 10,000 real servers (issue 18).
//! The buffers are reused by the next report of the same shape, so a
//! report a second does not move the parent's heap.
//!
//! Only the parent writes and reads these buffers (from a status it has
//! decoded and bounded itself: `intake`); a truncated buffer unpacks to
//! the servers before the cut, never to a panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::ipc::msg::{Endpoint, RealServerStatus, VirtualServerStatus};

const V6: u8 = 1;
const UP: u8 = 1 << 1;
const SORRY: u8 = 1 << 2;
const DESIRED: u8 = 1 << 3;
const KERNEL: u8 = 1 << 4;

/// A virtual server's status with its real servers packed.
#[derive(Debug, Default)]
struct Packed {
    key: String,
    scheduler: String,
    quorum_up: bool,
    suspended: bool,
    services: Vec<String>,
    in_kernel: usize,
    /// How many real servers `servers` holds.
    count: usize,
    servers: Vec<u8>,
}

/// The IPVS worker's last report of its virtual servers.
#[derive(Debug, Default)]
pub struct IpvsRecord {
    vss: Vec<Packed>,
}

impl IpvsRecord {
    /// Keeps `new` in place of the last report, in the same buffers when
    /// they are the same shape (grown when the new one needs more, room
    /// beyond a sixteenth given back).
    pub fn take(&mut self, new: Vec<VirtualServerStatus>) {
        self.vss.resize_with(new.len(), Packed::default);
        self.vss.shrink_to_fit();
        for (p, n) in self.vss.iter_mut().zip(new) {
            // Every field, so that a new one is not forgotten here.
            let VirtualServerStatus {
                key,
                scheduler,
                real_servers,
                quorum_up,
                suspended,
                services,
                in_kernel,
            } = n;
            p.key.clone_from(&key);
            p.scheduler.clone_from(&scheduler);
            p.services.clone_from(&services);
            p.services.shrink_to_fit();
            (p.quorum_up, p.suspended, p.in_kernel) = (quorum_up, suspended, in_kernel);
            p.servers.clear();
            for r in &real_servers {
                pack(r, &mut p.servers);
            }
            // Room from doubling is given back; a next report of about
            // the same size then fits where this one is.
            if p.servers.capacity() - p.servers.len() > p.servers.len() / 16 {
                p.servers.shrink_to_fit();
            }
            p.count = real_servers.len();
        }
    }

    pub fn is_empty(&self) -> bool {
        self.vss.is_empty()
    }

    /// The report as it came.
    pub fn unpack(&self) -> Vec<VirtualServerStatus> {
        self.vss
            .iter()
            .map(|p| VirtualServerStatus {
                key: p.key.clone(),
                scheduler: p.scheduler.clone(),
                real_servers: Servers::of(p).collect(),
                quorum_up: p.quorum_up,
                suspended: p.suspended,
                services: p.services.clone(),
                in_kernel: p.in_kernel,
            })
            .collect()
    }

    /// Every virtual server's real servers, in order.
    pub fn real_servers(&self) -> impl Iterator<Item = RealServerStatus> + '_ {
        self.vss.iter().flat_map(Servers::of)
    }

    /// Bytes held in the packed buffers (for tests and benchmarks).
    pub fn packed_bytes(&self) -> usize {
        self.vss.iter().map(|p| p.servers.capacity()).sum()
    }
}

/// The real servers of one packed buffer.
struct Servers<'a> {
    rest: &'a [u8],
    left: usize,
}

impl<'a> Servers<'a> {
    fn of(p: &'a Packed) -> Self {
        Self {
            rest: &p.servers,
            left: p.count,
        }
    }
}

impl Iterator for Servers<'_> {
    type Item = RealServerStatus;
    fn next(&mut self) -> Option<RealServerStatus> {
        self.left = self.left.checked_sub(1)?;
        let r = unpack(&mut self.rest);
        if r.is_none() {
            self.left = 0;
        }
        r
    }
}

fn pack(r: &RealServerStatus, out: &mut Vec<u8>) {
    let mut flags = 0;
    for (set, bit) in [
        (r.address.ip.is_ipv6(), V6),
        (r.up, UP),
        (r.sorry, SORRY),
        (r.desired_weight.is_some(), DESIRED),
        (r.kernel_weight.is_some(), KERNEL),
    ] {
        if set {
            flags |= bit;
        }
    }
    out.push(flags);
    match r.address.ip {
        IpAddr::V4(a) => out.extend_from_slice(&a.octets()),
        IpAddr::V6(a) => out.extend_from_slice(&a.octets()),
    }
    out.extend_from_slice(&r.address.port.to_le_bytes());
    // Zigzag: a configured weight is at least 0, but the type allows less.
    let weight = (r.weight << 1) ^ (r.weight >> 31);
    varint(u32::from_ne_bytes(weight.to_ne_bytes()), out);
    for v in [r.desired_weight, r.kernel_weight].into_iter().flatten() {
        varint(v, out);
    }
    varint(r.active_conns, out);
    varint(r.inactive_conns, out);
}

fn varint(mut v: u32, out: &mut Vec<u8>) {
    while v >= 0x80 {
        // The low seven bits, with the high bit saying more follow.
        out.push((v & 0x7f) as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn take_varint(rest: &mut &[u8]) -> Option<u32> {
    let mut v: u32 = 0;
    for shift in (0..35).step_by(7) {
        let (&b, tail) = rest.split_first()?;
        *rest = tail;
        v |= u32::from(b & 0x7f).checked_shl(shift)?;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

fn take<const N: usize>(rest: &mut &[u8]) -> Option<[u8; N]> {
    let (head, tail) = rest.split_first_chunk::<N>()?;
    *rest = tail;
    Some(*head)
}

fn unpack(rest: &mut &[u8]) -> Option<RealServerStatus> {
    let [flags] = take::<1>(rest)?;
    let ip = if flags & V6 != 0 {
        IpAddr::V6(Ipv6Addr::from(take::<16>(rest)?))
    } else {
        IpAddr::V4(Ipv4Addr::from(take::<4>(rest)?))
    };
    let port = u16::from_le_bytes(take::<2>(rest)?);
    let z = i32::from_ne_bytes(take_varint(rest)?.to_ne_bytes());
    let weight = ((z as u32) >> 1) as i32 ^ -(z & 1);
    let desired_weight = if flags & DESIRED != 0 {
        Some(take_varint(rest)?)
    } else {
        None
    };
    let kernel_weight = if flags & KERNEL != 0 {
        Some(take_varint(rest)?)
    } else {
        None
    };
    Some(RealServerStatus {
        address: Endpoint::new(ip, port),
        weight,
        up: flags & UP != 0,
        sorry: flags & SORRY != 0,
        desired_weight,
        kernel_weight,
        active_conns: take_varint(rest)?,
        inactive_conns: take_varint(rest)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn server() -> impl Strategy<Value = RealServerStatus> {
        (
            any::<bool>(),
            any::<u128>(),
            any::<u16>(),
            any::<i32>(),
            (any::<bool>(), any::<bool>()),
            (any::<Option<u32>>(), any::<Option<u32>>()),
            (any::<u32>(), any::<u32>()),
        )
            .prop_map(|(v6, ip, port, weight, (up, sorry), (d, k), (a, i))| {
                let ip = if v6 {
                    IpAddr::V6(Ipv6Addr::from(ip))
                } else {
                    IpAddr::V4(Ipv4Addr::from(ip as u32))
                };
                RealServerStatus {
                    address: Endpoint::new(ip, port),
                    weight,
                    up,
                    sorry,
                    desired_weight: d,
                    kernel_weight: k,
                    active_conns: a,
                    inactive_conns: i,
                }
            })
    }

    fn vs(key: &str, real_servers: Vec<RealServerStatus>) -> VirtualServerStatus {
        VirtualServerStatus {
            key: key.into(),
            scheduler: "wrr".into(),
            real_servers,
            quorum_up: true,
            suspended: false,
            services: vec!["10.0.0.1:80/tcp".into()],
            in_kernel: 1,
        }
    }

    proptest! {
        /// Every value of every field reads back as it was reported.
        #[test]
        fn a_report_reads_back_as_it_came(
            a in proptest::collection::vec(server(), 0..40),
            b in proptest::collection::vec(server(), 0..40),
        ) {
            let report = vec![vs("a", a), vs("b", b)];
            let mut r = IpvsRecord::default();
            r.take(report.clone());
            prop_assert_eq!(r.unpack(), report.clone());
            let all: Vec<_> = report.iter().flat_map(|v| v.real_servers.clone()).collect();
            prop_assert_eq!(r.real_servers().collect::<Vec<_>>(), all);
        }

        /// Any cut of a buffer reads as the servers before it, no panic.
        #[test]
        fn a_cut_buffer_reads_as_the_servers_before_the_cut(
            servers in proptest::collection::vec(server(), 1..20),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut r = IpvsRecord::default();
            r.take(vec![vs("a", servers.clone())]);
            let at = cut.index(r.vss[0].servers.len());
            r.vss[0].servers.truncate(at);
            let read: Vec<_> = r.real_servers().collect();
            prop_assert!(read.len() < servers.len());
            prop_assert_eq!(&read[..], &servers[..read.len()]);
        }
    }

    /// 10,000 IPv4 servers take 12 to 14 bytes each, and the next report
    /// of the same shape is packed into the same buffer.
    #[test]
    fn a_report_is_small_and_the_next_takes_its_buffers() {
        let servers: Vec<RealServerStatus> = (0..10_000u32)
            .map(|i| RealServerStatus {
                address: Endpoint::new(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)), 80),
                weight: 1,
                up: i % 3 != 0,
                desired_weight: Some(1),
                kernel_weight: Some(1),
                active_conns: i % 200,
                ..Default::default()
            })
            .collect();
        let mut r = IpvsRecord::default();
        r.take(vec![vs("a", servers.clone())]);
        let bytes = r.packed_bytes();
        assert!(bytes <= 14 * 10_000, "{bytes} bytes for 10,000 servers");
        let before = r.vss[0].servers.as_ptr();
        let mut next = servers;
        next[17].up = !next[17].up;
        r.take(vec![vs("a", next.clone())]);
        assert_eq!(r.vss[0].servers.as_ptr(), before);
        assert_eq!(r.unpack(), vec![vs("a", next)]);
        // Fewer virtual servers: the rest are dropped.
        r.take(Vec::new());
        assert!(r.is_empty() && r.unpack().is_empty());
    }
}
