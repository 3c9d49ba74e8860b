//! IPVS: `virtual_server`, `virtual_server_group`, real servers and their
//! checkers.

use std::net::IpAddr;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use super::lean::{Lean, Unset};
use super::{PluginCheck, Script, ScriptUser, TunnelCsum, TunnelEncap, is_zero_u32, one, one_i32};
use crate::config::diag::Src;
use crate::config::values::{Millis, StatusRange, VsgEntry};

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
    Wrr,
    Lc,
    /// keepalived's default (IPVS_DEF_SCHED).
    #[default]
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
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: Option<u16>,
}

/// `virtual_server IP PORT`, `virtual_server fwmark N` or `virtual_server group NAME`.
/// Exactly one of `ip` (with `port`), `fwmark` and `group` is set.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VirtualServer {
    pub ip: Option<IpAddr>,
    pub port: Option<u16>,
    pub fwmark: Option<u32>,
    pub group: Option<String>,
    #[serde(default = "VirtualServer::default_delay_loop")]
    pub delay_loop: Millis,
    #[serde(default)]
    pub lb_algo: LbAlgo,
    #[serde(default)]
    pub lb_kind: LbKind,
    #[serde(default)]
    pub protocol: Protocol,
    pub persistence_timeout: Option<u32>,
    pub persistence_granularity: Option<IpAddr>,
    pub virtualhost: Option<String>,
    pub sorry_server: Option<Endpoint>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sorry_server_inhibit: bool,
    /// The sorry server's forwarding method (default: `lb_kind`).
    pub sorry_server_lvs_method: Option<LbKind>,
    #[serde(default = "one")]
    pub quorum: u32,
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub hysteresis: u32,
    pub quorum_up: Option<Script>,
    pub quorum_down: Option<Script>,
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
    pub persistence_engine: Option<String>,
    /// Checker settings the real servers' checkers inherit (keepalived:
    /// checker, else real server, else virtual server, else the default).
    pub retry: Option<u32>,
    pub delay_before_retry: Option<Millis>,
    pub warmup: Option<Millis>,
    /// keepalived's default: 5 s.
    pub connect_timeout: Option<Millis>,
    #[serde(default, rename = "real_server", skip_serializing_if = "Vec::is_empty")]
    pub real_servers: Vec<RealServer>,
    /// Mail its quorum changes (default: `global.virtual_server_alert`).
    pub smtp_alert: Option<bool>,
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
            retry: None,
            delay_before_retry: None,
            warmup: None,
            connect_timeout: None,
            real_servers: Vec::new(),
            smtp_alert: None,
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

    /// The service's identity as the kernel and keepalived key it, so two
    /// blocks that differ only in protocol (DNS over UDP and TCP) or in
    /// address family (fwmark) are two services: `10.0.0.1:53/udp`,
    /// `[2001:db8::1]:80/tcp`, `fwmark:7`, `fwmark:7/v6`, `group:NAME` (TCP),
    /// `group:NAME/udp`. Status, metrics and the IPVS worker name services so.
    pub fn key(&self) -> String {
        let proto = match self.protocol {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        };
        match (&self.group, self.fwmark, self.ip) {
            (Some(g), _, _) if self.protocol == Protocol::Tcp => format!("group:{g}"),
            (Some(g), _, _) => format!("group:{g}/{proto}"),
            (None, Some(m), _) if self.fwmark_ipv6() => format!("fwmark:{m}/v6"),
            (None, Some(m), _) => format!("fwmark:{m}"),
            (None, None, Some(IpAddr::V4(a))) => format!("{a}:{}/{proto}", self.port.unwrap_or(0)),
            (None, None, Some(IpAddr::V6(a))) => {
                format!("[{a}]:{}/{proto}", self.port.unwrap_or(0))
            }
            (None, None, None) => "unknown".into(),
        }
    }

    /// A fwmark service's address family is IPv6 when its real servers all are.
    pub fn fwmark_ipv6(&self) -> bool {
        !self.real_servers.is_empty() && self.real_servers.iter().all(|r| r.ip.is_ipv6())
    }
}

impl Default for VirtualServer {
    fn default() -> Self {
        Self::new()
    }
}

