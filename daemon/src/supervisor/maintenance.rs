//! Planned maintenance from the command line (`upkeepctl maintenance`,
//! `upkeepctl handover`): which instances the operator holds out of Master,
//! kept in the state directory so that the hold survives reloads, worker
//! restarts and restarts of the daemon; and which instances a handover may
//! move. The decisions are sans-IO; `Parent` carries them out (the VRRP
//! worker resigns the instances: `vrrp::fsm_maintenance`).

use std::collections::BTreeSet;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use tracing::warn;

use super::files::{self, UnsafePath};
use super::record::Record;
use crate::config::model::Config;
use crate::vrrp::fsm::State;

/// The file in the state directory: a JSON list of instance names.
pub const FILE: &str = "maintenance.json";
/// More than any real list of instance names.
const MAX_FILE: u64 = 1 << 20;

/// The set kept in `dir` (empty when there is none). A file that cannot
/// be read or parsed is logged and taken as empty: the daemon must start.
pub fn load(dir: &Path) -> BTreeSet<String> {
    let path = dir.join(FILE);
    let read = || -> std::io::Result<String> {
        // Never through a symlink; the directory was checked to be trusted.
        let f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)?;
        let mut text = String::new();
        f.take(MAX_FILE).read_to_string(&mut text)?;
        Ok(text)
    };
    match read().and_then(|text| serde_json::from_str(&text).map_err(std::io::Error::other)) {
        Ok(set) => set,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeSet::new(),
        Err(e) => {
            warn!(file = %path.display(), error = %e, "maintenance file unreadable; no instance in maintenance");
            BTreeSet::new()
        }
    }
}

/// Writes the set to `dir` atomically (temporary file, then rename; see
/// `files::replace`), mode 0644.
pub fn save(dir: &Path, set: &BTreeSet<String>) -> Result<(), UnsafePath> {
    let mut text = serde_json::to_vec_pretty(set).unwrap_or_else(|_| b"[]".to_vec());
    text.push(b'\n');
    files::replace(dir, FILE, &text, 0o644)
}

fn names(cfg: &Config) -> Vec<&str> {
    cfg.vrrp_instances.iter().map(|i| i.name.as_str()).collect()
}

fn unknown(cfg: &Config, name: &str) -> String {
    let valid = names(cfg);
    if valid.is_empty() {
        format!("unknown instance '{name}': no vrrp_instance is configured")
    } else {
        format!(
            "unknown instance '{name}'; configured instances: {}",
            valid.join(", ")
        )
    }
}

/// The set after `maintenance on|off NAMES` (no names: every configured
/// instance; `off` with no names clears the set). A name must be
/// configured, except that `off` may clear one the set still holds (an
/// instance removed from the configuration since).
pub fn change(
    cfg: &Config,
    current: &BTreeSet<String>,
    on: bool,
    requested: &[String],
) -> Result<BTreeSet<String>, String> {
    let mut set = current.clone();
    if requested.is_empty() {
        if on {
            set.extend(names(cfg).into_iter().map(String::from));
        } else {
            set.clear();
        }
        return Ok(set);
    }
    for name in requested {
        let configured = cfg.vrrp_instances.iter().any(|i| &i.name == name);
        if !configured && (on || !set.contains(name)) {
            return Err(unknown(cfg, name));
        }
    }
    for name in requested {
        if on {
            set.insert(name.clone());
        } else {
            set.remove(name);
        }
    }
    Ok(set)
}

/// The instances `handover NAMES` moves (no names: every Master). Each
/// must be configured, Master now, not in maintenance, and (without
/// `force`) not one that would take the VIPs straight back: with `preempt`
/// on, a node of higher priority preempts the new Master as soon as it
/// hears it, so the handover would be two interruptions instead of one.
pub fn handover(
    cfg: &Config,
    record: &Record,
    requested: &[String],
    force: bool,
) -> Result<Vec<String>, String> {
    let master = |name: &str| record.states.get(name) == Some(&State::Master);
    let targets: Vec<String> = if requested.is_empty() {
        let all: Vec<String> = names(cfg)
            .into_iter()
            .filter(|n| master(n))
            .map(String::from)
            .collect();
        if all.is_empty() {
            return Err("no instance is Master here: nothing to hand over".into());
        }
        all
    } else {
        requested.to_vec()
    };
    for name in &targets {
        let Some(inst) = cfg.vrrp_instances.iter().find(|i| &i.name == name) else {
            return Err(unknown(cfg, name));
        };
        if record.maintenance.contains(name) {
            return Err(format!("{name} is in maintenance: it is not Master"));
        }
        if !master(name) {
            let state = record.states.get(name).map_or("not started", |s| s.name());
            return Err(format!(
                "{name} is {state}, not MASTER: nothing to hand over"
            ));
        }
        if inst.preempt && !force {
            return Err(format!(
                "{name} preempts (priority {}): once the peer is Master this node would take \
                 the VIPs back if its priority is higher, a second interruption. Use \
                 `upkeepctl maintenance on {name}` to keep it Backup until `maintenance off`, \
                 configure nopreempt, or hand over anyway with --force (right when the peer's \
                 priority is the same or higher)",
                inst.priority
            ));
        }
    }
    Ok(targets)
}

#[cfg(test)]
#[path = "maintenance_tests.rs"]
mod tests;
