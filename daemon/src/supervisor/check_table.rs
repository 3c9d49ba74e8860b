//! The checks' latest results as the parent records them: a slot per
//! check of the committed configuration, in the order of that
//! configuration's sources (`sources::Sources`: the lists the parent
//! accepts results by, shared with this table).
//!
//! Why not a table of names of its own, as before: at 10,000 checks every
//! name was then kept twice in the parent (there and in the sources), with
//! a second hash index and a span per entry, about 0.5 MiB (issue 18). And
//! a name the configuration does not have finds no slot here.
//!
//! A real server's health (its checker's `RealServer` changes) is kept by
//! the same slots, for a restarted IPVS worker, notify scripts, mail and
//! `omega`: in lists of names per virtual server it was another 0.3 MiB of
//! the parent at 10,000 real servers (issue 18).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::sources::Sources;
use crate::checker::{REAL_SERVER, real_server_source};
use crate::control::status::CheckList;
use crate::control::stored::StoredCheck;
use crate::ipc::msg::CheckStatus;
use crate::names::Name;

#[derive(Debug, Default)]
pub struct CheckTable {
    /// The checks the checker runs, and those the parent runs itself.
    checker: Arc<Sources>,
    parent: Arc<Sources>,
    /// By position: the checker's sources', then the parent's after them.
    /// None until a check's first result.
    slots: Vec<Option<StoredCheck>>,
    /// By slot as well: a real server's health as last reported (None
    /// before its first report, and for other checks).
    health: Vec<Option<bool>>,
    /// The slots in the order of their checks' names (status.json's).
    by_name: Vec<u32>,
}

/// Every name of `checker` and `parent` with its slot.
fn names<'a>(checker: &'a Sources, parent: &'a Sources) -> impl Iterator<Item = (Name<'a>, usize)> {
    (0..checker.len() + parent.len()).map(move |at| (slot_name(checker, parent, at), at))
}

/// The name of the check in slot `at` (empty past the end).
fn slot_name<'a>(checker: &'a Sources, parent: &'a Sources, at: usize) -> Name<'a> {
    match at.checked_sub(checker.len()) {
        None => checker.name_at(at),
        Some(own) => parent.name_at(own),
    }
}

/// `source` as `checker` or `parent` keeps it, and its slot.
fn find<'a>(
    checker: &'a Sources,
    parent: &'a Sources,
    source: Name<'_>,
) -> Option<(Name<'a>, usize)> {
    checker.find(source).or_else(|| {
        parent
            .find(source)
            .map(|(name, pos)| (name, checker.len() + pos))
    })
}

impl CheckTable {
    /// The sources of the committed configuration: a result is kept for
    /// each of them whose check was recorded before (by name), and for no
    /// other.
    pub fn bind(&mut self, checker: Arc<Sources>, parent: Arc<Sources>) {
        // Made at once and exactly: grown by doubling, the lists left their
        // smaller copies behind as holes in the heap.
        let len = checker.len() + parent.len();
        // Sorted by reading each name where it is kept (a list of the
        // names to sort by was another 32 bytes a check).
        let mut by_name: Vec<u32> = (0..len).filter_map(|i| u32::try_from(i).ok()).collect();
        by_name.sort_unstable_by(|&a, &b| {
            slot_name(&checker, &parent, a as usize).cmp(&slot_name(&checker, &parent, b as usize))
        });
        let mut old = std::mem::replace(
            self,
            Self {
                checker,
                parent,
                slots: vec![None; len],
                health: vec![None; len],
                by_name,
            },
        );
        let Self {
            checker,
            parent,
            slots,
            health,
            ..
        } = &mut old;
        for (name, pos) in names(checker, parent) {
            let Some((_, at)) = find(&self.checker, &self.parent, name) else {
                continue;
            };
            if let Some(check) = slots.get_mut(pos).and_then(Option::take) {
                self.slots[at] = Some(check);
            }
            self.health[at] = health.get(pos).copied().flatten();
        }
    }

    pub fn get(&self, source: &str) -> Option<&StoredCheck> {
        let (_, at) = find(&self.checker, &self.parent, source.into())?;
        self.slots.get(at)?.as_ref()
    }

    /// The verdict recorded for `source`.
    pub fn verdict(&self, source: &str) -> Option<(bool, Option<i64>)> {
        self.get(source).and_then(StoredCheck::verdict)
    }

    /// Whether a result of `source` is recorded.
    pub fn contains(&self, source: &str) -> bool {
        self.get(source).is_some()
    }

    /// Records `c` in its check's slot: into the recorded result's own
    /// buffers when there is one (no new allocation for a result like the
    /// last). The check's name and its record; None, and nothing kept, for
    /// a source the committed configuration does not have.
    pub fn record(&mut self, c: CheckStatus) -> Option<(Name<'_>, &mut StoredCheck)> {
        let Self {
            checker,
            parent,
            slots,
            ..
        } = self;
        let (name, at) = find(checker, parent, c.source.as_str().into())?;
        let slot = slots.get_mut(at)?;
        match slot {
            Some(check) => check.update_from(c),
            None => *slot = Some(StoredCheck::from(c)),
        }
        Some((name, slot.as_mut()?))
    }

