//! When each check runs: one timer queue for all checks and a future per
//! run in flight, rather than a task (with its own timer and channel
//! message) per check. Between runs a check costs a queue entry and its
//! [`Slot`]; a run's future exists only while it runs.
//!
//! Semantics (as each check's own loop had them): the first run comes
//! within the warm-up (a stable spread over it), then one every interval
//! (or `delay_before_retry` while retrying, see [`Retry`]); after an
//! overrun the next run keeps the check's phase, at least half an
//! interval later, rather than a burst (see [`reschedule`]); a tracked
//! process that exits wakes its check at once;
//! a tracked process's change is run again after its settle delay before
//! it is reported.
//!
//! A check that is one TCP connect (most real servers' TCP_CHECK) runs
//! without a future: [`super::connects`] (issue 18).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::{Instant, Sleep};
use tracing::warn;

use super::connects::{self, Connects};
use super::plugin::{self, Host};
use super::probe::{self, Outcome, Probe};
use super::spec::Spec;
use crate::names::{Name, NameList};

/// Runs started and not yet polled, at most: a burst of due checks
/// (10,000 at the end of a warm-up on a starved machine) is started a
/// slice at a time, so that the worker's loop still answers the parent's
/// pings between slices. A run's first poll is its connect (or spawn):
/// the first version started them all in one poll, and a later one
/// allowed a slice per call of [`Scheduler::next`], which the worker calls
/// for each result it takes in a turn, so slices piled up unpolled until
/// one poll of the runs made thousands of connects (issue 18: 7,000 in
/// 5.8 s in the VM benchmark at 10,000 checks, whose parent then judged
/// the checker silent and restarted it).
const STARTS_PER_TURN: usize = 128;

/// The most a run starts before its time to share a wake-up with runs due
/// now ([`Scheduler::slack`]).
const COALESCE: Duration = Duration::from_millis(50);

/// A time as whole microseconds since the scheduler's epoch (its last
/// load): 8 bytes where an `Instant` is 16. A check holds two and its
/// queue entry one: 24 bytes a check less (issue 18).
///
/// The schedule's arithmetic is done in ticks, not instants: an
/// `Instant`'s subtraction and checked addition per comparison were a
/// tenth of the checker's instructions at 500 checks (callgrind, issue 18).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Tick(u64);

impl Tick {
    /// How long after `earlier` (zero if not after).
    fn since(self, earlier: Tick) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
}

