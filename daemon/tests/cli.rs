//! The command-line contract, through the real binaries.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test crate fails by panicking

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const UPKEEPD: &str = env!("CARGO_BIN_EXE_upkeepd");
const UPKEEPCTL: &str = env!("CARGO_BIN_EXE_upkeepctl");

fn run(bin: &str, args: &[&str]) -> Output {
    Command::new(bin).args(args).output().expect("run binary")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

#[test]
fn check_config_accepts_valid_seeds() {
    for f in common::valid_seeds() {
        for flag in ["-t", "--check-config", "--config-test"] {
            let out = run(UPKEEPD, &[flag, "-f", p(&f)]);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{flag} {}: {}",
                f.display(),
                text(&out.stderr)
            );
            assert!(out.stdout.is_empty());
        }
    }
}

#[test]
fn check_config_rejects_typos_with_located_diagnostics() {
    let f = common::seeds().join("haproxy-master-typo.conf");
    let out = run(UPKEEPD, &["-t", "-f", p(&f)]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("haproxy-master-typo.conf:1:1: error: unknown keyword 'g1obal_defs'"),
        "{err}"
    );
    assert!(err.contains("did you mean 'global_defs'?"), "{err}");

    let f = common::seeds().join("nginx-backup-typo.conf");
    let out = run(UPKEEPD, &["--check-config", "--config", p(&f)]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(
            ":14:11: error: invalid value 'SLAVER' for 'state': expected one of MASTER, BACKUP"
        ),
        "{err}"
    );
}

