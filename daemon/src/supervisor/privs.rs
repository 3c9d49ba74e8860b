//! Privilege dropping for worker processes.
//!
//! The daemon starts as root, but a worker that parses packets or runs user
//! checks must not keep root's powers: if it is compromised, the damage is
//! limited to what it still holds. VRRP workers keep only the capabilities
//! they need (`keep_only`); checkers become an ordinary account with no
//! capabilities at all (`become_user`). Both steps are irreversible.
//!
//! Linux capabilities and credentials set through raw system calls are
//! per-thread, so call these functions in a single-threaded process (a freshly
//! forked worker), before it starts any other thread.

use std::io;

pub use capctl::Cap;
use capctl::{CapSet, CapState};
use nix::unistd::{Gid, Uid};

/// Why a privilege change failed.
#[derive(Debug, thiserror::Error)]
pub enum PrivError {
    /// A system call failed; `step` names it.
    #[error("{step}: {source}")]
    Sys {
        step: &'static str,
        #[source]
        source: io::Error,
    },
    /// No such user in the account database.
    #[error("unknown user {0:?}")]
    UnknownUser(String),
    /// No such group in the account database.
    #[error("unknown group {0:?}")]
    UnknownGroup(String),
    /// The calls succeeded but the resulting state is not the one asked for.
    #[error("{step}: privileges not dropped as expected: {detail}")]
    Verify { step: &'static str, detail: String },
}

/// `step` failed with `e` (an errno from nix or capctl).
fn sys(step: &'static str) -> impl FnOnce(io::Error) -> PrivError {
    move |source| PrivError::Sys { step, source }
}

fn errno(e: nix::errno::Errno) -> io::Error {
    io::Error::from(e)
}

fn cap_err(e: capctl::Error) -> io::Error {
    io::Error::from_raw_os_error(e.code())
}

/// Drops every capability outside `keep` from the bounding set (those this
/// library knows by name, then any newer ones the kernel has).
///
/// Needs `CAP_SETPCAP`. With `tolerate_eperm`, a missing `CAP_SETPCAP`
/// leaves the bounding set as it is instead of failing.
fn drop_bounding(keep: &CapSet, tolerate_eperm: bool) -> Result<(), PrivError> {
    let dropped = Cap::iter()
        .filter(|c| !keep.has(*c))
        .try_for_each(capctl::bounding::drop)
        .and_then(|()| capctl::bounding::clear_unknown());
    match dropped {
        Ok(()) => Ok(()),
        Err(e) if tolerate_eperm && e.code() == libc::EPERM => {
            tracing::warn!("cannot shrink the capability bounding set without CAP_SETPCAP");
            Ok(())
        }
        Err(e) => Err(sys("prctl(PR_CAPBSET_DROP)")(cap_err(e))),
    }
}

fn clear_ambient() -> Result<(), PrivError> {
    if !capctl::ambient::is_supported() {
        // Kernels before 4.3 have no ambient set.
        return Ok(());
    }
    capctl::ambient::clear()
        .and_then(|()| capctl::ambient::clear_unknown())
        .map_err(|e| sys("prctl(PR_CAP_AMBIENT_CLEAR_ALL)")(cap_err(e)))
}

fn no_new_privs() -> Result<(), PrivError> {
    capctl::prctl::set_no_new_privs().map_err(|e| sys("prctl(PR_SET_NO_NEW_PRIVS)")(cap_err(e)))
}

/// Not dumpable: no other process of the same user (the scripts a checker
/// runs, anything else running as that account) may ptrace it or read its
/// memory, where it keeps the key to its plugin cache.
fn not_dumpable() -> Result<(), PrivError> {
    capctl::prctl::set_dumpable(false).map_err(|e| sys("prctl(PR_SET_DUMPABLE)")(cap_err(e)))
}

fn cap_state() -> Result<CapState, PrivError> {
    CapState::get_current().map_err(|e| sys("capget")(cap_err(e)))
}

/// Keeps exactly `keep` in effective+permitted, clears inheritable and
/// ambient, drops every other capability from the bounding set, and sets
/// PR_SET_NO_NEW_PRIVS. The process stays uid 0.
///
/// Must be called with `CAP_SETPCAP` and every capability in `keep` held
/// (root with full capabilities does).
pub fn keep_only(keep: &[Cap]) -> Result<(), PrivError> {
    let mut set = CapSet::empty();
    set.add_all(keep.iter().copied());
    // The bounding set first: shrinking it needs CAP_SETPCAP, dropped below.
    drop_bounding(&set, false)?;
    clear_ambient()?;
    CapState {
        effective: set,
        permitted: set,
        inheritable: CapSet::empty(),
    }
    .set_current()
    .map_err(|e| sys("capset")(cap_err(e)))?;
    no_new_privs()?;

    let now = cap_state()?;
    if now.effective != set || now.permitted != set || !now.inheritable.is_empty() {
        return Err(PrivError::Verify {
            step: "keep_only",
            detail: format!("wanted {set:?}, have {now:?}"),
        });
    }
    tracing::debug!(caps = ?set, "capabilities reduced");
    Ok(())
}

use crate::account::AccountError;
pub use crate::account::{Account, DEFAULT_CHECKER_ACCOUNTS};

impl From<AccountError> for PrivError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::UnknownUser(u) => PrivError::UnknownUser(u),
            AccountError::UnknownGroup(g) => PrivError::UnknownGroup(g),
            AccountError::Lookup { step, source } => PrivError::Sys { step, source },
        }
    }
}

