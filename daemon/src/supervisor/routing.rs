//! Where check results go, sans-IO: a checker's result in, routes out
//! (tell VRRP, run a restart command). The parent carries them out.
//!
//! - A tracked file's number goes to VRRP as a value.
//! - A real server's check concerns IPVS only (the checker sends its own
//!   `RealServer` message; the verdict is only recorded here).
//! - Any other check goes to VRRP as up/down, or through its
//!   restart-then-demote policy when it has one (`checker::policy`): only a
//!   failing verdict goes through the policy; a passing one counts at once.

use std::collections::BTreeMap;
use std::time::Instant;

use tracing::{debug, info, warn};

use super::record::Record;
use crate::checker::policy::{Decision, Policy};
use crate::config::model::{Config, OnFailure};
use crate::exec::split_command;
use crate::ipc::msg::CheckStatus;
use crate::names::Name;

/// What the parent must do for a result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// Tell VRRP a tracked source's state (recorded for replay).
    Track { source: String, up: bool },
    /// Tell VRRP a tracked file's number (recorded for replay).
    Value {
        source: String,
        up: bool,
        value: i64,
    },
    /// Run this check's restart command.
    Restart { source: String, argv: Vec<String> },
}

/// A check's restart-then-demote policy and the one command it may run.
#[derive(Debug)]
struct CheckPolicy {
    config: OnFailure,
    policy: Policy,
    restart: Vec<String>,
}

/// The routing state: one policy per check that has `on_failure`.
#[derive(Debug, Default)]
pub struct Routing {
    policies: BTreeMap<String, CheckPolicy>,
}

impl Routing {
    /// The policies of `cfg`. A policy whose configuration did not change
    /// keeps its state (restarts counted, demotion) from `old`.
    pub fn new(cfg: &Config, old: Routing) -> Self {
        let mut old = old.policies;
        let policies = cfg
            .vrrp_scripts
            .iter()
            .filter_map(|s| {
                let f = s.on_failure.clone()?;
                let source = format!("script:{}", s.name);
                let p = match old.remove(&source) {
                    Some(p) if p.config == f => p,
                    _ => CheckPolicy {
                        policy: Policy::new(&f),
                        restart: f
                            .restart
                            .as_ref()
                            .map(|r| split_command(&r.command))
                            .unwrap_or_default(),
                        config: f,
                    },
                };
                Some((source, p))
            })
            .collect();
        Self { policies }
    }

    /// Whether any check has a policy (its timers run on the parent's tick).
    pub fn has_policies(&self) -> bool {
        !self.policies.is_empty()
    }

    /// A check's policy state for status (None without a policy).
    pub fn describe<'n>(&self, source: impl Into<Name<'n>>) -> Option<String> {
        let source = source.into();
        // Without a copy of the name for the many checks that have none.
        if self.policies.is_empty() || !source.starts_with("script:") {
            return None;
        }
        self.policies
            .get(&*source.to_cow())
            .map(|p| p.policy.describe())
    }

    /// Records one result and says where it goes.
    pub fn result(&mut self, record: &mut Record, c: CheckStatus, now: Instant) -> Vec<Route> {
        // A check that has not run yet is down only by `init_fail`: it did
        // not fail through its fall count, so its service is not restarted.
        let ran = c.runs > 0 && c.failures > 0;
        let Some((source, up, value)) = record.check(c) else {
            return Vec::new();
        };
        if let Some(value) = value.filter(|_| source.starts_with("file:")) {
            record.values.insert(source.clone(), value);
            return vec![Route::Value { source, up, value }];
        }
        debug!(check = %source, up, "check state changed");
        if source.starts_with("real_server:") {
            return Vec::new();
        }
        if !up && !ran && self.policies.contains_key(&source) {
            // Forgotten, so that its first real failure counts as a change.
            record.checks.forget_verdict(&source);
            return vec![track(record, source, false)];
        }
        let Some(p) = self.policies.get_mut(&source) else {
            return vec![track(record, source, up)];
        };
        let decisions = p.policy.verdict(now, up);
        let mut out = self.decide(record, &source, decisions);
        if up && record.tracks.get(&source) != Some(&true) {
            out.push(track(record, source, true));
        }
        out
    }

    /// Policies whose grace period ended.
    pub fn tick(&mut self, record: &mut Record, now: Instant) -> Vec<Route> {
        let due: Vec<(String, Vec<Decision>)> = self
            .policies
            .iter_mut()
            .map(|(s, p)| (s.clone(), p.policy.tick(now)))
            .filter(|(_, d)| !d.is_empty())
            .collect();
        due.into_iter()
            .flat_map(|(source, d)| self.decide(record, &source, d))
            .collect()
    }

    fn decide(&self, record: &mut Record, source: &str, decisions: Vec<Decision>) -> Vec<Route> {
        let mut out = Vec::new();
        for d in decisions {
            match d {
                Decision::Restart => {
                    let Some(p) = self.policies.get(source) else {
                        continue;
                    };
                    warn!(check = %source, command = %p.restart.join(" "), "check failing: running its restart command");
                    out.push(Route::Restart {
                        source: source.to_string(),
                        argv: p.restart.clone(),
                    });
                }
                Decision::Demote => {
                    warn!(check = %source, "check still failing: demoting");
                    out.push(track(record, source.to_string(), false));
                }
                Decision::Restore => {
                    info!(check = %source, "check passing again: restoring");
                    out.push(track(record, source.to_string(), true));
                }
            }
        }
        out
    }
}

