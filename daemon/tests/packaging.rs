//! The systemd unit passes `systemd-analyze verify` (scripts/verify-unit.sh,
//! which installs systemd when it is missing).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

#[test]
fn systemd_unit_verifies() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let out = Command::new("bash")
        .arg("scripts/verify-unit.sh")
        .arg(env!("CARGO_BIN_EXE_upkeepd"))
        .current_dir(root)
        .output()
        .expect("run bash scripts/verify-unit.sh");
    assert!(
        out.status.success(),
        "scripts/verify-unit.sh failed: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
