//! The parent's picture of the whole node, as served by the control socket
//! (`upkeepctl status --json`), written to `status.json` and rendered as
//! Prometheus metrics.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::stored::StoredCheck;
use crate::ipc::msg::{CheckStatus, InstanceStatus, VirtualServerStatus};
use crate::names::Name;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusDoc {
    /// The parent's pid.
    pub pid: u32,
    /// The configuration file the daemon runs.
    pub config: String,
    /// Bumped by every successful reload (1 at start).
    pub generation: u64,
    /// The last reload's outcome, when there was one.
    pub reload: Option<ReloadStatus>,
    pub instances: Vec<InstanceStatus>,
    pub unmatched_drops: BTreeMap<String, u64>,
    pub checks: Vec<CheckStatus>,
    pub virtual_servers: Vec<VirtualServerStatus>,
    /// The IPVS worker's view of the kernel (present with virtual servers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipvs: Option<crate::ipvs::status::IpvsKernel>,
    pub workers: Vec<WorkerStatus>,
    /// Every configured script and the account it runs as.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scripts: Vec<ScriptStatus>,
    /// SMTP alerts sent, failed, dropped, queued (with an SMTP server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail: Option<MailStatus>,
}

/// The status document as the parent writes it to status.json: its
/// records borrowed, not copied. At 10,000 checks a copy of every check and
/// real server per publication was the parent's largest passing allocation,
/// and the heap kept its high-water mark. Serialises exactly as
/// [`StatusDoc`] (tested); [`StatusView::to_doc`] makes the owned one.
#[derive(Serialize)]
pub struct StatusView<'a> {
    pub pid: u32,
    pub config: String,
    pub generation: u64,
    pub reload: Option<&'a ReloadStatus>,
    pub instances: &'a [InstanceStatus],
    pub unmatched_drops: &'a BTreeMap<String, u64>,
    pub checks: ChecksView<'a>,
    pub virtual_servers: &'a [VirtualServerStatus],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipvs: Option<&'a crate::ipvs::status::IpvsKernel>,
    pub workers: Vec<WorkerStatus>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scripts: Vec<ScriptStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mail: Option<MailStatus>,
}

/// Recorded checks, each with its name.
pub trait CheckList {
    /// Every recorded check, in the order of the names (kept in that
    /// order rather than sorted for each publication: at 10,000 checks a
    /// list of them per status.json was a quarter of a MiB and a sort).
    fn by_name(&self) -> Box<dyn Iterator<Item = (Name<'_>, &StoredCheck)> + '_>;
}

/// Checks by name as a test records them.
#[cfg(test)]
impl CheckList for BTreeMap<String, StoredCheck> {
    fn by_name(&self) -> Box<dyn Iterator<Item = (Name<'_>, &StoredCheck)> + '_> {
        Box::new(self.iter().map(|(n, c)| (Name::from(n.as_str()), c)))
    }
}

/// The checks as recorded, each with the policy state the parent knows,
/// in the order of their names.
pub struct ChecksView<'a> {
    checks: &'a dyn CheckList,
    policy: &'a dyn Fn(Name<'_>) -> Option<String>,
}

impl<'a> ChecksView<'a> {
    pub fn new(checks: &'a dyn CheckList, policy: &'a dyn Fn(Name<'_>) -> Option<String>) -> Self {
        Self { checks, policy }
    }
}

impl Serialize for ChecksView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(
            self.checks
                .by_name()
                .map(|(n, c)| c.published(n, (self.policy)(n))),
        )
    }
}

impl StatusView<'_> {
    /// The owned document (the control socket's answer, metrics).
    pub fn to_doc(&self) -> StatusDoc {
        StatusDoc {
            pid: self.pid,
            config: self.config.clone(),
            generation: self.generation,
            reload: self.reload.cloned(),
            instances: self.instances.to_vec(),
            unmatched_drops: self.unmatched_drops.clone(),
            checks: self
                .checks
                .checks
                .by_name()
                .map(|(n, c)| c.to_status(&n.to_cow(), (self.checks.policy)(n)))
                .collect(),
            virtual_servers: self.virtual_servers.to_vec(),
            ipvs: self.ipvs.cloned(),
            workers: self.workers.clone(),
            scripts: self.scripts.clone(),
            mail: self.mail.clone(),
        }
    }
}

/// SMTP alerts (`supervisor::mailer`): counters since the daemon started.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailStatus {
    pub sent: u64,
    /// Given up after every try.
    pub failed: u64,
    /// Dropped from a full queue.
    pub dropped: u64,
    /// Waiting now (the one being sent included).
    pub queued: u64,
}

/// A configured script (check, notify, restart) and who runs it as what.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptStatus {
    /// What it belongs to: `vrrp_script chk`, `vrrp_instance VI_1`, ...
    pub owner: String,
    /// The keyword that sets it (`script`, `notify_master`, `restart`, ...).
    pub keyword: String,
    pub command: String,
    /// The account's name; None when it does not resolve (the script does
    /// not run).
    pub user: Option<String>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// `checker` or `parent`.
    pub runs_in: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadStatus {
    pub ok: bool,
    /// Wall-clock time, milliseconds since the epoch.
    pub at_ms: u64,
    /// Why it failed (the configuration's diagnostics or a worker's error).
    pub error: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerStatus {
    pub role: String,
    /// None while it is down (waiting for its restart).
    pub pid: Option<u32>,
    pub state: WorkerState,
    /// How many times it was restarted after a failure.
    pub restarts: u64,
    /// Protocol violations it committed (each one reset it).
    #[serde(default)]
    pub violations: u64,
    /// The parent's descriptor for this worker's socket (for debugging).
    pub ipc_fd: Option<i32>,
    pub uptime_s: Option<u64>,
    pub last_exit: Option<String>,
}

/// Where a worker is in its life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkerState {
    #[default]
    Starting,
    Running,
    /// Down, waiting for its restart time.
    Restarting,
    Stopped,
}

impl WorkerState {
    pub const ALL: [WorkerState; 4] = [
        WorkerState::Starting,
        WorkerState::Running,
        WorkerState::Restarting,
        WorkerState::Stopped,
    ];

    pub fn word(self) -> &'static str {
        match self {
            WorkerState::Starting => "starting",
            WorkerState::Running => "running",
            WorkerState::Restarting => "restarting",
            WorkerState::Stopped => "stopped",
        }
    }
}

impl std::fmt::Display for WorkerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.word())
    }
}

impl std::str::FromStr for WorkerState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|w| w.word() == s)
            .ok_or_else(|| format!("unknown worker state {s:?}"))
    }
}
