//! Our adapter over rtnetlink (pinned at 0.24.0): links, addresses, link
//! events and macvlan. Nothing else in upkeep names an rtnetlink type, so an
//! upgrade touches this file only.

use std::net::IpAddr;

use futures::StreamExt;
use futures::channel::mpsc::UnboundedReceiver;
use rtnetlink::constants::{RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR, RTMGRP_LINK};
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage, AddressScope};
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkMessage, MacVlanMode};
use rtnetlink::sys::{AsyncSocket, SocketAddr};
use tokio::sync::mpsc;

use crate::config::values::Vip;

#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("netlink socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("netlink: {0}")]
    Request(String),
    #[error("no interface named '{0}'")]
    NoSuchLink(String),
}

impl From<rtnetlink::Error> for NetlinkError {
    fn from(e: rtnetlink::Error) -> Self {
        NetlinkError::Request(e.to_string())
    }
}

fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| -c.get()),
        _ => None,
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkInfo {
    pub index: u32,
    pub name: String,
    /// Administratively up and with carrier.
    pub up: bool,
    pub mac: Option<[u8; 6]>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddrInfo {
    pub index: u32,
    pub addr: IpAddr,
}

/// A change the kernel announced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetEvent {
    Link(LinkInfo),
    LinkRemoved {
        index: u32,
        name: String,
    },
    /// Addresses changed on interface `index` (the driver re-reads what
    /// it needs).
    Address {
        index: u32,
    },
    /// The kernel dropped events (the socket's buffer was full): what it
    /// said may be stale, read it again.
    Overrun,
}

#[derive(Clone)]
pub struct Netlink {
    handle: rtnetlink::Handle,
}

fn link_info(m: &LinkMessage) -> LinkInfo {
    let mut name = String::new();
    let mut mac = None;
    for a in &m.attributes {
        match a {
            LinkAttribute::IfName(n) => name = n.clone(),
            LinkAttribute::Address(b) => mac = <[u8; 6]>::try_from(b.as_slice()).ok(),
            _ => {}
        }
    }
    let f = m.header.flags;
    LinkInfo {
        index: m.header.index,
        name,
        up: f.contains(LinkFlags::Up) && f.contains(LinkFlags::Running),
        mac,
    }
}

impl Netlink {
    /// Opens a request connection (its task runs on the current runtime).
    pub fn connect() -> Result<Self, NetlinkError> {
        let (conn, handle, _) = rtnetlink::new_connection()?;
        tokio::spawn(conn);
        Ok(Self { handle })
    }

    /// A second connection subscribed to link and address changes.
    pub fn events() -> Result<mpsc::UnboundedReceiver<NetEvent>, NetlinkError> {
        let (mut conn, _handle, messages) = rtnetlink::new_connection()?;
        let groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
        conn.socket_mut()
            .socket_mut()
            .bind(&SocketAddr::new(0, groups))?;
        tokio::spawn(conn);
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(forward_events(messages, tx));
        Ok(rx)
    }

    pub async fn links(&self) -> Result<Vec<LinkInfo>, NetlinkError> {
        let mut out = Vec::new();
        let mut s = self.handle.link().get().execute();
        while let Some(m) = s.next().await {
            out.push(link_info(&m?));
        }
        Ok(out)
    }

    pub async fn link_by_name(&self, name: &str) -> Result<LinkInfo, NetlinkError> {
        let mut s = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match s.next().await {
            Some(Ok(m)) => Ok(link_info(&m)),
            Some(Err(e)) if errno(&e) == Some(libc::ENODEV) => {
                Err(NetlinkError::NoSuchLink(name.to_string()))
            }
            Some(Err(e)) => Err(e.into()),
            None => Err(NetlinkError::NoSuchLink(name.to_string())),
        }
    }

