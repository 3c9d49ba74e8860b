//! Publishing the parent's picture: `status.json` in the runtime directory,
//! the metrics worker's rendering, and systemd's one-line STATUS=.
//! Paced: a document with thousands of checks costs milliseconds to build,
//! so it is rebuilt at most every [`PUBLISH_EVERY`] (and less often when it
//! is slow to build). `upkeepctl status` builds its own, always fresh.

use std::path::Path;
use std::time::{Duration, Instant};

use tracing::warn;

use super::record::Record;
use crate::control::status::{ReloadStatus, StatusView};
use crate::ipc::Msg;

/// How often the status (status.json, metrics, STATUS=) is refreshed at most.
pub const PUBLISH_EVERY: Duration = Duration::from_millis(200);
/// A publication that took this long waits this many times as long before
/// the next (see [`publish_gap`]).
const PUBLISH_PAUSE: u32 = 4;
/// The same for a refresh of counters alone (a batch of check results that
/// changed no verdict, the VRRP worker's once-a-second report): at 10,000
/// checks serialising status.json five times a second was 40% of the
/// parent's time (perf, issue 18), and at 50 times its cost still half of
/// it. Counters now refresh every 2–3 s there (at most 0.5% of the time),
/// every [`COUNTERS_EVERY`] for a small configuration; a state change as
/// before.
const COUNTERS_PAUSE: u32 = 200;
/// How often counters alone are refreshed at most: run counts and
/// latencies read a second late tell an operator as much, and at 500
/// checks refreshing them every 200 ms was a quarter of the parent's
/// instructions (callgrind, issue 18). The metrics worker is sent a
/// rendering at most this often too ([`METRICS_EVERY`]).
const COUNTERS_EVERY: Duration = Duration::from_secs(1);
/// Counters alone wait this long after the first of them came in: the
/// checker sends its counters in messages of 256 checks, one a turn of its
/// loop, and each message found the pace passed and made a publication of
/// its own (at 500 checks two writes of status.json every 5 s, at 2,000
/// up to eight, where one covers them all; issue 18). Shorter than a
/// second, so a counter is still at most two seconds old.
const COUNTERS_SETTLE: Duration = Duration::from_millis(300);

/// How often the metrics worker gets a new rendering at most (scrapers ask
/// every 15 s or so; rendering thousands of checks costs milliseconds).
pub const METRICS_EVERY: Duration = Duration::from_secs(1);

/// The metrics listener the parent bound, and the pace of what the metrics
/// worker is sent.
#[derive(Debug)]
pub struct Metrics {
    pub listener: std::net::TcpListener,
    /// The status changed since the worker's rendering.
    stale: bool,
    sent_at: Option<Instant>,
}

impl Metrics {
    pub fn new(listener: std::net::TcpListener) -> Self {
        Self {
            listener,
            stale: true,
            sent_at: None,
        }
    }

    /// The status changed.
    pub fn changed(&mut self) {
        self.stale = true;
    }

    /// A new metrics worker: it has nothing yet.
    pub fn restarted(&mut self) {
        self.stale = true;
        self.sent_at = None;
    }

    /// A rendering waits for the pace.
    pub fn pending(&self) -> bool {
        self.stale
    }

    /// Whether to render and send now.
    pub fn due(&self, now: Instant) -> bool {
        self.stale
            && self
                .sent_at
                .is_none_or(|t| now.duration_since(t) >= METRICS_EVERY)
    }

    pub fn sent(&mut self, now: Instant) {
        self.stale = false;
        self.sent_at = Some(now);
    }
}

/// When to publish.
#[derive(Debug)]
pub struct Publisher {
    /// Something changed since the last publication.
    dirty: bool,
    /// When counters (check runs, latencies) first changed since then.
    counters: Option<Instant>,
    published_at: Instant,
    gap: Duration,
    counters_gap: Duration,
    /// The last STATUS= sent to systemd.
    pub last_status_line: String,
}

