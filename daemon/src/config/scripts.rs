//! Who each configured script runs as, and whether root may run it.
//!
//! keepalived's rules, with upkeep's unprivileged checker:
//! - a script's own `USER [GROUP]` wins;
//! - else `script_user`;
//! - else, for check scripts (`vrrp_script`, `MISC_CHECK`), the checker's
//!   account (`upkeep`, else `keepalived_script`, else `nobody`), as
//!   before; for the scripts the parent runs on events (notify scripts,
//!   `notify_up`/`notify_down`, `quorum_up`/`quorum_down`) keepalived's
//!   default: `keepalived_script` if it exists, else root with a warning
//!   (an operator moving from keepalived keeps what their scripts had);
//! - a restart command (`upkeep_restart`, `on_failure.restart`) runs as its
//!   own user, else as its check's script does: as root only when the
//!   configuration says so (`upkeep_restart "systemctl restart nginx" root`).
//!
//! A script that runs with root's uid or gid is checked as keepalived's
//! `check_script_secure` does (`script_security`): with
//! `enable_script_security` an unsafe one is an error, without it a
//! warning. A safe one runs by its resolved path (see [`Plan::prepare`]).

#![forbid(unsafe_code)]

use std::collections::{BTreeMap, HashMap};

use super::diag::{Diagnostics, Location};
use super::model::{CheckKind, Config, Script, ScriptUser};
use super::script_security::{self as security, Unsafe};
use crate::account::{self, Account, AccountError};
use crate::exec::{self, split_command};

/// Which default account a script without its own falls back to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Health checks: the checker's account.
    Check,
    /// Event scripts the parent runs: keepalived's default.
    Notify,
    /// Restart commands: the check's own user, else the checker's account.
    Restart,
}

/// One configured script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// What it belongs to: `vrrp_script chk`, `vrrp_instance VI_1`, ...
    pub owner: String,
    /// The keyword that sets it.
    pub keyword: String,
    pub command: String,
    /// The account it names (for a restart: its own, else its check's).
    pub user: Option<ScriptUser>,
    pub kind: Kind,
    /// Run by the parent (true) or by the checker.
    pub by_parent: bool,
    pub at: Option<Location>,
    /// Where its account is named (for an unknown one).
    pub user_at: Option<Location>,
}

/// Every script of `cfg`, in configuration order.
pub fn entries(cfg: &Config) -> Vec<Entry> {
    let mut out = Vec::new();
    for (keyword, s) in [
        ("notify_fifo_script", &cfg.global.notify_fifo_script),
        (
            "vrrp_notify_fifo_script",
            &cfg.global.vrrp_notify_fifo_script,
        ),
    ] {
        if let Some(s) = s {
            out.push(event(
                "global_defs".into(),
                keyword,
                s,
                cfg.global.src.key(keyword),
            ));
        }
    }
    let mut notify = |owner: String, n: &super::model::Notify, src: &super::diag::Src| {
        for (keyword, s) in [
            ("notify_master", &n.on_master),
            ("notify_backup", &n.on_backup),
            ("notify_fault", &n.on_fault),
            ("notify_stop", &n.on_stop),
            ("notify", &n.on_change),
        ] {
            if let Some(s) = s {
                out.push(event(owner.clone(), keyword, s, src.key(keyword)));
            }
        }
    };
    for g in &cfg.sync_groups {
        notify(format!("vrrp_sync_group {}", g.name), &g.notify, &g.src);
    }
    for v in &cfg.vrrp_instances {
        notify(format!("vrrp_instance {}", v.name), &v.notify, &v.src);
    }
    for s in &cfg.vrrp_scripts {
        let owner = format!("vrrp_script {}", s.name);
        if s.plugin.is_none() && !s.script.trim().is_empty() {
            out.push(Entry {
                owner: owner.clone(),
                keyword: "script".into(),
                command: s.script.clone(),
                user: s.user.clone(),
                kind: Kind::Check,
                by_parent: s.user.is_some(),
                at: s.src.key("script").cloned(),
                user_at: s.src.key("user").cloned(),
            });
        }
        if let Some(r) = s.on_failure.as_ref().and_then(|f| f.restart.as_ref()) {
            let at = s
                .src
                .written("upkeep_restart")
                .or(s.src.key("on_failure"))
                .cloned();
            out.push(Entry {
                owner,
                keyword: "restart".into(),
                command: r.command.clone(),
                user: r.user.clone().or_else(|| s.user.clone()),
                kind: Kind::Restart,
                by_parent: true,
                user_at: if r.user.is_some() {
                    at.clone()
                } else {
                    s.src.key("user").cloned()
                },
                at,
            });
        }
    }
    for vs in &cfg.virtual_servers {
        let label = vs.label();
        let owner = format!("virtual_server {label}");
        for (keyword, s) in [
            ("quorum_up", &vs.quorum_up),
            ("quorum_down", &vs.quorum_down),
        ] {
            if let Some(s) = s {
                out.push(event(owner.clone(), keyword, s, vs.src.key(keyword)));
            }
        }
        for rs in &vs.real_servers {
            let owner = format!("real_server {} of virtual_server {label}", rs.ip);
            for (keyword, s) in [
                ("notify_up", rs.more.notify_up.as_deref()),
                ("notify_down", rs.more.notify_down.as_deref()),
            ] {
                if let Some(s) = s {
                    out.push(event(owner.clone(), keyword, s, rs.src.key(keyword)));
                }
            }
            for c in rs
                .checkers
                .iter()
                .filter(|c| c.kind == CheckKind::MiscCheck)
            {
                if let Some(path) = c.ext.misc_path.as_ref().filter(|p| !p.trim().is_empty()) {
                    out.push(Entry {
                        owner: owner.clone(),
                        keyword: "misc_path".into(),
                        command: path.clone(),
                        user: c.ext.user.as_deref().cloned(),
                        kind: Kind::Check,
                        by_parent: c.ext.user.is_some(),
                        at: c.src.key("misc_path").cloned(),
                        user_at: c.src.key("user").cloned(),
                    });
                }
            }
        }
    }
    out
}

