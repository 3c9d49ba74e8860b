//! Tests for privilege dropping. Every drop is irreversible, so each one runs
//! in a forked child that reports through its exit code.

use super::*;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

const CAP_SETGID: u32 = 6;
const CAP_SETUID: u32 = 7;
const CAP_SETPCAP: u32 = 8;

/// True when the tests that change privileges can run here.
fn privileged() -> bool {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipping: needs root");
        return false;
    }
    let need = [
        CAP_SETGID,
        CAP_SETUID,
        CAP_SETPCAP,
        CAP_NET_ADMIN,
        CAP_NET_RAW,
    ]
    .iter()
    .fold(0u64, |m, &c| m | (1 << c));
    let have = cap_eff(std::process::id()).unwrap();
    if have & need != need {
        eprintln!("skipping: root without the needed capabilities ({have:#x})");
        return false;
    }
    true
}

/// Waits for `pid`, killing it after `limit`; returns its exit code, or
/// 128 + signal number when a signal ended it.
fn wait_exit(pid: libc::pid_t, limit: Duration) -> i32 {
    let start = Instant::now();
    loop {
        let mut status = 0;
        // SAFETY: `status` is a valid, writable int.
        let rc = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if rc == pid {
            if libc::WIFEXITED(status) {
                return libc::WEXITSTATUS(status);
            }
            if libc::WIFSIGNALED(status) {
                return 128 + libc::WTERMSIG(status);
            }
            continue;
        }
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            panic!("waitpid({pid}): {e}");
        }
        if start.elapsed() > limit {
            // SAFETY: `pid` is our own child, not yet reaped.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let _ = wait_exit(pid, Duration::from_secs(5));
            panic!("child {pid} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs `f` in a forked child and returns its exit code. A panic in the child
/// exits with 101; the child never returns into the test harness.
fn in_child(f: impl FnOnce() -> i32) -> i32 {
    // SAFETY: the child only runs `f` (no locks shared with other test
    // threads are taken: glibc resets malloc's locks across fork) and then
    // leaves through _exit without unwinding into the harness.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", io::Error::last_os_error());
    if pid == 0 {
        let code = std::panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or(101);
        // SAFETY: ends the forked child at once, as intended.
        unsafe { libc::_exit(code) };
    }
    wait_exit(pid, Duration::from_secs(30))
}

/// Reads a capability mask line (`CapBnd`, ...) of our own status.
fn self_caps(key: &str) -> u64 {
    status_caps(std::process::id(), key).unwrap_or(u64::MAX)
}

fn no_new_privs_flag() -> String {
    status_field(std::process::id(), "NoNewPrivs").unwrap_or_default()
}

fn resuid() -> [libc::uid_t; 3] {
    let (mut r, mut e, mut s) = (0, 0, 0);
    // SAFETY: three distinct, writable locals.
    unsafe { libc::getresuid(&mut r, &mut e, &mut s) };
    [r, e, s]
}

/// Child body for `keep_only(keep)`: distinct exit code per failed check.
fn check_keep_only(keep: &[u32]) -> i32 {
    let want: u64 = keep.iter().fold(0, |m, &c| m | (1 << c));
    if keep_only(keep).is_err() {
        return 2;
    }
    if cap_eff(std::process::id()).ok() != Some(want) {
        return 3;
    }
    if self_caps("CapPrm") != want {
        return 4;
    }
    if self_caps("CapBnd") != want {
        return 5;
    }
    if self_caps("CapInh") != 0 || self_caps("CapAmb") != 0 {
        return 6;
    }
    if no_new_privs_flag() != "1" {
        return 7;
    }
    if resuid() != [0; 3] || proc_uid(std::process::id()).ok() != Some(0) {
        return 8;
    }
    0
}

#[test]
fn keep_only_net_admin_and_raw() {
    if !privileged() {
        return;
    }
    assert_eq!(
        in_child(|| check_keep_only(&[CAP_NET_ADMIN, CAP_NET_RAW])),
        0
    );
}

#[test]
fn keep_only_net_admin() {
    if !privileged() {
        return;
    }
    assert_eq!(in_child(|| check_keep_only(&[CAP_NET_ADMIN])), 0);
}

#[test]
fn keep_only_nothing() {
    if !privileged() {
        return;
    }
    assert_eq!(in_child(|| check_keep_only(&[])), 0);
}

#[test]
fn keep_only_rejects_bad_capability_before_changing_anything() {
    let before = cap_eff(std::process::id()).unwrap();
    assert!(matches!(
        keep_only(&[CAP_NET_RAW, 64]),
        Err(PrivError::InvalidCapability(64))
    ));
    assert_eq!(cap_eff(std::process::id()).unwrap(), before);
}

#[test]
fn become_nobody() {
    if !privileged() {
        return;
    }
    // Look up in the parent: NSS in a forked child of a threaded process is
    // best avoided.
    let acct = lookup("nobody", None).unwrap();
    assert_ne!(acct.uid, 0);
    let code = in_child(move || {
        if let Err(e) = become_user(&acct) {
            // Visible even under capture: the child's stderr is the test's.
            let msg = format!("become_user: {e}\n");
            // SAFETY: writes `msg.len()` bytes from a live buffer to fd 2.
            unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
            return 2;
        }
        let pid = std::process::id();
        if resuid() != [acct.uid; 3] {
            return 3;
        }
        if proc_uid(pid).ok() != Some(acct.uid) {
            return 4;
        }
        if cap_eff(pid).ok() != Some(0) || self_caps("CapPrm") != 0 {
            return 5;
        }
        if self_caps("CapBnd") != 0 {
            return 6;
        }
        if self_caps("CapInh") != 0 || self_caps("CapAmb") != 0 {
            return 7;
        }
        if no_new_privs_flag() != "1" {
            return 8;
        }
        let mut groups = [0 as libc::gid_t; 8];
        // SAFETY: `groups` has room for the 8 entries announced.
        let n = unsafe { libc::getgroups(8, groups.as_mut_ptr()) };
        if n != 1 || groups[0] != acct.gid {
            return 9;
        }
        // SAFETY: plain integer arguments; expected to fail.
        if unsafe { libc::setuid(0) } == 0 || resuid() != [acct.uid; 3] {
            return 10;
        }
        // SAFETY: as above.
        if unsafe { libc::setgid(0) } == 0 {
            return 11;
        }
        if keep_only(&[CAP_NET_RAW]).is_ok() {
            return 12;
        }
        0
    });
    assert_eq!(code, 0);
}

#[test]
fn become_user_with_group_override() {
    if !privileged() {
        return;
    }
    let group = ["nogroup", "nobody"]
        .into_iter()
        .find(|g| lookup("nobody", Some(g)).is_ok())
        .unwrap();
    let acct = lookup("nobody", Some(group)).unwrap();
    let code = in_child(move || {
        if become_user(&acct).is_err() {
            return 2;
        }
        let (mut r, mut e, mut s) = (0, 0, 0);
        // SAFETY: three distinct, writable locals.
        unsafe { libc::getresgid(&mut r, &mut e, &mut s) };
        if [r, e, s] != [acct.gid; 3] {
            return 3;
        }
        0
    });
    assert_eq!(code, 0);
}

#[test]
fn lookup_root() {
    let root = lookup("root", None).unwrap();
    assert_eq!(root.uid, 0);
    assert_eq!(root.gid, 0);
    assert_eq!(root.name, "root");
}

#[test]
fn lookup_unknown_user() {
    let err = lookup("upkeep-no-such-user-xyz", None).unwrap_err();
    assert!(
        matches!(&err, PrivError::UnknownUser(n) if n == "upkeep-no-such-user-xyz"),
        "{err:?}"
    );
    assert!(matches!(
        lookup("bad\0name", None),
        Err(PrivError::UnknownUser(_))
    ));
}

#[test]
fn lookup_with_group() {
    let (group, acct) = ["nogroup", "nobody"]
        .into_iter()
        .find_map(|g| lookup("nobody", Some(g)).ok().map(|a| (g, a)))
        .expect("neither group nogroup nor group nobody exists");
    let nobody = lookup("nobody", None).unwrap();
    assert_eq!(acct.uid, nobody.uid);
    assert_ne!(acct.gid, 0, "group {group}");

    let as_root_group = lookup("nobody", Some("root")).unwrap();
    assert_eq!(as_root_group.uid, nobody.uid);
    assert_eq!(as_root_group.gid, 0);
}

#[test]
fn lookup_unknown_group() {
    let err = lookup("root", Some("upkeep-no-such-group-xyz")).unwrap_err();
    assert!(
        matches!(&err, PrivError::UnknownGroup(n) if n == "upkeep-no-such-group-xyz"),
        "{err:?}"
    );
}

#[test]
fn default_checker_account_is_upkeep_or_nobody() {
    let acct = default_checker_account().unwrap();
    assert!(acct.name == "upkeep" || acct.name == "nobody", "{acct:?}");
    if lookup("upkeep", None).is_err() {
        assert_eq!(acct, lookup("nobody", None).unwrap());
    }
}

#[test]
fn proc_readers_match_this_process() {
    let pid = std::process::id();
    // SAFETY: getuid cannot fail.
    assert_eq!(proc_uid(pid).unwrap(), unsafe { libc::getuid() });
    // The main thread's caps; test threads share them unless a test changed
    // its own thread (none does outside forked children).
    assert_eq!(cap_eff(pid).unwrap(), capget().unwrap().effective);
    assert!(cap_eff(u32::MAX).is_err());
    assert!(proc_uid(u32::MAX).is_err());
}

#[test]
fn errors_name_the_step() {
    let err = PrivError::Sys {
        step: "setresuid",
        source: io::Error::from_raw_os_error(libc::EPERM),
    };
    let text = err.to_string();
    assert!(text.starts_with("setresuid: "), "{text}");
    assert!(std::error::Error::source(&err).is_some());
}

/// A (a subreaper) forks B, B forks C; C calls die_with_parent and sends its
/// pid to A through a pipe; A then kills B, and C must die of SIGTERM.
#[test]
fn die_with_parent_delivers_sigterm() {
    let code = in_child(|| {
        if prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0).is_err() {
            return 2;
        }
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            return 3;
        }
        let b = in_child_nowait(move || {
            // SAFETY: getpid cannot fail.
            let b_pid = unsafe { libc::getpid() };
            let c = in_child_nowait(move || {
                if die_with_parent().is_err() {
                    return 4;
                }
                // SAFETY: getppid cannot fail.
                if unsafe { libc::getppid() } != b_pid {
                    return 5;
                }
                // SAFETY: getpid cannot fail.
                let me = unsafe { libc::getpid() }.to_ne_bytes();
                // SAFETY: writes `me.len()` bytes from a live buffer.
                unsafe { libc::write(fds[1], me.as_ptr().cast(), me.len()) };
                loop {
                    // SAFETY: waits for a signal; SIGTERM ends the process.
                    unsafe { libc::pause() };
                }
            });
            if c < 0 {
                return 6;
            }
            loop {
                // SAFETY: waits for A's SIGKILL.
                unsafe { libc::pause() };
            }
        });
        if b < 0 {
            return 7;
        }
        let mut buf = [0u8; 4];
        // SAFETY: reads at most `buf.len()` bytes into a live buffer.
        let n = unsafe { libc::read(fds[0], buf.as_mut_ptr().cast(), buf.len()) };
        if n != 4 {
            // SAFETY: `b` is our own child.
            unsafe { libc::kill(b, libc::SIGKILL) };
            return 8;
        }
        let c = libc::pid_t::from_ne_bytes(buf);
        // SAFETY: `b` is our own child, not yet reaped.
        unsafe { libc::kill(b, libc::SIGKILL) };
        if wait_exit(b, Duration::from_secs(10)) != 128 + libc::SIGKILL {
            return 9;
        }
        // C is now ours (we are its subreaper).
        if wait_exit(c, Duration::from_secs(10)) != 128 + libc::SIGTERM {
            return 10;
        }
        0
    });
    assert_eq!(code, 0);
}

/// Forks; the child runs `f` and exits with its result. Returns the pid.
fn in_child_nowait(f: impl FnOnce() -> i32) -> libc::pid_t {
    // SAFETY: as in `in_child`.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let code = std::panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or(101);
        // SAFETY: ends the forked child at once, as intended.
        unsafe { libc::_exit(code) };
    }
    pid
}
