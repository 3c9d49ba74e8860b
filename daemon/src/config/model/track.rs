//! What VRRP instances track: scripts (`vrrp_script`, with upkeep's
//! restart-then-demote `on_failure`), processes (`vrrp_track_process`) and
//! files (`vrrp_track_file`).

use serde::{Deserialize, Serialize};

use super::{PluginCheck, Script, ScriptUser, is_zero_i32, one, one_i32};
use crate::config::diag::Src;
use crate::config::values::Millis;

/// `vrrp_script NAME { ... }`: a command whose exit status adjusts priority.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VrrpScript {
    pub name: String,
    #[serde(default)]
    pub script: String,
    #[serde(default = "VrrpScript::default_interval")]
    pub interval: Millis,
    /// Defaults to the interval.
    pub timeout: Option<Millis>,
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub weight: i32,
    /// `weight N reverse`: the weight applies in the other sense.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub weight_reverse: bool,
    #[serde(default = "one")]
    pub fall: u32,
    #[serde(default = "one")]
    pub rise: u32,
    pub user: Option<ScriptUser>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub init_fail: bool,
    /// upkeep: what happens when the check fails (restart, then demote).
    pub on_failure: Option<OnFailure>,
    /// upkeep: the check is a WASM plugin instead of a command.
    pub plugin: Option<PluginCheck>,
    #[serde(skip)]
    pub src: Src,
}

/// Restart-then-demote: on failure the parent runs `restart` (only this
/// command, from the configuration), waits `grace`, and if the check still
/// fails, demotes the node as `demote` says. Restarts are limited to
/// `max_restarts` per `window`.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnFailure {
    /// Runs as its own `user` when it names one, else as the check's
    /// script does (so as root only when the configuration says so).
    pub restart: Option<Script>,
    #[serde(default = "OnFailure::default_grace")]
    pub grace: Millis,
    #[serde(default = "OnFailure::default_max_restarts")]
    pub max_restarts: u32,
    #[serde(default = "OnFailure::default_window")]
    pub window: Millis,
    #[serde(default)]
    pub demote: Demote,
}

impl OnFailure {
    pub fn default_grace() -> Millis {
        Millis::from_secs(5)
    }
    pub fn default_max_restarts() -> u32 {
        3
    }
    pub fn default_window() -> Millis {
        Millis::from_secs(300)
    }
}

impl Default for OnFailure {
    fn default() -> Self {
        Self {
            restart: None,
            grace: Self::default_grace(),
            max_restarts: Self::default_max_restarts(),
            window: Self::default_window(),
            demote: Demote::default(),
        }
    }
}

/// How a node is demoted when its check keeps failing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Demote {
    /// The tracked weight applies (keepalived's behaviour; weight 0 is Fault).
    #[default]
    Weight,
    /// Fault, whatever the weight.
    Fault,
    /// Resign at once (priority-0 advert, then Backup) and stay Backup while failing.
    Resign,
}

impl VrrpScript {
    pub fn default_interval() -> Millis {
        Millis::from_secs(1)
    }

    pub fn new(name: String) -> Self {
        Self {
            name,
            script: String::new(),
            interval: Self::default_interval(),
            timeout: None,
            weight: 0,
            weight_reverse: false,
            fall: 1,
            rise: 1,
            user: None,
            init_fail: false,
            on_failure: None,
            plugin: None,
            src: Src::default(),
        }
    }
}

/// `vrrp_track_process NAME { ... }`.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackProcess {
    pub name: String,
    #[serde(default)]
    pub process: String,
    /// Command-line arguments the process must have (`process NAME ARGS...`).
    pub args: Option<String>,
    /// How `args` are matched; keepalived's default is the whole command line.
    pub param_match: Option<ParamMatch>,
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub weight: i32,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub weight_reverse: bool,
    #[serde(default = "one")]
    pub quorum: u32,
    pub quorum_max: Option<u32>,
    /// keepalived's `delay`: both of the two below, for those unset.
    pub delay: Option<Millis>,
    /// How long quorum must hold, once gained, before the process counts
    /// as up (keepalived: against up/down bounce on fork/exec).
    pub fork_delay: Option<Millis>,
    /// How long quorum must stay lost before the process counts as down
    /// (keepalived: against down/up bounce on a restart).
    pub terminate_delay: Option<Millis>,
    #[serde(skip)]
    pub src: Src,
}

impl TrackProcess {
    pub fn new(name: String) -> Self {
        Self {
            name,
            process: String::new(),
            args: None,
            param_match: None,
            weight: 0,
            weight_reverse: false,
            quorum: 1,
            quorum_max: None,
            delay: None,
            fork_delay: None,
            terminate_delay: None,
            src: Src::default(),
        }
    }
}

/// keepalived's `param_match`: compare the arguments with the start of the
/// process's arguments, or find them anywhere in them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamMatch {
    Initial,
    Partial,
}

impl ParamMatch {
    pub const ALL: [(&'static str, ParamMatch); 2] = [
        ("initial", ParamMatch::Initial),
        ("partial", ParamMatch::Partial),
    ];
}

/// `vrrp_track_file NAME { ... }`: a file whose integer content adjusts priority.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackFile {
    pub name: String,
    #[serde(default)]
    pub file: String,
    #[serde(default = "one_i32")]
    pub weight: i32,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub weight_reverse: bool,
    /// `init_file [VALUE] [overwrite]`: create the file with VALUE at start.
    pub init_file: Option<i64>,
    /// With `init_file`: write VALUE even when the file already exists.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub init_file_overwrite: bool,
    #[serde(skip)]
    pub src: Src,
}

impl TrackFile {
    pub fn new(name: String) -> Self {
        Self {
            name,
            file: String::new(),
            weight: 1,
            weight_reverse: false,
            init_file: None,
            init_file_overwrite: false,
            src: Src::default(),
        }
    }
}
