//! The systemd notify protocol (sd_notify(3)), by hand: one datagram of
//! newline-separated `KEY=VALUE` assignments to the AF_UNIX socket named by
//! `NOTIFY_SOCKET` (a path, or `@name` for the abstract namespace).
//!
//! Why: the unit is `Type=notify`, so systemd considers upkeepd started only
//! once the parent says `READY=1`, and restarts it when `WATCHDOG=1` stops.
//!
//! Why by hand and not the `sd-notify` crate (0.5): the environment must be
//! cleared of `NOTIFY_SOCKET` and `WATCHDOG_*` before any thread starts (so
//! that no worker or script inherits them, and because changing the
//! environment later is unsound), while notifications go on for the whole
//! life of the daemon. The crate reads `NOTIFY_SOCKET` from the environment
//! at every call (`notify`), and its only way to clear it is to do so while
//! sending (`notify_and_unset_env`, unsafe, after which it cannot send
//! again). Here the address is read once at start and kept in [`SdNotify`].

use std::ffi::OsStr;
use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::Path;
use std::time::Duration;

/// A notifier: an unbound datagram socket and systemd's address. Every
/// message is addressed with `sendto`, like sd_notify(3) does, so a
/// `systemctl daemon-reexec` (which rebinds the socket) does not break it.
#[derive(Debug)]
pub struct SdNotify {
    sock: UnixDatagram,
    addr: SocketAddr,
    /// `NOTIFY_SOCKET` as given, for a re-executed image (supervisor::reexec).
    raw: std::ffi::OsString,
}

impl SdNotify {
    /// Reads `NOTIFY_SOCKET` (a path, or `@` for the abstract namespace) and
    /// removes `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` from this
    /// process's environment, so children (workers, scripts) never inherit
    /// them. Call it early, while the process is still single-threaded.
    ///
    /// Returns `None` when `NOTIFY_SOCKET` is unset or empty (or unusable:
    /// that is logged). Also returns the watchdog interval: `WATCHDOG_USEC`
    /// when set and `WATCHDOG_PID` is unset or equals our pid.
    pub fn from_env() -> (Option<SdNotify>, Option<Duration>) {
        let socket = std::env::var_os("NOTIFY_SOCKET");
        let usec = std::env::var_os("WATCHDOG_USEC");
        let pid = std::env::var_os("WATCHDOG_PID");
        // Called before any thread is spawned (the contract of from_env).
        crate::sys::env::remove_before_threads(&["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"]);
        let notify = match socket.as_deref().map(from_notify_socket) {
            None | Some(Ok(None)) => None,
            Some(Ok(Some(n))) => Some(n),
            Some(Err(e)) => {
                tracing::warn!(error = %e, "NOTIFY_SOCKET unusable; not notifying systemd");
                None
            }
        };
        let watchdog = watchdog_interval(usec.as_deref(), pid.as_deref(), std::process::id());
        (notify, watchdog)
    }

    /// `NOTIFY_SOCKET` as systemd gave it (empty for [`Self::to_path`]).
    pub fn raw(&self) -> &OsStr {
        &self.raw
    }

    /// Targets an explicit socket path (for tests).
    pub fn to_path(path: &Path) -> io::Result<SdNotify> {
        Self::to_addr(SocketAddr::from_pathname(path)?)
    }

    fn to_addr(addr: SocketAddr) -> io::Result<SdNotify> {
        Ok(SdNotify {
            sock: UnixDatagram::unbound()?,
            addr,
            raw: std::ffi::OsString::new(),
        })
    }

    /// Sends one datagram with the given newline-separated assignments,
    /// e.g. `"READY=1\nSTATUS=..."`. Errors are returned; callers log them.
    pub fn send(&self, state: &str) -> io::Result<()> {
        let sent = self.sock.send_to_addr(state.as_bytes(), &self.addr)?;
        if sent != state.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("sd_notify: sent {sent} of {} bytes", state.len()),
            ));
        }
        Ok(())
    }

    /// `READY=1` with a status line.
    pub fn ready(&self, status: &str) -> io::Result<()> {
        self.send(&format!("READY=1\nSTATUS={}", one_line(status)))
    }

    /// `STATUS=<status>` (newlines in `status` become spaces).
    pub fn status(&self, status: &str) -> io::Result<()> {
        self.send(&format!("STATUS={}", one_line(status)))
    }

    /// `WATCHDOG=1`: the keep-alive ping.
    pub fn watchdog(&self) -> io::Result<()> {
        self.send("WATCHDOG=1")
    }

    /// `RELOADING=1` with the `MONOTONIC_USEC` timestamp systemd wants
    /// (for `Type=notify-reload`; harmless for `Type=notify`). Send
    /// `ready` when the reload is done.
    pub fn reloading(&self) -> io::Result<()> {
        self.send(&format!("RELOADING=1\nMONOTONIC_USEC={}", monotonic_usec()))
    }

    /// `STOPPING=1`: shutdown has begun.
    pub fn stopping(&self) -> io::Result<()> {
        self.send("STOPPING=1")
    }
}

