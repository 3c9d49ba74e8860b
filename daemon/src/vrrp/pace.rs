//! Spacing of gratuitous ARPs and unsolicited NAs on one interface, as
//! keepalived's `vrrp_garp_interval` / `vrrp_gna_interval` and `garp_group`
//! do it (vrrp_arp.c, vrrp_ndisc.c): a packet goes out at once when the
//! interface's interval has passed since the previous one, else it waits in
//! line behind the others. Sans-IO: the driver offers packets and sends what
//! comes back, and arms its timer for [`Pacer::next_deadline`].

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::config::model::Config;

/// The least time between two packets of one kind on one interface.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Spacing {
    /// Gratuitous ARPs (IPv4).
    pub arp: Duration,
    /// Unsolicited Neighbor Advertisements (IPv6).
    pub na: Duration,
}

impl Spacing {
    /// The spacing on `ifname`: that of the first `garp_group` naming it
    /// (an interval it leaves out is none, as in keepalived), else the
    /// global `vrrp_garp_interval` / `vrrp_gna_interval`.
    pub fn for_interface(cfg: &Config, ifname: &str) -> Spacing {
        let ms = |m: Option<crate::config::values::Millis>| {
            m.map_or(Duration::ZERO, |m| Duration::from_millis(m.as_millis()))
        };
        match cfg
            .garp_groups
            .iter()
            .find(|g| g.interfaces.iter().any(|i| i == ifname))
        {
            Some(g) => Spacing {
                arp: ms(g.garp_interval),
                na: ms(g.gna_interval),
            },
            None => Spacing {
                arp: ms(cfg.global.vrrp_garp_interval),
                na: ms(cfg.global.vrrp_gna_interval),
            },
        }
    }
}

/// One interface's line of packets of one kind.
#[derive(Debug)]
pub struct Pacer<T> {
    interval: Duration,
    /// No packet before this (set by the last one sent).
    next: Option<Instant>,
    queue: VecDeque<T>,
}

impl<T> Pacer<T> {
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            next: None,
            queue: VecDeque::new(),
        }
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// `item` back when it may go now (the caller sends it); else it waits.
    pub fn offer(&mut self, now: Instant, item: T) -> Option<T> {
        if self.interval.is_zero() {
            return Some(item);
        }
        if self.queue.is_empty() && self.next.is_none_or(|t| t <= now) {
            self.next = Some(now + self.interval);
            return Some(item);
        }
        self.queue.push_back(item);
        None
    }

    /// The next waiting packet, if its time has come (one per call).
    pub fn due(&mut self, now: Instant) -> Option<T> {
        if self.next.is_some_and(|t| t > now) {
            return None;
        }
        let item = self.queue.pop_front()?;
        self.next = Some(now + self.interval);
        Some(item)
    }

    /// When [`Pacer::due`] has something, if anything waits.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.queue.is_empty() {
            return None;
        }
        self.next
    }

    /// Forgets waiting packets `keep` refuses (addresses no longer held).
    pub fn retain(&mut self, keep: impl FnMut(&T) -> bool) {
        self.queue.retain(keep);
    }

    /// Everything waiting, in order (to carry it over to a new interval).
    pub fn take_waiting(&mut self) -> Vec<T> {
        self.queue.drain(..).collect()
    }

    pub fn waiting(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::GarpGroup;
    use crate::config::values::Millis;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    /// Drains `p` in virtual time from `t0`: the times packets leave.
    fn run(p: &mut Pacer<u32>, t0: Instant, offered: u32) -> Vec<(Duration, u32)> {
        let mut sent = Vec::new();
        for k in 0..offered {
            if let Some(x) = p.offer(t0, k) {
                sent.push((Duration::ZERO, x));
            }
        }
        // Bounded: every turn sends one packet.
        for _ in 0..offered {
            let Some(at) = p.next_deadline() else { break };
            while let Some(x) = p.due(at) {
                sent.push((at - t0, x));
            }
        }
        sent
    }

    #[test]
    fn vrrp_garp_interval_spaces_successive_packets() {
        let t0 = Instant::now();
        let mut p = Pacer::new(MS(100));
        let sent = run(&mut p, t0, 5);
        assert_eq!(
            sent,
            vec![
                (MS(0), 0),
                (MS(100), 1),
                (MS(200), 2),
                (MS(300), 3),
                (MS(400), 4)
            ]
        );
        assert_eq!(p.waiting(), 0);
        // The interval counts from the last packet: one 50 ms later waits 50 ms.
        let later = t0 + MS(450);
        assert_eq!(p.offer(later, 9), None);
        assert_eq!(p.next_deadline(), Some(t0 + MS(500)));
        assert_eq!(p.due(t0 + MS(499)), None);
        assert_eq!(p.due(t0 + MS(500)), Some(9));
        // And after a quiet spell, at once.
        assert_eq!(p.offer(t0 + MS(2000), 10), Some(10));
    }

    #[test]
    fn without_an_interval_packets_go_back_to_back() {
        let t0 = Instant::now();
        let mut p = Pacer::new(Duration::ZERO);
        let sent = run(&mut p, t0, 3);
        assert!(sent.iter().all(|(t, _)| t.is_zero()), "{sent:?}");
        assert_eq!(p.next_deadline(), None);
    }

    #[test]
    fn retain_drops_waiting_packets_only() {
        let t0 = Instant::now();
        let mut p = Pacer::new(MS(10));
        assert_eq!(p.offer(t0, 1), Some(1));
        assert_eq!(p.offer(t0, 2), None);
        assert_eq!(p.offer(t0, 3), None);
        p.retain(|x| *x != 2);
        assert_eq!(p.due(t0 + MS(10)), Some(3));
        assert_eq!(p.next_deadline(), None);
    }

    #[test]
    fn vrrp_gna_interval_and_garp_group_choose_the_spacing() {
        let mut cfg = Config::default();
        cfg.global.vrrp_garp_interval = Some(Millis(100));
        cfg.global.vrrp_gna_interval = Some(Millis(20));
        cfg.garp_groups.push(GarpGroup {
            gna_interval: Some(Millis(5)),
            interfaces: vec!["eth1".into()],
            ..GarpGroup::default()
        });
        assert_eq!(
            Spacing::for_interface(&cfg, "eth0"),
            Spacing {
                arp: MS(100),
                na: MS(20)
            }
        );
        // A group replaces the global settings on its interfaces, both of them.
        assert_eq!(
            Spacing::for_interface(&cfg, "eth1"),
            Spacing {
                arp: Duration::ZERO,
                na: MS(5)
            }
        );
    }
}
