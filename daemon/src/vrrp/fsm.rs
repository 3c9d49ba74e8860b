//! One VRRP instance as a sans-IO state machine: RFC 5798 §6.4 (states
//! Initialize, Backup, Master) and §6.1 (parameters), with RFC 3768's v2
//! timing, plus a Fault state for tracked failures.
//!
//! [`Instance::handle`] takes an [`Event`] and the current time and returns
//! [`Action`]s; [`Instance::next_deadline`] says when to call it with
//! [`Event::Timeout`]. It never reads a clock or touches a socket.
//!
//! Timing (RFC 5798 §6.1, RFC 3768 §6.1):
//! - v3: Skew_Time = ((256 − Priority) × Master_Adver_Interval) / 256,
//!   Master_Down_Interval = 3 × Master_Adver_Interval + Skew_Time, where a
//!   Backup adopts the Master's advertised interval.
//! - v2: Skew_Time = (256 − Priority) / 256 s,
//!   Master_Down_Interval = 3 × Advertisement_Interval + Skew_Time.
//! - The 3 is keepalived's `down_timer_adverts` (1–100).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::mismatch::{AddressWatch, Mismatch, Report};
use super::packet::{Advert, Auth, DropReason, Version};
use crate::config::values::Vip;

/// RFC 5798 §5.2.4: the priority of the IP address owner.
pub const PRIORITY_OWNER: u8 = 255;
/// RFC 5798 §5.2.4: a Master that stops sends priority 0.
pub const PRIORITY_RESIGN: u8 = 0;
/// The resign source of `upkeepctl maintenance` (see `fsm_maintenance.rs`).
pub const MAINTENANCE: &str = "maintenance";
/// The resign source of `upkeepctl handover`: held until another router is heard as Master.
pub const HANDOVER: &str = "handover";

const CENTISECOND: Duration = Duration::from_millis(10);

/// A VRRP instance's state. Its JSON spelling (status, IPC) is keepalived's:
/// `INIT`, `BACKUP`, `MASTER`, `FAULT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum State {
    #[serde(rename = "INIT")]
    Initialize,
    #[serde(rename = "BACKUP")]
    Backup,
    #[serde(rename = "MASTER")]
    Master,
    #[serde(rename = "FAULT")]
    Fault,
}

impl State {
    pub const ALL: [State; 4] = [
        State::Initialize,
        State::Backup,
        State::Master,
        State::Fault,
    ];

    pub fn name(self) -> &'static str {
        match self {
            State::Initialize => "INIT",
            State::Backup => "BACKUP",
            State::Master => "MASTER",
            State::Fault => "FAULT",
        }
    }
}

impl std::str::FromStr for State {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|st| st.name() == s)
            .ok_or_else(|| format!("unknown VRRP state {s:?}"))
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a transition happened (for logs, notify and status).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cause {
    Startup,
    /// Address owner (priority 255) takes over at once.
    Owner,
    /// No advertisement within Master_Down_Interval.
    MasterDown,
    /// The Master resigned (priority 0) and Skew_Time passed.
    MasterResigned,
    /// An advertisement with higher priority (or equal priority, higher address).
    HigherPriority {
        from: IpAddr,
        priority: u8,
    },
    /// A tracked interface or check failed.
    Fault(String),
    FaultCleared,
    /// Another member of the sync group moved.
    SyncGroup(String),
    Shutdown,
    /// A restarted VRRP worker carries on as the Master it was.
    Resumed,
    /// A failing check's policy demotes by resigning.
    Resigned(String),
    /// `upkeepctl maintenance on`.
    Maintenance,
    /// `upkeepctl handover`.
    Handover,
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Startup => f.write_str("startup"),
            Cause::Owner => f.write_str("address owner"),
            Cause::MasterDown => f.write_str("master down timer expired"),
            Cause::MasterResigned => f.write_str("master resigned (priority 0)"),
            Cause::HigherPriority { from, priority } => {
                write!(f, "higher priority {priority} from {from}")
            }
            Cause::Fault(s) => write!(f, "fault: {s}"),
            Cause::FaultCleared => f.write_str("fault cleared"),
            Cause::SyncGroup(g) => write!(f, "sync group {g}"),
            Cause::Shutdown => f.write_str("shutdown"),
            Cause::Resumed => f.write_str("resumed after a worker restart"),
            Cause::Resigned(s) => write!(f, "resigned: {s} failing"),
            Cause::Maintenance => f.write_str("maintenance"),
            Cause::Handover => f.write_str("handover"),
        }
    }
}

