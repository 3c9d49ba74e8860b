//! The IPVS generic netlink family ("IPVS", version 1): its commands and
//! attributes (`include/uapi/linux/ip_vs.h`, parsed by the kernel in
//! `net/netfilter/ipvs/ip_vs_ctl.c`), requests encoded and replies decoded.
//!
//! Byte order, as the kernel reads it and as `ipvsadm` sends it (see the
//! golden tests): ports are big endian (the tunnel port too), the daemon's
//! multicast port is host order; the persistence netmask is an IPv4 mask in
//! network order, or for IPv6 a prefix length in host order; addresses are
//! 16 bytes (`union nf_inet_addr`), IPv4 in the first four. Attributes are
//! written in `ipvsadm`'s order, nests with `NLA_F_NESTED`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_core::{
    DecodeError, Emitable, NLA_F_NESTED, Nla, NlaBuffer, NlasIterator, ParseableParametrized,
};
use netlink_packet_generic::{GenlFamily, GenlHeader};

use super::model::{
    Dest, DestEntry, Family, Forward, Info, Protocol, Service, ServiceEntry, ServiceKey,
    SyncDaemon, SyncState, Tunnel, TunnelCsum, TunnelKind, endpoint, flags,
};

pub const FAMILY_NAME: &str = "IPVS";
pub const VERSION: u8 = 1;
/// Scheduler, persistence engine and interface names: at most 15 bytes
/// (`IP_VS_*_MAXLEN` is 16 with the NUL).
pub const NAME_MAX: usize = 15;

/// `IPVS_CMD_*`.
pub mod cmd {
    pub const NEW_SERVICE: u8 = 1;
    pub const SET_SERVICE: u8 = 2;
    pub const DEL_SERVICE: u8 = 3;
    pub const GET_SERVICE: u8 = 4;
    pub const NEW_DEST: u8 = 5;
    pub const SET_DEST: u8 = 6;
    pub const DEL_DEST: u8 = 7;
    pub const GET_DEST: u8 = 8;
    pub const NEW_DAEMON: u8 = 9;
    pub const DEL_DAEMON: u8 = 10;
    pub const GET_DAEMON: u8 = 11;
    pub const SET_CONFIG: u8 = 12;
    pub const GET_CONFIG: u8 = 13;
    /// The command of GET_INFO's reply.
    pub const SET_INFO: u8 = 14;
    pub const GET_INFO: u8 = 15;
    pub const ZERO: u8 = 16;
    pub const FLUSH: u8 = 17;

    pub fn name(c: u8) -> &'static str {
        match c {
            NEW_SERVICE => "NEW_SERVICE",
            SET_SERVICE => "SET_SERVICE",
            DEL_SERVICE => "DEL_SERVICE",
            GET_SERVICE => "GET_SERVICE",
            NEW_DEST => "NEW_DEST",
            SET_DEST => "SET_DEST",
            DEL_DEST => "DEL_DEST",
            GET_DEST => "GET_DEST",
            NEW_DAEMON => "NEW_DAEMON",
            DEL_DAEMON => "DEL_DAEMON",
            GET_DAEMON => "GET_DAEMON",
            SET_CONFIG => "SET_CONFIG",
            GET_CONFIG => "GET_CONFIG",
            SET_INFO => "SET_INFO",
            GET_INFO => "GET_INFO",
            ZERO => "ZERO",
            FLUSH => "FLUSH",
            _ => "UNKNOWN",
        }
    }
}

/// `IPVS_CMD_ATTR_*`.
mod top {
    pub const SERVICE: u16 = 1;
    pub const DEST: u16 = 2;
    pub const DAEMON: u16 = 3;
}

/// `IPVS_SVC_ATTR_*`.
mod svc {
    pub const AF: u16 = 1;
    pub const PROTOCOL: u16 = 2;
    pub const ADDR: u16 = 3;
    pub const PORT: u16 = 4;
    pub const FWMARK: u16 = 5;
    pub const SCHED_NAME: u16 = 6;
    pub const FLAGS: u16 = 7;
    pub const TIMEOUT: u16 = 8;
    pub const NETMASK: u16 = 9;
    // 10 and 12: counters (32- and 64-bit), not read.
    pub const PE_NAME: u16 = 11;
}

