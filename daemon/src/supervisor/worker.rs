//! The worker side: what `upkeepd --role ROLE` runs. It takes its socket
//! from descriptor 3, drops the privileges its role does not need, waits for
//! the parent's `Start` and runs the role.

use std::process::ExitCode;
use std::time::Duration;

use tracing::{error, info, warn};

use super::privs::{self, Account, Cap};
use super::spawn::EXIT_CONFIG;
use crate::config::model::Config;
use crate::ipc::link::{Link, WorkerError, unexpected};
use crate::ipc::msg::{Resume, Role};
use crate::ipc::{Channel, IpcError, Msg, WORKER_FD};
use crate::sandbox::{landlock, seccomp};

/// Exit code after the parent's socket failed (EX_TEMPFAIL): restart me.
pub const EXIT_RESET: i32 = 75;

/// Entry point of a worker process.
pub fn main(role: Role, account: Option<(u32, u32)>) -> ExitCode {
    crate::sys::mem::tune_heap();
    let fd = match crate::sys::fd::take_inherited(WORKER_FD) {
        Ok(fd) => fd,
        Err(e) => {
            error!(role = %role, error = %e, "no parent connection on descriptor 3; not running");
            return ExitCode::from(1);
        }
    };
    // Programs the worker runs (nft) must not inherit the parent link.
    if let Err(e) = nix::fcntl::fcntl(
        &fd,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    ) {
        error!(role = %role, error = %e, "cannot make the parent connection close-on-exec");
        return ExitCode::from(1);
    }
    if let Err(e) = drop_privileges(role, account) {
        error!(role = %role, error = %e, "cannot drop privileges; not running");
        return ExitCode::from(1);
    }
    // Before any thread and before reading anything from the parent: every
    // thread and program started later inherits the filter.
    let mode = seccomp::Mode::from_env();
    match seccomp::install(role, mode) {
        Ok(true) => info!(role = %role, mode = ?mode, "seccomp filter installed"),
        Ok(false) => warn!(role = %role, variable = seccomp::ENV, "seccomp filter off"),
        Err(e) => {
            error!(role = %role, error = %e, "cannot install the seccomp filter; not running");
            return ExitCode::from(1);
        }
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!(role = %role, error = %e, "cannot start the runtime");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async move {
        let channel = Channel::new(fd).map_err(IpcError::Io)?;
        let mut link = Link::new(channel);
        let start = tokio::time::timeout(Duration::from_secs(30), link.recv())
            .await
            .map_err(|_| WorkerError::Other("no start message from the parent".into()))??;
        let Msg::Start {
            generation,
            config,
            resume,
            plugin_key,
        } = start
        else {
            return Err(unexpected(role, &start));
        };
        if let Some(k) = plugin_key.as_deref().and_then(unhex) {
            crate::checker::plugin::set_cache_key(k);
        }
        if role == Role::Checker {
            confine_checker(&config);
        }
        // On the heap: the role's future is tens of KiB, and held in
        // this block's future it was copied onto the stack again by
        // block_on, whose pages then stayed resident (issue 18).
        Box::pin(run_role(role, generation, *config, resume, &mut link)).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(WorkerError::Config(e)) => {
            error!(role = %role, error = %e, "cannot run this configuration");
            ExitCode::from(EXIT_CONFIG as u8)
        }
        Err(WorkerError::Ipc(IpcError::Closed)) => {
            info!(role = %role, "parent gone; stopped");
            ExitCode::SUCCESS
        }
        Err(WorkerError::Ipc(e)) => {
            error!(role = %role, error = %e, "parent connection reset");
            ExitCode::from(EXIT_RESET as u8)
        }
        Err(WorkerError::Other(e)) => {
            error!(role = %role, error = %e, "worker failed");
            ExitCode::from(1)
        }
    }
}

/// Landlock for the checker, from the paths its configuration names. The
/// runtime has not started a thread yet (the ruleset binds the calling
/// thread and what it starts). Best effort: a kernel without Landlock is
/// logged, not fatal.
fn confine_checker(config: &Config) {
    let cache = crate::checker::plugin::cache_dir();
    let paths = landlock::Paths::of(config, cache.as_deref());
    match landlock::restrict(&paths) {
        Ok(landlock::Outcome::Enforced) => info!(
            exec = paths.exec.len(),
            read = paths.read.len(),
            write = paths.write.len(),
            "Landlock ruleset enforced"
        ),
        Ok(outcome) => warn!(outcome = ?outcome, "Landlock not (fully) enforced in this kernel"),
        Err(e) => warn!(error = %e, "cannot apply the Landlock ruleset; running without it"),
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect()
}

async fn run_role(
    role: Role,
    generation: u64,
    config: Config,
    resume: Resume,
    link: &mut Link,
) -> Result<(), WorkerError> {
    match role {
        Role::Vrrp => crate::vrrp::driver::run(config, generation, resume, link).await,
        Role::Ipvs => crate::ipvs::worker::run(config, generation, resume, link).await,
        Role::Checker => crate::checker::worker::run(config, generation, link).await,
        Role::Metrics => crate::control::metrics_worker::run(generation, link).await,
    }
}

/// VRRP keeps NET_ADMIN (addresses, links) and NET_RAW (VRRP and ARP
/// sockets); IPVS only NET_ADMIN; the checker and the metrics server become
/// an unprivileged user (the checker's account).
fn drop_privileges(role: Role, account: Option<(u32, u32)>) -> Result<(), privs::PrivError> {
    match role {
        Role::Vrrp => privs::keep_only(&[Cap::NET_ADMIN, Cap::NET_RAW]),
        Role::Ipvs => privs::keep_only(&[Cap::NET_ADMIN]),
        Role::Checker | Role::Metrics => {
            let (uid, gid) = account.unwrap_or((65534, 65534));
            privs::become_user(&Account {
                name: String::new(),
                uid,
                gid,
            })
        }
    }
}
