//! The VRRP worker: the thin IO layer around [`Router`] (sockets, netlink,
//! timers) and its link to the parent. It feeds the router events with `now`
//! and carries out the actions it returns, in order: an advertisement goes
//! out before any netlink work. Transitions and status go to the parent,
//! which runs notify scripts and serves status.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tracing::{debug, error, info, trace, warn};

use super::accept;
use super::fsm::{Action, State};
use super::garp::Announcer;
use super::netlink::{LinkInfo, NetEvent, Netlink};
use super::router::{Input, Output, Router, SetupError, tracks};
use super::setup::{
    DriverError, InstanceIo, Received, instance_io, io_err, open_receivers, parent_link,
    primary_address, vmac_address, vmac_sysctls,
};
use super::socket;
use super::timer::Timer;
use crate::config::model::{Config, Family, VrrpInstance};
use crate::ipc::link::{Link, WorkerError, unexpected};
use crate::ipc::msg::{InstanceStatus, Resume, Role, Transition};
use crate::ipc::{IpcError, Msg};

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

/// What the host provides and outlives a reload: netlink, interfaces,
/// VMACs, receive sockets, ARP/NA senders, the no_accept table.
struct Host {
    nl: Netlink,
    links: HashMap<String, LinkInfo>,
    /// Instance name → its VMAC interface.
    vmacs: HashMap<String, LinkInfo>,
    tx: mpsc::Sender<Received>,
    opened: Vec<(String, Family)>,
    accept_filter: bool,
    announcers: HashMap<u32, Announcer>,
}

impl Host {
    /// Everything `cfg` needs, opened; nothing about running instances changes.
    async fn prepare(&mut self, cfg: &Config) -> Result<(Router, Vec<InstanceIo>), DriverError> {
        self.links = self
            .nl
            .links()
            .await?
            .into_iter()
            .map(|l| (l.name.clone(), l))
            .collect();
        // VMACs first: adverts and VIPs of those instances use them.
        for inst in &cfg.vrrp_instances {
            let parent = parent_link(&self.links, inst)?;
            if let Some(v) = &inst.use_vmac {
                let name = v
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("vrrp.{}", inst.virtual_router_id));
                let link = self
                    .nl
                    .ensure_macvlan(&name, parent.index, vmac_address(inst))
                    .await?;
                vmac_sysctls(&inst.interface, &name);
                info!(instance = %inst.name, vmac = %name, "virtual MAC interface ready");
                self.vmacs.insert(inst.name.clone(), link);
            }
        }
        let addrs = self.nl.addresses().await?;
        let all_vips: Vec<IpAddr> = cfg
            .vrrp_instances
            .iter()
            .flat_map(|i| {
                i.virtual_ipaddress
                    .iter()
                    .chain(&i.virtual_ipaddress_excluded)
                    .map(|v| v.addr)
            })
            .collect();
        let links = &self.links;
        let primary = |ifname: &str, family: Family| {
            primary_address(links, &addrs, &all_vips, ifname, family)
        };
        let router = Router::from_config(cfg, &primary)?;
        let mut ios = Vec::new();
        for (k, inst) in cfg.vrrp_instances.iter().enumerate() {
            let local = router
                .instance(k)
                .map(|i| i.params().local_addr)
                .ok_or_else(|| DriverError::NoInterface {
                    instance: inst.name.clone(),
                    ifname: inst.interface.clone(),
                })?;
            ios.push(instance_io(
                cfg,
                inst,
                &self.links,
                self.vmacs
                    .get(&inst.name)
                    .filter(|_| inst.use_vmac.is_some()),
                local,
            )?);
        }
        open_receivers(cfg, &self.links, &self.vmacs, &self.tx, &mut self.opened)?;
        if ios.iter().any(|io| io.no_accept) && !self.accept_filter {
            accept::apply(&accept::ruleset()).await?;
            self.accept_filter = true;
            info!(table = accept::TABLE, "nftables rules for no_accept loaded");
        }
        self.add_announcers(&ios);
        Ok((router, ios))
    }

    fn add_announcers(&mut self, ios: &[InstanceIo]) {
        for io in ios {
            for (index, _) in &io.vips {
                if self.announcers.contains_key(index) {
                    continue;
                }
                let name = self
                    .links
                    .values()
                    .chain(self.vmacs.values())
                    .find(|l| l.index == *index)
                    .map(|l| l.name.clone());
                let v6 = ios
                    .iter()
                    .flat_map(|i| &i.vips)
                    .any(|(k, v)| k == index && v.addr.is_ipv6());
                match name.map(|n| Announcer::new(&n, *index, v6)) {
                    Some(Ok(a)) => {
                        self.announcers.insert(*index, a);
                    }
                    Some(Err(e)) => {
                        warn!(ifindex = index, error = %e, "cannot send gratuitous ARP/NA on this interface")
                    }
                    None => {}
                }
            }
        }
    }
}

