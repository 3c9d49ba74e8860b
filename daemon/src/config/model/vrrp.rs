//! VRRP: `vrrp_instance`, `vrrp_sync_group`, their notify scripts and
//! authentication.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::{Global, Script, default_priority, yes};
use crate::config::diag::Src;
use crate::config::values::{Millis, TrackRef, Vip};

/// `vrrp_sync_group NAME { group { ... } ... }`: instances that change state together.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncGroup {
    pub name: String,
    #[serde(default)]
    pub group: Vec<String>,
    #[serde(default, skip_serializing_if = "Notify::is_empty")]
    pub notify: Notify,
    /// Mail its transitions (default: `global.vrrp_alert`).
    pub smtp_alert: Option<bool>,
    #[serde(skip)]
    pub src: Src,
}

/// Notify scripts (keepalived's `notify_master`, ..., `notify`). `on_change`
/// runs on every transition with keepalived's arguments `TYPE NAME STATE PRIORITY`.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    pub on_master: Option<Script>,
    pub on_backup: Option<Script>,
    pub on_fault: Option<Script>,
    pub on_stop: Option<Script>,
    pub on_change: Option<Script>,
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
#[serde_with::skip_serializing_none]
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
    pub version: Option<u8>,
    /// Run on IPv6 even without IPv6 virtual addresses.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub native_ipv6: bool,
    pub authentication: Option<Authentication>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub virtual_ipaddress: Vec<Vip>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub virtual_ipaddress_excluded: Vec<Vip>,
    pub unicast_src_ip: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unicast_peer: Vec<IpAddr>,
    pub mcast_src_ip: Option<IpAddr>,
    /// Send adverts to (and listen on) this group instead of the global one.
    pub mcast_dst_ip: Option<IpAddr>,
    /// Adverts missed before taking over (default: `vrrp_down_timer_adverts`, else 3).
    pub down_timer_adverts: Option<u32>,
    #[serde(default = "yes")]
    pub preempt: bool,
    pub preempt_delay: Option<Millis>,
    /// Accept packets for the virtual addresses when MASTER (RFC 5798 Accept_Mode).
    #[serde(default = "yes")]
    pub accept: bool,
    /// When absent, the global `vrrp_strict` (see [`VrrpInstance::strict`]).
    pub strict_mode: Option<bool>,
    /// Drop unicast adverts from a source that is not a `unicast_peer`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub check_unicast_src: bool,
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
    pub garp_master_delay: Option<Millis>,
    pub garp_master_repeat: Option<u32>,
    pub garp_master_refresh: Option<Millis>,
    pub garp_master_refresh_repeat: Option<u32>,
    pub garp_lower_prio_delay: Option<Millis>,
    pub garp_lower_prio_repeat: Option<u32>,
    /// `use_vmac [NAME]`: run over a macvlan with the VRRP virtual MAC.
    pub use_vmac: Option<Vmac>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub vmac_xmit_base: bool,
    /// Older form of the global `lvs_sync_daemon INTERFACE THIS-INSTANCE`.
    pub lvs_sync_daemon_interface: Option<String>,
    /// Mail its transitions (default: `global.vrrp_alert`).
    pub smtp_alert: Option<bool>,
    #[serde(skip)]
    pub src: Src,
}

/// `garp_group { garp_interval S; gna_interval S; interface IF | interfaces { IF... } }`:
/// the least time between two gratuitous ARPs (NAs) on those interfaces, in
/// place of the global `vrrp_garp_interval` (`vrrp_gna_interval`).
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GarpGroup {
    pub garp_interval: Option<Millis>,
    pub gna_interval: Option<Millis>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<String>,
    #[serde(skip)]
    pub src: Src,
}

/// One line of `interface_up_down_delays`: a link going down on `interface`
/// counts only once it has stayed down for `down_delay`, and coming back
/// up once it has stayed up for `up_delay` (default: `down_delay`, as
/// keepalived). A flap shorter than the delay changes nothing.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterfaceDelay {
    pub interface: String,
    pub down_delay: Millis,
    pub up_delay: Option<Millis>,
    #[serde(skip)]
    pub src: Src,
}

impl InterfaceDelay {
    /// keepalived: an omitted up delay is the down delay.
    pub fn up(&self) -> Millis {
        self.up_delay.unwrap_or(self.down_delay)
    }
}

/// `use_vmac` with an optional interface name (default `vrrp.VRID`).
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vmac {
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
            mcast_dst_ip: None,
            down_timer_adverts: None,
            preempt: true,
            preempt_delay: None,
            accept: true,
            strict_mode: None,
            check_unicast_src: false,
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
            smtp_alert: None,
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

    /// keepalived's strict mode: the instance's `strict_mode`, else `vrrp_strict`.
    pub fn strict(&self, global: &Global) -> bool {
        self.strict_mode.unwrap_or(global.vrrp_strict)
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
