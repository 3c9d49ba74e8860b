//! The thin IO layer around [`Router`]: sockets, netlink, timers, signals.
//! It feeds the router events with `now` and carries out the actions it
//! returns, in order: an advertisement goes out before any netlink work.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use socket2::Socket;
use tokio::io::unix::AsyncFd;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tracing::{debug, error, info, trace, warn};

use super::accept;
use super::fsm::{Action, State};
use super::garp::Announcer;
use super::netlink::{AddrInfo, LinkInfo, NetEvent, Netlink, NetlinkError};
use super::notify::{Notifier, SCRIPT_TIMEOUT};
use super::packet::{ChecksumMode, DropReason, IpMeta};
use super::router::{Input, Output, Router, SetupError};
use super::socket;
use super::timer::Timer;
use crate::config::model::{Config, Family, Notify, VrrpInstance};
use crate::config::values::Vip;

#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error("accept mode: {0}")]
    Accept(#[from] accept::NftError),
    #[error("vrrp_instance {instance}: interface '{ifname}' does not exist")]
    NoInterface { instance: String, ifname: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DriverError {
    let what = what.into();
    move |source| DriverError::Io { what, source }
}

#[derive(Clone, Debug)]
pub struct DriverOptions {
    /// Holds the pid file and `status.json`.
    pub runtime_dir: PathBuf,
}

/// The per-instance IO state.
struct InstanceIo {
    name: String,
    /// The interface adverts leave by and VIPs live on (the VMAC when used).
    out_ifname: String,
    out_index: u32,
    mac: [u8; 6],
    local: IpAddr,
    dests: Vec<IpAddr>,
    sender: Socket,
    checksum: ChecksumMode,
    /// Every address the instance owns when Master, with its interface index.
    vips: Vec<(u32, Vip)>,
    notify: Notify,
    vmac: Option<u32>,
    /// Accept_Mode off for a non-owner: drop traffic to the VIPs while Master.
    no_accept: bool,
}

struct Received {
    ifname: Arc<str>,
    /// When the read task got it: the protocol's "now" for this packet.
    at: Instant,
    packet: Result<(IpMeta, Vec<u8>), DropReason>,
}

/// A sync group's own notify scripts: run when every member has reached the
/// same state (keepalived's TYPE `GROUP`).
struct GroupNotify {
    name: String,
    members: Vec<usize>,
    notify: Notify,
    last: Option<State>,
}

fn group_notifies(cfg: &Config) -> Vec<GroupNotify> {
    cfg.sync_groups
        .iter()
        .filter(|g| !g.notify.is_empty())
        .map(|g| GroupNotify {
            name: g.name.clone(),
            members: g
                .group
                .iter()
                .filter_map(|m| cfg.vrrp_instances.iter().position(|i| &i.name == m))
                .collect(),
            notify: g.notify.clone(),
            last: None,
        })
        .collect()
}

fn notify_groups(router: &Router, groups: &mut [GroupNotify], notifier: &mut Notifier) {
    for g in groups {
        let mut states = g
            .members
            .iter()
            .filter_map(|&m| router.instance(m).map(|i| i.state()));
        let Some(first) = states.next() else { continue };
        let settled = states.all(|s| s == first);
        let before_start = g.last.is_none() && first == State::Initialize;
        if settled && !before_start && g.last != Some(first) {
            g.last = Some(first);
            notifier.transition("GROUP", &g.name, &g.notify, first, 0);
        }
    }
}

/// One instance in `status.json` (read by tests and the demo).
#[derive(Serialize)]
struct StatusEntry<'a> {
    name: &'a str,
    state: &'static str,
    priority: u8,
    base_priority: u8,
    master: Option<IpAddr>,
    vips: Vec<String>,
    last_cause: Option<String>,
    adverts_sent: u64,
    adverts_received: u64,
    transitions: u64,
    drops: BTreeMap<&'static str, u64>,
}

/// Runs VRRP for `cfg` until SIGTERM / SIGINT.
pub async fn run(cfg: &Config, opts: &DriverOptions) -> Result<(), DriverError> {
    let nl = Netlink::connect()?;
    let mut net_events = Netlink::events()?;
    let links: HashMap<String, LinkInfo> = nl
        .links()
        .await?
        .into_iter()
        .map(|l| (l.name.clone(), l))
        .collect();

    // VMACs first: adverts and VIPs of those instances use them.
    let mut vmacs: HashMap<String, LinkInfo> = HashMap::new();
    for inst in &cfg.vrrp_instances {
        let parent = parent_link(&links, inst)?;
        if let Some(v) = &inst.use_vmac {
            let name = v
                .name
                .clone()
                .unwrap_or_else(|| format!("vrrp.{}", inst.virtual_router_id));
            let mac = vmac_address(inst);
            let link = nl.ensure_macvlan(&name, parent.index, mac).await?;
            vmac_sysctls(&inst.interface, &name);
            info!(instance = %inst.name, vmac = %name, "virtual MAC interface ready");
            vmacs.insert(inst.name.clone(), link);
        }
    }

    let addrs = nl.addresses().await?;
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
    let primary =
        |ifname: &str, family: Family| primary_address(&links, &addrs, &all_vips, ifname, family);
    let mut router = Router::from_config(cfg, &primary)?;

    let (tx, mut rx) = mpsc::channel::<Received>(1024);
    open_receivers(cfg, &links, &vmacs, tx)?;

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
            &links,
            vmacs.get(&inst.name),
            local,
        )?);
    }
    // Scripts, processes and files are run by the checker (not in this build):
    // say so rather than leave them silently without effect.
    for inst in &cfg.vrrp_instances {
        for (kind, list) in [
            ("track_script", &inst.track_script),
            ("track_process", &inst.track_process),
            ("track_file", &inst.track_file),
        ] {
            for t in list {
                warn!(instance = %inst.name, kind, name = %t.name, "tracked check is not run by this build; it has no effect yet");
            }
        }
    }
    let accept_filter = ios.iter().any(|io| io.no_accept);
    if accept_filter {
        accept::apply(&accept::ruleset())
            .await
            .map_err(DriverError::Accept)?;
        info!(table = accept::TABLE, "nftables rules for no_accept loaded");
    }
    let mut announcers: HashMap<u32, Announcer> = HashMap::new();
    for io in &ios {
        for (index, _) in &io.vips {
            if announcers.contains_key(index) {
                continue;
            }
            let name = links
                .values()
                .chain(vmacs.values())
                .find(|l| l.index == *index)
                .map(|l| l.name.clone());
            let v6 = ios
                .iter()
                .flat_map(|i| &i.vips)
                .any(|(k, v)| k == index && v.addr.is_ipv6());
            match name.map(|n| Announcer::new(&n, *index, v6)) {
                Some(Ok(a)) => {
                    announcers.insert(*index, a);
                }
                Some(Err(e)) => {
                    warn!(ifindex = index, error = %e, "cannot send gratuitous ARP/NA on this interface")
                }
                None => {}
            }
        }
    }

    // A Backup must not hold the VIPs (left over from a crash, for example).
    for io in &ios {
        for (index, vip) in &io.vips {
            if let Err(e) = nl.del_address(*index, vip).await {
                warn!(instance = %io.name, vip = %vip, error = %e, "removing stale VIP failed");
            }
        }
    }

    std::fs::create_dir_all(&opts.runtime_dir)
        .map_err(io_err(format!("creating {}", opts.runtime_dir.display())))?;
    let pid_file = opts.runtime_dir.join("upkeepd.pid");
    std::fs::write(&pid_file, format!("{}\n", std::process::id()))
        .map_err(io_err("writing the pid file"))?;

    let fifos: Vec<PathBuf> = [&cfg.global.notify_fifo, &cfg.global.vrrp_notify_fifo]
        .into_iter()
        .flatten()
        .map(PathBuf::from)
        .collect();
    for f in &fifos {
        ensure_fifo(f);
    }
    let mut notifier = Notifier::new(fifos, SCRIPT_TIMEOUT);
    let mut sigterm = signal(SignalKind::terminate()).map_err(io_err("SIGTERM handler"))?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(io_err("SIGINT handler"))?;
    let mut sighup = signal(SignalKind::hangup()).map_err(io_err("SIGHUP handler"))?;

    let mut link_up: HashMap<String, bool> = HashMap::new();
    for ifname in router.watched_interfaces() {
        let up = links.get(&ifname).is_some_and(|l| l.up);
        link_up.insert(ifname.clone(), up);
        let now = Instant::now();
        let out = router.handle(
            now,
            Input::Link {
                ifname: &ifname,
                up,
            },
        );
        execute(&router, &ios, &announcers, &nl, &mut notifier, out).await;
    }
    let out = router.handle(Instant::now(), Input::Startup);
    execute(&router, &ios, &announcers, &nl, &mut notifier, out).await;
    let mut groups = group_notifies(cfg);
    notify_groups(&router, &mut groups, &mut notifier);
    write_status(&router, &ios, &opts.runtime_dir);
    info!(instances = ios.len(), "VRRP running");

    let timer = Timer::new().map_err(io_err("creating the timer"))?;
    let mut buf_dirty = false;
    let mut status_at = Instant::now();
    loop {
        timer
            .arm(router.next_deadline())
            .map_err(io_err("arming the timer"))?;
        tokio::select! {
            biased;
            _ = sigterm.recv() => break,
            _ = sigint.recv() => break,
            _ = sighup.recv() => warn!("reload is not supported in this build yet; configuration unchanged"),
            // Packets before the timer: an advert that arrived before the
            // deadline must be heard before the deadline is acted on.
            Some(r) = rx.recv() => {
                let now = r.at;
                match &r.packet {
                    Ok((meta, payload)) => {
                        trace!(interface = %r.ifname, src = %meta.src, queued_us = r.at.elapsed().as_micros() as u64, "packet");
                        let out = router.handle(now, Input::Packet { ifname: &r.ifname, meta: *meta, payload });
                        buf_dirty |= changes_status(&out);
                        execute(&router, &ios, &announcers, &nl, &mut notifier, out).await;
                    }
                    Err(reason) => router.count_unmatched(*reason),
                }
            }
            fired = timer.fired() => {
                fired.map_err(io_err("waiting for the timer"))?;
                let now = Instant::now();
                if let Some(d) = router.next_deadline() {
                    trace!(late_us = now.saturating_duration_since(d).as_micros() as u64, "timer");
                }
                let out = router.handle(now, Input::Timeout);
                buf_dirty |= changes_status(&out);
                execute(&router, &ios, &announcers, &nl, &mut notifier, out).await;
            }
            Some(ev) = net_events.recv() => {
                if let NetEvent::Link(l) = ev
                    && let Some(prev) = link_up.get_mut(&l.name)
                        && *prev != l.up {
                            *prev = l.up;
                            info!(interface = %l.name, up = l.up, "link state changed");
                            let out = router.handle(Instant::now(), Input::Link { ifname: &l.name, up: l.up });
                            buf_dirty |= changes_status(&out);
                            execute(&router, &ios, &announcers, &nl, &mut notifier, out).await;
                        }
            }
        }
        if buf_dirty {
            notify_groups(&router, &mut groups, &mut notifier);
        }
        // Transitions at once; counters at most once a second.
        if buf_dirty || status_at.elapsed() >= Duration::from_secs(1) {
            write_status(&router, &ios, &opts.runtime_dir);
            buf_dirty = false;
            status_at = Instant::now();
        }
    }

    info!("shutting down");
    let out = router.handle(Instant::now(), Input::Shutdown);
    execute(&router, &ios, &announcers, &nl, &mut notifier, out).await;
    notify_groups(&router, &mut groups, &mut notifier);
    write_status(&router, &ios, &opts.runtime_dir);
    for io in &ios {
        if let Some(index) = io.vmac
            && let Err(e) = nl.delete_link(index).await
        {
            warn!(instance = %io.name, error = %e, "removing the VMAC interface failed");
        }
    }
    if accept_filter && let Err(e) = accept::teardown().await {
        warn!(error = %e, "removing the no_accept nftables table failed");
    }
    notifier.finish(Duration::from_secs(5)).await;
    let _ = std::fs::remove_file(&pid_file);
    Ok(())
}

