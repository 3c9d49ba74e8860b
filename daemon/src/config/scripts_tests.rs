//! Who runs each script as what, and keepalived's script security.

use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::config::{Format, LoadOptions, Loaded, Severity, load_str};

fn conf(text: &str) -> Loaded {
    load_str("k.conf", text, Format::Keepalived, &LoadOptions::default())
}

fn plan_of(text: &str) -> (Plan, Loaded) {
    let l = conf(text);
    let mut d = Diagnostics::default();
    (Plan::new(&l.config, &mut d), l)
}

fn said(l: &Loaded, severity: Severity) -> Vec<String> {
    l.diagnostics.messages(severity)
}

fn errors(l: &Loaded) -> Vec<String> {
    said(l, Severity::Error)
}

fn warnings(l: &Loaded) -> Vec<String> {
    said(l, Severity::Warning)
}

fn user_of(plan: &Plan, owner: &str, keyword: &str) -> String {
    let e = plan
        .entries
        .iter()
        .find(|e| e.owner == owner && e.keyword == keyword)
        .unwrap_or_else(|| panic!("no {owner} {keyword}: {:?}", plan.entries));
    plan.account(e).map(|a| a.name.clone()).unwrap_or_default()
}

const INSTANCE: &str = "vrrp_instance VI_1 {\n interface lo\n virtual_router_id 1\n";

/// Regression: notify scripts and restart commands ran as root whatever
/// script_user said; vrrp_script's `user` was ignored.
#[test]
fn each_script_runs_as_its_user_else_script_user() {
    let (plan, l) = plan_of(&format!(
        "global_defs {{\n script_user nobody\n}}\n{INSTANCE} notify_master \"/bin/true\"\n notify_backup \"/bin/true\" root\n}}\nvrrp_script plain {{\n script /bin/true\n upkeep_restart \"/bin/true\"\n}}\nvrrp_script as_root {{\n script /bin/true\n user root\n upkeep_restart \"/bin/true\"\n}}\nvrrp_script own_restart {{\n script /bin/true\n upkeep_restart \"/bin/true\" root\n}}\n"
    ));
    assert!(errors(&l).is_empty(), "{:?}", errors(&l));
    assert_eq!(plan.checker.name, "nobody");
    assert_eq!(
        user_of(&plan, "vrrp_instance VI_1", "notify_master"),
        "nobody"
    );
    assert_eq!(
        user_of(&plan, "vrrp_instance VI_1", "notify_backup"),
        "root"
    );
    assert_eq!(user_of(&plan, "vrrp_script plain", "script"), "nobody");
    // A restart runs as its check's script, unless it names its own user.
    assert_eq!(user_of(&plan, "vrrp_script plain", "restart"), "nobody");
    assert_eq!(user_of(&plan, "vrrp_script as_root", "script"), "root");
    assert_eq!(user_of(&plan, "vrrp_script as_root", "restart"), "root");
    assert_eq!(user_of(&plan, "vrrp_script own_restart", "restart"), "root");
    // Who runs it: the checker cannot change account.
    let by = |o: &str, k: &str| {
        plan.entries
            .iter()
            .find(|e| e.owner == o && e.keyword == k)
            .map(|e| e.by_parent)
    };
    assert_eq!(by("vrrp_script plain", "script"), Some(false));
    assert_eq!(by("vrrp_script as_root", "script"), Some(true));
    let p = plan
        .prepare("/bin/true x", None, Kind::Notify)
        .expect("runs");
    assert_eq!(p.account.name, "nobody");
    assert_eq!(p.argv, ["/bin/true", "x"]);
}

