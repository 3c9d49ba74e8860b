//! SMTP alerts, keepalived's way (its `core/smtp.c`, `vrrp_notify.c`,
//! `check_*.c`, `ipwrapper.c`): which events mail and what the mail says.
//! Sans-IO; `mailer.rs` queues and sends.
//!
//! Rules (keepalived 2.2/2.3):
//! - Nothing is sent without both `smtp_server` and at least one
//!   `notification_email` (addresses a mail client cannot use are dropped
//!   with a warning at load).
//! - A VRRP instance or sync group mails when its `smtp_alert` is on; unset,
//!   it takes `smtp_alert_vrrp`, else `smtp_alert`, else off. A mail goes
//!   out when the state differs from the last one *mailed* for it (so with
//!   `no_email_faults`, MASTER → FAULT → MASTER mails once). The first state
//!   (BACKUP or MASTER at start) mails; STOP at shutdown mails "Stopping".
//!   `no_email_faults`: no mail for FAULT.
//! - Subjects `[ROUTER_ID] VRRP Instance NAME - Entering MASTER state`
//!   (`... BACKUP state`, `... FAULT state`, `Stopping`), and
//!   `[ROUTER_ID] VRRP Group NAME - ...` for sync groups, with keepalived's
//!   bodies (`=> VRRP Instance is now owning VRRP VIPs <=`, ...).
//!   `router_id` defaults to the host name.
//! - A real server mails each up/down change of its health when its
//!   `smtp_alert` is on; unset, `smtp_alert_checker`, else `smtp_alert`,
//!   else **on** (keepalived keeps that default for compatibility): with an
//!   SMTP server and a recipient, every real-server change mails. A change
//!   is a state other than the one recorded, or than the starting one (up,
//!   down with `alpha`), as for `notify_up` / `notify_down`. Subject
//!   `[ROUTER_ID] Realserver [IP]:tcp:PORT of virtual server [VIP]:tcp:PORT
//!   - UP|DOWN`; the body names the check kind as keepalived's checker does
//!   (`=> TCP CHECK succeed on service <=`, ...).
//!   upkeep's checker reports a real server's health, not each checker's:
//!   one mail per change of the server (keepalived with `no_checker_emails`).
//! - A virtual server mails quorum changes when its `smtp_alert` is on
//!   (unset: `smtp_alert_checker`, else `smtp_alert`, else off): subject
//!   `[ROUTER_ID] Virtualserver [VIP]:tcp:PORT - UP|DOWN`, body
//!   `=> Gained quorum Q+H=T <= W <=` / `=> Lost quorum ...` (keepalived's
//!   figures: quorum, hysteresis, threshold, live weight).

use std::collections::HashMap;
use std::net::IpAddr;

use crate::config::model::{CheckKind, Config, Protocol, RealServer, VirtualServer};
use crate::ipc::msg::RealServerState;
use crate::ipvs::table::rs_key;
use crate::supervisor::lvs_notify::{self, Index};
use crate::supervisor::record::{Notification, Record};
use crate::vrrp::fsm::State;

/// One mail: what the rules decided, before addressing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    pub subject: String,
    pub body: String,
}

/// The rules with the little state they keep (the last state mailed per
/// instance and group). Rebuilt at a reload with what it had.
#[derive(Debug, Default)]
pub struct Rules {
    router_id: String,
    last_mailed: HashMap<(&'static str, String), State>,
}

impl Rules {
    /// `host`: the local host name, keepalived's default `router_id`.
    pub fn new(cfg: &Config, host: &str) -> Self {
        Rules {
            router_id: cfg
                .global
                .router_id
                .clone()
                .unwrap_or_else(|| host.to_string()),
            last_mailed: HashMap::new(),
        }
    }

    /// After a reload: the new router_id; what was mailed is kept for the
    /// instances and groups that remain.
    pub fn reconfigure(&mut self, cfg: &Config, host: &str) {
        let last = std::mem::take(&mut self.last_mailed);
        *self = Rules::new(cfg, host);
        self.last_mailed = last
            .into_iter()
            .filter(|((kind, name), _)| match *kind {
                "INSTANCE" => cfg.vrrp_instances.iter().any(|i| &i.name == name),
                _ => cfg.sync_groups.iter().any(|g| &g.name == name),
            })
            .collect();
    }

