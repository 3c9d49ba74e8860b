//! Health checks. The checker runs as an unprivileged user with no
//! capabilities; results go to the parent, which routes them to VRRP and
//! IPVS.

#![forbid(unsafe_code)]

mod connects;
pub mod dns;
pub mod file_check;
pub mod fileread;
pub mod health;
pub mod icmp;
mod lateness;
pub mod local;
pub mod outcome;
pub mod plugin;
pub mod policy;
pub mod probe;
pub mod procs;
pub mod schedule;
pub mod smtp;
pub mod spec;
pub mod tls;
pub mod udp;
pub mod worker;

use crate::config::model::Config;
use crate::ipvs::table::{rs_key, vs_key};

/// How a real server's check is named: `real_server:VS/RS`.
pub const REAL_SERVER: &str = "real_server:";

/// The name of a real server's check, from the keys of its virtual server
/// (`ipvs::table::vs_key`) and its own (`rs_key`).
pub fn real_server_source(vs: &str, rs: &str) -> String {
    format!("{REAL_SERVER}{vs}/{rs}")
}

/// Every check the configuration defines, by source name (the names VRRP
/// tracks: `script:NAME`, `process:NAME`, `file:NAME`; real-server checks
/// as `real_server:VS/RS`).
pub fn configured(cfg: &Config) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    v.extend(
        cfg.vrrp_scripts
            .iter()
            .map(|s| format!("script:{}", s.name)),
    );
    v.extend(
        cfg.track_processes
            .iter()
            .map(|s| format!("process:{}", s.name)),
    );
    v.extend(cfg.track_files.iter().map(|s| format!("file:{}", s.name)));
    for vs in &cfg.virtual_servers {
        for rs in vs.real_servers.iter().filter(|r| !r.checkers.is_empty()) {
            v.push(real_server_source(
                &vs_key(vs),
                &rs_key(rs.ip, rs.port.or(vs.port)),
            ));
        }
    }
    v
}

/// The sources of the checks the checker runs (and may report).
pub fn by_checker(cfg: &Config) -> Vec<String> {
    by_checker_weighted(cfg)
        .into_iter()
        .map(|(s, _)| s)
        .collect()
}

/// The same, each with whether its results may change a real server's
/// weight (a real server with a FILE_CHECK), from one pass over the specs.
pub fn by_checker_weighted(cfg: &Config) -> Vec<(String, bool)> {
    spec::for_checker(cfg)
        .iter()
        .map(|(name, s)| {
            let weighted = s
                .probes
                .iter()
                .any(|p| matches!(p, probe::Probe::TrackFile(_)));
            (name.to_string(), weighted)
        })
        .collect()
}

/// Whether the checker needs a plugin host for `cfg` (its executable is
/// then `upkeep-plugin-host`, see `supervisor::plugin_host`).
pub fn needs_plugins(cfg: &Config) -> bool {
    // On a thread of its own: the specs are megabytes at 10,000 real
    // servers, and the parent asks (sys::mem::apart).
    crate::sys::mem::apart(|| {
        spec::for_checker(cfg).iter().any(|(_, s)| {
            s.probes
                .iter()
                .any(|p| matches!(p, probe::Probe::Plugin(_)))
        })
    })
}

/// The sources of the checks the parent runs itself (scripts with an
/// account of their own).
pub fn by_parent(cfg: &Config) -> Vec<String> {
    spec::from_config(cfg)
        .iter()
        .filter(|(_, s)| s.by_parent())
        .map(|(name, _)| name.to_string())
        .collect()
}
