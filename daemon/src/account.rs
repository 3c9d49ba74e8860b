//! Accounts scripts and the checker run as: looked up by name in the
//! account database (getpwnam_r/getgrnam_r, thread-safe). Kept apart from
//! `supervisor::privs` (which changes credentials) so that configuration
//! validation and `exec` can name accounts without depending on the parent.

#![forbid(unsafe_code)]

use std::io;

use nix::unistd::{Group, User};

/// A resolved account.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

impl Account {
    /// root's user or group: what `enable_script_security` protects.
    pub fn is_privileged(&self) -> bool {
        self.uid == 0 || self.gid == 0
    }

    pub fn root() -> Self {
        Account {
            name: "root".into(),
            uid: 0,
            gid: 0,
        }
    }
}

/// Why an account could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("unknown user {0:?}")]
    UnknownUser(String),
    #[error("unknown group {0:?}")]
    UnknownGroup(String),
    /// The account database could not be read; `step` names the call.
    #[error("{step}: {source}")]
    Lookup {
        step: &'static str,
        #[source]
        source: io::Error,
    },
}

fn lookup_err(step: &'static str) -> impl FnOnce(nix::errno::Errno) -> AccountError {
    move |e| AccountError::Lookup {
        step,
        source: io::Error::from(e),
    }
}

/// Looks up a user by name, and an optional group name overriding the
/// user's primary gid (keepalived's `USER [GROUP]`).
pub fn lookup(user: &str, group: Option<&str>) -> Result<Account, AccountError> {
    let unknown = || AccountError::UnknownUser(user.to_owned());
    if user.contains('\0') {
        return Err(unknown());
    }
    let u = User::from_name(user)
        .map_err(lookup_err("getpwnam_r"))?
        .ok_or_else(unknown)?;
    let mut acct = Account {
        name: u.name,
        uid: u.uid.as_raw(),
        gid: u.gid.as_raw(),
    };
    if let Some(group) = group {
        let unknown = || AccountError::UnknownGroup(group.to_owned());
        if group.contains('\0') {
            return Err(unknown());
        }
        acct.gid = Group::from_name(group)
            .map_err(lookup_err("getgrnam_r"))?
            .ok_or_else(unknown)?
            .gid
            .as_raw();
    }
    Ok(acct)
}

/// Loads the account database's modules on the calling thread (the main
/// one, before the configuration is read): glibc's first lookup dlopens
/// its NSS modules and keeps their state for the process's life. Made by
/// the configuration's checks on the load thread (`sys::mem::apart`),
/// those blocks stayed in that thread's arena at the top of the parse's
/// peak and held 260 KiB of it resident (issue 18). Errors do not matter
/// here: the real lookups report them.
pub fn load_modules() {
    let _ = User::from_name("root");
    let _ = Group::from_name("root");
}

/// Looks up `name`; None when it does not exist (an error reading the
/// database is an error).
pub fn find(name: &str) -> Result<Option<Account>, AccountError> {
    match lookup(name, None) {
        Ok(a) => Ok(Some(a)),
        Err(AccountError::UnknownUser(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The accounts tried, in order, for the checker when `script_user` is not
/// set: upkeep's own (the packages create it), keepalived's default script
/// user, and `nobody` as a last resort (shared with other daemons).
pub const DEFAULT_CHECKER_ACCOUNTS: [&str; 3] = ["upkeep", "keepalived_script", "nobody"];

/// Default unprivileged account for the checker: the first of
/// [`DEFAULT_CHECKER_ACCOUNTS`] that exists.
pub fn default_checker_account() -> Result<Account, AccountError> {
    for name in DEFAULT_CHECKER_ACCOUNTS {
        if let Some(a) = find(name)? {
            return Ok(a);
        }
    }
    Err(AccountError::UnknownUser("nobody".into()))
}

/// keepalived's default account for the scripts it runs itself (notify
/// scripts): this one if it exists, else root.
pub const KEEPALIVED_SCRIPT_USER: &str = "keepalived_script";
