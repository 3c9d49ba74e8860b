//! All VRRP instances of this node, sans-IO: demultiplexes received
//! packets to instances by (interface, family, VRID), turns tracked
//! interfaces and checks into priority adjustments or Fault (keepalived's
//! weight rules), runs sync groups (members move together), and counts.
//!
//! Sync groups follow keepalived: the group becomes Master only when every
//! member's Master_Down_Interval has expired; one member leaving Master takes
//! the others to Backup; one member in Fault takes the others to Fault.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::deadlines::Deadlines;
use super::fsm::{Action, Cause, Event, GarpParams, Instance, Params, State};
use super::packet::{Advert, Auth, ChecksumMode, DropReason, IpMeta, Version};
use crate::config::model::{AuthType, Config, Demote, Family, VrrpInstance, VrrpScript};
use crate::config::values::{TrackRef, Vip};

/// What a tracked thing does to an instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Track {
    /// `interface:eth0`, `script:chk_haproxy`, `process:NAME`, `file:NAME`.
    pub source: String,
    /// None or 0: Fault while failing. >0: added while up. <0: added while down.
    pub weight: Option<i32>,
    pub reverse: bool,
    /// upkeep's `demote = "resign"`: a failure resigns instead of weighing.
    pub resign: bool,
}

impl Track {
    /// A tracked file's number (keepalived's vrrp_track_file): weight 0 means
    /// Fault while it is not 0; else value × weight is added (negated with
    /// `reverse`), within ±254.
    fn value_event(&self, value: i64) -> Event<'static> {
        match self.weight {
            None | Some(0) => Event::Fault {
                source: self.source.clone(),
                failed: value != 0,
            },
            Some(w) => {
                let sign = if self.reverse { -1 } else { 1 };
                let delta = value.saturating_mul(i64::from(w)).saturating_mul(sign);
                Event::Adjust {
                    source: self.source.clone(),
                    delta: i32::try_from(delta.clamp(-254, 254)).unwrap_or(0),
                }
            }
        }
    }
}

impl Track {
    /// The event for the instance when the tracked thing is `up` (passing).
    fn event(&self, up: bool) -> Event<'static> {
        let up = up != self.reverse;
        if self.resign {
            return Event::Resign {
                source: self.source.clone(),
                active: !up,
            };
        }
        match self.weight {
            None | Some(0) => Event::Fault {
                source: self.source.clone(),
                failed: !up,
            },
            Some(w) => Event::Adjust {
                source: self.source.clone(),
                delta: if (w > 0) == up { w } else { 0 },
            },
        }
    }
}

/// Per-instance counters (for status and metrics).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub adverts_sent: u64,
    pub adverts_received: u64,
    pub transitions: u64,
    pub drops: BTreeMap<DropReason, u64>,
    /// A Master's addresses that someone else removed and it put back.
    pub addresses_restored: u64,
    /// Addresses a non-Master found on its interface and removed.
    pub addresses_removed: u64,
    /// v3: times a peer's address list started to differ from ours (or
    /// changed while it differed).
    pub address_mismatches: u64,
}

/// One configured instance with what the router keeps beside it.
struct Member {
    inst: Instance,
    ifname: String,
    family: Family,
    group: Option<usize>,
    tracks: Vec<Track>,
    counters: Counters,
}

struct Group {
    name: String,
    members: Vec<usize>,
}

pub enum Input<'a> {
    Startup,
    /// A VRRP message received on `ifname` (the IPv4 header already split off).
    Packet {
        ifname: &'a str,
        meta: IpMeta,
        payload: &'a [u8],
    },
    Timeout,
    /// Link state of an interface (the instance's own or a tracked one).
    Link {
        ifname: &'a str,
        up: bool,
    },
    /// Result of a tracked check (`script:NAME`, `process:NAME`, `file:NAME`).
    Check {
        source: &'a str,
        up: bool,
    },
    /// A tracked file's number (`file:NAME`).
    Value {
        source: &'a str,
        value: i64,
    },
    Shutdown,
    /// A restarted worker: these instances were Master (see `Event::Resume`).
    Resume {
        instances: &'a [usize],
    },
    /// Reload: these instances are no longer configured; they resign.
    Stop {
        instances: &'a [usize],
    },
    /// An operator's resignation (`fsm::MAINTENANCE`) set or cleared.
    Resign {
        instances: &'a [usize],
        source: &'a str,
        active: bool,
    },
    /// `upkeepctl handover` of these instances.
    Handover {
        instances: &'a [usize],
    },
}

