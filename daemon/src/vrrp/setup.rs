//! Opening what an instance needs on this host: its interface (or VMAC),
//! advert socket, receive sockets and the addresses it owns.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use socket2::Socket;
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

use super::accept;
use super::arp_watch::{self, ArpHeard};
use super::garp::Announcer;
use super::netlink::{AddrInfo, LinkInfo, Netlink, NetlinkError};
use super::pace::Spacing;
use super::packet::{ChecksumMode, DropReason, IpMeta};
use super::router::{Router, SetupError};
use super::socket;
use crate::config::model::{Config, Family, VrrpInstance};
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

pub(super) fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DriverError {
    let what = what.into();
    move |source| DriverError::Io { what, source }
}

/// What the host provides and outlives a reload: netlink, interfaces,
/// VMACs, receive sockets, ARP/NA senders, the no_accept table.
pub(super) struct HostIo {
    pub(super) nl: Netlink,
    links: HashMap<String, LinkInfo>,
    /// Instance name → its VMAC interface.
    vmacs: HashMap<String, LinkInfo>,
    tx: mpsc::Sender<Received>,
    /// Receive sockets by (interface, family), with the index they were
    /// opened on and their read task.
    opened: Vec<Opened>,
    /// Memberships of instances' `mcast_dst_ip` groups, by interface
    /// (name, index).
    members: Vec<(String, u32, IpAddr, Socket)>,
    pub(super) accept_filter: bool,
    pub(super) announcers: HashMap<u32, Announcer>,
    /// Interface index → the spacing of its gratuitous ARPs / NAs (a VMAC
    /// takes its base interface's, as keepalived's IF_BASE_IFP).
    pub(super) spacing: HashMap<u32, Spacing>,
    /// ARP readers for duplicate VIPs (`dupes`): interface index → the
    /// IPv4 VIPs its filter passes, and its read task.
    arp_watch: HashMap<u32, (Vec<Ipv4Addr>, tokio::task::AbortHandle)>,
    arp_tx: mpsc::Sender<ArpHeard>,
    /// Advert sockets by (interface index, source address), shared by the
    /// instances that send from there (as keepalived's one per interface):
    /// the kernel offers every VRRP packet it receives to every raw socket
    /// of the protocol in the namespace, so a socket per instance made each
    /// received advert cost O(instances).
    senders: HashMap<(u32, IpAddr), Arc<Socket>>,
}

/// A receive socket's read task and where it reads.
pub(super) struct Opened {
    ifname: String,
    index: u32,
    family: Family,
    task: tokio::task::AbortHandle,
}

impl HostIo {
    pub(super) fn new(
        nl: Netlink,
        tx: mpsc::Sender<Received>,
        arp_tx: mpsc::Sender<ArpHeard>,
    ) -> Self {
        Self {
            nl,
            links: HashMap::new(),
            vmacs: HashMap::new(),
            tx,
            opened: Vec::new(),
            members: Vec::new(),
            accept_filter: false,
            announcers: HashMap::new(),
            spacing: HashMap::new(),
            arp_watch: HashMap::new(),
            arp_tx,
            senders: HashMap::new(),
        }
    }

    /// Every MAC address of this host's interfaces (and VMACs): ARP from
    /// these is ours, not a duplicate.
    pub(super) fn own_macs(&self) -> Vec<[u8; 6]> {
        self.links
            .values()
            .chain(self.vmacs.values())
            .filter_map(|l| l.mac)
            .collect()
    }

    /// One ARP reader per interface that holds IPv4 VIPs, its kernel
    /// filter passing only ARP from those addresses; opened again when the
    /// set changes. A failure costs the duplicate report, nothing else.
    fn watch_arp(&mut self, ios: &[InstanceIo]) {
        let mut want: BTreeMap<u32, Vec<Ipv4Addr>> = BTreeMap::new();
        for io in ios {
            for (index, vip) in &io.vips {
                if let IpAddr::V4(a) = vip.addr {
                    want.entry(*index).or_default().push(a);
                }
            }
        }
        for ips in want.values_mut() {
            ips.sort_unstable();
            ips.dedup();
        }
        self.arp_watch.retain(|index, (ips, task)| {
            let keep = want.get(index) == Some(ips);
            if !keep {
                task.abort();
            }
            keep
        });
        for (index, ips) in want {
            if self.arp_watch.contains_key(&index) {
                continue;
            }
            match arp_watch::open(index, &ips, &self.arp_tx) {
                Ok(task) => {
                    self.arp_watch.insert(index, (ips, task));
                }
                Err(e) => {
                    warn!(ifindex = index, error = %e, "cannot read ARP on this interface: duplicate VIPs not reported there");
                }
            }
        }
    }

