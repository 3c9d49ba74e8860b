//! Process names (proc(5): `/proc/PID/comm`, `/proc/PID/cmdline`).
//!
//! Workers are the daemon's own binary re-executed as `/proc/self/exe` (so
//! that a package upgrade replacing `/usr/sbin/upkeepd` cannot hand a
//! running parent a worker of another version). The kernel names such a
//! process after the path it was executed as: `exe`. Operators look for
//! `upkeepd`, so, like nginx's and sshd's children:
//!
//! - every process's comm (what `top`, `pidof`, `pgrep` and `killall` match)
//!   is `upkeepd`;
//! - a worker's command line starts with `upkeepd: ROLE worker` (its argv[0],
//!   set by the parent at exec), which `ps`, `pgrep -f` and `systemctl status`
//!   show.

#![forbid(unsafe_code)]

use crate::ipc::msg::Role;

/// comm of every upkeepd process (at most 15 bytes: TASK_COMM_LEN - 1).
pub const COMM: &str = "upkeepd";

/// argv[0] of a worker: `upkeepd: vrrp worker`.
pub fn worker_argv0(role: Role) -> String {
    format!("{COMM}: {role} worker")
}

/// Sets this process's comm to [`COMM`]. Writing `/proc/self/comm` renames
/// the thread-group leader (call it before any other thread starts, so that
/// threads inherit the name). Needs no privilege: it is our own process.
pub fn set_comm() -> std::io::Result<()> {
    std::fs::write("/proc/self/comm", COMM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_and_name_the_role() {
        assert!(COMM.len() <= 15);
        assert_eq!(worker_argv0(Role::Vrrp), "upkeepd: vrrp worker");
        assert_eq!(worker_argv0(Role::Checker), "upkeepd: checker worker");
    }
}
