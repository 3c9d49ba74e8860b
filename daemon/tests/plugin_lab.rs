//! WASM plugins end to end: the conformance plugin in Rust, C and Python
//! through `upkeepctl plugin run` against real services in a namespace
//! (every language must give the same outcome), and misbehaving plugins in
//! a running daemon, whose checker must keep every other check on schedule.
//!
//! The components are built from source by `scripts/build-plugins.sh`
//! (scripts/test.sh runs it first) into target/plugins/.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test crate fails by panicking

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::lab::{Lab, vrrp_instance};
use serde_json::Value;

const CTL: &str = env!("CARGO_BIN_EXE_upkeepctl");
const UPKEEPD: &str = env!("CARGO_BIN_EXE_upkeepd");

/// Echo on TCP 7000, HTTP on 8080 (/ok 200, anything else 404), and a unix
/// socket that answers "Name: fake" (HAProxy's `show info` shape).
const SERVICES: &str = r#"
import http.server, os, socket, socketserver, sys, threading
sock_path = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"fine\n" if self.path == "/ok" else b"no\n"
        self.send_response(200 if self.path == "/ok" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        data = self.request.recv(256)
        self.request.sendall(data)
class Unix(socketserver.BaseRequestHandler):
    def handle(self):
        while self.request.recv(4096):
            pass
        self.request.sendall(b"Name: fake\nUptime_sec: 5\n")
socketserver.ThreadingTCPServer.allow_reuse_address = True
for srv in (http.server.ThreadingHTTPServer(("127.0.0.1", 8080), H),
            socketserver.ThreadingTCPServer(("127.0.0.1", 7000), Echo),
            socketserver.ThreadingUnixStreamServer(sock_path, Unix)):
    threading.Thread(target=srv.serve_forever, daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
"#;

struct Case {
    name: &'static str,
    args: Vec<String>,
    allow: Vec<String>,
    timeout_ms: u64,
    memory_mib: u32,
    pass: bool,
    /// The message, or with a trailing `*` its start.
    message: String,
    dropped_logs: u32,
    /// `--real-server`: run as this real server's checker.
    real_server: Option<&'static str>,
}

fn case(name: &'static str, args: &[&str], allow: &[&str], pass: bool, message: &str) -> Case {
    Case {
        name,
        args: args.iter().map(|s| s.to_string()).collect(),
        allow: allow.iter().map(|s| s.to_string()).collect(),
        timeout_ms: 2000,
        memory_mib: 64,
        pass,
        message: message.into(),
        dropped_logs: 0,
        real_server: None,
    }
}

fn run_in(ns: &str, file: &Path, c: &Case, cache: &Path) -> (i32, Value) {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns, CTL, "plugin", "run"])
        .arg(file)
        .arg("--json")
        .arg("--cache-dir")
        .arg(cache)
        .args(["--timeout", &c.timeout_ms.to_string()])
        .args(["--memory", &c.memory_mib.to_string()]);
    for a in &c.args {
        cmd.args(["--arg", a]);
    }
    for a in &c.allow {
        cmd.args(["--allow", a]);
    }
    if let Some(rs) = c.real_server {
        cmd.args(["--real-server", rs]);
    }
    let out = cmd.output().expect("upkeepctl");
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "case {}: no JSON report ({e}): {text}\n{}",
            c.name,
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), v)
}

