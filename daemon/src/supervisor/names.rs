//! Names kept one after another in one string, each found again by its
//! span: the parent's lists of the checks it accepts hold thousands of
//! names for the daemon's life, and a heap block per name was 48-64 bytes
//! of header and rounding a name on top of its bytes (issue 18).

/// Where a name is in its [`Names`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    start: u32,
    len: u32,
}

impl Span {
    /// Where the name ends (it fits: [`Names::push`] checked).
    pub fn end(self) -> u32 {
        self.start.saturating_add(self.len)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Names(String);

impl Names {
    pub fn with_capacity(bytes: usize) -> Self {
        Self(String::with_capacity(bytes))
    }

    /// Appends `name`; None (nothing added) past 4 GiB of names, beyond
    /// what any configuration has.
    pub fn push(&mut self, name: &str) -> Option<Span> {
        let (Ok(start), Ok(len)) = (u32::try_from(self.0.len()), u32::try_from(name.len())) else {
            return None;
        };
        start.checked_add(len)?;
        self.0.push_str(name);
        Some(Span { start, len })
    }

    /// The name at `s` ("" for a span not made here).
    pub fn get(&self, s: Span) -> &str {
        let start = s.start as usize;
        self.0.get(start..start + s.len as usize).unwrap_or("")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_found_by_span() {
        let mut n = Names::default();
        let mut spans: Vec<Span> = ["alpha", "", "beta", "gamma"]
            .iter()
            .map(|s| n.push(s).unwrap())
            .collect();
        assert_eq!(n.get(spans[2]), "beta");
        assert_eq!(n.get(spans[1]), "");
        assert_eq!(n.bytes(), 14);
        assert_eq!(n.between(spans[2].start, spans[2].end()), "beta");
        assert_eq!(n.between(9, 99), "", "a range from elsewhere");
        spans.retain(|&s| n.get(s) != "beta");
        let names: Vec<&str> = spans.iter().map(|&s| n.get(s)).collect();
        assert_eq!(names, ["alpha", "", "gamma"]);
        assert_eq!(
            Names::default().get(Span { start: 3, len: 9 }),
            "",
            "a span from elsewhere"
        );
    }
}
