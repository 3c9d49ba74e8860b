//! Duplicate VIPs in the driver (`dupes` decides, this carries it out):
//! ARP probes while Master, the ARP that comes back, the log lines.

use std::net::IpAddr;
use std::time::Instant;

use tracing::{debug, info, warn};

use super::Driver;
use crate::vrrp::arp_watch::ArpHeard;
use crate::vrrp::dupes::{self, Change};

impl Driver {
    /// Duplicate VIPs (`dupes`): each Master probes its IPv4 VIPs when due;
    /// hosts no longer heard clear.
    pub(super) fn probe(&mut self, now: Instant) {
        for k in self.dupes_due.due(now) {
            let (Some(io), Some(d)) = (
                self.ios.get(k),
                self.ios.get(k).and_then(|io| self.dupes.get_mut(&io.name)),
            ) else {
                self.dupes_due.set(&k, None);
                continue;
            };
            let (due, cleared) = d.tick(now);
            self.dupes_due.set(&k, d.next_deadline());
            // Status carries it within a second (see `arp`).
            for c in cleared {
                report(&io.name, c, "no longer heard");
                self.dupes_news = true;
            }
            if !due {
                continue;
            }
            for (index, vip) in &io.vips {
                if let (IpAddr::V4(a), Some(announcer)) =
                    (vip.addr, self.host.announcers.get(index))
                    && let Err(e) = announcer.probe(a, io.mac)
                {
                    debug!(instance = %io.name, vip = %a, error = %e, "ARP probe failed");
                }
            }
        }
    }

    /// An ARP packet from a host claiming one of the VIPs of interface
    /// `h.index`: a duplicate when a Master holds that VIP there and the
    /// MAC is not this host's.
    pub(super) fn arp(&mut self, h: ArpHeard) {
        let now = Instant::now();
        let mut own = self.host.own_macs();
        let addr = IpAddr::V4(h.addr);
        for (k, io) in self.ios.iter().enumerate() {
            if !io.vips.iter().any(|(i, v)| *i == h.index && v.addr == addr) {
                continue;
            }
            let Some(d) = self.dupes.get_mut(&io.name) else {
                continue;
            };
            own.push(io.mac);
            let vips: Vec<IpAddr> = io.vips.iter().map(|(_, v)| v.addr).collect();
            let change = d.heard(now, addr, h.mac, &vips, &own);
            self.dupes_due.set(&k, d.next_deadline());
            // Not `dirty`: the status goes within a second. A status
            // per ARP packet, when a peer that was Master of 1,000
            // instances sent its gratuitous ARPs, kept the parent busy
            // (each status names every instance's duplicates) and this
            // worker waiting on it for up to 2 s: the peer took over,
            // sent more ARPs, and so on.
            if let Some(c) = change {
                report(&io.name, c, "");
                self.dupes_news = true;
            }
        }
    }
}

/// Logs a duplicate VIP appearing or clearing (once each: `dupes`).
pub(super) fn report(instance: &str, c: Change, why: &str) {
    match c {
        Change::Appeared { addr, mac } => warn!(
            instance = %instance,
            vip = %addr,
            mac = %dupes::mac_text(mac),
            "another host claims a VIP this Master holds (duplicate address on the link); nothing changed here"
        ),
        Change::Cleared { addr, mac } => info!(
            instance = %instance,
            vip = %addr,
            mac = %dupes::mac_text(mac),
            why,
            "duplicate VIP cleared"
        ),
    }
}