/// `IPVS_DEST_ATTR_*`.
mod dest {
    pub const ADDR: u16 = 1;
    pub const PORT: u16 = 2;
    pub const FWD_METHOD: u16 = 3;
    pub const WEIGHT: u16 = 4;
    pub const U_THRESH: u16 = 5;
    pub const L_THRESH: u16 = 6;
    pub const ACTIVE_CONNS: u16 = 7;
    pub const INACT_CONNS: u16 = 8;
    pub const PERSIST_CONNS: u16 = 9;
    // 10 and 12: counters (32- and 64-bit), not read.
    pub const ADDR_FAMILY: u16 = 11;
    pub const TUN_TYPE: u16 = 13;
    pub const TUN_PORT: u16 = 14;
    pub const TUN_FLAGS: u16 = 15;
}

/// `IPVS_DAEMON_ATTR_*`.
mod daemon {
    pub const STATE: u16 = 1;
    pub const MCAST_IFN: u16 = 2;
    pub const SYNC_ID: u16 = 3;
    pub const SYNC_MAXLEN: u16 = 4;
    pub const MCAST_GROUP: u16 = 5;
    pub const MCAST_GROUP6: u16 = 6;
    pub const MCAST_PORT: u16 = 7;
    pub const MCAST_TTL: u16 = 8;
}

/// `IPVS_INFO_ATTR_*` (top level of GET_INFO's reply).
mod info {
    pub const VERSION: u16 = 1;
    pub const CONN_TAB_SIZE: u16 = 2;
}

/// One IPVS message: the generic netlink command and its attributes as
/// bytes. [`Request::encode`] builds them; the `decode_*` functions read them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpvsMsg {
    pub cmd: u8,
    pub attrs: Vec<u8>,
}

impl GenlFamily for IpvsMsg {
    fn family_name() -> &'static str {
        FAMILY_NAME
    }

    fn command(&self) -> u8 {
        self.cmd
    }

    fn version(&self) -> u8 {
        VERSION
    }
}

impl Emitable for IpvsMsg {
    fn buffer_len(&self) -> usize {
        self.attrs.len()
    }

    fn emit(&self, buffer: &mut [u8]) {
        if let Some(b) = buffer.get_mut(..self.attrs.len()) {
            b.copy_from_slice(&self.attrs);
        }
    }
}

impl ParseableParametrized<[u8], GenlHeader> for IpvsMsg {
    fn parse_with_param(buf: &[u8], header: GenlHeader) -> Result<Self, DecodeError> {
        Ok(IpvsMsg {
            cmd: header.cmd,
            attrs: buf.to_vec(),
        })
    }
}

/// A request that cannot be sent as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("{what} name '{value}' is not 1-{NAME_MAX} bytes without NUL")]
    Name { what: &'static str, value: String },
    #[error("a fwmark service needs a mark other than 0")]
    ZeroMark,
}

/// What upkeep asks of the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    GetInfo,
    NewService(Service),
    SetService(Service),
    DelService(ServiceKey),
    /// Dump of every service.
    GetServices,
    GetService(ServiceKey),
    NewDest(ServiceKey, Dest),
    SetDest(ServiceKey, Dest),
    DelDest(ServiceKey, IpAddr, u16),
    /// Dump of a service's destinations.
    GetDests(ServiceKey),
    NewDaemon(SyncDaemon),
    DelDaemon(SyncState),
    /// Dump of the running sync daemons.
    GetDaemons,
    /// Every service and destination, not only ours.
    Flush,
}

impl Request {
    pub fn cmd(&self) -> u8 {
        match self {
            Request::GetInfo => cmd::GET_INFO,
            Request::NewService(_) => cmd::NEW_SERVICE,
            Request::SetService(_) => cmd::SET_SERVICE,
            Request::DelService(_) => cmd::DEL_SERVICE,
            Request::GetServices | Request::GetService(_) => cmd::GET_SERVICE,
            Request::NewDest(..) => cmd::NEW_DEST,
            Request::SetDest(..) => cmd::SET_DEST,
            Request::DelDest(..) => cmd::DEL_DEST,
            Request::GetDests(_) => cmd::GET_DEST,
            Request::NewDaemon(_) => cmd::NEW_DAEMON,
            Request::DelDaemon(_) => cmd::DEL_DAEMON,
            Request::GetDaemons => cmd::GET_DAEMON,
            Request::Flush => cmd::FLUSH,
        }
    }

    /// Whether the kernel answers with a dump (NLM_F_DUMP).
    pub fn is_dump(&self) -> bool {
        matches!(
            self,
            Request::GetServices | Request::GetDests(_) | Request::GetDaemons
        )
    }

