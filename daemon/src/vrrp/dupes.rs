//! Duplicate VIPs on the link, sans-IO: another host that claims in ARP an
//! IPv4 address this Master holds (a misconfigured server). Reported in the
//! log, status and metrics; nothing else changes (no transition, no address
//! change): the Master cannot tell which host is right.
//!
//! While Master, an instance sends an ARP probe (RFC 5227 §2.1.1) for each
//! IPv4 VIP at once and every [`PROBE_EVERY`]; a host that has the address
//! answers. Any ARP packet (reply, request or announcement) whose sender
//! address is one of the VIPs and whose sender MAC is not one of this
//! host's counts (RFC 5227 §2.1.1's conflict test). A host is reported once
//! when first heard and once when it has not been heard for
//! [`CLEAR_AFTER`] (three probes unanswered). At most
//! [`MAX_DUPLICATE_MACS`] hosts per VIP are kept, so the table is bounded
//! by the instance's VIP count. IPv6 (NS/NA) is not watched.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use socket2::SockFilter;

pub use crate::ipc::msg::MAX_DUPLICATE_MACS;

pub const ETH_P_ARP: u16 = 0x0806;

/// How often a Master probes its IPv4 VIPs.
pub const PROBE_EVERY: Duration = Duration::from_secs(5);
/// A host not heard for this long no longer claims the VIP.
pub const CLEAR_AFTER: Duration = Duration::from_secs(16);

/// A change to report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Appeared { addr: IpAddr, mac: [u8; 6] },
    Cleared { addr: IpAddr, mac: [u8; 6] },
}

/// One instance's view of the hosts that claim its VIPs.
#[derive(Debug, Default)]
pub struct Duplicates {
    /// (VIP, MAC) → when last heard.
    seen: BTreeMap<(IpAddr, [u8; 6]), Instant>,
    /// ARP packets from another host claiming a VIP (counted while Master).
    packets: u64,
    /// The next probe; None when not Master.
    next_probe: Option<Instant>,
}

impl Duplicates {
    /// Became Master: probe now.
    pub fn start(&mut self, now: Instant) {
        self.next_probe = Some(now);
    }

    /// No longer Master: nothing is watched; what was reported clears.
    pub fn stop(&mut self) -> Vec<Change> {
        self.next_probe = None;
        std::mem::take(&mut self.seen)
            .into_keys()
            .map(|(addr, mac)| Change::Cleared { addr, mac })
            .collect()
    }

    pub fn active(&self) -> bool {
        self.next_probe.is_some()
    }

    /// An ARP packet from `mac` claiming `addr`: a duplicate when `addr` is
    /// one of `vips` and `mac` is none of `own`.
    pub fn heard(
        &mut self,
        now: Instant,
        addr: IpAddr,
        mac: [u8; 6],
        vips: &[IpAddr],
        own: &[[u8; 6]],
    ) -> Option<Change> {
        if !self.active() || !vips.contains(&addr) || own.contains(&mac) {
            return None;
        }
        self.packets += 1;
        if let Some(t) = self.seen.get_mut(&(addr, mac)) {
            *t = now;
            return None;
        }
        let hosts = self.seen.keys().filter(|(a, _)| *a == addr).count();
        if hosts >= MAX_DUPLICATE_MACS {
            return None;
        }
        self.seen.insert((addr, mac), now);
        Some(Change::Appeared { addr, mac })
    }

    /// Time passed: whether to probe now, and the hosts no longer heard.
    pub fn tick(&mut self, now: Instant) -> (bool, Vec<Change>) {
        let probe = self.next_probe.is_some_and(|t| t <= now);
        if probe {
            self.next_probe = Some(now + PROBE_EVERY);
        }
        let mut cleared = Vec::new();
        self.seen.retain(|&(addr, mac), last| {
            let keep = now.saturating_duration_since(*last) < CLEAR_AFTER;
            if !keep {
                cleared.push(Change::Cleared { addr, mac });
            }
            keep
        });
        (probe, cleared)
    }

    /// A reload took VIPs away: forget hosts claiming those.
    pub fn retain_vips(&mut self, vips: &[IpAddr]) -> Vec<Change> {
        let mut cleared = Vec::new();
        self.seen.retain(|&(addr, mac), _| {
            let keep = vips.contains(&addr);
            if !keep {
                cleared.push(Change::Cleared { addr, mac });
            }
            keep
        });
        cleared
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.seen
            .values()
            .map(|t| *t + CLEAR_AFTER)
            .chain(self.next_probe)
            .min()
    }

    /// (VIP, MAC, last heard), by VIP.
    pub fn list(&self) -> impl Iterator<Item = (IpAddr, [u8; 6], Instant)> + '_ {
        self.seen.iter().map(|(&(a, m), &t)| (a, m, t))
    }

    pub fn packets(&self) -> u64 {
        self.packets
    }
}

/// The sender (IPv4 address, MAC) of an Ethernet frame carrying IPv4-over-
/// Ethernet ARP (RFC 826); None for anything else.
pub fn parse_arp(frame: &[u8]) -> Option<(Ipv4Addr, [u8; 6])> {
    let f = frame.get(..42)?;
    // Ethertype ARP; hardware Ethernet (1), protocol IPv4, lengths 6 and 4.
    if f[12..14] != [0x08, 0x06] || f[14..20] != [0, 1, 0x08, 0x00, 6, 4] {
        return None;
    }
    let mac: [u8; 6] = f[22..28].try_into().ok()?;
    let ip: [u8; 4] = f[28..32].try_into().ok()?;
    Some((Ipv4Addr::from(ip), mac))
}

