//! Starting a worker (re-executing our own binary with a hidden role
//! argument and its end of a socketpair as descriptor 3), watching it until
//! it exits, and the restart backoff.

use std::os::fd::AsRawFd;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tracing::warn;

use crate::ipc::{self, Channel, Cred, IpcError, Msg, WORKER_FD, msg::Role};

/// What a worker's supervising task reports to the parent's loop.
#[derive(Debug)]
pub enum WorkerEvent {
    Msg {
        role: Role,
        incarnation: u64,
        msg: Msg,
    },
    /// The connection failed (garbage, wrong version, wrong peer...). The
    /// worker has been killed; `Exited` follows.
    Reset {
        role: Role,
        incarnation: u64,
        error: String,
    },
    Exited {
        role: Role,
        incarnation: u64,
        /// The exit code, or None when a signal ended it.
        code: Option<i32>,
        signal: Option<i32>,
    },
}

/// Exit code of a worker that cannot run the configuration it was given
/// (sysexits' EX_CONFIG): the daemon stops rather than restart it in a loop.
pub const EXIT_CONFIG: i32 = 78;

/// A started worker.
pub struct Spawned {
    pub pid: u32,
    pub channel: Arc<Channel>,
    pub heard: Arc<Heard>,
}

/// When a worker was last heard from: the time its reader took a message
/// off its socket, which the parent's loop may handle much later (behind
/// thousands of others). Heartbeats go by this.
#[derive(Debug, Default)]
pub struct Heard(Mutex<Option<Instant>>);

impl Heard {
    fn stamp(&self) {
        if let Ok(mut at) = self.0.lock() {
            *at = Some(Instant::now());
        }
    }

    pub fn last(&self) -> Option<Instant> {
        self.0.lock().ok().and_then(|at| *at)
    }
}

/// Whether messages wait on the socket, not read yet (FIONREAD).
pub fn unread(channel: &Channel) -> bool {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int through the pointer, to a live local.
    let rc = unsafe { libc::ioctl(channel.raw_fd(), libc::FIONREAD, &raw mut n) };
    rc == 0 && n > 0
}

/// Who may speak on a worker's socket: its own pid, with the uid it runs as.
#[derive(Clone, Copy, Debug)]
pub struct Expected {
    pub pid: u32,
    pub uid: u32,
}

impl Expected {
    fn check(&self, cred: Option<Cred>) -> Result<(), IpcError> {
        match cred {
            Some(c) if c.pid == self.pid && c.uid == self.uid => Ok(()),
            other => Err(IpcError::WrongPeer {
                expected: self.pid,
                got: other.map(|c| c.pid),
            }),
        }
    }
}

/// Starts `role` and a task that forwards its messages to `tx` and reports
/// its exit. `extra` are more arguments for the worker (its account).
pub fn spawn(
    role: Role,
    incarnation: u64,
    extra: &[String],
    uid: u32,
    tx: mpsc::UnboundedSender<WorkerEvent>,
) -> std::io::Result<Spawned> {
    let (parent_end, child_end) = ipc::socketpair()?;
    let mut cmd = std::process::Command::new("/proc/self/exe");
    // argv[0] names the worker in ps and systemctl status (crate::procname).
    std::os::unix::process::CommandExt::arg0(&mut cmd, crate::procname::worker_argv0(role));
    cmd.arg("--role").arg(role.name()).args(extra);
    cmd.stdin(Stdio::null());
    // systemd's notify variables were removed from our environment at start;
    // remove them again in case they were set since.
    for v in [
        "NOTIFY_SOCKET",
        "WATCHDOG_USEC",
        "WATCHDOG_PID",
        "LISTEN_FDS",
    ] {
        cmd.env_remove(v);
    }
    let fd = child_end.as_raw_fd();
    let parent = libc::pid_t::try_from(std::process::id()).unwrap_or(0);
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe calls (dup2, fcntl, setsid, prctl, getppid).
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(move || hand_over(fd, parent));
    }
    let child = tokio::process::Command::from(cmd).spawn()?;
    drop(child_end);
    let pid = child.id().unwrap_or(0);
    let channel = Arc::new(Channel::new(parent_end)?);
    channel.pass_credentials()?;
    let expected = Expected { pid, uid };
    let heard = Arc::new(Heard::default());
    tokio::spawn(supervise(
        role,
        incarnation,
        child,
        Arc::clone(&channel),
        expected,
        Arc::clone(&heard),
        tx,
    ));
    Ok(Spawned {
        pid,
        channel,
        heard,
    })
}