    pub fn name(&self) -> &'static str {
        cmd::name(self.cmd())
    }

    /// What the request is about, for errors and logs.
    pub fn target(&self) -> String {
        match self {
            Request::GetInfo | Request::GetServices | Request::GetDaemons | Request::Flush => {
                "IPVS".into()
            }
            Request::NewService(s) | Request::SetService(s) => format!("service {}", s.key),
            Request::DelService(k) | Request::GetService(k) | Request::GetDests(k) => {
                format!("service {k}")
            }
            Request::NewDest(k, d) | Request::SetDest(k, d) => {
                format!("real server {} of {k}", endpoint(d.addr, d.port))
            }
            Request::DelDest(k, a, p) => format!("real server {} of {k}", endpoint(*a, *p)),
            Request::NewDaemon(d) => format!(
                "{} sync daemon on {} (id {})",
                d.state.name(),
                d.interface,
                d.sync_id
            ),
            Request::DelDaemon(s) => format!("{} sync daemon", s.name()),
        }
    }

    /// The message for this request.
    pub fn encode(&self) -> Result<IpvsMsg, Invalid> {
        let attrs = match self {
            Request::GetInfo | Request::GetServices | Request::GetDaemons | Request::Flush => {
                Vec::new()
            }
            Request::NewService(s) | Request::SetService(s) => {
                vec![Attr::Nested(top::SERVICE, service_attrs(s)?)]
            }
            Request::DelService(k) | Request::GetService(k) | Request::GetDests(k) => {
                vec![Attr::Nested(top::SERVICE, key_attrs(k)?)]
            }
            Request::NewDest(k, d) | Request::SetDest(k, d) => vec![
                Attr::Nested(top::SERVICE, key_attrs(k)?),
                Attr::Nested(top::DEST, dest_attrs(d)),
            ],
            Request::DelDest(k, a, p) => vec![
                Attr::Nested(top::SERVICE, key_attrs(k)?),
                Attr::Nested(top::DEST, dest_key_attrs(*a, *p)),
            ],
            Request::NewDaemon(d) => vec![Attr::Nested(top::DAEMON, daemon_attrs(d)?)],
            Request::DelDaemon(s) => vec![Attr::Nested(
                top::DAEMON,
                vec![Attr::U32(daemon::STATE, s.code())],
            )],
        };
        let mut bytes = vec![0; attrs.as_slice().buffer_len()];
        attrs.as_slice().emit(&mut bytes);
        Ok(IpvsMsg {
            cmd: self.cmd(),
            attrs: bytes,
        })
    }

    /// Reads a request back (the golden tests read `ipvsadm`'s this way,
    /// and the VM tests count upkeep's in a capture). Attributes a command
    /// does not use are ignored, as the kernel ignores them.
    pub fn decode(msg: &IpvsMsg) -> Result<Request, DecodeError> {
        let top = attrs(&msg.attrs)?;
        let nest = |kind| find(&top, kind).ok_or_else(|| missing("command", kind));
        let key = || -> Result<ServiceKey, DecodeError> { parse_key(&attrs(nest(top::SERVICE)?)?) };
        Ok(match msg.cmd {
            cmd::GET_INFO => Request::GetInfo,
            cmd::FLUSH => Request::Flush,
            cmd::GET_DAEMON => Request::GetDaemons,
            cmd::NEW_SERVICE => Request::NewService(parse_service(nest(top::SERVICE)?)?.service),
            cmd::SET_SERVICE => Request::SetService(parse_service(nest(top::SERVICE)?)?.service),
            cmd::DEL_SERVICE => Request::DelService(key()?),
            cmd::GET_SERVICE if find(&top, top::SERVICE).is_none() => Request::GetServices,
            cmd::GET_SERVICE => Request::GetService(key()?),
            cmd::GET_DEST => Request::GetDests(key()?),
            cmd::NEW_DEST | cmd::SET_DEST => {
                let k = key()?;
                let d = parse_dest(nest(top::DEST)?, k.family())?.dest;
                if msg.cmd == cmd::NEW_DEST {
                    Request::NewDest(k, d)
                } else {
                    Request::SetDest(k, d)
                }
            }
            cmd::DEL_DEST => {
                let k = key()?;
                let a = attrs(nest(top::DEST)?)?;
                let fam = dest_family(&a, k.family())?;
                let addr = parse_addr(req(&a, dest::ADDR, "destination")?, fam)?;
                let port = be16(req(&a, dest::PORT, "destination")?)?;
                Request::DelDest(k, addr, port)
            }
            cmd::NEW_DAEMON => Request::NewDaemon(parse_daemon(nest(top::DAEMON)?)?),
            cmd::DEL_DAEMON => {
                let a = attrs(nest(top::DAEMON)?)?;
                let code = u32n(req(&a, daemon::STATE, "daemon")?)?;
                Request::DelDaemon(SyncState::from_code(code).ok_or_else(|| {
                    DecodeError::from(format!("unknown sync daemon state {code}"))
                })?)
            }
            other => {
                return Err(DecodeError::from(format!(
                    "not a request upkeep sends: command {other}"
                )));
            }
        })
    }
}