/// One instance's action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    pub instance: usize,
    pub action: Action,
}

pub struct Router {
    instances: Vec<Member>,
    /// Tracked source → (instance, track) that follow it.
    by_source: HashMap<String, Vec<(usize, usize)>>,
    groups: Vec<Group>,
    checksum: ChecksumMode,
    /// Packets that matched no instance, by reason.
    unmatched: BTreeMap<DropReason, u64>,
    /// Each instance's next deadline (kept after every event it handles).
    due: Deadlines<usize>,
    /// Interface → (IPv6, VRID) → instance: the receive path's lookup.
    by_vrid: HashMap<String, HashMap<(bool, u8), usize>>,
}

/// Whether `out` takes an instance to `to` (tests).
#[cfg(test)]
pub fn enters(out: &[Output], to: State) -> bool {
    out.iter()
        .any(|o| matches!(o.action, Action::StateChanged { to: t, .. } if t == to))
}

/// How the IO layer resolves an instance's primary address on its interface.
pub trait AddressSource {
    fn primary_address(&self, ifname: &str, family: Family) -> Option<IpAddr>;
}

impl<F: Fn(&str, Family) -> Option<IpAddr>> AddressSource for F {
    fn primary_address(&self, ifname: &str, family: Family) -> Option<IpAddr> {
        self(ifname, family)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(
        "vrrp_instance {instance}: interface {ifname} has no {family} address to send advertisements from (set unicast_src_ip or mcast_src_ip)"
    )]
    NoSourceAddress {
        instance: String,
        ifname: String,
        family: Family,
    },
}

impl Router {
    /// Builds every instance from a validated configuration.
    pub fn from_config(cfg: &Config, addrs: &dyn AddressSource) -> Result<Self, SetupError> {
        let mut instances = Vec::new();
        for inst in &cfg.vrrp_instances {
            let family = inst.family();
            let local = inst
                .unicast_src_ip
                .or(inst.mcast_src_ip)
                .or_else(|| addrs.primary_address(&inst.interface, family))
                .ok_or_else(|| SetupError::NoSourceAddress {
                    instance: inst.name.clone(),
                    ifname: inst.interface.clone(),
                    family,
                })?;
            let in_group = cfg.sync_groups.iter().any(|g| g.group.contains(&inst.name));
            instances.push(Member {
                inst: Instance::new(params(cfg, inst, local, in_group)),
                ifname: inst.interface.clone(),
                family,
                group: None,
                tracks: tracks(cfg, inst),
                counters: Counters::default(),
            });
        }
        let mut groups = Vec::new();
        for g in &cfg.sync_groups {
            let members: Vec<usize> = g
                .group
                .iter()
                .filter_map(|m| cfg.vrrp_instances.iter().position(|i| &i.name == m))
                .collect();
            for &m in &members {
                if let Some(s) = instances.get_mut(m) {
                    s.group = Some(groups.len());
                }
            }
            groups.push(Group {
                name: g.name.clone(),
                members,
            });
        }
        let checksum = if cfg.vrrp_instances.iter().any(|i| i.old_unicast_checksum) {
            ChecksumMode::NoPseudoHeader
        } else {
            ChecksumMode::Rfc
        };
        let mut by_source: HashMap<String, Vec<(usize, usize)>> = HashMap::new();
        let mut by_vrid: HashMap<String, HashMap<(bool, u8), usize>> = HashMap::new();
        for (i, m) in instances.iter().enumerate() {
            for (k, t) in m.tracks.iter().enumerate() {
                by_source.entry(t.source.clone()).or_default().push((i, k));
            }
            // The first instance configured with it wins (as a scan would).
            by_vrid
                .entry(m.ifname.clone())
                .or_default()
                .entry((m.family == Family::V6, m.inst.params().vrid))
                .or_insert(i);
        }
        let mut due = Deadlines::default();
        for (i, m) in instances.iter().enumerate() {
            due.set(&i, m.inst.next_deadline());
        }
        Ok(Self {
            instances,
            by_source,
            groups,
            checksum,
            unmatched: BTreeMap::new(),
            due,
            by_vrid,
        })
    }