/// Saturates: a time past the last tick stays there.
impl std::ops::Add<Duration> for Tick {
    type Output = Tick;
    fn add(self, d: Duration) -> Tick {
        Tick(
            self.0
                .saturating_add(u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
        )
    }
}

/// One run's result, as the scheduler hands it over.
pub(crate) struct Ran {
    pub(crate) index: usize,
    pub(crate) outcome: Outcome,
    /// What a plugin measured.
    pub(crate) metrics: Vec<(String, f64)>,
    pub(crate) latency: Duration,
    /// FILE_CHECK: what the track files add to the server's weight.
    pub(crate) weight: i64,
    /// How late the run started against its schedule (see [`reschedule`]).
    pub(crate) lateness: Duration,
    /// The probe that failed (a run stops at its first failure).
    pub(crate) failed_probe: Option<usize>,
    /// When the result was taken (for the lateness report's clock).
    pub(crate) at: Instant,
}

/// What one run of a check's probes found.
pub(crate) struct Probed {
    pub(crate) outcome: Outcome,
    pub(crate) metrics: Vec<(String, f64)>,
    pub(crate) weight: i64,
    pub(crate) failed_probe: Option<usize>,
}

/// A run in flight: its check, when it started and how late, and what it found.
struct Done {
    index: usize,
    started: Instant,
    lateness: Duration,
    probed: Probed,
}

/// A check's schedule.
struct Slot {
    retry: Retry,
    /// The last result handed over (a tracked process's settle delay
    /// applies to a change against it).
    reported: Option<bool>,
    /// When the pending (or current) run was to start.
    next: Tick,
    /// When that run was due: `next`, or the earlier time the schedule had
    /// for it before an overrun pushed it back.
    due: Tick,
    /// Bumped whenever the check's pending wait ends (a run starts): a
    /// queue entry or wake-up with another number is stale.
    seq: u32,
    /// A tracked process's wait for an exit (aborted when the timer wins).
    wake: Option<AbortHandle>,
}

/// Every check's schedule and the runs in flight.
pub(crate) struct Scheduler {
    /// Every check's spec, in one block shared with the worker's records
    /// and the runs in flight: a spec each behind its own `Arc` was 24
    /// bytes of header and rounding a check, and a pointer to it in the
    /// slot and in the record 16 more (issue 18).
    specs: Arc<[Spec]>,
    /// A slot per spec; None: not run.
    slots: Vec<Option<Slot>>,
    /// (start time, check, its `seq` then): the earliest first.
    queue: BinaryHeap<Reverse<(Tick, u32, u32)>>,
    /// What the [`Tick`]s count from.
    epoch: Instant,
    runs: FuturesUnordered<BoxFuture<'static, Done>>,
    /// Runs that are one TCP connect, in flight.
    connects: Connects,
    /// Runs in `runs` not polled yet (each takes one off at its first
    /// poll); a new counter at each [`Scheduler::stop`], as runs dropped
    /// unpolled never take theirs off.
    unpolled: Arc<AtomicUsize>,
    /// Runs started this turn (see [`Scheduler::new_turn`]).
    turn_starts: usize,
    /// Tracked processes' exits: (check, `seq`).
    wakes: JoinSet<(u32, u32)>,
    /// Set to the queue's earliest entry (made at the first wait: a
    /// timer needs the runtime).
    timer: Option<Pin<Box<Sleep>>>,
    plugins: Option<Arc<dyn Host>>,
}

impl Default for Scheduler {
    fn default() -> Self {
        Self {
            specs: Arc::new([]),
            slots: Vec::new(),
            queue: BinaryHeap::new(),
            epoch: Instant::now(),
            runs: FuturesUnordered::new(),
            connects: Connects::default(),
            unpolled: Arc::default(),
            turn_starts: 0,
            wakes: JoinSet::new(),
            timer: None,
            plugins: None,
        }
    }
}

impl Scheduler {
    /// Drops every run in flight and schedules `specs` (but those that
    /// cannot run: [`Spec::unsupported`]) from `now`, each check's first
    /// run spread over its warm-up.
    /// `names`: the checks' names, at the specs' places (each first
    /// run's offset in its warm-up is drawn from its name).
    pub(crate) fn load(
        &mut self,
        specs: Arc<[Spec]>,
        names: &NameList,
        plugins: Option<Arc<dyn Host>>,
        now: Instant,
    ) {
        self.stop();
        self.plugins = plugins;
        self.epoch = now;
        self.slots = specs
            .iter()
            .zip(names.iter())
            .map(|(spec, name)| {
                spec.unsupported().is_none().then(|| {
                    let first = tick(
                        now,
                        now + jitter(name, spec.warmup().unwrap_or(spec.interval())),
                    );
                    Slot {
                        retry: Retry::new(spec),
                        reported: None,
                        next: first,
                        due: first,
                        seq: 0,
                        wake: None,
                    }
                })
            })
            .collect();
        self.specs = specs;
        for (i, slot) in self.slots.iter().enumerate() {
            if let (Some(s), Ok(i)) = (slot, u32::try_from(i)) {
                self.queue.push(Reverse((s.next, i, s.seq)));
            }
        }
    }

    /// Stops every check: runs in flight are dropped (a script's process
    /// group with its future), nothing is scheduled.
    pub(crate) fn stop(&mut self) {
        self.runs = FuturesUnordered::new();
        self.connects.clear();
        self.unpolled = Arc::default();
        self.wakes.abort_all();
        self.queue.clear();
        self.slots.clear();
        self.specs = Arc::new([]);
    }

    /// Runs started and not handed over (tests).
    #[cfg(test)]
    fn started(&self) -> usize {
        self.runs.len() + self.connects.started()
    }

    /// Checks waiting for their next run.
    #[cfg(test)]
    pub(crate) fn queued(&self) -> usize {
        self.queue.len()
    }

