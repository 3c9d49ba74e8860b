//! The haproxy and nginx WASM check plugins against the real services from
//! Debian, in network namespaces the test creates: once through
//! `upkeepctl plugin run` inside a namespace (unix sockets and 127.0.0.1 are
//! per namespace), and in real upkeepd pairs where a plugin check drives
//! restart-then-demote exactly as a script check does (seeds_lab.rs).
//!
//! The plugins are built by `bash scripts/build-plugins.sh` into
//! `target/plugins/{haproxy,nginx}.wasm`. Needs root, nginx and haproxy
//! (scripts/test.sh installs them); every wait is bounded; the labs (and
//! every process in them) are removed on drop.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test crate fails by panicking

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::lab::Lab;

const UPKEEPD: &str = env!("CARGO_BIN_EXE_upkeepd");
const UPKEEPCTL: &str = env!("CARGO_BIN_EXE_upkeepctl");
const VIP: &str = "10.77.0.100";
const SECS: fn(u64) -> Duration = Duration::from_secs;
const STATUS_URL: &str = "http://127.0.0.1/nginx_status";

/// A copy of the plugin in node `k`'s directory (readable by the checker's
/// account, and unaffected by a rebuild while the test runs).
fn install_plugin(lab: &Lab, k: usize, name: &str) -> String {
    let to = lab.config_path(k, &format!("{name}.wasm"));
    std::fs::copy(common::built_plugin(name), &to).unwrap();
    to.display().to_string()
}

/// The report of one `upkeepctl plugin run`.
#[derive(Debug)]
struct Trial {
    pass: bool,
    message: String,
    metrics: Vec<(String, f64)>,
}

impl Trial {
    fn metric(&self, name: &str) -> Option<f64> {
        self.metrics
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
    }
}

/// `upkeepctl plugin run` in node `k`'s namespace; its exit status must be
/// 0 (pass) or 1 (fail) and agree with the report.
fn trial(lab: &Lab, k: usize, wasm: &str, args: &[(&str, &str)], allow: &[&str]) -> Trial {
    let mut cmd = Command::new("ip");
    cmd.args([
        "netns",
        "exec",
        &lab.nodes[k].ns,
        UPKEEPCTL,
        "plugin",
        "run",
    ])
    .arg(wasm)
    .args(["--json", "--timeout", "2000"]);
    for (key, v) in args {
        cmd.arg("--arg").arg(format!("{key}={v}"));
    }
    for a in allow {
        cmd.arg("--allow").arg(a);
    }
    let out = cmd.output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let code = out.status.code();
    assert!(
        matches!(code, Some(0 | 1)),
        "upkeepctl plugin run {args:?}: exit {code:?}\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", text(&out.stdout), text(&out.stderr)));
    let t = Trial {
        pass: v["pass"].as_bool().unwrap(),
        message: v["message"].as_str().unwrap().to_string(),
        metrics: v["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m[0].as_str().unwrap().to_string(), m[1].as_f64().unwrap()))
            .collect(),
    };
    assert_eq!(t.pass, code == Some(0), "exit {code:?} for {t:?}");
    t
}

