//! The parent's handling of worker messages (not the frame decoder):
//! arbitrary sequences of well-formed messages from each role, with time
//! passing and reloads, into the parent's sans-IO core
//! (`supervisor::intake`: role rules, accepted sources, record, routing,
//! restart-then-demote), with one fixed configuration. After every step:
//!
//! - every table the record keeps per source, instance or virtual server
//!   holds only names the configurations have (bounded by them);
//! - a number reaches VRRP only for a tracked file, and only the number
//!   the checker reported for that file (VRRP applies its weight, clamped);
//! - a restart command runs only for a check configured with one, is that
//!   very command, follows a down verdict of that check that came from a
//!   real run with failures, and stays within `max_restarts` per window;
//! - a message a role may not send is a violation, and so is a result for
//!   a source the configuration does not give the checker;
//! - a VRRP status keeps at most `MAX_DUPLICATE_MACS` duplicate hosts per
//!   configured VIP of the instance and an advert's 255 addresses of a
//!   peer's differing list.

#![no_main]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use libfuzzer_sys::arbitrary::{self, Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use upkeep::checker::health::Verdict;
use upkeep::config::model::Config;
use upkeep::ipc::Msg;
use upkeep::ipc::msg::{
    AddressMismatch, CheckStatus, DuplicateVip, InstanceStatus, MAX_DUPLICATE_MACS,
    RealServerState, Role, Transition,
};
use upkeep::supervisor::intake::{Effect, Intake};
use upkeep::supervisor::record::Record;
use upkeep::supervisor::routing::{Route, Routing};
use upkeep::supervisor::sources::Accepted;
use upkeep::vrrp::fsm::State;

const CONF: &str = r#"
vrrp_script web {
    script "/bin/true"
    fall 3
    rise 2
    weight -20
    upkeep_restart "/usr/bin/systemctl restart nginx"
    upkeep_restart_grace 2
    upkeep_restart_limit 2 60
}
vrrp_script plain {
    script "/bin/true"
    weight 10
}
vrrp_track_file prio {
    file /tmp/upkeep-fuzz-prio
    weight 5
}
vrrp_track_process nginx {
    process nginx
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        192.168.1.100/24
    }
    track_script {
        web
        plain
    }
    track_file {
        prio
    }
}
vrrp_instance VI_2 {
    interface eth0
    virtual_router_id 52
    priority 150
    virtual_ipaddress {
        192.168.1.101/24
    }
}
virtual_server 10.0.0.1 80 {
    protocol TCP
    real_server 10.0.0.2 80 {
        TCP_CHECK {
        }
    }
    real_server 10.0.0.3 80 {
        TCP_CHECK {
        }
    }
    real_server 10.0.0.4 80 {
        FILE_CHECK {
            track_file prio
        }
    }
}
"#;

/// Names drawn from: the configured ones and forgeries.
const SOURCES: &[&str] = &[
    "script:web",
    "script:plain",
    "file:prio",
    "process:nginx",
    "real_server:10.0.0.1:80/tcp/10.0.0.2:80",
    "real_server:10.0.0.1:80/tcp/10.0.0.3:80",
    "real_server:10.0.0.1:80/tcp/10.0.0.4:80",
    "script:web2",
    "interface:eth0",
    "file:other",
    "real_server:10.0.0.1:80/tcp/10.0.0.9:80",
];
const INSTANCES: &[&str] = &["VI_1", "VI_2", "VI_3", ""];
const VSS: &[&str] = &["10.0.0.1:80/tcp", "10.0.0.9:80/tcp", "fwmark:1"];
const RSS: &[&str] = &["10.0.0.2:80", "10.0.0.3:80", "10.0.0.4:80", "10.0.0.9:80"];
const RESTART: &[&str] = &["/usr/bin/systemctl", "restart", "nginx"];
const MAX_RESTARTS: usize = 2;
const WINDOW: Duration = Duration::from_secs(60);

#[derive(Arbitrary, Debug)]
struct Result {
    source: u8,
    state: u8,
    value: Option<i64>,
    failures: u8,
    runs: u8,
    message: Option<u16>,
    metrics: u8,
}

