//! The parent supervisor. It reads and validates the configuration, starts
//! one worker per job (VRRP, IPVS, checker) over a socketpair each, keeps
//! the latest state of everything, routes checker results to VRRP and IPVS,
//! runs notify scripts, restarts failed workers (replaying the state),
//! speaks systemd's notify protocol, reloads, and serves the control socket.

pub mod heartbeat;
pub mod init;
pub mod privs;
pub mod record;
pub mod sdnotify;
pub mod spawn;
pub mod worker;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};

use crate::checker::policy::{Decision, Policy};
use crate::config::model::{Config, OnFailure};
use crate::config::{self, LoadOptions};
use crate::control::status::{ReloadStatus, StatusDoc, WorkerStatus};
use crate::control::{self, Pending, Request, Response};
use crate::ipc::msg::Role;
use crate::ipc::{Channel, Msg};
use crate::vrrp::fsm::State;
use crate::vrrp::notify::{Notifier, SCRIPT_TIMEOUT};
use heartbeat::{Beat, Heartbeat};
use privs::Account;
use record::Record;
use sdnotify::SdNotify;
use spawn::{Backoff, EXIT_CONFIG, Heard, WorkerEvent};

/// A reload that workers have not confirmed in this time is reported failed.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(30);
/// Sending to a worker that takes longer than this means it is stuck.
const SEND_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the status (status.json, metrics, STATUS=) is refreshed at most.
const PUBLISH_EVERY: Duration = Duration::from_millis(200);
/// A publication that took this long waits this many times as long before
/// the next (see [`publish_gap`]).
const PUBLISH_PAUSE: u32 = 4;
/// A restart command that runs longer is killed (with its process group).
const RESTART_TIMEOUT: Duration = Duration::from_secs(60);

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
    #[error("a worker cannot run the configuration ({0}); stopped")]
    Config(String),
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> SupervisorError {
    let what = what.into();
    move |source| SupervisorError::Io { what, source }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Starting,
    Running,
    /// Waiting for the restart time.
    Restarting(Instant),
    Stopped,
}

struct Slot {
    role: Role,
    incarnation: u64,
    pid: Option<u32>,
    channel: Option<Arc<Channel>>,
    phase: Phase,
    started_at: Instant,
    /// The configuration generation this incarnation reported Ready for.
    ready: u64,
    restarts: u64,
    backoff: Backoff,
    heartbeat: Heartbeat,
    /// When its reader last took a message off its socket.
    heard: Option<Arc<Heard>>,
    down_since: Option<Instant>,
    last_exit: Option<String>,
    /// Needed by the current configuration.
    wanted: bool,
}

/// A reload in progress: VRRP first (the part that can fail on this host),
/// then the others, then commit.
struct Reload {
    generation: u64,
    config: Config,
    vrrp_done: bool,
    /// The second phase (IPVS, checker) has been sent.
    others_sent: bool,
    waiting: Vec<Role>,
    started: Instant,
    replies: Vec<oneshot::Sender<Response>>,
}

struct Parent {
    opts: Options,
    config: Config,
    generation: u64,
    account: Account,
    slots: BTreeMap<Role, Slot>,
    record: Record,
    notifier: Notifier,
    sd: Option<SdNotify>,
    events: mpsc::UnboundedSender<WorkerEvent>,
    incarnations: u64,
    ping_seq: u64,
    /// The last tick of the loop (heartbeats count the time between ticks).
    ticked_at: Instant,
    ready_sent: bool,
    last_status_line: String,
    reload: Option<Reload>,
    reload_status: Option<ReloadStatus>,
    stopping: bool,
    failure: Option<String>,
    shared: Arc<Mutex<StatusDoc>>,
    dirty: bool,
    /// Restart-then-demote per check source.
    policies: BTreeMap<String, Guard>,
    /// When the last publication ended, and the pause until the next.
    published_at: Instant,
    publish_gap: Duration,
    /// Runs IPVS's notify_up/down and quorum_up/down.
    ipvs_notify: crate::ipvs::notify::IpvsNotify,
}

/// A check's policy and the one command it may have run.
struct Guard {
    config: OnFailure,
    policy: Policy,
    restart: Vec<String>,
}

fn guards(cfg: &Config, old: &mut BTreeMap<String, Guard>) -> BTreeMap<String, Guard> {
    cfg.vrrp_scripts
        .iter()
        .filter_map(|s| {
            let f = s.on_failure.clone()?;
            let source = format!("script:{}", s.name);
            // An unchanged policy keeps its state (restarts, demotion).
            let guard = match old.remove(&source) {
                Some(g) if g.config == f => g,
                _ => Guard {
                    policy: Policy::new(&f),
                    restart: f
                        .restart
                        .as_deref()
                        .map(crate::vrrp::notify::split_command)
                        .unwrap_or_default(),
                    config: f,
                },
            };
            Some((source, guard))
        })
        .collect()
}

