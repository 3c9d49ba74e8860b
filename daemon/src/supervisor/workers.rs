//! The parent's view of its workers: one slot per role, holding the running
//! incarnation (pid, connection, heartbeat), its restart backoff and what
//! it last said. Starting, sending, exits and heartbeats live here; what a
//! worker is told (Start, Reload, ...) is decided by the parent.
//!
//! Sending never blocks the parent's loop: each incarnation has a queue
//! drained by its own writer task. A worker that stops reading (its queue
//! fills, or one message takes longer than [`SEND_TIMEOUT`] to go out) is
//! killed and restarted, so a stuck checker cannot stall VRRP traffic.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tracing::{info, warn};

use super::heartbeat::{Beat, Heartbeat};
use super::spawn::{self, Backoff, EXIT_CONFIG, Heard, WorkerEvent};
use crate::control::status::{WorkerState, WorkerStatus};
use crate::ipc::msg::Role;
use crate::ipc::{Channel, Msg};

/// One message taking longer than this to go out means the worker is stuck.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(2);
/// Messages queued for one worker at most; more means it is not reading.
pub const QUEUE_LIMIT: usize = 16_384;
/// Messages read from one worker and not yet handled by the parent's loop.
/// Beyond it the worker's reader waits and the socket fills: a worker
/// sending faster than the parent handles is slowed down, not buffered
/// without bound, and the others (VRRP first) are still heard.
pub const INBOX_LIMIT: usize = 256;
/// The checker's inbox: each of its messages holds up to 256 decoded
/// results (about 80 KiB). With room for [`INBOX_LIMIT`], all of a
/// second's results at 10,000 checks (40 messages) could be read ahead of
/// the loop into the parent's heap (issue 18). Beyond these few the
/// results wait in the socket, outside the heap.
pub const CHECKER_INBOX_LIMIT: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Starting,
    Running,
    /// Waiting for the restart time.
    Restarting(Instant),
    Stopped,
}

/// One role's worker.
pub struct WorkerSlot {
    pub role: Role,
    pub incarnation: u64,
    pub pid: Option<u32>,
    channel: Option<Arc<Channel>>,
    queue: Option<mpsc::Sender<Msg>>,
    pub phase: Phase,
    started_at: Instant,
    /// The configuration generation this incarnation reported Ready for.
    pub ready: u64,
    /// The generation last sent to this incarnation to catch up (so that
    /// a repeated stale Ready does not resend the configuration).
    caught_up_to: u64,
    restarts: u64,
    /// Protocol violations (each one resets the worker).
    violations: u64,
    backoff: Backoff,
    heartbeat: Heartbeat,
    /// When its reader last took a message off its socket.
    heard: Option<Arc<Heard>>,
    down_since: Option<Instant>,
    last_exit: Option<String>,
    /// Needed by the current configuration.
    pub wanted: bool,
}

/// What to do after a worker exited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterExit {
    /// From an incarnation already replaced: nothing.
    Stale,
    /// It was meant to stop.
    Stopped,
    /// It cannot run the configuration: the daemon stops.
    ConfigError,
    /// Restart it now (start it again at once).
    RestartNow,
    /// Restart it later (the next tick after the time).
    RestartLater,
}

/// The workers of one parent.
pub struct Workers {
    slots: BTreeMap<Role, WorkerSlot>,
    /// Per role: where its reader hands what it read to the parent's loop.
    events: BTreeMap<Role, mpsc::Sender<WorkerEvent>>,
    backoff: Backoff,
    incarnations: u64,
    ping_seq: u64,
    /// The last tick (heartbeats count the time between ticks).
    ticked_at: Instant,
}

impl Workers {
    pub fn new(events: BTreeMap<Role, mpsc::Sender<WorkerEvent>>, backoff: Backoff) -> Self {
        Self {
            slots: BTreeMap::new(),
            events,
            backoff,
            incarnations: 0,
            ping_seq: 0,
            ticked_at: Instant::now(),
        }
    }

    pub fn get(&self, role: Role) -> Option<&WorkerSlot> {
        self.slots.get(&role)
    }

    /// How `role`'s last incarnation ended, when one did.
    pub fn last_exit(&self, role: Role) -> Option<&str> {
        self.slots.get(&role)?.last_exit.as_deref()
    }

    pub fn get_mut(&mut self, role: Role) -> Option<&mut WorkerSlot> {
        self.slots.get_mut(&role)
    }

