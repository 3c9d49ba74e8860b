//! The messages between the parent and its workers. One enum for both
//! directions: each side rejects the variants it does not expect (and
//! resets the connection), so a confused or hostile peer cannot steer it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::checker::health::Verdict;
use crate::config::model::Config;
use crate::vrrp::fsm::State;

/// A worker's job; also the hidden role argument of `upkeepd --role`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Vrrp,
    Ipvs,
    Checker,
    /// Serves Prometheus metrics, unprivileged, from text the parent renders.
    Metrics,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Vrrp, Role::Ipvs, Role::Checker, Role::Metrics];

    pub fn name(self) -> &'static str {
        match self {
            Role::Vrrp => "vrrp",
            Role::Ipvs => "ipvs",
            Role::Checker => "checker",
            Role::Metrics => "metrics",
        }
    }

    pub fn from_name(s: &str) -> Option<Role> {
        Self::ALL.into_iter().find(|r| r.name() == s)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Externally tagged (`{"checks": {...}}`), not internally (`{"type":
/// "checks", ...}`): serde reads an internally tagged message twice, into
/// a buffer of its own first to find the tag, which was a third of the
/// parent's instructions at thousands of check results (issue 18). Both
/// ends are the same build, so the format is not a compatibility promise.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Msg {
    // ---- parent → worker ----
    /// The first message a worker gets: what to run, and the parent's record
    /// of the state before this worker started (empty at first start).
    Start {
        generation: u64,
        config: Box<Config>,
        resume: Resume,
        /// The checker's alone: the key that authenticates cached plugin
        /// artefacts (hex), known to the parent and this checker only.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        plugin_key: Option<String>,
    },
    /// Apply a new, already validated configuration.
    Reload {
        generation: u64,
        config: Box<Config>,
    },
    Ping {
        seq: u64,
    },
    /// A tracked check's result, routed from the checker to VRRP
    /// (`script:NAME`, `process:NAME`, `file:NAME`).
    Track {
        source: String,
        up: bool,
        /// For `file:NAME`: the number the file holds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<i64>,
    },
    /// Shut down cleanly (VRRP: resign, remove VIPs).
    Shutdown,
    /// The VRRP instances' states, for IPVS (`ha_suspend`, the sync
    /// daemon): instance name → state name. Sent on every change.
    VrrpStates {
        states: BTreeMap<String, State>,
    },
    /// What the metrics worker serves at /metrics (the exposition text,
    /// rendered by the parent from its status). Sent when it changed, at
    /// most every second.
    Metrics {
        text: String,
    },
    /// VRRP: the instances `upkeepctl maintenance` holds out of Master (the
    /// whole set, sent on every change; names not configured are ignored).
    Maintenance {
        instances: BTreeSet<String>,
    },
    /// VRRP: `upkeepctl handover` of these instances (each a Master).
    Handover {
        instances: Vec<String>,
    },

    // ---- worker → parent ----
    /// The configuration of `generation` is loaded and running.
    Ready {
        generation: u64,
    },
    /// A reload could not be applied; the worker runs the previous configuration.
    ReloadFailed {
        generation: u64,
        error: String,
    },
    Pong {
        seq: u64,
    },
    /// A VRRP instance changed state (for notify scripts, in order).
    Transition(Transition),
    /// The VRRP worker's full picture (after changes, and once a second).
    VrrpStatus {
        instances: Vec<InstanceStatus>,
        unmatched_drops: BTreeMap<String, u64>,
        /// Only counters moved since the last status (the worker's
        /// once-a-second report): status.json takes it at the pace of
        /// counters, not at once (issue 18).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        counters: bool,
    },
    /// A check's state after fall/rise (from the checker).
    CheckState(CheckStatus),
    /// Several checks' states and counters (from the checker), at most
    /// [`CHECKS_PER_MESSAGE`] from an honest one.
    Checks {
        #[serde(deserialize_with = "checks_batch")]
        checks: Vec<CheckStatus>,
    },
    /// A real server's health changed (checker → parent → IPVS).
    RealServer(RealServerState),
    /// The IPVS worker's table.
    IpvsStatus {
        virtual_servers: Vec<VirtualServerStatus>,
        /// What the worker knows of the kernel (reconciles, errors).
        #[serde(default)]
        kernel: Box<crate::ipvs::status::IpvsKernel>,
    },
    /// A virtual server's quorum (IPVS → parent, which runs `quorum_up` /
    /// `quorum_down` from its own configuration when it changed). Sent for
    /// every virtual server at start and on each change.
    Quorum {
        virtual_server: String,
        up: bool,
    },
}

/// Most checks the checker puts in one `Checks` message.
pub const CHECKS_PER_MESSAGE: usize = 256;

