//! The VRRP worker: the thin IO layer around [`Router`] (sockets, netlink,
//! timers) and its link to the parent. It feeds the router events with `now`
//! and carries out the actions it returns, in order: an advertisement goes
//! out before any netlink work. Transitions and status go to the parent,
//! which runs notify scripts and serves status.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tracing::{debug, error, info, trace, warn};

use super::accept;
use super::arp_watch::ArpHeard;
use super::deadlines::Deadlines;
use super::debounce::{self, Debounce};
use super::dupes::Duplicates;
use super::fsm::{Action, State};
use super::netlink::Netlink;
use super::owned::{self, Fix, Owned};
use super::pace::Pacer;
use super::reload::{carried_over, resumable};
use super::router::{Input, Output, Router, SetupError};
use super::setup::{DriverError, HostIo, InstanceIo, Received, io_err};
use super::socket;
use super::timer::Timer;
use crate::config::model::Config;
use crate::ipc::link::{Link, WorkerError, unexpected};
use crate::ipc::msg::{Resume, Role, Transition};
use crate::ipc::{IpcError, Msg};

mod duplicates;
mod links;
mod maintenance;
mod status;

use duplicates::report;

impl From<DriverError> for WorkerError {
    fn from(e: DriverError) -> Self {
        match e {
            DriverError::NoInterface { .. }
            | DriverError::Setup(SetupError::NoSourceAddress { .. }) => {
                WorkerError::Config(e.to_string())
            }
            other => WorkerError::Other(other.to_string()),
        }
    }
}

/// A gratuitous ARP / NA to send: the address and the MAC it is at.
type Announcement = (IpAddr, [u8; 6]);

struct Driver {
    host: HostIo,
    /// Where each address the instances hold lives (interface index), for
    /// the current configuration and the one before it (whose addresses a
    /// reload may remove).
    placed: HashMap<IpAddr, u32>,
    cfg: Config,
    router: Router,
    ios: Vec<InstanceIo>,
    /// The watched interfaces' link states, and the delays before a change
    /// counts (`interface_up_down_delays`).
    links: Debounce,
    /// The last result of every tracked check, replayed to new instances.
    checks: BTreeMap<String, bool>,
    /// The last number of every tracked file, replayed likewise.
    values: BTreeMap<String, i64>,
    /// Transitions for the parent, sent in order after each event.
    outbox: Vec<Msg>,
    dirty: bool,
    /// The pending status is the periodic report of counters alone.
    counters_only: bool,
    /// A duplicate VIP appeared or cleared since the last status: it goes
    /// within a second, whatever the counters' period.
    dupes_news: bool,
    /// Gratuitous ARPs / NAs waiting for their interface's interval:
    /// (interface index, IPv6) → the line of (address, MAC).
    pacers: HashMap<(u32, bool), Pacer<Announcement>>,
    /// Per instance, the Master's addresses the kernel did not have at the
    /// last look (for status: what the kernel really has).
    missing: BTreeMap<usize, Vec<IpAddr>>,
    /// Interfaces the instances use that were deleted since the last
    /// `prepare`: the instances wait (in Fault when they track the
    /// interface) until one of that name is back, then everything is
    /// opened again on it.
    lost: BTreeSet<String>,
    /// Indexes of deleted interfaces: nothing is added or removed there.
    gone: HashSet<u32>,
    /// Per instance name, the hosts that claim its VIPs while it is Master.
    dupes: HashMap<String, Duplicates>,
    /// Their deadlines (probe, clear), by instance number.
    dupes_due: Deadlines<usize>,
    /// The instances the parent says are in maintenance (by name, so that
    /// a reload's new instances get it too).
    maintenance: BTreeSet<String>,
}

/// A round of the loop (or a wake-up) this late is logged: a Backup takes
/// over after 3 advert intervals and a bit (300 ms and more at 0.1 s).
const STALL: Duration = Duration::from_millis(50);

