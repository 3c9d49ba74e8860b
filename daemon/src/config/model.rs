//! The one typed configuration model. Both readers (native TOML and
//! keepalived.conf) produce it; `upkeepctl convert` serializes it back to TOML.
//!
//! Field names follow keepalived's keywords so that operators recognise them.
//! Fields that inherit a global default are `Option`s; the accessors resolve them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use super::diag::Src;
pub use super::lvs_types::{FlushOnStop, LvsSyncDaemon, TunnelCsum, TunnelEncap};
use super::values::{Millis, TrackRef, Vip, VsgEntry};

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
}

/// `global_defs`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Global {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrrp_version: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrrp_mcast_group4: Option<Ipv4Addr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrrp_mcast_group6: Option<Ipv6Addr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrrp_garp_master_delay: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrrp_garp_master_repeat: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrrp_garp_master_refresh: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrrp_garp_master_refresh_repeat: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrrp_garp_lower_prio_delay: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrrp_garp_lower_prio_repeat: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrrp_garp_interval: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrrp_gna_interval: Option<Millis>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub vrrp_strict: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub vrrp_skip_check_adv_addr: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub vrrp_check_unicast_src: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_user: Option<ScriptUser>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub enable_script_security: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_fifo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_fifo_script: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrrp_notify_fifo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrrp_notify_fifo_script: Option<String>,
    /// upkeep: serve Prometheus metrics on this local address (TOML only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_address: Option<std::net::SocketAddr>,
    /// Flush the whole IPVS table at start.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub lvs_flush: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lvs_flush_onstop: Option<FlushOnStop>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptUser {
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// `vrrp_script NAME { ... }`: a command whose exit status adjusts priority.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VrrpScript {
    pub name: String,
    #[serde(default)]
    pub script: String,
    #[serde(default = "VrrpScript::default_interval")]
    pub interval: Millis,
    /// Defaults to the interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Millis>,
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub weight: i32,
    /// `weight N reverse`: the weight applies in the other sense.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub weight_reverse: bool,
    #[serde(default = "one")]
    pub fall: u32,
    #[serde(default = "one")]
    pub rise: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<ScriptUser>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub init_fail: bool,
    /// upkeep: what happens when the check fails (restart, then demote).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<OnFailure>,
    /// upkeep: the check is a WASM plugin instead of a command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<PluginCheck>,
    #[serde(skip)]
    pub src: Src,
}

/// A WASM component that exports `upkeep:check/check` (plugin-sdk/wit),
/// with what it may reach: nothing beyond `allow`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginCheck {
    pub file: String,
    /// Passed to the plugin in this order.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        with = "super::values::ordered_pairs"
    )]
    pub args: Vec<(String, String)>,
    /// Linear memory the plugin may use, in MiB.
    #[serde(
        default = "PluginCheck::default_memory_mib",
        skip_serializing_if = "PluginCheck::is_default_memory"
    )]
    pub memory_mib: u32,
    #[serde(default, skip_serializing_if = "PluginGrants::is_empty")]
    pub allow: PluginGrants,
}

/// keepalived.conf builds the table keyword by keyword from this.
impl Default for PluginCheck {
    fn default() -> Self {
        Self {
            file: String::new(),
            args: Vec::new(),
            memory_mib: Self::DEFAULT_MEMORY_MIB,
            allow: PluginGrants::default(),
        }
    }
}

impl PluginCheck {
    pub const DEFAULT_MEMORY_MIB: u32 = 64;
    pub const MAX_MEMORY_MIB: u32 = 4096;

    fn default_memory_mib() -> u32 {
        Self::DEFAULT_MEMORY_MIB
    }

    fn is_default_memory(v: &u32) -> bool {
        *v == Self::DEFAULT_MEMORY_MIB
    }
}

