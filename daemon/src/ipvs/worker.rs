//! The IPVS worker process (CAP_NET_ADMIN only). It holds the desired table
//! ([`Table`]) and reconciles the kernel with it: at start, after every
//! change (health, reload, VRRP state) and every [`RECONCILE_EVERY`] to
//! repair drift. Kernel work runs on a blocking thread so that the worker
//! keeps answering the parent meanwhile.
//!
//! It never loads modules: without IPVS in the kernel it says so once (log,
//! status, metrics), keeps running and retries quietly. At stop it leaves
//! the table in the kernel unless `lvs_flush_onstop` says otherwise, and
//! stops the sync daemons it manages.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use tokio::signal::unix::{SignalKind, signal};
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use super::genl::{
    Client, Dest, DestEntry, IpvsError, Request, Service, ServiceEntry, ServiceKey, SyncDaemon,
};
use super::reconcile::{self, describe};
use super::status::{IpvsKernel, MAX_LISTED, Reconcile};
use super::table::{KernelView, Known, Table};
use crate::config::model::{Config, FlushOnStop};
use crate::ipc::Msg;
use crate::ipc::link::{Link, WorkerError, unexpected};
use crate::ipc::msg::{RealServerState, Resume, Role};

/// Drift made by hand is repaired within this period (longer for a table
/// whose reconcile is slow: see [`next_periodic`]).
pub const RECONCILE_EVERY: Duration = Duration::from_secs(5);
/// The periodic reconcile takes at most 1/this of a CPU. It was 20: at
/// 10,000 real servers in the VM benchmark, the dumps were then a twentieth
/// of the daemon's CPU per check, which keepalived (no repair) does not
/// spend (issue 18). At 1 % a table dumped in 50 ms is still checked every
/// 5 s.
const PERIODIC_SHARE: u32 = 100;
/// A status whose only news is the last reconcile's time waits this long.
const QUIET_STATUS: Duration = Duration::from_secs(30);

/// When the next periodic reconcile is due after one whose dump of the
/// kernel's table took `dump`: [`RECONCILE_EVERY`], or longer when a large
/// table makes the dump slow, so that it costs at most 1/[`PERIODIC_SHARE`]
/// of a CPU.
fn next_periodic(dump: Duration) -> Duration {
    RECONCILE_EVERY.max(dump.saturating_mul(PERIODIC_SHARE))
}

/// Why a reconcile runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Cause {
    Periodic,
    Health,
    Vrrp,
    Reload,
    Start,
}

impl Cause {
    fn name(self) -> &'static str {
        match self {
            Cause::Start => "start",
            Cause::Reload => "reload",
            Cause::Health => "health",
            Cause::Vrrp => "vrrp",
            Cause::Periodic => "periodic",
        }
    }
}

/// One reconcile's work, for the blocking thread.
struct Job {
    cause: Cause,
    flush_first: bool,
    desired: Vec<(Service, Vec<Dest>)>,
    owned: BTreeSet<ServiceKey>,
    /// Some: upkeep manages the sync daemons and wants these.
    daemons: Option<Vec<SyncDaemon>>,
    /// The kernel's table as the last reconcile left it, to plan against
    /// instead of a dump (see [`Worker::job`]).
    known: Option<Vec<(ServiceEntry, Vec<DestEntry>)>>,
}

/// What a reconcile did.
struct Outcome {
    cause: Cause,
    applied: Vec<(Request, Result<(), IpvsError>)>,
    /// The kernel after it (None when the dump failed).
    kernel: Option<Vec<(ServiceEntry, Vec<DestEntry>)>>,
    daemons: Option<Vec<SyncDaemon>>,
    error: Option<IpvsError>,
    took: Duration,
    /// How long the dump of the kernel's table took (None: planned against
    /// the known table).
    dump: Option<Duration>,
}

/// The kernel side, owned by whichever thread runs a job.
#[derive(Default)]
struct Kernel {
    client: Option<Client>,
}

impl Kernel {
    fn client(&mut self) -> Result<&mut Client, IpvsError> {
        if self.client.is_none() {
            self.client = Some(Client::open()?);
        }
        self.client
            .as_mut()
            .ok_or_else(|| IpvsError::Decode("no client".into()))
    }

