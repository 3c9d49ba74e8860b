//! Files the parent (root) writes: the runtime directory (pid file,
//! status.json), the plugin cache, notify FIFOs, tracked files' initial
//! values.
//!
//! Root never writes through a path another user can swap: a directory it
//! writes in must be trusted ([`trusted_dir`]: every directory from `/`
//! down is owned by root or this daemon's user and writable by no one
//! else, or sticky with the next entry ours), files are opened without
//! following a symlink (`O_NOFOLLOW`), created exclusively where they are
//! replaced (`O_EXCL`, then rename), and checked to be what we expect.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tracing::{info, warn};

use super::privs::Account;
use crate::config::model::Config;

/// Why a path is not safe for root to write through.
#[derive(Debug, thiserror::Error)]
pub enum UnsafePath {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} is owned by uid {uid}: a directory root writes in must be owned by root or this daemon's user"
    )]
    Owner { path: PathBuf, uid: u32 },
    #[error(
        "{path} is writable by others (mode {mode:o}): a directory root writes in must be 0755 or stricter"
    )]
    Writable { path: PathBuf, mode: u32 },
    #[error("{path} is not a {expected}")]
    Kind {
        path: PathBuf,
        expected: &'static str,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> UnsafePath + '_ {
    move |source| UnsafePath::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Whether `uid` may own what root writes through.
pub(super) fn ours(uid: u32) -> bool {
    uid == 0 || uid == nix::unistd::geteuid().as_raw()
}

/// Checks that nobody but root (or this daemon's user) can change what
/// `dir` leads to: every directory from `/` down to `dir` (after resolving
/// symlinks) is owned by them and not writable by others — or sticky (like
/// /tmp), where an entry can be replaced only by its owner. `dir` itself may
/// be sticky only with `sticky_ok` (a file root then writes there must be
/// checked to be its own).
pub fn trusted_dir(dir: &Path, sticky_ok: bool) -> Result<PathBuf, UnsafePath> {
    let real = std::fs::canonicalize(dir).map_err(io(dir))?;
    let mut at = PathBuf::from("/");
    let mut parts = real.components().skip(1).peekable();
    loop {
        let m = std::fs::symlink_metadata(&at).map_err(io(&at))?;
        if !m.is_dir() {
            return Err(UnsafePath::Kind {
                path: at,
                expected: "directory",
            });
        }
        if !ours(m.uid()) {
            return Err(UnsafePath::Owner {
                path: at,
                uid: m.uid(),
            });
        }
        let last = parts.peek().is_none();
        let sticky = m.mode() & 0o1000 != 0;
        if m.mode() & 0o022 != 0 && !(sticky && (sticky_ok || !last)) {
            return Err(UnsafePath::Writable {
                path: at,
                mode: m.mode() & 0o7777,
            });
        }
        // An entry of a sticky directory is replaced only by its owner:
        // ours, as the next round checks.
        match parts.next() {
            Some(p) => at.push(p),
            None => return Ok(real),
        }
    }
}

/// Makes `dir` (and its parents) if missing, mode `mode`, and checks that
/// it is trusted. A runtime or cache directory that another user owns or
/// can write is refused.
pub fn private_dir(dir: &Path, mode: u32) -> Result<PathBuf, UnsafePath> {
    use std::os::unix::fs::DirBuilderExt;
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(mode)
            .create(dir)
            .map_err(io(dir))?;
    }
    trusted_dir(dir, false)
}

/// Opens `path` for writing without following a symlink, creating it
/// (`mode`) or truncating it; it must be a regular file.
fn open_file(path: &Path, mode: u32, exclusive: bool) -> Result<File, UnsafePath> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
    if exclusive {
        o.create_new(true);
    } else {
        o.create(true).truncate(true);
    }
    let f = o.open(path).map_err(io(path))?;
    let m = f.metadata().map_err(io(path))?;
    if !m.is_file() {
        return Err(UnsafePath::Kind {
            path: path.to_path_buf(),
            expected: "regular file",
        });
    }
    // In a sticky directory another user may have made the file first.
    if !ours(m.uid()) {
        return Err(UnsafePath::Owner {
            path: path.to_path_buf(),
            uid: m.uid(),
        });
    }
    Ok(f)
}

