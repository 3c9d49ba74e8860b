//! Who scripts run as, with real upkeepd processes in a network namespace
//! the test creates: notify scripts, restart commands and vrrp_scripts run
//! as the account the configuration gives them (each writes `id -u`), and
//! with `enable_script_security` a script root would run from a
//! world-writable directory is refused at `-t` and at reload. Needs root;
//! every wait is bounded.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test crate fails by panicking

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::lab::Lab;

const UPKEEPD: &str = env!("CARGO_BIN_EXE_upkeepd");
const VIP: &str = "10.77.0.100";
const SECS: fn(u64) -> Duration = Duration::from_secs;

fn uid_of(name: &str) -> u32 {
    upkeep::account::lookup(name, None)
        .unwrap_or_else(|e| panic!("user {name}: {e}"))
        .uid
}

/// A root-owned 0755 directory holding `record.sh NAME` (writes its
/// `id -u` to `out/NAME`, a directory anyone may write to), and an
/// `out` directory.
fn scripts(dir: &Path) -> (PathBuf, PathBuf) {
    let bin = dir.join("bin");
    let out = dir.join("out");
    for (d, mode) in [(&bin, 0o755), (&out, 0o777)] {
        std::fs::create_dir_all(d).unwrap();
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let record = bin.join("record.sh");
    common::write_script(
        &record,
        &format!(
            "#!/bin/sh\nid -u > {}/\"$1\".tmp && mv {}/\"$1\".tmp {}/\"$1\"\n",
            out.display(),
            out.display(),
            out.display()
        ),
    );
    (record, out)
}

fn read_uid(out: &Path, name: &str) -> Option<u32> {
    std::fs::read_to_string(out.join(name))
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

/// Regression (issue 12, finding 3): notify scripts and restart commands
/// ran as root whatever the configuration said, `vrrp_script { user }` was
/// ignored (its script ran as the checker's account), and
/// `notify_master "cmd" USER` passed USER to the script as an argument.
#[test]
fn scripts_run_as_the_accounts_the_configuration_gives_them() {
    let mut lab = Lab::new(1);
    let dir = lab.nodes[0].dir.clone();
    let (record, out) = scripts(&dir);
    let r = record.display();
    // script_user daemon: the checker (and scripts without a user) run as
    // daemon, so that a script that names nobody proves its own user.
    let instance = common::lab::vrrp_instance(
        &lab,
        0,
        100,
        &[VIP],
        &format!(
            // `notify PATH nobody` unquoted: keepalived reads `nobody` as the
            // account (issue 15), and the script gets INSTANCE VI_1 STATE PRIO.
            "    notify_master \"{r} notify_master\" nobody\n    notify_backup \"{r} notify_backup\"\n    notify {r} nobody\n    track_script {{\n        as_nobody\n    }}"
        ),
    );
    let conf = format!(
        r#"
global_defs {{
    script_user daemon
}}
vrrp_script as_nobody {{
    script "{r} vrrp_script"
    user nobody
    interval 1
}}
vrrp_script restart_as_nobody {{
    script "/bin/sh -c 'test -e {out}/restart_nobody'"
    interval 1
    upkeep_restart "{r} restart_nobody" nobody
    upkeep_restart_grace 30
}}
vrrp_script restart_by_default {{
    script "/bin/sh -c 'test -e {out}/restart_default'"
    interval 1
    upkeep_restart "{r} restart_default"
    upkeep_restart_grace 30
}}
{instance}
"#,
        out = out.display()
    );
    lab.start(0, UPKEEPD, &conf, "keepalived.conf");
    lab.expect_state(0, "VI_1", "MASTER", SECS(20));
    let want = [
        ("notify_backup", uid_of("daemon")),
        ("notify_master", uid_of("nobody")),
        ("INSTANCE", uid_of("nobody")),
        ("vrrp_script", uid_of("nobody")),
        // Its own user; else its check script's (the checker's, daemon).
        ("restart_nobody", uid_of("nobody")),
        ("restart_default", uid_of("daemon")),
    ];
    let all = || want.iter().all(|(n, _)| read_uid(&out, n).is_some());
    assert!(
        lab.wait(SECS(20), all),
        "not every script ran: {:?}\n{}",
        want.iter()
            .map(|(n, _)| (n, read_uid(&out, n)))
            .collect::<Vec<_>>(),
        lab.log(0)
    );
    for (name, uid) in want {
        assert_eq!(read_uid(&out, name), Some(uid), "{name}\n{}", lab.log(0));
    }
    // Status says who runs what.
    let status = lab.status(0).expect("status.json");
    let scripts = status["scripts"].as_array().expect("scripts in status");
    let user = |owner: &str, keyword: &str| {
        scripts
            .iter()
            .find(|s| s["owner"] == owner && s["keyword"] == keyword)
            .map(|s| (s["user"].clone(), s["runs_in"].clone()))
    };
    assert_eq!(
        user("vrrp_instance VI_1", "notify_master"),
        Some(("nobody".into(), "parent".into()))
    );
    assert_eq!(
        user("vrrp_script as_nobody", "script"),
        Some(("nobody".into(), "parent".into()))
    );
    assert_eq!(
        user("vrrp_script restart_by_default", "script"),
        Some(("daemon".into(), "checker".into()))
    );
    assert_eq!(
        user("vrrp_script restart_by_default", "restart"),
        Some(("daemon".into(), "parent".into()))
    );
    assert_eq!(
        user("vrrp_script restart_as_nobody", "restart"),
        Some(("nobody".into(), "parent".into()))
    );
    let text = std::process::Command::new(env!("CARGO_BIN_EXE_upkeepctl"))
        .arg("--runtime-dir")
        .arg(lab.runtime_dir(0))
        .arg("status")
        .output()
        .expect("upkeepctl status");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("Scripts:") && text.contains("as nobody"),
        "{text}"
    );
}

/// keepalived's MISC_CHECK `user`: the check script runs as that user
/// (by the parent, which alone may switch accounts); without one, as
/// `script_user` (in the checker).
#[test]
fn misc_check_user_runs_the_script_as_that_user() {
    let mut lab = Lab::new(1);
    let dir = lab.nodes[0].dir.clone();
    let (record, out) = scripts(&dir);
    let r = record.display();
    let instance = common::lab::vrrp_instance(&lab, 0, 100, &[VIP], "");
    let conf = format!(
        r#"
global_defs {{
    script_user daemon
}}
{instance}
virtual_server {VIP} 80 {{
    delay_loop 1
    lb_kind DR
    real_server 10.77.0.50 80 {{
        MISC_CHECK {{
            misc_path "{r} misc_as_nobody"
            user nobody
        }}
    }}
    real_server 10.77.0.51 80 {{
        MISC_CHECK {{
            misc_path "{r} misc_by_default"
        }}
    }}
}}
"#
    );
    lab.start(0, UPKEEPD, &conf, "keepalived.conf");
    let want = [
        ("misc_as_nobody", uid_of("nobody")),
        ("misc_by_default", uid_of("daemon")),
    ];
    let all = || want.iter().all(|(n, _)| read_uid(&out, n).is_some());
    assert!(
        lab.wait(SECS(20), all),
        "not every check ran: {:?}\n{}",
        want.iter()
            .map(|(n, _)| (n, read_uid(&out, n)))
            .collect::<Vec<_>>(),
        lab.log(0)
    );
    for (name, uid) in want {
        assert_eq!(read_uid(&out, name), Some(uid), "{name}\n{}", lab.log(0));
    }
}

/// Regression: `enable_script_security` was parsed and ignored.
#[test]
fn enable_script_security_refuses_a_root_script_in_a_world_writable_directory() {
    let mut lab = Lab::new(1);
    let dir = lab.nodes[0].dir.clone();
    let (record, out) = scripts(&dir);
    let open = dir.join("open");
    std::fs::create_dir_all(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let planted = open.join("master.sh");
    common::write_script(&planted, "#!/bin/sh\nexit 0\n");
    let conf = |script: &Path| {
        let instance = common::lab::vrrp_instance(
            &lab,
            0,
            100,
            &[VIP],
            &format!("    notify_master \"{}\" root", script.display()),
        );
        format!("global_defs {{\n    enable_script_security\n}}\n{instance}")
    };
    // -t refuses it, naming the file, the line and the keyword.
    let bad = lab.config_path(0, "bad.conf");
    std::fs::write(&bad, conf(&planted)).unwrap();
    let t = std::process::Command::new(UPKEEPD)
        .args(["-t", "-f"])
        .arg(&bad)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&t.stdout),
        String::from_utf8_lossy(&t.stderr)
    );
    assert!(!t.status.success(), "{said}");
    assert!(
        said.contains("bad.conf:")
            && said.contains("notify_master")
            && said.contains("refused by enable_script_security")
            && said.contains(&open.display().to_string()),
        "{said}"
    );
    // The same script from a safe place runs; a reload that plants the
    // unsafe one is refused and the running configuration stays.
    let (good, planted) = (conf(&record), conf(&planted));
    lab.start(0, UPKEEPD, &good, "keepalived.conf");
    lab.expect_state(0, "VI_1", "MASTER", SECS(20));
    std::fs::write(lab.config_path(0, "keepalived.conf"), planted).unwrap();
    lab.signal(0, libc::SIGHUP);
    lab.expect_reload_refused(0, &["refused by enable_script_security"], SECS(15));
    let _ = out;
}