    /// Forgets the verdict of `source` (its next is then a change).
    pub fn forget_verdict(&mut self, source: &str) {
        if let Some((_, at)) = find(&self.checker, &self.parent, source.into())
            && let Some(Some(check)) = self.slots.get_mut(at)
        {
            check.set_verdict(None);
        }
    }

    /// Every recorded check with its name, in the order of the names.
    pub fn iter(&self) -> impl Iterator<Item = (Name<'_>, &StoredCheck)> {
        self.by_name.iter().filter_map(|&at| {
            let at = at as usize;
            let check = self.slots.get(at)?.as_ref()?;
            Some((slot_name(&self.checker, &self.parent, at), check))
        })
    }

    /// The slot of the check of `rs` in `vs`.
    fn real_server_slot(&self, vs: &str, rs: &str) -> Option<usize> {
        let source = real_server_source(vs, rs);
        find(&self.checker, &self.parent, source.as_str().into()).map(|(_, at)| at)
    }

    /// Records `rs` of `vs` as up or down; what was recorded before. Not
    /// kept (None) for a real server whose check the committed
    /// configuration does not have.
    pub fn set_health(&mut self, vs: &str, rs: &str, up: bool) -> Option<bool> {
        let at = self.real_server_slot(vs, rs)?;
        self.health.get_mut(at)?.replace(up)
    }

    /// What was last recorded for `rs` of `vs`.
    pub fn health(&self, vs: &str, rs: &str) -> Option<bool> {
        *self.health.get(self.real_server_slot(vs, rs)?)?
    }

    /// The real servers up (or down), by virtual server, sorted, as a
    /// restarted worker is told them; a virtual server with any recorded
    /// has a list.
    pub fn health_lists(&self, up: bool) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, at) in names(&self.checker, &self.parent) {
            let Some(&Some(is_up)) = self.health.get(at) else {
                continue;
            };
            let name = name.to_cow();
            // A real server's key has no '/' (ip:port); its virtual
            // server's may (`10.0.0.1:80/tcp`).
            let Some((vs, rs)) = name
                .strip_prefix(REAL_SERVER)
                .and_then(|n| n.rsplit_once('/'))
            else {
                continue;
            };
            let list = match out.get_mut(vs) {
                Some(l) => l,
                None => out.entry(vs.to_string()).or_default(),
            };
            if is_up == up {
                list.push(rs.to_string());
            }
        }
        for list in out.values_mut() {
            list.sort_unstable();
        }
        out
    }

    /// The verdicts recorded, by source (tests read the table through it).
    pub fn verdicts(&self) -> impl Iterator<Item = (String, (bool, Option<i64>))> {
        self.iter()
            .filter_map(|(n, c)| Some((n.to_string(), c.verdict()?)))
    }

    /// How many checks have a result recorded.
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.iter().all(Option::is_none)
    }
}

