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
pub mod reexec;
pub mod reload;
mod reloading;
pub mod routing;
pub mod sdnotify;
pub mod sources;
pub mod spawn;
pub mod worker;
pub mod workers;

use std::ffi::OsString;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info, warn};

use crate::config::LoadOptions;
use crate::config::model::Config;
use crate::config::scripts::Plan;
use crate::control::status::{ReloadStatus, StatusDoc};
use crate::control::{self, Pending, Request, Response};
use crate::ipc::Msg;
use crate::ipc::msg::Role;
use notify::{Notifier, SCRIPT_TIMEOUT};
use record::Record;
use reload::Event;
use routing::Routing;
use sdnotify::SdNotify;
use spawn::{Backoff, Launch};
use workers::Workers;

pub struct Options {
    pub config_path: PathBuf,
    pub load: LoadOptions,
    pub runtime_dir: PathBuf,
    /// Compiled plugins live in `plugins/` below it, owned by the checker.
    pub cache_dir: PathBuf,
    pub backoff: Backoff,
    /// Started by a re-exec: resume from the runtime directory's handover.
    pub handover: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("re-exec: {0}")]
    Reexec(#[from] reexec::ReexecError),
    #[error("checker account: {0}")]
    Account(#[from] privs::PrivError),
    #[error("runtime directory: {0}")]
    Unsafe(#[from] files::UnsafePath),
    #[error("a worker cannot run the configuration ({0}); stopped")]
    Config(String),
    #[error("script accounts: {0}")]
    Scripts(String),
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> SupervisorError {
    let what = what.into();
    move |source| SupervisorError::Io { what, source }
}

struct Parent {
    opts: Options,
    config: Config,
    generation: u64,
    workers: Workers,
    record: Record,
    routing: Routing,
    /// What the checker may report (see `sources.rs`).
    accepted: sources::Accepted,
    /// Who runs each script as what (see `config::scripts`).
    plan: Plan,
    /// The checks the parent runs itself (scripts with their own account).
    local: crate::checker::local::Local,
    /// What those may report.
    local_sources: sources::Accepted,
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
    /// The metrics listener and what the metrics worker was last sent
    /// (None: no metrics_address, or it could not be bound).
    metrics: Option<publish::Metrics>,
    /// Stopping for a re-exec: workers stop without clean-up, the process
    /// executes the new binary afterwards.
    handing_over: bool,
    /// Started by a re-exec: when the old image's workers stopped (their
    /// downtime for the first start of each).
    handed_over: Option<Instant>,
}

/// Which workers a configuration needs.
fn wanted(cfg: &Config, role: Role) -> bool {
    match role {
        Role::Vrrp => true,
        Role::Ipvs => !cfg.virtual_servers.is_empty(),
        Role::Checker => !crate::checker::by_checker(cfg).is_empty(),
        Role::Metrics => cfg.global.metrics_address.is_some(),
    }
}

/// The configuration `role` is given: all of it, except for the metrics
/// server, which needs none (and so holds no secret of it).
fn config_for(role: Role, cfg: &Config) -> Box<Config> {
    match role {
        Role::Metrics => Box::default(),
        _ => Box::new(cfg.clone()),
    }
}

/// Who runs each script as what, for a configuration that loaded (its
/// diagnostics were reported then); warnings about the checker's account.
fn plan(cfg: &Config) -> Result<Plan, SupervisorError> {
    let mut d = crate::config::Diagnostics::default();
    let plan = Plan::new(cfg, &mut d);
    if d.has_errors() {
        let errors: Vec<String> = d.sorted().iter().map(|d| d.to_string()).collect();
        return Err(SupervisorError::Scripts(errors.join("; ")));
    }
    let a = &plan.checker;
    if a.uid == 0 {
        warn!(user = %a.name, "script_user is root: the checker, its scripts and plugins run as root (without capabilities)");
    } else if cfg.global.script_user.is_none() && a.name == "nobody" {
        warn!(
            "no 'upkeep' user: the checker runs as nobody, an account other daemons share; create a system user 'upkeep' (the packages do)"
        );
    }
    Ok(plan)
}

/// NOTIFY_SOCKET and the watchdog's variables, as a re-executed image
/// must find them (same pid).
fn notify_env(sd: Option<&SdNotify>, watchdog: Option<Duration>) -> Vec<(&'static str, OsString)> {
    let mut env = Vec::new();
    if let Some(sd) = sd.filter(|sd| !sd.raw().is_empty()) {
        env.push(("NOTIFY_SOCKET", sd.raw().to_owned()));
    }
    if let Some(w) = watchdog {
        env.push(("WATCHDOG_USEC", w.as_micros().to_string().into()));
        env.push(("WATCHDOG_PID", std::process::id().to_string().into()));
    }
    env
}

/// The end of a re-exec: the workers have stopped; the record goes into
/// the handover and the new binary replaces this image. Returns only when
/// that failed (the daemon then exits with an error and systemd restarts
/// it; the VIPs are on the interface without adverts until then).
async fn hand_over(
    p: Parent,
    sd_env: Vec<(&'static str, OsString)>,
) -> Result<(), SupervisorError> {
    let handover = reexec::Handover {
        resume: p.record.resume(None),
        stopped_ms: reexec::monotonic_ms(),
    };
    let Parent { notifier, opts, .. } = p;
    notifier.finish(Duration::from_secs(5)).await;
    reexec::write(&opts.runtime_dir, &handover)?;
    let e = reexec::exec(&sd_env);
    error!(error = %e, "re-exec failed");
    Err(e.into())
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
    let plan = plan(&config)?;
    // systemd's variables, for a re-executed image (taken out of our
    // environment at start so that workers and scripts never see them).
    let sd_env = notify_env(sd.as_ref(), watchdog);
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
    let (metrics_tx, mut metrics_rx) = mpsc::channel(workers::INBOX_LIMIT);
    let (local_tx, mut local_rx) = mpsc::channel(workers::INBOX_LIMIT);
    let local = crate::checker::local::spawn(local_tx);
    local.load(1, crate::checker::spec::for_parent(&config, &plan));
    let events = [
        (Role::Vrrp, vrrp_tx),
        (Role::Ipvs, ipvs_tx),
        (Role::Checker, checker_tx),
        (Role::Metrics, metrics_tx),
    ]
    .into_iter()
    .collect();
    files::prepare(&config);
    let publisher = publish::Publisher::default();
    let metrics = bind_metrics(&config);
    let mut p = Parent {
        notifier: Notifier::new(files::fifos(&config), SCRIPT_TIMEOUT),
        workers: Workers::new(events, opts.backoff.clone()),
        routing: Routing::new(&config, Routing::default()),
        accepted: sources::Accepted::new(&config),
        local_sources: sources::Accepted::parent(&config),
        local,
        plan,
        lvs_notify: lvs_notify::IpvsNotify::new(&config),
        opts,
        config,
        generation: 1,
        record: Record::default(),
        sd,
        ready_sent: false,
        reload: None,
        reload_status: None,
        stopping: false,
        failure: None,
        publisher,
        metrics,
        handing_over: false,
        handed_over: None,
    };
    if p.opts.handover
        && let Some((resume, ago)) = reexec::take(&p.opts.runtime_dir)
    {
        info!(
            ago_ms = ago.as_millis(),
            "resuming from the previous image's handover"
        );
        p.record.adopt(resume);
        p.handed_over = Instant::now().checked_sub(ago);
    }
    for role in Role::ALL {
        if wanted(&p.config, role) {
            p.start(role);
        }
    }
    p.handed_over = None;
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
            Some(ev) = metrics_rx.recv() => p.on_event(ev),
            Some((generation, msg)) = local_rx.recv() => p.on_local(generation, msg),
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
    if p.handing_over {
        return hand_over(p, sd_env).await;
    }
    let _ = std::fs::remove_file(control::socket_path(&p.opts.runtime_dir));
    let Parent {
        notifier,
        failure,
        local,
        ..
    } = p;
    local.stop();
    notifier.finish(Duration::from_secs(5)).await;
    let _ = std::fs::remove_file(&pid_file);
    match failure {
        Some(e) => Err(SupervisorError::Config(e)),
        None => Ok(()),
    }
}

/// The metrics listener, bound here (root: any port) once at start and
/// handed to every incarnation of the metrics worker, which serves it.
fn bind_metrics(cfg: &Config) -> Option<publish::Metrics> {
    let addr = cfg.global.metrics_address?;
    match std::net::TcpListener::bind(addr) {
        Ok(listener) => Some(publish::Metrics::new(listener)),
        Err(e) => {
            error!(address = %addr, error = %e, "cannot serve metrics");
            None
        }
    }
}

impl Parent {
    /// Starts (or restarts) `role` with the current configuration and the
    /// recorded state to resume from.
    fn start(&mut self, role: Role) {
        let as_account = vec![
            "--uid".to_string(),
            self.plan.checker.uid.to_string(),
            "--gid".to_string(),
            self.plan.checker.gid.to_string(),
        ];
        let launch = match role {
            Role::Checker => {
                let mut extra = as_account;
                if let Some(dir) = files::plugin_cache(&self.opts.cache_dir, &self.plan.checker) {
                    extra.push("--plugin-cache".into());
                    extra.push(dir.display().to_string());
                }
                Launch {
                    extra,
                    uid: self.plan.checker.uid,
                    listener: None,
                }
            }
            Role::Metrics => {
                // Without a listener (the bind failed, logged) there is
                // nothing to serve.
                let Some(m) = &self.metrics else { return };
                Launch {
                    extra: as_account,
                    uid: self.plan.checker.uid,
                    listener: Some(m.listener.as_raw_fd()),
                }
            }
            Role::Vrrp | Role::Ipvs => Launch::default(),
        };
        let down_ms = self
            .workers
            .down_for(role)
            .or_else(|| self.handed_over.map(|t| t.elapsed()))
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let plugin_key = match role {
            Role::Checker => files::plugin_key(&self.opts.cache_dir).map(|k| hex(&k)),
            _ => None,
        };
        let start = Msg::Start {
            generation: self.generation,
            config: config_for(role, &self.config),
            resume: self.record.resume(down_ms),
            plugin_key,
        };
        self.workers.start(role, &launch, start);
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
        // A change held back by the metrics pace.
        self.feed_metrics(None);
    }

    fn on_control(&mut self, req: Pending) {
        match req.request {
            Request::Status => {
                let _ = req
                    .reply
                    .send(Response::Status(Box::new(self.status_doc())));
            }
            Request::Reload => self.begin_reload(Some(req.reply)),
            Request::Reexec => self.begin_reexec(req.reply),
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

    /// `upkeepctl reexec`: refused while stopping or reloading, or when the
    /// configuration file no longer loads (the new image would not start);
    /// else the workers stop without clean-up (see `reexec.rs`) and the loop
    /// ends into the exec.
    fn begin_reexec(&mut self, reply: oneshot::Sender<Response>) {
        let refuse = |why: String| Response::Error { message: why };
        if self.stopping || self.reload.is_some() {
            let _ = reply.send(refuse("the daemon is stopping or reloading".into()));
            return;
        }
        let loaded = crate::config::load(&self.opts.config_path, &self.opts.load);
        if !loaded.is_ok() {
            let errors: Vec<String> = loaded
                .diagnostics
                .sorted()
                .into_iter()
                .filter(|d| d.severity == crate::config::diag::Severity::Error)
                .map(|d| d.to_string())
                .collect();
            let why = format!(
                "invalid configuration; not re-executing: {}",
                errors.join("; ")
            );
            warn!(error = %why, "re-exec refused");
            let _ = reply.send(refuse(why));
            return;
        }
        info!("re-executing: workers stop without clean-up, VIPs stay");
        let _ = reply.send(Response::Reexec {
            pid: std::process::id(),
        });
        self.tell_systemd(SdNotify::reloading);
        self.handing_over = true;
        self.stopping = true;
        self.workers.hand_over();
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
            .omega(&self.config, &self.plan, &self.record, &mut self.notifier);
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
            scripts: self
                .plan
                .entries
                .iter()
                .map(|e| {
                    let a = self.plan.account(e);
                    crate::control::status::ScriptStatus {
                        owner: e.owner.clone(),
                        keyword: e.keyword.clone(),
                        command: e.command.clone(),
                        user: a.map(|a| a.name.clone()),
                        uid: a.map(|a| a.uid),
                        gid: a.map(|a| a.gid),
                        runs_in: if e.by_parent { "parent" } else { "checker" }.into(),
                    }
                })
                .collect(),
        }
    }

    /// Gives the metrics worker a new rendering when its copy is stale and
    /// the pace allows (`doc`: the status just built, if any).
    fn feed_metrics(&mut self, doc: Option<&StatusDoc>) {
        let Some(m) = &mut self.metrics else { return };
        if !self.workers.present(Role::Metrics) || !m.due(Instant::now()) {
            return;
        }
        let text = match doc {
            Some(d) => control::metrics::render(d),
            None => control::metrics::render(&self.status_doc()),
        };
        if let Some(m) = &mut self.metrics {
            m.sent(Instant::now());
        }
        self.workers.send(Role::Metrics, Msg::Metrics { text });
    }

    /// Shares the status (status.json, metrics) and STATUS=, when due.
    fn publish(&mut self, force: bool) {
        if !self.publisher.due(force) {
            return;
        }
        let started = Instant::now();
        let doc = self.status_doc();
        if let Some(m) = &mut self.metrics {
            m.changed();
        }
        self.feed_metrics(Some(&doc));
        self.publisher
            .publish(&self.opts.runtime_dir, &doc, started);
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