/// Which workers a configuration needs.
fn wanted(cfg: &Config, role: Role) -> bool {
    match role {
        Role::Vrrp => true,
        Role::Ipvs => !cfg.virtual_servers.is_empty(),
        Role::Checker => !crate::checker::configured(cfg).is_empty(),
    }
}

fn checker_account(cfg: &Config) -> Result<Account, privs::PrivError> {
    match &cfg.global.script_user {
        Some(u) => privs::lookup(&u.user, u.group.as_deref()),
        None => privs::default_checker_account(),
    }
}

/// `DIR/plugins`, made and owned by the checker's account with mode 0700
/// (the checker loads compiled code from it, so no one else may write
/// there). None, with a warning, when it cannot be set up: plugins then
/// compile at every start.
fn plugin_cache(dir: &std::path::Path, account: &Account) -> Option<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let path = dir.join("plugins");
    let made = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&path)
        .and_then(|()| std::os::unix::fs::chown(&path, Some(account.uid), Some(account.gid)))
        .and_then(|()| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)));
    match made {
        Ok(()) => Some(path),
        Err(e) => {
            warn!(dir = %path.display(), error = %e, "no plugin cache");
            None
        }
    }
}

fn fifos(cfg: &Config) -> Vec<PathBuf> {
    [&cfg.global.notify_fifo, &cfg.global.vrrp_notify_fifo]
        .into_iter()
        .flatten()
        .map(PathBuf::from)
        .collect()
}

