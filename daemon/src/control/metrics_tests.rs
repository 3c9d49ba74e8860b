use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use tokio::task::JoinHandle;

use super::*;
use crate::control::status::{ReloadStatus, WorkerStatus};
use crate::ipc::msg::{CheckStatus, InstanceStatus, RealServerStatus, VirtualServerStatus};

/// An instance name that needs every label-value escape.
const ODD: &str = "web \"east\"\n\\path";

fn instance(name: &str, state: &str, priority: u8, base_priority: u8) -> InstanceStatus {
    InstanceStatus {
        base_priority,
        ..InstanceStatus::new(name, state.parse().unwrap(), priority)
    }
}

fn check(
    source: &str,
    state: &str,
    latency_us: Option<u64>,
    failures: u64,
    runs: u64,
) -> CheckStatus {
    CheckStatus {
        source: source.into(),
        state: state.parse().unwrap(),
        last_result: None,
        latency_us,
        failures,
        runs,
        value: None,
        policy: None,
        metrics: Vec::new(),
    }
}

fn worker(role: &str, pid: Option<u32>, state: &str, restarts: u64) -> WorkerStatus {
    WorkerStatus {
        role: role.into(),
        pid,
        state: state.parse().unwrap(),
        restarts,
        violations: 0,
        ipc_fd: None,
        uptime_s: None,
        last_exit: None,
    }
}

fn sample_doc() -> StatusDoc {
    let mut vi1 = instance("VI_1", "MASTER", 150, 100);
    vi1.transitions = 3;
    vi1.adverts_sent = 42;
    vi1.addresses_restored = 2;
    vi1.adverts_received = 7;
    vi1.drops = BTreeMap::from([("auth_mismatch".into(), 2), ("ttl".into(), 1)]);
    vi1.duplicate_vips = vec![
        crate::ipc::msg::DuplicateVip {
            addr: "10.0.0.100".parse().unwrap(),
            mac: "02:00:00:00:00:09".into(),
            last_seen_ms: Some(1),
        },
        crate::ipc::msg::DuplicateVip {
            addr: "10.0.0.100".parse().unwrap(),
            mac: "02:00:00:00:00:0a".into(),
            last_seen_ms: Some(2),
        },
    ];
    vi1.duplicate_vip_packets = 6;
    let mut odd = instance(ODD, "BACKUP", 90, 90);
    odd.address_mismatch = Some(crate::ipc::msg::AddressMismatch {
        from: "10.0.0.1".parse().unwrap(),
        addrs: vec!["10.0.0.100".parse().unwrap()],
    });
    odd.address_mismatches = 3;
    odd.transitions = 1;
    odd.adverts_received = 100;
    odd.addresses_removed = 1;
    odd.maintenance = true;
    StatusDoc {
        pid: 1234,
        config: "/etc/upkeep/upkeep.toml".into(),
        generation: 4,
        reload: Some(ReloadStatus {
            ok: false,
            at_ms: 1_700_000_000_000,
            error: Some("bad".into()),
        }),
        instances: vec![vi1, odd],
        unmatched_drops: BTreeMap::from([("unknown_vrid".into(), 5)]),
        checks: vec![
            CheckStatus {
                metrics: vec![("servers_up".into(), 2.0), ("idle \"pct\"".into(), 97.5)],
                ..check("script:chk_nginx", "up", Some(1200), 1, 10)
            },
            check("file:flag", "unknown", None, 0, 0),
        ],
        virtual_servers: vec![VirtualServerStatus {
            key: "10.0.0.1:80/tcp".into(),
            scheduler: "wrr".into(),
            real_servers: vec![
                RealServerStatus {
                    address: "192.168.1.10:80".parse().unwrap(),
                    weight: 3,
                    up: true,
                    desired_weight: Some(3),
                    kernel_weight: Some(2),
                    active_conns: 5,
                    inactive_conns: 7,
                    ..Default::default()
                },
                RealServerStatus {
                    address: "192.168.1.11:80".parse().unwrap(),
                    weight: 0,
                    up: false,
                    ..Default::default()
                },
            ],
            quorum_up: true,
            services: vec!["10.0.0.1:80/tcp".into()],
            in_kernel: 1,
            ..Default::default()
        }],
        ipvs: Some(crate::ipvs::status::IpvsKernel {
            available: true,
            reconciles: 12,
            drift_repairs: 1,
            ops: BTreeMap::from([("NEW_DEST".into(), 2), ("SET_DEST".into(), 1)]),
            errors: BTreeMap::from([("no_scheduler".into(), 1)]),
            last_reconcile: Some(crate::ipvs::status::Reconcile {
                took_us: 1500,
                ..Default::default()
            }),
            sync_daemons: vec!["master on eth0 id 50".into()],
            ..Default::default()
        }),
        workers: vec![
            worker("vrrp", Some(100), "running", 0),
            worker("checker", None, "restarting", 2),
            worker("ipvs", Some(102), "starting", 0),
        ],
        scripts: Vec::new(),
        mail: None,
    }
}

