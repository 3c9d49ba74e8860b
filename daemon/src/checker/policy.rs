//! Restart-then-demote, sans-IO: check verdicts and time in, decisions out.
//! The parent runs it (it alone may run the restart command, and only the
//! one configured for this check).
//!
//! Down → restart (if configured and the rate limit allows) → wait `grace` →
//! still down → demote. While demoted, restarts are retried within the rate
//! limit, each followed by a grace period. Up again → restore.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::config::model::OnFailure;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Run the check's restart command.
    Restart,
    /// Tell VRRP the check failed (it applies weight, fault or resign).
    Demote,
    /// Tell VRRP the check passes again.
    Restore,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Healthy,
    /// Restarted; the verdict does not count until then.
    Grace(Instant),
    Demoted,
}

#[derive(Clone, Debug)]
pub struct Policy {
    can_restart: bool,
    grace: Duration,
    max_restarts: u32,
    window: Duration,
    restarts: VecDeque<Instant>,
    phase: Phase,
    up: Option<bool>,
    demoted: bool,
}

impl Policy {
    pub fn new(cfg: &OnFailure) -> Self {
        Self {
            can_restart: cfg.restart.as_ref().is_some_and(|c| !c.is_blank()),
            grace: Duration::from_millis(cfg.grace.as_millis()),
            max_restarts: cfg.max_restarts,
            window: Duration::from_millis(cfg.window.as_millis()),
            restarts: VecDeque::new(),
            phase: Phase::Healthy,
            up: None,
            demoted: false,
        }
    }

    /// A word for status: `ok`, `restarting`, `demoted`.
    pub fn describe(&self) -> String {
        let phase = match self.phase {
            Phase::Healthy => "ok",
            Phase::Grace(_) if self.demoted => "demoted, restarting",
            Phase::Grace(_) => "restarting",
            Phase::Demoted => "demoted",
        };
        format!("{phase}; {} restart(s) in the window", self.restarts.len())
    }

    fn allowed(&mut self, now: Instant) -> bool {
        while self
            .restarts
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= self.window)
        {
            self.restarts.pop_front();
        }
        self.can_restart && (self.restarts.len() as u64) < u64::from(self.max_restarts)
    }

    fn restart(&mut self, now: Instant) -> Decision {
        self.restarts.push_back(now);
        self.phase = Phase::Grace(now + self.grace);
        Decision::Restart
    }

    fn demote(&mut self) -> Vec<Decision> {
        self.phase = Phase::Demoted;
        if self.demoted {
            return Vec::new();
        }
        self.demoted = true;
        vec![Decision::Demote]
    }

    /// The check's verdict changed.
    pub fn verdict(&mut self, now: Instant, up: bool) -> Vec<Decision> {
        self.up = Some(up);
        if up {
            self.phase = Phase::Healthy;
            if std::mem::take(&mut self.demoted) {
                return vec![Decision::Restore];
            }
            return Vec::new();
        }
        let phase = self.phase;
        match phase {
            Phase::Healthy if self.allowed(now) => vec![self.restart(now)],
            Phase::Healthy => self.demote(),
            Phase::Grace(_) | Phase::Demoted => Vec::new(),
        }
    }

    /// Time passed: a grace period may have ended, a retry may be due.
    pub fn tick(&mut self, now: Instant) -> Vec<Decision> {
        let phase = self.phase;
        match phase {
            Phase::Grace(until) if now >= until => {
                if self.up == Some(false) {
                    let mut out = self.demote();
                    if self.allowed(now) {
                        out.push(self.restart(now));
                    }
                    out
                } else {
                    self.phase = Phase::Healthy;
                    Vec::new()
                }
            }
            Phase::Demoted if self.up == Some(false) && self.allowed(now) => {
                vec![self.restart(now)]
            }
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::values::Millis;

    fn policy(restart: bool, max: u32) -> Policy {
        Policy::new(&OnFailure {
            restart: restart.then(|| "/bin/true".into()),
            grace: Millis::from_secs(5),
            max_restarts: max,
            window: Millis::from_secs(60),
            ..OnFailure::default()
        })
    }

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn a_restart_that_helps_never_demotes() {
        let t0 = Instant::now();
        let mut p = policy(true, 3);
        assert_eq!(p.verdict(t0, true), vec![]);
        assert_eq!(p.verdict(t0 + S(1), false), vec![Decision::Restart]);
        assert_eq!(p.tick(t0 + S(3)), vec![], "inside the grace period");
        assert_eq!(
            p.verdict(t0 + S(4), true),
            vec![],
            "never demoted: nothing to restore"
        );
        assert_eq!(p.tick(t0 + S(10)), vec![]);
        assert_eq!(p.describe(), "ok; 1 restart(s) in the window");
    }

    #[test]
    fn a_restart_that_does_not_help_demotes_after_grace_and_keeps_trying() {
        let t0 = Instant::now();
        let mut p = policy(true, 2);
        assert_eq!(p.verdict(t0, false), vec![Decision::Restart]);
        assert_eq!(p.tick(t0 + S(5)), vec![Decision::Demote, Decision::Restart]);
        // The limit (2 per 60 s) is reached: no more restarts, still demoted.
        assert_eq!(p.tick(t0 + S(10)), vec![]);
        assert_eq!(p.tick(t0 + S(30)), vec![]);
        // The window frees a slot: one more try.
        assert_eq!(p.tick(t0 + S(60)), vec![Decision::Restart]);
        // Fixed: restored once.
        assert_eq!(p.verdict(t0 + S(62), true), vec![Decision::Restore]);
        assert_eq!(p.tick(t0 + S(70)), vec![]);
    }

    #[test]
    fn without_a_restart_command_a_failure_demotes_at_once() {
        let t0 = Instant::now();
        let mut p = policy(false, 3);
        assert_eq!(p.verdict(t0, false), vec![Decision::Demote]);
        assert_eq!(p.tick(t0 + S(100)), vec![]);
        assert_eq!(p.verdict(t0 + S(101), true), vec![Decision::Restore]);
        assert_eq!(p.verdict(t0 + S(102), false), vec![Decision::Demote]);
    }

    #[test]
    fn rate_limit_zero_means_demote_at_once() {
        let t0 = Instant::now();
        let mut p = policy(true, 0);
        assert_eq!(p.verdict(t0, false), vec![Decision::Demote]);
    }
}
