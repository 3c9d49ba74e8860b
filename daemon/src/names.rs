//! Names kept one after another in one string, each found again by its
//! position: the parent's lists of the checks it accepts and the checker's
//! list of the checks it runs hold thousands of names for the daemon's
//! life. A heap block per name was 48-64 bytes of header and rounding on
//! top of its bytes, and 16 more for its pointer and length; one string
//! of whole names was still 0.4 MiB in each process at 10,000 real
//! servers, most of it prefixes repeated (`real_server:10.0.0.1:80/...`).
//! So a name keeps only what follows the prefix it shares with the first
//! name of its run of [`RUN`]: a few bytes each for real servers listed
//! together (issue 18). A name read back is a [`Name`]: that prefix and
//! its own bytes, compared, ordered, hashed and printed as one string.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

/// Names per run: the first is kept whole, the others after what they
/// share with it (so any name is two pieces, read at once).
const RUN: usize = 16;
/// Most bytes of a shared prefix counted (kept in one byte).
const SHARED_MAX: usize = u8::MAX as usize;

/// A name as a [`NameList`] keeps it: a prefix and the rest. Equal,
/// ordered, hashed and printed as the string they make together.
#[derive(Clone, Copy, Debug, Default)]
pub struct Name<'a> {
    head: &'a str,
    tail: &'a str,
}

impl<'a> Name<'a> {
    pub fn len(&self) -> usize {
        self.head.len() + self.tail.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes in order.
    pub fn bytes(&self) -> impl Iterator<Item = u8> + 'a {
        self.head.bytes().chain(self.tail.bytes())
    }

    pub fn starts_with(&self, prefix: &str) -> bool {
        self.len() >= prefix.len()
            && cmp_pieces(self.pieces(), [prefix.as_bytes(), b""], Some(prefix.len()))
                == Ordering::Equal
    }

    /// The name in one string: borrowed when it is kept in one piece.
    pub fn to_cow(&self) -> std::borrow::Cow<'a, str> {
        match (self.head, self.tail) {
            ("", one) | (one, "") => one.into(),
            (head, tail) => [head, tail].concat().into(),
        }
    }

    fn pieces(&self) -> [&'a [u8]; 2] {
        [self.head.as_bytes(), self.tail.as_bytes()]
    }
}

impl<'a> From<&'a str> for Name<'a> {
    fn from(s: &'a str) -> Self {
        Self { head: s, tail: "" }
    }
}

impl<'a> From<&'a String> for Name<'a> {
    fn from(s: &'a String) -> Self {
        s.as_str().into()
    }
}

/// Compares two strings given in two pieces each, as their concatenations
/// (their first `limit` bytes only, when given).
fn cmp_pieces(a: [&[u8]; 2], b: [&[u8]; 2], limit: Option<usize>) -> Ordering {
    let (mut x, mut y) = (a[0], b[0]);
    let (mut x_last, mut y_last) = (false, false);
    let mut left = limit.unwrap_or(usize::MAX);
    loop {
        if x.is_empty() && !x_last {
            (x, x_last) = (a[1], true);
            continue;
        }
        if y.is_empty() && !y_last {
            (y, y_last) = (b[1], true);
            continue;
        }
        let n = x.len().min(y.len()).min(left);
        if n == 0 {
            // Compared as far as asked, or one has ended: the shorter first.
            return match left {
                0 => Ordering::Equal,
                _ => y.is_empty().cmp(&x.is_empty()),
            };
        }
        match x[..n].cmp(&y[..n]) {
            Ordering::Equal => {}
            o => return o,
        }
        (x, y, left) = (&x[n..], &y[n..], left - n);
    }
}

impl PartialEq for Name<'_> {
    fn eq(&self, other: &Self) -> bool {
        if self.len() != other.len() {
            return false;
        }
        // A name looked up is one piece: compared a piece at a time.
        let (one, two) = match (self.tail, other.tail) {
            (_, "") => (other.head, self),
            ("", _) => (self.head, other),
            _ => return self.cmp(other) == Ordering::Equal,
        };
        let (head, tail) = one.as_bytes().split_at(two.head.len());
        head == two.head.as_bytes() && tail == two.tail.as_bytes()
    }
}