    /// The mail for an instance's or sync group's notification, if any.
    pub fn vrrp(&mut self, cfg: &Config, n: &Notification) -> Option<Alert> {
        if !vrrp_enabled(cfg, n.kind, &n.name) {
            return None;
        }
        if cfg.global.no_email_faults && n.state == State::Fault {
            return None;
        }
        let key = (n.kind, n.name.clone());
        if self.last_mailed.get(&key) == Some(&n.state) {
            return None;
        }
        self.last_mailed.insert(key, n.state);
        let group = n.kind == "GROUP";
        let (what, body) = vrrp_words(n.state, group);
        let subject = format!(
            "[{}] VRRP {} {} - {what}",
            self.router_id,
            if group { "Group" } else { "Instance" },
            n.name
        );
        Some(Alert {
            subject,
            body: body.to_string(),
        })
    }

    /// The mail for a real server's health report (`before`: what the record
    /// had before it).
    pub fn real_server(
        &self,
        cfg: &Config,
        idx: &Index,
        rs: &RealServerState,
        before: Option<bool>,
    ) -> Option<Alert> {
        if !cfg.global.mails() {
            return None;
        }
        let vs = lvs_notify::find_vs(cfg, idx, &rs.virtual_server)?;
        let r = lvs_notify::find_rs(vs, &rs.real_server)?;
        if before.unwrap_or(!vs.alpha) == rs.up || !cfg.global.real_server_alert(r.more.smtp_alert)
        {
            return None;
        }
        // keepalived's checkers mail for themselves; FILE_CHECK never does.
        if !r.checkers.is_empty() && r.checkers.iter().all(|c| c.kind == CheckKind::FileCheck) {
            return None;
        }
        Some(Alert {
            subject: format!(
                "[{}] Realserver {} of virtual server {} - {}",
                self.router_id,
                real_server_name(vs, r),
                virtual_server_name(vs),
                up_down(rs.up)
            ),
            body: check_body(r, rs.up).to_string(),
        })
    }

    /// The mail for a virtual server's quorum report; `record` gives the
    /// live weight (it has the real servers' health already).
    pub fn quorum(
        &self,
        (cfg, idx): (&Config, &Index),
        vs_key: &str,
        up: bool,
        before: Option<bool>,
        record: &Record,
    ) -> Option<Alert> {
        if !cfg.global.mails() || before.unwrap_or(true) == up {
            return None;
        }
        let vs = lvs_notify::find_vs(cfg, idx, vs_key)?;
        if !cfg.global.virtual_server_alert(vs.smtp_alert) {
            return None;
        }
        // keepalived's threshold: quorum + hysteresis to gain it, quorum -
        // hysteresis to lose it.
        let (q, h) = (i64::from(vs.quorum), i64::from(vs.hysteresis));
        let threshold = if up { q + h } else { q - h };
        Some(Alert {
            subject: format!(
                "[{}] Virtualserver {} - {}",
                self.router_id,
                virtual_server_name(vs),
                up_down(up)
            ),
            body: format!(
                "=> {} {}+{}={threshold} <= {} <=",
                if up { "Gained quorum" } else { "Lost quorum" },
                vs.quorum,
                vs.hysteresis,
                live_weight(vs, vs_key, record)
            ),
        })
    }
}

/// Whether an instance or group mails at all (its `smtp_alert` resolved).
pub fn vrrp_enabled(cfg: &Config, kind: &str, name: &str) -> bool {
    if !cfg.global.mails() {
        return false;
    }
    let own = if kind == "GROUP" {
        match cfg.sync_groups.iter().find(|g| g.name == name) {
            Some(g) => g.smtp_alert,
            None => return false,
        }
    } else {
        match cfg.vrrp_instances.iter().find(|i| i.name == name) {
            Some(i) => i.smtp_alert,
            None => return false,
        }
    };
    cfg.global.vrrp_alert(own)
}

fn vrrp_words(state: State, group: bool) -> (&'static str, &'static str) {
    match (state, group) {
        (State::Master, false) => (
            "Entering MASTER state",
            "=> VRRP Instance is now owning VRRP VIPs <=",
        ),
        (State::Backup, false) => (
            "Entering BACKUP state",
            "=> VRRP Instance is no longer owning VRRP VIPs <=",
        ),
        (State::Fault, false) => (
            "Entering FAULT state",
            "=> VRRP Instance is no longer owning VRRP VIPs <=",
        ),
        (State::Initialize, false) => ("Stopping", "=> VRRP Instance stopping <="),
        (State::Master, true) => (
            "Entering MASTER state",
            "=> All VRRP group instances are now in MASTER state <=",
        ),
        (State::Backup, true) => (
            "Entering BACKUP state",
            "=> All VRRP group instances are now in BACKUP state <=",
        ),
        (State::Fault, true) => (
            "Entering FAULT state",
            "=> All VRRP group instances are now in FAULT state <=",
        ),
        (State::Initialize, true) => (
            "Stopping",
            "=> All VRRP group instances are now stopping <=",
        ),
    }
}

fn up_down(up: bool) -> &'static str {
    if up { "UP" } else { "DOWN" }
}

