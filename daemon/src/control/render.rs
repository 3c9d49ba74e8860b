//! `upkeepctl status` for people: one block per instance, check, virtual
//! server and worker.

use std::fmt::Write;

use super::status::StatusDoc;
use crate::vrrp::fsm::State;

use crate::text::escape_controls as safe;

fn ago(ms: Option<u64>) -> String {
    let Some(ms) = ms else { return "-".into() };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(ms);
    let s = now.saturating_sub(ms) / 1000;
    match s {
        0..120 => format!("{s}s ago"),
        120..7200 => format!("{}m ago", s / 60),
        _ => format!("{}h ago", s / 3600),
    }
}

pub fn text(doc: &StatusDoc) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "upkeepd pid {} config {} (generation {})",
        doc.pid, doc.config, doc.generation
    );
    if let Some(r) = &doc.reload {
        match (&r.ok, &r.error) {
            (true, _) => {
                let _ = writeln!(o, "last reload: ok, {}", ago(Some(r.at_ms)));
            }
            (false, e) => {
                let _ = writeln!(
                    o,
                    "last reload: FAILED {}: {}",
                    ago(Some(r.at_ms)),
                    safe(e.as_deref().unwrap_or(""))
                );
            }
        }
    }
    if !doc.instances.is_empty() {
        let _ = writeln!(o, "\nVRRP instances:");
    }
    for i in &doc.instances {
        let master = i.master.map_or("-".to_string(), |m| m.to_string());
        // Maintenance is shown as a state of its own; a fault stays FAULT.
        let state = match (i.state, i.maintenance, i.handover) {
            (State::Backup, true, _) => "MAINTENANCE",
            (State::Backup, false, true) => "HANDOVER",
            (s, _, _) => s.name(),
        };
        let _ = writeln!(
            o,
            "  {:<16} {:<11} prio {:>3} (base {:>3})  master {}  vips {}",
            i.name,
            state,
            i.priority,
            i.base_priority,
            master,
            i.vips.join(",")
        );
        let _ = writeln!(
            o,
            "  {:<16} last transition {}: {}; adverts sent {} received {}; drops {}",
            "",
            ago(i.last_transition_ms),
            i.last_cause.as_deref().unwrap_or("-"),
            i.adverts_sent,
            i.adverts_received,
            i.drops.values().sum::<u64>()
        );
        if !i.vips_missing.is_empty() || i.addresses_restored + i.addresses_removed > 0 {
            let _ = writeln!(
                o,
                "  {:<16} not in the kernel: {}; addresses restored {} removed {}",
                "",
                if i.vips_missing.is_empty() {
                    "-".to_string()
                } else {
                    i.vips_missing.join(",")
                },
                i.addresses_restored,
                i.addresses_removed
            );
        }
        if let Some(m) = &i.address_mismatch {
            let addrs: Vec<String> = m.addrs.iter().map(ToString::to_string).collect();
            let _ = writeln!(
                o,
                "  {:<16} address list differs: {} advertises {} (mismatches {})",
                "",
                m.from,
                addrs.join(","),
                i.address_mismatches
            );
        }
        for d in &i.duplicate_vips {
            let _ = writeln!(
                o,
                "  {:<16} duplicate VIP: {} also claimed by {} (last {}; packets {})",
                "",
                d.addr,
                safe(&d.mac),
                ago(d.last_seen_ms),
                i.duplicate_vip_packets
            );
        }
    }
    if !doc.checks.is_empty() {
        let _ = writeln!(o, "\nChecks:");
    }
    for c in &doc.checks {
        let latency = c
            .latency_us
            .map_or("-".to_string(), |u| format!("{:.1} ms", u as f64 / 1000.0));
        let _ = writeln!(
            o,
            "  {:<28} {:<7} last {}  latency {}  failures {}",
            safe(&c.source),
            c.state,
            safe(c.last_result.as_deref().unwrap_or("-")),
            latency,
            c.failures
        );
        if !c.metrics.is_empty() {
            let m: Vec<String> = c
                .metrics
                .iter()
                .map(|(n, v)| format!("{}={v}", safe(n)))
                .collect();
            let _ = writeln!(o, "  {:<28} metrics {}", "", m.join(" "));
        }
    }
    if !doc.virtual_servers.is_empty() {
        let _ = writeln!(o, "\nVirtual servers:");
    }
    if let Some(k) = &doc.ipvs {
        let line = match (&k.error, &k.last_reconcile) {
            (Some(e), _) => format!("error: {e}"),
            (None, Some(r)) => format!(
                "last reconcile {} ({}, {} changes, {} us); drift repairs {}",
                ago(Some(r.at_ms)),
                r.cause,
                r.changed,
                r.took_us,
                k.drift_repairs
            ),
            (None, None) => "not reconciled yet".into(),
        };
        let _ = writeln!(o, "  IPVS: {line}");
        if !k.sync_daemons.is_empty() {
            let _ = writeln!(o, "  sync daemons: {}", k.sync_daemons.join(", "));
        }
        if let Some(r) = &k.last_reconcile {
            for c in r.changes.iter().take(10) {
                let _ = writeln!(o, "    changed: {c}");
            }
            for f in &r.failures {
                let _ = writeln!(o, "    REFUSED: {f}");
            }
        }
    }
    for v in &doc.virtual_servers {
        let mut notes = Vec::new();
        if !v.quorum_up {
            notes.push("NO QUORUM".to_string());
        }
        if v.suspended {
            notes.push("suspended (ha_suspend)".to_string());
        }
        if doc.ipvs.is_some() && !v.services.is_empty() {
            notes.push(format!("in kernel {}/{}", v.in_kernel, v.services.len()));
        }
        let _ = writeln!(o, "  {} ({}) {}", v.key, v.scheduler, notes.join(", "));
        for r in &v.real_servers {
            let w = |x: Option<u32>| x.map_or("-".to_string(), |w| w.to_string());
            let _ = writeln!(
                o,
                "    {:<24} weight {:>4}  {:<5} desired {:>4} kernel {:>4}  conns {}/{}{}",
                r.address,
                r.weight,
                if r.up { "up" } else { "DOWN" },
                w(r.desired_weight),
                w(r.kernel_weight),
                r.active_conns,
                r.inactive_conns,
                if r.sorry { "  (sorry server)" } else { "" }
            );
        }
    }
    if !doc.scripts.is_empty() {
        let _ = writeln!(o, "\nScripts:");
    }
    for sc in &doc.scripts {
        let user = match (&sc.user, sc.uid, sc.gid) {
            (Some(u), Some(uid), Some(gid)) => format!("{} ({uid}:{gid})", safe(u)),
            _ => "UNKNOWN ACCOUNT (not run)".into(),
        };
        let _ = writeln!(
            o,
            "  {:<28} {:<12} as {:<24} in {:<7} {}",
            safe(&sc.owner),
            safe(&sc.keyword),
            user,
            safe(&sc.runs_in),
            safe(&sc.command)
        );
    }
    let _ = writeln!(o, "\nWorkers:");
    for w in &doc.workers {
        let _ = writeln!(
            o,
            "  {:<8} {:<10} pid {:<8} restarts {}{}{}",
            w.role,
            w.state,
            w.pid.map_or("-".to_string(), |p| p.to_string()),
            w.restarts,
            if w.violations > 0 {
                format!("  protocol violations {}", w.violations)
            } else {
                String::new()
            },
            w.last_exit
                .as_ref()
                .map_or(String::new(), |e| format!("  last exit: {e}"))
        );
    }
    o
}