#[derive(Arbitrary, Debug)]
enum Step {
    Check(Result),
    Batch(Vec<Result>),
    RealServer {
        vs: u8,
        rs: u8,
        up: bool,
        weight: i64,
    },
    Transition {
        instance: u8,
        to: u8,
        priority: u8,
    },
    Quorum {
        vs: u8,
        up: bool,
    },
    /// A VRRP status with `dups` duplicate hosts and a peer list of `peer`.
    Status {
        instance: u8,
        dups: u16,
        mac: u8,
        peer: u16,
    },
    /// A message of one role sent by another.
    Wrong {
        role: u8,
        which: u8,
    },
    Pass {
        millis: u16,
    },
    Reload,
    Commit,
    Settle,
}

fn pick<'a>(list: &[&'a str], k: u8) -> &'a str {
    list[usize::from(k) % list.len()]
}

fn role(k: u8) -> Role {
    Role::ALL[usize::from(k) % Role::ALL.len()]
}

fn state(k: u8) -> State {
    [
        State::Initialize,
        State::Backup,
        State::Master,
        State::Fault,
    ][usize::from(k) % 4]
}

fn status(r: &Result) -> CheckStatus {
    CheckStatus {
        source: pick(SOURCES, r.source).to_string(),
        state: [Verdict::Unknown, Verdict::Up, Verdict::Down][usize::from(r.state) % 3],
        last_result: r.message.map(|n| "x".repeat(usize::from(n))),
        latency_us: None,
        failures: u64::from(r.failures),
        runs: u64::from(r.runs),
        value: r.value,
        policy: Some("forged".into()),
        metrics: (0..r.metrics).map(|k| (format!("m{k}"), 1.0)).collect(),
    }
}

fn vrrp_status(name: &str, dups: u16, mac: u8, peer: u16) -> InstanceStatus {
    let addrs = ["192.168.1.100", "192.168.1.101", "10.0.0.1"];
    InstanceStatus {
        address_mismatch: Some(AddressMismatch {
            from: "192.168.1.2".parse().unwrap(),
            addrs: (0..u32::from(peer))
                .map(|k| k.to_be_bytes().into())
                .collect(),
        }),
        address_mismatches: 1,
        duplicate_vips: (0..usize::from(dups % 2048))
            .map(|k| DuplicateVip {
                addr: addrs[k % addrs.len()].parse().unwrap(),
                mac: if mac % 5 == 0 {
                    "forged".into()
                } else {
                    format!("02:00:00:00:{:02x}:{:02x}", (k / 256) % 256, k % 256)
                },
                last_seen_ms: None,
            })
            .collect(),
        duplicate_vip_packets: u64::from(dups),
        ..InstanceStatus::new(name, State::Master, 100)
    }
}

fn config(text: &str) -> Config {
    let l = upkeep::config::load_str(
        "fuzz.conf",
        text,
        upkeep::config::Format::Keepalived,
        &upkeep::config::LoadOptions::default(),
    );
    assert!(l.is_ok(), "{:?}", l.diagnostics);
    l.config
}

/// What the parent was told last per check, to judge restarts.
#[derive(Default)]
struct Seen {
    /// Whether `script:web` was reported down from a run that failed
    /// since it was last reported up.
    web_failed: bool,
    restarts: VecDeque<Instant>,
    /// The last number each tracked file reported.
    values: BTreeMap<String, Option<i64>>,
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(steps) = Vec::<Step>::arbitrary(&mut u) else {
        return;
    };
    let cfg = config(CONF);
    // The reload drops `plain` and VI_2, adds `extra`.
    let next = config(
        &CONF
            .replace("vrrp_script plain", "vrrp_script extra")
            .replace("        plain\n", "        extra\n")
            .replace("vrrp_instance VI_2", "vrrp_instance VI_3"),
    );
    let configured: BTreeSet<String> = upkeep::checker::configured(&cfg)
        .into_iter()
        .chain(upkeep::checker::configured(&next))
        .collect();
    let instances: BTreeSet<&str> = ["VI_1", "VI_2", "VI_3"].into();
    let vs_ok = |vs: &str| vs == "10.0.0.1:80/tcp";

    let mut accepted = Accepted::new(&cfg);
    let mut routing = Routing::new(&cfg, Routing::default());
    let mut record = Record::default();
    record.bind_checks(accepted.current.clone(), Accepted::parent(&cfg).current);
    let mut pending: Option<&Config> = None;
    let mut committed = &cfg;
    let mut now = Instant::now();
    let mut seen = Seen::default();