/// The targets a plugin may reach through its host imports.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginGrants {
    /// `IP:PORT` addresses for tcp-connect.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tcp: Vec<String>,
    /// `http://` URLs for http-get; one ending in `/` also grants what is below it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http: Vec<String>,
    /// Unix socket paths for unix-exchange.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unix: Vec<String>,
    /// File paths for read-file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// Process names for process-count.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub processes: Vec<String>,
}

impl PluginGrants {
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }

    /// (kind, targets) for each kind, as keepalived.conf's
    /// `upkeep_plugin_allow KIND TARGET` names them.
    pub fn kinds_mut(&mut self) -> [(&'static str, &mut Vec<String>); 5] {
        [
            ("tcp", &mut self.tcp),
            ("http", &mut self.http),
            ("unix", &mut self.unix),
            ("file", &mut self.files),
            ("process", &mut self.processes),
        ]
    }
}

/// Restart-then-demote: on failure the parent runs `restart` (only this
/// command, from the configuration), waits `grace`, and if the check still
/// fails, demotes the node as `demote` says. Restarts are limited to
/// `max_restarts` per `window`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnFailure {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<String>,
    #[serde(default = "OnFailure::default_grace")]
    pub grace: Millis,
    #[serde(default = "OnFailure::default_max_restarts")]
    pub max_restarts: u32,
    #[serde(default = "OnFailure::default_window")]
    pub window: Millis,
    #[serde(default)]
    pub demote: Demote,
}

impl OnFailure {
    pub fn default_grace() -> Millis {
        Millis::from_secs(5)
    }
    pub fn default_max_restarts() -> u32 {
        3
    }
    pub fn default_window() -> Millis {
        Millis::from_secs(300)
    }
}

impl Default for OnFailure {
    fn default() -> Self {
        Self {
            restart: None,
            grace: Self::default_grace(),
            max_restarts: Self::default_max_restarts(),
            window: Self::default_window(),
            demote: Demote::default(),
        }
    }
}

/// How a node is demoted when its check keeps failing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Demote {
    /// The tracked weight applies (keepalived's behaviour; weight 0 is Fault).
    #[default]
    Weight,
    /// Fault, whatever the weight.
    Fault,
    /// Resign at once (priority-0 advert, then Backup) and stay Backup while failing.
    Resign,
}

impl VrrpScript {
    pub fn default_interval() -> Millis {
        Millis::from_secs(1)
    }

    pub fn new(name: String) -> Self {
        Self {
            name,
            script: String::new(),
            interval: Self::default_interval(),
            timeout: None,
            weight: 0,
            weight_reverse: false,
            fall: 1,
            rise: 1,
            user: None,
            init_fail: false,
            on_failure: None,
            plugin: None,
            src: Src::default(),
        }
    }
}

/// `vrrp_track_process NAME { ... }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackProcess {
    pub name: String,
    #[serde(default)]
    pub process: String,
    /// Command-line arguments the process must have (`process NAME ARGS...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<String>,
    /// How `args` are matched; keepalived's default is the whole command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param_match: Option<ParamMatch>,
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub weight: i32,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub weight_reverse: bool,
    #[serde(default = "one")]
    pub quorum: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum_max: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Millis>,
    #[serde(skip)]
    pub src: Src,
}

impl TrackProcess {
    pub fn new(name: String) -> Self {
        Self {
            name,
            process: String::new(),
            args: None,
            param_match: None,
            weight: 0,
            weight_reverse: false,
            quorum: 1,
            quorum_max: None,
            delay: None,
            src: Src::default(),
        }
    }
}

/// keepalived's `param_match`: compare the arguments with the start of the
/// process's arguments, or find them anywhere in them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamMatch {
    Initial,
    Partial,
}