impl Default for Publisher {
    fn default() -> Self {
        Self {
            dirty: true,
            counters: None,
            published_at: Instant::now(),
            gap: PUBLISH_EVERY,
            counters_gap: PUBLISH_EVERY,
            last_status_line: String::new(),
        }
    }
}

impl Publisher {
    /// Something status shows changed.
    pub fn touch(&mut self) {
        self.dirty = true;
    }

    /// A worker's message: only those that change what status shows make
    /// the status pending (and only publishing clears it: a heartbeat right
    /// after a status must not make that status wait for the next change).
    pub fn heard(&mut self, msg: &Msg) {
        match msg {
            // The parent touches the status when a result changes a
            // verdict (Record::take_verdict_changes).
            Msg::Checks { .. } | Msg::VrrpStatus { counters: true, .. } => {
                self.counters.get_or_insert_with(Instant::now);
            }
            m => self.dirty |= changes_status(m),
        }
    }

    /// Something waits to be published.
    pub fn pending(&self) -> bool {
        self.dirty || self.counters.is_some()
    }

    /// Whether a publication is due (`force`: now, if anything changed).
    pub fn due(&self, force: bool) -> bool {
        let since = self.published_at.elapsed();
        (self.dirty && (force || since >= self.gap))
            || self.counters.is_some_and(|first| {
                since >= self.counters_gap && first.elapsed() >= COUNTERS_SETTLE
            })
    }

    /// A publication (begun at `started`) is done: the pauses before the
    /// next are measured from now, scaled by what it cost.
    pub fn published(&mut self, started: Instant) {
        self.dirty = false;
        self.counters = None;
        self.published_at = Instant::now();
        let cost = self.published_at.duration_since(started);
        self.gap = publish_gap(cost);
        self.counters_gap = COUNTERS_EVERY.max(cost.saturating_mul(COUNTERS_PAUSE));
    }
}

/// systemd's one-line STATUS=: the summary, and the last reload's failure
/// while it is the latest word.
pub fn status_line(record: &Record, reload: Option<&ReloadStatus>) -> String {
    let mut line = record.summary();
    if let Some(ReloadStatus {
        ok: false,
        error: Some(e),
        ..
    }) = reload
    {
        line.push_str(&format!("; reload failed: {e}"));
    }
    line
}

/// The pause after a publication that took `cost`: [`PUBLISH_EVERY`], or
/// longer when publishing is slow, so that it takes at most a fifth of the
/// parent's time. Regression: with thousands of checks on a starved CPU a
/// publication took longer than the pause (measured from its start): the
/// loop published after every message and fell ever further behind.
fn publish_gap(cost: Duration) -> Duration {
    PUBLISH_EVERY.max(cost.saturating_mul(PUBLISH_PAUSE))
}

/// Whether a worker's message changes what status shows (heartbeats do not).
fn changes_status(msg: &Msg) -> bool {
    !matches!(msg, Msg::Pong { .. })
}

