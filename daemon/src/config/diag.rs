//! Diagnostics: `FILE:LINE:COL: error: MESSAGE`, collected rather than
//! returned one at a time, so a single run reports every problem.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::sync::Arc;

/// A position in a configuration file (1-based line and column).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    pub file: Arc<str>,
    pub line: u32,
    pub col: u32,
}

impl Location {
    pub fn new(file: &Arc<str>, line: u32, col: u32) -> Self {
        Self {
            file: Arc::clone(file),
            line,
            col,
        }
    }

    /// Position of byte `offset` in `text` (columns count characters, not bytes).
    pub fn from_offset(file: &Arc<str>, text: &str, offset: usize) -> Self {
        let offset = offset.min(text.len());
        let before = text.get(..offset).unwrap_or(text);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
        Self::new(file, clamp_u32(line), clamp_u32(col))
    }
}

/// Positions of many offsets in one text: the line starts are found once,
/// then each offset is a binary search (`Location::from_offset` scans the
/// text from its start, which made a large TOML file's positions
/// quadratic).
pub struct Lines<'t> {
    file: Arc<str>,
    text: &'t str,
    starts: Vec<usize>,
}

impl<'t> Lines<'t> {
    pub fn new(file: &Arc<str>, text: &'t str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self {
            file: Arc::clone(file),
            text,
            starts,
        }
    }

    /// The same as `Location::from_offset(file, text, offset)`.
    pub fn at(&self, offset: usize) -> Location {
        let offset = offset.min(self.text.len());
        // The last line start at or before `offset` (index 0 is always 0).
        let idx = self
            .starts
            .partition_point(|&s| s <= offset)
            .saturating_sub(1);
        let start = self.starts.get(idx).copied().unwrap_or(0);
        let col = self
            .text
            .get(start..offset)
            .map_or(0, |s| s.chars().count())
            + 1;
        Location::new(&self.file, clamp_u32(idx + 1), clamp_u32(col))
    }
}

fn clamp_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub location: Option<Location>,
    pub message: String,
    /// Set for "accepted but not supported" warnings: the keyword's name.
    pub unsupported: Option<String>,
    /// For those: the reader left it out of the model (so `convert` drops it).
    pub dropped: bool,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(loc) => write!(f, "{loc}: {}: {}", self.severity, self.message),
            None => write!(f, "{}: {}", self.severity, self.message),
        }
    }
}

/// Everything said about one configuration load.
#[derive(Clone, Debug, Default)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
    unsupported_seen: HashSet<String>,
}

impl Diagnostics {
    pub fn error(&mut self, location: Option<&Location>, message: impl Into<String>) {
        self.push(Severity::Error, location, message.into());
    }

    pub fn warning(&mut self, location: Option<&Location>, message: impl Into<String>) {
        self.push(Severity::Warning, location, message.into());
    }

    /// A keyword keepalived knows and upkeep does not implement, left out of
    /// the model: one warning per keyword name and load, at its first occurrence.
    pub fn unsupported(&mut self, location: Option<&Location>, keyword: &str) {
        self.not_implemented(location, keyword, true);
    }

    /// A setting the model holds but upkeep does not act on (such as `auth_type AH`).
    pub fn unsupported_kept(&mut self, location: Option<&Location>, keyword: &str) {
        self.not_implemented(location, keyword, false);
    }

    fn not_implemented(&mut self, location: Option<&Location>, keyword: &str, dropped: bool) {
        if self.unsupported_seen.insert(keyword.to_string()) {
            self.items.push(Diagnostic {
                severity: Severity::Warning,
                location: location.cloned(),
                message: format!("'{keyword}' is accepted but not supported; it has no effect"),
                unsupported: Some(keyword.to_string()),
                dropped,
            });
        }
    }

    fn push(&mut self, severity: Severity, location: Option<&Location>, message: String) {
        self.items.push(Diagnostic {
            severity,
            location: location.cloned(),
            message,
            unsupported: None,
            dropped: false,
        });
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    /// The messages of one severity, as printed (`FILE:LINE:COL: ...`), in
    /// the order they were found.
    pub fn messages(&self, severity: Severity) -> Vec<String> {
        self.items
            .iter()
            .filter(|d| d.severity == severity)
            .map(ToString::to_string)
            .collect()
    }

    pub fn error_count(&self) -> usize {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    pub fn items(&self) -> &[Diagnostic] {
        &self.items
    }

    /// Names of the "accepted but not supported" keywords, in order of appearance.
    pub fn unsupported_keywords(&self) -> Vec<&str> {
        self.items
            .iter()
            .filter_map(|d| d.unsupported.as_deref())
            .collect()
    }

    /// The keywords the reader left out of the model: what `convert` cannot carry over.
    pub fn dropped_keywords(&self) -> Vec<&str> {
        self.items
            .iter()
            .filter(|d| d.dropped)
            .filter_map(|d| d.unsupported.as_deref())
            .collect()
    }

    /// Diagnostics ordered by file, line and column (unlocated ones last).
    pub fn sorted(&self) -> Vec<&Diagnostic> {
        let mut v: Vec<&Diagnostic> = self.items.iter().collect();
        v.sort_by(|a, b| match (&a.location, &b.location) {
            (Some(x), Some(y)) => x.cmp(y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        });
        v
    }
}

/// The closest candidate to a misspelt word, if one is close enough to be a
/// plausible typo (case-insensitive edit distance at most a third of its length).
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    let candidates: Vec<&'a str> = candidates.into_iter().collect();
    // keepalived dropped or added a `vrrp_` prefix on some keywords
    // (`vrrp_nftables` is `nftables`): the same name up to it comes first.
    let other = match lower.strip_prefix("vrrp_") {
        Some(rest) => rest.to_string(),
        None => format!("vrrp_{lower}"),
    };
    if let Some(c) = candidates.iter().find(|c| c.eq_ignore_ascii_case(&other)) {
        return Some(c);
    }
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| {
            (
                strsim::damerau_levenshtein(&lower, &c.to_ascii_lowercase()),
                c,
            )
        })
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `; did you mean 'x'?` or the empty string.
pub fn suggestion<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    did_you_mean(word, candidates)
        .map(|c| format!("; did you mean '{c}'?"))
        .unwrap_or_default()
}

/// Where things in the model came from, so validation can point at the line.
/// Always compares equal: a model read from TOML equals the same model read
/// from keepalived.conf even though their positions differ. Boxed, and
/// nothing once forgotten (`Config::forget_positions`): every block of the
/// model has one, and the daemon keeps the model (at 10,000 real servers
/// each held 144 bytes of empty positions in the parent, issue 18).
#[derive(Clone, Debug, Default)]
pub struct Src(Option<Box<Positions>>);

#[derive(Clone, Debug, Default)]
struct Positions {
    at: Option<Location>,
    keys: BTreeMap<String, Location>,
    /// Keys whose value the reader rejected (already reported): validation
    /// skips them so that one mistake gives one error.
    rejected: BTreeSet<String>,
}

impl Src {
    pub fn new(at: Location) -> Self {
        Self(Some(Box::new(Positions {
            at: Some(at),
            ..Positions::default()
        })))
    }

