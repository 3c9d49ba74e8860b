//! Raw IP protocol-112 sockets (RFC 5798 §5.1, §8.1 / §8.2).
//!
//! One receive socket per (interface, family), bound to the device and
//! joined to the VRRP group; one send socket per instance, bound to the
//! instance's source address, with TTL / hop limit 255 and multicast loop
//! off. Send sockets carry a drop-all BPF filter: a raw socket otherwise also
//! queues a copy of every matching packet it never reads.

use std::io;
use std::mem::MaybeUninit;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

use socket2::{
    Domain, InterfaceIndexOrAddress, MaybeUninitSlice, MsgHdrMut, Protocol, SockAddr, SockFilter,
    Socket, Type,
};

use super::packet::{DropReason, IPPROTO_VRRP, IpMeta, VRRP_TTL, split_ipv4};
use crate::config::model::Family;

/// Largest VRRP packet we accept: an IPv6 advert with 255 addresses, plus headers.
pub const MAX_PACKET: usize = 8 + 255 * 16 + 60;

fn raw(family: Family) -> io::Result<Socket> {
    let domain = match family {
        Family::V4 => Domain::IPV4,
        Family::V6 => Domain::IPV6,
    };
    let s = Socket::new(
        domain,
        Type::RAW,
        Some(Protocol::from(i32::from(IPPROTO_VRRP))),
    )?;
    s.set_nonblocking(true)?;
    s.set_cloexec(true)?;
    Ok(s)
}

fn set_int(
    s: &Socket,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: `value` is a live c_int and the length passed is its size; the
    // descriptor is owned by `s` for the duration of the call.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            level,
            name,
            std::ptr::from_ref(&value).cast(),
            libc::socklen_t::try_from(std::mem::size_of::<libc::c_int>()).unwrap_or(4),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Receives VRRP packets on one interface and family.
pub fn receiver(family: Family, ifname: &str, ifindex: u32, group: IpAddr) -> io::Result<Socket> {
    let s = raw(family)?;
    s.bind_device(Some(ifname.as_bytes()))?;
    set_int(&s, libc::SOL_SOCKET, SO_TIMESTAMPNS, 1)?;
    match (family, group) {
        (Family::V4, IpAddr::V4(g)) => {
            s.join_multicast_v4_n(&g, &InterfaceIndexOrAddress::Index(ifindex))?;
            s.set_multicast_loop_v4(false)?;
        }
        (Family::V6, IpAddr::V6(g)) => {
            s.join_multicast_v6(&g, ifindex)?;
            s.set_multicast_loop_v6(false)?;
            set_int(&s, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, 1)?;
            set_int(&s, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)?;
        }
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "multicast group of the wrong family",
            ));
        }
    }
    Ok(s)
}

/// Sends one instance's advertisements from `local` on `ifname`.
pub fn sender(family: Family, ifname: &str, ifindex: u32, local: IpAddr) -> io::Result<Socket> {
    let s = raw(family)?;
    s.bind_device(Some(ifname.as_bytes()))?;
    // Never read: drop everything before it is queued.
    s.attach_filter(&[SockFilter::new(0x06, 0, 0, 0)])?;
    let ttl = u32::from(VRRP_TTL);
    match local {
        IpAddr::V4(a) => {
            s.bind(&SockAddr::from(SocketAddr::new(IpAddr::V4(a), 0)))?;
            s.set_multicast_ttl_v4(ttl)?;
            s.set_ttl_v4(ttl)?;
            s.set_multicast_loop_v4(false)?;
            // No IP_MULTICAST_IF: the bound device already chooses the way
            // out, and naming an address on another device (a VMAC's parent)
            // would be refused.
        }
        IpAddr::V6(a) => {
            let scope = if is_link_local(&a) { ifindex } else { 0 };
            // Right after an interface comes up its link-local address is
            // still tentative (DAD): bind anyway; sends work once it is valid.
            s.set_freebind_v6(true)?;
            s.bind(&SockAddr::from(SocketAddrV6::new(a, 0, 0, scope)))?;
            s.set_multicast_hops_v6(ttl)?;
            s.set_unicast_hops_v6(ttl)?;
            s.set_multicast_loop_v6(false)?;
            s.set_multicast_if_v6(ifindex)?;
        }
    }
    Ok(s)
}