// ---------------------------------------------------------------------------
// An exposition-format (0.0.4) validator
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
struct Parsed {
    name: String,
    /// Label values unescaped.
    labels: Vec<(String, String)>,
    value: f64,
}

fn is_metric_name(s: &str) -> bool {
    let mut b = s.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_' || c == b':')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
}

fn take_while(s: &str, f: impl Fn(char) -> bool) -> (&str, &str) {
    let end = s.find(|c: char| !f(c)).unwrap_or(s.len());
    s.split_at(end)
}

/// Parses `name[{label="value",...}] value [timestamp]`.
fn parse_sample(line: &str) -> Result<Parsed, String> {
    let (name, mut rest) = take_while(line, |c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    if !is_metric_name(name) {
        return Err(format!("bad metric name in {line:?}"));
    }
    let mut labels = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        rest = r;
        loop {
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            let (label, r) = take_while(rest, |c| c.is_ascii_alphanumeric() || c == '_');
            let first_ok = label
                .bytes()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_');
            if !first_ok {
                return Err(format!("bad label name in {line:?}"));
            }
            let mut chars = r
                .strip_prefix("=\"")
                .ok_or_else(|| format!("expected =\" after {label} in {line:?}"))?
                .char_indices();
            let mut value = String::new();
            let after = loop {
                match chars.next() {
                    None => return Err(format!("unterminated label value in {line:?}")),
                    Some((i, '"')) => break i + 1,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, '\\')) => value.push('\\'),
                        Some((_, '"')) => value.push('"'),
                        Some((_, 'n')) => value.push('\n'),
                        other => return Err(format!("bad escape {other:?} in {line:?}")),
                    },
                    Some((_, '\n')) => return Err(format!("raw line feed in {line:?}")),
                    Some((_, c)) => value.push(c),
                }
            };
            let r = &r[2 + after..];
            labels.push((label.to_string(), value));
            rest = r.strip_prefix(',').unwrap_or(r);
            if !r.starts_with(',') && !r.starts_with('}') {
                return Err(format!("expected , or }} after label in {line:?}"));
            }
        }
    }
    let rest = rest
        .strip_prefix(' ')
        .ok_or_else(|| format!("expected a space before the value in {line:?}"))?;
    let mut fields = rest.split(' ');
    let v = fields.next().unwrap_or_default();
    let value = match v {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v if !v.is_empty()
            && v.bytes()
                .all(|c| c.is_ascii_digit() || b".eE+-".contains(&c)) =>
        {
            v.parse()
                .map_err(|e| format!("bad value {v:?} in {line:?}: {e}"))?
        }
        v => return Err(format!("bad value {v:?} in {line:?}")),
    };
    if let Some(ts) = fields.next() {
        ts.parse::<i64>()
            .map_err(|_| format!("bad timestamp {ts:?} in {line:?}"))?;
    }
    if fields.next().is_some() {
        return Err(format!("trailing fields in {line:?}"));
    }
    Ok(Parsed {
        name: name.to_string(),
        labels,
        value,
    })
}