    pub fn roles(&self) -> Vec<Role> {
        self.slots.keys().copied().collect()
    }

    /// Whether `role` has a live connection.
    pub fn connected(&self, role: Role) -> bool {
        self.slots.get(&role).is_some_and(|s| s.queue.is_some())
    }

    /// Whether `role` runs or is about to (not stopped).
    pub fn present(&self, role: Role) -> bool {
        self.slots
            .get(&role)
            .is_some_and(|s| s.phase != Phase::Stopped)
    }

    /// How long `role` has had no worker (None: it has one, or never had).
    pub fn down_for(&self, role: Role) -> Option<Duration> {
        self.slots
            .get(&role)
            .and_then(|s| s.down_since)
            .map(|t| t.elapsed())
    }

    /// Starts a new incarnation of `role` as `launch` says. On success
    /// `start` is queued as its first message; on failure the slot waits
    /// for a restart.
    pub fn start(&mut self, role: Role, launch: &spawn::Launch, start: Msg) {
        self.incarnations += 1;
        let incarnation = self.incarnations;
        let now = Instant::now();
        let backoff = self.backoff.clone();
        let slot = self.slots.entry(role).or_insert_with(|| WorkerSlot {
            role,
            incarnation,
            pid: None,
            channel: None,
            queue: None,
            phase: Phase::Starting,
            started_at: now,
            ready: 0,
            caught_up_to: 0,
            restarts: 0,
            violations: 0,
            backoff,
            heartbeat: Heartbeat::new(now),
            heard: None,
            down_since: None,
            last_exit: None,
            wanted: true,
        });
        slot.incarnation = incarnation;
        slot.wanted = true;
        slot.ready = 0;
        slot.caught_up_to = 0;
        slot.heartbeat = Heartbeat::new(now);
        slot.started_at = now;
        let Some(events) = self.events.get(&role).cloned() else {
            return;
        };
        match spawn::spawn(role, incarnation, launch, events) {
            Ok(s) => {
                info!(role = %role, pid = s.pid, "worker started");
                let (tx, rx) = mpsc::channel(QUEUE_LIMIT);
                tokio::spawn(writer(role, s.pid, Arc::clone(&s.channel), rx));
                slot.pid = Some(s.pid);
                slot.channel = Some(s.channel);
                slot.queue = Some(tx);
                slot.heard = Some(s.heard);
                slot.phase = Phase::Starting;
                slot.down_since = None;
                slot.send(start);
            }
            Err(e) => {
                warn!(role = %role, error = %e, "cannot start worker");
                let delay = slot.backoff.on_exit(Duration::ZERO);
                slot.phase = Phase::Restarting(now + delay);
                slot.down_since.get_or_insert(now);
            }
        }
    }

    /// Queues `msg` for `role` (nothing when it has no connection).
    pub fn send(&mut self, role: Role, msg: Msg) {
        if let Some(s) = self.slots.get_mut(&role) {
            s.send(msg);
        }
    }

    /// `role` broke the protocol (a message it may not send, a result for
    /// a check it was not given): counted, logged, and the worker is reset.
    /// Logged once per incarnation, since it is killed at the first.
    pub fn violation(&mut self, role: Role, why: &str) {
        let Some(s) = self.slots.get_mut(&role) else {
            return;
        };
        let Some(pid) = s.pid else { return };
        if s.queue.take().is_none() {
            return;
        }
        s.violations += 1;
        warn!(role = %role, pid, violations = s.violations, error = %why, "protocol violation; resetting the worker");
        spawn::kill(pid);
    }

    /// Kills the running incarnation of `role` (it is then restarted).
    pub fn kill(&self, role: Role) {
        if let Some(pid) = self.slots.get(&role).and_then(|s| s.pid) {
            spawn::kill(pid);
        }
    }

    /// Kills every worker still running (shutdown took too long).
    pub fn kill_all(&self) {
        for s in self.slots.values().filter(|s| s.pid.is_some()) {
            warn!(role = %s.role, "worker did not stop in time; killing it");
            s.pid.into_iter().for_each(spawn::kill);
        }
    }

    /// Whether an event comes from the running incarnation of `role` (not
    /// from one already replaced).
    pub fn is_current(&self, role: Role, incarnation: u64) -> bool {
        self.slots
            .get(&role)
            .is_some_and(|s| s.incarnation == incarnation)
    }