    fn run(&mut self, job: Job) -> Outcome {
        let start = Instant::now();
        let mut out = Outcome {
            cause: job.cause,
            applied: Vec::new(),
            kernel: None,
            daemons: None,
            error: None,
            took: Duration::ZERO,
            dump: None,
        };
        if let Err(e) = self.reconcile(job, &mut out) {
            // A broken socket is opened afresh next time.
            if matches!(e, IpvsError::Io(_) | IpvsError::Decode(_)) {
                self.client = None;
            }
            out.error = Some(e);
        }
        out.took = start.elapsed();
        out
    }

    fn reconcile(&mut self, job: Job, out: &mut Outcome) -> Result<(), IpvsError> {
        let c = self.client()?;
        if job.flush_first {
            c.execute(&Request::Flush)?;
        }
        let kernel = match job.known {
            Some(k) => k,
            None => {
                let dump = Instant::now();
                let k = c.table()?;
                out.dump = Some(dump.elapsed());
                k
            }
        };
        let mut reqs = reconcile::plan(&job.desired, &kernel, &job.owned);
        let mut kdaemons = None;
        if let Some(want) = &job.daemons {
            let have = c.daemons()?;
            reqs.extend(reconcile::plan_daemons(want, &have));
            kdaemons = Some(have);
        }
        if reqs.is_empty() {
            out.kernel = Some(kernel);
            out.daemons = kdaemons;
            return Ok(());
        }
        let results = c.apply(&reqs);
        let refused = results.iter().any(Result::is_err);
        out.applied = reqs.into_iter().zip(results).collect();
        // What the kernel holds now: the dump with the changes made (no
        // second dump of a large table), unless something was refused.
        if refused {
            out.kernel = Some(c.table()?);
        } else {
            let mut k = kernel;
            for (r, _) in &out.applied {
                reconcile::patch(&mut k, r);
            }
            out.kernel = Some(k);
        }
        if job.daemons.is_some() {
            out.daemons = Some(c.daemons()?);
        }
        Ok(())
    }

    /// At stop: what `lvs_flush_onstop` asks, and the sync daemons go.
    fn stop(&mut self, flush: Option<FlushOnStop>, owned: &BTreeSet<ServiceKey>, sync: bool) {
        let Ok(c) = self.client() else { return };
        let mut reqs = Vec::new();
        match flush {
            Some(FlushOnStop::All) => reqs.push(Request::Flush),
            Some(FlushOnStop::Vs) => {
                let present: BTreeSet<ServiceKey> = c
                    .services()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|s| s.service.key)
                    .collect();
                reqs.extend(present.intersection(owned).map(|k| Request::DelService(*k)));
            }
            None => {}
        }
        if sync {
            let running = c.daemons().unwrap_or_default();
            reqs.extend(running.iter().map(|d| Request::DelDaemon(d.state)));
        }
        for (r, res) in reqs.iter().zip(c.apply(&reqs)) {
            match res {
                Ok(()) => info!(change = %describe(r), "IPVS at stop"),
                Err(e) => warn!(change = %describe(r), error = %e, "IPVS at stop"),
            }
        }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn known(resume: &Resume) -> Known {
    let set = |m: &BTreeMap<String, Vec<String>>| {
        m.iter()
            .map(|(k, v)| (k.clone(), v.iter().cloned().collect::<BTreeSet<_>>()))
            .collect()
    };
    Known {
        up: set(&resume.real_servers_up),
        down: set(&resume.real_servers_down),
        weights: resume.real_server_weights.clone(),
    }
}

struct Worker {
    /// The one setting used after the table is built (at stop). The
    /// configuration itself is not kept: at 10,000 real servers it was
    /// two thirds of this worker's memory.
    flush_onstop: Option<FlushOnStop>,
    table: Table,
    /// Services owned by an earlier configuration, still to be removed.
    owned_before: BTreeSet<ServiceKey>,
    /// Sync daemons were managed by an earlier configuration.
    sync_before: bool,
    report: IpvsKernel,
    view: Option<KernelView>,
    /// The status has news only in the report's times and counters.
    quiet: bool,
    /// The next reconcile to run (the strongest cause asked for).
    pending: Option<Cause>,
    flush_pending: bool,
    dirty: bool,
}

impl Worker {
    fn ask(&mut self, cause: Cause) {
        self.pending = Some(self.pending.map_or(cause, |p| p.max(cause)));
    }

