//! A worker's message into the parent's state, sans-IO: which role may send
//! what, which checker results are accepted (`sources.rs`), what the record
//! keeps, where results go (`routing.rs`). The parent's loop
//! (`messages.rs`) carries out the effects; `fuzz/parent_msgs` drives this
//! with arbitrary message sequences and checks the invariants.

use std::time::Instant;

use tracing::warn;

use super::record::{Notification, Record};
use super::routing::{Route, Routing};
use super::sources::Accepted;
use crate::config::model::Config;
use crate::ipc::Msg;
use crate::ipc::msg::{RealServerState, Role};

/// What the parent must do after a data message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// The worker broke the protocol: reset it (count, log).
    Violation { role: Role, why: String },
    /// Tell VRRP or run a restart command (see [`Route`]).
    Route(Route),
    /// Run an instance's or sync group's notify scripts.
    Notify(Box<Notification>),
    /// Send IPVS the VRRP states (ha_suspend, sync daemons follow them).
    VrrpStates,
    /// A configured real server changed: its notify scripts, then IPVS.
    RealServer {
        rs: RealServerState,
        before: Option<bool>,
    },
    /// A configured virtual server's quorum: quorum_up / quorum_down.
    Quorum {
        virtual_server: String,
        up: bool,
        before: Option<bool>,
    },
}

/// The parent's state a message may change, borrowed from it.
pub struct Intake<'a> {
    /// The committed configuration.
    pub config: &'a Config,
    /// A reload's configuration while one is in progress (VRRP may run its
    /// instances before the commit).
    pub pending: Option<&'a Config>,
    pub accepted: &'a Accepted,
    pub routing: &'a mut Routing,
    pub record: &'a mut Record,
    /// Whether a virtual server key is configured (quorum reports).
    pub virtual_server: &'a dyn Fn(&str) -> bool,
}

impl Intake<'_> {
    /// A message from `role`. Control messages (Pong, Ready, ReloadFailed)
    /// are the loop's and give nothing here.
    pub fn message(&mut self, role: Role, msg: Msg, now: Instant) -> Vec<Effect> {
        if !allowed(&msg, role) {
            let why = format!("message '{}' is not allowed from this worker", msg.kind());
            return vec![Effect::Violation { role, why }];
        }
        match msg {
            Msg::Transition(t) => {
                let known = |c: &Config| c.vrrp_instances.iter().any(|i| i.name == t.instance);
                if !known(self.config) && !self.pending.is_some_and(known) {
                    // VRRP runs only configured instances: a bug, not an attack.
                    warn!(instance = %t.instance, "transition of an instance not configured; ignored");
                    return Vec::new();
                }
                let mut out: Vec<Effect> = self
                    .record
                    .transition(self.config, &t)
                    .into_iter()
                    .map(|n| Effect::Notify(Box::new(n)))
                    .collect();
                out.push(Effect::VrrpStates);
                out
            }
            Msg::VrrpStatus {
                instances,
                unmatched_drops,
            } => {
                self.record.instances = instances;
                self.record.unmatched_drops = unmatched_drops;
                Vec::new()
            }
            Msg::CheckState(c) => self.checks(vec![c], now),
            Msg::Checks { checks } => self.checks(checks, now),
            Msg::RealServer(rs) => match self.accepted.real_server(&rs) {
                Ok(true) => {
                    let before = self.record.real_server(&rs);
                    vec![Effect::RealServer { rs, before }]
                }
                Ok(false) => Vec::new(),
                Err(v) => vec![Effect::Violation {
                    role,
                    why: v.to_string(),
                }],
            },
            Msg::IpvsStatus {
                virtual_servers,
                kernel,
            } => {
                self.record.virtual_servers = virtual_servers;
                self.record.ipvs = *kernel;
                Vec::new()
            }
            // Only a configured virtual server's change is recorded and
            // acted upon (the worker is not trusted to name one).
            Msg::Quorum { virtual_server, up } if (self.virtual_server)(&virtual_server) => {
                let before = self.record.quorum.insert(virtual_server.clone(), up);
                vec![Effect::Quorum {
                    virtual_server,
                    up,
                    before,
                }]
            }
            _ => Vec::new(),
        }
    }

    /// Results from the checker: each must be one of its configured checks
    /// (see `sources.rs`); the first that is not resets it and the rest of
    /// the batch is dropped.
    fn checks(&mut self, checks: Vec<crate::ipc::msg::CheckStatus>, now: Instant) -> Vec<Effect> {
        let mut out = Vec::new();
        for c in checks {
            match self.accepted.result(c) {
                Ok(Some(c)) => out.extend(
                    self.routing
                        .result(self.record, c, now)
                        .into_iter()
                        .map(Effect::Route),
                ),
                Ok(None) => {}
                Err(v) => {
                    out.push(Effect::Violation {
                        role: Role::Checker,
                        why: v.to_string(),
                    });
                    break;
                }
            }
        }
        out
    }
}

/// What each worker may send the parent; anything else resets it.
pub fn allowed(msg: &Msg, role: Role) -> bool {
    matches!(
        (msg, role),
        (Msg::Ready { .. } | Msg::Pong { .. }, _)
            | (
                Msg::ReloadFailed { .. } | Msg::Transition(_) | Msg::VrrpStatus { .. },
                Role::Vrrp
            )
            | (
                Msg::CheckState(_) | Msg::Checks { .. } | Msg::RealServer(_),
                Role::Checker
            )
            | (Msg::IpvsStatus { .. } | Msg::Quorum { .. }, Role::Ipvs)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A quorum report (which runs quorum_up / quorum_down) comes from the
    /// IPVS worker only; the hostile checker cannot send one, nor
    /// parent-only messages such as VRRP states; only VRRP refuses reloads.
    #[test]
    fn each_worker_may_send_only_its_own_messages() {
        let q = Msg::Quorum {
            virtual_server: "10.0.0.1:80/tcp".into(),
            up: false,
        };
        assert!(allowed(&q, Role::Ipvs));
        assert!(!allowed(&q, Role::Checker));
        assert!(!allowed(&q, Role::Vrrp));
        let states = Msg::VrrpStates {
            states: Default::default(),
        };
        // Nor the parent's orders to VRRP: maintenance and handover.
        let orders = [
            states,
            Msg::Maintenance {
                instances: ["VI_1".to_string()].into(),
            },
            Msg::Handover {
                instances: vec!["VI_1".into()],
            },
        ];
        for role in Role::ALL {
            for m in &orders {
                assert!(!allowed(m, role), "{role} {}", m.kind());
            }
        }
        let refused = Msg::ReloadFailed {
            generation: 2,
            error: "x".into(),
        };
        assert!(allowed(&refused, Role::Vrrp));
        assert!(!allowed(&refused, Role::Checker));
        assert!(!allowed(&refused, Role::Ipvs));
    }
}