/// Gratuitous ARP / unsolicited NA schedule (keepalived's garp_* settings).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GarpParams {
    /// Second burst this long after becoming Master (0: none).
    pub master_delay: Duration,
    /// Packets per burst.
    pub master_repeat: u32,
    /// Periodic refresh while Master (None: none).
    pub master_refresh: Option<Duration>,
    pub master_refresh_repeat: u32,
    /// Burst after hearing a lower-priority advertisement while Master (None: off).
    pub lower_prio_delay: Option<Duration>,
    pub lower_prio_repeat: u32,
}

impl Default for GarpParams {
    fn default() -> Self {
        Self {
            master_delay: Duration::from_secs(5),
            master_repeat: 5,
            master_refresh: None,
            master_refresh_repeat: 1,
            lower_prio_delay: None,
            lower_prio_repeat: 0,
        }
    }
}

/// The static parameters of an instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    pub name: String,
    pub vrid: u8,
    pub version: Version,
    /// Configured priority, 1–255.
    pub priority: u8,
    /// Advertisement_Interval in centiseconds (v2: a multiple of 100).
    pub advert_interval_cs: u16,
    pub preempt: bool,
    /// After start (or leaving Fault), do not preempt for this long.
    pub preempt_delay: Duration,
    pub auth: Auth,
    /// The addresses advertised (virtual_ipaddress, not the excluded ones).
    pub vips: Vec<IpAddr>,
    /// Every address a Master holds (virtual_ipaddress and the excluded ones).
    pub held: Vec<Vip>,
    /// Compare the address list of adverts with ours: v2 drops one that
    /// differs (unless from the owner, RFC 3768 §7.1); v3 accepts it and
    /// reports the mismatch (RFC 5798 §7.1, see `mismatch`).
    pub check_adv_addr: bool,
    /// `check_unicast_src` on a unicast instance: adverts only from these.
    pub unicast_peers_only: Option<Vec<IpAddr>>,
    /// This router's primary address on the interface: the advert source and
    /// the tie-breaker between equal priorities.
    pub local_addr: IpAddr,
    pub garp: GarpParams,
    /// Member of a sync group: Master only when the whole group agrees.
    pub in_sync_group: bool,
    /// Adverts missed before Master_Down (RFC 5798's 3; keepalived's
    /// `down_timer_adverts`).
    pub down_timer_adverts: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    Startup,
    /// An advertisement that passed the packet checks (`packet::Advert::decode`).
    Advert {
        src: IpAddr,
        advert: &'a Advert,
    },
    /// Called at or after [`Instance::next_deadline`].
    Timeout,
    /// Set the priority adjustment contributed by `source` (replaces its previous one).
    Adjust {
        source: String,
        delta: i32,
    },
    /// A tracked thing whose failure means Fault.
    Fault {
        source: String,
        failed: bool,
    },
    /// Sync group decisions (from `router`).
    GroupMaster {
        group: String,
    },
    GroupBackup {
        group: String,
    },
    Shutdown,
    /// A restarted worker: Master at once, if this instance was Master
    /// (the VIPs are still in place and the peers have not taken over).
    Resume,
    /// A demotion by resigning: while `active`, a Master gives up at once
    /// (priority-0 advert, then Backup) and a Backup does not take over.
    Resign {
        source: String,
        active: bool,
    },
    /// `upkeepctl handover`: a Master resigns (as for maintenance) until it
    /// hears another router's Master advert, then is an ordinary Backup.
    Handover,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send an advertisement with this priority.
    SendAdvert { priority: u8 },
    /// Add these addresses (a Master's, or those a reload added).
    AddVips(Vec<Vip>),
    /// Remove these addresses.
    RemoveVips(Vec<Vip>),
    /// A burst of gratuitous ARPs / unsolicited NAs for these addresses.
    Gratuitous { addrs: Vec<IpAddr>, count: u32 },
    StateChanged {
        from: State,
        to: State,
        cause: Cause,
    },
    /// Master_Down_Interval expired for a sync group member: the group decides.
    WantsMaster,
    /// The effective priority changed (for notify and status).
    PriorityChanged { priority: u8 },
    /// A received advertisement was dropped.
    Dropped(DropReason),
    /// v3: a peer advertises another address list than ours (started, or
    /// its list changed); the advert was accepted all the same.
    AddressMismatch(Mismatch),
    /// The address lists agree again, or that peer is no longer heard.
    AddressMismatchEnded { from: IpAddr },
}