fn event(owner: String, keyword: &str, s: &Script, at: Option<&Location>) -> Entry {
    Entry {
        owner,
        keyword: keyword.into(),
        command: s.command.clone(),
        user: s.user.clone(),
        kind: Kind::Notify,
        by_parent: true,
        at: at.cloned(),
        user_at: at.cloned(),
    }
}

/// A command ready to run: its words (the program by its checked path when
/// root runs it) and its account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prepared {
    pub argv: Vec<String>,
    pub account: Account,
}

/// The accounts of one configuration and the checked paths of the
/// programs root runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The checker's account (and that of check scripts without a user).
    pub checker: Account,
    /// Event scripts without a user of their own.
    pub notify: Account,
    named: BTreeMap<ScriptUser, Account>,
    /// Program as written → path to execute, for scripts root runs that
    /// passed the security check.
    secured: HashMap<String, String>,
    /// Scripts root may not run (refused, or not found under
    /// `enable_script_security`): never run.
    refused: Vec<String>,
    /// Every script, for status.
    pub entries: Vec<Entry>,
}

impl Plan {
    /// Resolves every account `cfg` names and checks what root runs; what
    /// is wrong goes to `d` (errors at the keyword that names it).
    pub fn new(cfg: &Config, d: &mut Diagnostics) -> Plan {
        let g = &cfg.global;
        let script_user_at = g.src.key("script_user");
        let script_user = g.script_user.as_ref().and_then(|u| {
            match account::lookup(&u.user, u.group.as_deref()) {
                Ok(a) => Some(a),
                Err(e) => {
                    d.error(script_user_at, unknown("script_user", u, &e));
                    None
                }
            }
        });
        let checker = match &script_user {
            Some(a) => a.clone(),
            None => account::default_checker_account().unwrap_or_else(|e| {
                if g.script_user.is_none() {
                    d.error(
                        None,
                        format!(
                            "no account for the checker: {e}; create the 'upkeep' user or set script_user"
                        ),
                    );
                }
                // Never used: the configuration does not load.
                Account {
                    name: "nobody".into(),
                    uid: 65534,
                    gid: 65534,
                }
            }),
        };
        let list = entries(cfg);
        let notify = match &script_user {
            Some(a) => a.clone(),
            None => match account::find(account::KEEPALIVED_SCRIPT_USER) {
                Ok(Some(a)) => a,
                _ => {
                    if let Some(e) = list
                        .iter()
                        .find(|e| e.kind == Kind::Notify && e.user.is_none())
                    {
                        d.warning(
                            e.at.as_ref(),
                            format!(
                                "{} {}: runs as root: no script_user and no '{}' user (keepalived's default); set script_user, or a user after the quoted command, to run it as another account",
                                e.owner,
                                e.keyword,
                                account::KEEPALIVED_SCRIPT_USER
                            ),
                        );
                    }
                    Account::root()
                }
            },
        };
        let mut plan = Plan {
            checker,
            notify,
            named: BTreeMap::new(),
            secured: HashMap::new(),
            refused: Vec::new(),
            entries: Vec::new(),
        };
        for e in &list {
            if let Some(u) = &e.user
                && !plan.named.contains_key(u)
            {
                match account::lookup(&u.user, u.group.as_deref()) {
                    Ok(a) => {
                        plan.named.insert(u.clone(), a);
                    }
                    Err(err) => {
                        // keepalived.conf: a word after the command is an
                        // account, not an argument.
                        let hint = if e.user_at == e.at {
                            "; the words after the command name the account it runs as: arguments go inside quotes with the command"
                        } else {
                            ""
                        };
                        d.error(
                            e.user_at.as_ref(),
                            format!(
                                "{} {}: {}{hint}",
                                e.owner,
                                e.keyword,
                                unknown("user", u, &err)
                            ),
                        );
                    }
                }
            }
        }
        for e in &list {
            plan.secure(e, g.enable_script_security, d);
        }
        plan.entries = list;
        plan
    }