/// CLOCK_MONOTONIC in microseconds (clock_gettime); 0 if the clock fails,
/// which Linux never does for CLOCK_MONOTONIC.
pub fn monotonic_usec() -> u64 {
    let Ok(ts) = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC) else {
        return 0;
    };
    let secs = u64::try_from(ts.tv_sec()).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec()).unwrap_or(0);
    secs.saturating_mul(1_000_000).saturating_add(nanos / 1_000)
}

/// The notifier for a `NOTIFY_SOCKET` value: `None` when empty; an error
/// for anything but an absolute path or `@abstract` (e.g. `vsock:`).
fn from_notify_socket(value: &OsStr) -> io::Result<Option<SdNotify>> {
    let bytes = value.as_bytes();
    let addr = match bytes.first() {
        None => return Ok(None),
        Some(b'@') => SocketAddr::from_abstract_name(&bytes[1..])?,
        Some(b'/') => SocketAddr::from_pathname(Path::new(value))?,
        Some(_) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unsupported NOTIFY_SOCKET {value:?}"),
            ));
        }
    };
    let mut n = SdNotify::to_addr(addr)?;
    n.raw = value.to_owned();
    Ok(Some(n))
}

/// `WATCHDOG_USEC` when positive and meant for us (`WATCHDOG_PID` unset or
/// `our_pid`).
fn watchdog_interval(usec: Option<&OsStr>, pid: Option<&OsStr>, our_pid: u32) -> Option<Duration> {
    if let Some(pid) = pid {
        let pid = pid.to_str()?.trim().parse::<u32>().ok()?;
        if pid != our_pid {
            return None;
        }
    }
    let usec = usec?.to_str()?.trim().parse::<u64>().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec))
}