/// A `Checks` batch, read into a vector with room for a whole batch: JSON
/// does not say how long a list is, and growing it element by element (with
/// the copies and the allocator's consolidation of large requests) was a
/// fifth of the parent's time at 10,000 checks (perf, issue 18). A longer
/// list still reads (the parent refuses what it does not know, not sizes).
fn checks_batch<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<CheckStatus>, D::Error> {
    struct Batch;
    impl<'de> serde::de::Visitor<'de> for Batch {
        type Value = Vec<CheckStatus>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list of checks")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            let mut v = Vec::with_capacity(CHECKS_PER_MESSAGE);
            while let Some(c) = seq.next_element()? {
                v.push(c);
            }
            Ok(v)
        }
    }
    d.deserialize_seq(Batch)
}

impl Msg {
    /// About how many bytes the message encodes to, for the buffer it is
    /// written into: grown from 256 bytes by doubling, a batch of 100
    /// checks was copied seven times over (the checker's largest share of
    /// memcpy at 500 checks, issue 18). An estimate: a longer message
    /// grows the buffer as before.
    pub fn size_hint(&self) -> usize {
        const SMALL: usize = 256;
        match self {
            Msg::Checks { checks } => {
                64 + checks
                    .iter()
                    .map(|c| {
                        128 + c.source.len()
                            + c.last_result.as_ref().map_or(0, String::len)
                            + c.policy.as_ref().map_or(0, String::len)
                            + c.metrics.iter().map(|(n, _)| n.len() + 32).sum::<usize>()
                    })
                    .sum::<usize>()
            }
            Msg::IpvsStatus {
                virtual_servers, ..
            } => {
                1024 + virtual_servers
                    .iter()
                    .map(|v| {
                        192 + v.key.len()
                            + v.services.iter().map(|s| s.len() + 4).sum::<usize>()
                            + 192 * v.real_servers.len()
                    })
                    .sum::<usize>()
            }
            _ => SMALL,
        }
    }

    /// The variant's name, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Msg::Start { .. } => "start",
            Msg::Reload { .. } => "reload",
            Msg::Ping { .. } => "ping",
            Msg::Track { .. } => "track",
            Msg::Shutdown => "shutdown",
            Msg::VrrpStates { .. } => "vrrp_states",
            Msg::Metrics { .. } => "metrics",
            Msg::Maintenance { .. } => "maintenance",
            Msg::Handover { .. } => "handover",
            Msg::Quorum { .. } => "quorum",
            Msg::Ready { .. } => "ready",
            Msg::ReloadFailed { .. } => "reload_failed",
            Msg::Pong { .. } => "pong",
            Msg::Transition(_) => "transition",
            Msg::VrrpStatus { .. } => "vrrp_status",
            Msg::CheckState(_) => "check_state",
            Msg::Checks { .. } => "checks",
            Msg::RealServer(_) => "real_server",
            Msg::IpvsStatus { .. } => "ipvs_status",
        }
    }
}

/// What the parent last knew of each VRRP instance, given to a restarted
/// VRRP worker so that a Master carries on without a failover.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resume {
    /// Instance name → its last state.
    pub states: BTreeMap<String, State>,
    /// Tracked check results (`script:NAME` → up), replayed before start.
    pub tracks: BTreeMap<String, bool>,
    /// Tracked files' numbers (`file:NAME` → value), replayed before start.
    #[serde(default)]
    pub values: BTreeMap<String, i64>,
    /// Real servers known down: `vs key` → addresses.
    pub real_servers_down: BTreeMap<String, Vec<String>>,
    /// Real servers known up (they matter with `alpha`): `vs key` → addresses.
    #[serde(default)]
    pub real_servers_up: BTreeMap<String, Vec<String>>,
    /// FILE_CHECK weight changes in force: `vs key` → real server → change.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub real_server_weights: BTreeMap<String, BTreeMap<String, i64>>,
    /// How long the role had no worker (None at first start).
    pub down_ms: Option<u64>,
    /// VRRP: the instances in maintenance, applied before start.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub maintenance: BTreeSet<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    pub instance: String,
    pub from: State,
    pub to: State,
    pub cause: String,
    pub priority: u8,
    /// The instance is in maintenance after this transition (notify's
    /// `MAINTENANCE`). A change of this alone comes as a transition from
    /// a state to itself.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub maintenance: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceStatus {
    pub name: String,
    pub state: State,
    pub priority: u8,
    pub base_priority: u8,
    pub master: Option<IpAddr>,
    pub vips: Vec<String>,
    pub last_cause: Option<String>,
    /// Wall-clock time of the last transition, milliseconds since the epoch.
    pub last_transition_ms: Option<u64>,
    pub adverts_sent: u64,
    pub adverts_received: u64,
    pub transitions: u64,
    pub drops: BTreeMap<String, u64>,
    /// A Master's addresses the kernel does not have now (someone removed
    /// them and putting them back failed, or their interface is gone).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vips_missing: Vec<String>,
    /// Addresses removed by someone else that the Master put back.
    #[serde(default)]
    pub addresses_restored: u64,
    /// Addresses found on the interface of a non-Master and removed.
    #[serde(default)]
    pub addresses_removed: u64,
    /// v3: the peer advertises another address list than ours (a rolling
    /// change of the VIP list under way), while it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_mismatch: Option<AddressMismatch>,
    /// v3: times such a mismatch started (or the peer's list changed).
    #[serde(default)]
    pub address_mismatches: u64,
    /// A Master's VIPs another host answers ARP for, while it does (at
    /// most [`MAX_DUPLICATE_MACS`] hosts per VIP).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub duplicate_vips: Vec<DuplicateVip>,
    /// ARP packets from other hosts claiming one of the Master's VIPs.
    #[serde(default)]
    pub duplicate_vip_packets: u64,
    /// Held out of Master by `upkeepctl maintenance`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub maintenance: bool,
    /// An `upkeepctl handover` waiting for the new Master's advert.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub handover: bool,
}