/// Looks up a user by name, and an optional group name overriding the
/// user's primary gid (see [`crate::account::lookup`]).
pub fn lookup(user: &str, group: Option<&str>) -> Result<Account, PrivError> {
    Ok(crate::account::lookup(user, group)?)
}

/// Default unprivileged account for the checker: the first of
/// [`DEFAULT_CHECKER_ACCOUNTS`] that exists.
pub fn default_checker_account() -> Result<Account, PrivError> {
    Ok(crate::account::default_checker_account()?)
}

/// Becomes `acct` for good: supplementary groups reduced to `acct.gid`, real,
/// effective and saved gid and uid set, every capability cleared (bounding
/// set too when `CAP_SETPCAP` is held) and PR_SET_NO_NEW_PRIVS set.
///
/// Checks the result: all three uids must be `acct.uid`, all three gids
/// `acct.gid`, and the capability sets empty.
///
/// Credentials set through raw system calls are per-thread: call this in a
/// single-threaded process (a freshly started worker).
pub fn become_user(acct: &Account) -> Result<(), PrivError> {
    // Leaving uid 0 must clear the permitted set: no SECBIT_KEEP_CAPS.
    capctl::prctl::set_keepcaps(false).map_err(|e| sys("prctl(PR_SET_KEEPCAPS)")(cap_err(e)))?;
    // Shrinking the bounding set needs CAP_SETPCAP: before setresuid.
    drop_bounding(&CapSet::empty(), true)?;
    clear_ambient()?;

    let gid = Gid::from_raw(acct.gid);
    let uid = Uid::from_raw(acct.uid);
    nix::unistd::setgroups(&[gid]).map_err(|e| sys("setgroups")(errno(e)))?;
    nix::unistd::setresgid(gid, gid, gid).map_err(|e| sys("setresgid")(errno(e)))?;
    nix::unistd::setresuid(uid, uid, uid).map_err(|e| sys("setresuid")(errno(e)))?;
    // The kernel cleared effective and permitted when leaving uid 0; clear
    // explicitly anyway (covers uid 0 targets and SECBIT_NO_SETUID_FIXUP).
    CapState::empty()
        .set_current()
        .map_err(|e| sys("capset")(cap_err(e)))?;
    no_new_privs()?;
    not_dumpable()?;

    verify_ids(acct)?;
    let now = cap_state()?;
    if !(now.effective.is_empty() && now.permitted.is_empty() && now.inheritable.is_empty()) {
        return Err(PrivError::Verify {
            step: "capget",
            detail: format!("capabilities left: {now:?}"),
        });
    }
    tracing::debug!(user = %acct.name, uid = acct.uid, gid = acct.gid, "privileges dropped");
    Ok(())
}

fn verify_ids(acct: &Account) -> Result<(), PrivError> {
    let u = nix::unistd::getresuid().map_err(|e| sys("getresuid")(errno(e)))?;
    let uids = [u.real, u.effective, u.saved].map(|x| x.as_raw());
    if uids != [acct.uid; 3] {
        return Err(PrivError::Verify {
            step: "getresuid",
            detail: format!("wanted uid {}, have {uids:?}", acct.uid),
        });
    }
    let g = nix::unistd::getresgid().map_err(|e| sys("getresgid")(errno(e)))?;
    let gids = [g.real, g.effective, g.saved].map(|x| x.as_raw());
    if gids != [acct.gid; 3] {
        return Err(PrivError::Verify {
            step: "getresgid",
            detail: format!("wanted gid {}, have {gids:?}", acct.gid),
        });
    }
    Ok(())
}

/// Value of the `key:` line of /proc/<pid>/status, trimmed.
fn status_field(pid: u32, key: &str) -> io::Result<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    text.lines()
        .find_map(|line| {
            line.strip_prefix(key)
                .and_then(|rest| rest.strip_prefix(':'))
                .map(|v| v.trim().to_owned())
        })
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("no {key} in /proc/{pid}/status"),
            )
        })
}

fn invalid(what: &str, value: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("bad {what} value {value:?}"),
    )
}

/// Capability mask of the `key:` line (hex) of /proc/<pid>/status.
fn status_caps(pid: u32, key: &str) -> io::Result<u64> {
    let value = status_field(pid, key)?;
    u64::from_str_radix(&value, 16).map_err(|_| invalid(key, &value))
}

/// Reads "CapEff" (hex) from /proc/<pid>/status.
pub fn cap_eff(pid: u32) -> io::Result<u64> {
    status_caps(pid, "CapEff")
}

/// Reads the real uid (first field of "Uid:") from /proc/<pid>/status.
pub fn proc_uid(pid: u32) -> io::Result<u32> {
    let value = status_field(pid, "Uid")?;
    value
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid("Uid", &value))
}

#[cfg(test)]
#[path = "privs_tests.rs"]
mod tests;