/// Checks a whole exposition; returns its samples. Every line is a comment
/// or a sample; each family has exactly one HELP and one TYPE, before its
/// samples, which are contiguous; counters end in `_total`; no series twice.
fn validate(text: &str) -> Result<Vec<Parsed>, String> {
    if !text.is_empty() && !text.ends_with('\n') {
        return Err("does not end with a line feed".into());
    }
    let mut helps = BTreeSet::new();
    let mut types = BTreeMap::new();
    let mut finished = BTreeSet::new();
    let mut current: Option<String> = None;
    let mut series = BTreeSet::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            return Err("empty line".into());
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut f = comment.trim_start_matches(' ').splitn(3, ' ');
            let (kw, name, arg) = (f.next(), f.next(), f.next());
            match (kw, name) {
                (Some("HELP"), Some(name)) => {
                    if !is_metric_name(name) || !helps.insert(name.to_string()) {
                        return Err(format!("bad or repeated HELP: {line:?}"));
                    }
                    if arg.is_none_or(|a| a.trim().is_empty()) {
                        return Err(format!("empty HELP: {line:?}"));
                    }
                }
                (Some("TYPE"), Some(name)) => {
                    let kind = arg.unwrap_or_default();
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                        return Err(format!("bad type: {line:?}"));
                    }
                    if kind == "counter" && !name.ends_with("_total") {
                        return Err(format!("counter without _total: {line:?}"));
                    }
                    if finished.contains(name) || current.as_deref() == Some(name) {
                        return Err(format!("TYPE after samples: {line:?}"));
                    }
                    if !is_metric_name(name) || types.insert(name.to_string(), kind).is_some() {
                        return Err(format!("bad or repeated TYPE: {line:?}"));
                    }
                }
                _ => {}
            }
            continue;
        }
        let s = parse_sample(line)?;
        if !types.contains_key(&s.name) || !helps.contains(&s.name) {
            return Err(format!("sample without HELP and TYPE: {line:?}"));
        }
        if current.as_deref() != Some(s.name.as_str()) {
            if let Some(prev) = current.take() {
                finished.insert(prev);
            }
            if finished.contains(&s.name) {
                return Err(format!("family {} is not contiguous", s.name));
            }
            current = Some(s.name.clone());
        }
        let mut key = s.labels.clone();
        key.sort();
        if !series.insert((s.name.clone(), key)) {
            return Err(format!("repeated series: {line:?}"));
        }
        samples.push(s);
    }
    if helps.len() != types.len() {
        return Err("a HELP without TYPE or the reverse".into());
    }
    Ok(samples)
}

#[test]
fn validator_rejects_malformed_lines() {
    for bad in [
        "9x 1",
        "x{a=\"1} 1",
        "x{a=\"\\t\"} 1",
        "x{1a=\"v\"} 1",
        "x{a=\"v\" b=\"w\"} 1",
        "x 1 2 3",
        "x one",
        "x{a=\"v\"}",
        "x  1",
    ] {
        assert!(parse_sample(bad).is_err(), "accepted {bad:?}");
    }
    for good in [
        "x 1",
        "x{} 1",
        "x{a=\"v\",} -1.5e3",
        "a:b_c{d=\"\\\\\\\"\\n\"} NaN 17",
    ] {
        assert!(parse_sample(good).is_ok(), "rejected {good:?}");
    }
    assert!(validate("# HELP x h\n# TYPE x gauge\nx 1\n# HELP x h\n").is_err());
    assert!(validate("# HELP x_total h\n# TYPE x_total counter\nx_total 1\nx_total 2\n").is_err());
    assert!(validate("# HELP x h\n# TYPE x counter\nx 1\n").is_err());
    assert!(validate("x 1\n").is_err());
}

// ---------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------

