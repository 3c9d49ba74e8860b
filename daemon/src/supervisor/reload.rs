//! The two-phase reload, sans-IO: events in (a worker's answer, the time),
//! actions out (send the new configuration to roles, restore the previous
//! one, commit, fail). The parent carries the actions out.
//!
//! Order: the VRRP worker first, because it is the part that can fail on
//! this host (a missing interface, an address it cannot use); once it runs
//! the new configuration, the IPVS worker and the checker get it; when
//! every worker asked has it, the parent commits. A reload is all or
//! nothing: a refusal from any worker, a worker that exits before
//! answering, or no answer in time fails it, and the workers that already
//! applied it are given the previous configuration back.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::ipc::msg::Role;

/// A reload that workers have not confirmed in this time fails.
pub const RELOAD_TIMEOUT: Duration = Duration::from_secs(30);

/// What happened, as far as the reload is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// `role` runs the configuration of `generation`.
    Ready { role: Role, generation: u64 },
    /// `role` could not apply `generation` and runs what it ran before.
    Refused {
        role: Role,
        generation: u64,
        error: String,
    },
    /// The worker of `role` exited (its replacement starts with the
    /// previous configuration).
    Gone { role: Role },
    /// Time passed.
    Tick { now: Instant },
}

/// What the parent must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send the new configuration to these roles.
    Send(Vec<Role>),
    /// Send the previous (committed) configuration back to these roles,
    /// which had applied the new one.
    Restore(Vec<Role>),
    /// Every worker asked runs the new configuration: it becomes current.
    Commit,
    /// The previous configuration stays; why.
    Fail(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Vrrp,
    Others,
    Done,
}

/// One reload in progress.
#[derive(Debug)]
pub struct Reload {
    generation: u64,
    phase: Phase,
    /// The roles of the second phase.
    others: Vec<Role>,
    waiting: BTreeSet<Role>,
    applied: BTreeSet<Role>,
    started: Instant,
}

impl Reload {
    /// Starts reloading to `generation`. `vrrp`: whether a VRRP worker runs
    /// (it goes first); `others`: the other running workers that the new
    /// configuration needs.
    pub fn start(
        generation: u64,
        vrrp: bool,
        others: Vec<Role>,
        now: Instant,
    ) -> (Self, Vec<Action>) {
        let mut r = Self {
            generation,
            phase: Phase::Vrrp,
            others: others.into_iter().filter(|r| *r != Role::Vrrp).collect(),
            waiting: BTreeSet::new(),
            applied: BTreeSet::new(),
            started: now,
        };
        let actions = if vrrp {
            r.waiting.insert(Role::Vrrp);
            vec![Action::Send(vec![Role::Vrrp])]
        } else {
            r.second_phase()
        };
        (r, actions)
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Whether it has committed or failed (nothing more will happen).
    pub fn done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// The roles it still waits for.
    pub fn waiting(&self) -> impl Iterator<Item = Role> + '_ {
        self.waiting.iter().copied()
    }

    pub fn handle(&mut self, ev: Event) -> Vec<Action> {
        if self.done() {
            return Vec::new();
        }
        match ev {
            Event::Ready { role, generation } => {
                if generation != self.generation || !self.waiting.remove(&role) {
                    return Vec::new();
                }
                self.applied.insert(role);
                if !self.waiting.is_empty() {
                    return Vec::new();
                }
                match self.phase {
                    Phase::Vrrp => self.second_phase(),
                    _ => {
                        self.phase = Phase::Done;
                        vec![Action::Commit]
                    }
                }
            }
            Event::Refused {
                role,
                generation,
                error,
            } => {
                if generation != self.generation || !self.waiting.contains(&role) {
                    return Vec::new();
                }
                self.fail(format!("{role} worker: {error}"))
            }
            Event::Gone { role } => {
                if !self.waiting.contains(&role) && !self.applied.contains(&role) {
                    return Vec::new();
                }
                // Its replacement starts with the previous configuration.
                self.applied.remove(&role);
                self.fail(format!("{role} worker exited during the reload"))
            }
            Event::Tick { now } => {
                if now.saturating_duration_since(self.started) <= RELOAD_TIMEOUT {
                    return Vec::new();
                }
                let silent: Vec<String> = self.waiting.iter().map(Role::to_string).collect();
                self.fail(format!("no answer from: {}", silent.join(", ")))
            }
        }
    }

    fn second_phase(&mut self) -> Vec<Action> {
        self.phase = Phase::Others;
        if self.others.is_empty() {
            self.phase = Phase::Done;
            return vec![Action::Commit];
        }
        self.waiting = self.others.iter().copied().collect();
        vec![Action::Send(self.others.clone())]
    }