    /// The interfaces the host has now (read at each `prepare`).
    pub(super) fn link(&self, name: &str) -> Option<&LinkInfo> {
        self.links.get(name)
    }

    /// Every interface as of the last `prepare`.
    pub(super) fn links(&self) -> impl Iterator<Item = &LinkInfo> {
        self.links.values()
    }

    /// Everything `cfg` needs, opened; nothing about running instances changes.
    pub(super) async fn prepare(
        &mut self,
        cfg: &Config,
    ) -> Result<(Router, Vec<InstanceIo>), DriverError> {
        self.links = self
            .nl
            .links()
            .await?
            .into_iter()
            .map(|l| (l.name.clone(), l))
            .collect();
        self.forget_replaced();
        // VMACs first: adverts and VIPs of those instances use them.
        for inst in &cfg.vrrp_instances {
            let parent = parent_link(&self.links, inst)?;
            if let Some(v) = &inst.use_vmac {
                let name = v.name.clone().unwrap_or_else(|| vmac_name(cfg, inst));
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
                &mut self.senders,
            )?);
        }
        // The running instances (on a reload) hold theirs until replaced.
        self.senders
            .retain(|_, s| ios.iter().any(|io| Arc::ptr_eq(&io.sender, s)));
        open_receivers(cfg, &self.links, &self.vmacs, &self.tx, &mut self.opened)?;
        self.join_groups(cfg)?;
        if ios.iter().any(|io| io.no_accept) && !self.accept_filter {
            accept::apply(&accept::ruleset()).await?;
            self.accept_filter = true;
            info!(table = accept::TABLE, "nftables rules for no_accept loaded");
        }
        self.add_announcers(&ios);
        self.watch_arp(&ios);
        self.spacing = self
            .links
            .values()
            .map(|l| (l.index, Spacing::for_interface(cfg, &l.name)))
            .collect();
        for inst in &cfg.vrrp_instances {
            if let Some(v) = self.vmacs.get(&inst.name) {
                self.spacing
                    .insert(v.index, Spacing::for_interface(cfg, &inst.interface));
            }
        }
        Ok((router, ios))
    }

    /// Drops what was opened on an interface that is gone or was created
    /// again under its name (another index): `prepare` opens it anew.
    fn forget_replaced(&mut self) {
        let links = &self.links;
        let current = |name: &str, index: u32| links.get(name).is_some_and(|l| l.index == index);
        // A VMAC is re-created by `prepare` when it is gone.
        self.vmacs.retain(|_, v| current(&v.name, v.index));
        let vmacs = &self.vmacs;
        let live = |name: &str, index: u32| {
            current(name, index) || vmacs.values().any(|v| v.name == name && v.index == index)
        };
        self.opened.retain(|o| {
            let keep = live(&o.ifname, o.index);
            if !keep {
                debug!(interface = %o.ifname, family = %o.family, "receive socket closed: interface replaced");
                o.task.abort();
            }
            keep
        });
        self.members
            .retain(|(name, index, _, _)| live(name, *index));
        self.announcers.retain(|index, _| {
            links
                .values()
                .chain(vmacs.values())
                .any(|l| l.index == *index)
        });
    }

    /// Joins each `mcast_dst_ip` on the interface its adverts arrive by.
    fn join_groups(&mut self, cfg: &Config) -> Result<(), DriverError> {
        for inst in &cfg.vrrp_instances {
            let Some(group) = inst.mcast_dst_ip.filter(|_| inst.unicast_peer.is_empty()) else {
                continue;
            };
            let family = inst.family();
            let via_vmac = self.vmacs.get(&inst.name).filter(|_| !inst.vmac_xmit_base);
            let parent = parent_link(&self.links, inst)?;
            let link = via_vmac.unwrap_or(parent);
            if self
                .members
                .iter()
                .any(|(n, _, g, _)| *n == link.name && *g == group)
            {
                continue;
            }
            let s =
                socket::member(family, &link.name, link.index, group).map_err(io_err(format!(
                    "vrrp_instance {}: joining {group} on {}",
                    inst.name, link.name
                )))?;
            info!(instance = %inst.name, interface = %link.name, group = %group, "listening on mcast_dst_ip");
            self.members.push((link.name.clone(), link.index, group, s));
        }
        Ok(())
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

/// The per-instance IO state.
pub(super) struct InstanceIo {
    pub(super) name: String,
    /// The interface adverts leave by and VIPs live on (the VMAC when used).
    pub(super) out_ifname: String,
    pub(super) out_index: u32,
    pub(super) mac: [u8; 6],
    pub(super) local: IpAddr,
    pub(super) dests: Vec<IpAddr>,
    pub(super) sender: Arc<Socket>,
    pub(super) checksum: ChecksumMode,
    /// Every address the instance owns when Master, with its interface index.
    pub(super) vips: Vec<(u32, Vip)>,
    pub(super) vmac: Option<u32>,
    /// The index of the configured interface (the VMAC's parent).
    pub(super) parent: u32,
    /// Accept_Mode off for a non-owner: drop traffic to the VIPs while Master.
    pub(super) no_accept: bool,
}

pub(super) struct Received {
    pub(super) ifname: Arc<str>,
    /// When the read task got it: the protocol's "now" for this packet.
    pub(super) at: Instant,
    pub(super) packet: Result<(IpMeta, Vec<u8>), DropReason>,
}

/// The kernel's receive time as an Instant (now, when there is none or it
/// looks wrong: in the future, or more than a second old).
pub(super) fn kernel_instant(t: Option<std::time::SystemTime>) -> Instant {
    let now = Instant::now();
    let age = t.and_then(|t| std::time::SystemTime::now().duration_since(t).ok());
    match age {
        Some(a) if a < Duration::from_secs(1) => now.checked_sub(a).unwrap_or(now),
        _ => now,
    }
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
pub(super) fn vmac_sysctls(parent: &str, vmac: &str) {
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
/// keepalived's name for a `use_vmac` interface without one:
/// `vmac_prefix` (else `vrrp`), a dot and the VRID, the prefix cut to fit
/// an interface name (15 bytes).
pub(super) fn vmac_name(cfg: &Config, inst: &VrrpInstance) -> String {
    let prefix = cfg.global.vmac_prefix.as_deref().unwrap_or("vrrp");
    let suffix = format!(".{}", inst.virtual_router_id);
    let mut keep = 15usize.saturating_sub(suffix.len()).min(prefix.len());
    while !prefix.is_char_boundary(keep) {
        keep -= 1;
    }
    format!("{}{suffix}", &prefix[..keep])
}

pub(super) fn parent_link<'a>(
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

pub(super) fn primary_address(
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

pub(super) fn instance_io(
    cfg: &Config,
    inst: &VrrpInstance,
    links: &HashMap<String, LinkInfo>,
    vmac: Option<&LinkInfo>,
    local: IpAddr,
    senders: &mut HashMap<(u32, IpAddr), Arc<Socket>>,
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
        vec![inst.mcast_dst_ip.unwrap_or(group)]
    } else {
        inst.unicast_peer.clone()
    };
    let sender = match senders.get(&(xmit.index, local)) {
        Some(s) => Arc::clone(s),
        None => {
            let s =
                socket::sender(family, &xmit.name, xmit.index, local).map_err(io_err(format!(
                    "vrrp_instance {}: advert socket on {} from {local}",
                    inst.name, xmit.name
                )))?;
            let s = Arc::new(s);
            senders.insert((xmit.index, local), Arc::clone(&s));
            s
        }
    };
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
        vmac: vmac.map(|l| l.index),
        parent: parent.index,
        no_accept: !inst.accept && inst.priority != 255,
    })
}

/// One receive socket per (receiving interface, family), each read by its
/// own task. With a VMAC (and no vmac_xmit_base) adverts are received on the
/// VMAC: the peers share its MAC, and Linux hands a multicast frame whose
/// source MAC is a local private macvlan's to that macvlan only. Packets are
/// attributed to the parent interface, where the instance is configured.
pub(super) fn open_receivers(
    cfg: &Config,
    links: &HashMap<String, LinkInfo>,
    vmacs: &HashMap<String, LinkInfo>,
    tx: &mpsc::Sender<Received>,
    opened: &mut Vec<Opened>,
) -> Result<(), DriverError> {
    for inst in &cfg.vrrp_instances {
        let family = inst.family();
        let via_vmac = vmacs.get(&inst.name).filter(|_| !inst.vmac_xmit_base);
        let parent = parent_link(links, inst)?;
        let link = via_vmac.unwrap_or(parent);
        if opened
            .iter()
            .any(|o| o.ifname == link.name && o.family == family)
        {
            continue;
        }
        let group = socket::default_group(
            family,
            cfg.global.vrrp_mcast_group4,
            cfg.global.vrrp_mcast_group6,
        );
        let s = socket::receiver(family, &link.name, link.index, group).map_err(io_err(
            format!("receive socket on {} ({family})", link.name),
        ))?;
        let fd = crate::sys::fd::register(s, tokio::io::Interest::READABLE)
            .map_err(io_err("registering a receive socket"))?;
        let task = tokio::spawn(read_loop(
            fd,
            family,
            Arc::from(parent.name.as_str()),
            tx.clone(),
        ));
        opened.push(Opened {
            ifname: link.name.clone(),
            index: link.index,
            family,
            task: task.abort_handle(),
        });
    }
    Ok(())
}

pub(super) async fn read_loop(
    fd: AsyncFd<crate::sys::fd::Registered<Socket>>,
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