#[test]
fn renders_every_family() {
    let text = render(&sample_doc());
    let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    let expected = [
        r#"upkeep_vrrp_state{instance="VI_1"} 2"#,
        r#"upkeep_vrrp_state{instance="web \"east\"\n\\path"} 1"#,
        r#"upkeep_vrrp_maintenance{instance="VI_1"} 0"#,
        r#"upkeep_vrrp_maintenance{instance="web \"east\"\n\\path"} 1"#,
        r#"upkeep_vrrp_priority{instance="VI_1"} 150"#,
        r#"upkeep_vrrp_priority{instance="web \"east\"\n\\path"} 90"#,
        r#"upkeep_vrrp_base_priority{instance="VI_1"} 100"#,
        r#"upkeep_vrrp_base_priority{instance="web \"east\"\n\\path"} 90"#,
        r#"upkeep_vrrp_transitions_total{instance="VI_1"} 3"#,
        r#"upkeep_vrrp_transitions_total{instance="web \"east\"\n\\path"} 1"#,
        r#"upkeep_vrrp_adverts_sent_total{instance="VI_1"} 42"#,
        r#"upkeep_vrrp_adverts_sent_total{instance="web \"east\"\n\\path"} 0"#,
        r#"upkeep_vrrp_addresses_restored_total{instance="VI_1"} 2"#,
        r#"upkeep_vrrp_addresses_restored_total{instance="web \"east\"\n\\path"} 0"#,
        r#"upkeep_vrrp_addresses_removed_total{instance="VI_1"} 0"#,
        r#"upkeep_vrrp_addresses_removed_total{instance="web \"east\"\n\\path"} 1"#,
        r#"upkeep_vrrp_address_mismatches_total{instance="VI_1"} 0"#,
        r#"upkeep_vrrp_address_mismatches_total{instance="web \"east\"\n\\path"} 3"#,
        r#"upkeep_vrrp_address_mismatch{instance="VI_1"} 0"#,
        r#"upkeep_vrrp_address_mismatch{instance="web \"east\"\n\\path"} 1"#,
        r#"upkeep_vrrp_duplicate_vip_packets_total{instance="VI_1"} 6"#,
        r#"upkeep_vrrp_duplicate_vip_packets_total{instance="web \"east\"\n\\path"} 0"#,
        r#"upkeep_vrrp_duplicate_vips{instance="VI_1"} 1"#,
        r#"upkeep_vrrp_duplicate_vips{instance="web \"east\"\n\\path"} 0"#,
        r#"upkeep_vrrp_adverts_received_total{instance="VI_1"} 7"#,
        r#"upkeep_vrrp_adverts_received_total{instance="web \"east\"\n\\path"} 100"#,
        r#"upkeep_vrrp_drops_total{instance="VI_1",reason="auth_mismatch"} 2"#,
        r#"upkeep_vrrp_drops_total{instance="VI_1",reason="ttl"} 1"#,
        r#"upkeep_vrrp_drops_total{instance="",reason="unknown_vrid"} 5"#,
        r#"upkeep_check_up{check="script:chk_nginx"} 1"#,
        r#"upkeep_check_up{check="file:flag"} -1"#,
        r#"upkeep_check_runs_total{check="script:chk_nginx"} 10"#,
        r#"upkeep_check_runs_total{check="file:flag"} 0"#,
        r#"upkeep_check_failures_total{check="script:chk_nginx"} 1"#,
        r#"upkeep_check_failures_total{check="file:flag"} 0"#,
        r#"upkeep_check_latency_seconds{check="script:chk_nginx"} 0.0012"#,
        r#"upkeep_check_plugin_metric{check="script:chk_nginx",name="servers_up"} 2"#,
        r#"upkeep_check_plugin_metric{check="script:chk_nginx",name="idle \"pct\""} 97.5"#,
        r#"upkeep_real_server_up{virtual_server="10.0.0.1:80/tcp",real_server="192.168.1.10:80"} 1"#,
        r#"upkeep_real_server_up{virtual_server="10.0.0.1:80/tcp",real_server="192.168.1.11:80"} 0"#,
        r#"upkeep_real_server_weight{virtual_server="10.0.0.1:80/tcp",real_server="192.168.1.10:80"} 3"#,
        r#"upkeep_real_server_weight{virtual_server="10.0.0.1:80/tcp",real_server="192.168.1.11:80"} 0"#,
        r#"upkeep_real_server_desired_weight{virtual_server="10.0.0.1:80/tcp",real_server="192.168.1.10:80"} 3"#,
        r#"upkeep_real_server_kernel_weight{virtual_server="10.0.0.1:80/tcp",real_server="192.168.1.10:80"} 2"#,
        r#"upkeep_real_server_active_connections{virtual_server="10.0.0.1:80/tcp",real_server="192.168.1.10:80"} 5"#,
        r#"upkeep_real_server_active_connections{virtual_server="10.0.0.1:80/tcp",real_server="192.168.1.11:80"} 0"#,
        r#"upkeep_real_server_inactive_connections{virtual_server="10.0.0.1:80/tcp",real_server="192.168.1.10:80"} 7"#,
        r#"upkeep_real_server_inactive_connections{virtual_server="10.0.0.1:80/tcp",real_server="192.168.1.11:80"} 0"#,
        r#"upkeep_virtual_server_quorum{virtual_server="10.0.0.1:80/tcp"} 1"#,
        r#"upkeep_virtual_server_kernel_services{virtual_server="10.0.0.1:80/tcp"} 1"#,
        "upkeep_ipvs_available 1",
        "upkeep_ipvs_reconciles_total 12",
        "upkeep_ipvs_drift_repairs_total 1",
        r#"upkeep_ipvs_changes_total{op="NEW_DEST"} 2"#,
        r#"upkeep_ipvs_changes_total{op="SET_DEST"} 1"#,
        r#"upkeep_ipvs_errors_total{error="no_scheduler"} 1"#,
        "upkeep_ipvs_reconcile_seconds 0.0015",
        r#"upkeep_ipvs_sync_daemon{state="master"} 1"#,
        r#"upkeep_worker_up{role="vrrp"} 1"#,
        r#"upkeep_worker_up{role="checker"} 0"#,
        r#"upkeep_worker_up{role="ipvs"} 0"#,
        r#"upkeep_worker_restarts_total{role="vrrp"} 0"#,
        r#"upkeep_worker_restarts_total{role="checker"} 2"#,
        r#"upkeep_worker_restarts_total{role="ipvs"} 0"#,
        r#"upkeep_worker_protocol_violations_total{role="vrrp"} 0"#,
        r#"upkeep_worker_protocol_violations_total{role="checker"} 0"#,
        r#"upkeep_worker_protocol_violations_total{role="ipvs"} 0"#,
        "upkeep_config_generation 4",
        "upkeep_reload_success 0",
    ];
    assert_eq!(samples, expected, "\n{text}");

    // The family headers, once each, right before the samples.
    assert!(text.starts_with(
        "# HELP upkeep_vrrp_state VRRP instance state: 0 init, 1 backup, 2 master, 3 fault, -1 unknown.\n\
         # TYPE upkeep_vrrp_state gauge\n\
         upkeep_vrrp_state{instance=\"VI_1\"} 2\n"
    ));
    assert!(text.contains(
        "# TYPE upkeep_vrrp_drops_total counter\nupkeep_vrrp_drops_total{instance=\"VI_1\""
    ));
    assert!(text.ends_with("# TYPE upkeep_reload_success gauge\nupkeep_reload_success 0\n"));
    let families: BTreeSet<&str> = expected
        .iter()
        .map(|l| l.split(['{', ' ']).next().unwrap())
        .collect();
    for family in &families {
        for kw in ["HELP", "TYPE"] {
            let header = format!("# {kw} {family} ");
            assert_eq!(text.matches(&header).count(), 1, "{header}\n{text}");
        }
    }
    assert_eq!(text.lines().count(), expected.len() + 2 * families.len());

    let parsed = validate(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(parsed.len(), expected.len());
    // The escaped name reads back as the original.
    assert_eq!(
        parsed[1].labels,
        [("instance".to_string(), ODD.to_string())]
    );
}

#[test]
fn counters_and_gauges_are_typed() {
    let text = render(&sample_doc());
    let types: BTreeMap<&str, &str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .collect();
    for (name, kind) in &types {
        assert_eq!(
            name.ends_with("_total"),
            *kind == "counter",
            "{name} is a {kind}"
        );
    }
    assert_eq!(types.get("upkeep_check_latency_seconds"), Some(&"gauge"));
    assert_eq!(types.len(), 39);
}

#[test]
fn state_codes_are_the_documented_ones() {
    let codes: Vec<(State, i64)> = State::ALL.iter().map(|&s| (s, state_code(s))).collect();
    assert_eq!(
        codes,
        [
            (State::Initialize, 0),
            (State::Backup, 1),
            (State::Master, 2),
            (State::Fault, 3)
        ]
    );
}

#[test]
fn empty_doc_renders_only_the_generation() {
    let text = render(&StatusDoc::default());
    assert_eq!(
        text,
        "# HELP upkeep_config_generation Configuration generation (1 at start, bumped by every successful reload).\n\
         # TYPE upkeep_config_generation gauge\n\
         upkeep_config_generation 0\n"
    );
    validate(&text).unwrap();
    let doc = StatusDoc {
        reload: Some(ReloadStatus {
            ok: true,
            at_ms: 1,
            error: None,
        }),
        ..StatusDoc::default()
    };
    assert!(render(&doc).ends_with("upkeep_reload_success 1\n"));
}

#[test]
fn any_label_text_stays_valid_and_reads_back() {
    let nasty = [
        "",
        "\\",
        "\"",
        "\n",
        "\\n",
        "\r\t\u{0}\u{7f}",
        "}{,= \"x\"",
        "# HELP",
        "üñï€😀",
        "a\\\"b\n\nc\\",
        "{instance=\"x\"} 1",
    ];
    let mut doc = StatusDoc::default();
    for (n, name) in nasty.iter().enumerate() {
        let mut i = instance(name, "MASTER", 1, 1);
        i.drops.insert((*name).to_string(), n as u64);
        doc.instances.push(i);
        doc.checks
            .push(check(name, "down", Some(u64::MAX), u64::MAX, 0));
        doc.workers.push(worker(name, Some(1), "running", 0));
        doc.unmatched_drops.insert(format!("{name}{n}"), 1);
    }
    // A virtual server's key is text from the configuration; a real
    // server's address is an address (it cannot carry text).
    for (n, key) in nasty.iter().enumerate() {
        doc.virtual_servers.push(VirtualServerStatus {
            key: (*key).into(),
            scheduler: String::new(),
            real_servers: vec![RealServerStatus {
                address: format!("10.0.0.{n}:80").parse().unwrap(),
                weight: i32::MIN,
                up: true,
                ..Default::default()
            }],
            ..Default::default()
        });
    }
    let text = render(&doc);
    let parsed = validate(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let states: Vec<&str> = parsed
        .iter()
        .filter(|p| p.name == "upkeep_vrrp_state")
        .map(|p| p.labels[0].1.as_str())
        .collect();
    assert_eq!(states, nasty);
    let servers: Vec<(&str, &str)> = parsed
        .iter()
        .filter(|p| p.name == "upkeep_real_server_weight")
        .map(|p| (p.labels[0].1.as_str(), p.labels[1].1.as_str()))
        .collect();
    let want: Vec<(&str, String)> = nasty
        .iter()
        .enumerate()
        .map(|(n, k)| (*k, format!("10.0.0.{n}:80")))
        .collect();
    assert_eq!(
        servers,
        want.iter()
            .map(|(k, a)| (*k, a.as_str()))
            .collect::<Vec<_>>()
    );
    assert!(
        parsed
            .iter()
            .filter(|p| p.name == "upkeep_real_server_weight")
            .all(|p| p.value == f64::from(i32::MIN))
    );
}

#[test]
fn values_format_for_prometheus() {
    assert_eq!(Value::Float(f64::NAN).to_string(), "NaN");
    assert_eq!(Value::Float(f64::INFINITY).to_string(), "+Inf");
    assert_eq!(Value::Float(f64::NEG_INFINITY).to_string(), "-Inf");
    assert_eq!(Value::Float(1.5).to_string(), "1.5");
    assert_eq!(Value::Float(3.0).to_string(), "3");
    assert_eq!(Value::Float(1e-7).to_string(), "0.0000001");
    assert_eq!(Value::Uint(u64::MAX).to_string(), "18446744073709551615");
    assert_eq!(Value::Int(-1).to_string(), "-1");
}

#[test]
fn head_end_finds_the_blank_line() {
    assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\n"), Some(18));
    assert_eq!(head_end(b"GET / HTTP/1.0\n\nbody"), Some(16));
    assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: x\r\n"), None);
    assert_eq!(head_end(b""), None);
}

#[test]
fn request_lines() {
    assert_eq!(
        request_line(b"GET /metrics HTTP/1.1\r\n\r\n"),
        Some(("GET", "/metrics"))
    );
    assert_eq!(
        request_line(b"HEAD /metrics?x=1 HTTP/1.0\n\n"),
        Some(("HEAD", "/metrics?x=1"))
    );
    for bad in [
        &b"GET /metrics\r\n\r\n"[..],
        b"GET /metrics HTTP/2.0\r\n\r\n",
        b"GET /metrics HTTP/1.10\r\n\r\n",
        b"GET  /metrics HTTP/1.1\r\n\r\n",
        b"GET /metrics HTTP/1.1 x\r\n\r\n",
        b"GET metrics HTTP/1.1\r\n\r\n",
        b"G(T /metrics HTTP/1.1\r\n\r\n",
        b"GET /m\xc3\xa9trics HTTP/1.1\r\n\r\n",
        b"\xff\xfe /metrics HTTP/1.1\r\n\r\n",
        b"\r\n\r\n",
        b"",
    ] {
        assert_eq!(
            request_line(bad),
            None,
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

// ---------------------------------------------------------------------------
// The HTTP server
// ---------------------------------------------------------------------------

async fn start(limits: Limits) -> (SocketAddr, JoinHandle<()>) {
    // Loopback traffic stays in a namespace of this test's own.
    crate::testutil::private_netns();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let snapshot: Arc<Body> = Arc::new(|| render(&sample_doc()).into());
    (addr, tokio::spawn(serve_with(listener, snapshot, limits)))
}

/// Sends `request` (write errors ignored: the server may have closed
/// already) and reads until the server closes (read errors end the read).
async fn exchange(addr: SocketAddr, request: &[u8], close_write: bool) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(request).await;
    if close_write {
        let _ = s.shutdown().await;
    }
    let mut out = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    };
    timeout(Duration::from_secs(10), read)
        .await
        .expect("the server did not close the connection");
    out
}

struct Reply {
    status: u16,
    headers: Vec<String>,
    body: String,
}

fn parse_reply(raw: &[u8]) -> Reply {
    let text = String::from_utf8(raw.to_vec()).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    assert!(status_line.starts_with("HTTP/1.1 "), "{status_line}");
    let status = status_line[9..12].parse().unwrap();
    let headers: Vec<String> = lines.map(str::to_string).collect();
    let reply = Reply {
        status,
        headers,
        body: body.to_string(),
    };
    assert_eq!(
        reply.header("Content-Length"),
        Some(reply.body.len().to_string().as_str()),
        "{text}"
    );
    assert_eq!(reply.header("Connection"), Some("close"));
    reply
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find_map(|h| h.strip_prefix(name)?.strip_prefix(": "))
    }
}

async fn get(addr: SocketAddr, request: &str) -> Reply {
    parse_reply(&exchange(addr, request.as_bytes(), false).await)
}

#[tokio::test(flavor = "current_thread")]
async fn serves_metrics() {
    let (addr, server) = start(Limits::DEFAULT).await;
    let expected = render(&sample_doc());
    for request in [
        "GET /metrics HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n",
        "GET /metrics HTTP/1.0\r\n\r\n",
        "GET /metrics?name[]=x HTTP/1.1\r\n\r\n",
        "GET /metrics HTTP/1.1\n\n",
    ] {
        let r = get(addr, request).await;
        assert_eq!(r.status, 200, "{request:?}");
        assert_eq!(r.header("Content-Type"), Some(CONTENT_TYPE));
        assert_eq!(r.body, expected);
    }
    // A request split into many small writes.
    let mut s = TcpStream::connect(addr).await.unwrap();
    for chunk in b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".chunks(3) {
        s.write_all(chunk).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    assert_eq!(parse_reply(&raw).body, expected);

    let raw = exchange(addr, b"HEAD /metrics HTTP/1.1\r\n\r\n", false).await;
    let text = String::from_utf8(raw).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains(&format!("\r\nContent-Length: {}\r\n", expected.len())));
    assert!(text.ends_with("\r\n\r\n"), "HEAD has no body");
    server.abort();
}

#[tokio::test(flavor = "current_thread")]
async fn other_paths_and_methods() {
    let (addr, server) = start(Limits::DEFAULT).await;
    for (request, status) in [
        ("GET /x HTTP/1.1\r\n\r\n", 404),
        ("GET / HTTP/1.1\r\n\r\n", 404),
        ("GET /metrics/ HTTP/1.1\r\n\r\n", 404),
        ("GET /metricsx HTTP/1.1\r\n\r\n", 404),
        ("DELETE /x HTTP/1.1\r\n\r\n", 404),
        (
            "POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
            405,
        ),
        ("PUT /metrics HTTP/1.0\r\n\r\n", 405),
        ("get /metrics HTTP/1.1\r\n\r\n", 405),
    ] {
        let r = get(addr, request).await;
        assert_eq!(r.status, status, "{request:?}");
        assert_eq!(r.header("Content-Type"), Some("text/plain; charset=utf-8"));
        if status == 405 {
            assert_eq!(r.header("Allow"), Some("GET, HEAD"));
        }
    }
    server.abort();
}

/// 400, or the connection closed without an answer.
fn rejected(raw: &[u8]) -> bool {
    raw.is_empty() || parse_reply(raw).status == 400
}

#[tokio::test(flavor = "current_thread")]
async fn survives_garbage() {
    let (addr, server) = start(Limits::DEFAULT).await;
    let mut noise: Vec<u8> = (0..=255u8)
        .cycle()
        .take(3000)
        .map(|b| b.wrapping_mul(37))
        .collect();
    noise.extend_from_slice(b"\r\n\r\n");
    let cases: Vec<(&[u8], bool)> = vec![
        (&noise, false),
        (b"\r\n\r\n", false),
        (b"\0\0\0\0\n\n", false),
        (b"GET\r\n\r\n", false),
        (b"GET /metrics\r\n\r\n", false),
        (b"GET /metrics HTTP/2.0\r\n\r\n", false),
        (b"GET  /metrics HTTP/1.1\r\n\r\n", false),
        (b"\xff\xfe /metrics HTTP/1.1\r\n\r\n", false),
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", false),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", true),
        (b"GET /met", true),
        (b"", true),
    ];
    for (request, close_write) in cases {
        let raw = exchange(addr, request, close_write).await;
        assert!(rejected(&raw), "{:?}", String::from_utf8_lossy(&raw));
    }

    // A head far beyond the limit.
    let mut huge = b"GET /metrics HTTP/1.1\r\nX-Big: ".to_vec();
    huge.resize(huge.len() + 100 * 1024, b'a');
    huge.extend_from_slice(b"\r\n\r\n");
    let raw = exchange(addr, &huge, false).await;
    assert!(rejected(&raw), "{:?}", String::from_utf8_lossy(&raw));
    // Exactly at the limit without a blank line is too large as well.
    let raw = exchange(addr, &huge[..MAX_HEAD], false).await;
    assert!(rejected(&raw));

    assert!(!server.is_finished(), "the server stopped");
    let r = get(addr, "GET /metrics HTTP/1.1\r\n\r\n").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, render(&sample_doc()));
    server.abort();
}

