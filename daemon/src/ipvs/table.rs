//! The desired IPVS table (sans-IO): the configuration's virtual servers
//! (groups expanded into their member services), the real servers' health
//! from the checker, quorum with its sorry server, and the VRRP states
//! (`ha_suspend`, the sync daemon). What the kernel should hold follows
//! from it ([`Table::desired`]); [`super::reconcile`] compares that with
//! what the kernel holds.
//!
//! keepalived's semantics (`check/ipwrapper.c`):
//! - a real server that fails leaves the service, or stays with weight 0
//!   with `inhibit_on_failure`; one without checks is always up;
//! - `alpha`: real servers start down until their first check passes;
//!   otherwise they start up;
//! - quorum: the weights of the live real servers add up; the service has
//!   quorum while the sum is at least `quorum` (it is lost below
//!   `quorum - hysteresis` or at 0, and regained at `quorum + hysteresis`);
//!   each change runs `quorum_up` / `quorum_down` (the parent runs them);
//! - without quorum the `sorry_server` (weight 1, `sorry_server_lvs_method`)
//!   replaces the live real servers; `sorry_server_inhibit` keeps it in the
//!   table with weight 0 while quorum holds;
//! - `ha_suspend`: the service is out of the kernel while no VRRP instance
//!   that holds its address (any instance, for fwmark services) is MASTER;
//! - `lvs_sync_daemon IF INSTANCE`: the kernel's sync daemon is master
//!   while the instance is MASTER, backup otherwise; both when the node is
//!   MASTER of one virtual-server instance and BACKUP of another (dual
//!   master).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::genl::{
    Dest, DestEntry, Family, Forward, Protocol, Service, ServiceEntry, ServiceKey, SyncDaemon,
    SyncState, Tunnel, TunnelCsum, TunnelKind, flags,
};
use crate::config::model::{self as cfgm, Config, LbKind, VirtualServer};
use crate::config::values::VsgEntry;
use crate::ipc::msg::{Endpoint, RealServerState, RealServerStatus, VirtualServerStatus};
use crate::vrrp::fsm::State;

/// A virtual server's key as operators write it: `10.0.0.1:80/tcp`,
/// `fwmark:7`, `fwmark:7/v6`, `group:NAME` (see [`VirtualServer::key`]:
/// protocol and family are part of it, as they are of the kernel's key).
pub fn vs_key(vs: &VirtualServer) -> String {
    vs.key()
}

/// A real server's key: `10.0.0.2:80` (the virtual server's port when none).
pub fn rs_key(ip: IpAddr, port: Option<u16>) -> String {
    super::genl::endpoint(ip, port.unwrap_or(0))
}

/// The address and port of a key [`rs_key`] wrote; None for any other
/// text (also another spelling of the same address: keys are compared as
/// written).
fn parse_rs_key(key: &str) -> Option<(IpAddr, u16)> {
    let a: std::net::SocketAddr = key.parse().ok()?;
    let k = (a.ip(), a.port());
    (rs_key(k.0, Some(k.1)) == key).then_some(k)
}

/// What the parent knew of the real servers' health when this worker
/// started (`vs key` → real server keys).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Known {
    pub up: BTreeMap<String, BTreeSet<String>>,
    pub down: BTreeMap<String, BTreeSet<String>>,
    /// FILE_CHECK weight changes in force (`vs key` → real server → change).
    pub weights: BTreeMap<String, BTreeMap<String, i64>>,
}

