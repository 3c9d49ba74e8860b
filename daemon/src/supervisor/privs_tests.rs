//! Tests for privilege dropping. Every drop is irreversible, so each one runs
//! in a forked child that reports through its exit code.

use super::*;
use crate::sys::process::exit_code_in_child as in_child;

/// True when the tests that change privileges can run here.
fn privileged() -> bool {
    if !nix::unistd::geteuid().is_root() {
        crate::testutil::skipped("needs root");
        return false;
    }
    let need = [
        Cap::SETGID,
        Cap::SETUID,
        Cap::SETPCAP,
        Cap::NET_ADMIN,
        Cap::NET_RAW,
    ]
    .iter()
    .fold(0u64, |m, &c| m | (1 << c as u64));
    let have = cap_eff(std::process::id()).unwrap();
    if have & need != need {
        crate::testutil::skipped(&format!("root without the needed capabilities ({have:#x})"));
        return false;
    }
    true
}

fn mask(caps: &[Cap]) -> u64 {
    caps.iter().fold(0, |m, &c| m | (1 << c as u64))
}

/// Reads a capability mask line (`CapBnd`, ...) of our own status.
fn self_caps(key: &str) -> u64 {
    status_caps(std::process::id(), key).unwrap_or(u64::MAX)
}

fn no_new_privs_flag() -> String {
    status_field(std::process::id(), "NoNewPrivs").unwrap_or_default()
}

fn resuid() -> [u32; 3] {
    let u = nix::unistd::getresuid().unwrap();
    [u.real, u.effective, u.saved].map(|x| x.as_raw())
}

/// Child body for `keep_only(keep)`: distinct exit code per failed check.
fn check_keep_only(keep: &[Cap]) -> i32 {
    let want = mask(keep);
    if keep_only(keep).is_err() {
        return 2;
    }
    if cap_eff(std::process::id()).ok() != Some(want) {
        return 3;
    }
    if self_caps("CapPrm") != want {
        return 4;
    }
    if self_caps("CapBnd") != want {
        return 5;
    }
    if self_caps("CapInh") != 0 || self_caps("CapAmb") != 0 {
        return 6;
    }
    if no_new_privs_flag() != "1" {
        return 7;
    }
    if resuid() != [0; 3] || proc_uid(std::process::id()).ok() != Some(0) {
        return 8;
    }
    0
}

#[test]
fn keep_only_net_admin_and_raw() {
    if !privileged() {
        return;
    }
    assert_eq!(
        in_child(|| check_keep_only(&[Cap::NET_ADMIN, Cap::NET_RAW])),
        0
    );
}

#[test]
fn keep_only_net_admin() {
    if !privileged() {
        return;
    }
    assert_eq!(in_child(|| check_keep_only(&[Cap::NET_ADMIN])), 0);
}

#[test]
fn keep_only_nothing() {
    if !privileged() {
        return;
    }
    assert_eq!(in_child(|| check_keep_only(&[])), 0);
}

#[test]
fn become_nobody() {
    if !privileged() {
        return;
    }
    // Look up in the parent: NSS in a forked child of a threaded process is
    // best avoided.
    let acct = lookup("nobody", None).unwrap();
    assert_ne!(acct.uid, 0);
    let code = in_child(move || {
        if let Err(e) = become_user(&acct) {
            // Visible even under capture: the child's stderr is the test's.
            let msg = format!("become_user: {e}\n");
            let _ = nix::unistd::write(std::io::stderr(), msg.as_bytes());
            return 2;
        }
        let pid = std::process::id();
        if resuid() != [acct.uid; 3] {
            return 3;
        }
        if proc_uid(pid).ok() != Some(acct.uid) {
            return 4;
        }
        if cap_eff(pid).ok() != Some(0) || self_caps("CapPrm") != 0 {
            return 5;
        }
        if self_caps("CapBnd") != 0 {
            return 6;
        }
        if self_caps("CapInh") != 0 || self_caps("CapAmb") != 0 {
            return 7;
        }
        if no_new_privs_flag() != "1" {
            return 8;
        }
        let groups = nix::unistd::getgroups().unwrap_or_default();
        if groups.len() != 1 || groups[0].as_raw() != acct.gid {
            return 9;
        }
        if nix::unistd::setuid(Uid::from_raw(0)).is_ok() || resuid() != [acct.uid; 3] {
            return 10;
        }
        if nix::unistd::setgid(Gid::from_raw(0)).is_ok() {
            return 11;
        }
        if keep_only(&[Cap::NET_RAW]).is_ok() {
            return 12;
        }
        if capctl::prctl::get_dumpable().unwrap_or(true) {
            return 13;
        }
        0
    });
    assert_eq!(code, 0);
}

