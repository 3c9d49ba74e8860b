//! Descriptors and socket options without a safe wrapper.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

mod sealed {
    pub trait Sealed {}
    impl Sealed for std::os::fd::OwnedFd {}
    impl Sealed for socket2::Socket {}
    impl Sealed for nix::sys::timerfd::TimerFd {}
}

/// Types that own one descriptor for their whole life: they neither close
/// it early nor swap it for another, which is what tokio's reactor needs.
pub trait OwnsFd: AsFd + sealed::Sealed {}
impl OwnsFd for OwnedFd {}
impl OwnsFd for socket2::Socket {}
impl OwnsFd for nix::sys::timerfd::TimerFd {}

/// An [`OwnsFd`] registered with the reactor (see [`register`]).
#[derive(Debug)]
pub struct Registered<T>(T);

impl<T: AsFd> AsRawFd for Registered<T> {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

impl<T: AsFd> AsFd for Registered<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl<T> std::ops::Deref for Registered<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// Registers `inner` with tokio's reactor for `interest`.
pub fn register<T: OwnsFd>(inner: T, interest: Interest) -> io::Result<AsyncFd<Registered<T>>> {
    // SAFETY: `T: OwnsFd` keeps the same open descriptor for its whole
    // life, and the AsyncFd owns it (Registered gives no way to replace it).
    unsafe { AsyncFd::register_with_interest(Registered(inner), interest) }.map_err(io::Error::from)
}

/// Takes ownership of a descriptor this process inherited at a known
/// number (a worker's end of its socketpair). Call once per descriptor.
pub fn take_inherited(fd: RawFd) -> io::Result<OwnedFd> {
    // Only a descriptor that is open can be owned.
    nix::fcntl::fcntl(
        // SAFETY: borrowed only for this F_GETFD probe, which fails cleanly
        // with EBADF when nothing is open at `fd`.
        unsafe { BorrowedFd::borrow_raw(fd) },
        nix::fcntl::FcntlArg::F_GETFD,
    )
    .map_err(io::Error::from)?;
    // SAFETY: the parent handed this descriptor to this process alone, and
    // callers take it once (the worker's entry point).
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// How many bytes wait to be read on a socket (FIONREAD).
pub fn unread_bytes(fd: BorrowedFd<'_>) -> io::Result<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int through the pointer, to a live local.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &raw mut n) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(usize::try_from(n).unwrap_or(0))
}

/// setsockopt with an int value, for options nix has no type for.
pub fn setsockopt_int(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: the option value is a live c_int and its exact size is passed.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&raw const value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn a_closed_descriptor_cannot_be_taken() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let raw = a.as_raw_fd();
        drop(a);
        assert!(take_inherited(raw).is_err());
    }

    #[test]
    fn fionread_counts_waiting_bytes() {
        use std::io::Write;
        let (mut a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        assert_eq!(unread_bytes(b.as_fd()).unwrap(), 0);
        a.write_all(b"hello").unwrap();
        assert_eq!(unread_bytes(b.as_fd()).unwrap(), 5);
    }
}
