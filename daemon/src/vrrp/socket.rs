//! Raw IP protocol-112 sockets (RFC 5798 §5.1, §8.1 / §8.2).
//!
//! One receive socket per (interface, family), bound to the device and
//! joined to the VRRP group; one send socket per (interface, source
//! address), shared by the instances sending from there, with TTL / hop
//! limit 255 and multicast loop off. Send sockets carry a drop-all BPF filter: a raw socket otherwise also
//! queues a copy of every matching packet it never reads.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::os::fd::AsRawFd;

use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrIn6, recvmsg, setsockopt, sockopt};
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, SockFilter, Socket, Type};

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

/// Socket buffer for bursts of adverts: up to 255 instances on an
/// interface send together (a Master's instances started together keep the
/// same cadence), each advert ~830 bytes of buffer (skb truesize) however
/// small. The default 208 KiB holds 256: a Backup that was not scheduled
/// for an advert interval lost some and took those instances over.
pub const BURST_BUFFER: usize = 1 << 20;

/// Sets the socket's buffer for `BURST_BUFFER`: past net.core.rmem_max /
/// wmem_max with CAP_NET_ADMIN (the VRRP worker keeps it), else as much as
/// they allow.
fn burst_buffer(s: &Socket, receive: bool) -> io::Result<()> {
    let forced = if receive {
        setsockopt(s, sockopt::RcvBufForce, &BURST_BUFFER)
    } else {
        setsockopt(s, sockopt::SndBufForce, &BURST_BUFFER)
    };
    match (forced, receive) {
        (Ok(()), _) => Ok(()),
        (Err(_), true) => s.set_recv_buffer_size(BURST_BUFFER),
        (Err(_), false) => s.set_send_buffer_size(BURST_BUFFER),
    }
}

/// Receives VRRP packets on one interface and family.
pub fn receiver(family: Family, ifname: &str, ifindex: u32, group: IpAddr) -> io::Result<Socket> {
    let s = raw(family)?;
    s.bind_device(Some(ifname.as_bytes()))?;
    burst_buffer(&s, true)?;
    setsockopt(&s, sockopt::ReceiveTimestampns, &true)?;
    match (family, group) {
        (Family::V4, IpAddr::V4(g)) => {
            s.join_multicast_v4_n(&g, &InterfaceIndexOrAddress::Index(ifindex))?;
            s.set_multicast_loop_v4(false)?;
        }
        (Family::V6, IpAddr::V6(g)) => {
            s.join_multicast_v6(&g, ifindex)?;
            s.set_multicast_loop_v6(false)?;
            setsockopt(&s, sockopt::Ipv6RecvHopLimit, &true)?;
            setsockopt(&s, sockopt::Ipv6RecvPacketInfo, &true)?;
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

/// Holds membership of `group` on `ifname` (an instance's `mcast_dst_ip`)
/// without reading: the interface's receive socket gets the packets, so a
/// second reader would see each one twice.
pub fn member(family: Family, ifname: &str, ifindex: u32, group: IpAddr) -> io::Result<Socket> {
    let s = raw(family)?;
    s.bind_device(Some(ifname.as_bytes()))?;
    s.attach_filter(&[SockFilter::new(0x06, 0, 0, 0)])?;
    match (family, group) {
        (Family::V4, IpAddr::V4(g)) => {
            s.join_multicast_v4_n(&g, &InterfaceIndexOrAddress::Index(ifindex))?
        }
        (Family::V6, IpAddr::V6(g)) => s.join_multicast_v6(&g, ifindex)?,
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "multicast group of the wrong family",
            ));
        }
    }
    Ok(s)
}

