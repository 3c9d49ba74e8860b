//! When upkeepd is pid 1 (a container's PID namespace), it must also do
//! init's job: reap orphans. Daemons that scripts start and that later die
//! are reparented to pid 1; unreaped, they stay as zombies (and a
//! `ps -C name` check counts them). The parent's tokio runtime reaps its own
//! children only, so pid 1 forks: the child runs the daemon as usual, the
//! original process stays a small init — it forwards signals to the daemon,
//! reaps every orphan, and exits with the daemon's status.

use std::process::ExitCode;

use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::sys::process::{Forked, fork_before_threads};

const FORWARDED: [Signal; 6] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// In the pid-1 case: returns `None` in the forked daemon (which goes on as
/// usual) and never returns in the init (it exits with the daemon's status).
///
/// Call first thing in `main`, while the process is single-threaded.
pub fn split_if_pid_1() -> Option<ExitCode> {
    if std::process::id() != 1 {
        return None;
    }
    let mut set = SigSet::empty();
    for s in FORWARDED.iter().chain([Signal::SIGCHLD].iter()) {
        set.add(*s);
    }
    let mut old = SigSet::empty();
    if sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old)).is_err() {
        eprintln!("upkeepd: cannot block signals as pid 1; running without an init");
        return None;
    }
    match fork_before_threads() {
        Err(e) => {
            let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
            eprintln!("upkeepd: cannot fork as pid 1 ({e}); running without an init");
            None
        }
        Ok(Forked::Child) => {
            let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
            None
        }
        Ok(Forked::Parent { child }) => Some(init_loop(child, &set)),
    }
}

/// Forwards signals to the daemon and reaps every orphan until the daemon
/// itself exits; `set` holds the blocked signals.
fn init_loop(child: Pid, set: &SigSet) -> ExitCode {
    loop {
        let Ok(sig) = set.wait() else { continue };
        if sig != Signal::SIGCHLD {
            let _ = kill(child, sig);
            continue;
        }
        // Reap everything that has exited; the daemon's end is ours too.
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) if pid == child => {
                    return ExitCode::from(u8::try_from(code).unwrap_or(1));
                }
                Ok(WaitStatus::Signaled(pid, sig, _)) if pid == child => {
                    return ExitCode::from(u8::try_from(128 + sig as i32).unwrap_or(1));
                }
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }
}