/// How often the counters alone (adverts sent and received, drops) go to
/// the parent: 5 ms per instance, between 1 and 5 s (every second up to 200
/// instances, every 5 s from 1,000). Each report names every instance and
/// the parent rewrites status.json for it: at 1,000 instances and advert_int
/// 1 s a report every second was half of the Backup's CPU (perf, issue 18),
/// 2.6 times keepalived's per advert, which reports nothing. A change of
/// state or priority still goes at once.
fn counters_every(instances: usize) -> Duration {
    let per_instance = Duration::from_millis(5);
    per_instance
        .saturating_mul(u32::try_from(instances).unwrap_or(u32::MAX))
        .clamp(Duration::from_secs(1), Duration::from_secs(5))
}

/// At most this many queued packets are handled in one round of the loop.
const PACKET_BATCH: usize = 64;

/// At most this many queued netlink events are taken at once (one look at
/// the kernel's addresses serves them all).
const NET_EVENT_BATCH: usize = 1024;

/// Runs VRRP for `cfg` until the parent says stop (or goes away).
pub async fn run(
    cfg: Config,
    generation: u64,
    resume: Resume,
    link: &mut Link,
) -> Result<(), WorkerError> {
    let nl = Netlink::connect().map_err(DriverError::from)?;
    let mut net_events = Netlink::events().map_err(DriverError::from)?;
    let (tx, mut rx) = mpsc::channel::<Received>(1024);
    let (arp_tx, mut arp_rx) = mpsc::channel::<ArpHeard>(256);
    let mut host = HostIo::new(nl, tx, arp_tx);
    let (router, ios) = host.prepare(&cfg).await?;
    let links = Debounce::new(debounce::delays(&cfg));
    let mut d = Driver {
        placed: placed(&ios, HashMap::new()),
        host,
        cfg,
        router,
        links,
        ios,
        checks: resume.tracks.clone(),
        values: resume.values.clone(),
        outbox: Vec::new(),
        dirty: true,
        counters_only: false,
        dupes_news: false,
        pacers: HashMap::new(),
        missing: BTreeMap::new(),
        lost: BTreeSet::new(),
        gone: HashSet::new(),
        dupes: HashMap::new(),
        dupes_due: Deadlines::default(),
        maintenance: resume.maintenance.clone(),
    };
    // An instance in maintenance is Backup, even if it was Master.
    let mut resumed = resumable(&d.cfg, &resume);
    resumed.retain(|&k| {
        d.ios
            .get(k)
            .is_some_and(|io| !d.maintenance.contains(&io.name))
    });
    d.start(&resumed).await;
    info!(
        instances = d.ios.len(),
        resumed = resumed.len(),
        "VRRP running"
    );
    link.ready(generation).await?;
    d.flush(link).await?;

    let mut sigterm = signal(SignalKind::terminate()).map_err(io_err("SIGTERM handler"))?;
    let timer = Timer::new().map_err(io_err("creating the timer"))?;
    let mut status_at = Instant::now();
    let ended = loop {
        timer
            .arm(d.next_deadline())
            .map_err(io_err("arming the timer"))?;
        // What this round did, for the warning when it took long.
        let what: &str;
        let began: Instant;
        tokio::select! {
            biased;
            _ = sigterm.recv() => break Ok(()),
            // Packets before the timer: an advert that arrived before the
            // deadline must be heard before the deadline is acted on.
            Some(r) = rx.recv() => {
                what = "packets";
                began = Instant::now();
                d.packet(r).await;
                // Up to 255 instances on an interface advertise together:
                // what is queued is taken without a round of the loop each.
                for _ in 1..PACKET_BATCH {
                    match rx.try_recv() {
                        Ok(r) => d.packet(r).await,
                        Err(_) => break,
                    }
                }
            }
            fired = timer.fired() => {
                fired.map_err(io_err("waiting for the timer"))?;
                let now = Instant::now();
                (what, began) = ("timer", now);
                if let Some(t) = d.router.next_deadline() {
                    let late = now.saturating_duration_since(t);
                    trace!(late_us = late.as_micros() as u64, "timer");
                    if late >= STALL {
                        warn!(late_ms = late.as_millis() as u64, "the VRRP worker woke late for a deadline (not scheduled?)");
                    }
                }
                if d.router.next_deadline().is_some_and(|t| t <= now) {
                    let out = d.router.handle(now, Input::Timeout);
                    d.execute(out).await;
                }
                d.links_due(now).await;
                d.paced(now);
                d.probe(now);
            }
            Some(h) = arp_rx.recv() => {
                (what, began) = ("arp", Instant::now());
                d.arp(h);
            }
            ev = net_events.recv() => {
                (what, began) = ("netlink events", Instant::now());
                // Without events a removed VIP would stay gone unseen: a
                // restarted worker resumes as Master without a failover.
                let Some(ev) = ev else {
                    break Err(WorkerError::Other("the netlink event stream ended".into()));
                };
                let at = Instant::now();
                let mut evs = vec![ev];
                while evs.len() < NET_EVENT_BATCH {
                    match net_events.try_recv() {
                        Ok(ev) => evs.push(ev),
                        Err(_) => break,
                    }
                }
                d.net_events(evs, at).await;
            }
            m = link.recv() => {
                (what, began) = ("parent", Instant::now());
                match m {
                    Ok(Msg::Track { source, up, value }) => {
                        let input = match value {
                            Some(value) => {
                                d.values.insert(source.clone(), value);
                                Input::Value { source: &source, value }
                            }
                            None => {
                                d.checks.insert(source.clone(), up);
                                Input::Check { source: &source, up }
                            }
                        };
                        let out = d.router.handle(Instant::now(), input);
                        d.execute(out).await;
                    }
                    Ok(Msg::Reload { generation, config }) => match d.reload(*config).await {
                        Ok(()) => {
                            info!(generation, instances = d.ios.len(), "configuration reloaded");
                            link.ready(generation).await?;
                        }
                        Err(e) => {
                            error!(generation, error = %e, "reload not applied; previous configuration kept");
                            link.send(&Msg::ReloadFailed { generation, error: e.to_string() }).await?;
                        }
                    },
                    Ok(Msg::Maintenance { instances }) => {
                        d.maintenance = instances;
                        d.apply_maintenance().await;
                    }
                    Ok(Msg::Handover { instances }) => d.handover(&instances).await,
                    Ok(Msg::Shutdown) | Err(IpcError::Closed) => break Ok(()),
                    // A confused parent link: exit without resigning, so that the
                    // restarted worker resumes as Master without a failover.
                    Ok(other) => break Err(unexpected(Role::Vrrp, &other)),
                    Err(e) => break Err(WorkerError::Ipc(e)),
                }
            }
        }
        // Transitions at once; counters every second to every few
        // seconds (`counters_every`), duplicate VIPs within a second.
        let every = if d.dupes_news {
            Duration::from_secs(1)
        } else {
            counters_every(d.ios.len())
        };
        if status_at.elapsed() >= every && !d.dirty {
            d.dirty = true;
            d.counters_only = true;
        }
        if d.dirty {
            status_at = Instant::now();
        }
        d.flush(link).await?;
        let took = began.elapsed();
        if took >= STALL {
            warn!(
                took_ms = took.as_millis() as u64,
                what, "one round of the VRRP worker took long"
            );
        }
    };
    ended?;
    info!("shutting down");
    let out = d.router.handle(Instant::now(), Input::Shutdown);
    d.execute(out).await;
    // The parent may be gone already: what it cannot hear is lost.
    let _ = d.flush(link).await;
    d.teardown().await;
    Ok(())
}

