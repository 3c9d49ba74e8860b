//! The executable the checker runs when a plugin check is configured:
//! `upkeep-plugin-host` (`checker::plugin`), so that `upkeepd` and every
//! worker started from it carry no wasmtime.
//!
//! Who may write it: root (or this daemon's user) only. It is looked for
//! beside our own executable, then in `../libexec/upkeep/` from it (the
//! packages), and accepted only if every directory from `/` down is
//! trusted ([`files::trusted_dir`]) and the file itself is a regular
//! executable owned by root or us and writable by no one else, opened
//! without following a symlink. It is opened once, at start, and the
//! checker is executed from that descriptor: a package upgrade that
//! replaces the file later cannot give a running parent a checker of
//! another version (a re-exec opens the new one).

use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::files::{self, UnsafePath};
use crate::checker::plugin::HOST_BINARY;

/// The plugin host as found at start.
#[derive(Debug)]
pub enum PluginHost {
    Found {
        file: File,
        path: PathBuf,
    },
    /// Not installed: plugin checks cannot run.
    Missing,
    /// Installed where, or as, root must not run it.
    Refused(String),
}

impl PluginHost {
    /// Looks beside `exe` (our own executable), then in
    /// `../libexec/upkeep/` from it.
    pub fn find(exe: &Path) -> Self {
        let Some(dir) = exe.parent() else {
            return Self::Missing;
        };
        let candidates = [
            dir.join(HOST_BINARY),
            dir.join("../libexec/upkeep").join(HOST_BINARY),
        ];
        for path in candidates {
            match std::fs::symlink_metadata(&path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                _ => {}
            }
            return match open(&path) {
                Ok(file) => Self::Found { file, path },
                Err(e) => Self::Refused(e.to_string()),
            };
        }
        Self::Missing
    }

    /// Our own executable's neighbourhood.
    pub fn find_for_self() -> Self {
        match std::fs::read_link("/proc/self/exe") {
            // A replaced executable reads back as "... (deleted)": its
            // directory is still the place to look.
            Ok(exe) => Self::find(&exe),
            Err(e) => Self::Refused(format!("/proc/self/exe: {e}")),
        }
    }

    /// The descriptor to execute the checker from.
    pub fn fd(&self) -> Option<RawFd> {
        match self {
            Self::Found { file, .. } => Some(file.as_raw_fd()),
            _ => None,
        }
    }

    /// Why plugin checks cannot run, if they cannot.
    pub fn unusable(&self) -> Option<String> {
        match self {
            Self::Found { .. } => None,
            Self::Missing => Some(format!(
                "plugin checks need {HOST_BINARY} beside upkeepd or in ../libexec/upkeep/, and it is not installed"
            )),
            Self::Refused(why) => Some(format!("{HOST_BINARY} refused: {why}")),
        }
    }
}

/// Opens `path` as root may execute it (see the module documentation).
fn open(path: &Path) -> Result<File, UnsafePath> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    let dir = files::trusted_dir(dir, false)?;
    let Some(name) = path.file_name() else {
        return Err(UnsafePath::Kind {
            path: path.to_path_buf(),
            expected: "file",
        });
    };
    let path = dir.join(name);
    let io = |source| UnsafePath::Io {
        path: path.clone(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&path)
        .map_err(io)?;
    let m = file.metadata().map_err(io)?;
    if !m.is_file() || m.mode() & 0o111 == 0 {
        return Err(UnsafePath::Kind {
            path,
            expected: "regular executable file",
        });
    }
    if !files::ours(m.uid()) {
        return Err(UnsafePath::Owner { path, uid: m.uid() });
    }
    if m.mode() & 0o022 != 0 {
        return Err(UnsafePath::Writable {
            path,
            mode: m.mode() & 0o7777,
        });
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn place(dir: &Path, mode: u32) -> PathBuf {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let p = dir.join(HOST_BINARY);
        std::fs::write(&p, b"\x7fELF").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    fn scratch(name: &str) -> PathBuf {
        // /tmp is sticky: trusted there with an entry of ours below it.
        let d =
            std::env::temp_dir().join(format!("upkeep-plugin-host-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn found_beside_the_executable_then_in_libexec() {
        let root = scratch("found");
        let sbin = root.join("sbin");
        std::fs::create_dir_all(&sbin).unwrap();
        let exe = sbin.join("upkeepd");
        assert!(matches!(PluginHost::find(&exe), PluginHost::Missing));
        place(&root.join("libexec/upkeep"), 0o755);
        let PluginHost::Found { path, .. } = PluginHost::find(&exe) else {
            panic!("not found in libexec")
        };
        assert!(
            path.ends_with("libexec/upkeep/upkeep-plugin-host"),
            "{path:?}"
        );
        place(&sbin, 0o755);
        let PluginHost::Found { path, .. } = PluginHost::find(&exe) else {
            panic!("not found beside")
        };
        assert_eq!(
            path,
            std::fs::canonicalize(&sbin).unwrap().join(HOST_BINARY)
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// Root must not execute a file another user can change, nor follow a
    /// symlink to one.
    #[test]
    fn a_host_others_can_change_is_refused() {
        let root = scratch("refused");
        let exe = root.join("upkeepd");
        let p = place(&root, 0o775);
        let h = PluginHost::find(&exe);
        assert!(
            matches!(h, PluginHost::Refused(ref w) if w.contains("writable")),
            "{h:?}"
        );
        assert!(h.fd().is_none());
        assert!(h.unusable().is_some());

        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let h = PluginHost::find(&exe);
        assert!(
            matches!(h, PluginHost::Refused(ref w) if w.contains("executable")),
            "{h:?}"
        );

        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        if nix::unistd::geteuid().is_root() {
            std::os::unix::fs::chown(&p, Some(65534), None).unwrap();
            let h = PluginHost::find(&exe);
            assert!(
                matches!(h, PluginHost::Refused(ref w) if w.contains("owned by uid 65534")),
                "{h:?}"
            );
        }

        std::fs::remove_file(&p).unwrap();
        let target = place(&root.join("elsewhere"), 0o755);
        std::os::unix::fs::symlink(&target, &p).unwrap();
        let h = PluginHost::find(&exe);
        assert!(
            matches!(h, PluginHost::Refused(_)),
            "a symlink is not followed: {h:?}"
        );

        std::fs::remove_file(&p).unwrap();
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o777)).unwrap();
        place(&root.join("sub"), 0o755);
        let h = PluginHost::find(&root.join("sub/upkeepd"));
        assert!(
            matches!(h, PluginHost::Refused(ref w) if w.contains("writable")),
            "{h:?}"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
