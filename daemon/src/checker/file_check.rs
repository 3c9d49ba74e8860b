//! FILE_CHECK (keepalived's check_file.c and trackers/track_file.c): a
//! real server's health and weight from the number a track file holds.
//!
//! keepalived's rules, exactly:
//! - the number is `strtol(text, NULL, 0)` of the file's first 127 bytes
//!   (leading blanks, a sign, `0x` hex, `0` octal, trailing text ignored;
//!   no digits is 0); a missing or empty file is 0; a number out of
//!   range (beyond i64, or outside -2147483648..=2147483648) is ignored:
//!   the previous value stays. vrrp_track_file reads its files the same
//!   way ([`TrackFileValue`] serves both).
//! - weight 0: a non-zero number is down (with `reverse`: zero is down);
//!   the weight does not change.
//! - weight W: the server's weight changes by number × W (× -1 with
//!   `reverse`), clamped to i32; down only when that reaches
//!   -2147483648 (keepalived's IPVS_WEIGHT_FAULT).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use super::outcome::Outcome;

/// What a file's number means for the server that tracks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileState {
    pub up: bool,
    /// Added to the server's configured weight (0 when down).
    pub weight_delta: i64,
}

/// keepalived's IPVS_WEIGHT_FAULT.
const FAULT: i64 = i32::MIN as i64;

pub fn state(value: i64, weight: i32, reverse: bool) -> FileState {
    if weight == 0 {
        let down = if reverse { value == 0 } else { value != 0 };
        return FileState {
            up: !down,
            weight_delta: 0,
        };
    }
    let mult: i64 = if reverse { -1 } else { 1 };
    // |value| <= 2^31 and |weight| < 2^31: the product fits in i64.
    let status = (value * i64::from(weight) * mult).clamp(FAULT, i64::from(i32::MAX));
    if status == FAULT {
        FileState {
            up: false,
            weight_delta: 0,
        }
    } else {
        FileState {
            up: true,
            weight_delta: status,
        }
    }
}

/// keepalived's reading of a track file: `strtol(buf, NULL, 0)` of what
/// one read of at most 127 bytes returns. `None`: out of range, ignored.
pub fn parse(head: &[u8]) -> Option<i64> {
    let head = &head[..head.len().min(127)];
    // C's isspace in the C locale.
    let mut i = head
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))
        .unwrap_or(head.len());
    let negative = match head.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let rest = &head[i..];
    let (radix, digits): (u32, &[u8]) = match rest {
        [b'0', b'x' | b'X', h, ..] if h.is_ascii_hexdigit() => (16, &rest[2..]),
        [b'0', ..] => (8, rest),
        _ => (10, rest),
    };
    let mut n: i128 = 0;
    for &b in digits {
        let Some(d) = char::from(b).to_digit(radix) else {
            break;
        };
        n = n * i128::from(radix) + i128::from(d);
        if n > i128::from(i64::MAX) + 1 {
            // strtol's ERANGE.
            return None;
        }
    }
    let v = if negative { -n } else { n };
    let v = i64::try_from(v).ok()?;
    (i64::from(i32::MIN)..=i64::from(i32::MAX) + 1)
        .contains(&v)
        .then_some(v)
}

/// A track file's number, read as keepalived's process_track_file does,
/// with what one read leaves for the next.
///
/// keepalived reads a track file when inotify says a writer closed it;
/// upkeep polls, so a read can land between a writer's truncate and its
/// write. A file found empty therefore counts (as 0) only when the next
/// read finds it still empty; until then the last value stays.
#[derive(Debug, Default)]
pub struct TrackFileValue {
    last: AtomicI64,
    empty_once: AtomicBool,
}