// ---------------------------------------------------------------- encoding

/// An attribute to write.
#[derive(Clone, Debug)]
enum Attr {
    U8(u16, u8),
    /// Host order.
    U16(u16, u16),
    /// Network order.
    Be16(u16, u16),
    U32(u16, u32),
    Bytes(u16, Vec<u8>),
    /// NUL-terminated.
    Str(u16, String),
    Nested(u16, Vec<Attr>),
}

impl Nla for Attr {
    fn value_len(&self) -> usize {
        match self {
            Attr::U8(..) => 1,
            Attr::U16(..) | Attr::Be16(..) => 2,
            Attr::U32(..) => 4,
            Attr::Bytes(_, b) => b.len(),
            Attr::Str(_, s) => s.len() + 1,
            Attr::Nested(_, v) => v.as_slice().buffer_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            Attr::Nested(k, _) => k | NLA_F_NESTED,
            Attr::U8(k, _)
            | Attr::U16(k, _)
            | Attr::Be16(k, _)
            | Attr::U32(k, _)
            | Attr::Bytes(k, _)
            | Attr::Str(k, _) => *k,
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        let mut put = |b: &[u8]| {
            if let Some(dst) = buffer.get_mut(..b.len()) {
                dst.copy_from_slice(b);
            }
        };
        match self {
            Attr::U8(_, v) => put(&[*v]),
            Attr::U16(_, v) => put(&v.to_ne_bytes()),
            Attr::Be16(_, v) => put(&v.to_be_bytes()),
            Attr::U32(_, v) => put(&v.to_ne_bytes()),
            Attr::Bytes(_, b) => put(b),
            Attr::Str(_, s) => {
                let mut b = s.as_bytes().to_vec();
                b.push(0);
                put(&b);
            }
            Attr::Nested(_, v) => v.as_slice().emit(buffer),
        }
    }
}

/// `union nf_inet_addr`: 16 bytes, IPv4 in the first four.
fn inet_addr(ip: IpAddr) -> Vec<u8> {
    let mut b = vec![0u8; 16];
    match ip {
        IpAddr::V4(a) => b[..4].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => b.copy_from_slice(&a.octets()),
    }
    b
}

fn name(what: &'static str, value: &str) -> Result<String, Invalid> {
    if value.is_empty() || value.len() > NAME_MAX || value.contains('\0') {
        return Err(Invalid::Name {
            what,
            value: value.to_string(),
        });
    }
    Ok(value.to_string())
}

fn key_attrs(k: &ServiceKey) -> Result<Vec<Attr>, Invalid> {
    Ok(match k {
        ServiceKey::Addr {
            protocol,
            addr,
            port,
        } => vec![
            Attr::U16(svc::AF, Family::of(*addr).af()),
            Attr::U16(svc::PROTOCOL, protocol.number()),
            Attr::Bytes(svc::ADDR, inet_addr(*addr)),
            Attr::Be16(svc::PORT, *port),
        ],
        ServiceKey::Fwmark { mark: 0, .. } => return Err(Invalid::ZeroMark),
        ServiceKey::Fwmark { family, mark } => vec![
            Attr::U16(svc::AF, family.af()),
            Attr::U32(svc::FWMARK, *mark),
        ],
    })
}

fn service_attrs(s: &Service) -> Result<Vec<Attr>, Invalid> {
    let mut v = key_attrs(&s.key)?;
    v.push(Attr::Str(svc::SCHED_NAME, name("scheduler", &s.scheduler)?));
    if let Some(pe) = &s.pe {
        v.push(Attr::Str(svc::PE_NAME, name("persistence engine", pe)?));
    }
    // {flags, mask}: every flag is given, as ipvsadm does.
    let mut f = (s.flags & !flags::HASHED).to_ne_bytes().to_vec();
    f.extend_from_slice(&u32::MAX.to_ne_bytes());
    v.push(Attr::Bytes(svc::FLAGS, f));
    v.push(Attr::U32(svc::TIMEOUT, s.timeout));
    v.push(netmask_attr(s.key.family(), s.netmask));
    Ok(v)
}

fn netmask_attr(family: Family, netmask: u32) -> Attr {
    match family {
        // The kernel reads a __be32: the mask's octets in order.
        Family::V4 => Attr::Bytes(svc::NETMASK, netmask.to_be_bytes().to_vec()),
        Family::V6 => Attr::U32(svc::NETMASK, netmask),
    }
}

fn dest_key_attrs(addr: IpAddr, port: u16) -> Vec<Attr> {
    vec![
        Attr::U16(dest::ADDR_FAMILY, Family::of(addr).af()),
        Attr::Bytes(dest::ADDR, inet_addr(addr)),
        Attr::Be16(dest::PORT, port),
    ]
}

fn dest_attrs(d: &Dest) -> Vec<Attr> {
    let tun = match d.forward {
        Forward::Tunnel(t) => t,
        _ => Tunnel::default(),
    };
    let mut v = dest_key_attrs(d.addr, d.port);
    v.extend([
        Attr::U32(dest::FWD_METHOD, d.forward.code()),
        Attr::U32(dest::WEIGHT, d.weight),
        Attr::U8(dest::TUN_TYPE, tun.kind.code()),
        Attr::Be16(dest::TUN_PORT, tun.port),
        Attr::U16(dest::TUN_FLAGS, tun.csum.code()),
        Attr::U32(dest::U_THRESH, d.upper),
        Attr::U32(dest::L_THRESH, d.lower),
    ]);
    v
}

fn daemon_attrs(d: &SyncDaemon) -> Result<Vec<Attr>, Invalid> {
    let mut v = vec![
        Attr::U32(daemon::STATE, d.state.code()),
        Attr::Str(daemon::MCAST_IFN, name("interface", &d.interface)?),
        Attr::U32(daemon::SYNC_ID, d.sync_id),
    ];
    if let Some(m) = d.maxlen {
        v.push(Attr::U16(daemon::SYNC_MAXLEN, m));
    }
    if let Some(p) = d.port {
        v.push(Attr::U16(daemon::MCAST_PORT, p));
    }
    if let Some(t) = d.ttl {
        v.push(Attr::U8(daemon::MCAST_TTL, t));
    }
    match d.group {
        Some(IpAddr::V4(g)) => v.push(Attr::Bytes(daemon::MCAST_GROUP, g.octets().to_vec())),
        Some(IpAddr::V6(g)) => v.push(Attr::Bytes(daemon::MCAST_GROUP6, g.octets().to_vec())),
        None => {}
    }
    Ok(v)
}

// ---------------------------------------------------------------- decoding

/// The attributes of a buffer: (type without flags, value).
fn attrs(buf: &[u8]) -> Result<Vec<(u16, &[u8])>, DecodeError> {
    let mut out = Vec::new();
    for nla in NlasIterator::new(buf) {
        let nla: NlaBuffer<&[u8]> = nla?;
        let (kind, len) = (nla.kind(), usize::from(nla.length()));
        // The iterator checked the length against the buffer.
        let value = nla.into_inner().get(4..len).unwrap_or_default();
        out.push((kind, value));
    }
    Ok(out)
}

fn find<'a>(a: &[(u16, &'a [u8])], kind: u16) -> Option<&'a [u8]> {
    a.iter().find(|(k, _)| *k == kind).map(|(_, v)| *v)
}

