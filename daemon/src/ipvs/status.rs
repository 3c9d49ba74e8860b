//! What the IPVS worker reports of the kernel: whether it has IPVS, the
//! last reconcile and its changes, counters and errors by name (for
//! `upkeepctl status`, status.json and the metrics).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpvsKernel {
    /// The worker has a working IPVS client.
    pub available: bool,
    /// The last error that stopped a reconcile, with its name
    /// (`no_ipvs`, `netlink`, ...), while it lasts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reconcile: Option<Reconcile>,
    pub reconciles: u64,
    /// Reconciles that found the kernel changed behind upkeep's back.
    pub drift_repairs: u64,
    /// Requests applied, by command (`NEW_DEST`, `SET_DEST`, ...).
    #[serde(default)]
    pub ops: BTreeMap<String, u64>,
    /// Requests the kernel refused and reconciles that failed, by error name.
    #[serde(default)]
    pub errors: BTreeMap<String, u64>,
    /// The sync daemons the kernel runs (`master on eth0 id 50`).
    #[serde(default)]
    pub sync_daemons: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reconcile {
    /// Wall-clock end, milliseconds since the epoch.
    pub at_ms: u64,
    /// Why it ran: `start`, `reload`, `health`, `vrrp`, `periodic`.
    pub cause: String,
    pub took_us: u64,
    /// What it changed (at most [`MAX_LISTED`]; `changed` counts all).
    pub changes: Vec<String>,
    pub changed: usize,
    /// What the kernel refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
}

/// How many changes one reconcile lists.
pub const MAX_LISTED: usize = 50;
