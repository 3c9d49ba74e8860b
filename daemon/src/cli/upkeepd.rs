//! The command line of `upkeepd` (clap). In the library, not the binary, so
//! that `packaging/gendoc` writes the man page and shell completions from
//! the same definition.

use std::path::PathBuf;

use clap::{CommandFactory, Parser, ValueEnum};

use crate::ipc::msg::Role;
use crate::supervisor::spawn::Backoff;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum DumpFormat {
    Toml,
    Json,
}

#[derive(Parser, Debug)]
#[command(
    name = "upkeepd",
    version,
    about = "High-availability daemon: VRRP, IPVS and health checks"
)]
pub struct Args {
    /// Configuration file: *.toml is native, anything else keepalived.conf syntax.
    /// Default: /etc/upkeep/upkeep.toml, else /etc/keepalived/keepalived.conf.
    #[arg(
        short = 'f',
        long = "config",
        visible_alias = "use-file",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,

    /// Check the configuration and exit: 0 when valid (warnings allowed), 1 with errors.
    #[arg(short = 't', long = "check-config", visible_alias = "config-test")]
    pub check: bool,

    /// Print the normalised configuration model and exit.
    #[arg(long = "dump-config")]
    pub dump: bool,

    /// Output format of --dump-config.
    #[arg(long, value_enum, default_value = "toml", requires = "dump")]
    pub format: DumpFormat,

    /// Configuration id selecting `@ID` lines in keepalived.conf (keepalived's -i).
    #[arg(short = 'i', long = "config-id", value_name = "ID")]
    pub config_id: Option<String>,

    /// Directory for the pid file and control socket.
    #[arg(
        long = "runtime-dir",
        value_name = "DIR",
        default_value = "/run/upkeep"
    )]
    pub runtime_dir: PathBuf,

    /// Directory for state kept between starts (the instances in
    /// maintenance); root's alone.
    #[arg(
        long = "state-dir",
        value_name = "DIR",
        default_value = "/var/lib/upkeep"
    )]
    pub state_dir: PathBuf,

    /// Directory for compiled WASM plugins (kept between starts).
    #[arg(
        long = "cache-dir",
        value_name = "DIR",
        default_value = "/var/cache/upkeep"
    )]
    pub cache_dir: PathBuf,

    /// Worker restart delay: MIN-MAX seconds, doubling from MIN to MAX and
    /// back to MIN after MAX seconds of healthy running.
    #[arg(long = "restart-backoff", value_name = "MIN-MAX", default_value = "1-60", value_parser = parse_backoff)]
    pub restart_backoff: Backoff,

    /// Internal: run as this worker (started by the parent, not by hand).
    #[arg(long, hide = true, value_parser = parse_role)]
    pub role: Option<Role>,
    #[arg(long, hide = true)]
    pub uid: Option<u32>,
    #[arg(long, hide = true)]
    pub gid: Option<u32>,
    #[arg(long = "plugin-cache", hide = true)]
    pub plugin_cache: Option<PathBuf>,
    /// Internal: started by `upkeepctl reexec`; resume from the handover.
    #[arg(long, hide = true)]
    pub handover: bool,
}

pub fn parse_role(s: &str) -> Result<Role, String> {
    Role::from_name(s).ok_or_else(|| format!("unknown role '{s}'"))
}

pub fn parse_backoff(s: &str) -> Result<Backoff, String> {
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

/// The clap command, for man pages and completions.
pub fn command() -> clap::Command {
    Args::command()
}
