//! The checker process (unprivileged user, no capabilities): one task per
//! check on a single-threaded runtime (thousands of checks, one thread),
//! fall/rise per check, results to the parent.
//!
//! A state change is sent at once; counters and latency go in a batch at
//! most once a second.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::{info, warn};

use super::health::{Health, Verdict};
use super::plugin::{self, Capacity, PluginHost};
use super::probe::{self, Outcome, Probe};
use super::spec::{self, Spec};
use crate::config::model::Config;
use crate::ipc::Msg;
use crate::ipc::link::{Link, WorkerError, unexpected};
use crate::ipc::msg::{CheckStatus, RealServerState, Role};

pub(crate) struct Ran {
    index: usize,
    outcome: Outcome,
    /// What a plugin measured.
    metrics: Vec<(String, f64)>,
    latency: Duration,
    /// FILE_CHECK: what the track files add to the server's weight.
    weight: i64,
    /// How late the run started against its schedule (see [`reschedule`]).
    lateness: Duration,
    /// The probe that failed (a run stops at its first failure).
    failed_probe: Option<usize>,
}

/// A configured check and what it last found.
struct CheckRecord {
    spec: Spec,
    health: Health,
    last: Option<String>,
    latency_us: Option<u64>,
    value: Option<i64>,
    metrics: Vec<(String, f64)>,
    /// FILE_CHECK: the weight change last reported.
    weight: i64,
}

impl CheckRecord {
    /// A check not run yet.
    fn new(spec: Spec) -> Self {
        CheckRecord {
            health: if spec.presume_up {
                Health::new(spec.fall, spec.rise, spec.init_fail).presumed_up()
            } else {
                Health::new(spec.fall, spec.rise, spec.init_fail)
            },
            last: spec.unsupported.clone(),
            latency_us: None,
            value: None,
            metrics: Vec::new(),
            weight: 0,
            spec,
        }
    }

    fn status(&self) -> CheckStatus {
        CheckStatus {
            source: self.spec.source.clone(),
            state: self.health.state(),
            last_result: self.last.clone(),
            latency_us: self.latency_us,
            failures: self.health.failures,
            runs: self.health.runs,
            value: self.value,
            policy: None,
            metrics: self.metrics.clone(),
        }
    }
}

/// A stable spread of first runs over the interval, so that checks
/// configured together do not all run in the same instant.
fn jitter(source: &str, interval: Duration) -> Duration {
    let h = source.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let span = u64::try_from(interval.as_micros())
        .unwrap_or(u64::MAX)
        .max(1);
    Duration::from_micros(h % span)
}

async fn schedule(
    index: usize,
    spec: Spec,
    tx: mpsc::Sender<Ran>,
    plugins: Option<Arc<PluginHost>>,
) {
    tokio::time::sleep(jitter(&spec.source, spec.warmup.unwrap_or(spec.interval))).await;
    let mut retry = Retry::new(&spec);
    let mut reported: Option<bool> = None;
    let mut next = tokio::time::Instant::now();
    // When this run was due: `next`, or the earlier time the schedule had
    // for it before an overrun pushed it back.
    let mut due = next;
    loop {
        let started = Instant::now();
        let lateness = tokio::time::Instant::now().saturating_duration_since(due);
        let (mut outcome, mut metrics, mut weight, mut failed_probe) =
            run_probes(&spec, plugins.as_deref()).await;
        // A tracked process's change must hold for its delay (keepalived's
        // fork_delay / terminate_delay) before it is reported: then what
        // holds is.
        if let (Some(settle), Some(was)) = (spec.settle, reported)
            && was != outcome.ok
        {
            let wait = if outcome.ok { settle.up } else { settle.down };
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
                (outcome, metrics, weight, failed_probe) =
                    run_probes(&spec, plugins.as_deref()).await;
            }
        }
        reported = Some(outcome.ok);
        let soon = retry.after(outcome.ok);
        let ran = Ran {
            index,
            outcome,
            metrics,
            latency: started.elapsed(),
            weight,
            lateness,
            failed_probe,
        };
        if tx.send(ran).await.is_err() {
            return;
        }
        let interval = match (soon, spec.retry_delay) {
            (true, Some(d)) => d,
            _ => spec.interval,
        };
        (due, next) = reschedule(next, interval, tokio::time::Instant::now());
        // A tracked process that exits wakes the check at once.
        match process_pids(&spec) {
            Some(pids) => {
                tokio::select! {
                    () = tokio::time::sleep_until(next) => {}
                    () = super::procs::any_exit(&pids) => {}
                }
            }
            None => tokio::time::sleep_until(next).await,
        }
    }
}

