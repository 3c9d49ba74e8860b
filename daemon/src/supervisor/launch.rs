//! Which workers a configuration needs and how each is started: its
//! account, its descriptors, the configuration it gets and the state it
//! resumes from.

use std::os::fd::AsRawFd;

use tracing::warn;

use super::spawn::Launch;
use super::{Parent, SupervisorError, files};
use crate::config::model::{Config, RealServerCheck, VirtualServer};
use crate::config::scripts::Plan;
use crate::ipc::Msg;
use crate::ipc::msg::{Resume, Role};

/// Which workers a configuration needs. No VRRP worker without a VRRP
/// instance (an LVS director's or a checker-only configuration, as
/// keepalived starts no VRRP process then): it would hold 1.6 MiB and a
/// privileged process for nothing (issue 18). A reload that brings the
/// first instance starts it; one that removes the last retires it.
pub(super) fn wanted(cfg: &Config, role: Role) -> bool {
    match role {
        Role::Vrrp => !cfg.vrrp_instances.is_empty(),
        Role::Ipvs => !cfg.virtual_servers.is_empty(),
        Role::Checker => !crate::checker::by_checker(cfg).is_empty(),
        Role::Metrics => cfg.global.metrics_address.is_some(),
    }
}

/// The part of the configuration `role` runs: each worker holds (and the
/// parent serialises for it) only that, which matters at thousands of real
/// servers. VRRP: no virtual servers; IPVS: the instances (for `ha_suspend`
/// and the sync daemon) and the virtual servers without their checkers'
/// settings or scripts; the checker: its checks' sections, without VRRP
/// instances and the parent's scripts; the metrics server: nothing (so it
/// holds no secret). Every worker gets the global section. The same
/// function on both sides of a reload, so workers' diffs compare like
/// with like.
pub(super) fn config_for(role: Role, cfg: &Config) -> Box<Config> {
    let part = match role {
        Role::Vrrp => Config {
            global: cfg.global.clone(),
            vrrp_scripts: cfg.vrrp_scripts.clone(),
            track_processes: cfg.track_processes.clone(),
            track_files: cfg.track_files.clone(),
            sync_groups: cfg.sync_groups.clone(),
            vrrp_instances: cfg.vrrp_instances.clone(),
            garp_groups: cfg.garp_groups.clone(),
            interface_delays: cfg.interface_delays.clone(),
            ..Config::default()
        },
        Role::Ipvs => Config {
            global: cfg.global.clone(),
            vrrp_instances: cfg.vrrp_instances.clone(),
            virtual_server_groups: cfg.virtual_server_groups.clone(),
            virtual_servers: cfg.virtual_servers.iter().map(for_ipvs).collect(),
            ..Config::default()
        },
        Role::Checker => Config {
            global: cfg.global.clone(),
            vrrp_scripts: cfg.vrrp_scripts.clone(),
            track_processes: cfg.track_processes.clone(),
            track_files: cfg.track_files.clone(),
            virtual_servers: cfg.virtual_servers.iter().map(for_checker).collect(),
            ..Config::default()
        },
        Role::Metrics => Config::default(),
    };
    Box::new(part)
}

/// A virtual server as the IPVS worker needs it: whether each real server
/// is checked and by which kinds (FILE_CHECK changes weights), not how;
/// no scripts (the parent runs them).
fn for_ipvs(vs: &VirtualServer) -> VirtualServer {
    let mut vs = for_checker(vs);
    for rs in &mut vs.real_servers {
        rs.checkers = rs
            .checkers
            .iter()
            .map(|c| RealServerCheck::new(c.kind))
            .collect();
    }
    vs
}

/// A virtual server as the checker needs it: no scripts (the parent runs
/// them). Every real server stays: a fwmark service's key depends on all of
/// them (`VirtualServer::fwmark_ipv6`).
fn for_checker(vs: &VirtualServer) -> VirtualServer {
    VirtualServer {
        real_servers: vs
            .real_servers
            .iter()
            .map(|rs| {
                let mut rs = rs.clone();
                if let Some(m) = rs.more.existing_mut() {
                    m.notify_up = None;
                    m.notify_down = None;
                }
                rs
            })
            .collect(),
        quorum_up: None,
        quorum_down: None,
        ..vs.clone()
    }
}

