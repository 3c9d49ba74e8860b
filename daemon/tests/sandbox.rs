//! The workers' sandbox, in processes of this test binary: a child installs
//! a role's seccomp filter exactly as a worker does
//! (`upkeep::sandbox::seccomp::install`) and makes a call the role may not,
//! and must die of SIGSYS; or applies the checker's Landlock ruleset for a
//! configuration and tries files in and out of it. (The lab suites run the
//! daemons with the filters on: that the lists are complete is shown there.)
//!
//! Each child is this binary running one `#[ignore]`d test, chosen by the
//! parent test; the marker variable keeps them from running on their own.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test crate fails by panicking

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output};

use upkeep::ipc::msg::Role;
use upkeep::sandbox::{landlock, seccomp};

const CHILD: &str = "UPKEEP_SANDBOX_TEST_CHILD";

/// Runs the ignored test `name` in a fresh process with `env`.
fn child(name: &str, env: &[(&str, &str)]) -> Output {
    Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            name,
            "--ignored",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .envs(env.iter().copied())
        .output()
        .expect("run the child")
}

fn in_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

fn sigsys(out: &Output) -> bool {
    out.status.signal() == Some(libc::SIGSYS)
}

fn passed(out: &Output) -> bool {
    out.status.success() && String::from_utf8_lossy(&out.stdout).contains("1 passed")
}

/// In a child: installs the filter of the role the parent test chose.
fn filtered() -> bool {
    if in_child() {
        seccomp::install(role_from_env(), seccomp::Mode::from_env()).expect("install");
    }
    in_child()
}

/// The role a child installs: from the variable, as the worker's `--role`.
fn role_from_env() -> Role {
    match std::env::var("UPKEEP_SANDBOX_ROLE").as_deref() {
        Ok("vrrp") => Role::Vrrp,
        Ok("ipvs") => Role::Ipvs,
        Ok("metrics") => Role::Metrics,
        _ => Role::Checker,
    }
}

#[test]
#[ignore = "run by forbidden_calls_kill_each_role_with_sigsys"]
fn child_unshare() {
    if !filtered() {
        return;
    }
    // Allowed: ordinary work goes on.
    std::fs::metadata("/").expect("stat");
    // Forbidden for every role: a new user namespace.
    let _ = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER);
}

#[test]
#[ignore = "run by forbidden_calls_kill_each_role_with_sigsys"]
fn child_chroot() {
    if !filtered() {
        return;
    }
    // Forbidden for every role: changing the root directory.
    let _ = nix::unistd::chroot("/");
}

#[test]
#[ignore = "run by the_ipvs_worker_cannot_run_programs"]
fn child_exec() {
    if !filtered() {
        return;
    }
    let _ = Command::new("/bin/true").status();
}

#[test]
fn forbidden_calls_kill_each_role_with_sigsys() {
    for role in ["vrrp", "ipvs", "checker", "metrics"] {
        for name in ["child_unshare", "child_chroot"] {
            let out = child(name, &[("UPKEEP_SANDBOX_ROLE", role)]);
            assert!(
                sigsys(&out),
                "{role} {name}: {:?}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            // Without the filter the same child runs to the end.
            let out = child(
                name,
                &[("UPKEEP_SANDBOX_ROLE", role), (seccomp::ENV, "off")],
            );
            assert!(passed(&out), "{role} {name} unfiltered: {:?}", out.status);
        }
    }
}

#[test]
fn the_ipvs_worker_cannot_run_programs() {
    // Nor can the metrics worker.
    for role in ["ipvs", "metrics"] {
        let out = child("child_exec", &[("UPKEEP_SANDBOX_ROLE", role)]);
        assert!(sigsys(&out), "{role}: {:?}", out.status);
    }
    // The checker runs scripts, VRRP runs nft: both may.
    for role in ["checker", "vrrp"] {
        let out = child("child_exec", &[("UPKEEP_SANDBOX_ROLE", role)]);
        assert!(passed(&out), "{role}: {:?}", out.status);
    }
}

/// A directory outside every path the checker's ruleset grants (not under
/// /tmp, which scripts may write): the build's own scratch directory.
fn scratch(name: &str) -> std::path::PathBuf {
    let d = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("sandbox-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

#[test]
#[ignore = "run by the_checker_reads_its_configured_files_and_nothing_else"]
fn child_landlock() {
    if !in_child() {
        return;
    }
    let var = |k: &str| std::env::var(k).expect(k);
    let (tracked, granted, secret, script) = (
        var("T_TRACKED"),
        var("T_GRANTED"),
        var("T_SECRET"),
        var("T_SCRIPT"),
    );
    let text = format!(
        "vrrp_script chk {{\n script \"/bin/sh {script}\"\n}}\nvrrp_track_file flag {{\n file {tracked}\n}}\n"
    );
    let l = upkeep::config::load_str(
        "t.conf",
        &text,
        upkeep::config::Format::Keepalived,
        &upkeep::config::LoadOptions::default(),
    );
    assert!(l.is_ok(), "{:?}", l.diagnostics);
    let mut paths = landlock::Paths::of(&l.config, None);
    // As a plugin's granted file would be.
    paths.read.insert(granted.clone().into());
    let outcome = landlock::restrict(&paths).expect("restrict");
    println!("OUTCOME {outcome:?}");
    assert_eq!(
        std::fs::read_to_string(&tracked).expect("tracked file"),
        "0\n"
    );
    assert_eq!(
        std::fs::read_to_string(&granted).expect("granted file"),
        "ok\n"
    );
    let denied = std::fs::read_to_string(&secret).expect_err("secret readable");
    assert_eq!(denied.kind(), std::io::ErrorKind::PermissionDenied);
    // No write outside the scratch places, even to a file it may read.
    assert!(std::fs::write(&tracked, "1\n").is_err());
    // The script runs (and the shell with it), and /tmp takes its output.
    let out = Command::new("/bin/sh")
        .arg(&script)
        .output()
        .expect("script");
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn the_checker_reads_its_configured_files_and_nothing_else() {
    let allowed = scratch("allowed");
    let other = scratch("other");
    let tracked = allowed.join("flag");
    let granted = allowed.join("granted");
    let secret = other.join("secret");
    let script = allowed.join("check.sh");
    std::fs::write(&tracked, "0\n").unwrap();
    std::fs::write(&granted, "ok\n").unwrap();
    std::fs::write(&secret, "secret\n").unwrap();
    std::fs::write(
        &script,
        "echo ok > /tmp/upkeep-sandbox-test.$$ && rm -f /tmp/upkeep-sandbox-test.$$\n",
    )
    .unwrap();
    let env = [
        ("T_TRACKED", tracked.to_str().unwrap()),
        ("T_GRANTED", granted.to_str().unwrap()),
        ("T_SECRET", secret.to_str().unwrap()),
        ("T_SCRIPT", script.to_str().unwrap()),
    ];
    let out = child("child_landlock", &env);
    let stdout = String::from_utf8_lossy(&out.stdout);
    if stdout.contains("OUTCOME Unsupported") {
        eprintln!("this kernel has no Landlock: nothing to test");
    } else {
        assert!(
            passed(&out),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Without the ruleset the secret is readable: the child fails.
        let mut off = env.to_vec();
        off.push((landlock::ENV, "off"));
        assert!(!passed(&child("child_landlock", &off)));
    }
    let _ = std::fs::remove_dir_all(&allowed);
    let _ = std::fs::remove_dir_all(&other);
}
