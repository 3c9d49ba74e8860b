//! A worker's message into the parent's state, sans-IO: which role may send
//! what, which checker results are accepted (`sources.rs`), what the record
//! keeps, where results go (`routing.rs`). The parent's loop
//! (`messages.rs`) carries out the effects; `fuzz/parent_msgs` drives this
//! with arbitrary message sequences and checks the invariants.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Instant;

use tracing::warn;

use super::record::{Notification, Record};
use super::routing::{Route, Routing};
use super::sources::Accepted;
use crate::config::model::Config;
use crate::ipc::Msg;
use crate::ipc::msg::{
    InstanceStatus, MAX_ADVERT_ADDRS, MAX_DUPLICATE_MACS, RealServerState, Role,
};

/// What the parent must do after a data message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// The worker broke the protocol: reset it (count, log).
    Violation { role: Role, why: String },
    /// Tell VRRP or run a restart command (see [`Route`]).
    Route(Route),
    /// Run an instance's or sync group's notify scripts.
    Notify(Box<Notification>),
    /// Send IPVS the VRRP states (ha_suspend, sync daemons follow them).
    VrrpStates,
    /// A configured real server changed: its notify scripts, then IPVS.
    RealServer {
        rs: RealServerState,
        before: Option<bool>,
    },
    /// A configured virtual server's quorum: quorum_up / quorum_down.
    Quorum {
        virtual_server: String,
        up: bool,
        before: Option<bool>,
    },
}

/// The parent's state a message may change, borrowed from it.
pub struct Intake<'a> {
    /// The committed configuration.
    pub config: &'a Config,
    /// A reload's configuration while one is in progress (VRRP may run its
    /// instances before the commit).
    pub pending: Option<&'a Config>,
    pub accepted: &'a Accepted,
    pub routing: &'a mut Routing,
    pub record: &'a mut Record,
    /// Whether a virtual server key is configured (quorum reports).
    pub virtual_server: &'a dyn Fn(&str) -> bool,
}

impl Intake<'_> {
    /// A message from `role`. Control messages (Pong, Ready, ReloadFailed)
    /// are the loop's and give nothing here.
    pub fn message(&mut self, role: Role, msg: Msg, now: Instant) -> Vec<Effect> {
        if !allowed(&msg, role) {
            let why = format!("message '{}' is not allowed from this worker", msg.kind());
            return vec![Effect::Violation { role, why }];
        }
        match msg {
            Msg::Transition(t) => {
                let known = |c: &Config| c.vrrp_instances.iter().any(|i| i.name == t.instance);
                if !known(self.config) && !self.pending.is_some_and(known) {
                    // VRRP runs only configured instances: a bug, not an attack.
                    warn!(instance = %t.instance, "transition of an instance not configured; ignored");
                    return Vec::new();
                }
                let mut out: Vec<Effect> = self
                    .record
                    .transition(self.config, &t)
                    .into_iter()
                    .map(|n| Effect::Notify(Box::new(n)))
                    .collect();
                out.push(Effect::VrrpStates);
                out
            }
            Msg::VrrpStatus {
                mut instances,
                unmatched_drops,
                ..
            } => {
                for i in &mut instances {
                    bound_instance(self.config, self.pending, i);
                }
                self.record.instances = instances;
                self.record.unmatched_drops = unmatched_drops;
                Vec::new()
            }
            Msg::CheckState(c) => self.checks(vec![c], now),
            Msg::Checks { checks } => self.checks(checks, now),
            Msg::RealServer(rs) => match self.accepted.real_server(&rs) {
                Ok(true) => {
                    let before = self.record.real_server(&rs);
                    vec![Effect::RealServer { rs, before }]
                }
                Ok(false) => Vec::new(),
                Err(v) => vec![Effect::Violation {
                    role,
                    why: v.to_string(),
                }],
            },
            Msg::IpvsStatus {
                virtual_servers,
                kernel,
            } => {
                self.record.virtual_servers.take(virtual_servers);
                self.record.ipvs = *kernel;
                Vec::new()
            }
            // Only a configured virtual server's change is recorded and
            // acted upon (the worker is not trusted to name one).
            Msg::Quorum { virtual_server, up } if (self.virtual_server)(&virtual_server) => {
                let before = self.record.quorum.insert(virtual_server.clone(), up);
                vec![Effect::Quorum {
                    virtual_server,
                    up,
                    before,
                }]
            }
            _ => Vec::new(),
        }
    }

    /// Results from the checker: each must be one of its configured checks
    /// (see `sources.rs`); the first that is not resets it and the rest of
    /// the batch is dropped.
    fn checks(&mut self, checks: Vec<crate::ipc::msg::CheckStatus>, now: Instant) -> Vec<Effect> {
        let mut out = Vec::new();
        for c in checks {
            match self.accepted.result(c) {
                Ok(Some(c)) => out.extend(
                    self.routing
                        .result(self.record, c, now)
                        .into_iter()
                        .map(Effect::Route),
                ),
                Ok(None) => {}
                Err(v) => {
                    out.push(Effect::Violation {
                        role: Role::Checker,
                        why: v.to_string(),
                    });
                    break;
                }
            }
        }
        out
    }
}

