//! The parent supervisor. It reads and validates the configuration, starts
//! one worker per job (VRRP, IPVS, checker) over a socketpair each, keeps
//! the latest state of everything, routes checker results to VRRP and IPVS,
//! runs notify scripts, restarts failed workers (replaying the state),
//! speaks systemd's notify protocol, reloads, and serves the control socket.
//!
//! This module is the event loop; the decisions live in modules of their
//! own: `workers` (starting, sending, exits, heartbeats), `launch` (which
//! workers, started how), `reload` (the two-phase reload, sans-IO) and
//! `reloading`, `intake` (what each worker may say, sans-IO) and
//! `messages`, `routing` (where check results go, sans-IO), `record` (the
//! latest state, for replay and status), `publish`/`publishing` (status,
//! metrics, STATUS=) and `reexec`/`reexecuting` (upgrades in place).

#![forbid(unsafe_code)]

pub mod check_table;
pub mod fifo_scripts;
pub mod files;
pub mod heartbeat;
pub mod init;
pub mod intake;
pub mod ipvs_record;
mod launch;
pub mod lvs_notify;
pub mod mail;
pub mod mailer;
mod maintaining;
pub mod maintenance;
mod messages;
pub mod notify;
pub mod ping;
pub mod plugin_host;
pub mod privs;
pub mod publish;
mod publishing;
pub mod record;
pub mod reexec;
mod reexecuting;
pub mod reload;
mod reloading;
pub mod routing;
pub mod sdnotify;
pub mod sources;
pub mod spawn;
mod watching;
pub mod worker;
pub mod workers;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::config::LoadOptions;
use crate::config::model::Config;
use crate::config::scripts::Plan;
use crate::control::status::ReloadStatus;
use crate::control::{self, Pending, Request, Response};
use crate::ipc::msg::Role;
use notify::{Notifier, SCRIPT_TIMEOUT};
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
    /// What is kept between starts: `maintenance::FILE`.
    pub state_dir: PathBuf,
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
    #[error("{0}; not starting")]
    PluginHost(String),
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> SupervisorError {
    let what = what.into();
    move |source| SupervisorError::Io { what, source }
}

/// The loop's tick while something waits on it (see `Parent::tick_every`).
const TICK: Duration = Duration::from_millis(100);
/// The tick of a quiet parent: the heartbeats' pace (a ping a second).
const QUIET_TICK: Duration = heartbeat::EVERY;

/// The tick: [`TICK`] when busy, else [`QUIET_TICK`] within half the
/// period the watchdog is fed at (never below [`TICK`]).
fn tick_for(busy: bool, watchdog_every: Option<Duration>) -> Duration {
    if busy {
        return TICK;
    }
    watchdog_every.map_or(QUIET_TICK, |w| QUIET_TICK.min(w / 2).max(TICK))
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
    /// The checker's executable when a plugin check is configured.
    plugin_host: plugin_host::PluginHost,
    /// Whether the running checker was started from it.
    checker_hosts_plugins: bool,
    /// The checks the parent runs itself (scripts with their own account).
    local: crate::checker::local::Local,
    /// What those may report.
    local_sources: sources::Accepted,
    /// Runs IPVS's notify_up/down and quorum_up/down.
    lvs_notify: lvs_notify::IpvsNotify,
    notifier: Notifier,
    /// The notify FIFOs held open and their reader scripts.
    fifo_scripts: fifo_scripts::FifoScripts,
    /// SMTP alerts: which events mail (`mail.rs`), and the queue that sends
    /// them (`mailer.rs`).
    mail: mail::Rules,
    mailer: mailer::Mailer,
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
    /// Where `upkeepctl watch` hears of events (`watching.rs`).
    hub: control::watch::Hub,
}

