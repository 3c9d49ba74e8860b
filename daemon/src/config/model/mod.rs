//! The one typed configuration model. Both readers (native TOML and
//! keepalived.conf) produce it; `upkeepctl convert` serializes it back to TOML.
//!
//! Field names follow keepalived's keywords so that operators recognise them.
//! Fields that inherit a global default are `Option`s; the accessors resolve them.
//! One module per section, as keepalived.conf has them; an absent optional
//! value is left out when the model is written (`skip_serializing_none`).

use serde::{Deserialize, Serialize};

use super::diag::Src;

mod global;
pub mod lean;
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

impl Config {
    /// Drops the source positions (`Src`) kept for diagnostics. They are
    /// what validation and the script plan point at; once both are done
    /// the parent has no use for them, and at thousands of real servers
    /// they are megabytes (a map of keyword positions per block). A
    /// reload reads the file again, so its errors still say FILE:LINE.
    pub fn forget_positions(&mut self) {
        let drop = |src: &mut Src| *src = Src::default();
        drop(&mut self.global.src);
        self.vrrp_scripts.iter_mut().for_each(|x| drop(&mut x.src));
        self.track_processes
            .iter_mut()
            .for_each(|x| drop(&mut x.src));
        self.track_files.iter_mut().for_each(|x| drop(&mut x.src));
        self.sync_groups.iter_mut().for_each(|x| drop(&mut x.src));
        self.vrrp_instances
            .iter_mut()
            .for_each(|x| drop(&mut x.src));
        self.garp_groups.iter_mut().for_each(|x| drop(&mut x.src));
        self.interface_delays
            .iter_mut()
            .for_each(|x| drop(&mut x.src));
        self.virtual_server_groups
            .iter_mut()
            .for_each(|x| drop(&mut x.src));
        for vs in &mut self.virtual_servers {
            drop(&mut vs.src);
            for rs in &mut vs.real_servers {
                drop(&mut rs.src);
                for c in &mut rs.checkers {
                    drop(&mut c.src);
                    if let Some(ext) = c.ext.existing_mut() {
                        ext.host.iter_mut().for_each(|h| drop(&mut h.src));
                    }
                }
            }
        }
    }

    /// Rebuilds the model in place as a copy of itself. A `Vec` pushed to
    /// (the readers) or decoded (serde) one element at a time keeps room
    /// for four at least, then doubles: a real server's one checker held
    /// four checkers' worth, 2.6 KiB per real server. And the model was
    /// allocated piece by piece between the reader's syntax tree and the
    /// source positions, which are freed by now: the pages it sits on are
    /// mostly free but none can be given back. The copy has exact
    /// capacities and is allocated in one go (into the holes those left);
    /// the original's pages then free whole, for `malloc_trim`
    /// (bench/README.md, "Memory against keepalived").
    pub fn compact(&mut self) {
        *self = self.clone();
    }

    /// Gives back the spare capacity of the lists that grow with the
    /// configuration, in place (no copy: a worker's peak stays one
    /// configuration; see [`Config::compact`] for why they have some).
    pub fn shrink(&mut self) {
        self.vrrp_scripts.shrink_to_fit();
        self.track_processes.shrink_to_fit();
        self.track_files.shrink_to_fit();
        self.sync_groups.shrink_to_fit();
        self.vrrp_instances.shrink_to_fit();
        self.virtual_server_groups.shrink_to_fit();
        self.virtual_servers.shrink_to_fit();
        for vs in &mut self.virtual_servers {
            vs.real_servers.shrink_to_fit();
        }
    }
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