impl Eq for Name<'_> {}

impl PartialEq<str> for Name<'_> {
    fn eq(&self, other: &str) -> bool {
        *self == Name::from(other)
    }
}

impl PartialEq<&str> for Name<'_> {
    fn eq(&self, other: &&str) -> bool {
        *self == Name::from(*other)
    }
}

impl Ord for Name<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_pieces(self.pieces(), other.pieces(), None)
    }
}

impl PartialOrd for Name<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Hash for Name<'_> {
    /// As the whole string's bytes, however they are split (tested for
    /// the hasher the parent's index uses).
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(self.head.as_bytes());
        state.write(self.tail.as_bytes());
        state.write_u8(0xff);
    }
}

impl fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.head)?;
        f.write_str(self.tail)
    }
}

impl serde::Serialize for Name<'_> {
    /// As one string: `collect_str` went through the formatting machinery
    /// for the two pieces (a tenth of the parent's instructions per check
    /// in status.json at 500 checks, issue 18); a name put together on the
    /// stack when it fits, as most do.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        const ON_STACK: usize = 128;
        if self.tail.is_empty() {
            return s.serialize_str(self.head);
        }
        if self.head.is_empty() {
            return s.serialize_str(self.tail);
        }
        let n = self.head.len() + self.tail.len();
        let mut buf = [0u8; ON_STACK];
        if let Some(whole) = buf.get_mut(..n) {
            let (a, b) = whole.split_at_mut(self.head.len());
            a.copy_from_slice(self.head.as_bytes());
            b.copy_from_slice(self.tail.as_bytes());
            // Two strs split at a char boundary of the name they make.
            if let Ok(t) = std::str::from_utf8(whole) {
                return s.serialize_str(t);
            }
        }
        s.collect_str(self)
    }
}

/// Names in order, each found by its position: its own bytes in one
/// string, where they end (4 bytes) and how much of its run's first name
/// comes before them (1 byte).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NameList {
    bytes: String,
    ends: Vec<u32>,
    shared: Vec<u8>,
}

/// How many leading bytes of `a` and `b` are the same, up to
/// [`SHARED_MAX`] and ending between characters.
fn shared_prefix(whole: &str, b: Name<'_>) -> usize {
    let a = whole.as_bytes();
    let a = a.get(..SHARED_MAX).unwrap_or(a);
    let head = same_bytes(a, b.head.as_bytes());
    let mut n = match a.get(head..) {
        Some(rest) if head == b.head.len() => head + same_bytes(rest, b.tail.as_bytes()),
        _ => head,
    };
    // Equal bytes up to a boundary of `whole` are whole characters of `b`
    // too (and the count may have stopped inside one at SHARED_MAX).
    while !whole.is_char_boundary(n) {
        n -= 1;
    }
    n
}

