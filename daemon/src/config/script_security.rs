//! keepalived's `check_script_secure`: may root run this file? A script
//! that runs with uid 0 or gid 0 (or a set-uid/set-gid root file) is unsafe
//! when the file, or any directory above it, can be changed by someone
//! other than root: that someone would choose what root runs.
//!
//! The rules, component by component from `/` (`lstat`, never following
//! the component itself):
//! - owned by a user other than root: unsafe;
//! - a directory without the sticky bit, or the file itself, writable by
//!   a group other than root's, or by everyone: unsafe (a sticky directory
//!   such as /tmp lets no one replace another user's entry; the file in it
//!   is still judged on its own);
//! - an intermediate component that is not a directory, or a final one
//!   that is neither a regular file nor a symbolic link: unsafe.
//!
//! Both the path as written (its directory resolved, so that its last
//! component, possibly a symlink, is judged where it is) and the file it
//! finally names are checked. A bare name is looked up in exec's PATH
//! first, as the command would be.

#![forbid(unsafe_code)]

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use crate::account::Account;

/// Why a script is not safe to run as root (or cannot be found).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unsafe {
    #[error("cannot find '{0}' in PATH")]
    NotInPath(String),
    #[error("cannot resolve '{path}': {error}")]
    Unresolved { path: String, error: String },
    #[error("'{path}' is owned by uid {uid}, not root")]
    Owner { path: String, uid: u32 },
    #[error("'{path}' is writable by group {gid}")]
    GroupWritable { path: String, gid: u32 },
    #[error("'{path}' is writable by everyone")]
    WorldWritable { path: String },
    #[error("'{path}' is not a directory")]
    NotADirectory { path: String },
    #[error("'{path}' is not a regular file")]
    NotAFile { path: String },
}

/// What a secure script resolves to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// What to execute: the path as written with its directory resolved
    /// (every component checked), so that no symlink a user could swap is
    /// followed on the way. A symlink as the last component is kept (a
    /// program may act on the name it is called by) but checked too.
    pub exec: PathBuf,
    /// The file it finally names.
    pub file: PathBuf,
}

/// Whether running `program` as `account` needs the check at all: run as
/// root's uid or gid, or a set-uid/set-gid root file (keepalived's rule).
pub fn needs_protection(program: &Path, account: &Account) -> bool {
    if account.is_privileged() {
        return true;
    }
    std::fs::metadata(program).is_ok_and(|m| {
        let mode = m.mode();
        (m.uid() == 0 && mode & 0o4100 == 0o4100) || (m.gid() == 0 && mode & 0o2010 == 0o2010)
    })
}

/// Finds `program` as exec would: as written when it has a slash, else the
/// first executable regular file of that name in `path` (a `:` list).
pub fn locate(program: &str, path: &str) -> Result<PathBuf, Unsafe> {
    if program.contains('/') {
        return Ok(PathBuf::from(program));
    }
    path.split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(program))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .ok_or_else(|| Unsafe::NotInPath(program.to_string()))
}

/// Checks `program` (as [`locate`] found it) for root; the path to run.
pub fn check(program: &Path) -> Result<Resolved, Unsafe> {
    let unresolved = |p: &Path, e: std::io::Error| Unsafe::Unresolved {
        path: p.display().to_string(),
        error: e.to_string(),
    };
    let file = std::fs::canonicalize(program).map_err(|e| unresolved(program, e))?;
    let exec = match (program.parent(), program.file_name()) {
        (Some(dir), Some(name)) if !dir.as_os_str().is_empty() => std::fs::canonicalize(dir)
            .map_err(|e| unresolved(dir, e))?
            .join(name),
        _ => file.clone(),
    };
    components(&exec)?;
    if exec != file {
        components(&file)?;
    }
    Ok(Resolved { exec, file })
}

