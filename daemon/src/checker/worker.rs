//! The checker process (unprivileged user, no capabilities): every check
//! on one timer queue of a single-threaded runtime (thousands of checks,
//! one thread; see [`schedule`](super::schedule)), fall/rise per check,
//! results to the parent.
//!
//! A state change is sent at once; a new message goes in the next batch
//! (a second at most), and counters and latency alone every
//! [`counter_ticks`] batches: up to 100 checks every second, at 500 every
//! 5 s (issue 18: at 500 TCP checks a second, encoding and decoding every
//! check's counters every second was a third of the checker's and most of
//! the parent's instructions per check).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use tokio::signal::unix::{SignalKind, signal};
use tokio::time::Instant;
use tracing::{info, warn};

use super::health::{Health, Verdict};
use super::plugin::{self, Capacity, Host};
use super::probe::Probe;
pub(crate) use super::schedule::Ran;
use super::schedule::Scheduler;
use super::spec::{self, Spec, Specs};
use crate::config::model::Config;
use crate::ipc::Msg;
use crate::ipc::link::{Link, WorkerError, unexpected};
use crate::ipc::msg::{CheckStatus, RealServerState, Role};
use crate::names::{Name, NameList};

/// What a configured check last found (its spec is at the same place in
/// `Checker::specs`).
struct CheckRecord {
    health: Health,
    /// Boxed to its length; a message like the last keeps its box. None
    /// while `connected` stands for it.
    last: Option<Box<str>>,
    /// The last run's (see [`LatencyUs`]).
    latency_us: Option<LatencyUs>,
    /// What only some checks find; None while all of it is empty.
    found: Option<Box<Found>>,
    /// Ran (or was loaded) since the last batch.
    dirty: bool,
    /// Changed more than its counters and latency since the last batch:
    /// its message, number or metrics, or it was loaded.
    news: bool,
    /// The last run passed and its last probe was a TCP connect: the
    /// message is "connected to ADDR" of that probe, made when sent rather
    /// than kept (48 bytes a check with the allocator's header, 0.46 MiB of
    /// the checker at 10,000 TCP checks; issue 18).
    connected: bool,
}

/// A run's latency in whole microseconds, saturated one short of 2^32
/// (71 minutes, far beyond any timeout); kept plus one in a `NonZeroU32`
/// so that an `Option` of it is 4 bytes in the record kept per check
/// (issue 18).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct LatencyUs(std::num::NonZeroU32);

impl LatencyUs {
    fn of(d: Duration) -> Self {
        let us = u32::try_from(d.as_micros()).unwrap_or(u32::MAX);
        Self(std::num::NonZeroU32::new(us.saturating_add(1)).unwrap_or(std::num::NonZeroU32::MAX))
    }

    fn get(self) -> u64 {
        u64::from(self.0.get() - 1)
    }
}

/// A tracked file's number, a plugin's metrics, a FILE_CHECK's weight
/// change: boxed, as most checks (TCP, HTTP) have none of them and 40
/// bytes a check inline were 0.4 MiB of the checker at 10,000 (issue 18).
#[derive(Debug, Default, PartialEq)]
struct Found {
    value: Option<i64>,
    metrics: Vec<(String, f64)>,
    /// FILE_CHECK: the weight change last reported.
    weight: i64,
}

impl Found {
    /// `found` holding these, None when all are empty.
    fn set(
        found: &mut Option<Box<Found>>,
        value: Option<i64>,
        metrics: Vec<(String, f64)>,
        weight: i64,
    ) {
        if value.is_none() && metrics.is_empty() && weight == 0 {
            *found = None;
            return;
        }
        let f = found.get_or_insert_with(Box::default);
        f.value = value;
        f.metrics = metrics;
        f.weight = weight;
    }
}

impl CheckRecord {
    /// A check not run yet.
    fn new(spec: &Spec) -> Self {
        CheckRecord {
            health: if spec.presume_up {
                Health::new(spec.fall, spec.rise, spec.init_fail).presumed_up()
            } else {
                Health::new(spec.fall, spec.rise, spec.init_fail)
            },
            last: spec.unsupported().map(Box::from),
            latency_us: None,
            found: None,
            dirty: false,
            news: false,
            connected: false,
        }
    }

    /// The last run's message.
    fn message(&self, spec: &Spec) -> Option<std::borrow::Cow<'_, str>> {
        match spec.probes.last() {
            Some(Probe::Tcp { addr, .. }) if self.connected => {
                Some(super::probe::connected_to(*addr).into())
            }
            _ => self.last.as_deref().map(Into::into),
        }
    }

    fn value(&self) -> Option<i64> {
        self.found.as_ref().and_then(|f| f.value)
    }

    fn weight(&self) -> i64 {
        self.found.as_ref().map_or(0, |f| f.weight)
    }

    /// Its status, as the check `name` of `spec`.
    fn status(&self, name: Name<'_>, spec: &Spec) -> CheckStatus {
        CheckStatus {
            source: name.to_string(),
            state: self.health.state(),
            last_result: self.message(spec).map(std::borrow::Cow::into_owned),
            latency_us: self.latency_us.map(LatencyUs::get),
            failures: self.health.failures,
            runs: self.health.runs,
            value: self.value(),
            policy: None,
            metrics: self
                .found
                .as_ref()
                .map(|f| f.metrics.clone())
                .unwrap_or_default(),
        }
    }
}