    /// Reload: moves instance `from` of `old` (its state, timers and
    /// counters) into place `to` of this router and gives it the parameters
    /// configured for `to`. Returns what changes: a Master adds the
    /// addresses the reload added (and announces them) and removes those it
    /// took away; then a priority change.
    pub fn adopt(&mut self, to: usize, old: &mut Router, from: usize) -> Vec<Output> {
        let (Some(dst), Some(src)) = (self.instances.get_mut(to), old.instances.get_mut(from))
        else {
            return Vec::new();
        };
        let params = dst.inst.params().clone();
        let placeholder = Instance::new(src.inst.params().clone());
        dst.inst = std::mem::replace(&mut src.inst, placeholder);
        dst.counters = std::mem::take(&mut src.counters);
        let mut actions = Vec::new();
        if dst.inst.state() == State::Master {
            let before = &dst.inst.params().held;
            let added: Vec<Vip> = params
                .held
                .iter()
                .filter(|v| !before.contains(v))
                .cloned()
                .collect();
            let removed: Vec<Vip> = before
                .iter()
                .filter(|v| !params.held.contains(v))
                .cloned()
                .collect();
            if !added.is_empty() {
                actions.push(Action::Gratuitous {
                    addrs: added.iter().map(|v| v.addr).collect(),
                    count: params.garp.master_repeat.max(1),
                });
                actions.insert(0, Action::AddVips(added));
            }
            if !removed.is_empty() {
                actions.push(Action::RemoveVips(removed));
            }
        }
        let changed = dst.inst.set_params(params);
        dst.counters.address_mismatches += changed
            .iter()
            .filter(|a| matches!(a, Action::AddressMismatch(_)))
            .count() as u64;
        actions.extend(changed);
        self.due.set(&to, dst.inst.next_deadline());
        old.due.set(&from, None);
        actions
            .into_iter()
            .map(|action| Output {
                instance: to,
                action,
            })
            .collect()
    }

