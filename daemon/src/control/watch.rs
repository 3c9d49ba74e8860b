//! `upkeepctl watch`: a live view of what the daemon does. The parent
//! publishes each event (transitions, check changes, reloads, addresses put
//! back or taken away, worker exits, real servers up/down) on a bounded
//! broadcast channel; each watcher connection has its own receiver and
//! writes JSON lines to its client.
//!
//! Bounds: the channel keeps at most [`CAPACITY`] events whatever the
//! watchers do (publishing never waits); a watcher that falls behind is told
//! how many it missed (a `lagged` line) and goes on from the oldest kept;
//! one whose client stops reading for [`WRITE_TIMEOUT`] is disconnected; at
//! most [`MAX_WATCHERS`] watch at once (more are refused).

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast};

use crate::checker::health::Verdict;
use crate::vrrp::fsm::State;

/// Events kept for watchers that are behind.
pub const CAPACITY: usize = 1024;
/// Watchers at once.
pub const MAX_WATCHERS: usize = 16;
/// A watcher whose client does not take a line in this long is dropped.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// One event as the watchers see it: when, and what.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Wall-clock time, milliseconds since the epoch.
    pub at_ms: u64,
    #[serde(flatten)]
    pub kind: Kind,
}

/// What happened. `event` names the kind in JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Kind {
    /// A VRRP instance changed state.
    Transition {
        instance: String,
        from: State,
        to: State,
        cause: String,
        priority: u8,
    },
    /// A check's verdict changed (after fall/rise).
    Check {
        source: String,
        state: Verdict,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<i64>,
    },
    /// A reload began, for `generation`.
    ReloadStarted { generation: u64 },
    /// A reload ended; `generation` is the one now running.
    ReloadFinished {
        generation: u64,
        ok: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The VRRP worker put back addresses someone removed from a Master
    /// (`restored`) or took away addresses found on a non-Master (`removed`).
    Addresses {
        instance: String,
        restored: u64,
        removed: u64,
    },
    /// A worker exited; `then` says what follows (`restarting`, `stopped`,
    /// `configuration error`).
    Worker {
        role: String,
        how: String,
        then: String,
    },
    /// A real server's health changed.
    RealServer {
        virtual_server: String,
        real_server: String,
        up: bool,
    },
    /// The daemon is stopping (the stream ends soon).
    Stopping,
    /// This watcher missed `missed` events (it read too slowly).
    Lagged { missed: u64 },
}

impl Kind {
    /// The instance an event is about, for `--instance`.
    pub fn instance(&self) -> Option<&str> {
        match self {
            Kind::Transition { instance, .. } | Kind::Addresses { instance, .. } => Some(instance),
            _ => None,
        }
    }
}

impl Event {
    pub fn now(kind: Kind) -> Self {
        Self {
            at_ms: now_ms(),
            kind,
        }
    }

    /// One line for people: `2026-12-02T13:40:01.123Z VI_1 BACKUP -> MASTER (master down) prio 100`.
    pub fn human(&self) -> String {
        let what = match &self.kind {
            Kind::Transition {
                instance,
                from,
                to,
                cause,
                priority,
            } => format!("{instance} {from} -> {to} ({cause}) prio {priority}"),
            Kind::Check {
                source,
                state,
                value,
            } => match value {
                Some(v) => format!("check {source} {} value {v}", verdict_word(*state)),
                None => format!("check {source} {}", verdict_word(*state)),
            },
            Kind::ReloadStarted { generation } => {
                format!("reload of generation {generation} started")
            }
            Kind::ReloadFinished {
                generation,
                ok: true,
                ..
            } => format!("reload done: generation {generation} running"),
            Kind::ReloadFinished {
                generation, error, ..
            } => format!(
                "reload failed ({}); generation {generation} still running",
                error.as_deref().unwrap_or("no reason given")
            ),
            Kind::Addresses {
                instance,
                restored,
                removed,
            } => {
                let mut parts = Vec::new();
                if *restored > 0 {
                    parts.push(format!("{restored} removed by someone else put back"));
                }
                if *removed > 0 {
                    parts.push(format!("{removed} found while not Master taken away"));
                }
                format!("{instance} addresses: {}", parts.join(", "))
            }
            Kind::Worker { role, how, then } => format!("{role} worker exited ({how}): {then}"),
            Kind::RealServer {
                virtual_server,
                real_server,
                up,
            } => format!(
                "real server {real_server} of {virtual_server} {}",
                if *up { "up" } else { "down" }
            ),
            Kind::Stopping => "daemon stopping".to_string(),
            Kind::Lagged { missed } => format!("lagged: {missed} events missed"),
        };
        format!("{} {what}", utc(self.at_ms))
    }
}