/// keepalived's `log_all_failures` (or `checker_log_all_failures`): a failed
/// run is logged on its own while the check is up, or presumed up before
/// its first result, so the retries before "down" show too (keepalived logs
/// a failed attempt only while its checker is up). Without it only state
/// changes are logged; once down, failures are not logged either way.
fn logs_failed_run(spec: &Spec, before: Verdict, failed_probe: Option<usize>) -> bool {
    let up = before == Verdict::Up || (before == Verdict::Unknown && spec.presume_up);
    up && failed_probe.is_some_and(|i| spec.log_failure(i))
}

pub(crate) struct Checker {
    lateness: super::lateness::Lateness,
    /// The WASM plugin host: only while a plugin check is configured.
    plugins: Option<Arc<dyn Host>>,
    /// The checks' specs (shared with the schedule) and, at the same
    /// places, their names and their records.
    specs: Arc<[Spec]>,
    names: NameList,
    checks: Vec<CheckRecord>,
    schedule: Scheduler,
    /// Batches since the last that carried counters alone.
    flushes: u32,
    /// Where the next [`Checker::batch`] goes on from.
    batch_from: usize,
}

impl Checker {
    pub(crate) fn new() -> Self {
        Self {
            lateness: super::lateness::Lateness::default(),
            plugins: None,
            specs: Arc::new([]),
            names: NameList::default(),
            checks: Vec::new(),
            schedule: Scheduler::default(),
            flushes: 0,
            batch_from: 0,
        }
    }

    /// (Re)starts every check of `specs`; a check whose definition did not
    /// change keeps its state and counters.
    pub(crate) fn load(&mut self, specs: Specs) {
        let (names, specs) = specs.into_parts();
        self.batch_from = 0;
        let old_specs = std::mem::replace(&mut self.specs, Arc::new([]));
        let old_names = std::mem::replace(&mut self.names, names);
        let mut old: BTreeMap<Name<'_>, (&Spec, CheckRecord)> = old_names
            .iter()
            .zip(old_specs.iter().zip(self.checks.drain(..)))
            .collect();
        self.plugins = plugin_host(self.plugins.take(), &specs);
        // Exactly: doubling from empty left room for 6,384 unused records
        // at 10,000 checks.
        self.checks.shrink_to(0);
        self.checks.reserve_exact(specs.len());
        for (name, spec) in self.names.iter().zip(&specs) {
            let mut check = match old.remove(&name) {
                Some((was, c)) if was == spec => c,
                _ => CheckRecord::new(spec),
            };
            if let Some(why) = spec.unsupported() {
                warn!(check = %name, reason = %why, "check not run");
            }
            check.dirty = true;
            check.news = true;
            self.checks.push(check);
        }
        drop(old);
        drop(old_specs);
        drop(old_names);
        self.specs = specs.into();
        self.schedule.load(
            Arc::clone(&self.specs),
            &self.names,
            self.plugins.clone(),
            Instant::now(),
        );
        info!(checks = self.checks.len(), "checks scheduled");
    }

    /// A turn of the worker's loop begins (see `Scheduler::new_turn`).
    pub(crate) fn new_turn(&mut self) {
        self.schedule.new_turn();
    }

    /// The next result of a check (cancel-safe; pending while none is
    /// scheduled).
    pub(crate) async fn next(&mut self) -> Ran {
        self.schedule.next().await
    }

    /// A result that is in already, else one [`Checker::next`] has at
    /// once (None: none now).
    pub(crate) fn next_now(&mut self) -> Option<Ran> {
        self.schedule.ready().or_else(|| self.next().now_or_never())
    }

