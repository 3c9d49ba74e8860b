//! The parent's side of `upkeepctl maintenance` and `upkeepctl handover`:
//! decides with `maintenance`, keeps the set in the state directory, tells
//! the VRRP worker (a restarted one gets the set in its `Resume`).

use tracing::{info, warn};

use super::Parent;
use super::maintenance;
use crate::control::Response;
use crate::ipc::Msg;
use crate::ipc::msg::Role;

impl Parent {
    pub(super) fn on_maintenance(&mut self, on: Option<bool>, instances: &[String]) -> Response {
        let Some(on) = on else {
            return Response::Maintenance {
                instances: self.record.maintenance.clone(),
            };
        };
        let set = match maintenance::change(&self.config, &self.record.maintenance, on, instances) {
            Ok(set) => set,
            Err(message) => return Response::Error { message },
        };
        // Kept first: a hold that would not survive a restart is refused.
        if let Err(e) = maintenance::save(&self.opts.state_dir, &set) {
            warn!(error = %e, "the maintenance set could not be written");
            return Response::Error {
                message: format!("cannot keep the maintenance set: {e}"),
            };
        }
        info!(on, requested = ?instances, in_maintenance = ?set, "maintenance");
        self.record.maintenance = set.clone();
        self.workers.send(
            Role::Vrrp,
            Msg::Maintenance {
                instances: set.clone(),
            },
        );
        self.publisher.touch();
        Response::Maintenance { instances: set }
    }

    pub(super) fn on_handover(&mut self, instances: &[String], force: bool) -> Response {
        match maintenance::handover(&self.config, &self.record, instances, force) {
            Ok(targets) => {
                info!(instances = ?targets, force, "handover");
                self.workers.send(
                    Role::Vrrp,
                    Msg::Handover {
                        instances: targets.clone(),
                    },
                );
                Response::Handover { instances: targets }
            }
            Err(message) => Response::Error { message },
        }
    }
}