pub fn is_link_local(a: &Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

/// Sends one VRRP message to `dst`.
pub fn send(s: &Socket, dst: IpAddr, ifindex: u32, msg: &[u8]) -> io::Result<()> {
    let addr = match dst {
        IpAddr::V4(_) => SocketAddr::new(dst, 0),
        IpAddr::V6(a) => {
            let scope = if is_link_local(&a) || a.is_multicast() {
                ifindex
            } else {
                0
            };
            SocketAddr::V6(SocketAddrV6::new(a, 0, 0, scope))
        }
    };
    s.send_to(msg, &SockAddr::from(addr)).map(|_| ())
}

/// SO_TIMESTAMPNS / SCM_TIMESTAMPNS (asm-generic value: x86, arm, riscv).
/// libc does not export it for every target.
const SO_TIMESTAMPNS: libc::c_int = 35;

/// One received datagram.
pub struct Datagram {
    /// The VRRP message's addressing and its byte range in the buffer, or why
    /// the packet is not even a well-formed IP packet.
    pub packet: Result<(IpMeta, std::ops::Range<usize>), DropReason>,
    /// When the kernel received it (CLOCK_REALTIME), if it said.
    pub kernel_time: Option<std::time::SystemTime>,
}

/// Receives one packet. IPv4 raw sockets deliver the IP header; IPv6 ones
/// give hop limit and destination in control messages. Both give the
/// kernel's receive time, so that protocol timers start from the moment the
/// advert arrived, not from when this process got to read it.
pub fn recv(s: &Socket, family: Family, buf: &mut [u8]) -> io::Result<Datagram> {
    let mut control = [MaybeUninit::<u8>::uninit(); 256];
    let mut from = SockAddr::from(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0));
    let (n, control_len) = {
        let mut bufs = [MaybeUninitSlice::new(
            // SAFETY: u8 and MaybeUninit<u8> have the same layout, and the
            // kernel writes only initialised bytes into the buffer.
            unsafe { &mut *(std::ptr::from_mut::<[u8]>(buf) as *mut [MaybeUninit<u8>]) },
        )];
        let mut msg = MsgHdrMut::new()
            .with_addr(&mut from)
            .with_buffers(&mut bufs)
            .with_control(&mut control);
        let n = s.recvmsg(&mut msg, 0)?;
        (n, msg.control_len())
    };
    // SAFETY: the kernel initialised the first `control_len` bytes of `control`.
    let control: Vec<u8> = control
        .iter()
        .take(control_len)
        .map(|b| unsafe { b.assume_init() })
        .collect();
    let c = parse_control(&control);
    let packet = match family {
        Family::V4 => {
            let packet = buf.get(..n).unwrap_or(&[]);
            split_ipv4(packet).map(|(meta, payload)| {
                let start = payload.as_ptr() as usize - packet.as_ptr() as usize;
                (meta, start..start + payload.len())
            })
        }
        Family::V6 => match from.as_socket_ipv6() {
            Some(a) => Ok((
                IpMeta {
                    src: IpAddr::V6(*a.ip()),
                    dst: IpAddr::V6(c.dst.unwrap_or(Ipv6Addr::UNSPECIFIED)),
                    ttl: c.hop_limit.unwrap_or(0),
                },
                0..n,
            )),
            None => Err(DropReason::BadIpHeader),
        },
    };
    Ok(Datagram {
        packet,
        kernel_time: c.time,
    })
}

/// What the control messages of one datagram said.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Control {
    pub hop_limit: Option<u8>,
    pub dst: Option<Ipv6Addr>,
    pub time: Option<std::time::SystemTime>,
}