fn track(record: &mut Record, source: String, up: bool) -> Route {
    record.tracks.insert(source.clone(), up);
    Route::Track { source, up }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::health::Verdict;
    use std::time::Duration;

    fn cfg(text: &str) -> Config {
        let l = crate::config::load_str(
            "t.toml",
            text,
            crate::config::Format::Toml,
            &crate::config::LoadOptions::default(),
        );
        assert!(l.is_ok(), "{:?}", l.diagnostics);
        l.config
    }

    fn status(source: &str, state: Verdict, value: Option<i64>) -> CheckStatus {
        CheckStatus {
            source: source.into(),
            state,
            last_result: None,
            latency_us: None,
            failures: u64::from(state == Verdict::Down),
            runs: 1,
            value,
            policy: None,
            metrics: Vec::new(),
        }
    }

    const WITH_POLICY: &str = r#"
[[vrrp_script]]
name = "web"
script = "/bin/true"
[vrrp_script.on_failure]
restart = "/usr/bin/systemctl restart nginx"
grace = 2

[[vrrp_script]]
name = "plain"
script = "/bin/true"
"#;

    #[test]
    fn plain_checks_go_to_vrrp_once_per_change() {
        let mut r = Routing::new(&cfg(WITH_POLICY), Routing::default());
        let mut rec = Record::bound_to(&cfg(WITH_POLICY));
        let now = Instant::now();
        let down = status("script:plain", Verdict::Down, None);
        assert_eq!(
            r.result(&mut rec, down.clone(), now),
            [Route::Track {
                source: "script:plain".into(),
                up: false
            }]
        );
        assert!(r.result(&mut rec, down, now).is_empty());
        assert!(!rec.tracks["script:plain"]);
    }

    #[test]
    fn a_failing_check_with_a_policy_restarts_then_demotes_then_restores() {
        let mut r = Routing::new(&cfg(WITH_POLICY), Routing::default());
        let mut rec = Record::bound_to(&cfg(WITH_POLICY));
        let now = Instant::now();
        let routes = r.result(&mut rec, status("script:web", Verdict::Down, None), now);
        assert_eq!(
            routes,
            [Route::Restart {
                source: "script:web".into(),
                argv: vec![
                    "/usr/bin/systemctl".into(),
                    "restart".into(),
                    "nginx".into()
                ]
            }]
        );
        assert_eq!(
            r.describe("script:web").as_deref(),
            Some("restarting; 1 restart(s) in the window")
        );
        // Still failing after the grace period: demoted, and (within the
        // rate limit) restarted again.
        let routes = r.tick(&mut rec, now + Duration::from_secs(3));
        assert_eq!(
            routes[0],
            Route::Track {
                source: "script:web".into(),
                up: false
            }
        );
        assert!(matches!(routes[1], Route::Restart { .. }), "{routes:?}");
        let routes = r.result(
            &mut rec,
            status("script:web", Verdict::Up, None),
            now + Duration::from_secs(4),
        );
        assert_eq!(
            routes,
            [Route::Track {
                source: "script:web".into(),
                up: true
            }]
        );
    }

    /// `init_fail` reports a check down before it ran: VRRP is told, the
    /// restart command is not run (the check did not fail).
    #[test]
    fn a_check_down_before_its_first_run_is_not_restarted() {
        let mut r = Routing::new(&cfg(WITH_POLICY), Routing::default());
        let mut rec = Record::bound_to(&cfg(WITH_POLICY));
        let mut init = status("script:web", Verdict::Down, None);
        init.runs = 0;
        init.failures = 0;
        let now = Instant::now();
        assert_eq!(
            r.result(&mut rec, init, now),
            [Route::Track {
                source: "script:web".into(),
                up: false
            }]
        );
        // Its first real failure does restart it.
        let routes = r.result(&mut rec, status("script:web", Verdict::Down, None), now);
        assert!(matches!(routes[..], [Route::Restart { .. }]), "{routes:?}");
    }

    #[test]
    fn files_give_values_and_real_servers_stay_with_ipvs() {
        let mut r = Routing::default();
        let mut rec = Record::bound_to(&crate::testutil::keepalived_config(
            "vrrp_track_file prio {\n file /run/upkeep-prio\n}\nvirtual_server 10.0.0.1 80 {\n protocol TCP\n real_server 10.0.0.2 80 {\n  TCP_CHECK {\n  }\n }\n}\n",
        ));
        let now = Instant::now();
        assert_eq!(
            r.result(&mut rec, status("file:prio", Verdict::Up, Some(5)), now),
            [Route::Value {
                source: "file:prio".into(),
                up: true,
                value: 5
            }]
        );
        assert_eq!(rec.values["file:prio"], 5);
        assert!(
            r.result(
                &mut rec,
                status(
                    "real_server:10.0.0.1:80/tcp/10.0.0.2:80",
                    Verdict::Down,
                    None
                ),
                now
            )
            .is_empty()
        );
        assert!(
            rec.checks
                .contains("real_server:10.0.0.1:80/tcp/10.0.0.2:80")
        );
    }

    #[test]
    fn an_unchanged_policy_keeps_its_state_across_a_reload() {
        let c = cfg(WITH_POLICY);
        let mut r = Routing::new(&c, Routing::default());
        let mut rec = Record::bound_to(&c);
        r.result(
            &mut rec,
            status("script:web", Verdict::Down, None),
            Instant::now(),
        );
        let r = Routing::new(&c, r);
        assert_eq!(
            r.describe("script:web").as_deref(),
            Some("restarting; 1 restart(s) in the window")
        );
        let changed = WITH_POLICY.replace("grace = 2", "grace = 3");
        let r = Routing::new(&cfg(&changed), r);
        assert_eq!(
            r.describe("script:web").as_deref(),
            Some("ok; 0 restart(s) in the window")
        );
    }
}