    /// A reconcile for `cause`. A health or VRRP change plans against the
    /// table the last reconcile left (when it succeeded), as keepalived
    /// applies a change without reading the table back: a dump of 10,000
    /// real servers took 180 ms in the VM benchmark, and the 10,000 first
    /// results at start made a reconcile each back to back, 13 s of this
    /// worker's CPU (issue 18). Drift made by hand is still repaired by
    /// the periodic reconcile, which always dumps, and a change the
    /// kernel refuses makes this one dump.
    fn job(&mut self, cause: Cause) -> Job {
        let mut owned = self.table.owned();
        owned.extend(self.owned_before.iter().copied());
        let manage = self.table.manages_sync() || self.sync_before;
        let flush_first = std::mem::take(&mut self.flush_pending);
        let known = match (cause, &self.view) {
            (Cause::Health | Cause::Vrrp, Some(view))
                if !flush_first && self.report.error.is_none() =>
            {
                Some(
                    view.iter()
                        .map(|(_, (s, d))| (s.clone(), d.clone()))
                        .collect(),
                )
            }
            _ => None,
        };
        Job {
            cause,
            flush_first,
            desired: self.table.desired(),
            owned,
            daemons: manage.then(|| self.table.daemons()),
            known,
        }
    }

    fn done(&mut self, o: Outcome) {
        let error_before = self.report.error.clone();
        let took_us = u64::try_from(o.took.as_micros()).unwrap_or(u64::MAX);
        self.report.reconciles += 1;
        let mut changes = Vec::new();
        let mut failures = Vec::new();
        for (r, res) in &o.applied {
            match res {
                Ok(()) => {
                    *self.report.ops.entry(r.name().to_string()).or_default() += 1;
                    changes.push(describe(r));
                }
                Err(e) => {
                    *self.report.errors.entry(e.kind().to_string()).or_default() += 1;
                    warn!(change = %describe(r), error = %e, error_kind = e.kind(), "IPVS change refused");
                    failures.push(format!("{}: {e}", describe(r)));
                }
            }
        }
        let changed = changes.len();
        if changed == 0 && o.error.is_none() {
            let dump_us = o
                .dump
                .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
            debug!(
                cause = o.cause.name(),
                took_us, dump_us, "IPVS reconciled: nothing to change"
            );
        }
        if changed > 0 {
            if o.cause == Cause::Periodic {
                self.report.drift_repairs += 1;
                warn!(changes = changed, list = %changes.join("; "), "the kernel's IPVS table drifted from upkeep's; repaired");
            } else {
                info!(
                    cause = o.cause.name(),
                    changes = changed,
                    took_us,
                    "IPVS reconciled"
                );
                for c in &changes {
                    debug!(change = %c, "IPVS change");
                }
            }
        }
        match &o.error {
            Some(e) => {
                let msg = e.to_string();
                // Said and counted once while it lasts (a kernel without IPVS
                // stays so; the retries every period are quiet).
                if self.report.error.as_deref() != Some(msg.as_str()) {
                    *self.report.errors.entry(e.kind().to_string()).or_default() += 1;
                    error!(error = %msg, error_kind = e.kind(), "IPVS reconcile failed");
                }
                self.report.available = !matches!(e, IpvsError::NoIpvs);
                self.report.error = Some(msg);
                self.report.error_kind = Some(e.kind().to_string());
            }
            None => {
                if self.report.error.is_some() {
                    info!("IPVS reconcile works again");
                }
                self.report.available = true;
                self.report.error = None;
                self.report.error_kind = None;
                // Removed services are gone from the kernel now.
                self.owned_before.clear();
                self.sync_before = false;
            }
        }
        // An error is news when it starts, changes or ends: a lasting one
        // (a kernel without IPVS) made every periodic retry send the whole
        // table to the parent, 1.3 MB every 5 s at 10,000 real servers
        // (issue 18). Its retries are then reported as quiet ones are.
        let mut news = changed > 0 || self.report.error != error_before || !failures.is_empty();
        if let Some(k) = o.kernel {
            let view: KernelView = k
                .into_iter()
                .map(|(s, d)| (s.service.key, (s, d)))
                .collect();
            news |= self.view.as_ref() != Some(&view);
            self.view = Some(view);
        }
        if let Some(d) = o.daemons {
            let daemons: Vec<String> = d
                .iter()
                .map(|d| format!("{} on {} id {}", d.state.name(), d.interface, d.sync_id))
                .collect();
            news |= daemons != self.report.sync_daemons;
            self.report.sync_daemons = daemons;
        }
        self.report.last_reconcile = Some(Reconcile {
            at_ms: now_ms(),
            cause: o.cause.name().into(),
            took_us,
            changed,
            changes: changes.into_iter().take(MAX_LISTED).collect(),
            failures: failures.into_iter().take(MAX_LISTED).collect(),
        });
        // An unchanged kernel (the periodic case) is reported now and then.
        if news {
            self.dirty = true;
        } else {
            self.quiet = true;
        }
    }