/// `real_server IP PORT { ... }`. What every real server has is inline;
/// the settings few set are in [`RealServerMore`], boxed and absent while
/// unset: the parent keeps one of these per server, and they were 168
/// bytes inline, 96 of them room for those (issue 18). The configuration's
/// form (TOML, IPC) stays flat ([`RealServerWire`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "RealServerWire", into = "RealServerWire")]
pub struct RealServer {
    pub ip: IpAddr,
    /// Absent for fwmark services, where the port comes from the packet.
    pub port: Option<u16>,
    pub weight: i32,
    pub checkers: Checkers,
    pub more: Lean<RealServerMore>,
    pub src: Src,
}

/// The settings of a [`RealServer`] that few set.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RealServerMore {
    pub lb_kind: Option<LbKind>,
    pub inhibit_on_failure: Option<bool>,
    pub notify_up: Option<Box<Script>>,
    pub notify_down: Option<Box<Script>>,
    pub uthreshold: Option<u32>,
    pub lthreshold: Option<u32>,
    /// TUN only: the encapsulation, GUE's destination port, checksums.
    pub tunnel_encap: Option<TunnelEncap>,
    pub tunnel_dport: Option<u16>,
    pub tunnel_csum: Option<TunnelCsum>,
    /// Checker settings for this server's checkers that set none
    /// (keepalived's inheritance; unset: the virtual server's).
    pub alpha: Option<bool>,
    pub delay_loop: Option<Millis>,
    pub retry: Option<u32>,
    pub delay_before_retry: Option<Millis>,
    pub warmup: Option<Millis>,
    pub connect_timeout: Option<Millis>,
    /// HTTP_GET / SSL_GET Host: between the checker's and the virtual server's.
    pub virtualhost: Option<String>,
    /// Mail its health changes (default: `global.real_server_alert`).
    pub smtp_alert: Option<bool>,
}

impl Unset for RealServerMore {
    fn unset() -> &'static Self {
        static UNSET: LazyLock<RealServerMore> = LazyLock::new(RealServerMore::default);
        &UNSET
    }
}

impl RealServer {
    pub fn new(ip: IpAddr, port: Option<u16>) -> Self {
        Self {
            ip,
            port,
            weight: 1,
            checkers: Checkers::default(),
            more: Lean::default(),
            src: Src::default(),
        }
    }
}

/// [`RealServer`] as the configuration and IPC write it: flat, in the
/// order it always had (see [`CheckWire`] for why not `flatten`).
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RealServerWire {
    ip: IpAddr,
    port: Option<u16>,
    #[serde(default = "one_i32")]
    weight: i32,
    lb_kind: Option<LbKind>,
    inhibit_on_failure: Option<bool>,
    notify_up: Option<Box<Script>>,
    notify_down: Option<Box<Script>>,
    uthreshold: Option<u32>,
    lthreshold: Option<u32>,
    tunnel_encap: Option<TunnelEncap>,
    tunnel_dport: Option<u16>,
    tunnel_csum: Option<TunnelCsum>,
    alpha: Option<bool>,
    delay_loop: Option<Millis>,
    retry: Option<u32>,
    delay_before_retry: Option<Millis>,
    warmup: Option<Millis>,
    connect_timeout: Option<Millis>,
    virtualhost: Option<String>,
    #[serde(default, rename = "checker", skip_serializing_if = "Vec::is_empty")]
    checkers: Vec<RealServerCheck>,
    smtp_alert: Option<bool>,
}

impl From<RealServerWire> for RealServer {
    fn from(w: RealServerWire) -> Self {
        RealServer {
            ip: w.ip,
            port: w.port,
            weight: w.weight,
            checkers: w.checkers.into(),
            more: Lean::of(RealServerMore {
                lb_kind: w.lb_kind,
                inhibit_on_failure: w.inhibit_on_failure,
                notify_up: w.notify_up,
                notify_down: w.notify_down,
                uthreshold: w.uthreshold,
                lthreshold: w.lthreshold,
                tunnel_encap: w.tunnel_encap,
                tunnel_dport: w.tunnel_dport,
                tunnel_csum: w.tunnel_csum,
                alpha: w.alpha,
                delay_loop: w.delay_loop,
                retry: w.retry,
                delay_before_retry: w.delay_before_retry,
                warmup: w.warmup,
                connect_timeout: w.connect_timeout,
                virtualhost: w.virtualhost,
                smtp_alert: w.smtp_alert,
            }),
            src: Src::default(),
        }
    }
}