#[tokio::test(flavor = "current_thread")]
async fn idle_clients_time_out_and_do_not_block_others() {
    let limits = Limits {
        head_timeout: Duration::from_millis(300),
        ..Limits::DEFAULT
    };
    let (addr, server) = start(limits).await;
    let started = Instant::now();
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /metr").await.unwrap();
    // Served while the idle client holds its connection.
    assert_eq!(get(addr, "GET /metrics HTTP/1.1\r\n\r\n").await.status, 200);
    let mut raw = Vec::new();
    let _ = timeout(Duration::from_secs(5), idle.read_to_end(&mut raw))
        .await
        .expect("the idle connection was not closed");
    assert!(raw.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(300));
    server.abort();
}

#[tokio::test(flavor = "current_thread")]
async fn connections_beyond_the_limit_wait_their_turn() {
    let limits = Limits {
        head_timeout: Duration::from_millis(200),
        max_connections: 1,
        ..Limits::DEFAULT
    };
    let (addr, server) = start(limits).await;
    let _idle = TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    assert_eq!(get(addr, "GET /metrics HTTP/1.1\r\n\r\n").await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(100));
    server.abort();
}

#[tokio::test(flavor = "current_thread")]
async fn dropping_the_server_closes_everything() {
    let (addr, server) = start(Limits::DEFAULT).await;
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /").await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    server.abort();
    assert!(server.await.unwrap_err().is_cancelled());
    // The connection in progress ends with the server, not after 5 s.
    let mut raw = Vec::new();
    let _ = timeout(Duration::from_secs(2), idle.read_to_end(&mut raw))
        .await
        .expect("the connection outlived the server");
    assert!(raw.is_empty());
    assert!(TcpStream::connect(addr).await.is_err(), "still listening");
}