impl Driver {
    fn next_deadline(&self) -> Option<Instant> {
        self.pacers
            .values()
            .filter_map(Pacer::next_deadline)
            .chain(self.router.next_deadline())
            .chain(self.dupes_due.first())
            .chain(self.links.next_deadline())
            .min()
    }

    /// Sends one gratuitous ARP / NA now, or queues it behind its
    /// interface's interval (`vrrp_garp_interval`, `garp_group`).
    fn announce(&mut self, name: &str, addr: IpAddr, mac: [u8; 6]) {
        let Some(index) = self.placed.get(&addr).copied() else {
            return;
        };
        let spacing = self.host.spacing.get(&index).copied().unwrap_or_default();
        let interval = if addr.is_ipv6() {
            spacing.na
        } else {
            spacing.arp
        };
        let now = Instant::now();
        let pacer = self
            .pacers
            .entry((index, addr.is_ipv6()))
            .or_insert_with(|| Pacer::new(interval));
        let mut go = Vec::new();
        if pacer.interval() != interval {
            // A reload changed it: what waits goes at the new pace.
            let mut fresh = Pacer::new(interval);
            for p in pacer.take_waiting() {
                go.extend(fresh.offer(now, p));
            }
            *pacer = fresh;
        }
        go.extend(pacer.offer(now, (addr, mac)));
        for item in go {
            self.send_announcement(index, item);
        }
        trace!(instance = %name, vip = %addr, "gratuitous ARP/NA");
    }