/// One run of all of a check's probes (all must pass; the first failure
/// ends it), what a plugin measured, what FILE_CHECKs add to the server's
/// weight (keepalived adds each one's) and which probe failed.
async fn run_probes(
    spec: &Spec,
    plugins: Option<&PluginHost>,
) -> (Outcome, Vec<(String, f64)>, i64, Option<usize>) {
    let mut outcome = Outcome {
        ok: true,
        message: String::new(),
        value: None,
    };
    let mut metrics = Vec::new();
    let mut weight = 0i64;
    for (i, p) in spec.probes.iter().enumerate() {
        outcome = match (p, plugins) {
            (Probe::TrackFile(f), _) => {
                let (o, st) = f.run();
                weight = weight.saturating_add(st.weight_delta);
                o
            }
            (Probe::Plugin(pp), Some(host)) => {
                let run = host.run(pp, spec.timeout).await;
                if run.dropped_logs > 0 {
                    warn!(check = %spec.source, dropped = run.dropped_logs, limit = plugin::LOG_LINES_PER_RUN, "plugin log lines dropped");
                }
                metrics = run.metrics;
                run.outcome
            }
            _ => probe::run(p, spec.timeout).await,
        };
        if !outcome.ok {
            return (outcome, metrics, weight, Some(i));
        }
    }
    (outcome, metrics, weight, None)
}

/// keepalived's `log_all_failures` (or `checker_log_all_failures`): a failed
/// run is logged on its own while the check is up, or presumed up before
/// its first result, so the retries before "down" show too (keepalived logs
/// a failed attempt only while its checker is up). Without it only state
/// changes are logged; once down, failures are not logged either way.
fn logs_failed_run(spec: &Spec, before: Verdict, failed_probe: Option<usize>) -> bool {
    let up = before == Verdict::Up || (before == Verdict::Unknown && spec.presume_up);
    up && failed_probe.is_some_and(|i| spec.log_failures.get(i).copied().unwrap_or(false))
}

/// keepalived's retries, as the schedule sees them: a failure while the
/// server is up (or presumed up) is retried after `delay_before_retry`
/// until `retry` retries have failed; then the server is down and checked
/// every `delay_loop`. One success makes it up again. (Mirrors [`Health`]
/// with fall = retry + 1, rise = 1.)
struct Retry {
    up: bool,
    failed: u32,
    retries: u32,
}

impl Retry {
    fn new(spec: &Spec) -> Self {
        Retry {
            up: spec.presume_up,
            failed: 0,
            retries: spec.retry_delay.map_or(0, |_| spec.fall.saturating_sub(1)),
        }
    }

    /// After a run: whether the next comes after the retry delay.
    fn after(&mut self, ok: bool) -> bool {
        if ok {
            self.up = true;
            self.failed = 0;
            return false;
        }
        if !self.up {
            return false;
        }
        self.failed += 1;
        if self.failed > self.retries {
            self.up = false;
            self.failed = 0;
            return false;
        }
        true
    }
}

/// After a run scheduled for `scheduled` whose result was handed over at
/// `now`: when the next run is due (one interval later: its lateness is
/// measured against this) and when it starts (then, or after an overrun one
/// interval from now rather than a burst to catch up). Regression: lateness
/// used to be measured against the restarted schedule, so an overrun, and
/// time spent waiting to hand a result to a busy parent, never showed: a
/// report said p99 = 28 µs while checks ran 25 s apart (VM benchmark).
fn reschedule(
    scheduled: tokio::time::Instant,
    interval: Duration,
    now: tokio::time::Instant,
) -> (tokio::time::Instant, tokio::time::Instant) {
    let due = scheduled + interval;
    (due, if due < now { now + interval } else { due })
}

