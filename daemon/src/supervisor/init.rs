//! When upkeepd is pid 1 (a container's PID namespace), it must also do
//! init's job: reap orphans. Daemons that scripts start and that later die
//! are reparented to pid 1; unreaped, they stay as zombies (and a
//! `ps -C name` check counts them). The parent's tokio runtime reaps its own
//! children only, so pid 1 forks: the child runs the daemon as usual, the
//! original process stays a small init — it forwards signals to the daemon,
//! reaps every orphan, and exits with the daemon's status.

use std::process::ExitCode;

const FORWARDED: [i32; 6] = [
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

/// In the pid-1 case: returns `None` in the forked daemon (which goes on as
/// usual) and never returns in the init (it exits with the daemon's status).
pub fn split_if_pid_1() -> Option<ExitCode> {
    if std::process::id() != 1 {
        return None;
    }
    // SAFETY: plain signal-mask and process calls on this single-threaded
    // process (called first thing in main, before any thread exists).
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in FORWARDED.iter().chain([libc::SIGCHLD].iter()) {
            libc::sigaddset(&mut set, *s);
        }
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigprocmask(libc::SIG_BLOCK, &set, &mut old);
        let child = libc::fork();
        if child < 0 {
            libc::sigprocmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
            eprintln!(
                "upkeepd: cannot fork as pid 1 ({}); running without an init",
                std::io::Error::last_os_error()
            );
            return None;
        }
        if child == 0 {
            libc::sigprocmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
            return None;
        }
        Some(init_loop(child, &set))
    }
}

/// SAFETY contract: `set` holds the blocked signals; `child` is our child.
unsafe fn init_loop(child: libc::pid_t, set: &libc::sigset_t) -> ExitCode {
    loop {
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `set` and `info` are valid for the call.
        let sig = unsafe { libc::sigwaitinfo(set, &mut info) };
        if sig < 0 {
            continue;
        }
        if sig != libc::SIGCHLD {
            // SAFETY: kill(2) of our own child.
            unsafe { libc::kill(child, sig) };
            continue;
        }
        // Reap everything that has exited; the daemon's end is ours too.
        loop {
            let mut status = 0;
            // SAFETY: waitpid with a valid status pointer.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                break;
            }
            if pid == child {
                let code = if libc::WIFEXITED(status) {
                    libc::WEXITSTATUS(status)
                } else {
                    128 + libc::WTERMSIG(status)
                };
                return ExitCode::from(u8::try_from(code).unwrap_or(1));
            }
        }
    }
}