/// Wall-clock time, milliseconds since the epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Up => "up",
        Verdict::Down => "down",
        Verdict::Unknown => "unknown",
    }
}

/// `2026-12-02T13:40:01.123Z` for milliseconds since the epoch.
pub fn utc(at_ms: u64) -> String {
    let secs = at_ms / 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let rest = secs % 86_400;
    // Howard Hinnant's civil_from_days (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60,
        at_ms % 1000
    )
}

/// The parent's side: where events are published, and the watcher slots.
#[derive(Clone, Debug)]
pub struct Hub {
    /// Made when the first watcher comes: the channel's ring of
    /// [`CAPACITY`] slots is 100 KiB of the parent's heap that a daemon
    /// nobody watches never needs (issue 18, memory). Shared by clones;
    /// dropping the last clone closes the watchers' streams.
    tx: Arc<OnceLock<broadcast::Sender<Event>>>,
    capacity: usize,
    slots: Arc<Semaphore>,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new(CAPACITY, MAX_WATCHERS)
    }
}

/// Refused: every watcher slot is taken.
#[derive(Debug, thiserror::Error)]
#[error("too many watchers ({0} at once); try again later")]
pub struct Full(pub usize);

/// A watcher's receiver and its slot (given back when dropped).
pub struct Watcher {
    rx: broadcast::Receiver<Event>,
    _slot: OwnedSemaphorePermit,
}

impl Hub {
    pub fn new(capacity: usize, watchers: usize) -> Self {
        Self {
            tx: Arc::new(OnceLock::new()),
            capacity: capacity.max(1),
            slots: Arc::new(Semaphore::new(watchers)),
        }
    }

    /// The channel, if anyone watches now.
    fn watching(&self) -> Option<&broadcast::Sender<Event>> {
        self.tx.get().filter(|tx| tx.receiver_count() > 0)
    }

    /// Whether anyone watches now.
    pub fn watched(&self) -> bool {
        self.watching().is_some()
    }

    /// Publishes an event; never waits (nobody watching: it is dropped).
    pub fn publish(&self, kind: Kind) {
        if let Some(tx) = self.watching() {
            let _ = tx.send(Event::now(kind));
        }
    }

    /// A new watcher, from now on; refused when all slots are taken.
    pub fn watch(&self) -> Result<Watcher, Full> {
        let slot = Arc::clone(&self.slots)
            .try_acquire_owned()
            .map_err(|_| Full(MAX_WATCHERS))?;
        let tx = self.tx.get_or_init(|| broadcast::channel(self.capacity).0);
        Ok(Watcher {
            rx: tx.subscribe(),
            _slot: slot,
        })
    }

    /// Events held for watchers now (at most the capacity).
    pub fn queued(&self) -> usize {
        self.tx.get().map_or(0, broadcast::Sender::len)
    }
}

impl Watcher {
    /// The next event, or a `lagged` event for those missed; None once the
    /// daemon closed the channel.
    pub async fn next(&mut self) -> Option<Event> {
        match self.rx.recv().await {
            Ok(e) => Some(e),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                Some(Event::now(Kind::Lagged { missed }))
            }
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }

    /// Writes events as JSON lines until the daemon stops or the client
    /// goes away (or stops reading for [`WRITE_TIMEOUT`]). The client has
    /// nothing more to say: reading only notices that it left (its slot is
    /// free at once, not at the next event).
    pub async fn stream(self, read: OwnedReadHalf, write: OwnedWriteHalf) {
        self.stream_within(read, write, WRITE_TIMEOUT).await
    }

    async fn stream_within(
        mut self,
        mut read: OwnedReadHalf,
        mut write: OwnedWriteHalf,
        limit: Duration,
    ) {
        let mut sink = [0u8; 256];
        loop {
            let e = tokio::select! {
                e = self.next() => e,
                n = read.read(&mut sink) => match n {
                    Ok(0) | Err(_) => return,
                    Ok(_) => continue,
                },
            };
            let Some(e) = e else { return };
            let Ok(mut line) = serde_json::to_vec(&e) else {
                continue;
            };
            line.push(b'\n');
            match tokio::time::timeout(limit, write.write_all(&line)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return,
                Err(_) => {
                    tracing::warn!("watcher not reading; disconnected");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "watch_tests.rs"]
mod tests;