    fn send_announcement(&self, index: u32, (addr, mac): Announcement) {
        if let Some(a) = self.host.announcers.get(&index)
            && let Err(e) = a.announce(addr, mac, 1)
        {
            warn!(vip = %addr, error = %e, "gratuitous ARP/NA failed");
        }
    }

    /// Sends the waiting announcements whose time has come.
    fn paced(&mut self, now: Instant) {
        let mut due = Vec::new();
        for (&(index, _), p) in &mut self.pacers {
            while let Some(item) = p.due(now) {
                due.push((index, item));
            }
        }
        for (index, item) in due {
            self.send_announcement(index, item);
        }
    }

    async fn start(&mut self, resumed: &[usize]) {
        // A Backup must not hold the VIPs (left over from a crash, for
        // example); a resumed Master keeps them.
        for (k, io) in self.ios.iter().enumerate() {
            if resumed.contains(&k) {
                continue;
            }
            for (index, vip) in &io.vips {
                if let Err(e) = self.host.nl.del_address(*index, vip).await {
                    warn!(instance = %io.name, vip = %vip, error = %e, "removing stale VIP failed");
                }
            }
        }
        self.settle().await;
        self.apply_maintenance().await;
        let now = Instant::now();
        let out = self
            .router
            .handle(now, Input::Resume { instances: resumed });
        self.execute(out).await;
        let out = self.router.handle(now, Input::Startup);
        self.execute(out).await;
    }

    /// Feeds link states and the last check results (for instances that
    /// have not seen them; a repeat is a no-op for the others).
    async fn settle(&mut self) {
        let watched = self.router.watched_interfaces();
        self.links.retain(&watched);
        for ifname in watched {
            let up = self.host.link(&ifname).is_some_and(|l| l.up);
            if self.links.knows(&ifname) {
                // A reload: a change since goes through its delay.
                self.link_state(&ifname, up).await;
            } else {
                self.links.start(&ifname, up, Instant::now());
            }
            let up = self.links.reported(&ifname).unwrap_or(up);
            let out = self.router.handle(
                Instant::now(),
                Input::Link {
                    ifname: &ifname,
                    up,
                },
            );
            self.execute(out).await;
        }
        let values: Vec<(String, i64)> = self.values.iter().map(|(k, v)| (k.clone(), *v)).collect();
        for (source, value) in values {
            let out = self.router.handle(
                Instant::now(),
                Input::Value {
                    source: &source,
                    value,
                },
            );
            self.execute(out).await;
        }
        let checks: Vec<(String, bool)> =
            self.checks.iter().map(|(k, v)| (k.clone(), *v)).collect();
        for (source, up) in checks {
            let out = self.router.handle(
                Instant::now(),
                Input::Check {
                    source: &source,
                    up,
                },
            );
            self.execute(out).await;
        }
    }