#[test]
fn become_user_with_group_override() {
    if !privileged() {
        return;
    }
    let group = ["nogroup", "nobody"]
        .into_iter()
        .find(|g| lookup("nobody", Some(g)).is_ok())
        .unwrap();
    let acct = lookup("nobody", Some(group)).unwrap();
    let code = in_child(move || {
        if become_user(&acct).is_err() {
            return 2;
        }
        let g = nix::unistd::getresgid().unwrap();
        if [g.real, g.effective, g.saved].map(|x| x.as_raw()) != [acct.gid; 3] {
            return 3;
        }
        0
    });
    assert_eq!(code, 0);
}

#[test]
fn lookup_root() {
    let root = lookup("root", None).unwrap();
    assert_eq!(root.uid, 0);
    assert_eq!(root.gid, 0);
    assert_eq!(root.name, "root");
}

#[test]
fn lookup_unknown_user() {
    let err = lookup("upkeep-no-such-user-xyz", None).unwrap_err();
    assert!(
        matches!(&err, PrivError::UnknownUser(n) if n == "upkeep-no-such-user-xyz"),
        "{err:?}"
    );
    assert!(matches!(
        lookup("bad\0name", None),
        Err(PrivError::UnknownUser(_))
    ));
}

#[test]
fn lookup_with_group() {
    let (group, acct) = ["nogroup", "nobody"]
        .into_iter()
        .find_map(|g| lookup("nobody", Some(g)).ok().map(|a| (g, a)))
        .expect("neither group nogroup nor group nobody exists");
    let nobody = lookup("nobody", None).unwrap();
    assert_eq!(acct.uid, nobody.uid);
    assert_ne!(acct.gid, 0, "group {group}");

    let as_root_group = lookup("nobody", Some("root")).unwrap();
    assert_eq!(as_root_group.uid, nobody.uid);
    assert_eq!(as_root_group.gid, 0);
}

#[test]
fn lookup_unknown_group() {
    let err = lookup("root", Some("upkeep-no-such-group-xyz")).unwrap_err();
    assert!(
        matches!(&err, PrivError::UnknownGroup(n) if n == "upkeep-no-such-group-xyz"),
        "{err:?}"
    );
}

#[test]
fn default_checker_account_is_upkeep_or_nobody() {
    let acct = default_checker_account().unwrap();
    let first = DEFAULT_CHECKER_ACCOUNTS
        .iter()
        .find_map(|n| lookup(n, None).ok())
        .unwrap();
    assert_eq!(acct, first);
}

#[test]
fn proc_readers_match_this_process() {
    let pid = std::process::id();
    assert_eq!(proc_uid(pid).unwrap(), nix::unistd::getuid().as_raw());
    // The main thread's caps; test threads share them unless a test changed
    // its own thread (none does outside forked children).
    let effective = CapState::get_current().unwrap().effective;
    assert_eq!(
        cap_eff(pid).unwrap(),
        mask(&effective.iter().collect::<Vec<_>>())
    );
    assert!(cap_eff(u32::MAX).is_err());
    assert!(proc_uid(u32::MAX).is_err());
}

#[test]
fn errors_name_the_step() {
    let err = PrivError::Sys {
        step: "setresuid",
        source: io::Error::from_raw_os_error(libc::EPERM),
    };
    let text = err.to_string();
    assert!(text.starts_with("setresuid: "), "{text}");
    assert!(std::error::Error::source(&err).is_some());
}
