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
/// Names a longer [`TIMEOUT`] in seconds (at most [`MAX_TIMEOUT`]): for
/// workers run under valgrind in a TCG guest, which answer a ping tens of
/// seconds late (bench/vm_callgrind.py). Anything else leaves 5 s.
pub const TIMEOUT_ENV: &str = "UPKEEP_HEARTBEAT_TIMEOUT";
/// The longest timeout [`TIMEOUT_ENV`] may ask for.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(600);

/// The timeout `value` (of [`TIMEOUT_ENV`]) asks for: whole seconds from
/// [`TIMEOUT`] to [`MAX_TIMEOUT`]; `None` for anything else (unset, not a
/// number, shorter, longer), which leaves [`TIMEOUT`].
pub fn timeout_from(value: Option<&str>) -> Option<Duration> {
    let secs: u64 = value?.trim().parse().ok()?;
    let t = Duration::from_secs(secs);
    (TIMEOUT..=MAX_TIMEOUT).contains(&t).then_some(t)
}

/// The timeout of this daemon: [`TIMEOUT`] unless its environment names a
/// longer one (read once; a value not taken is logged once).
pub fn timeout() -> Duration {
    static T: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *T.get_or_init(|| {
        let value = std::env::var(TIMEOUT_ENV).ok();
        match (timeout_from(value.as_deref()), value) {
            (Some(t), _) => {
                tracing::warn!(env = TIMEOUT_ENV, secs = t.as_secs(), "worker heartbeat timeout raised");
                t
            }
            (None, Some(v)) => {
                tracing::warn!(env = TIMEOUT_ENV, value = %v, default_secs = TIMEOUT.as_secs(), "heartbeat timeout not taken");
                TIMEOUT
            }
            (None, None) => TIMEOUT,
        }
    })
}
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
    timeout: Duration,
}

impl Heartbeat {
    /// For a worker (re)started at `now`.
    pub fn new(now: Instant) -> Self {
        Self::with_timeout(now, timeout())
    }

    /// For a worker (re)started at `now`, restarted after `timeout` of silence.
    pub fn with_timeout(now: Instant, timeout: Duration) -> Self {
        Self {
            ping: None,
            pinged_at: now,
            dead: false,
            timeout,
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
                if *waited <= self.timeout || unread() {
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
        !self.dead
            && self
                .ping
                .is_none_or(|(_, _, waited)| waited <= self.timeout)
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
        let mut hb = Heartbeat::with_timeout(t, TIMEOUT);
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
        let mut hb = Heartbeat::with_timeout(t, TIMEOUT);
        hb.pinged(1, t);
        let (beat, after) = run(&mut hb, &mut t, TICK, TIMEOUT * 2, false).unwrap();
        assert_eq!(beat, Beat::Dead);
        assert!(after > TIMEOUT && after <= TIMEOUT + TICK, "{after:?}");
        assert!(!hb.answering());
        // Said once: the kill's exit is on its way; no more pings.
        assert_eq!(run(&mut hb, &mut t, TICK, TIMEOUT * 2, false), None);
        // A new incarnation starts afresh.
        let mut hb = Heartbeat::with_timeout(t, TIMEOUT);
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
        let mut hb = Heartbeat::with_timeout(t, TIMEOUT);
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
        let mut hb = Heartbeat::with_timeout(t, TIMEOUT);
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
        let mut hb = Heartbeat::with_timeout(t, TIMEOUT);
        hb.pinged(1, t);
        assert_eq!(run(&mut hb, &mut t, TICK, TIMEOUT * 3, true), None);
        // Still overdue once the socket is drained and nothing answered.
        assert_eq!(hb.tick(t + TICK, TICK, || false), Beat::Dead);
    }

    #[test]
    fn a_longer_timeout_is_taken_only_in_whole_seconds_within_bounds() {
        assert_eq!(timeout_from(None), None);
        assert_eq!(timeout_from(Some("120")), Some(Duration::from_secs(120)));
        assert_eq!(timeout_from(Some(" 600\n")), Some(MAX_TIMEOUT));
        assert_eq!(timeout_from(Some("5")), Some(TIMEOUT));
        // Shorter than the default, longer than the bound, or not seconds.
        for v in [
            "4",
            "0",
            "601",
            "-1",
            "1.5",
            "2m",
            "",
            "99999999999999999999",
        ] {
            assert_eq!(timeout_from(Some(v)), None, "{v:?}");
        }
    }

    #[test]
    fn a_longer_timeout_waits_that_long() {
        let long = Duration::from_secs(120);
        let mut t = Instant::now();
        let mut hb = Heartbeat::with_timeout(t, long);
        hb.pinged(1, t);
        assert_eq!(run(&mut hb, &mut t, TICK, long, false), None);
        assert!(hb.answering());
        let (beat, _) = run(&mut hb, &mut t, TICK, TICK * 2, false).unwrap();
        assert_eq!(beat, Beat::Dead);
    }
}
