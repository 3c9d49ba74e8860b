//! Types of the LVS settings that reach beyond one `virtual_server`: the
//! kernel's connection-sync daemon, what happens to the IPVS table at stop,
//! and a real server's tunnel encapsulation. Re-exported by `model`.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// `lvs_flush_onstop [VS|ALL]`: at stop, remove upkeep's virtual servers
/// (`VS`, also the bare keyword) or flush the whole IPVS table (`ALL`).
/// Without it upkeep leaves the table in the kernel (see docs/ipvs.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FlushOnStop {
    #[serde(rename = "VS")]
    Vs,
    #[serde(rename = "ALL")]
    All,
}

impl FlushOnStop {
    pub const ALL: [(&'static str, FlushOnStop); 2] =
        [("VS", FlushOnStop::Vs), ("ALL", FlushOnStop::All)];
}

/// `lvs_sync_daemon INTERFACE INSTANCE [id N] [maxlen N] [port N] [ttl N]
/// [group IP]`: the kernel's IPVS sync daemon on INTERFACE, master while
/// the VRRP instance is MASTER, backup otherwise.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LvsSyncDaemon {
    pub interface: String,
    pub instance: String,
    /// Default: the instance's virtual_router_id (as keepalived).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maxlen: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<IpAddr>,
}

/// `tunnel_encap` of a TUN real server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TunnelEncap {
    #[default]
    Ipip,
    Gue,
    Gre,
}

impl TunnelEncap {
    pub const ALL: [(&'static str, TunnelEncap); 3] = [
        ("ipip", TunnelEncap::Ipip),
        ("gue", TunnelEncap::Gue),
        ("gre", TunnelEncap::Gre),
    ];
}

/// `tunnel_nocsum`, `tunnel_csum`, `tunnel_remcsum` (GUE and GRE).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TunnelCsum {
    #[default]
    Nocsum,
    Csum,
    Remcsum,
}
