//! `upkeepd`: the upkeep daemon.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use upkeep::cli::print_diagnostics;
use upkeep::config::{self, LoadOptions};
use upkeep::ipc::msg::Role;
use upkeep::supervisor::{self, Options, sdnotify::SdNotify, spawn::Backoff};

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

    /// Directory for compiled WASM plugins (kept between starts).
    #[arg(
        long = "cache-dir",
        value_name = "DIR",
        default_value = "/var/cache/upkeep"
    )]
    cache_dir: PathBuf,

    /// Worker restart delay: MIN-MAX seconds, doubling from MIN to MAX and
    /// back to MIN after MAX seconds of healthy running.
    #[arg(long = "restart-backoff", value_name = "MIN-MAX", default_value = "1-60", value_parser = parse_backoff)]
    restart_backoff: Backoff,

    /// Internal: run as this worker (started by the parent, not by hand).
    #[arg(long, hide = true, value_parser = parse_role)]
    role: Option<Role>,
    #[arg(long, hide = true)]
    uid: Option<u32>,
    #[arg(long, hide = true)]
    gid: Option<u32>,
    #[arg(long = "plugin-cache", hide = true)]
    plugin_cache: Option<PathBuf>,
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::from_name(s).ok_or_else(|| format!("unknown role '{s}'"))
}

fn parse_backoff(s: &str) -> Result<Backoff, String> {
    let (a, b) = s
        .split_once('-')
        .ok_or("expected MIN-MAX in seconds, e.g. 1-60")?;
    let secs = |v: &str| {
        v.trim()
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite() && *x >= 0.0 && *x <= 86_400.0)
            .map(std::time::Duration::from_secs_f64)
            .ok_or_else(|| format!("'{v}' is not a number of seconds"))
    };
    let (min, max) = (secs(a)?, secs(b)?);
    if min > max {
        return Err("MIN is greater than MAX".into());
    }
    Ok(Backoff::new(min, max))
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(role) = args.role {
        init_logging();
        // Every line a worker logs names its role.
        let _span = tracing::info_span!("worker", role = %role).entered();
        let account = args.uid.zip(args.gid);
        if let Some(dir) = args.plugin_cache {
            upkeep::checker::plugin::set_cache_dir(dir);
        }
        return upkeep::supervisor::worker::main(role, account);
    }
    // Before any thread exists: take systemd's variables out of the
    // environment so that workers and scripts never inherit them.
    let (sd, watchdog) = SdNotify::from_env();
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
    // As a container's pid 1, leave an init behind to reap orphans.
    if let Some(code) = upkeep::supervisor::init::split_if_pid_1() {
        return code;
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
    let opts = Options {
        config_path: path,
        load: opts,
        runtime_dir: args.runtime_dir.clone(),
        cache_dir: args.cache_dir.clone(),
        backoff: args.restart_backoff.clone(),
    };
    match runtime.block_on(supervisor::run(opts, loaded.config, sd, watchdog)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "upkeepd stopped");
            ExitCode::from(1)
        }
    }
}

/// Logs to stderr (systemd's journal picks it up); RUST_LOG overrides the
/// level.
fn init_logging() {
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