    /// The next result. Cancel-safe: every state lives in `self`.
    pub(crate) async fn next(&mut self) -> Ran {
        loop {
            let (more_due, wake_at) = self.start_due(Instant::now());
            if let Some(at) = wake_at {
                match &mut self.timer {
                    Some(t) if t.deadline() == at => {}
                    Some(t) => t.as_mut().reset(at),
                    None => self.timer = Some(Box::pin(tokio::time::sleep_until(at))),
                }
            }
            let timed = !self.queue.is_empty() && !more_due;
            tokio::select! {
                Some(done) = self.runs.next(), if !self.runs.is_empty() => {
                    return self.finish(done);
                }
                (run, outcome) = std::future::poll_fn(|cx| self.connects.poll_next(cx)),
                    if !self.connects.is_empty() => {
                    return self.finish(Done::connected(run, outcome));
                }
                // Waited: the runtime had its turn, and so a new one starts.
                () = expiry(&mut self.timer), if timed => self.turn_starts = 0,
                // The rest of a burst after the caller had its turn.
                () = tokio::task::yield_now(), if more_due => self.turn_starts = 0,
                Some(woken) = self.wakes.join_next(), if !self.wakes.is_empty() => {
                    // Err: a wait aborted because the timer came first.
                    if let Ok((i, seq)) = woken {
                        let now = Instant::now();
                        self.start(i, seq, now, tick(self.epoch, now));
                    }
                }
                else => std::future::pending::<()>().await,
            }
        }
    }

    /// A result that is already in, without the machinery of
    /// [`Scheduler::next`] (whose future the worker made, moved and
    /// polled for each result of a batch: a tenth of the checker's
    /// instructions at 500 checks, issue 18). Starts nothing: the next
    /// call of `next` does.
    pub(crate) fn ready(&mut self) -> Option<Ran> {
        let (run, outcome) = self.connects.take_done()?;
        Some(self.finish(Done::connected(run, outcome)))
    }

    /// A turn of the worker's loop begins: up to [`STARTS_PER_TURN`] more
    /// runs may start (the loop answers the parent between turns).
    pub(crate) fn new_turn(&mut self) {
        self.turn_starts = 0;
    }

    /// Starts the runs due at `now` (and those within their slack) while
    /// fewer than [`STARTS_PER_TURN`] runs wait for their first poll or to
    /// be taken and fewer than that started this turn (a bare connect is
    /// made here, at its start: the turn bounds them however often the
    /// worker asks for a result in it): whether more are due, and when the
    /// next one is (for the timer). Not tokio's task budget: starts that
    /// took all of it left none for the connects' results and the parent's
    /// pings (the checker went silent at 10,000 checks in the VM).
    ///
    /// Results not yet taken count: a local connect ends at its start
    /// (`connects`), and a checker behind its schedule started 128 a turn
    /// and took 64 (`worker::RESULTS_PER_TURN`), so that its queue of
    /// finished runs grew by 64 a turn for as long as it was behind.
    fn start_due(&mut self, now: Instant) -> (bool, Option<Instant>) {
        let room = STARTS_PER_TURN
            .saturating_sub(self.unpolled.load(Ordering::Relaxed))
            .saturating_sub(self.connects.waiting())
            .saturating_sub(self.turn_starts);
        let mut started = 0;
        let now_tick = tick(self.epoch, now);
        while let Some(&Reverse((at, i, seq))) = self.queue.peek() {
            if at > now_tick + self.slack(i) {
                return (false, Some(instant(self.epoch, at)));
            }
            if started == room {
                return (true, None);
            }
            self.queue.pop();
            self.start(i, seq, now, now_tick);
            self.turn_starts += 1;
            started += 1;
        }
        (false, None)
    }

    /// How early check `i` may start with others due now: a twentieth of
    /// its interval, at most [`COALESCE`]. Runs due within a few dozen
    /// milliseconds then share one wake-up of the worker: at 500 checks a
    /// second each had its own, and in the VM benchmark the checker spent
    /// half again keepalived's CPU per check (issue 18). A fiftieth, at
    /// most 20 ms, still woke it 50 times a second there; keepalived's
    /// runs start up to 250 ms apart from their schedule. A run's lateness
    /// is unchanged (it starts early, never late), and its next run is
    /// due an interval after its schedule, not after its early start.
    fn slack(&self, i: u32) -> Duration {
        match self.specs.get(i as usize) {
            Some(spec) => (spec.interval() / 20).min(COALESCE),
            None => Duration::ZERO,
        }
    }

