//! `upkeepctl`: control and conversion client for upkeep.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use upkeep::cli::print_diagnostics;
use upkeep::config::{self, LoadOptions, native};

#[derive(Parser, Debug)]
#[command(
    name = "upkeepctl",
    version,
    about = "Control and conversion client for upkeep"
)]
struct Args {
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
}

fn main() -> ExitCode {
    let args = Args::parse();
    match args.command {
        Command::Convert { file, config_id } => convert(&file, config_id),
    }
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