/// For a process check: the pids it currently counts.
fn process_pids(spec: &Spec) -> Option<Vec<i32>> {
    spec.probes.iter().find_map(|p| match p {
        Probe::Process {
            name,
            args,
            partial,
            initial,
            ..
        } => Some(super::procs::matching(
            name,
            args.as_deref(),
            *partial,
            *initial,
        )),
        _ => None,
    })
}

/// Lateness of check starts against their schedule, logged every 10 s
/// (p50, p99, max): the scheduler's own health under load.
#[derive(Default)]
struct Lateness {
    samples: Vec<u32>,
    since: Option<Instant>,
}

impl Lateness {
    fn add(&mut self, d: Duration) {
        self.since.get_or_insert_with(Instant::now);
        self.samples
            .push(u32::try_from(d.as_micros()).unwrap_or(u32::MAX));
        if self
            .since
            .is_some_and(|t| t.elapsed() >= Duration::from_secs(10))
        {
            self.samples.sort_unstable();
            let at = |q: f64| {
                let i = ((self.samples.len() as f64 - 1.0) * q).round() as usize;
                self.samples.get(i).copied().unwrap_or(0)
            };
            info!(
                runs = self.samples.len(),
                p50_us = at(0.5),
                p99_us = at(0.99),
                max_us = at(1.0),
                "check start lateness"
            );
            self.samples.clear();
            self.since = Some(Instant::now());
        }
    }
}

pub(crate) struct Checker {
    lateness: Lateness,
    /// The WASM plugin host: only while a plugin check is configured.
    plugins: Option<Arc<PluginHost>>,
    checks: Vec<CheckRecord>,
    tasks: JoinSet<()>,
    tx: mpsc::Sender<Ran>,
    dirty: BTreeSet<usize>,
}

impl Checker {
    pub(crate) fn new(tx: mpsc::Sender<Ran>) -> Self {
        Self {
            lateness: Lateness::default(),
            plugins: None,
            checks: Vec::new(),
            tasks: JoinSet::new(),
            tx,
            dirty: BTreeSet::new(),
        }
    }

    /// (Re)starts every check of `specs`; a check whose definition did not
    /// change keeps its state and counters.
    pub(crate) fn load(&mut self, specs: Vec<Spec>) {
        self.tasks.abort_all();
        let mut old: BTreeMap<String, CheckRecord> = self
            .checks
            .drain(..)
            .map(|s| (s.spec.source.clone(), s))
            .collect();
        self.plugins = plugin_host(self.plugins.take(), &specs);
        for (index, spec) in specs.into_iter().enumerate() {
            let check = match old.remove(&spec.source) {
                Some(s) if s.spec == spec => s,
                _ => CheckRecord::new(spec),
            };
            if let Some(why) = &check.spec.unsupported {
                warn!(check = %check.spec.source, reason = %why, "check not run");
            } else {
                self.tasks.spawn(schedule(
                    index,
                    check.spec.clone(),
                    self.tx.clone(),
                    self.plugins.clone(),
                ));
            }
            self.dirty.insert(index);
            self.checks.push(check);
        }
        info!(checks = self.checks.len(), "checks scheduled");
    }

