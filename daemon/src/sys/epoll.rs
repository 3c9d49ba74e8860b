//! An epoll set of our own, watched by the runtime (nested epoll): the
//! checker's TCP connects (`checker::connects`). tokio marks registering
//! a bare descriptor unsafe (I/O safety); the set owns its descriptor for
//! as long as it is registered.

use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::task::{Context, Poll};

use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

struct Fd(Epoll);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.0.as_raw_fd()
    }
}

/// An epoll set the runtime wakes on when any of its descriptors is ready.
pub struct Set(AsyncFd<Fd>);

impl Set {
    /// A new, empty set, registered with the current runtime.
    pub fn new() -> io::Result<Self> {
        let e = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        // SAFETY: `Fd` owns the epoll descriptor and the `AsyncFd` owns the
        // `Fd`: the descriptor stays open and the same for as long as it is
        // registered, and `as_raw_fd` always returns it.
        let fd = unsafe { AsyncFd::register_with_interest(Fd(e), Interest::READABLE) }
            .map_err(io::Error::from)?;
        Ok(Self(fd))
    }

    /// Watches `fd` for `events`, reported with `data`. Closing `fd` takes
    /// it out (no other descriptor refers to its socket).
    pub fn add(&self, fd: impl AsFd, events: EpollFlags, data: u64) -> Result<(), Errno> {
        self.0.get_ref().0.add(fd, EpollEvent::new(events, data))
    }

    /// The events ready now, into `out`, whatever the runtime last saw of
    /// the set (it learns of new ones only when its driver runs): how many.
    pub fn ready_now(&self, out: &mut [EpollEvent]) -> Result<usize, Errno> {
        self.0.get_ref().0.wait(out, EpollTimeout::ZERO)
    }

    /// The events ready now, into `out`: how many. Pending (and the task
    /// woken later) while none are.
    pub fn poll_events(
        &self,
        cx: &mut Context<'_>,
        out: &mut [EpollEvent],
    ) -> Poll<Result<usize, Errno>> {
        let mut guard = match self.0.poll_read_ready(cx) {
            Poll::Ready(Ok(g)) => g,
            Poll::Ready(Err(e)) => {
                return Poll::Ready(Err(e.raw_os_error().map_or(Errno::EIO, Errno::from_raw)));
            }
            Poll::Pending => return Poll::Pending,
        };
        let n = guard.get_inner().0.wait(out, EpollTimeout::ZERO)?;
        // Fewer than asked for: the set is drained, wait for the next edge.
        if n < out.len() {
            guard.clear_ready();
        }
        Poll::Ready(Ok(n))
    }
}
