//! Planned maintenance from the command line (issue 17, item 7):
//! `upkeepctl maintenance` and `upkeepctl handover` with real upkeepd
//! processes in network namespaces the test creates. Every wait is bounded;
//! times are printed, not asserted tightly.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test crate fails by panicking

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::lab::{Lab, vrrp_instance};

const UPKEEPD: &str = env!("CARGO_BIN_EXE_upkeepd");
const UPKEEPCTL: &str = env!("CARGO_BIN_EXE_upkeepctl");
const VIP: &str = "10.77.0.100";
const SECS: fn(u64) -> Duration = Duration::from_secs;

/// Runs upkeepctl against node `k`: (success, stdout + stderr).
fn ctl(lab: &Lab, k: usize, args: &[&str]) -> (bool, String) {
    let out = Command::new(UPKEEPCTL)
        .arg("--runtime-dir")
        .arg(lab.runtime_dir(k))
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Node 0 priority 150, node 1 priority 100, with `extra` lines in node
/// 0's instance; node 0 Master.
fn pair(lab: &mut Lab, extra: &str) -> String {
    let a = vrrp_instance(lab, 0, 150, &[VIP], extra);
    let b = vrrp_instance(lab, 1, 100, &[VIP], "");
    lab.start(0, UPKEEPD, &a, "keepalived.conf");
    lab.start(1, UPKEEPD, &b, "keepalived.conf");
    lab.expect_state(0, "VI_1", "MASTER", SECS(10));
    lab.expect_state(1, "VI_1", "BACKUP", SECS(3));
    a
}

fn flag(lab: &Lab, k: usize, name: &str) -> bool {
    lab.instance(k, "VI_1")
        .and_then(|s| s[name].as_bool())
        .unwrap_or(false)
}

/// Node 0 Backup in maintenance, node 1 Master with the VIP, for longer
/// than node 0's Master_Down_Interval (3.4 s) after `what`.
fn held(lab: &Lab, what: &str) {
    std::thread::sleep(SECS(5));
    assert_eq!(
        lab.state(0, "VI_1").as_deref(),
        Some("BACKUP"),
        "after {what}\n{}",
        lab.log(0)
    );
    assert!(flag(lab, 0, "maintenance"), "after {what}");
    assert_eq!(
        lab.state(1, "VI_1").as_deref(),
        Some("MASTER"),
        "after {what}"
    );
    assert!(
        lab.has_addr(1, VIP) && !lab.has_addr(0, VIP),
        "after {what}"
    );
}

/// The VRRP adverts in a capture: (source, priority) in order.
fn adverts(lab: &Lab, pcap: &std::path::Path) -> Vec<(String, u32)> {
    let dump = lab.exec(2, &["tcpdump", "-r", pcap.to_str().unwrap(), "-n", "-v"]);
    let mut out = Vec::new();
    let mut src = String::new();
    for line in dump.lines() {
        if let Some(rest) = line.trim().strip_prefix("10.77.0.") {
            src = format!("10.77.0.{}", rest.split_whitespace().next().unwrap_or(""));
        }
        if let Some(p) = line.split("prio ").nth(1) {
            let prio: u32 = p
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .unwrap()
                .parse()
                .unwrap();
            out.push((src.trim_end_matches(':').to_string(), prio));
        }
    }
    out
}

#[test]
fn maintenance_holds_backup_across_reload_restart_and_worker_kill() {
    let mut lab = Lab::new(3);
    // `notify` records each state word it is given.
    let dir = lab.nodes[0].dir.clone();
    let (bin, words) = (dir.join("bin"), dir.join("words"));
    std::fs::create_dir_all(&bin).unwrap();
    let script = bin.join("notify.sh");
    common::write_script(
        &script,
        &format!("#!/bin/sh\necho \"$3\" >> {}\n", words.display()),
    );
    let conf = pair(&mut lab, &format!("    notify {}", script.display()));
    let pcap = lab.capture(2, "vrrp.pcap", "ip proto 112");
    let (ok, text) = ctl(&lab, 0, &["maintenance", "on", "nosuch"]);
    assert!(
        !ok && text.contains("unknown instance 'nosuch'") && text.contains("VI_1"),
        "{text}"
    );

    let t0 = Instant::now();
    let (ok, text) = ctl(&lab, 0, &["maintenance", "on"]);
    assert!(ok && text.contains("in maintenance: VI_1"), "{text}");
    lab.expect_state(1, "VI_1", "MASTER", SECS(3));
    let took = t0.elapsed();
    assert!(lab.wait(SECS(6), || !lab.has_addr(0, VIP)));
    eprintln!("maintenance on: the peer is Master after {took:?} (polled)");
    let (_, status) = ctl(&lab, 0, &["status"]);
    assert!(status.contains("MAINTENANCE"), "{status}");
    let (_, list) = ctl(&lab, 0, &["maintenance"]);
    assert!(list.contains("in maintenance: VI_1"), "{list}");
    held(&lab, "maintenance on");

    let (ok, text) = ctl(&lab, 0, &["reload"]);
    assert!(ok, "{text}");
    held(&lab, "upkeepctl reload");
    lab.signal(0, libc::SIGHUP);
    held(&lab, "SIGHUP");

    let before = lab.worker_restarts(0, "vrrp").unwrap();
    let pid = lab.worker_pid(0, "vrrp").unwrap();
    kill_pid(pid);
    assert!(
        lab.wait(SECS(10), || lab.worker_restarts(0, "vrrp") > Some(before)
            && lab.worker_pid(0, "vrrp").is_some())
    );
    held(&lab, "a VRRP worker killed");

    lab.signal(0, libc::SIGTERM);
    assert!(lab.wait_exit(0, SECS(15)).is_some());
    lab.start(0, UPKEEPD, &conf, "keepalived.conf");
    assert!(lab.wait(SECS(10), || lab.state(0, "VI_1").is_some()));
    held(&lab, "a restart of upkeepd");

    let (ok, text) = ctl(&lab, 0, &["maintenance", "off", "VI_1"]);
    assert!(ok && text.contains("no instance in maintenance"), "{text}");
    // Priority 150 preempts the 100 again.
    lab.expect_state(0, "VI_1", "MASTER", SECS(6));
    lab.expect_state(1, "VI_1", "BACKUP", SECS(3));
    assert!(!flag(&lab, 0, "maintenance"));

    // Notify: MAINTENANCE on entering it (again at the restart, after
    // STOP), BACKUP on leaving it; nothing for reloads or the worker kill.
    let expected = "BACKUP MASTER MAINTENANCE STOP MAINTENANCE BACKUP MASTER";
    let said = || {
        std::fs::read_to_string(&words)
            .unwrap_or_default()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert!(
        lab.wait(SECS(3), || said() == expected),
        "notify said {:?}",
        said()
    );

    // The wire: node 0's priority-0 advert, then node 1 alone until off.
    std::thread::sleep(SECS(1));
    let seen = adverts(&lab, &pcap);
    let a = &lab.nodes[0].v4;
    let b = &lab.nodes[1].v4;
    let zero = seen
        .iter()
        .position(|(s, p)| s == a && *p == 0)
        .unwrap_or_else(|| panic!("no priority-0 advert: {seen:?}"));
    // Node 0's first advert after `maintenance off`.
    let back = zero
        + seen[zero..]
            .iter()
            .position(|(s, p)| s == a && *p == 150)
            .unwrap();
    let between = &seen[zero + 1..back];
    // Node 0 resigned again at the restart's shutdown (already Backup: no
    // priority-0 then) and said nothing else until off.
    assert!(
        between
            .iter()
            .all(|(s, p)| s == b && *p == 100 || s == a && *p == 0),
        "{between:?}"
    );
    assert!(
        between.iter().filter(|(s, _)| s == b).count() >= 20,
        "{between:?}"
    );
}

fn kill_pid(pid: i32) {
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status();
}

#[test]
fn handover_moves_the_vip_and_leaves_an_ordinary_backup() {
    let mut lab = Lab::new(2);
    pair(&mut lab, "    nopreempt");
    // Refusals: a Backup has nothing to hand over; an unknown name; a user
    // other than root or the daemon's cannot use the socket at all.
    let (ok, text) = ctl(&lab, 1, &["handover"]);
    assert!(!ok && text.contains("nothing to hand over"), "{text}");
    let (ok, text) = ctl(&lab, 1, &["handover", "VI_1"]);
    assert!(!ok && text.contains("not MASTER"), "{text}");
    let (ok, text) = ctl(&lab, 0, &["handover", "web"]);
    assert!(!ok && text.contains("unknown instance 'web'"), "{text}");
    let nobody = lab.upkeepctl_as_nobody(0, &["maintenance", "on"]);
    assert!(!nobody.status.success());
    eprintln!(
        "as nobody: {}",
        String::from_utf8_lossy(&nobody.stderr).trim()
    );

    let t0 = Instant::now();
    let (ok, text) = ctl(&lab, 0, &["handover"]);
    assert!(
        ok && text.contains("handed over to 10.77.0.11"),
        "{text}\n{}",
        lab.logs()
    );
    eprintln!(
        "handover: {} ({:?} with upkeepctl)",
        text.trim(),
        t0.elapsed()
    );
    lab.expect_state(1, "VI_1", "MASTER", SECS(2));
    assert!(lab.wait(SECS(6), || !lab.has_addr(0, VIP)));
    // status.json follows the change paced (up to PUBLISH_EVERY, 200 ms,
    // after the last publication): read the instant the VIP was gone it
    // could still show the handover (failed once in CI).
    assert!(
        lab.wait(SECS(2), || !flag(&lab, 0, "maintenance")
            && !flag(&lab, 0, "handover")),
        "{:?}",
        lab.instance(0, "VI_1")
    );
    let (_, list) = ctl(&lab, 0, &["maintenance"]);
    assert!(list.contains("no instance in maintenance"), "{list}");
    // An ordinary (nopreempt) Backup: it stays so while the peer is Master…
    std::thread::sleep(SECS(5));
    assert_eq!(lab.state(0, "VI_1").as_deref(), Some("BACKUP"));
    assert_eq!(lab.state(1, "VI_1").as_deref(), Some("MASTER"));
    // …and takes over when the peer stops.
    lab.signal(1, libc::SIGTERM);
    lab.expect_state(0, "VI_1", "MASTER", SECS(4));
}

/// A preempting node of higher priority is refused without --force.
#[test]
fn handover_of_a_preempting_master_needs_force() {
    let mut lab = Lab::new(2);
    pair(&mut lab, "");
    let (ok, text) = ctl(&lab, 0, &["handover"]);
    assert!(
        !ok && text.contains("preempts") && text.contains("--force"),
        "{text}"
    );
    assert_eq!(lab.state(0, "VI_1").as_deref(), Some("MASTER"));
    // Forced: the peer takes over, and this node takes the VIP back
    // after its Master_Down_Interval (a failover test).
    let (ok, text) = ctl(&lab, 0, &["handover", "--force", "VI_1"]);
    assert!(ok, "{text}");
    lab.expect_state(0, "VI_1", "MASTER", SECS(8));
}

/// bench/handover.py's client: a new TCP connection and one HTTP request
/// to VIP:8080 every 10 ms for `secs`, from node `k`; (answered, failed,
/// longest gap between answers in ms).
fn client(lab: &Lab, k: usize, secs: u32) -> std::thread::JoinHandle<(u64, u64, f64)> {
    let script =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../bench/handover.py"))
            .unwrap();
    let code = script
        .split("CLIENT = r\"\"\"")
        .nth(1)
        .and_then(|s| s.split("\"\"\"").next())
        .unwrap()
        .to_string();
    let ns = lab.nodes[k].ns.clone();
    std::thread::spawn(move || {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns,
                "python3",
                "-c",
                &code,
                VIP,
                &secs.to_string(),
            ])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (
            v["ok"].as_u64().unwrap(),
            v["failed"].as_u64().unwrap(),
            v["gap_ms"].as_f64().unwrap(),
        )
    })
}