    /// Starts check `i`'s run unless `seq` is stale (it started since);
    /// `now_tick` is `now` as a tick.
    fn start(&mut self, i: u32, seq: u32, now: Instant, now_tick: Tick) {
        let index = i as usize;
        let (Some(Some(slot)), true) = (self.slots.get_mut(index), index < self.specs.len()) else {
            return;
        };
        if slot.seq != seq {
            return;
        }
        slot.seq = slot.seq.wrapping_add(1);
        if let Some(w) = slot.wake.take() {
            w.abort();
        }
        let lateness = now_tick.since(slot.due);
        if let Some((addr, bind, timeout)) = self.specs.get(index).and_then(bare_connect) {
            let run = connects::Run {
                index,
                started: now,
                lateness,
            };
            if self.connects.start(run, addr, bind, timeout) {
                return;
            }
        }
        let specs = Arc::clone(&self.specs);
        let plugins = self.plugins.clone();
        let reported = slot.reported;
        let unpolled = Arc::clone(&self.unpolled);
        unpolled.fetch_add(1, Ordering::Relaxed);
        self.runs.push(Box::pin(async move {
            // The first poll runs this far at once.
            unpolled.fetch_sub(1, Ordering::Relaxed);
            drop(unpolled);
            // In range: checked above, and the block does not change.
            let spec = &specs[index];
            let probed = run_settled(spec, plugins.as_deref(), reported).await;
            Done {
                index,
                started: now,
                lateness,
                probed,
            }
        }));
    }

    /// Books a finished run: the check's next run queued (and its process
    /// wait started); the result.
    fn finish(&mut self, d: Done) -> Ran {
        let now = Instant::now();
        if let (Some(Some(slot)), Some(spec)) =
            (self.slots.get_mut(d.index), self.specs.get(d.index))
        {
            let ok = d.probed.outcome.ok;
            slot.reported = Some(ok);
            let soon = slot.retry.after(ok);
            let interval = match (soon, spec.retry_delay()) {
                (true, Some(delay)) => delay,
                _ => spec.interval(),
            };
            (slot.due, slot.next) = reschedule(slot.next, interval, tick(self.epoch, now));
            if let Ok(i) = u32::try_from(d.index) {
                self.queue.push(Reverse((slot.next, i, slot.seq)));
                // A tracked process that exits wakes the check at once.
                if let Some(pids) = process_pids(spec) {
                    let seq = slot.seq;
                    slot.wake = Some(self.wakes.spawn(async move {
                        super::procs::any_exit(&pids).await;
                        (i, seq)
                    }));
                }
            }
        }
        let Probed {
            outcome,
            metrics,
            weight,
            failed_probe,
        } = d.probed;
        Ran {
            index: d.index,
            outcome,
            metrics,
            latency: now.saturating_duration_since(d.started),
            weight,
            lateness: d.lateness,
            failed_probe,
            at: now,
        }
    }
}

/// A check that is one TCP connect and nothing else: where to, from and
/// for how long.
fn bare_connect(
    spec: &Spec,
) -> Option<(std::net::SocketAddr, Option<std::net::SocketAddr>, Duration)> {
    match &*spec.probes {
        [Probe::Tcp { addr, bind }] if spec.settle().is_none() => {
            Some((*addr, bind.as_deref().copied(), spec.timeout()))
        }
        _ => None,
    }
}

impl Done {
    /// A connect's run, as a run of the check's one probe.
    fn connected(run: connects::Run, outcome: Outcome) -> Self {
        let failed_probe = (!outcome.ok).then_some(0);
        Done {
            index: run.index,
            started: run.started,
            lateness: run.lateness,
            probed: Probed {
                outcome,
                metrics: Vec::new(),
                weight: 0,
                failed_probe,
            },
        }
    }
}

/// When `timer` fires (never without one).
async fn expiry(timer: &mut Option<Pin<Box<Sleep>>>) {
    match timer {
        Some(t) => t.as_mut().await,
        None => std::future::pending().await,
    }
}

/// One run, held for a tracked process's delay (keepalived's fork_delay /
/// terminate_delay): a change against the last result reported is run
/// again after the delay, and what holds then is reported.
async fn run_settled(spec: &Spec, plugins: Option<&dyn Host>, reported: Option<bool>) -> Probed {
    let probed = run_probes(spec, plugins).await;
    if let (Some(settle), Some(was)) = (spec.settle(), reported)
        && was != probed.outcome.ok
    {
        let wait = if probed.outcome.ok {
            settle.up
        } else {
            settle.down
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
            return run_probes(spec, plugins).await;
        }
    }
    probed
}

/// A stable spread of first runs over the interval, so that checks
/// configured together do not all run in the same instant.
pub(crate) fn jitter(source: Name<'_>, interval: Duration) -> Duration {
    let h = source.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let span = u64::try_from(interval.as_micros())
        .unwrap_or(u64::MAX)
        .max(1);
    Duration::from_micros(h % span)
}

/// One run of all of a check's probes (all must pass; the first failure
/// ends it), what a plugin measured, what FILE_CHECKs add to the server's
/// weight (keepalived adds each one's) and which probe failed.
pub(crate) async fn run_probes(spec: &Spec, plugins: Option<&dyn Host>) -> Probed {
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
                let run = host.run(pp, spec.timeout()).await;
                if run.dropped_logs > 0 {
                    warn!(check = %pp.name, dropped = run.dropped_logs, limit = plugin::LOG_LINES_PER_RUN, "plugin log lines dropped");
                }
                metrics = run.metrics;
                run.outcome
            }
            _ => probe::run(p, spec.timeout()).await,
        };
        if !outcome.ok {
            return Probed {
                outcome,
                metrics,
                weight,
                failed_probe: Some(i),
            };
        }
    }
    Probed {
        outcome,
        metrics,
        weight,
        failed_probe: None,
    }
}

