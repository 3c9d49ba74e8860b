//! The privilege boundary between the parent and a hostile checker, with
//! real upkeepd processes in network namespaces the test creates. Frames
//! are forged as the checker would send them: from its own socket (a
//! duplicate of its descriptor 3) with its own credentials (root may put
//! another process's pid in SCM_CREDENTIALS), so that the parent cannot
//! tell them from the checker's. Needs root; every wait is bounded.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test crate fails by panicking

mod common;

use std::io::IoSlice;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use common::lab::Lab;
use nix::sys::socket::{ControlMessage, MsgFlags, UnixCredentials, sendmsg};
use upkeep::checker::health::Verdict;
use upkeep::ipc::Msg;
use upkeep::ipc::msg::{CheckStatus, RealServerState};

const UPKEEPD: &str = env!("CARGO_BIN_EXE_upkeepd");
const VIP: &str = "10.77.0.100";
const SECS: fn(u64) -> Duration = Duration::from_secs;
const FAST: &[&str] = &["--restart-backoff", "0.1-0.5"];

/// A Master with a script check, a tracked file and a real server check.
fn conf(lab: &Lab, k: usize, priority: u32) -> String {
    let dir = lab.nodes[k].dir.display().to_string();
    let instance = common::lab::vrrp_instance(
        lab,
        k,
        priority,
        &[VIP],
        "    track_script {\n        chk_true\n    }\n    track_file {\n        flag weight 1\n    }",
    );
    format!(
        r#"
vrrp_script chk_true {{
    script "/bin/true"
    interval 1
}}
vrrp_track_file flag {{
    file {dir}/flag
}}
{instance}
{vs}"#,
        vs = common::lab::dr_virtual_server(VIP, 6, 3),
    )
}

fn start_pair(lab: &mut Lab) {
    for (k, prio, state) in [(0, 100, "MASTER"), (1, 90, "BACKUP")] {
        let c = conf(lab, k, prio);
        lab.start_with(k, UPKEEPD, &c, "keepalived.conf", FAST, &[]);
        lab.expect_state(k, "VI_1", state, SECS(15));
        assert!(
            lab.wait(SECS(10), || lab.worker_pid(k, "checker").is_some()),
            "node {k}: no checker\n{}",
            lab.log(k)
        );
    }
}

/// A duplicate of descriptor `fd` of process `pid` (pidfd_getfd, as root).
fn steal_fd(pid: i32, fd: i32) -> OwnedFd {
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    assert!(
        pidfd >= 0,
        "pidfd_open: {}",
        std::io::Error::last_os_error()
    );
    let got = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd, fd, 0) } as i32;
    assert!(got >= 0, "pidfd_getfd: {}", std::io::Error::last_os_error());
    unsafe { libc::close(pidfd) };
    // SAFETY: a new descriptor that this process alone owns.
    unsafe { OwnedFd::from_raw_fd(got) }
}

/// The uid and gid of process `pid`.
fn ids(pid: i32) -> (u32, u32) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |key: &str| -> u32 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap()
    };
    (field("Uid:"), field("Gid:"))
}

