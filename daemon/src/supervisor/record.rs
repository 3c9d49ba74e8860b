//! The parent's record: the latest state of everything, kept so that a
//! restarted worker can be brought up to date (replay) and so that status,
//! STATUS= and metrics have one source. Pure data; no IO.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use super::check_table::CheckTable;
use super::sources::Sources;

use crate::checker::health::Verdict;
use crate::config::model::{Config, Notify};
use crate::ipc::msg::{CheckStatus, InstanceStatus, RealServerState, Resume, Transition};
use crate::vrrp::fsm::State;

/// A notification the parent should run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    /// keepalived's TYPE: `INSTANCE` or `GROUP`.
    pub kind: &'static str,
    pub name: String,
    pub notify: Notify,
    pub state: State,
    /// A Backup held by `upkeepctl maintenance` (notify's `MAINTENANCE`).
    pub maintenance: bool,
    pub priority: u8,
}

#[derive(Debug, Default)]
pub struct Record {
    /// Instance name → last state reported (survives worker restarts).
    pub states: BTreeMap<String, State>,
    pub instances: Vec<InstanceStatus>,
    pub unmatched_drops: BTreeMap<String, u64>,
    /// Each check's latest status and up/down verdict. Hashed, not
    /// ordered: every result looks its check up here, and at 10,000 checks
    /// a tree's string comparisons showed in the parent's profile (issue
    /// 18). status.json sorts its view.
    pub checks: CheckTable,
    /// What VRRP has been told per tracked source (`script:NAME` → up): the
    /// verdict, or the restart-then-demote policy's decision.
    pub tracks: BTreeMap<String, bool>,
    /// What VRRP has been told per tracked file (`file:NAME` → number).
    pub values: BTreeMap<String, i64>,
    /// `vs key` → real server → its FILE_CHECK weight change (non-zero).
    pub real_server_weights: BTreeMap<String, BTreeMap<String, i64>>,
    /// The IPVS worker's last report (packed: `ipvs_record`).
    pub virtual_servers: super::ipvs_record::IpvsRecord,
    /// What the IPVS worker knows of the kernel.
    pub ipvs: crate::ipvs::status::IpvsKernel,
    /// `vs key` → quorum, as the IPVS worker last said (for quorum_up/down).
    pub quorum: BTreeMap<String, bool>,
    /// Sync group name → the state all members last agreed on.
    group_states: BTreeMap<String, State>,
    /// The instances `upkeepctl maintenance` holds (the parent keeps it in
    /// its state directory: `supervisor::maintenance`).
    pub maintenance: BTreeSet<String>,
    /// The instances whose last transition said maintenance (for notify).
    notified_maintenance: BTreeSet<String>,
    /// Verdict changes since the parent last took them (for `upkeepctl
    /// watch`), at most [`CHECK_CHANGES`].
    pub check_changes: Vec<(String, bool, Option<i64>)>,
    /// A verdict changed since [`Record::take_verdict_changes`] (the status
    /// is then published at the pace of changes, not of counters).
    verdict_changed: bool,
}

/// Check changes kept between two turns of the parent's loop (it takes them
/// every turn; the bound is for users of the record that never do).
pub const CHECK_CHANGES: usize = 4096;

impl Record {
    /// Records a transition and returns the notifications it causes. A
    /// restarted worker reporting the state already recorded (a resumed
    /// Master, a Backup again) notifies nothing.
    pub fn transition(&mut self, cfg: &Config, t: &Transition) -> Vec<Notification> {
        let to = t.to;
        let before = self.states.insert(t.instance.clone(), to);
        let was_maintenance = if t.maintenance {
            !self.notified_maintenance.insert(t.instance.clone())
        } else {
            self.notified_maintenance.remove(&t.instance)
        };
        let mut out = Vec::new();
        let unchanged = (before == Some(to) && was_maintenance == t.maintenance)
            || (before.is_none() && to == State::Initialize);
        if !unchanged && let Some(inst) = cfg.vrrp_instances.iter().find(|i| i.name == t.instance) {
            out.push(Notification {
                kind: "INSTANCE",
                name: t.instance.clone(),
                notify: inst.notify.clone(),
                state: to,
                maintenance: t.maintenance && to == State::Backup,
                priority: t.priority,
            });
        }
        out.extend(self.groups(cfg));
        out
    }