#[test]
fn mail_counters_are_exposed_with_smtp_configured_only() {
    assert!(!render(&StatusDoc::default()).contains("upkeep_mail_"));
    let doc = StatusDoc {
        mail: Some(crate::control::status::MailStatus {
            sent: 3,
            failed: 2,
            dropped: 1,
            queued: 4,
        }),
        ..StatusDoc::default()
    };
    let text = render(&doc);
    validate(&text).unwrap();
    for line in [
        "upkeep_mail_sent_total 3\n",
        "upkeep_mail_failed_total 2\n",
        "upkeep_mail_dropped_total 1\n",
        "upkeep_mail_queued 4\n",
    ] {
        assert!(text.contains(line), "{line:?} missing in {text}");
    }
}

/// Issue 18: status.json is written from a view that borrows the parent's
/// records; it must read exactly as the document the control socket
/// serves, with the parent's policy state in place of whatever the checker
/// put in that field.
#[test]
fn the_status_view_serialises_as_the_document() {
    use crate::control::status::{ChecksView, StatusView};
    let mut doc = sample_doc();
    doc.checks[0].policy = Some("restarting (1 of 2)".into());
    // More checks, given out of order (the view reads them by name).
    let extra = doc.checks[1].clone();
    for i in (0..40).rev() {
        doc.checks.push(CheckStatus {
            source: format!("script:extra_{i:02}"),
            ..extra.clone()
        });
    }
    let mut recorded = std::collections::BTreeMap::new();
    for c in &doc.checks {
        let mut c = c.clone();
        // What a checker sent: no policy, or a forged one.
        c.policy = (c.source == "file:flag").then(|| "forged".into());
        recorded.insert(
            c.source.clone(),
            crate::control::stored::StoredCheck::from(c),
        );
    }
    doc.checks.sort_by(|a, b| a.source.cmp(&b.source));
    let policy = |source: crate::names::Name<'_>| {
        (source == "script:chk_nginx").then(|| "restarting (1 of 2)".to_string())
    };
    let view = StatusView {
        pid: doc.pid,
        config: doc.config.clone(),
        generation: doc.generation,
        reload: doc.reload.as_ref(),
        instances: &doc.instances,
        unmatched_drops: &doc.unmatched_drops,
        checks: ChecksView::new(&recorded, &policy),
        virtual_servers: &doc.virtual_servers,
        ipvs: doc.ipvs.as_ref(),
        workers: doc.workers.clone(),
        scripts: doc.scripts.clone(),
        mail: doc.mail.clone(),
    };
    assert_eq!(view.to_doc(), doc);
    assert_eq!(
        String::from_utf8(serde_json::to_vec_pretty(&view).unwrap()).unwrap(),
        String::from_utf8(serde_json::to_vec_pretty(&doc).unwrap()).unwrap()
    );
    let back: StatusDoc = serde_json::from_slice(&serde_json::to_vec(&view).unwrap()).unwrap();
    assert_eq!(back, doc);
}
