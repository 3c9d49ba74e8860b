//! The IPVS objects as the kernel holds them (`include/uapi/linux/ip_vs.h`):
//! virtual services, destinations (real servers), sync daemons, counters.
//! Plain values, no IO; [`super::codec`] turns them into attributes.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;

/// Service flags (`IP_VS_SVC_F_*`).
pub mod flags {
    pub const PERSISTENT: u32 = 0x0001;
    /// Set by the kernel on every service it holds; never ours to set.
    pub const HASHED: u32 = 0x0002;
    pub const ONEPACKET: u32 = 0x0004;
    pub const SCHED1: u32 = 0x0008;
    pub const SCHED2: u32 = 0x0010;
    pub const SCHED3: u32 = 0x0020;
    /// `sh` and `mh`: another server when the chosen one is unavailable.
    pub const SCHED_FALLBACK: u32 = SCHED1;
    /// `sh` and `mh`: hash the source port too.
    pub const SCHED_PORT: u32 = SCHED2;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(ip: IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    pub fn af(self) -> u16 {
        match self {
            Family::V4 => AF_INET,
            Family::V6 => AF_INET6,
        }
    }

    pub fn from_af(af: u16) -> Option<Family> {
        match af {
            AF_INET => Some(Family::V4),
            AF_INET6 => Some(Family::V6),
            _ => None,
        }
    }

    /// The persistence netmask that covers one address: 255.255.255.255
    /// (as the kernel holds it: network order) or prefix length 128.
    pub fn host_netmask(self) -> u32 {
        match self {
            Family::V4 => u32::MAX,
            Family::V6 => 128,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    pub fn number(self) -> u16 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
        }
    }

    pub fn from_number(n: u16) -> Option<Protocol> {
        match n {
            6 => Some(Protocol::Tcp),
            17 => Some(Protocol::Udp),
            132 => Some(Protocol::Sctp),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

/// What identifies a virtual service in the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ServiceKey {
    Addr {
        protocol: Protocol,
        addr: IpAddr,
        port: u16,
    },
    Fwmark {
        family: Family,
        mark: u32,
    },
}

impl ServiceKey {
    pub fn family(&self) -> Family {
        match self {
            ServiceKey::Addr { addr, .. } => Family::of(*addr),
            ServiceKey::Fwmark { family, .. } => *family,
        }
    }

    pub fn port(&self) -> Option<u16> {
        match self {
            ServiceKey::Addr { port, .. } => Some(*port),
            ServiceKey::Fwmark { .. } => None,
        }
    }
}

/// `10.0.0.1:80/tcp`, `[2001:db8::1]:443/tcp`, `fwmark:7`, `fwmark:7/v6`
/// (the keys of status and metrics).
impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceKey::Addr {
                protocol,
                addr,
                port,
            } => write!(f, "{}/{}", endpoint(*addr, *port), protocol.name()),
            ServiceKey::Fwmark {
                family: Family::V4,
                mark,
            } => write!(f, "fwmark:{mark}"),
            ServiceKey::Fwmark {
                family: Family::V6,
                mark,
            } => write!(f, "fwmark:{mark}/v6"),
        }
    }
}

/// `10.0.0.1:80`, `[2001:db8::1]:80`.
pub fn endpoint(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

/// A virtual service with its options.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    pub key: ServiceKey,
    /// Passed through as written (`wrr`, `mh`, `twos`, ...): the kernel
    /// knows which it has (module `ip_vs_NAME`).
    pub scheduler: String,
    /// `flags::*`, never [`flags::HASHED`].
    pub flags: u32,
    /// Persistence timeout in seconds (with [`flags::PERSISTENT`]).
    pub timeout: u32,
    /// Persistence granularity: an IPv4 mask in network order as a u32
    /// (`u32::from_be_bytes(mask.octets())`), or an IPv6 prefix length.
    pub netmask: u32,
    /// Persistence engine (`sip`), module `ip_vs_pe_NAME`.
    pub pe: Option<String>,
}

impl Service {
    /// A service without persistence or flags.
    pub fn new(key: ServiceKey, scheduler: &str) -> Service {
        Service {
            netmask: key.family().host_netmask(),
            key,
            scheduler: scheduler.to_string(),
            flags: 0,
            timeout: 0,
            pe: None,
        }
    }

    /// The netmask for a persistence granularity given as a mask address
    /// (IPv4) or prefix length (IPv6).
    pub fn netmask_of(mask: IpAddr) -> u32 {
        match mask {
            IpAddr::V4(m) => u32::from_be_bytes(m.octets()),
            // keepalived takes an IPv6 "mask" as a prefix: count its bits.
            IpAddr::V6(m) => u128::from(m).leading_ones(),
        }
    }
}

/// How IPVS forwards to a destination (`IP_VS_CONN_F_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "lowercase")]
pub enum Forward {
    /// NAT.
    Masq,
    /// The kernel's own choice when the destination is a local address.
    Local,
    Tunnel(Tunnel),
    /// DR.
    Route,
    Bypass,
}