/// keepalived's `init_file`: a tracked file gets its initial number at start
/// (when missing, or always with `overwrite`). Done by the parent: the
/// checker that reads the file has no right to create it.
fn init_track_files(cfg: &Config) {
    for f in &cfg.track_files {
        let Some(v) = f.init_file else { continue };
        let path = std::path::Path::new(&f.file);
        if path.exists() && !f.init_file_overwrite {
            continue;
        }
        match std::fs::write(path, format!("{v}\n")) {
            Ok(()) => info!(file = %f.file, value = v, "tracked file initialised"),
            Err(e) => warn!(file = %f.file, error = %e, "cannot initialise tracked file"),
        }
    }
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
    std::fs::create_dir_all(&dir).map_err(io_err(format!("creating {}", dir.display())))?;
    let pid_file = dir.join("upkeepd.pid");
    std::fs::write(&pid_file, format!("{}\n", std::process::id()))
        .map_err(io_err("writing the pid file"))?;
    let listener = control::bind(&dir).map_err(io_err("binding the control socket"))?;
    let (ctl_tx, mut ctl_rx) = mpsc::channel::<Pending>(16);
    let control_task = tokio::spawn(control::serve(listener, ctl_tx));
    let (events, mut rx) = mpsc::unbounded_channel();
    for f in fifos(&config) {
        crate::vrrp::notify::ensure_fifo(&f);
    }
    init_track_files(&config);
    let shared = Arc::new(Mutex::new(StatusDoc::default()));
    let metrics_task = start_metrics(&config, &shared);
    let mut p = Parent {
        notifier: Notifier::new(fifos(&config), SCRIPT_TIMEOUT),
        opts,
        config,
        generation: 1,
        account,
        slots: BTreeMap::new(),
        record: Record::default(),
        sd,
        events,
        incarnations: 0,
        ping_seq: 0,
        ticked_at: Instant::now(),
        ready_sent: false,
        last_status_line: String::new(),
        reload: None,
        reload_status: None,
        stopping: false,
        failure: None,
        shared,
        dirty: true,
        policies: BTreeMap::new(),
        published_at: Instant::now(),
        publish_gap: PUBLISH_EVERY,
        ipvs_notify: crate::ipvs::notify::IpvsNotify::default(),
    };
    p.policies = guards(&p.config, &mut BTreeMap::new());
    p.ipvs_notify = crate::ipvs::notify::IpvsNotify::new(&p.config);
    for role in Role::ALL {
        if wanted(&p.config, role) {
            p.start(role).await;
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
            _ = sigterm.recv() => p.begin_stop(None).await,
            _ = sigint.recv() => p.begin_stop(None).await,
            _ = sighup.recv() => p.begin_reload(None).await,
            Some(ev) = rx.recv() => p.on_event(ev).await,
            Some(req) = ctl_rx.recv() => p.on_control(req).await,
            _ = tick.tick() => {
                p.on_tick().await;
                if let Some(every) = watchdog_every
                    && watchdog_at.elapsed() >= every
                    && p.healthy()
                {
                    watchdog_at = Instant::now();
                    p.tell_systemd(SdNotify::watchdog);
                }
            }
        }
        if p.stopping {
            let deadline =
                *stop_deadline.get_or_insert_with(|| Instant::now() + Duration::from_secs(10));
            if Instant::now() >= deadline {
                for s in p.slots.values().filter(|s| s.pid.is_some()) {
                    warn!(role = %s.role, "worker did not stop in time; killing it");
                    spawn::kill(s.pid.unwrap_or(0));
                }
                stop_deadline = Some(Instant::now() + Duration::from_secs(3600));
            }
            if p.slots.values().all(|s| s.phase == Phase::Stopped) {
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
    async fn start(&mut self, role: Role) {
        self.incarnations += 1;
        let incarnation = self.incarnations;
        let (extra, uid) = match role {
            Role::Checker => {
                let mut extra = vec![
                    "--uid".to_string(),
                    self.account.uid.to_string(),
                    "--gid".to_string(),
                    self.account.gid.to_string(),
                ];
                if let Some(dir) = plugin_cache(&self.opts.cache_dir, &self.account) {
                    extra.push("--plugin-cache".into());
                    extra.push(dir.display().to_string());
                }
                (extra, self.account.uid)
            }
            _ => (Vec::new(), 0),
        };
        let down_ms = self
            .slots
            .get(&role)
            .and_then(|s| s.down_since)
            .map(|t| u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX));
        let now = Instant::now();
        let slot = self.slots.entry(role).or_insert_with(|| Slot {
            role,
            incarnation,
            pid: None,
            channel: None,
            phase: Phase::Starting,
            started_at: now,
            ready: 0,
            restarts: 0,
            backoff: self.opts.backoff.clone(),
            heartbeat: Heartbeat::new(now),
            heard: None,
            down_since: None,
            last_exit: None,
            wanted: true,
        });
        slot.incarnation = incarnation;
        slot.wanted = true;
        slot.ready = 0;
        slot.heartbeat = Heartbeat::new(now);
        slot.started_at = now;
        match spawn::spawn(role, incarnation, &extra, uid, self.events.clone()) {
            Ok(s) => {
                info!(role = %role, pid = s.pid, "worker started");
                slot.pid = Some(s.pid);
                slot.channel = Some(s.channel);
                slot.heard = Some(s.heard);
                slot.phase = Phase::Starting;
                slot.down_since = None;
                let start = Msg::Start {
                    generation: self.generation,
                    config: Box::new(self.config.clone()),
                    resume: self.record.resume(down_ms),
                };
                self.send(role, &start).await;
            }
            Err(e) => {
                error!(role = %role, error = %e, "cannot start worker");
                let delay = slot.backoff.on_exit(Duration::ZERO);
                slot.phase = Phase::Restarting(now + delay);
                slot.down_since.get_or_insert(now);
            }
        }
        self.dirty = true;
    }

    /// Sends to a worker; a worker that cannot take a message is killed (and restarted).
    async fn send(&mut self, role: Role, msg: &Msg) {
        let Some(slot) = self.slots.get(&role) else {
            return;
        };
        let Some(ch) = slot.channel.clone() else {
            return;
        };
        let pid = slot.pid;
        match tokio::time::timeout(SEND_TIMEOUT, ch.send(msg)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                warn!(role = %role, kind = msg.kind(), error = %e, "sending to worker failed");
                pid.into_iter().for_each(spawn::kill);
            }
            Err(_) => {
                warn!(role = %role, kind = msg.kind(), "worker not taking messages; restarting it");
                pid.into_iter().for_each(spawn::kill);
            }
        }
    }

    /// Whether an event comes from the running incarnation of `role` (not
    /// from one already replaced).
    fn is_current(&self, role: Role, incarnation: u64) -> bool {
        self.slots
            .get(&role)
            .is_some_and(|s| s.incarnation == incarnation)
    }

    async fn on_event(&mut self, ev: WorkerEvent) {
        match ev {
            WorkerEvent::Msg {
                role,
                incarnation,
                msg,
            } => {
                if self.is_current(role, incarnation) {
                    self.on_message(role, msg).await;
                }
            }
            WorkerEvent::Reset {
                role,
                incarnation,
                error,
            } => {
                if self.is_current(role, incarnation) {
                    warn!(role = %role, error = %error, "worker connection reset; restarting the worker");
                }
            }
            WorkerEvent::Exited {
                role,
                incarnation,
                code,
                signal,
            } => self.on_exit(role, incarnation, code, signal).await,
        }
    }

    async fn on_message(&mut self, role: Role, msg: Msg) {
        if !allowed(&msg, role) {
            warn!(role = %role, kind = msg.kind(), "message not allowed from this worker; resetting it");
            if let Some(pid) = self.slots.get(&role).and_then(|s| s.pid) {
                spawn::kill(pid);
            }
            return;
        }
        // Only publishing clears the flag: a heartbeat right after a status
        // must not make that status wait for the next change.
        self.dirty |= changes_status(&msg);
        match msg {
            Msg::Pong { seq } => {
                if let Some(s) = self.slots.get_mut(&role) {
                    s.heartbeat.pong(seq);
                }
            }
            Msg::Ready { generation } => self.on_ready(role, generation).await,
            Msg::ReloadFailed { generation, error } => {
                self.on_reload_failed(role, generation, error).await;
            }
            Msg::Transition(t) => {
                for n in self.record.transition(&self.config, &t) {
                    self.notifier
                        .transition(n.kind, &n.name, &n.notify, n.state, n.priority);
                }
                let states = self.record.state_names();
                self.send(Role::Ipvs, &Msg::VrrpStates { states }).await;
            }
            Msg::VrrpStatus {
                instances,
                unmatched_drops,
            } => {
                self.record.instances = instances;
                self.record.unmatched_drops = unmatched_drops;
            }
            Msg::CheckState(c) => self.on_checks(vec![c]).await,
            Msg::Checks { checks } => self.on_checks(checks).await,
            Msg::RealServer(rs) => {
                let before = self.record.real_server(&rs);
                self.ipvs_notify
                    .real_server(&self.config, &rs, before, &mut self.notifier);
                self.send(Role::Ipvs, &Msg::RealServer(rs)).await;
            }
            Msg::IpvsStatus {
                virtual_servers,
                kernel,
            } => {
                self.record.virtual_servers = virtual_servers;
                self.record.ipvs = *kernel;
            }
            Msg::Quorum { virtual_server, up } => {
                let before = self.record.quorum.insert(virtual_server.clone(), up);
                self.ipvs_notify.quorum(
                    &self.config,
                    &virtual_server,
                    up,
                    before,
                    &mut self.notifier,
                );
            }
            _ => {}
        }
    }

    /// Records check results. A changed verdict goes to VRRP, or through
    /// the check's restart-then-demote policy when it has one.
    async fn on_checks(&mut self, checks: Vec<crate::ipc::msg::CheckStatus>) {
        for c in checks {
            let Some((source, up, value)) = self.record.check(c) else {
                continue;
            };
            if let Some(value) = value.filter(|_| source.starts_with("file:")) {
                self.record.values.insert(source.clone(), value);
                let msg = Msg::Track {
                    source,
                    up,
                    value: Some(value),
                };
                self.send(Role::Vrrp, &msg).await;
                continue;
            }
            debug!(check = %source, up, "check state changed");
            // Real-server checks concern IPVS only (sent by the checker).
            if source.starts_with("real_server:") {
                continue;
            }
            let decisions = match self.policies.get_mut(&source) {
                Some(g) => g.policy.verdict(Instant::now(), up),
                None => {
                    self.track(source, up).await;
                    continue;
                }
            };
            self.decide(&source, decisions).await;
            // A passing check counts at once (a positive weight applies);
            // only failing goes through restart-then-demote.
            if up && self.record.tracks.get(&source) != Some(&true) {
                self.track(source, true).await;
            }
        }
    }

    /// Tells VRRP about a tracked source (and records it for replay).
    async fn track(&mut self, source: String, up: bool) {
        self.record.tracks.insert(source.clone(), up);
        self.send(
            Role::Vrrp,
            &Msg::Track {
                source,
                up,
                value: None,
            },
        )
        .await;
    }

    async fn decide(&mut self, source: &str, decisions: Vec<Decision>) {
        for d in decisions {
            match d {
                Decision::Restart => {
                    let Some(g) = self.policies.get(source) else {
                        continue;
                    };
                    let argv = g.restart.clone();
                    let source = source.to_string();
                    warn!(check = %source, command = %argv.join(" "), "check failing: running its restart command");
                    tokio::spawn(async move {
                        let o = crate::checker::probe::script(&argv, RESTART_TIMEOUT).await;
                        if o.ok {
                            info!(check = %source, result = %o.message, "restart command finished");
                        } else {
                            warn!(check = %source, result = %o.message, "restart command failed");
                        }
                    });
                }
                Decision::Demote => {
                    warn!(check = %source, "check still failing: demoting");
                    self.track(source.to_string(), false).await;
                }
                Decision::Restore => {
                    info!(check = %source, "check passing again: restoring");
                    self.track(source.to_string(), true).await;
                }
            }
            self.dirty = true;
        }
    }

    async fn on_ready(&mut self, role: Role, generation: u64) {
        if let Some(s) = self.slots.get_mut(&role) {
            s.ready = generation;
            if s.phase == Phase::Starting {
                s.phase = Phase::Running;
                info!(role = %role, generation, "worker ready");
            }
        }
        if let Some(r) = &mut self.reload
            && r.generation == generation
        {
            r.waiting.retain(|w| *w != role);
            if role == Role::Vrrp {
                r.vrrp_done = true;
            }
        }
        self.advance_reload().await;
        // A worker that started (or restarted) with an older configuration
        // than the one now committed catches up.
        if generation < self.generation && self.reload.is_none() {
            let msg = Msg::Reload {
                generation: self.generation,
                config: Box::new(self.config.clone()),
            };
            self.send(role, &msg).await;
        }
        if !self.ready_sent && self.all_ready() {
            self.ready_sent = true;
            let line = self.status_line();
            info!(status = %line, "all workers ready");
            self.tell_systemd(|sd| sd.ready(&line));
            self.last_status_line = line;
        }
    }

    fn all_ready(&self) -> bool {
        self.slots
            .values()
            .filter(|s| s.wanted)
            .all(|s| s.phase == Phase::Running)
    }

    /// Every wanted worker is up and answering.
    fn healthy(&self) -> bool {
        self.slots
            .values()
            .filter(|s| s.wanted)
            .all(|s| s.phase == Phase::Running && s.heartbeat.answering())
    }

    async fn on_exit(
        &mut self,
        role: Role,
        incarnation: u64,
        code: Option<i32>,
        signal: Option<i32>,
    ) {
        let holds_master = self.record.states.values().any(|s| *s == State::Master);
        let stopping = self.stopping;
        let Some(s) = self.slots.get_mut(&role) else {
            return;
        };
        if s.incarnation != incarnation {
            return;
        }
        let how = match (code, signal) {
            (Some(c), _) => format!("exit code {c}"),
            (None, Some(sig)) => format!("signal {sig}"),
            _ => "unknown".to_string(),
        };
        let was_ready = s.ready > 0;
        let ran = s.started_at.elapsed();
        s.pid = None;
        s.channel = None;
        s.heard = None;
        s.heartbeat = Heartbeat::new(Instant::now());
        s.last_exit = Some(how.clone());
        s.down_since = Some(Instant::now());
        self.dirty = true;
        if stopping || !s.wanted {
            info!(role = %role, how = %how, "worker stopped");
            s.phase = Phase::Stopped;
            return;
        }
        if code == Some(EXIT_CONFIG) {
            error!(role = %role, "worker cannot run the configuration; stopping the daemon");
            s.phase = Phase::Stopped;
            let why = format!("{role} worker: see its log for the configuration error");
            self.begin_stop(Some(why)).await;
            return;
        }
        let mut delay = s.backoff.on_exit(ran);
        // A Master's VRRP worker comes back at once: any delay past the
        // peers' Master_Down_Interval would be a failover.
        if role == Role::Vrrp && holds_master && was_ready {
            delay = Duration::ZERO;
        }
        s.restarts += 1;
        warn!(role = %role, how = %how, ran_ms = ran.as_millis() as u64, restart_in_ms = delay.as_millis() as u64, "worker failed; restarting");
        s.phase = Phase::Restarting(Instant::now() + delay);
        if delay.is_zero() {
            self.start(role).await;
        }
    }

    async fn on_tick(&mut self) {
        let now = Instant::now();
        let due: Vec<(String, Vec<Decision>)> = self
            .policies
            .iter_mut()
            .map(|(s, g)| (s.clone(), g.policy.tick(now)))
            .filter(|(_, d)| !d.is_empty())
            .collect();
        for (source, decisions) in due {
            self.decide(&source, decisions).await;
        }
        let due: Vec<Role> = self
            .slots
            .values()
            .filter(|s| matches!(s.phase, Phase::Restarting(at) if at <= now) && !self.stopping)
            .map(|s| s.role)
            .collect();
        for role in due {
            self.start(role).await;
        }
        let step = now.saturating_duration_since(self.ticked_at);
        self.ticked_at = now;
        let mut pings = Vec::new();
        for s in self.slots.values_mut() {
            let Some(pid) = s.pid else { continue };
            if let Some(at) = s.heard.as_ref().and_then(|h| h.last()) {
                s.heartbeat.heard(at);
            }
            let channel = s.channel.as_deref();
            match s
                .heartbeat
                .tick(now, step, || channel.is_some_and(spawn::unread))
            {
                Beat::Dead => {
                    warn!(role = %s.role, pid, "worker not answering heartbeats; restarting it");
                    spawn::kill(pid);
                }
                Beat::Ping => {
                    self.ping_seq += 1;
                    s.heartbeat.pinged(self.ping_seq, now);
                    pings.push((s.role, self.ping_seq));
                }
                Beat::Wait => {}
            }
        }
        for (role, seq) in pings {
            self.send(role, &Msg::Ping { seq }).await;
        }
        if let Some(r) = &self.reload
            && r.started.elapsed() > RELOAD_TIMEOUT
        {
            let waiting: Vec<String> = r.waiting.iter().map(|w| w.to_string()).collect();
            self.fail_reload(format!("no answer from: {}", waiting.join(", ")));
        }
    }

    async fn on_control(&mut self, req: Pending) {
        match req.request {
            Request::Status => {
                let _ = req
                    .reply
                    .send(Response::Status(Box::new(self.status_doc())));
            }
            Request::Reload => self.begin_reload(Some(req.reply)).await,
        }
    }

    async fn begin_reload(&mut self, reply: Option<oneshot::Sender<Response>>) {
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
        let loaded = config::load(&self.opts.config_path, &self.opts.load);
        for d in loaded.diagnostics.sorted() {
            if d.severity == config::diag::Severity::Error {
                error!(diagnostic = %d, "configuration");
            } else {
                warn!(diagnostic = %d, "configuration");
            }
        }
        let generation = self.generation + 1;
        self.reload = Some(Reload {
            generation,
            config: loaded.config.clone(),
            vrrp_done: false,
            others_sent: false,
            waiting: Vec::new(),
            started: Instant::now(),
            replies: reply.into_iter().collect(),
        });
        if !loaded.is_ok() {
            let errors: Vec<String> = loaded
                .diagnostics
                .sorted()
                .into_iter()
                .filter(|d| d.severity == config::diag::Severity::Error)
                .map(|d| d.to_string())
                .collect();
            self.fail_reload(format!("invalid configuration: {}", errors.join("; ")));
            return;
        }
        if self
            .slots
            .get(&Role::Vrrp)
            .is_some_and(|s| s.channel.is_some())
        {
            if let Some(r) = &mut self.reload {
                r.waiting.push(Role::Vrrp);
            }
            let msg = Msg::Reload {
                generation,
                config: Box::new(loaded.config),
            };
            self.send(Role::Vrrp, &msg).await;
        } else if let Some(r) = &mut self.reload {
            r.vrrp_done = true;
        }
        self.advance_reload().await;
    }

    /// VRRP has applied it: now the other workers; when all have, commit.
    async fn advance_reload(&mut self) {
        let Some(r) = &mut self.reload else { return };
        if !r.vrrp_done || !r.waiting.is_empty() {
            return;
        }
        if !r.others_sent {
            r.others_sent = true;
            let generation = r.generation;
            let config = r.config.clone();
            let others: Vec<Role> = [Role::Ipvs, Role::Checker]
                .into_iter()
                .filter(|role| {
                    wanted(&config, *role)
                        && self
                            .slots
                            .get(role)
                            .is_some_and(|s| s.channel.is_some() && s.wanted)
                })
                .collect();
            if !others.is_empty() {
                if let Some(r) = &mut self.reload {
                    r.waiting = others.clone();
                }
                for role in others {
                    let msg = Msg::Reload {
                        generation,
                        config: Box::new(config.clone()),
                    };
                    self.send(role, &msg).await;
                }
                return;
            }
        }
        self.commit_reload().await;
    }

    async fn commit_reload(&mut self) {
        let Some(r) = self.reload.take() else { return };
        let old = std::mem::replace(&mut self.config, r.config);
        self.generation = r.generation;
        if old.global.metrics_address != self.config.global.metrics_address {
            warn!("metrics_address changes take effect at restart");
        }
        if let Ok(a) = checker_account(&self.config)
            && a != self.account
        {
            self.account = a;
            if let Some(pid) = self.slots.get(&Role::Checker).and_then(|s| s.pid) {
                info!("checker account changed; restarting the checker");
                spawn::kill(pid);
            }
        }
        self.notifier.set_fifos(fifos(&self.config));
        init_track_files(&self.config);
        for f in fifos(&self.config) {
            crate::vrrp::notify::ensure_fifo(&f);
        }
        self.record.retain_configured(&self.config);
        let mut old = std::mem::take(&mut self.policies);
        self.policies = guards(&self.config, &mut old);
        self.ipvs_notify = crate::ipvs::notify::IpvsNotify::new(&self.config);
        for role in Role::ALL {
            let want = wanted(&self.config, role);
            let present = self
                .slots
                .get(&role)
                .is_some_and(|s| s.phase != Phase::Stopped);
            if want && !present {
                self.start(role).await;
            } else if !want && present {
                if let Some(s) = self.slots.get_mut(&role) {
                    s.wanted = false;
                    if s.pid.is_none() {
                        s.phase = Phase::Stopped;
                    }
                }
                self.send(role, &Msg::Shutdown).await;
            }
        }
        info!(generation = self.generation, "configuration reloaded");
        self.finish_reload(r.replies, None);
    }

    fn fail_reload(&mut self, why: String) {
        let Some(r) = self.reload.take() else { return };
        error!(error = %why, generation = self.generation, "reload failed; running the previous configuration");
        self.finish_reload(r.replies, Some(why));
    }

    /// A reload's outcome: recorded, READY=1 with the status line, published
    /// (before anyone hears the outcome: a caller of `upkeepctl reload`
    /// reading status.json next must see it), then the callers answered.
    fn finish_reload(&mut self, replies: Vec<oneshot::Sender<Response>>, error: Option<String>) {
        self.reload_status = Some(ReloadStatus {
            ok: error.is_none(),
            at_ms: now_ms(),
            error: error.clone(),
        });
        let line = self.status_line();
        self.tell_systemd(|sd| sd.ready(&line));
        self.last_status_line = line;
        self.dirty = true;
        self.publish(true);
        for reply in replies {
            let _ = reply.send(Response::Reload {
                ok: error.is_none(),
                generation: self.generation,
                error: error.clone(),
            });
        }
    }

    /// systemd's one-line STATUS=: the summary, and the last reload's
    /// failure while it is the latest word.
    fn status_line(&self) -> String {
        let mut line = self.record.summary();
        if let Some(ReloadStatus {
            ok: false,
            error: Some(e),
            ..
        }) = &self.reload_status
        {
            line.push_str(&format!("; reload failed: {e}"));
        }
        line
    }

    /// Sends to systemd when it listens; a failure is logged, never fatal.
    fn tell_systemd(&self, send: impl FnOnce(&SdNotify) -> std::io::Result<()>) {
        if let Some(sd) = &self.sd
            && let Err(e) = send(sd)
        {
            warn!(error = %e, "systemd notification failed");
        }
    }

    async fn on_reload_failed(&mut self, role: Role, generation: u64, error: String) {
        let Some(r) = &mut self.reload else { return };
        if r.generation != generation {
            return;
        }
        if role == Role::Vrrp {
            self.fail_reload(format!("vrrp worker: {error}"));
        } else {
            // VRRP already runs the new configuration: commit, and say what lagged.
            warn!(role = %role, error = %error, "worker kept its previous configuration");
            r.waiting.retain(|w| *w != role);
            self.advance_reload().await;
        }
    }

    async fn begin_stop(&mut self, failure: Option<String>) {
        if failure.is_some() {
            self.failure = failure;
        }
        if self.stopping {
            return;
        }
        self.stopping = true;
        info!("stopping");
        self.ipvs_notify
            .omega(&self.config, &self.record, &mut self.notifier);
        self.tell_systemd(SdNotify::stopping);
        if let Some(r) = self.reload.take() {
            for reply in r.replies {
                let _ = reply.send(Response::Error {
                    message: "daemon is stopping".into(),
                });
            }
        }
        let roles: Vec<Role> = self.slots.keys().copied().collect();
        for role in roles {
            let running = self.slots.get(&role).is_some_and(|s| s.pid.is_some());
            if running {
                self.send(role, &Msg::Shutdown).await;
            } else if let Some(s) = self.slots.get_mut(&role) {
                s.phase = Phase::Stopped;
            }
        }
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
                    c.policy = self.policies.get(&c.source).map(|g| g.policy.describe());
                    c
                })
                .collect(),
            virtual_servers: self.record.virtual_servers.clone(),
            ipvs: self
                .slots
                .contains_key(&Role::Ipvs)
                .then(|| self.record.ipvs.clone()),
            workers: self
                .slots
                .values()
                .map(|s| WorkerStatus {
                    role: s.role.to_string(),
                    pid: s.pid,
                    state: match s.phase {
                        Phase::Starting => "starting",
                        Phase::Running => "running",
                        Phase::Restarting(_) => "restarting",
                        Phase::Stopped => "stopped",
                    }
                    .into(),
                    restarts: s.restarts,
                    ipc_fd: s.channel.as_ref().map(|c| c.raw_fd()),
                    uptime_s: s.pid.map(|_| s.started_at.elapsed().as_secs()),
                    last_exit: s.last_exit.clone(),
                })
                .collect(),
        }
    }

    /// Shares the status (control socket, metrics, status.json) and STATUS=.
    /// Paced by [`publish_gap`] (a document with thousands of checks costs
    /// milliseconds to build); `upkeepctl status` builds its own.
    fn publish(&mut self, force: bool) {
        if !self.dirty || (!force && self.published_at.elapsed() < self.publish_gap) {
            return;
        }
        self.dirty = false;
        let started = Instant::now();
        let doc = self.status_doc();
        write_status_file(&self.opts.runtime_dir, &doc);
        if let Ok(mut d) = self.shared.lock() {
            *d = doc;
        }
        self.published_at = Instant::now();
        self.publish_gap = publish_gap(self.published_at.duration_since(started));
        if self.ready_sent && self.reload.is_none() && !self.stopping {
            let line = self.status_line();
            if line != self.last_status_line {
                self.tell_systemd(|sd| sd.status(&line));
                self.last_status_line = line;
            }
        }
    }
}