/// What the instance knows about the current Master.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MasterInfo {
    pub addr: IpAddr,
    pub priority: u8,
}

#[derive(Debug)]
pub struct Instance {
    params: Params,
    state: State,
    /// Master_Adver_Interval (centiseconds), adopted from the Master in v3.
    master_adver_cs: u16,
    adjustments: BTreeMap<String, i32>,
    faults: BTreeSet<String>,
    /// Sources holding this instance out of Master (see `Event::Resign`).
    resigned: BTreeSet<String>,
    adver_at: Option<Instant>,
    master_down_at: Option<Instant>,
    /// Second GARP burst, refresh and lower-priority bursts.
    garp_at: Option<(Instant, u32)>,
    refresh_at: Option<Instant>,
    preempt_after: Option<Instant>,
    wants_master: bool,
    /// The Master sent priority 0; Master_Down_Timer is Skew_Time.
    master_resigned: bool,
    master: Option<MasterInfo>,
    last_transition: Option<(Instant, Cause)>,
    /// v3: a peer's address list that differs from ours.
    addresses: AddressWatch,
    /// A Master resigned by an operator keeps its VIPs until the new
    /// Master is heard, or until this time (see `fsm_maintenance.rs`).
    release_at: Option<Instant>,
    /// A handover is given up (the instance may be Master again) if no
    /// other Master is heard by then.
    handover_until: Option<Instant>,
}

impl Instance {
    pub fn new(params: Params) -> Self {
        let master_adver_cs = params.advert_interval_cs;
        Self {
            params,
            state: State::Initialize,
            master_adver_cs,
            adjustments: BTreeMap::new(),
            faults: BTreeSet::new(),
            resigned: BTreeSet::new(),
            adver_at: None,
            master_down_at: None,
            garp_at: None,
            refresh_at: None,
            preempt_after: None,
            wants_master: false,
            master_resigned: false,
            master: None,
            last_transition: None,
            addresses: AddressWatch::default(),
            release_at: None,
            handover_until: None,
        }
    }

