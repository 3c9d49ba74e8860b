//! The parent supervisor. It reads and validates the configuration, starts
//! one worker per job (VRRP, IPVS, checker) over a socketpair each, keeps
//! the latest state of everything, routes checker results to VRRP and IPVS,
//! runs notify scripts, restarts failed workers (replaying the state),
//! speaks systemd's notify protocol, reloads, and serves the control socket.
//!
//! This module is the event loop; the decisions live in modules of their
//! own: `workers` (starting, sending, exits, heartbeats), `reload` (the
//! two-phase reload, sans-IO), `routing` (where check results go, sans-IO),
//! `record` (the latest state, for replay and status) and `publish`.

#![forbid(unsafe_code)]

pub mod files;
pub mod heartbeat;
pub mod init;
pub mod intake;
pub mod lvs_notify;
mod messages;
pub mod notify;
pub mod privs;
pub mod publish;
pub mod record;
pub mod reload;
mod reloading;
pub mod routing;
pub mod sdnotify;
pub mod sources;
pub mod spawn;
pub mod worker;
pub mod workers;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use crate::config::LoadOptions;
use crate::config::model::Config;
use crate::control::status::{ReloadStatus, StatusDoc};
use crate::control::{self, Pending, Request, Response};
use crate::ipc::Msg;
use crate::ipc::msg::Role;
use notify::{Notifier, SCRIPT_TIMEOUT};
use privs::Account;
use record::Record;
use reload::Event;
use routing::Routing;
use sdnotify::SdNotify;
use spawn::Backoff;
use workers::Workers;

pub struct Options {
    pub config_path: PathBuf,
    pub load: LoadOptions,
    pub runtime_dir: PathBuf,
    /// Compiled plugins live in `plugins/` below it, owned by the checker.
    pub cache_dir: PathBuf,
    pub backoff: Backoff,
}