#[test]
fn warnings_alone_do_not_fail_the_check() {
    // The seed with a keyword upkeep accepts and does not implement.
    let dir = std::env::temp_dir().join(format!("upkeep-cli-warn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("keepalived.conf");
    let seed = std::fs::read_to_string(common::seeds().join("nginx-master.conf")).unwrap();
    std::fs::write(
        &f,
        seed.replacen(
            "global_defs {",
            "global_defs {\n    snmp_socket udp:localhost:705",
            1,
        ),
    )
    .unwrap();
    let out = run(UPKEEPD, &["-t", "-f", p(&f)]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("warning: 'snmp_socket' is accepted but not supported"),
        "{}",
        text(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn missing_file_is_an_error() {
    let out = run(UPKEEPD, &["-t", "-f", "/nonexistent/upkeep.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot read '/nonexistent/upkeep.toml'"));
}

#[test]
fn the_daemon_refuses_to_start_with_errors() {
    let f = common::seeds().join("nginx-backup-typo.conf");
    let out = run(UPKEEPD, &["-f", p(&f)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("configuration is invalid; not starting"));
}

#[test]
fn dump_config_prints_json_and_toml() {
    let f = common::seeds().join("lvs-dr-master.conf");
    let out = run(UPKEEPD, &["--dump-config", "--format", "json", "-f", p(&f)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["vrrp_instance"][0]["virtual_router_id"], 50);
    assert_eq!(v["virtual_server"][0]["lb_kind"], "DR");
    assert_eq!(v["virtual_server"][0]["real_server"][1]["weight"], 2);
    let out = run(UPKEEPD, &["--dump-config", "-f", p(&f)]);
    assert_eq!(out.status.code(), Some(0));
    let t: toml::Value = toml::from_str(&text(&out.stdout)).expect("TOML");
    assert_eq!(
        t["global"]["vrrp_mcast_group4"].as_str(),
        Some("234.10.10.10")
    );
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("upkeep-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// `upkeepctl convert` output, read back by upkeepd, dumps the same model.
#[test]
fn convert_round_trips_through_the_binaries() {
    let dir = scratch("convert");
    let mut files = common::valid_seeds();
    files.extend(common::sample_files());
    for f in files {
        let conv = run(UPKEEPCTL, &["convert", p(&f)]);
        assert_eq!(
            conv.status.code(),
            Some(0),
            "{}: {}",
            f.display(),
            text(&conv.stderr)
        );
        let toml_path = dir.join(format!("{}.toml", f.file_name().unwrap().to_string_lossy()));
        std::fs::write(&toml_path, &conv.stdout).unwrap();
        let check = run(UPKEEPD, &["-t", "-f", p(&toml_path)]);
        assert_eq!(
            check.status.code(),
            Some(0),
            "{}: {}",
            toml_path.display(),
            text(&check.stderr)
        );
        // Validation warnings carry over; keywords the reader dropped do not,
        // and the header names exactly those.
        let original = upkeep::config::load(&f, &Default::default());
        let converted = upkeep::config::load(&toml_path, &Default::default());
        assert!(converted.diagnostics.dropped_keywords().is_empty());
        let header = text(&conv.stdout);
        for k in original.diagnostics.dropped_keywords() {
            assert!(
                header.contains(&format!("#   {k}\n")),
                "{k} not listed in {}",
                f.display()
            );
        }
        for k in converted.diagnostics.unsupported_keywords() {
            assert!(
                !header.contains(&format!("#   {k}\n")),
                "{k} is carried over, not dropped"
            );
        }
        let a = run(UPKEEPD, &["--dump-config", "--format", "json", "-f", p(&f)]);
        let b = run(
            UPKEEPD,
            &["--dump-config", "--format", "json", "-f", p(&toml_path)],
        );
        assert_eq!(text(&a.stdout), text(&b.stdout), "{}", f.display());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn convert_lists_what_it_did_not_carry_over() {
    let dir = std::env::temp_dir().join(format!("upkeep-cli-convert-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("keepalived.conf");
    let seed = std::fs::read_to_string(common::seeds().join("lvs-dr-master.conf")).unwrap();
    std::fs::write(
        &f,
        seed.replacen(
            "global_defs {",
            "global_defs {\n    snmp_socket udp:localhost:705",
            1,
        ),
    )
    .unwrap();
    let out = run(UPKEEPCTL, &["convert", p(&f)]);
    let t = text(&out.stdout);
    assert!(
        t.contains("# Not carried over (accepted but not supported by upkeep):\n#   snmp_socket\n"),
        "{t}"
    );
    // The SMTP settings are carried over now.
    assert!(t.contains("notification_email = ["), "{t}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn convert_refuses_invalid_input_and_prints_nothing() {
    let f = common::seeds().join("haproxy-master-typo.conf");
    let out = run(UPKEEPCTL, &["convert", p(&f)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(text(&out.stderr).contains("g1obal_defs"));
}

#[test]
fn config_id_flag_selects_conditional_lines() {
    let f = common::samples().join("keepalived.conf.conditional_conf");
    let out = run(
        UPKEEPD,
        &[
            "--dump-config",
            "--format",
            "json",
            "-i",
            "high",
            "-f",
            p(&f),
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["vrrp_instance"][0]["priority"], 170);
}

/// Issue 18: with a plugin check and no plugin host beside upkeepd (nor in
/// ../libexec/upkeep/), or one another user may change, the daemon says
/// why and does not start, instead of running checks that can only fail.
/// The plugin host itself refuses to run as anything but the checker.
#[test]
fn a_plugin_check_without_a_trusted_plugin_host_does_not_start() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("no-plugin-host");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = dir.join("upkeepd");
    std::fs::copy(UPKEEPD, &bin).unwrap();
    let conf = dir.join("upkeep.toml");
    let wasm = dir.join("check.wasm");
    std::fs::copy(common::built_plugin("conformance-rust"), &wasm).unwrap();
    std::fs::write(
        &conf,
        r#"
[[vrrp_script]]
name = "chk"
interval = 1

[vrrp_script.plugin]
file = "WASM"

[[vrrp_instance]]
name = "VI_1"
interface = "lo"
virtual_router_id = 51
priority = 100
virtual_ipaddress = ["10.77.0.100/24"]
track_script = ["chk"]
"#
        .replace("WASM", p(&wasm)),
    )
    .unwrap();
    let args = |rt: &str| {
        vec![
            "-f".to_string(),
            p(&conf).to_string(),
            "--runtime-dir".into(),
            dir.join(rt).display().to_string(),
            "--state-dir".into(),
            dir.join("state").display().to_string(),
            "--cache-dir".into(),
            dir.join("cache").display().to_string(),
        ]
    };
    let start = |rt: &str| {
        Command::new(&bin)
            .args(args(rt))
            .output()
            .expect("run upkeepd")
    };
    let out = start("run1");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("upkeep-plugin-host")
            && text(&out.stderr).contains("not installed"),
        "{}",
        text(&out.stderr)
    );
    assert!(!dir.join("run1/upkeepd.pid").exists(), "it started");

    let host = dir.join("upkeep-plugin-host");
    std::fs::copy(env!("CARGO_BIN_EXE_upkeep-plugin-host"), &host).unwrap();
    std::fs::set_permissions(&host, std::fs::Permissions::from_mode(0o757)).unwrap();
    let out = start("run2");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("refused") && text(&out.stderr).contains("writable"),
        "{}",
        text(&out.stderr)
    );

    let out = run(p(&host), &["--role", "vrrp"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}