/// The pause after a publication that took `cost`: [`PUBLISH_EVERY`], or
/// longer when publishing is slow, so that it takes at most a fifth of the
/// parent's time. Regression: with thousands of checks on a starved CPU a
/// publication took longer than the pause (measured from its start): the
/// loop published after every message and fell ever further behind.
fn publish_gap(cost: Duration) -> Duration {
    PUBLISH_EVERY.max(cost.saturating_mul(PUBLISH_PAUSE))
}

/// What each worker may send the parent; anything else resets it.
fn allowed(msg: &Msg, role: Role) -> bool {
    matches!(
        (msg, role),
        (
            Msg::Ready { .. } | Msg::ReloadFailed { .. } | Msg::Pong { .. },
            _
        ) | (Msg::Transition(_) | Msg::VrrpStatus { .. }, Role::Vrrp)
            | (
                Msg::CheckState(_) | Msg::Checks { .. } | Msg::RealServer(_),
                Role::Checker
            )
            | (Msg::IpvsStatus { .. } | Msg::Quorum { .. }, Role::Ipvs)
    )
}

/// Whether a worker's message changes what status shows (heartbeats do not).
fn changes_status(msg: &Msg) -> bool {
    !matches!(msg, Msg::Pong { .. })
}

/// `status.json` in the runtime directory: the same document as
/// `upkeepctl status --json`, for scripts that prefer a file.
fn write_status_file(dir: &std::path::Path, doc: &StatusDoc) {
    let Ok(json) = serde_json::to_string_pretty(doc) else {
        return;
    };
    let tmp = dir.join("status.json.tmp");
    if std::fs::write(&tmp, json)
        .and_then(|()| std::fs::rename(&tmp, dir.join("status.json")))
        .is_err()
    {
        warn!(dir = %dir.display(), "cannot write status.json");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a Pong arriving between a status and its (throttled)
    /// publication used to clear the pending flag, and a Fault stayed
    /// unpublished while nothing else happened.
    #[test]
    fn heartbeats_never_cancel_a_pending_status() {
        let mut dirty = false;
        for m in [
            Msg::VrrpStatus {
                instances: Vec::new(),
                unmatched_drops: Default::default(),
            },
            Msg::Pong { seq: 1 },
        ] {
            dirty |= changes_status(&m);
        }
        assert!(dirty);
        assert!(!changes_status(&Msg::Pong { seq: 2 }));
    }

    /// A quorum report (which runs quorum_up / quorum_down) comes from the
    /// IPVS worker only; the hostile checker cannot send one, nor parent-only
    /// messages such as VRRP states.
    #[test]
    fn only_the_ipvs_worker_reports_quorum() {
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
        for role in Role::ALL {
            assert!(!allowed(&states, role), "{role}");
        }
    }

    #[test]
    fn slow_publications_are_spaced_out() {
        let ms = Duration::from_millis;
        assert_eq!(publish_gap(ms(3)), PUBLISH_EVERY);
        assert_eq!(publish_gap(ms(50)), PUBLISH_EVERY);
        assert_eq!(publish_gap(ms(500)), ms(2000));
        // Busy at most a fifth of the time.
        for cost in [ms(1), ms(60), ms(500), Duration::from_secs(3)] {
            let gap = publish_gap(cost);
            assert!(cost * 5 <= cost + gap, "{cost:?} {gap:?}");
        }
    }

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