    /// Records a result; the messages a state change causes (sent at once).
    pub(crate) fn record(&mut self, r: Ran) -> Vec<Msg> {
        self.lateness.add(r.lateness);
        let Some(check) = self.checks.get_mut(r.index) else {
            return Vec::new();
        };
        let before = check.health.state();
        let change = check.health.record(r.outcome.ok);
        if logs_failed_run(&check.spec, before, r.failed_probe) {
            info!(
                check = %check.spec.source,
                result = r.outcome.message.as_str(),
                retries = check.spec.fall.saturating_sub(1),
                "check failed"
            );
        }
        // A tracked file's number matters, not only zero or not.
        let value_changed = r.outcome.value.is_some() && r.outcome.value != check.value;
        check.value = r.outcome.value;
        // A FILE_CHECK's number changes the server's weight while it is up.
        let weight_changed = check.spec.real_server.is_some() && r.weight != check.weight;
        check.weight = r.weight;
        check.metrics = r.metrics;
        check.last = Some(r.outcome.message);
        check.latency_us = u64::try_from(r.latency.as_micros()).ok();
        self.dirty.insert(r.index);
        let Some(v) = change.or((value_changed || weight_changed).then(|| check.health.state()))
        else {
            return Vec::new();
        };
        info!(check = %check.spec.source, state = v.word(), result = check.last.as_deref().unwrap_or(""), "check state changed");
        self.dirty.remove(&r.index);
        let mut out = vec![Msg::Checks {
            checks: vec![check.status()],
        }];
        if let Some((vs, rs)) = &check.spec.real_server {
            out.push(Msg::RealServer(RealServerState {
                virtual_server: vs.clone(),
                real_server: rs.clone(),
                up: v == Verdict::Up,
                weight: check.weight,
            }));
        }
        out
    }

    /// Stops every check (their runs and process groups with them).
    pub(crate) fn stop(&mut self) {
        self.tasks.abort_all();
    }

    pub(crate) fn batch(&mut self) -> Option<Msg> {
        if self.dirty.is_empty() {
            return None;
        }
        let checks = std::mem::take(&mut self.dirty)
            .into_iter()
            .filter_map(|i| self.checks.get(i).map(CheckRecord::status))
            .collect();
        Some(Msg::Checks { checks })
    }
}

/// The plugin host for `specs`: none when no check is a plugin (no engine
/// at all), the current one when its pool is large enough, else a new one.
fn plugin_host(current: Option<Arc<PluginHost>>, specs: &[Spec]) -> Option<Arc<PluginHost>> {
    let plugins: Vec<&plugin::PluginProbe> = specs
        .iter()
        .flat_map(|s| &s.probes)
        .filter_map(|p| match p {
            Probe::Plugin(pp) => Some(pp),
            _ => None,
        })
        .collect();
    if plugins.is_empty() {
        return None;
    }
    let need = Capacity {
        // Runs of the previous generation may still be finishing.
        instances: u32::try_from(plugins.len() * 2 + 2).unwrap_or(u32::MAX),
        memory_mib: plugins.iter().map(|p| p.memory_mib).max().unwrap_or(1),
    };
    if let Some(h) = current.filter(|h| h.capacity().covers(&need)) {
        h.forget();
        return Some(h);
    }
    match PluginHost::new(need, plugin::cache_dir()) {
        Ok(h) => {
            info!(
                plugins = plugins.len(),
                instances = need.instances,
                memory_mib = need.memory_mib,
                "plugin host ready"
            );
            Some(Arc::new(h))
        }
        Err(e) => {
            // Each plugin check then fails with this reason at every run.
            warn!(error = %e, "no plugin host");
            None
        }
    }
}