impl InstanceStatus {
    /// An instance with nothing counted yet (tests, fuzzing).
    pub fn new(name: impl Into<String>, state: State, priority: u8) -> Self {
        Self {
            name: name.into(),
            state,
            priority,
            base_priority: priority,
            master: None,
            vips: Vec::new(),
            last_cause: None,
            last_transition_ms: None,
            adverts_sent: 0,
            adverts_received: 0,
            transitions: 0,
            drops: BTreeMap::new(),
            vips_missing: Vec::new(),
            addresses_restored: 0,
            addresses_removed: 0,
            address_mismatch: None,
            address_mismatches: 0,
            duplicate_vips: Vec::new(),
            duplicate_vip_packets: 0,
            maintenance: false,
            handover: false,
        }
    }
}

/// A peer's advertised address list that differs from ours.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressMismatch {
    /// The peer that sent it.
    pub from: IpAddr,
    /// What it advertises.
    pub addrs: Vec<IpAddr>,
}

/// Most addresses an advert carries (its count field is one octet).
pub const MAX_ADVERT_ADDRS: usize = 255;
/// Most hosts reported per duplicated VIP.
pub const MAX_DUPLICATE_MACS: usize = 4;

/// Another host that claims one of a Master's VIPs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DuplicateVip {
    pub addr: IpAddr,
    /// Its MAC address, `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
    /// Wall-clock time it was last heard, milliseconds since the epoch.
    pub last_seen_ms: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckStatus {
    /// `script:NAME`, `process:NAME`, `file:NAME`, `real_server:...`.
    pub source: String,
    pub state: Verdict,
    pub last_result: Option<String>,
    pub latency_us: Option<u64>,
    pub failures: u64,
    pub runs: u64,
    /// For a tracked file: the number it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<i64>,
    /// Restart-then-demote state, when the check has a policy (set by the parent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// What a plugin measured in its last run (name, value).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<(String, f64)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealServerState {
    /// The virtual server's key (`ip:port/proto`, `fwmark:N[/v6]`, `group:NAME[/udp]`: `VirtualServer::key`).
    pub virtual_server: String,
    pub real_server: String,
    pub up: bool,
    /// FILE_CHECK: added to the server's configured weight (keepalived's
    /// effective weight); 0 for every other check.
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub weight: i64,
}

fn is_zero_i64(v: &i64) -> bool {
    *v == 0
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualServerStatus {
    pub key: String,
    pub scheduler: String,
    pub real_servers: Vec<RealServerStatus>,
    #[serde(default)]
    pub quorum_up: bool,
    /// Out of the kernel for `ha_suspend`.
    #[serde(default)]
    pub suspended: bool,
    /// The kernel services it stands for (a group's members).
    #[serde(default)]
    pub services: Vec<String>,
    /// How many of them the kernel had at the last reconcile.
    #[serde(default)]
    pub in_kernel: usize,
}

/// A real server's status as the IPVS worker reports it and the parent
/// keeps it (one per real server: 52 bytes, 80 with a `SocketAddr`, an
/// `i64` weight and `u64` counters; 0.28 MiB of the parent at 10,000
/// real servers, issue 18).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealServerStatus {
    /// `ip:port` (`[ip]:port`), a string on the wire; held as an address
    /// so that 10,000 of them in the parent's record are not 10,000 heap
    /// blocks (issue 18).
    pub address: Endpoint,
    /// The configured weight.
    pub weight: i32,
    pub up: bool,
    /// The sorry server.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sorry: bool,
    /// The weight it should have in the kernel (None: not in it).
    #[serde(default)]
    pub desired_weight: Option<u32>,
    /// The weight the kernel has (None: not in it), from the last dump.
    #[serde(default)]
    pub kernel_weight: Option<u32>,
    /// Connections from the last dump (summed over a group's services,
    /// saturating: the kernel counts each service's in 32 bits).
    #[serde(default)]
    pub active_conns: u32,
    #[serde(default)]
    pub inactive_conns: u32,
}

