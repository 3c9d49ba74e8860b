//! A worker's heartbeat as the parent judges it: a ping every second, and a
//! worker that stays silent for [`TIMEOUT`] is restarted.
//!
//! What is judged is the worker, not the parent. Any message read from the
//! worker's socket answers the outstanding ping (a checker busy sending
//! thousands of results is alive), and it counts from the moment the
//! parent's reader took it off the socket, not when the parent's loop got
//! round to it (behind a flood of other messages, seconds later). Only
//! time the parent was watching counts towards the timeout: a tick of its
//! loop adds at most [`MAX_STEP`] however late it came (a parent starved of
//! CPU, or stopped, did not see the worker either), and a worker whose
//! socket still holds unread messages is not dead (the parent is behind).

use std::time::{Duration, Instant};

/// Silence (counted while the parent watches) after which a worker is restarted.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// How often a worker is pinged.
pub const EVERY: Duration = Duration::from_secs(1);
/// The most one tick of the parent's loop (every 100 ms while it has
/// something to time, every second when quiet) counts towards [`TIMEOUT`].
pub const MAX_STEP: Duration = Duration::from_secs(1);

/// What a tick asks of the parent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Beat {
    Wait,
    /// Send a ping (and tell [`Heartbeat::pinged`] its number).
    Ping,
    /// The worker did not answer: kill it (said once per incarnation).
    Dead,
}

#[derive(Clone, Debug)]
pub struct Heartbeat {
    /// The outstanding ping: its number, when it was sent, and how long the
    /// parent has watched for an answer.
    ping: Option<(u64, Instant, Duration)>,
    pinged_at: Instant,
    dead: bool,
}

impl Heartbeat {
    /// For a worker (re)started at `now`.
    pub fn new(now: Instant) -> Self {
        Self {
            ping: None,
            pinged_at: now,
            dead: false,
        }
    }

    pub fn pinged(&mut self, seq: u64, now: Instant) {
        self.ping = Some((seq, now, Duration::ZERO));
        self.pinged_at = now;
    }

    pub fn pong(&mut self, seq: u64) {
        if self.ping.is_some_and(|(q, _, _)| q == seq) {
            self.ping = None;
        }
    }

    /// The worker was last heard (any message read off its socket) at `at`.
    pub fn heard(&mut self, at: Instant) {
        if self.ping.is_some_and(|(_, sent, _)| at >= sent) {
            self.ping = None;
        }
    }

    /// One tick of the parent's loop, `step` after the previous one.
    /// `unread`: whether the worker's socket holds messages not read yet.
    pub fn tick(&mut self, now: Instant, step: Duration, unread: impl FnOnce() -> bool) -> Beat {
        if self.dead {
            return Beat::Wait;
        }
        match &mut self.ping {
            Some((_, _, waited)) => {
                *waited += step.min(MAX_STEP);
                if *waited <= TIMEOUT || unread() {
                    return Beat::Wait;
                }
                self.ping = None;
                self.dead = true;
                Beat::Dead
            }
            None if now.saturating_duration_since(self.pinged_at) >= EVERY => Beat::Ping,
            None => Beat::Wait,
        }
    }

    /// Not known to be dead, and not silent past the timeout (systemd's
    /// watchdog is fed only while every worker answers).
    pub fn answering(&self) -> bool {
        !self.dead && self.ping.is_none_or(|(_, _, waited)| waited <= TIMEOUT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: Duration = Duration::from_millis(100);

    /// Ticks every `step` for `span`; the first beat other than Wait (and when).
    fn run(
        hb: &mut Heartbeat,
        t: &mut Instant,
        step: Duration,
        span: Duration,
        unread: bool,
    ) -> Option<(Beat, Duration)> {
        let start = *t;
        while t.duration_since(start) < span {
            *t += step;
            let b = hb.tick(*t, step, || unread);
            if b != Beat::Wait {
                return Some((b, t.duration_since(start)));
            }
        }
        None
    }

    #[test]
    fn pings_every_second_and_an_answer_clears_it() {
        let mut t = Instant::now();
        let mut hb = Heartbeat::new(t);
        assert_eq!(
            run(&mut hb, &mut t, TICK, EVERY * 2, false),
            Some((Beat::Ping, EVERY))
        );
        hb.pinged(7, t);
        assert!(hb.answering());
        hb.pong(6);
        assert_eq!(hb.tick(t + TICK, TICK, || false), Beat::Wait);
        hb.pong(7);
        assert!(hb.answering());
        // The next ping a second after the previous one.
        assert_eq!(
            run(&mut hb, &mut t, TICK, EVERY * 2, false),
            Some((Beat::Ping, EVERY))
        );
    }

    #[test]
    fn a_silent_worker_is_dead_after_the_timeout_once() {
        let mut t = Instant::now();
        let mut hb = Heartbeat::new(t);
        hb.pinged(1, t);
        let (beat, after) = run(&mut hb, &mut t, TICK, TIMEOUT * 2, false).unwrap();
        assert_eq!(beat, Beat::Dead);
        assert!(after > TIMEOUT && after <= TIMEOUT + TICK, "{after:?}");
        assert!(!hb.answering());
        // Said once: the kill's exit is on its way; no more pings.
        assert_eq!(run(&mut hb, &mut t, TICK, TIMEOUT * 2, false), None);
        // A new incarnation starts afresh.
        let mut hb = Heartbeat::new(t);
        assert!(hb.answering());
        assert_eq!(
            run(&mut hb, &mut t, TICK, EVERY * 2, false),
            Some((Beat::Ping, EVERY))
        );
    }

    /// Regression: messages the parent had read but not yet handled (a
    /// Pong behind thousands of check results) counted as silence.
    #[test]
    fn any_message_read_after_the_ping_answers_it() {
        let mut t = Instant::now();
        let mut hb = Heartbeat::new(t);
        hb.pinged(1, t);
        // Read before the ping was sent: no answer.
        hb.heard(t - TICK);
        assert_eq!(run(&mut hb, &mut t, TICK, TIMEOUT / 2, false), None);
        hb.heard(t);
        // Answered: pinged again (not killed) long after the timeout.
        assert_eq!(
            run(&mut hb, &mut t, TICK, TIMEOUT * 2, false),
            Some((Beat::Ping, TICK))
        );
    }

    /// A parent whose loop stalled (starved of CPU, stopped) watched for at
    /// most a step per tick: a 10 s gap is no 10 s of silence.
    #[test]
    fn a_stalled_parent_does_not_count_its_own_lag() {
        let mut t = Instant::now();
        let mut hb = Heartbeat::new(t);
        hb.pinged(1, t);
        t += Duration::from_secs(10);
        assert_eq!(hb.tick(t, Duration::from_secs(10), || false), Beat::Wait);
        assert!(hb.answering());
        // Ticks two seconds apart: one second each.
        let (beat, after) = run(&mut hb, &mut t, MAX_STEP * 2, TIMEOUT * 4, false).unwrap();
        assert_eq!(beat, Beat::Dead);
        assert_eq!(after, MAX_STEP * 10);
    }

    #[test]
    fn unread_messages_on_the_socket_mean_the_parent_is_behind() {
        let mut t = Instant::now();
        let mut hb = Heartbeat::new(t);
        hb.pinged(1, t);
        assert_eq!(run(&mut hb, &mut t, TICK, TIMEOUT * 3, true), None);
        // Still overdue once the socket is drained and nothing answered.
        assert_eq!(hb.tick(t + TICK, TICK, || false), Beat::Dead);
    }
}
