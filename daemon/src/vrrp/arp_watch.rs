//! Reading ARP on the interfaces where VIPs live, for duplicate VIPs
//! (`dupes`): one packet socket per interface, bound to it, with a kernel
//! filter that passes only ARP whose sender claims one of its IPv4 VIPs
//! (so that the worker does not wake for the link's other ARP traffic).

use std::io::Read as _;
use std::net::Ipv4Addr;

use socket2::Socket;
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::dupes;

/// An ARP packet whose sender claims one of the VIPs of an interface.
pub(super) struct ArpHeard {
    pub(super) index: u32,
    pub(super) addr: Ipv4Addr,
    pub(super) mac: [u8; 6],
}

/// Opens the reader for interface `index` and its VIPs `ips`.
pub(super) fn open(
    index: u32,
    ips: &[Ipv4Addr],
    tx: &mpsc::Sender<ArpHeard>,
) -> std::io::Result<tokio::task::AbortHandle> {
    let filter = dupes::sender_filter(ips).unwrap_or_default();
    let s = crate::sys::packet::receiver(dupes::ETH_P_ARP, index, &filter)?;
    let fd = crate::sys::fd::register(s, tokio::io::Interest::READABLE)?;
    Ok(tokio::spawn(arp_loop(fd, index, tx.clone())).abort_handle())
}

/// Reads ARP frames on one interface (the kernel filter passes those from
/// its VIPs) and hands their senders to the driver; when the driver is
/// behind they are dropped (a duplicate answers every probe).
async fn arp_loop(
    fd: AsyncFd<crate::sys::fd::Registered<Socket>>,
    index: u32,
    tx: mpsc::Sender<ArpHeard>,
) {
    let mut buf = [0u8; 64];
    loop {
        let mut guard = match fd.readable().await {
            Ok(g) => g,
            Err(e) => {
                warn!(ifindex = index, error = %e, "ARP socket failed");
                return;
            }
        };
        let read = guard.try_io(|s| {
            let mut r: &Socket = s.get_ref();
            r.read(&mut buf)
        });
        match read {
            Ok(Ok(n)) => {
                let Some((addr, mac)) = buf.get(..n).and_then(dupes::parse_arp) else {
                    continue;
                };
                if let Err(mpsc::error::TrySendError::Closed(_)) =
                    tx.try_send(ArpHeard { index, addr, mac })
                {
                    return;
                }
            }
            Ok(Err(e)) => debug!(ifindex = index, error = %e, "ARP receive error"),
            Err(_would_block) => {}
        }
    }
}
