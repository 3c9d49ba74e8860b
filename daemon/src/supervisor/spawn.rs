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

/// How a worker is started beyond its role.
#[derive(Debug, Default)]
pub struct Launch {
    /// More arguments (its account, the plugin cache).
    pub extra: Vec<String>,
    /// The uid it runs as (its messages must come from it).
    pub uid: u32,
    /// A descriptor it gets as [`ipc::LISTENER_FD`] (the metrics listener).
    pub listener: Option<std::os::fd::RawFd>,
    /// The executable to run, open (the plugin host, `plugin_host.rs`);
    /// None: this one.
    pub exe: Option<std::os::fd::RawFd>,
}

/// Starts `role` and a task that forwards its messages to `tx` and reports
/// its exit.
pub fn spawn(
    role: Role,
    incarnation: u64,
    launch: &Launch,
    tx: mpsc::Sender<WorkerEvent>,
) -> std::io::Result<Spawned> {
    let (parent_end, child_end) = ipc::socketpair()?;
    // The descriptor is close-on-exec: execve resolves the path before it
    // closes those (an ELF file, not a script, so nothing reads it after).
    let exe = match launch.exe {
        Some(fd) => format!("/proc/self/fd/{fd}"),
        None => "/proc/self/exe".to_string(),
    };
    let mut cmd = std::process::Command::new(exe);
    // argv[0] names the worker in ps and systemctl status (crate::procname).
    std::os::unix::process::CommandExt::arg0(&mut cmd, crate::procname::worker_argv0(role));
    cmd.arg("--role").arg(role.name()).args(&launch.extra);
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
    let mut fds = vec![(child_end.as_raw_fd(), WORKER_FD)];
    fds.extend(launch.listener.map(|l| (l, ipc::LISTENER_FD)));
    crate::sys::process::hand_over_on_exec(&mut cmd, &fds, std::process::id())?;
    let child = tokio::process::Command::from(cmd).spawn()?;
    drop(child_end);
    let pid = child.id().unwrap_or(0);
    let channel = Arc::new(Channel::new(parent_end)?);
    channel.pass_credentials()?;
    let expected = Expected {
        pid,
        uid: launch.uid,
    };
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

/// Sends SIGKILL to a worker (it is not reaped until its task sees it exit,
/// so the pid cannot have been reused).
pub fn kill(pid: u32) {
    let Ok(p) = i32::try_from(pid) else { return };
    if p <= 0 {
        return;
    }
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(p),
        nix::sys::signal::Signal::SIGKILL,
    );
}

async fn supervise(
    role: Role,
    incarnation: u64,
    mut child: tokio::process::Child,
    channel: Arc<Channel>,
    expected: Expected,
    heard: Arc<Heard>,
    tx: mpsc::Sender<WorkerEvent>,
) {
    let mut reader = ipc::Reader::new(ipc::FROM_WORKER_LIMIT);
    let mut reading = true;
    let mut status = None;
    // After the exit, what is still queued on the socket is read (for a
    // bounded time): a worker's last transitions must not be lost.
    let drain = tokio::time::sleep(Duration::from_secs(3600));
    tokio::pin!(drain);
    while reading || status.is_none() {
        tokio::select! {
            r = channel.recv(&mut reader), if reading => match r.and_then(|(m, c)| expected.check(c).map(|()| m)) {
                Ok(msg) => {
                    heard.stamp();
                    let _ = tx.send(WorkerEvent::Msg { role, incarnation, msg }).await;
                }
                Err(IpcError::Closed) => reading = false,
                Err(e) => {
                    reading = false;
                    kill(expected.pid);
                    let _ = tx.send(WorkerEvent::Reset { role, incarnation, error: e.to_string() }).await;
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
    let _ = tx
        .send(WorkerEvent::Exited {
            role,
            incarnation,
            code,
            signal,
        })
        .await;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_and_resets_after_a_healthy_run() {
        let mut b = Backoff::default();
        let quick = Duration::from_millis(100);
        let delays: Vec<u64> = (0..8).map(|_| b.on_exit(quick).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(b.on_exit(Duration::from_secs(61)).as_secs(), 1);
        assert_eq!(b.on_exit(quick).as_secs(), 2);
    }
}