/// The recorded state `role` resumes from: VRRP its instances and tracked
/// checks, IPVS the instances' states and the real servers' health, the
/// others nothing (the checker starts every check afresh).
pub(super) fn resume_for(role: Role, all: Resume) -> Resume {
    match role {
        Role::Vrrp => Resume {
            real_servers_down: Default::default(),
            real_servers_up: Default::default(),
            real_server_weights: Default::default(),
            ..all
        },
        Role::Ipvs => Resume {
            states: all.states,
            real_servers_down: all.real_servers_down,
            real_servers_up: all.real_servers_up,
            real_server_weights: all.real_server_weights,
            down_ms: all.down_ms,
            ..Resume::default()
        },
        Role::Checker | Role::Metrics => Resume {
            down_ms: all.down_ms,
            ..Resume::default()
        },
    }
}

/// Who runs each script as what, for a configuration that loaded (its
/// diagnostics were reported then); warnings about the checker's account.
pub(super) fn plan(cfg: &Config) -> Result<Plan, SupervisorError> {
    let mut d = crate::config::Diagnostics::default();
    let plan = Plan::new(cfg, &mut d);
    if d.has_errors() {
        let errors: Vec<String> = d.sorted().iter().map(|d| d.to_string()).collect();
        return Err(SupervisorError::Scripts(errors.join("; ")));
    }
    let a = &plan.checker;
    if a.uid == 0 {
        warn!(user = %a.name, "script_user is root: the checker, its scripts and plugins run as root (without capabilities)");
    } else if cfg.global.script_user.is_none() && a.name == "nobody" {
        warn!(
            "no 'upkeep' user: the checker runs as nobody, an account other daemons share; create a system user 'upkeep' (the packages do)"
        );
    }
    Ok(plan)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Parent {
    /// Starts (or restarts) `role` with the current configuration and the
    /// recorded state to resume from.
    pub(super) fn start(&mut self, role: Role) {
        let as_account = vec![
            "--uid".to_string(),
            self.plan.checker.uid.to_string(),
            "--gid".to_string(),
            self.plan.checker.gid.to_string(),
        ];
        let launch = match role {
            Role::Checker => {
                super::ping::allow_group(&self.config, self.plan.checker.gid);
                let mut extra = as_account;
                if let Some(dir) = files::plugin_cache(&self.opts.cache_dir, &self.plan.checker) {
                    extra.push("--plugin-cache".into());
                    extra.push(dir.display().to_string());
                }
                self.checker_hosts_plugins =
                    crate::checker::needs_plugins(&self.config) && self.plugin_host.fd().is_some();
                Launch {
                    extra,
                    uid: self.plan.checker.uid,
                    listener: None,
                    exe: self.plugin_host.fd().filter(|_| self.checker_hosts_plugins),
                }
            }
            Role::Metrics => {
                // Without a listener (the bind failed, logged) there is
                // nothing to serve.
                let Some(m) = &self.metrics else { return };
                Launch {
                    extra: as_account,
                    uid: self.plan.checker.uid,
                    listener: Some(m.listener.as_raw_fd()),
                    exe: None,
                }
            }
            Role::Vrrp | Role::Ipvs => Launch::default(),
        };
        let down_ms = self
            .workers
            .down_for(role)
            .or_else(|| self.handed_over.map(|t| t.elapsed()))
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let plugin_key = match role {
            Role::Checker => files::plugin_key(&self.opts.cache_dir).map(|k| hex(&k)),
            _ => None,
        };
        let start = Msg::Start {
            generation: self.generation,
            config: config_for(role, &self.config),
            resume: resume_for(role, self.record.resume(down_ms)),
            plugin_key,
        };
        self.workers.start(role, &launch, start);
        self.publisher.touch();
    }
}

#[cfg(test)]
#[path = "launch_tests.rs"]
mod tests;