impl From<RealServer> for RealServerWire {
    fn from(r: RealServer) -> Self {
        let m = r.more.into_inner();
        RealServerWire {
            ip: r.ip,
            port: r.port,
            weight: r.weight,
            lb_kind: m.lb_kind,
            inhibit_on_failure: m.inhibit_on_failure,
            notify_up: m.notify_up,
            notify_down: m.notify_down,
            uthreshold: m.uthreshold,
            lthreshold: m.lthreshold,
            tunnel_encap: m.tunnel_encap,
            tunnel_dport: m.tunnel_dport,
            tunnel_csum: m.tunnel_csum,
            alpha: m.alpha,
            delay_loop: m.delay_loop,
            retry: m.retry,
            delay_before_retry: m.delay_before_retry,
            warmup: m.warmup,
            connect_timeout: m.connect_timeout,
            virtualhost: m.virtualhost,
            checkers: r.checkers.into(),
            smtp_alert: m.smtp_alert,
        }
    }
}

/// A real server's checkers, read as a slice. Nearly every checked server
/// has one, kept inline: in a list of its own it was a 64-byte block with
/// the allocator's header beside the list's 24 bytes, 40 bytes a server
/// more than inline (the parent keeps the configuration: 0.4 MiB at
/// 10,000 real servers; issue 18).
pub type Checkers = crate::few::Few<RealServerCheck>;

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
    #[serde(rename = "PING_CHECK")]
    PingCheck,
    #[serde(rename = "UDP_CHECK")]
    UdpCheck,
    #[serde(rename = "DNS_CHECK")]
    DnsCheck,
    /// upkeep's own: a WASM plugin (keepalived.conf `UPKEEP_PLUGIN`).
    #[serde(rename = "plugin", alias = "UPKEEP_PLUGIN")]
    Plugin,
    #[serde(rename = "SMTP_CHECK")]
    SmtpCheck,
    #[serde(rename = "FILE_CHECK")]
    FileCheck,
}

impl CheckKind {
    pub fn name(self) -> &'static str {
        match self {
            CheckKind::HttpGet => "HTTP_GET",
            CheckKind::SslGet => "SSL_GET",
            CheckKind::TcpCheck => "TCP_CHECK",
            CheckKind::MiscCheck => "MISC_CHECK",
            CheckKind::PingCheck => "PING_CHECK",
            CheckKind::UdpCheck => "UDP_CHECK",
            CheckKind::DnsCheck => "DNS_CHECK",
            CheckKind::Plugin => "UPKEEP_PLUGIN",
            CheckKind::SmtpCheck => "SMTP_CHECK",
            CheckKind::FileCheck => "FILE_CHECK",
        }
    }

    pub fn is_http(self) -> bool {
        matches!(self, CheckKind::HttpGet | CheckKind::SslGet)
    }
}

/// A real server's health checker. One struct for every kind, as in
/// keepalived; validation rejects fields that do not belong to the kind.
/// The settings only some kinds have, and those few checks set, are in
/// [`CheckExt`], boxed and absent while unset: the parent keeps one of
/// these per real server, and a TCP check held 400 bytes inline, mostly
/// room for those (issue 18; then 120, now 64). What a keepalived TCP_CHECK
/// commonly sets stays inline. The configuration's form (TOML, IPC) stays
/// flat ([`CheckWire`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "CheckWire", into = "CheckWire")]
pub struct RealServerCheck {
    pub kind: CheckKind,
    pub connect_ip: Option<IpAddr>,
    pub connect_port: Option<u16>,
    pub connect_timeout: Option<Millis>,
    /// keepalived's `retry` (older: `nb_get_retry`).
    pub retry: Option<u32>,
    pub delay_before_retry: Option<Millis>,
    /// The settings some kinds have and those few checks set.
    pub ext: ExtBox,
    pub src: Src,
}

