//! Link up/down debouncing, sans-IO (keepalived's `interface_up_down_delays`,
//! keepalived.conf(5) "Interface up/down status change debouncing"): a link
//! going down is reported only once it has stayed down for the interface's
//! down delay, and coming back up only once it has stayed up for its up
//! delay. A flap that ends before its delay is counted and reported as
//! such, and nothing else happens. The IO layer feeds what the kernel says
//! with `now`, asks for `next_deadline`, and calls `due` when it passes.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use crate::config::model::Config;

/// Each interface's (down, up) delay from `interface_up_down_delays`, a
/// later line winning (as keepalived overwrites it).
pub fn delays(cfg: &Config) -> HashMap<String, (Duration, Duration)> {
    let ms = Duration::from_millis;
    cfg.interface_delays
        .iter()
        .map(|e| {
            (
                e.interface.clone(),
                (ms(e.down_delay.as_millis()), ms(e.up().as_millis())),
            )
        })
        .collect()
}

/// What an observation means for the instances.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    /// Nothing changes: the same state, or a link not followed.
    Nothing,
    /// A change that waits for its delay (this long) before it counts.
    Waiting(Duration),
    /// The reported state changes now: act on it.
    Changed(bool),
    /// The link went back to its reported state before the delay ran out:
    /// the flap is ignored (`flaps` so far, `lasted` its length).
    Flap { flaps: u64, lasted: Duration },
}

#[derive(Clone, Debug)]
struct Link {
    /// What the instances were told.
    reported: bool,
    /// What the kernel says now.
    actual: bool,
    /// When `actual` last changed.
    since: Instant,
    /// Changes that ended before their delay.
    flaps: u64,
}

#[derive(Clone, Debug, Default)]
pub struct Debounce {
    /// Interface → (down delay, up delay).
    delays: HashMap<String, (Duration, Duration)>,
    links: BTreeMap<String, Link>,
}

impl Debounce {
    pub fn new(delays: HashMap<String, (Duration, Duration)>) -> Self {
        Self {
            delays,
            links: BTreeMap::new(),
        }
    }

    /// A reload: new delays; what is known of each link stays, and a change
    /// under way waits for the new delay from when it began.
    pub fn set_delays(&mut self, delays: HashMap<String, (Duration, Duration)>) {
        self.delays = delays;
    }

    fn delay(&self, name: &str, up: bool) -> Duration {
        self.delays
            .get(name)
            .map_or(Duration::ZERO, |&(down, upd)| if up { upd } else { down })
    }

    /// Whether `name` is being followed.
    pub fn knows(&self, name: &str) -> bool {
        self.links.contains_key(name)
    }

    /// Starts following `name`, whose state is taken as reported at once
    /// (at startup, or when an instance starts tracking it).
    pub fn start(&mut self, name: &str, up: bool, now: Instant) {
        self.links.insert(
            name.to_string(),
            Link {
                reported: up,
                actual: up,
                since: now,
                flaps: 0,
            },
        );
    }

    /// Stops following the interfaces not in `keep`.
    pub fn retain(&mut self, keep: &[String]) {
        self.links.retain(|n, _| keep.contains(n));
    }

    /// The state the instances were told (None: not followed).
    pub fn reported(&self, name: &str) -> Option<bool> {
        self.links.get(name).map(|l| l.reported)
    }

    /// Flaps ignored on `name` so far.
    pub fn flaps(&self, name: &str) -> u64 {
        self.links.get(name).map_or(0, |l| l.flaps)
    }

    /// The kernel says `name` is `up` at `now`.
    pub fn observe(&mut self, name: &str, up: bool, now: Instant) -> Seen {
        let delay = self.delay(name, up);
        let Some(l) = self.links.get_mut(name) else {
            return Seen::Nothing;
        };
        if l.actual == up {
            return Seen::Nothing;
        }
        let lasted = now.saturating_duration_since(l.since);
        l.actual = up;
        l.since = now;
        if l.reported == up {
            // Back before its delay ran out (else `due` had reported it).
            l.flaps += 1;
            return Seen::Flap {
                flaps: l.flaps,
                lasted,
            };
        }
        if delay.is_zero() {
            l.reported = up;
            return Seen::Changed(up);
        }
        Seen::Waiting(delay)
    }

    /// The interfaces followed.
    pub fn followed(&self) -> Vec<String> {
        self.links.keys().cloned().collect()
    }

    /// Reports a change now, whatever the delay (an interface deleted).
    pub fn force(&mut self, name: &str, up: bool, now: Instant) -> Seen {
        let Some(l) = self.links.get_mut(name) else {
            return Seen::Nothing;
        };
        if l.actual != up {
            l.since = now;
        }
        l.actual = up;
        if l.reported == up {
            return Seen::Nothing;
        }
        l.reported = up;
        Seen::Changed(up)
    }