/// Without script_user, notify scripts run as keepalived_script if it
/// exists, else as root with a warning (keepalived's rule); checks as the
/// checker's own account.
#[test]
fn without_script_user_notify_scripts_follow_keepalived_and_checks_the_checker() {
    let (plan, l) = plan_of(&format!(
        "{INSTANCE} notify_master \"/bin/true\"\n}}\nvrrp_script chk {{\n script /bin/true\n}}\n"
    ));
    assert!(errors(&l).is_empty(), "{:?}", errors(&l));
    assert_eq!(
        plan.checker,
        crate::account::default_checker_account().unwrap()
    );
    match crate::account::find(crate::account::KEEPALIVED_SCRIPT_USER).unwrap() {
        Some(a) => assert_eq!(plan.notify, a),
        None => {
            assert_eq!(plan.notify, Account::root());
            assert!(
                warnings(&l)
                    .iter()
                    .any(|w| w.contains("notify_master: runs as root")),
                "{:?}",
                warnings(&l)
            );
        }
    }
}

/// A root-owned 0755 directory for script files; None (skipped) unless
/// the tests run as root.
fn root_dir(tag: &str) -> Option<std::path::PathBuf> {
    if !nix::unistd::geteuid().is_root() {
        crate::testutil::skipped("needs root (chown)");
        return None;
    }
    let d = std::path::Path::new("/var/tmp")
        .join(format!("upkeep-scripts-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir(&d).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    Some(d)
}

fn script_in(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let f = dir.join(name);
    std::fs::write(&f, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
    f
}

/// Regression: enable_script_security was parsed and ignored.
#[test]
fn enable_script_security_refuses_what_root_would_run_from_a_writable_place() {
    let Some(dir) = root_dir("sec") else { return };
    let open = dir.join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let bad = script_in(&open, "bad.sh");
    let good = script_in(&dir, "good.sh");
    let text = |security: bool, user: &str| {
        format!(
            "global_defs {{\n{}}}\n{INSTANCE} notify_master \"{}\" {user}\n notify_backup \"{}\" root\n}}\n",
            if security {
                " enable_script_security\n"
            } else {
                ""
            },
            bad.display(),
            good.display()
        )
    };
    // As root, with enable_script_security: refused, at its keyword.
    let l = conf(&text(true, "root"));
    let e = errors(&l);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("k.conf:7:2: error: vrrp_instance VI_1 notify_master (runs as root): refused by enable_script_security")
            && e[0].contains("writable by everyone"),
        "{e:?}"
    );
    // Without it: a warning, as keepalived logs.
    let l = conf(&text(false, "root"));
    assert!(errors(&l).is_empty(), "{:?}", errors(&l));
    assert!(
        warnings(&l)
            .iter()
            .any(|w| w.contains("unsafe for root") && w.contains("notify_master")),
        "{:?}",
        warnings(&l)
    );
    // Run as another user, the file is that user's business.
    let l = conf(&text(true, "nobody"));
    assert!(errors(&l).is_empty(), "{:?}", errors(&l));
    // The safe one runs by its checked path; the refused one never as root.
    let mut d = Diagnostics::default();
    let plan = Plan::new(&conf(&text(true, "root")).config, &mut d);
    let good_run = plan
        .prepare(&good.display().to_string(), None, Kind::Restart)
        .unwrap();
    assert_eq!(good_run.argv[0], good.display().to_string());
    let as_root = crate::config::model::ScriptUser {
        user: "root".into(),
        group: None,
    };
    assert_eq!(
        plan.prepare(&bad.display().to_string(), Some(&as_root), Kind::Notify),
        None
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A bare name is found through PATH and run as root by the path checked.
#[test]
fn a_bare_program_root_runs_is_pinned_to_its_checked_path() {
    if !nix::unistd::geteuid().is_root() {
        crate::testutil::skipped("needs root");
        return;
    }
    let (plan, l) = plan_of(&format!(
        "global_defs {{\n enable_script_security\n}}\n{INSTANCE} notify_master \"true arg\" root\n}}\n"
    ));
    assert!(errors(&l).is_empty(), "{:?}", errors(&l));
    let root = crate::config::model::ScriptUser {
        user: "root".into(),
        group: None,
    };
    let p = plan.prepare("true arg", Some(&root), Kind::Notify).unwrap();
    assert!(
        p.argv[0].starts_with('/') && p.argv[0].ends_with("/true"),
        "{p:?}"
    );
    assert_eq!(p.argv[1], "arg");
}
