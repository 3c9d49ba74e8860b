//! `upkeepd`: the upkeep daemon.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use upkeep::cli::print_diagnostics;
use upkeep::cli::upkeepd::{Args, DumpFormat};
use upkeep::config::{self, LoadOptions};
use upkeep::supervisor::{self, Options, sdnotify::SdNotify};

fn main() -> ExitCode {
    // Where the main stack is: pages below the loop are given back after
    // start (sys::mem::release_stack_below_here).
    upkeep::sys::mem::note_main_stack();
    // Before the configuration is read: its buffers of megabytes get mmaps
    // of their own instead of fragmenting the heap (sys::mem::tune_heap).
    upkeep::sys::mem::tune_heap();
    let args = Args::parse();
    if let Some(role) = args.role {
        return upkeep::cli::run_worker(role, args);
    }
    // Before any thread exists: take systemd's variables out of the
    // environment so that workers and scripts never inherit them.
    let (sd, watchdog) = SdNotify::from_env();
    let path = args.config.clone().unwrap_or_else(config::default_path);
    let opts = LoadOptions {
        config_id: args.config_id.clone(),
    };
    upkeep::account::load_modules();
    let loaded = upkeep::sys::mem::apart(|| config::load(&path, &opts));
    print_diagnostics(&loaded.diagnostics);
    if !loaded.is_ok() {
        eprintln!(
            "upkeepd: {}: configuration is invalid; not starting",
            path.display()
        );
        return ExitCode::from(1);
    }
    if args.check {
        return ExitCode::SUCCESS;
    }
    if args.dump {
        let text = match args.format {
            DumpFormat::Toml => toml::to_string_pretty(&loaded.config).map_err(|e| e.to_string()),
            DumpFormat::Json => {
                serde_json::to_string_pretty(&loaded.config).map_err(|e| e.to_string())
            }
        };
        return match text {
            Ok(t) => {
                println!("{t}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("upkeepd: cannot print the configuration: {e}");
                ExitCode::from(1)
            }
        };
    }
    // As a container's pid 1, leave an init behind to reap orphans.
    if let Some(code) = upkeep::supervisor::init::split_if_pid_1() {
        return code;
    }
    upkeep::cli::init_logging();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("upkeepd: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let opts = Options {
        config_path: path,
        load: opts,
        runtime_dir: args.runtime_dir.clone(),
        cache_dir: args.cache_dir.clone(),
        state_dir: args.state_dir.clone(),
        backoff: args.restart_backoff.clone(),
        handover: args.handover,
    };
    // On the heap: see supervisor::worker::main.
    match runtime.block_on(Box::pin(supervisor::run(opts, loaded.config, sd, watchdog))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "upkeepd stopped");
            ExitCode::from(1)
        }
    }
}