    /// When the next waiting change is due.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.links
            .iter()
            .filter(|(_, l)| l.actual != l.reported)
            .map(|(n, l)| l.since + self.delay(n, l.actual))
            .min()
    }

    /// The changes whose delay has run out by `now`, now reported.
    pub fn due(&mut self, now: Instant) -> Vec<(String, bool)> {
        let delays = &self.delays;
        let mut out = Vec::new();
        for (name, l) in &mut self.links {
            if l.actual == l.reported {
                continue;
            }
            let delay = delays
                .get(name)
                .map_or(Duration::ZERO, |&(d, u)| if l.actual { u } else { d });
            if l.since + delay <= now {
                l.reported = l.actual;
                out.push((name.clone(), l.actual));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    fn two_and_five() -> Debounce {
        let mut d = Debounce::new(HashMap::from([("eth0".to_string(), (MS(2000), MS(5000)))]));
        d.start("eth0", true, t0());
        d.start("eth1", true, t0());
        d
    }

    fn t0() -> Instant {
        // One origin for every test's virtual time.
        static T0: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        *T0.get_or_init(Instant::now)
    }

    #[test]
    fn a_down_shorter_than_the_delay_is_a_counted_flap() {
        let mut d = two_and_five();
        let t = t0();
        assert_eq!(
            d.observe("eth0", false, t + MS(100)),
            Seen::Waiting(MS(2000))
        );
        assert_eq!(d.next_deadline(), Some(t + MS(2100)));
        assert!(d.due(t + MS(2099)).is_empty());
        assert_eq!(
            d.observe("eth0", true, t + MS(1100)),
            Seen::Flap {
                flaps: 1,
                lasted: MS(1000)
            }
        );
        assert_eq!(d.next_deadline(), None);
        assert!(d.due(t + MS(10_000)).is_empty());
        assert_eq!(d.reported("eth0"), Some(true));
        assert_eq!(d.flaps("eth0"), 1);
    }

    #[test]
    fn a_longer_down_is_reported_when_its_delay_ends_and_the_return_after_the_up_delay() {
        let mut d = two_and_five();
        let t = t0();
        d.observe("eth0", false, t);
        assert_eq!(d.due(t + MS(2000)), vec![("eth0".to_string(), false)]);
        assert_eq!(d.reported("eth0"), Some(false));
        // Up again: reported only after 5 s up.
        assert_eq!(
            d.observe("eth0", true, t + MS(3000)),
            Seen::Waiting(MS(5000))
        );
        assert_eq!(d.next_deadline(), Some(t + MS(8000)));
        // A short down while it waits is a flap; the wait starts over.
        assert!(matches!(
            d.observe("eth0", false, t + MS(4000)),
            Seen::Flap { flaps: 1, .. }
        ));
        assert_eq!(
            d.observe("eth0", true, t + MS(4500)),
            Seen::Waiting(MS(5000))
        );
        assert!(d.due(t + MS(8000)).is_empty());
        assert_eq!(d.due(t + MS(9500)), vec![("eth0".to_string(), true)]);
        assert_eq!(d.reported("eth0"), Some(true));
    }

    #[test]
    fn no_delay_reports_at_once_and_unknown_links_are_ignored() {
        let mut d = two_and_five();
        let t = t0();
        assert_eq!(d.observe("eth1", false, t), Seen::Changed(false));
        assert_eq!(d.observe("eth1", false, t + MS(1)), Seen::Nothing);
        assert_eq!(d.observe("eth1", true, t + MS(2)), Seen::Changed(true));
        assert_eq!(d.observe("eth9", false, t), Seen::Nothing);
        assert!(!d.knows("eth9"));
    }

    #[test]
    fn a_deletion_is_reported_at_once() {
        let mut d = two_and_five();
        let t = t0();
        assert_eq!(d.force("eth0", false, t), Seen::Changed(false));
        assert_eq!(d.next_deadline(), None);
        assert_eq!(d.observe("eth0", true, t + MS(10)), Seen::Waiting(MS(5000)));
        assert_eq!(d.due(t + MS(5010)), vec![("eth0".to_string(), true)]);
    }

    #[test]
    fn a_reload_keeps_the_state_and_applies_new_delays_from_the_change() {
        let mut d = two_and_five();
        let t = t0();
        d.observe("eth0", false, t);
        d.set_delays(HashMap::from([("eth0".to_string(), (MS(500), MS(500)))]));
        assert_eq!(d.next_deadline(), Some(t + MS(500)));
        // Without a delay any more: due at once.
        d.set_delays(HashMap::new());
        assert_eq!(d.due(t + MS(1)), vec![("eth0".to_string(), false)]);
        d.retain(&["eth1".to_string()]);
        assert!(!d.knows("eth0") && d.knows("eth1"));
    }
}