    /// Sync-group notifications: when every member has reached the same state.
    fn groups(&mut self, cfg: &Config) -> Vec<Notification> {
        let mut out = Vec::new();
        // A group is followed for its scripts or its mails (`mail.rs`).
        let followed = |g: &&crate::config::model::SyncGroup| {
            !g.notify.is_empty() || (cfg.global.mails() && cfg.global.vrrp_alert(g.smtp_alert))
        };
        for g in cfg.sync_groups.iter().filter(followed) {
            let mut states = g.group.iter().map(|m| self.states.get(m).copied());
            let Some(Some(first)) = states.next() else {
                continue;
            };
            if !states.all(|s| s == Some(first)) {
                continue;
            }
            let last = self.group_states.get(&g.name).copied();
            if last == Some(first) || (last.is_none() && first == State::Initialize) {
                continue;
            }
            self.group_states.insert(g.name.clone(), first);
            out.push(Notification {
                kind: "GROUP",
                name: g.name.clone(),
                notify: g.notify.clone(),
                state: first,
                maintenance: false,
                priority: 0,
            });
        }
        out
    }

    /// A check's new state; returns the verdict (and a file's number) when
    /// either changed.
    pub fn check(&mut self, c: CheckStatus) -> Option<(String, bool, Option<i64>)> {
        let up = match c.state {
            Verdict::Up => Some(true),
            Verdict::Down => Some(false),
            Verdict::Unknown => None,
        };
        let value = c.value;
        // In place: at thousands of results a second, a new key and a
        // dropped one per result showed in the parent's profile. Into the
        // recorded check's own buffers too: keeping the message's strings
        // instead moved every record's strings around the heap each
        // second, among short-lived blocks that then pinned its pages.
        let (source, check) = self.checks.record(c)?;
        let up = up?;
        let verdict = (up, value);
        if check.verdict() == Some(verdict) {
            return None;
        }
        check.set_verdict(Some(verdict));
        let changed = (source.to_string(), up, value);
        self.verdict_changed = true;
        if self.check_changes.len() < CHECK_CHANGES {
            self.check_changes.push(changed.clone());
        }
        Some(changed)
    }

    /// Whether a verdict changed since the last call.
    pub fn take_verdict_changes(&mut self) -> bool {
        std::mem::take(&mut self.verdict_changed)
    }

    /// Records a real server's health; what was recorded before, if anything.
    pub fn real_server(&mut self, rs: &RealServerState) -> Option<bool> {
        let w = self
            .real_server_weights
            .entry(rs.virtual_server.clone())
            .or_default();
        if rs.weight == 0 {
            w.remove(&rs.real_server);
        } else {
            w.insert(rs.real_server.clone(), rs.weight);
        }
        self.checks
            .set_health(&rs.virtual_server, &rs.real_server, rs.up)
    }

    /// What was last recorded of `rs` in `vs` (None: nothing yet).
    pub fn real_server_up(&self, vs: &str, rs: &str) -> Option<bool> {
        self.checks.health(vs, rs)
    }