#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("checker account: {0}")]
    Account(#[from] privs::PrivError),
    #[error("runtime directory: {0}")]
    Unsafe(#[from] files::UnsafePath),
    #[error("a worker cannot run the configuration ({0}); stopped")]
    Config(String),
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> SupervisorError {
    let what = what.into();
    move |source| SupervisorError::Io { what, source }
}

struct Parent {
    opts: Options,
    config: Config,
    generation: u64,
    account: Account,
    workers: Workers,
    record: Record,
    routing: Routing,
    /// What the checker may report (see `sources.rs`).
    accepted: sources::Accepted,
    /// Runs IPVS's notify_up/down and quorum_up/down.
    lvs_notify: lvs_notify::IpvsNotify,
    notifier: Notifier,
    sd: Option<SdNotify>,
    ready_sent: bool,
    reload: Option<reloading::Reloading>,
    reload_status: Option<ReloadStatus>,
    stopping: bool,
    failure: Option<String>,
    publisher: publish::Publisher,
}

/// Which workers a configuration needs.
fn wanted(cfg: &Config, role: Role) -> bool {
    match role {
        Role::Vrrp => true,
        Role::Ipvs => !cfg.virtual_servers.is_empty(),
        Role::Checker => !crate::checker::configured(cfg).is_empty(),
    }
}

/// The account the checker (and the scripts it runs) runs as, with a
/// warning when it is root or an account other daemons share.
fn checker_account(cfg: &Config) -> Result<Account, privs::PrivError> {
    let a = match &cfg.global.script_user {
        Some(u) => privs::lookup(&u.user, u.group.as_deref())?,
        None => privs::default_checker_account()?,
    };
    if a.uid == 0 {
        warn!(user = %a.name, "script_user is root: the checker, its scripts and plugins run as root (without capabilities)");
    } else if cfg.global.script_user.is_none() && a.name == "nobody" {
        warn!(
            "no 'upkeep' user: the checker runs as nobody, an account other daemons share; create a system user 'upkeep' (the packages do)"
        );
    }
    Ok(a)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Runs the daemon until SIGTERM/SIGINT (or a configuration error in a worker).
pub async fn run(
    opts: Options,
    config: Config,
    sd: Option<SdNotify>,
    watchdog: Option<Duration>,
) -> Result<(), SupervisorError> {
    let account = checker_account(&config)?;
    let dir = opts.runtime_dir.clone();
    files::private_dir(&dir, 0o755)?;
    let pid_file = dir.join("upkeepd.pid");
    files::replace(
        &dir,
        "upkeepd.pid",
        format!("{}\n", std::process::id()).as_bytes(),
        0o644,
    )?;
    let listener = control::bind(&dir).map_err(io_err("binding the control socket"))?;
    let (ctl_tx, mut ctl_rx) = mpsc::channel::<Pending>(16);
    let control_task = tokio::spawn(control::serve(listener, ctl_tx));
    // One inbox per role, so that a flood from one worker (the checker at
    // thousands of results) never delays another (VRRP's transitions).
    let (vrrp_tx, mut vrrp_rx) = mpsc::channel(workers::INBOX_LIMIT);
    let (ipvs_tx, mut ipvs_rx) = mpsc::channel(workers::INBOX_LIMIT);
    let (checker_tx, mut checker_rx) = mpsc::channel(workers::INBOX_LIMIT);
    let events = [
        (Role::Vrrp, vrrp_tx),
        (Role::Ipvs, ipvs_tx),
        (Role::Checker, checker_tx),
    ]
    .into_iter()
    .collect();
    files::prepare(&config);
    let publisher = publish::Publisher::default();
    let metrics_task = start_metrics(&config, &publisher.shared);
    let mut p = Parent {
        notifier: Notifier::new(files::fifos(&config), SCRIPT_TIMEOUT),
        workers: Workers::new(events, opts.backoff.clone()),
        routing: Routing::new(&config, Routing::default()),
        accepted: sources::Accepted::new(&config),
        lvs_notify: lvs_notify::IpvsNotify::new(&config),
        opts,
        config,
        generation: 1,
        account,
        record: Record::default(),
        sd,
        ready_sent: false,
        reload: None,
        reload_status: None,
        stopping: false,
        failure: None,
        publisher,
    };
    for role in Role::ALL {
        if wanted(&p.config, role) {
            p.start(role);
        }
    }
    let mut sigterm = signal(SignalKind::terminate()).map_err(io_err("SIGTERM handler"))?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(io_err("SIGINT handler"))?;
    let mut sighup = signal(SignalKind::hangup()).map_err(io_err("SIGHUP handler"))?;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let watchdog_every = watchdog.map(|w| w / 2);
    let mut watchdog_at = Instant::now();
    let mut stop_deadline: Option<Instant> = None;
    loop {
        tokio::select! {
            biased;
            _ = sigterm.recv() => p.begin_stop(None),
            _ = sigint.recv() => p.begin_stop(None),
            _ = sighup.recv() => p.begin_reload(None),
            Some(ev) = vrrp_rx.recv() => p.on_event(ev),
            Some(req) = ctl_rx.recv() => p.on_control(req),
            _ = tick.tick() => {
                p.on_tick();
                if let Some(every) = watchdog_every
                    && watchdog_at.elapsed() >= every
                    && p.workers.healthy()
                {
                    watchdog_at = Instant::now();
                    p.tell_systemd(SdNotify::watchdog);
                }
            }
            Some(ev) = ipvs_rx.recv() => p.on_event(ev),
            Some(ev) = checker_rx.recv() => p.on_event(ev),
        }
        if p.stopping {
            let deadline =
                *stop_deadline.get_or_insert_with(|| Instant::now() + Duration::from_secs(10));
            if Instant::now() >= deadline {
                p.workers.kill_all();
                stop_deadline = Some(Instant::now() + Duration::from_secs(3600));
            }
            if p.workers.all_stopped() {
                break;
            }
        }
        p.publish(false);
    }
    p.publish(true);
    control_task.abort();
    if let Some(t) = metrics_task {
        t.abort();
    }
    let _ = std::fs::remove_file(control::socket_path(&p.opts.runtime_dir));
    let Parent {
        notifier, failure, ..
    } = p;
    notifier.finish(Duration::from_secs(5)).await;
    let _ = std::fs::remove_file(&pid_file);
    match failure {
        Some(e) => Err(SupervisorError::Config(e)),
        None => Ok(()),
    }
}

fn start_metrics(
    cfg: &Config,
    shared: &Arc<Mutex<StatusDoc>>,
) -> Option<tokio::task::JoinHandle<()>> {
    let addr = cfg.global.metrics_address?;
    let listener = match std::net::TcpListener::bind(addr)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .and_then(tokio::net::TcpListener::from_std)
    {
        Ok(l) => l,
        Err(e) => {
            error!(address = %addr, error = %e, "cannot serve metrics");
            return None;
        }
    };
    info!(address = %addr, "serving Prometheus metrics");
    let shared = Arc::clone(shared);
    let snapshot: Arc<dyn Fn() -> StatusDoc + Send + Sync> =
        Arc::new(move || shared.lock().map(|d| d.clone()).unwrap_or_default());
    Some(tokio::spawn(control::metrics::serve(listener, snapshot)))
}

impl Parent {
    /// Starts (or restarts) `role` with the current configuration and the
    /// recorded state to resume from.
    fn start(&mut self, role: Role) {
        let (extra, uid) = match role {
            Role::Checker => {
                let mut extra = vec![
                    "--uid".to_string(),
                    self.account.uid.to_string(),
                    "--gid".to_string(),
                    self.account.gid.to_string(),
                ];
                if let Some(dir) = files::plugin_cache(&self.opts.cache_dir, &self.account) {
                    extra.push("--plugin-cache".into());
                    extra.push(dir.display().to_string());
                }
                (extra, self.account.uid)
            }
            _ => (Vec::new(), 0),
        };
        let down_ms = self
            .workers
            .down_for(role)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let plugin_key = match role {
            Role::Checker => files::plugin_key(&self.opts.cache_dir).map(|k| hex(&k)),
            _ => None,
        };
        let start = Msg::Start {
            generation: self.generation,
            config: Box::new(self.config.clone()),
            resume: self.record.resume(down_ms),
            plugin_key,
        };
        self.workers.start(role, &extra, uid, start);
        self.publisher.touch();
    }

    fn on_tick(&mut self) {
        let now = Instant::now();
        let routes = self.routing.tick(&mut self.record, now);
        self.follow(routes);
        if !self.stopping {
            for role in self.workers.due(now) {
                self.start(role);
            }
        }
        self.workers.heartbeats(now);
        self.reload_event(Event::Tick { now });
    }

    fn on_control(&mut self, req: Pending) {
        match req.request {
            Request::Status => {
                let _ = req
                    .reply
                    .send(Response::Status(Box::new(self.status_doc())));
            }
            Request::Reload => self.begin_reload(Some(req.reply)),
        }
    }

    /// Sends to systemd when it listens; a failure is logged, never fatal.
    fn tell_systemd(&self, send: impl FnOnce(&SdNotify) -> std::io::Result<()>) {
        if let Some(sd) = &self.sd
            && let Err(e) = send(sd)
        {
            warn!(error = %e, "systemd notification failed");
        }
    }

    fn begin_stop(&mut self, failure: Option<String>) {
        if failure.is_some() {
            self.failure = failure;
        }
        if self.stopping {
            return;
        }
        self.stopping = true;
        info!("stopping");
        self.lvs_notify
            .omega(&self.config, &self.record, &mut self.notifier);
        self.tell_systemd(SdNotify::stopping);
        if let Some(r) = self.reload.take() {
            for reply in r.replies {
                let _ = reply.send(Response::Error {
                    message: "daemon is stopping".into(),
                });
            }
        }
        self.workers.stop_all();
    }

    fn status_doc(&self) -> StatusDoc {
        StatusDoc {
            pid: std::process::id(),
            config: self.opts.config_path.display().to_string(),
            generation: self.generation,
            reload: self.reload_status.clone(),
            instances: self.record.instances.clone(),
            unmatched_drops: self.record.unmatched_drops.clone(),
            checks: self
                .record
                .checks
                .values()
                .cloned()
                .map(|mut c| {
                    c.policy = self.routing.describe(&c.source);
                    c
                })
                .collect(),
            virtual_servers: self.record.virtual_servers.clone(),
            ipvs: self
                .workers
                .get(Role::Ipvs)
                .map(|_| self.record.ipvs.clone()),
            workers: self.workers.status(),
        }
    }

    /// Shares the status (status.json, metrics) and STATUS=, when due.
    fn publish(&mut self, force: bool) {
        if !self.publisher.due(force) {
            return;
        }
        let started = Instant::now();
        let doc = self.status_doc();
        self.publisher.publish(&self.opts.runtime_dir, doc, started);
        if self.ready_sent && self.reload.is_none() && !self.stopping {
            let line = publish::status_line(&self.record, self.reload_status.as_ref());
            if line != self.publisher.last_status_line {
                self.tell_systemd(|sd| sd.status(&line));
                self.publisher.last_status_line = line;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_and_resets_after_a_healthy_run() {
        let mut b = Backoff::default();
        let quick = Duration::from_millis(100);
        let delays: Vec<u64> = (0..8).map(|_| b.on_exit(quick).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(b.on_exit(Duration::from_secs(61)).as_secs(), 1);
        assert_eq!(b.on_exit(quick).as_secs(), 2);
    }
}