    for step in steps.iter().take(256) {
        let mut sent: Vec<(Role, Msg, Option<&'static str>)> = Vec::new();
        match step {
            Step::Check(r) => sent.push((Role::Checker, Msg::CheckState(status(r)), None)),
            Step::Batch(rs) => sent.push((
                Role::Checker,
                Msg::Checks {
                    checks: rs.iter().take(32).map(status).collect(),
                },
                None,
            )),
            Step::RealServer { vs, rs, up, weight } => sent.push((
                Role::Checker,
                Msg::RealServer(RealServerState {
                    virtual_server: pick(VSS, *vs).into(),
                    real_server: pick(RSS, *rs).into(),
                    up: *up,
                    weight: *weight,
                }),
                None,
            )),
            Step::Transition {
                instance,
                to,
                priority,
            } => sent.push((
                Role::Vrrp,
                Msg::Transition(Transition {
                    instance: pick(INSTANCES, *instance).into(),
                    from: State::Backup,
                    to: state(*to),
                    cause: "fuzz".into(),
                    priority: *priority,
                    maintenance: false,
                }),
                None,
            )),
            Step::Status {
                instance,
                dups,
                mac,
                peer,
            } => sent.push((
                Role::Vrrp,
                Msg::VrrpStatus {
                    instances: vec![vrrp_status(pick(INSTANCES, *instance), *dups, *mac, *peer)],
                    unmatched_drops: BTreeMap::new(),
                    counters: instance % 2 == 1,
                },
                None,
            )),
            Step::Quorum { vs, up } => sent.push((
                Role::Ipvs,
                Msg::Quorum {
                    virtual_server: pick(VSS, *vs).into(),
                    up: *up,
                },
                None,
            )),
            Step::Wrong { role: r, which } => {
                let (msg, own) = match which % 3 {
                    0 => (
                        Msg::Quorum {
                            virtual_server: VSS[0].into(),
                            up: false,
                        },
                        Role::Ipvs,
                    ),
                    1 => (
                        Msg::Transition(Transition {
                            instance: "VI_1".into(),
                            from: State::Backup,
                            to: State::Fault,
                            cause: "forged".into(),
                            priority: 0,
                            maintenance: true,
                        }),
                        Role::Vrrp,
                    ),
                    _ => (
                        Msg::CheckState(status(&Result {
                            source: 0,
                            state: 2,
                            value: None,
                            failures: 9,
                            runs: 9,
                            message: None,
                            metrics: 0,
                        })),
                        Role::Checker,
                    ),
                };
                let from = role(*r);
                if from != own {
                    sent.push((from, msg, Some("wrong role")));
                }
                // The parent's orders to VRRP come from no worker at all.
                let order = if which % 2 == 0 {
                    Msg::Maintenance {
                        instances: [INSTANCES[0].to_string()].into(),
                    }
                } else {
                    Msg::Handover {
                        instances: vec![INSTANCES[0].into()],
                    }
                };
                sent.push((from, order, Some("wrong role")));
            }
            Step::Pass { millis } => {
                now += Duration::from_millis(u64::from(*millis) * 10);
                let routes = routing.tick(&mut record, now);
                check_routes(&routes, &record, &mut seen, now);
            }
            Step::Reload => {
                if pending.is_none() {
                    let to = if std::ptr::eq(committed, &cfg) {
                        &next
                    } else {
                        &cfg
                    };
                    accepted.expect(to);
                    pending = Some(to);
                }
            }
            Step::Commit => {
                if let Some(to) = pending.take() {
                    committed = to;
                    record.retain_configured(committed);
                    routing = Routing::new(committed, std::mem::take(&mut routing));
                    accepted.commit(committed);
                    record.bind_checks(
                        accepted.current.clone(),
                        Accepted::parent(committed).current,
                    );
                }
            }
            Step::Settle => accepted.settle(),
        }
        for (from, msg, must_fail) in sent {
            let batch: Vec<CheckStatus> = match &msg {
                Msg::CheckState(c) => vec![c.clone()],
                Msg::Checks { checks } => checks.clone(),
                _ => Vec::new(),
            };
            let effects = Intake {
                config: committed,
                pending,
                accepted: &accepted,
                routing: &mut routing,
                record: &mut record,
                virtual_server: &vs_ok,
            }
            .message(from, msg, now);
            let violated = effects
                .iter()
                .any(|e| matches!(e, Effect::Violation { .. }));
            if must_fail.is_some() {
                assert!(violated, "{must_fail:?} accepted: {effects:?}");
            }
            // A forged source is a violation, never a stored result.
            if let Some(bad) = batch.iter().find(|c| !configured.contains(&c.source)) {
                assert!(violated, "forged source {:?} accepted", bad.source);
            }
            // Which results went in: up to the first refused one.
            for c in &batch {
                match accepted.result(c.clone()) {
                    Err(_) => break,
                    Ok(None) => continue,
                    Ok(Some(_)) => {}
                }
                if c.source == "script:web" {
                    match c.state {
                        Verdict::Up => seen.web_failed = false,
                        Verdict::Down if c.failures > 0 && c.runs > 0 => seen.web_failed = true,
                        _ => {}
                    }
                }
                if c.source.starts_with("file:") {
                    seen.values.insert(c.source.clone(), c.value);
                }
            }
            let routes: Vec<Route> = effects
                .into_iter()
                .filter_map(|e| match e {
                    Effect::Route(r) => Some(r),
                    _ => None,
                })
                .collect();
            check_routes(&routes, &record, &mut seen, now);
        }
        check_record(&record, &configured, &instances);
    }
});

