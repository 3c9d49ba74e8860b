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

/// keepalived's own samples, kept in `../shared` beside the checkout (CI has
/// them there). `UPKEEP_KEEPALIVED_SAMPLES` overrides the location.
pub fn samples() -> PathBuf {
    let dir = std::env::var_os("UPKEEP_KEEPALIVED_SAMPLES")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("../shared/fixtures/keepalived-samples"));
    assert!(
        dir.is_dir(),
        "keepalived samples not found at {} (expected ../shared beside the checkout)",
        dir.display()
    );
    dir
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
pub mod lab;