/// Creates a notify FIFO that does not exist yet (as keepalived does).
fn ensure_fifo(path: &std::path::Path) {
    use std::os::unix::ffi::OsStrExt;
    if path.exists() {
        return;
    }
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return;
    };
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
        warn!(fifo = %path.display(), error = %std::io::Error::last_os_error(), "cannot create notify fifo");
    }
}

/// The kernel's receive time as an Instant (now, when there is none or it
/// looks wrong: in the future, or more than a second old).
fn kernel_instant(t: Option<std::time::SystemTime>) -> Instant {
    let now = Instant::now();
    let age = t.and_then(|t| std::time::SystemTime::now().duration_since(t).ok());
    match age {
        Some(a) if a < Duration::from_secs(1) => now.checked_sub(a).unwrap_or(now),
        _ => now,
    }
}

fn changes_status(out: &[Output]) -> bool {
    out.iter().any(|o| {
        matches!(
            o.action,
            Action::StateChanged { .. } | Action::PriorityChanged { .. }
        )
    })
}

/// keepalived's default VMAC: 00:00:5e:00:01:VRID (IPv6: 00:00:5e:00:02:VRID).
pub fn vmac_address(inst: &VrrpInstance) -> [u8; 6] {
    let family = if inst.family() == Family::V6 { 2 } else { 1 };
    [
        0x00,
        0x00,
        0x5e,
        0x00,
        family,
        u8::try_from(inst.virtual_router_id).unwrap_or(0),
    ]
}