    pub fn len(&self) -> usize {
        self.instances.len()
    }

    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
    }

    pub fn instance(&self, i: usize) -> Option<&Instance> {
        self.instances.get(i).map(|s| &s.inst)
    }

    pub fn counters(&self, i: usize) -> Option<&Counters> {
        self.instances.get(i).map(|s| &s.counters)
    }

    /// Counts an address the IO layer restored (`removed` false) or
    /// removed (`removed` true) for instance `i` (see `owned`).
    pub fn count_fix(&mut self, i: usize, removed: bool) {
        if let Some(m) = self.instances.get_mut(i) {
            let c = &mut m.counters;
            if removed {
                c.addresses_removed += 1;
            } else {
                c.addresses_restored += 1;
            }
        }
    }

    pub fn unmatched_drops(&self) -> &BTreeMap<DropReason, u64> {
        &self.unmatched
    }

    /// Counts a packet dropped before it could be attributed to an instance.
    pub fn count_unmatched(&mut self, reason: DropReason) {
        bump(&mut self.unmatched, reason);
    }

    /// The interfaces whose link state matters, for the IO layer to watch.
    pub fn watched_interfaces(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .instances
            .iter()
            .flat_map(|s| {
                s.tracks
                    .iter()
                    .filter_map(|t| t.source.strip_prefix("interface:").map(str::to_string))
            })
            .collect();
        v.sort();
        v.dedup();
        v
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.due.first()
    }

    pub fn handle(&mut self, now: Instant, input: Input<'_>) -> Vec<Output> {
        let mut queue: VecDeque<(usize, Event<'_>)> = VecDeque::new();
        let mut out = Vec::new();
        match input {
            Input::Startup => queue.extend((0..self.instances.len()).map(|i| (i, Event::Startup))),
            Input::Timeout => {
                let mut due = self.due.due(now);
                // In configuration order, as a scan of every instance would.
                due.sort_unstable();
                queue.extend(due.into_iter().map(|i| (i, Event::Timeout)));
            }
            Input::Shutdown => {
                queue.extend((0..self.instances.len()).map(|i| (i, Event::Shutdown)))
            }
            Input::Resume { instances } => {
                queue.extend(instances.iter().map(|&i| (i, Event::Resume)))
            }
            Input::Stop { instances } => {
                queue.extend(instances.iter().map(|&i| (i, Event::Shutdown)))
            }
            Input::Resign {
                instances,
                source,
                active,
            } => queue.extend(instances.iter().map(|&i| {
                let source = source.to_string();
                (i, Event::Resign { source, active })
            })),
            Input::Handover { instances } => {
                queue.extend(instances.iter().map(|&i| (i, Event::Handover)))
            }
            Input::Link { ifname, up } => {
                let source = format!("interface:{ifname}");
                self.track(&source, up, &mut queue);
            }
            Input::Check { source, up } => self.track(source, up, &mut queue),
            Input::Value { source, value } => {
                for (i, t) in self.tracking(source) {
                    queue.push_back((i, t.value_event(value)));
                }
            }
            Input::Packet {
                ifname,
                meta,
                payload,
            } => {
                return self.packet(now, ifname, &meta, payload);
            }
        }
        self.run(now, queue, &mut out);
        out
    }

    fn track(&self, source: &str, up: bool, queue: &mut VecDeque<(usize, Event<'static>)>) {
        for (i, t) in self.tracking(source) {
            queue.push_back((i, t.event(up)));
        }
    }

    /// The tracks that follow `source`, with their instance.
    fn tracking<'a>(&'a self, source: &str) -> impl Iterator<Item = (usize, &'a Track)> + 'a {
        self.by_source
            .get(source)
            .into_iter()
            .flatten()
            .filter_map(|&(i, k)| Some((i, self.instances.get(i)?.tracks.get(k)?)))
    }

    fn packet(&mut self, now: Instant, ifname: &str, meta: &IpMeta, payload: &[u8]) -> Vec<Output> {
        let family = if meta.src.is_ipv4() {
            Family::V4
        } else {
            Family::V6
        };
        let advert = match Advert::decode(payload, meta, self.checksum) {
            Ok(a) => a,
            Err(reason) => {
                // Attribute the drop to the instance when the VRID is readable.
                let vrid = payload.get(1).copied();
                match vrid.and_then(|v| self.find(ifname, family, v)) {
                    Some(i) => bump(&mut self.instances[i].counters.drops, reason),
                    None => bump(&mut self.unmatched, reason),
                }
                return Vec::new();
            }
        };
        let Some(i) = self.find(ifname, family, advert.vrid) else {
            bump(&mut self.unmatched, DropReason::UnknownVrid);
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut queue = VecDeque::new();
        queue.push_back((
            i,
            Event::Advert {
                src: meta.src,
                advert: &advert,
            },
        ));
        self.run(now, queue, &mut out);
        out
    }

    fn find(&self, ifname: &str, family: Family, vrid: u8) -> Option<usize> {
        self.by_vrid
            .get(ifname)?
            .get(&(family == Family::V6, vrid))
            .copied()
    }

    /// Runs events to completion, including the sync-group reactions they cause.
    fn run<'a>(
        &mut self,
        now: Instant,
        mut queue: VecDeque<(usize, Event<'a>)>,
        out: &mut Vec<Output>,
    ) {
        // Each event can cause at most a few group events per member: bound the work.
        let mut budget = 64 + 16 * self.instances.len() * self.instances.len().max(1);
        while let Some((i, event)) = queue.pop_front() {
            if budget == 0 {
                break;
            }
            budget -= 1;
            let is_advert = matches!(event, Event::Advert { .. });
            let is_fault = matches!(event, Event::Fault { .. });
            let Some(member) = self.instances.get_mut(i) else {
                continue;
            };
            let actions = member.inst.handle(now, event);
            self.due.set(&i, member.inst.next_deadline());
            let mut dropped = false;
            for a in &actions {
                match a {
                    Action::SendAdvert { .. } => member.counters.adverts_sent += 1,
                    Action::StateChanged { .. } => member.counters.transitions += 1,
                    Action::AddressMismatch(_) => member.counters.address_mismatches += 1,
                    Action::Dropped(r) => {
                        dropped = true;
                        bump(&mut member.counters.drops, *r);
                    }
                    _ => {}
                }
            }
            if is_advert && !dropped {
                member.counters.adverts_received += 1;
            }
            let group = member.group;
            for a in actions {
                if let Some(g) = group {
                    self.group_reaction(g, i, &a, &mut queue);
                }
                if !matches!(a, Action::Dropped(_) | Action::WantsMaster) {
                    out.push(Output {
                        instance: i,
                        action: a,
                    });
                }
            }
            if let (true, Some(g)) = (is_fault, group) {
                self.sync_group_faults(g, &mut queue);
            }
        }
    }

    fn group_reaction<'a>(
        &self,
        g: usize,
        from: usize,
        action: &Action,
        queue: &mut VecDeque<(usize, Event<'a>)>,
    ) {
        let Some(group) = self.groups.get(g) else {
            return;
        };
        let name = group.name.clone();
        let others = group.members.iter().copied().filter(move |&m| m != from);
        match action {
            Action::WantsMaster => {
                let all_ready = group.members.iter().all(|&m| {
                    self.instances.get(m).is_some_and(|s| {
                        s.inst.state() == State::Master
                            || (s.inst.state() == State::Backup && s.inst.wants_master())
                    })
                });
                if all_ready {
                    for m in group.members.iter().copied() {
                        queue.push_back((
                            m,
                            Event::GroupMaster {
                                group: name.clone(),
                            },
                        ));
                    }
                }
            }
            Action::StateChanged {
                to: State::Master, ..
            } => {
                // An owner or a forced member: the rest follow.
                for m in others {
                    if self
                        .instances
                        .get(m)
                        .is_some_and(|s| s.inst.state() == State::Backup)
                    {
                        queue.push_back((
                            m,
                            Event::GroupMaster {
                                group: name.clone(),
                            },
                        ));
                    }
                }
            }
            Action::StateChanged {
                from: State::Master,
                to: State::Backup,
                cause,
            } if !matches!(cause, Cause::SyncGroup(_)) => {
                for m in others {
                    queue.push_back((
                        m,
                        Event::GroupBackup {
                            group: name.clone(),
                        },
                    ));
                }
            }
            _ => {}
        }
    }

    /// The group fault is derived, not chained: a member is held in Fault by
    /// the group while another member has a fault of its own. (Chaining
    /// deadlocks when two members fault on the same link.) Only changes are
    /// queued, so this settles.
    fn sync_group_faults<'a>(&self, g: usize, queue: &mut VecDeque<(usize, Event<'a>)>) {
        let Some(group) = self.groups.get(g) else {
            return;
        };
        let source = format!("sync_group:{}", group.name);
        let own = |k: usize| {
            self.instances
                .get(k)
                .is_some_and(|s| s.inst.faulted_except(&source))
        };
        for &m in &group.members {
            let failed = group.members.iter().any(|&k| k != m && own(k));
            if self
                .instances
                .get(m)
                .is_some_and(|s| s.inst.has_fault(&source) != failed)
            {
                queue.push_back((
                    m,
                    Event::Fault {
                        source: source.clone(),
                        failed,
                    },
                ));
            }
        }
    }
}

