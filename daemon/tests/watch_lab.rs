//! `upkeepctl watch` against a live pair in network namespaces the test
//! creates: a reload, a check that starts failing, a failover and a VIP
//! removed by hand each arrive as a line, in order, within bounded time;
//! watchers beyond the limit and peers of another uid are refused. Needs
//! root. Every wait is bounded; the lab is removed on drop.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test crate fails by panicking

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::lab::{Lab, vrrp_instance};
use serde_json::Value;

const UPKEEPD: &str = env!("CARGO_BIN_EXE_upkeepd");
const UPKEEPCTL: &str = env!("CARGO_BIN_EXE_upkeepctl");
const VIP: &str = "10.77.0.100";
const SECS: fn(u64) -> Duration = Duration::from_secs;

/// Node `k`'s configuration: VI_1 at `priority`, tracking a script that
/// fails while `fail` exists (weight -10: it lowers the priority, no FAULT).
fn config(lab: &Lab, k: usize, priority: u32) -> String {
    let fail = lab.nodes[k].dir.join("fail");
    let instance = vrrp_instance(
        lab,
        k,
        priority,
        &[VIP],
        "    track_script {\n        chk\n    }",
    );
    format!(
        r#"
vrrp_script chk {{
    script "/usr/bin/test ! -e {fail}"
    interval 1
    fall 1
    rise 1
    weight -10
}}
{instance}
"#,
        fail = fail.display()
    )
}

/// `upkeepctl watch --json` on node `k`'s daemon; its lines arrive on the
/// channel (read by a thread, so that every wait here is bounded).
struct Watch {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<Value>,
}

