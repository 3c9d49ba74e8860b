//! A precise one-shot timer: a timerfd on CLOCK_MONOTONIC armed at an
//! absolute time. tokio's timers round up to whole milliseconds, which alone
//! would make every takeover up to 1 ms late; Master_Down_Interval is kept
//! to microseconds this way.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use tokio::io::unix::AsyncFd;

pub struct Timer {
    fd: AsyncFd<OwnedFd>,
}

fn monotonic_now() -> io::Result<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    ))
}

impl Timer {
    pub fn new() -> io::Result<Self> {
        // SAFETY: plain timerfd_create; the result is checked and owned at once.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor owned by nothing else.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: the OwnedFd keeps the descriptor open and unchanged for the
        // AsyncFd's whole life (the AsyncFd owns it).
        let fd = unsafe { AsyncFd::register(owned) }.map_err(io::Error::from)?;
        Ok(Self { fd })
    }

    /// Arms the timer for `deadline` (std's Instant is CLOCK_MONOTONIC on Linux),
    /// or disarms it with None.
    pub fn arm(&self, deadline: Option<Instant>) -> io::Result<()> {
        let mut spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
        };
        if let Some(d) = deadline {
            let now_i = Instant::now();
            let now_m = monotonic_now()?;
            // A deadline already past fires at once (1 ns: 0 would disarm).
            let at = now_m + d.saturating_duration_since(now_i);
            spec.it_value.tv_sec =
                libc::time_t::try_from(at.as_secs()).unwrap_or(libc::time_t::MAX);
            spec.it_value.tv_nsec = libc::c_long::from(at.subsec_nanos().max(1));
        }
        // SAFETY: valid descriptor, valid itimerspec; old value not requested.
        let rc = unsafe {
            libc::timerfd_settime(
                self.fd.get_ref().as_raw_fd(),
                libc::TFD_TIMER_ABSTIME,
                &spec,
                std::ptr::null_mut(),
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Waits for the armed deadline.
    pub async fn fired(&self) -> io::Result<()> {
        loop {
            let mut guard = self.fd.readable().await?;
            let read = guard.try_io(|fd| {
                let mut buf = [0u8; 8];
                // SAFETY: reads at most 8 bytes into an 8-byte buffer.
                let n = unsafe {
                    libc::read(fd.get_ref().as_raw_fd(), buf.as_mut_ptr().cast(), buf.len())
                };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(())
                }
            });
            match read {
                Ok(Ok(())) => return Ok(()),
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
        // Re-arming replaces the deadline; disarming stops it.
        t.arm(Some(Instant::now() + Duration::from_secs(60)))
            .unwrap();
        t.arm(None).unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(50), t.fired())
                .await
                .is_err()
        );
    }
}