/// Runs `run` until `cond` holds on its report (bounded); the last report.
fn until(limit: Duration, mut run: impl FnMut() -> Trial, cond: impl Fn(&Trial) -> bool) -> Trial {
    let start = Instant::now();
    loop {
        let t = run();
        if cond(&t) {
            return t;
        }
        assert!(
            start.elapsed() < limit,
            "not reached within {limit:?}; last report {t:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Kills every `name` of node `k` and waits (bounded) until none is left.
fn stop(lab: &Lab, k: usize, name: &str) {
    assert!(lab.kill_named(k, name) >= 1, "no {name} ran on node {k}");
    assert!(
        lab.wait(SECS(5), || !lab.runs(k, name)),
        "{name} survived SIGKILL"
    );
}

// ---------------------------------------------------------------- nginx ---

#[test]
fn nginx_plugin_passes_while_nginx_serves_and_fails_when_it_stops() {
    let lab = Lab::new(1);
    let wasm = install_plugin(&lab, 0, "nginx");
    lab.start_nginx(0, "hello from nginx", true);
    let status_grant = format!("http={STATUS_URL}");
    let stub = || trial(&lab, 0, &wasm, &[("url", STATUS_URL)], &[&status_grant]);

    // stub_status: passes with nginx's numbers (this request is active).
    let t = until(SECS(10), stub, |t| t.pass);
    assert!(t.message.starts_with("nginx up: "), "{t:?}");
    for m in [
        "active", "accepts", "handled", "requests", "reading", "writing", "waiting",
    ] {
        assert!(t.metric(m).is_some(), "{m} missing: {t:?}");
    }
    assert!(t.metric("active").unwrap() >= 1.0, "{t:?}");
    assert!(t.metric("requests").unwrap() >= 1.0, "{t:?}");

    // With the process as well.
    let t = trial(
        &lab,
        0,
        &wasm,
        &[("url", STATUS_URL), ("process", "nginx")],
        &[&status_grant, "process=nginx"],
    );
    assert!(t.pass, "{t:?}");
    assert!(
        t.metric("processes").unwrap() >= 2.0,
        "master and worker: {t:?}"
    );

    // probe: any 2xx/3xx, and the body must hold `expect`.
    let probe = |url: &str, expect: &str| {
        let grant = "http=http://127.0.0.1/";
        let mut args = vec![("url", url), ("mode", "probe")];
        if !expect.is_empty() {
            args.push(("expect", expect));
        }
        trial(&lab, 0, &wasm, &args, &[grant])
    };
    let t = probe("http://127.0.0.1/", "hello from");
    assert!(t.pass, "{t:?}");
    assert_eq!(t.metric("status"), Some(200.0));
    let t = probe("http://127.0.0.1/", "goodbye");
    assert!(!t.pass && t.message.contains("lacks 'goodbye'"), "{t:?}");
    // stub_status is not the status page of a plain location.
    let t = trial(
        &lab,
        0,
        &wasm,
        &[("url", "http://127.0.0.1/")],
        &["http=http://127.0.0.1/"],
    );
    assert!(
        !t.pass && t.message.contains("not an nginx stub_status page"),
        "{t:?}"
    );
    // A URL the check may not reach is a configuration error, never tried.
    let t = trial(&lab, 0, &wasm, &[("url", STATUS_URL)], &[]);
    assert!(
        !t.pass && t.message.contains("bad configuration") && t.message.contains("allow.http"),
        "{t:?}"
    );

    // nginx stops: both modes fail (a failed check, not a plugin error).
    stop(&lab, 0, "nginx");
    let t = stub();
    assert!(!t.pass, "{t:?}");
    assert!(t.message.contains("Connection refused"), "{t:?}");
    assert!(!t.message.contains("error:"), "a plugin error: {t:?}");
    let t = probe("http://127.0.0.1/", "");
    assert!(!t.pass && t.message.contains("Connection refused"), "{t:?}");

    // And passes again once nginx is back.
    let conf = format!("{}/nginx.conf", lab.nodes[0].dir.display());
    lab.exec(0, &["/usr/sbin/nginx", "-c", &conf]);
    until(SECS(10), stub, |t| t.pass);
}

// -------------------------------------------------------------- haproxy ---

/// Backends for haproxy: nginx answering on 127.0.0.1:8081 and :8082.
fn start_backends(lab: &Lab, k: usize) {
    let dir = lab.nodes[k].dir.display().to_string();
    let path = format!("{dir}/backends.conf");
    let conf = format!(
        r#"daemon on;
pid {dir}/backends.pid;
error_log {dir}/backends-error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    server {{ listen 127.0.0.1:8081; location / {{ return 200 "s1\n"; }} }}
    server {{ listen 127.0.0.1:8082; location / {{ return 200 "s2\n"; }} }}
}}
"#
    );
    std::fs::write(&path, conf).unwrap();
    lab.exec(k, &["/usr/sbin/nginx", "-c", &path]);
}

/// haproxy with a stats socket (mode `mode`), backend `web` of two servers
/// (checked every 100 ms, one failure marks DOWN) and a frontend-only
/// proxy `fe`; the socket's path.
fn start_haproxy(lab: &Lab, k: usize, mode: &str) -> String {
    let dir = lab.nodes[k].dir.display().to_string();
    let sock = format!("{dir}/haproxy.sock");
    let cfg = format!(
        "global\n    stats socket {sock} mode {mode} level user\n    pidfile {dir}/haproxy.pid\n\
         defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n    timeout check 2s\n\
         frontend fe\n    bind 127.0.0.1:8080\n    default_backend web\n\
         backend web\n    server s1 127.0.0.1:8081 check inter 100 fall 1 rise 1\n    server s2 127.0.0.1:8082 check inter 100 fall 1 rise 1\n"
    );
    let path = format!("{dir}/haproxy.cfg");
    std::fs::write(&path, cfg).unwrap();
    lab.exec(k, &["/usr/sbin/haproxy", "-D", "-f", &path]);
    sock
}

#[test]
fn haproxy_plugin_counts_up_servers_and_fails_when_haproxy_or_the_backend_is_down() {
    let lab = Lab::new(1);
    let wasm = install_plugin(&lab, 0, "haproxy");
    start_backends(&lab, 0);
    let sock = start_haproxy(&lab, 0, "600");
    let grant = format!("unix={sock}");
    let run = |args: &[(&str, &str)]| {
        let mut all = vec![("socket", sock.as_str())];
        all.extend_from_slice(args);
        trial(&lab, 0, &wasm, &all, &[&grant])
    };

    // Up: both servers of `web` pass haproxy's checks.
    let t = until(
        SECS(10),
        || run(&[("backend", "web"), ("min_up", "2")]),
        |t| t.pass,
    );
    assert_eq!(t.message, "backend web: 2/2 servers up (min 2)", "{t:?}");
    assert_eq!(t.metric("servers_up"), Some(2.0));
    assert_eq!(t.metric("servers_total"), Some(2.0));
    assert!(t.metric("uptime_sec").is_some(), "{t:?}");
    assert!(t.metric("curr_conns").is_some(), "{t:?}");
    // Without a backend, `show info` alone.
    let t = run(&[]);
    assert!(t.pass && t.message.starts_with("haproxy 2."), "{t:?}");
    assert_eq!(t.metric("servers_up"), None);
    // A backend haproxy does not have (a frontend is not one).
    for name in ["nope", "fe"] {
        let t = run(&[("backend", name)]);
        assert!(!t.pass, "{t:?}");
        assert_eq!(t.message, format!("no backend {name}"));
    }
    // The socket must be granted.
    let t = trial(&lab, 0, &wasm, &[("socket", &sock)], &[]);
    assert!(
        !t.pass && t.message.contains("bad configuration") && t.message.contains("allow.unix"),
        "{t:?}"
    );

    // The backend's servers stop: haproxy's checks mark them DOWN.
    stop(&lab, 0, "nginx");
    let t = until(
        SECS(10),
        || run(&[("backend", "web")]),
        |t| t.metric("servers_up") == Some(0.0),
    );
    assert!(!t.pass, "{t:?}");
    assert!(
        t.message
            .starts_with("backend web: 0/2 servers up (min 1); not up: s1 DOWN"),
        "{t:?}"
    );
    assert_eq!(t.metric("servers_total"), Some(2.0));
    // haproxy itself still answers.
    assert!(run(&[]).pass);
    start_backends(&lab, 0);
    let t = until(
        SECS(10),
        || run(&[("backend", "web"), ("min_up", "2")]),
        |t| t.pass,
    );
    assert_eq!(t.metric("servers_up"), Some(2.0));

    // haproxy stops: a failed check (not a plugin error), with or without
    // a backend.
    stop(&lab, 0, "haproxy");
    for args in [&[][..], &[("backend", "web")][..]] {
        let t = run(args);
        assert!(!t.pass, "{t:?}");
        assert!(
            t.message
                .starts_with(&format!("haproxy stats socket {sock} unreachable")),
            "{t:?}"
        );
        assert!(t.message.contains("Connection refused"), "{t:?}");
    }
}

/// The haproxy plugin in upkeepd: the unprivileged checker reaches the
/// stats socket it is granted, the status shows the plugin's metrics, and
/// with weight 0 a backend without servers faults the instance.
#[test]
fn haproxy_plugin_in_the_daemon_faults_the_instance_while_the_backend_is_down() {
    let mut lab = Lab::new(1);
    let wasm = install_plugin(&lab, 0, "haproxy");
    start_backends(&lab, 0);
    // The checker runs as an unprivileged account: the socket must let it in.
    let sock = start_haproxy(&lab, 0, "666");
    let instance = common::lab::vrrp_instance(
        &lab,
        0,
        100,
        &[VIP],
        "    track_script {\n        chk_haproxy\n    }",
    );
    let conf = format!(
        r#"vrrp_script chk_haproxy {{
    upkeep_plugin {wasm}
    upkeep_plugin_arg socket {sock}
    upkeep_plugin_arg backend web
    upkeep_plugin_arg min_up 2
    upkeep_plugin_allow unix {sock}
    upkeep_plugin_memory 16
    interval 0.3
    fall 1
    rise 1
}}
{instance}"#
    );
    lab.start(0, UPKEEPD, &conf, "keepalived.conf");
    lab.expect_state(0, "VI_1", "MASTER", SECS(15));
    let check = || {
        let out = Command::new(UPKEEPCTL)
            .arg("--runtime-dir")
            .arg(lab.runtime_dir(0))
            .args(["status", "--json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        doc["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["source"] == "script:chk_haproxy")
            .cloned()
            .unwrap()
    };
    let metric = |c: &serde_json::Value, name: &str| {
        c["metrics"]
            .as_array()
            .and_then(|m| m.iter().find(|m| m[0] == name).and_then(|m| m[1].as_f64()))
    };
    assert!(
        lab.wait(SECS(5), || check()["state"] == "up"),
        "{}\n{}",
        check(),
        lab.logs()
    );
    let c = check();
    assert_eq!(metric(&c, "servers_up"), Some(2.0), "{c}");
    assert_eq!(metric(&c, "servers_total"), Some(2.0), "{c}");
    assert!(metric(&c, "uptime_sec").is_some(), "{c}");

    stop(&lab, 0, "nginx");
    lab.expect_state(0, "VI_1", "FAULT", SECS(10));
    // FAULT comes with the first server down (min_up 2); wait for both.
    lab.wait(SECS(5), || {
        check()["last_result"]
            .as_str()
            .is_some_and(|r| r.starts_with("backend web: 0/2"))
    });
    let c = check();
    assert_eq!(c["state"], "down", "{c}");
    assert!(
        c["last_result"]
            .as_str()
            .unwrap()
            .starts_with("backend web: 0/2 servers up"),
        "{c}"
    );
    assert_eq!(metric(&c, "servers_up"), Some(0.0), "{c}");
    assert!(!lab.has_addr(0, VIP));

    start_backends(&lab, 0);
    lab.expect_state(0, "VI_1", "MASTER", SECS(10));
    assert!(lab.wait(SECS(5), || lab.has_addr(0, VIP)));
}