struct Driver {
    host: Host,
    cfg: Config,
    router: Router,
    ios: Vec<InstanceIo>,
    link_up: HashMap<String, bool>,
    /// The last result of every tracked check, replayed to new instances.
    checks: BTreeMap<String, bool>,
    /// The last number of every tracked file, replayed likewise.
    values: BTreeMap<String, i64>,
    /// Transitions for the parent, sent in order after each event.
    outbox: Vec<Msg>,
    dirty: bool,
}

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
    let mut host = Host {
        nl,
        links: HashMap::new(),
        vmacs: HashMap::new(),
        tx,
        opened: Vec::new(),
        accept_filter: false,
        announcers: HashMap::new(),
    };
    let (router, ios) = host.prepare(&cfg).await?;
    let mut d = Driver {
        host,
        cfg,
        router,
        ios,
        link_up: HashMap::new(),
        checks: resume.tracks.clone(),
        values: resume.values.clone(),
        outbox: Vec::new(),
        dirty: true,
    };
    let resumed = d.resumable(&resume);
    d.start(&resumed).await;
    info!(
        instances = d.ios.len(),
        resumed = resumed.len(),
        "VRRP running"
    );
    link.send(&Msg::Ready { generation }).await?;
    d.flush(link).await?;

    let mut sigterm = signal(SignalKind::terminate()).map_err(io_err("SIGTERM handler"))?;
    let timer = Timer::new().map_err(io_err("creating the timer"))?;
    let mut status_at = Instant::now();
    let ended = loop {
        timer
            .arm(d.router.next_deadline())
            .map_err(io_err("arming the timer"))?;
        tokio::select! {
            biased;
            _ = sigterm.recv() => break Ok(()),
            // Packets before the timer: an advert that arrived before the
            // deadline must be heard before the deadline is acted on.
            Some(r) = rx.recv() => d.packet(r).await,
            fired = timer.fired() => {
                fired.map_err(io_err("waiting for the timer"))?;
                let now = Instant::now();
                if let Some(t) = d.router.next_deadline() {
                    trace!(late_us = now.saturating_duration_since(t).as_micros() as u64, "timer");
                }
                let out = d.router.handle(now, Input::Timeout);
                d.execute(out).await;
            }
            Some(ev) = net_events.recv() => d.net_event(ev).await,
            m = link.recv() => match m {
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
                        link.send(&Msg::Ready { generation }).await?;
                    }
                    Err(e) => {
                        error!(generation, error = %e, "reload not applied; previous configuration kept");
                        link.send(&Msg::ReloadFailed { generation, error: e.to_string() }).await?;
                    }
                },
                Ok(Msg::Shutdown) | Err(IpcError::Closed) => break Ok(()),
                // A confused parent link: exit without resigning, so that the
                // restarted worker resumes as Master without a failover.
                Ok(other) => break Err(unexpected(Role::Vrrp, &other)),
                Err(e) => break Err(WorkerError::Ipc(e)),
            },
        }
        // Transitions at once; counters at most once a second.
        if status_at.elapsed() >= Duration::from_secs(1) {
            d.dirty = true;
        }
        if d.dirty {
            status_at = Instant::now();
        }
        d.flush(link).await?;
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