    /// Records a result; the messages a state change causes (sent at once).
    pub(crate) fn record(&mut self, r: Ran) -> Vec<Msg> {
        self.lateness.add(r.lateness, r.at);
        let (Some(check), Some(spec)) = (self.checks.get_mut(r.index), self.specs.get(r.index))
        else {
            return Vec::new();
        };
        let name = self.names.get(r.index);
        let before = check.health.state();
        let change = check.health.record(r.outcome.ok);
        if logs_failed_run(spec, before, r.failed_probe) {
            info!(
                check = %name,
                result = r.outcome.message.as_str(),
                retries = spec.fall.saturating_sub(1),
                "check failed"
            );
        }
        // A tracked file's number matters, not only zero or not.
        let value_changed = r.outcome.value.is_some() && r.outcome.value != check.value();
        // A FILE_CHECK's number changes the server's weight while it is up.
        let weight_changed = spec.real_server_at.is_some() && r.weight != check.weight();
        let metrics_changed =
            r.metrics[..] != *check.found.as_ref().map_or(&[][..], |f| &f.metrics[..]);
        // A pass ends in the last probe's outcome (schedule::run_probes).
        let connected = r.outcome.ok && matches!(spec.probes.last(), Some(Probe::Tcp { .. }));
        let mut news =
            value_changed || weight_changed || metrics_changed || connected != check.connected;
        Found::set(&mut check.found, r.outcome.value, r.metrics, r.weight);
        check.connected = connected;
        if connected {
            check.last = None;
        } else if check.last.as_deref() != Some(r.outcome.message.as_str()) {
            check.last = Some(r.outcome.message.into_boxed_str());
            news = true;
        }
        check.latency_us = Some(LatencyUs::of(r.latency));
        check.dirty = true;
        check.news |= news;
        let Some(v) = change.or((value_changed || weight_changed).then(|| check.health.state()))
        else {
            return Vec::new();
        };
        info!(check = %name, state = v.word(), result = check.message(spec).as_deref().unwrap_or(""), "check state changed");
        check.dirty = false;
        check.news = false;
        let mut out = vec![Msg::Checks {
            checks: vec![check.status(name, spec)],
        }];
        let name = name.to_cow();
        if let Some((vs, rs)) = spec.real_server(&name) {
            out.push(Msg::RealServer(RealServerState {
                virtual_server: vs.to_string(),
                real_server: rs.to_string(),
                up: v == Verdict::Up,
                weight: check.weight(),
            }));
        }
        out
    }

    /// Stops every check (their runs and process groups with them).
    pub(crate) fn stop(&mut self) {
        self.schedule.stop();
    }

    /// Whether this second's batch carries counters alone too (every
    /// [`counter_ticks`] calls, one a second).
    pub(crate) fn counters_due(&mut self) -> bool {
        self.flushes += 1;
        if self.flushes < counter_ticks(self.checks.len()) {
            return false;
        }
        self.flushes = 0;
        true
    }

    /// The next [`Checker::batch`] starts from the first check.
    pub(crate) fn batches_from_start(&mut self) {
        self.batch_from = 0;
    }

    /// Checks with news since they were last sent (with `counters`, also
    /// those that only ran), at most [`BATCH_LIMIT`]; call again until None.
    /// Each call goes on from where the last stopped (None starts over), so
    /// that a flush sent a message at a time, with runs in between, sends a
    /// check that ran again meanwhile once, and looks at each check once.
    pub(crate) fn batch(&mut self, counters: bool) -> Option<Msg> {
        let mut checks = Vec::new();
        let mut stop = self.checks.len();
        for (i, c) in self.checks.iter_mut().enumerate().skip(self.batch_from) {
            if !(c.news || (counters && c.dirty)) {
                continue;
            }
            if checks.len() == BATCH_LIMIT {
                stop = i;
                break;
            }
            let Some(spec) = self.specs.get(i) else {
                break;
            };
            c.dirty = false;
            c.news = false;
            checks.push(c.status(self.names.get(i), spec));
        }
        if checks.is_empty() {
            self.batch_from = 0;
            return None;
        }
        self.batch_from = stop;
        Some(Msg::Checks { checks })
    }
}

/// The flush after a tick, given the one under way (`Some(counters)`)
/// and whether counters are due. One under way goes on to its end: started
/// over at every tick, a flush longer than a second (a saturated guest)
/// sent the first checks again and again, which had run again meanwhile,
/// and never reached the last. Only a flush without counters that now
/// has them due starts over from the first check, which it has passed.
fn next_flush(under_way: Option<bool>, counters: bool, checker: &mut Checker) -> Option<bool> {
    match under_way {
        Some(true) => Some(true),
        Some(false) if !counters => Some(false),
        _ => {
            checker.batches_from_start();
            Some(counters)
        }
    }
}

/// Seconds between batches of counters alone for `checks` checks: one
/// per 100 checks, from 1 to 5, so that the parent decodes about 100
/// such entries a second (like the VRRP worker's counters, which slow
/// down with its instances) and none is more than 5 s old.
pub(crate) fn counter_ticks(checks: usize) -> u32 {
    u32::try_from(checks.div_ceil(100).clamp(1, 5)).unwrap_or(5)
}

