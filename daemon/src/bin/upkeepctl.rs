//! `upkeepctl`: control and conversion client for upkeep.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use upkeep::cli::print_diagnostics;
use upkeep::config::{self, LoadOptions, native};
use upkeep::control::{self, Request, Response};

#[derive(Parser, Debug)]
#[command(
    name = "upkeepctl",
    version,
    about = "Control and conversion client for upkeep"
)]
struct Args {
    /// The daemon's runtime directory (its --runtime-dir).
    #[arg(
        long = "runtime-dir",
        value_name = "DIR",
        default_value = "/run/upkeep",
        global = true
    )]
    runtime_dir: PathBuf,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the upkeep TOML equivalent of a configuration (keepalived.conf or TOML).
    Convert {
        file: PathBuf,
        /// Configuration id selecting `@ID` lines (keepalived's -i).
        #[arg(short = 'i', long = "config-id", value_name = "ID")]
        config_id: Option<String>,
    },
    /// Show instances, checks, virtual servers and workers.
    Status {
        /// Print the full status document as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Reload the configuration (as SIGHUP does) and report the outcome.
    Reload,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match args.command {
        Command::Convert { file, config_id } => convert(&file, config_id),
        Command::Status { json } => status(&args.runtime_dir, json),
        Command::Reload => reload(&args.runtime_dir),
    }
}

fn ask(dir: &Path, req: &Request) -> Result<Response, ExitCode> {
    control::request(dir, req, Duration::from_secs(40)).map_err(|e| {
        eprintln!("upkeepctl: {e}");
        ExitCode::from(2)
    })
}

fn status(dir: &Path, json: bool) -> ExitCode {
    let doc = match ask(dir, &Request::Status) {
        Ok(Response::Status(doc)) => doc,
        Ok(other) => return refused(&other),
        Err(code) => return code,
    };
    if json {
        return match serde_json::to_string_pretty(&doc) {
            Ok(t) => {
                println!("{t}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("upkeepctl: {e}");
                ExitCode::from(1)
            }
        };
    }
    print!("{}", upkeep::control::render::text(&doc));
    ExitCode::SUCCESS
}

fn reload(dir: &Path) -> ExitCode {
    match ask(dir, &Request::Reload) {
        Ok(Response::Reload {
            ok: true,
            generation,
            ..
        }) => {
            println!("reloaded (configuration generation {generation})");
            ExitCode::SUCCESS
        }
        Ok(Response::Reload {
            error, generation, ..
        }) => {
            eprintln!(
                "upkeepctl: reload failed; generation {generation} still running: {}",
                error.unwrap_or_default()
            );
            ExitCode::from(1)
        }
        Ok(other) => refused(&other),
        Err(code) => code,
    }
}

fn refused(r: &Response) -> ExitCode {
    match r {
        Response::Error { message } => eprintln!("upkeepctl: {message}"),
        _ => eprintln!("upkeepctl: unexpected response from the daemon"),
    }
    ExitCode::from(1)
}

fn convert(file: &std::path::Path, config_id: Option<String>) -> ExitCode {
    let loaded = config::load(file, &LoadOptions { config_id });
    print_diagnostics(&loaded.diagnostics);
    if !loaded.is_ok() {
        eprintln!(
            "upkeepctl: {}: not converted because of the errors above",
            file.display()
        );
        return ExitCode::from(1);
    }
    let dropped = loaded.diagnostics.dropped_keywords();
    match native::to_toml(&loaded.config, &file.display().to_string(), &dropped) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("upkeepctl: cannot write TOML: {e}");
            ExitCode::from(1)
        }
    }
}
