//! The real servers' health as the checker last reported it, per virtual
//! server, kept for a restarted IPVS worker (replay), notify scripts, mail
//! and `omega`. Pure data.
//!
//! Why not two maps of lists of owned names (up, down), as before: at
//! 10,000 real servers those were 0.48 MiB of the parent (a heap block per
//! name and a 24-byte slot per list entry; heaptrack, issue 18), and each
//! lookup walked a virtual server's lists, which made a virtual server's
//! live weight quadratic in its real servers. Here a virtual server's names
//! sit one after another in one string, with a sorted list of (start,
//! length, up) to search.

use std::collections::BTreeMap;

use super::names::{Names, Span};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RealServerHealth {
    by_vs: BTreeMap<String, Members>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Members {
    names: Names,
    /// Sorted by name.
    sorted: Vec<Member>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Member {
    name: Span,
    up: bool,
}

impl Members {
    fn name(&self, m: &Member) -> &str {
        self.names.get(m.name)
    }

    fn find(&self, rs: &str) -> Result<usize, usize> {
        self.sorted.binary_search_by(|m| self.name(m).cmp(rs))
    }

    /// Keeps the members `keep` says, their names packed again.
    fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        let names = &self.names;
        self.sorted.retain(|m| keep(names.get(m.name)));
        self.names
            .repack(self.sorted.iter_mut().map(|m| &mut m.name));
        self.sorted.shrink_to_fit();
    }
}

impl RealServerHealth {
    /// Records `rs` of `vs` as up or down; what was recorded before. A name
    /// beyond 4 GiB of a virtual server's names is not kept (the checker
    /// reports only configured real servers, whose names are far shorter).
    pub fn set(&mut self, vs: &str, rs: &str, up: bool) -> Option<bool> {
        let members = match self.by_vs.get_mut(vs) {
            Some(m) => m,
            None => self.by_vs.entry(vs.to_string()).or_default(),
        };
        match members.find(rs) {
            Ok(i) => Some(std::mem::replace(&mut members.sorted[i].up, up)),
            Err(i) => {
                let name = members.names.push(rs)?;
                members.sorted.insert(i, Member { name, up });
                None
            }
        }
    }

    /// What was last recorded for `rs` of `vs`.
    pub fn get(&self, vs: &str, rs: &str) -> Option<bool> {
        let members = self.by_vs.get(vs)?;
        members.find(rs).ok().map(|i| members.sorted[i].up)
    }

    /// Keeps the real servers `keep(vs, rs)` says; a virtual server left
    /// with none goes.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) {
        for (vs, members) in &mut self.by_vs {
            members.retain(|rs| keep(vs, rs));
        }
        self.by_vs.retain(|_, m| !m.sorted.is_empty());
    }

    /// Every real server recorded: (virtual server, real server, up).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, bool)> {
        self.by_vs.iter().flat_map(|(vs, members)| {
            members
                .sorted
                .iter()
                .map(move |m| (vs.as_str(), members.name(m), m.up))
        })
    }

    /// The real servers up (or down), by virtual server, as a restarted
    /// worker is told them; every virtual server recorded has a list.
    pub fn lists(&self, up: bool) -> BTreeMap<String, Vec<String>> {
        self.by_vs
            .iter()
            .map(|(vs, members)| {
                let list = members
                    .sorted
                    .iter()
                    .filter(|m| m.up == up)
                    .map(|m| members.name(m).to_string())
                    .collect();
                (vs.clone(), list)
            })
            .collect()
    }

    /// From the lists a previous image handed over (a real server in both
    /// takes the later, down).
    pub fn from_lists(
        up: &BTreeMap<String, Vec<String>>,
        down: &BTreeMap<String, Vec<String>>,
    ) -> Self {
        let mut this = Self::default();
        for (lists, is_up) in [(up, true), (down, false)] {
            for (vs, list) in lists {
                for rs in list {
                    this.set(vs, rs, is_up);
                }
            }
        }
        this
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Set, read, replaced, listed and forgotten; names packed again when
    /// some go; 10,000 in one virtual server each found again.
    #[test]
    fn real_servers_are_found_by_name_and_listed_by_state() {
        let mut h = RealServerHealth::default();
        assert_eq!(h.set("vs1", "10.0.0.2:80", false), None);
        assert_eq!(h.set("vs1", "10.0.0.1:80", true), None);
        assert_eq!(h.set("vs2", "10.0.0.1:80", false), None);
        assert_eq!(h.set("vs1", "10.0.0.2:80", true), Some(false));
        assert_eq!(h.get("vs1", "10.0.0.2:80"), Some(true));
        assert_eq!(h.get("vs2", "10.0.0.1:80"), Some(false));
        assert_eq!(h.get("vs2", "10.0.0.2:80"), None);
        assert_eq!(h.get("vs3", "10.0.0.2:80"), None);
        let up = h.lists(true);
        assert_eq!(up["vs1"], vec!["10.0.0.1:80", "10.0.0.2:80"]);
        assert!(up["vs2"].is_empty(), "every virtual server has a list");
        assert_eq!(h.lists(false)["vs2"], vec!["10.0.0.1:80"]);
        assert!(
            RealServerHealth::from_lists(&h.lists(true), &h.lists(false))
                .iter()
                .eq(h.iter())
        );
        h.retain(|vs, rs| vs == "vs1" && rs.ends_with("2:80"));
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            vec![("vs1", "10.0.0.2:80", true)]
        );
        let vs1 = &h.by_vs["vs1"];
        assert_eq!(
            (vs1.names.bytes(), vs1.names.get(vs1.sorted[0].name)),
            ("10.0.0.2:80".len(), "10.0.0.2:80"),
            "names packed again"
        );
        let mut big = RealServerHealth::default();
        for i in 0..10_000u32 {
            let [a, b, c, d] = i.to_be_bytes();
            big.set("vs", &format!("{a}.{b}.{c}.{d}:80"), i % 3 == 0);
        }
        for i in 0..10_000u32 {
            let [a, b, c, d] = i.to_be_bytes();
            assert_eq!(
                big.get("vs", &format!("{a}.{b}.{c}.{d}:80")),
                Some(i % 3 == 0)
            );
        }
        assert!(std::mem::size_of::<Member>() <= 12);
    }
}
