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

use std::ffi::{CStr, CString};
use std::io;

/// Capability number of `CAP_NET_ADMIN` (addresses, routes, IPVS).
pub const CAP_NET_ADMIN: u32 = 12;
/// Capability number of `CAP_NET_RAW` (raw VRRP and ARP sockets).
pub const CAP_NET_RAW: u32 = 13;

/// `_LINUX_CAPABILITY_VERSION_3`: 64-bit sets spread over two data structs.
const CAP_VERSION_3: u32 = 0x2008_0522;
/// Highest capability number assumed when /proc does not say.
const DEFAULT_LAST_CAP: u32 = 40;
/// Lookup buffers never grow past this (bytes).
const MAX_LOOKUP_BUF: usize = 1 << 20;

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
    /// A capability number the kernel interface cannot express.
    #[error("invalid capability number {0}")]
    InvalidCapability(u32),
    /// The calls succeeded but the resulting state is not the one asked for.
    #[error("{step}: privileges not dropped as expected: {detail}")]
    Verify { step: &'static str, detail: String },
}

impl PrivError {
    /// A `Sys` error for `step` carrying the current `errno`.
    fn last_os(step: &'static str) -> Self {
        PrivError::Sys {
            step,
            source: io::Error::last_os_error(),
        }
    }
}

/// `struct __user_cap_header_struct`.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

/// `struct __user_cap_data_struct`; version 3 uses two (low and high words).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The calling thread's three capability sets, as 64-bit masks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct CapSets {
    effective: u64,
    permitted: u64,
    inheritable: u64,
}

fn split(mask: u64) -> (u32, u32) {
    // Truncation is the point: low word, then high word.
    (mask as u32, (mask >> 32) as u32)
}

fn capget() -> Result<CapSets, PrivError> {
    let mut header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: `header` is a valid version-3 header and `data` holds the two
    // structs that version 3 writes; both outlive the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut header as *mut CapHeader,
            data.as_mut_ptr(),
        )
    };
    if rc != 0 {
        return Err(PrivError::last_os("capget"));
    }
    let join = |lo: u32, hi: u32| u64::from(lo) | (u64::from(hi) << 32);
    Ok(CapSets {
        effective: join(data[0].effective, data[1].effective),
        permitted: join(data[0].permitted, data[1].permitted),
        inheritable: join(data[0].inheritable, data[1].inheritable),
    })
}

fn capset(sets: CapSets) -> Result<(), PrivError> {
    let mut header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let (e0, e1) = split(sets.effective);
    let (p0, p1) = split(sets.permitted);
    let (i0, i1) = split(sets.inheritable);
    let data = [
        CapData {
            effective: e0,
            permitted: p0,
            inheritable: i0,
        },
        CapData {
            effective: e1,
            permitted: p1,
            inheritable: i1,
        },
    ];
    // SAFETY: `header` is a valid version-3 header (pid 0: this thread) and
    // `data` holds the two structs version 3 reads; both outlive the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_capset,
            &mut header as *mut CapHeader,
            data.as_ptr(),
        )
    };
    if rc != 0 {
        return Err(PrivError::last_os("capset"));
    }
    Ok(())
}

/// `prctl` with all five arguments given (unused ones must be zero).
fn prctl(option: libc::c_int, arg2: libc::c_ulong, arg3: libc::c_ulong) -> io::Result<()> {
    // SAFETY: every option used here takes plain integer arguments; none is
    // interpreted as a pointer.
    let rc = unsafe { libc::prctl(option, arg2, arg3, 0 as libc::c_ulong, 0 as libc::c_ulong) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Highest capability number this kernel knows.
fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .filter(|&n| n < 64)
        .unwrap_or(DEFAULT_LAST_CAP)
}

/// Mask of `keep`, rejecting numbers outside the 64-bit sets.
fn mask_of(keep: &[u32]) -> Result<u64, PrivError> {
    keep.iter().try_fold(0u64, |mask, &cap| {
        if cap >= 64 {
            Err(PrivError::InvalidCapability(cap))
        } else {
            Ok(mask | (1u64 << cap))
        }
    })
}

/// Drops every capability outside `keep` from the bounding set.
///
/// Needs `CAP_SETPCAP`. With `tolerate_eperm`, a missing `CAP_SETPCAP` leaves
/// the bounding set as it is instead of failing.
fn drop_bounding(keep: u64, tolerate_eperm: bool) -> Result<(), PrivError> {
    for cap in 0..=last_cap() {
        if keep & (1u64 << cap) != 0 {
            continue;
        }
        match prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(cap), 0) {
            Ok(()) => {}
            // Not a capability this kernel knows: nothing to drop.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
            Err(e) if tolerate_eperm && e.raw_os_error() == Some(libc::EPERM) => {
                tracing::warn!("cannot shrink the capability bounding set without CAP_SETPCAP");
                return Ok(());
            }
            Err(source) => {
                return Err(PrivError::Sys {
                    step: "prctl(PR_CAPBSET_DROP)",
                    source,
                });
            }
        }
    }
    Ok(())
}