/// What keepalived 2.2.7 offers for planned maintenance: stopping the
/// daemon (SIGTERM, what `systemctl stop keepalived` does), measured with
/// the same client as bench/handover.py. Printed, not asserted. Run with
/// `cargo nextest run -p upkeep --test vrrp_maintenance_lab --run-ignored all --no-capture keepalived`.
#[test]
#[ignore = "a record of keepalived's behaviour, not a test of upkeep"]
fn keepalived_sigterm_as_maintenance() {
    let mut lab = Lab::new(3);
    for k in 0..2 {
        let dir = lab.nodes[k].dir.join("www");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("index.html"), format!("node {k}\n")).unwrap();
        let d = dir.to_str().unwrap().to_string();
        lab.spawn(
            k,
            &[
                "python3",
                "-m",
                "http.server",
                "8080",
                "--bind",
                "0.0.0.0",
                "--directory",
                &d,
            ],
            "www.log",
        );
    }
    let confs = [
        vrrp_instance(&lab, 0, 150, &[VIP], "    nopreempt"),
        vrrp_instance(&lab, 1, 100, &[VIP], ""),
    ];
    lab.start_keepalived_nodes(&confs, VIP);
    std::thread::sleep(SECS(1));
    let c = client(&lab, 2, 6);
    std::thread::sleep(SECS(2));
    lab.signal_keepalived(0, libc::SIGTERM);
    let (ok, failed, gap) = c.join().unwrap();
    eprintln!(
        "keepalived SIGTERM of the Master: {failed} failed of {} requests, longest gap {gap:.0} ms; B holds the VIP: {}",
        ok + failed,
        lab.has_addr(1, VIP)
    );
}