/// Bounds what a VRRP status may make the parent keep (and render, and
/// serve as metrics): a peer's address list at most an advert's 255; the
/// duplicated VIPs only the instance's own addresses, each well-formed, at
/// most [`MAX_DUPLICATE_MACS`] hosts per address.
pub fn bound_instance(config: &Config, pending: Option<&Config>, i: &mut InstanceStatus) {
    if let Some(m) = &mut i.address_mismatch {
        m.addrs.truncate(MAX_ADVERT_ADDRS);
    }
    if i.duplicate_vips.is_empty() {
        return;
    }
    let held: BTreeSet<IpAddr> = [Some(config), pending]
        .into_iter()
        .flatten()
        .flat_map(|c| &c.vrrp_instances)
        .filter(|c| c.name == i.name)
        .flat_map(|c| {
            c.virtual_ipaddress
                .iter()
                .chain(&c.virtual_ipaddress_excluded)
        })
        .map(|v| v.addr)
        .collect();
    let before = i.duplicate_vips.len();
    let mut per_addr: BTreeMap<IpAddr, usize> = BTreeMap::new();
    i.duplicate_vips.retain(|d| {
        if !held.contains(&d.addr) || !is_mac(&d.mac) {
            return false;
        }
        let n = per_addr.entry(d.addr).or_insert(0);
        *n += 1;
        *n <= MAX_DUPLICATE_MACS
    });
    if i.duplicate_vips.len() != before {
        warn!(
            instance = %i.name,
            sent = before,
            kept = i.duplicate_vips.len(),
            "VRRP worker reported duplicates beyond the instance's VIPs; list cut"
        );
    }
}