impl ParamMatch {
    pub const ALL: [(&'static str, ParamMatch); 2] = [
        ("initial", ParamMatch::Initial),
        ("partial", ParamMatch::Partial),
    ];
}

/// `vrrp_track_file NAME { ... }`: a file whose integer content adjusts priority.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackFile {
    pub name: String,
    #[serde(default)]
    pub file: String,
    #[serde(default = "one_i32")]
    pub weight: i32,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub weight_reverse: bool,
    /// `init_file [VALUE] [overwrite]`: create the file with VALUE at start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_file: Option<i64>,
    /// With `init_file`: write VALUE even when the file already exists.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub init_file_overwrite: bool,
    #[serde(skip)]
    pub src: Src,
}

impl TrackFile {
    pub fn new(name: String) -> Self {
        Self {
            name,
            file: String::new(),
            weight: 1,
            weight_reverse: false,
            init_file: None,
            init_file_overwrite: false,
            src: Src::default(),
        }
    }
}

/// `vrrp_sync_group NAME { group { ... } ... }`: instances that change state together.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncGroup {
    pub name: String,
    #[serde(default)]
    pub group: Vec<String>,
    #[serde(default, skip_serializing_if = "Notify::is_empty")]
    pub notify: Notify,
    #[serde(skip)]
    pub src: Src,
}

/// Notify scripts (keepalived's `notify_master`, ..., `notify`). `on_change`
/// runs on every transition with keepalived's arguments `TYPE NAME STATE PRIORITY`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_master: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_backup: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_fault: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_stop: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_change: Option<String>,
}

impl Notify {
    pub fn is_empty(&self) -> bool {
        self == &Notify::default()
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum InitialState {
    #[serde(rename = "MASTER")]
    Master,
    #[default]
    #[serde(rename = "BACKUP")]
    Backup,
}

impl InitialState {
    pub const NAMES: [&'static str; 2] = ["MASTER", "BACKUP"];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthType {
    #[serde(rename = "PASS")]
    Pass,
    /// IPsec AH (RFC 2402) as in RFC 2338; read, warned about, not implemented.
    #[serde(rename = "AH")]
    Ah,
}

impl AuthType {
    pub const NAMES: [&'static str; 2] = ["PASS", "AH"];
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authentication {
    pub auth_type: AuthType,
    #[serde(default)]
    pub auth_pass: String,
}

/// Address families an instance can run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(ip: &IpAddr) -> Self {
        if ip.is_ipv4() { Family::V4 } else { Family::V6 }
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        })
    }
}

/// `vrrp_instance NAME { ... }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VrrpInstance {
    pub name: String,
    #[serde(default)]
    pub state: InitialState,
    #[serde(default)]
    pub interface: String,
    /// Kept wide so that out-of-range values reach validation and get a diagnostic.
    #[serde(default)]
    pub virtual_router_id: u32,
    #[serde(default = "default_priority")]
    pub priority: u32,
    #[serde(default = "VrrpInstance::default_advert_int")]
    pub advert_int: Millis,
    /// 2 or 3; when absent, `global.vrrp_version`, else 2 (3 for IPv6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u8>,
    /// Run on IPv6 even without IPv6 virtual addresses.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub native_ipv6: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<Authentication>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub virtual_ipaddress: Vec<Vip>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub virtual_ipaddress_excluded: Vec<Vip>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unicast_src_ip: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unicast_peer: Vec<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcast_src_ip: Option<IpAddr>,
    #[serde(default = "yes")]
    pub preempt: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preempt_delay: Option<Millis>,
    /// Accept packets for the virtual addresses when MASTER (RFC 5798 Accept_Mode).
    #[serde(default = "yes")]
    pub accept: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub strict_mode: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dont_track_primary: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_check_adv_addr: bool,
    /// VRRPv3 over IPv4: send the checksum without the pseudo-header (as old
    /// keepalived did for unicast) and accept either form.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub old_unicast_checksum: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_interface: Vec<TrackRef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_script: Vec<TrackRef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_process: Vec<TrackRef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_file: Vec<TrackRef>,
    #[serde(default, skip_serializing_if = "Notify::is_empty")]
    pub notify: Notify,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub garp_master_delay: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub garp_master_repeat: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub garp_master_refresh: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub garp_master_refresh_repeat: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub garp_lower_prio_delay: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub garp_lower_prio_repeat: Option<u32>,
    /// `use_vmac [NAME]`: run over a macvlan with the VRRP virtual MAC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_vmac: Option<Vmac>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub vmac_xmit_base: bool,
    /// Older form of the global `lvs_sync_daemon INTERFACE THIS-INSTANCE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lvs_sync_daemon_interface: Option<String>,
    #[serde(skip)]
    pub src: Src,
}

