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

fn nginx_conf(dir: &str, page: &str) -> String {
    format!(
        r#"daemon on;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    server {{
        listen 80;
        location / {{ default_type text/plain; return 200 "{page}\n"; }}
    }}
}}
"#
    )
}

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
    upkeep_restart "/usr/sbin/nginx -c {nginx}"
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
        let dir = lab.config_path(k, "").display().to_string();
        let path = format!("{dir}nginx.conf");
        std::fs::write(&path, nginx_conf(&dir, page)).unwrap();
        lab.exec(k, &["/usr/sbin/nginx", "-c", &path]);
        let c = upkeep_conf(&lab, k, &path, extra);
        lab.start(k, UPKEEPD, &c, "keepalived.conf");
        conf.push(path);
    }
    lab.expect_state(0, "VI_1", "MASTER", SECS(15));
    lab.expect_state(1, "VI_1", "BACKUP", SECS(5));
    Pair { lab, conf }
}

/// What the client in the third namespace gets from http://VIP/.
fn fetch(lab: &Lab) -> String {
    let out = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.nodes[CLIENT].ns,
            "curl",
            "-s",
            "-m",
            "1",
        ])
        .arg(format!("http://{VIP}/"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn serves(lab: &Lab, page: &str) -> bool {
    lab.wait(SECS(10), || fetch(lab) == page)
}

/// kill -9 every nginx process of node `k`.
fn kill_nginx(lab: &Lab, k: usize) -> usize {
    let out = std::process::Command::new("ip")
        .args(["netns", "pids", &lab.nodes[k].ns])
        .output()
        .unwrap();
    let mut n = 0;
    for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() == "nginx" {
            // SAFETY: kill(2) of a pid the kernel listed in our namespace.
            unsafe {
                libc::kill(pid.parse().unwrap(), libc::SIGKILL);
            }
            n += 1;
        }
    }
    n
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
