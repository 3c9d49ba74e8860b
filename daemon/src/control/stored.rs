//! A check's latest status as the parent keeps it (`supervisor::check_table`)
//! and publishes it (status.json, the control socket).
//!
//! Why not the `CheckStatus` the checker sends: kept 10,000 times, its
//! inline room for a policy (the parent's own, added when published), a
//! tracked file's number and a plugin's metrics (which a TCP or HTTP check
//! never has) and its strings' spare capacity were 176 bytes an entry with
//! the verdict (heaptrack of the parent, issue 18). Here: names and
//! messages in boxes of their exact size, the rare fields in a box made
//! only when set, no policy. Published, it reads exactly as the
//! `CheckStatus` it came from with the parent's policy in place
//! (`control::metrics` test `the_status_view_serialises_as_the_document`).

use serde::Serialize;
use serde::ser::SerializeStruct;

use crate::checker::health::Verdict;
use crate::checker::probe::{CONNECTED_TO, CONNECTED_V4, connected_to, connected_to_v4};
use crate::ipc::msg::{CheckStatus, V4_TEXT, v4_text};
use crate::names::Name;

#[derive(Clone, Debug, PartialEq)]
pub struct StoredCheck {
    last_result: Option<Message>,
    pub runs: u64,
    rare: Option<Box<Rare>>,
    /// µs, as the checker measures it (it saturates at `u32::MAX`).
    latency_us: Option<u32>,
    /// Consecutive failures; a count beyond `u32::MAX` (136 years of one a
    /// second) stays there.
    failures: u32,
    pub state: Verdict,
    /// The up/down verdict the parent last acted on (see [`Self::verdict`]).
    acted: Acted,
}

/// A check's last message as kept. "connected to ADDR", what every run
/// of a passing IPv4 TCP check says, is kept as its address: a box of its
/// text was 48 bytes a check with the allocator's header, 0.37 MiB of the
/// parent at 10,000 checks (issue 18). Only a text that reads back
/// exactly is kept so; any other is boxed as it came.
#[derive(Clone, Debug, PartialEq)]
enum Message {
    Connected(std::net::SocketAddrV4),
    Text(Box<str>),
}

impl Message {
    fn of(text: String) -> Self {
        match Self::connected(&text) {
            Some(a) => Message::Connected(a),
            None => Message::Text(text.into_boxed_str()),
        }
    }

    /// The address of a "connected to ADDR" that reads back as `text`
    /// (the port's leading zeros or sign would not).
    fn connected(text: &str) -> Option<std::net::SocketAddrV4> {
        let rest = text.strip_prefix(CONNECTED_TO)?;
        let addr: std::net::SocketAddrV4 = rest.parse().ok()?;
        (v4_text(addr, &mut [0; V4_TEXT]) == rest).then_some(addr)
    }

    /// Whether the message reads `text`. For a kept address, by writing
    /// the address, not parsing `text`: a passing check's every result is
    /// compared (parsed, it was 400 instructions a check run at 500
    /// checks, a sixth of the parent's; issue 18).
    fn is(&self, text: &str) -> bool {
        match self {
            Message::Text(t) => **t == *text,
            Message::Connected(a) => text
                .strip_prefix(CONNECTED_TO)
                .is_some_and(|rest| v4_text(*a, &mut [0; V4_TEXT]) == rest),
        }
    }

    fn text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Message::Text(t) => std::borrow::Cow::Borrowed(t),
            Message::Connected(a) => std::borrow::Cow::Owned(connected_to((*a).into())),
        }
    }
}

impl Serialize for Message {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Message::Text(t) => s.serialize_str(t),
            Message::Connected(a) => s.serialize_str(connected_to_v4(*a, &mut [0; CONNECTED_V4])),
        }
    }
}

/// The parent's last verdict, a byte (its file number, rare, in `Rare`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Acted {
    None,
    Down,
    Up,
}

/// What few checks report.
#[derive(Clone, Debug, Default, PartialEq)]
struct Rare {
    value: Option<i64>,
    metrics: Vec<(String, f64)>,
    /// The tracked file's number the parent last acted on.
    acted_value: Option<i64>,
}