/// `use_vmac` with an optional interface name (default `vrrp.VRID`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vmac {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl VrrpInstance {
    pub fn default_advert_int() -> Millis {
        Millis::from_secs(1)
    }

    pub fn new(name: String) -> Self {
        Self {
            name,
            state: InitialState::Backup,
            interface: String::new(),
            virtual_router_id: 0,
            priority: default_priority(),
            advert_int: Self::default_advert_int(),
            version: None,
            native_ipv6: false,
            authentication: None,
            virtual_ipaddress: Vec::new(),
            virtual_ipaddress_excluded: Vec::new(),
            unicast_src_ip: None,
            unicast_peer: Vec::new(),
            mcast_src_ip: None,
            preempt: true,
            preempt_delay: None,
            accept: true,
            strict_mode: false,
            dont_track_primary: false,
            skip_check_adv_addr: false,
            old_unicast_checksum: false,
            track_interface: Vec::new(),
            track_script: Vec::new(),
            track_process: Vec::new(),
            track_file: Vec::new(),
            notify: Notify::default(),
            garp_master_delay: None,
            garp_master_repeat: None,
            garp_master_refresh: None,
            garp_master_refresh_repeat: None,
            garp_lower_prio_delay: None,
            garp_lower_prio_repeat: None,
            use_vmac: None,
            vmac_xmit_base: false,
            lvs_sync_daemon_interface: None,
            src: Src::default(),
        }
    }

    /// The instance's family: that of its first virtual address (as keepalived
    /// decides it), IPv6 with `native_ipv6`, else IPv4.
    pub fn family(&self) -> Family {
        if self.native_ipv6 {
            return Family::V6;
        }
        self.virtual_ipaddress
            .first()
            .map_or(Family::V4, |v| Family::of(&v.addr))
    }

    /// The VRRP version in force: explicit, else global, else 2 (IPv6 needs 3).
    pub fn effective_version(&self, global: &Global) -> u8 {
        match (self.version, self.family()) {
            (Some(v), _) => v,
            (None, Family::V6) => 3,
            (None, Family::V4) => global.vrrp_version.unwrap_or(2),
        }
    }
}

/// `virtual_server_group NAME { ... }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VirtualServerGroup {
    pub name: String,
    #[serde(default)]
    pub members: Vec<VsgEntry>,
    #[serde(skip)]
    pub src: Src,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LbAlgo {
    Rr,
    #[default]
    Wrr,
    Lc,
    Wlc,
    Lblc,
    Lblcr,
    Dh,
    Sh,
    Sed,
    Nq,
    Fo,
    Ovf,
    Mh,
    Twos,
}

