//! Processes: what a child runs between fork and exec, fork itself (for the
//! pid-1 init), and pidfds.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;

/// Most descriptors handed to a worker (its parent link, a listener).
pub const MAX_HANDED: usize = 2;

/// Makes `cmd`'s child a worker: each `(ours, theirs)` in `fds` (at most
/// [`MAX_HANDED`]; more are refused) becomes descriptor `theirs`, without
/// close-on-exec; the child leaves the terminal's process group (Ctrl-C
/// goes to the parent, which stops the workers in order), and it gets
/// SIGTERM when the parent dies. A child whose parent is already gone (not
/// `parent`) does not start.
pub fn hand_over_on_exec(
    cmd: &mut std::process::Command,
    fds: &[(RawFd, RawFd)],
    parent: u32,
) -> io::Result<()> {
    if fds.len() > MAX_HANDED {
        return Err(io::Error::from_raw_os_error(libc::E2BIG));
    }
    let mut handed = [(-1, -1); MAX_HANDED];
    handed[..fds.len()].copy_from_slice(fds);
    let parent = libc::pid_t::try_from(parent).unwrap_or(0);
    // SAFETY: the closure runs in the forked child before exec and makes
    // only async-signal-safe calls (dup2, fcntl, close, setsid, prctl,
    // getppid); it allocates nothing (the list is a copied array).
    unsafe {
        cmd.pre_exec(move || hand_over(&handed, parent));
    }
    Ok(())
}

/// Lowest descriptor the child parks handed descriptors at, above any
/// target, so that placing one cannot close another still to be placed.
const PARK_AT: RawFd = 64;

fn hand_over(fds: &[(RawFd, RawFd); MAX_HANDED], parent: libc::pid_t) -> io::Result<()> {
    let mut parked = [-1; MAX_HANDED];
    // SAFETY: plain syscalls on descriptors of this (child) process.
    unsafe {
        for (k, &(ours, _)) in fds.iter().enumerate() {
            if ours >= 0 {
                parked[k] = libc::fcntl(ours, libc::F_DUPFD_CLOEXEC, PARK_AT);
                if parked[k] < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
        }
        for (k, &(_, theirs)) in fds.iter().enumerate() {
            if parked[k] >= 0 {
                // dup2 leaves the new descriptor without close-on-exec.
                if libc::dup2(parked[k], theirs) < 0 {
                    return Err(io::Error::last_os_error());
                }
                libc::close(parked[k]);
            }
        }
        libc::setsid();
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
            return Err(io::Error::last_os_error());
        }
        // The parent died before prctl: do not run orphaned. (Compared with
        // the parent's own pid, not 1: in a PID namespace — a container —
        // upkeepd itself may be pid 1.)
        if libc::getppid() != parent {
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
    }
    Ok(())
}

/// Makes every descriptor above stderr close-on-exec in `cmd`'s child, so
/// that a script inherits nothing of ours (sockets, pipes opened without
/// close-on-exec by a library). Marked rather than closed: std reports a
/// failed exec through a close-on-exec pipe of its own, which must stay
/// open until the exec.
pub fn close_inherited_on_exec(cmd: &mut std::process::Command) {
    // SAFETY: close_range and fcntl are async-signal-safe; nothing is
    // allocated.
    unsafe {
        cmd.pre_exec(|| {
            // CLOSE_RANGE_CLOEXEC (Linux 5.11).
            const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
            let rc = libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, CLOSE_RANGE_CLOEXEC);
            if rc != 0 {
                // Older kernels: one by one.
                let max = match libc::sysconf(libc::_SC_OPEN_MAX) {
                    n if n > 0 => n as libc::c_int,
                    _ => 1024,
                };
                for fd in 3..max {
                    libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
                }
            }
            Ok(())
        });
    }
}

/// The two sides of a fork.
pub enum Forked {
    Parent { child: nix::unistd::Pid },
    Child,
}

