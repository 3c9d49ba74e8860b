//! What the parent tells `upkeepctl watch` (`control::watch`): each point
//! where the parent learns of something names it as a [`Happened`], and
//! [`event`] alone turns that into what watchers see.

use crate::checker::health::Verdict;
use crate::control::watch::Kind;
use crate::ipc::msg::{InstanceStatus, RealServerState, Role, Transition};

use super::Parent;
use super::workers::AfterExit;

/// Something the parent learnt, as it learnt it.
pub(super) enum Happened<'a> {
    /// The VRRP worker reported a transition of a configured instance.
    Transition(&'a Transition),
    /// A check's verdict changed (`Record::check`).
    Check {
        source: String,
        up: bool,
        value: Option<i64>,
    },
    ReloadStarted {
        generation: u64,
    },
    /// `generation`: the one running after it.
    ReloadFinished {
        generation: u64,
        error: Option<&'a str>,
    },
    /// The VRRP worker's picture replaced the previous one: its address
    /// counters tell what it put back or took away in between.
    VrrpStatus {
        before: &'a [InstanceStatus],
        after: &'a [InstanceStatus],
    },
    WorkerExit {
        role: Role,
        how: &'a str,
        after: AfterExit,
    },
    /// A real server's health, and what was recorded before.
    RealServer {
        rs: &'a RealServerState,
        before: Option<bool>,
    },
    Stopping,
}

/// The watch events for what happened (none when watchers need not know).
pub(super) fn event(h: Happened<'_>) -> Vec<Kind> {
    match h {
        Happened::Transition(t) => vec![Kind::Transition {
            instance: t.instance.clone(),
            from: t.from,
            to: t.to,
            cause: t.cause.clone(),
            priority: t.priority,
        }],
        Happened::Check { source, up, value } => vec![Kind::Check {
            source,
            state: if up { Verdict::Up } else { Verdict::Down },
            value,
        }],
        Happened::ReloadStarted { generation } => vec![Kind::ReloadStarted { generation }],
        Happened::ReloadFinished { generation, error } => vec![Kind::ReloadFinished {
            generation,
            ok: error.is_none(),
            error: error.map(str::to_string),
        }],
        Happened::VrrpStatus { before, after } => after
            .iter()
            .filter_map(|a| {
                // A restarted worker counts from 0 again.
                let grew = |now: u64, was: u64| if now >= was { now - was } else { now };
                let (restored, removed) = match before.iter().find(|b| b.name == a.name) {
                    Some(b) => (
                        grew(a.addresses_restored, b.addresses_restored),
                        grew(a.addresses_removed, b.addresses_removed),
                    ),
                    None => (a.addresses_restored, a.addresses_removed),
                };
                (restored > 0 || removed > 0).then(|| Kind::Addresses {
                    instance: a.name.clone(),
                    restored,
                    removed,
                })
            })
            .collect(),
        Happened::WorkerExit { role, how, after } => {
            let then = match after {
                AfterExit::Stale => return Vec::new(),
                AfterExit::Stopped => "stopped",
                AfterExit::ConfigError => "configuration error, daemon stopping",
                AfterExit::RestartNow => "restarting now",
                AfterExit::RestartLater => "restarting after its back-off",
            };
            vec![Kind::Worker {
                role: role.to_string(),
                how: how.to_string(),
                then: then.to_string(),
            }]
        }
        Happened::RealServer { rs, before } if before != Some(rs.up) => vec![Kind::RealServer {
            virtual_server: rs.virtual_server.clone(),
            real_server: rs.real_server.clone(),
            up: rs.up,
        }],
        Happened::RealServer { .. } => Vec::new(),
        Happened::Stopping => vec![Kind::Stopping],
    }
}

impl Parent {
    /// Tells the watchers (never waits; nothing when nobody watches).
    pub(super) fn watch(&self, h: Happened<'_>) {
        if self.hub.watched() {
            for k in event(h) {
                self.hub.publish(k);
            }
        }
    }

    /// Check changes the record noted since the last call.
    pub(super) fn watch_checks(&mut self) {
        for (source, up, value) in std::mem::take(&mut self.record.check_changes) {
            self.watch(Happened::Check { source, up, value });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vrrp::fsm::State;

    fn inst(name: &str, restored: u64, removed: u64) -> InstanceStatus {
        InstanceStatus {
            addresses_restored: restored,
            addresses_removed: removed,
            ..crate::testutil::instance_status(name, State::Master, 100, 100)
        }
    }

    #[test]
    fn address_counters_that_grew_are_events() {
        let before = [inst("VI_1", 2, 0), inst("VI_2", 0, 0)];
        let after = [inst("VI_1", 3, 0), inst("VI_2", 0, 0), inst("VI_3", 0, 1)];
        let got = event(Happened::VrrpStatus {
            before: &before,
            after: &after,
        });
        assert_eq!(
            got,
            vec![
                Kind::Addresses {
                    instance: "VI_1".into(),
                    restored: 1,
                    removed: 0
                },
                Kind::Addresses {
                    instance: "VI_3".into(),
                    restored: 0,
                    removed: 1
                },
            ]
        );
        // A restarted worker's counters start again from 0: nothing new.
        let restarted = [inst("VI_1", 0, 0)];
        assert!(
            event(Happened::VrrpStatus {
                before: &before,
                after: &restarted
            })
            .is_empty()
        );
    }

    #[test]
    fn a_real_server_event_only_when_up_or_down_changed() {
        let rs = RealServerState {
            virtual_server: "10.0.0.1:80/tcp".into(),
            real_server: "10.0.1.1:80".into(),
            up: false,
            weight: 0,
        };
        assert!(
            event(Happened::RealServer {
                rs: &rs,
                before: Some(false)
            })
            .is_empty()
        );
        assert_eq!(
            event(Happened::RealServer {
                rs: &rs,
                before: Some(true)
            })
            .len(),
            1
        );
    }
}