/// The plugin host for `specs`: none when no check is a plugin (no engine
/// at all), the current one when its pool is large enough, else a new one.
fn plugin_host(current: Option<Arc<dyn Host>>, specs: &[Spec]) -> Option<Arc<dyn Host>> {
    let plugins: Vec<&plugin::PluginProbe> = specs
        .iter()
        .flat_map(|s| &s.probes)
        .filter_map(|p| match p {
            Probe::Plugin(pp) => Some(&**pp),
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
    match plugin::new_host(need, plugin::cache_dir()) {
        Ok(h) => {
            info!(
                plugins = plugins.len(),
                instances = need.instances,
                memory_mib = need.memory_mib,
                "plugin host ready"
            );
            Some(h)
        }
        Err(e) => {
            // Each plugin check then fails with this reason at every run.
            warn!(error = %e, "no plugin host");
            None
        }
    }
}

/// Most checks in one `Checks` message. Each message is decoded, applied
/// and freed by the parent on its own: at 10,000 checks one message of all
/// of them every second held its copy of every check beside the recorded
/// one, which set the parent's heap high-water mark.
pub(crate) const BATCH_LIMIT: usize = crate::ipc::msg::CHECKS_PER_MESSAGE;

/// Results recorded in a row before the signal, the parent and the batch
/// get their turn.
const RESULTS_PER_TURN: usize = 64;

/// The checks of `config`, which is not kept: the specs hold all the
/// checker runs from (at 10,000 checks the configuration is megabytes).
/// They are built, the configuration freed, and then copied: the copy
/// fills the configuration's place at the bottom of the heap in one piece,
/// where built beside the configuration they stayed strewn above it, among
/// the blocks each run allocates and frees (issue 18).
fn specs_of(config: Config) -> Specs {
    let built = spec::for_checker(&config);
    drop(config);
    crate::sys::mem::trim_heap();
    built.clone()
}

pub async fn run(config: Config, generation: u64, link: &mut Link) -> Result<(), WorkerError> {
    let mut term =
        signal(SignalKind::terminate()).map_err(|e| WorkerError::Other(e.to_string()))?;
    let mut checker = Checker::new();
    checker.load(specs_of(config));
    link.ready(generation).await?;
    let mut flush = tokio::time::interval(Duration::from_secs(1));
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // A flush under way (with counters alone or not): sent a message per
    // turn of the loop, with results and starts between them. All at once,
    // the batches of counters of 2,000 checks held up the starts due for
    // the time of their encoding every fifth second (issue 18).
    let mut flushing: Option<bool> = None;
    loop {
        checker.new_turn();
        tokio::select! {
            _ = term.recv() => break,
            r = checker.next() => {
                // Results already in take no trip through this select (each
                // trip makes its signal, link and tick futures again).
                let mut ready = Some(r);
                let mut taken = 0;
                while let Some(r) = ready.take() {
                    for m in checker.record(r) {
                        link.send(&m).await?;
                    }
                    // A result taken from the queue of those in already
                    // touches no resource of the runtime, so none used up
                    // its budget: in a saturated guest (10,000 checks, all
                    // late) the loop then never returned to the runtime,
                    // whose timers and sockets went unserved, and the
                    // parent restarted the checker as silent (issue 18).
                    // Each result now counts; the loop yields when the
                    // budget is spent.
                    tokio::task::coop::consume_budget().await;
                    taken += 1;
                    if taken < RESULTS_PER_TURN {
                        ready = checker.next_now();
                    }
                }
            }
            _ = flush.tick() => {
                flushing = next_flush(flushing, checker.counters_due(), &mut checker);
            }
            () = std::future::ready(()), if flushing.is_some() => {
                match checker.batch(flushing == Some(true)) {
                    Some(m) => link.send(&m).await?,
                    None => {
                        flushing = None;
                        crate::sys::mem::trim_heap_now_and_then();
                    }
                }
            }
            m = link.recv() => match m? {
                Msg::Reload { generation, config } => {
                    checker.load(specs_of(*config));
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
    use super::super::probe::Outcome;
    use super::super::schedule::{Retry, jitter};
    use super::*;
    use std::collections::BTreeSet;
    use tokio::sync::mpsc;

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
        let (_, s) = specs
            .iter()
            .find(|(n, s)| s.real_server(&n.to_cow()).is_some())
            .expect("a real-server check");
        assert_eq!(
            (s.interval(), s.retry_delay(), s.fall, s.rise),
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
                s.retry_delay().unwrap_or_default()
            } else {
                s.interval()
            };
        }
        assert_eq!(down_at, Some(Duration::from_secs(9)));
        // Down: checked every delay_loop, no retries; one success is up.
        assert!(!r.after(false));
        assert!(!r.after(true));
        assert_eq!(h.record(true), Some(Verdict::Up));
    }

    /// A real server's check as a keepalived.conf would give it, with
    /// its name.
    fn rs_named(conf: &str) -> (String, Spec) {
        let loaded = crate::config::load_str(
            "t.conf",
            conf,
            crate::config::Format::Keepalived,
            &crate::config::LoadOptions::default(),
        );
        spec::from_config(&loaded.config)
            .into_iter()
            .find(|(n, s)| s.real_server(n).is_some())
            .expect("a real-server check")
    }

    /// The same, its spec alone.
    fn rs_spec(conf: &str) -> Spec {
        rs_named(conf).1
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
    async fn runs_of(named: (String, Spec), runs: usize) -> Vec<(Instant, Option<Verdict>)> {
        let spec = &named.1;
        let mut h = Health::new(spec.fall, spec.rise, spec.init_fail).presumed_up();
        let mut checker = Checker::new();
        checker.load(std::iter::once(named).collect());
        let mut out = Vec::new();
        while out.len() < runs {
            let ran = tokio::time::timeout(Duration::from_secs(20), checker.next())
                .await
                .expect("a check result within 20 s");
            out.push((Instant::now(), h.record(ran.outcome.ok)));
        }
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

    /// A checker holding the record of the check `named`, not scheduled.
    fn one_check(named: (String, Spec)) -> Checker {
        let (name, spec) = named;
        let mut c = Checker::new();
        c.checks.push(CheckRecord::new(&spec));
        c.specs = Arc::from([spec]);
        c.names = [name].iter().collect();
        c
    }

    /// Records `results` (pass or fail) for the real-server check of
    /// `conf` as its schedule would hand them over; the log lines.
    fn log_of_results(conf: &str, results: &[bool]) -> String {
        let spec = rs_named(conf);
        log_of(|| {
            let mut c = one_check(spec);
            for &ok in results {
                c.record(ran(ok, if ok { "HTTP 200" } else { "HTTP status 503" }));
            }
        })
    }

    /// A run of the first check that passed or failed (its first probe)
    /// with `message`, as its schedule hands it over.
    fn ran(ok: bool, message: &str) -> Ran {
        Ran {
            index: 0,
            outcome: Outcome {
                ok,
                message: message.into(),
                value: None,
            },
            metrics: Vec::new(),
            latency: Duration::ZERO,
            weight: 0,
            lateness: Duration::ZERO,
            failed_probe: (!ok).then_some(0),
            at: Instant::now(),
        }
    }

    /// Issue 18: a check's record holds no box for the number, metrics
    /// and weight change it never had, makes one when a result has any,
    /// drops it when a later one has none, and reports them alike.
    #[test]
    fn a_record_boxes_only_what_its_check_found() {
        let mut c = one_check(rs_named(&conf(80, "")));
        let ran = |value: Option<i64>, metrics: Vec<(String, f64)>, weight: i64| Ran {
            index: 0,
            outcome: Outcome {
                ok: true,
                message: "HTTP 200".into(),
                value,
            },
            metrics,
            latency: Duration::from_secs(1 << 40),
            weight,
            lateness: Duration::ZERO,
            failed_probe: None,
            at: Instant::now(),
        };
        c.record(ran(None, Vec::new(), 0));
        assert!(c.checks[0].found.is_none());
        let st = c.checks[0].status(c.names.get(0), &c.specs[0]);
        assert_eq!((st.value, st.metrics.len()), (None, 0));
        // A latency beyond u32 µs saturates rather than vanishing.
        assert_eq!(st.latency_us, Some(u64::from(u32::MAX - 1)));
        c.record(ran(Some(7), vec![("rtt".into(), 1.5)], 3));
        let st = c.checks[0].status(c.names.get(0), &c.specs[0]);
        assert_eq!(st.value, Some(7));
        assert_eq!(st.metrics, vec![("rtt".to_string(), 1.5)]);
        assert_eq!(c.checks[0].weight(), 3);
        c.record(ran(None, Vec::new(), 0));
        assert!(c.checks[0].found.is_none());
        assert_eq!(c.checks[0].weight(), 0);
        assert!(
            std::mem::size_of::<CheckRecord>() <= 64,
            "{}",
            std::mem::size_of::<CheckRecord>()
        );
    }

    /// A latency reads back in whole microseconds, zero too, and one
    /// beyond 32 bits saturates (issue 18: kept in 4 bytes).
    #[test]
    fn latencies_read_back_and_saturate() {
        let us = |d: Duration| LatencyUs::of(d).get();
        assert_eq!(us(Duration::ZERO), 0);
        assert_eq!(us(Duration::from_nanos(1_999)), 1);
        assert_eq!(us(Duration::from_millis(250)), 250_000);
        assert_eq!(us(Duration::from_secs(10_000)), u64::from(u32::MAX - 1));
        assert_eq!(std::mem::size_of::<Option<LatencyUs>>(), 4);
    }

    /// Issue 18: a passing TCP check keeps no message ("connected to
    /// ADDR" is made when its status is sent), a failing one keeps its
    /// own, and a pass after it drops that again.
    #[test]
    fn a_passing_tcp_check_keeps_no_message_and_reports_it_alike() {
        let conf = "virtual_server 127.0.0.1 80 {\n  delay_loop 2\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n  real_server 127.0.0.1 8080 {\n    TCP_CHECK {\n      connect_port 8081\n    }\n  }\n}\n";
        let mut c = one_check(rs_named(conf));
        let said = |c: &Checker| c.checks[0].status(c.names.get(0), &c.specs[0]).last_result;
        c.record(ran(true, "connected to 127.0.0.1:8081"));
        assert!(c.checks[0].last.is_none());
        assert_eq!(said(&c).as_deref(), Some("connected to 127.0.0.1:8081"));
        c.record(ran(false, "connect 127.0.0.1:8081: refused"));
        assert_eq!(
            c.checks[0].last.as_deref(),
            Some("connect 127.0.0.1:8081: refused")
        );
        assert_eq!(said(&c).as_deref(), Some("connect 127.0.0.1:8081: refused"));
        c.record(ran(true, "connected to 127.0.0.1:8081"));
        assert!(c.checks[0].last.is_none());
        assert_eq!(said(&c).as_deref(), Some("connected to 127.0.0.1:8081"));
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
            let named = rs_named(&conf(
                addr.port(),
                "retry 3\n      delay_before_retry 0.05\n      warmup 0",
            ));
            assert_eq!(named.1.fall, 4);
            let runs = runs_of(named, 4).await;
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
            let named = rs_named(&conf(
                addr.port(),
                "retry 2\n      delay_before_retry 0.1\n      warmup 0",
            ));
            assert_eq!(named.1.retry_delay(), Some(Duration::from_millis(100)));
            let runs = runs_of(named, 4).await;
            let gaps: Vec<Duration> = runs.windows(2).map(|w| w[1].0 - w[0].0).collect();
            eprintln!("gaps between runs: {gaps:?}");
            assert_eq!(runs[2].1, Some(Verdict::Down));
            // Measured, with room for a loaded machine: retries well under
            // the delay_loop, the check after the verdict a delay_loop later.
            // A gap is measured between results, and the schedule keeps its
            // cadence: a result that came late (a loaded machine, a CI
            // run beside this one) is followed by a shorter gap (a bound
            // of 90 ms failed so); 50 still tells a retry after the delay
            // from one at once.
            for g in &gaps[..2] {
                assert!(
                    *g >= Duration::from_millis(50) && *g < Duration::from_secs(1),
                    "{gaps:?}"
                );
            }
            assert!(gaps[2] >= Duration::from_millis(1900), "{gaps:?}");
        });
    }

    /// keepalived's `warmup`: the first check comes after a pseudo-random
    /// delay up to the value (0: at once); by default up to delay_loop.
    #[test]
    fn warmup_delays_the_first_check_up_to_its_value() {
        let spec = rs_spec(&conf(8080, "warmup 3"));
        assert_eq!(spec.warmup(), Some(Duration::from_secs(3)));
        let spec = rs_spec(&conf(8080, ""));
        assert_eq!(
            spec.warmup(),
            Some(Duration::from_secs(2)),
            "default: delay_loop"
        );
        // The delays are spread over [0, warmup).
        let w = Duration::from_secs(3);
        let delays: BTreeSet<u64> = (0..50)
            .map(|i| jitter((&format!("real_server:x/{i}")).into(), w).as_millis() as u64)
            .collect();
        assert!(delays.iter().all(|d| *d < 3000));
        assert!(delays.len() > 40 && delays.first() < Some(&1000) && delays.last() > Some(&2000));
        assert_eq!(jitter("any".into(), Duration::ZERO), Duration::ZERO);
        // A real schedule with warmup 0 runs at once.
        crate::testutil::private_netns();
        crate::ipc::tests::rt().block_on(async {
            let (addr, _requests) = failing_http().await;
            let named = rs_named(&conf(addr.port(), "warmup 0"));
            let start = Instant::now();
            let runs = runs_of(named, 1).await;
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
            (
                s.interval(),
                s.fall,
                s.retry_delay(),
                s.timeout(),
                s.warmup()
            ),
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
            matches!(&s.probes[..], [Probe::Tcp { bind: Some(b), .. }] if **b == want),
            "{:?}",
            s.probes
        );
        assert_eq!(s.unsupported(), None);
        assert!(s.rare.is_none());
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
        assert!(s.unsupported().is_some_and(|u| u.contains("bindto ::1")));
    }

    /// 1,000 HTTP checks of a closed port, with `checker` settings.
    fn thousand_checks(checker: &str) -> Specs {
        let (name, spec) = rs_named(&conf(9, checker));
        (0..1000)
            .map(|i| (format!("{name}-{i}"), spec.clone()))
            .collect()
    }

    /// Issue 18 (heaptrack of the checker at 10,000 checks): a spec's
    /// vectors and the list of records hold no spare room.
    #[test]
    fn specs_and_records_hold_no_spare_room() {
        let spec = rs_spec(&conf(9, ""));
        // Durations in 32-bit milliseconds (optional ones too), the split
        // point in 32 bits, one probe inline (48 bytes; boxed it was a
        // 64-byte block and a 16-byte pointer), the name kept apart.
        assert!(
            std::mem::size_of::<Spec>() <= 96,
            "{}",
            std::mem::size_of::<Spec>()
        );
        assert!(
            matches!(spec.probes, spec::Probes::One(_)),
            "{:?}",
            spec.probes
        );
        assert!(spec.rare.is_none(), "{:?}", spec.rare);
        crate::ipc::tests::rt().block_on(async {
            let mut checker = Checker::new();
            checker.load(thousand_checks("warmup 3600"));
            assert_eq!(checker.checks.capacity(), 1000);
            checker.load(
                thousand_checks("warmup 3600")
                    .into_iter()
                    .take(10)
                    .collect(),
            );
            assert_eq!(
                checker.checks.capacity(),
                10,
                "a smaller reload gives room back"
            );
        });
    }

    /// A check between runs costs a queue entry, not a task: loading 1,000
    /// checks (none due yet) starts no task on the runtime (there was one
    /// per check, 2.6 KiB each, before the one timer queue).
    #[test]
    fn scheduled_checks_are_not_tasks() {
        let specs = thousand_checks("warmup 3600");
        crate::ipc::tests::rt().block_on(async {
            let mut checker = Checker::new();
            checker.load(specs);
            let first = tokio::time::timeout(Duration::from_millis(50), checker.next()).await;
            assert!(first.is_err(), "nothing is due within the warm-up");
            let tasks = tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks();
            assert_eq!(tasks, 0);
            assert_eq!(checker.schedule.queued(), 1000);
        });
    }

    /// Issue 18: 1,000 loaded checks go to the parent in messages of at
    /// most BATCH_LIMIT, each check once (news: not held for the batch of
    /// counters), then nothing until one runs.
    #[test]
    fn loaded_checks_are_sent_in_bounded_batches() {
        let specs = thousand_checks("warmup 3600");
        crate::ipc::tests::rt().block_on(async {
            let mut checker = Checker::new();
            checker.load(specs);
            let mut sizes = Vec::new();
            let mut seen = std::collections::HashSet::new();
            while let Some(m) = checker.batch(false) {
                let Msg::Checks { checks } = m else {
                    panic!("not a batch: {m:?}")
                };
                sizes.push(checks.len());
                seen.extend(checks.into_iter().map(|c| c.source));
                assert!(sizes.len() <= 1000, "batches without end");
            }
            assert_eq!(seen.len(), 1000);
            assert_eq!(sizes.iter().sum::<usize>(), 1000);
            assert!(sizes.iter().all(|&n| n <= BATCH_LIMIT), "{sizes:?}");
            assert_eq!(sizes.len(), 1000_usize.div_ceil(BATCH_LIMIT));
            assert!(checker.batch(true).is_none());
        });
    }

    /// Issue 18: a run that moved only counters waits for the batch of
    /// counters (every fifth at 500 checks and more, every one up to 100);
    /// a new message, a change of state or a load does not wait.
    #[test]
    fn counters_alone_wait_for_their_batch_and_news_does_not() {
        assert_eq!(
            [1, 100, 101, 250, 500, 10_000].map(counter_ticks),
            [1, 1, 2, 3, 5, 5]
        );
        let mut c = one_check(rs_named(&conf(80, "")));
        let sent = |c: &mut Checker, counters: bool| -> Vec<CheckStatus> {
            let mut all = Vec::new();
            while let Some(Msg::Checks { checks }) = c.batch(counters) {
                all.extend(checks);
            }
            all
        };
        // The first result changes the state: sent at once, nothing left.
        assert_eq!(c.record(ran(true, "HTTP 200")).len(), 2);
        assert!(sent(&mut c, true).is_empty());
        // The same message again: counters alone.
        assert!(c.record(ran(true, "HTTP 200")).is_empty());
        assert!(sent(&mut c, false).is_empty());
        let counters = sent(&mut c, true);
        assert_eq!(counters.len(), 1);
        assert_eq!(counters[0].runs, 2);
        // Another message (still up) goes in the next batch of any kind.
        assert!(c.record(ran(true, "HTTP 204")).is_empty());
        let news = sent(&mut c, false);
        assert_eq!(news.len(), 1);
        assert_eq!(news[0].last_result.as_deref(), Some("HTTP 204"));
        assert_eq!(news[0].runs, 3);
        assert!(sent(&mut c, true).is_empty());
        // One check: every batch carries counters.
        assert!((0..3).all(|_| c.counters_due()));
        // 1,000 checks: every fifth.
        let mut many = Checker::new();
        many.load(thousand_checks("warmup 3600"));
        let due: Vec<bool> = (0..10).map(|_| many.counters_due()).collect();
        assert_eq!(
            due,
            [
                false, false, false, false, true, false, false, false, false, true
            ]
        );
    }

    /// A flush is sent a message at a time with runs between (issue 18):
    /// each message goes on from where the last stopped, so a check that
    /// ran again meanwhile is not sent twice in one flush, every check is
    /// sent once, and the flush after starts over.
    #[test]
    fn batches_go_on_where_the_last_stopped() {
        let mut c = Checker::new();
        c.load(thousand_checks("warmup 3600"));
        c.checks.iter_mut().for_each(|r| r.dirty = true);
        let sources = |m: Option<Msg>| match m {
            Some(Msg::Checks { checks }) => checks.into_iter().map(|s| s.source).collect(),
            _ => Vec::new(),
        };
        let mut all: Vec<String> = sources(c.batch(true));
        assert_eq!(all.len(), BATCH_LIMIT);
        // The first check runs again before the next message.
        c.checks[0].dirty = true;
        for _ in 0..10 {
            let more = sources(c.batch(true));
            if more.is_empty() {
                break;
            }
            all.extend(more);
        }
        let names: Vec<String> = c.names.iter().map(|n| n.to_string()).collect();
        assert_eq!(all, names, "each check once, in order");
        // The next flush starts over: the first check's second run.
        assert_eq!(sources(c.batch(true)), [names[0].clone()]);
        assert!(c.batch(true).is_none());
        // A flush started over part-way (a tick during a long flush).
        c.checks.iter_mut().for_each(|r| r.dirty = true);
        assert_eq!(sources(c.batch(true)).len(), BATCH_LIMIT);
        c.checks[1].dirty = true;
        c.batches_from_start();
        let again = sources(c.batch(true));
        assert_eq!(again[0], names[1]);
        assert_eq!(again[1], names[BATCH_LIMIT]);
    }

    /// A tick during a flush: one of counters goes on where it is (the
    /// first checks, which ran again, are not sent again before the last
    /// are); one of news alone goes on unless counters are now due, which
    /// start it over from the first check.
    #[test]
    fn a_tick_lets_a_flush_under_way_finish() {
        let mut c = Checker::new();
        c.load(thousand_checks("warmup 3600"));
        let first = |c: &mut Checker, counters: bool| match c.batch(counters) {
            Some(Msg::Checks { checks }) => checks.first().map(|s| s.source.clone()),
            _ => None,
        };
        let names: Vec<String> = c.names.iter().map(|n| n.to_string()).collect();
        c.checks.iter_mut().for_each(|r| r.dirty = true);
        assert_eq!(first(&mut c, true).as_deref(), Some(names[0].as_str()));
        c.checks[0].dirty = true;
        for counters in [false, true] {
            assert_eq!(next_flush(Some(true), counters, &mut c), Some(true));
        }
        assert_eq!(
            first(&mut c, true).as_deref(),
            Some(names[BATCH_LIMIT].as_str())
        );
        // News alone under way, no counters due: goes on.
        assert_eq!(next_flush(Some(false), false, &mut c), Some(false));
        assert_eq!(
            first(&mut c, true).as_deref(),
            Some(names[2 * BATCH_LIMIT].as_str())
        );
        // Counters now due: from the first check (which ran again).
        assert_eq!(next_flush(Some(false), true, &mut c), Some(true));
        assert_eq!(first(&mut c, true).as_deref(), Some(names[0].as_str()));
        // None under way: from the first, counters as due.
        assert_eq!(next_flush(None, false, &mut c), Some(false));
    }

    /// 1,000 checks due at once start a slice at a time, the loop having
    /// its turn between slices (regression: all started in one poll, and a
    /// starved checker stopped answering the parent's pings).
    #[test]
    fn a_burst_of_due_checks_starts_a_slice_at_a_time() {
        crate::testutil::private_netns();
        let specs = thousand_checks("warmup 0");
        crate::ipc::tests::rt().block_on(async {
            let mut checker = Checker::new();
            checker.load(specs);
            let _ = checker.next().now_or_never();
            assert!(
                checker.schedule.queued() >= 1000 - 128,
                "{}",
                checker.schedule.queued()
            );
            // The rest start in later turns: within two slices' worth of
            // results, checks beyond the first slice have run. (Not the
            // queue's length: each result puts its check back in the queue,
            // and with every result of the first slice in at once the next
            // slice starts only after all of them: the queue was then at
            // 1,000 - 128 + 1 and the test failed one run in five.)
            let mut ran = std::collections::HashSet::new();
            for _ in 0..=2 * 128 {
                if ran.len() > 128 {
                    break;
                }
                if let Ok(r) = tokio::time::timeout(Duration::from_secs(20), checker.next()).await {
                    ran.insert(r.index);
                }
            }
            assert!(ran.len() > 128, "{} checks ran", ran.len());
        });
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
        .find(|(n, _)| n == "process:tp")
        .expect("the process check");
        let one = Duration::from_secs(1);
        assert_eq!(spec.1.settle(), Some(spec::Settle { up: one, down: one }));
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
            )
            .into_iter()
            .next()
            .and_then(|(_, s)| s.settle())
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
            let mut checker = Checker::new();
            checker.load(std::iter::once(spec).collect());
            let mut next = async || {
                tokio::time::timeout(Duration::from_secs(10), checker.next())
                    .await
                    .expect("a result within 10 s")
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
        });
    }
}
