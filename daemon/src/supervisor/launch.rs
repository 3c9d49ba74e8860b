//! Which workers a configuration needs and how each is started: its
//! account, its descriptors, the configuration it gets and the state it
//! resumes from.

use std::os::fd::AsRawFd;

use tracing::warn;

use super::spawn::Launch;
use super::{Parent, SupervisorError, files};
use crate::config::model::Config;
use crate::config::scripts::Plan;
use crate::ipc::Msg;
use crate::ipc::msg::Role;

/// Which workers a configuration needs.
pub(super) fn wanted(cfg: &Config, role: Role) -> bool {
    match role {
        Role::Vrrp => true,
        Role::Ipvs => !cfg.virtual_servers.is_empty(),
        Role::Checker => !crate::checker::by_checker(cfg).is_empty(),
        Role::Metrics => cfg.global.metrics_address.is_some(),
    }
}

/// The configuration `role` is given: all of it, except for the metrics
/// server, which needs none (and so holds no secret of it).
pub(super) fn config_for(role: Role, cfg: &Config) -> Box<Config> {
    match role {
        Role::Metrics => Box::default(),
        _ => Box::new(cfg.clone()),
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
                Launch {
                    extra,
                    uid: self.plan.checker.uid,
                    listener: None,
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
            resume: self.record.resume(down_ms),
            plugin_key,
        };
        self.workers.start(role, &launch, start);
        self.publisher.touch();
    }
}
