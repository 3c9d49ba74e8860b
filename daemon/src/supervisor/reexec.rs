//! Re-executing the daemon in place (`upkeepctl reexec`, run by the
//! packages on upgrade): the new binary takes over without a failover.
//!
//! A plain restart makes a Master resign (priority 0) and a peer take the
//! VIPs; during a package upgrade that is a failover for nothing. Instead
//! the parent stops its workers without their clean-up (the VRRP and IPVS
//! workers are killed, so the VIPs and the IPVS table stay in the kernel),
//! writes what it knows (the record a restarted worker resumes from) to
//! `handover.json` in its runtime directory, and executes the binary now
//! at its path with `--handover`. Same pid, so systemd sees a reload
//! (RELOADING=1, then READY=1 from the new image). The new parent starts
//! its VRRP worker with that record and the time since the old one was
//! killed: within two advert intervals a Master resumes as Master (the
//! rule of `vrrp::reload::resumable`), so no peer's Master_Down_Interval
//! runs out.
//!
//! Who may do it: the control socket's peers (root or the daemon's uid).
//! The file is written by root into the runtime directory, which was
//! checked to be root's and not writable by others, mode 0600, and read
//! back only when `--handover` is given, then removed.

#![forbid(unsafe_code)]

use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ipc::msg::Resume;

pub const FILE: &str = "handover.json";
/// The argument that tells the new image to take the handover.
pub const ARG: &str = "--handover";
/// A handover older than this is not resumed from (the VRRP rule would
/// refuse a Master anyway; tracks and real servers would be stale).
const FRESH: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ReexecError {
    #[error("writing {FILE}: {0}")]
    Write(#[from] super::files::UnsafePath),
    #[error("encoding the handover: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("cannot execute {path}: {error}")]
    Exec { path: String, error: String },
}

/// What the old image tells the new one.
#[derive(Debug, Serialize, Deserialize)]
pub struct Handover {
    pub resume: Resume,
    /// CLOCK_MONOTONIC (ms) when the workers were stopped: system-wide, so
    /// comparable across the exec.
    pub stopped_ms: u64,
}

/// CLOCK_MONOTONIC in milliseconds.
pub fn monotonic_ms() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| {
            u64::try_from(t.tv_sec()).unwrap_or(0) * 1000
                + u64::try_from(t.tv_nsec()).unwrap_or(0) / 1_000_000
        })
        .unwrap_or(0)
}

/// Writes the handover into `dir` (the checked runtime directory).
pub fn write(dir: &Path, handover: &Handover) -> Result<(), ReexecError> {
    let json = serde_json::to_vec(handover)?;
    super::files::replace(dir, FILE, &json, 0o600)?;
    Ok(())
}

/// Takes (reads and removes) the handover from `dir`, with how long ago
/// the old workers stopped; None (logged) when missing, unreadable or
/// stale.
pub fn take(dir: &Path) -> Option<(Resume, Duration)> {
    let path = dir.join(FILE);
    let read = std::fs::read(&path);
    let _ = std::fs::remove_file(&path);
    let handover: Handover = match read
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "no usable handover; starting afresh");
            return None;
        }
    };
    let ago = Duration::from_millis(monotonic_ms().saturating_sub(handover.stopped_ms));
    if ago > FRESH {
        tracing::warn!(
            ago_ms = ago.as_millis(),
            "handover too old; starting afresh"
        );
        return None;
    }
    Some((handover.resume, ago))
}

/// The binary to execute: the path this one was started from, which a
/// package upgrade has replaced (`/proc/self/exe` would be the old,
/// deleted file).
fn binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/usr/sbin/upkeepd"));
    let text = exe.as_os_str().as_bytes();
    match text.strip_suffix(b" (deleted)") {
        Some(p) => PathBuf::from(std::ffi::OsStr::from_bytes(p)),
        None => exe,
    }
}

/// This process's arguments with `--handover` once at the end.
fn arguments() -> Vec<OsString> {
    let mut args: Vec<OsString> = std::env::args_os().filter(|a| a != ARG).collect();
    args.push(ARG.into());
    args
}

/// Executes the new image. Returns only on failure. `notify`: systemd's
/// variables, given back (they were taken out of the environment so that
/// workers and scripts never see them).
pub fn exec(notify: &[(&str, OsString)]) -> ReexecError {
    let path = binary();
    let c = |s: &[u8]| CString::new(s.to_vec()).ok();
    let mut env: Vec<CString> = std::env::vars_os()
        .filter(|(k, _)| !notify.iter().any(|(n, _)| k == n))
        .filter_map(|(k, v)| c(&[k.as_bytes(), b"=", v.as_bytes()].concat()))
        .collect();
    env.extend(
        notify
            .iter()
            .filter_map(|(k, v)| c(&[k.as_bytes(), b"=", v.as_bytes()].concat())),
    );
    let args: Vec<CString> = arguments().iter().filter_map(|a| c(a.as_bytes())).collect();
    let error = match c(path.as_os_str().as_bytes()) {
        Some(p) => match nix::unistd::execve(&p, &args, &env) {
            Err(e) => e.to_string(),
            Ok(never) => match never {},
        },
        None => "path has a NUL byte".into(),
    };
    ReexecError::Exec {
        path: path.display().to_string(),
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handover_is_taken_once_and_only_while_fresh() {
        let dir = std::env::temp_dir().join(format!("upkeep-handover-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut resume = Resume::default();
        resume
            .states
            .insert("VI_1".into(), crate::vrrp::fsm::State::Master);
        let h = Handover {
            resume: resume.clone(),
            stopped_ms: monotonic_ms().saturating_sub(500),
        };
        write(&dir, &h).unwrap();
        let (got, ago) = take(&dir).unwrap();
        assert_eq!(got, resume);
        assert!(ago >= Duration::from_millis(500) && ago < FRESH, "{ago:?}");
        assert!(take(&dir).is_none(), "taken twice");
        let stale = Handover {
            resume,
            stopped_ms: monotonic_ms().saturating_sub(60_000),
        };
        write(&dir, &stale).unwrap();
        assert!(take(&dir).is_none(), "a stale handover was resumed");
        std::fs::write(dir.join(FILE), b"{garbage").unwrap();
        assert!(take(&dir).is_none());
        assert!(!dir.join(FILE).exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_new_image_gets_one_handover_argument() {
        let args = arguments();
        assert_eq!(args.iter().filter(|a| *a == ARG).count(), 1);
        assert_eq!(
            args.last().map(|a| a.as_os_str()),
            Some(std::ffi::OsStr::new(ARG))
        );
    }
}