/// A classic BPF program for an ARP packet socket that passes only frames
/// whose ARP sender address is one of `ips` (so that the worker wakes for
/// these alone). None when there are too many for one program's jumps:
/// then everything passes and `Duplicates::heard` sorts it out.
pub fn sender_filter(ips: &[Ipv4Addr]) -> Option<Vec<SockFilter>> {
    const LD_W_ABS: u16 = 0x20;
    const JEQ_K: u16 = 0x15;
    const RET_K: u16 = 0x06;
    let n = u8::try_from(ips.len()).ok()?;
    let mut prog = vec![SockFilter::new(LD_W_ABS, 0, 0, 28)];
    for (k, ip) in ips.iter().enumerate() {
        // Jump over the remaining comparisons and the drop, to the accept.
        let jt = n - u8::try_from(k).ok()?;
        prog.push(SockFilter::new(JEQ_K, jt, 0, u32::from(*ip)));
    }
    prog.push(SockFilter::new(RET_K, 0, 0, 0));
    prog.push(SockFilter::new(RET_K, 0, 0, 0x0004_0000));
    Some(prog)
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn mac_text(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const OTHER: [u8; 6] = [2, 0, 0, 0, 0, 9];

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_host_claiming_a_vip_is_reported_once_and_clears() {
        let vips = [ip("10.0.0.100"), ip("10.0.0.101")];
        let t0 = Instant::now();
        let mut d = Duplicates::default();
        // Not Master: nothing is watched.
        assert_eq!(d.heard(t0, vips[0], OTHER, &vips, &[OURS]), None);
        assert_eq!(d.next_deadline(), None);
        d.start(t0);
        assert_eq!(d.tick(t0), (true, vec![]), "probe at once");
        assert_eq!(d.next_deadline(), Some(t0 + PROBE_EVERY));
        // Our own announcements and other addresses are not duplicates.
        assert_eq!(d.heard(t0, vips[0], OURS, &vips, &[OURS]), None);
        assert_eq!(d.heard(t0, ip("10.0.0.7"), OTHER, &vips, &[OURS]), None);
        assert_eq!(d.packets(), 0);
        let t1 = t0 + Duration::from_millis(3);
        assert_eq!(
            d.heard(t1, vips[0], OTHER, &vips, &[OURS]),
            Some(Change::Appeared {
                addr: vips[0],
                mac: OTHER
            })
        );
        // Each probe's answer keeps it, reported once.
        let mut t = t1;
        for _ in 0..5 {
            t += PROBE_EVERY;
            let (probe, cleared) = d.tick(t);
            assert!(probe && cleared.is_empty());
            assert_eq!(d.heard(t, vips[0], OTHER, &vips, &[OURS]), None);
        }
        assert_eq!(d.packets(), 6);
        assert_eq!(d.list().count(), 1);
        // Unanswered probes: cleared after CLEAR_AFTER.
        let mut cleared = Vec::new();
        while cleared.is_empty() {
            let next = d.next_deadline().unwrap();
            assert!(next <= t + CLEAR_AFTER, "bounded");
            cleared = d.tick(next).1;
        }
        assert_eq!(
            cleared,
            vec![Change::Cleared {
                addr: vips[0],
                mac: OTHER
            }]
        );
        assert_eq!(d.list().count(), 0);
    }

    #[test]
    fn bounded_per_vip_and_cleared_when_no_longer_master() {
        let vips = [ip("10.0.0.100")];
        let t0 = Instant::now();
        let mut d = Duplicates::default();
        d.start(t0);
        let appeared = (0..100u8)
            .filter(|k| {
                d.heard(t0, vips[0], [2, 0, 0, 0, 1, *k], &vips, &[OURS])
                    .is_some()
            })
            .count();
        assert_eq!(appeared, MAX_DUPLICATE_MACS);
        assert_eq!(d.list().count(), MAX_DUPLICATE_MACS);
        assert_eq!(d.packets(), 100, "every packet counts");
        assert_eq!(d.retain_vips(&vips), vec![]);
        assert_eq!(d.stop().len(), MAX_DUPLICATE_MACS);
        assert!(!d.active() && d.next_deadline().is_none());
    }

    #[test]
    fn arp_frames_and_the_sender_filter() {
        let frame = super::super::garp::arp_announcement(OTHER, Ipv4Addr::new(10, 0, 0, 100));
        assert_eq!(
            parse_arp(&frame),
            Some((Ipv4Addr::new(10, 0, 0, 100), OTHER))
        );
        assert_eq!(parse_arp(&frame[..41]), None);
        let mut ipv6 = frame;
        ipv6[12] = 0x86;
        assert_eq!(parse_arp(&ipv6), None);
        let prog =
            sender_filter(&[Ipv4Addr::new(10, 0, 0, 100), Ipv4Addr::new(10, 0, 0, 101)]).unwrap();
        assert_eq!(prog.len(), 5);
        assert!(sender_filter(&vec![Ipv4Addr::LOCALHOST; 300]).is_none());
        assert_eq!(mac_text(OTHER), "02:00:00:00:00:09");
    }
}