fn proto(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
    }
}

/// keepalived's `[ADDR]:PROTO:PORT` (`inet_sockaddrtotrio`).
fn trio(ip: IpAddr, p: Protocol, port: u16) -> String {
    format!("[{ip}]:{}:{port}", proto(p))
}

/// keepalived's `FMT_VS`: `[VIP]:tcp:80`, `FWM 1`, `[GROUP]:0`.
fn virtual_server_name(vs: &VirtualServer) -> String {
    match (&vs.group, vs.fwmark, vs.ip) {
        (Some(g), _, _) => format!("[{g}]:{}", vs.port.unwrap_or(0)),
        (None, Some(m), _) => format!("FWM {m}"),
        (None, None, Some(ip)) => trio(ip, vs.protocol, vs.port.unwrap_or(0)),
        (None, None, None) => vs.label(),
    }
}

/// keepalived's `FMT_RS`.
fn real_server_name(vs: &VirtualServer, r: &RealServer) -> String {
    trio(r.ip, vs.protocol, r.port.or(vs.port).unwrap_or(0))
}

/// The body keepalived's checker of that kind writes; a server with checks
/// of several kinds gets the generic one.
fn check_body(r: &RealServer, up: bool) -> &'static str {
    let mut kinds = r.checkers.iter().map(|c| c.kind);
    let kind = match kinds.next() {
        Some(k) if kinds.all(|o| o.is_http() == k.is_http() && (k.is_http() || o == k)) => Some(k),
        _ => None,
    };
    match (kind, up) {
        (Some(CheckKind::TcpCheck), true) => "=> TCP CHECK succeed on service <=",
        (Some(CheckKind::TcpCheck), false) => "=> TCP CHECK failed on service <=",
        (Some(CheckKind::MiscCheck), true) => "=> MISC CHECK succeeded on service <=",
        (Some(CheckKind::MiscCheck), false) => "=> MISC CHECK failed on service <=",
        (Some(CheckKind::PingCheck), true) => "=> ICMP CHECK succeed on service <=",
        (Some(CheckKind::PingCheck), false) => "=> ICMP CHECK failed on service <=",
        (Some(CheckKind::UdpCheck), true) => "=> UDP CHECK succeed on service <=",
        (Some(CheckKind::UdpCheck), false) => "=> UDP CHECK failed on service <=",
        (Some(CheckKind::DnsCheck), true) => "=> DNS_CHECK: succeed on service <=",
        (Some(CheckKind::DnsCheck), false) => "=> DNS_CHECK: failed on service <=",
        // keepalived appends its reason ("=> CHECK failed on service :
        // Bad greeting banner from server ... <="), which the result
        // does not carry here.
        (Some(CheckKind::SmtpCheck), false) => "=> CHECK failed on service <=",
        (Some(CheckKind::HttpGet | CheckKind::SslGet), false) => {
            "=> CHECK failed on service : HTTP/SSL request failed <="
        }
        (_, true) => "=> CHECK succeed on service <=",
        (_, false) => "=> CHECK failed on service <=",
    }
}

/// keepalived's `weigh_live_realservers`: the weights of the real servers
/// up now (as the record has them; a server without checks is up).
fn live_weight(vs: &VirtualServer, vs_key: &str, record: &Record) -> i64 {
    vs.real_servers
        .iter()
        .filter(|r| {
            let k = rs_key(r.ip, r.port.or(vs.port));
            r.checkers.is_empty() || record.real_server_up(vs_key, &k).unwrap_or(!vs.alpha)
        })
        .map(|r| {
            // With a FILE_CHECK's change: keepalived's effective weight.
            let k = rs_key(r.ip, r.port.or(vs.port));
            let delta = record
                .real_server_weights
                .get(vs_key)
                .and_then(|m| m.get(&k))
                .copied()
                .filter(|_| r.checkers.iter().any(|c| c.kind == CheckKind::FileCheck))
                .unwrap_or(0);
            (i64::from(r.weight) + delta).clamp(0, i64::from(i32::MAX))
        })
        .sum()
}

#[cfg(test)]
#[path = "mail_tests.rs"]
mod tests;