/// Replaces `dir/name` with `contents` (mode `mode`): written to a new
/// temporary file (exclusive, no symlink followed), then renamed over.
/// `dir` must have been checked with [`private_dir`].
pub fn replace(dir: &Path, name: &str, contents: &[u8], mode: u32) -> Result<(), UnsafePath> {
    replace_with(dir, name, mode, |w| w.write_all(contents))
}

/// [`replace`] with what `write` writes, streamed through a small buffer:
/// a large document (status.json at thousands of checks, megabytes) is
/// never whole in memory. When `write` fails the file is left as it was.
pub fn replace_with(
    dir: &Path,
    name: &str,
    mode: u32,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), UnsafePath> {
    let tmp = dir.join(format!(".{name}.tmp"));
    // A leftover (or planted) temporary: unlink never follows a symlink.
    let _ = std::fs::remove_file(&tmp);
    let f = open_file(&tmp, mode, true)?;
    let mut w = std::io::BufWriter::with_capacity(WRITE_BUFFER, f);
    let written = write(&mut w).and_then(|()| w.flush());
    let f = match written {
        Ok(()) => w.into_parts().0,
        Err(e) => {
            drop(w);
            let _ = std::fs::remove_file(&tmp);
            return Err(io(&tmp)(e));
        }
    };
    // The mode asked for, whatever the umask.
    f.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(io(&tmp))?;
    drop(f);
    std::fs::rename(&tmp, dir.join(name)).map_err(io(&tmp))
}

/// The buffer between a streamed document and its file.
const WRITE_BUFFER: usize = 64 * 1024;

/// Writes `contents` to `path` (an operator's path, such as a tracked
/// file's `init_file`): only in a trusted directory, never through a
/// symlink, only into a regular file.
pub fn write_operator_file(path: &Path, contents: &[u8]) -> Result<(), UnsafePath> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    trusted_dir(dir, true)?;
    let mut f = open_file(path, 0o644, false)?;
    f.write_all(contents).map_err(io(path))
}

/// `DIR/plugins`, made and owned by the checker's account with mode 0700
/// (the checker loads compiled code from it, so no one else may write
/// there). None, with a warning, when it cannot be set up: plugins then
/// compile at every start.
pub fn plugin_cache(dir: &Path, account: &Account) -> Option<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    if let Err(e) = private_dir(dir, 0o755) {
        warn!(error = %e, "no plugin cache");
        return None;
    }
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

/// The key that authenticates the checker's cached plugin artefacts:
/// `DIR/plugin.key`, 32 random bytes readable by root alone, made on first
/// use. None (no cache) when it cannot be read or made safely.
pub fn plugin_key(dir: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    if let Err(e) = private_dir(dir, 0o755) {
        warn!(error = %e, "no plugin cache key");
        return None;
    }
    let path = dir.join("plugin.key");
    let existing = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(&path);
    if let Ok(mut f) = existing {
        let ok = f
            .metadata()
            .is_ok_and(|m| m.is_file() && ours(m.uid()) && m.mode() & 0o077 == 0);
        let mut key = Vec::new();
        if ok && f.read_to_end(&mut key).is_ok() && key.len() == 32 {
            return Some(key);
        }
        warn!(file = %path.display(), "plugin cache key unusable; making a new one");
    }
    let mut key = vec![0u8; 32];
    if let Err(e) = File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut key)) {
        warn!(error = %e, "no plugin cache key");
        return None;
    }
    match replace(dir, "plugin.key", &key, 0o600) {
        Ok(()) => Some(key),
        Err(e) => {
            warn!(error = %e, "no plugin cache key");
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
        ensure_fifo(&f);
    }
    init_track_files(cfg);
}

