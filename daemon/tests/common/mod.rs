//! Paths to the acceptance fixtures shared by the integration tests.
#![allow(dead_code, clippy::expect_used)]

use std::path::PathBuf;

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Our users' configurations, copied into the repository.
pub fn seeds() -> PathBuf {
    repo().join("tests/fixtures/seeds")
}

/// Where Debian's keepalived package puts the same samples.
pub const DEBIAN_SAMPLES: &str = "/usr/share/doc/keepalived/samples";

/// keepalived's own samples: `UPKEEP_KEEPALIVED_SAMPLES` when set, else
/// `../shared` beside the checkout, else Debian's keepalived package (a
/// fresh clone has no `../shared`; scripts/test.sh installs keepalived).
pub fn samples() -> PathBuf {
    let dir = std::env::var_os("UPKEEP_KEEPALIVED_SAMPLES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let shared = repo().join("../shared/fixtures/keepalived-samples");
            if shared.is_dir() {
                shared
            } else {
                PathBuf::from(DEBIAN_SAMPLES)
            }
        });
    assert!(
        dir.is_dir(),
        "keepalived samples not found at {} (../shared beside the checkout, or {DEBIAN_SAMPLES} from Debian's keepalived)",
        dir.display()
    );
    dir
}

/// `target/plugins/NAME.wasm`, built by `scripts/build-plugins.sh`.
pub fn built_plugin(name: &str) -> PathBuf {
    let p = repo().join("target/plugins").join(format!("{name}.wasm"));
    assert!(
        p.is_file(),
        "{} is missing: run `bash scripts/build-plugins.sh` first",
        p.display()
    );
    p
}

/// Writes an executable script (mode 0755) at `path`.
pub fn write_script(path: &std::path::Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("writing a script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .expect("making a script executable");
}

pub const TYPO_SEEDS: [&str; 2] = ["haproxy-master-typo.conf", "nginx-backup-typo.conf"];

/// The seed configurations that must load (every .conf but the typo ones).
pub fn valid_seeds() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(seeds())
        .expect("seeds directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .filter(|p| !TYPO_SEEDS.iter().any(|t| p.ends_with(t)))
        .collect();
    v.sort();
    v
}

/// All keepalived sample files (25).
pub fn sample_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(samples())
        .expect("samples directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("keepalived.conf."))
        })
        .collect();
    v.sort();
    v
}
pub mod flap;
pub mod lab;
pub mod vm;

/// Runs `upkeepd ARGS` to completion and returns its standard output;
/// fails the test with its standard error when it exits non-zero.
pub fn upkeepd_ok(args: &[&std::ffi::OsStr]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_upkeepd"))
        .args(args)
        .output()
        .expect("running upkeepd");
    assert!(
        out.status.success(),
        "upkeepd {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `n` TCP-checked real servers in virtual servers of 100 (keepalived
/// syntax), as bench/memory.py: real server `127.0.V.W:2000R`, checked at
/// 127.0.0.1 (tests/tools/tcp_listeners.py answers there).
pub fn tcp_checked_servers(n: usize, delay_loop: u32) -> String {
    let mut out = String::new();
    for v in 0..n.div_ceil(100) {
        out.push_str(&format!(
            "virtual_server 10.200.{}.{} 80 {{\n    delay_loop {delay_loop}\n    lb_algo rr\n    lb_kind DR\n    protocol TCP\n",
            v / 250,
            v % 250 + 1
        ));
        for r in 0..100.min(n - v * 100) {
            out.push_str(&format!(
                "    real_server 127.0.{}.{} {} {{ TCP_CHECK {{ connect_ip 127.0.0.1\n connect_timeout 2 }} }}\n",
                v / 250,
                v % 250 + 1,
                20000 + r
            ));
        }
        out.push_str("}\n");
    }
    out
}