    fn status(&self) -> Msg {
        Msg::IpvsStatus {
            virtual_servers: self.table.status(self.view.as_ref()),
            kernel: Box::new(self.report.clone()),
        }
    }
}

async fn send_quorum(
    link: &Link,
    events: Vec<super::table::QuorumEvent>,
) -> Result<(), WorkerError> {
    for e in events {
        info!(virtual_server = %e.virtual_server, up = e.up, "quorum");
        link.send(&Msg::Quorum {
            virtual_server: e.virtual_server,
            up: e.up,
        })
        .await?;
    }
    Ok(())
}

pub async fn run(
    config: Config,
    generation: u64,
    resume: Resume,
    link: &mut Link,
) -> Result<(), WorkerError> {
    let table = Table::new(&config, &known(&resume), resume.states.clone());
    let mut w = Worker {
        // lvs_flush: when the daemon starts, not when this worker restarts
        // or a reload brings the first virtual server.
        flush_pending: config.global.lvs_flush && resume.down_ms.is_none() && generation == 1,
        flush_onstop: config.global.lvs_flush_onstop,
        table,
        owned_before: BTreeSet::new(),
        sync_before: false,
        report: IpvsKernel::default(),
        view: None,
        quiet: false,
        pending: Some(Cause::Start),
        dirty: true,
    };
    drop(config);
    // The table, copied into the room the decoded configuration left, and
    // the pages above given back: built beside the configuration, its
    // pieces pinned those pages (issue 18: at 10,000 real servers 2.7 MiB
    // anonymous without this, 2.5 with).
    w.table = w.table.clone();
    crate::sys::mem::trim_heap();
    let mut term =
        signal(SignalKind::terminate()).map_err(|e| WorkerError::Other(e.to_string()))?;
    link.ready(generation).await?;
    send_quorum(link, w.table.quorum_states()).await?;
    w.table.take_events();
    let mut kernel = Some(Kernel::default());
    let mut running: Option<JoinHandle<(Kernel, Outcome)>> = None;
    let periodic = tokio::time::sleep(RECONCILE_EVERY);
    tokio::pin!(periodic);
    let mut quiet_at = tokio::time::Instant::now();
    // Health changes come in bursts (thousands at start): the table goes to
    // the parent at most once a second.
    let mut report = tokio::time::interval(Duration::from_secs(1));
    report.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if running.is_none()
            && let Some(cause) = w.pending.take()
            && let Some(mut k) = kernel.take()
        {
            let job = w.job(cause);
            running = Some(tokio::task::spawn_blocking(move || {
                let o = k.run(job);
                (k, o)
            }));
        }
        tokio::select! {
            _ = term.recv() => break,
            done = join(&mut running), if running.is_some() => {
                running = None;
                match done {
                    Ok((k, o)) => {
                        kernel = Some(k);
                        // Only a dump moves the next one: reconciles planned
                        // against the known table, one per burst of health
                        // changes, must not put the drift repair off.
                        if let Some(dump) = o.dump {
                            periodic
                                .as_mut()
                                .reset(tokio::time::Instant::now() + next_periodic(dump));
                        }
                        w.done(o);
                        crate::sys::mem::trim_heap_now_and_then();
                    }
                    Err(e) => return Err(WorkerError::Other(format!("IPVS thread: {e}"))),
                }
            }
            () = &mut periodic, if running.is_none() => {
                w.ask(Cause::Periodic);
                periodic.as_mut().reset(tokio::time::Instant::now() + RECONCILE_EVERY);
            }
            _ = report.tick() => {
                let quiet_due = w.quiet && quiet_at.elapsed() >= QUIET_STATUS;
                if std::mem::take(&mut w.dirty) || quiet_due {
                    w.quiet = false;
                    quiet_at = tokio::time::Instant::now();
                    link.send(&w.status()).await?;
                    // The table and its frame (a megabyte at 10,000 real
                    // servers) are freed now: their pages go back.
                    crate::sys::mem::trim_heap_now_and_then();
                } else {
                    crate::sys::mem::trim_heap_owed();
                }
            }
            m = link.recv() => match m? {
                Msg::RealServer(change) => health(&mut w, &change),
                Msg::VrrpStates { states } => {
                    if w.table.set_vrrp(states) {
                        w.ask(Cause::Vrrp);
                    }
                    w.dirty = true;
                }
                Msg::Reload { generation, config } => {
                    w.owned_before.extend(w.table.owned());
                    w.sync_before |= w.table.manages_sync();
                    w.table.reload(&config);
                    w.flush_onstop = config.global.lvs_flush_onstop;
                    drop(config);
                    link.ready(generation).await?;
                    send_quorum(link, w.table.quorum_states()).await?;
                    w.table.take_events();
                    w.ask(Cause::Reload);
                    w.dirty = true;
                }
                Msg::Shutdown => break,
                other => return Err(unexpected(Role::Ipvs, &other)),
            },
        }
        send_quorum(link, w.table.take_events()).await?;
    }
    // Finish what runs, then what stopping asks for.
    if let Some(h) = running.take()
        && let Ok((k, o)) = h.await
    {
        kernel = Some(k);
        w.done(o);
    }
    if let Some(mut k) = kernel {
        let flush = w.flush_onstop;
        let mut owned = w.table.owned();
        owned.extend(w.owned_before.iter().copied());
        let sync = w.table.manages_sync() || w.sync_before;
        let _ = tokio::task::spawn_blocking(move || k.stop(flush, &owned, sync)).await;
    }
    Ok(())
}