    async fn packet(&mut self, r: Received) {
        match &r.packet {
            Ok((meta, payload)) => {
                trace!(interface = %r.ifname, src = %meta.src, queued_us = r.at.elapsed().as_micros() as u64, "packet");
                let out = self.router.handle(
                    r.at,
                    Input::Packet {
                        ifname: &r.ifname,
                        meta: *meta,
                        payload,
                    },
                );
                self.execute(out).await;
            }
            Err(reason) => self.router.count_unmatched(*reason),
        }
    }

    /// Compares the addresses the instances own with the kernel's: a
    /// Master's address removed by someone else goes back (and is
    /// announced); a non-Master's found on its interface goes away.
    async fn audit(&mut self, at: Instant) {
        let present: HashSet<(u32, IpAddr)> = match self.host.nl.addresses().await {
            Ok(a) => a.into_iter().map(|a| (a.index, a.addr)).collect(),
            Err(e) => {
                warn!(error = %e, "reading the kernel's addresses failed");
                return;
            }
        };
        let owned: Vec<Owned<'_>> = self
            .ios
            .iter()
            .enumerate()
            .flat_map(|(k, io)| {
                // A resigned Master keeps its VIPs until the new Master is heard.
                let master = self.router.instance(k).is_some_and(|i| i.holds_vips());
                io.vips.iter().map(move |(index, vip)| Owned {
                    instance: k,
                    index: *index,
                    vip,
                    master,
                })
            })
            .collect();
        let audit = owned::audit(&owned, &present, &self.gone);
        let mut missing = audit.missing;
        for fix in audit.fixes {
            match fix {
                Fix::Restore {
                    instance,
                    index,
                    vip,
                } => {
                    let Some(io) = self.ios.get(instance) else {
                        continue;
                    };
                    let name = io.name.clone();
                    let mac = io.mac;
                    if let Err(e) = self.host.nl.add_address(index, &vip).await {
                        error!(instance = %name, vip = %vip, ifindex = index, error = %e, "restoring a removed VIP failed");
                        continue;
                    }
                    let repeat = self
                        .router
                        .instance(instance)
                        .map_or(1, |i| i.params().garp.master_repeat.max(1));
                    for _ in 0..repeat {
                        self.announce(&name, vip.addr, mac);
                    }
                    warn!(
                        instance = %name,
                        vip = %vip,
                        ifindex = index,
                        took_us = u64::try_from(at.elapsed().as_micros()).unwrap_or(u64::MAX),
                        "VIP removed by someone else: restored"
                    );
                    self.router.count_fix(instance, false);
                    if let Some(m) = missing.get_mut(&instance) {
                        m.retain(|a| *a != vip.addr);
                    }
                }
                Fix::Remove {
                    instance,
                    index,
                    vip,
                } => {
                    let name = self.ios.get(instance).map(|io| io.name.clone());
                    if let Err(e) = self.host.nl.del_address(index, &vip).await {
                        error!(instance = ?name, vip = %vip, ifindex = index, error = %e, "removing a VIP this node does not hold failed");
                        continue;
                    }
                    warn!(instance = ?name, vip = %vip, ifindex = index, "VIP found on the interface of an instance that is not Master: removed");
                    self.router.count_fix(instance, true);
                }
            }
            self.dirty = true;
        }
        missing.retain(|_, v| !v.is_empty());
        if missing != self.missing {
            self.missing = missing;
            self.dirty = true;
        }
    }