impl Watch {
    fn start(lab: &Lab, k: usize, args: &[&str]) -> Watch {
        let mut child = Command::new(UPKEEPCTL)
            .arg("--runtime-dir")
            .arg(lab.runtime_dir(k))
            .arg("watch")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("upkeepctl watch");
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Watch {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits (at most `limit`) for an event matching `want`; returns the
    /// time since `since` (when the cause was set off). Earlier events are
    /// kept in `seen`.
    fn expect(
        &mut self,
        since: Instant,
        limit: Duration,
        what: &str,
        want: impl Fn(&Value) -> bool,
    ) -> Duration {
        let start = Instant::now();
        while let Some(left) = limit.checked_sub(start.elapsed()) {
            let Ok(line) = self.lines.recv_timeout(left) else {
                break;
            };
            let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
            let hit = want(&v);
            self.seen.push(v);
            if hit {
                return since.elapsed();
            }
        }
        panic!(
            "no {what} within {limit:?}; seen: {}",
            self.seen
                .iter()
                .map(Value::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

impl Watch {
    /// Waits (at most 10 s) for upkeepctl to exit on its own.
    fn exited(&mut self) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(start.elapsed() < SECS(10), "upkeepctl watch did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw watch request: the daemon's first line.
fn raw_watch(lab: &Lab, k: usize) -> (UnixStream, Value) {
    let mut s = UnixStream::connect(lab.runtime_dir(k).join("control.sock")).unwrap();
    s.set_read_timeout(Some(SECS(5))).unwrap();
    s.write_all(b"{\"command\":\"watch\"}\n").unwrap();
    let mut line = String::new();
    BufReader::new(s.try_clone().unwrap())
        .read_line(&mut line)
        .unwrap();
    (s, serde_json::from_str(&line).unwrap())
}

#[test]
fn watch_shows_a_change_roll_out() {
    let mut lab = Lab::new(2);
    let (a, b) = (config(&lab, 0, 150), config(&lab, 1, 100));
    lab.start(0, UPKEEPD, &a, "keepalived.conf");
    lab.start(1, UPKEEPD, &b, "keepalived.conf");
    lab.expect_state(0, "VI_1", "MASTER", SECS(10));
    lab.expect_state(1, "VI_1", "BACKUP", SECS(3));

    // At most 16 watchers: the 17th is refused with a clear error, and a
    // slot is free again once one leaves.
    let mut held: Vec<UnixStream> = (0..16)
        .map(|_| {
            let (s, first) = raw_watch(&lab, 1);
            assert_eq!(first["response"], "watching", "{first}");
            s
        })
        .collect();
    let (_, refused) = raw_watch(&lab, 1);
    assert_eq!(refused["response"], "error", "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("too many watchers"),
        "{refused}"
    );
    held.truncate(0);
    // The slots come back as the daemon sees the connections close.
    assert!(lab.wait(SECS(5), || raw_watch(&lab, 1).1["response"] == "watching"));

    let mut w = Watch::start(&lab, 1, &["--json"]);
    // Connected once a reload shows (retried: the watcher may connect late).
    let mut connected = None;
    for _ in 0..5 {
        lab.signal(1, libc::SIGHUP);
        let start = Instant::now();
        while start.elapsed() < SECS(3) {
            match w.lines.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    let v: Value = serde_json::from_str(&line).unwrap();
                    let done = v["event"] == "reload_finished";
                    w.seen.push(v);
                    if done {
                        connected = Some(start.elapsed());
                        break;
                    }
                }
                Err(_) => continue,
            }
        }
        if connected.is_some() {
            break;
        }
    }
    assert!(
        connected.is_some(),
        "no reload seen: {:?}\n{}",
        w.seen,
        lab.logs()
    );
    // People's lines, for this instance only (started now: it sees the rest).
    let mut human = Watch::start(&lab, 1, &["--instance", "VI_1"]);
    std::thread::sleep(Duration::from_millis(300));
    // Now connected: a reload shows as started, then finished.
    let t0 = Instant::now();
    lab.signal(1, libc::SIGHUP);
    w.expect(t0, SECS(5), "reload started", |v| {
        v["event"] == "reload_started"
    });
    let reload = w.expect(t0, SECS(5), "reload finished", |v| {
        v["event"] == "reload_finished" && v["ok"] == true
    });

    // The Backup's check starts failing.
    let flag = lab.nodes[1].dir.join("fail");
    let t0 = Instant::now();
    std::fs::write(&flag, "").unwrap();
    let check = w.expect(t0, SECS(5), "check down", |v| {
        v["event"] == "check" && v["source"] == "script:chk" && v["state"] == "down"
    });

    // The Master's node dies (every process at once, so no worker resigns):
    // the Backup (priority 100 - 10) takes over after Master_Down_Interval.
    let t0 = Instant::now();
    kill_node(&lab, 0);
    let failover = w.expect(t0, SECS(8), "BACKUP -> MASTER", |v| {
        v["event"] == "transition"
            && v["instance"] == "VI_1"
            && v["from"] == "BACKUP"
            && v["to"] == "MASTER"
            && v["priority"] == 90
    });
    assert!(lab.wait(SECS(3), || lab.has_addr(1, VIP)));

    // Someone removes the VIP: upkeep puts it back.
    let t0 = Instant::now();
    lab.ip(1, &["addr", "del", &format!("{VIP}/32"), "dev", "eth0"]);
    let restored = w.expect(t0, SECS(5), "address restored", |v| {
        v["event"] == "addresses" && v["instance"] == "VI_1" && v["restored"].as_u64() >= Some(1)
    });

    // Events come in order, each stamped.
    let at: Vec<u64> = w
        .seen
        .iter()
        .map(|v| v["at_ms"].as_u64().unwrap())
        .collect();
    assert!(at.windows(2).all(|p| p[0] <= p[1]), "{at:?}");

    // A peer of another uid is refused (the socket opened to it for the
    // test: the daemon makes it 0600, so that the SO_PEERCRED check is what
    // refuses here).
    let sock = lab.runtime_dir(1).join("control.sock");
    sh_chmod(&sock);
    let out = lab.upkeepctl_as_nobody(1, &["watch"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("permission denied"), "{err}");

    // The daemon stops: the watcher says so and exits 0.
    lab.signal(1, libc::SIGTERM);
    w.expect(Instant::now(), SECS(5), "stopping", |v| {
        v["event"] == "stopping"
    });
    let status = w.exited();
    let mut stderr = String::new();
    w.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{status:?} {stderr}");
    assert!(stderr.contains("the daemon closed the stream"), "{stderr}");
    // The human watcher: the same, one line each, the last saying the
    // stream closed (on stdout), exit 0.
    let status = human.exited();
    let lines: Vec<String> = human.lines.try_iter().collect();
    for l in &lines {
        eprintln!("human: {l}");
    }
    assert!(status.success(), "{status:?} {lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains(" VI_1 BACKUP -> MASTER (") && l.ends_with(") prio 90")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains(" check script:chk down")),
        "{lines:?}"
    );
    assert!(
        lines
            .last()
            .unwrap()
            .ends_with(" the daemon closed the stream"),
        "{lines:?}"
    );
    for v in &w.seen {
        eprintln!("seen: {v}");
    }
    eprintln!(
        "measured: SIGHUP to the reload_finished line {reload:?}; flag file to the check line {check:?}; SIGKILL of the Master to the Backup's MASTER line {failover:?}; ip addr del to the addresses line {restored:?}"
    );
}

/// SIGKILLs every process in node `k`'s network namespace.
fn kill_node(lab: &Lab, k: usize) {
    let out = Command::new("ip")
        .args(["netns", "pids", &lab.nodes[k].ns])
        .output()
        .unwrap();
    for pid in String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse::<i32>().ok())
    {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

fn sh_chmod(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666)).unwrap();
}