// ------------------------------------------------ restart-then-demote ---

/// Node `k`'s configuration: the nginx plugin with nginx's restart command
/// and resign, in keepalived.conf syntax for A and in TOML for B.
fn pair_conf(lab: &Lab, k: usize, wasm: &str, nginx: &str) -> (String, &'static str) {
    if k == 0 {
        let instance = common::lab::vrrp_instance(
            lab,
            k,
            100,
            &[VIP],
            "    track_script {\n        chk_nginx\n    }",
        );
        let conf = format!(
            r#"vrrp_script chk_nginx {{
    upkeep_plugin {wasm}
    upkeep_plugin_arg url {STATUS_URL}
    upkeep_plugin_arg process nginx
    upkeep_plugin_allow http {STATUS_URL}
    upkeep_plugin_allow process nginx
    interval 0.5
    fall 2
    upkeep_restart "/usr/sbin/nginx -c {nginx}" root
    upkeep_restart_grace 2
    upkeep_restart_limit 100 60
    upkeep_demote resign
}}
{instance}"#
        );
        (conf, "keepalived.conf")
    } else {
        let conf = format!(
            r#"[[vrrp_script]]
name = "chk_nginx"
interval = 0.5
fall = 2

[vrrp_script.on_failure]
restart = {{ command = "/usr/sbin/nginx -c {nginx}", user = "root" }}
grace = 2
max_restarts = 100
window = 60
demote = "resign"

[vrrp_script.plugin]
file = "{wasm}"
args = {{ url = "{STATUS_URL}" }}
memory_mib = 32

[vrrp_script.plugin.allow]
http = ["{STATUS_URL}"]

[[vrrp_instance]]
name = "VI_1"
state = "BACKUP"
interface = "eth0"
virtual_router_id = 51
priority = 90
advert_int = 1
virtual_ipaddress = ["{VIP}/32"]
mcast_src_ip = "{src}"
track_script = ["chk_nginx"]
"#,
            src = lab.nodes[k].v4
        );
        (conf, "upkeep.toml")
    }
}