    /// Applies a new configuration: unchanged instances carry on untouched
    /// (a Master adds and announces the addresses the reload added, and
    /// removes those it took away); new instances start; removed (or
    /// re-identified) ones resign.
    async fn reload(&mut self, cfg: Config) -> Result<(), DriverError> {
        let (mut router, ios) = self.host.prepare(&cfg).await?;
        self.links.set_delays(debounce::delays(&cfg));
        let plan = carried_over(&self.cfg, &cfg);
        let mut changed = Vec::new();
        for &(k, j) in &plan {
            changed.extend(router.adopt(k, &mut self.router, j));
        }
        let gone: Vec<usize> = (0..self.ios.len())
            .filter(|j| !plan.iter().any(|(_, o)| o == j))
            .collect();
        if !gone.is_empty() {
            let out = self
                .router
                .handle(Instant::now(), Input::Stop { instances: &gone });
            self.execute(out).await;
        }
        let old_ios = std::mem::replace(&mut self.ios, ios);
        self.placed = placed(&self.ios, placed(&old_ios, HashMap::new()));
        self.router = router;
        self.cfg = cfg;
        for j in gone {
            let Some(io) = old_ios.get(j) else { continue };
            let still_used = self
                .ios
                .iter()
                .any(|n| n.vmac.is_some() && n.vmac == io.vmac);
            if let (Some(index), false) = (io.vmac, still_used)
                && let Err(e) = self.host.nl.delete_link(index).await
            {
                warn!(instance = %io.name, error = %e, "removing the VMAC interface failed");
            }
        }
        // Instance numbers may have changed: the next look says what is missing.
        self.missing.clear();
        // Duplicates are kept by name: forget the instances and VIPs gone.
        self.dupes
            .retain(|name, _| self.ios.iter().any(|io| io.name == *name));
        // Instance numbers may have changed: the deadlines are indexed anew.
        self.dupes_due = Deadlines::default();
        for (k, io) in self.ios.iter().enumerate() {
            if let Some(d) = self.dupes.get_mut(&io.name) {
                let vips: Vec<IpAddr> = io.vips.iter().map(|(_, v)| v.addr).collect();
                for c in d.retain_vips(&vips) {
                    report(&io.name, c, "no longer configured");
                }
                self.dupes_due.set(&k, d.next_deadline());
            }
        }
        self.execute(changed).await;
        self.settle().await;
        self.apply_maintenance().await;
        let out = self.router.handle(Instant::now(), Input::Startup);
        self.execute(out).await;
        self.dirty = true;
        Ok(())
    }