    /// `role` is Ready for `generation`. Returns true when it just became
    /// running (its first Ready).
    pub fn ready(&mut self, role: Role, generation: u64) -> bool {
        let Some(s) = self.slots.get_mut(&role) else {
            return false;
        };
        s.ready = generation;
        if s.phase == Phase::Starting {
            s.phase = Phase::Running;
            info!(role = %role, generation, "worker ready");
            return true;
        }
        false
    }

    /// Whether `role` runs an older configuration than `current` and has
    /// not been sent `current` yet; marks it sent.
    pub fn needs_catch_up(&mut self, role: Role, current: u64) -> bool {
        let Some(s) = self.slots.get_mut(&role) else {
            return false;
        };
        if s.ready == current || s.caught_up_to == current || s.queue.is_none() {
            return false;
        }
        s.caught_up_to = current;
        true
    }

    /// A Pong from `role`.
    pub fn pong(&mut self, role: Role, seq: u64) {
        if let Some(s) = self.slots.get_mut(&role) {
            s.heartbeat.pong(seq);
        }
    }

    pub fn all_ready(&self) -> bool {
        self.slots
            .values()
            .filter(|s| s.wanted)
            .all(|s| s.phase == Phase::Running)
    }

    /// Every wanted worker is up and answering.
    pub fn healthy(&self) -> bool {
        self.slots
            .values()
            .filter(|s| s.wanted)
            .all(|s| s.phase == Phase::Running && s.heartbeat.answering())
    }

    pub fn all_stopped(&self) -> bool {
        self.slots.values().all(|s| s.phase == Phase::Stopped)
    }

    /// A worker is no longer needed: it is told to stop (or marked stopped
    /// when it is not running).
    pub fn retire(&mut self, role: Role) {
        if let Some(s) = self.slots.get_mut(&role) {
            s.wanted = false;
            if s.pid.is_none() {
                s.phase = Phase::Stopped;
            }
            s.send(Msg::Shutdown);
        }
    }

    /// For a re-exec: the VRRP and IPVS workers are killed (their clean-up
    /// would remove the VIPs, resign, flush the table: the new image takes
    /// over what the kernel holds), the others told to stop.
    pub fn hand_over(&mut self) {
        for s in self.slots.values_mut() {
            match (s.pid, s.role) {
                (None, _) => s.phase = Phase::Stopped,
                (Some(pid), Role::Vrrp | Role::Ipvs) => spawn::kill(pid),
                (Some(_), _) => s.send(Msg::Shutdown),
            }
        }
    }

    /// At shutdown: every running worker is told to stop, the others are
    /// marked stopped.
    pub fn stop_all(&mut self) {
        for s in self.slots.values_mut() {
            if s.pid.is_some() {
                s.send(Msg::Shutdown);
            } else {
                s.phase = Phase::Stopped;
            }
        }
    }

    /// `role`'s incarnation exited. `stopping`: the daemon is stopping;
    /// `master`: some instance is Master (a VRRP worker then comes back at
    /// once: any delay past the peers' Master_Down_Interval would be a
    /// failover).
    pub fn exited(
        &mut self,
        role: Role,
        incarnation: u64,
        code: Option<i32>,
        signal: Option<i32>,
        stopping: bool,
        master: bool,
    ) -> AfterExit {
        let Some(s) = self.slots.get_mut(&role) else {
            return AfterExit::Stale;
        };
        if s.incarnation != incarnation {
            return AfterExit::Stale;
        }
        let how = match (code, signal) {
            (Some(c), _) => format!("exit code {c}"),
            (None, Some(sig)) => format!("signal {sig}"),
            _ => "unknown".to_string(),
        };
        let was_ready = s.ready > 0;
        let ran = s.started_at.elapsed();
        let now = Instant::now();
        s.pid = None;
        s.channel = None;
        s.queue = None;
        s.heard = None;
        s.heartbeat = Heartbeat::new(now);
        s.last_exit = Some(how.clone());
        s.down_since = Some(now);
        if stopping || !s.wanted {
            info!(role = %role, how = %how, "worker stopped");
            s.phase = Phase::Stopped;
            return AfterExit::Stopped;
        }
        if code == Some(EXIT_CONFIG) {
            s.phase = Phase::Stopped;
            return AfterExit::ConfigError;
        }
        let mut delay = s.backoff.on_exit(ran);
        if role == Role::Vrrp && master && was_ready {
            delay = Duration::ZERO;
        }
        s.restarts += 1;
        warn!(role = %role, how = %how, ran_ms = ran.as_millis() as u64, restart_in_ms = delay.as_millis() as u64, "worker failed; restarting");
        s.phase = Phase::Restarting(now + delay);
        if delay.is_zero() {
            AfterExit::RestartNow
        } else {
            AfterExit::RestartLater
        }
    }

