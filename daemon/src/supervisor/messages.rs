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
use super::watching::Happened;
use super::workers::AfterExit;
use super::{Parent, publish};
use crate::config::scripts::{Kind, Prepared};
use crate::ipc::Msg;
use crate::ipc::msg::{RealServerState, Role};
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
            Msg::Ready { generation } => {
                if role == Role::Metrics
                    && let Some(m) = &mut self.metrics
                {
                    m.restarted();
                }
                self.on_ready(role, generation);
            }
            Msg::ReloadFailed { generation, error } if role == Role::Vrrp => {
                self.reload_event(Event::Refused {
                    role,
                    generation,
                    error,
                })
            }
            msg => {
                let transition = match &msg {
                    Msg::Transition(t) if role == Role::Vrrp && self.hub.watched() => {
                        Some(t.clone())
                    }
                    _ => None,
                };
                let before = match &msg {
                    Msg::VrrpStatus { .. } if role == Role::Vrrp && self.hub.watched() => {
                        Some(self.record.instances.clone())
                    }
                    _ => None,
                };
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
                // Only a configured instance's transition gets this far.
                if let Some(t) = &transition
                    && effects.contains(&Effect::VrrpStates)
                {
                    self.watch(Happened::Transition(t));
                }
                if let Some(before) = &before {
                    self.watch(Happened::VrrpStatus {
                        before,
                        after: &self.record.instances,
                    });
                }
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
                    self.notifier.transition(&n, &self.plan);
                    if let Some(a) = self.mail.vrrp(&self.config, &n) {
                        self.mailer.send(a);
                    }
                }
                Effect::VrrpStates => {
                    let states = self.record.vrrp_states();
                    self.workers.send(Role::Ipvs, Msg::VrrpStates { states });
                }
                Effect::RealServer { rs, before } => {
                    self.watch(Happened::RealServer { rs: &rs, before });
                    self.mail_real_server(&rs, before);
                    self.lvs_notify.real_server(
                        &self.config,
                        &self.plan,
                        &rs,
                        before,
                        &mut self.notifier,
                    );
                    self.workers.send(Role::Ipvs, Msg::RealServer(rs));
                }
                Effect::Quorum {
                    virtual_server,
                    up,
                    before,
                } => {
                    let cfg = (&self.config, self.lvs_notify.index());
                    if let Some(a) =
                        self.mail
                            .quorum(cfg, &virtual_server, up, before, &self.record)
                    {
                        self.mailer.send(a);
                    }
                    self.lvs_notify.quorum(
                        (&self.config, &self.plan),
                        &virtual_server,
                        up,
                        before,
                        &mut self.notifier,
                    )
                }
            }
        }
    }

    /// A real server's health changed (its check is known): its notify
    /// script, and IPVS.
    fn on_real_server(&mut self, rs: RealServerState) {
        let before = self.record.real_server(&rs);
        self.watch(Happened::RealServer { rs: &rs, before });
        self.mail_real_server(&rs, before);
        self.lvs_notify
            .real_server(&self.config, &self.plan, &rs, before, &mut self.notifier);
        self.workers.send(Role::Ipvs, Msg::RealServer(rs));
    }

    /// A real server's health change by mail, when it mails.
    fn mail_real_server(&mut self, rs: &RealServerState, before: Option<bool>) {
        let idx = self.lvs_notify.index();
        if let Some(a) = self.mail.real_server(&self.config, idx, rs, before) {
            self.mailer.send(a);
        }
    }

    /// Results of the checks the parent runs itself (`checker::local`),
    /// through the same bounds and routes as the checker's; a result of an
    /// earlier configuration is dropped.
    pub(super) fn on_local(&mut self, generation: u64, msg: Msg) {
        if generation != self.generation {
            return;
        }
        let now = Instant::now();
        match msg {
            Msg::Checks { checks } => {
                for c in checks {
                    match self.local_sources.result(c) {
                        Ok(Some(c)) => {
                            let routes = self.routing.result(&mut self.record, c, now);
                            self.follow(routes);
                        }
                        Ok(None) => {}
                        Err(v) => warn!(error = %v, "parent-run check result dropped"),
                    }
                }
            }
            Msg::RealServer(rs) => match self.local_sources.real_server(&rs) {
                Ok(true) => self.on_real_server(rs),
                Ok(false) => {}
                Err(v) => warn!(error = %v, "parent-run check result dropped"),
            },
            _ => {}
        }
        self.publisher.touch();
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
                Route::Restart { source, .. } => match self.restart_command(&source) {
                    Some(cmd) => {
                        tokio::spawn(run_restart(source, cmd));
                    }
                    None => {
                        warn!(check = %source, "restart command not run: its account is unknown or the script was refused");
                    }
                },
            }
            self.publisher.touch();
        }
    }

    fn on_ready(&mut self, role: Role, generation: u64) {
        if role == Role::Checker && generation == self.generation {
            self.accepted.settle();
        }
        if self.workers.ready(role, generation) {
            // Its configuration is serialised and sent (megabytes at
            // thousands of real servers, freed now): give the heap back,
            // at start and after every restart.
            crate::sys::mem::trim_heap();
        }
        self.reload_event(Event::Ready { role, generation });
        // A worker that started (or restarted) with another configuration
        // than the one now committed catches up, once per generation.
        if generation != self.generation
            && self.reload.is_none()
            && self.workers.needs_catch_up(role, self.generation)
        {
            let msg = Msg::Reload {
                generation: self.generation,
                config: super::launch::config_for(role, &self.config),
            };
            self.workers.send(role, msg);
        }
        self.ready_when_all_are();
    }

    /// READY=1 (once) when every worker the configuration needs is up; at
    /// once when it needs none (nothing configured yet: without a VRRP
    /// instance no worker at all, and systemd waited for READY until it
    /// gave up).
    pub(super) fn ready_when_all_are(&mut self) {
        if !self.ready_sent && self.workers.all_ready() {
            self.ready_sent = true;
            let line = publish::status_line(&self.record, self.reload_status.as_ref());
            info!(status = %line, "all workers ready");
            self.tell_systemd(|sd| sd.ready(&line));
            self.publisher.last_status_line = line;
            crate::ipc::link::let_go_after_load();
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
        let how = self.workers.last_exit(role).unwrap_or("unknown");
        self.watch(Happened::WorkerExit { role, how, after });
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

impl Parent {
    /// A check's restart command with its account: its own user, else its
    /// check's, else the checker's (root only when configured so).
    fn restart_command(&self, source: &str) -> Option<Prepared> {
        let name = source.strip_prefix("script:")?;
        let s = self.config.vrrp_scripts.iter().find(|s| s.name == name)?;
        let r = s.on_failure.as_ref()?.restart.as_ref()?;
        self.plan.prepare(
            &r.command,
            r.user.as_ref().or(s.user.as_ref()),
            Kind::Restart,
        )
    }
}

/// Runs a check's restart command (off the loop) and logs how it ended.
async fn run_restart(source: String, cmd: Prepared) {
    let argv = &cmd.argv;
    let f = crate::exec::run(&crate::exec::Command {
        argv,
        timeout: RESTART_TIMEOUT,
        user: Some(&cmd.account),
        output: crate::exec::Output::Keep,
    })
    .await;
    let result = f.describe(argv, RESTART_TIMEOUT);
    let user = cmd.account.name.as_str();
    if f.success() {
        info!(check = %source, user, result = %result, "restart command finished");
    } else {
        warn!(check = %source, user, result = %result, "restart command failed");
    }
}
