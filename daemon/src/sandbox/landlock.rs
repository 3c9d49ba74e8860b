//! Landlock for the checker: what of the file system it (and every script
//! and plugin it runs) may open, decided once from the configuration of its
//! `Start` message. Outside these paths an open fails with EACCES.
//!
//! - read and execute: the system's programs and libraries (`/usr`, `/bin`,
//!   `/sbin`, `/lib*`, `/etc`, `/opt`), since operators' scripts run
//!   arbitrary programs (`pidof`, `curl`, `systemctl`...) that need them;
//!   and the files the configuration names as scripts or their arguments;
//! - read only: `/proc`, `/sys` and `/run` (processes, pid files), tracked
//!   files, plugin files and plugins' granted files (a missing one: its
//!   directory, so that it can appear later);
//! - read and write: the plugin cache directory, `/tmp`, `/dev/null`,
//!   `/dev/zero`, `/dev/full`; read: `/dev/urandom`, `/dev/random`.
//!
//! Not reachable: home directories, `/root`, `/srv`, `/var` (but what is
//! configured), `/mnt`, `/media`, and no write anywhere else. Connecting to
//! a unix socket is not restricted (scripts talk to local daemons).
//!
//! Where the kernel has no Landlock (before 5.13, or not enabled), this is
//! logged once and the checker runs without it. `UPKEEP_LANDLOCK=off` turns
//! it off for diagnosis.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, BitFlags, PathBeneath, PathFd, Ruleset, RulesetAttr, RulesetCreatedAttr,
    RulesetStatus,
};

use crate::checker::probe::Probe;
use crate::config::model::Config;

/// The environment variable that turns Landlock off (`off`).
pub const ENV: &str = "UPKEEP_LANDLOCK";

/// The newest ABI whose rights are asked for; older kernels enforce what
/// they know (best effort).
const TARGET: ABI = ABI::V5;

const SYSTEM_EXEC: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt",
];
const SYSTEM_READ: &[&str] = &["/proc", "/sys", "/run"];
const DEVICES_RW: &[&str] = &["/dev/null", "/dev/zero", "/dev/full"];
const DEVICES_READ: &[&str] = &["/dev/urandom", "/dev/random"];
const SCRATCH: &[&str] = &["/tmp"];

#[derive(Debug, thiserror::Error)]
pub enum LandlockError {
    #[error("cannot build the Landlock ruleset: {0}")]
    Ruleset(#[from] landlock::RulesetError),
}

/// How the checker's file system access was restricted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Enforced,
    /// An older kernel: some rights (e.g. truncate, device ioctls) are not restricted.
    Partial,
    /// No Landlock in this kernel.
    Unsupported,
    /// `UPKEEP_LANDLOCK=off`.
    Off,
}

/// The paths the checker may reach, by what it may do there.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Paths {
    pub exec: BTreeSet<PathBuf>,
    pub read: BTreeSet<PathBuf>,
    pub write: BTreeSet<PathBuf>,
}

impl Paths {
    /// The system's part plus what `cfg` names; `cache` is the plugin
    /// cache directory.
    pub fn of(cfg: &Config, cache: Option<&Path>) -> Self {
        let mut p = Paths::default();
        p.exec.extend(SYSTEM_EXEC.iter().map(PathBuf::from));
        p.read
            .extend(SYSTEM_READ.iter().chain(DEVICES_READ).map(PathBuf::from));
        p.write
            .extend(DEVICES_RW.iter().chain(SCRATCH).map(PathBuf::from));
        p.write.extend(cache.map(Path::to_path_buf));
        for (_, spec) in crate::checker::spec::from_config(cfg).iter() {
            for probe in &spec.probes {
                match probe {
                    // The program and any argument that is a path (a
                    // script given to an interpreter).
                    Probe::Script { argv, .. } => p.exec.extend(
                        argv.iter()
                            .filter(|a| a.starts_with('/'))
                            .map(PathBuf::from),
                    ),
                    Probe::File { path, .. } => {
                        p.read.insert(or_parent(Path::new(path)));
                    }
                    // FILE_CHECK reads the track file as VRRP's tracking does.
                    Probe::TrackFile(f) => {
                        p.read.insert(or_parent(Path::new(&f.path)));
                    }
                    Probe::Plugin(pp) => {
                        p.read.insert(pp.file.clone());
                        p.read
                            .extend(pp.grants.files().iter().map(|f| or_parent(Path::new(f))));
                    }
                    Probe::Tcp { .. }
                    | Probe::Http(_)
                    | Probe::Ping { .. }
                    | Probe::Udp(_)
                    | Probe::Dns(_)
                    | Probe::Smtp(_)
                    | Probe::Process(_) => {}
                }
            }
        }
        p
    }