    /// The account `e` runs as (None: it names an unknown one).
    pub fn account(&self, e: &Entry) -> Option<&Account> {
        self.account_for(e.user.as_ref(), e.kind)
    }

    /// The account of a script naming `user` (or none) of kind `kind`.
    pub fn account_for(&self, user: Option<&ScriptUser>, kind: Kind) -> Option<&Account> {
        match (user, kind) {
            (Some(u), _) => self.named.get(u),
            (None, Kind::Check | Kind::Restart) => Some(&self.checker),
            (None, Kind::Notify) => Some(&self.notify),
        }
    }

    /// Words and account of a script; None when it must not run (unknown
    /// account, refused by `enable_script_security`, empty).
    pub fn prepare(
        &self,
        command: &str,
        user: Option<&ScriptUser>,
        kind: Kind,
    ) -> Option<Prepared> {
        self.prepare_words(split_command(command), user, kind)
    }

    /// [`Self::prepare`] for a command already split into words.
    pub fn prepare_words(
        &self,
        mut argv: Vec<String>,
        user: Option<&ScriptUser>,
        kind: Kind,
    ) -> Option<Prepared> {
        let account = self.account_for(user, kind)?.clone();
        let program = argv.first_mut()?;
        if account.is_privileged() {
            if self.refused.contains(program) {
                return None;
            }
            if let Some(path) = self.secured.get(program.as_str()) {
                program.clone_from(path);
            }
        }
        Some(Prepared { argv, account })
    }

    /// [`Self::prepare`] for a configured [`Script`].
    pub fn prepare_script(&self, s: &Script, kind: Kind) -> Option<Prepared> {
        self.prepare(&s.command, s.user.as_ref(), kind)
    }

    /// keepalived's `check_script_secure` for one script.
    fn secure(&mut self, e: &Entry, enforce: bool, d: &mut Diagnostics) {
        let Some(account) = self.account(e).cloned() else {
            return;
        };
        let words = split_command(&e.command);
        let Some(program) = words.first() else { return };
        let found = security::locate(program, exec::PATH);
        let needs = match &found {
            Ok(p) => security::needs_protection(p, &account),
            Err(_) => account.is_privileged(),
        };
        if !needs {
            return;
        }
        let what = format!("{} {} (runs as {})", e.owner, e.keyword, account.name);
        match found.and_then(|p| security::check(&p)) {
            Ok(r) => {
                self.secured
                    .insert(program.clone(), r.exec.display().to_string());
            }
            Err(why) if enforce => {
                self.refused.push(program.clone());
                d.error(
                    e.at.as_ref(),
                    format!("{what}: refused by enable_script_security: {why}"),
                );
            }
            Err(why @ (Unsafe::NotInPath(_) | Unsafe::Unresolved { .. })) => d.warning(
                e.at.as_ref(),
                format!("{what}: {why}; it will fail when it runs"),
            ),
            Err(why) => d.warning(
                e.at.as_ref(),
                format!("{what}: unsafe for root: {why}; enable_script_security would refuse it"),
            ),
        }
    }
}

fn unknown(keyword: &str, u: &ScriptUser, e: &AccountError) -> String {
    let named = match &u.group {
        Some(g) => format!("'{} {g}'", u.user),
        None => format!("'{}'", u.user),
    };
    format!("{keyword} {named}: {e}: expected an existing USER [GROUP]")
}

#[cfg(test)]
#[path = "scripts_tests.rs"]
mod tests;
