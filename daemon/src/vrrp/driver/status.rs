//! The worker's status report to the parent (`Msg::VrrpStatus`).

use crate::ipc::Msg;
use crate::ipc::msg::{AddressMismatch, DuplicateVip, InstanceStatus};
use crate::vrrp::dupes::{self, Duplicates};
use std::time::{Instant, SystemTime};

use super::Driver;

impl Driver {
    /// `counters`: nothing but counters moved since the last status.
    pub(super) fn status(&self, counters: bool) -> Msg {
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
                    vips_missing: self
                        .missing
                        .get(&k)
                        .into_iter()
                        .flatten()
                        .map(|a| a.to_string())
                        .collect(),
                    addresses_restored: c.addresses_restored,
                    addresses_removed: c.addresses_removed,
                    address_mismatch: inst.address_mismatch().map(|m| AddressMismatch {
                        from: m.from,
                        addrs: m.theirs.clone(),
                    }),
                    address_mismatches: c.address_mismatches,
                    duplicate_vips: self
                        .dupes
                        .get(&io.name)
                        .into_iter()
                        .flat_map(Duplicates::list)
                        .map(|(addr, mac, at)| DuplicateVip {
                            addr,
                            mac: dupes::mac_text(mac),
                            last_seen_ms: millis_since_epoch(at),
                        })
                        .collect(),
                    duplicate_vip_packets: self.dupes.get(&io.name).map_or(0, Duplicates::packets),
                    maintenance: inst.in_maintenance(),
                    handover: inst.handing_over(),
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
            counters,
        }
    }
}

fn millis_since_epoch(at: Instant) -> Option<u64> {
    let age = Instant::now().saturating_duration_since(at);
    let t = SystemTime::now().checked_sub(age)?;
    let d = t.duration_since(SystemTime::UNIX_EPOCH).ok()?;
    u64::try_from(d.as_millis()).ok()
}
