//! The checks' latest results as the parent records them: one entry per
//! check in a list, found through a hash index of positions, the names
//! one after another in one string.
//!
//! Why not a `HashMap<String, CheckStatus>` beside a map of verdicts, as
//! before: at 10,000 checks those kept each check's name three times (two
//! keys and the status's own `source`) and, in the spare slots of two
//! tables sized for 16,384, room for 6,000 more statuses that never come
//! (2.8 MiB; heaptrack of the parent, issue 18). Here the list is sized
//! exactly, a spare slot of the index costs four bytes, and a name is its
//! bytes in `names` (a box per name was another 48-64 bytes a check with
//! the allocator's header and rounding).

use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;

use super::names::{Names, Span};
use crate::control::stored::StoredCheck;
use crate::ipc::msg::CheckStatus;

/// One check's record: where its name is in `CheckTable::names`, and its
/// status with the verdict the parent acted on.
#[derive(Debug)]
struct CheckEntry {
    name: Span,
    check: StoredCheck,
}

#[derive(Debug, Default)]
pub struct CheckTable {
    names: Names,
    entries: Vec<CheckEntry>,
    /// Positions in `entries`, hashed by the entry's name.
    index: HashTable<u32>,
    hasher: RandomState,
}

impl CheckTable {
    fn name(&self, e: &CheckEntry) -> &str {
        self.names.get(e.name)
    }

    fn position(&self, source: &str) -> Option<usize> {
        let hash = self.hasher.hash_one(source);
        self.index
            .find(hash, |&i| {
                self.entries
                    .get(i as usize)
                    .is_some_and(|e| self.name(e) == source)
            })
            .map(|&i| i as usize)
    }

    pub fn get(&self, source: &str) -> Option<&StoredCheck> {
        self.position(source).map(|i| &self.entries[i].check)
    }

    /// The verdict recorded for `source`.
    pub fn verdict(&self, source: &str) -> Option<(bool, Option<i64>)> {
        self.get(source).and_then(StoredCheck::verdict)
    }

    pub fn contains(&self, source: &str) -> bool {
        self.position(source).is_some()
    }

    /// Records `c`: into the recorded entry's own buffers when its check
    /// has one (no new allocation for a result like the last), else as a
    /// new entry. The check's name and its record. None when the table
    /// cannot take another name (4 GiB of names, or 2^32 checks: beyond
    /// any configuration, whose checks are the only names that come here).
    pub fn record(&mut self, c: CheckStatus) -> Option<(&str, &mut StoredCheck)> {
        let at = match self.position(&c.source) {
            Some(i) => {
                self.entries[i].check.update_from(c);
                i
            }
            None => self.insert(c)?,
        };
        let Self { names, entries, .. } = self;
        let e = &mut entries[at];
        Some((names.get(e.name), &mut e.check))
    }

    /// A new entry for `c`.
    fn insert(&mut self, c: CheckStatus) -> Option<usize> {
        let i = self.entries.len();
        let pos = u32::try_from(i).ok()?;
        let name = self.names.push(&c.source)?;
        self.entries.push(CheckEntry {
            name,
            check: StoredCheck::from(c),
        });
        self.index_position(pos);
        Some(i)
    }

    /// Puts `entries[pos]` in the index.
    fn index_position(&mut self, pos: u32) {
        let (index, hash) = self.index_and_hash();
        index.insert_unique(hash(&pos), pos, &hash);
    }

    /// The index, and the hash of what a position in it names (always in
    /// range: the index is rebuilt whenever entries go).
    fn index_and_hash(&mut self) -> (&mut HashTable<u32>, impl Fn(&u32) -> u64 + '_) {
        let Self {
            names,
            entries,
            index,
            hasher,
        } = self;
        let hash = move |j: &u32| {
            entries
                .get(*j as usize)
                .map_or(0, |e| hasher.hash_one(names.get(e.name)))
        };
        (index, hash)
    }

    /// Forgets the verdict of `source` (its next is then a change).
    pub fn forget_verdict(&mut self, source: &str) {
        if let Some(i) = self.position(source) {
            self.entries[i].check.set_verdict(None);
        }
    }

    /// Keeps the checks whose source `keep` says, in their order (their
    /// names packed again).
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        let before = self.entries.len();
        let names = &self.names;
        self.entries.retain(|e| keep(names.get(e.name)));
        if self.entries.len() == before {
            return;
        }
        self.names
            .repack(self.entries.iter_mut().map(|e| &mut e.name));
        self.entries.shrink_to_fit();
        self.reindex();
    }

    fn reindex(&mut self) {
        self.index.clear();
        // Empty: nothing to hash again.
        self.index.shrink_to(self.entries.len(), |_| 0);
        // Fewer than before, which fitted in u32.
        for pos in 0..self.entries.len() as u32 {
            self.index_position(pos);
        }
    }

    /// Room for `n` checks in all whose names take `bytes` in all, made at
    /// once and exactly.
    pub fn reserve(&mut self, n: usize, bytes: usize) {
        let more = n.saturating_sub(self.entries.len());
        self.entries.reserve_exact(more);
        self.names
            .reserve_exact(bytes.saturating_sub(self.names.bytes()));
        let (index, hash) = self.index_and_hash();
        index.reserve(more, hash);
    }

    /// Every check with its name, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &StoredCheck)> {
        self.entries.iter().map(|e| (self.name(e), &e.check))
    }

    /// The verdicts recorded, by source (tests read the table through it).
    pub fn verdicts(&self) -> impl Iterator<Item = (&str, (bool, Option<i64>))> {
        self.iter().filter_map(|(n, c)| Some((n, c.verdict()?)))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
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

    #[test]
    fn a_check_is_found_by_its_name_after_others_come_and_go() {
        let mut t = CheckTable::default();
        t.reserve(3, 0);
        for i in 0..1000 {
            t.record(status(&format!("script:c{i}"), 1));
        }
        t.record(status("script:c7", 2))
            .unwrap()
            .1
            .set_verdict(Some((true, None)));
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
        let names: Vec<String> = (0..10_000).map(|i| format!("real_server:vs/{i}")).collect();
        let bytes = names.iter().map(String::len).sum();
        t.reserve(10_000, bytes);
        assert_eq!(t.entries.capacity(), 10_000);
        for n in &names {
            t.record(status(n, 1));
        }
        assert_eq!(
            (t.entries.capacity(), t.names.capacity()),
            (10_000, bytes),
            "never grown by doubling"
        );
        // The stored check's 56 (its message's tag: control::stored) and
        // the name's span.
        assert!(std::mem::size_of::<CheckEntry>() <= 64);
    }
}