/// keepalived-compatible identity: what must stay the same for a reload to
/// keep an instance running. Priority, preemption, GARP settings, VIPs and
/// notify scripts may change in place.
fn same_identity(
    old_cfg: &Config,
    old: &VrrpInstance,
    new_cfg: &Config,
    new: &VrrpInstance,
) -> bool {
    let strip = |i: &VrrpInstance| {
        let mut i = i.clone();
        i.virtual_ipaddress.clear();
        i.virtual_ipaddress_excluded.clear();
        i.notify = Default::default();
        i.priority = 0;
        i.preempt = false;
        i.preempt_delay = None;
        i.state = Default::default();
        i.garp_master_delay = None;
        i.garp_master_repeat = None;
        i.garp_master_refresh = None;
        i.garp_master_refresh_repeat = None;
        i.garp_lower_prio_delay = None;
        i.garp_lower_prio_repeat = None;
        i
    };
    let group = |c: &Config, name: &str| {
        c.sync_groups
            .iter()
            .find(|g| g.group.iter().any(|m| m == name))
            .map(|g| (g.name.clone(), g.group.clone()))
    };
    let (og, ng) = (&old_cfg.global, &new_cfg.global);
    strip(old) == strip(new)
        && tracks(old_cfg, old) == tracks(new_cfg, new)
        && group(old_cfg, &old.name) == group(new_cfg, &new.name)
        && old.effective_version(og) == new.effective_version(ng)
        && og.vrrp_mcast_group4 == ng.vrrp_mcast_group4
        && og.vrrp_mcast_group6 == ng.vrrp_mcast_group6
        && og.vrrp_skip_check_adv_addr == ng.vrrp_skip_check_adv_addr
}

fn millis_since_epoch(at: Instant) -> Option<u64> {
    let age = Instant::now().saturating_duration_since(at);
    let t = SystemTime::now().checked_sub(age)?;
    let d = t.duration_since(SystemTime::UNIX_EPOCH).ok()?;
    u64::try_from(d.as_millis()).ok()
}

