//! fall/rise for one check (keepalived's semantics), sans-IO: results in,
//! state changes out.
//!
//! The first result decides the state at once (so that a node knows where it
//! stands a moment after start); after that, `fall` consecutive failures make
//! an up check down and `rise` consecutive successes make a down check up.
//! `init_fail` starts the check down before any result. A check
//! [`Health::presumed_up`] (a real server without `alpha`, as keepalived
//! has it) is up until `fall` failures say otherwise; its first success is
//! still reported.

/// A check's state after fall/rise; JSON `up`, `down`, `unknown` (not run yet).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Unknown,
    Up,
    Down,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.word())
    }
}

impl std::str::FromStr for Verdict {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Verdict::Unknown, Verdict::Up, Verdict::Down]
            .into_iter()
            .find(|v| v.word() == s)
            .ok_or_else(|| format!("unknown check state {s:?}"))
    }
}

impl Verdict {
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Unknown => "unknown",
            Verdict::Up => "up",
            Verdict::Down => "down",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Health {
    fall: u32,
    rise: u32,
    state: Verdict,
    /// Consecutive results against the current state.
    streak: u32,
    pub runs: u64,
    pub failures: u64,
    presume_up: bool,
}

impl Health {
    pub fn new(fall: u32, rise: u32, init_fail: bool) -> Self {
        Self {
            fall: fall.max(1),
            rise: rise.max(1),
            state: if init_fail {
                Verdict::Down
            } else {
                Verdict::Unknown
            },
            streak: 0,
            runs: 0,
            failures: 0,
            presume_up: false,
        }
    }

    /// Before any result, failures count towards `fall` as if it were up.
    pub fn presumed_up(mut self) -> Self {
        self.presume_up = true;
        self
    }

    pub fn state(&self) -> Verdict {
        self.state
    }

    /// Records one result; the new state when it changed.
    pub fn record(&mut self, ok: bool) -> Option<Verdict> {
        self.runs += 1;
        if !ok {
            self.failures += 1;
        }
        let next = match (self.state, ok) {
            (Verdict::Unknown, true) => Verdict::Up,
            (Verdict::Unknown, false) if self.presume_up => {
                self.streak += 1;
                if self.streak < self.fall {
                    return None;
                }
                Verdict::Down
            }
            (Verdict::Unknown, false) => Verdict::Down,
            (Verdict::Up, true) | (Verdict::Down, false) => {
                self.streak = 0;
                return None;
            }
            (Verdict::Up, false) => {
                self.streak += 1;
                if self.streak < self.fall {
                    return None;
                }
                Verdict::Down
            }
            (Verdict::Down, true) => {
                self.streak += 1;
                if self.streak < self.rise {
                    return None;
                }
                Verdict::Up
            }
        };
        self.streak = 0;
        self.state = next;
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_result_decides_then_fall_and_rise_apply() {
        let mut h = Health::new(2, 3, false);
        assert_eq!(h.state(), Verdict::Unknown);
        assert_eq!(h.record(true), Some(Verdict::Up));
        assert_eq!(h.record(false), None);
        assert_eq!(h.record(true), None, "a success resets the fall count");
        assert_eq!(h.record(false), None);
        assert_eq!(h.record(false), Some(Verdict::Down));
        assert_eq!(h.record(true), None);
        assert_eq!(h.record(true), None);
        assert_eq!(h.record(false), None, "a failure resets the rise count");
        assert_eq!(h.record(true), None);
        assert_eq!(h.record(true), None);
        assert_eq!(h.record(true), Some(Verdict::Up));
        assert_eq!((h.runs, h.failures), (11, 4));
    }

    #[test]
    fn presumed_up_needs_fall_failures_and_reports_its_first_success() {
        let mut h = Health::new(3, 1, false).presumed_up();
        assert_eq!(h.record(false), None);
        assert_eq!(h.record(false), None);
        assert_eq!(h.record(false), Some(Verdict::Down));
        let mut h = Health::new(3, 1, false).presumed_up();
        assert_eq!(h.record(false), None);
        // A restarted checker tells the others where the server stands.
        assert_eq!(h.record(true), Some(Verdict::Up));
    }

    #[test]
    fn init_fail_starts_down_and_needs_rise() {
        let mut h = Health::new(1, 2, true);
        assert_eq!(h.state(), Verdict::Down);
        assert_eq!(h.record(true), None);
        assert_eq!(h.record(true), Some(Verdict::Up));
        assert_eq!(h.record(false), Some(Verdict::Down));
    }
}
