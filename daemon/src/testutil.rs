//! Helpers for unit tests.

#![forbid(unsafe_code)]

/// Moves the calling thread (and every thread and process it starts later)
/// into a new network namespace with only `lo`, up. Tests that listen or
/// connect on loopback call this first, so their traffic never touches the
/// root namespace (nextest runs each test in its own process). Needs root,
/// as the namespace lab does.
pub fn private_netns() {
    thread_local! {
        static DONE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    if DONE.with(std::cell::Cell::get) {
        return;
    }
    let r = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET);
    assert!(
        r.is_ok(),
        "unshare(CLONE_NEWNET) failed ({r:?}): loopback tests run as root, in a namespace of their own"
    );
    let up = std::process::Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()
        .map(|s| s.success());
    assert!(matches!(up, Ok(true)), "ip link set lo up: {up:?}");
    DONE.with(|d| d.set(true));
}

/// Says, where the test output shows it, that a test did not run its
/// checks and why (a test that returns early would otherwise pass quietly).
pub fn skipped(why: &str) {
    eprintln!("SKIPPED: {why}");
}

/// A keepalived.conf text's configuration; panics with its diagnostics
/// when it is invalid.
pub fn keepalived_config(text: &str) -> crate::config::model::Config {
    let l = crate::config::load_str(
        "t.conf",
        text,
        crate::config::Format::Keepalived,
        &crate::config::LoadOptions::default(),
    );
    assert!(l.is_ok(), "{:?}", l.diagnostics);
    l.config
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_after_private_netns_is_not_the_root_namespaces() {
        // Bound before: this socket stays in the namespace the test began in.
        let outside = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = outside.local_addr().unwrap().port();
        super::private_netns();
        let inside = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(std::net::TcpStream::connect(inside.local_addr().unwrap()).is_ok());
        let err = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    }
}

/// A directory of its own under the temporary directory, removed with all
/// it holds when the guard is dropped, also when the test fails (a test
/// that cleaned up only at its end left one behind per failed or panicking
/// run, and the plugin tests one per process: hundreds in a CI run).
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    /// `upkeep-NAME-PID-N`: unique within the process (tests run on
    /// threads of one process too) and across processes.
    pub fn new(name: &str) -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("upkeep-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let made = std::fs::create_dir_all(&dir);
        assert!(made.is_ok(), "cannot make {}: {made:?}", dir.display());
        Self(dir)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl std::ops::Deref for TempDir {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod temp_dir_tests {
    use super::TempDir;

    #[test]
    fn a_temporary_directory_is_gone_after_a_panic() {
        let kept = std::sync::Mutex::new(None);
        let r = std::panic::catch_unwind(|| {
            let d = TempDir::new("testutil");
            std::fs::write(d.join("f"), b"x").unwrap();
            *kept.lock().unwrap() = Some(d.path().to_path_buf());
            panic!("the test failed");
        });
        assert!(r.is_err());
        let path = kept.lock().unwrap().clone().unwrap();
        assert!(!path.exists(), "{} left behind", path.display());
        let (a, b) = (TempDir::new("testutil"), TempDir::new("testutil"));
        assert_ne!(a.path(), b.path());
    }
}