    async fn execute(&mut self, out: Vec<Output>) {
        for Output { instance, action } in out {
            let (Some(io), Some(inst)) = (self.ios.get(instance), self.router.instance(instance))
            else {
                continue;
            };
            let nl = &self.host.nl;
            match action {
                Action::SendAdvert { priority } => {
                    let advert = inst.advert(priority);
                    for dst in &io.dests {
                        let bytes = advert.encode(io.local, *dst, io.checksum);
                        if let Err(e) = socket::send(&io.sender, *dst, io.out_index, &bytes) {
                            warn!(instance = %io.name, dst = %dst, error = %e, "sending advertisement failed");
                        }
                    }
                }
                Action::AddVips(vips) => {
                    // Drop rules first, so that there is no moment of accepting.
                    if io.no_accept {
                        let addrs: Vec<IpAddr> = vips.iter().map(|v| v.addr).collect();
                        if let Err(e) = accept::apply(&accept::elements(true, &addrs)).await {
                            error!(instance = %io.name, error = %e, "no_accept filter not applied");
                        }
                    }
                    for vip in &vips {
                        let Some(index) = self.placed.get(&vip.addr) else {
                            continue;
                        };
                        if let Err(e) = nl.add_address(*index, vip).await {
                            error!(instance = %io.name, vip = %vip, error = %e, "adding VIP failed");
                        }
                    }
                    info!(instance = %io.name, interface = %io.out_ifname, count = vips.len(), "VIPs added");
                }
                Action::RemoveVips(vips) => {
                    for vip in &vips {
                        let Some(index) = self.placed.get(&vip.addr) else {
                            continue;
                        };
                        if let Err(e) = nl.del_address(*index, vip).await {
                            error!(instance = %io.name, vip = %vip, error = %e, "removing VIP failed");
                        }
                    }
                    // Announcements still waiting for addresses no longer held.
                    for p in self.pacers.values_mut() {
                        p.retain(|(a, _)| !vips.iter().any(|v| v.addr == *a));
                    }
                    if io.no_accept {
                        let addrs: Vec<IpAddr> = vips.iter().map(|v| v.addr).collect();
                        if let Err(e) = accept::apply(&accept::elements(false, &addrs)).await {
                            warn!(instance = %io.name, error = %e, "no_accept filter not removed");
                        }
                    }
                    info!(instance = %io.name, count = vips.len(), "VIPs removed");
                }
                Action::Gratuitous { addrs, count } => {
                    // As keepalived: each round announces every address once.
                    let (name, mac) = (io.name.clone(), io.mac);
                    for _ in 0..count {
                        for addr in &addrs {
                            self.announce(&name, *addr, mac);
                        }
                    }
                    debug!(instance = %name, count, "gratuitous ARP/NA sent or queued");
                }
                Action::StateChanged { from, to, cause } => {
                    let watch = self.dupes.entry(io.name.clone()).or_default();
                    if to == State::Master {
                        watch.start(Instant::now());
                    } else {
                        for c in watch.stop() {
                            report(&io.name, c, "no longer Master");
                        }
                    }
                    self.dupes_due.set(&instance, watch.next_deadline());
                    let priority = inst.priority();
                    info!(instance = %io.name, from = %from, to = %to, cause = %cause, priority, "state change");
                    self.outbox.push(Msg::Transition(Transition {
                        instance: io.name.clone(),
                        from,
                        to,
                        cause: cause.to_string(),
                        priority,
                        maintenance: inst.in_maintenance(),
                    }));
                    self.dirty = true;
                }
                Action::PriorityChanged { priority } => {
                    info!(instance = %io.name, priority, "effective priority changed");
                    self.dirty = true;
                }
                Action::AddressMismatch(m) => {
                    let theirs: Vec<String> = m.theirs.iter().map(ToString::to_string).collect();
                    let ours: Vec<String> =
                        inst.params().vips.iter().map(ToString::to_string).collect();
                    warn!(
                        instance = %io.name,
                        peer = %m.from,
                        theirs = %theirs.join(","),
                        ours = %ours.join(","),
                        "the peer advertises another address list (accepted: RFC 5798 §7.1; a rolling change of virtual_ipaddress?)"
                    );
                    self.dirty = true;
                }
                Action::AddressMismatchEnded { from } => {
                    info!(instance = %io.name, peer = %from, "address lists agree again (or the peer is no longer heard)");
                    self.dirty = true;
                }
                Action::WantsMaster | Action::Dropped(_) => {}
            }
        }
    }

    /// Sends queued transitions, then the status when it changed.
    async fn flush(&mut self, link: &Link) -> Result<(), IpcError> {
        for m in std::mem::take(&mut self.outbox) {
            link.send(&m).await?;
        }
        if std::mem::take(&mut self.dirty) {
            self.dupes_news = false;
            let counters = std::mem::take(&mut self.counters_only);
            link.send(&self.status(counters)).await?;
        }
        Ok(())
    }

    async fn teardown(&mut self) {
        let vmacs: BTreeSet<u32> = self.ios.iter().filter_map(|io| io.vmac).collect();
        for index in vmacs {
            if let Err(e) = self.host.nl.delete_link(index).await {
                warn!(ifindex = index, error = %e, "removing the VMAC interface failed");
            }
        }
        if self.host.accept_filter
            && let Err(e) = accept::teardown().await
        {
            warn!(error = %e, "removing the no_accept nftables table failed");
        }
    }
}

/// Where each held address lives: `base` overlaid with `ios`' addresses.
fn placed(ios: &[InstanceIo], mut base: HashMap<IpAddr, u32>) -> HashMap<IpAddr, u32> {
    for io in ios {
        for (index, vip) in &io.vips {
            base.insert(vip.addr, *index);
        }
    }
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_go_every_second_for_a_few_instances_and_less_often_for_many() {
        assert_eq!(counters_every(0), Duration::from_secs(1));
        assert_eq!(counters_every(200), Duration::from_secs(1));
        assert_eq!(counters_every(500), Duration::from_millis(2500));
        assert_eq!(counters_every(1000), Duration::from_secs(5));
        assert_eq!(counters_every(usize::MAX), Duration::from_secs(5));
    }
}
