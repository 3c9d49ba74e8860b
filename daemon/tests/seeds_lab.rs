//! Our users' setups with the real load balancers from Debian: the Nginx
//! pair from the seeds, with upkeep's restart-then-demote instead of the
//! seed's watchdog loop, and a client in a third namespace. Needs root and
//! nginx (scripts/test.sh installs it); every wait is bounded; the lab (and
//! every process in it) is removed on drop.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test crate fails by panicking

mod common;

use std::time::Duration;

use common::lab::Lab;

const UPKEEPD: &str = env!("CARGO_BIN_EXE_upkeepd");
const VIP: &str = "10.77.0.100";
const SECS: fn(u64) -> Duration = Duration::from_secs;
const CLIENT: usize = 2;

/// The seed's keepalived.conf for node `k`, rewritten to the lab, with an
/// upkeep check on nginx that restarts it and resigns if that fails.
fn upkeep_conf(lab: &Lab, k: usize, nginx: &str, extra: &str) -> String {
    let seed = if k == 0 { "master" } else { "backup" };
    let text = std::fs::read_to_string(common::seeds().join(format!("nginx-{seed}.conf"))).unwrap();
    let text = text
        .replace("192.168.1.103", &lab.nodes[k].v4)
        .replace("192.168.1.104", &lab.nodes[k].v4)
        .replace("192.168.1.108", VIP)
        .replace(
            "    advert_int 1",
            &format!("    advert_int 1\n    track_script {{\n        chk_nginx\n    }}\n{extra}"),
        );
    format!(
        r#"vrrp_script chk_nginx {{
    script "/usr/bin/curl -fsS -m 1 -o /dev/null http://127.0.0.1/"
    interval 0.5
    fall 2
    upkeep_restart "/usr/sbin/nginx -c {nginx}" root
    upkeep_restart_grace 2
    upkeep_restart_limit 100 60
    upkeep_demote resign
}}
{text}"#
    )
}

struct Pair {
    lab: Lab,
    conf: Vec<String>,
}

fn pair(extra: &str) -> Pair {
    let mut lab = Lab::new(3);
    let mut conf = Vec::new();
    for (k, page) in [(0, "node-a"), (1, "node-b")] {
        let path = lab.start_nginx(k, page, false);
        let c = upkeep_conf(&lab, k, &path, extra);
        lab.start(k, UPKEEPD, &c, "keepalived.conf");
        conf.push(path);
        // A is Master before B starts (see supervisor_lab's start_pair).
        let state = if k == 0 { "MASTER" } else { "BACKUP" };
        lab.expect_state(k, "VI_1", state, SECS(15));
    }
    Pair { lab, conf }
}

/// What the client in the third namespace gets from http://VIP/.
fn fetch(lab: &Lab) -> String {
    fetch_port(lab, 80)
}

fn serves(lab: &Lab, page: &str) -> bool {
    lab.wait(SECS(10), || fetch(lab) == page)
}

/// kill -9 every nginx process of node `k`.
fn kill_nginx(lab: &Lab, k: usize) -> usize {
    lab.kill_named(k, "nginx")
}

#[test]
fn nginx_pair_restart_keeps_the_vip_and_a_broken_nginx_moves_it_and_preempt_brings_it_back() {
    let Pair { lab, conf } = pair("");
    assert!(serves(&lab, "node-a"), "client got {:?}", fetch(&lab));

    // nginx killed: upkeep restarts it; the VIP stays and the client still
    // reaches A.
    assert!(kill_nginx(&lab, 0) >= 1);
    assert!(lab.wait(SECS(10), || {
        lab.log(0).contains("running its restart command")
    }));
    assert!(serves(&lab, "node-a"), "{}", lab.log(0));
    assert_eq!(lab.state(0, "VI_1").as_deref(), Some("MASTER"));
    assert_eq!(
        lab.instance(1, "VI_1").unwrap()["transitions"],
        1,
        "B moved"
    );

    // nginx cannot start (broken configuration): after the grace period A
    // resigns, B takes the VIP and the client reaches B.
    let good = std::fs::read_to_string(&conf[0]).unwrap();
    std::fs::write(&conf[0], "this is not nginx configuration;\n").unwrap();
    kill_nginx(&lab, 0);
    lab.expect_state(1, "VI_1", "MASTER", SECS(15));
    assert!(serves(&lab, "node-b"), "client got {:?}", fetch(&lab));
    assert_eq!(lab.state(0, "VI_1").as_deref(), Some("BACKUP"));

    // Fixed: the next retry starts nginx; with preempt A takes the VIP back.
    std::fs::write(&conf[0], good).unwrap();
    lab.expect_state(0, "VI_1", "MASTER", SECS(15));
    assert!(serves(&lab, "node-a"), "client got {:?}", fetch(&lab));
}