/// fork(2) for the pid-1 init (`supervisor::init`).
///
/// Call only while the process is single-threaded (first thing in `main`):
/// the child then holds no lock another thread could have taken.
pub fn fork_before_threads() -> io::Result<Forked> {
    // SAFETY: the caller guarantees a single-threaded process, which is
    // what makes fork sound (see nix::unistd::fork).
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Parent { child }) => Ok(Forked::Parent { child }),
        Ok(nix::unistd::ForkResult::Child) => Ok(Forked::Child),
        Err(e) => Err(e.into()),
    }
}

/// A pidfd for `pid`: readable once the process exits.
pub fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags; the result is checked.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = RawFd::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pidfd_open returned a new descriptor that we alone own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Runs `f` in a forked child and returns its exit code (101 when it
/// panics); for tests that change the credentials of a process. The child
/// never returns into the test harness.
#[cfg(test)]
pub fn exit_code_in_child(f: impl FnOnce() -> i32) -> i32 {
    use std::panic::AssertUnwindSafe;
    use std::time::{Duration, Instant};
    // SAFETY: the child only runs `f` (glibc resets malloc's locks across
    // fork; `f` takes no lock other test threads hold) and leaves through
    // _exit without unwinding into the harness.
    let child = match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => {
            let code = std::panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or(101);
            // SAFETY: _exit ends this forked child at once, without unwinding
            // into (or running the exit handlers of) the test harness.
            unsafe { libc::_exit(code) }
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => child,
        Err(e) => panic!("fork: {e}"),
    };
    use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
    let start = Instant::now();
    loop {
        match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => return code,
            Ok(WaitStatus::Signaled(_, sig, _)) => return 128 + sig as i32,
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => panic!("waitpid: {e}"),
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
            let _ = waitpid(child, None);
            panic!("child {child} did not finish within 30 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;
    use std::time::{Duration, Instant};

    /// A worker started with the hand-over gets SIGTERM when the process
    /// that started it dies (PR_SET_PDEATHSIG), and finds its socket at the
    /// target descriptor.
    #[test]
    fn a_handed_over_child_stops_when_its_parent_dies() {
        let dir = std::env::temp_dir().join(format!("upkeep-handover-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pid_file = dir.join("pid");
        let fd_file = dir.join("fd");
        let (pf, ff) = (pid_file.clone(), fd_file.clone());
        let code = exit_code_in_child(move || {
            let (_ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
            let Ok(listener) = std::net::TcpListener::bind("127.0.0.1:0") else {
                return 5;
            };
            let mut cmd = std::process::Command::new("/bin/sh");
            // Written whole, then renamed: the file appears complete.
            cmd.arg("-c").arg(format!(
                "(readlink /proc/self/fd/3; readlink /proc/self/fd/4) > {0}.tmp && mv {0}.tmp {0}; exec sleep 30",
                ff.display()
            ));
            let fds = [(theirs.as_raw_fd(), 3), (listener.as_raw_fd(), 4)];
            if hand_over_on_exec(&mut cmd, &fds, std::process::id()).is_err() {
                return 6;
            }
            let Ok(child) = cmd.spawn() else { return 2 };
            if std::fs::write(&pf, child.id().to_string()).is_err() {
                return 3;
            }
            // Wait until the child has looked at its descriptors.
            for _ in 0..500 {
                if ff.exists() {
                    return 0;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            4
        });
        assert_eq!(code, 0);
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let fds = std::fs::read_to_string(&fd_file).unwrap();
        let inodes: Vec<&str> = fds.lines().collect();
        assert_eq!(inodes.len(), 2, "{fds}");
        assert!(inodes.iter().all(|l| l.starts_with("socket:")), "{fds}");
        assert_ne!(inodes[0], inodes[1], "{fds}");
        let start = Instant::now();
        let gone = loop {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|s| s.split_whitespace().next());
            if matches!(state, None | Some("Z")) {
                break true;
            }
            if start.elapsed() > Duration::from_secs(10) {
                break false;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let _ = std::fs::remove_dir_all(&dir);
        if !gone {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        assert!(gone, "the orphaned worker kept running");
    }

    #[test]
    fn pidfds_open_for_live_processes_only() {
        assert!(pidfd_open(std::process::id() as i32).is_ok());
        assert!(pidfd_open(i32::MAX).is_err());
    }
}