impl Rare {
    fn is_empty(&self) -> bool {
        self.value.is_none() && self.metrics.is_empty() && self.acted_value.is_none()
    }

    /// `rare` holding these; None when all are empty. Metrics of the same
    /// names as before reuse their strings.
    fn set(rare: &mut Option<Box<Rare>>, value: Option<i64>, metrics: Vec<(String, f64)>) {
        if value.is_none()
            && metrics.is_empty()
            && rare.as_ref().is_none_or(|r| r.acted_value.is_none())
        {
            *rare = None;
            return;
        }
        let r = rare.get_or_insert_with(Box::default);
        r.value = value;
        if r.metrics.len() == metrics.len() {
            for ((name, v), (new_name, new_v)) in r.metrics.iter_mut().zip(metrics) {
                if *name != new_name {
                    *name = new_name;
                }
                *v = new_v;
            }
        } else {
            r.metrics = metrics;
        }
    }
}

impl From<CheckStatus> for StoredCheck {
    fn from(c: CheckStatus) -> Self {
        let mut rare = None;
        Rare::set(&mut rare, c.value, c.metrics);
        Self {
            state: c.state,
            last_result: c.last_result.map(Message::of),
            latency_us: c.latency_us.map(saturate),
            failures: saturate(c.failures),
            runs: c.runs,
            rare,
            acted: Acted::None,
        }
    }
}

fn saturate(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl StoredCheck {
    /// Takes `new`'s fields (its source is the same; its policy is the
    /// checker's word and not kept). A message like the last one keeps its
    /// box: a check's message is mostly the same run after run.
    pub fn update_from(&mut self, new: CheckStatus) {
        self.state = new.state;
        match (&mut self.last_result, new.last_result) {
            (Some(mine), Some(theirs)) if mine.is(&theirs) => {}
            (mine, theirs) => *mine = theirs.map(Message::of),
        }
        self.latency_us = new.latency_us.map(saturate);
        self.failures = saturate(new.failures);
        self.runs = new.runs;
        Rare::set(&mut self.rare, new.value, new.metrics);
    }

    /// The last run's message.
    pub fn last_result(&self) -> Option<std::borrow::Cow<'_, str>> {
        self.last_result.as_ref().map(Message::text)
    }

    pub fn latency_us(&self) -> Option<u64> {
        self.latency_us.map(u64::from)
    }

    pub fn failures(&self) -> u64 {
        u64::from(self.failures)
    }

    /// A tracked file's number.
    pub fn value(&self) -> Option<i64> {
        self.rare.as_ref().and_then(|r| r.value)
    }

    /// What a plugin measured in its last run.
    pub fn metrics(&self) -> &[(String, f64)] {
        self.rare.as_ref().map_or(&[], |r| &r.metrics)
    }

    /// The up/down verdict (and a tracked file's number) the parent last
    /// acted on; None before the first, or when forgotten so that the
    /// next counts as a change.
    pub fn verdict(&self) -> Option<(bool, Option<i64>)> {
        let up = match self.acted {
            Acted::None => return None,
            Acted::Down => false,
            Acted::Up => true,
        };
        Some((up, self.rare.as_ref().and_then(|r| r.acted_value)))
    }

    pub fn set_verdict(&mut self, verdict: Option<(bool, Option<i64>)>) {
        let (acted, value) = match verdict {
            None => (Acted::None, None),
            Some((up, value)) => (if up { Acted::Up } else { Acted::Down }, value),
        };
        self.acted = acted;
        match (&mut self.rare, value) {
            (Some(r), value) => {
                r.acted_value = value;
                if r.is_empty() {
                    self.rare = None;
                }
            }
            (None, None) => {}
            (rare @ None, Some(v)) => {
                *rare = Some(Box::new(Rare {
                    acted_value: Some(v),
                    ..Rare::default()
                }));
            }
        }
    }

    /// As the status document has it, named `source`, with the parent's
    /// `policy` state.
    pub fn to_status(&self, source: &str, policy: Option<String>) -> CheckStatus {
        CheckStatus {
            source: source.to_string(),
            state: self.state,
            last_result: self.last_result().map(std::borrow::Cow::into_owned),
            latency_us: self.latency_us(),
            failures: self.failures(),
            runs: self.runs,
            value: self.value(),
            policy,
            metrics: self.metrics().to_vec(),
        }
    }

    /// Serialises as [`Self::to_status`] would, without the copy.
    pub fn published<'a>(&'a self, source: Name<'a>, policy: Option<String>) -> Published<'a> {
        Published {
            source,
            check: self,
            policy,
        }
    }
}