/// The settings of [`RealServerCheck`] that only some kinds have, and
/// those few checks set.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CheckExt {
    pub bindto: Option<IpAddr>,
    pub bind_port: Option<u16>,
    pub warmup: Option<Millis>,
    pub delay_loop: Option<Millis>,
    /// Down until the first check passes (unset: the real server's, then
    /// the virtual server's `alpha`).
    pub alpha: Option<bool>,
    pub user: Option<Box<ScriptUser>>,
    /// The `plugin` kind: the component, its args, memory and grants (a
    /// grant may name `$REAL_SERVER`, the address checked).
    pub plugin: Option<Box<PluginCheck>>,
    /// keepalived's `log_all_failures`: log every failed attempt while the
    /// server is up (the retries too), not only the change to down.
    pub log_all_failures: bool,
    pub url: Vec<HttpUrl>,
    pub virtualhost: Option<String>,
    pub enable_sni: bool,
    pub misc_path: Option<String>,
    pub misc_timeout: Option<Millis>,
    pub misc_dynamic: bool,
    /// UDP_CHECK: the datagram sent, in hex (keepalived's `payload`;
    /// unset: 32 zero bytes, as keepalived sends).
    pub payload: Option<String>,
    /// UDP_CHECK: a reply must come (else silence until the timeout passes).
    pub require_reply: bool,
    /// UDP_CHECK: the reply expected, in hex with `x` wildcard nibbles
    /// (keepalived's `require_reply HEX`); needs `require_reply`.
    pub reply: Option<String>,
    /// UDP_CHECK: a reply's length bounds (keepalived: 0 and 255).
    pub min_reply_length: Option<u16>,
    pub max_reply_length: Option<u16>,
    /// DNS_CHECK: the query's type (keepalived's `type`; default SOA).
    pub dns_type: Option<DnsType>,
    /// DNS_CHECK: the name queried (keepalived's `name`; default the root).
    pub dns_name: Option<String>,
    /// SMTP_CHECK: the name sent with HELO (unset: keepalived's).
    pub helo_name: Option<String>,
    /// SMTP_CHECK: keepalived's (deprecated) `host` blocks, each one more
    /// server checked; all must pass.
    pub host: Vec<SmtpHost>,
    /// FILE_CHECK: the name of a `track_file` / `vrrp_track_file`.
    pub track_file: Option<String>,
    /// FILE_CHECK: the file's value times this changes the server's
    /// weight (0: any non-zero value is down). Unset: the track file's
    /// `weight` and `reverse`.
    pub weight: Option<i32>,
    pub weight_reverse: bool,
}

/// A check's kind-specific settings: one pointer while all are unset.
pub type ExtBox = Lean<CheckExt>;

/// Unset: the kind's defaults, read from one shared empty [`CheckExt`].
impl Unset for CheckExt {
    fn unset() -> &'static Self {
        static UNSET: LazyLock<CheckExt> = LazyLock::new(CheckExt::default);
        &UNSET
    }
}

