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

/// An instance's status with nothing counted yet.
pub fn instance_status(
    name: &str,
    state: crate::vrrp::fsm::State,
    priority: u8,
    base_priority: u8,
) -> crate::ipc::msg::InstanceStatus {
    crate::ipc::msg::InstanceStatus {
        name: name.into(),
        state,
        priority,
        base_priority,
        master: None,
        vips: Vec::new(),
        last_cause: None,
        last_transition_ms: None,
        adverts_sent: 0,
        adverts_received: 0,
        transitions: 0,
        vips_missing: Vec::new(),
        addresses_restored: 0,
        addresses_removed: 0,
        maintenance: false,
        handover: false,
        drops: Default::default(),
    }
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