/// keepalived's retries, as the schedule sees them: a failure while the
/// server is up (or presumed up) is retried after `delay_before_retry`
/// until `retry` retries have failed; then the server is down and checked
/// every `delay_loop`. One success makes it up again. (Mirrors
/// [`super::health::Health`] with fall = retry + 1, rise = 1.)
pub(crate) struct Retry {
    up: bool,
    failed: u32,
    retries: u32,
}

impl Retry {
    pub(crate) fn new(spec: &Spec) -> Self {
        Retry {
            up: spec.presume_up,
            failed: 0,
            retries: spec
                .retry_delay()
                .map_or(0, |_| spec.fall.saturating_sub(1)),
        }
    }

    /// After a run: whether the next comes after the retry delay.
    pub(crate) fn after(&mut self, ok: bool) -> bool {
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

/// `t` as a tick after `epoch` (the epoch itself if before it).
fn tick(epoch: Instant, t: Instant) -> Tick {
    Tick(u64::try_from(t.saturating_duration_since(epoch).as_micros()).unwrap_or(u64::MAX))
}

/// Saturates (a tick is at most 584,000 years after its epoch, but an
/// `Instant`'s addition panics where it would overflow).
fn instant(epoch: Instant, t: Tick) -> Instant {
    let far = Duration::from_secs(100 * 365 * 86_400);
    epoch
        .checked_add(Duration::from_micros(t.0).min(far))
        .unwrap_or(epoch)
}

/// After a run scheduled for `scheduled` whose result was handed over at
/// `now`: when the next run is due (one interval later: its lateness is
/// measured against this) and when it starts. On time, then. After an
/// overrun, not at once (no burst to catch up) but at the first time on
/// the check's own phase (its schedule plus whole intervals) at least half
/// an interval from now. Regression: lateness used to be measured against
/// the restarted schedule, so an overrun, and time spent waiting to hand a
/// result to a busy parent, never showed: a report said p99 = 28 µs while
/// checks ran 25 s apart (VM benchmark).
///
/// Regression: an overrun restarted the schedule one interval from `now`.
/// After a stall every check overran together, and the checker caught up
/// at its fastest pace: the checks' next runs were packed at that pace,
/// due together from then on, each round late by the time the pack took
/// (at 2,000 checks in the VM 25–160 ms at p99, a minute after a start-up
/// that had fallen 1.2 s behind). The phase keeps the spread their first
/// runs had ([`jitter`]).
fn reschedule(scheduled: Tick, interval: Duration, now: Tick) -> (Tick, Tick) {
    let due = scheduled + interval;
    if due >= now {
        return (due, due);
    }
    let step = u64::try_from(interval.as_micros())
        .unwrap_or(u64::MAX)
        .max(1);
    let behind = (now + interval / 2).0.saturating_sub(due.0);
    let next = Tick(
        due.0
            .saturating_add(behind.div_ceil(step).saturating_mul(step)),
    );
    (due, next)
}

/// For a process check: the pids it currently counts.
fn process_pids(spec: &Spec) -> Option<Vec<i32>> {
    spec.probes.iter().find_map(|p| match p {
        Probe::Process(p) => Some(super::procs::matching(
            &p.name,
            p.args.as_deref(),
            p.partial,
            p.initial,
        )),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` checks' names.
    fn names(n: usize) -> NameList {
        (0..n).map(|i| format!("check-{i}")).collect()
    }

    /// Issue 18: runs due within a twentieth of their interval (at most
    /// 50 ms) start with those due now, in one wake-up; a later one waits
    /// for the timer.
    #[test]
    fn runs_due_within_the_slack_start_together() {
        let cfg = crate::testutil::keepalived_config(
            "virtual_server 127.0.0.1 80 {\n delay_loop 1\n protocol TCP\n real_server 127.0.0.1 9 {\n  TCP_CHECK {\n  }\n }\n}\n",
        );
        let spec = crate::checker::spec::for_checker(&cfg)
            .into_iter()
            .next()
            .unwrap()
            .1;
        assert_eq!(spec.interval(), Duration::from_secs(1));
        crate::ipc::tests::rt().block_on(async {
            let mut s = Scheduler::default();
            let now = Instant::now();
            s.load(vec![spec; 4].into(), &names(4), None, now);
            s.queue.clear();
            let ms = Duration::from_millis;
            for (i, at) in [
                (0, now),
                (1, now + ms(32)),
                (2, now + ms(50)),
                (3, now + ms(51)),
            ] {
                s.queue.push(Reverse((tick(s.epoch, at), i, 0)));
            }
            assert_eq!(s.start_due(now), (false, Some(now + ms(51))));
            assert_eq!((s.queued(), s.started()), (1, 3));
            assert_eq!(
                s.start_due(now),
                (false, Some(now + ms(51))),
                "still waiting"
            );
            assert_eq!(
                s.start_due(now + ms(1)),
                (false, None),
                "within its slack now"
            );
            assert_eq!((s.queued(), s.started()), (0, 4));
        });
    }

    /// Regression (issue 18): the worker takes up to 64 results a turn,
    /// each through [`Scheduler::next`]. Every call started another slice
    /// of due runs although the runs before had not been polled (a run's
    /// first poll is its connect), and they piled up until one poll of the
    /// runs made thousands of connects while the worker answered nobody.
    /// Runs waiting for their first poll now stay within one slice, and
    /// every due run still starts.
    #[test]
    fn a_burst_of_due_runs_starts_a_slice_at_a_time_however_often_asked() {
        let cfg = crate::testutil::keepalived_config(
            "virtual_server 127.0.0.1 80 {\n delay_loop 60\n protocol TCP\n real_server 127.0.0.1 9 {\n  TCP_CHECK {\n  }\n }\n}\n",
        );
        let mut spec = crate::checker::spec::for_checker(&cfg)
            .into_iter()
            .next()
            .unwrap()
            .1;
        // No probe: a run ends at its first poll, as a connect that fails at once.
        spec.probes = Vec::new().into();
        let in_flight = |s: &Scheduler| {
            assert!(
                s.runs.len() <= STARTS_PER_TURN,
                "{} runs in flight",
                s.runs.len()
            );
        };
        burst_of(spec, |s, _| in_flight(s), |s, _| in_flight(s));
    }

    /// `n` copies of `spec` loaded, all due now.
    fn all_due(spec: Spec, n: usize) -> Scheduler {
        let mut s = Scheduler::default();
        let now = Instant::now();
        s.load(vec![spec; n].into(), &names(n), None, now);
        s.queue = (0..n as u32)
            .map(|i| Reverse((tick(s.epoch, now), i, 0)))
            .collect();
        s
    }

    /// 1,000 copies of `spec`, all due now (as at the end of a warm-up on
    /// a starved machine): one turn of the worker (a result, then up to 63
    /// more at hand), `in_turn` after each call with the results taken so
    /// far; then every check's result (bounded: each call takes one), each
    /// given to `each`.
    fn burst_of(spec: Spec, in_turn: impl Fn(&Scheduler, usize), each: impl Fn(&Scheduler, &Ran)) {
        const CHECKS: usize = 1000;
        crate::ipc::tests::rt().block_on(async {
            let mut s = all_due(spec, CHECKS);
            let mut seen = std::collections::BTreeSet::new();
            for _ in 0..64 {
                if let Some(r) = futures::FutureExt::now_or_never(s.next()) {
                    each(&s, &r);
                    seen.insert(r.index);
                }
                in_turn(&s, seen.len());
            }
            for _ in 0..CHECKS * 4 {
                if seen.len() == CHECKS {
                    break;
                }
                let r = tokio::time::timeout(Duration::from_secs(5), s.next())
                    .await
                    .expect("a result");
                each(&s, &r);
                seen.insert(r.index);
            }
            assert_eq!(seen.len(), CHECKS);
            assert_eq!(s.started(), 0);
        });
    }

    /// A TCP_CHECK (every 60 s) of a local port nothing listens on, and
    /// that address.
    fn connect_to_a_closed_port() -> (std::net::SocketAddr, Spec) {
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let cfg = crate::testutil::keepalived_config(&format!(
            "virtual_server 127.0.0.1 80 {{\n delay_loop 60\n protocol TCP\n real_server 127.0.0.1 {} {{\n  TCP_CHECK {{\n  }}\n }}\n}}\n",
            closed.port()
        ));
        (
            closed,
            crate::checker::spec::for_checker(&cfg)
                .into_iter()
                .next()
                .unwrap()
                .1,
        )
    }

    /// Issue 18: a check that is one TCP connect runs without a future,
    /// its connect made when it starts. A burst of them is started at
    /// most 128 per turn of the worker, however often it asks for a
    /// result in that turn, and every one runs and reports the probe's
    /// result.
    #[test]
    fn a_burst_of_bare_connects_starts_a_slice_per_turn_and_all_run() {
        let (closed, spec) = connect_to_a_closed_port();
        assert!(bare_connect(&spec).is_some());
        let prefix = format!("connect {closed}: ");
        burst_of(
            spec,
            |s, taken| {
                assert!(s.runs.is_empty(), "no future per run");
                assert!(
                    taken + s.started() <= STARTS_PER_TURN,
                    "{} started in one poll",
                    taken + s.started()
                );
            },
            |_, r| {
                assert!(!r.outcome.ok);
                assert_eq!(r.failed_probe, Some(0));
                assert!(
                    r.outcome.message.starts_with(&prefix),
                    "{}",
                    r.outcome.message
                );
            },
        );
    }

    /// Issue 18: runs that end at their start (a local connect asked at
    /// once: refused here) wait to be taken at most a turn's starts: a
    /// turn starts only as many as results do not already wait. Regression:
    /// a worker behind its schedule started 128 a turn and took 64, and the
    /// queue of finished runs grew by 64 a turn.
    #[test]
    fn starts_wait_for_the_results_not_yet_taken() {
        crate::testutil::private_netns();
        const CHECKS: usize = 1000;
        let (_, spec) = connect_to_a_closed_port();
        crate::ipc::tests::rt().block_on(async {
            let mut s = all_due(spec, CHECKS);
            let (mut seen, mut most) = (0, 0);
            // A turn as the worker takes it: a result, then up to 63 more
            // already in.
            for _ in 0..CHECKS {
                if seen == CHECKS {
                    break;
                }
                s.new_turn();
                let r = tokio::time::timeout(Duration::from_secs(5), s.next())
                    .await
                    .expect("a result");
                assert!(!r.outcome.ok);
                let mut taken = 1;
                most = most.max(s.connects.waiting() + 1);
                while taken < 64 && s.ready().is_some() {
                    taken += 1;
                }
                seen += taken;
            }
            assert_eq!(seen, CHECKS);
            assert!(most <= STARTS_PER_TURN, "{most} finished runs waited");
        });
    }

    /// Issue 18: results already taken from the connects' set are handed
    /// over without a poll of [`Scheduler::next`]; every run's result comes
    /// once, whichever way it is taken.
    #[test]
    fn results_in_already_are_taken_without_a_poll_each_once() {
        const CHECKS: usize = 200;
        let (_, spec) = connect_to_a_closed_port();
        crate::ipc::tests::rt().block_on(async {
            let mut s = all_due(spec, CHECKS);
            assert!(s.ready().is_none(), "nothing started");
            let (mut taken, mut without_poll) = (Vec::new(), 0);
            for _ in 0..CHECKS * 4 {
                if taken.len() == CHECKS {
                    break;
                }
                let r = match s.ready() {
                    Some(r) => {
                        without_poll += 1;
                        r
                    }
                    None => tokio::time::timeout(Duration::from_secs(5), s.next())
                        .await
                        .expect("a result"),
                };
                assert!(!r.outcome.ok, "{}", r.outcome.message);
                taken.push(r.index);
            }
            taken.sort_unstable();
            assert_eq!(taken, (0..CHECKS).collect::<Vec<_>>());
            assert!(without_poll > 0, "every result took a poll");
            assert!(s.ready().is_none());
        });
    }

    /// A check's times as ticks: exact to the microsecond, ordered as the
    /// instants, and saturating rather than overflowing.
    #[test]
    fn ticks_keep_times_to_the_microsecond() {
        let epoch = Instant::now();
        let later = epoch + Duration::from_nanos(1_234_567_891);
        let t = tick(epoch, later);
        assert_eq!(t, Tick(1_234_567));
        assert_eq!(instant(epoch, t), epoch + Duration::from_micros(1_234_567));
        assert!(tick(epoch, later + Duration::from_micros(1)) > t);
        assert_eq!(tick(later, epoch), Tick(0), "before the epoch: the epoch");
        let _ = instant(epoch, Tick(u64::MAX));
        assert_eq!(t.since(Tick(1_000_000)), Duration::from_micros(234_567));
        assert_eq!(Tick(5).since(t), Duration::ZERO, "not after: zero");
        assert_eq!(t + Duration::from_micros(433), Tick(1_235_000));
        assert_eq!(
            Tick(u64::MAX - 1) + Duration::from_secs(1),
            Tick(u64::MAX),
            "saturates"
        );
        assert!(
            std::mem::size_of::<Slot>() <= 48,
            "{}",
            std::mem::size_of::<Slot>()
        );
    }

    #[test]
    fn lateness_counts_overruns_without_bursts() {
        let s = |n: u64| Tick(n * 1_000_000);
        let ms = |n: u64| Tick(n * 1_000);
        let sec = Duration::from_secs(1);
        // On time: the schedule holds (no drift from the run's length).
        assert_eq!(reschedule(s(0), sec, ms(300)), (s(1), s(1)));
        assert_eq!(reschedule(s(0), sec, s(1)), (s(1), s(1)));
        // A run (or the wait to hand its result over) ended 1.5 s past the
        // next run's time: the next starts on the check's phase at least
        // half an interval later (3 s), 2 s late against the schedule, and
        // that is its lateness.
        let (due, next) = reschedule(s(0), sec, ms(2_500));
        assert_eq!((due, next), (s(1), s(3)));
        assert_eq!(next.since(due), Duration::from_secs(2));
        // Just past a phase: not at once, the one after.
        assert_eq!(reschedule(s(0), sec, ms(2_600)), (s(1), s(4)));
        assert_eq!(reschedule(s(0), sec, ms(1_001)), (s(1), s(2)));
        // A check that always takes 1.5 s of a 1 s interval: every other
        // phase, late by 1 s at every run, not growing.
        let mut scheduled = s(0);
        for _ in 0..5 {
            let (due, next) = reschedule(scheduled, sec, scheduled + Duration::from_millis(1500));
            assert_eq!(next.since(scheduled), Duration::from_secs(2));
            assert_eq!(next.since(due), sec);
            scheduled = next;
        }
        // Far behind, or a zero interval: no overflow, no division by zero.
        let (_, next) = reschedule(s(0), sec, Tick(u64::MAX - 5));
        assert_eq!(next, Tick(u64::MAX));
        let (_, next) = reschedule(s(0), Duration::ZERO, s(7));
        assert_eq!(next, s(7));
    }

    /// Regression: after a stall, 2,000 checks a second all overran and
    /// were booked as the checker caught up, 50 ms for all; their next
    /// runs were one interval from there, packed in 50 ms from then on.
    /// They go back to the spread their first runs had.
    #[test]
    fn an_overrun_keeps_the_checks_spread() {
        let interval = Duration::from_secs(1);
        let n = 2_000u64;
        let first: Vec<Tick> = names(n as usize)
            .iter()
            .map(|name| Tick(jitter(name, interval).as_micros() as u64))
            .collect();
        // The second runs (due in [1 s, 2 s)) all start and are booked
        // between 2.3 s and 2.35 s.
        let catch_up = |k: usize| Tick(2_300_000 + k as u64 * 50_000 / n);
        let mut buckets = std::collections::BTreeMap::<u64, usize>::new();
        for (k, at) in first.iter().enumerate() {
            let (due, _) = reschedule(*at, interval, *at + Duration::from_millis(10));
            let (due, next) = reschedule(due, interval, catch_up(k));
            assert_eq!(next.0 % 1_000_000, at.0, "on the check's phase");
            if due < catch_up(k) {
                assert!(next >= catch_up(k) + interval / 2, "an overrun waits");
            } else {
                assert_eq!(next, due, "on time: as scheduled");
            }
            *buckets.entry(next.0 / 50_000).or_default() += 1;
        }
        // Twenty 50 ms slices of a second: about 100 a slice, as the
        // first runs were (all 2,000 in one before the fix).
        let most = buckets.values().max().copied().unwrap_or(0);
        assert!(most < 200, "{most} of {n} due in one 50 ms slice");
    }
}
