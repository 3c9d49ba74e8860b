//! What the checker may report, sans-IO. The checker runs operators'
//! scripts and third-party plugins, so the parent treats it as hostile: it
//! accepts only results for the checks the configuration gave it, with the
//! kind of value each check produces, and bounds every field. Anything else
//! is a protocol violation (the parent resets the checker).
//!
//! What a compromised checker can still do: report wrong verdicts (and, for
//! a tracked file, a wrong number) for its own configured checks, within
//! the bounds below. It cannot name another source (an interface's state
//! comes only from the VRRP worker's own netlink watch), grow the parent's
//! tables beyond the configuration, or make the parent run a command other
//! than a configured check's restart command, within that check's rate
//! limit and as that command's configured account. It cannot report for
//! the checks the parent runs itself (scripts with an account of their
//! own: `checker::local`), so it cannot make anything run as another user.

use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

use hashbrown::HashTable;

use crate::config::model::Config;
use crate::ipc::msg::{CheckStatus, RealServerState};
use crate::names::{Name, NameList};

/// Most bytes of a result's message kept.
pub const MESSAGE_LIMIT: usize = 1024;
/// Most metrics kept per result, and most bytes of a metric's name.
pub const METRICS_LIMIT: usize = 16;
pub const METRIC_NAME_LIMIT: usize = 128;

/// The kind of result a configured check produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Up or down (`script:`, `process:`).
    Verdict,
    /// Up or down and the number a tracked file holds (`file:`).
    Value,
    /// A real server's check (`real_server:VS/RS`): recorded, and its
    /// `RealServer` change goes to IPVS.
    RealServer,
    /// A real server's check with a FILE_CHECK: its change may also carry
    /// a weight change.
    WeightedRealServer,
}

/// Why a message from the checker was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    #[error("result for a check the configuration does not have: {0:?}")]
    Unknown(String),
    #[error("result of the wrong kind for {0:?}")]
    WrongKind(String),
    #[error("weight change for a real server without a FILE_CHECK: {0:?}")]
    Weight(String),
}

/// The checks one configuration gives the checker.
///
/// The names sit one after another in one string, numbered 0.. in the
/// order given (`names::NameList`; a name's kind is `kinds[pos]`), found
/// through a hash index of positions. At 10,000 real servers a map of
/// owned names took 0.96 MiB of the parent (a heap block per name and a
/// 32-byte slot per bucket of a table sized for 16,384); an index of
/// (span, position, kind) 0.71; whole names and a 4-byte slot 0.57; names
/// kept after the prefix they share with their run's first about 0.2
/// (issue 18).
#[derive(Clone, Debug, Default)]
pub struct Sources {
    list: NameList,
    kinds: Vec<Kind>,
    index: HashTable<u32>,
    hasher: RandomState,
}

impl Sources {
    /// The checks the checker runs (not those the parent runs itself).
    pub fn of(cfg: &Config) -> Self {
        // The list comes from every check's spec (megabytes at 10,000
        // real servers): built on a thread of its own and copied here, so
        // that the names kept are not strewn over the pages those took
        // (sys::mem::apart).
        crate::sys::mem::apart(|| Self::from_list(crate::checker::by_checker_weighted(cfg))).clone()
    }

    /// Sources of `names`, none weighted (tests).
    #[cfg(test)]
    pub fn from_names(names: Vec<String>) -> Self {
        Self::from_list(names.into_iter().map(|n| (n, false)).collect())
    }

    /// The checks the parent runs itself (scripts with their own account).
    pub fn of_parent(cfg: &Config) -> Self {
        // Scripts and processes only: none carries a weight.
        Self::from_list(
            crate::checker::by_parent(cfg)
                .into_iter()
                .map(|s| (s, false))
                .collect(),
        )
    }