/// With a VMAC, only the interface holding an address may answer ARP for it
/// (else the parent answers for the VIP with its own MAC).
fn vmac_sysctls(parent: &str, vmac: &str) {
    let set = |path: String, value: &str| {
        if let Err(e) = std::fs::write(&path, value) {
            warn!(sysctl = %path, error = %e, "cannot set sysctl for VMAC");
        }
    };
    for dev in [parent, vmac] {
        set(format!("/proc/sys/net/ipv4/conf/{dev}/arp_ignore"), "1");
        set(format!("/proc/sys/net/ipv4/conf/{dev}/arp_announce"), "2");
    }
    set(format!("/proc/sys/net/ipv6/conf/{vmac}/accept_dad"), "0");
}

/// The interface an instance is configured on.
fn parent_link<'a>(
    links: &'a HashMap<String, LinkInfo>,
    inst: &VrrpInstance,
) -> Result<&'a LinkInfo, DriverError> {
    links
        .get(&inst.interface)
        .ok_or_else(|| DriverError::NoInterface {
            instance: inst.name.clone(),
            ifname: inst.interface.clone(),
        })
}

fn primary_address(
    links: &HashMap<String, LinkInfo>,
    addrs: &[AddrInfo],
    vips: &[IpAddr],
    ifname: &str,
    family: Family,
) -> Option<IpAddr> {
    let index = links.get(ifname)?.index;
    addrs
        .iter()
        .filter(|a| a.index == index && !vips.contains(&a.addr))
        .find(|a| match (family, a.addr) {
            (Family::V4, IpAddr::V4(_)) => true,
            // RFC 5798 §5.1.2.1: IPv6 adverts come from the link-local address.
            (Family::V6, IpAddr::V6(v6)) => socket::is_link_local(&v6),
            _ => false,
        })
        .map(|a| a.addr)
}

