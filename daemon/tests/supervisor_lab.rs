//! The process model with real upkeepd processes in network namespaces the
//! test creates: privileges of each worker, restarts after SIGKILL (a
//! Master's VRRP worker without a failover), systemd notify, reload, and
//! garbage on every socket. Needs root; every wait is bounded; the lab is
//! removed on drop.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test crate fails by panicking

mod common;

use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::{Duration, Instant};

use common::lab::Lab;

const UPKEEPD: &str = env!("CARGO_BIN_EXE_upkeepd");
const UPKEEPCTL: &str = env!("CARGO_BIN_EXE_upkeepctl");
const VIP: &str = "10.77.0.100";
const VIP2: &str = "10.77.0.101";
const SECS: fn(u64) -> Duration = Duration::from_secs;
/// Fast restarts for the workers that may wait (the Master's VRRP worker never does).
const FAST: &[&str] = &["--restart-backoff", "0.1-0.5"];

/// A node of the pair with every worker (common::lab::every_worker).
fn conf(lab: &Lab, k: usize, priority: u32, vips: &[&str]) -> String {
    common::lab::every_worker(lab, k, priority, vips)
}

fn start_pair(lab: &mut Lab, a_args: &[&str], b_args: &[&str]) {
    let (a, b) = (conf(lab, 0, 100, &[VIP]), conf(lab, 1, 90, &[VIP]));
    // A first: started together on a loaded machine, B's slightly longer
    // Master_Down_Interval can still expire first, and A then preempts (two
    // more transitions on B than the tests count on).
    lab.start_with(0, UPKEEPD, &a, "keepalived.conf", a_args, &[]);
    lab.expect_state(0, "VI_1", "MASTER", SECS(15));
    lab.start_with(1, UPKEEPD, &b, "keepalived.conf", b_args, &[]);
    lab.expect_state(1, "VI_1", "BACKUP", SECS(10));
    for k in 0..2 {
        for role in ["vrrp", "ipvs", "checker"] {
            assert!(
                lab.wait(SECS(10), || lab.worker_pid(k, role).is_some()),
                "node {k}: {role} worker not running\n{}",
                lab.logs()
            );
        }
    }
}

fn proc_status(pid: i32, key: &str) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn cap_eff(pid: i32) -> u64 {
    u64::from_str_radix(&proc_status(pid, "CapEff"), 16).unwrap()
}

fn uid(pid: i32) -> u32 {
    proc_status(pid, "Uid")
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn each_worker_runs_with_only_the_privileges_it_needs() {
    let mut lab = Lab::new(2);
    start_pair(&mut lab, &[], &[]);
    let parent = lab.daemon_pid(0).unwrap();
    assert_eq!(uid(parent), 0);
    let vrrp = lab.worker_pid(0, "vrrp").unwrap();
    let ipvs = lab.worker_pid(0, "ipvs").unwrap();
    let checker = lab.worker_pid(0, "checker").unwrap();
    const NET_ADMIN: u64 = 1 << 12;
    const NET_RAW: u64 = 1 << 13;
    assert_eq!(cap_eff(vrrp), NET_ADMIN | NET_RAW, "vrrp CapEff");
    assert_eq!(cap_eff(ipvs), NET_ADMIN, "ipvs CapEff");
    assert_eq!(cap_eff(checker), 0, "checker CapEff");
    assert_ne!(uid(checker), 0, "checker uid");
    for pid in [vrrp, ipvs, checker] {
        assert_eq!(proc_status(pid, "NoNewPrivs"), "1", "pid {pid}");
        // Bounding sets are as small as the effective ones: no way back.
        assert_eq!(
            u64::from_str_radix(&proc_status(pid, "CapBnd"), 16).unwrap(),
            cap_eff(pid),
            "pid {pid} CapBnd"
        );
        // Workers are children of the parent.
        assert_eq!(proc_status(pid, "PPid"), parent.to_string());
    }
}

/// B's instance must never have left BACKUP: its transitions counter stays
/// at one (Initialize → Backup) and it never held the VIP.
fn assert_no_failover(lab: &Lab, watched: &mut bool) {
    *watched |= lab.has_addr(1, VIP);
    assert!(!*watched, "the VIP moved to the backup\n{}", lab.logs());
}

fn kill_and_wait(lab: &Lab, k: usize, role: &str, round: usize) {
    let pid = lab.worker_pid(k, role).unwrap();
    // SAFETY: kill(2) of a worker pid read from the daemon's status.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    let back = lab.wait(SECS(10), || {
        lab.worker_pid(k, role).is_some_and(|p| p != pid)
    });
    assert!(
        back,
        "node {k}: {role} not back after kill {round}\n{}",
        lab.logs()
    );
}