impl LbAlgo {
    pub const ALL: [(&'static str, LbAlgo); 14] = [
        ("rr", LbAlgo::Rr),
        ("wrr", LbAlgo::Wrr),
        ("lc", LbAlgo::Lc),
        ("wlc", LbAlgo::Wlc),
        ("lblc", LbAlgo::Lblc),
        ("lblcr", LbAlgo::Lblcr),
        ("dh", LbAlgo::Dh),
        ("sh", LbAlgo::Sh),
        ("sed", LbAlgo::Sed),
        ("nq", LbAlgo::Nq),
        ("fo", LbAlgo::Fo),
        ("ovf", LbAlgo::Ovf),
        ("mh", LbAlgo::Mh),
        ("twos", LbAlgo::Twos),
    ];
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum LbKind {
    #[default]
    #[serde(rename = "NAT")]
    Nat,
    #[serde(rename = "DR")]
    Dr,
    #[serde(rename = "TUN")]
    Tun,
}

impl LbKind {
    pub const ALL: [(&'static str, LbKind); 3] = [
        ("NAT", LbKind::Nat),
        ("DR", LbKind::Dr),
        ("TUN", LbKind::Tun),
    ];
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Protocol {
    #[default]
    #[serde(rename = "TCP")]
    Tcp,
    #[serde(rename = "UDP")]
    Udp,
    #[serde(rename = "SCTP")]
    Sctp,
}

impl Protocol {
    pub const ALL: [(&'static str, Protocol); 3] = [
        ("TCP", Protocol::Tcp),
        ("UDP", Protocol::Udp),
        ("SCTP", Protocol::Sctp),
    ];
}

/// An address and port (`sorry_server IP PORT`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    pub ip: IpAddr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

/// `virtual_server IP PORT`, `virtual_server fwmark N` or `virtual_server group NAME`.
/// Exactly one of `ip` (with `port`), `fwmark` and `group` is set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VirtualServer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fwmark: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default = "VirtualServer::default_delay_loop")]
    pub delay_loop: Millis,
    #[serde(default)]
    pub lb_algo: LbAlgo,
    #[serde(default)]
    pub lb_kind: LbKind,
    #[serde(default)]
    pub protocol: Protocol,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistence_timeout: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistence_granularity: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtualhost: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sorry_server: Option<Endpoint>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sorry_server_inhibit: bool,
    /// The sorry server's forwarding method (default: `lb_kind`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sorry_server_lvs_method: Option<LbKind>,
    #[serde(default = "one")]
    pub quorum: u32,
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub hysteresis: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum_up: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum_down: Option<String>,
    /// Start with every real server down until its first check passes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub alpha: bool,
    /// Run quorum_down and real server notify_down at shutdown.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub omega: bool,
    /// Default for the real servers' `inhibit_on_failure`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub inhibit_on_failure: bool,
    /// Do not program the service while no VRRP instance is MASTER.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ha_suspend: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ops: bool,
    /// Scheduler flag 1: `sh-fallback`, `mh-fallback`, `flag-1`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sched_fallback: bool,
    /// Scheduler flag 2: `sh-port`, `mh-port`, `flag-2`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sched_port: bool,
    /// Scheduler flag 3: `flag-3`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sched_flag3: bool,
    /// `persistence_engine NAME` (`sip`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistence_engine: Option<String>,
    #[serde(default, rename = "real_server", skip_serializing_if = "Vec::is_empty")]
    pub real_servers: Vec<RealServer>,
    #[serde(skip)]
    pub src: Src,
}

impl VirtualServer {
    pub fn default_delay_loop() -> Millis {
        Millis::from_secs(60)
    }

    pub fn new() -> Self {
        Self {
            ip: None,
            port: None,
            fwmark: None,
            group: None,
            delay_loop: Self::default_delay_loop(),
            lb_algo: LbAlgo::default(),
            lb_kind: LbKind::default(),
            protocol: Protocol::default(),
            persistence_timeout: None,
            persistence_granularity: None,
            virtualhost: None,
            sorry_server: None,
            sorry_server_inhibit: false,
            sorry_server_lvs_method: None,
            quorum: 1,
            hysteresis: 0,
            quorum_up: None,
            quorum_down: None,
            alpha: false,
            omega: false,
            inhibit_on_failure: false,
            ha_suspend: false,
            ops: false,
            sched_fallback: false,
            sched_port: false,
            sched_flag3: false,
            persistence_engine: None,
            real_servers: Vec::new(),
            src: Src::default(),
        }
    }

    /// How the server is named in messages: `10.0.0.1:80`, `fwmark 1`, `group VSG_1`.
    pub fn label(&self) -> String {
        match (&self.ip, self.port, self.fwmark, &self.group) {
            (Some(IpAddr::V6(ip)), Some(p), _, _) => format!("[{ip}]:{p}"),
            (Some(ip), Some(p), _, _) => format!("{ip}:{p}"),
            (Some(ip), None, _, _) => ip.to_string(),
            (None, _, Some(m), _) => format!("fwmark {m}"),
            (None, _, None, Some(g)) => format!("group {g}"),
            _ => "virtual_server".to_string(),
        }
    }
}

impl Default for VirtualServer {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealServer {
    pub ip: IpAddr,
    /// Absent for fwmark services, where the port comes from the packet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default = "one_i32")]
    pub weight: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lb_kind: Option<LbKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inhibit_on_failure: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_up: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_down: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uthreshold: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lthreshold: Option<u32>,
    /// TUN only: the encapsulation, GUE's destination port, checksums.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel_encap: Option<TunnelEncap>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel_dport: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel_csum: Option<TunnelCsum>,
    #[serde(default, rename = "checker", skip_serializing_if = "Vec::is_empty")]
    pub checkers: Vec<RealServerCheck>,
    #[serde(skip)]
    pub src: Src,
}

impl RealServer {
    pub fn new(ip: IpAddr, port: Option<u16>) -> Self {
        Self {
            ip,
            port,
            weight: 1,
            lb_kind: None,
            inhibit_on_failure: None,
            notify_up: None,
            notify_down: None,
            uthreshold: None,
            lthreshold: None,
            tunnel_encap: None,
            tunnel_dport: None,
            tunnel_csum: None,
            checkers: Vec::new(),
            src: Src::default(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckKind {
    #[serde(rename = "HTTP_GET")]
    HttpGet,
    #[serde(rename = "SSL_GET")]
    SslGet,
    #[serde(rename = "TCP_CHECK")]
    TcpCheck,
    #[serde(rename = "MISC_CHECK")]
    MiscCheck,
}

impl CheckKind {
    pub fn name(self) -> &'static str {
        match self {
            CheckKind::HttpGet => "HTTP_GET",
            CheckKind::SslGet => "SSL_GET",
            CheckKind::TcpCheck => "TCP_CHECK",
            CheckKind::MiscCheck => "MISC_CHECK",
        }
    }

    pub fn is_http(self) -> bool {
        matches!(self, CheckKind::HttpGet | CheckKind::SslGet)
    }
}

/// A real server's health checker. One struct for every kind, as in
/// keepalived; validation rejects fields that do not belong to the kind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealServerCheck {
    #[serde(rename = "type")]
    pub kind: CheckKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_ip: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bindto: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout: Option<Millis>,
    /// keepalived's `retry` (older: `nb_get_retry`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_before_retry: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_loop: Option<Millis>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub url: Vec<HttpUrl>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtualhost: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub enable_sni: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub misc_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub misc_timeout: Option<Millis>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub misc_dynamic: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<ScriptUser>,
    #[serde(skip)]
    pub src: Src,
}

impl RealServerCheck {
    pub fn new(kind: CheckKind) -> Self {
        Self {
            kind,
            connect_ip: None,
            connect_port: None,
            bindto: None,
            bind_port: None,
            connect_timeout: None,
            retry: None,
            delay_before_retry: None,
            warmup: None,
            delay_loop: None,
            url: Vec::new(),
            virtualhost: None,
            enable_sni: false,
            misc_path: None,
            misc_timeout: None,
            misc_dynamic: false,
            user: None,
            src: Src::default(),
        }
    }
}

/// `url { path ...; digest ...; status_code ... }` of HTTP_GET / SSL_GET.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpUrl {
    #[serde(default)]
    pub path: String,
    /// MD5 of the body, 32 hex digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Accepted status codes as inclusive ranges; empty means 200–299.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub status_code: Vec<StatusRange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtualhost: Option<String>,
}

/// An inclusive range of HTTP status codes, written `200` or `200-299`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusRange {
    pub first: u16,
    pub last: u16,
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