fn instance_io(
    cfg: &Config,
    inst: &VrrpInstance,
    links: &HashMap<String, LinkInfo>,
    vmac: Option<&LinkInfo>,
    local: IpAddr,
) -> Result<InstanceIo, DriverError> {
    let parent = parent_link(links, inst)?;
    // vmac_xmit_base: adverts leave by the parent; the VIPs still live on the VMAC.
    let out = vmac.unwrap_or(parent);
    let xmit = if inst.vmac_xmit_base { parent } else { out };
    let family = inst.family();
    let group = socket::default_group(
        family,
        cfg.global.vrrp_mcast_group4,
        cfg.global.vrrp_mcast_group6,
    );
    let dests = if inst.unicast_peer.is_empty() {
        vec![group]
    } else {
        inst.unicast_peer.clone()
    };
    let sender = socket::sender(family, &xmit.name, xmit.index, local).map_err(io_err(format!(
        "vrrp_instance {}: advert socket on {} from {local}",
        inst.name, xmit.name
    )))?;
    let mut vips = Vec::new();
    for v in inst
        .virtual_ipaddress
        .iter()
        .chain(&inst.virtual_ipaddress_excluded)
    {
        let index = match &v.dev {
            Some(dev) => match links.get(dev) {
                Some(l) => l.index,
                None => {
                    return Err(DriverError::NoInterface {
                        instance: inst.name.clone(),
                        ifname: dev.clone(),
                    });
                }
            },
            None => out.index,
        };
        vips.push((index, v.clone()));
    }
    Ok(InstanceIo {
        name: inst.name.clone(),
        out_ifname: out.name.clone(),
        out_index: xmit.index,
        mac: out.mac.unwrap_or([0; 6]),
        local,
        dests,
        sender,
        checksum: if inst.old_unicast_checksum {
            ChecksumMode::NoPseudoHeader
        } else {
            ChecksumMode::Rfc
        },
        vips,
        notify: inst.notify.clone(),
        vmac: vmac.map(|l| l.index),
        no_accept: !inst.accept && inst.priority != 255,
    })
}