/// `status.json` in the runtime directory: the same document as
/// `upkeepctl status --json`, for scripts that prefer a file. Mode 0600,
/// as the control socket that serves the same document. Serialised straight
/// into the file: at 10,000 checks the document is 4.5 MiB, which was
/// built whole in memory before (issue 18: the parent's anonymous memory
/// rose by that much at every publication). A status that cannot be
/// written leaves the last one in place.
pub fn write_status(runtime_dir: &Path, view: &StatusView<'_>) {
    let written = super::files::replace_with(runtime_dir, "status.json", 0o600, |w| {
        serde_json::to_writer_pretty(w, view).map_err(std::io::Error::other)
    });
    if let Err(e) = written {
        warn!(error = %e, "cannot write status.json");
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
        let mut p = Publisher::default();
        p.published(Instant::now());
        assert!(!p.due(true));
        p.heard(&Msg::VrrpStatus {
            instances: Vec::new(),
            unmatched_drops: Default::default(),
            counters: false,
        });
        p.heard(&Msg::Pong { seq: 1 });
        assert!(p.due(true));
        let mut q = Publisher::default();
        q.published(Instant::now());
        q.heard(&Msg::Pong { seq: 2 });
        assert!(!q.due(true));
    }

    /// Issue 18: after a publication that took 20 ms, check counters and
    /// the VRRP worker's report of counters wait 4 s (COUNTERS_PAUSE), a
    /// change (also a VRRP status that is not counters alone) waits the
    /// usual 200 ms.
    #[test]
    fn counters_alone_are_published_less_often_than_changes() {
        let vrrp = |counters| Msg::VrrpStatus {
            instances: Vec::new(),
            unmatched_drops: Default::default(),
            counters,
        };
        let twenty_ms_ago = Instant::now() - Duration::from_millis(20);
        let mut p = Publisher::default();
        p.published(twenty_ms_ago);
        assert!(
            p.counters_gap >= Duration::from_secs(4),
            "{:?}",
            p.counters_gap
        );
        p.heard(&Msg::Checks { checks: Vec::new() });
        p.heard(&vrrp(true));
        assert!(!p.due(false));
        std::thread::sleep(Duration::from_millis(250));
        assert!(!p.due(false), "counters wait longer");
        p.heard(&vrrp(false));
        assert!(p.due(false), "a change does not");
        p.published(Instant::now());
        assert!(!p.due(true), "published: nothing pending");
        p.touch();
        assert!(p.due(true), "nor does the parent's own");
    }

    /// Issue 18: however cheap a publication, counters alone wait a
    /// second (a change 200 ms).
    #[test]
    fn cheap_counters_wait_a_second() {
        let mut p = Publisher::default();
        p.published(Instant::now());
        assert_eq!(p.counters_gap, COUNTERS_EVERY);
        assert_eq!(p.gap, PUBLISH_EVERY);
        p.heard(&Msg::Checks { checks: Vec::new() });
        p.counters = p.counters.map(|t| t - COUNTERS_SETTLE);
        p.published_at -= PUBLISH_EVERY;
        assert!(!p.due(false), "counters after 200 ms");
        p.published_at -= COUNTERS_EVERY;
        assert!(p.due(false), "counters after 1.2 s");
    }

    /// Issue 18: the checker's messages of one flush of counters make one
    /// publication, not one each. Regression: the first message found the
    /// second's pace passed and was published at once, the next a second
    /// later (two writes of status.json every 5 s at 500 checks).
    #[test]
    fn the_messages_of_one_flush_wait_for_each_other() {
        let mut p = Publisher::default();
        p.published(Instant::now());
        p.published_at -= Duration::from_secs(5);
        p.heard(&Msg::Checks { checks: Vec::new() });
        assert!(!p.due(false), "the first message waits for the rest");
        let first = p.counters;
        p.heard(&Msg::Checks { checks: Vec::new() });
        assert_eq!(p.counters, first, "a later message does not put it off");
        p.counters = p.counters.map(|t| t - COUNTERS_SETTLE);
        assert!(p.due(false), "then one publication takes them all");
        p.published(Instant::now());
        assert!(!p.pending());
        // A change is not held back by counters settling.
        p.published_at -= Duration::from_secs(5);
        p.heard(&Msg::Checks { checks: Vec::new() });
        p.touch();
        assert!(p.due(false));
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
    fn a_failed_reload_is_named_in_the_status_line() {
        let r = Record::default();
        assert_eq!(status_line(&r, None), "no instances");
        let failed = ReloadStatus {
            ok: false,
            at_ms: 1,
            error: Some("invalid configuration: x".into()),
        };
        assert_eq!(
            status_line(&r, Some(&failed)),
            "no instances; reload failed: invalid configuration: x"
        );
    }
}