/// The running job's end (never, when none runs).
async fn join<T>(h: &mut Option<JoinHandle<T>>) -> Result<T, tokio::task::JoinError> {
    match h {
        Some(h) => h.await,
        None => std::future::pending().await,
    }
}

fn health(w: &mut Worker, change: &RealServerState) {
    match w.table.apply(change) {
        Some(true) => {
            debug!(virtual_server = %change.virtual_server, real_server = %change.real_server, up = change.up, "real server health");
            w.ask(Cause::Health);
            w.dirty = true;
        }
        // The state it had: nothing to reconcile or report.
        Some(false) => {}
        None => {
            warn!(virtual_server = %change.virtual_server, real_server = %change.real_server, "health change for an unknown real server ignored");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker() -> Worker {
        Worker {
            flush_pending: false,
            flush_onstop: None,
            table: Table::new(&Config::default(), &Default::default(), Default::default()),
            owned_before: BTreeSet::new(),
            sync_before: false,
            report: IpvsKernel::default(),
            view: None,
            quiet: false,
            pending: None,
            dirty: false,
        }
    }

    fn outcome(error: Option<IpvsError>) -> Outcome {
        Outcome {
            cause: Cause::Periodic,
            applied: Vec::new(),
            kernel: None,
            daemons: None,
            error,
            took: Duration::ZERO,
            dump: None,
        }
    }

    /// Issue 18: a reconcile error is news when it starts, changes or
    /// ends, not at each periodic retry while it lasts.
    #[test]
    fn a_lasting_reconcile_error_is_news_once() {
        let mut w = worker();
        let news = |w: &mut Worker, error| {
            w.dirty = false;
            w.quiet = false;
            w.done(outcome(error));
            (w.dirty, w.quiet)
        };
        assert_eq!(
            news(&mut w, Some(IpvsError::NoIpvs)),
            (true, false),
            "it starts"
        );
        for _ in 0..3 {
            assert_eq!(
                news(&mut w, Some(IpvsError::NoIpvs)),
                (false, true),
                "it lasts"
            );
        }
        assert_eq!(w.report.reconciles, 4);
        assert_eq!(w.report.errors["no_ipvs"], 1, "counted once");
        assert_eq!(news(&mut w, None), (true, false), "it ends");
    }

    /// Issue 18: health and VRRP changes plan against the table the last
    /// reconcile left; the periodic reconcile, a flush, or a last
    /// reconcile that failed (or none yet) read the kernel's table.
    #[test]
    fn only_health_and_vrrp_changes_plan_against_the_known_table() {
        let mut w = worker();
        assert!(w.job(Cause::Health).known.is_none(), "nothing known yet");
        let kernel = vec![(
            ServiceEntry {
                service: Service::new(
                    ServiceKey::Addr {
                        protocol: super::super::genl::Protocol::Tcp,
                        addr: "10.0.0.1".parse().unwrap(),
                        port: 80,
                    },
                    "wrr",
                ),
            },
            Vec::new(),
        )];
        w.done(Outcome {
            kernel: Some(kernel.clone()),
            ..outcome(None)
        });
        for cause in [Cause::Health, Cause::Vrrp] {
            assert_eq!(w.job(cause).known.as_deref(), Some(kernel.as_slice()));
        }
        for cause in [Cause::Periodic, Cause::Reload, Cause::Start] {
            assert!(w.job(cause).known.is_none(), "{cause:?}");
        }
        w.flush_pending = true;
        assert!(w.job(Cause::Health).known.is_none(), "a flush comes first");
        w.done(outcome(Some(IpvsError::NoIpvs)));
        assert!(w.job(Cause::Health).known.is_none(), "after a failure");
    }

    /// Issue 18: a health message that repeats what the table has (a
    /// check's first result, mostly) asks for no reconcile and sends no
    /// status; a change does both.
    #[test]
    fn a_health_message_that_changes_nothing_asks_for_nothing() {
        let cfg = crate::testutil::keepalived_config(
            "virtual_server 10.0.0.1 80 {\n delay_loop 1\n lb_kind NAT\n protocol TCP\n real_server 10.0.1.2 80 {\n  TCP_CHECK {\n  }\n }\n}\n",
        );
        let mut w = worker();
        w.table = Table::new(&cfg, &Default::default(), Default::default());
        let vs = cfg.virtual_servers[0].key();
        let change = |up| RealServerState {
            virtual_server: vs.clone(),
            real_server: "10.0.1.2:80".into(),
            up,
            weight: 0,
        };
        health(&mut w, &change(true));
        assert!((w.pending.is_none(), w.dirty) == (true, false), "up again");
        health(&mut w, &change(false));
        assert!(matches!(w.pending, Some(Cause::Health)) && w.dirty, "down");
        (w.pending, w.dirty) = (None, false);
        health(&mut w, &change(false));
        assert!(
            (w.pending.is_none(), w.dirty) == (true, false),
            "down again"
        );
    }

    #[test]
    fn a_slow_reconcile_spaces_out_the_periodic_ones() {
        let ms = Duration::from_millis;
        assert_eq!(next_periodic(ms(20)), RECONCILE_EVERY);
        assert_eq!(next_periodic(ms(50)), RECONCILE_EVERY);
        assert_eq!(next_periodic(ms(600)), Duration::from_secs(60));
        assert!(next_periodic(ms(600)) >= ms(600) * PERIODIC_SHARE);
    }
}