/// Runs the daemon until SIGTERM/SIGINT (or a configuration error in a worker).
pub async fn run(
    opts: Options,
    config: Config,
    sd: Option<SdNotify>,
    watchdog: Option<Duration>,
) -> Result<(), SupervisorError> {
    let plan = launch::plan(&config)?;
    let plugin_host = plugin_host::PluginHost::find_for_self();
    if crate::checker::needs_plugins(&config)
        && let Some(why) = plugin_host.unusable()
    {
        return Err(SupervisorError::PluginHost(why));
    }
    crate::sys::mem::tune_heap();
    let mut config = config;
    // Validated and planned: the positions were for those (megabytes at
    // thousands of real servers).
    config.forget_positions();
    config.compact();
    crate::sys::mem::trim_heap();
    // systemd's variables, for a re-executed image (taken out of our
    // environment at start so that workers and scripts never see them).
    let sd_env = reexecuting::notify_env(sd.as_ref(), watchdog);
    let dir = opts.runtime_dir.clone();
    files::private_dir(&dir, 0o755)?;
    let pid_file = dir.join("upkeepd.pid");
    files::replace(
        &dir,
        "upkeepd.pid",
        format!("{}\n", std::process::id()).as_bytes(),
        0o644,
    )?;
    files::private_dir(&opts.state_dir, 0o755)?;
    let listener = control::bind(&dir).map_err(io_err("binding the control socket"))?;
    let (ctl_tx, mut ctl_rx) = mpsc::channel::<Pending>(16);
    let hub = control::watch::Hub::default();
    let control_task = tokio::spawn(control::serve(listener, ctl_tx, hub.clone()));
    // One inbox per role, so that a flood from one worker (the checker at
    // thousands of results) never delays another (VRRP's transitions).
    let (vrrp_tx, mut vrrp_rx) = mpsc::channel(workers::INBOX_LIMIT);
    let (ipvs_tx, mut ipvs_rx) = mpsc::channel(workers::INBOX_LIMIT);
    let (checker_tx, mut checker_rx) = mpsc::channel(workers::CHECKER_INBOX_LIMIT);
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
    let mut fifos = fifo_scripts::FifoScripts::default();
    fifos.apply(fifo_scripts::wanted(&config, &plan));
    let publisher = publish::Publisher::default();
    let metrics = publishing::bind_metrics(&config);
    let mut p = Parent {
        notifier: Notifier::new(files::fifos(&config), SCRIPT_TIMEOUT),
        fifo_scripts: fifos,
        mail: mail::Rules::new(&config, &mailer::host_name()),
        mailer: mailer::Mailer::new(mailer::Settings::new(
            &config,
            &mailer::host_name(),
            &mailer::user_name(),
        )),
        workers: Workers::new(events, opts.backoff.clone()),
        routing: Routing::new(&config, Routing::default()),
        accepted: sources::Accepted::new(&config),
        local_sources: sources::Accepted::parent(&config),
        local,
        plan,
        plugin_host,
        checker_hosts_plugins: false,
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
        hub,
    };
    // First: what is handed over is kept only for the configured checks.
    p.bind_records();
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
    p.record.maintenance = maintenance::load(&p.opts.state_dir);
    if !p.record.maintenance.is_empty() {
        info!(instances = ?p.record.maintenance, "instances in maintenance");
    }
    for role in Role::ALL {
        if launch::wanted(&p.config, role) {
            p.start(role);
        }
    }
    p.ready_when_all_are();
    p.handed_over = None;
    let mut sigterm = signal(SignalKind::terminate()).map_err(io_err("SIGTERM handler"))?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(io_err("SIGINT handler"))?;
    let mut sighup = signal(SignalKind::hangup()).map_err(io_err("SIGHUP handler"))?;
    let watchdog_every = watchdog.map(|w| w / 2);
    let mut watchdog_at = Instant::now();
    let mut stop_deadline: Option<Instant> = None;
    let tick = tokio::time::sleep(TICK);
    tokio::pin!(tick);
    loop {
        tokio::select! {
            biased;
            _ = sigterm.recv() => p.begin_stop(None),
            _ = sigint.recv() => p.begin_stop(None),
            _ = sighup.recv() => p.begin_reload(None),
            Some(ev) = vrrp_rx.recv() => p.on_event(ev),
            Some(req) = ctl_rx.recv() => p.on_control(req),
            () = &mut tick => {
                let now = Instant::now();
                tick.as_mut().reset((now + p.tick_every(watchdog_every)).into());
                p.on_tick();
                // The checker's result batches are decoded, recorded and
                // freed without a publication each: their pages went back
                // only with the next one (at 2,000 checks 340 KiB of the
                // parent's heap was free and resident; issue 18).
                crate::sys::mem::trim_heap_now_and_then();
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
        p.watch_checks();
        p.publish(false);
        // Something now pending (a publication held back, a restart, a
        // reload) brings the next tick back within TICK.
        let soon = Instant::now() + p.tick_every(watchdog_every);
        if soon < tick.deadline().into_std() {
            tick.as_mut().reset(soon.into());
        }
    }
    p.publish(true);
    control_task.abort();
    if p.handing_over {
        return reexecuting::hand_over(p, sd_env).await;
    }
    let _ = std::fs::remove_file(control::socket_path(&p.opts.runtime_dir));
    let Parent {
        notifier,
        fifo_scripts,
        mailer,
        failure,
        local,
        ..
    } = p;
    local.stop();
    tokio::join!(
        notifier.finish(Duration::from_secs(5)),
        mailer.finish(Duration::from_secs(5))
    );
    // The readers get a moment for the last lines (notify_stop's) first.
    tokio::time::sleep(Duration::from_millis(200)).await;
    fifo_scripts.stop().await;
    let _ = std::fs::remove_file(&pid_file);
    match failure {
        Some(e) => Err(SupervisorError::Config(e)),
        None => Ok(()),
    }
}

impl Parent {
    /// How long until the next tick: [`TICK`] while anything waits on
    /// one (a worker starting or restarting, a reload, a stop, a
    /// publication or metrics held back by their pace, mail queued, a
    /// check's on_failure policy), else [`QUIET_TICK`], within half the
    /// watchdog's period. A quiet parent woke 10 times a second, each
    /// tick two or three wake-ups (bench/README.md, idle CPU).
    fn tick_every(&self, watchdog_every: Option<Duration>) -> Duration {
        let busy = self.stopping
            || self.handing_over
            || self.reload.is_some()
            || !self.workers.all_ready()
            || self.publisher.pending()
            || self.metrics.as_ref().is_some_and(publish::Metrics::pending)
            || self.mailer.status().queued > 0
            || self.routing.has_policies();
        tick_for(busy, watchdog_every)
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
        // Mails go out on their own thread: their counters in the status.
        if self.mailer.changed() {
            self.publisher.touch();
        }
    }

    /// After a reload: the new configuration's SMTP settings and router_id.
    fn reconfigure_mail(&mut self) {
        let host = mailer::host_name();
        self.mail.reconfigure(&self.config, &host);
        self.mailer.set(mailer::Settings::new(
            &self.config,
            &host,
            &mailer::user_name(),
        ));
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
            Request::Maintenance { on, instances } => {
                let _ = req.reply.send(self.on_maintenance(on, &instances));
            }
            Request::Handover { instances, force } => {
                let _ = req.reply.send(self.on_handover(&instances, force));
            }
            // Served by the connection itself (`control::watch`).
            Request::Watch => {
                let _ = req.reply.send(Response::Error {
                    message: "watch is not a one-shot request".into(),
                });
            }
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
        self.watch(watching::Happened::Stopping);
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
}

#[cfg(test)]
mod tick_tests {
    use super::*;

    #[test]
    fn a_quiet_parent_ticks_once_a_second_within_the_watchdog() {
        assert_eq!(tick_for(true, None), TICK);
        assert_eq!(tick_for(false, None), Duration::from_secs(1));
        // Fed every 1.5 s (WatchdogSec=3): ticks every 750 ms.
        let fed = Some(Duration::from_millis(1500));
        assert_eq!(tick_for(false, fed), Duration::from_millis(750));
        assert_eq!(tick_for(true, fed), TICK);
        // Never faster than the busy tick, however short the watchdog.
        assert_eq!(tick_for(false, Some(Duration::from_millis(50))), TICK);
    }
}
