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

    /// The args for the real server at `checked`: `$REAL_SERVER` in a
    /// value is its `IP:PORT`, so that a plugin older than
    /// host.real-server can be told.
    pub fn args_for_real_server(&self, checked: std::net::SocketAddr) -> Vec<(String, String)> {
        let addr = checked.to_string();
        self.args
            .iter()
            .map(|(k, v)| (k.clone(), v.replace(PluginGrants::REAL_SERVER, &addr)))
            .collect()
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
    /// In a real server's plugin checker, a `tcp` or `http` grant may name
    /// the real server being checked with this word; it stands for its
    /// `IP:PORT` (IPv6 in brackets), as checked (`connect_ip`/`connect_port`).
    pub const REAL_SERVER: &'static str = "$REAL_SERVER";

    /// `target` with `$REAL_SERVER` replaced by `checked`; an error for a
    /// kind of grant that cannot name a server.
    pub fn substitute(
        kind: &str,
        target: &str,
        checked: std::net::SocketAddr,
    ) -> Result<String, &'static str> {
        if !target.contains(Self::REAL_SERVER) {
            return Ok(target.to_string());
        }
        match kind {
            "tcp" | "http" => Ok(target.replace(Self::REAL_SERVER, &checked.to_string())),
            _ => Err("$REAL_SERVER names an address: only tcp and http grants may use it"),
        }
    }

    /// These grants for the real server at `checked` (every `$REAL_SERVER`
    /// replaced; a grant that cannot take it is dropped, as validation
    /// refused it).
    pub fn for_real_server(&self, checked: std::net::SocketAddr) -> Self {
        let mut out = self.clone();
        for (kind, list) in out.kinds_mut() {
            *list = list
                .iter()
                .filter_map(|t| Self::substitute(kind, t, checked).ok())
                .collect();
        }
        out
    }

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
