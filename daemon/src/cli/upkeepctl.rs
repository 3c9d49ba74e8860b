//! The command line of `upkeepctl` (clap); see `cli::upkeepd` for why it
//! lives in the library.

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "upkeepctl",
    version,
    about = "Control and conversion client for upkeep"
)]
pub struct Args {
    /// The daemon's runtime directory (its --runtime-dir).
    #[arg(
        long = "runtime-dir",
        value_name = "DIR",
        default_value = "/run/upkeep",
        global = true
    )]
    pub runtime_dir: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
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
    /// Re-execute upkeepd's binary in place (after an upgrade) without a
    /// failover: a Master keeps its VIPs. The configuration is checked first.
    Reexec,
    /// Planned maintenance: `on` makes the instances (none named: all)
    /// resign and stay Backup, across reloads and restarts, until `off`;
    /// `status` (or nothing) lists the instances in maintenance.
    Maintenance {
        #[arg(value_enum, default_value = "status")]
        action: MaintenanceAction,
        /// Instance names (vrrp_instance); none: every instance.
        instances: Vec<String>,
    },
    /// Hand these Master instances (none named: every Master) over to the
    /// peer now; afterwards this node is an ordinary Backup. Waits until
    /// the peer is heard as Master.
    Handover {
        instances: Vec<String>,
        /// Also for an instance with preempt on (it takes the VIPs back if
        /// its priority is higher than the peer's).
        #[arg(long)]
        force: bool,
        /// Give up waiting after this many seconds.
        #[arg(long, value_name = "SECONDS", default_value_t = 15)]
        wait: u64,
    },
    /// Print events as they happen, one line each: VRRP transitions, check
    /// changes, reloads, addresses put back or taken away, worker exits,
    /// real servers up/down. Ends on Ctrl-C; when the daemon closes the
    /// stream it says so and exits 0 if the daemon was stopping, 1 if the
    /// stream was lost otherwise.
    Watch {
        /// One JSON object a line, with an "event" tag.
        #[arg(long)]
        json: bool,
        /// Only this instance's transitions and address events (events of
        /// no instance, such as reloads and checks, are shown too).
        #[arg(long, value_name = "NAME")]
        instance: Option<String>,
    },
    /// Work with WASM check plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
}

#[derive(Subcommand, Debug)]
pub enum PluginCommand {
    /// Run a plugin once, outside the daemon, with the grants given here;
    /// print its outcome and timing. Exit status: 0 pass; 1 fail (a
    /// plugin error, trap or timeout counts as a failure, as in the
    /// daemon); 2 upkeepctl could not load or run the plugin at all.
    Run {
        /// The plugin (a WASM component).
        file: PathBuf,
        /// A TOML file shaped like a check's `[vrrp_script.plugin]` table
        /// (args, allow, memory_mib); options below add to it.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// An argument for the plugin (repeatable).
        #[arg(long = "arg", value_name = "KEY=VALUE")]
        args: Vec<String>,
        /// A grant (repeatable): tcp=IP:PORT, http=URL, unix=PATH,
        /// file=PATH or process=NAME.
        #[arg(long = "allow", value_name = "KIND=TARGET")]
        allow: Vec<String>,
        /// Memory limit in MiB.
        #[arg(long, value_name = "MIB")]
        memory: Option<u32>,
        /// Run as a real server's checker of IP:PORT: host.real-server()
        /// returns it, and $REAL_SERVER in a tcp or http grant and in an
        /// argument stands for it, as in the daemon.
        #[arg(long = "real-server", value_name = "IP:PORT")]
        real_server: Option<std::net::SocketAddr>,
        /// Time limit of a run in milliseconds.
        #[arg(long, value_name = "MS", default_value_t = 1000)]
        timeout: u64,
        /// Run this many more times (fresh instances) and report timing.
        #[arg(long, value_name = "N", default_value_t = 0)]
        repeat: u32,
        /// Keep the compiled plugin here and reuse it (as the daemon's
        /// --cache-dir/plugins does); without it, every run compiles.
        #[arg(long = "cache-dir", value_name = "DIR")]
        cache_dir: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MaintenanceAction {
    On,
    Off,
    Status,
}

/// The clap command, for man pages and completions.
pub fn command() -> clap::Command {
    Args::command()
}