fn clear_ambient() -> Result<(), PrivError> {
    match prctl(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
        0,
    ) {
        // Kernels before 4.3 have no ambient set.
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(()),
        Err(source) => Err(PrivError::Sys {
            step: "prctl(PR_CAP_AMBIENT_CLEAR_ALL)",
            source,
        }),
        Ok(()) => Ok(()),
    }
}

fn no_new_privs() -> Result<(), PrivError> {
    prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0).map_err(|source| PrivError::Sys {
        step: "prctl(PR_SET_NO_NEW_PRIVS)",
        source,
    })
}

/// Keeps exactly `keep` (list of capability numbers) in effective+permitted,
/// clears inheritable and ambient, drops every other capability from the
/// bounding set, and sets PR_SET_NO_NEW_PRIVS. Process stays uid 0.
///
/// Must be called with `CAP_SETPCAP` and every capability in `keep` held
/// (root with full capabilities does).
pub fn keep_only(keep: &[u32]) -> Result<(), PrivError> {
    let mask = mask_of(keep)?;
    // The bounding set first: shrinking it needs CAP_SETPCAP, dropped below.
    drop_bounding(mask, false)?;
    clear_ambient()?;
    capset(CapSets {
        effective: mask,
        permitted: mask,
        inheritable: 0,
    })?;
    no_new_privs()?;

    let now = capget()?;
    if now.effective != mask || now.permitted != mask || now.inheritable != 0 {
        return Err(PrivError::Verify {
            step: "keep_only",
            detail: format!("wanted {mask:#x}, have {now:?}"),
        });
    }
    tracing::debug!(caps = format_args!("{mask:#x}"), "capabilities reduced");
    Ok(())
}

/// A resolved account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

/// Initial buffer size for the reentrant account lookups.
fn lookup_buf_len(key: libc::c_int) -> usize {
    // SAFETY: sysconf only reads its integer argument.
    let n = unsafe { libc::sysconf(key) };
    usize::try_from(n).ok().filter(|&n| n > 0).unwrap_or(1024)
}

/// Whether a `get*nam_r` return code means "no such entry" (see getpwnam(3)).
fn not_found(rc: libc::c_int) -> bool {
    matches!(
        rc,
        0 | libc::ENOENT | libc::ESRCH | libc::EBADF | libc::EPERM
    )
}