fn check_routes(routes: &[Route], record: &Record, seen: &mut Seen, now: Instant) {
    for r in routes {
        match r {
            Route::Restart { source, argv } => {
                assert_eq!(source, "script:web", "restart for a check without one");
                assert_eq!(argv, RESTART);
                assert_eq!(
                    record.checks.verdict(source).map(|(up, _)| up),
                    Some(false),
                    "restart while the check is not down"
                );
                // The checker's fall count (3) produced that down verdict;
                // the parent cannot recount it, but never restarts on a
                // verdict that no failed run produced (init_fail).
                assert!(
                    seen.web_failed,
                    "restart without a failed run since the last up"
                );
                while seen
                    .restarts
                    .front()
                    .is_some_and(|t| now.saturating_duration_since(*t) >= WINDOW)
                {
                    seen.restarts.pop_front();
                }
                seen.restarts.push_back(now);
                assert!(seen.restarts.len() <= MAX_RESTARTS, "restart rate limit");
            }
            Route::Value { source, value, .. } => {
                assert!(source.starts_with("file:"), "a number for {source}");
                assert_eq!(seen.values.get(source).copied().flatten(), Some(*value));
            }
            Route::Track { source, .. } => {
                assert!(
                    !source.starts_with("interface:") && !source.starts_with("real_server:"),
                    "{source} tracked from the checker"
                );
            }
        }
    }
}

fn check_record(record: &Record, configured: &BTreeSet<String>, instances: &BTreeSet<&str>) {
    for k in record
        .checks
        .iter()
        .map(|(name, _)| name.to_string())
        .chain(record.tracks.keys().cloned())
        .chain(record.values.keys().cloned())
    {
        assert!(configured.contains(&k), "state kept for {k:?}");
    }
    for k in record.states.keys() {
        assert!(
            instances.contains(k.as_str()),
            "state kept for instance {k:?}"
        );
    }
    for (_, c) in record.checks.iter() {
        // No policy field: the checker cannot set one, by type (StoredCheck).
        assert!(c.last_result().as_ref().is_none_or(|m| m.len() <= 1024));
        assert!(c.metrics().len() <= 16);
    }
    let resume = record.resume(None);
    let mut kept = 0;
    for (vs, list) in resume
        .real_servers_up
        .iter()
        .chain(&resume.real_servers_down)
    {
        assert_eq!(
            vs, "10.0.0.1:80/tcp",
            "real servers kept for {vs}: {list:?}"
        );
        kept += list.len();
    }
    assert!(kept <= 3);
    // A weight change is kept only for the real server with a FILE_CHECK.
    for (vs, m) in &record.real_server_weights {
        assert_eq!(vs, "10.0.0.1:80/tcp", "weights kept for {vs}");
        assert!(m.keys().all(|rs| rs == "10.0.0.4:80"), "{m:?}");
    }
    assert!(record.quorum.keys().all(|k| k == "10.0.0.1:80/tcp"));
    // Each instance has one VIP in either configuration.
    for i in &record.instances {
        assert!(i.duplicate_vips.len() <= MAX_DUPLICATE_MACS, "{i:?}");
        assert!(i.duplicate_vips.iter().all(|d| d.mac.len() == 17));
        assert!(
            i.address_mismatch
                .as_ref()
                .is_none_or(|m| m.addrs.len() <= 255)
        );
    }
}
