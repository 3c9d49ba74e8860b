//! The next deadline of many timers, sans-IO: each key has at most one
//! deadline; the earliest, and the keys due at `now`, are found without
//! looking at every key. With 1,000 instances at advert_int 0.1 s the
//! worker wakes 10,000 times a second: a scan of every instance per wake
//! was most of its CPU.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;
use std::time::Instant;

#[derive(Debug)]
pub struct Deadlines<K> {
    by_time: BTreeSet<(Instant, K)>,
    by_key: HashMap<K, Instant>,
}

impl<K> Default for Deadlines<K> {
    fn default() -> Self {
        Self {
            by_time: BTreeSet::new(),
            by_key: HashMap::new(),
        }
    }
}

impl<K: Ord + Hash + Clone> Deadlines<K> {
    /// Sets (Some) or clears (None) `key`'s deadline.
    pub fn set(&mut self, key: &K, at: Option<Instant>) {
        if self.by_key.get(key).copied() == at {
            return;
        }
        if let Some(old) = self.by_key.remove(key) {
            self.by_time.remove(&(old, key.clone()));
        }
        if let Some(at) = at {
            self.by_key.insert(key.clone(), at);
            self.by_time.insert((at, key.clone()));
        }
    }

    pub fn get(&self, key: &K) -> Option<Instant> {
        self.by_key.get(key).copied()
    }

    /// The earliest deadline.
    pub fn first(&self) -> Option<Instant> {
        self.by_time.first().map(|(t, _)| *t)
    }

    /// The keys whose deadline is at or before `now`, earliest first (they
    /// stay set: the owner sets each key's next deadline).
    pub fn due(&self, now: Instant) -> Vec<K> {
        self.by_time
            .iter()
            .take_while(|(t, _)| *t <= now)
            .map(|(_, k)| k.clone())
            .collect()
    }

    /// Keeps the keys `keep` says yes to.
    pub fn retain(&mut self, mut keep: impl FnMut(&K) -> bool) {
        self.by_key.retain(|k, _| keep(k));
        let by_key = &self.by_key;
        self.by_time.retain(|(_, k)| by_key.contains_key(k));
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_earliest_and_the_due_follow_every_change() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut d = Deadlines::default();
        assert_eq!(d.first(), None);
        d.set(&1usize, Some(ms(30)));
        d.set(&2, Some(ms(10)));
        d.set(&3, Some(ms(20)));
        assert_eq!(d.first(), Some(ms(10)));
        assert_eq!(d.due(ms(20)), vec![2, 3]);
        // Moving a key moves it, not copies it.
        d.set(&2, Some(ms(40)));
        assert_eq!(d.first(), Some(ms(20)));
        assert_eq!(d.due(ms(35)), vec![3, 1]);
        assert_eq!(d.len(), 3);
        // Two keys at the same time are both kept.
        d.set(&4, Some(ms(20)));
        assert_eq!(d.due(ms(20)), vec![3, 4]);
        d.set(&3, None);
        d.set(&3, None);
        assert_eq!(d.get(&3), None);
        assert_eq!(d.due(ms(100)), vec![4, 1, 2]);
        d.retain(|k| *k != 1);
        assert_eq!(d.due(ms(100)), vec![4, 2]);
        assert_eq!(d.len(), 2);
    }
}
