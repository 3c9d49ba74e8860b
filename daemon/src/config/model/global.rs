//! `global_defs`: settings for the whole node, and the account scripts run as.

use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use super::{FlushOnStop, LvsSyncDaemon, Script};

use crate::config::diag::Src;
use crate::config::values::Millis;

/// `global_defs`.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Global {
    pub router_id: Option<String>,
    pub vrrp_version: Option<u8>,
    pub vrrp_mcast_group4: Option<Ipv4Addr>,
    pub vrrp_mcast_group6: Option<Ipv6Addr>,
    pub vrrp_garp_master_delay: Option<Millis>,
    pub vrrp_garp_master_repeat: Option<u32>,
    pub vrrp_garp_master_refresh: Option<Millis>,
    pub vrrp_garp_master_refresh_repeat: Option<u32>,
    pub vrrp_garp_lower_prio_delay: Option<Millis>,
    pub vrrp_garp_lower_prio_repeat: Option<u32>,
    pub vrrp_garp_interval: Option<Millis>,
    pub vrrp_gna_interval: Option<Millis>,
    /// Adverts missed before a Backup takes over (default 3; 1-100).
    pub vrrp_down_timer_adverts: Option<u32>,
    /// The name of a `use_vmac` interface without one: `PREFIX.VRID` (default `vrrp`).
    pub vmac_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub vrrp_strict: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub vrrp_skip_check_adv_addr: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub vrrp_check_unicast_src: bool,
    pub script_user: Option<ScriptUser>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub enable_script_security: bool,
    pub notify_fifo: Option<String>,
    /// Started with the FIFO's path as its last argument, kept running
    /// (keepalived.conf: `notify_fifo_script "CMD" [USER [GROUP]]`).
    pub notify_fifo_script: Option<Script>,
    pub vrrp_notify_fifo: Option<String>,
    pub vrrp_notify_fifo_script: Option<Script>,
    /// upkeep: serve Prometheus metrics on this address (TOML only); a
    /// port alone means loopback.
    #[serde(default, deserialize_with = "metrics_address")]
    pub metrics_address: Option<std::net::SocketAddr>,
    /// Flush the whole IPVS table at start.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub lvs_flush: bool,
    pub lvs_flush_onstop: Option<FlushOnStop>,
    pub lvs_sync_daemon: Option<LvsSyncDaemon>,
    #[serde(skip)]
    pub src: Src,
}

impl Global {
    pub fn is_empty(&self) -> bool {
        self == &Global::default()
    }
}

/// A user, and optionally a group, that scripts run as.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptUser {
    pub user: String,
    pub group: Option<String>,
}

/// `metrics_address`: `"HOST:PORT"`, or a port alone (`9650`, `":9650"`),
/// which binds loopback: metrics are for a local agent unless the operator
/// names an address to expose them on.
fn metrics_address<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<std::net::SocketAddr>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Given {
        Port(i64),
        Text(String),
    }
    let loopback = |port: i64| {
        u16::try_from(port)
            .ok()
            .filter(|p| *p != 0)
            .map(|p| std::net::SocketAddr::from((Ipv4Addr::LOCALHOST, p)))
    };
    let expected = || serde::de::Error::custom("expected \"HOST:PORT\" or a port (1-65535)");
    match Option::<Given>::deserialize(d)? {
        None => Ok(None),
        Some(Given::Port(p)) => loopback(p).map(Some).ok_or_else(expected),
        Some(Given::Text(t)) => {
            if let Ok(a) = t.parse() {
                return Ok(Some(a));
            }
            t.strip_prefix(':')
                .unwrap_or(&t)
                .parse::<i64>()
                .ok()
                .and_then(loopback)
                .map(Some)
                .ok_or_else(expected)
        }
    }
}