#[test]
fn nginx_pair_with_nopreempt_stays_on_the_backup_after_the_fix() {
    let Pair { lab, conf } = pair("    nopreempt\n");
    let good = std::fs::read_to_string(&conf[0]).unwrap();
    std::fs::write(&conf[0], "broken;\n").unwrap();
    kill_nginx(&lab, 0);
    lab.expect_state(1, "VI_1", "MASTER", SECS(15));
    assert!(serves(&lab, "node-b"), "client got {:?}", fetch(&lab));
    std::fs::write(&conf[0], good).unwrap();
    // A's nginx is back (its check passes) but the VIP stays on B.
    assert!(lab.wait(SECS(15), || {
        lab.status(0).is_some_and(|s| {
            s["checks"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["source"] == "script:chk_nginx" && c["state"] == "up")
            })
        })
    }));
    std::thread::sleep(SECS(5));
    assert_eq!(lab.state(1, "VI_1").as_deref(), Some("MASTER"));
    assert_eq!(lab.state(0, "VI_1").as_deref(), Some("BACKUP"));
    assert!(serves(&lab, "node-b"));
}
/// The HAProxy pair from the seeds with the seed's own check script, paths
/// adapted: it starts haproxy when none runs, and fails (its `killall
/// keepalived` finds nothing) when haproxy will not start. Each node runs in
/// its own PID namespace so that the script's `ps -C haproxy` sees only its
/// node. The script runs as the checker's unprivileged user, so haproxy
/// listens on 8080.
struct HaproxyNode {
    dir: String,
}

impl HaproxyNode {
    fn new(tag: &str, page: &str) -> Self {
        let dir = format!("/tmp/upkeep-hap-{}-{tag}", std::process::id());
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let n = HaproxyNode { dir };
        n.write_conf(page);
        let seed = std::fs::read_to_string(common::seeds().join("haproxy_check.sh")).unwrap();
        let script = seed
            .replace(
                "/etc/rc.d/init.d/haproxy start",
                &format!("/usr/sbin/haproxy -D -f {}/haproxy.cfg", n.dir),
            )
            .replace(
                "/usr/local/keepalived/log/haproxy_check.log",
                &format!("{}/check.log", n.dir),
            );
        let path = format!("{}/haproxy_check.sh", n.dir);
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        n
    }

    fn write_conf(&self, page: &str) {
        let cfg = format!(
            "global\n    daemon\n    pidfile {dir}/haproxy.pid\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\nfrontend web\n    bind *:8080\n    http-request return status 200 content-type text/plain string \"{page}\"\n",
            dir = self.dir
        );
        std::fs::write(format!("{}/haproxy.cfg", self.dir), cfg).unwrap();
    }

    fn break_conf(&self) {
        std::fs::write(format!("{}/haproxy.cfg", self.dir), "this is not haproxy\n").unwrap();
    }
}