/// `aa:bb:cc:dd:ee:ff`, lower-case hex.
fn is_mac(s: &str) -> bool {
    s.len() == 17
        && s.split(':').count() == 6
        && s.split(':').all(|o| {
            o.len() == 2
                && o.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

/// What each worker may send the parent; anything else resets it.
pub fn allowed(msg: &Msg, role: Role) -> bool {
    matches!(
        (msg, role),
        (Msg::Ready { .. } | Msg::Pong { .. }, _)
            | (
                Msg::ReloadFailed { .. } | Msg::Transition(_) | Msg::VrrpStatus { .. },
                Role::Vrrp
            )
            | (
                Msg::CheckState(_) | Msg::Checks { .. } | Msg::RealServer(_),
                Role::Checker
            )
            | (Msg::IpvsStatus { .. } | Msg::Quorum { .. }, Role::Ipvs)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A quorum report (which runs quorum_up / quorum_down) comes from the
    /// IPVS worker only; the hostile checker cannot send one, nor
    /// parent-only messages such as VRRP states; only VRRP refuses reloads.
    #[test]
    fn each_worker_may_send_only_its_own_messages() {
        let q = Msg::Quorum {
            virtual_server: "10.0.0.1:80/tcp".into(),
            up: false,
        };
        assert!(allowed(&q, Role::Ipvs));
        assert!(!allowed(&q, Role::Checker));
        assert!(!allowed(&q, Role::Vrrp));
        let states = Msg::VrrpStates {
            states: Default::default(),
        };
        // Nor the parent's orders to VRRP: maintenance and handover.
        let orders = [
            states,
            Msg::Maintenance {
                instances: ["VI_1".to_string()].into(),
            },
            Msg::Handover {
                instances: vec!["VI_1".into()],
            },
        ];
        for role in Role::ALL {
            for m in &orders {
                assert!(!allowed(m, role), "{role} {}", m.kind());
            }
        }
        let refused = Msg::ReloadFailed {
            generation: 2,
            error: "x".into(),
        };
        assert!(allowed(&refused, Role::Vrrp));
        assert!(!allowed(&refused, Role::Checker));
        assert!(!allowed(&refused, Role::Ipvs));
    }

    /// A VRRP worker's status is cut to what the instance can have: its
    /// own VIPs, a few hosts each, well-formed MACs; an advert's 255
    /// addresses at most.
    #[test]
    fn an_oversized_duplicate_list_is_cut() {
        use crate::ipc::msg::{AddressMismatch, DuplicateVip};
        let cfg = crate::config::load_str(
            "t.conf",
            "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n priority 100\n virtual_ipaddress {\n  10.0.0.100\n  10.0.0.101\n }\n}\n",
            crate::config::Format::Keepalived,
            &crate::config::LoadOptions::default(),
        )
        .config;
        let dup = |addr: &str, k: usize| DuplicateVip {
            addr: addr.parse().unwrap(),
            mac: format!("02:00:00:00:{:02x}:{:02x}", k / 256, k % 256),
            last_seen_ms: None,
        };
        let mut i = InstanceStatus {
            address_mismatch: Some(AddressMismatch {
                from: "10.0.0.1".parse().unwrap(),
                addrs: (0..10_000u32)
                    .map(|k| IpAddr::from(k.to_be_bytes()))
                    .collect(),
            }),
            address_mismatches: 1,
            duplicate_vips: (0..5000)
                .map(|k| dup(["10.0.0.100", "10.0.0.101", "10.9.9.9"][k % 3], k))
                .collect(),
            duplicate_vip_packets: 5000,
            ..InstanceStatus::new("VI_1", crate::vrrp::fsm::State::Master, 100)
        };
        // A malformed MAC first: refused, and it does not take a place.
        i.duplicate_vips.insert(
            0,
            DuplicateVip {
                mac: "<script>".into(),
                ..dup("10.0.0.100", 0)
            },
        );
        bound_instance(&cfg, None, &mut i);
        assert_eq!(i.address_mismatch.as_ref().unwrap().addrs.len(), 255);
        assert_eq!(i.duplicate_vips.len(), 2 * MAX_DUPLICATE_MACS);
        assert!(i.duplicate_vips.iter().all(|d| is_mac(&d.mac)));
        assert!(
            i.duplicate_vips
                .iter()
                .all(|d| d.addr.to_string() != "10.9.9.9")
        );
        // An instance not configured keeps none.
        i.name = "VI_9".into();
        bound_instance(&cfg, None, &mut i);
        assert!(i.duplicate_vips.is_empty());
        // Through the intake, as the parent takes it.
        let accepted = Accepted::new(&cfg);
        let mut routing = Routing::new(&cfg, Routing::default());
        let mut record = Record::default();
        let mut big = i.clone();
        big.name = "VI_1".into();
        big.duplicate_vips = (0..100).map(|k| dup("10.0.0.101", k)).collect();
        let effects = Intake {
            config: &cfg,
            pending: None,
            accepted: &accepted,
            routing: &mut routing,
            record: &mut record,
            virtual_server: &|_| false,
        }
        .message(
            Role::Vrrp,
            Msg::VrrpStatus {
                instances: vec![big],
                unmatched_drops: Default::default(),
                counters: false,
            },
            Instant::now(),
        );
        assert!(effects.is_empty());
        assert_eq!(record.instances[0].duplicate_vips.len(), MAX_DUPLICATE_MACS);
        // The status may come only from the VRRP worker.
        let msg = Msg::VrrpStatus {
            instances: vec![],
            unmatched_drops: Default::default(),
            counters: false,
        };
        assert!(!allowed(&msg, Role::Checker) && !allowed(&msg, Role::Ipvs));
    }

    /// The IPVS worker's status is kept as it came (packed:
    /// `ipvs_record`), and the next one replaces it.
    #[test]
    fn an_ipvs_status_is_kept_as_it_came() {
        let rs: Vec<String> = (0..100)
            .map(|i| format!(r#"{{"address":"10.1.0.{i}:80","weight":1,"up":true}}"#))
            .collect();
        let vs = format!(
            r#"{{"key":"10.0.0.1:80/tcp","scheduler":"rr","real_servers":[{}],"services":["a","b","c"]}}"#,
            rs.join(",")
        );
        let kernel = serde_json::to_string(&crate::ipvs::status::IpvsKernel::default()).unwrap();
        let json = format!(
            r#"{{"ipvs_status":{{"virtual_servers":[{vs},{vs},{vs}],"kernel":{kernel}}}}}"#
        );
        let msg: Msg = serde_json::from_str(&json).unwrap();
        let mut changed = msg.clone();
        if let Msg::IpvsStatus {
            virtual_servers, ..
        } = &mut changed
        {
            virtual_servers[1].real_servers[7].up = false;
            virtual_servers[2].quorum_up = true;
        }
        let want = |m: &Msg| match m {
            Msg::IpvsStatus {
                virtual_servers, ..
            } => virtual_servers.clone(),
            _ => unreachable!(),
        };
        let (first, second) = (want(&msg), want(&changed));
        let mut record = Record::default();
        assert!(from_ipvs(&mut record, msg).is_empty());
        assert_eq!(record.virtual_servers.unpack(), first);
        assert!(from_ipvs(&mut record, changed).is_empty());
        assert_eq!(record.virtual_servers.unpack(), second);
        assert_eq!(
            record
                .virtual_servers
                .real_servers()
                .filter(|r| !r.up)
                .count(),
            1
        );
        let mut fewer = second;
        fewer.truncate(1);
        fewer[0].real_servers.truncate(10);
        let msg = Msg::IpvsStatus {
            virtual_servers: fewer.clone(),
            kernel: Box::default(),
        };
        assert!(from_ipvs(&mut record, msg).is_empty());
        assert_eq!(record.virtual_servers.unpack(), fewer);
    }

    /// `msg` from the IPVS worker into `record` (no configuration).
    fn from_ipvs(record: &mut Record, msg: Msg) -> Vec<Effect> {
        let cfg = crate::config::model::Config::default();
        let accepted = Accepted::new(&cfg);
        let mut routing = Routing::new(&cfg, Routing::default());
        Intake {
            config: &cfg,
            pending: None,
            accepted: &accepted,
            routing: &mut routing,
            record,
            virtual_server: &|_| false,
        }
        .message(Role::Ipvs, msg, Instant::now())
    }
}