/// Reads IPV6_HOPLIMIT, IPV6_PKTINFO and SCM_TIMESTAMPNS from a control
/// buffer (cmsghdr: a size_t length, an int level, an int type, data aligned
/// to size_t).
pub fn parse_control(control: &[u8]) -> Control {
    const WORD: usize = std::mem::size_of::<usize>();
    let align = |n: usize| n.div_ceil(WORD) * WORD;
    let header = align(WORD + 8);
    let mut out = Control::default();
    let mut at = 0;
    while let Some(h) = control.get(at..at + header) {
        let mut len_bytes = [0u8; WORD];
        len_bytes.copy_from_slice(&h[..WORD]);
        let len = usize::from_ne_bytes(len_bytes);
        let level = i32::from_ne_bytes([h[WORD], h[WORD + 1], h[WORD + 2], h[WORD + 3]]);
        let kind = i32::from_ne_bytes([h[WORD + 4], h[WORD + 5], h[WORD + 6], h[WORD + 7]]);
        if len < header {
            break;
        }
        let data = control.get(at + header..at + len).unwrap_or(&[]);
        if level == libc::SOL_SOCKET && kind == SO_TIMESTAMPNS {
            // struct timespec: time_t seconds, long nanoseconds (both word-sized here).
            if let (Some(sec), Some(nsec)) = (data.get(..WORD), data.get(WORD..2 * WORD)) {
                let mut a = [0u8; WORD];
                a.copy_from_slice(sec);
                let mut b = [0u8; WORD];
                b.copy_from_slice(nsec);
                let (secs, nanos) = (usize::from_ne_bytes(a), usize::from_ne_bytes(b));
                if let (Ok(secs), Ok(nanos)) = (u64::try_from(secs), u32::try_from(nanos)) {
                    out.time = std::time::UNIX_EPOCH
                        .checked_add(std::time::Duration::new(secs, nanos.min(999_999_999)));
                }
            }
        } else if level == libc::IPPROTO_IPV6 {
            if kind == libc::IPV6_HOPLIMIT {
                if let Some(b) = data.get(..4) {
                    out.hop_limit = u8::try_from(i32::from_ne_bytes([b[0], b[1], b[2], b[3]])).ok();
                }
            } else if kind == libc::IPV6_PKTINFO
                && let Some(b) = data.get(..16)
            {
                let mut a = [0u8; 16];
                a.copy_from_slice(b);
                out.dst = Some(Ipv6Addr::from(a));
            }
        }
        at += align(len);
    }
    out
}

/// The group adverts go to, when not unicast.
pub fn default_group(family: Family, v4: Option<Ipv4Addr>, v6: Option<Ipv6Addr>) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4(v4.unwrap_or(super::packet::MCAST_V4)),
        Family::V6 => IpAddr::V6(v6.unwrap_or(super::packet::MCAST_V6)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmsg(level: i32, kind: i32, data: &[u8]) -> Vec<u8> {
        const WORD: usize = std::mem::size_of::<usize>();
        let header = (WORD + 8).div_ceil(WORD) * WORD;
        let len = header + data.len();
        let mut v = Vec::new();
        v.extend_from_slice(&len.to_ne_bytes());
        v.extend_from_slice(&level.to_ne_bytes());
        v.extend_from_slice(&kind.to_ne_bytes());
        v.resize(header, 0);
        v.extend_from_slice(data);
        v.resize(len.div_ceil(WORD) * WORD, 0);
        v
    }

    #[test]
    fn control_messages_give_hop_limit_destination_and_time() {
        let mut c = cmsg(libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, &{
            let mut d = "ff02::12".parse::<Ipv6Addr>().unwrap().octets().to_vec();
            d.extend_from_slice(&3u32.to_ne_bytes());
            d
        });
        c.extend(cmsg(
            libc::IPPROTO_IPV6,
            libc::IPV6_HOPLIMIT,
            &255i32.to_ne_bytes(),
        ));
        let mut ts = 1_700_000_000usize.to_ne_bytes().to_vec();
        ts.extend_from_slice(&123_456_789usize.to_ne_bytes());
        c.extend(cmsg(libc::SOL_SOCKET, SO_TIMESTAMPNS, &ts));
        let got = parse_control(&c);
        assert_eq!(got.hop_limit, Some(255));
        assert_eq!(got.dst, Some("ff02::12".parse().unwrap()));
        assert_eq!(
            got.time,
            Some(std::time::UNIX_EPOCH + std::time::Duration::new(1_700_000_000, 123_456_789))
        );
        // Garbage never panics and yields nothing useful.
        assert_eq!(parse_control(&[0xff; 7]), Control::default());
        let mut bad = cmsg(libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT, &[1]);
        bad[0] = 200;
        let _ = parse_control(&bad);
    }
}