    /// v3: the peer's differing address list, while it differs.
    pub fn address_mismatch(&self) -> Option<&Mismatch> {
        self.addresses.current()
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn master(&self) -> Option<MasterInfo> {
        if self.state == State::Master {
            return Some(MasterInfo {
                addr: self.params.local_addr,
                priority: self.priority(),
            });
        }
        self.master
    }

    pub fn last_transition(&self) -> Option<&(Instant, Cause)> {
        self.last_transition.as_ref()
    }

    pub fn wants_master(&self) -> bool {
        self.wants_master
    }

    pub fn has_fault(&self, source: &str) -> bool {
        self.faults.contains(source)
    }

    /// Whether a fault source other than `except` holds the instance in Fault.
    pub fn faulted_except(&self, except: &str) -> bool {
        self.faults.iter().any(|f| f != except)
    }

    /// Base priority plus tracked adjustments, clamped to 1–254; the owner stays 255.
    pub fn priority(&self) -> u8 {
        if self.params.priority == PRIORITY_OWNER {
            return PRIORITY_OWNER;
        }
        let sum: i64 = self.adjustments.values().map(|d| i64::from(*d)).sum();
        let p = (i64::from(self.params.priority) + sum).clamp(1, 254);
        u8::try_from(p).unwrap_or(1)
    }

    /// The advertisement this instance sends, with `priority`.
    pub fn advert(&self, priority: u8) -> Advert {
        let p = &self.params;
        Advert {
            version: p.version,
            vrid: p.vrid,
            priority,
            interval_cs: p.advert_interval_cs,
            addrs: p.vips.clone(),
            auth: p.auth,
        }
    }

    /// Master_Adver_Interval.
    pub fn master_adver_interval(&self) -> Duration {
        CENTISECOND * u32::from(self.master_adver_cs)
    }

    fn advert_interval(&self) -> Duration {
        CENTISECOND * u32::from(self.params.advert_interval_cs)
    }

    pub fn skew_time(&self) -> Duration {
        let weight = 256 - u32::from(self.priority());
        match self.params.version {
            Version::V2 => Duration::from_secs(1) * weight / 256,
            Version::V3 => self.master_adver_interval() * weight / 256,
        }
    }

    /// The addresses announced by gratuitous ARP / NA: every one held.
    fn held_addrs(&self) -> Vec<IpAddr> {
        self.params.held.iter().map(|v| v.addr).collect()
    }

    pub fn master_down_interval(&self) -> Duration {
        let base = match self.params.version {
            Version::V2 => self.advert_interval(),
            Version::V3 => self.master_adver_interval(),
        };
        base * self.params.down_timer_adverts.max(1) + self.skew_time()
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        [
            self.adver_at,
            self.master_down_at,
            self.garp_at.map(|(t, _)| t),
            self.refresh_at,
            self.release_at,
            self.handover_until,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Packet checks that need the instance's configuration (RFC 5798 §7.1,
    /// RFC 3768 §7.1): version, authentication, v2 interval, address list.
    pub fn check(&self, src: IpAddr, advert: &Advert) -> Result<(), DropReason> {
        let p = &self.params;
        if src == p.local_addr {
            return Err(DropReason::OwnAdvert);
        }
        if p.unicast_peers_only
            .as_ref()
            .is_some_and(|peers| !peers.contains(&src))
        {
            return Err(DropReason::NotAUnicastPeer);
        }
        if advert.version != p.version {
            return Err(DropReason::VersionMismatch);
        }
        if p.version == Version::V2 {
            match (&p.auth, &advert.auth) {
                (Auth::None, Auth::None) => {}
                (Auth::Pass(a), Auth::Pass(b)) if a == b => {}
                (Auth::Pass(_), Auth::Pass(_)) => return Err(DropReason::AuthFailure),
                _ => return Err(DropReason::AuthTypeMismatch),
            }
            if advert.interval_cs != p.advert_interval_cs {
                return Err(DropReason::IntervalMismatch);
            }
        }
        // v3 accepts a differing list and reports it (`mismatch`).
        if p.check_adv_addr
            && p.version == Version::V2
            && advert.priority != PRIORITY_OWNER
            && !same_addresses(&advert.addrs, &p.vips)
        {
            return Err(DropReason::AddressMismatch);
        }
        Ok(())
    }

    pub fn handle(&mut self, now: Instant, event: Event<'_>) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            Event::Startup => self.startup(now, &mut out),
            Event::Advert { src, advert } => match self.check(src, advert) {
                Ok(()) => {
                    self.compare_addresses(src, advert, &mut out);
                    self.receive(now, src, advert, &mut out);
                }
                Err(reason) => out.push(Action::Dropped(reason)),
            },
            Event::Timeout => self.timeout(now, &mut out),
            Event::Adjust { source, delta } => {
                let before = self.priority();
                if delta == 0 {
                    self.adjustments.remove(&source);
                } else {
                    self.adjustments.insert(source, delta);
                }
                let after = self.priority();
                if after != before {
                    out.push(Action::PriorityChanged { priority: after });
                }
            }
            Event::Fault { source, failed } => self.fault(now, source, failed, &mut out),
            Event::GroupMaster { group } => {
                if self.state == State::Backup {
                    self.become_master(now, Cause::SyncGroup(group), &mut out);
                }
            }
            Event::GroupBackup { group } => {
                if self.state == State::Master {
                    self.become_backup(now, Cause::SyncGroup(group), &mut out);
                } else if self.state == State::Backup && self.wants_master {
                    self.wants_master = false;
                    self.master_down_at = Some(now + self.master_down_interval());
                }
            }
            Event::Shutdown => self.shutdown(now, &mut out),
            Event::Resign { source, active } => self.resign(now, source, active, &mut out),
            Event::Handover => self.handover(now, &mut out),
            Event::Resume => {
                if self.state == State::Initialize
                    && self.faults.is_empty()
                    && self.resigned.is_empty()
                {
                    self.hold_preemption(now);
                    self.become_master(now, Cause::Resumed, &mut out);
                }
            }
        }
        out
    }

    /// Reload: new parameters for the same instance (same VRID, version,
    /// interval, addresses to send from). Priority, preemption, GARP settings
    /// and the VIP list change in place, without a transition; the IO layer
    /// adds or removes the VIPs that changed.
    pub fn set_params(&mut self, params: Params) -> Vec<Action> {
        let before = self.priority();
        self.params = params;
        let after = self.priority();
        let mut out = Vec::new();
        let report = if self.params.check_adv_addr {
            self.addresses.ours_changed(&self.params.vips)
        } else {
            self.addresses.forget()
        };
        out.extend(report.map(Self::report));
        if after != before {
            out.push(Action::PriorityChanged { priority: after });
        }
        out
    }

    fn report(r: Report) -> Action {
        match r {
            Report::Started(m) => Action::AddressMismatch(m),
            Report::Ended { from } => Action::AddressMismatchEnded { from },
        }
    }

    /// v3 (RFC 5798 §7.1): an accepted advert whose list differs from ours
    /// is reported when the difference starts or changes, and when it ends.
    fn compare_addresses(&mut self, src: IpAddr, advert: &Advert, out: &mut Vec<Action>) {
        let p = &self.params;
        if !p.check_adv_addr
            || p.version != Version::V3
            || advert.priority == PRIORITY_RESIGN
            || !matches!(self.state, State::Backup | State::Master)
        {
            return;
        }
        out.extend(
            self.addresses
                .heard(src, &advert.addrs, &p.vips)
                .map(Self::report),
        );
    }

    fn transition(&mut self, now: Instant, to: State, cause: Cause, out: &mut Vec<Action>) {
        let from = self.state;
        if to != State::Backup {
            // Only a Backup goes on hearing the peer it compared with.
            out.extend(self.addresses.forget().map(Self::report));
        }
        self.state = to;
        self.last_transition = Some((now, cause.clone()));
        out.push(Action::StateChanged { from, to, cause });
    }

    /// RFC 5798 §6.4.1.
    fn startup(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.state != State::Initialize {
            return;
        }
        self.hold_preemption(now);
        if !self.faults.is_empty() {
            let why = self.faults.iter().next().cloned().unwrap_or_default();
            self.transition(now, State::Fault, Cause::Fault(why), out);
        } else if self.params.priority == PRIORITY_OWNER && self.resigned.is_empty() {
            self.become_master(now, Cause::Owner, out);
        } else {
            self.enter_backup(now, Cause::Startup, out);
        }
    }

    /// preempt_delay: no preemption for that long from now (start, or leaving Fault).
    fn hold_preemption(&mut self, now: Instant) {
        let delay = self.params.preempt_delay;
        self.preempt_after = (!delay.is_zero()).then(|| now + delay);
    }

    fn enter_backup(&mut self, now: Instant, cause: Cause, out: &mut Vec<Action>) {
        self.master_adver_cs = self.params.advert_interval_cs;
        self.master_down_at = Some(now + self.master_down_interval());
        self.adver_at = None;
        self.wants_master = false;
        self.transition(now, State::Backup, cause, out);
    }

    fn become_master(&mut self, now: Instant, cause: Cause, out: &mut Vec<Action>) {
        self.master_down_at = None;
        self.wants_master = false;
        self.master_resigned = false;
        self.master = None;
        self.release_at = None;
        out.push(Action::SendAdvert {
            priority: self.priority(),
        });
        out.push(Action::AddVips(self.params.held.clone()));
        out.push(Action::Gratuitous {
            addrs: self.held_addrs(),
            count: self.params.garp.master_repeat,
        });
        self.adver_at = Some(now + self.advert_interval());
        let g = &self.params.garp;
        self.garp_at = (!g.master_delay.is_zero()).then(|| (now + g.master_delay, g.master_repeat));
        self.refresh_at = g.master_refresh.map(|r| now + r);
        self.transition(now, State::Master, cause, out);
    }

    /// Master → Backup (RFC 5798 §6.4.3 on a higher-priority advertisement).
    fn become_backup(&mut self, now: Instant, cause: Cause, out: &mut Vec<Action>) {
        self.adver_at = None;
        self.garp_at = None;
        self.refresh_at = None;
        out.push(Action::RemoveVips(self.params.held.clone()));
        self.master_down_at = Some(now + self.master_down_interval());
        self.transition(now, State::Backup, cause, out);
    }

    fn receive(&mut self, now: Instant, src: IpAddr, advert: &Advert, out: &mut Vec<Action>) {
        match self.state {
            State::Backup => {
                if advert.priority != PRIORITY_RESIGN {
                    self.other_master_heard(out);
                }
                if advert.priority == PRIORITY_RESIGN {
                    // §6.4.2: take over after Skew_Time.
                    self.master_down_at = Some(now + self.skew_time());
                    self.wants_master = false;
                    self.master_resigned = true;
                    self.master = None;
                    return;
                }
                let holding = self.preempt_after.is_some_and(|t| now < t);
                let preempting = self.params.preempt && !holding;
                if !preempting || advert.priority >= self.priority() {
                    if self.params.version == Version::V3 {
                        self.master_adver_cs = advert.interval_cs.max(1);
                    }
                    self.master_down_at = Some(now + self.master_down_interval());
                    self.wants_master = false;
                    self.master_resigned = false;
                    self.master = Some(MasterInfo {
                        addr: src,
                        priority: advert.priority,
                    });
                }
                // Else: a lower-priority Master we will preempt; discard.
            }
            State::Master => {
                if advert.priority == PRIORITY_RESIGN {
                    out.push(Action::SendAdvert {
                        priority: self.priority(),
                    });
                    self.adver_at = Some(now + self.advert_interval());
                    return;
                }
                let ours = self.priority();
                if advert.priority > ours
                    || (advert.priority == ours && src > self.params.local_addr)
                {
                    if self.params.version == Version::V3 {
                        self.master_adver_cs = advert.interval_cs.max(1);
                    }
                    self.master = Some(MasterInfo {
                        addr: src,
                        priority: advert.priority,
                    });
                    let cause = Cause::HigherPriority {
                        from: src,
                        priority: advert.priority,
                    };
                    self.become_backup(now, cause, out);
                } else if let Some(delay) = self.params.garp.lower_prio_delay {
                    // Someone else thinks it is Master: re-announce our VIPs.
                    if self.garp_at.is_none() && self.params.garp.lower_prio_repeat > 0 {
                        self.garp_at = Some((now + delay, self.params.garp.lower_prio_repeat));
                    }
                }
            }
            State::Initialize | State::Fault => {}
        }
    }

    fn timeout(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.operator_timeouts(now, out);
        if self.master_down_at.is_some_and(|t| t <= now)
            && self.state == State::Backup
            && !self.resigned.is_empty()
        {
            // Resigned: no Master from here while the check fails.
            self.master_down_at = Some(now + self.master_down_interval());
        }
        if self.master_down_at.is_some_and(|t| t <= now) && self.state == State::Backup {
            self.master_down_at = None;
            let cause = if self.master_resigned {
                Cause::MasterResigned
            } else {
                Cause::MasterDown
            };
            if self.params.in_sync_group {
                self.wants_master = true;
                out.push(Action::WantsMaster);
            } else {
                self.become_master(now, cause, out);
            }
        }
        if self.state != State::Master {
            return;
        }
        if let Some(at) = self.adver_at.filter(|t| *t <= now) {
            out.push(Action::SendAdvert {
                priority: self.priority(),
            });
            // Keep the cadence; after a stall, restart it from now.
            let next = at + self.advert_interval();
            self.adver_at = Some(if next > now {
                next
            } else {
                now + self.advert_interval()
            });
        }
        if let Some((_, count)) = self.garp_at.filter(|(t, _)| *t <= now) {
            self.garp_at = None;
            out.push(Action::Gratuitous {
                addrs: self.held_addrs(),
                count,
            });
        }
        if let (true, Some(every)) = (
            self.refresh_at.is_some_and(|t| t <= now),
            self.params.garp.master_refresh,
        ) {
            out.push(Action::Gratuitous {
                addrs: self.held_addrs(),
                count: self.params.garp.master_refresh_repeat,
            });
            self.refresh_at = Some(now + every);
        }
    }

    fn fault(&mut self, now: Instant, source: String, failed: bool, out: &mut Vec<Action>) {
        let was_faulted = !self.faults.is_empty();
        if failed {
            self.faults.insert(source.clone());
        } else {
            self.faults.remove(&source);
        }
        let faulted = !self.faults.is_empty();
        if faulted == was_faulted || self.state == State::Initialize {
            return;
        }
        if faulted {
            self.stop(out);
            self.master = None;
            self.transition(now, State::Fault, Cause::Fault(source), out);
        } else if self.params.priority == PRIORITY_OWNER && self.resigned.is_empty() {
            self.become_master(now, Cause::FaultCleared, out);
        } else {
            self.hold_preemption(now);
            self.enter_backup(now, Cause::FaultCleared, out);
        }
    }

    /// Stops taking part: a Master resigns (priority 0, so that a Backup takes
    /// over after Skew_Time rather than Master_Down_Interval) and drops its
    /// VIPs; every timer stops.
    fn stop(&mut self, out: &mut Vec<Action>) {
        if self.state == State::Master {
            out.push(Action::SendAdvert {
                priority: PRIORITY_RESIGN,
            });
            out.push(Action::RemoveVips(self.params.held.clone()));
        } else if self.release_at.take().is_some() {
            out.push(Action::RemoveVips(self.params.held.clone()));
        }
        self.adver_at = None;
        self.master_down_at = None;
        self.garp_at = None;
        self.refresh_at = None;
        self.wants_master = false;
    }

    /// RFC 5798 §6.4.2 / §6.4.3 Shutdown.
    fn shutdown(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.stop(out);
        if self.state != State::Initialize {
            self.transition(now, State::Initialize, Cause::Shutdown, out);
        }
    }
}

fn same_addresses(a: &[IpAddr], b: &[IpAddr]) -> bool {
    let x: BTreeSet<&IpAddr> = a.iter().collect();
    let y: BTreeSet<&IpAddr> = b.iter().collect();
    x == y
}

#[path = "fsm_maintenance.rs"]
mod maintenance;

#[cfg(test)]
#[path = "fsm_tests.rs"]
mod tests;
