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

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RealServerHealth {
    by_vs: BTreeMap<String, Members>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Members {
    names: String,
    /// Sorted by name.
    sorted: Vec<Member>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Member {
    start: u32,
    len: u32,
    up: bool,
}

impl Members {
    fn name(&self, m: &Member) -> &str {
        let start = m.start as usize;
        self.names.get(start..start + m.len as usize).unwrap_or("")
    }

    fn find(&self, rs: &str) -> Result<usize, usize> {
        self.sorted.binary_search_by(|m| self.name(m).cmp(rs))
    }

    /// Keeps the members `keep` says, their names packed again.
    fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        let old = std::mem::take(&mut self.names);
        let name = |m: &Member| {
            let start = m.start as usize;
            old.get(start..start + m.len as usize).unwrap_or("")
        };
        self.sorted.retain(|m| keep(name(m)));
        let mut names = String::with_capacity(self.sorted.iter().map(|m| m.len as usize).sum());
        for m in &mut self.sorted {
            let n = name(m);
            // Shorter than before: the offsets fit.
            m.start = names.len() as u32;
            names.push_str(n);
        }
        self.names = names;
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
                let (Ok(start), Ok(len)) =
                    (u32::try_from(members.names.len()), u32::try_from(rs.len()))
                else {
                    return None;
                };
                start.checked_add(len)?;
                members.names.push_str(rs);
                members.sorted.insert(i, Member { start, len, up });
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
        assert_eq!(h.by_vs["vs1"].names, "10.0.0.2:80");
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
