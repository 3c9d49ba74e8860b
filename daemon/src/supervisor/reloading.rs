//! The parent's side of a reload: loading and validating the file, then
//! carrying out what the reload machine (`reload.rs`) decides — sending the
//! new configuration, giving the previous one back, committing — and
//! telling systemd and the callers how it ended.

use std::time::Instant;

use tokio::sync::oneshot;
use tracing::{error, info, warn};

use super::launch::{plan, wanted};
use super::reload::{Action, Event, Reload};
use super::routing::Routing;
use super::sdnotify::SdNotify;
use super::watching::Happened;
use super::{Parent, files, publish};
use crate::config::model::Config;
use crate::config::{self};
use crate::control::Response;
use crate::control::status::ReloadStatus;
use crate::control::watch::now_ms;
use crate::ipc::Msg;
use crate::ipc::msg::Role;

/// A reload in progress: the machine, the configuration it brings, and who
/// waits for its outcome.
pub(super) struct Reloading {
    pub(super) machine: Reload,
    pub(super) config: Config,
    pub(super) replies: Vec<oneshot::Sender<Response>>,
    /// The new configuration has a plugin check (decided once: it builds
    /// every check's spec).
    pub(super) plugins: bool,
}

impl Parent {
    pub(super) fn begin_reload(&mut self, reply: Option<oneshot::Sender<Response>>) {
        if self.stopping {
            if let Some(r) = reply {
                let _ = r.send(Response::Error {
                    message: "daemon is stopping".into(),
                });
            }
            return;
        }
        if let Some(r) = &mut self.reload {
            // One at a time: this caller hears the outcome of the current one.
            r.replies.extend(reply);
            return;
        }
        self.tell_systemd(SdNotify::reloading);
        info!(config = %self.opts.config_path.display(), "reloading configuration");
        self.watch(Happened::ReloadStarted {
            generation: self.generation + 1,
        });
        let (path, opts) = (&self.opts.config_path, &self.opts.load);
        let loaded = crate::sys::mem::apart(|| config::load(path, opts));
        let mut errors = Vec::new();
        for d in loaded.diagnostics.sorted() {
            if d.severity == config::diag::Severity::Error {
                error!(diagnostic = %d, "configuration");
                errors.push(d.to_string());
            } else {
                warn!(diagnostic = %d, "configuration");
            }
        }
        let replies: Vec<_> = reply.into_iter().collect();
        if !errors.is_empty() {
            let why = format!("invalid configuration: {}", errors.join("; "));
            error!(error = %why, generation = self.generation, "reload failed; running the previous configuration");
            drop(loaded);
            self.finish_reload(replies, Some(why));
            return;
        }
        let config = loaded.config;
        let plugins = crate::checker::needs_plugins(&config);
        if plugins && let Some(why) = self.plugin_host.unusable() {
            error!(error = %why, generation = self.generation, "reload failed; running the previous configuration");
            drop(config);
            self.finish_reload(replies, Some(why));
            return;
        }
        // A checker without the plugin host is not asked to run plugins:
        // it is replaced by one with it when the reload commits.
        let rehost = plugins && !self.checker_hosts_plugins;
        let others: Vec<Role> = [Role::Ipvs, Role::Checker]
            .into_iter()
            .filter(|r| !(rehost && *r == Role::Checker))
            .filter(|r| wanted(&config, *r) && self.workers.connected(*r))
            .filter(|r| self.workers.get(*r).is_some_and(|s| s.wanted))
            .collect();
        self.accepted.expect(&config);
        let vrrp = self.workers.connected(Role::Vrrp);
        let (machine, actions) = Reload::start(self.generation + 1, vrrp, others, Instant::now());
        self.reload = Some(Reloading {
            machine,
            config,
            replies,
            plugins,
        });
        self.reload_actions(actions);
    }

    pub(super) fn reload_event(&mut self, ev: Event) {
        let Some(r) = &mut self.reload else { return };
        let actions = r.machine.handle(ev);
        self.reload_actions(actions);
    }

