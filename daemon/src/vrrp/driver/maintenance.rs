//! The parent's maintenance set and handovers, carried out by the driver
//! (the decisions are the state machine's: `fsm_maintenance.rs`).

use std::time::Instant;

use tracing::{info, warn};

use super::Driver;
use crate::ipc::Msg;
use crate::ipc::msg::Transition;
use crate::vrrp::fsm::{Action, MAINTENANCE, State};
use crate::vrrp::router::{Input, Output};

impl Driver {
    /// Brings every instance in line with `self.maintenance`: those named
    /// resign (a Master hands its VIPs over), the others are released.
    pub(super) async fn apply_maintenance(&mut self) {
        let (mut on, mut off) = (Vec::new(), Vec::new());
        for (k, io) in self.ios.iter().enumerate() {
            let Some(inst) = self.router.instance(k) else {
                continue;
            };
            match (self.maintenance.contains(&io.name), inst.in_maintenance()) {
                (true, false) => on.push(k),
                (false, true) => off.push(k),
                _ => {}
            }
        }
        let now = Instant::now();
        for (instances, active) in [(on, true), (off, false)] {
            if instances.is_empty() {
                continue;
            }
            let out = self.router.handle(
                now,
                Input::Resign {
                    instances: &instances,
                    source: MAINTENANCE,
                    active,
                },
            );
            let moved: Vec<usize> = out
                .iter()
                .filter(|o| matches!(o.action, Action::StateChanged { .. }))
                .map(|o| o.instance)
                .collect();
            self.execute(out).await;
            // A Backup (or Fault) entering or leaving maintenance does not
            // change state: the parent hears it as a transition to itself.
            for k in instances.into_iter().filter(|k| !moved.contains(k)) {
                let (Some(io), Some(inst)) = (self.ios.get(k), self.router.instance(k)) else {
                    continue;
                };
                let state = inst.state();
                info!(instance = %io.name, maintenance = active, state = %state, "maintenance");
                if state == State::Initialize {
                    continue;
                }
                self.outbox.push(Msg::Transition(Transition {
                    instance: io.name.clone(),
                    from: state,
                    to: state,
                    cause: if active {
                        "maintenance".into()
                    } else {
                        "maintenance ended".into()
                    },
                    priority: inst.priority(),
                    maintenance: active,
                }));
            }
        }
        self.dirty = true;
    }

    /// `upkeepctl handover` of the named instances (the parent checked
    /// that they exist and are Master; one that is not is left alone).
    pub(super) async fn handover(&mut self, names: &[String]) {
        let instances: Vec<usize> = names
            .iter()
            .filter_map(|n| self.ios.iter().position(|io| &io.name == n))
            .collect();
        if instances.len() != names.len() {
            warn!(
                ?names,
                "handover of an instance not configured here; ignored"
            );
        }
        let out: Vec<Output> = self.router.handle(
            Instant::now(),
            Input::Handover {
                instances: &instances,
            },
        );
        self.execute(out).await;
        self.dirty = true;
    }
}
