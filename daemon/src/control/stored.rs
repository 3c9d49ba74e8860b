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
use crate::ipc::msg::CheckStatus;

#[derive(Clone, Debug, PartialEq)]
pub struct StoredCheck {
    pub source: Box<str>,
    pub state: Verdict,
    pub last_result: Option<Box<str>>,
    pub latency_us: Option<u64>,
    pub failures: u64,
    pub runs: u64,
    rare: Option<Box<Rare>>,
}

/// What few checks report.
#[derive(Clone, Debug, Default, PartialEq)]
struct Rare {
    value: Option<i64>,
    metrics: Vec<(String, f64)>,
}

impl Rare {
    /// `rare` holding these; None when both are empty. Metrics of the same
    /// names as before reuse their strings.
    fn set(rare: &mut Option<Box<Rare>>, value: Option<i64>, metrics: Vec<(String, f64)>) {
        if value.is_none() && metrics.is_empty() {
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
            source: c.source.into_boxed_str(),
            state: c.state,
            last_result: c.last_result.map(String::into_boxed_str),
            latency_us: c.latency_us,
            failures: c.failures,
            runs: c.runs,
            rare,
        }
    }
}

impl StoredCheck {
    /// Takes `new`'s fields (its source is the same; its policy is the
    /// checker's word and not kept). A message like the last one keeps its
    /// box: a check's message is mostly the same run after run.
    pub fn update_from(&mut self, new: CheckStatus) {
        self.state = new.state;
        match (&mut self.last_result, new.last_result) {
            (Some(mine), Some(theirs)) if **mine == *theirs => {}
            (mine, theirs) => *mine = theirs.map(String::into_boxed_str),
        }
        self.latency_us = new.latency_us;
        self.failures = new.failures;
        self.runs = new.runs;
        Rare::set(&mut self.rare, new.value, new.metrics);
    }

    /// A tracked file's number.
    pub fn value(&self) -> Option<i64> {
        self.rare.as_ref().and_then(|r| r.value)
    }

    /// What a plugin measured in its last run.
    pub fn metrics(&self) -> &[(String, f64)] {
        self.rare.as_ref().map_or(&[], |r| &r.metrics)
    }

    /// As the status document has it, with the parent's `policy` state.
    pub fn to_status(&self, policy: Option<String>) -> CheckStatus {
        CheckStatus {
            source: self.source.to_string(),
            state: self.state,
            last_result: self.last_result.as_deref().map(str::to_string),
            latency_us: self.latency_us,
            failures: self.failures,
            runs: self.runs,
            value: self.value(),
            policy,
            metrics: self.metrics().to_vec(),
        }
    }

    /// Serialises as [`Self::to_status`] would, without the copy.
    pub fn published(&self, policy: Option<String>) -> Published<'_> {
        Published {
            check: self,
            policy,
        }
    }
}

/// A stored check with its policy state, serialised as a `CheckStatus`:
/// the same fields, in the same order, skipped alike.
pub struct Published<'a> {
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
        st.serialize_field("source", &*c.source)?;
        st.serialize_field("state", &c.state)?;
        st.serialize_field("last_result", &c.last_result.as_deref())?;
        st.serialize_field("latency_us", &c.latency_us)?;
        st.serialize_field("failures", &c.failures)?;
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

    fn status(
        value: Option<i64>,
        metrics: Vec<(String, f64)>,
        policy: Option<&str>,
    ) -> CheckStatus {
        CheckStatus {
            source: "real_server:10.0.0.1:80/tcp/10.0.0.2:80".into(),
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
            assert_eq!(stored.to_status(p.clone()), want);
            assert_eq!(
                serde_json::to_string(&stored.published(p)).unwrap(),
                serde_json::to_string(&want).unwrap()
            );
        }
        let mut s = StoredCheck::from(status(None, vec![], None));
        s.update_from(status(Some(4), vec![("rtt".into(), 2.0)], None));
        assert_eq!((s.value(), s.metrics().len()), (Some(4), 1));
        s.update_from(status(None, vec![], None));
        assert!(s.rare.is_none());
        // The same message again: the box stays (no new allocation).
        let before = s.last_result.as_deref().map(str::as_ptr);
        s.update_from(status(None, vec![], None));
        assert_eq!(s.last_result.as_deref().map(str::as_ptr), before);
        let mut other = status(None, vec![], None);
        other.last_result = Some("connection refused".into());
        s.update_from(other);
        assert_eq!(s.last_result.as_deref(), Some("connection refused"));
        assert!(std::mem::size_of::<StoredCheck>() <= 80);
    }
}
