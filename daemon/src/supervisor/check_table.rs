//! The checks' latest results as the parent records them: one entry per
//! check in a list, found through a hash index of positions.
//!
//! Why not a `HashMap<String, CheckStatus>` beside a map of verdicts, as
//! before: at 10,000 checks those kept each check's name three times (two
//! keys and the status's own `source`) and, in the spare slots of two
//! tables sized for 16,384, room for 6,000 more statuses that never come
//! (2.8 MiB; heaptrack of the parent, issue 18). Here the name is kept
//! once, in the status, the list is sized exactly, and a spare slot of the
//! index costs a word.

use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;

use crate::control::stored::StoredCheck;
use crate::ipc::msg::CheckStatus;

/// One check's record.
#[derive(Debug)]
pub struct CheckEntry {
    pub status: StoredCheck,
    /// The latest up/down verdict (and a tracked file's number) the parent
    /// acted on; None before the first, or when forgotten so that the next
    /// counts as a change.
    pub verdict: Option<(bool, Option<i64>)>,
}

#[derive(Debug, Default)]
pub struct CheckTable {
    entries: Vec<CheckEntry>,
    /// Positions in `entries`, hashed by the entry's source.
    index: HashTable<usize>,
    hasher: RandomState,
}

impl CheckTable {
    fn position(&self, source: &str) -> Option<usize> {
        let hash = self.hasher.hash_one(source);
        self.index
            .find(hash, |&i| {
                self.entries
                    .get(i)
                    .is_some_and(|e| &*e.status.source == source)
            })
            .copied()
    }

    fn entry(&self, source: &str) -> Option<&CheckEntry> {
        self.position(source).and_then(|i| self.entries.get(i))
    }

    pub fn get(&self, source: &str) -> Option<&StoredCheck> {
        self.entry(source).map(|e| &e.status)
    }

    /// The verdict recorded for `source`.
    pub fn verdict(&self, source: &str) -> Option<(bool, Option<i64>)> {
        self.entry(source).and_then(|e| e.verdict)
    }

    pub fn contains(&self, source: &str) -> bool {
        self.position(source).is_some()
    }

    /// Records `c`: into the recorded entry's own buffers when its check
    /// has one (no new allocation for a result like the last), else as a
    /// new entry.
    pub fn record(&mut self, c: CheckStatus) -> &mut CheckEntry {
        let at = match self.position(&c.source) {
            Some(i) => i,
            None => {
                let i = self.entries.len();
                let hash = self.hasher.hash_one(c.source.as_str());
                let Self {
                    entries,
                    index,
                    hasher,
                } = self;
                index.insert_unique(hash, i, |&j| rehash(hasher, entries, j));
                entries.push(CheckEntry {
                    status: StoredCheck::from(c),
                    verdict: None,
                });
                return &mut entries[i];
            }
        };
        let entry = &mut self.entries[at];
        entry.status.update_from(c);
        entry
    }

    /// Forgets the verdict of `source` (its next is then a change).
    pub fn forget_verdict(&mut self, source: &str) {
        if let Some(i) = self.position(source) {
            self.entries[i].verdict = None;
        }
    }

    /// Keeps the checks whose source `keep` says, in their order.
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        let before = self.entries.len();
        self.entries.retain(|e| keep(&e.status.source));
        if self.entries.len() != before {
            self.reindex();
        }
    }

    fn reindex(&mut self) {
        let Self {
            entries,
            index,
            hasher,
        } = self;
        index.clear();
        index.shrink_to(entries.len(), |&j| rehash(hasher, entries, j));
        for (i, e) in entries.iter().enumerate() {
            let hash = hasher.hash_one(&*e.status.source);
            index.insert_unique(hash, i, |&j| rehash(hasher, entries, j));
        }
    }

    /// Room for `n` checks in all, made at once and exactly.
    pub fn reserve(&mut self, n: usize) {
        let more = n.saturating_sub(self.entries.len());
        self.entries.reserve_exact(more);
        let Self {
            entries,
            index,
            hasher,
        } = self;
        index.reserve(more, |&j| rehash(hasher, entries, j));
    }

    pub fn values(&self) -> impl Iterator<Item = &StoredCheck> {
        self.entries.iter().map(|e| &e.status)
    }

    /// The verdicts recorded, by source (tests read the table through it).
    pub fn verdicts(&self) -> impl Iterator<Item = (&str, (bool, Option<i64>))> {
        self.entries
            .iter()
            .filter_map(|e| Some((&*e.status.source, e.verdict?)))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// An index entry's hash, when the index grows (positions are always in
/// range: the index is rebuilt whenever entries go).
fn rehash(hasher: &RandomState, entries: &[CheckEntry], j: usize) -> u64 {
    entries
        .get(j)
        .map_or(0, |e| hasher.hash_one(&*e.status.source))
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

    #[test]
    fn a_check_is_found_by_its_name_after_others_come_and_go() {
        let mut t = CheckTable::default();
        t.reserve(3);
        for i in 0..1000 {
            t.record(status(&format!("script:c{i}"), 1));
        }
        t.record(status("script:c7", 2)).verdict = Some((true, None));
        assert_eq!(t.len(), 1000, "recorded in place");
        assert_eq!(t.get("script:c7").map(|c| c.runs), Some(2));
        t.retain(|s| s.ends_with('7'));
        assert_eq!(t.len(), 100);
        assert!(t.get("script:c8").is_none() && !t.contains("script:c10"));
        for i in (7..1000).step_by(10) {
            assert_eq!(
                t.get(&format!("script:c{i}")).map(|c| c.runs),
                Some(1 + u64::from(i == 7))
            );
        }
        assert_eq!(
            t.verdicts().collect::<Vec<_>>(),
            vec![("script:c7", (true, None))]
        );
        t.forget_verdict("script:c7");
        assert_eq!(t.verdicts().count(), 0);
        // Still a working index after the rebuild: new names, old names.
        t.record(status("script:new", 1));
        t.record(status("script:c17", 5));
        assert_eq!(
            (t.len(), t.get("script:c17").map(|c| c.runs)),
            (101, Some(5))
        );
    }

    #[test]
    fn room_is_made_exactly() {
        let mut t = CheckTable::default();
        t.reserve(10_000);
        assert_eq!(t.entries.capacity(), 10_000);
        for i in 0..10_000 {
            t.record(status(&format!("real_server:vs/{i}"), 1));
        }
        assert_eq!(t.entries.capacity(), 10_000, "never grown by doubling");
    }
}
