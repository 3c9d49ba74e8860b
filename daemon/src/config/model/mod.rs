//! The one typed configuration model. Both readers (native TOML and
//! keepalived.conf) produce it; `upkeepctl convert` serializes it back to TOML.
//!
//! Field names follow keepalived's keywords so that operators recognise them.
//! Fields that inherit a global default are `Option`s; the accessors resolve them.
//! One module per section, as keepalived.conf has them; an absent optional
//! value is left out when the model is written (`skip_serializing_none`).

use serde::{Deserialize, Serialize};

mod global;
mod lvs;
mod plugin;
mod script;
mod track;
mod vrrp;

pub use self::global::*;
pub use self::lvs::*;
pub use self::plugin::*;
pub use self::script::*;
pub use self::track::*;
pub use self::vrrp::*;
pub use super::lvs_types::{FlushOnStop, LvsSyncDaemon, TunnelCsum, TunnelEncap};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default, skip_serializing_if = "Global::is_empty")]
    pub global: Global,
    #[serde(default, rename = "vrrp_script", skip_serializing_if = "Vec::is_empty")]
    pub vrrp_scripts: Vec<VrrpScript>,
    #[serde(
        default,
        rename = "vrrp_track_process",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub track_processes: Vec<TrackProcess>,
    #[serde(
        default,
        rename = "vrrp_track_file",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub track_files: Vec<TrackFile>,
    #[serde(
        default,
        rename = "vrrp_sync_group",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub sync_groups: Vec<SyncGroup>,
    #[serde(
        default,
        rename = "vrrp_instance",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub vrrp_instances: Vec<VrrpInstance>,
    #[serde(
        default,
        rename = "virtual_server_group",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub virtual_server_groups: Vec<VirtualServerGroup>,
    #[serde(
        default,
        rename = "virtual_server",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub virtual_servers: Vec<VirtualServer>,
    /// `garp_group { ... }`: per-interface spacing of gratuitous ARPs / NAs.
    #[serde(default, rename = "garp_group", skip_serializing_if = "Vec::is_empty")]
    pub garp_groups: Vec<GarpGroup>,
    /// `interface_up_down_delays { IF DOWN [UP] }`: how long a link change
    /// must last before the instances using or tracking it act on it.
    #[serde(
        default,
        rename = "interface_up_down_delays",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub interface_delays: Vec<InterfaceDelay>,
}

fn default_priority() -> u32 {
    100
}

fn one() -> u32 {
    1
}

fn one_i32() -> i32 {
    1
}

fn yes() -> bool {
    true
}

fn is_zero_i32(v: &i32) -> bool {
    *v == 0
}

fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}