impl Known {
    fn get(&self, vs: &str, rs: &str) -> Option<bool> {
        let has =
            |m: &BTreeMap<String, BTreeSet<String>>| m.get(vs).is_some_and(|s| s.contains(rs));
        if has(&self.down) {
            Some(false)
        } else if has(&self.up) {
            Some(true)
        } else {
            None
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Rs {
    /// With `key_port`, the real server's key (see [`Rs::key`]): not a
    /// string of its own, 56 bytes a server with the allocator's block
    /// (the IPVS worker at 10,000 real servers, issue 18).
    addr: IpAddr,
    /// As configured (a group's member port, or 0, when absent).
    port: Option<u16>,
    /// The port in `key` (the virtual server's when none is configured).
    key_port: u16,
    weight: u32,
    forward: Forward,
    inhibit: bool,
    upper: u32,
    lower: u32,
    checked: bool,
    up: bool,
    /// Has a FILE_CHECK: the only check whose result changes the weight.
    file_check: bool,
    /// What its FILE_CHECKs add to `weight`.
    delta: i64,
}

impl Rs {
    /// `10.0.0.2:80` (see [`rs_key`]).
    fn key(&self) -> String {
        rs_key(self.addr, Some(self.key_port))
    }

    /// Whether `key` is this server's (as [`rs_key`] writes it, the form
    /// the parent checks results against).
    fn is(&self, key: &(IpAddr, u16)) -> bool {
        (self.addr, self.key_port) == *key
    }

    /// keepalived's `real_weight` of the effective weight: clamped to
    /// 0..=2147483647.
    fn effective_weight(&self) -> u32 {
        let w = i64::from(self.weight).saturating_add(self.delta);
        u32::try_from(w.clamp(0, i64::from(i32::MAX))).unwrap_or(0)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Sorry {
    addr: IpAddr,
    port: Option<u16>,
    forward: Forward,
    inhibit: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Vs {
    key: String,
    services: Vec<Service>,
    rss: Vec<Rs>,
    sorry: Option<Sorry>,
    quorum: u32,
    hysteresis: u32,
    quorum_up: bool,
    ha_suspend: bool,
    /// VRRP instances that hold one of the services' addresses.
    owners: Vec<String>,
}

impl Vs {
    fn live_weight(&self) -> u64 {
        self.rss
            .iter()
            .filter(|r| r.up)
            .map(|r| u64::from(r.effective_weight()))
            .sum()
    }

    /// keepalived's `update_quorum_state`: the new state when it changed.
    fn update_quorum(&mut self) -> Option<bool> {
        let sum = self.live_weight();
        let (q, h) = (u64::from(self.quorum), u64::from(self.hysteresis));
        if !self.quorum_up && sum >= q + h {
            self.quorum_up = true;
            return Some(true);
        }
        if self.quorum_up && (sum == 0 || sum < q.saturating_sub(h)) {
            self.quorum_up = false;
            return Some(false);
        }
        None
    }

    fn sorry_active(&self) -> bool {
        !self.quorum_up && self.sorry.is_some()
    }

    /// Out of the kernel for `ha_suspend`.
    fn suspended(&self, vrrp: &BTreeMap<String, State>) -> bool {
        if !self.ha_suspend || vrrp.is_empty() {
            return false;
        }
        let master = |name: &String| vrrp.get(name).is_some_and(|s| *s == State::Master);
        if self.owners.is_empty() {
            !vrrp.keys().any(master)
        } else {
            !self.owners.iter().any(master)
        }
    }

    /// The weight a real server has in the kernel; None: not there.
    fn weight_of(&self, r: &Rs) -> Option<u32> {
        match (r.up, self.sorry_active(), r.inhibit) {
            (true, false, _) => Some(r.effective_weight()),
            (true, true, _) => None,
            (false, _, true) => Some(0),
            (false, _, false) => None,
        }
    }

    fn dests_for(&self, svc: &Service) -> Vec<Dest> {
        let family = svc.key.family();
        let port = |p: Option<u16>| p.or(svc.key.port()).unwrap_or(0);
        let fits = |addr: IpAddr, f: &Forward| {
            Family::of(addr) == family || matches!(f, Forward::Tunnel(_))
        };
        let mut out: Vec<Dest> = Vec::new();
        for r in &self.rss {
            if let Some(w) = self.weight_of(r)
                && fits(r.addr, &r.forward)
            {
                let mut d = Dest::new(r.addr, port(r.port), r.forward, w);
                d.upper = r.upper;
                d.lower = r.lower;
                out.push(d);
            }
        }
        if let Some(s) = &self.sorry {
            let weight = if self.sorry_active() {
                Some(1)
            } else {
                s.inhibit.then_some(0)
            };
            if let Some(w) = weight
                && fits(s.addr, &s.forward)
            {
                let d = Dest::new(s.addr, port(s.port), s.forward, w);
                // A sorry server that is also a real server: one entry.
                out.retain(|o| (o.addr, o.port) != (d.addr, d.port));
                out.push(d);
            }
        }
        out
    }
}

/// The kernel's services (owned or not) and their destinations, as dumped
/// (or as the last reconcile left them).
pub type KernelView = BTreeMap<ServiceKey, (ServiceEntry, Vec<DestEntry>)>;

/// A quorum change to report (the parent runs quorum_up / quorum_down).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuorumEvent {
    pub virtual_server: String,
    pub up: bool,
}

/// The sync daemon as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
struct SyncPlan {
    interface: String,
    instance: String,
    id: u32,
    maxlen: Option<u16>,
    port: Option<u16>,
    ttl: Option<u8>,
    group: Option<IpAddr>,
    /// Instances that hold a virtual server's address (dual master).
    lvs_instances: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Table {
    vss: Vec<Vs>,
    vrrp: BTreeMap<String, State>,
    sync: Option<SyncPlan>,
    events: Vec<QuorumEvent>,
}

fn forward(kind: LbKind, rs: Option<&cfgm::RealServer>) -> Forward {
    match kind {
        LbKind::Nat => Forward::Masq,
        LbKind::Dr => Forward::Route,
        LbKind::Tun => Forward::Tunnel(Tunnel {
            kind: match rs.and_then(|r| r.more.tunnel_encap).unwrap_or_default() {
                cfgm::TunnelEncap::Ipip => TunnelKind::Ipip,
                cfgm::TunnelEncap::Gue => TunnelKind::Gue,
                cfgm::TunnelEncap::Gre => TunnelKind::Gre,
            },
            port: rs.and_then(|r| r.more.tunnel_dport).unwrap_or(0),
            csum: match rs.and_then(|r| r.more.tunnel_csum).unwrap_or_default() {
                cfgm::TunnelCsum::Nocsum => TunnelCsum::None,
                cfgm::TunnelCsum::Csum => TunnelCsum::Csum,
                cfgm::TunnelCsum::Remcsum => TunnelCsum::Remcsum,
            },
        }),
    }
}

fn protocol(p: cfgm::Protocol) -> Protocol {
    match p {
        cfgm::Protocol::Tcp => Protocol::Tcp,
        cfgm::Protocol::Udp => Protocol::Udp,
        cfgm::Protocol::Sctp => Protocol::Sctp,
    }
}

/// The addresses of a group member `first-last` (the last part of the
/// address counts up: the fourth octet, or the last IPv6 group).
fn range(first: IpAddr, last: Option<u16>) -> Vec<IpAddr> {
    match (first, last) {
        (IpAddr::V4(a), Some(l)) => {
            let o = a.octets();
            (u16::from(o[3])..=l.min(255))
                .filter_map(|x| u8::try_from(x).ok())
                .map(|x| IpAddr::from([o[0], o[1], o[2], x]))
                .collect()
        }
        (IpAddr::V6(a), Some(l)) => {
            let s = a.segments();
            (s[7]..=l)
                .map(|x| {
                    let mut t = s;
                    t[7] = x;
                    IpAddr::from(t)
                })
                .collect()
        }
        (a, None) => vec![a],
    }
}

/// The kernel services of one `virtual_server` block.
fn services(cfg: &Config, vs: &VirtualServer) -> Vec<Service> {
    let proto = protocol(vs.protocol);
    // The same family as the service's key (VirtualServer::key).
    let fw_family = if vs.fwmark_ipv6() {
        Family::V6
    } else {
        Family::V4
    };
    let keys: Vec<ServiceKey> = match (&vs.group, vs.fwmark, vs.ip, vs.port) {
        (Some(g), _, _, _) => cfg
            .virtual_server_groups
            .iter()
            .filter(|x| &x.name == g)
            .flat_map(|x| &x.members)
            .flat_map(|m| match m {
                VsgEntry::Fwmark(mark) => vec![ServiceKey::Fwmark {
                    family: fw_family,
                    mark: *mark,
                }],
                VsgEntry::Range { first, last, port } => range(*first, *last)
                    .into_iter()
                    .map(|addr| ServiceKey::Addr {
                        protocol: proto,
                        addr,
                        port: *port,
                    })
                    .collect(),
            })
            .collect(),
        (None, Some(mark), _, _) => vec![ServiceKey::Fwmark {
            family: fw_family,
            mark,
        }],
        (None, None, Some(addr), Some(port)) => vec![ServiceKey::Addr {
            protocol: proto,
            addr,
            port,
        }],
        _ => Vec::new(),
    };
    let mut seen = BTreeSet::new();
    keys.into_iter()
        .filter(|k| seen.insert(*k))
        .map(|key| {
            let mut s = Service::new(key, &format!("{:?}", vs.lb_algo).to_lowercase());
            if let Some(t) = vs.persistence_timeout {
                s.flags |= flags::PERSISTENT;
                s.timeout = t;
            }
            if let Some(m) = vs.persistence_granularity
                && Family::of(m) == key.family()
            {
                s.netmask = Service::netmask_of(m);
            }
            for (on, f) in [
                (vs.ops, flags::ONEPACKET),
                (vs.sched_fallback, flags::SCHED_FALLBACK),
                (vs.sched_port, flags::SCHED_PORT),
                (vs.sched_flag3, flags::SCHED3),
            ] {
                if on {
                    s.flags |= f;
                }
            }
            s.pe = vs.persistence_engine.clone();
            s
        })
        .collect()
}

fn vip_holders(cfg: &Config, addrs: &BTreeSet<IpAddr>) -> Vec<String> {
    cfg.vrrp_instances
        .iter()
        .filter(|i| {
            i.virtual_ipaddress
                .iter()
                .chain(&i.virtual_ipaddress_excluded)
                .any(|v| addrs.contains(&v.addr))
        })
        .map(|i| i.name.clone())
        .collect()
}

fn build_vs(cfg: &Config, vs: &VirtualServer, known: &Known) -> Vs {
    let key = vs_key(vs);
    let services = services(cfg, vs);
    let rss = vs
        .real_servers
        .iter()
        .map(|r| {
            let key_port = r.port.or(vs.port).unwrap_or(0);
            let rkey = rs_key(r.ip, Some(key_port));
            let checked = !r.checkers.is_empty();
            let file_check = r
                .checkers
                .iter()
                .any(|c| c.kind == cfgm::CheckKind::FileCheck);
            let delta = known
                .weights
                .get(&key)
                .and_then(|m| m.get(&rkey))
                .copied()
                .filter(|_| file_check)
                .unwrap_or(0);
            let up = if checked {
                known.get(&key, &rkey).unwrap_or(!vs.alpha)
            } else {
                true
            };
            Rs {
                addr: r.ip,
                port: r.port,
                key_port,
                weight: u32::try_from(r.weight.max(0)).unwrap_or(0),
                forward: forward(r.more.lb_kind.unwrap_or(vs.lb_kind), Some(r)),
                inhibit: r.more.inhibit_on_failure.unwrap_or(vs.inhibit_on_failure),
                upper: r.more.uthreshold.unwrap_or(0),
                lower: r.more.lthreshold.unwrap_or(0),
                checked,
                up,
                file_check,
                delta,
            }
        })
        .collect();
    let addrs: BTreeSet<IpAddr> = services
        .iter()
        .filter_map(|s| match s.key {
            ServiceKey::Addr { addr, .. } => Some(addr),
            ServiceKey::Fwmark { .. } => None,
        })
        .collect();
    Vs {
        key,
        rss,
        sorry: vs.sorry_server.as_ref().map(|s| Sorry {
            addr: s.ip,
            port: s.port,
            forward: forward(vs.sorry_server_lvs_method.unwrap_or(vs.lb_kind), None),
            inhibit: vs.sorry_server_inhibit,
        }),
        quorum: vs.quorum.max(1),
        hysteresis: vs.hysteresis,
        quorum_up: true,
        ha_suspend: vs.ha_suspend,
        owners: vip_holders(cfg, &addrs),
        services,
    }
}

fn sync_plan(cfg: &Config) -> Option<SyncPlan> {
    let (interface, instance, id, maxlen, port, ttl, group) = match &cfg.global.lvs_sync_daemon {
        Some(s) => (
            s.interface.clone(),
            s.instance.clone(),
            s.id,
            s.maxlen,
            s.port,
            s.ttl,
            s.group,
        ),
        None => {
            let i = cfg
                .vrrp_instances
                .iter()
                .find(|i| i.lvs_sync_daemon_interface.is_some())?;
            (
                i.lvs_sync_daemon_interface.clone()?,
                i.name.clone(),
                None,
                None,
                None,
                None,
                None,
            )
        }
    };
    let vrid = cfg
        .vrrp_instances
        .iter()
        .find(|i| i.name == instance)
        .map_or(0, |i| i.virtual_router_id);
    let addrs: BTreeSet<IpAddr> = cfg
        .virtual_servers
        .iter()
        .flat_map(|vs| services(cfg, vs))
        .filter_map(|s| match s.key {
            ServiceKey::Addr { addr, .. } => Some(addr),
            ServiceKey::Fwmark { .. } => None,
        })
        .collect();
    Some(SyncPlan {
        interface,
        lvs_instances: vip_holders(cfg, &addrs),
        instance,
        id: id.unwrap_or(vrid),
        maxlen,
        port,
        ttl,
        group,
    })
}

impl Table {
    /// The table for `cfg`, with the health the parent knew and the VRRP
    /// states (instance → state name) it last heard.
    pub fn new(cfg: &Config, known: &Known, vrrp: BTreeMap<String, State>) -> Table {
        let mut t = Table {
            vss: cfg
                .virtual_servers
                .iter()
                .map(|vs| build_vs(cfg, vs, known))
                .collect(),
            vrrp,
            sync: sync_plan(cfg),
            events: Vec::new(),
        };
        // keepalived starts with quorum and loses it at once when the live
        // weight is short of it (alpha, everything down).
        for vs in &mut t.vss {
            vs.update_quorum();
        }
        t
    }

    /// A new configuration: real servers and virtual servers that stay keep
    /// their health and quorum state.
    pub fn reload(&mut self, cfg: &Config) {
        let mut known = Known::default();
        let mut quorum = BTreeMap::new();
        for vs in &self.vss {
            quorum.insert(vs.key.clone(), vs.quorum_up);
            for r in vs.rss.iter().filter(|r| r.checked) {
                let m = if r.up { &mut known.up } else { &mut known.down };
                m.entry(vs.key.clone()).or_default().insert(r.key());
                if r.delta != 0 {
                    known
                        .weights
                        .entry(vs.key.clone())
                        .or_default()
                        .insert(r.key(), r.delta);
                }
            }
        }
        let vrrp = std::mem::take(&mut self.vrrp);
        let events = std::mem::take(&mut self.events);
        *self = Table::new(cfg, &known, vrrp);
        self.events = events;
        for vs in &mut self.vss {
            if let Some(q) = quorum.get(&vs.key) {
                vs.quorum_up = *q;
                if let Some(up) = vs.update_quorum() {
                    self.events.push(QuorumEvent {
                        virtual_server: vs.key.clone(),
                        up,
                    });
                }
            }
        }
    }

    /// Applies a health change: None when it names nothing in the table,
    /// else whether it changed anything (a check's first result mostly
    /// repeats the state the server started in: at 10,000 real servers
    /// each of those 10,000 first results made a reconcile, issue 18).
    pub fn apply(&mut self, change: &RealServerState) -> Option<bool> {
        let key = parse_rs_key(&change.real_server)?;
        let vs = self
            .vss
            .iter_mut()
            .find(|v| v.key == change.virtual_server)?;
        let r = vs.rss.iter_mut().find(|r| r.is(&key) && r.checked)?;
        // Only a FILE_CHECK changes a weight (the checker is not trusted
        // to change any other server's).
        let delta = if r.file_check { change.weight } else { 0 };
        if (r.up, r.delta) == (change.up, delta) {
            return Some(false);
        }
        r.up = change.up;
        r.delta = delta;
        if let Some(up) = vs.update_quorum() {
            self.events.push(QuorumEvent {
                virtual_server: vs.key.clone(),
                up,
            });
        }
        Some(true)
    }

    /// The VRRP instances' states; whether anything IPVS does depends on them
    /// changed.
    pub fn set_vrrp(&mut self, states: BTreeMap<String, State>) -> bool {
        let before = (self.desired_services_keys(), self.daemons());
        self.vrrp = states;
        before != (self.desired_services_keys(), self.daemons())
    }

    fn desired_services_keys(&self) -> Vec<ServiceKey> {
        self.desired().into_iter().map(|(s, _)| s.key).collect()
    }

    /// Quorum changes since the last call.
    pub fn take_events(&mut self) -> Vec<QuorumEvent> {
        std::mem::take(&mut self.events)
    }

    /// Every virtual server's quorum state (sent to the parent at start).
    pub fn quorum_states(&self) -> Vec<QuorumEvent> {
        self.vss
            .iter()
            .map(|v| QuorumEvent {
                virtual_server: v.key.clone(),
                up: v.quorum_up,
            })
            .collect()
    }

    /// The services the configuration defines (suspended ones too): the
    /// only ones upkeep touches in the kernel.
    pub fn owned(&self) -> BTreeSet<ServiceKey> {
        self.vss
            .iter()
            .flat_map(|v| v.services.iter().map(|s| s.key))
            .collect()
    }

    /// What the kernel should hold: each service with its destinations.
    pub fn desired(&self) -> Vec<(Service, Vec<Dest>)> {
        let mut out: Vec<(Service, Vec<Dest>)> = Vec::new();
        for vs in self.vss.iter().filter(|v| !v.suspended(&self.vrrp)) {
            for s in &vs.services {
                // The same service in two blocks (validation warns): the first wins.
                if out.iter().any(|(o, _)| o.key == s.key) {
                    continue;
                }
                out.push((s.clone(), vs.dests_for(s)));
            }
        }
        out
    }

    /// Whether upkeep manages the kernel's sync daemons (configured).
    pub fn manages_sync(&self) -> bool {
        self.sync.is_some()
    }

    /// The sync daemons the kernel should run.
    pub fn daemons(&self) -> Vec<SyncDaemon> {
        let Some(p) = &self.sync else {
            return Vec::new();
        };
        let is_master = |i: &String| self.vrrp.get(i).is_some_and(|s| *s == State::Master);
        let relevant: Vec<&String> = std::iter::once(&p.instance)
            .chain(&p.lvs_instances)
            .collect();
        let mut out = Vec::new();
        for (state, on) in [
            (SyncState::Master, relevant.iter().any(|i| is_master(i))),
            (SyncState::Backup, relevant.iter().any(|i| !is_master(i))),
        ] {
            if on {
                out.push(SyncDaemon {
                    state,
                    interface: p.interface.clone(),
                    sync_id: p.id,
                    maxlen: p.maxlen,
                    group: p.group,
                    port: p.port,
                    ttl: p.ttl,
                });
            }
        }
        out
    }

    /// Each virtual server, desired beside what the kernel had at the last
    /// dump (`kernel`: service → its destinations; None before any dump).
    pub fn status(&self, kernel: Option<&KernelView>) -> Vec<VirtualServerStatus> {
        self.vss
            .iter()
            .map(|v| {
                let suspended = v.suspended(&self.vrrp);
                // The kernel's view of one destination over the VS's services:
                // (weight at the first service that has it, active, inactive).
                let seen = |addr: IpAddr, port: Option<u16>| {
                    let mut weight = None;
                    let (mut active, mut inactive) = (0u32, 0u32);
                    for s in &v.services {
                        let p = port.or(s.key.port()).unwrap_or(0);
                        let found = kernel.and_then(|k| k.get(&s.key)).and_then(|(_, d)| {
                            d.iter().find(|e| e.dest.addr == addr && e.dest.port == p)
                        });
                        if let Some(e) = found {
                            weight.get_or_insert(e.dest.weight);
                            active = active.saturating_add(e.active);
                            inactive = inactive.saturating_add(e.inactive);
                        }
                    }
                    (weight, active, inactive)
                };
                let mut real_servers: Vec<RealServerStatus> = v
                    .rss
                    .iter()
                    .map(|r| {
                        let (kernel_weight, active_conns, inactive_conns) = seen(r.addr, r.port);
                        RealServerStatus {
                            address: Endpoint::new(r.addr, r.key_port),
                            // From a configured i32 (at least 0).
                            weight: i32::try_from(r.weight).unwrap_or(i32::MAX),
                            up: r.up,
                            sorry: false,
                            desired_weight: v.weight_of(r).filter(|_| !suspended),
                            kernel_weight,
                            active_conns,
                            inactive_conns,
                        }
                    })
                    .collect();
                if let Some(s) = &v.sorry {
                    let (kernel_weight, active_conns, inactive_conns) = seen(s.addr, s.port);
                    let port = s.port.or(v.services.first().and_then(|x| x.key.port()));
                    real_servers.push(RealServerStatus {
                        address: Endpoint::new(s.addr, port.unwrap_or(0)),
                        weight: 1,
                        up: true,
                        sorry: true,
                        desired_weight: if suspended {
                            None
                        } else if v.sorry_active() {
                            Some(1)
                        } else {
                            s.inhibit.then_some(0)
                        },
                        kernel_weight,
                        active_conns,
                        inactive_conns,
                    });
                }
                VirtualServerStatus {
                    key: v.key.clone(),
                    scheduler: v
                        .services
                        .first()
                        .map(|s| s.scheduler.clone())
                        .unwrap_or_default(),
                    real_servers,
                    quorum_up: v.quorum_up,
                    suspended,
                    services: v.services.iter().map(|s| s.key.to_string()).collect(),
                    in_kernel: v
                        .services
                        .iter()
                        .filter(|s| kernel.is_some_and(|k| k.contains_key(&s.key)))
                        .count(),
                }
            })
            .collect()
    }

    /// The virtual server key a kernel service belongs to.
    pub fn owner_of(&self, key: &ServiceKey) -> Option<&str> {
        self.vss
            .iter()
            .find(|v| v.services.iter().any(|s| &s.key == key))
            .map(|v| v.key.as_str())
    }
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