/// [`RealServerCheck`] as the configuration and IPC write it: flat. It
/// repeats the fields because serde's `flatten` would lose
/// `deny_unknown_fields`, and with it the "did you mean" for a misspelt
/// key.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckWire {
    #[serde(rename = "type")]
    pub kind: CheckKind,
    pub connect_ip: Option<IpAddr>,
    pub connect_port: Option<u16>,
    pub bindto: Option<IpAddr>,
    pub bind_port: Option<u16>,
    pub connect_timeout: Option<Millis>,
    /// keepalived's `retry` (older: `nb_get_retry`).
    pub retry: Option<u32>,
    pub delay_before_retry: Option<Millis>,
    pub warmup: Option<Millis>,
    pub delay_loop: Option<Millis>,
    /// Down until the first check passes (unset: the real server's, then
    /// the virtual server's `alpha`).
    pub alpha: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub url: Vec<HttpUrl>,
    pub virtualhost: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub enable_sni: bool,
    pub misc_path: Option<String>,
    pub misc_timeout: Option<Millis>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub misc_dynamic: bool,
    pub user: Option<Box<ScriptUser>>,
    /// UDP_CHECK: the datagram sent, in hex (keepalived's `payload`;
    /// unset: 32 zero bytes, as keepalived sends).
    pub payload: Option<String>,
    /// UDP_CHECK: a reply must come (else silence until the timeout passes).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_reply: bool,
    /// UDP_CHECK: the reply expected, in hex with `x` wildcard nibbles
    /// (keepalived's `require_reply HEX`); needs `require_reply`.
    pub reply: Option<String>,
    /// UDP_CHECK: a reply's length bounds (keepalived: 0 and 255).
    pub min_reply_length: Option<u16>,
    pub max_reply_length: Option<u16>,
    /// DNS_CHECK: the query's type (keepalived's `type`; default SOA).
    pub dns_type: Option<DnsType>,
    /// DNS_CHECK: the name queried (keepalived's `name`; default the root).
    pub dns_name: Option<String>,
    /// The `plugin` kind: the component, its args, memory and grants (a
    /// grant may name `$REAL_SERVER`, the address checked). Boxed: most
    /// checks have none, and the daemon keeps one of these per real server.
    pub plugin: Option<Box<PluginCheck>>,
    /// keepalived's `log_all_failures`: log every failed attempt while the
    /// server is up (the retries too), not only the change to down.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub log_all_failures: bool,
    /// SMTP_CHECK: the name sent with HELO (unset: keepalived's).
    pub helo_name: Option<String>,
    /// SMTP_CHECK: keepalived's (deprecated) `host` blocks, each one more
    /// server checked; all must pass.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host: Vec<SmtpHost>,
    /// FILE_CHECK: the name of a `track_file` / `vrrp_track_file`.
    pub track_file: Option<String>,
    /// FILE_CHECK: the file's value times this changes the server's
    /// weight (0: any non-zero value is down). Unset: the track file's
    /// `weight` and `reverse`.
    pub weight: Option<i32>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub weight_reverse: bool,
}

impl From<CheckWire> for RealServerCheck {
    fn from(w: CheckWire) -> Self {
        RealServerCheck {
            kind: w.kind,
            connect_ip: w.connect_ip,
            connect_port: w.connect_port,
            connect_timeout: w.connect_timeout,
            retry: w.retry,
            delay_before_retry: w.delay_before_retry,
            ext: ExtBox::of(CheckExt {
                bindto: w.bindto,
                bind_port: w.bind_port,
                warmup: w.warmup,
                delay_loop: w.delay_loop,
                alpha: w.alpha,
                user: w.user,
                plugin: w.plugin,
                log_all_failures: w.log_all_failures,
                url: w.url,
                virtualhost: w.virtualhost,
                enable_sni: w.enable_sni,
                misc_path: w.misc_path,
                misc_timeout: w.misc_timeout,
                misc_dynamic: w.misc_dynamic,
                payload: w.payload,
                require_reply: w.require_reply,
                reply: w.reply,
                min_reply_length: w.min_reply_length,
                max_reply_length: w.max_reply_length,
                dns_type: w.dns_type,
                dns_name: w.dns_name,
                helo_name: w.helo_name,
                host: w.host,
                track_file: w.track_file,
                weight: w.weight,
                weight_reverse: w.weight_reverse,
            }),
            src: Src::default(),
        }
    }
}

impl From<RealServerCheck> for CheckWire {
    fn from(c: RealServerCheck) -> Self {
        let ext = c.ext.into_inner();
        CheckWire {
            kind: c.kind,
            connect_ip: c.connect_ip,
            connect_port: c.connect_port,
            bindto: ext.bindto,
            bind_port: ext.bind_port,
            connect_timeout: c.connect_timeout,
            retry: c.retry,
            delay_before_retry: c.delay_before_retry,
            warmup: ext.warmup,
            delay_loop: ext.delay_loop,
            alpha: ext.alpha,
            user: ext.user,
            plugin: ext.plugin,
            log_all_failures: ext.log_all_failures,
            url: ext.url,
            virtualhost: ext.virtualhost,
            enable_sni: ext.enable_sni,
            misc_path: ext.misc_path,
            misc_timeout: ext.misc_timeout,
            misc_dynamic: ext.misc_dynamic,
            payload: ext.payload,
            require_reply: ext.require_reply,
            reply: ext.reply,
            min_reply_length: ext.min_reply_length,
            max_reply_length: ext.max_reply_length,
            dns_type: ext.dns_type,
            dns_name: ext.dns_name,
            helo_name: ext.helo_name,
            host: ext.host,
            track_file: ext.track_file,
            weight: ext.weight,
            weight_reverse: ext.weight_reverse,
        }
    }
}