/// A stored check with its policy state, serialised as a `CheckStatus`:
/// the same fields, in the same order, skipped alike.
pub struct Published<'a> {
    source: Name<'a>,
    check: &'a StoredCheck,
    policy: Option<String>,
}

impl Serialize for Published<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.check;
        let (value, metrics) = (c.value(), c.metrics());
        let fields = 6
            + usize::from(value.is_some())
            + usize::from(self.policy.is_some())
            + usize::from(!metrics.is_empty());
        let mut st = s.serialize_struct("CheckStatus", fields)?;
        st.serialize_field("source", &self.source)?;
        st.serialize_field("state", &c.state)?;
        st.serialize_field("last_result", &c.last_result)?;
        st.serialize_field("latency_us", &c.latency_us())?;
        st.serialize_field("failures", &c.failures())?;
        st.serialize_field("runs", &c.runs)?;
        match value {
            Some(v) => st.serialize_field("value", &v)?,
            None => st.skip_field("value")?,
        }
        match &self.policy {
            Some(p) => st.serialize_field("policy", p)?,
            None => st.skip_field("policy")?,
        }
        if metrics.is_empty() {
            st.skip_field("metrics")?;
        } else {
            st.serialize_field("metrics", metrics)?;
        }
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = "real_server:10.0.0.1:80/tcp/10.0.0.2:80";

    fn status(
        value: Option<i64>,
        metrics: Vec<(String, f64)>,
        policy: Option<&str>,
    ) -> CheckStatus {
        CheckStatus {
            source: SOURCE.into(),
            state: Verdict::Up,
            last_result: Some("connected to 10.0.0.2:80".into()),
            latency_us: Some(120),
            failures: 2,
            runs: 9,
            value,
            policy: policy.map(str::to_string),
            metrics,
        }
    }

    /// Published, a stored check reads as the status it came from, with
    /// the parent's policy in place of the checker's; a TCP check's has no
    /// box for the rare fields, and one is made and dropped as results
    /// bring and stop bringing them.
    #[test]
    fn a_stored_check_publishes_as_its_status_and_boxes_only_rare_fields() {
        for (value, metrics, policy) in [
            (None, vec![], None),
            (Some(-3), vec![], Some("restarting (1 of 2)")),
            (
                None,
                vec![("rtt".to_string(), 1.5), ("q\"".to_string(), f64::MAX)],
                None,
            ),
            (Some(0), vec![("x".to_string(), 0.0)], Some("demoted")),
        ] {
            let want = status(value, metrics.clone(), policy);
            let stored = StoredCheck::from(status(value, metrics, Some("forged")));
            assert_eq!(
                stored.rare.is_some(),
                want.value.is_some() || !want.metrics.is_empty()
            );
            let p = want.policy.clone();
            assert_eq!(stored.to_status(SOURCE, p.clone()), want);
            assert_eq!(
                serde_json::to_string(&stored.published(SOURCE.into(), p)).unwrap(),
                serde_json::to_string(&want).unwrap()
            );
        }
        let mut s = StoredCheck::from(status(None, vec![], None));
        s.update_from(status(Some(4), vec![("rtt".into(), 2.0)], None));
        assert_eq!((s.value(), s.metrics().len()), (Some(4), 1));
        s.update_from(status(None, vec![], None));
        assert!(s.rare.is_none());
        // A passing TCP check's message is kept as its address.
        assert!(matches!(s.last_result, Some(Message::Connected(_))));
        let mut other = status(None, vec![], None);
        other.last_result = Some("connection refused".into());
        s.update_from(other.clone());
        assert_eq!(s.last_result().as_deref(), Some("connection refused"));
        // The same message again: the box stays (no new allocation).
        let before = match &s.last_result {
            Some(Message::Text(t)) => t.as_ptr(),
            m => panic!("{m:?}"),
        };
        s.update_from(other);
        assert!(matches!(&s.last_result, Some(Message::Text(t)) if t.as_ptr() == before));
        // 48 bytes and the message's tag.
        assert!(std::mem::size_of::<StoredCheck>() <= 56);
    }

    proptest::proptest! {
        /// The kept address is written as `Display` writes it, so a
        /// result is compared without parsing it.
        #[test]
        fn an_address_is_written_as_display_writes_it(ip in proptest::prelude::any::<u32>(), port in proptest::prelude::any::<u16>()) {
            let a = std::net::SocketAddrV4::new(ip.into(), port);
            let mut buf = [0; V4_TEXT];
            let want = a.to_string();
            proptest::prop_assert_eq!(v4_text(a, &mut buf), want.as_str());
        }
    }

    /// Issue 18: "connected to ADDR" is kept as the address only when it
    /// reads back exactly; every message publishes as it came.
    #[test]
    fn a_message_reads_back_as_it_came() {
        for (text, compact) in [
            ("connected to 10.0.0.2:80", true),
            ("connected to 255.255.255.255:65535", true),
            ("connected to 0.0.0.0:0", true),
            ("connected to 10.0.0.2:080", false),
            ("connected to 10.0.0.2:+80", false),
            ("connected to 10.0.0.02:80", false),
            ("connected to [::1]:80", false),
            ("connected to 10.0.0.2:80 ", false),
            ("connected to 10.0.0.2", false),
            ("connected to ", false),
            ("Connected to 10.0.0.2:80", false),
            ("connect 10.0.0.2:80: refused", false),
            ("", false),
        ] {
            let m = Message::of(text.to_string());
            assert_eq!(matches!(m, Message::Connected(_)), compact, "{text:?}");
            assert_eq!(m.text(), text);
            assert!(m.is(text), "{text:?}");
            assert_eq!(
                serde_json::to_string(&m).unwrap(),
                serde_json::to_string(text).unwrap()
            );
        }
        assert!(!Message::of("connected to 10.0.0.2:80".into()).is("connected to 10.0.0.2:81"));
    }

    /// The verdict the parent acted on is a byte; a tracked file's number
    /// with it takes the rare box, which goes when neither a result nor
    /// the verdict needs it.
    #[test]
    fn a_verdict_is_kept_beside_the_status_and_boxes_only_a_number() {
        let mut s = StoredCheck::from(status(None, vec![], None));
        assert_eq!(s.verdict(), None);
        s.set_verdict(Some((true, None)));
        assert_eq!((s.verdict(), s.rare.is_none()), (Some((true, None)), true));
        s.set_verdict(Some((false, Some(7))));
        assert_eq!(s.verdict(), Some((false, Some(7))));
        // A result without a number keeps the verdict's.
        s.update_from(status(None, vec![], None));
        assert_eq!((s.verdict(), s.value()), (Some((false, Some(7))), None));
        s.update_from(status(Some(9), vec![], None));
        assert_eq!((s.verdict(), s.value()), (Some((false, Some(7))), Some(9)));
        s.set_verdict(None);
        assert_eq!(s.verdict(), None);
        s.update_from(status(None, vec![], None));
        assert!(s.rare.is_none(), "nothing rare left");
        // A hostile checker's numbers beyond 32 bits are held at the top.
        let mut big = status(None, vec![], None);
        (big.latency_us, big.failures) = (Some(u64::MAX), u64::MAX);
        s.update_from(big);
        assert_eq!(
            (s.latency_us(), s.failures()),
            (Some(u64::from(u32::MAX)), u64::from(u32::MAX))
        );
    }
}