impl CheckList for CheckTable {
    fn by_name(&self) -> Box<dyn Iterator<Item = (Name<'_>, &StoredCheck)> + '_> {
        Box::new(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::health::Verdict;

    fn status(source: &str, runs: u64) -> CheckStatus {
        CheckStatus {
            source: source.into(),
            state: Verdict::Up,
            last_result: None,
            latency_us: None,
            failures: 0,
            runs,
            value: None,
            policy: None,
            metrics: Vec::new(),
        }
    }

    fn sources(names: impl IntoIterator<Item = String>) -> Arc<Sources> {
        Arc::new(Sources::from_names(names.into_iter().collect()))
    }

    #[test]
    fn only_configured_checks_are_kept_and_found_by_name_across_binds() {
        let mut t = CheckTable::default();
        assert!(t.record(status("script:c1", 1)).is_none(), "nothing bound");
        t.bind(
            sources((0..1000).map(|i| format!("script:c{i}"))),
            sources(["script:own".to_string()]),
        );
        for i in 0..1000 {
            t.record(status(&format!("script:c{i}"), 1));
        }
        assert!(t.record(status("script:other", 1)).is_none());
        assert!(t.record(status("script:c1000", 1)).is_none());
        let (name, check) = t.record(status("script:c7", 2)).unwrap();
        assert_eq!(name, "script:c7");
        check.set_verdict(Some((true, None)));
        t.record(status("script:own", 3));
        assert_eq!(t.len(), 1001, "recorded in place");
        assert_eq!(t.get("script:c7").map(|c| c.runs), Some(2));
        assert_eq!(t.get("script:own").map(|c| c.runs), Some(3));
        // A new configuration: the checks ending in 7 stay (one becomes the
        // parent's own), the rest go, new ones have no result yet.
        t.bind(
            sources(
                (7..1000)
                    .step_by(10)
                    .filter(|&i| i != 17)
                    .map(|i| format!("script:c{i}"))
                    .chain(["script:new".to_string()]),
            ),
            sources(["script:c17".to_string()]),
        );
        assert_eq!((t.len(), t.slots.len()), (100, 101));
        assert!(t.get("script:c8").is_none() && !t.contains("script:own"));
        assert!(!t.contains("script:new"));
        for i in (7..1000).step_by(10) {
            assert_eq!(
                t.get(&format!("script:c{i}")).map(|c| c.runs),
                Some(1 + u64::from(i == 7))
            );
        }
        assert_eq!(
            t.verdicts().collect::<Vec<_>>(),
            vec![("script:c7".to_string(), (true, None))]
        );
        t.forget_verdict("script:c7");
        assert_eq!(t.verdicts().count(), 0);
        t.record(status("script:new", 1));
        t.record(status("script:c17", 5));
        assert_eq!(
            (t.len(), t.get("script:c17").map(|c| c.runs)),
            (101, Some(5))
        );
        // In the order of the names, each once.
        let names: Vec<String> = t.iter().map(|(n, _)| n.to_string()).collect();
        assert!(names.is_sorted());
        let mut once = names.clone();
        once.dedup();
        assert_eq!(once.len(), 101);
        assert_eq!(names.len(), 101);
    }

    /// A real server's health: kept only for configured real servers,
    /// read back, listed by state, and carried across a commit by name.
    #[test]
    fn real_server_health_is_kept_by_slot_and_listed_by_state() {
        let rs = real_server_source;
        let many = |i: u32| format!("10.1.{}.{}:53", i / 250, i % 250);
        let mut t = CheckTable::default();
        assert_eq!(t.set_health("10.0.0.1:80/tcp", "10.0.0.2:80", true), None);
        t.bind(
            sources(
                [
                    rs("10.0.0.1:80/tcp", "10.0.0.2:80"),
                    rs("10.0.0.1:80/tcp", "10.0.0.3:80"),
                    rs("10.0.0.9:80/tcp", "[fd00::1]:80"),
                    "script:chk".to_string(),
                ]
                .into_iter()
                .chain((0..1000).map(|i| rs("10.0.0.5:53/udp", &many(i)))),
            ),
            Arc::default(),
        );
        assert_eq!(t.health("10.0.0.1:80/tcp", "10.0.0.2:80"), None);
        assert_eq!(t.set_health("10.0.0.1:80/tcp", "10.0.0.2:80", false), None);
        assert_eq!(
            t.set_health("10.0.0.1:80/tcp", "10.0.0.2:80", true),
            Some(false)
        );
        assert_eq!(t.set_health("10.0.0.1:80/tcp", "10.0.0.3:80", false), None);
        assert_eq!(t.set_health("10.0.0.9:80/tcp", "[fd00::1]:80", false), None);
        // Not configured: not kept.
        assert_eq!(t.set_health("10.0.0.1:80/tcp", "10.0.0.4:80", true), None);
        assert_eq!(t.health("10.0.0.1:80/tcp", "10.0.0.4:80"), None);
        for i in 0..1000 {
            t.set_health("10.0.0.5:53/udp", &many(i), i % 3 == 0);
        }
        let up = t.health_lists(true);
        assert_eq!(up["10.0.0.1:80/tcp"], vec!["10.0.0.2:80"]);
        assert!(up["10.0.0.9:80/tcp"].is_empty(), "a list for each");
        assert_eq!(up["10.0.0.5:53/udp"].len(), 334);
        assert!(up["10.0.0.5:53/udp"].is_sorted());
        let down = t.health_lists(false);
        assert_eq!(down["10.0.0.9:80/tcp"], vec!["[fd00::1]:80"]);
        assert_eq!(down["10.0.0.5:53/udp"].len(), 666);
        // Kept across a commit by name; a real server gone goes.
        t.bind(
            sources([
                "script:new".to_string(),
                rs("10.0.0.1:80/tcp", "10.0.0.2:80"),
            ]),
            Arc::default(),
        );
        assert_eq!(t.health("10.0.0.1:80/tcp", "10.0.0.2:80"), Some(true));
        assert_eq!(t.health("10.0.0.1:80/tcp", "10.0.0.3:80"), None);
        assert_eq!(
            (t.health_lists(false).len(), t.health_lists(true).len()),
            (1, 1)
        );
    }

    /// Issue 18: a slot per check, made at once and exactly, and no name
    /// kept but the sources'.
    #[test]
    fn a_slot_per_check_made_exactly() {
        let mut t = CheckTable::default();
        t.bind(
            sources((0..10_000).map(|i| format!("real_server:vs/{i}"))),
            Arc::default(),
        );
        assert_eq!(t.slots.capacity(), 10_000);
        for i in 0..10_000 {
            t.record(status(&format!("real_server:vs/{i}"), 1));
        }
        assert_eq!(t.slots.capacity(), 10_000, "never grown");
        // The stored check's 56 bytes, its slot's tag in a niche.
        assert!(std::mem::size_of::<Option<StoredCheck>>() <= 56);
    }
}