#[test]
fn conformance_plugins_in_rust_c_and_python_agree_on_every_case() {
    let mut lab = Lab::new(1);
    let ns = lab.nodes[0].ns.clone();
    let dir = lab.nodes[0].dir.clone();
    let sock = dir.join("stats.sock");
    let file = dir.join("twelve-bytes");
    std::fs::write(&file, b"0123456789\n\n").unwrap();
    // A process with a name no other test uses: its count is exactly 1.
    let sleeper = dir.join("ukconfsleep");
    std::fs::copy("/bin/sleep", &sleeper).unwrap();
    let sleeper_s = sleeper.display().to_string();
    lab.spawn(0, &[&sleeper_s, "300"], "sleep.log");
    let sock_s = sock.display().to_string();
    lab.spawn(0, &["python3", "-c", SERVICES, &sock_s], "services.log");
    assert!(
        lab.wait(Duration::from_secs(10), || sock.exists()
            && std::fs::read_to_string(dir.join("services.log"))
                .is_ok_and(|l| l.contains("ready"))),
        "services did not start"
    );
    let file_s = file.display().to_string();
    let all_granted: Vec<String> = vec![
        "http=http://127.0.0.1:8080/".into(),
        "tcp=127.0.0.1:7000".into(),
        "tcp=127.0.0.1:7001".into(),
        format!("unix={sock_s}"),
        format!("file={file_s}"),
        "file=/nonexistent/file".into(),
        "process=ukconfsleep".into(),
    ];
    let granted: Vec<&str> = all_granted.iter().map(String::as_str).collect();
    let a = |s: String| s;
    let cases = vec![
        case(
            "every import, granted and up",
            &[
                "http=http://127.0.0.1:8080/ok",
                "tcp=127.0.0.1:7000",
                "tcp-send=hello\n",
                &a(format!("unix={sock_s}")),
                &a(format!("file={file_s}")),
                "process=ukconfsleep",
                "log=3",
            ],
            &granted,
            true,
            "http=200 tcp=6B unix=25B file=12B process=1 log=3",
        ),
        case(
            "a failing status",
            &["http=http://127.0.0.1:8080/missing"],
            &granted,
            false,
            "http=404",
        ),
        case(
            "nothing granted: every target denied",
            &[
                "http=http://127.0.0.1:8080/ok",
                "tcp=127.0.0.1:7000",
                &a(format!("unix={sock_s}")),
                "file=/etc/shadow",
                "process=ukconfsleep",
            ],
            &[],
            false,
            "http=error:denied tcp=error:denied unix=error:denied file=error:denied process=error:denied",
        ),
        case(
            "granted but down or missing",
            &["tcp=127.0.0.1:7001", "file=/nonexistent/file"],
            &granted,
            false,
            "tcp=error:io file=error:io",
        ),
        case(
            "malformed targets",
            &["tcp=not-an-address", "http=ftp://x/"],
            &granted,
            false,
            "tcp=error:invalid http=error:invalid",
        ),
        case(
            "real-server outside a real server's checker",
            &["real-server=tcp"],
            &granted,
            false,
            "real-server=none",
        ),
        // host.real-server(): its address, granted by $REAL_SERVER only.
        Case {
            real_server: Some("127.0.0.1:7000"),
            ..case(
                "real-server up, granted by $REAL_SERVER",
                &["real-server=tcp"],
                &["tcp=$REAL_SERVER"],
                true,
                "real-server=5B",
            )
        },
        Case {
            real_server: Some("127.0.0.1:7001"),
            ..case(
                "real-server down",
                &["real-server=tcp"],
                &["tcp=$REAL_SERVER"],
                false,
                "real-server=error:io",
            )
        },
        Case {
            real_server: Some("127.0.0.1:7000"),
            ..case(
                "real-server granted another address",
                &["real-server=tcp"],
                &["tcp=127.0.0.1:7001"],
                false,
                "real-server=error:denied",
            )
        },
        case("no probes", &[], &[], true, ""),
        case(
            "an unknown argument",
            &["bogus=1"],
            &[],
            false,
            "bad configuration: unknown arg bogus",
        ),
        Case {
            dropped_logs: 1000 + 1 - 64,
            ..case("a log flood is cut", &["log=1000"], &[], true, "log=1000")
        },
        Case {
            timeout_ms: 300,
            ..case(
                "an infinite loop",
                &["spin=1"],
                &[],
                false,
                "timed out after 300 ms",
            )
        },
        Case {
            memory_mib: 40,
            ..case(
                "a memory bomb",
                &["grow=1"],
                &[],
                false,
                "memory limit of 40 MiB exceeded",
            )
        },
        case("a trap", &["trap=1"], &[], false, "trapped: *"),
    ];
    let cache = dir.join("cache");
    let mut failures = Vec::new();
    for lang in ["conformance-rust", "conformance-c", "conformance-py"] {
        let wasm = common::built_plugin(lang);
        for c in &cases {
            let (code, v) = run_in(&ns, &wasm, c, &cache);
            let got_msg = v["message"].as_str().unwrap_or("").to_string();
            let msg_ok = match c.message.strip_suffix('*') {
                Some(prefix) => got_msg.starts_with(prefix),
                None => got_msg == c.message,
            };
            let want_code = if c.pass { 0 } else { 1 };
            if v["pass"] != Value::Bool(c.pass)
                || !msg_ok
                || code != want_code
                || v["dropped_logs"] != c.dropped_logs
            {
                failures.push(format!(
                    "{lang} / {}: exit {code}, pass {}, message {got_msg:?}, dropped {} (want pass {}, {:?}, dropped {})",
                    c.name, v["pass"], v["dropped_logs"], c.pass, c.message, c.dropped_logs
                ));
            }
            // Every outcome's metrics name what was probed, plus "args".
            if c.pass && c.name.starts_with("every import") {
                let names: Vec<&str> = v["metrics"]
                    .as_array()
                    .map(|m| m.iter().filter_map(|x| x[0].as_str()).collect())
                    .unwrap_or_default();
                if names
                    != [
                        "http.status",
                        "tcp.bytes",
                        "unix.bytes",
                        "file.bytes",
                        "process.count",
                        "args",
                    ]
                {
                    failures.push(format!("{lang}: metrics {names:?}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A daemon whose checker runs five misbehaving plugins next to a good
/// plugin and a shell check: it must report each misbehaviour with its
/// reason, never restart, and keep running the good checks every second.
#[test]
fn misbehaving_plugins_leave_the_checker_running_other_checks_on_schedule() {
    let mut lab = Lab::new(1);
    let dir = lab.nodes[0].dir.clone();
    // The checker runs as an unprivileged user: give it its own copy.
    let wasm = dir.join("conformance.wasm");
    std::fs::copy(common::built_plugin("conformance-rust"), &wasm).unwrap();
    let script = |name: &str, arg: &str, extra: &str| {
        format!(
            "vrrp_script {name} {{\n    upkeep_plugin {}\n    upkeep_plugin_arg {arg}\n    interval 1\n    timeout 0.5\n{extra}}}\n",
            wasm.display()
        )
    };
    let mut conf = String::new();
    conf += &script("spin", "spin 1", "");
    conf += &script("grow", "grow 1", "    upkeep_plugin_memory 16\n");
    conf += &script("trap", "trap 1", "");
    conf += &script("flood", "log 5000", "");
    conf += &script("bogus", "bogus 1", "");
    conf += &script(
        "good",
        "file /proc/loadavg",
        "    upkeep_plugin_allow file /proc/loadavg\n",
    );
    conf += "vrrp_script shell {\n    script \"/bin/true\"\n    interval 1\n}\n";
    conf += &vrrp_instance(&lab, 0, 100, &["10.77.0.100/24"], "");
    lab.start(0, UPKEEPD, &conf, "keepalived.conf");
    let checks = |lab: &Lab| -> Vec<Value> {
        lab.status(0)
            .and_then(|s| s["checks"].as_array().cloned())
            .unwrap_or_default()
    };
    let find = |all: &[Value], name: &str| -> Value {
        all.iter()
            .find(|c| c["source"] == format!("script:{name}"))
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert!(
        lab.wait(Duration::from_secs(60), || {
            let all = checks(&lab);
            find(&all, "good")["runs"].as_u64().unwrap_or(0) >= 1
        }),
        "the good plugin never ran\n{}",
        lab.logs()
    );
    let pid = lab.worker_pid(0, "checker");
    assert!(
        has_engine(pid.expect("checker pid")),
        "no plugin engine thread in the checker"
    );
    // Counters alone are published at most every 200 publications' cost
    // (supervisor::publish): under a loaded debug build a document could
    // be 2 s old when read, and an 8 s window read 6 runs (CI). So each
    // end is a document as it is published, and the window is the time
    // between the two.
    let fresh = |last: &[Value]| -> (std::time::Instant, Vec<Value>) {
        let mut now = checks(&lab);
        lab.wait(Duration::from_secs(10), || {
            now = checks(&lab);
            now != last
        });
        (std::time::Instant::now(), now)
    };
    let (t0, before) = fresh(&checks(&lab));
    let runs = |all: &[Value], n: &str| find(all, n)["runs"].as_u64().unwrap_or(0);
    std::thread::sleep(Duration::from_secs(8));
    let (t1, after) = fresh(&checks(&lab));
    let window = (t1 - t0).as_secs_f64();
    assert_eq!(lab.worker_pid(0, "checker"), pid, "the checker restarted");
    assert_eq!(lab.worker_restarts(0, "checker"), Some(0));
    for good in ["good", "shell"] {
        let done = runs(&after, good) - runs(&before, good);
        // At 1 s intervals: a run a second of the window, give or take
        // the edges.
        let (low, high) = (window.floor() as u64 - 1, window.ceil() as u64 + 1);
        assert!(
            (low..=high).contains(&done),
            "{good} ran {done} times in {window:.1} s\n{}",
            lab.log(0)
        );
        assert_eq!(find(&after, good)["state"], "up", "{good}");
    }
    for (name, reason) in [
        ("spin", "timed out after 500 ms"),
        ("grow", "memory limit of 16 MiB exceeded"),
        ("trap", "trapped:"),
        ("bogus", "bad configuration: unknown arg bogus"),
    ] {
        let c = find(&after, name);
        assert_eq!(c["state"], "down", "{name}: {c}");
        assert!(
            c["last_result"].as_str().unwrap_or("").starts_with(reason),
            "{name}: {c}"
        );
        assert!(
            runs(&after, name) > runs(&before, name),
            "{name} stopped running"
        );
    }
    // The flood passes; its lines beyond the limit are dropped and counted.
    assert_eq!(find(&after, "flood")["state"], "up");
    let log = lab.log(0);
    let flood_lines = log.matches("line 4999").count();
    assert_eq!(flood_lines, 0, "a line past the limit reached the log");
    assert!(log.contains("plugin log lines dropped"), "{log}");
    // The good plugin's metrics reach the status.
    let metrics = &find(&after, "good")["metrics"];
    assert!(
        metrics.to_string().contains("file.bytes"),
        "metrics: {metrics}"
    );
}

/// Whether process `pid` runs the plugin host's epoch ticker (a thread that
/// exists only with the wasmtime engine).
fn has_engine(pid: i32) -> bool {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| {
            d.flatten().any(|t| {
                std::fs::read_to_string(t.path().join("comm"))
                    .is_ok_and(|c| c.trim() == "plugin-epoch")
            })
        })
        .unwrap_or(false)
}

#[test]
fn without_a_plugin_the_checker_creates_no_engine() {
    let mut lab = Lab::new(1);
    let mut conf =
        String::from("vrrp_script shell {\n    script \"/bin/true\"\n    interval 1\n}\n");
    conf += &vrrp_instance(&lab, 0, 100, &["10.77.0.100/24"], "");
    lab.start(0, UPKEEPD, &conf, "keepalived.conf");
    assert!(
        lab.wait(Duration::from_secs(30), || lab
            .status(0)
            .and_then(|s| s["checks"][0]["runs"].as_u64())
            .is_some_and(|r| r >= 2)),
        "the shell check never ran\n{}",
        lab.logs()
    );
    let pid = lab.worker_pid(0, "checker").expect("checker pid");
    assert!(!has_engine(pid), "an engine without plugins");
    assert_eq!(exe_name(pid), "upkeepd", "not upkeepd's own checker");
    let vm_kib = |pid: i32| -> u64 {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmSize:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            })
            .unwrap_or(0)
    };
    // The pooling allocator reserves address space only with an engine.
    assert!(vm_kib(pid) < 4 << 20, "checker maps {} KiB", vm_kib(pid));
}

/// Two TCP echo servers on `node` ports 7000 and 7001; 7001 closes its
/// listener (connections refused) once the file `stop` exists.
const TWO_ECHOES: &str = r#"
import os, socket, sys, threading
node, stop = sys.argv[1], sys.argv[2]
def serve(port, stoppable):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((node, port))
    s.listen(16)
    s.settimeout(0.1)
    while not (stoppable and os.path.exists(stop)):
        try:
            c, _ = s.accept()
        except socket.timeout:
            continue
        c.settimeout(1)
        try:
            c.sendall(c.recv(256))
        except OSError:
            pass
        c.close()
    s.close()
for port, stoppable in ((7000, False), (7001, True)):
    threading.Thread(target=serve, args=(port, stoppable)).start()
"#;

/// Issue 16: a plugin real-server checker marks one of two real servers
/// down while the other stays up. One UPKEEP_PLUGIN block (the same text in
/// both real servers) checks each server at the address `host.real-server()`
/// gives it (the conformance plugin's `real-server` probe), granted by
/// `allow tcp $REAL_SERVER`; when one stops answering it is taken out of
/// service while the other stays up.
#[test]
fn a_plugin_real_server_checker_marks_one_of_two_real_servers_down_while_the_other_stays_up() {
    let mut lab = Lab::new(1);
    let dir = lab.nodes[0].dir.clone();
    let node = lab.nodes[0].v4.clone();
    let wasm = dir.join("conformance.wasm");
    std::fs::copy(common::built_plugin("conformance-rust"), &wasm).unwrap();
    let stop = dir.join("stop");
    lab.spawn(
        0,
        &[
            "python3",
            "-c",
            TWO_ECHOES,
            &node,
            &stop.display().to_string(),
        ],
        "echo.log",
    );
    let checker = format!(
        "        UPKEEP_PLUGIN {{\n            file {}\n            arg real-server tcp\n            allow tcp $REAL_SERVER\n            connect_timeout 1\n            retry 1\n            delay_before_retry 1\n            warmup 0\n        }}\n",
        wasm.display()
    );
    let instance = vrrp_instance(&lab, 0, 100, &["10.77.0.100/24"], "");
    let conf = format!(
        "{instance}virtual_server 10.77.0.100 80 {{\n    delay_loop 1\n    lb_kind NAT\n    protocol TCP\n    real_server {node} 7000 {{\n{checker}    }}\n    real_server {node} 7001 {{\n{checker}    }}\n}}\n"
    );
    lab.start(0, UPKEEPD, &conf, "keepalived.conf");
    let up = |lab: &Lab| -> Vec<(String, bool)> {
        lab.status(0)
            .and_then(|s| s["virtual_servers"][0]["real_servers"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .map(|r| {
                (
                    r["address"].as_str().unwrap_or("").to_string(),
                    r["up"].as_bool().unwrap_or(false),
                )
            })
            .collect()
    };
    let both = |lab: &Lab, a: bool, b: bool| {
        let v = up(lab);
        v.len() == 2
            && v.iter().any(|(k, u)| k.ends_with(":7000") && *u == a)
            && v.iter().any(|(k, u)| k.ends_with(":7001") && *u == b)
    };
    let checks_up = |lab: &Lab| -> u64 {
        lab.status(0)
            .and_then(|s| s["checks"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter(|c| {
                c["source"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("real_server:")
            })
            .filter(|c| c["state"] == "up")
            .count() as u64
    };
    assert!(
        lab.wait(Duration::from_secs(60), || checks_up(&lab) == 2
            && both(&lab, true, true)),
        "both real servers never came up: {:?}\n{}",
        up(&lab),
        lab.logs()
    );
    std::fs::write(&stop, "").unwrap();
    assert!(
        lab.wait(Duration::from_secs(30), || both(&lab, true, false)),
        "the stopped real server was not taken out (or the other went too): {:?}\n{}",
        up(&lab),
        lab.log(0)
    );
    // It stays so, and the other keeps passing.
    std::thread::sleep(Duration::from_secs(3));
    assert!(both(&lab, true, false), "{:?}", up(&lab));
    let s = lab.status(0).unwrap();
    let check = |port: &str| {
        s["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["source"].as_str().unwrap_or("").ends_with(port))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let (up, down) = (check(":7000"), check(":7001"));
    assert_eq!(down["state"], "down", "{down}");
    // Each run reached its own server through host.real-server(): the
    // echo answered on one, the other refused.
    let result = |c: &Value| c["last_result"].as_str().unwrap_or("").to_string();
    assert!(result(&up).contains("real-server=5B"), "{up}");
    assert!(result(&down).contains("real-server=error:io"), "{down}");
}

/// The executable process `pid` runs, by file name.
fn exe_name(pid: i32) -> String {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default()
}

/// Rewrites node 0's keepalived.conf as a plugin check `good` (reading
/// /proc/loadavg) before `rest`, and reloads.
fn reload_with_a_plugin(lab: &mut Lab, wasm: &Path, rest: &str) {
    let plugin = format!(
        "vrrp_script good {{\n    upkeep_plugin {}\n    upkeep_plugin_arg file /proc/loadavg\n    upkeep_plugin_allow file /proc/loadavg\n    interval 1\n}}\n",
        wasm.display()
    );
    std::fs::write(
        lab.config_path(0, "keepalived.conf"),
        format!("{plugin}{rest}"),
    )
    .unwrap();
    lab.signal(0, libc::SIGHUP);
}

/// Issue 18: upkeepd links no wasmtime; the checker runs as
/// upkeep-plugin-host only while a plugin check is configured. A reload
/// that adds the first plugin check replaces the checker by the plugin
/// host (a shell check keeps passing, the instance stays MASTER), and the
/// plugin check then runs there.
#[test]
fn a_reload_that_adds_a_plugin_moves_the_checker_into_the_plugin_host() {
    let mut lab = Lab::new(1);
    let dir = lab.nodes[0].dir.clone();
    let wasm = dir.join("conformance.wasm");
    std::fs::copy(common::built_plugin("conformance-rust"), &wasm).unwrap();
    let shell = "vrrp_script shell {\n    script \"/bin/true\"\n    interval 1\n    weight 10\n}\n";
    let instance = vrrp_instance(
        &lab,
        0,
        100,
        &["10.77.0.100/24"],
        "    track_script {\n        shell\n    }\n",
    );
    let conf = format!("{shell}{instance}");
    lab.start(0, UPKEEPD, &conf, "keepalived.conf");
    lab.expect_state(0, "VI_1", "MASTER", Duration::from_secs(30));
    let first = lab.worker_pid(0, "checker").expect("checker pid");
    assert_eq!(exe_name(first), "upkeepd");
    assert_eq!(exe_name(lab.daemon_pid(0).unwrap()), "upkeepd");
    assert_eq!(exe_name(lab.worker_pid(0, "vrrp").unwrap()), "upkeepd");

    reload_with_a_plugin(&mut lab, &wasm, &format!("{shell}{instance}"));
    let good_runs = |lab: &Lab| {
        lab.status(0)
            .and_then(|s| s["checks"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .find(|c| c["source"] == "script:good")
            .and_then(|c| c["runs"].as_u64())
            .unwrap_or(0)
    };
    assert!(
        lab.wait(Duration::from_secs(60), || good_runs(&lab) >= 2),
        "the plugin never ran after the reload\n{}",
        lab.logs()
    );
    let host = lab.worker_pid(0, "checker").expect("checker pid");
    assert_ne!(host, first, "the checker was not replaced");
    assert_eq!(exe_name(host), "upkeep-plugin-host");
    assert!(
        has_engine(host),
        "no plugin engine thread in the plugin host"
    );
    assert_eq!(lab.state(0, "VI_1").as_deref(), Some("MASTER"));
    let vi = lab.instance(0, "VI_1").unwrap();
    assert_eq!(
        vi["priority"].as_u64(),
        Some(110),
        "the shell check stayed passing: {vi}"
    );
}

/// Issue 18: an upkeepd with no plugin host beside it (nor in
/// ../libexec/upkeep/) refuses a reload that adds a plugin check, says
/// why, and keeps running the configuration it has (its checker as is).
#[test]
fn a_reload_that_adds_a_plugin_without_a_plugin_host_is_refused() {
    let mut lab = Lab::new(1);
    let dir = lab.nodes[0].dir.clone();
    let wasm = dir.join("conformance.wasm");
    std::fs::copy(common::built_plugin("conformance-rust"), &wasm).unwrap();
    // upkeepd alone, in a directory of its own (root's, 0755).
    let alone = dir.join("alone");
    std::fs::create_dir_all(&alone).unwrap();
    let bin = alone.join("upkeepd");
    std::fs::copy(UPKEEPD, &bin).unwrap();
    let shell = "vrrp_script shell {\n    script \"/bin/true\"\n    interval 1\n}\n";
    let instance = vrrp_instance(
        &lab,
        0,
        100,
        &["10.77.0.100/24"],
        "    track_script {\n        shell\n    }\n",
    );
    lab.start(
        0,
        bin.to_str().unwrap(),
        &format!("{shell}{instance}"),
        "keepalived.conf",
    );
    lab.expect_state(0, "VI_1", "MASTER", Duration::from_secs(30));
    let checker = lab.worker_pid(0, "checker").expect("checker pid");
    reload_with_a_plugin(&mut lab, &wasm, &format!("{shell}{instance}"));
    lab.expect_reload_refused(
        0,
        &["upkeep-plugin-host", "not installed"],
        Duration::from_secs(15),
    );
    assert_eq!(
        lab.worker_pid(0, "checker"),
        Some(checker),
        "the checker was replaced"
    );
    assert_eq!(lab.state(0, "VI_1").as_deref(), Some("MASTER"));
}
