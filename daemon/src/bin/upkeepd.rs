//! `upkeepd`: the upkeep daemon.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use upkeep::cli::print_diagnostics;
use upkeep::config::{self, LoadOptions};
use upkeep::vrrp::driver::{self, DriverOptions};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum DumpFormat {
    Toml,
    Json,
}

#[derive(Parser, Debug)]
#[command(
    name = "upkeepd",
    version,
    about = "High-availability daemon: VRRP, IPVS and health checks"
)]
struct Args {
    /// Configuration file: *.toml is native, anything else keepalived.conf syntax.
    /// Default: /etc/upkeep/upkeep.toml, else /etc/keepalived/keepalived.conf.
    #[arg(
        short = 'f',
        long = "config",
        visible_alias = "use-file",
        value_name = "FILE"
    )]
    config: Option<PathBuf>,

    /// Check the configuration and exit: 0 when valid (warnings allowed), 1 with errors.
    #[arg(short = 't', long = "check-config", visible_alias = "config-test")]
    check: bool,

    /// Print the normalised configuration model and exit.
    #[arg(long = "dump-config")]
    dump: bool,

    /// Output format of --dump-config.
    #[arg(long, value_enum, default_value = "toml", requires = "dump")]
    format: DumpFormat,

    /// Configuration id selecting `@ID` lines in keepalived.conf (keepalived's -i).
    #[arg(short = 'i', long = "config-id", value_name = "ID")]
    config_id: Option<String>,

    /// Directory for the pid file and control socket.
    #[arg(
        long = "runtime-dir",
        value_name = "DIR",
        default_value = "/run/upkeep"
    )]
    runtime_dir: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let path = args.config.clone().unwrap_or_else(config::default_path);
    let opts = LoadOptions {
        config_id: args.config_id.clone(),
    };
    let loaded = config::load(&path, &opts);
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
    init_logging();
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
    let opts = DriverOptions {
        runtime_dir: args.runtime_dir.clone(),
    };
    match runtime.block_on(driver::run(&loaded.config, &opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "upkeepd stopped");
            ExitCode::from(1)
        }
    }
}

/// Logs to stderr (systemd's journal picks it up); RUST_LOG overrides the level.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}