impl Forward {
    pub fn code(&self) -> u32 {
        match self {
            Forward::Masq => 0,
            Forward::Local => 1,
            Forward::Tunnel(_) => 2,
            Forward::Route => 3,
            Forward::Bypass => 4,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Forward::Masq => "masq",
            Forward::Local => "local",
            Forward::Tunnel(_) => "tunnel",
            Forward::Route => "route",
            Forward::Bypass => "bypass",
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Tunnel {
    pub kind: TunnelKind,
    /// GUE's UDP port.
    pub port: u16,
    pub csum: TunnelCsum,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TunnelKind {
    #[default]
    Ipip,
    Gue,
    Gre,
}

impl TunnelKind {
    pub fn code(self) -> u8 {
        match self {
            TunnelKind::Ipip => 0,
            TunnelKind::Gue => 1,
            TunnelKind::Gre => 2,
        }
    }

    pub fn from_code(c: u8) -> Option<TunnelKind> {
        match c {
            0 => Some(TunnelKind::Ipip),
            1 => Some(TunnelKind::Gue),
            2 => Some(TunnelKind::Gre),
            _ => None,
        }
    }
}

/// `IP_VS_TUNNEL_ENCAP_FLAG_*`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TunnelCsum {
    #[default]
    None,
    Csum,
    Remcsum,
}

impl TunnelCsum {
    pub fn code(self) -> u16 {
        match self {
            TunnelCsum::None => 0,
            TunnelCsum::Csum => 1,
            TunnelCsum::Remcsum => 2,
        }
    }

    pub fn from_code(c: u16) -> Option<TunnelCsum> {
        match c {
            0 => Some(TunnelCsum::None),
            1 => Some(TunnelCsum::Csum),
            2 => Some(TunnelCsum::Remcsum),
            _ => None,
        }
    }
}

/// A destination (real server) of a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Dest {
    pub addr: IpAddr,
    /// 0 for a fwmark service's destination without a port.
    pub port: u16,
    pub forward: Forward,
    pub weight: u32,
    /// Upper and lower connection thresholds (0: none).
    pub upper: u32,
    pub lower: u32,
}

impl Dest {
    pub fn new(addr: IpAddr, port: u16, forward: Forward, weight: u32) -> Dest {
        Dest {
            addr,
            port,
            forward,
            weight,
            upper: 0,
            lower: 0,
        }
    }
}

/// A service as dumped. The kernel's counters (`IPVS_SVC_ATTR_STATS*`)
/// are not kept: nothing reads them, and at 10,000 destinations they were
/// 0.8 MB of the IPVS worker's view of the kernel, and made every dump
/// with traffic differ from the last (issue 18).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceEntry {
    pub service: Service,
}

/// A destination as dumped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DestEntry {
    pub dest: Dest,
    pub active: u32,
    pub inactive: u32,
    pub persistent: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncState {
    Master,
    Backup,
}

impl SyncState {
    pub fn code(self) -> u32 {
        match self {
            SyncState::Master => 1,
            SyncState::Backup => 2,
        }
    }

    pub fn from_code(c: u32) -> Option<SyncState> {
        match c {
            1 => Some(SyncState::Master),
            2 => Some(SyncState::Backup),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SyncState::Master => "master",
            SyncState::Backup => "backup",
        }
    }
}

/// The kernel's connection-sync thread (`ipvsadm --start-daemon`).
/// Options left `None` take the kernel's defaults (group 224.0.0.81, port
/// 8848, TTL 1, length from the interface's MTU).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncDaemon {
    pub state: SyncState,
    pub interface: String,
    pub sync_id: u32,
    pub maxlen: Option<u16>,
    pub group: Option<IpAddr>,
    pub port: Option<u16>,
    pub ttl: Option<u8>,
}

impl SyncDaemon {
    pub const DEFAULT_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 81);
    pub const DEFAULT_PORT: u16 = 8848;

    /// Whether the running daemon `kernel` is what `self` asks for (options
    /// not asked for may have any value).
    pub fn satisfied_by(&self, kernel: &SyncDaemon) -> bool {
        fn opt<T: PartialEq>(want: &Option<T>, have: &Option<T>) -> bool {
            want.is_none() || want == have
        }
        self.state == kernel.state
            && self.interface == kernel.interface
            && self.sync_id == kernel.sync_id
            && opt(&self.maxlen, &kernel.maxlen)
            && opt(&self.group, &kernel.group)
            && opt(&self.port, &kernel.port)
            && opt(&self.ttl, &kernel.ttl)
    }
}

/// `GET_INFO`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Info {
    /// 0x010201 for 1.2.1.
    pub version: u32,
    pub conn_table_size: u32,
}

impl Info {
    pub fn version_string(&self) -> String {
        let v = self.version;
        format!("{}.{}.{}", (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff)
    }
}