fn missing(what: &str, kind: u16) -> DecodeError {
    DecodeError::from(format!("{what} attribute {kind} missing"))
}

fn req<'a>(a: &[(u16, &'a [u8])], kind: u16, what: &str) -> Result<&'a [u8], DecodeError> {
    find(a, kind).ok_or_else(|| missing(what, kind))
}

fn fixed<const N: usize>(v: &[u8]) -> Result<[u8; N], DecodeError> {
    v.get(..N)
        .and_then(|b| <[u8; N]>::try_from(b).ok())
        .ok_or_else(|| DecodeError::invalid_number(N, v.len()))
}

fn u8n(v: &[u8]) -> Result<u8, DecodeError> {
    Ok(fixed::<1>(v)?[0])
}

fn u16n(v: &[u8]) -> Result<u16, DecodeError> {
    Ok(u16::from_ne_bytes(fixed(v)?))
}

fn be16(v: &[u8]) -> Result<u16, DecodeError> {
    Ok(u16::from_be_bytes(fixed(v)?))
}

fn u32n(v: &[u8]) -> Result<u32, DecodeError> {
    Ok(u32::from_ne_bytes(fixed(v)?))
}

fn cstr(v: &[u8]) -> String {
    let end = v.iter().position(|b| *b == 0).unwrap_or(v.len());
    String::from_utf8_lossy(v.get(..end).unwrap_or_default()).into_owned()
}

