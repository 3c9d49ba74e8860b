//! Health checks driving VRRP, with real upkeepd processes in network
//! namespaces the test creates. The checks run in the unprivileged checker
//! process. Needs root; every wait is bounded; the lab is removed on drop.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test crate fails by panicking

mod common;

use std::time::Duration;

use common::lab::Lab;

const UPKEEPD: &str = env!("CARGO_BIN_EXE_upkeepd");
const VIP: &str = "10.77.0.100";
const SECS: fn(u64) -> Duration = Duration::from_secs;

/// A node whose instance tracks a script that passes while `flag` exists.
/// The flag lives in /tmp itself: the checker runs as an unprivileged user.
fn conf(lab: &Lab, k: usize, priority: u32, flag: &str, weight: &str) -> String {
    let track = "    track_script {\n        chk_flag\n    }";
    let instance = common::lab::vrrp_instance(lab, k, priority, &[VIP], track);
    format!(
        r#"
vrrp_script chk_flag {{
    script "/bin/test -e {flag}"
    interval 0.2
    fall 2
    rise 2
    {weight}
}}
{instance}"#
    )
}

struct Flag(String);

impl Flag {
    fn new(tag: &str) -> Self {
        let p = format!("/tmp/upkeep-flag-{}-{tag}", std::process::id());
        std::fs::write(&p, "").unwrap();
        Flag(p)
    }
    fn set(&self, on: bool) {
        if on {
            std::fs::write(&self.0, "").unwrap();
        } else {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

impl Drop for Flag {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn a_failing_script_faults_the_master_and_the_backup_takes_over() {
    let mut lab = Lab::new(2);
    let (fa, fb) = (Flag::new("a"), Flag::new("b"));
    let (a, b) = (conf(&lab, 0, 100, &fa.0, ""), conf(&lab, 1, 90, &fb.0, ""));
    lab.start(0, UPKEEPD, &a, "keepalived.conf");
    lab.start(1, UPKEEPD, &b, "keepalived.conf");
    lab.expect_state(0, "VI_1", "MASTER", SECS(15));
    lab.expect_state(1, "VI_1", "BACKUP", SECS(5));
    let check = |k: usize| {
        lab.status(k).and_then(|s| {
            s["checks"]
                .as_array()?
                .iter()
                .find(|c| c["source"] == "script:chk_flag")
                .cloned()
        })
    };
    assert!(
        lab.wait(SECS(5), || check(0).is_some_and(|c| c["state"] == "up")),
        "{:?}",
        check(0)
    );

    // Weight 0: a failing script is a fault; the peer takes over at once
    // (the Master resigns with priority 0).
    fa.set(false);
    lab.expect_state(0, "VI_1", "FAULT", SECS(5));
    lab.expect_state(1, "VI_1", "MASTER", SECS(5));
    let c = check(0).unwrap();
    assert_eq!(c["state"], "down");
    assert!(c["last_result"].as_str().unwrap().contains("exit 1"), "{c}");
    assert!(c["failures"].as_u64().unwrap() >= 2);
    assert!(lab.wait(SECS(5), || lab.has_addr(1, VIP) && !lab.has_addr(0, VIP)));

    // Passing again: A leaves Fault and, with preempt, takes the VIP back.
    fa.set(true);
    lab.expect_state(0, "VI_1", "MASTER", SECS(10));
    lab.expect_state(1, "VI_1", "BACKUP", SECS(5));
    drop(fb);
}

/// A watched "service" is the flag file; its restart command recreates it
/// unless the service is "broken" (a second file), and counts its runs. It
/// writes where only root may, so it says it runs as root (a restart
/// command runs as its check's account unless it names one).
fn policy_conf(lab: &Lab, k: usize, priority: u32, tag: &str, demote: &str) -> String {
    let dir = format!("/tmp/upkeep-svc-{}-{tag}", std::process::id());
    let track = "    track_script {\n        chk_svc\n        chk_other\n    }";
    let instance = common::lab::vrrp_instance(lab, k, priority, &[VIP], track);
    format!(
        r#"
vrrp_script chk_svc {{
    script "/bin/test -e {dir}/up"
    interval 0.2
    fall 2
    upkeep_restart "/bin/sh -c 'echo run >> {dir}/restarts; test -e {dir}/broken || touch {dir}/up'" root
    upkeep_restart_grace 1
    upkeep_restart_limit 100 60
    upkeep_demote {demote}
}}
vrrp_script chk_other {{
    script "/bin/true"
    interval 1
    upkeep_restart "/bin/sh -c 'echo run >> {dir}/other-restarts'" root
}}
{instance}"#
    )
}

struct Svc(String);

impl Svc {
    fn new(tag: &str) -> Self {
        let d = format!("/tmp/upkeep-svc-{}-{tag}", std::process::id());
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        // World-readable: the checker runs unprivileged.
        std::fs::write(format!("{d}/up"), "").unwrap();
        Svc(d)
    }
    fn path(&self, f: &str) -> String {
        format!("{}/{f}", self.0)
    }
    fn restarts(&self, f: &str) -> usize {
        std::fs::read_to_string(self.path(f)).map_or(0, |s| s.lines().count())
    }
}

impl Drop for Svc {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn restart_then_demote_keeps_the_vip_when_a_restart_helps_and_resigns_when_not() {
    let mut lab = Lab::new(2);
    let (sa, sb) = (Svc::new("a"), Svc::new("b"));
    let (a, b) = (
        policy_conf(&lab, 0, 100, "a", "resign"),
        policy_conf(&lab, 1, 90, "b", "resign"),
    );
    // A first, so that B's transitions count only what the checks cause.
    lab.start(0, UPKEEPD, &a, "keepalived.conf");
    lab.expect_state(0, "VI_1", "MASTER", SECS(15));
    lab.start(1, UPKEEPD, &b, "keepalived.conf");
    lab.expect_state(1, "VI_1", "BACKUP", SECS(10));

    // 1. The service dies; its restart command brings it back: the VIP stays.
    std::fs::remove_file(sa.path("up")).unwrap();
    assert!(
        lab.wait(SECS(10), || sa.restarts("restarts") >= 1),
        "{}",
        lab.log(0)
    );
    assert!(lab.wait(SECS(5), || std::path::Path::new(&sa.path("up")).exists()));
    std::thread::sleep(SECS(3));
    assert_eq!(lab.state(0, "VI_1").as_deref(), Some("MASTER"));
    assert_eq!(
        lab.instance(1, "VI_1").unwrap()["transitions"],
        1,
        "B moved"
    );
    // Only the failing check's own command ran.
    assert_eq!(sa.restarts("other-restarts"), 0);

    // 2. The service cannot start: after the grace period A resigns and B
    //    takes over within Skew_Time, not a whole Master_Down_Interval.
    std::fs::write(sa.path("broken"), "").unwrap();
    std::fs::remove_file(sa.path("up")).unwrap();
    lab.expect_state(1, "VI_1", "MASTER", SECS(10));
    assert_eq!(lab.state(0, "VI_1").as_deref(), Some("BACKUP"));
    let a_status = lab.instance(0, "VI_1").unwrap();
    assert!(
        a_status["last_cause"]
            .as_str()
            .unwrap()
            .contains("resigned"),
        "{a_status}"
    );
    let s = lab.status(0).unwrap();
    let chk = s["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["source"] == "script:chk_svc")
        .unwrap()
        .clone();
    assert!(
        chk["policy"].as_str().unwrap().starts_with("demoted"),
        "{chk}"
    );
    // Resigned: A stays Backup while failing, though its priority is higher.
    std::thread::sleep(SECS(5));
    assert_eq!(lab.state(0, "VI_1").as_deref(), Some("BACKUP"));
    assert!(
        sa.restarts("restarts") >= 3,
        "restarts are retried while demoted"
    );

    // 3. Fixed: the next retry starts it, the check passes, and with
    //    preempt A takes the VIP back.
    std::fs::remove_file(sa.path("broken")).unwrap();
    lab.expect_state(0, "VI_1", "MASTER", SECS(15));
    lab.expect_state(1, "VI_1", "BACKUP", SECS(5));
    assert_eq!(sa.restarts("other-restarts"), 0);
    drop(sb);
}

#[test]
fn a_tracked_file_created_by_init_file_faults_the_master_while_not_zero() {
    let mut lab = Lab::new(2);
    let path = format!("/tmp/upkeep-trackfile-{}", std::process::id());
    let _ = std::fs::remove_file(&path);
    let conf = |k: usize, prio: u32| {
        let track = "    track_file {\n        fl\n    }";
        let instance = common::lab::vrrp_instance(&lab, k, prio, &[VIP], track);
        let file = if k == 0 {
            path.clone()
        } else {
            format!("{path}-b")
        };
        format!(
            "vrrp_track_file fl {{\n    file {file}\n    weight 0\n    init_file 0 overwrite\n}}\n{instance}"
        )
    };
    let (a, b) = (conf(0, 100), conf(1, 90));
    lab.start(0, UPKEEPD, &a, "keepalived.conf");
    lab.start(1, UPKEEPD, &b, "keepalived.conf");
    lab.expect_state(0, "VI_1", "MASTER", SECS(15));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap().trim(),
        "0",
        "init_file"
    );
    std::fs::write(&path, "1\n").unwrap();
    lab.expect_state(0, "VI_1", "FAULT", SECS(5));
    lab.expect_state(1, "VI_1", "MASTER", SECS(5));
    std::fs::write(&path, "0\n").unwrap();
    lab.expect_state(0, "VI_1", "MASTER", SECS(10));
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(format!("{path}-b"));
}

#[test]
fn a_tracked_process_that_exits_faults_the_master() {
    let mut lab = Lab::new(2);
    let arg = format!("1000.{}", std::process::id());
    let spawn = || {
        std::process::Command::new("sleep")
            .arg(&arg)
            .spawn()
            .unwrap()
    };
    let mut sleeper = spawn();
    let conf = |k: usize, prio: u32| {
        let track = "    track_process {\n        proc\n    }";
        let instance = common::lab::vrrp_instance(&lab, k, prio, &[VIP], track);
        let process = if k == 0 {
            format!("sleep {arg}")
        } else {
            "upkeepd".into()
        };
        format!("vrrp_track_process proc {{\n    process {process}\n    weight 0\n}}\n{instance}")
    };
    let (a, b) = (conf(0, 100), conf(1, 90));
    lab.start(0, UPKEEPD, &a, "keepalived.conf");
    lab.start(1, UPKEEPD, &b, "keepalived.conf");
    lab.expect_state(0, "VI_1", "MASTER", SECS(15));
    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
    lab.expect_state(0, "VI_1", "FAULT", SECS(5));
    lab.expect_state(1, "VI_1", "MASTER", SECS(5));
    let mut again = spawn();
    lab.expect_state(0, "VI_1", "MASTER", SECS(10));
    again.kill().unwrap();
    again.wait().unwrap();
}

#[test]
fn a_hanging_check_is_killed_at_its_timeout_and_counts_as_a_failure() {
    let mut lab = Lab::new(1);
    // A unique duration marks the processes this check starts.
    let marker = format!("61.{}", std::process::id());
    let track = "    track_script {\n        chk_hang\n    }";
    let instance = common::lab::vrrp_instance(&lab, 0, 100, &[VIP], track);
    let c = format!(
        "vrrp_script chk_hang {{\n    script \"/bin/sh -c 'sleep {marker} & sleep {marker}'\"\n    interval 1\n    timeout 0.3\n}}\n{instance}"
    );
    lab.start(0, UPKEEPD, &c, "keepalived.conf");
    lab.expect_state(0, "VI_1", "FAULT", SECS(10));
    let check = lab.status(0).unwrap()["checks"][0].clone();
    assert_eq!(check["state"], "down", "{check}");
    assert!(
        check["last_result"].as_str().unwrap().contains("timed out"),
        "{check}"
    );
    // Every run's processes (the script and its background child) are gone.
    let left = || {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|e| {
                std::fs::read(e.path().join("cmdline"))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&marker))
            })
            .count()
    };
    // Sample between runs: at most the current run's two may exist.
    let mut max_seen = 0;
    for _ in 0..30 {
        max_seen = max_seen.max(left());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(max_seen <= 3, "processes pile up: {max_seen}");
    lab.signal(0, libc::SIGTERM);
    assert!(lab.wait_exit(0, SECS(10)).is_some());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(left(), 0, "left behind after the timeouts");
}

/// keepalived's checker `bindto` / `bind_port`, through the real
/// (unprivileged, sandboxed) checker: the real server sees its checks come
/// from the configured source address and port.
#[test]
fn bindto_and_bind_port_are_the_source_the_real_server_sees() {
    let mut lab = Lab::new(1);
    let node = lab.nodes[0].v4.clone();
    lab.ip(0, &["addr", "add", "10.77.0.99/24", "dev", "eth0"]);
    let peers = lab.nodes[0].dir.join("peers");
    // A TCP server that writes each client's address and port.
    let server = format!(
        "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('{node}',8080))\ns.listen(8)\nwhile True:\n    c,a=s.accept()\n    open('{p}','a').write('%s %d\\n' % a)\n    c.close()\n",
        p = peers.display()
    );
    lab.spawn(0, &["python3", "-c", &server], "server.log");
    let instance = common::lab::vrrp_instance(&lab, 0, 100, &[VIP], "");
    let conf = format!(
        r#"
{instance}
virtual_server {VIP} 8080 {{
    delay_loop 1
    lb_kind DR
    protocol TCP
    real_server {node} 8080 {{
        TCP_CHECK {{
            bindto 10.77.0.99
            bind_port 4321
            warmup 0
        }}
    }}
}}
"#
    );
    lab.start(0, UPKEEPD, &conf, "keepalived.conf");
    let seen = || std::fs::read_to_string(&peers).unwrap_or_default();
    assert!(
        lab.wait(SECS(20), || seen().lines().count() >= 2),
        "fewer than two checks reached the server: {:?}\n{}",
        seen(),
        lab.log(0)
    );
    for line in seen().lines() {
        assert_eq!(line, "10.77.0.99 4321", "{}", lab.log(0));
    }
}

/// Issue 16: keepalived's `log_all_failures`. Two real servers that refuse
/// connections, `retry 2`: the one whose checker has it logs each failed
/// attempt while up (the first and its two retries), then nothing more
/// once down; the other logs only its state change.
#[test]
fn log_all_failures_logs_each_failed_attempt_until_down() {
    let mut lab = Lab::new(1);
    let node = lab.nodes[0].v4.clone();
    let instance = common::lab::vrrp_instance(&lab, 0, 100, &[VIP], "");
    let checker = |extra: &str| {
        format!(
            "TCP_CHECK {{\n            connect_timeout 1\n            retry 2\n            delay_before_retry 0.2\n            warmup 0\n            {extra}\n        }}"
        )
    };
    let conf = format!(
        r#"
{instance}
virtual_server {VIP} 80 {{
    delay_loop 1
    lb_kind DR
    protocol TCP
    real_server {node} 7100 {{
        {all}
    }}
    real_server {node} 7101 {{
        {plain}
    }}
}}
"#,
        all = checker("log_all_failures"),
        plain = checker("")
    );
    lab.start(0, UPKEEPD, &conf, "keepalived.conf");
    let lines = |lab: &Lab, what: &str, port: &str| {
        lab.log(0)
            .lines()
            .filter(|l| l.contains("role=checker") && l.contains(what) && l.contains(port))
            .count()
    };
    assert!(
        lab.wait(SECS(30), || lines(&lab, "check state changed", ":7100")
            >= 1
            && lines(&lab, "check state changed", ":7101") >= 1),
        "the real servers were never marked down:\n{}",
        lab.log(0)
    );
    // Some more runs while down (delay_loop 1): none of them is logged.
    std::thread::sleep(SECS(3));
    assert_eq!(lines(&lab, "check failed", ":7100"), 3, "{}", lab.log(0));
    assert_eq!(lines(&lab, "check failed", ":7101"), 0, "{}", lab.log(0));
    assert_eq!(
        lines(&lab, "check state changed", ":7100"),
        1,
        "{}",
        lab.log(0)
    );
}

/// A process's anonymous resident memory, KiB.
fn rss_anon(pid: i32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Issue 18: the parent at 10,000 TCP checks, every one reporting. Its
/// anonymous memory was 46 MiB at the issue's start and 39 while the
/// configuration and the checks' list were built on the main thread (the
/// parse, 44 MiB at peak, left the model and the records strewn over the
/// heap); 18–21 MiB after a trim, then 13.7 with the check table, the
/// streamed status.json and the boxed model (bench/README.md).
/// In this (dev) build the least over 8 s is 25–27 MiB. The bound is above
/// that with room for noise: it catches a gross regression (a leak, a
/// record per result), and weighs nothing finer (the benchmark does).
#[test]
fn ten_thousand_checks_keep_the_parent_small() {
    const CHECKS: usize = 10_000;
    let mut lab = Lab::new(1);
    let listeners = common::repo().join("tests/tools/tcp_listeners.py");
    lab.spawn(
        0,
        &["python3", listeners.to_str().unwrap()],
        "listeners.log",
    );
    let mut text = common::lab::vrrp_instance(&lab, 0, 100, &[VIP], "");
    text.push_str(&common::tcp_checked_servers(CHECKS, 2));
    lab.start(0, UPKEEPD, &text, "keepalived.conf");
    let all_up = || {
        lab.status(0).is_some_and(|s| {
            s["checks"].as_array().is_some_and(|c| {
                c.len() == CHECKS && c.iter().all(|c| c["state"] == "up" && c["runs"] != 0)
            })
        })
    };
    assert!(
        lab.wait(SECS(120), all_up),
        "not every check is up\n{}",
        lab.log(0)
    );
    // Over two more rounds of results, the least: between its trims
    // (every 5 s) the parent's free heap is touched again by the results
    // passing through, up to 4 MiB more at 10,000 checks.
    let parent = lab.daemon_pid(0).unwrap();
    let checker = lab.worker_pid(0, "checker").unwrap();
    let (mut kib, mut checker_kib) = (u64::MAX, u64::MAX);
    for _ in 0..16 {
        std::thread::sleep(Duration::from_millis(500));
        kib = kib.min(rss_anon(parent).unwrap());
        checker_kib = checker_kib.min(rss_anon(checker).unwrap());
    }
    let checker = checker_kib;
    eprintln!("anonymous memory at {CHECKS} checks: parent {kib} KiB, checker {checker} KiB");
    assert!(kib < 34 * 1024, "parent: {kib} KiB\n{}", lab.processes(0));
    lab.expect_state(0, "VI_1", "MASTER", SECS(5));
}