    /// Instance name → state name, for IPVS.
    pub fn vrrp_states(&self) -> BTreeMap<String, State> {
        self.states.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// What a restarted worker is told.
    pub fn resume(&self, down_ms: Option<u64>) -> Resume {
        Resume {
            states: self.vrrp_states(),
            tracks: self.tracks.clone(),
            values: self.values.clone(),
            real_servers_down: self.checks.health_lists(false),
            real_servers_up: self.checks.health_lists(true),
            real_server_weights: self.real_server_weights.clone(),
            down_ms,
            maintenance: self.maintenance.clone(),
        }
    }

    /// What a previous image of the daemon handed over (`reexec.rs`): the
    /// same tables a restarted worker resumes from. After
    /// [`Self::bind_checks`]: a real server's health is kept only for the
    /// configured (one in both lists takes the later, down).
    pub fn adopt(&mut self, resume: Resume) {
        self.states = resume.states;
        self.tracks = resume.tracks;
        self.values = resume.values;
        for (lists, up) in [
            (&resume.real_servers_up, true),
            (&resume.real_servers_down, false),
        ] {
            for (vs, list) in lists {
                for rs in list {
                    self.checks.set_health(vs, rs, up);
                }
            }
        }
        self.real_server_weights = resume.real_server_weights;
    }

    /// A slot for every check of the committed configuration, the
    /// checker's and the parent's own (at start and at each commit): the
    /// results of checks it still has are kept, the others go.
    pub fn bind_checks(&mut self, checker: Arc<Sources>, parent: Arc<Sources>) {
        self.checks.bind(checker, parent);
    }

    /// [`Self::bind_checks`] to sources of their own made from `cfg`
    /// (tests; the parent shares the sources it accepts results by).
    #[cfg(test)]
    pub fn bind_to(&mut self, cfg: &Config) {
        self.bind_checks(
            Arc::new(Sources::of(cfg)),
            Arc::new(Sources::of_parent(cfg)),
        );
    }

    /// A record with a slot for each check of `cfg` (tests).
    #[cfg(test)]
    pub fn bound_to(cfg: &Config) -> Self {
        let mut r = Self::default();
        r.bind_to(cfg);
        r
    }

    /// After a reload: forget what the new configuration no longer has
    /// (the checks' results go with [`Self::bind_checks`]).
    pub fn retain_configured(&mut self, cfg: &Config) {
        self.states
            .retain(|name, _| cfg.vrrp_instances.iter().any(|i| &i.name == name));
        self.group_states
            .retain(|name, _| cfg.sync_groups.iter().any(|g| &g.name == name));
        // A set: at 10,000 checks a list's lookups made this quadratic.
        let checks: HashSet<String> = crate::checker::configured(cfg).into_iter().collect();
        self.tracks.retain(|k, _| checks.contains(k));
        self.values.retain(|k, _| checks.contains(k));
        // A FILE_CHECK's weight change goes with its real server's check
        // (as the real server's health does, with the checks' slots).
        let checked =
            |vs: &str, rs: &str| checks.contains(&crate::checker::real_server_source(vs, rs));
        for (vs, m) in &mut self.real_server_weights {
            m.retain(|rs, _| checked(vs, rs));
        }
        self.real_server_weights.retain(|_, m| !m.is_empty());
        let vss: Vec<String> = cfg
            .virtual_servers
            .iter()
            .map(crate::ipvs::table::vs_key)
            .collect();
        self.quorum.retain(|k, _| vss.contains(k));
    }

    /// systemd's one-line STATUS=.
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if self.instances.len() <= 4 {
            parts.extend(
                self.instances
                    .iter()
                    .map(|i| format!("{} {} prio {}", i.name, i.state, i.priority)),
            );
        } else {
            let mut by: BTreeMap<&str, usize> = BTreeMap::new();
            for i in &self.instances {
                *by.entry(i.state.name()).or_default() += 1;
            }
            let list: Vec<String> = by.iter().map(|(s, n)| format!("{n} {s}")).collect();
            parts.push(format!(
                "{} instances: {}",
                self.instances.len(),
                list.join(", ")
            ));
        }
        let (up, all) = self
            .virtual_servers
            .real_servers()
            .fold((0, 0), |(u, a), r| (u + usize::from(r.up), a + 1));
        if all > 0 {
            parts.push(format!("{up}/{all} real servers up"));
        }
        let failing = self
            .checks
            .iter()
            .filter(|(_, c)| c.state == Verdict::Down)
            .count();
        if !self.checks.is_empty() {
            parts.push(format!("{}/{} checks failing", failing, self.checks.len()));
        }
        if parts.is_empty() {
            "no instances".into()
        } else {
            parts.join("; ")
        }
    }
}

#[cfg(test)]
#[path = "record_tests.rs"]
mod tests;
