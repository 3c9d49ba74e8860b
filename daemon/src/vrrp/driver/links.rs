//! Links and interfaces in the driver: netlink link and address events,
//! `interface_up_down_delays` (`debounce` decides when a change counts),
//! interfaces deleted and created again.

use crate::vrrp::debounce::Seen;
use crate::vrrp::netlink::NetEvent;
use crate::vrrp::router::Input;
use std::collections::HashMap;
use std::time::Instant;
use tracing::{debug, info, warn};

use super::Driver;

impl Driver {
    /// Link and address events (a batch of them, taken at `at`): link
    /// states go to the router; a deleted interface an instance uses puts
    /// the instance in Fault (through its link) until one of that name is
    /// back; then the kernel's addresses are compared with what the
    /// instances own.
    pub(super) async fn net_events(&mut self, evs: Vec<NetEvent>, at: Instant) {
        let mut addresses = false;
        let mut relink = false;
        let mut overrun = false;
        for ev in evs {
            match ev {
                NetEvent::Link(l) if self.lost.contains(&l.name) => {
                    // Its sockets are bound to the old interface: it comes
                    // back through `rebind`, not through its link state.
                    relink = true;
                }
                NetEvent::Link(l) => self.link_state(&l.name, l.up).await,
                NetEvent::LinkRemoved { index, name } => {
                    self.gone.insert(index);
                    if self.uses(index) {
                        warn!(interface = %name, ifindex = index, "an interface VRRP uses was deleted; waiting for it to come back");
                        self.lost.insert(name.clone());
                        relink = true;
                    }
                    // Gone is gone: no delay (its sockets are closed).
                    let seen = self.links.force(&name, false, Instant::now());
                    self.link_seen(&name, seen).await;
                }
                // Other interfaces' addresses (containers coming and
                // going) are not worth a look at the kernel's table.
                NetEvent::Address { index } => {
                    addresses |= self.uses(index) || !self.lost.is_empty();
                }
                NetEvent::Overrun => overrun = true,
            }
        }
        if overrun {
            warn!(
                "netlink events were lost (socket buffer full): reading links and addresses again"
            );
            self.resync_links().await;
            relink = true;
            addresses = true;
        }
        if !self.lost.is_empty() && (relink || addresses) {
            self.rebind().await;
        }
        if addresses || relink {
            self.audit(at).await;
        }
        // Indexes are not reused soon: only those the instances name matter.
        let gone: Vec<u32> = self
            .gone
            .iter()
            .copied()
            .filter(|&i| self.uses(i))
            .collect();
        self.gone = gone.into_iter().collect();
    }

    /// What the kernel says of a watched link, through its delay.
    pub(super) async fn link_state(&mut self, name: &str, up: bool) {
        let seen = self.links.observe(name, up, Instant::now());
        self.link_seen(name, seen).await;
    }

    pub(super) async fn link_seen(&mut self, name: &str, seen: Seen) {
        match seen {
            Seen::Nothing => {}
            Seen::Waiting(delay) => {
                // Waiting means the kernel's state differs from the reported one.
                let up = !self.links.reported(name).unwrap_or(true);
                let delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
                info!(interface = %name, up, delay_ms, "link state changed; it counts if it lasts (interface_up_down_delays)");
            }
            Seen::Flap { flaps, lasted } => {
                let lasted_ms = u64::try_from(lasted.as_millis()).unwrap_or(u64::MAX);
                warn!(interface = %name, flaps, lasted_ms, "link flap shorter than its delay: ignored");
            }
            Seen::Changed(up) => self.link_changed(name, up).await,
        }
    }

    pub(super) async fn link_changed(&mut self, name: &str, up: bool) {
        info!(interface = %name, up, "link state changed");
        let out = self
            .router
            .handle(Instant::now(), Input::Link { ifname: name, up });
        self.execute(out).await;
    }

    /// Link changes whose delay ran out.
    pub(super) async fn links_due(&mut self, now: Instant) {
        for (name, up) in self.links.due(now) {
            self.link_changed(&name, up).await;
        }
    }

    /// After lost events: link states read again, and the interfaces the
    /// instances use that are gone or were replaced (another index under
    /// the name) treated as deleted.
    pub(super) async fn resync_links(&mut self) {
        let now: HashMap<String, (u32, bool)> = match self.host.nl.links().await {
            Ok(l) => l.into_iter().map(|l| (l.name, (l.index, l.up))).collect(),
            Err(e) => {
                warn!(error = %e, "reading the links failed");
                return;
            }
        };
        let mut used: Vec<(String, u32)> = self
            .host
            .links()
            .filter(|l| self.uses(l.index))
            .map(|l| (l.name.clone(), l.index))
            .collect();
        used.extend(
            self.ios
                .iter()
                .filter_map(|io| Some((io.out_ifname.clone(), io.vmac?))),
        );
        for (name, index) in used {
            if now.get(&name).map(|(i, _)| *i) != Some(index) {
                warn!(interface = %name, ifindex = index, "an interface VRRP uses is gone; waiting for it to come back");
                self.gone.insert(index);
                self.lost.insert(name);
            }
        }
        let tracked = self.links.followed();
        for name in tracked {
            let up = !self.lost.contains(&name) && now.get(&name).is_some_and(|(_, up)| *up);
            self.link_state(&name, up).await;
        }
    }

    /// Whether an instance sends, receives or keeps addresses on interface `index`.
    pub(super) fn uses(&self, index: u32) -> bool {
        self.ios.iter().any(|io| {
            io.parent == index
                || io.out_index == index
                || io.vmac == Some(index)
                || io.vips.iter().any(|(i, _)| *i == index)
        })
    }

    /// Opens everything again for interfaces that were deleted, once they
    /// (and, for an instance's interface, its address) are back: the same
    /// configuration applied again, so running instances carry on.
    pub(super) async fn rebind(&mut self) {
        let lost = std::mem::take(&mut self.lost);
        match self.reload(self.cfg.clone()).await {
            Ok(()) => {
                info!(interfaces = ?lost, "interfaces back: VRRP resumed on them");
            }
            Err(e) => {
                debug!(interfaces = ?lost, error = %e, "interfaces not back yet");
                self.lost = lost;
            }
        }
    }
}
