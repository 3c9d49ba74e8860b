//! Reconcile against the kernel, not against the previous configuration
//! (sans-IO): from the desired table and a dump of what the kernel holds,
//! the smallest list of requests that makes the kernel match. Only services
//! upkeep owns (its configuration's) are touched; a weight change is one
//! SET_DEST, never a delete and add (connections keep flowing).
//!
//! Order: new and changed services, then per service new, changed and
//! removed destinations (a sorry server comes in before the last real
//! servers leave), then services that are no longer wanted.

use std::collections::{BTreeMap, BTreeSet};

use super::genl::{
    Dest, DestEntry, Forward, Request, Service, ServiceEntry, ServiceKey, SyncDaemon, SyncState,
    endpoint,
};

/// Whether the kernel's destination `k` is what `want` asks for.
fn same_dest(want: &Dest, k: &Dest) -> bool {
    let forward = match (&want.forward, &k.forward) {
        // The kernel makes a destination with a local address "local".
        (_, Forward::Local) => true,
        (a, b) => a == b,
    };
    forward && want.weight == k.weight && want.upper == k.upper && want.lower == k.lower
}

fn same_service(want: &Service, k: &Service) -> bool {
    want.scheduler == k.scheduler
        && want.flags == k.flags
        && want.timeout == k.timeout
        && want.netmask == k.netmask
        && want.pe == k.pe
}

/// The requests that turn `kernel` into `desired` for the services in
/// `owned` (desired services are owned by definition).
pub fn plan(
    desired: &[(Service, Vec<Dest>)],
    kernel: &[(ServiceEntry, Vec<DestEntry>)],
    owned: &BTreeSet<ServiceKey>,
) -> Vec<Request> {
    let have: BTreeMap<ServiceKey, (&Service, &[DestEntry])> = kernel
        .iter()
        .map(|(s, d)| (s.service.key, (&s.service, d.as_slice())))
        .collect();
    let mut services = Vec::new();
    let mut dests = Vec::new();
    for (want, wdests) in desired {
        let (khave, kdests): (Option<&Service>, &[DestEntry]) = match have.get(&want.key) {
            Some((s, d)) => (Some(*s), d),
            None => (None, &[]),
        };
        match khave {
            None => services.push(Request::NewService(want.clone())),
            Some(k) if !same_service(want, k) => services.push(Request::SetService(want.clone())),
            Some(_) => {}
        }
        let kmap: BTreeMap<(std::net::IpAddr, u16), &Dest> = kdests
            .iter()
            .map(|e| ((e.dest.addr, e.dest.port), &e.dest))
            .collect();
        let wkeys: BTreeSet<(std::net::IpAddr, u16)> =
            wdests.iter().map(|d| (d.addr, d.port)).collect();
        for d in wdests {
            match kmap.get(&(d.addr, d.port)) {
                None => dests.push(Request::NewDest(want.key, *d)),
                Some(k) if !same_dest(d, k) => dests.push(Request::SetDest(want.key, *d)),
                Some(_) => {}
            }
        }
        for e in kdests {
            if !wkeys.contains(&(e.dest.addr, e.dest.port)) {
                dests.push(Request::DelDest(want.key, e.dest.addr, e.dest.port));
            }
        }
    }
    let wanted: BTreeSet<ServiceKey> = desired.iter().map(|(s, _)| s.key).collect();
    let gone = kernel
        .iter()
        .map(|(s, _)| s.service.key)
        .filter(|k| owned.contains(k) && !wanted.contains(k))
        .map(Request::DelService);
    services.into_iter().chain(dests).chain(gone).collect()
}

/// `kernel` after `r` was applied (so that a reconcile need not dump the
/// table again to know it): services and destinations as asked, the
/// connection counters of a changed destination kept.
pub fn patch(kernel: &mut Vec<(ServiceEntry, Vec<DestEntry>)>, r: &Request) {
    let find = |k: &mut Vec<(ServiceEntry, Vec<DestEntry>)>, key: &ServiceKey| {
        k.iter().position(|(s, _)| s.service.key == *key)
    };
    match r {
        Request::NewService(s) | Request::SetService(s) => match find(kernel, &s.key) {
            Some(i) => {
                if let Some((e, _)) = kernel.get_mut(i) {
                    e.service = s.clone();
                }
            }
            None => kernel.push((ServiceEntry { service: s.clone() }, Vec::new())),
        },
        Request::DelService(k) => kernel.retain(|(s, _)| s.service.key != *k),
        Request::NewDest(k, d) | Request::SetDest(k, d) => {
            let Some(dests) = find(kernel, k)
                .and_then(|i| kernel.get_mut(i))
                .map(|x| &mut x.1)
            else {
                return;
            };
            match dests
                .iter_mut()
                .find(|e| (e.dest.addr, e.dest.port) == (d.addr, d.port))
            {
                Some(e) => e.dest = *d,
                None => dests.push(DestEntry {
                    dest: *d,
                    active: 0,
                    inactive: 0,
                    persistent: 0,
                }),
            }
        }
        Request::DelDest(k, a, p) => {
            if let Some((_, dests)) = find(kernel, k).and_then(|i| kernel.get_mut(i)) {
                dests.retain(|e| (e.dest.addr, e.dest.port) != (*a, *p));
            }
        }
        Request::Flush => kernel.clear(),
        _ => {}
    }
}

/// The requests that make the kernel's sync daemons `desired` (only when
/// upkeep manages them: with a configured sync daemon, or one it ran before).
pub fn plan_daemons(desired: &[SyncDaemon], kernel: &[SyncDaemon]) -> Vec<Request> {
    let mut out = Vec::new();
    for state in [SyncState::Master, SyncState::Backup] {
        let want = desired.iter().find(|d| d.state == state);
        let have = kernel.iter().find(|d| d.state == state);
        match (want, have) {
            (Some(w), Some(h)) if w.satisfied_by(h) => {}
            (Some(w), Some(_)) => {
                out.push(Request::DelDaemon(state));
                out.push(Request::NewDaemon(w.clone()));
            }
            (Some(w), None) => out.push(Request::NewDaemon(w.clone())),
            (None, Some(_)) => out.push(Request::DelDaemon(state)),
            (None, None) => {}
        }
    }
    out
}

/// One line for a log or status: `NEW_DEST 10.0.0.2:80 -> 10.0.0.1:80/tcp weight 2`.
pub fn describe(r: &Request) -> String {
    match r {
        Request::NewService(s) | Request::SetService(s) => {
            format!("{} {} {}", r.name(), s.key, s.scheduler)
        }
        Request::NewDest(k, d) | Request::SetDest(k, d) => format!(
            "{} {} -> {k} {} weight {}",
            r.name(),
            endpoint(d.addr, d.port),
            d.forward.name(),
            d.weight
        ),
        Request::DelDest(k, a, p) => format!("{} {} -> {k}", r.name(), endpoint(*a, *p)),
        Request::NewDaemon(d) => format!(
            "{} {} on {} id {}",
            r.name(),
            d.state.name(),
            d.interface,
            d.sync_id
        ),
        Request::DelDaemon(s) => format!("{} {}", r.name(), s.name()),
        other => format!("{} {}", other.name(), other.target()),
    }
}

#[cfg(test)]
#[path = "reconcile_tests.rs"]
mod tests;