/// An address and port without IPv6's flow label and scope (which a real
/// server's key never has): 20 bytes where `SocketAddr` takes 32. Written
/// and read as `SocketAddr` is (`1.2.3.4:80`, `[::1]:80`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(from = "std::net::SocketAddr")]
pub struct Endpoint {
    pub ip: std::net::IpAddr,
    pub port: u16,
}

impl Endpoint {
    pub fn new(ip: std::net::IpAddr, port: u16) -> Self {
        Self { ip, port }
    }
}

impl From<std::net::SocketAddr> for Endpoint {
    fn from(a: std::net::SocketAddr) -> Self {
        Self::new(a.ip(), a.port())
    }
}

impl From<Endpoint> for std::net::SocketAddr {
    fn from(e: Endpoint) -> Self {
        std::net::SocketAddr::new(e.ip, e.port)
    }
}

/// An IPv4 address by hand ([`v4_text`]), as `SocketAddr` writes it: at
/// 500 real servers the formatting machinery was a sixth of the parent's
/// instructions per check, in every status.json (callgrind, issue 18).
impl Serialize for Endpoint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.ip {
            std::net::IpAddr::V4(ip) => s.serialize_str(v4_text(
                std::net::SocketAddrV4::new(ip, self.port),
                &mut [0; V4_TEXT],
            )),
            std::net::IpAddr::V6(_) => std::net::SocketAddr::from(*self).serialize(s),
        }
    }
}

/// "255.255.255.255:65535": the longest [`v4_text`].
pub(crate) const V4_TEXT: usize = 21;

/// `a` as `Display` writes it, into `buf`, without the formatting
/// machinery (whose `write!` of the four octets and the port cost about a
/// thousand instructions an address).
pub(crate) fn v4_text(a: std::net::SocketAddrV4, buf: &mut [u8; V4_TEXT]) -> &str {
    v4_text_after("", a, buf)
}

/// `prefix` and then `a` as [`v4_text`] writes it, into `buf`, which has
/// room for both (`prefix.len() + V4_TEXT`; what does not fit is left
/// out).
pub(crate) fn v4_text_after<'b>(
    prefix: &str,
    a: std::net::SocketAddrV4,
    buf: &'b mut [u8],
) -> &'b str {
    fn push(buf: &mut [u8], n: &mut usize, b: u8) {
        if let Some(slot) = buf.get_mut(*n) {
            *slot = b;
        }
        *n += 1;
    }
    fn put(buf: &mut [u8], n: &mut usize, v: u16) {
        let mut digits = [0u8; 5];
        let mut k = 0;
        let mut v = v;
        loop {
            // v % 10 < 10: the cast cannot truncate.
            digits[k] = b'0' + (v % 10) as u8;
            k += 1;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        for d in digits[..k].iter().rev() {
            push(buf, n, *d);
        }
    }
    let mut n = 0;
    for b in prefix.bytes() {
        push(buf, &mut n, b);
    }
    for (i, o) in a.ip().octets().into_iter().enumerate() {
        if i > 0 {
            push(buf, &mut n, b'.');
        }
        put(buf, &mut n, u16::from(o));
    }
    push(buf, &mut n, b':');
    put(buf, &mut n, a.port());
    let n = n.min(buf.len());
    // The prefix, then digits, dots and a colon.
    std::str::from_utf8(&buf[..n]).unwrap_or_default()
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::net::SocketAddr::from(*self).fmt(f)
    }
}

impl std::str::FromStr for Endpoint {
    type Err = std::net::AddrParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse::<std::net::SocketAddr>().map(Self::from)
    }
}

/// The unspecified address (0.0.0.0:0) and nothing else set: to build one
/// field by field.
impl Default for RealServerStatus {
    fn default() -> Self {
        Self {
            address: Endpoint::new(std::net::Ipv4Addr::UNSPECIFIED.into(), 0),
            weight: 0,
            up: false,
            sorry: false,
            desired_weight: None,
            kernel_weight: None,
            active_conns: 0,
            inactive_conns: 0,
        }
    }
}