/// Run-time state, not configuration: two probes of the same file with
/// the same settings are the same probe (a reload keeps the check).
impl PartialEq for TrackFileValue {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for TrackFileValue {}

impl TrackFileValue {
    /// The number `path` holds now, and a note for the message when the
    /// last value was kept.
    pub fn read(&self, path: &str) -> (i64, &'static str) {
        let head = super::fileread::read_regular(std::path::Path::new(path), 127, false);
        let parsed = match head {
            Ok(h) if h.is_empty() => {
                if !self.empty_once.swap(true, Ordering::Relaxed) {
                    return (
                        self.last.load(Ordering::Relaxed),
                        " (empty: kept the last value until the next read)",
                    );
                }
                Some(0)
            }
            Ok(h) => {
                self.empty_once.store(false, Ordering::Relaxed);
                parse(&h)
            }
            // Missing or unreadable: 0, as keepalived.
            Err(_) => {
                self.empty_once.store(false, Ordering::Relaxed);
                Some(0)
            }
        };
        match parsed {
            Some(v) => {
                self.last.store(v, Ordering::Relaxed);
                (v, "")
            }
            None => (
                self.last.load(Ordering::Relaxed),
                " (out of range, ignored: the last value stays)",
            ),
        }
    }
}

/// One FILE_CHECK: a track file and how its number counts.
#[derive(Clone, Debug)]
pub struct FileProbe {
    /// The track file's name (for messages).
    pub name: String,
    pub path: String,
    pub weight: i32,
    pub reverse: bool,
    /// The number read, kept across runs.
    pub value: Arc<TrackFileValue>,
}

impl PartialEq for FileProbe {
    fn eq(&self, o: &Self) -> bool {
        (&self.name, &self.path, self.weight, self.reverse)
            == (&o.name, &o.path, o.weight, o.reverse)
    }
}

impl Eq for FileProbe {}

impl FileProbe {
    pub fn run(&self) -> (Outcome, FileState) {
        let (value, note) = self.value.read(&self.path);
        let st = state(value, self.weight, self.reverse);
        let message = format!(
            "track_file {}: {value}{note}, weight {:+}",
            self.name, st.weight_delta
        );
        let outcome = if st.up {
            Outcome::pass(message)
        } else {
            Outcome::fail(message)
        };
        (outcome, st)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_read_as_strtol_base_0() {
        for (text, want) in [
            ("", Some(0)),
            ("0", Some(0)),
            ("42\n", Some(42)),
            ("  \t-7 trailing", Some(-7)),
            ("+5", Some(5)),
            ("0x1f", Some(31)),
            ("0X1F", Some(31)),
            ("010", Some(8)),
            ("08", Some(0)),
            ("0x", Some(0)),
            ("0xg", Some(0)),
            ("abc", Some(0)),
            ("-", Some(0)),
            ("12abc", Some(12)),
            ("2147483647", Some(2147483647)),
            ("2147483648", Some(2147483648)),
            ("2147483649", None),
            ("-2147483648", Some(-2147483648)),
            ("-2147483649", None),
            ("99999999999999999999999", None),
        ] {
            assert_eq!(parse(text.as_bytes()), want, "{text:?}");
        }
        // Only the first 127 bytes are read.
        let mut long = vec![b' '; 127];
        long.extend(b"5");
        assert_eq!(parse(&long), Some(0));
    }

    fn s(value: i64, weight: i32, reverse: bool) -> (bool, i64) {
        let st = state(value, weight, reverse);
        (st.up, st.weight_delta)
    }

    #[test]
    fn weight_zero_is_up_or_down() {
        assert_eq!(s(0, 0, false), (true, 0));
        assert_eq!(s(1, 0, false), (false, 0));
        assert_eq!(s(-3, 0, false), (false, 0));
        assert_eq!(s(0, 0, true), (false, 0));
        assert_eq!(s(9, 0, true), (true, 0));
    }

    #[test]
    fn a_weight_changes_the_servers_weight() {
        // The track file's default weight 1.
        assert_eq!(s(0, 1, false), (true, 0));
        assert_eq!(s(5, 1, false), (true, 5));
        assert_eq!(s(-5, 1, false), (true, -5));
        assert_eq!(s(5, 10, true), (true, -50));
        assert_eq!(s(-5, -10, false), (true, 50));
        // Clamped to i32.
        assert_eq!(s(2147483648, 2, false), (true, i64::from(i32::MAX)));
    }

    #[test]
    fn down_only_at_keepalived_fault_weight() {
        assert_eq!(s(-2147483648, 1, false), (false, 0));
        assert_eq!(s(2147483648, 1, true), (false, 0));
        assert_eq!(s(-2147483647, 1, false), (true, -2147483647));
        assert_eq!(s(-1000, 3_000_000, false), (false, 0));
        assert_eq!(s(-100, 1000, false), (true, -100_000));
    }

    #[test]
    fn an_out_of_range_number_keeps_the_last_value() {
        let dir = std::env::temp_dir().join(format!("upkeep-file-check-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("v");
        let p = FileProbe {
            name: "tf".into(),
            path: path.display().to_string(),
            weight: 0,
            reverse: false,
            value: Arc::default(),
        };
        assert!(p.run().0.ok, "missing: 0");
        std::fs::write(&path, "1\n").unwrap();
        assert!(!p.run().0.ok);
        std::fs::write(&path, "99999999999\n").unwrap();
        let (o, _) = p.run();
        assert!(!o.ok && o.message.contains("ignored"), "{o:?}");
        std::fs::write(&path, "0\n").unwrap();
        assert!(p.run().0.ok);
        std::fs::remove_file(&path).unwrap();
        assert!(p.run().0.ok);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Regression (smtp_check_lab flaked): a poll between a writer's
    /// truncate and its write read an empty file as 0, so a server held
    /// down by "1" came up for a moment when "1" was written again.
    #[test]
    fn an_empty_read_counts_only_when_the_next_read_is_empty_too() {
        let dir = std::env::temp_dir().join(format!("upkeep-file-empty-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("v");
        let p = path.display().to_string();
        let v = TrackFileValue::default();
        std::fs::write(&path, "1\n").unwrap();
        assert_eq!(v.read(&p), (1, ""));
        std::fs::write(&path, "").unwrap();
        let (n, note) = v.read(&p);
        assert_eq!(n, 1, "the write in progress");
        assert!(note.contains("empty"), "{note}");
        std::fs::write(&path, "1\n").unwrap();
        assert_eq!(v.read(&p), (1, ""));
        std::fs::write(&path, "").unwrap();
        assert_eq!(v.read(&p).0, 1);
        assert_eq!(v.read(&p), (0, ""), "still empty: 0, as keepalived");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// keepalived's vrrp_track_file reads as FILE_CHECK does (strtol base 0;
    /// upkeep read the first word as a decimal, so `0x10` was 0 and `12abc` 0).
    #[test]
    fn vrrp_track_files_read_numbers_as_keepalived() {
        let dir = std::env::temp_dir().join(format!("upkeep-file-strtol-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("v");
        let p = path.display().to_string();
        let v = TrackFileValue::default();
        for (text, want) in [("0x10\n", 16), ("12abc", 12), ("010", 8), ("-254", -254)] {
            std::fs::write(&path, text).unwrap();
            assert_eq!(v.read(&p).0, want, "{text:?}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
