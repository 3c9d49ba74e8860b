//! The two command-line programs: their clap definitions (here, so that
//! man pages and completions come from the same source) and shared pieces.

#![forbid(unsafe_code)]

pub mod upkeepctl;
pub mod upkeepd;

use std::io::Write;

use crate::config::Diagnostics;

/// Prints diagnostics to stderr in `FILE:LINE:COL: severity: message` form,
/// sorted by position, followed by a one-line summary when there are any.
pub fn print_diagnostics(diags: &Diagnostics) {
    let stderr = std::io::stderr();
    let mut out = stderr.lock();
    for d in diags.sorted() {
        let _ = writeln!(out, "{d}");
    }
    let errors = diags.error_count();
    let warnings = diags.items().len() - errors;
    if errors + warnings > 0 {
        let _ = writeln!(out, "{errors} error(s), {warnings} warning(s)");
    }
}

/// Logs to stderr (systemd's journal picks it up); RUST_LOG overrides the
/// level.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    let _ = builder.try_init();
}

/// A worker started by the parent (`--role`), in `upkeepd` or
/// `upkeep-plugin-host`.
pub fn run_worker(role: crate::ipc::msg::Role, args: upkeepd::Args) -> std::process::ExitCode {
    // Executed as /proc/self/exe (or a descriptor), the kernel named us
    // after that path.
    let renamed = crate::procname::set_comm();
    init_logging();
    if let Err(e) = renamed {
        tracing::warn!(error = %e, "cannot set the process name");
    }
    // Every line a worker logs names its role.
    let _span = tracing::info_span!("worker", role = %role).entered();
    let account = args.uid.zip(args.gid);
    if let Some(dir) = args.plugin_cache {
        crate::checker::plugin::set_cache_dir(dir);
    }
    crate::supervisor::worker::main(role, account)
}
