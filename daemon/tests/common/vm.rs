//! The throw-away VM of tests/vm (Debian's cloud kernel under qemu), for
//! tests that need what this host's kernel lacks (IPVS, bonding, 802.1Q).
//! A host test boots it with a guest script; the guest runs this same test
//! binary's `#[ignore]`d tests by name and reports on the results port.

use std::path::PathBuf;
use std::process::Command;

/// tests/vm in the repository.
pub fn dir() -> PathBuf {
    super::repo().join("tests/vm")
}

/// Why the VM cannot run on this host, if it cannot (then the host test
/// skips, loudly).
pub fn cannot_run() -> Option<String> {
    let qemu = Command::new("qemu-system-x86_64").arg("--version").output();
    match qemu {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!(
            "qemu-system-x86_64 --version failed: {}",
            String::from_utf8_lossy(&o.stderr)
        )),
        Err(e) => Some(format!(
            "qemu-system-x86_64 is not installed ({e}); apt-get install qemu-system-x86"
        )),
    }
}

/// A fresh directory for one VM run's console, results and files.
pub fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("upkeep-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("VM run directory");
    d
}

/// The console's last `n` lines, for a failure message.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