const CLIENT: usize = 2;

/// What the client in the third namespace gets from http://VIP/.
fn fetch(lab: &Lab) -> String {
    lab.fetch(CLIENT, &format!("http://{VIP}/"))
}

fn serves(lab: &Lab, page: &str) -> bool {
    lab.wait(SECS(10), || fetch(lab) == page)
}

fn nginx_check(lab: &Lab, k: usize) -> Option<serde_json::Value> {
    lab.status(k)?["checks"]
        .as_array()?
        .iter()
        .find(|c| c["source"] == "script:chk_nginx")
        .cloned()
}

#[test]
fn nginx_plugin_pair_restart_keeps_the_vip_and_a_broken_nginx_resigns_the_master() {
    let mut lab = Lab::new(3);
    let mut nginx = Vec::new();
    for (k, page) in [(0, "node-a"), (1, "node-b")] {
        let wasm = install_plugin(&lab, k, "nginx");
        let path = lab.start_nginx(k, page, true);
        let (conf, file) = pair_conf(&lab, k, &wasm, &path);
        lab.start(k, UPKEEPD, &conf, file);
        // A is Master before B starts, so that B's transitions count only
        // what the checks cause.
        let state = if k == 0 { "MASTER" } else { "BACKUP" };
        lab.expect_state(k, "VI_1", state, SECS(15));
        nginx.push(path);
    }
    for k in 0..2 {
        assert!(
            lab.wait(SECS(10), || nginx_check(&lab, k)
                .is_some_and(|c| c["state"] == "up")),
            "node {k}: {:?}\n{}",
            nginx_check(&lab, k),
            lab.logs()
        );
    }
    let c = nginx_check(&lab, 0).unwrap();
    let names: Vec<&str> = c["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m[0].as_str())
        .collect();
    assert!(
        names.contains(&"active") && names.contains(&"processes"),
        "{c}"
    );
    assert!(serves(&lab, "node-a"), "client got {:?}", fetch(&lab));
    let b_transitions = lab.instance(1, "VI_1").unwrap()["transitions"].clone();

    // 1. nginx killed: upkeep runs the restart command, the plugin passes
    //    again; the VIP stays and the client still reaches A.
    stop(&lab, 0, "nginx");
    assert!(
        lab.wait(SECS(10), || lab
            .log(0)
            .contains("running its restart command")),
        "{}",
        lab.log(0)
    );
    assert!(serves(&lab, "node-a"), "{}", lab.log(0));
    assert!(
        lab.wait(SECS(10), || nginx_check(&lab, 0)
            .is_some_and(|c| c["state"] == "up")),
        "{:?}",
        nginx_check(&lab, 0)
    );
    std::thread::sleep(SECS(3));
    assert_eq!(lab.state(0, "VI_1").as_deref(), Some("MASTER"));
    assert_eq!(
        lab.instance(1, "VI_1").unwrap()["transitions"],
        b_transitions,
        "B moved"
    );

    // 2. nginx cannot start (broken configuration): after the grace period
    //    A resigns, B takes the VIP and the client reaches B.
    let good = std::fs::read_to_string(&nginx[0]).unwrap();
    std::fs::write(&nginx[0], "this is not nginx configuration;\n").unwrap();
    stop(&lab, 0, "nginx");
    lab.expect_state(1, "VI_1", "MASTER", SECS(15));
    assert!(serves(&lab, "node-b"), "client got {:?}", fetch(&lab));
    assert_eq!(lab.state(0, "VI_1").as_deref(), Some("BACKUP"));
    let a = lab.instance(0, "VI_1").unwrap();
    assert!(
        a["last_cause"].as_str().unwrap().contains("resigned"),
        "{a}"
    );
    let c = nginx_check(&lab, 0).unwrap();
    assert_eq!(c["state"], "down", "{c}");
    assert!(c["policy"].as_str().unwrap().starts_with("demoted"), "{c}");
    // The plugin's reason (its process check fails first, or the GET).
    let why = c["last_result"].as_str().unwrap();
    assert!(
        why.contains("no nginx process") || why.contains("Connection refused"),
        "{c}"
    );
    // Resigned: A stays Backup while failing, though its priority is higher.
    std::thread::sleep(SECS(3));
    assert_eq!(lab.state(0, "VI_1").as_deref(), Some("BACKUP"));

    // 3. Fixed: the next retry starts nginx, the plugin passes and, with
    //    preempt, A takes the VIP back.
    std::fs::write(&nginx[0], good).unwrap();
    lab.expect_state(0, "VI_1", "MASTER", SECS(15));
    lab.expect_state(1, "VI_1", "BACKUP", SECS(5));
    assert!(serves(&lab, "node-a"), "client got {:?}", fetch(&lab));
}