/// Sends `frame` to the parent as the worker `pid` would: on its socket,
/// with its credentials.
fn send_as(pid: i32, frame: &[u8]) {
    let fd = steal_fd(pid, 3);
    let (uid, gid) = ids(pid);
    let cred = UnixCredentials::from(libc::ucred { pid, uid, gid });
    let cmsg = [ControlMessage::ScmCredentials(&cred)];
    sendmsg::<()>(
        fd.as_raw_fd(),
        &[IoSlice::new(frame)],
        &cmsg,
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .unwrap();
}

fn forge(pid: i32, msg: &Msg) {
    send_as(pid, &upkeep::ipc::encode(msg).unwrap());
}

fn result(source: &str, state: Verdict, value: Option<i64>) -> CheckStatus {
    CheckStatus {
        source: source.into(),
        state,
        last_result: Some("forged".into()),
        latency_us: None,
        failures: 1,
        runs: 1,
        value,
        policy: None,
        metrics: Vec::new(),
    }
}

fn violations(lab: &Lab, k: usize, role: &str) -> u64 {
    lab.status(k).unwrap()["workers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["role"] == role)
        .and_then(|w| w["violations"].as_u64())
        .unwrap_or(0)
}

/// Forges `msg` as node 0's checker and waits for the reset it must cause.
fn forge_and_expect_reset(lab: &Lab, msg: &Msg, what: &str) {
    forge_as_and_expect_reset(lab, "checker", msg, what);
}

/// Forges `msg` as node 0's worker `role` and waits for the reset it must
/// cause (counted as a violation, a new worker).
fn forge_as_and_expect_reset(lab: &Lab, role: &str, msg: &Msg, what: &str) {
    assert!(
        lab.wait(SECS(10), || lab.worker_pid(0, role).is_some()),
        "{what}: no {role} worker running\n{}",
        lab.log(0)
    );
    let worker = lab.worker_pid(0, role).unwrap();
    let before = violations(lab, 0, role);
    forge(worker, msg);
    let reset = lab.wait(SECS(10), || {
        violations(lab, 0, role) > before && lab.worker_pid(0, role).is_some_and(|p| p != worker)
    });
    assert!(
        reset,
        "{what}: the {role} worker was not reset\n{}",
        lab.log(0)
    );
}

fn master_holds_on(lab: &Lab, what: &str) {
    assert_eq!(
        lab.state(0, "VI_1").as_deref(),
        Some("MASTER"),
        "{what}\n{}",
        lab.log(0)
    );
    assert!(lab.has_addr(0, VIP), "{what}: VIP gone");
    assert!(!lab.has_addr(1, VIP), "{what}: VIP on the backup");
}

/// Regression (review of the checker boundary): the parent believed any
/// source name the checker sent. A forged `interface:eth0` down put the
/// Master in FAULT; a forged file value set the priority; a forged script
/// or real server was stored and routed.
#[test]
fn forged_results_for_checks_the_checker_was_not_given_reset_it_and_change_nothing() {
    let mut lab = Lab::new(2);
    std::fs::write(lab.nodes[0].dir.join("flag"), "0\n").unwrap();
    std::fs::write(lab.nodes[1].dir.join("flag"), "0\n").unwrap();
    start_pair(&mut lab);
    let priority = lab.instance(0, "VI_1").unwrap()["priority"].clone();
    let cases = [
        (
            "interface state",
            Msg::CheckState(result("interface:eth0", Verdict::Down, None)),
        ),
        (
            "a script the configuration does not have",
            Msg::Checks {
                checks: vec![result("script:other", Verdict::Down, None)],
            },
        ),
        (
            "a file value for a script",
            Msg::CheckState(result("script:chk_true", Verdict::Up, Some(200))),
        ),
        (
            "a real server the configuration does not have",
            Msg::RealServer(RealServerState {
                virtual_server: format!("{VIP}:80/tcp"),
                real_server: "10.77.0.99:80".into(),
                up: false,
                weight: 0,
            }),
        ),
    ];
    for (what, msg) in &cases {
        forge_and_expect_reset(&lab, msg, what);
        master_holds_on(&lab, what);
    }
    assert_eq!(lab.instance(0, "VI_1").unwrap()["priority"], priority);
    let status = lab.status(0).unwrap();
    let sources: Vec<&str> = status["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["source"].as_str())
        .collect();
    assert!(
        !sources
            .iter()
            .any(|s| s.starts_with("interface:") || *s == "script:other"),
        "forged sources stored: {sources:?}"
    );
    assert!(
        status["virtual_servers"]
            .to_string()
            .find("10.77.0.99")
            .is_none()
    );
    assert_eq!(violations(&lab, 0, "checker"), cases.len() as u64);
    assert!(lab.log(0).contains("protocol violation"));
}

/// Regression: unknown sources were stored for ever; a few 4 MiB frames
/// grew the parent by hundreds of MiB.
#[test]
fn the_parent_stays_small_under_a_flood_of_unknown_sources() {
    let mut lab = Lab::new(2);
    std::fs::write(lab.nodes[0].dir.join("flag"), "0\n").unwrap();
    std::fs::write(lab.nodes[1].dir.join("flag"), "0\n").unwrap();
    start_pair(&mut lab);
    let parent = lab.daemon_pid(0).unwrap();
    let rss = || -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{parent}/status")).unwrap();
        s.lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap()
    };
    let before = rss();
    for round in 0..5 {
        // Just under the frame limit: thousands of made-up sources.
        let checks: Vec<CheckStatus> = (0..14_000)
            .map(|i| {
                result(
                    &format!("script:x{round}-{i}-{}", "y".repeat(150)),
                    Verdict::Down,
                    None,
                )
            })
            .collect();
        forge_and_expect_reset(&lab, &Msg::Checks { checks }, "a flood of unknown sources");
    }
    master_holds_on(&lab, "after the flood");
    let after = rss();
    // What a 4 MiB frame costs while it is decoded, not what is kept.
    assert!(
        after < before + 40_000,
        "parent RSS grew from {before} to {after} KiB"
    );
}

/// Regression: a configuration larger than one IPC frame (10,000 tracked
/// files with long paths: the `Start` message and the checker's batch of
/// results are both over 4 MiB) put the checker into a restart loop. Now
/// messages span frames: the daemon starts, every worker stays up, and
/// `-t` is linear.
#[test]
fn a_valid_configuration_several_frames_large_runs_without_restarts() {
    const FILES: usize = 10_000;
    let mut lab = Lab::new(1);
    let dir = lab.nodes[0].dir.join("d".repeat(200)).join("e".repeat(200));
    std::fs::create_dir_all(&dir).unwrap();
    let mut text = String::new();
    let mut tracks = String::new();
    for i in 0..FILES {
        let f = dir.join(format!("f{i}"));
        std::fs::write(&f, "0\n").unwrap();
        text.push_str(&format!(
            "vrrp_track_file f{i} {{\n    file {}\n}}\n",
            f.display()
        ));
        tracks.push_str(&format!("        f{i} weight 0\n"));
    }
    let extra = format!("    track_file {{\n{tracks}    }}");
    text.push_str(&common::lab::vrrp_instance(&lab, 0, 100, &[VIP], &extra));
    let path = lab.config_path(0, "big.conf");
    std::fs::write(&path, &text).unwrap();
    let model = upkeep::config::load(&path, &Default::default());
    let start_msg = upkeep::ipc::frames(&Msg::Start {
        generation: 1,
        config: Box::new(model.config),
        resume: Default::default(),
        plugin_key: None,
    })
    .unwrap();
    assert!(start_msg.len() >= 2, "the configuration fits in one frame");
    let start = std::time::Instant::now();
    common::upkeepd_ok(&["-t".as_ref(), "-f".as_ref(), path.as_os_str()]);
    // Linear: seconds, not the minutes a quadratic check took (bounded far
    // above what it takes, so that a loaded machine does not fail it).
    assert!(start.elapsed() < SECS(60), "-t took {:?}", start.elapsed());
    lab.start_with(0, UPKEEPD, &text, "keepalived.conf", FAST, &[]);
    lab.expect_state(0, "VI_1", "MASTER", SECS(60));
    assert!(
        lab.wait(SECS(60), || {
            lab.status(0).is_some_and(|s| {
                s["checks"]
                    .as_array()
                    .is_some_and(|c| c.len() == FILES && c.iter().all(|c| c["state"] == "up"))
            })
        }),
        "not every tracked file reported\n{}",
        lab.log(0)
    );
    std::thread::sleep(SECS(3));
    for role in ["vrrp", "checker"] {
        assert_eq!(
            lab.worker_restarts(0, role),
            Some(0),
            "{role} restarted\n{}",
            lab.log(0)
        );
    }
    assert_eq!(lab.state(0, "VI_1").as_deref(), Some("MASTER"));
}

/// Regression: in a runtime directory another user could write, root wrote
/// status.json.tmp, the pid file and the socket through planted symlinks.
/// Such a directory is now refused at start, with the reason.
#[test]
fn a_runtime_directory_another_user_controls_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let lab = Lab::new(1);
    let conf = lab.config_path(0, "plain.conf");
    std::fs::write(&conf, common::lab::vrrp_instance(&lab, 0, 100, &[VIP], "")).unwrap();
    for (name, uid, mode) in [("theirs", 65534, 0o755), ("open", 0, 0o777)] {
        let run = lab.nodes[0].dir.join(name);
        std::fs::create_dir_all(&run).unwrap();
        std::os::unix::fs::chown(&run, Some(uid), Some(uid)).unwrap();
        std::fs::set_permissions(&run, std::fs::Permissions::from_mode(mode)).unwrap();
        let victim = lab.nodes[0].dir.join(format!("{name}-victim"));
        std::fs::write(&victim, "precious\n").unwrap();
        std::os::unix::fs::symlink(&victim, run.join("upkeepd.pid")).unwrap();
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", &lab.nodes[0].ns, UPKEEPD, "-f"])
            .arg(&conf)
            .arg("--runtime-dir")
            .arg(&run)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}: started\n{err}");
        assert!(err.contains("runtime directory"), "{name}: {err}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    }
}

/// Regression: `script_user root` made the checker uid 0 without a word,
/// and without an `upkeep` user it ran as `nobody` (shared with other
/// daemons) without one either.
#[test]
fn the_checker_account_is_named_when_it_is_root_or_shared() {
    let mut lab = Lab::new(1);
    let script = "vrrp_script chk {\n    script /bin/true\n}\n";
    let track = "    track_script {\n        chk\n    }";
    let instance = common::lab::vrrp_instance(&lab, 0, 100, &[VIP], track);
    let root = format!("global_defs {{\n    script_user root\n}}\n{script}{instance}");
    lab.start_with(0, UPKEEPD, &root, "keepalived.conf", FAST, &[]);
    assert!(
        lab.wait(SECS(10), || lab.log(0).contains("script_user is root")),
        "{}",
        lab.log(0)
    );
    let checker = lab.worker_pid(0, "checker");
    assert!(lab.wait(SECS(10), || lab.worker_pid(0, "checker").is_some()));
    let checker = checker.or(lab.worker_pid(0, "checker")).unwrap();
    assert_eq!(ids(checker).0, 0);
    if nix::unistd::User::from_name("upkeep")
        .ok()
        .flatten()
        .is_none()
        && nix::unistd::User::from_name("keepalived_script")
            .ok()
            .flatten()
            .is_none()
    {
        let mut lab = Lab::new(1);
        let plain = format!(
            "{script}{}",
            common::lab::vrrp_instance(&lab, 0, 100, &[VIP], track)
        );
        lab.start_with(0, UPKEEPD, &plain, "keepalived.conf", FAST, &[]);
        assert!(
            lab.wait(SECS(10), || lab.log(0).contains("no 'upkeep' user")),
            "{}",
            lab.log(0)
        );
    }
}

/// Which process listens on TCP `port` in node `k`'s namespace (ss -p).
fn listener_pid(lab: &Lab, k: usize, port: u16) -> Option<i32> {
    let out = lab.exec(k, &["ss", "-Hltnp", &format!("sport = :{port}")]);
    let at = out.find("pid=")? + 4;
    out[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Regression (review finding 8): the Prometheus endpoint was served by the
/// root parent. It is served by an unprivileged metrics worker from a
/// socket the parent bound (a port alone: loopback), which the parent
/// trusts with nothing: a check result forged as it resets it. A killed
/// metrics worker comes back serving, with no failover.
#[test]
fn metrics_are_served_by_an_unprivileged_worker_on_loopback() {
    common::lab::require_root();
    let mut lab = Lab::new(1);
    let path = lab.config_path(0, "keepalived.conf");
    std::fs::write(&path, common::lab::vrrp_instance(&lab, 0, 100, &[VIP], "")).unwrap();
    let dump = common::upkeepd_ok(&["--dump-config".as_ref(), "-f".as_ref(), path.as_os_str()]);
    let toml = format!("[global]\nmetrics_address = 9650\n\n{dump}");
    lab.start_with(0, UPKEEPD, &toml, "upkeep.toml", FAST, &[]);
    lab.expect_state(0, "VI_1", "MASTER", SECS(15));
    let master = "upkeep_vrrp_state{instance=\"VI_1\"} 2";
    let url = "http://127.0.0.1:9650/metrics";
    assert!(
        lab.wait(SECS(15), || lab.fetch(0, url).contains(master)),
        "metrics: {}\n{}",
        lab.fetch(0, url),
        lab.log(0)
    );
    let serving = |lab: &Lab| {
        let worker = lab.worker_pid(0, "metrics")?;
        (listener_pid(lab, 0, 9650)? == worker).then_some(worker)
    };
    let worker = serving(&lab).unwrap_or_else(|| {
        panic!(
            "port 9650 is held by {:?}, not the metrics worker {:?} (parent {:?})",
            listener_pid(&lab, 0, 9650),
            lab.worker_pid(0, "metrics"),
            lab.daemon_pid(0)
        )
    });
    assert_ne!(Some(worker), lab.daemon_pid(0));
    assert_ne!(ids(worker).0, 0, "the metrics worker runs as root");
    let listening = lab.exec(0, &["ss", "-Hltn", "sport = :9650"]);
    assert!(listening.contains("127.0.0.1:9650"), "{listening}");
    // The metrics worker may send nothing but Ready and Pong.
    forge_as_and_expect_reset(
        &lab,
        "metrics",
        &Msg::Checks {
            checks: vec![result("script:chk", Verdict::Down, None)],
        },
        "a check result from the metrics worker",
    );
    let transitions = lab.instance(0, "VI_1").unwrap()["transitions"].clone();
    let killed = lab.worker_pid(0, "metrics").unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(killed),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert!(
        lab.wait(SECS(15), || serving(&lab).is_some_and(|p| p != killed)
            && lab.fetch(0, url).contains(master)),
        "metrics not served again after the worker was killed\n{}",
        lab.log(0)
    );
    assert_eq!(lab.state(0, "VI_1").as_deref(), Some("MASTER"));
    assert_eq!(lab.instance(0, "VI_1").unwrap()["transitions"], transitions);
}