/// One `get*nam_r` lookup of `name`: the buffer grows on ERANGE (up to
/// [`MAX_LOOKUP_BUF`]). Returns the entry with the buffer its strings point
/// into, or `None` when there is no such entry.
///
/// SAFETY contract for `call`: it passes its arguments (name, entry, buffer,
/// buffer length, result) to a reentrant libc lookup of that shape.
fn lookup_entry<T>(
    name: &CStr,
    size_key: libc::c_int,
    step: &'static str,
    call: unsafe extern "C" fn(
        *const libc::c_char,
        *mut T,
        *mut libc::c_char,
        libc::size_t,
        *mut *mut T,
    ) -> libc::c_int,
) -> Result<Option<(T, Vec<libc::c_char>)>, PrivError> {
    let mut len = lookup_buf_len(size_key);
    loop {
        let mut buf = vec![0 as libc::c_char; len];
        // SAFETY: T is a libc passwd/group: all-zero (null pointers, zero
        // ids) is a valid value.
        let mut entry: T = unsafe { std::mem::zeroed() };
        let mut result: *mut T = std::ptr::null_mut();
        // SAFETY: `name` is NUL-terminated; `entry`, `buf` (of `buf.len()`
        // bytes) and `result` are valid and writable for the whole call.
        let rc = unsafe {
            call(
                name.as_ptr(),
                &mut entry,
                buf.as_mut_ptr(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && len < MAX_LOOKUP_BUF {
            len *= 2;
            continue;
        }
        if !result.is_null() {
            return Ok(Some((entry, buf)));
        }
        if not_found(rc) {
            return Ok(None);
        }
        return Err(PrivError::Sys {
            step,
            source: io::Error::from_raw_os_error(rc),
        });
    }
}

fn lookup_user(user: &str) -> Result<Account, PrivError> {
    let unknown = || PrivError::UnknownUser(user.to_owned());
    let c_name = CString::new(user).map_err(|_| unknown())?;
    let (pwd, _buf) = lookup_entry(
        &c_name,
        libc::_SC_GETPW_R_SIZE_MAX,
        "getpwnam_r",
        libc::getpwnam_r,
    )?
    .ok_or_else(unknown)?;
    let name = if pwd.pw_name.is_null() {
        user.to_owned()
    } else {
        // SAFETY: on success pw_name points to a NUL-terminated string
        // inside `_buf`, which is still alive here.
        unsafe { CStr::from_ptr(pwd.pw_name) }
            .to_string_lossy()
            .into_owned()
    };
    Ok(Account {
        name,
        uid: pwd.pw_uid,
        gid: pwd.pw_gid,
    })
}

fn lookup_group(group: &str) -> Result<u32, PrivError> {
    let unknown = || PrivError::UnknownGroup(group.to_owned());
    let c_name = CString::new(group).map_err(|_| unknown())?;
    let (grp, _buf) = lookup_entry(
        &c_name,
        libc::_SC_GETGR_R_SIZE_MAX,
        "getgrnam_r",
        libc::getgrnam_r,
    )?
    .ok_or_else(unknown)?;
    Ok(grp.gr_gid)
}

/// Looks up a user by name (getpwnam_r, thread-safe), and an optional group
/// name (getgrnam_r) overriding the user's primary gid.
pub fn lookup(user: &str, group: Option<&str>) -> Result<Account, PrivError> {
    let mut acct = lookup_user(user)?;
    if let Some(group) = group {
        acct.gid = lookup_group(group)?;
    }
    Ok(acct)
}

/// Default unprivileged account for the checker: user `upkeep` if it exists,
/// else `nobody`.
pub fn default_checker_account() -> Result<Account, PrivError> {
    match lookup("upkeep", None) {
        Err(PrivError::UnknownUser(_)) => lookup("nobody", None),
        other => other,
    }
}

/// Becomes `acct` for good: supplementary groups reduced to `acct.gid`, real,
/// effective and saved gid and uid set, every capability cleared (bounding
/// set too when `CAP_SETPCAP` is held) and PR_SET_NO_NEW_PRIVS set.
///
/// Checks the result: all three uids must be `acct.uid`, all three gids
/// `acct.gid`, and the capability sets empty.
pub fn become_user(acct: &Account) -> Result<(), PrivError> {
    // Leaving uid 0 must clear the permitted set: no SECBIT_KEEP_CAPS.
    prctl(libc::PR_SET_KEEPCAPS, 0, 0).map_err(|source| PrivError::Sys {
        step: "prctl(PR_SET_KEEPCAPS)",
        source,
    })?;
    // Shrinking the bounding set needs CAP_SETPCAP: before setresuid.
    drop_bounding(0, true)?;
    clear_ambient()?;

    let gid: libc::gid_t = acct.gid;
    // SAFETY: points to one gid_t, matching the count of 1.
    if unsafe { libc::setgroups(1, &gid) } != 0 {
        return Err(PrivError::last_os("setgroups"));
    }
    // SAFETY: plain integer arguments. The libc wrapper applies the change to
    // every thread of the process.
    if unsafe { libc::setresgid(gid, gid, gid) } != 0 {
        return Err(PrivError::last_os("setresgid"));
    }
    // SAFETY: as above.
    if unsafe { libc::setresuid(acct.uid, acct.uid, acct.uid) } != 0 {
        return Err(PrivError::last_os("setresuid"));
    }
    // The kernel cleared effective and permitted when leaving uid 0; clear
    // explicitly anyway (covers uid 0 targets and SECBIT_NO_SETUID_FIXUP).
    capset(CapSets::default())?;
    no_new_privs()?;

    verify_ids(acct)?;
    let now = capget()?;
    if now != CapSets::default() {
        return Err(PrivError::Verify {
            step: "capget",
            detail: format!("capabilities left: {now:?}"),
        });
    }
    tracing::debug!(user = %acct.name, uid = acct.uid, gid = acct.gid, "privileges dropped");
    Ok(())
}

fn verify_ids(acct: &Account) -> Result<(), PrivError> {
    let (mut ruid, mut euid, mut suid) = (0, 0, 0);
    // SAFETY: the three pointers refer to distinct, writable locals.
    if unsafe { libc::getresuid(&mut ruid, &mut euid, &mut suid) } != 0 {
        return Err(PrivError::last_os("getresuid"));
    }
    if [ruid, euid, suid] != [acct.uid; 3] {
        return Err(PrivError::Verify {
            step: "getresuid",
            detail: format!("wanted uid {}, have {ruid}/{euid}/{suid}", acct.uid),
        });
    }
    let (mut rgid, mut egid, mut sgid) = (0, 0, 0);
    // SAFETY: the three pointers refer to distinct, writable locals.
    if unsafe { libc::getresgid(&mut rgid, &mut egid, &mut sgid) } != 0 {
        return Err(PrivError::last_os("getresgid"));
    }
    if [rgid, egid, sgid] != [acct.gid; 3] {
        return Err(PrivError::Verify {
            step: "getresgid",
            detail: format!("wanted gid {}, have {rgid}/{egid}/{sgid}", acct.gid),
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

/// Sets PR_SET_PDEATHSIG to SIGTERM (a worker stops cleanly when its parent
/// dies).
///
/// The signal follows the death of the parent *thread* that forked us, and a
/// parent that died before this call is not noticed: callers compare
/// `getppid()` with the pid they expect afterwards.
pub fn die_with_parent() -> io::Result<()> {
    prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong, 0)
}

#[cfg(test)]
#[path = "privs_tests.rs"]
mod tests;
