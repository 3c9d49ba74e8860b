//! Names kept one after another in one string, each found again by the
//! byte range it was given: the parent's lists of the checks it accepts
//! and the checker's list of the checks it runs hold thousands of names
//! for the daemon's life, and a heap block per name was 48-64 bytes of
//! header and rounding a name on top of its bytes, and 16 more for its
//! pointer and length (issue 18).

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Names(String);

impl Names {
    pub fn with_capacity(bytes: usize) -> Self {
        Self(String::with_capacity(bytes))
    }

    /// Appends `name` and returns where it ends (it starts where the name
    /// before it ended); None (nothing added) past 4 GiB of names, beyond
    /// what any configuration has.
    pub fn push(&mut self, name: &str) -> Option<u32> {
        let (Ok(start), Ok(len)) = (u32::try_from(self.0.len()), u32::try_from(name.len())) else {
            return None;
        };
        let end = start.checked_add(len)?;
        self.0.push_str(name);
        Some(end)
    }

    /// The text from byte `start` to `end` ("" for a range not made here).
    pub fn between(&self, start: u32, end: u32) -> &str {
        self.0.get(start as usize..end as usize).unwrap_or("")
    }

    /// The bytes of all names.
    pub fn bytes(&self) -> usize {
        self.0.len()
    }

    /// The bytes held, used or not.
    pub fn capacity(&self) -> usize {
        self.0.capacity()
    }

    pub fn shrink_to_fit(&mut self) {
        self.0.shrink_to_fit();
    }
}

/// Names in order, each found by its position: [`Names`] and where each
/// ends (4 bytes a name).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NameList {
    names: Names,
    ends: Vec<u32>,
}

impl NameList {
    /// Room for `names` names of `bytes` bytes in all.
    pub fn with_capacity(names: usize, bytes: usize) -> Self {
        Self {
            names: Names::with_capacity(bytes),
            ends: Vec::with_capacity(names),
        }
    }

    /// Bytes held, used or not.
    pub fn held(&self) -> usize {
        self.names.capacity() + self.ends.capacity() * std::mem::size_of::<u32>()
    }

    /// Room held beyond what is used: (bytes of names, ends).
    pub fn spare(&self) -> (usize, usize) {
        (
            self.names.capacity() - self.names.bytes(),
            self.ends.capacity() - self.ends.len(),
        )
    }

    /// Appends `name`; false (nothing added) past 4 GiB of names.
    pub fn push(&mut self, name: &str) -> bool {
        match self.names.push(name) {
            Some(end) => {
                self.ends.push(end);
                true
            }
            None => false,
        }
    }

    /// The name at `pos` ("" past the end).
    pub fn get(&self, pos: usize) -> &str {
        let Some(&end) = self.ends.get(pos) else {
            return "";
        };
        let start = pos
            .checked_sub(1)
            .and_then(|p| self.ends.get(p))
            .copied()
            .unwrap_or(0);
        self.names.between(start, end)
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Gives back the room the lists grew.
    pub fn shrink_to_fit(&mut self) {
        self.names.shrink_to_fit();
        self.ends.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_reads_back_its_names_in_order() {
        let mut l = NameList::default();
        for n in ["script:a", "", "real_server:10.0.0.1:80/tcp/10.0.1.2:80"] {
            assert!(l.push(n));
        }
        assert_eq!(l.len(), 3);
        assert_eq!(
            l.iter().collect::<Vec<_>>(),
            ["script:a", "", "real_server:10.0.0.1:80/tcp/10.0.1.2:80"]
        );
        assert_eq!(l.get(3), "", "past the end");
        assert!(NameList::default().is_empty());
    }

    #[test]
    fn names_are_found_by_their_range() {
        let mut n = Names::default();
        let ends: Vec<u32> = ["alpha", "", "beta", "gamma"]
            .iter()
            .map(|s| n.push(s).unwrap())
            .collect();
        assert_eq!(ends, [5, 5, 9, 14]);
        assert_eq!(n.between(ends[1], ends[2]), "beta");
        assert_eq!(n.between(ends[0], ends[1]), "");
        assert_eq!(n.bytes(), 14);
        let names: Vec<&str> = std::iter::once(0)
            .chain(ends.iter().copied())
            .zip(ends.iter().copied())
            .map(|(start, end)| n.between(start, end))
            .collect();
        assert_eq!(names, ["alpha", "", "beta", "gamma"]);
        assert_eq!(n.between(9, 99), "", "a range from elsewhere");
        assert_eq!(
            Names::default().between(3, 12),
            "",
            "a range from elsewhere"
        );
    }
}