pub async fn run(config: Config, generation: u64, link: &mut Link) -> Result<(), WorkerError> {
    let mut term =
        signal(SignalKind::terminate()).map_err(|e| WorkerError::Other(e.to_string()))?;
    let (tx, mut rx) = mpsc::channel::<Ran>(4096);
    let mut checker = Checker::new(tx);
    checker.load(spec::for_checker(&config));
    link.ready(generation).await?;
    let mut flush = tokio::time::interval(Duration::from_secs(1));
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = term.recv() => break,
            Some(r) = rx.recv() => {
                for m in checker.record(r) {
                    link.send(&m).await?;
                }
            }
            _ = flush.tick() => {
                if let Some(m) = checker.batch() {
                    link.send(&m).await?;
                }
            }
            m = link.recv() => match m? {
                Msg::Reload { generation, config } => {
                    checker.load(spec::for_checker(&config));
                    link.ready(generation).await?;
                }
                Msg::Shutdown => break,
                other => return Err(unexpected(Role::Checker, &other)),
            },
        }
    }
    checker.stop();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed's timing (delay_loop 6, nb_get_retry 3, delay_before_retry
    /// 3): a server that dies is down 9 s after the first failed check,
    /// so within 15 s of dying (keepalived's), not 18-24 s (retries spaced
    /// by delay_loop).
    #[test]
    fn retries_follow_delay_before_retry_while_up_only() {
        let cfg = crate::config::load_str(
            "seed.conf",
            &std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../tests/fixtures/seeds/lvs-dr-master.conf"
            ))
            .unwrap_or_default(),
            crate::config::Format::Keepalived,
            &crate::config::LoadOptions::default(),
        )
        .config;
        let specs = spec::from_config(&cfg);
        let s = specs
            .iter()
            .find(|s| s.real_server.is_some())
            .expect("a real-server check");
        assert_eq!(
            (s.interval, s.retry_delay, s.fall, s.rise),
            (Duration::from_secs(6), Some(Duration::from_secs(3)), 4, 1)
        );
        let mut r = Retry::new(s);
        let mut h = Health::new(s.fall, s.rise, s.init_fail).presumed_up();
        // Up; then every check fails: when is it down?
        assert!(!r.after(true));
        h.record(true);
        let mut t = Duration::ZERO;
        let mut down_at = None;
        for _ in 0..8 {
            let soon = r.after(false);
            if h.record(false) == Some(Verdict::Down) {
                down_at.get_or_insert(t);
            }
            t += if soon {
                s.retry_delay.unwrap_or_default()
            } else {
                s.interval
            };
        }
        assert_eq!(down_at, Some(Duration::from_secs(9)));
        // Down: checked every delay_loop, no retries; one success is up.
        assert!(!r.after(false));
        assert!(!r.after(true));
        assert_eq!(h.record(true), Some(Verdict::Up));
    }

    #[test]
    fn lateness_counts_overruns_without_bursts() {
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        let t0 = tokio::time::Instant::now();
        // On time: the schedule holds (no drift from the run's length).
        assert_eq!(reschedule(t0, s(1), t0 + ms(300)), (t0 + s(1), t0 + s(1)));
        // A run (or the wait to hand its result over) ended 1.5 s past the
        // next run's time: the next starts one interval from then, 2.5 s
        // late against the schedule, and that is its lateness.
        let (due, next) = reschedule(t0, s(1), t0 + s(2) + ms(500));
        assert_eq!((due, next), (t0 + s(1), t0 + s(3) + ms(500)));
        assert_eq!(next.duration_since(due), s(2) + ms(500));
        // A check that always takes 1.5 s of a 1 s interval: late by
        // 1.5 s at every run, not growing.
        let mut scheduled = t0;
        for _ in 0..5 {
            let (due, next) = reschedule(scheduled, s(1), scheduled + ms(1500));
            assert_eq!(next.duration_since(due), ms(1500));
            scheduled = next;
        }
    }

    /// A real server's check as a keepalived.conf would give it.
    fn rs_spec(conf: &str) -> Spec {
        let loaded = crate::config::load_str(
            "t.conf",
            conf,
            crate::config::Format::Keepalived,
            &crate::config::LoadOptions::default(),
        );
        spec::from_config(&loaded.config)
            .into_iter()
            .find(|s| s.real_server.is_some())
            .expect("a real-server check")
    }

    /// An HTTP server on loopback answering 503 to every request; the
    /// receiver gets the time of each request.
    async fn failing_http() -> (std::net::SocketAddr, mpsc::UnboundedReceiver<Instant>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let _ = tx.send(Instant::now());
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(b"HTTP/1.1 503 Busy\r\n\r\n").await;
            }
        });
        (addr, rx)
    }

    /// Runs `spec`'s schedule against the real probe until `runs` results,
    /// each with when it came and the verdict it made (bounded: 20 s).
    async fn runs_of(spec: Spec, runs: usize) -> Vec<(Instant, Option<Verdict>)> {
        let mut h = Health::new(spec.fall, spec.rise, spec.init_fail).presumed_up();
        let (tx, mut rx) = mpsc::channel(8);
        let task = tokio::spawn(schedule(0, spec, tx, None));
        let mut out = Vec::new();
        while out.len() < runs {
            let ran = tokio::time::timeout(Duration::from_secs(20), rx.recv())
                .await
                .expect("a check result within 20 s")
                .expect("the schedule runs");
            out.push((Instant::now(), h.record(ran.outcome.ok)));
        }
        task.abort();
        out
    }

    fn conf(port: u16, checker: &str) -> String {
        format!(
            "virtual_server 127.0.0.1 {port} {{\n  delay_loop 2\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n  real_server 127.0.0.1 {port} {{\n    HTTP_GET {{\n      url {{\n        path /\n      }}\n      {checker}\n    }}\n  }}\n}}\n"
        )
    }

    /// Log lines written while `f` runs (tracing's text format).
    fn log_of(f: impl FnOnce()) -> String {
        #[derive(Clone, Default)]
        struct Buf(Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let w = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || w.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let bytes = buf.0.lock().unwrap().clone();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Records `results` (pass or fail) for the real-server check of
    /// `conf` as its schedule would hand them over; the log lines.
    fn log_of_results(conf: &str, results: &[bool]) -> String {
        let spec = rs_spec(conf);
        log_of(|| {
            let (tx, _rx) = mpsc::channel(1);
            let mut c = Checker::new(tx);
            c.checks.push(CheckRecord::new(spec));
            for &ok in results {
                c.record(Ran {
                    index: 0,
                    outcome: Outcome {
                        ok,
                        message: if ok { "HTTP 200" } else { "HTTP status 503" }.into(),
                        value: None,
                    },
                    metrics: Vec::new(),
                    latency: Duration::ZERO,
                    weight: 0,
                    lateness: Duration::ZERO,
                    failed_probe: (!ok).then_some(0),
                });
            }
        })
    }

    /// keepalived's `log_all_failures` (a checker's) and
    /// `checker_log_all_failures` (global_defs): every failed attempt is
    /// logged while the server is up, the retries before "down" too, with
    /// the check and the result as fields; once down, failures are not
    /// logged. Without them, only the state changes are.
    #[test]
    fn log_all_failures_logs_every_failed_attempt_while_up() {
        // retry 2: down at the third failure; one more failure while down;
        // up again; a failure while up.
        let results = [false, false, false, false, true, false];
        let count = |log: &str, what: &str| log.lines().filter(|l| l.contains(what)).count();
        let plain = log_of_results(
            &conf(
                80,
                "retry 2
      delay_before_retry 1",
            ),
            &results,
        );
        assert_eq!(count(&plain, "check failed"), 0, "{plain}");
        assert_eq!(count(&plain, "check state changed"), 2, "{plain}");
        for (what, conf) in [
            (
                "log_all_failures",
                conf(
                    80,
                    "retry 2
      delay_before_retry 1
      log_all_failures",
                ),
            ),
            (
                "checker_log_all_failures",
                format!(
                    "global_defs {{
  checker_log_all_failures true
}}
{}",
                    conf(
                        80,
                        "retry 2
      delay_before_retry 1"
                    )
                ),
            ),
        ] {
            let log = log_of_results(&conf, &results);
            // Three attempts while up (the last one turns it down), none
            // while down, one after it came back.
            assert_eq!(count(&log, "check failed"), 4, "{what}: {log}");
            assert_eq!(count(&log, "check state changed"), 2, "{what}: {log}");
            let line = log.lines().find(|l| l.contains("check failed")).unwrap();
            for field in [
                "check=real_server:",
                "result=\"HTTP status 503\"",
                "retries=2",
            ] {
                assert!(line.contains(field), "{what}: {field} in {line}");
            }
        }
        // An explicit 'log_all_failures false' is off.
        let off = log_of_results(
            &conf(
                80,
                "retry 2
      delay_before_retry 1
      log_all_failures false",
            ),
            &results,
        );
        assert_eq!(count(&off, "check failed"), 0, "{off}");
    }

    /// keepalived's `retry N`: N retries after the first failure, the
    /// server down at the (N+1)th.
    #[test]
    fn retry_gives_n_retries_before_down() {
        crate::testutil::private_netns();
        crate::ipc::tests::rt().block_on(async {
            let (addr, _requests) = failing_http().await;
            let spec = rs_spec(&conf(
                addr.port(),
                "retry 3\n      delay_before_retry 0.05\n      warmup 0",
            ));
            assert_eq!(spec.fall, 4);
            let runs = runs_of(spec, 4).await;
            let verdicts: Vec<_> = runs.iter().map(|r| r.1).collect();
            assert_eq!(verdicts, vec![None, None, None, Some(Verdict::Down)]);
        });
    }

    /// keepalived's `delay_before_retry`: retries come that far apart
    /// (here 0.1 s), and once down the server is checked every delay_loop
    /// (2 s) again.
    #[test]
    fn delay_before_retry_spaces_retries() {
        crate::testutil::private_netns();
        crate::ipc::tests::rt().block_on(async {
            let (addr, _requests) = failing_http().await;
            let spec = rs_spec(&conf(
                addr.port(),
                "retry 2\n      delay_before_retry 0.1\n      warmup 0",
            ));
            assert_eq!(spec.retry_delay, Some(Duration::from_millis(100)));
            let runs = runs_of(spec, 4).await;
            let gaps: Vec<Duration> = runs.windows(2).map(|w| w[1].0 - w[0].0).collect();
            eprintln!("gaps between runs: {gaps:?}");
            assert_eq!(runs[2].1, Some(Verdict::Down));
            // Measured, with room for a loaded machine: retries well under
            // the delay_loop, the check after the verdict a delay_loop later.
            assert!(
                gaps[0] >= Duration::from_millis(90) && gaps[0] < Duration::from_secs(1),
                "{gaps:?}"
            );
            assert!(
                gaps[1] >= Duration::from_millis(90) && gaps[1] < Duration::from_secs(1),
                "{gaps:?}"
            );
            assert!(gaps[2] >= Duration::from_millis(1900), "{gaps:?}");
        });
    }

    /// keepalived's `warmup`: the first check comes after a pseudo-random
    /// delay up to the value (0: at once); by default up to delay_loop.
    #[test]
    fn warmup_delays_the_first_check_up_to_its_value() {
        let spec = rs_spec(&conf(8080, "warmup 3"));
        assert_eq!(spec.warmup, Some(Duration::from_secs(3)));
        let spec = rs_spec(&conf(8080, ""));
        assert_eq!(
            spec.warmup,
            Some(Duration::from_secs(2)),
            "default: delay_loop"
        );
        // The delays are spread over [0, warmup).
        let w = Duration::from_secs(3);
        let delays: BTreeSet<u64> = (0..50)
            .map(|i| jitter(&format!("real_server:x/{i}"), w).as_millis() as u64)
            .collect();
        assert!(delays.iter().all(|d| *d < 3000));
        assert!(delays.len() > 40 && delays.first() < Some(&1000) && delays.last() > Some(&2000));
        assert_eq!(jitter("any", Duration::ZERO), Duration::ZERO);
        // A real schedule with warmup 0 runs at once.
        crate::testutil::private_netns();
        crate::ipc::tests::rt().block_on(async {
            let (addr, _requests) = failing_http().await;
            let spec = rs_spec(&conf(addr.port(), "warmup 0"));
            let start = Instant::now();
            let runs = runs_of(spec, 1).await;
            assert!(runs[0].0 - start < Duration::from_secs(1));
        });
    }

    /// Settings written at virtual_server / real_server level reach the
    /// check of a checker that sets none (keepalived's inheritance).
    #[test]
    fn inherited_settings_reach_the_check() {
        let s = rs_spec(
            "virtual_server 127.0.0.1 80 {
  delay_loop 10
  retry 3
  delay_before_retry 4
  connect_timeout 2
  real_server 127.0.0.1 80 {
    warmup 1
    delay_loop 5
    HTTP_GET {
      url {
        path /
      }
    }
  }
}
",
        );
        let sec = Duration::from_secs;
        assert_eq!(
            (s.interval, s.fall, s.retry_delay, s.timeout, s.warmup),
            (sec(5), 4, Some(sec(4)), sec(2), Some(sec(1)))
        );
    }

    /// `bindto` / `bind_port` in keepalived.conf become the probe's source.
    #[test]
    fn bindto_and_bind_port_reach_the_probe() {
        let s = rs_spec(
            "virtual_server 127.0.0.1 80 {
  real_server 127.0.0.1 80 {
    TCP_CHECK {
      bindto 127.0.0.2
      bind_port 4000
    }
  }
}
",
        );
        let want: std::net::SocketAddr = "127.0.0.2:4000".parse().unwrap();
        assert!(
            matches!(&s.probes[..], [Probe::Tcp { bind: Some(b), .. }] if *b == want),
            "{:?}",
            s.probes
        );
        assert_eq!(s.unsupported, None);
        // Another family than the address checked: reported, not run.
        let s = rs_spec(
            "virtual_server 127.0.0.1 80 {
  real_server 127.0.0.1 80 {
    TCP_CHECK {
      bindto ::1
    }
  }
}
",
        );
        assert!(s.unsupported.is_some_and(|u| u.contains("bindto ::1")));
    }

    /// keepalived's vrrp_track_process `delay` (fork_delay and
    /// terminate_delay): a process restarted within the delay is never
    /// reported down; one that stays gone is reported down only after it.
    #[test]
    fn track_process_delay_holds_a_change_until_it_lasts() {
        let arg = format!("31.{}", std::process::id());
        let spawn = || {
            let c = std::process::Command::new("sleep")
                .arg(&arg)
                .spawn()
                .unwrap();
            // Its command line appears a moment after spawn returns: poll (bounded).
            for _ in 0..200 {
                if super::super::procs::count("sleep", Some(&arg), false, false) >= 1 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            c
        };
        let spec = spec::from_config(
            &crate::config::load_str(
                "t.conf",
                &format!("vrrp_track_process tp {{\n  process sleep {arg}\n  delay 1\n}}\n"),
                crate::config::Format::Keepalived,
                &crate::config::LoadOptions::default(),
            )
            .config,
        )
        .into_iter()
        .find(|s| s.source == "process:tp")
        .expect("the process check");
        let one = Duration::from_secs(1);
        assert_eq!(spec.settle, Some(spec::Settle { up: one, down: one }));
        // fork_delay / terminate_delay each on its own; `delay` sets both.
        let settle = |body: &str| {
            spec::from_config(
                &crate::config::load_str(
                    "t.conf",
                    &format!("vrrp_track_process tp {{\n  process sleep\n  {body}\n}}\n"),
                    crate::config::Format::Keepalived,
                    &crate::config::LoadOptions::default(),
                )
                .config,
            )[0]
            .settle
        };
        let ms = Duration::from_millis;
        assert_eq!(
            settle("fork_delay 0.5\n  terminate_delay 2"),
            Some(spec::Settle {
                up: ms(500),
                down: ms(2000)
            })
        );
        assert_eq!(
            settle("fork_delay 0.5\n  delay 3"),
            Some(spec::Settle {
                up: ms(3000),
                down: ms(3000)
            })
        );
        assert_eq!(
            settle("delay 3\n  terminate_delay 0.2"),
            Some(spec::Settle {
                up: ms(3000),
                down: ms(200)
            })
        );
        assert_eq!(settle(""), None);
        let mut a = spawn();
        crate::ipc::tests::rt().block_on(async {
            let (tx, mut rx) = mpsc::channel(8);
            let task = tokio::spawn(schedule(0, spec, tx, None));
            let mut next = async || {
                tokio::time::timeout(Duration::from_secs(10), rx.recv())
                    .await
                    .expect("a result within 10 s")
                    .expect("the schedule runs")
            };
            assert!(next().await.outcome.ok, "running at start");
            // Restarted within the delay: no change reported.
            let _ = a.kill();
            let _ = a.wait();
            let mut b = spawn();
            let r = next().await;
            assert!(r.outcome.ok, "a restart within the delay: {:?}", r.outcome);
            // Gone for good: down, but only after the delay.
            let _ = b.kill();
            let _ = b.wait();
            let gone = Instant::now();
            let r = loop {
                let r = next().await;
                if !r.outcome.ok {
                    break r;
                }
            };
            let after = gone.elapsed();
            eprintln!("down reported {after:?} after the process went");
            assert!(
                !r.outcome.ok && after >= Duration::from_millis(900),
                "{after:?}"
            );
            task.abort();
        });
    }
}