/// In the child: the socket becomes descriptor 3 (without close-on-exec),
/// the worker leaves the terminal's process group (Ctrl-C goes to the parent,
/// which stops the workers in order), and it gets SIGTERM if the parent dies.
fn hand_over(fd: i32, parent: libc::pid_t) -> std::io::Result<()> {
    // SAFETY: plain syscalls on descriptors of this (child) process.
    unsafe {
        if fd == WORKER_FD {
            if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        } else if libc::dup2(fd, WORKER_FD) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        libc::setsid();
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // The parent died before prctl: do not run orphaned. (Compared with
        // the parent's own pid, not 1: in a PID namespace — a container —
        // upkeepd itself may be pid 1.)
        if libc::getppid() != parent {
            return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
        }
    }
    Ok(())
}

/// Sends SIGKILL to a worker (it is not reaped until its task sees it exit,
/// so the pid cannot have been reused).
pub fn kill(pid: u32) {
    let Ok(p) = i32::try_from(pid) else { return };
    if p <= 0 {
        return;
    }
    // SAFETY: kill(2) with a pid of our own unreaped child.
    unsafe {
        libc::kill(p, libc::SIGKILL);
    }
}

async fn supervise(
    role: Role,
    incarnation: u64,
    mut child: tokio::process::Child,
    channel: Arc<Channel>,
    expected: Expected,
    heard: Arc<Heard>,
    tx: mpsc::UnboundedSender<WorkerEvent>,
) {
    let mut buf = Vec::new();
    let mut reading = true;
    let mut status = None;
    // After the exit, what is still queued on the socket is read (for a
    // bounded time): a worker's last transitions must not be lost.
    let drain = tokio::time::sleep(Duration::from_secs(3600));
    tokio::pin!(drain);
    while reading || status.is_none() {
        tokio::select! {
            r = channel.recv(&mut buf), if reading => match r.and_then(|(m, c)| expected.check(c).map(|()| m)) {
                Ok(msg) => {
                    heard.stamp();
                    let _ = tx.send(WorkerEvent::Msg { role, incarnation, msg });
                }
                Err(IpcError::Closed) => reading = false,
                Err(e) => {
                    reading = false;
                    kill(expected.pid);
                    let _ = tx.send(WorkerEvent::Reset { role, incarnation, error: e.to_string() });
                }
            },
            s = child.wait(), if status.is_none() => {
                status = Some(s);
                drain.as_mut().reset(tokio::time::Instant::now() + Duration::from_secs(1));
            }
            () = &mut drain, if status.is_some() => break,
        }
    }
    let (code, signal) = match status {
        Some(Ok(s)) => {
            use std::os::unix::process::ExitStatusExt;
            (s.code(), s.signal())
        }
        Some(Err(e)) => {
            warn!(role = %role, error = %e, "waiting for worker failed");
            (None, None)
        }
        None => (None, None),
    };
    let _ = tx.send(WorkerEvent::Exited {
        role,
        incarnation,
        code,
        signal,
    });
}

/// Restart delays: `min` doubling to `max`; reset once a worker has run
/// healthy for `reset_after`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub min: Duration,
    pub max: Duration,
    pub reset_after: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        let max = max.max(min);
        Self {
            min,
            max,
            reset_after: max,
            next: min,
        }
    }

    /// The delay before restarting a worker that ran for `ran_for`.
    pub fn on_exit(&mut self, ran_for: Duration) -> Duration {
        if ran_for >= self.reset_after {
            self.next = self.min;
        }
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(Duration::from_secs(1), Duration::from_secs(60))
    }
}
