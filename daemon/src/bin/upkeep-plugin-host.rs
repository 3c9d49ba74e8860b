//! `upkeep-plugin-host`: the checker with the WASM plugin host. The parent
//! starts it in place of `upkeepd --role checker` when the configuration
//! has a plugin check; `upkeepd` itself does not link wasmtime
//! (`checker::plugin`). It runs no other role and is not meant to be run
//! by hand: it needs the parent's socket on descriptor 3.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use upkeep::cli::upkeepd::Args;
use upkeep::ipc::msg::Role;

fn main() -> ExitCode {
    // Where the main stack is: pages below the loop are given back after
    // start (sys::mem::release_stack_below_here).
    upkeep::sys::mem::note_main_stack();
    let args = Args::parse();
    match args.role {
        Some(Role::Checker) => {
            upkeep::checker::plugin::install(upkeep::checker::plugin::wasm_host);
            upkeep::cli::run_worker(Role::Checker, args)
        }
        _ => {
            eprintln!(
                "upkeep-plugin-host: runs only as upkeepd's checker (--role checker), started by upkeepd"
            );
            ExitCode::from(2)
        }
    }
}