    fn from_list(sources: Vec<(String, bool)>) -> Self {
        let mut this = Self {
            list: NameList::with_capacity(
                sources.len(),
                sources.iter().map(|(s, _)| s.len()).sum(),
            ),
            kinds: Vec::with_capacity(sources.len()),
            index: HashTable::with_capacity(sources.len()),
            hasher: RandomState::new(),
        };
        for (s, weighted) in sources {
            let kind = if s.starts_with("file:") {
                Kind::Value
            } else if weighted {
                Kind::WeightedRealServer
            } else if s.starts_with("real_server:") {
                Kind::RealServer
            } else {
                Kind::Verdict
            };
            this.insert(&s, kind);
        }
        this.list.shrink_to_fit();
        this.kinds.shrink_to_fit();
        this
    }

    /// Adds `name`; a name given again takes the later kind.
    fn insert(&mut self, name: &str, kind: Kind) {
        let Self {
            list,
            kinds,
            index,
            hasher,
        } = self;
        let hash = hasher.hash_one(Name::from(name));
        if let Some(&pos) = index.find(hash, |&p| list.get(p as usize) == name) {
            if let Some(k) = kinds.get_mut(pos as usize) {
                *k = kind;
            }
            return;
        }
        // A configuration's names are far below 4 GiB (the file would be
        // larger) and fewer than 2^32; one beyond is left out rather than
        // wrapped.
        let Ok(pos) = u32::try_from(list.len()) else {
            return;
        };
        if !list.push(name) {
            return;
        }
        kinds.push(kind);
        index.insert_unique(hash, pos, |&p| hasher.hash_one(list.get(p as usize)));
    }

    fn pos<'n>(&self, source: impl Into<Name<'n>>) -> Option<u32> {
        let source = source.into();
        let hash = self.hasher.hash_one(source);
        self.index
            .find(hash, |&p| self.name_at(p as usize) == source)
            .copied()
    }

    pub fn contains(&self, source: &str) -> bool {
        self.pos(source).is_some()
    }

    /// The name as kept here, and its position (below [`Self::len`]).
    pub fn find<'n>(&self, source: impl Into<Name<'n>>) -> Option<(Name<'_>, usize)> {
        self.pos(source)
            .map(|p| (self.name_at(p as usize), p as usize))
    }

    /// The name at `pos` (empty past the end).
    pub fn name_at(&self, pos: usize) -> Name<'_> {
        self.list.get(pos)
    }

    /// Every name with its position, in order (tests).
    #[cfg(test)]
    pub fn names(&self) -> impl Iterator<Item = (Name<'_>, usize)> {
        self.list.iter().enumerate().map(|(p, n)| (n, p))
    }

    fn kind(&self, source: &str) -> Option<Kind> {
        self.pos(source)
            .and_then(|p| self.kinds.get(p as usize).copied())
    }

    /// Whether there is any.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }
}

/// The configurations whose checks the checker may still be running: the
/// committed one, a reload in progress, and the one before the last commit
/// (until the checker has caught up).
#[derive(Clone, Debug, Default)]
pub struct Accepted {
    /// Shared with the record of results (`check_table`), which keeps a
    /// result per check of the committed configuration in this order.
    pub current: Arc<Sources>,
    others: Vec<Arc<Sources>>,
}

impl Accepted {
    pub fn new(cfg: &Config) -> Self {
        Self {
            current: Arc::new(Sources::of(cfg)),
            others: Vec::new(),
        }
    }

    /// For the checks the parent runs itself: only the current ones (the
    /// parent drops results of an earlier configuration by generation).
    pub fn parent(cfg: &Config) -> Self {
        Self {
            current: Arc::new(Sources::of_parent(cfg)),
            others: Vec::new(),
        }
    }

    /// A reload is under way: its checks may be reported before it commits.
    pub fn expect(&mut self, cfg: &Config) {
        self.others.push(Arc::new(Sources::of(cfg)));
        self.others.truncate(2);
    }

    /// `cfg` is committed; the previous checks stay acceptable until the
    /// checker runs the new configuration ([`Self::settle`]).
    pub fn commit(&mut self, cfg: &Config) {
        let old = std::mem::replace(&mut self.current, Arc::new(Sources::of(cfg)));
        self.others = vec![old];
    }