fn bump(map: &mut BTreeMap<DropReason, u64>, r: DropReason) {
    *map.entry(r).or_insert(0) += 1;
}

/// The state machine's parameters for one configured instance.
pub fn params(cfg: &Config, inst: &VrrpInstance, local: IpAddr, in_sync_group: bool) -> Params {
    let g = &cfg.global;
    let version = match inst.effective_version(g) {
        3 => Version::V3,
        _ => Version::V2,
    };
    let auth = match (&inst.authentication, version) {
        (Some(a), Version::V2) if a.auth_type == AuthType::Pass => Auth::pass(&a.auth_pass),
        _ => Auth::None,
    };
    let secs = |m: crate::config::values::Millis| Duration::from_millis(m.as_millis());
    let defaults = GarpParams::default();
    let master_delay = inst
        .garp_master_delay
        .or(g.vrrp_garp_master_delay)
        .map_or(defaults.master_delay, secs);
    let master_repeat = inst
        .garp_master_repeat
        .or(g.vrrp_garp_master_repeat)
        .unwrap_or(defaults.master_repeat);
    let refresh = inst
        .garp_master_refresh
        .or(g.vrrp_garp_master_refresh)
        .map(secs)
        .filter(|d| !d.is_zero());
    let lower_repeat = inst
        .garp_lower_prio_repeat
        .or(g.vrrp_garp_lower_prio_repeat);
    let lower_delay = inst
        .garp_lower_prio_delay
        .or(g.vrrp_garp_lower_prio_delay)
        .map_or(master_delay, secs);
    Params {
        name: inst.name.clone(),
        vrid: u8::try_from(inst.virtual_router_id).unwrap_or(0),
        version,
        priority: u8::try_from(inst.priority).unwrap_or(255),
        advert_interval_cs: u16::try_from(inst.advert_int.as_millis() / 10).unwrap_or(u16::MAX),
        preempt: inst.preempt,
        preempt_delay: inst.preempt_delay.map_or(Duration::ZERO, secs),
        auth,
        vips: inst.virtual_ipaddress.iter().map(|v| v.addr).collect(),
        held: inst
            .virtual_ipaddress
            .iter()
            .chain(&inst.virtual_ipaddress_excluded)
            .cloned()
            .collect(),
        check_adv_addr: !(inst.skip_check_adv_addr || g.vrrp_skip_check_adv_addr),
        // keepalived checks the source only of a unicast instance's adverts.
        unicast_peers_only: (!inst.unicast_peer.is_empty()
            && (inst.check_unicast_src || g.vrrp_check_unicast_src))
            .then(|| inst.unicast_peer.clone()),
        local_addr: local,
        garp: GarpParams {
            master_delay,
            master_repeat,
            master_refresh: refresh,
            master_refresh_repeat: inst
                .garp_master_refresh_repeat
                .or(g.vrrp_garp_master_refresh_repeat)
                .unwrap_or(defaults.master_refresh_repeat),
            lower_prio_delay: lower_repeat.map(|_| lower_delay),
            lower_prio_repeat: lower_repeat.unwrap_or(0),
        },
        in_sync_group,
        down_timer_adverts: inst
            .down_timer_adverts
            .or(g.vrrp_down_timer_adverts)
            .unwrap_or(3),
    }
}