/// keepalived's `check_security` on an absolute path without `.`/`..`.
fn components(path: &Path) -> Result<(), Unsafe> {
    let mut at = PathBuf::from("/");
    let parts: Vec<Component> = path.components().collect();
    let last = parts.len().saturating_sub(1);
    for (i, c) in parts.iter().enumerate() {
        if i > 0 {
            at.push(c);
        }
        let m = std::fs::symlink_metadata(&at).map_err(|e| Unsafe::Unresolved {
            path: at.display().to_string(),
            error: e.to_string(),
        })?;
        let shown = || at.display().to_string();
        let ft = m.file_type();
        if i < last && !ft.is_dir() {
            return Err(Unsafe::NotADirectory { path: shown() });
        }
        if i == last && !(ft.is_file() || ft.is_symlink() || (last == 0 && ft.is_dir())) {
            return Err(Unsafe::NotAFile { path: shown() });
        }
        if m.uid() != 0 {
            return Err(Unsafe::Owner {
                path: shown(),
                uid: m.uid(),
            });
        }
        let mode = m.mode();
        // A symlink's own mode means nothing; a sticky directory protects
        // its entries from everyone but their owners.
        let judged = ft.is_file() || (ft.is_dir() && mode & 0o1000 == 0);
        if judged && mode & 0o002 != 0 {
            return Err(Unsafe::WorldWritable { path: shown() });
        }
        if judged && m.gid() != 0 && mode & 0o020 != 0 {
            return Err(Unsafe::GroupWritable {
                path: shown(),
                gid: m.gid(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{chown, symlink};

    /// A root-owned 0755 directory under the test's temporary directory
    /// (itself checked: the tests need a safe place to start from).
    struct Tmp(PathBuf);

    impl Tmp {
        fn new(tag: &str) -> Option<Self> {
            if !nix::unistd::geteuid().is_root() {
                crate::testutil::skipped("needs root (chown)");
                return None;
            }
            // /run or /tmp may be insecure on odd systems: use a private
            // root-owned directory below /var/tmp's sticky parent.
            let base = Path::new("/var/tmp");
            let p = base.join(format!("upkeep-sec-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir(&p).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
            if components(&p).is_err() {
                crate::testutil::skipped("/var/tmp is not root-owned and safe here");
                let _ = std::fs::remove_dir_all(&p);
                return None;
            }
            Some(Tmp(p))
        }

        fn file(&self, rel: &str, mode: u32) -> PathBuf {
            file_in(&self.0, rel, mode)
        }

        fn dir(&self, rel: &str, mode: u32) -> PathBuf {
            let d = self.0.join(rel);
            std::fs::create_dir(&d).unwrap();
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(mode)).unwrap();
            d
        }
    }

    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn file_in(dir: &Path, name: &str, mode: u32) -> PathBuf {
        let f = dir.join(name);
        std::fs::write(&f, "#!/bin/sh\nexit 0\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(mode)).unwrap();
        f
    }

    fn nobody() -> (u32, u32) {
        let a = crate::account::lookup("nobody", None).unwrap();
        (a.uid, a.gid)
    }

    #[test]
    fn a_root_owned_script_in_root_owned_directories_is_safe() {
        let Some(t) = Tmp::new("ok") else { return };
        let f = t.file("ok.sh", 0o755);
        let r = check(&f).unwrap();
        assert_eq!(r.exec, f);
        assert_eq!(r.file, f);
        // A bare name is found through PATH, as exec would.
        let found = locate("ok.sh", &format!("/nonexistent:{}", t.0.display())).unwrap();
        assert_eq!(found, f);
        assert!(matches!(
            locate("no-such-script-xyz", "/usr/bin"),
            Err(Unsafe::NotInPath(_))
        ));
    }

    #[test]
    fn files_and_directories_others_can_change_are_unsafe() {
        let Some(t) = Tmp::new("bad") else { return };
        let (uid, gid) = nobody();
        // The file owned by another user.
        let owned = t.file("owned.sh", 0o755);
        chown(&owned, Some(uid), None).unwrap();
        assert!(matches!(check(&owned), Err(Unsafe::Owner { .. })));
        // World-writable file, group-writable by a non-root group.
        let ww = t.file("ww.sh", 0o757);
        assert!(matches!(check(&ww), Err(Unsafe::WorldWritable { .. })));
        let gw = t.file("gw.sh", 0o775);
        chown(&gw, None, Some(gid)).unwrap();
        assert!(matches!(check(&gw), Err(Unsafe::GroupWritable { .. })));
        // Group-writable by root's group is fine.
        let rg = t.file("rg.sh", 0o775);
        assert!(check(&rg).is_ok());
        // A world-writable directory above a good file.
        let open = t.dir("open", 0o777);
        let inside = file_in(&open, "x.sh", 0o755);
        assert!(matches!(check(&inside), Err(Unsafe::WorldWritable { .. })));
        // Sticky and world-writable (like /tmp): a root-owned file in it is
        // safe, a world-writable one is not.
        let sticky = t.dir("sticky", 0o1777);
        let good = file_in(&sticky, "good.sh", 0o755);
        assert!(check(&good).is_ok());
        std::fs::set_permissions(&good, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(matches!(check(&good), Err(Unsafe::WorldWritable { .. })));
        // A directory owned by another user.
        let theirs = t.dir("theirs", 0o755);
        chown(&theirs, Some(uid), None).unwrap();
        let f = file_in(&theirs, "f.sh", 0o755);
        assert!(matches!(check(&f), Err(Unsafe::Owner { .. })));
    }

    #[test]
    fn symlinks_are_resolved_and_every_component_on_both_sides_checked() {
        let Some(t) = Tmp::new("link") else { return };
        let (uid, _) = nobody();
        // A safe link to a file in a directory another user owns.
        let theirs = t.dir("theirs", 0o755);
        chown(&theirs, Some(uid), None).unwrap();
        let target = file_in(&theirs, "real.sh", 0o755);
        let link = t.0.join("link.sh");
        symlink(&target, &link).unwrap();
        assert!(matches!(check(&link), Err(Unsafe::Owner { .. })));
        // A directory reached through a symlinked directory in an open
        // directory: the resolved path is what counts.
        let open = t.dir("open", 0o777);
        let good = t.file("good.sh", 0o755);
        let via = open.join("via.sh");
        symlink(&good, &via).unwrap();
        assert!(
            matches!(check(&via), Err(Unsafe::WorldWritable { .. })),
            "the link itself sits where anyone can replace it"
        );
        // A link in a safe directory to a safe file: safe, run by the
        // resolved directory and its own name.
        let named = t.0.join("named");
        symlink(&good, &named).unwrap();
        let r = check(&named).unwrap();
        assert_eq!((r.exec, r.file), (named, good));
    }
}
