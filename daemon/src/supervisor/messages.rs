//! What the parent does with each worker's message and exit: a message a
//! role may not send resets that worker; results go through the routing;
//! transitions run notify scripts; Ready moves a reload along; an exit
//! restarts the worker (at once for a Master's VRRP worker).

use std::time::{Duration, Instant};

use tracing::{error, info, warn};

use super::intake::{Effect, Intake, allowed};
use super::reload::Event;
use super::routing::Route;
use super::spawn::WorkerEvent;
use super::workers::AfterExit;
use super::{Parent, publish};
use crate::ipc::Msg;
use crate::ipc::msg::Role;
use crate::vrrp::fsm::State;

/// A restart command that runs longer is killed (with its process group).
const RESTART_TIMEOUT: Duration = Duration::from_secs(60);

impl Parent {
    pub(super) fn on_event(&mut self, ev: WorkerEvent) {
        match ev {
            WorkerEvent::Msg {
                role,
                incarnation,
                msg,
            } => {
                if self.workers.is_current(role, incarnation) {
                    self.on_message(role, msg);
                }
            }
            WorkerEvent::Reset {
                role,
                incarnation,
                error,
            } => {
                if self.workers.is_current(role, incarnation) {
                    warn!(role = %role, error = %error, "worker connection reset; restarting the worker");
                }
            }
            WorkerEvent::Exited {
                role,
                incarnation,
                code,
                signal,
            } => self.on_exit(role, incarnation, code, signal),
        }
    }

    fn on_message(&mut self, role: Role, msg: Msg) {
        if allowed(&msg, role) {
            self.publisher.heard(&msg);
        }
        match msg {
            Msg::Pong { seq } => self.workers.pong(role, seq),
            Msg::Ready { generation } => self.on_ready(role, generation),
            Msg::ReloadFailed { generation, error } if role == Role::Vrrp => {
                self.reload_event(Event::Refused {
                    role,
                    generation,
                    error,
                })
            }
            msg => {
                let lvs = &self.lvs_notify;
                let effects = Intake {
                    config: &self.config,
                    pending: self.reload.as_ref().map(|r| &r.config),
                    accepted: &self.accepted,
                    routing: &mut self.routing,
                    record: &mut self.record,
                    virtual_server: &|vs| lvs.knows(vs),
                }
                .message(role, msg, Instant::now());
                self.apply(effects);
            }
        }
    }

    /// Carries out what [`Intake`] decided.
    fn apply(&mut self, effects: Vec<Effect>) {
        for e in effects {
            match e {
                Effect::Violation { role, why } => {
                    self.workers.violation(role, &why);
                    return;
                }
                Effect::Route(r) => self.follow(vec![r]),
                Effect::Notify(n) => {
                    self.notifier
                        .transition(n.kind, &n.name, &n.notify, n.state, n.priority);
                }
                Effect::VrrpStates => {
                    let states = self.record.vrrp_states();
                    self.workers.send(Role::Ipvs, Msg::VrrpStates { states });
                }
                Effect::RealServer { rs, before } => {
                    self.lvs_notify
                        .real_server(&self.config, &rs, before, &mut self.notifier);
                    self.workers.send(Role::Ipvs, Msg::RealServer(rs));
                }
                Effect::Quorum {
                    virtual_server,
                    up,
                    before,
                } => self.lvs_notify.quorum(
                    &self.config,
                    &virtual_server,
                    up,
                    before,
                    &mut self.notifier,
                ),
            }
        }
    }

    pub(super) fn follow(&mut self, routes: Vec<Route>) {
        for r in routes {
            match r {
                Route::Track { source, up } => {
                    let msg = Msg::Track {
                        source,
                        up,
                        value: None,
                    };
                    self.workers.send(Role::Vrrp, msg);
                }
                Route::Value { source, up, value } => {
                    let msg = Msg::Track {
                        source,
                        up,
                        value: Some(value),
                    };
                    self.workers.send(Role::Vrrp, msg);
                }
                Route::Restart { source, argv } => {
                    tokio::spawn(run_restart(source, argv));
                }
            }
            self.publisher.touch();
        }
    }

    fn on_ready(&mut self, role: Role, generation: u64) {
        if role == Role::Checker && generation == self.generation {
            self.accepted.settle();
        }
        self.workers.ready(role, generation);
        self.reload_event(Event::Ready { role, generation });
        // A worker that started (or restarted) with another configuration
        // than the one now committed catches up, once per generation.
        if generation != self.generation
            && self.reload.is_none()
            && self.workers.needs_catch_up(role, self.generation)
        {
            let msg = Msg::Reload {
                generation: self.generation,
                config: Box::new(self.config.clone()),
            };
            self.workers.send(role, msg);
        }
        if !self.ready_sent && self.workers.all_ready() {
            self.ready_sent = true;
            let line = publish::status_line(&self.record, self.reload_status.as_ref());
            info!(status = %line, "all workers ready");
            self.tell_systemd(|sd| sd.ready(&line));
            self.publisher.last_status_line = line;
        }
    }

    fn on_exit(&mut self, role: Role, incarnation: u64, code: Option<i32>, signal: Option<i32>) {
        let master = self.record.states.values().any(|s| *s == State::Master);
        let after = self
            .workers
            .exited(role, incarnation, code, signal, self.stopping, master);
        if after == AfterExit::Stale {
            return;
        }
        self.publisher.touch();
        self.reload_event(Event::Gone { role });
        match after {
            AfterExit::ConfigError => {
                error!(role = %role, "worker cannot run the configuration; stopping the daemon");
                let why = format!("{role} worker: see its log for the configuration error");
                self.begin_stop(Some(why));
            }
            AfterExit::RestartNow => self.start(role),
            AfterExit::Stale | AfterExit::Stopped | AfterExit::RestartLater => {}
        }
    }
}

/// Runs a check's restart command (off the loop) and logs how it ended.
async fn run_restart(source: String, argv: Vec<String>) {
    let f = crate::exec::run(&crate::exec::Command {
        argv: &argv,
        timeout: RESTART_TIMEOUT,
        user: None,
        output: crate::exec::Output::Keep,
    })
    .await;
    let result = f.describe(&argv, RESTART_TIMEOUT);
    if f.success() {
        info!(check = %source, result = %result, "restart command finished");
    } else {
        warn!(check = %source, result = %result, "restart command failed");
    }
}
