//! Configuration: one typed model ([`model::Config`]) read from native TOML
//! (`*.toml`) or keepalived.conf syntax (any other name), then validated.
//! Loading never stops at the first problem: the result carries every
//! diagnostic, and the daemon refuses to start while any is an error.

#![forbid(unsafe_code)]

pub mod delays;
pub mod diag;
pub mod keepalived;
pub mod lvs_types;
pub mod model;
pub mod native;
pub mod script_security;
pub mod scripts;
pub mod smtp;
pub mod strict;
pub mod validate;
pub mod values;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use diag::{Diagnostic, Diagnostics, Location, Severity};
pub use model::Config;

/// Where upkeep looks when no `-f` is given, in order.
pub const DEFAULT_PATHS: [&str; 2] = ["/etc/upkeep/upkeep.toml", "/etc/keepalived/keepalived.conf"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Toml,
    Keepalived,
}

impl Format {
    /// `*.toml` is native; every other name is keepalived.conf syntax.
    pub fn of(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("toml") => Format::Toml,
            _ => Format::Keepalived,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// keepalived's `-i`: which `@ID` lines apply.
    pub config_id: Option<String>,
}

/// A configuration and everything said about it.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub diagnostics: Diagnostics,
}

impl Loaded {
    pub fn is_ok(&self) -> bool {
        !self.diagnostics.has_errors()
    }
}

/// The configuration is unusable; `diagnostics` says why, in full.
#[derive(Debug, thiserror::Error)]
#[error("configuration has {} error(s)", .diagnostics.error_count())]
pub struct ConfigError {
    pub diagnostics: Diagnostics,
}

/// The first of [`DEFAULT_PATHS`] that exists (the TOML one if neither does,
/// so that the "cannot read" error names upkeep's own path).
pub fn default_path() -> PathBuf {
    first_existing(&DEFAULT_PATHS.map(PathBuf::from))
}

/// The first path that exists, else the first one.
fn first_existing(candidates: &[PathBuf]) -> PathBuf {
    candidates
        .iter()
        .find(|p| p.exists())
        .or(candidates.first())
        .cloned()
        .unwrap_or_default()
}

/// Reads and validates a file.
pub fn load(path: &Path, opts: &LoadOptions) -> Loaded {
    let mut diagnostics = Diagnostics::default();
    let mut config = match Format::of(path) {
        Format::Keepalived => {
            keepalived::read_file(path, opts.config_id.as_deref(), &mut diagnostics)
        }
        Format::Toml => match std::fs::read_to_string(path) {
            Ok(text) => native::read_str(&path.display().to_string(), &text, &mut diagnostics),
            Err(e) => {
                let file: Arc<str> = Arc::from(path.display().to_string());
                diagnostics.error(None, format!("cannot read '{file}': {e}"));
                Config::default()
            }
        },
    };
    validate::validate(&mut config, &mut diagnostics);
    Loaded {
        config,
        diagnostics,
    }
}

/// Reads and validates text held in memory (tests, fuzzing, the control socket).
pub fn load_str(name: &str, text: &str, format: Format, opts: &LoadOptions) -> Loaded {
    let mut diagnostics = Diagnostics::default();
    let mut config = match format {
        Format::Keepalived => {
            keepalived::read_str(name, text, opts.config_id.as_deref(), &mut diagnostics)
        }
        Format::Toml => native::read_str(name, text, &mut diagnostics),
    };
    validate::validate(&mut config, &mut diagnostics);
    Loaded {
        config,
        diagnostics,
    }
}

/// Like [`load`], but an error when the configuration cannot be used.
pub fn load_checked(path: &Path, opts: &LoadOptions) -> Result<Loaded, ConfigError> {
    let loaded = load(path, opts);
    if loaded.is_ok() {
        Ok(loaded)
    } else {
        Err(ConfigError {
            diagnostics: loaded.diagnostics,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_follows_the_file_name() {
        assert_eq!(
            Format::of(Path::new("/etc/upkeep/upkeep.toml")),
            Format::Toml
        );
        assert_eq!(Format::of(Path::new("a.TOML")), Format::Toml);
        assert_eq!(
            Format::of(Path::new("/etc/keepalived/keepalived.conf")),
            Format::Keepalived
        );
        assert_eq!(
            Format::of(Path::new("keepalived.conf.vrrp")),
            Format::Keepalived
        );
    }

    #[test]
    fn default_path_prefers_upkeep_toml_then_keepalived_conf() {
        assert_eq!(
            DEFAULT_PATHS,
            ["/etc/upkeep/upkeep.toml", "/etc/keepalived/keepalived.conf"]
        );
        let dir = std::env::temp_dir().join(format!("upkeep-default-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let toml = dir.join("upkeep.toml");
        let conf = dir.join("keepalived.conf");
        let candidates = [toml.clone(), conf.clone()];
        // Neither exists: the native path, so the error names it.
        assert_eq!(first_existing(&candidates), toml);
        std::fs::write(&conf, "").unwrap();
        assert_eq!(first_existing(&candidates), conf);
        std::fs::write(&toml, "").unwrap();
        assert_eq!(first_existing(&candidates), toml);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