#[test]
fn killed_workers_come_back_and_a_masters_vrrp_worker_keeps_the_vip() {
    let mut lab = Lab::new(2);
    // A with the default backoff: its VRRP worker holds Master and is
    // restarted at once regardless.
    start_pair(&mut lab, &[], FAST);
    let mut moved = false;
    let started = Instant::now();
    for round in 1..=20 {
        kill_and_wait(&lab, 0, "vrrp", round);
        assert!(lab.wait_state(0, "VI_1", "MASTER", SECS(5)).is_some());
        assert!(lab.has_addr(0, VIP), "VIP gone from A after kill {round}");
        assert_no_failover(&lab, &mut moved);
        // Let the peer see adverts between kills, as a crash loop would not.
        std::thread::sleep(Duration::from_millis(300));
    }
    // Watch a little longer: a late failover would show up now.
    let until = Instant::now() + SECS(5);
    while Instant::now() < until {
        assert_no_failover(&lab, &mut moved);
        std::thread::sleep(Duration::from_millis(50));
    }
    let b = lab.instance(1, "VI_1").unwrap();
    assert_eq!(b["transitions"], 1, "B's transitions: {b}");
    assert_eq!(b["state"], "BACKUP");
    assert_eq!(lab.worker_restarts(0, "vrrp"), Some(20));
    eprintln!(
        "20 kills of the Master's VRRP worker in {:?}",
        started.elapsed()
    );

    // The other workers, on the backup node (fast backoff).
    for role in ["checker", "ipvs", "vrrp"] {
        for round in 1..=20 {
            kill_and_wait(&lab, 1, role, round);
        }
        assert_eq!(lab.worker_restarts(1, role), Some(20), "{role}");
    }
    // Status is right after all that.
    assert!(lab.wait_state(1, "VI_1", "BACKUP", SECS(5)).is_some());
    assert_eq!(lab.state(0, "VI_1").as_deref(), Some("MASTER"));
    let s = lab.status(1).unwrap();
    assert_eq!(s["virtual_servers"][0]["key"], format!("{VIP}:80/tcp"));
    assert!(
        s["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["source"] == "script:chk_true"),
        "{s}"
    );
    assert!(lab.has_addr(0, VIP) && !lab.has_addr(1, VIP));
}

/// Receives datagrams on a NOTIFY_SOCKET until `pred` holds on one.
fn recv_until(
    sock: &UnixDatagram,
    seen: &mut Vec<String>,
    limit: Duration,
    pred: impl Fn(&str) -> bool,
) -> bool {
    let until = Instant::now() + limit;
    let mut buf = vec![0u8; 4096];
    while Instant::now() < until {
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        if let Ok(n) = sock.recv(&mut buf) {
            let m = String::from_utf8_lossy(&buf[..n]).to_string();
            seen.push(m.clone());
            if pred(&m) {
                return true;
            }
        }
    }
    false
}

#[test]
fn systemd_notify_protocol_in_order() {
    let mut lab = Lab::new(1);
    let sock_path = lab.config_path(0, "notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    let c = conf(&lab, 0, 100, &[VIP]);
    let path = sock_path.to_str().unwrap().to_string();
    lab.start_with(
        0,
        UPKEEPD,
        &c,
        "keepalived.conf",
        &[],
        &[("NOTIFY_SOCKET", &path), ("WATCHDOG_USEC", "1000000")],
    );
    let mut seen = Vec::new();
    let ready = recv_until(&sock, &mut seen, SECS(15), |m| m.contains("READY=1"));
    assert!(ready, "no READY: {seen:?}\n{}", lab.logs());
    let first = seen.last().unwrap().clone();
    assert!(first.contains("STATUS="), "{first}");
    // Becoming Master changes the status line.
    assert!(
        recv_until(&sock, &mut seen, SECS(10), |m| m.starts_with("STATUS=")
            && m.contains("VI_1 MASTER prio 100")),
        "{seen:?}"
    );
    assert!(
        recv_until(&sock, &mut seen, SECS(3), |m| m == "WATCHDOG=1"),
        "{seen:?}"
    );
    // Workers do not inherit systemd's variables.
    for role in ["vrrp", "ipvs", "checker"] {
        let pid = lab.worker_pid(0, role).unwrap();
        let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
        let env = String::from_utf8_lossy(&env);
        assert!(
            !env.contains("NOTIFY_SOCKET") && !env.contains("WATCHDOG_USEC"),
            "{role}: {env}"
        );
    }
    lab.signal(0, libc::SIGHUP);
    assert!(
        recv_until(&sock, &mut seen, SECS(5), |m| m.contains("RELOADING=1")),
        "{seen:?}"
    );
    let reloading = seen.last().unwrap().clone();
    let mono: u64 = reloading
        .lines()
        .find_map(|l| l.strip_prefix("MONOTONIC_USEC="))
        .expect("MONOTONIC_USEC")
        .parse()
        .unwrap();
    assert!(mono > 0);
    assert!(
        recv_until(&sock, &mut seen, SECS(10), |m| m.contains("READY=1")),
        "{seen:?}"
    );
    lab.signal(0, libc::SIGTERM);
    assert!(
        recv_until(&sock, &mut seen, SECS(5), |m| m.contains("STOPPING=1")),
        "{seen:?}"
    );
    assert!(lab.wait_exit(0, SECS(10)).is_some(), "{}", lab.logs());
    // The order of the first occurrences.
    let pos = |needle: &str, after: usize| {
        seen.iter()
            .skip(after)
            .position(|m| m.contains(needle))
            .map(|p| p + after)
            .unwrap_or_else(|| panic!("{needle} after {after}: {seen:?}"))
    };
    let r1 = pos("READY=1", 0);
    let st = pos("STATUS=", r1 + 1);
    let wd = pos("WATCHDOG=1", r1);
    let rl = pos("RELOADING=1", wd);
    let r2 = pos("READY=1", rl);
    let stop = pos("STOPPING=1", r2);
    assert!(
        r1 < st && r1 < wd && wd < rl && rl < r2 && r2 < stop,
        "{seen:?}"
    );
}

fn upkeepctl(lab: &Lab, k: usize, args: &[&str]) -> std::process::Output {
    Command::new(UPKEEPCTL)
        .arg("--runtime-dir")
        .arg(lab.runtime_dir(k))
        .args(args)
        .output()
        .unwrap()
}

fn read_capture(lab: &Lab, k: usize, pcap: &std::path::Path) -> Vec<String> {
    lab.exec(k, &["tcpdump", "-r", pcap.to_str().unwrap(), "-n", "-tt"])
        .lines()
        .map(str::to_string)
        .collect()
}

fn advert_times(lines: &[String], from: &str) -> Vec<f64> {
    lines
        .iter()
        .filter(|l| l.contains(&format!("IP {from} > 224.0.0.18")) && l.contains("VRRP"))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

#[test]
fn reload_keeps_unchanged_instances_quiet_rejects_bad_config_and_adds_vips() {
    let mut lab = Lab::new(2);
    start_pair(&mut lab, &[], &[]);
    let a = lab.nodes[0].v4.clone();
    let before = lab.instance(0, "VI_1").unwrap();

    // 1. The same configuration: nothing happens on the wire or in the state.
    let pcap = lab.capture(1, "unchanged.pcap", "vrrp or arp");
    std::thread::sleep(SECS(1));
    let out = upkeepctl(&lab, 0, &["reload"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = upkeepctl(&lab, 1, &["reload"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::thread::sleep(SECS(3));
    lab.nodes[1].extra.iter_mut().for_each(|c| {
        let _ = c.kill();
        let _ = c.wait();
    });
    lab.nodes[1].extra.clear();
    let lines = read_capture(&lab, 1, &pcap);
    let times = advert_times(&lines, &a);
    assert!(times.len() >= 3, "{lines:#?}");
    for w in times.windows(2) {
        assert!(w[1] - w[0] > 0.9, "an extra advert: {times:?}");
    }
    // (The real server's TCP check ARPs for 10.77.0.50: not an announcement;
    // nor is the Master's probe for duplicates, `tell 0.0.0.0`.)
    let announces = |l: &String, vip: &str| l.contains("ARP") && l.contains(&format!("tell {vip}"));
    assert!(
        !lines.iter().any(|l| announces(l, VIP)),
        "gratuitous ARP during an unchanged reload: {lines:#?}"
    );
    let after = lab.instance(0, "VI_1").unwrap();
    assert_eq!(after["transitions"], before["transitions"]);
    assert_eq!(lab.instance(1, "VI_1").unwrap()["transitions"], 1);
    assert_eq!(lab.status(0).unwrap()["generation"], 2);

    // 2. An invalid configuration: refused, reported, the old one runs on.
    let good = std::fs::read_to_string(lab.config_path(0, "keepalived.conf")).unwrap();
    std::fs::write(
        lab.config_path(0, "keepalived.conf"),
        good.replace("priority 100", "priority 100\n    advert_intt 1"),
    )
    .unwrap();
    let out = upkeepctl(&lab, 0, &["reload"]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("keepalived.conf:") && err.contains("advert_intt"),
        "{err}"
    );
    let s = lab.status(0).unwrap();
    assert_eq!(s["reload"]["ok"], false);
    assert!(
        s["reload"]["error"]
            .as_str()
            .unwrap()
            .contains("advert_intt")
    );
    assert_eq!(s["generation"], 2);
    assert_eq!(lab.state(0, "VI_1").as_deref(), Some("MASTER"));
    let text = upkeepctl(&lab, 0, &["status"]);
    let text = String::from_utf8_lossy(&text.stdout).to_string();
    assert!(
        text.contains("last reload: FAILED") && text.contains("VI_1"),
        "{text}"
    );

    // 3. A second VIP: added on the Master and announced, no transition.
    let pcap = lab.capture(1, "addvip.pcap", "vrrp or arp");
    let c1 = conf(&lab, 1, 90, &[VIP, VIP2]);
    std::fs::write(lab.config_path(1, "keepalived.conf"), c1).unwrap();
    let c0 = conf(&lab, 0, 100, &[VIP, VIP2]);
    std::fs::write(lab.config_path(0, "keepalived.conf"), c0).unwrap();
    lab.signal(1, libc::SIGHUP);
    let out = upkeepctl(&lab, 0, &["reload"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        lab.wait(SECS(5), || lab.has_addr(0, VIP2)),
        "{}",
        lab.logs()
    );
    std::thread::sleep(SECS(2));
    lab.nodes[1].extra.iter_mut().for_each(|c| {
        let _ = c.kill();
        let _ = c.wait();
    });
    let lines = read_capture(&lab, 1, &pcap);
    assert!(
        lines.iter().any(|l| announces(l, VIP2)),
        "no gratuitous ARP for the new VIP: {lines:#?}"
    );
    assert!(
        !lines.iter().any(|l| announces(l, VIP)),
        "old VIP re-announced: {lines:#?}"
    );
    assert_eq!(
        lab.instance(0, "VI_1").unwrap()["transitions"],
        before["transitions"]
    );
    assert_eq!(lab.state(1, "VI_1").as_deref(), Some("BACKUP"));
    assert!(!lab.has_addr(1, VIP2));
    assert_eq!(lab.status(0).unwrap()["generation"], 3);
}

/// A duplicate of descriptor `fd` of process `pid` (pidfd_getfd, as root).
fn steal_fd(pid: i32, fd: i32) -> i32 {
    // SAFETY: plain syscalls; the results are checked.
    unsafe {
        let pidfd = libc::syscall(libc::SYS_pidfd_open, pid, 0) as i32;
        assert!(
            pidfd >= 0,
            "pidfd_open: {}",
            std::io::Error::last_os_error()
        );
        let got = libc::syscall(libc::SYS_pidfd_getfd, pidfd, fd, 0) as i32;
        assert!(got >= 0, "pidfd_getfd: {}", std::io::Error::last_os_error());
        libc::close(pidfd);
        got
    }
}

fn send_raw(fd: i32, bytes: &[u8]) {
    // SAFETY: sending from a live buffer on a descriptor we own.
    let n = unsafe { libc::send(fd, bytes.as_ptr().cast(), bytes.len(), libc::MSG_NOSIGNAL) };
    assert!(n >= 0, "send: {}", std::io::Error::last_os_error());
}

fn garbage() -> Vec<(&'static str, Vec<u8>)> {
    let mut random = vec![0u8; 3000];
    let mut x: u32 = 0x1234_5678;
    for b in &mut random {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    let mut wrong_version = b"UK\x00\x09".to_vec();
    wrong_version.extend_from_slice(&2u32.to_be_bytes());
    wrong_version.extend_from_slice(b"{}");
    let mut oversized = b"UK".to_vec();
    oversized.extend_from_slice(&upkeep::ipc::PROTOCOL_VERSION.to_be_bytes());
    oversized.extend_from_slice(&u32::MAX.to_be_bytes());
    oversized.resize(upkeep::ipc::MAX_FRAME + 100, b' ');
    vec![
        ("random", random),
        ("wrong version", wrong_version),
        ("oversized", oversized),
    ]
}

#[test]
fn garbage_on_every_socket_is_logged_and_reset() {
    let mut lab = Lab::new(2);
    start_pair(&mut lab, FAST, &[]);
    let parent = lab.daemon_pid(0).unwrap();
    let mut moved = false;
    let mut resets = 0;
    for role in ["vrrp", "checker", "ipvs"] {
        for (kind, bytes) in garbage() {
            for toward in ["parent", "worker"] {
                let before = lab.worker_restarts(0, role).unwrap();
                let worker = lab.worker_pid(0, role).unwrap();
                let fd = if toward == "parent" {
                    // The worker's end (descriptor 3): what we send reaches the parent.
                    steal_fd(worker, 3)
                } else {
                    let s = lab.status(0).unwrap();
                    let w = s["workers"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|w| w["role"] == role)
                        .unwrap()
                        .clone();
                    steal_fd(parent, w["ipc_fd"].as_i64().unwrap() as i32)
                };
                send_raw(fd, &bytes);
                // SAFETY: closing our duplicate.
                unsafe { libc::close(fd) };
                let reset = lab.wait(SECS(10), || {
                    lab.worker_restarts(0, role).is_some_and(|r| r > before)
                        && lab.worker_pid(0, role).is_some_and(|p| p != worker)
                });
                assert!(
                    reset,
                    "{role}: {kind} toward the {toward} did not reset\n{}",
                    lab.log(0)
                );
                resets += 1;
                assert_eq!(lab.daemon_pid(0), Some(parent), "parent replaced?");
                assert_no_failover(&lab, &mut moved);
            }
        }
    }
    let log = lab.log(0);
    assert!(log.matches("worker connection reset").count() >= 9, "{log}");
    assert!(log.contains("parent connection reset"), "{log}");
    assert_eq!(resets, 18);

    // The control socket: garbage, an oversized line, an unknown command.
    let path = lab.runtime_dir(0).join("control.sock");
    for bytes in [
        b"\x00\xff garbage\n".to_vec(),
        vec![b'x'; 200_000],
        b"{\"command\":\"explode\"}\n".to_vec(),
    ] {
        use std::io::{Read, Write};
        let mut s = std::os::unix::net::UnixStream::connect(&path).unwrap();
        s.set_read_timeout(Some(SECS(10))).unwrap();
        let _ = s.write_all(&bytes);
        let mut resp = String::new();
        let _ = s.read_to_string(&mut resp);
        assert!(resp.contains("\"error\""), "{resp}");
    }
    let mode = std::fs::metadata(&path).map(|m| {
        use std::os::unix::fs::PermissionsExt;
        m.permissions().mode() & 0o777
    });
    assert_eq!(mode.unwrap(), 0o600);
    // A peer that is neither root nor the daemon's user is refused by its
    // credentials, even when the file mode would let it connect.
    {
        use std::os::unix::fs::PermissionsExt;
        let run = lab.runtime_dir(0);
        let run_mode = std::fs::metadata(&run).unwrap().permissions().mode();
        std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o711)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        // The daemon may refuse before it reads the request: the send can
        // then fail with EPIPE while the answer is already queued.
        let client = format!(
            r#"import socket
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect({:?})
try:
    s.sendall(b'{{"command":"status"}}\n')
except BrokenPipeError:
    pass
print(s.recv(65536).decode())
"#,
            path.display().to_string()
        );
        let out = std::process::Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "/usr/bin/python3",
                "-c",
                &client,
            ])
            .output()
            .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::set_permissions(&run, std::fs::Permissions::from_mode(run_mode)).unwrap();
        let reply = String::from_utf8_lossy(&out.stdout);
        assert!(
            reply.contains("permission denied") && !reply.contains("instances"),
            "unprivileged peer got: {reply} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            lab.log(0)
                .contains("control connection from an unauthorised user refused")
        );
    }
    // Still serving, still Master, no failover.
    let out = upkeepctl(&lab, 0, &["status", "--json"]);
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["instances"][0]["state"], "MASTER");
    assert_no_failover(&lab, &mut moved);
    assert_eq!(lab.instance(1, "VI_1").unwrap()["transitions"], 1);
}

#[test]
fn a_worker_that_stops_answering_is_restarted_and_a_config_error_stops_the_daemon() {
    let mut lab = Lab::new(2);
    start_pair(&mut lab, FAST, &[]);
    // A stopped (SIGSTOP) worker answers no ping: killed and restarted.
    let pid = lab.worker_pid(0, "ipvs").unwrap();
    // SAFETY: kill(2) of a worker pid read from the daemon's status.
    unsafe {
        libc::kill(pid, libc::SIGSTOP);
    }
    let back = lab.wait(SECS(15), || {
        lab.worker_pid(0, "ipvs").is_some_and(|p| p != pid)
    });
    assert!(back, "{}", lab.log(0));
    assert!(
        lab.log(0).contains("not answering heartbeats"),
        "{}",
        lab.log(0)
    );

    // An interface that does not exist on node B: the VRRP worker cannot run
    // this configuration, and the daemon stops (exit 1) instead of looping.
    let c = conf(&lab, 1, 90, &[VIP]).replace("interface eth0", "interface nosuch0");
    lab.signal(1, libc::SIGTERM);
    assert!(lab.wait_exit(1, SECS(10)).is_some());
    lab.start_with(1, UPKEEPD, &c, "keepalived.conf", FAST, &[]);
    let child = lab.nodes[1].child.as_mut().unwrap();
    let until = Instant::now() + SECS(15);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > until {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let log = lab.log(1);
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{log}");
    assert!(
        log.contains("nosuch0") && log.contains("cannot run the configuration"),
        "{log}"
    );
    // Three workers at the first start, three at the second: no restart loop.
    assert_eq!(log.matches("worker started").count(), 6, "{log}");
}

/// In a container upkeepd may be pid 1: workers must still start (a
/// worker's "is my parent still there" check used to compare with pid 1),
/// and orphans that scripts leave must be reaped (pid 1 stays a small init).
#[test]
fn runs_as_pid_1_of_a_pid_namespace_and_reaps_orphans() {
    let mut lab = Lab::new(1);
    lab.wrapper = ["unshare", "--pid", "--fork", "--mount-proc"]
        .map(String::from)
        .to_vec();
    // Each run leaves a short-lived orphan behind.
    let c = conf(&lab, 0, 100, &[VIP]).replace(
        "script \"/bin/true\"",
        "script \"/bin/sh -c 'sleep 0.1 &'\"",
    );
    assert!(c.contains("sleep 0.1 &"));
    lab.start(0, UPKEEPD, &c, "keepalived.conf");
    lab.expect_state(0, "VI_1", "MASTER", SECS(15));
    let s = lab.status(0).unwrap();
    // pid 1 is the init, the daemon its child: 3 since the configuration
    // is read on a thread of its own (sys::mem::apart), which took 2.
    assert!(s["pid"].as_u64() > Some(1), "pid 1 is the init: {s}");
    for role in ["vrrp", "ipvs", "checker"] {
        assert!(
            lab.wait(SECS(5), || lab.worker_pid(0, role).is_some()),
            "{role}: {}",
            lab.log(0)
        );
    }
    std::thread::sleep(SECS(4));
    let pids = Command::new("ip")
        .args(["netns", "pids", &lab.nodes[0].ns])
        .output()
        .unwrap();
    let zombies: Vec<String> = String::from_utf8_lossy(&pids.stdout)
        .split_whitespace()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|st| {
                st.rsplit(')')
                    .next()
                    .is_some_and(|r| r.trim_start().starts_with('Z'))
            })
        })
        .map(str::to_string)
        .collect();
    assert!(zombies.is_empty(), "zombies: {zombies:?}");
}

/// Starves upkeepd's parent (not its workers) of CPU: stopped for
/// `stopped`, then running for `running`, over and over, until dropped (or
/// for a minute at most). A machine-independent stand-in for a parent that
/// shares a slow CPU with busy processes (a busy loop pinned next to it
/// starves it more or less depending on the scheduler's autogroups).
struct Starve {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Starve {
    fn new(pid: i32, running: Duration, stopped: Duration) -> Starve {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let until = Instant::now() + SECS(60);
            while !flag.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < until {
                // SAFETY: kill(2) of the daemon's pid, read from its pid file.
                unsafe { libc::kill(pid, libc::SIGSTOP) };
                std::thread::sleep(stopped);
                // SAFETY: as above.
                unsafe { libc::kill(pid, libc::SIGCONT) };
                std::thread::sleep(running);
            }
        });
        Starve {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Starve {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Regression (found with 10,000 TCP checks in a slow VM): the first round
/// of 10,000 real-server checks all change state at once while the parent
/// gets a fifth of a CPU (for 12 s, then all it wants). The parent fell
/// ever further behind on that flood (it rebuilt the status document over
/// and over: the pause between two was counted from the start of the last,
/// which took longer than the pause), and its heartbeat then measured its
/// own lag: the answers sat behind thousands of queued messages, and every
/// worker, even the idle VRRP one, was "not answering heartbeats" and
/// killed (each new checker flooding it again). Workers that answer must
/// stay up however far behind the parent is, and the parent must catch up.
#[test]
fn a_flood_of_check_changes_on_a_starved_parent_restarts_no_worker() {
    const SERVERS: usize = 100;
    const PER: usize = 100;
    let mut lab = Lab::new(1);
    // Every check connects to a closed port of the node's loopback: refused
    // at once, so all of them go down in the first round (delay_loop 1).
    let mut c = common::lab::vrrp_instance(&lab, 0, 100, &[VIP], "");
    for v in 0..SERVERS {
        c.push_str(&format!(
            "virtual_server 10.200.0.{} 80 {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n",
            v + 1
        ));
        for r in 0..PER {
            c.push_str(&format!(
                "    real_server 127.0.0.1 {} {{\n        TCP_CHECK {{\n            connect_timeout 1\n        }}\n    }}\n",
                20000 + r
            ));
        }
        c.push_str("}\n");
    }
    lab.start(0, UPKEEPD, &c, "keepalived.conf");
    assert!(
        lab.wait(SECS(10), || lab.daemon_pid(0).is_some()),
        "{}",
        lab.log(0)
    );
    let starve = Starve::new(
        lab.daemon_pid(0).unwrap(),
        Duration::from_millis(20),
        Duration::from_millis(80),
    );
    let total = SERVERS * PER;
    let down = |lab: &Lab| {
        lab.status(0).map_or(0, |s| {
            s["checks"].as_array().map_or(0, |a| {
                a.iter()
                    .filter(|c| {
                        c["source"]
                            .as_str()
                            .is_some_and(|s| s.starts_with("real_server:"))
                            && c["state"] == "down"
                    })
                    .count()
            })
        })
    };
    let started = Instant::now();
    let mut starve = Some(starve);
    let mut all_down = None;
    let mut restarts = 0;
    // Bounded: 45 s of watching, every half second. The starving ends at
    // 12 s; the catching up after it took more than 10 s beside another
    // 10,000-check test on a slow host (0 and 9,121 of 10,000 down at 22 s).
    while started.elapsed() < SECS(45) {
        if started.elapsed() > SECS(12) {
            starve = None;
        }
        restarts = ["vrrp", "ipvs", "checker"]
            .iter()
            .filter_map(|r| lab.worker_restarts(0, r))
            .sum::<u64>();
        if restarts > 0 || lab.log(0).contains("not answering heartbeats") {
            break;
        }
        if all_down.is_none() && down(&lab) == total {
            all_down = Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    drop(starve);
    let log = lab.log(0);
    let lines = |pat: &str| {
        log.lines()
            .filter(|l| l.contains(pat))
            .map(str::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let why = format!(
        "{}\n{}\n{}",
        lines("worker started"),
        lines("restarting"),
        lines("check start lateness")
    );
    assert_eq!(restarts, 0, "workers restarted:\n{why}");
    assert!(
        !log.contains("not answering heartbeats") && !log.contains("not taking messages"),
        "{why}"
    );
    let all_down = all_down.unwrap_or_else(|| {
        panic!(
            "{} of {total} checks down after {:?}\n{why}",
            down(&lab),
            started.elapsed()
        )
    });
    eprintln!("{total} checks down after {all_down:?}; no worker restarted");
}

/// `upkeepctl reexec` (what the packages run on upgrade) executes the
/// binary again in place: the same parent pid, new workers, and the Master
/// keeps its VIP (never absent while sampled) with no failover. A
/// configuration that no longer loads refuses it and changes nothing.
#[test]
fn reexec_replaces_the_image_without_a_failover() {
    let mut lab = Lab::new(2);
    start_pair(&mut lab, &[], FAST);
    let parent = lab.daemon_pid(0).unwrap();
    let old: Vec<i32> = ["vrrp", "ipvs", "checker"]
        .iter()
        .map(|r| lab.worker_pid(0, r).unwrap())
        .collect();
    let path = lab.config_path(0, "keepalived.conf");
    let good = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        format!("{good}\nvrrp_instance VI_9 {{\n    priority 999\n}}\n"),
    )
    .unwrap();
    let out = upkeepctl(&lab, 0, &["reexec"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("invalid configuration"),
        "{err}"
    );
    assert_eq!(lab.worker_pid(0, "vrrp"), Some(old[0]));
    std::fs::write(&path, &good).unwrap();

    let done = std::sync::atomic::AtomicBool::new(false);
    let (absent, samples) = std::thread::scope(|s| {
        let sampler = s.spawn(|| {
            let (mut absent, mut samples) = (0, 0);
            let until = Instant::now() + SECS(60);
            while !done.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < until {
                samples += 1;
                if !lab.has_addr(0, VIP) {
                    absent += 1;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            (absent, samples)
        });
        let out = upkeepctl(&lab, 0, &["reexec"]);
        // The new image's first adverts: a late failover would show now.
        std::thread::sleep(SECS(5));
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            lab.log(0)
        );
        sampler.join().unwrap()
    });
    assert_eq!(absent, 0, "VIP absent in {absent} of {samples} samples");
    assert_eq!(lab.daemon_pid(0), Some(parent), "the parent's pid changed");
    for (role, old) in ["vrrp", "ipvs", "checker"].iter().zip(&old) {
        let now = lab.worker_pid(0, role);
        assert!(
            now.is_some_and(|p| p != *old),
            "{role}: {now:?} (was {old})"
        );
    }
    let mut moved = false;
    assert_no_failover(&lab, &mut moved);
    assert_eq!(lab.state(0, "VI_1").as_deref(), Some("MASTER"));
    let b = lab.instance(1, "VI_1").unwrap();
    assert_eq!(b["transitions"], 1, "B's transitions: {b}");
    assert!(
        lab.log(0)
            .contains("resuming from the previous image's handover"),
        "{}",
        lab.log(0)
    );
    assert!(!lab.runtime_dir(0).join("handover.json").exists());
}

/// Issue 18: no VRRP worker without a VRRP instance (an LVS director's
/// configuration); a reload that brings the first instance starts one,
/// whose instance becomes Master, and a reload that removes the last
/// retires it. The IPVS worker and the checker run throughout.
#[test]
fn the_vrrp_worker_runs_only_while_an_instance_is_configured() {
    let mut lab = Lab::new(1);
    let lvs = common::lab::dr_virtual_server(VIP, 6, 3);
    lab.start(0, UPKEEPD, &lvs, "keepalived.conf");
    let others =
        |lab: &Lab| lab.worker_pid(0, "ipvs").is_some() && lab.worker_pid(0, "checker").is_some();
    assert!(lab.wait(SECS(20), || others(&lab)), "{}", lab.log(0));
    std::thread::sleep(SECS(1));
    assert_eq!(lab.worker_pid(0, "vrrp"), None, "{}", lab.log(0));
    let reload_with = |text: &str| {
        std::fs::write(lab.config_path(0, "keepalived.conf"), text).unwrap();
        let out = upkeepctl(&lab, 0, &["reload"]);
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            lab.log(0)
        );
    };
    let instance = common::lab::vrrp_instance(&lab, 0, 100, &[VIP], "");
    reload_with(&format!("{instance}\n{lvs}"));
    lab.expect_state(0, "VI_1", "MASTER", SECS(20));
    assert!(lab.worker_pid(0, "vrrp").is_some());
    assert!(
        lab.wait(SECS(10), || lab.has_addr(0, VIP)),
        "{}",
        lab.log(0)
    );
    reload_with(&lvs);
    assert!(
        lab.wait(SECS(20), || lab.worker_pid(0, "vrrp").is_none()),
        "{}",
        lab.log(0)
    );
    // The instance's address went with it.
    assert!(
        lab.wait(SECS(10), || !lab.has_addr(0, VIP)),
        "{}",
        lab.log(0)
    );
    assert!(others(&lab), "{}", lab.log(0));
}

/// Regression (issue 18): a configuration that needs no worker (nothing
/// configured yet, as the packages install it) is ready at once; when
/// the VRRP worker stopped being started without an instance, READY=1
/// never came and systemd gave up on the start.
#[test]
fn a_configuration_with_nothing_to_run_is_ready() {
    let mut lab = Lab::new(1);
    let sock_path = lab.config_path(0, "notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    let path = sock_path.to_str().unwrap().to_string();
    lab.start_with(
        0,
        UPKEEPD,
        "global_defs {\n    router_id empty\n}\n",
        "keepalived.conf",
        &[],
        &[("NOTIFY_SOCKET", &path)],
    );
    let mut seen = Vec::new();
    let ready = recv_until(&sock, &mut seen, SECS(15), |m| m.contains("READY=1"));
    assert!(ready, "no READY: {seen:?}\n{}", lab.logs());
    for role in ["vrrp", "ipvs", "checker"] {
        assert_eq!(lab.worker_pid(0, role), None, "{role}");
    }
    lab.signal(0, libc::SIGTERM);
    assert!(lab.wait_exit(0, SECS(10)).is_some(), "{}", lab.logs());
}