    fn positions(&mut self) -> &mut Positions {
        self.0.get_or_insert_with(Box::default)
    }

    /// Where the block starts.
    pub fn at(&self) -> Option<&Location> {
        self.0.as_ref()?.at.as_ref()
    }

    pub fn set_at(&mut self, at: Location) {
        self.positions().at = Some(at);
    }

    /// The location of `key`, or of the enclosing block when the key was not written.
    pub fn key(&self, key: &str) -> Option<&Location> {
        self.written(key).or(self.at())
    }

    /// The location of `key` where it was written (None: it was not).
    pub fn written(&self, key: &str) -> Option<&Location> {
        self.0.as_ref()?.keys.get(key)
    }

    pub fn set(&mut self, key: impl Into<String>, loc: &Location) {
        self.positions()
            .keys
            .entry(key.into())
            .or_insert_with(|| loc.clone());
    }

    pub fn reject(&mut self, key: impl Into<String>) {
        self.positions().rejected.insert(key.into());
    }

    pub fn was_rejected(&self, key: &str) -> bool {
        self.0.as_ref().is_some_and(|p| p.rejected.contains(key))
    }
}

impl PartialEq for Src {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_give_the_same_positions_as_from_offset() {
        let file: Arc<str> = Arc::from("a.toml");
        for text in [
            "",
            "x",
            "\n",
            "a = 1\nbé = \"ü\"\n\n[[t]]\nk = 2",
            "\n\nlast",
        ] {
            let lines = Lines::new(&file, text);
            for offset in 0..=text.len() + 2 {
                if !text.is_char_boundary(offset.min(text.len())) {
                    continue;
                }
                assert_eq!(
                    lines.at(offset),
                    Location::from_offset(&file, text, offset),
                    "{text:?} at {offset}"
                );
            }
        }
    }

    #[test]
    fn display_has_file_line_col_severity() {
        let file: Arc<str> = Arc::from("a.conf");
        let mut d = Diagnostics::default();
        d.error(Some(&Location::new(&file, 3, 7)), "bad thing");
        d.warning(None, "meh");
        assert_eq!(d.items()[0].to_string(), "a.conf:3:7: error: bad thing");
        assert_eq!(d.items()[1].to_string(), "warning: meh");
        assert!(d.has_errors());
        assert_eq!(d.error_count(), 1);
    }

    #[test]
    fn unsupported_is_reported_once_per_keyword() {
        let mut d = Diagnostics::default();
        d.unsupported(None, "smtp_alert");
        d.unsupported(None, "smtp_alert");
        d.unsupported(None, "static_routes");
        assert_eq!(
            d.unsupported_keywords(),
            vec!["smtp_alert", "static_routes"]
        );
        assert!(!d.has_errors());
        assert!(d.items()[0].message.contains("accepted but not supported"));
    }

    #[test]
    fn suggestions_find_close_typos_only() {
        let kw = ["global_defs", "vrrp_instance", "virtual_server"];
        assert_eq!(did_you_mean("g1obal_defs", kw), Some("global_defs"));
        assert_eq!(did_you_mean("VRRP_INSTANCE", kw), Some("vrrp_instance"));
        assert_eq!(did_you_mean("completely_else", kw), None);
        let g = ["nftables", "vrrp_iptables", "vrrp_strict"];
        assert_eq!(did_you_mean("vrrp_nftables", g), Some("nftables"));
        assert_eq!(did_you_mean("strict", g), Some("vrrp_strict"));
        assert_eq!(
            suggestion("virtual_sever", kw),
            "; did you mean 'virtual_server'?"
        );
    }

    #[test]
    fn offsets_become_line_and_column() {
        let file: Arc<str> = Arc::from("x.toml");
        let text = "a = 1\nbb = 2\n";
        let loc = Location::from_offset(&file, text, 8);
        assert_eq!((loc.line, loc.col), (2, 3));
        let end = Location::from_offset(&file, text, 999);
        assert_eq!(end.line, 3);
    }
}