impl Driver {
    /// Instances to resume as Master: the parent recorded them as Master and
    /// the worker was down for less than two advert intervals, so no peer's
    /// Master_Down_Interval (3 × interval + skew from our last advert) ran out.
    fn resumable(&self, resume: &Resume) -> Vec<usize> {
        let Some(down) = resume.down_ms else {
            return Vec::new();
        };
        self.cfg
            .vrrp_instances
            .iter()
            .enumerate()
            .filter(|(_, i)| {
                resume.states.get(&i.name) == Some(&State::Master)
                    && down < 2 * i.advert_int.as_millis()
            })
            .map(|(k, _)| k)
            .collect()
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
        for ifname in self.router.watched_interfaces() {
            let up = self.host.links.get(&ifname).is_some_and(|l| l.up);
            self.link_up.insert(ifname.clone(), up);
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

    async fn net_event(&mut self, ev: NetEvent) {
        if let NetEvent::Link(l) = ev
            && let Some(prev) = self.link_up.get_mut(&l.name)
            && *prev != l.up
        {
            *prev = l.up;
            info!(interface = %l.name, up = l.up, "link state changed");
            let out = self.router.handle(
                Instant::now(),
                Input::Link {
                    ifname: &l.name,
                    up: l.up,
                },
            );
            self.execute(out).await;
        }
    }

    /// Applies a new configuration: unchanged instances carry on untouched;
    /// changed VIPs are added or removed (with GARP); new instances start;
    /// removed (or re-identified) ones resign.
    async fn reload(&mut self, cfg: Config) -> Result<(), DriverError> {
        let (mut router, ios) = self.host.prepare(&cfg).await?;
        let mut kept = vec![false; self.ios.len()];
        let mut changed = Vec::new();
        let mut vip_moves = Vec::new();
        for (k, inst) in cfg.vrrp_instances.iter().enumerate() {
            let old = self
                .cfg
                .vrrp_instances
                .iter()
                .position(|o| o.name == inst.name)
                .filter(|&j| same_identity(&self.cfg, &self.cfg.vrrp_instances[j], &cfg, inst));
            if let Some(j) = old {
                changed.extend(router.adopt(k, &mut self.router, j));
                kept[j] = true;
                vip_moves.push((k, self.ios[j].vips.clone()));
            }
        }
        let gone: Vec<usize> = (0..kept.len()).filter(|&j| !kept[j]).collect();
        if !gone.is_empty() {
            let out = self
                .router
                .handle(Instant::now(), Input::Stop { instances: &gone });
            self.execute(out).await;
        }
        let old_ios = std::mem::replace(&mut self.ios, ios);
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
        for (k, before) in vip_moves {
            self.move_vips(k, &before).await;
        }
        self.execute(changed).await;
        self.settle().await;
        let out = self.router.handle(Instant::now(), Input::Startup);
        self.execute(out).await;
        self.dirty = true;
        Ok(())
    }

    /// A kept instance's VIP list changed: as Master, add the new ones (and
    /// announce them) and remove the old ones. A Backup holds none.
    async fn move_vips(&mut self, k: usize, before: &[(u32, crate::config::values::Vip)]) {
        let (Some(io), Some(inst)) = (self.ios.get(k), self.router.instance(k)) else {
            return;
        };
        if inst.state() != State::Master {
            return;
        }
        let added: Vec<_> = io
            .vips
            .iter()
            .filter(|v| !before.contains(v))
            .cloned()
            .collect();
        let removed: Vec<_> = before
            .iter()
            .filter(|v| !io.vips.contains(v))
            .cloned()
            .collect();
        if added.is_empty() && removed.is_empty() {
            return;
        }
        if io.no_accept {
            let addrs: Vec<IpAddr> = added.iter().map(|(_, v)| v.addr).collect();
            if let Err(e) = accept::apply(&accept::elements(true, &addrs)).await {
                error!(instance = %io.name, error = %e, "no_accept filter not applied");
            }
        }
        for (index, vip) in &added {
            if let Err(e) = self.host.nl.add_address(*index, vip).await {
                error!(instance = %io.name, vip = %vip, error = %e, "adding VIP failed");
            }
            if let Some(a) = self.host.announcers.get(index)
                && let Err(e) =
                    a.announce(vip.addr, io.mac, inst.params().garp.master_repeat.max(1))
            {
                warn!(instance = %io.name, vip = %vip.addr, error = %e, "gratuitous ARP/NA failed");
            }
        }
        for (index, vip) in &removed {
            if let Err(e) = self.host.nl.del_address(*index, vip).await {
                error!(instance = %io.name, vip = %vip, error = %e, "removing VIP failed");
            }
        }
        if io.no_accept {
            let addrs: Vec<IpAddr> = removed.iter().map(|(_, v)| v.addr).collect();
            if let Err(e) = accept::apply(&accept::elements(false, &addrs)).await {
                warn!(instance = %io.name, error = %e, "no_accept filter not removed");
            }
        }
        info!(instance = %io.name, added = added.len(), removed = removed.len(), "VIPs changed by reload");
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
                Action::AddVips => {
                    // Drop rules first, so that there is no moment of accepting.
                    if io.no_accept {
                        let addrs: Vec<IpAddr> = io.vips.iter().map(|(_, v)| v.addr).collect();
                        if let Err(e) = accept::apply(&accept::elements(true, &addrs)).await {
                            error!(instance = %io.name, error = %e, "no_accept filter not applied");
                        }
                    }
                    for (index, vip) in &io.vips {
                        if let Err(e) = nl.add_address(*index, vip).await {
                            error!(instance = %io.name, vip = %vip, error = %e, "adding VIP failed");
                        }
                    }
                    info!(instance = %io.name, interface = %io.out_ifname, count = io.vips.len(), "VIPs added");
                }
                Action::RemoveVips => {
                    for (index, vip) in &io.vips {
                        if let Err(e) = nl.del_address(*index, vip).await {
                            error!(instance = %io.name, vip = %vip, error = %e, "removing VIP failed");
                        }
                    }
                    if io.no_accept {
                        let addrs: Vec<IpAddr> = io.vips.iter().map(|(_, v)| v.addr).collect();
                        if let Err(e) = accept::apply(&accept::elements(false, &addrs)).await {
                            warn!(instance = %io.name, error = %e, "no_accept filter not removed");
                        }
                    }
                    info!(instance = %io.name, count = io.vips.len(), "VIPs removed");
                }
                Action::Gratuitous { count } => {
                    for (index, vip) in &io.vips {
                        let Some(a) = self.host.announcers.get(index) else {
                            continue;
                        };
                        if let Err(e) = a.announce(vip.addr, io.mac, count) {
                            warn!(instance = %io.name, vip = %vip.addr, error = %e, "gratuitous ARP/NA failed");
                        }
                    }
                    debug!(instance = %io.name, count, "gratuitous ARP/NA sent");
                }
                Action::StateChanged { from, to, cause } => {
                    let priority = inst.priority();
                    info!(instance = %io.name, from = %from, to = %to, cause = %cause, priority, "state change");
                    self.outbox.push(Msg::Transition(Transition {
                        instance: io.name.clone(),
                        from,
                        to,
                        cause: cause.to_string(),
                        priority,
                    }));
                    self.dirty = true;
                }
                Action::PriorityChanged { priority } => {
                    info!(instance = %io.name, priority, "effective priority changed");
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
            link.send(&self.status()).await?;
        }
        Ok(())
    }

    fn status(&self) -> Msg {
        let instances = self
            .ios
            .iter()
            .enumerate()
            .filter_map(|(k, io)| {
                let inst = self.router.instance(k)?;
                let c = self.router.counters(k)?;
                Some(InstanceStatus {
                    name: io.name.clone(),
                    state: inst.state(),
                    priority: inst.priority(),
                    base_priority: inst.params().priority,
                    master: inst.master().map(|m| m.addr),
                    vips: io.vips.iter().map(|(_, v)| v.to_string()).collect(),
                    last_cause: inst.last_transition().map(|(_, c)| c.to_string()),
                    last_transition_ms: inst
                        .last_transition()
                        .and_then(|(t, _)| millis_since_epoch(*t)),
                    adverts_sent: c.adverts_sent,
                    adverts_received: c.adverts_received,
                    transitions: c.transitions,
                    drops: c
                        .drops
                        .iter()
                        .map(|(r, n)| (r.name().to_string(), *n))
                        .collect(),
                })
            })
            .collect();
        let unmatched_drops = self
            .router
            .unmatched_drops()
            .iter()
            .map(|(r, n)| (r.name().to_string(), *n))
            .collect();
        Msg::VrrpStatus {
            instances,
            unmatched_drops,
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(extra: &str, priority: u32, vips: &str) -> Config {
        let text = format!(
            r#"
[[vrrp_instance]]
name = "VI_1"
interface = "eth0"
virtual_router_id = 51
priority = {priority}
virtual_ipaddress = [{vips}]
{extra}
"#
        );
        let l = crate::config::load_str(
            "t.toml",
            &text,
            crate::config::Format::Toml,
            &crate::config::LoadOptions::default(),
        );
        assert!(l.is_ok(), "{:?}", l.diagnostics);
        l.config
    }

    fn same(a: &Config, b: &Config) -> bool {
        same_identity(a, &a.vrrp_instances[0], b, &b.vrrp_instances[0])
    }

    #[test]
    fn reload_keeps_an_instance_whose_identity_is_unchanged() {
        let base = cfg("", 100, r#""10.0.0.1/24""#);
        assert!(same(&base, &base.clone()));
        // In place: priority, preemption, VIPs, notify scripts.
        assert!(same(&base, &cfg("", 90, r#""10.0.0.1/24""#)));
        assert!(same(
            &base,
            &cfg("", 100, r#""10.0.0.1/24", "10.0.0.2/24""#)
        ));
        assert!(same(
            &base,
            &cfg("preempt = false", 100, r#""10.0.0.1/24""#)
        ));
        assert!(same(
            &base,
            &cfg(
                r#"notify = { on_master = "/bin/true" }"#,
                100,
                r#""10.0.0.1/24""#
            )
        ));
        // A new identity: the old instance resigns, the new one starts.
        assert!(!same(
            &base,
            &cfg("advert_int = 2", 100, r#""10.0.0.1/24""#)
        ));
        assert!(!same(&base, &cfg("version = 3", 100, r#""10.0.0.1/24""#)));
        assert!(!same(
            &base,
            &cfg(r#"unicast_peer = ["10.0.0.9"]"#, 100, r#""10.0.0.1/24""#)
        ));
        assert!(!same(
            &base,
            &cfg(r#"track_interface = ["eth1"]"#, 100, r#""10.0.0.1/24""#)
        ));
    }
}