    /// The checker runs the committed configuration: only its checks now.
    pub fn settle(&mut self) {
        self.others.clear();
    }

    fn kind(&self, source: &str) -> Option<Kind> {
        std::iter::once(&self.current)
            .chain(&self.others)
            .find_map(|s| s.kind(source))
    }

    /// Checks one result and bounds its fields. `Ok(None)`: acceptable but
    /// not a check of the committed configuration (dropped, not stored).
    pub fn result(&self, mut c: CheckStatus) -> Result<Option<CheckStatus>, Violation> {
        // One lookup for the usual case (a current check).
        let (kind, current) = match self.current.kind(&c.source) {
            Some(k) => (k, true),
            None => (
                self.kind(&c.source)
                    .ok_or_else(|| Violation::Unknown(clip(&c.source, 128)))?,
                false,
            ),
        };
        // Only a tracked file has a number (it may have none before its
        // first run).
        if kind != Kind::Value && c.value.is_some() {
            return Err(Violation::WrongKind(clip(&c.source, 128)));
        }
        if !current {
            return Ok(None);
        }
        if let Some(m) = &c.last_result
            && m.len() > MESSAGE_LIMIT
        {
            c.last_result = Some(clip(m, MESSAGE_LIMIT));
        }
        c.metrics.truncate(METRICS_LIMIT);
        for (name, _) in &mut c.metrics {
            if name.len() > METRIC_NAME_LIMIT {
                *name = clip(name, METRIC_NAME_LIMIT);
            }
        }
        // Set by the parent alone.
        c.policy = None;
        Ok(Some(c))
    }

    /// Checks a real server's change. `Ok(false)`: acceptable but not in
    /// the committed configuration (dropped).
    pub fn real_server(&self, rs: &RealServerState) -> Result<bool, Violation> {
        let source = crate::checker::real_server_source(&rs.virtual_server, &rs.real_server);
        match self.kind(&source) {
            Some(Kind::RealServer) if rs.weight != 0 => Err(Violation::Weight(clip(&source, 128))),
            Some(Kind::RealServer | Kind::WeightedRealServer) => Ok(self.current.contains(&source)),
            Some(_) => Err(Violation::WrongKind(clip(&source, 128))),
            None => Err(Violation::Unknown(clip(&source, 128))),
        }
    }
}

