//! The parent's side of a re-exec (`upkeepctl reexec`; the handover
//! itself is `reexec.rs`): refusing it, stopping the workers without their
//! clean-up, and executing the new image with systemd's variables.

use std::ffi::OsString;
use std::time::Duration;

use tokio::sync::oneshot;
use tracing::{error, info, warn};

use super::sdnotify::SdNotify;
use super::{Parent, SupervisorError, reexec};
use crate::control::Response;

/// NOTIFY_SOCKET and the watchdog's variables, as a re-executed image
/// must find them (same pid).
pub(super) fn notify_env(
    sd: Option<&SdNotify>,
    watchdog: Option<Duration>,
) -> Vec<(&'static str, OsString)> {
    let mut env = Vec::new();
    if let Some(sd) = sd.filter(|sd| !sd.raw().is_empty()) {
        env.push(("NOTIFY_SOCKET", sd.raw().to_owned()));
    }
    if let Some(w) = watchdog {
        env.push(("WATCHDOG_USEC", w.as_micros().to_string().into()));
        env.push(("WATCHDOG_PID", std::process::id().to_string().into()));
    }
    env
}

/// The end of a re-exec: the workers have stopped; the record goes into
/// the handover and the new binary replaces this image. Returns only when
/// that failed (the daemon then exits with an error and systemd restarts
/// it; the VIPs are on the interface without adverts until then).
pub(super) async fn hand_over(
    p: Parent,
    sd_env: Vec<(&'static str, OsString)>,
) -> Result<(), SupervisorError> {
    let handover = reexec::Handover {
        resume: p.record.resume(None),
        stopped_ms: reexec::monotonic_ms(),
    };
    let Parent {
        notifier,
        opts,
        fifo_scripts,
        ..
    } = p;
    notifier.finish(Duration::from_secs(5)).await;
    // The new image starts its own readers.
    fifo_scripts.stop().await;
    reexec::write(&opts.runtime_dir, &handover)?;
    let e = reexec::exec(&sd_env);
    error!(error = %e, "re-exec failed");
    Err(e.into())
}

impl Parent {
    /// `upkeepctl reexec`: refused while stopping or reloading, or when the
    /// configuration file no longer loads (the new image would not start);
    /// else the workers stop without clean-up (see `reexec.rs`) and the loop
    /// ends into the exec.
    pub(super) fn begin_reexec(&mut self, reply: oneshot::Sender<Response>) {
        let refuse = |why: String| Response::Error { message: why };
        if self.stopping || self.reload.is_some() {
            let _ = reply.send(refuse("the daemon is stopping or reloading".into()));
            return;
        }
        let (path, opts) = (&self.opts.config_path, &self.opts.load);
        let loaded = crate::sys::mem::apart(|| crate::config::load(path, opts));
        if !loaded.is_ok() {
            let errors: Vec<String> = loaded
                .diagnostics
                .sorted()
                .into_iter()
                .filter(|d| d.severity == crate::config::diag::Severity::Error)
                .map(|d| d.to_string())
                .collect();
            let why = format!(
                "invalid configuration; not re-executing: {}",
                errors.join("; ")
            );
            warn!(error = %why, "re-exec refused");
            let _ = reply.send(refuse(why));
            return;
        }
        info!("re-executing: workers stop without clean-up, VIPs stay");
        let _ = reply.send(Response::Reexec {
            pid: std::process::id(),
        });
        self.tell_systemd(SdNotify::reloading);
        self.handing_over = true;
        self.stopping = true;
        self.workers.hand_over();
    }
}