    pub async fn addresses(&self) -> Result<Vec<AddrInfo>, NetlinkError> {
        let mut out = Vec::new();
        let mut s = self.handle.address().get().execute();
        while let Some(m) = s.next().await {
            let m = m?;
            let addr = m.attributes.iter().find_map(|a| match a {
                AddressAttribute::Address(ip) => Some(*ip),
                _ => None,
            });
            let local = m.attributes.iter().find_map(|a| match a {
                AddressAttribute::Local(ip) => Some(*ip),
                _ => None,
            });
            // For IPv4 point-to-point, IFA_LOCAL is ours; else IFA_ADDRESS.
            if let Some(addr) = local.or(addr) {
                out.push(AddrInfo {
                    index: m.header.index,
                    addr,
                });
            }
        }
        Ok(out)
    }

    fn message(index: u32, vip: &Vip) -> AddressMessage {
        let mut m = AddressMessage::default();
        m.header.family = match vip.addr {
            IpAddr::V4(_) => rtnetlink::packet_route::AddressFamily::Inet,
            IpAddr::V6(_) => rtnetlink::packet_route::AddressFamily::Inet6,
        };
        m.header.index = index;
        m.header.prefix_len = vip.prefix;
        m.header.scope = vip
            .scope
            .map_or(AddressScope::Universe, |s| AddressScope::from(s.number()));
        m.attributes.push(AddressAttribute::Address(vip.addr));
        if vip.addr.is_ipv4() {
            m.attributes.push(AddressAttribute::Local(vip.addr));
        }
        if let Some(b) = vip.brd {
            m.attributes.push(AddressAttribute::Broadcast(b));
        }
        if let Some(l) = &vip.label {
            m.attributes.push(AddressAttribute::Label(l.clone()));
        }
        m
    }

    /// Adds a VIP; already present is success.
    pub async fn add_address(&self, index: u32, vip: &Vip) -> Result<(), NetlinkError> {
        let mut req = self.handle.address().add(index, vip.addr, vip.prefix);
        *req.message_mut() = Self::message(index, vip);
        match req.execute().await {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes a VIP; already absent is success.
    pub async fn del_address(&self, index: u32, vip: &Vip) -> Result<(), NetlinkError> {
        match self
            .handle
            .address()
            .del(Self::message(index, vip))
            .execute()
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if matches!(errno(&e), Some(libc::EADDRNOTAVAIL) | Some(libc::ENODEV)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates (or finds) a macvlan in private mode over `parent` with `mac`, up.
    pub async fn ensure_macvlan(
        &self,
        name: &str,
        parent: u32,
        mac: [u8; 6],
    ) -> Result<LinkInfo, NetlinkError> {
        if let Ok(l) = self.link_by_name(name).await {
            return Ok(l);
        }
        let msg = rtnetlink::LinkMacVlan::new(name, parent, MacVlanMode::Private)
            .address(mac.to_vec())
            .up()
            .build();
        match self.handle.link().add(msg).execute().await {
            Ok(()) => {}
            Err(e) if errno(&e) == Some(libc::EEXIST) => {}
            Err(e) => return Err(e.into()),
        }
        self.link_by_name(name).await
    }

    pub async fn delete_link(&self, index: u32) -> Result<(), NetlinkError> {
        match self.handle.link().del(index).execute().await {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

async fn forward_events(
    mut messages: UnboundedReceiver<(NetlinkMessage<RouteNetlinkMessage>, SocketAddr)>,
    tx: mpsc::UnboundedSender<NetEvent>,
) {
    while let Some((m, _)) = messages.next().await {
        let ev = match m.payload {
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l)) => {
                NetEvent::Link(link_info(&l))
            }
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(l)) => {
                let i = link_info(&l);
                NetEvent::LinkRemoved {
                    index: i.index,
                    name: i.name,
                }
            }
            NetlinkPayload::InnerMessage(
                RouteNetlinkMessage::NewAddress(a) | RouteNetlinkMessage::DelAddress(a),
            ) => NetEvent::Address {
                index: a.header.index,
            },
            NetlinkPayload::Overrun(_) => NetEvent::Overrun,
            _ => continue,
        };
        if tx.send(ev).is_err() {
            break;
        }
    }
}
