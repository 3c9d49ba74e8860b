//! A WASM plugin as a check (upkeep's own): the file, its arguments, its
//! memory limit and what it may reach.

use serde::{Deserialize, Serialize};

/// A WASM component that exports `upkeep:check/check` (plugin-sdk/wit),
/// with what it may reach: nothing beyond `allow`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginCheck {
    pub file: String,
    /// Passed to the plugin in this order.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        with = "crate::config::values::ordered_pairs"
    )]
    pub args: Vec<(String, String)>,
    /// Linear memory the plugin may use, in MiB.
    #[serde(
        default = "PluginCheck::default_memory_mib",
        skip_serializing_if = "PluginCheck::is_default_memory"
    )]
    pub memory_mib: u32,
    #[serde(default, skip_serializing_if = "PluginGrants::is_empty")]
    pub allow: PluginGrants,
}

/// keepalived.conf builds the table keyword by keyword from this.
impl Default for PluginCheck {
    fn default() -> Self {
        Self {
            file: String::new(),
            args: Vec::new(),
            memory_mib: Self::DEFAULT_MEMORY_MIB,
            allow: PluginGrants::default(),
        }
    }
}

impl PluginCheck {
    pub const DEFAULT_MEMORY_MIB: u32 = 64;
    pub const MAX_MEMORY_MIB: u32 = 4096;

    fn default_memory_mib() -> u32 {
        Self::DEFAULT_MEMORY_MIB
    }

    fn is_default_memory(v: &u32) -> bool {
        *v == Self::DEFAULT_MEMORY_MIB
    }
}

/// The targets a plugin may reach through its host imports.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginGrants {
    /// `IP:PORT` addresses for tcp-connect.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tcp: Vec<String>,
    /// `http://` URLs for http-get; one ending in `/` also grants what is below it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http: Vec<String>,
    /// Unix socket paths for unix-exchange.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unix: Vec<String>,
    /// File paths for read-file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// Process names for process-count.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub processes: Vec<String>,
}

impl PluginGrants {
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }

    /// (kind, targets) for each kind, as keepalived.conf's
    /// `upkeep_plugin_allow KIND TARGET` names them.
    pub fn kinds_mut(&mut self) -> [(&'static str, &mut Vec<String>); 5] {
        [
            ("tcp", &mut self.tcp),
            ("http", &mut self.http),
            ("unix", &mut self.unix),
            ("file", &mut self.files),
            ("process", &mut self.processes),
        ]
    }
}
