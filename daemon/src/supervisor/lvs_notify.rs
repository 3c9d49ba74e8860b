//! IPVS's scripts, run by the parent (like VRRP's notify scripts): a real
//! server's `notify_up` / `notify_down` when the checker changes its health,
//! a virtual server's `quorum_up` / `quorum_down` when the IPVS worker
//! reports a quorum change, and with `omega` both at stop.
//!
//! Trust: the commands come from the parent's own configuration only. The
//! checker and the IPVS worker name a virtual server and say up or down;
//! a name the configuration does not have runs nothing.

use crate::config::model::{Config, RealServer, Script, VirtualServer};
use crate::config::scripts::{Kind, Plan, Prepared};
use crate::ipc::msg::RealServerState;
use crate::ipvs::table::{rs_key, vs_key};
use crate::supervisor::notify::Notifier;
use crate::supervisor::record::Record;

/// Virtual server key → its index in the configuration (a health report
/// comes for every real server: no key formatting per report).
pub type Index = std::collections::HashMap<String, usize>;

pub fn index(cfg: &Config) -> Index {
    cfg.virtual_servers
        .iter()
        .enumerate()
        .map(|(i, v)| (vs_key(v), i))
        .collect()
}

pub(super) fn find_vs<'a>(cfg: &'a Config, idx: &Index, key: &str) -> Option<&'a VirtualServer> {
    idx.get(key).and_then(|i| cfg.virtual_servers.get(*i))
}

/// The real server `key` names (`ip:port`, as `rs_key` makes it), compared
/// as an address: formatting every server's key to compare strings made
/// each health change cost a hundred formats at 100 real servers a virtual
/// server, most of the parent's CPU in a burst of 10,000 (issue 18).
pub(super) fn find_rs<'a>(vs: &'a VirtualServer, key: &str) -> Option<&'a RealServer> {
    match key.parse::<std::net::SocketAddr>() {
        Ok(want) => vs
            .real_servers
            .iter()
            .find(|r| r.ip == want.ip() && r.port.or(vs.port).unwrap_or(0) == want.port()),
        Err(_) => vs
            .real_servers
            .iter()
            .find(|r| rs_key(r.ip, r.port.or(vs.port)) == key),
    }
}

fn command(plan: &Plan, c: Option<&Script>) -> Vec<Prepared> {
    c.and_then(|c| plan.prepare_script(c, Kind::Notify))
        .into_iter()
        .collect()
}

/// The script for a real server's health report, given what was recorded
/// before (None: nothing yet; the server was then up, or down with `alpha`).
pub fn real_server_commands(
    cfg: &Config,
    plan: &Plan,
    idx: &Index,
    rs: &RealServerState,
    before: Option<bool>,
) -> Vec<Prepared> {
    let Some(vs) = find_vs(cfg, idx, &rs.virtual_server) else {
        return Vec::new();
    };
    let Some(r) = find_rs(vs, &rs.real_server) else {
        return Vec::new();
    };
    if before.unwrap_or(!vs.alpha) == rs.up {
        return Vec::new();
    }
    command(
        plan,
        if rs.up {
            r.more.notify_up.as_deref()
        } else {
            r.more.notify_down.as_deref()
        },
    )
}

/// The script for a quorum report (a virtual server starts with quorum).
pub fn quorum_commands(
    cfg: &Config,
    plan: &Plan,
    idx: &Index,
    vs: &str,
    up: bool,
    before: Option<bool>,
) -> Vec<Prepared> {
    let Some(v) = find_vs(cfg, idx, vs) else {
        return Vec::new();
    };
    if before.unwrap_or(true) == up {
        return Vec::new();
    }
    command(
        plan,
        if up {
            v.quorum_up.as_ref()
        } else {
            v.quorum_down.as_ref()
        },
    )
}

/// At stop, for `omega` virtual servers: notify_down of each live real
/// server, then quorum_down if it had quorum. (queue, commands) pairs.
pub fn omega_commands(cfg: &Config, plan: &Plan, record: &Record) -> Vec<(String, Vec<Prepared>)> {
    let mut out = Vec::new();
    for vs in cfg.virtual_servers.iter().filter(|v| v.omega) {
        let key = vs_key(vs);
        let mut cmds = Vec::new();
        for r in &vs.real_servers {
            let rk = rs_key(r.ip, r.port.or(vs.port));
            // Not reported yet: up unless the virtual server has alpha.
            let up = r.checkers.is_empty() || record.real_server_up(&key, &rk).unwrap_or(!vs.alpha);
            if up {
                cmds.extend(command(plan, r.more.notify_down.as_deref()));
            }
        }
        if record.quorum.get(&key).copied().unwrap_or(true) {
            cmds.extend(command(plan, vs.quorum_down.as_ref()));
        }
        if !cmds.is_empty() {
            out.push((format!("ipvs:{key}"), cmds));
        }
    }
    out
}

/// Queues IPVS's scripts on the parent's notifier (one queue per virtual
/// server: its scripts run in order). Rebuilt with each configuration.
#[derive(Default)]
pub struct IpvsNotify {
    index: Index,
}

impl IpvsNotify {
    pub fn new(cfg: &Config) -> Self {
        IpvsNotify { index: index(cfg) }
    }

    pub fn real_server(
        &self,
        cfg: &Config,
        plan: &Plan,
        rs: &RealServerState,
        before: Option<bool>,
        n: &mut Notifier,
    ) {
        let cmds = real_server_commands(cfg, plan, &self.index, rs, before);
        if !cmds.is_empty() {
            n.commands(&format!("ipvs:{}", rs.virtual_server), cmds);
        }
    }

    pub fn index(&self) -> &Index {
        &self.index
    }

    /// Whether `vs` is a configured virtual server's key.
    pub fn knows(&self, vs: &str) -> bool {
        self.index.contains_key(vs)
    }

    pub fn quorum(
        &self,
        (cfg, plan): (&Config, &Plan),
        vs: &str,
        up: bool,
        before: Option<bool>,
        n: &mut Notifier,
    ) {
        if find_vs(cfg, &self.index, vs).is_none() {
            tracing::warn!(virtual_server = %vs, "quorum report for an unknown virtual server ignored");
            return;
        }
        n.commands(
            &format!("ipvs:{vs}"),
            quorum_commands(cfg, plan, &self.index, vs, up, before),
        );
    }

    pub fn omega(&self, cfg: &Config, plan: &Plan, record: &Record, n: &mut Notifier) {
        for (queue, cmds) in omega_commands(cfg, plan, record) {
            n.commands(&queue, cmds);
        }
    }
}

#[cfg(test)]
#[path = "lvs_notify_tests.rs"]
mod tests;