/// Everything an instance tracks, with keepalived's defaults: its own
/// interface (Fault when down, unless dont_track_primary), then each track_*.
pub fn tracks(cfg: &Config, inst: &VrrpInstance) -> Vec<Track> {
    let mut v = Vec::new();
    if !inst.dont_track_primary {
        v.push(Track {
            source: format!("interface:{}", inst.interface),
            weight: None,
            reverse: false,
            resign: false,
        });
    }
    for t in &inst.track_interface {
        v.push(Track {
            source: format!("interface:{}", t.name),
            weight: t.weight,
            reverse: t.reverse,
            resign: false,
        });
    }
    // A track entry's own weight wins; else the tracked definition's.
    let mut defined = |kind: &str, t: &TrackRef, def: Option<(i32, bool)>, demote: Demote| {
        let weight = t.weight.or(def.map(|(w, _)| w));
        v.push(Track {
            source: format!("{kind}:{}", t.name),
            weight: if demote == Demote::Fault {
                Some(0)
            } else {
                weight
            },
            reverse: t.reverse || def.is_some_and(|(_, r)| r),
            resign: demote == Demote::Resign,
        });
    };
    // By name: an instance may track thousands of files.
    let scripts: HashMap<&str, &VrrpScript> = cfg
        .vrrp_scripts
        .iter()
        .map(|s| (s.name.as_str(), s))
        .collect();
    let files: HashMap<&str, (i32, bool)> = cfg
        .track_files
        .iter()
        .map(|s| (s.name.as_str(), (s.weight, s.weight_reverse)))
        .collect();
    let processes: HashMap<&str, (i32, bool)> = cfg
        .track_processes
        .iter()
        .map(|s| (s.name.as_str(), (s.weight, s.weight_reverse)))
        .collect();
    for t in &inst.track_script {
        let def = scripts.get(t.name.as_str());
        let demote = def
            .and_then(|s| s.on_failure.as_ref())
            .map_or(Demote::Weight, |f| f.demote);
        defined(
            "script",
            t,
            def.map(|s| (s.weight, s.weight_reverse)),
            demote,
        );
    }
    for t in &inst.track_file {
        let def = files.get(t.name.as_str()).copied();
        defined("file", t, def, Demote::Weight);
    }
    for t in &inst.track_process {
        let def = processes.get(t.name.as_str()).copied();
        defined("process", t, def, Demote::Weight);
    }
    v
}

#[cfg(test)]
#[path = "router_tests.rs"]
mod tests;