/// At most `limit` bytes of `s`, cut on a character boundary.
fn clip(s: &str, limit: usize) -> String {
    let mut end = s.len().min(limit);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::health::Verdict;

    use crate::testutil::keepalived_config as cfg;

    const CONF: &str = "vrrp_script chk {\n script /bin/true\n}\nvrrp_track_file flag {\n file /tmp/upkeep-flag\n}\nvirtual_server 10.0.0.1 80 {\n protocol TCP\n real_server 10.0.0.2 80 {\n  TCP_CHECK {\n  }\n }\n}\n";

    fn status(source: &str, value: Option<i64>) -> CheckStatus {
        CheckStatus {
            source: source.into(),
            state: Verdict::Down,
            last_result: None,
            latency_us: None,
            failures: 1,
            runs: 1,
            value,
            policy: None,
            metrics: Vec::new(),
        }
    }

    #[test]
    fn only_configured_checks_with_their_kind_of_value_are_accepted() {
        let a = Accepted::new(&cfg(CONF));
        assert!(a.result(status("script:chk", None)).unwrap().is_some());
        assert!(a.result(status("file:flag", Some(3))).unwrap().is_some());
        // Not read yet: no number.
        assert!(a.result(status("file:flag", None)).unwrap().is_some());
        let rs = "real_server:10.0.0.1:80/tcp/10.0.0.2:80";
        assert!(
            a.result(status(rs, None)).unwrap().is_some(),
            "{:?}",
            a.current
        );
        // Forged sources: an interface, an unknown script, a number for a
        // script, a number for a real server.
        for (s, v) in [
            ("interface:eth0", None),
            ("script:other", None),
            ("script:chk", Some(200)),
            ("real_server:10.0.0.1:80/tcp/10.0.0.2:80", Some(1)),
        ] {
            assert!(a.result(status(s, v)).is_err(), "{s}");
        }
        let good = rs_state("10.0.0.2:80", 0);
        assert_eq!(a.real_server(&good), Ok(true));
        let forged = RealServerState {
            real_server: "10.0.0.9:80".into(),
            ..good
        };
        assert!(a.real_server(&forged).is_err());
    }

    /// Issue 18: the names in one string, found whole (not by a prefix
    /// or a longer name), a repeat taking the later kind, and at 10,000
    /// real servers about half the heap of the map it replaced.
    #[test]
    fn names_are_kept_once_in_one_string_and_found_whole() {
        let names: Vec<(String, bool)> = (0..10_000u32)
            .map(|i| {
                let rs = format!("10.1.{}.{}:80", i / 250, i % 250);
                (format!("real_server:10.0.0.1:80/tcp/{rs}"), i % 7 == 0)
            })
            .chain([
                ("script:chk".to_string(), false),
                ("file:flag".to_string(), false),
                ("script:chk".to_string(), true),
            ])
            .collect();
        let s = Sources::from_list(names.clone());
        assert_eq!(s.len(), 10_002);
        for (i, (name, _)) in names.iter().take(10_000).enumerate() {
            let want = if i % 7 == 0 {
                Kind::WeightedRealServer
            } else {
                Kind::RealServer
            };
            assert_eq!(s.kind(name), Some(want), "{name}");
        }
        assert_eq!(s.kind("file:flag"), Some(Kind::Value));
        // Given twice: the later (a weight flag makes no kind for a script
        // other than by the rule for weighted sources).
        assert_eq!(s.kind("script:chk"), Some(Kind::WeightedRealServer));
        for absent in [
            "",
            "script:ch",
            "script:chkx",
            "real_server:10.0.0.1:80/tcp/10.1.0.1:8",
            "real_server:10.0.0.1:80/tcp/10.1.0.1:800",
        ] {
            assert!(!s.contains(absent), "{absent:?}");
        }
        let names_bytes: usize = names.iter().take(10_000).map(|(n, _)| n.len()).sum();
        let held = s.list.held()
            + s.index.allocation_size()
            + s.kinds.capacity() * std::mem::size_of::<Kind>();
        // The map held a 24-byte String and a Kind per slot of 16,384
        // (0.5 MiB) and each name in a heap block of its own; the index
        // after it a span, a position and a kind per slot (16 bytes). Here
        // a slot is a position and a control byte, and a name has its end
        // and kind, and fewer bytes than it has (runs share prefixes).
        assert!(
            held < names_bytes / 2 + 16_384 * 5 + 10_002 * 6 + 4096,
            "{held} bytes for {names_bytes} of names"
        );
        // A copy (Sources::of keeps one) is as exact.
        let c = s.clone();
        assert_eq!(c.list.spare(), 0);
        // In the order given, each once.
        let listed: Vec<String> = c.names().map(|(n, _)| n.to_string()).collect();
        assert_eq!(listed.len(), 10_002);
        assert_eq!(listed[0], names[0].0);
        assert_eq!(listed[10_000], "script:chk");
        assert_eq!(listed[10_001], "file:flag");
        assert!(
            c.names()
                .all(|(n, p)| c.find(&n.to_string()) == Some((n, p)))
        );
        assert_eq!(c.kind("file:flag"), Some(Kind::Value));
    }

    /// A real server's change in the virtual server 10.0.0.1:80/tcp.
    fn rs_state(real_server: &str, weight: i64) -> RealServerState {
        RealServerState {
            virtual_server: "10.0.0.1:80/tcp".into(),
            real_server: real_server.into(),
            up: false,
            weight,
        }
    }

    /// Issue 16: a plugin real-server checker's results are accepted for
    /// the real servers that have one, and for no other.
    #[test]
    fn plugin_real_server_checks_are_accepted_only_where_configured() {
        let dir =
            std::env::temp_dir().join(format!("upkeep-sources-plugin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("p.wasm");
        std::fs::write(&file, b"\0asm\x0d\x00\x01\x00").unwrap();
        let conf = format!(
            "virtual_server 10.0.0.1 80 {{\n protocol TCP\n real_server 10.0.0.2 80 {{\n  UPKEEP_PLUGIN {{\n   file {}\n   allow tcp $REAL_SERVER\n  }}\n }}\n real_server 10.0.0.3 80 {{\n }}\n}}\n",
            file.display()
        );
        let a = Accepted::new(&cfg(&conf));
        let rs = "real_server:10.0.0.1:80/tcp/10.0.0.2:80";
        assert!(a.result(status(rs, None)).unwrap().is_some());
        for s in [
            "real_server:10.0.0.1:80/tcp/10.0.0.3:80",
            "real_server:10.0.0.1:80/tcp/10.0.0.9:80",
            "script:10.0.0.1:80/tcp/10.0.0.2:80",
        ] {
            assert!(a.result(status(s, None)).is_err(), "{s}");
        }
        let good = rs_state("10.0.0.2:80", 0);
        assert_eq!(a.real_server(&good), Ok(true));
        let unchecked = RealServerState {
            real_server: "10.0.0.3:80".into(),
            ..good
        };
        assert!(a.real_server(&unchecked).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Issue 16: only a FILE_CHECK changes a real server's weight; the
    /// checker reporting a weight for any other check is a violation.
    #[test]
    fn a_weight_is_accepted_only_from_a_file_check() {
        let conf = "track_file tf {\n file /run/upkeep-tf\n}\nvirtual_server 10.0.0.1 80 {\n protocol TCP\n real_server 10.0.0.2 80 {\n  FILE_CHECK {\n   track_file tf\n   weight 5\n  }\n }\n real_server 10.0.0.3 80 {\n  TCP_CHECK {\n  }\n }\n}\n";
        let a = Accepted::new(&cfg(conf));
        let file = RealServerState {
            up: true,
            ..rs_state("10.0.0.2:80", -40)
        };
        assert_eq!(a.real_server(&file), Ok(true));
        let tcp = RealServerState {
            real_server: "10.0.0.3:80".into(),
            ..file.clone()
        };
        assert!(matches!(a.real_server(&tcp), Err(Violation::Weight(_))));
        assert_eq!(
            a.real_server(&RealServerState { weight: 0, ..tcp }),
            Ok(true)
        );
    }

    #[test]
    fn fields_are_bounded_and_the_policy_is_the_parents() {
        let a = Accepted::new(&cfg(CONF));
        let mut c = status("script:chk", None);
        c.last_result = Some("é".repeat(10_000));
        c.metrics = (0..100).map(|k| ("m".repeat(1000 + k), 1.0)).collect();
        c.policy = Some("forged".into());
        let c = a.result(c).unwrap().unwrap();
        assert!(c.last_result.unwrap().len() <= MESSAGE_LIMIT);
        assert_eq!(c.metrics.len(), METRICS_LIMIT);
        assert!(c.metrics.iter().all(|(n, _)| n.len() <= METRIC_NAME_LIMIT));
        assert_eq!(c.policy, None);
    }

    #[test]
    fn checks_of_the_previous_configuration_are_dropped_until_the_checker_catches_up() {
        let old = cfg(CONF);
        let new = cfg(&CONF.replace("vrrp_script chk", "vrrp_script chk2"));
        let mut a = Accepted::new(&old);
        a.expect(&new);
        // Before the commit, either configuration's checks.
        assert!(a.result(status("script:chk", None)).unwrap().is_some());
        assert!(a.result(status("script:chk2", None)).unwrap().is_none());
        a.commit(&new);
        assert!(a.result(status("script:chk", None)).unwrap().is_none());
        assert!(a.result(status("script:chk2", None)).unwrap().is_some());
        a.settle();
        assert!(a.result(status("script:chk", None)).is_err());
    }
}
