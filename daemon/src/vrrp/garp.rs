//! Gratuitous ARP (RFC 5227 §2.3 announcement; RFC 5798 §6.4.2 "broadcast
//! a gratuitous ARP request") and unsolicited Neighbor Advertisements
//! (RFC 4861 §7.2.6; RFC 5798 §6.4.2 for IPv6) for the virtual addresses;
//! ARP probes (RFC 5227 §2.1.1) that make another host holding one of them
//! answer (`dupes`).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::sys::packet::PacketSocket;

const ETH_P_ARP: u16 = 0x0806;
const BROADCAST: [u8; 6] = [0xff; 6];
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// An Ethernet frame carrying an ARP request that announces `ip` at `mac`.
pub fn arp_announcement(mac: [u8; 6], ip: Ipv4Addr) -> [u8; 42] {
    let mut f = [0u8; 42];
    f[0..6].copy_from_slice(&BROADCAST);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&ETH_P_ARP.to_be_bytes());
    f[14..16].copy_from_slice(&1u16.to_be_bytes()); // Ethernet
    f[16..18].copy_from_slice(&0x0800u16.to_be_bytes()); // IPv4
    f[18] = 6;
    f[19] = 4;
    f[20..22].copy_from_slice(&1u16.to_be_bytes()); // request
    f[22..28].copy_from_slice(&mac);
    f[28..32].copy_from_slice(&ip.octets());
    f[32..38].copy_from_slice(&[0; 6]);
    f[38..42].copy_from_slice(&ip.octets());
    f
}

/// An Ethernet frame carrying an ARP probe for `ip` from `mac` (RFC 5227
/// §2.1.1: sender address 0.0.0.0, so that no host's cache learns from it;
/// a host that has `ip` replies to `mac`).
pub fn arp_probe(mac: [u8; 6], ip: Ipv4Addr) -> [u8; 42] {
    let mut f = arp_announcement(mac, ip);
    f[28..32].copy_from_slice(&[0; 4]);
    f
}

/// An ICMPv6 Neighbor Advertisement for `target` at `mac`, Override set,
/// with the target link-layer address option. The kernel fills the checksum.
pub fn neighbor_advertisement(mac: [u8; 6], target: Ipv6Addr) -> [u8; 32] {
    let mut p = [0u8; 32];
    p[0] = 136; // Neighbor Advertisement
    p[4] = 0x20; // O (override)
    p[8..24].copy_from_slice(&target.octets());
    p[24] = 2; // Target Link-Layer Address
    p[25] = 1; // in units of 8 octets
    p[26..32].copy_from_slice(&mac);
    p
}

/// Sends announcements on one interface.
pub struct Announcer {
    ifindex: u32,
    packet: PacketSocket,
    icmp6: Option<Socket>,
}

impl Announcer {
    /// `ipv6`: whether NAs will be needed. The NA socket is not bound to an
    /// address: at start the link-local one may still be tentative, and the
    /// kernel picks it as the source for ff02::1 once it is usable.
    pub fn new(ifname: &str, ifindex: u32, ipv6: bool) -> io::Result<Self> {
        let packet = PacketSocket::open(ETH_P_ARP)?;
        let icmp6 = match ipv6 {
            true => {
                let s = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))?;
                s.set_nonblocking(true)?;
                s.bind_device(Some(ifname.as_bytes()))?;
                s.set_multicast_hops_v6(255)?;
                s.set_unicast_hops_v6(255)?;
                s.set_multicast_if_v6(ifindex)?;
                s.set_multicast_loop_v6(false)?;
                Some(s)
            }
            false => None,
        };
        Ok(Self {
            ifindex,
            packet,
            icmp6,
        })
    }

    /// Announces `ip` at `mac`, `count` times.
    pub fn announce(&self, ip: IpAddr, mac: [u8; 6], count: u32) -> io::Result<()> {
        for _ in 0..count {
            match ip {
                IpAddr::V4(v4) => self.send_frame(&arp_announcement(mac, v4))?,
                IpAddr::V6(v6) => {
                    let Some(s) = &self.icmp6 else {
                        return Err(io::Error::new(
                            io::ErrorKind::Unsupported,
                            "no NA socket on this interface",
                        ));
                    };
                    let dst = SocketAddr::V6(SocketAddrV6::new(ALL_NODES, 0, 0, self.ifindex));
                    s.send_to(&neighbor_advertisement(mac, v6), &SockAddr::from(dst))?;
                }
            }
        }
        Ok(())
    }

    /// Sends an ARP probe for `ip` from `mac`.
    pub fn probe(&self, ip: Ipv4Addr, mac: [u8; 6]) -> io::Result<()> {
        self.send_frame(&arp_probe(mac, ip))
    }

    fn send_frame(&self, frame: &[u8]) -> io::Result<()> {
        self.packet.send_to(frame, self.ifindex, BROADCAST)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x00, 0x00, 0x5e, 0x00, 0x01, 0x33];

    #[test]
    fn arp_announcement_layout() {
        let f = arp_announcement(MAC, Ipv4Addr::new(192, 168, 1, 220));
        assert_eq!(&f[0..6], &[0xff; 6]);
        assert_eq!(&f[6..12], &MAC);
        assert_eq!(&f[12..14], &[0x08, 0x06]);
        assert_eq!(&f[14..22], &[0, 1, 8, 0, 6, 4, 0, 1]);
        assert_eq!(&f[22..28], &MAC, "sender hardware address");
        assert_eq!(&f[28..32], &[192, 168, 1, 220], "sender protocol address");
        assert_eq!(
            &f[38..42],
            &[192, 168, 1, 220],
            "target = sender: an announcement"
        );
    }

    #[test]
    fn arp_probe_layout() {
        let f = arp_probe(MAC, Ipv4Addr::new(192, 168, 1, 220));
        assert_eq!(&f[20..22], &[0, 1], "a request");
        assert_eq!(&f[22..28], &MAC);
        assert_eq!(&f[28..32], &[0, 0, 0, 0], "sender 0.0.0.0: a probe");
        assert_eq!(&f[38..42], &[192, 168, 1, 220]);
        // What a host holding the address answers is read back by `dupes`.
        let mut reply = arp_announcement([2, 0, 0, 0, 0, 9], Ipv4Addr::new(192, 168, 1, 220));
        reply[21] = 2;
        assert_eq!(
            super::super::dupes::parse_arp(&reply),
            Some((Ipv4Addr::new(192, 168, 1, 220), [2, 0, 0, 0, 0, 9]))
        );
    }

    #[test]
    fn neighbor_advertisement_layout() {
        let p = neighbor_advertisement(MAC, "2001:db8::7".parse().unwrap());
        assert_eq!((p[0], p[1]), (136, 0));
        assert_eq!(p[4], 0x20, "override, not solicited, not router");
        assert_eq!(
            &p[8..24],
            &"2001:db8::7".parse::<Ipv6Addr>().unwrap().octets()
        );
        assert_eq!(&p[24..32], &[2, 1, 0x00, 0x00, 0x5e, 0x00, 0x01, 0x33]);
    }
}