/// Sends advertisements from `local` on `ifname` (for every instance that
/// sends from there).
pub fn sender(family: Family, ifname: &str, ifindex: u32, local: IpAddr) -> io::Result<Socket> {
    let s = raw(family)?;
    s.bind_device(Some(ifname.as_bytes()))?;
    // Never read: drop everything before it is queued.
    s.attach_filter(&[SockFilter::new(0x06, 0, 0, 0)])?;
    // Shared by every instance sending from here (up to 255 per interface,
    // due together): room for a burst of them.
    burst_buffer(&s, false)?;
    let ttl = u32::from(VRRP_TTL);
    match local {
        IpAddr::V4(a) => {
            // Adverts go on from this address after someone removed it
            // (`ip addr flush`): else the Master falls silent while it still
            // holds the VIPs, and the peer takes over beside it. keepalived's
            // IP_HDRINCL socket does the same. (Needs NET_RAW or NET_ADMIN.)
            s.set_ip_transparent_v4(true)?;
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
    let mut control = nix::cmsg_space!(nix::sys::time::TimeSpec, libc::in6_pktinfo, libc::c_int);
    let (n, from, c) = {
        let mut iov = [io::IoSliceMut::new(buf)];
        let msg = recvmsg::<SockaddrIn6>(
            s.as_raw_fd(),
            &mut iov,
            Some(&mut control),
            MsgFlags::empty(),
        )?;
        let c = read_control(msg.cmsgs()?);
        (msg.bytes, msg.address, c)
    };
    let packet = match family {
        Family::V4 => {
            let packet = buf.get(..n).unwrap_or(&[]);
            split_ipv4(packet).map(|(meta, payload)| {
                let start = payload.as_ptr() as usize - packet.as_ptr() as usize;
                (meta, start..start + payload.len())
            })
        }
        Family::V6 => match from {
            Some(a) => Ok((
                IpMeta {
                    src: IpAddr::V6(a.ip()),
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

/// What IPV6_HOPLIMIT, IPV6_PKTINFO and SCM_TIMESTAMPNS said; other
/// control messages are ignored.
pub fn read_control(messages: impl IntoIterator<Item = ControlMessageOwned>) -> Control {
    let mut out = Control::default();
    for m in messages {
        match m {
            ControlMessageOwned::ScmTimestampns(ts) => {
                if let (Ok(secs), Ok(nanos)) =
                    (u64::try_from(ts.tv_sec()), u32::try_from(ts.tv_nsec()))
                {
                    out.time = std::time::UNIX_EPOCH
                        .checked_add(std::time::Duration::new(secs, nanos.min(999_999_999)));
                }
            }
            ControlMessageOwned::Ipv6HopLimit(h) => out.hop_limit = u8::try_from(h).ok(),
            ControlMessageOwned::Ipv6PacketInfo(info) => {
                out.dst = Some(Ipv6Addr::from(info.ipi6_addr.s6_addr));
            }
            _ => {}
        }
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
    use nix::sys::time::TimeSpec;

    #[test]
    fn a_receive_socket_holds_two_bursts_of_255_adverts() {
        // 255 instances on one interface send together; a Backup that is
        // not scheduled for one advert interval must find two bursts
        // queued (the default buffer holds 256 adverts: on a loaded host
        // the Backup lost some and took those instances over).
        crate::testutil::private_netns();
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let rx = receiver(
            Family::V4,
            "lo",
            1,
            IpAddr::V4(super::super::packet::MCAST_V4),
        )
        .unwrap();
        let tx = sender(Family::V4, "lo", 1, lo).unwrap();
        let advert = [0x31u8, 1, 100, 0, 0, 10, 0, 0, 10, 1, 0, 1];
        for _ in 0..2 * 255 {
            send(&tx, lo, 1, &advert).unwrap();
        }
        let mut buf = vec![0u8; MAX_PACKET];
        let mut got = 0;
        while recv(&rx, Family::V4, &mut buf).is_ok() {
            got += 1;
        }
        assert_eq!(got, 2 * 255);
    }

    #[test]
    fn control_messages_give_hop_limit_destination_and_time() {
        let dst: Ipv6Addr = "ff02::12".parse().unwrap();
        let info = libc::in6_pktinfo {
            ipi6_addr: libc::in6_addr {
                s6_addr: dst.octets(),
            },
            ipi6_ifindex: 3,
        };
        let got = read_control([
            ControlMessageOwned::Ipv6PacketInfo(info),
            ControlMessageOwned::Ipv6HopLimit(255),
            ControlMessageOwned::ScmTimestampns(TimeSpec::new(1_700_000_000, 123_456_789)),
        ]);
        assert_eq!(got.hop_limit, Some(255));
        assert_eq!(got.dst, Some(dst));
        assert_eq!(
            got.time,
            Some(std::time::UNIX_EPOCH + std::time::Duration::new(1_700_000_000, 123_456_789))
        );
        // Values out of range yield nothing rather than a wrong value.
        let odd = read_control([
            ControlMessageOwned::Ipv6HopLimit(-1),
            ControlMessageOwned::ScmTimestampns(TimeSpec::new(-5, 0)),
        ]);
        assert_eq!(odd, Control::default());
    }
}
