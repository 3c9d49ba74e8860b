//! Files the parent makes for the configuration: the plugin cache, notify
//! FIFOs, tracked files' initial values.

use std::path::{Path, PathBuf};

use tracing::{info, warn};

use super::notify;
use super::privs::Account;
use crate::config::model::Config;

/// `DIR/plugins`, made and owned by the checker's account with mode 0700
/// (the checker loads compiled code from it, so no one else may write
/// there). None, with a warning, when it cannot be set up: plugins then
/// compile at every start.
pub fn plugin_cache(dir: &Path, account: &Account) -> Option<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let path = dir.join("plugins");
    let made = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&path)
        .and_then(|()| std::os::unix::fs::chown(&path, Some(account.uid), Some(account.gid)))
        .and_then(|()| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)));
    match made {
        Ok(()) => Some(path),
        Err(e) => {
            warn!(dir = %path.display(), error = %e, "no plugin cache");
            None
        }
    }
}

/// The notify FIFOs the configuration names.
pub fn fifos(cfg: &Config) -> Vec<PathBuf> {
    [&cfg.global.notify_fifo, &cfg.global.vrrp_notify_fifo]
        .into_iter()
        .flatten()
        .map(PathBuf::from)
        .collect()
}

/// Makes what the configuration needs on disk: the notify FIFOs that do
/// not exist, and keepalived's `init_file` values.
pub fn prepare(cfg: &Config) {
    for f in fifos(cfg) {
        notify::ensure_fifo(&f);
    }
    init_track_files(cfg);
}

/// keepalived's `init_file`: a tracked file gets its initial number at start
/// (when missing, or always with `overwrite`). Done by the parent: the
/// checker that reads the file has no right to create it.
fn init_track_files(cfg: &Config) {
    for f in &cfg.track_files {
        let Some(v) = f.init_file else { continue };
        let path = Path::new(&f.file);
        if path.exists() && !f.init_file_overwrite {
            continue;
        }
        match std::fs::write(path, format!("{v}\n")) {
            Ok(()) => info!(file = %f.file, value = v, "tracked file initialised"),
            Err(e) => warn!(file = %f.file, error = %e, "cannot initialise tracked file"),
        }
    }
}