    /// Whether every path of `other` is already reachable as `other` needs
    /// (a reload that names more must restart the checker).
    pub fn covers(&self, other: &Paths) -> bool {
        other.exec.is_subset(&self.exec)
            && other
                .read
                .is_subset(&self.read.union(&self.exec).cloned().collect())
            && other.write.is_subset(&self.write)
    }
}

/// A path that does not exist yet is granted through its directory (a
/// tracked file that an operator creates later); one that does, itself.
fn or_parent(path: &Path) -> PathBuf {
    if path.exists() {
        return path.to_path_buf();
    }
    path.parent()
        .filter(|d| !d.as_os_str().is_empty() && *d != Path::new("/"))
        .map_or_else(|| path.to_path_buf(), Path::to_path_buf)
}

/// Restricts this process (the calling thread and every thread and child
/// it starts from now on) to `paths`. Call while single-threaded.
pub fn restrict(paths: &Paths) -> Result<Outcome, LandlockError> {
    if std::env::var(ENV).is_ok_and(|v| v.trim() == "off") {
        return Ok(Outcome::Off);
    }
    let read = AccessFs::from_read(TARGET) & !AccessFs::Execute;
    let exec = AccessFs::from_read(TARGET);
    let write = AccessFs::from_all(TARGET) & !AccessFs::Execute;
    let mut ruleset = Ruleset::default()
        .handle_access(AccessFs::from_all(TARGET))?
        .create()?;
    for (set, access) in [
        (&paths.exec, exec),
        (&paths.read, read),
        (&paths.write, write),
    ] {
        for rule in set.iter().filter_map(|path| beneath(path, access)) {
            ruleset = ruleset.add_rule(rule)?;
        }
    }
    let status = ruleset.restrict_self()?;
    Ok(match status.ruleset {
        RulesetStatus::FullyEnforced => Outcome::Enforced,
        RulesetStatus::PartiallyEnforced => Outcome::Partial,
        RulesetStatus::NotEnforced => Outcome::Unsupported,
    })
}

/// A rule for `path`, or none when it cannot be opened (a system directory
/// this distribution does not have): nothing to grant there.
fn beneath(path: &Path, access: BitFlags<AccessFs>) -> Option<PathBeneath<PathFd>> {
    let fd = PathFd::new(path).ok()?;
    // A file takes only a file's rights (a directory's would be refused).
    let access = if path.is_dir() {
        access
    } else {
        access & AccessFs::from_file(TARGET)
    };
    Some(PathBeneath::new(fd, access))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testutil::keepalived_config as cfg;

    #[test]
    fn configured_paths_are_granted_by_what_the_checker_does_with_them() {
        let c = cfg(
            "vrrp_script chk {\n script \"/bin/sh /srv/checks/web.sh\"\n}\nvrrp_track_file flag {\n file /var/lib/upkeep-test-missing/flag\n}\n",
        );
        let p = Paths::of(&c, Some(Path::new("/var/cache/upkeep")));
        assert!(p.exec.contains(Path::new("/srv/checks/web.sh")));
        assert!(p.exec.contains(Path::new("/bin/sh")));
        // Missing: its directory, read-only.
        assert!(p.read.contains(Path::new("/var/lib/upkeep-test-missing")));
        assert!(p.write.contains(Path::new("/var/cache/upkeep")));
        assert!(!p.write.contains(Path::new("/var/lib/upkeep-test-missing")));
        let more = cfg("vrrp_script chk {\n script \"/srv/other.sh\"\n}\n");
        assert!(!p.covers(&Paths::of(&more, Some(Path::new("/var/cache/upkeep")))));
        assert!(p.covers(&Paths::of(&c, Some(Path::new("/var/cache/upkeep")))));
    }

    /// FILE_CHECK: the checker reads the track file (here one that exists:
    /// exactly that file), as for VRRP's track files.
    #[test]
    fn file_check_grants_read_on_its_track_file() {
        let dir = std::env::temp_dir().join(format!("upkeep-ll-fc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("state");
        std::fs::write(&file, "0\n").unwrap();
        let c = cfg(&format!(
            "track_file tf {{\n file {}\n}}\nvirtual_server 10.0.0.1 80 {{\n protocol TCP\n real_server 10.0.0.2 80 {{\n  FILE_CHECK {{\n   track_file tf\n  }}\n }}\n}}\n",
            file.display()
        ));
        let mut c2 = c.clone();
        c2.track_files.clear();
        c2.virtual_servers.clear();
        let base = Paths::of(&c2, None);
        let p = Paths::of(&c, None);
        let added: Vec<_> = p.read.difference(&base.read).collect();
        assert_eq!(added, [file.as_path()]);
        assert_eq!(p.write, base.write);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