/// How many leading bytes of `a` and `b` are the same (eight compared at
/// a time: a configuration's names are pushed several times a reload).
fn same_bytes(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut i = 0;
    while i + 8 <= n && a[i..i + 8] == b[i..i + 8] {
        i += 8;
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

impl NameList {
    /// Room for `names` names of up to `bytes` bytes in all.
    pub fn with_capacity(names: usize, bytes: usize) -> Self {
        Self {
            bytes: String::with_capacity(bytes),
            ends: Vec::with_capacity(names),
            shared: Vec::with_capacity(names),
        }
    }

    /// Bytes held, used or not.
    pub fn held(&self) -> usize {
        self.bytes.capacity()
            + self.ends.capacity() * std::mem::size_of::<u32>()
            + self.shared.capacity()
    }

    /// Bytes held beyond what is used.
    pub fn spare(&self) -> usize {
        self.held()
            - self.bytes.len()
            - self.ends.len() * std::mem::size_of::<u32>()
            - self.shared.len()
    }

    /// Appends `name`; false (nothing added) past 4 GiB of names.
    pub fn push<'n>(&mut self, name: impl Into<Name<'n>>) -> bool {
        let name = name.into();
        let pos = self.ends.len();
        let shared = match pos % RUN {
            0 => 0,
            _ => shared_prefix(self.own(pos - pos % RUN), name),
        };
        // What follows the shared prefix: a boundary of the whole name,
        // so of the piece it falls in.
        let (head, tail) = match shared.checked_sub(name.head.len()) {
            None => (name.head.get(shared..).unwrap_or_default(), name.tail),
            Some(into_tail) => ("", name.tail.get(into_tail..).unwrap_or_default()),
        };
        let (Ok(start), Ok(len), Ok(shared)) = (
            u32::try_from(self.bytes.len()),
            u32::try_from(head.len() + tail.len()),
            u8::try_from(shared),
        ) else {
            return false;
        };
        let Some(end) = start.checked_add(len) else {
            return false;
        };
        self.bytes.push_str(head);
        self.bytes.push_str(tail);
        self.ends.push(end);
        self.shared.push(shared);
        true
    }

    /// The bytes kept for the name at `pos` ("" past the end).
    fn own(&self, pos: usize) -> &str {
        let Some(&end) = self.ends.get(pos) else {
            return "";
        };
        let start = pos
            .checked_sub(1)
            .and_then(|p| self.ends.get(p))
            .copied()
            .unwrap_or(0);
        self.bytes.get(start as usize..end as usize).unwrap_or("")
    }

    /// The name at `pos` (empty past the end).
    pub fn get(&self, pos: usize) -> Name<'_> {
        let Some(&shared) = self.shared.get(pos) else {
            return Name::default();
        };
        Name {
            head: self
                .own(pos - pos % RUN)
                .get(..usize::from(shared))
                .unwrap_or(""),
            tail: self.own(pos),
        }
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = Name<'_>> {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Gives back the room the lists grew.
    pub fn shrink_to_fit(&mut self) {
        self.bytes.shrink_to_fit();
        self.ends.shrink_to_fit();
        self.shared.shrink_to_fit();
    }
}

impl<S: AsRef<str>> FromIterator<S> for NameList {
    /// The names in order (any past 4 GiB of names left out).
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut out = Self::default();
        for n in iter {
            out.push(n.as_ref());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_list_reads_back_its_names_in_order() {
        let given = [
            "real_server:é",
            "script:a",
            "",
            "real_server:10.0.0.1:80/tcp/10.0.1.2:80",
            "real_server:10.0.0.1:80/tcp/10.0.1.3:80",
            "real_server:10.0.0.1:80/tcp/10.0.1.3:8",
            "real_server:è",
        ];
        let l: NameList = given.iter().collect();
        assert_eq!(l.len(), given.len());
        assert_eq!(l.iter().map(|n| n.to_string()).collect::<Vec<_>>(), given);
        assert!(l.get(given.len()).is_empty(), "past the end");
        assert!(NameList::default().is_empty());
        // è shares the lead byte of é's encoding, not the character.
        assert_eq!(l.get(6).head, "real_server:");
    }

    /// Issue 18: a name serialises as its whole text, however it is
    /// split, short (put together on the stack) or long (written in
    /// pieces), with what JSON escapes.
    #[test]
    fn a_name_serialises_as_its_text() {
        let long = format!("script:{}", "y".repeat(300));
        let given = [
            "real_server:10.0.0.1:80/tcp/10.0.1.2:80",
            "real_server:10.0.0.1:80/tcp/10.0.1.3:80",
            "script:\"quoted\"\n",
            "script:\"quoted\"\t",
            long.as_str(),
            &format!("{long}z"),
            "",
        ];
        let l: NameList = given.iter().collect();
        assert!(!l.get(1).head.is_empty() && !l.get(1).tail.is_empty());
        for (i, g) in given.iter().enumerate() {
            assert_eq!(
                serde_json::to_string(&l.get(i)).unwrap(),
                serde_json::to_string(g).unwrap()
            );
        }
    }

    /// A shared prefix is counted to 255 bytes at most, cut before a
    /// character that straddles that point.
    #[test]
    fn long_shared_prefixes_end_between_characters() {
        for pad in 250..258 {
            let lead = "x".repeat(pad);
            let given = [format!("{lead}€€a"), format!("{lead}€€b"), lead.clone()];
            let l: NameList = given.iter().collect();
            for (i, g) in given.iter().enumerate() {
                assert_eq!(l.get(i).to_string(), *g, "pad {pad}");
                assert!(l.get(i).head.len() <= SHARED_MAX);
            }
        }
    }

    #[test]
    fn runs_of_real_servers_keep_a_few_bytes_a_name() {
        let given: Vec<String> = (0..10_000)
            .map(|i| {
                format!(
                    "real_server:10.200.0.{}:80/127.0.0.1:{}",
                    i / 100 + 1,
                    20_000 + i % 100
                )
            })
            .collect();
        let mut l = NameList::with_capacity(given.len(), given.iter().map(String::len).sum());
        for n in &given {
            assert!(l.push(n));
        }
        l.shrink_to_fit();
        assert!(l.iter().zip(&given).all(|(n, g)| n == g.as_str()));
        let whole: usize = given.iter().map(String::len).sum();
        // Whole names and a 4-byte end each were 440 KB here.
        assert!(l.held() * 4 < whole, "{} bytes for {whole}", l.held());
        assert_eq!(l.spare(), 0);
    }

    #[test]
    fn a_name_in_pieces_is_the_string_they_make() {
        let whole = "real_server:10.0.0.1:80/10.0.1.2:80";
        let h = std::collections::hash_map::RandomState::new();
        for cut in 0..=whole.len() {
            let n = Name {
                head: &whole[..cut],
                tail: &whole[cut..],
            };
            assert_eq!(n, whole);
            assert_eq!(n, Name::from(whole));
            assert_eq!(n.cmp(&Name::from(whole)), Ordering::Equal);
            assert_eq!(h.hash_one(n), h.hash_one(Name::from(whole)), "cut at {cut}");
            assert_eq!(n.to_string(), whole);
            assert_eq!(n.to_cow(), whole);
            assert!(n.starts_with("real_server:"));
            assert!(n.starts_with(whole));
            assert!(!n.starts_with("real_server:10.0.0.2"));
            assert!(!n.starts_with("real_server:10.0.0.1:80/10.0.1.2:80:"));
            assert_eq!(serde_json::to_string(&n).unwrap(), format!("{whole:?}"));
        }
        assert_ne!(Name::from("ab"), Name::from("abc"));
        assert!(Name::from("ab") < Name::from("abc"));
        assert!(
            Name {
                head: "a",
                tail: "c"
            } > Name::from("abz")
        );
    }

    fn names() -> impl Strategy<Value = Vec<String>> {
        // Few letters, multi-byte ones among them: long shared prefixes
        // that end inside a character's encoding.
        prop::collection::vec("[ab/é€:]{0,24}", 0..60)
    }

    proptest! {
        #[test]
        fn any_list_reads_back_compares_and_hashes_as_its_strings(given in names()) {
            let l: NameList = given.iter().collect();
            let h = std::collections::hash_map::RandomState::new();
            prop_assert_eq!(l.len(), given.len());
            for (i, g) in given.iter().enumerate() {
                let n = l.get(i);
                prop_assert_eq!(n.to_string(), g.clone());
                prop_assert_eq!(h.hash_one(n), h.hash_one(Name::from(g.as_str())));
                for (j, o) in given.iter().enumerate() {
                    prop_assert_eq!(n.cmp(&l.get(j)), g.cmp(o));
                    prop_assert_eq!(n == l.get(j), g == o);
                }
            }
        }
    }
}