/// One `host { ... }` of an SMTP_CHECK: where to connect (unset: the real
/// server's address and port) and from where.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpHost {
    pub connect_ip: Option<IpAddr>,
    pub connect_port: Option<u16>,
    pub bindto: Option<IpAddr>,
    pub bind_port: Option<u16>,
    /// Unset: the SMTP_CHECK's (after its inheritance).
    pub connect_timeout: Option<Millis>,
    #[serde(skip)]
    pub src: Src,
}

/// The query types keepalived's DNS_CHECK knows (check_dns.c DNS_TYPE).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum DnsType {
    A,
    Ns,
    Cname,
    Soa,
    Mx,
    Txt,
    Aaaa,
    Rrsig,
    Dnskey,
}

impl DnsType {
    pub const ALL: [DnsType; 9] = [
        DnsType::A,
        DnsType::Ns,
        DnsType::Cname,
        DnsType::Soa,
        DnsType::Mx,
        DnsType::Txt,
        DnsType::Aaaa,
        DnsType::Rrsig,
        DnsType::Dnskey,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DnsType::A => "A",
            DnsType::Ns => "NS",
            DnsType::Cname => "CNAME",
            DnsType::Soa => "SOA",
            DnsType::Mx => "MX",
            DnsType::Txt => "TXT",
            DnsType::Aaaa => "AAAA",
            DnsType::Rrsig => "RRSIG",
            DnsType::Dnskey => "DNSKEY",
        }
    }

    /// The type's number in a query.
    pub fn code(self) -> u16 {
        match self {
            DnsType::A => 1,
            DnsType::Ns => 2,
            DnsType::Cname => 5,
            DnsType::Soa => 6,
            DnsType::Mx => 15,
            DnsType::Txt => 16,
            DnsType::Aaaa => 28,
            DnsType::Rrsig => 46,
            DnsType::Dnskey => 48,
        }
    }

    /// keepalived compares the type's name without regard to case.
    pub fn parse(s: &str) -> Option<DnsType> {
        Self::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(s))
    }
}

impl RealServerCheck {
    pub fn new(kind: CheckKind) -> Self {
        Self {
            kind,
            connect_ip: None,
            connect_port: None,
            connect_timeout: None,
            retry: None,
            delay_before_retry: None,
            ext: ExtBox::default(),
            src: Src::default(),
        }
    }
}

/// A checker's settings after keepalived's inheritance: the checker's
/// own, else its real server's, else its virtual server's, else
/// keepalived's default for the kind (check_data.c, validate_check_config).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckSettings {
    pub delay_loop: Millis,
    pub connect_timeout: Millis,
    /// Failures retried before the server is down.
    pub retry: u32,
    pub delay_before_retry: Millis,
    /// The first check comes at a random time up to this.
    pub warmup: Millis,
    pub alpha: bool,
    /// HTTP_GET / SSL_GET: the Host (the url's own comes first).
    pub virtualhost: Option<String>,
    /// MISC_CHECK: `misc_timeout`, else the virtual server's `delay_loop`.
    pub misc_timeout: Millis,
}

impl RealServerCheck {
    /// keepalived's defaults by kind: MISC_CHECK does not retry, DNS_CHECK
    /// retries 3 times after its delay_loop (check_dns.c), HTTP_GET and
    /// SSL_GET wait 3 s before a retry, the others 1 retry after 1 s.
    pub fn default_retry(kind: CheckKind) -> u32 {
        match kind {
            CheckKind::MiscCheck => 0,
            CheckKind::DnsCheck => 3,
            _ => 1,
        }
    }

    pub fn default_delay_before_retry(kind: CheckKind, delay_loop: Millis) -> Millis {
        match kind {
            CheckKind::DnsCheck => delay_loop,
            k if k.is_http() => Millis::from_secs(3),
            _ => Millis::from_secs(1),
        }
    }

    pub const DEFAULT_CONNECT_TIMEOUT: Millis = Millis::from_secs(5);