/// One receive socket per (receiving interface, family), each read by its
/// own task. With a VMAC (and no vmac_xmit_base) adverts are received on the
/// VMAC: the peers share its MAC, and Linux hands a multicast frame whose
/// source MAC is a local private macvlan's to that macvlan only. Packets are
/// attributed to the parent interface, where the instance is configured.
fn open_receivers(
    cfg: &Config,
    links: &HashMap<String, LinkInfo>,
    vmacs: &HashMap<String, LinkInfo>,
    tx: mpsc::Sender<Received>,
) -> Result<(), DriverError> {
    let mut opened: Vec<(String, Family)> = Vec::new();
    for inst in &cfg.vrrp_instances {
        let family = inst.family();
        let via_vmac = vmacs.get(&inst.name).filter(|_| !inst.vmac_xmit_base);
        let parent = parent_link(links, inst)?;
        let link = via_vmac.unwrap_or(parent);
        if opened.contains(&(link.name.clone(), family)) {
            continue;
        }
        opened.push((link.name.clone(), family));
        let group = socket::default_group(
            family,
            cfg.global.vrrp_mcast_group4,
            cfg.global.vrrp_mcast_group6,
        );
        let s = socket::receiver(family, &link.name, link.index, group).map_err(io_err(
            format!("receive socket on {} ({family})", link.name),
        ))?;
        // SAFETY: `s` is an owned socket2::Socket: its descriptor is valid and
        // stays the same open file until the AsyncFd (which owns it) is dropped.
        let fd = unsafe { AsyncFd::register(s) }
            .map_err(|e| io_err("registering a receive socket")(e.into()))?;
        tokio::spawn(read_loop(
            fd,
            family,
            Arc::from(parent.name.as_str()),
            tx.clone(),
        ));
    }
    Ok(())
}

async fn read_loop(
    fd: AsyncFd<Socket>,
    family: Family,
    ifname: Arc<str>,
    tx: mpsc::Sender<Received>,
) {
    let mut buf = vec![0u8; socket::MAX_PACKET];
    loop {
        let mut guard = match fd.readable().await {
            Ok(g) => g,
            Err(e) => {
                error!(interface = %ifname, error = %e, "receive socket failed");
                return;
            }
        };
        match guard.try_io(|s| socket::recv(s.get_ref(), family, &mut buf)) {
            Ok(Ok(d)) => {
                let at = kernel_instant(d.kernel_time);
                let r = d.packet;
                let packet = r.map(|(meta, range)| (meta, buf.get(range).unwrap_or(&[]).to_vec()));
                if tx
                    .send(Received {
                        ifname: Arc::clone(&ifname),
                        at,
                        packet,
                    })
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Ok(Err(e)) => debug!(interface = %ifname, error = %e, "receive error"),
            Err(_would_block) => {}
        }
    }
}

async fn execute(
    router: &Router,
    ios: &[InstanceIo],
    announcers: &HashMap<u32, Announcer>,
    nl: &Netlink,
    notifier: &mut Notifier,
    out: Vec<Output>,
) {
    for Output { instance, action } in out {
        let (Some(io), Some(inst)) = (ios.get(instance), router.instance(instance)) else {
            continue;
        };
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
                    let Some(a) = announcers.get(index) else {
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
                if to != State::Initialize || from != State::Initialize {
                    notifier.transition("INSTANCE", &io.name, &io.notify, to, priority);
                }
            }
            Action::PriorityChanged { priority } => {
                info!(instance = %io.name, priority, "effective priority changed");
            }
            Action::WantsMaster | Action::Dropped(_) => {}
        }
    }
}

fn write_status(router: &Router, ios: &[InstanceIo], dir: &std::path::Path) {
    let entries: Vec<StatusEntry<'_>> = ios
        .iter()
        .enumerate()
        .filter_map(|(k, io)| {
            let inst = router.instance(k)?;
            let c = router.counters(k)?;
            Some(StatusEntry {
                name: &io.name,
                state: inst.state().name(),
                priority: inst.priority(),
                base_priority: inst.params().priority,
                master: inst.master().map(|m| m.addr),
                vips: io.vips.iter().map(|(_, v)| v.to_string()).collect(),
                last_cause: inst.last_transition().map(|(_, c)| c.to_string()),
                adverts_sent: c.adverts_sent,
                adverts_received: c.adverts_received,
                transitions: c.transitions,
                drops: c.drops.iter().map(|(r, n)| (r.name(), *n)).collect(),
            })
        })
        .collect();
    let unmatched: BTreeMap<&'static str, u64> = router
        .unmatched_drops()
        .iter()
        .map(|(r, n)| (r.name(), *n))
        .collect();
    let doc = serde_json::json!({ "instances": entries, "unmatched_drops": unmatched });
    let Ok(json) = serde_json::to_string_pretty(&doc) else {
        return;
    };
    let tmp = dir.join("status.json.tmp");
    if std::fs::write(&tmp, json)
        .and_then(|()| std::fs::rename(&tmp, dir.join("status.json")))
        .is_err()
    {
        warn!(dir = %dir.display(), "cannot write status.json");
    }
}