fn parse_addr(v: &[u8], family: Family) -> Result<IpAddr, DecodeError> {
    Ok(match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::from(fixed::<4>(v)?)),
        Family::V6 => IpAddr::V6(Ipv6Addr::from(fixed::<16>(v)?)),
    })
}

fn parse_family(v: &[u8]) -> Result<Family, DecodeError> {
    let af = u16n(v)?;
    Family::from_af(af).ok_or_else(|| DecodeError::from(format!("unknown address family {af}")))
}

fn parse_key(a: &[(u16, &[u8])]) -> Result<ServiceKey, DecodeError> {
    let family = parse_family(req(a, svc::AF, "service")?)?;
    if let Some(m) = find(a, svc::FWMARK) {
        return Ok(ServiceKey::Fwmark {
            family,
            mark: u32n(m)?,
        });
    }
    let p = u16n(req(a, svc::PROTOCOL, "service")?)?;
    Ok(ServiceKey::Addr {
        protocol: Protocol::from_number(p)
            .ok_or_else(|| DecodeError::from(format!("unknown protocol {p}")))?,
        addr: parse_addr(req(a, svc::ADDR, "service")?, family)?,
        port: be16(req(a, svc::PORT, "service")?)?,
    })
}

/// The body of an `IPVS_CMD_ATTR_SERVICE` nest.
fn parse_service(buf: &[u8]) -> Result<ServiceEntry, DecodeError> {
    let a = attrs(buf)?;
    let key = parse_key(&a)?;
    let flags_attr = req(&a, svc::FLAGS, "service")?;
    let [f0, f1, f2, f3, m0, m1, m2, m3] = fixed::<8>(flags_attr)?;
    let (flags, mask) = (
        u32::from_ne_bytes([f0, f1, f2, f3]),
        u32::from_ne_bytes([m0, m1, m2, m3]),
    );
    let netmask = match (key.family(), find(&a, svc::NETMASK)) {
        (f, None) => f.host_netmask(),
        (Family::V4, Some(v)) => u32::from_be_bytes(fixed(v)?),
        (Family::V6, Some(v)) => u32n(v)?,
    };
    Ok(ServiceEntry {
        service: Service {
            key,
            scheduler: cstr(req(&a, svc::SCHED_NAME, "service")?),
            flags: flags & mask & !flags::HASHED,
            timeout: find(&a, svc::TIMEOUT).map(u32n).transpose()?.unwrap_or(0),
            netmask,
            pe: find(&a, svc::PE_NAME).map(cstr).filter(|s| !s.is_empty()),
        },
    })
}

fn dest_family(a: &[(u16, &[u8])], service: Family) -> Result<Family, DecodeError> {
    find(a, dest::ADDR_FAMILY).map_or(Ok(service), parse_family)
}

