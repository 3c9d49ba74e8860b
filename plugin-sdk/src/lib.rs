//! upkeep's plugin SDK for Rust. A check plugin is one function:
//!
//! ```ignore
//! use upkeep_plugin_sdk::{Outcome, Request, CheckError};
//!
//! fn check(req: Request) -> Result<Outcome, CheckError> {
//!     let n = upkeep_plugin_sdk::process_count("haproxy")?;
//!     Ok(Outcome::verdict(n > 0, format!("{n} haproxy process(es)")))
//! }
//! upkeep_plugin_sdk::check!(check);
//! ```
//!
//! Build it for `wasm32-wasip2` as a `cdylib`; the result is a component
//! that upkeep loads (see docs/plugins.md). The interface is
//! `plugin-sdk/wit/check.wit` (`upkeep:check@0.1.1`); the host functions
//! here reach only what the check's configuration grants.

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "export_plugin",
        default_bindings_module: "upkeep_plugin_sdk::bindings",
    });
}

pub use bindings::Guest;
pub use bindings::upkeep::check::host::{
    self, Endpoint, HostError, HttpResponse, Level, TcpConnection,
};
pub use bindings::upkeep::check::types::{CheckError, Metric, Outcome, Request};

/// Makes `$f: fn(Request) -> Result<Outcome, CheckError>` the plugin's
/// `check` export.
#[macro_export]
macro_rules! check {
    ($f:path) => {
        struct UpkeepCheck;
        impl $crate::Guest for UpkeepCheck {
            fn check(
                request: $crate::Request,
            ) -> ::core::result::Result<$crate::Outcome, $crate::CheckError> {
                $f(request)
            }
        }
        $crate::bindings::export_plugin!(UpkeepCheck with_types_in $crate::bindings);
    };
}

impl Outcome {
    /// Pass or fail with a message and no metrics.
    pub fn verdict(pass: bool, message: impl Into<String>) -> Self {
        Self {
            pass,
            message: message.into(),
            metrics: Vec::new(),
        }
    }

    /// Adds a metric.
    pub fn metric(mut self, name: impl Into<String>, value: f64) -> Self {
        self.metrics.push(Metric {
            name: name.into(),
            value,
        });
        self
    }
}

impl Request {
    /// The first value of argument `key`.
    pub fn arg(&self, key: &str) -> Option<&str> {
        self.args
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Argument `key` parsed, or `default` when absent; a value that does
    /// not parse is a configuration error.
    pub fn arg_or<T: std::str::FromStr>(&self, key: &str, default: T) -> Result<T, CheckError> {
        match self.arg(key) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| CheckError::BadConfig(format!("argument {key}: cannot use '{v}'"))),
        }
    }

    /// Argument `key`, which must be present.
    pub fn required(&self, key: &str) -> Result<&str, CheckError> {
        self.arg(key)
            .ok_or_else(|| CheckError::BadConfig(format!("argument {key} is required")))
    }
}

impl HostError {
    /// The variant's name: denied, timed-out, io, too-large or invalid.
    pub fn kind(&self) -> &'static str {
        match self {
            HostError::Denied(_) => "denied",
            HostError::TimedOut => "timed-out",
            HostError::Io(_) => "io",
            HostError::TooLarge(_) => "too-large",
            HostError::Invalid(_) => "invalid",
        }
    }
}

/// A host error ends the check with `failed` when `?` is used on it.
impl From<HostError> for CheckError {
    fn from(e: HostError) -> Self {
        CheckError::Failed(match e {
            HostError::Denied(t) => format!("denied: {t}"),
            HostError::TimedOut => "timed out".into(),
            HostError::Io(e) => e,
            HostError::TooLarge(n) => format!("answer larger than {n} bytes"),
            HostError::Invalid(e) => format!("invalid: {e}"),
        })
    }
}

/// Opens a TCP connection to a granted `IP:PORT`.
pub fn tcp_connect(address: &str) -> Result<TcpConnection, HostError> {
    host::tcp_connect(address)
}

/// HTTP GET of a granted URL.
pub fn http_get(url: &str, headers: &[(String, String)]) -> Result<HttpResponse, HostError> {
    host::http_get(url, headers)
}

/// Sends `request` to a granted unix socket and reads the answer to EOF.
pub fn unix_exchange(path: &str, request: &[u8]) -> Result<Vec<u8>, HostError> {
    host::unix_exchange(path, request)
}

/// Reads a granted file.
pub fn read_file(path: &str) -> Result<Vec<u8>, HostError> {
    host::read_file(path)
}

/// How many processes with a granted name are running.
pub fn process_count(name: &str) -> Result<u32, HostError> {
    host::process_count(name)
}

/// The real server this run checks (its `connect_ip` / `connect_port` when
/// set), when the plugin is a real server's checker; `None` for a
/// `vrrp_script`. One checker block then serves every real server of a
/// virtual server: connect to this address (granted by `allow tcp
/// $REAL_SERVER`). Since upkeep:check@0.1.1.
pub fn real_server() -> Option<std::net::SocketAddr> {
    let e = host::real_server()?;
    let ip: std::net::IpAddr = e.ip.parse().ok()?;
    Some(std::net::SocketAddr::new(ip, e.port))
}

/// Monotonic nanoseconds.
pub fn now_ns() -> u64 {
    host::monotonic_now()
}

/// A line in upkeep's log.
pub fn log(level: Level, message: &str) {
    host::log(level, message)
}