    fn reload_actions(&mut self, actions: Vec<Action>) {
        for a in actions {
            let Some(r) = &self.reload else { return };
            match a {
                Action::Send(roles) => {
                    let generation = r.machine.generation();
                    for role in roles {
                        let msg = Msg::Reload {
                            generation,
                            config: super::launch::config_for(role, &r.config),
                        };
                        self.workers.send(role, msg);
                    }
                }
                Action::Restore(roles) => {
                    for role in roles {
                        warn!(role = %role, generation = self.generation, "giving the worker the previous configuration back");
                        let msg = Msg::Reload {
                            generation: self.generation,
                            config: super::launch::config_for(role, &self.config),
                        };
                        self.workers.send(role, msg);
                    }
                }
                Action::Commit => self.commit_reload(),
                Action::Fail(why) => {
                    let Some(Reloading {
                        config, replies, ..
                    }) = self.reload.take()
                    else {
                        return;
                    };
                    error!(error = %why, generation = self.generation, "reload failed; running the previous configuration");
                    drop(config);
                    self.finish_reload(replies, Some(why));
                }
            }
        }
    }

    fn commit_reload(&mut self) {
        let Some(r) = self.reload.take() else { return };
        let old = std::mem::replace(&mut self.config, r.config);
        self.generation = r.machine.generation();
        if old.global.metrics_address != self.config.global.metrics_address {
            warn!("metrics_address changes take effect at restart");
        }
        match plan(&self.config) {
            Ok(p) => {
                let checker_changed = p.checker != self.plan.checker;
                self.plan = p;
                if checker_changed {
                    info!("checker account changed; restarting the checker");
                    self.workers.kill(Role::Checker);
                } else if r.plugins
                    && !self.checker_hosts_plugins
                    && self.workers.present(Role::Checker)
                {
                    info!(
                        "a plugin check is configured; restarting the checker with the plugin host"
                    );
                    self.workers.kill(Role::Checker);
                }
            }
            // Validated moments ago: only the account database changed.
            Err(e) => error!(error = %e, "script accounts of the new configuration"),
        }
        self.config.forget_positions();
        self.config.compact();
        self.local.load(
            self.generation,
            crate::checker::spec::for_parent(&self.config, &self.plan),
        );
        self.local_sources = super::sources::Accepted::parent(&self.config);
        self.notifier.set_fifos(files::fifos(&self.config));
        files::prepare(&self.config);
        self.fifo_scripts
            .apply(super::fifo_scripts::wanted(&self.config, &self.plan));
        self.record.retain_configured(&self.config);
        self.routing = Routing::new(&self.config, std::mem::take(&mut self.routing));
        self.accepted.commit(&self.config);
        self.bind_records();
        self.lvs_notify = super::lvs_notify::IpvsNotify::new(&self.config);
        self.reconfigure_mail();
        for role in Role::ALL {
            let want = wanted(&self.config, role);
            let present = self.workers.present(role);
            if want && !present {
                self.start(role);
            } else if !want && present {
                self.workers.retire(role);
            }
        }
        info!(generation = self.generation, "configuration reloaded");
        drop(old);
        self.finish_reload(r.replies, None);
    }

    /// A reload's outcome: recorded, READY=1 with the status line, published
    /// (before anyone hears the outcome: a caller of `upkeepctl reload`
    /// reading status.json next must see it), then the callers answered.
    fn finish_reload(&mut self, replies: Vec<oneshot::Sender<Response>>, error: Option<String>) {
        self.watch(Happened::ReloadFinished {
            generation: self.generation,
            error: error.as_deref(),
        });
        self.reload_status = Some(ReloadStatus {
            ok: error.is_none(),
            at_ms: now_ms(),
            error: error.clone(),
        });
        let line = publish::status_line(&self.record, self.reload_status.as_ref());
        self.tell_systemd(|sd| sd.ready(&line));
        self.publisher.last_status_line = line;
        self.publisher.touch();
        self.publish(true);
        for reply in replies {
            let _ = reply.send(Response::Reload {
                ok: error.is_none(),
                generation: self.generation,
                error: error.clone(),
            });
        }
        // The configuration no longer used (the previous one, or the one
        // refused) was freed.
        crate::ipc::link::let_go_after_load();
    }
}