    /// The address this checker checks: its `connect_ip` / `connect_port`,
    /// else the real server's, else the virtual server's port, else 80.
    pub fn checked_addr(&self, rs: &RealServer, vs: &VirtualServer) -> std::net::SocketAddr {
        let port = self.connect_port.or(rs.port).or(vs.port).unwrap_or(80);
        std::net::SocketAddr::new(self.connect_ip.unwrap_or(rs.ip), port)
    }

    /// This checker's settings with what it inherits from `rs` and `vs`.
    pub fn settings(&self, rs: &RealServer, vs: &VirtualServer) -> CheckSettings {
        let delay_loop = self
            .ext
            .delay_loop
            .or(rs.more.delay_loop)
            .unwrap_or(vs.delay_loop);
        CheckSettings {
            delay_loop,
            connect_timeout: self
                .connect_timeout
                .or(rs.more.connect_timeout)
                .or(vs.connect_timeout)
                .unwrap_or(Self::DEFAULT_CONNECT_TIMEOUT),
            retry: self
                .retry
                .or(rs.more.retry)
                .or(vs.retry)
                .unwrap_or(Self::default_retry(self.kind)),
            delay_before_retry: self
                .delay_before_retry
                .or(rs.more.delay_before_retry)
                .or(vs.delay_before_retry)
                .unwrap_or(Self::default_delay_before_retry(self.kind, delay_loop)),
            // keepalived: unset, the checker's own delay_loop.
            warmup: self
                .ext
                .warmup
                .or(rs.more.warmup)
                .or(vs.warmup)
                .unwrap_or(delay_loop),
            alpha: self.ext.alpha.or(rs.more.alpha).unwrap_or(vs.alpha),
            virtualhost: self
                .ext
                .virtualhost
                .clone()
                .or_else(|| rs.more.virtualhost.clone())
                .or_else(|| vs.virtualhost.clone()),
            misc_timeout: self.ext.misc_timeout.unwrap_or(vs.delay_loop),
        }
    }
}

/// `url { path ...; digest ...; status_code ... }` of HTTP_GET / SSL_GET.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpUrl {
    #[serde(default)]
    pub path: String,
    /// MD5 of the body, 32 hex digits.
    pub digest: Option<String>,
    /// Accepted status codes as inclusive ranges; empty means 200–299.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub status_code: Vec<StatusRange>,
    pub virtualhost: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(kinds: &[CheckKind]) -> RealServer {
        let mut rs = RealServer::new("10.0.0.2".parse().unwrap(), Some(80));
        for k in kinds {
            rs.checkers.push(RealServerCheck::new(*k));
        }
        rs
    }

    /// None, one inline, several in a list: read as the same slice, and
    /// written (JSON, as IPC and the TOML form write it) as the list it
    /// always was, read back equal.
    #[test]
    fn checkers_read_as_a_list_however_they_are_held() {
        use CheckKind::{HttpGet, MiscCheck, TcpCheck};
        for kinds in [
            &[][..],
            &[TcpCheck],
            &[TcpCheck, HttpGet],
            &[TcpCheck, HttpGet, MiscCheck],
        ] {
            let rs = server(kinds);
            let held: Vec<CheckKind> = rs.checkers.iter().map(|c| c.kind).collect();
            assert_eq!(held, kinds);
            assert_eq!(
                matches!(rs.checkers, Checkers::One(_)),
                kinds.len() == 1,
                "one is inline"
            );
            let json = serde_json::to_value(&rs).unwrap();
            let listed = json
                .get("checker")
                .and_then(|c| c.as_array())
                .map_or(0, Vec::len);
            assert_eq!(listed, kinds.len(), "{json}");
            let back: RealServer = serde_json::from_value(json).unwrap();
            assert_eq!(back, rs);
            let collected: Checkers = rs.checkers.iter().cloned().collect();
            assert_eq!(collected, rs.checkers);
        }
        let mut rs = server(&[TcpCheck, HttpGet]);
        for c in &mut rs.checkers {
            c.retry = Some(2);
        }
        assert!(rs.checkers.iter().all(|c| c.retry == Some(2)));
        assert!(
            std::mem::size_of::<RealServer>() <= 112,
            "a real server grew to {} bytes",
            std::mem::size_of::<RealServer>()
        );
    }
}