/// Creates a notify FIFO that does not exist yet (as keepalived does).
pub fn ensure_fifo(path: &std::path::Path) {
    if path.symlink_metadata().is_ok() {
        return;
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    if let Err(e) = trusted_dir(dir, true) {
        warn!(fifo = %path.display(), error = %e, "notify fifo not created");
        return;
    }
    if let Err(e) = nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)) {
        warn!(fifo = %path.display(), error = %e, "cannot create notify fifo");
    }
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
        match write_operator_file(path, format!("{v}\n").as_bytes()) {
            Ok(()) => info!(file = %f.file, value = v, "tracked file initialised"),
            Err(e) => warn!(file = %f.file, error = %e, "tracked file not initialised"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("upkeep-files-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        d
    }

    fn root() -> bool {
        let r = nix::unistd::geteuid().is_root();
        if !r {
            crate::testutil::skipped("needs root (chown to another user)");
        }
        r
    }

    /// Regression: root wrote status.json.tmp, the pid file, init files
    /// and FIFOs through symlinks in directories other users could write.
    #[test]
    fn a_directory_another_user_owns_or_can_write_is_refused() {
        if !root() {
            return;
        }
        let ok = scratch("ok");
        assert!(trusted_dir(&ok, false).is_ok(), "/tmp (sticky) then ours");
        // /tmp itself: only where the file written is checked to be ours.
        assert!(trusted_dir(Path::new("/tmp"), true).is_ok());
        assert!(trusted_dir(Path::new("/tmp"), false).is_err());
        let theirs = scratch("theirs");
        std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
        assert!(matches!(
            trusted_dir(&theirs, true),
            Err(UnsafePath::Owner { uid: 65534, .. })
        ));
        // Below a directory of theirs, even one of ours.
        let below = theirs.join("sub");
        std::fs::create_dir(&below).unwrap();
        assert!(matches!(
            trusted_dir(&below, true),
            Err(UnsafePath::Owner { .. })
        ));
        let open = scratch("open");
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(matches!(
            trusted_dir(&open, false),
            Err(UnsafePath::Writable { .. })
        ));
        assert!(private_dir(&open, 0o755).is_err());
        for d in [ok, theirs, open] {
            let _ = std::fs::remove_dir_all(d);
        }
    }

    #[test]
    fn files_are_replaced_without_following_a_planted_symlink() {
        let dir = scratch("replace");
        let victim = dir.join("victim");
        std::fs::write(&victim, "precious\n").unwrap();
        std::os::unix::fs::symlink(&victim, dir.join(".status.json.tmp")).unwrap();
        replace(&dir, "status.json", b"{}", 0o600).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
        let m = std::fs::symlink_metadata(dir.join("status.json")).unwrap();
        assert!(m.is_file());
        assert_eq!(m.mode() & 0o777, 0o600);
        // An operator's file that is a symlink is not written through.
        std::os::unix::fs::symlink(&victim, dir.join("flag")).unwrap();
        assert!(write_operator_file(&dir.join("flag"), b"5\n").is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
        write_operator_file(&dir.join("flag2"), b"5\n").unwrap();
        assert_eq!(std::fs::read_to_string(dir.join("flag2")).unwrap(), "5\n");
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Issue 18: status.json is streamed into its file; a document that
    /// fails half-way (after more than one buffer's worth went out) leaves
    /// the last one whole and no temporary behind.
    #[test]
    fn a_streamed_document_that_fails_leaves_the_last_one() {
        let dir = scratch("streamed");
        let big = vec![b'x'; 3 * WRITE_BUFFER + 5];
        replace_with(&dir, "status.json", 0o600, |w| w.write_all(&big)).unwrap();
        assert_eq!(std::fs::read(dir.join("status.json")).unwrap(), big);
        let failed = replace_with(&dir, "status.json", 0o600, |w| {
            w.write_all(&[b'y'; 2 * WRITE_BUFFER])?;
            Err(std::io::Error::other("the serialiser gave up"))
        });
        assert!(matches!(failed, Err(UnsafePath::Io { .. })), "{failed:?}");
        assert_eq!(std::fs::read(dir.join("status.json")).unwrap(), big);
        assert!(!dir.join(".status.json.tmp").exists());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn in_a_sticky_directory_a_file_another_user_made_first_is_not_written() {
        if !root() {
            return;
        }
        let dir = scratch("sticky");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let theirs = dir.join("flag");
        std::fs::write(&theirs, "x\n").unwrap();
        std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
        assert!(write_operator_file(&theirs, b"1\n").is_err());
        write_operator_file(&dir.join("ours"), b"1\n").unwrap();
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn init_files_in_an_untrusted_directory_are_not_written() {
        if !root() {
            return;
        }
        let dir = scratch("init");
        std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
        assert!(write_operator_file(&dir.join("flag"), b"1\n").is_err());
        assert!(!dir.join("flag").exists());
        let _ = std::fs::remove_dir_all(dir);
    }
}