    /// Roles whose restart time has come.
    pub fn due(&self, now: Instant) -> Vec<Role> {
        self.slots
            .values()
            .filter(|s| matches!(s.phase, Phase::Restarting(at) if at <= now))
            .map(|s| s.role)
            .collect()
    }

    /// Heartbeats: pings to send, and workers that stopped answering are
    /// killed.
    pub fn heartbeats(&mut self, now: Instant) {
        let step = now.saturating_duration_since(self.ticked_at);
        self.ticked_at = now;
        for s in self.slots.values_mut() {
            let Some(pid) = s.pid else { continue };
            if let Some(at) = s.heard.as_ref().and_then(|h| h.last()) {
                s.heartbeat.heard(at);
            }
            let channel = s.channel.as_deref();
            match s
                .heartbeat
                .tick(now, step, || channel.is_some_and(Channel::unread))
            {
                Beat::Dead => {
                    // Since its last message (or its start): what the
                    // timeout counted, plus whatever the parent did not watch.
                    let silent_ms = s
                        .heard
                        .as_ref()
                        .and_then(|h| h.last())
                        .map_or(s.started_at, |at| at.max(s.started_at))
                        .elapsed()
                        .as_millis();
                    warn!(role = %s.role, pid, silent_ms = u64::try_from(silent_ms).unwrap_or(u64::MAX), "worker not answering heartbeats; restarting it");
                    spawn::kill(pid);
                }
                Beat::Ping => {
                    self.ping_seq += 1;
                    s.heartbeat.pinged(self.ping_seq, now);
                    s.send(Msg::Ping { seq: self.ping_seq });
                }
                Beat::Wait => {}
            }
        }
    }

    /// Each worker for status.
    pub fn status(&self) -> Vec<WorkerStatus> {
        self.slots
            .values()
            .map(|s| WorkerStatus {
                role: s.role.to_string(),
                pid: s.pid,
                state: match s.phase {
                    Phase::Starting => WorkerState::Starting,
                    Phase::Running => WorkerState::Running,
                    Phase::Restarting(_) => WorkerState::Restarting,
                    Phase::Stopped => WorkerState::Stopped,
                },
                restarts: s.restarts,
                violations: s.violations,
                ipc_fd: s.channel.as_ref().map(|c| c.raw_fd()),
                uptime_s: s.pid.map(|_| s.started_at.elapsed().as_secs()),
                last_exit: s.last_exit.clone(),
            })
            .collect()
    }
}

impl WorkerSlot {
    /// Queues `msg`; a full queue means the worker is not reading: it is
    /// killed (and restarted).
    fn send(&mut self, msg: Msg) {
        let Some(q) = &self.queue else { return };
        if let Err(e) = q.try_send(msg) {
            let kind = match &e {
                mpsc::error::TrySendError::Full(m) | mpsc::error::TrySendError::Closed(m) => {
                    m.kind()
                }
            };
            warn!(role = %self.role, kind, "worker not taking messages; restarting it");
            self.queue = None;
            self.pid.into_iter().for_each(spawn::kill);
        }
    }
}

/// Sends one incarnation's queue, in order. A message that cannot go out
/// in [`SEND_TIMEOUT`], or fails, ends it: the worker is killed.
async fn writer(role: Role, pid: u32, channel: Arc<Channel>, mut rx: mpsc::Receiver<Msg>) {
    while let Some(msg) = rx.recv().await {
        match tokio::time::timeout(SEND_TIMEOUT, channel.send(&msg)).await {
            Ok(Ok(())) => {}
            // The worker is gone (its exit is handled as such).
            Ok(Err(crate::ipc::IpcError::Closed)) => return,
            Ok(Err(e)) => {
                warn!(role = %role, kind = msg.kind(), error = %e, "sending to worker failed");
                spawn::kill(pid);
                return;
            }
            Err(_) => {
                warn!(role = %role, kind = msg.kind(), "worker not taking messages; restarting it");
                spawn::kill(pid);
                return;
            }
        }
    }
}
