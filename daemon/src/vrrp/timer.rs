//! A precise one-shot timer: a timerfd on CLOCK_MONOTONIC armed at an
//! absolute time. tokio's timers round up to whole milliseconds, which alone
//! would make every takeover up to 1 ms late; Master_Down_Interval is kept
//! to microseconds this way.

use std::cell::Cell;
use std::io;
use std::time::{Duration, Instant};

use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use tokio::io::unix::AsyncFd;

use crate::sys::fd::Registered;

pub struct Timer {
    fd: AsyncFd<Registered<TimerFd>>,
    /// The deadline the timerfd is set to, until it fires.
    armed: Cell<Option<Instant>>,
}

fn monotonic_now() -> io::Result<Duration> {
    let ts = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)?;
    Ok(Duration::new(
        u64::try_from(ts.tv_sec()).unwrap_or(0),
        u32::try_from(ts.tv_nsec()).unwrap_or(0),
    ))
}

impl Timer {
    pub fn new() -> io::Result<Self> {
        let t = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )?;
        Ok(Self {
            fd: crate::sys::fd::register(t, tokio::io::Interest::READABLE)?,
            armed: Cell::new(None),
        })
    }

    /// Makes the timer fire at `deadline` (std's Instant is CLOCK_MONOTONIC
    /// on Linux), or earlier: a deadline later than the one set, or None,
    /// leaves the earlier one set, and the caller wakes for nothing then.
    /// A Backup's deadline moves with every advert it hears (10,000 a
    /// second at 1,000 instances); setting the timerfd each time cost more
    /// than the rare early wake-up.
    pub fn arm(&self, deadline: Option<Instant>) -> io::Result<()> {
        let Some(d) = deadline else {
            return Ok(());
        };
        if self.armed.get().is_some_and(|a| a <= d) {
            return Ok(());
        }
        self.armed.set(Some(d));
        let now_i = Instant::now();
        let now_m = monotonic_now()?;
        // A deadline already past fires at once (1 ns: 0 would disarm).
        let at = (now_m + d.saturating_duration_since(now_i)).max(Duration::from_nanos(1));
        self.fd.get_ref().set(
            Expiration::OneShot(TimeSpec::from_duration(at)),
            TimerSetTimeFlags::TFD_TIMER_ABSTIME,
        )?;
        Ok(())
    }

    /// Waits for the armed deadline.
    pub async fn fired(&self) -> io::Result<()> {
        loop {
            let mut guard = self.fd.readable().await?;
            // A non-blocking read of the expiration count: EAGAIN when it
            // was taken already (a spurious wake-up).
            match guard.try_io(|fd| fd.get_ref().wait().map_err(io::Error::from)) {
                Ok(Ok(())) => {
                    self.armed.set(None);
                    return Ok(());
                }
                Ok(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn fires_at_the_deadline_not_before() {
        let t = Timer::new().unwrap();
        // How late it fires is measured in bench/, not asserted here.
        for _ in 0..20 {
            let deadline = Instant::now() + Duration::from_micros(2500);
            t.arm(Some(deadline)).unwrap();
            t.fired().await.unwrap();
            assert!(Instant::now() >= deadline, "fired early");
        }
        // A deadline in the past fires at once.
        t.arm(Some(Instant::now() - Duration::from_millis(5)))
            .unwrap();
        tokio::time::timeout(Duration::from_secs(5), t.fired())
            .await
            .unwrap()
            .unwrap();
        // An earlier deadline replaces a later one.
        t.arm(Some(Instant::now() + Duration::from_secs(60)))
            .unwrap();
        let soon = Instant::now() + Duration::from_millis(20);
        t.arm(Some(soon)).unwrap();
        tokio::time::timeout(Duration::from_secs(5), t.fired())
            .await
            .unwrap()
            .unwrap();
        assert!(Instant::now() >= soon, "fired early");
        // A later one (or none) leaves the earlier set: it fires then.
        let early = Instant::now() + Duration::from_millis(20);
        t.arm(Some(early)).unwrap();
        t.arm(Some(early + Duration::from_secs(60))).unwrap();
        t.arm(None).unwrap();
        tokio::time::timeout(Duration::from_secs(5), t.fired())
            .await
            .unwrap()
            .unwrap();
        assert!(Instant::now() >= early, "fired early");
        // Nothing armed after it fired: it stays quiet.
        assert!(
            tokio::time::timeout(Duration::from_millis(50), t.fired())
                .await
                .is_err()
        );
    }
}