/// The body of an `IPVS_CMD_ATTR_DEST` nest, of a service of `family`.
fn parse_dest(buf: &[u8], family: Family) -> Result<DestEntry, DecodeError> {
    let a = attrs(buf)?;
    let fam = dest_family(&a, family)?;
    let opt32 = |k| find(&a, k).map(u32n).transpose().map(|v| v.unwrap_or(0));
    let code = u32n(req(&a, dest::FWD_METHOD, "destination")?)? & 0x7;
    let forward = match code {
        0 => Forward::Masq,
        1 => Forward::Local,
        2 => {
            let kind = find(&a, dest::TUN_TYPE).map(u8n).transpose()?.unwrap_or(0);
            let csum = find(&a, dest::TUN_FLAGS)
                .map(u16n)
                .transpose()?
                .unwrap_or(0);
            Forward::Tunnel(Tunnel {
                kind: TunnelKind::from_code(kind)
                    .ok_or_else(|| DecodeError::from(format!("unknown tunnel type {kind}")))?,
                port: find(&a, dest::TUN_PORT).map(be16).transpose()?.unwrap_or(0),
                csum: TunnelCsum::from_code(csum)
                    .ok_or_else(|| DecodeError::from(format!("unknown tunnel flags {csum}")))?,
            })
        }
        3 => Forward::Route,
        _ => Forward::Bypass,
    };
    Ok(DestEntry {
        dest: Dest {
            addr: parse_addr(req(&a, dest::ADDR, "destination")?, fam)?,
            port: be16(req(&a, dest::PORT, "destination")?)?,
            forward,
            weight: u32n(req(&a, dest::WEIGHT, "destination")?)?,
            upper: opt32(dest::U_THRESH)?,
            lower: opt32(dest::L_THRESH)?,
        },
        active: opt32(dest::ACTIVE_CONNS)?,
        inactive: opt32(dest::INACT_CONNS)?,
        persistent: opt32(dest::PERSIST_CONNS)?,
    })
}

fn parse_daemon(buf: &[u8]) -> Result<SyncDaemon, DecodeError> {
    let a = attrs(buf)?;
    let code = u32n(req(&a, daemon::STATE, "daemon")?)?;
    let group = match (
        find(&a, daemon::MCAST_GROUP),
        find(&a, daemon::MCAST_GROUP6),
    ) {
        (Some(g), _) => Some(IpAddr::V4(Ipv4Addr::from(fixed::<4>(g)?))),
        (None, Some(g)) => Some(IpAddr::V6(Ipv6Addr::from(fixed::<16>(g)?))),
        (None, None) => None,
    };
    Ok(SyncDaemon {
        state: SyncState::from_code(code)
            .ok_or_else(|| DecodeError::from(format!("unknown sync daemon state {code}")))?,
        interface: cstr(req(&a, daemon::MCAST_IFN, "daemon")?),
        sync_id: u32n(req(&a, daemon::SYNC_ID, "daemon")?)?,
        maxlen: find(&a, daemon::SYNC_MAXLEN).map(u16n).transpose()?,
        group,
        port: find(&a, daemon::MCAST_PORT).map(u16n).transpose()?,
        ttl: find(&a, daemon::MCAST_TTL).map(u8n).transpose()?,
    })
}

/// The netlink datagram for `msg`: a request, with NLM_F_ACK, and
/// NLM_F_DUMP for a dump.
pub fn frame(msg: IpvsMsg, family_id: u16, seq: u32, dump: bool) -> Vec<u8> {
    use netlink_packet_core::{NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NetlinkMessage};
    use netlink_packet_generic::GenlMessage;
    let mut genl = GenlMessage::from_payload(msg);
    genl.set_resolved_family_id(family_id);
    let mut nl = NetlinkMessage::from(genl);
    nl.header.flags = NLM_F_REQUEST | NLM_F_ACK | if dump { NLM_F_DUMP } else { 0 };
    nl.header.sequence_number = seq;
    nl.finalize();
    let mut buf = vec![0; nl.buffer_len()];
    nl.serialize(&mut buf);
    buf
}

/// A service of a GET_SERVICE reply.
pub fn decode_service(msg: &IpvsMsg) -> Result<ServiceEntry, DecodeError> {
    let top = attrs(&msg.attrs)?;
    parse_service(req(&top, top::SERVICE, "reply")?)
}

/// A destination of a GET_DEST reply, for a service of `family`.
pub fn decode_dest(msg: &IpvsMsg, family: Family) -> Result<DestEntry, DecodeError> {
    let top = attrs(&msg.attrs)?;
    parse_dest(req(&top, top::DEST, "reply")?, family)
}

/// A daemon of a GET_DAEMON reply.
pub fn decode_daemon(msg: &IpvsMsg) -> Result<SyncDaemon, DecodeError> {
    let top = attrs(&msg.attrs)?;
    parse_daemon(req(&top, top::DAEMON, "reply")?)
}

/// GET_INFO's reply.
pub fn decode_info(msg: &IpvsMsg) -> Result<Info, DecodeError> {
    let top = attrs(&msg.attrs)?;
    Ok(Info {
        version: u32n(req(&top, info::VERSION, "info")?)?,
        conn_table_size: u32n(req(&top, info::CONN_TAB_SIZE, "info")?)?,
    })
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