/// A status value on one line: the protocol separates assignments by newlines.
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::process::Command;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A datagram listener in a fresh temporary directory, removed on drop.
    struct Listener {
        dir: PathBuf,
        path: PathBuf,
        sock: UnixDatagram,
    }

    impl Listener {
        fn new() -> Listener {
            static N: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "upkeep-sdnotify-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("notify");
            let sock = UnixDatagram::bind(&path).unwrap();
            sock.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            Listener { dir, path, sock }
        }

        fn recv(&self) -> String {
            recv(&self.sock)
        }
    }

    impl Drop for Listener {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn recv(sock: &UnixDatagram) -> String {
        let mut buf = [0u8; 4096];
        let n = sock.recv(&mut buf).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn every_message_kind_arrives_exactly() {
        let l = Listener::new();
        let n = SdNotify::to_path(&l.path).unwrap();

        n.send("FOO=1\nBAR=2").unwrap();
        assert_eq!(l.recv(), "FOO=1\nBAR=2");
        n.ready("MASTER on eth0").unwrap();
        assert_eq!(l.recv(), "READY=1\nSTATUS=MASTER on eth0");
        n.ready("two\nlines").unwrap();
        assert_eq!(l.recv(), "READY=1\nSTATUS=two lines");
        n.status("vrrp: 2 instances\nipvs: 1 service\r").unwrap();
        assert_eq!(l.recv(), "STATUS=vrrp: 2 instances ipvs: 1 service ");
        n.watchdog().unwrap();
        assert_eq!(l.recv(), "WATCHDOG=1");
        n.stopping().unwrap();
        assert_eq!(l.recv(), "STOPPING=1");

        let before = monotonic_usec();
        n.reloading().unwrap();
        let after = monotonic_usec();
        let msg = l.recv();
        let usec = msg
            .strip_prefix("RELOADING=1\nMONOTONIC_USEC=")
            .unwrap_or_else(|| panic!("unexpected {msg:?}"));
        assert!(usec.bytes().all(|b| b.is_ascii_digit()), "{msg:?}");
        let usec: u64 = usec.parse().unwrap();
        assert!(before <= usec && usec <= after, "{before} {usec} {after}");
    }

    #[test]
    fn abstract_namespace() {
        let name = format!("upkeep-sdnotify-test-{}", std::process::id());
        let listener =
            UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(&name).unwrap()).unwrap();
        listener
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let n = from_notify_socket(OsStr::new(&format!("@{name}")))
            .unwrap()
            .unwrap();
        n.ready("abstract").unwrap();
        assert_eq!(recv(&listener), "READY=1\nSTATUS=abstract");
        n.watchdog().unwrap();
        assert_eq!(recv(&listener), "WATCHDOG=1");
    }

    #[test]
    fn notify_socket_values() {
        assert!(from_notify_socket(OsStr::new("")).unwrap().is_none());
        assert!(from_notify_socket(OsStr::new("relative/path")).is_err());
        assert!(from_notify_socket(OsStr::new("vsock:2:1234")).is_err());
        // A path that is nobody's socket: creating works, sending fails.
        let n = from_notify_socket(OsStr::new("/nonexistent/upkeep/notify"))
            .unwrap()
            .unwrap();
        assert!(n.watchdog().is_err());
    }

    #[test]
    fn send_to_missing_socket_is_an_error() {
        let l = Listener::new();
        let n = SdNotify::to_path(&l.path).unwrap();
        drop(l);
        assert!(n.ready("x").is_err());
    }

    #[test]
    fn watchdog_interval_rules() {
        let os = |s: &'static str| Some(OsStr::new(s));
        let five = Some(Duration::from_secs(5));
        assert_eq!(watchdog_interval(os("5000000"), None, 42), five);
        assert_eq!(watchdog_interval(os("5000000"), os("42"), 42), five);
        assert_eq!(watchdog_interval(os("5000000"), os("43"), 42), None);
        assert_eq!(watchdog_interval(os("5000000"), os("junk"), 42), None);
        assert_eq!(watchdog_interval(os("0"), None, 42), None);
        assert_eq!(watchdog_interval(os("-1"), None, 42), None);
        assert_eq!(watchdog_interval(os(""), None, 42), None);
        assert_eq!(watchdog_interval(None, None, 42), None);
        assert_eq!(watchdog_interval(None, os("42"), 42), None);
    }

    #[test]
    fn monotonic_usec_is_monotonic_and_close() {
        let a = monotonic_usec();
        let b = monotonic_usec();
        assert!(a > 0);
        assert!(b >= a);
        assert!(b - a < 1_000_000, "{a} {b}");
        std::thread::sleep(Duration::from_millis(20));
        let c = monotonic_usec();
        assert!(c - b >= 20_000, "{b} {c}");
    }

    const CHILD_MARKER: &str = "UPKEEP_SDNOTIFY_TEST_CHILD";

    /// Runs `from_env_child` in a fresh process of this test binary, whose
    /// environment we choose (so this process's environment is untouched).
    fn run_child(env: &[(&str, &str)], mode: &str) {
        // The test's name is its module path without the crate name.
        let (_crate, module) = module_path!().split_once("::").unwrap();
        let name = format!("{module}::from_env_child");
        let exe = std::env::current_exe().unwrap();
        let out = Command::new(exe)
            .args([
                "--exact",
                name.as_str(),
                "--ignored",
                "--test-threads=1",
                "--nocapture",
            ])
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .envs(env.iter().copied())
            .env(CHILD_MARKER, mode)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "child failed: {}\nstdout:\n{stdout}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn from_env_in_a_child_process() {
        let l = Listener::new();
        let path = l.path.to_str().unwrap();
        run_child(
            &[("NOTIFY_SOCKET", path), ("WATCHDOG_USEC", "2500000")],
            "2500000",
        );
        assert_eq!(l.recv(), "READY=1\nSTATUS=child");
        run_child(
            &[
                ("NOTIFY_SOCKET", path),
                ("WATCHDOG_USEC", "2500000"),
                ("WATCHDOG_PID", "self"),
            ],
            "2500000",
        );
        assert_eq!(l.recv(), "READY=1\nSTATUS=child");
        // Another process's watchdog (our own pid is never the child's).
        let parent = std::process::id().to_string();
        run_child(
            &[
                ("NOTIFY_SOCKET", path),
                ("WATCHDOG_USEC", "2500000"),
                ("WATCHDOG_PID", &parent),
            ],
            "none",
        );
        assert_eq!(l.recv(), "READY=1\nSTATUS=child");
        // No NOTIFY_SOCKET: no notifier, and the watchdog is still read.
        run_child(&[("NOTIFY_SOCKET", ""), ("WATCHDOG_USEC", "1000")], "1000");

        let name = format!("upkeep-sdnotify-env-{}", std::process::id());
        let abs = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(&name).unwrap()).unwrap();
        abs.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        run_child(&[("NOTIFY_SOCKET", &format!("@{name}"))], "none");
        assert_eq!(recv(&abs), "READY=1\nSTATUS=child");
    }

    /// The child half of `from_env_in_a_child_process`; does nothing unless
    /// started by it.
    #[test]
    #[ignore = "run by from_env_in_a_child_process in a child process"]
    fn from_env_child() {
        let Some(mode) = std::env::var_os(CHILD_MARKER) else {
            return;
        };
        let mode = mode.to_str().unwrap().to_owned();
        if std::env::var_os("WATCHDOG_PID").is_some_and(|v| v == "self") {
            // This process runs only this test (--exact, --test-threads=1);
            // the harness's main thread just waits for it, so nothing reads
            // the environment concurrently.
            crate::sys::env::set_before_threads("WATCHDOG_PID", &std::process::id().to_string());
        }
        let expect_notify = std::env::var_os("NOTIFY_SOCKET").is_some_and(|v| !v.is_empty());

        let (notify, watchdog) = SdNotify::from_env();

        for key in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] {
            assert_eq!(std::env::var_os(key), None, "{key} still set");
        }
        let expected = match mode.as_str() {
            "none" => None,
            usec => Some(Duration::from_micros(usec.parse().unwrap())),
        };
        assert_eq!(watchdog, expected);
        assert_eq!(notify.is_some(), expect_notify);
        if let Some(n) = notify {
            n.ready("child").unwrap();
        }
    }
}