    fn fail(&mut self, why: String) -> Vec<Action> {
        self.phase = Phase::Done;
        self.waiting.clear();
        let applied: Vec<Role> = std::mem::take(&mut self.applied).into_iter().collect();
        let mut out = Vec::new();
        if !applied.is_empty() {
            out.push(Action::Restore(applied));
        }
        out.push(Action::Fail(why));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GEN: u64 = 7;

    fn t0() -> Instant {
        Instant::now()
    }

    fn all() -> (Reload, Vec<Action>) {
        Reload::start(GEN, true, vec![Role::Ipvs, Role::Checker], t0())
    }

    fn ready(role: Role) -> Event {
        Event::Ready {
            role,
            generation: GEN,
        }
    }

    fn refused(role: Role) -> Event {
        Event::Refused {
            role,
            generation: GEN,
            error: "no".into(),
        }
    }

    #[test]
    fn vrrp_first_then_the_others_then_commit() {
        let (mut r, a) = all();
        assert_eq!(a, [Action::Send(vec![Role::Vrrp])]);
        // The others are not asked before VRRP has it.
        assert!(r.handle(ready(Role::Ipvs)).is_empty());
        assert_eq!(
            r.handle(ready(Role::Vrrp)),
            [Action::Send(vec![Role::Ipvs, Role::Checker])]
        );
        assert!(r.handle(ready(Role::Checker)).is_empty());
        assert_eq!(r.handle(ready(Role::Ipvs)), [Action::Commit]);
        assert!(r.done());
        assert!(r.handle(ready(Role::Ipvs)).is_empty());
    }

    #[test]
    fn without_other_workers_vrrp_alone_commits() {
        let (mut r, a) = Reload::start(GEN, true, Vec::new(), t0());
        assert_eq!(a, [Action::Send(vec![Role::Vrrp])]);
        assert_eq!(r.handle(ready(Role::Vrrp)), [Action::Commit]);
    }

    #[test]
    fn without_a_vrrp_worker_the_others_go_at_once() {
        let (mut r, a) = Reload::start(GEN, false, vec![Role::Checker], t0());
        assert_eq!(a, [Action::Send(vec![Role::Checker])]);
        assert_eq!(r.handle(ready(Role::Checker)), [Action::Commit]);
        let (r, a) = Reload::start(GEN, false, Vec::new(), t0());
        assert_eq!(a, [Action::Commit]);
        assert!(r.done());
    }

    #[test]
    fn a_refusal_by_vrrp_fails_with_nothing_to_restore() {
        let (mut r, _) = all();
        assert_eq!(
            r.handle(refused(Role::Vrrp)),
            [Action::Fail("vrrp worker: no".into())]
        );
        assert!(r.done());
        assert!(r.handle(ready(Role::Vrrp)).is_empty());
    }

    #[test]
    fn a_refusal_by_ipvs_restores_vrrp_and_fails() {
        let (mut r, _) = all();
        r.handle(ready(Role::Vrrp));
        assert_eq!(
            r.handle(refused(Role::Ipvs)),
            [
                Action::Restore(vec![Role::Vrrp]),
                Action::Fail("ipvs worker: no".into())
            ]
        );
    }

    #[test]
    fn a_refusal_by_the_checker_restores_every_worker_that_applied() {
        let (mut r, _) = all();
        r.handle(ready(Role::Vrrp));
        r.handle(ready(Role::Ipvs));
        assert_eq!(
            r.handle(refused(Role::Checker)),
            [
                Action::Restore(vec![Role::Vrrp, Role::Ipvs]),
                Action::Fail("checker worker: no".into())
            ]
        );
    }

    #[test]
    fn answers_for_another_generation_or_from_roles_not_asked_are_ignored() {
        let (mut r, _) = all();
        for ev in [
            Event::Ready {
                role: Role::Vrrp,
                generation: GEN - 1,
            },
            Event::Refused {
                role: Role::Vrrp,
                generation: GEN + 1,
                error: "x".into(),
            },
            refused(Role::Checker),
            Event::Gone { role: Role::Ipvs },
        ] {
            assert!(r.handle(ev).is_empty());
        }
        assert!(!r.done());
        assert_eq!(r.waiting().collect::<Vec<_>>(), [Role::Vrrp]);
    }

    #[test]
    fn a_worker_that_exits_mid_reload_fails_it() {
        let (mut r, _) = all();
        assert_eq!(
            r.handle(Event::Gone { role: Role::Vrrp }),
            [Action::Fail("vrrp worker exited during the reload".into())]
        );
        // After VRRP applied it, the checker exits: VRRP goes back.
        let (mut r, _) = all();
        r.handle(ready(Role::Vrrp));
        assert_eq!(
            r.handle(Event::Gone {
                role: Role::Checker
            }),
            [
                Action::Restore(vec![Role::Vrrp]),
                Action::Fail("checker worker exited during the reload".into())
            ]
        );
        // VRRP restarted after it applied the new configuration: its
        // replacement has the previous one, so nothing to restore there.
        let (mut r, _) = all();
        r.handle(ready(Role::Vrrp));
        assert_eq!(
            r.handle(Event::Gone { role: Role::Vrrp }),
            [Action::Fail("vrrp worker exited during the reload".into())]
        );
    }

    #[test]
    fn no_answer_in_time_fails_naming_who_is_silent() {
        let start = t0();
        let (mut r, _) = Reload::start(GEN, true, vec![Role::Ipvs, Role::Checker], start);
        assert!(
            r.handle(Event::Tick {
                now: start + RELOAD_TIMEOUT
            })
            .is_empty()
        );
        r.handle(ready(Role::Vrrp));
        r.handle(ready(Role::Ipvs));
        assert_eq!(
            r.handle(Event::Tick {
                now: start + RELOAD_TIMEOUT + Duration::from_millis(1)
            }),
            [
                Action::Restore(vec![Role::Vrrp, Role::Ipvs]),
                Action::Fail("no answer from: checker".into())
            ]
        );
    }
}