impl Drop for HaproxyNode {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("haproxy files kept in {}", self.dir);
            return;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn haproxy_conf(lab: &Lab, k: usize, node: &HaproxyNode, extra: &str) -> String {
    let text = std::fs::read_to_string(common::seeds().join("haproxy-master.conf")).unwrap();
    let mut text = text
        .replace("enp0s3", "eth0")
        .replace("192.168.1.220", VIP)
        .replace(
            "/etc/keepalived/haproxy_check.sh",
            &format!("{}/haproxy_check.sh", node.dir),
        )
        // The script sleeps 3 s after a start: give it the time. With
        // nopreempt the weight alone would never move the VIP (B does not
        // preempt): such a pair resigns instead (upkeep's extension).
        .replace(
            "    interval 2\n",
            if extra.contains("nopreempt") {
                "    interval 2\n    timeout 10\n    upkeep_demote resign\n"
            } else {
                "    interval 2\n    timeout 10\n"
            },
        )
        .replace(
            "    advert_int 1\n",
            &format!(
                "    advert_int 1\n    mcast_src_ip {}\n{extra}",
                lab.nodes[k].v4
            ),
        );
    if k == 1 {
        text = text
            .replace("state MASTER", "state BACKUP")
            .replace("priority 100", "priority 99");
    }
    text
}

/// What the client in the third namespace gets from http://VIP:PORT/.
fn fetch_port(lab: &Lab, port: u16) -> String {
    lab.fetch(CLIENT, &format!("http://{VIP}:{port}/"))
}

fn haproxy_pair(extra: &str) -> (Lab, HaproxyNode, HaproxyNode) {
    let mut lab = Lab::new(3);
    // Each node in its own PID namespace (upkeepd is its pid 1 and reaps
    // the orphans haproxy's daemonising leaves), so that the seed script's
    // `ps -C haproxy` counts only its own node's haproxy.
    lab.wrapper = ["unshare", "--pid", "--fork", "--mount-proc"]
        .map(String::from)
        .to_vec();
    let (a, b) = (
        HaproxyNode::new("a", "node-a"),
        HaproxyNode::new("b", "node-b"),
    );
    let (ca, cb) = (
        haproxy_conf(&lab, 0, &a, extra),
        haproxy_conf(&lab, 1, &b, extra),
    );
    // A first, so that it is Master whatever preempt says; the seed script
    // starts haproxy on its first run.
    lab.start(0, UPKEEPD, &ca, "keepalived.conf");
    lab.expect_state(0, "VI_1", "MASTER", SECS(20));
    lab.start(1, UPKEEPD, &cb, "keepalived.conf");
    lab.expect_state(1, "VI_1", "BACKUP", SECS(10));
    assert!(
        lab.wait(SECS(10), || fetch_port(&lab, 8080) == "node-a"),
        "client got {:?}\n{}",
        fetch_port(&lab, 8080),
        lab.logs()
    );
    // Both scripts' first runs (which start haproxy and check it 3 s later)
    // must be over before a test kills anything.
    for k in 0..2 {
        assert!(
            lab.wait(SECS(15), || check_state(&lab, k) == Some("up".into())),
            "node {k}: {:?}\n{}",
            check_state(&lab, k),
            lab.logs()
        );
    }
    (lab, a, b)
}

fn check_state(lab: &Lab, k: usize) -> Option<String> {
    let s = lab.status(k)?;
    let c = s["checks"]
        .as_array()?
        .iter()
        .find(|c| c["source"] == "script:chk_haproxy")?
        .clone();
    c["state"].as_str().map(str::to_string)
}

#[test]
fn haproxy_pair_with_the_seed_check_script() {
    let (lab, a, _b) = haproxy_pair("");
    let b_transitions = lab.instance(1, "VI_1").unwrap()["transitions"].clone();

    // haproxy killed: the seed script (run by upkeep's checker) starts it
    // again; the VIP stays on A.
    assert!(lab.kill_named(0, "haproxy") >= 1);
    assert!(lab.wait(SECS(15), || fetch_port(&lab, 8080) == "node-a"));
    std::thread::sleep(SECS(2));
    assert_eq!(lab.state(0, "VI_1").as_deref(), Some("MASTER"));
    assert_eq!(
        lab.instance(1, "VI_1").unwrap()["transitions"],
        b_transitions
    );
    let log = std::fs::read_to_string(format!("{}/check.log", a.dir)).unwrap();
    assert!(log.contains("haproxy -D"), "{log}");

    // haproxy cannot start: the script fails, A loses its weight (100 < 99 + 2)
    // and B takes over by preemption.
    a.break_conf();
    lab.kill_named(0, "haproxy");
    lab.expect_state(1, "VI_1", "MASTER", SECS(20));
    assert!(lab.wait(SECS(10), || fetch_port(&lab, 8080) == "node-b"));
    let a_inst = lab.instance(0, "VI_1").unwrap();
    assert_eq!(a_inst["priority"], 100, "{a_inst}");

    // Fixed: the script starts haproxy, A is 102 again and preempts. The
    // client reaches A once the script has started haproxy there: under a
    // loaded CI that came just after 10 s (its answer when the message was
    // formatted was node-a), so the wait is as long as the state's.
    a.write_conf("node-a");
    lab.expect_state(0, "VI_1", "MASTER", SECS(20));
    assert!(
        lab.wait(SECS(20), || fetch_port(&lab, 8080) == "node-a"),
        "client got {:?}\n{}\n{}",
        fetch_port(&lab, 8080),
        lab.processes(0),
        lab.logs()
    );
}

#[test]
fn haproxy_pair_with_nopreempt_and_resign_stays_on_the_backup_after_the_fix() {
    let (lab, a, _b) = haproxy_pair("    nopreempt\n");
    // haproxy cannot start: the seed script fails, A resigns, B takes over.
    a.break_conf();
    lab.kill_named(0, "haproxy");
    lab.expect_state(1, "VI_1", "MASTER", SECS(20));
    assert!(lab.wait(SECS(10), || fetch_port(&lab, 8080) == "node-b"));
    // Fixed: the script starts haproxy again and passes, but with nopreempt
    // the VIP stays on B.
    a.write_conf("node-a");
    assert!(lab.wait(SECS(20), || check_state(&lab, 0) == Some("up".into())));
    std::thread::sleep(SECS(5));
    assert_eq!(lab.state(1, "VI_1").as_deref(), Some("MASTER"));
    assert_eq!(lab.state(0, "VI_1").as_deref(), Some("BACKUP"));
    assert_eq!(fetch_port(&lab, 8080), "node-b");
}
