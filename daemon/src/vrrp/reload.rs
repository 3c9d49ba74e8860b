//! What a reload or a restart keeps, sans-IO (the driver asks, then acts):
//! which running instances carry on under a new configuration, and which
//! a restarted VRRP worker resumes as Master without a failover.

use crate::config::model::{Config, VrrpInstance};
use crate::ipc::msg::Resume;

use super::fsm::State;
use super::router::tracks;

/// keepalived-compatible identity: what must stay the same for a reload to
/// keep an instance running. Priority, preemption, GARP settings, VIPs and
/// notify scripts may change in place.
fn same_identity(
    old_cfg: &Config,
    old: &VrrpInstance,
    new_cfg: &Config,
    new: &VrrpInstance,
) -> bool {
    let strip = |i: &VrrpInstance| {
        let mut i = i.clone();
        i.virtual_ipaddress.clear();
        i.virtual_ipaddress_excluded.clear();
        i.notify = Default::default();
        i.priority = 0;
        i.preempt = false;
        i.preempt_delay = None;
        i.state = Default::default();
        i.garp_master_delay = None;
        i.garp_master_repeat = None;
        i.garp_master_refresh = None;
        i.garp_master_refresh_repeat = None;
        i.garp_lower_prio_delay = None;
        i.garp_lower_prio_repeat = None;
        i
    };
    let group = |c: &Config, name: &str| {
        c.sync_groups
            .iter()
            .find(|g| g.group.iter().any(|m| m == name))
            .map(|g| (g.name.clone(), g.group.clone()))
    };
    let (og, ng) = (&old_cfg.global, &new_cfg.global);
    strip(old) == strip(new)
        && tracks(old_cfg, old) == tracks(new_cfg, new)
        && group(old_cfg, &old.name) == group(new_cfg, &new.name)
        && old.effective_version(og) == new.effective_version(ng)
        && og.vrrp_mcast_group4 == ng.vrrp_mcast_group4
        && og.vrrp_mcast_group6 == ng.vrrp_mcast_group6
        && og.vrrp_skip_check_adv_addr == ng.vrrp_skip_check_adv_addr
}

/// The instances of `new` that carry on from `old` (same name, same
/// identity), as (index in `new`, index in `old`). The others of `old`
/// resign; the others of `new` start.
pub fn carried_over(old: &Config, new: &Config) -> Vec<(usize, usize)> {
    new.vrrp_instances
        .iter()
        .enumerate()
        .filter_map(|(k, inst)| {
            let j = old
                .vrrp_instances
                .iter()
                .position(|o| o.name == inst.name)?;
            same_identity(old, &old.vrrp_instances[j], new, inst).then_some((k, j))
        })
        .collect()
}

/// Instances to resume as Master: the parent recorded them as Master and
/// the worker was down for less than two advert intervals, so no peer's
/// Master_Down_Interval (3 × interval + skew from our last advert) ran out.
pub fn resumable(cfg: &Config, resume: &Resume) -> Vec<usize> {
    let Some(down) = resume.down_ms else {
        return Vec::new();
    };
    cfg.vrrp_instances
        .iter()
        .enumerate()
        .filter(|(_, i)| {
            resume.states.get(&i.name) == Some(&State::Master)
                && down < 2 * i.advert_int.as_millis()
        })
        .map(|(k, _)| k)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(extra: &str, priority: u32, vips: &str) -> Config {
        let text = format!(
            r#"
[[vrrp_instance]]
name = "VI_1"
interface = "eth0"
virtual_router_id = 51
priority = {priority}
virtual_ipaddress = [{vips}]
{extra}
"#
        );
        let l = crate::config::load_str(
            "t.toml",
            &text,
            crate::config::Format::Toml,
            &crate::config::LoadOptions::default(),
        );
        assert!(l.is_ok(), "{:?}", l.diagnostics);
        l.config
    }

    fn same(a: &Config, b: &Config) -> bool {
        same_identity(a, &a.vrrp_instances[0], b, &b.vrrp_instances[0])
    }

    #[test]
    fn reload_keeps_an_instance_whose_identity_is_unchanged() {
        let base = cfg("", 100, r#""10.0.0.1/24""#);
        assert!(same(&base, &base.clone()));
        // In place: priority, preemption, VIPs, notify scripts.
        assert!(same(&base, &cfg("", 90, r#""10.0.0.1/24""#)));
        assert!(same(
            &base,
            &cfg("", 100, r#""10.0.0.1/24", "10.0.0.2/24""#)
        ));
        assert!(same(
            &base,
            &cfg("preempt = false", 100, r#""10.0.0.1/24""#)
        ));
        assert!(same(
            &base,
            &cfg(
                r#"notify = { on_master = "/bin/true" }"#,
                100,
                r#""10.0.0.1/24""#
            )
        ));
        // A new identity: the old instance resigns, the new one starts.
        assert!(!same(
            &base,
            &cfg("advert_int = 2", 100, r#""10.0.0.1/24""#)
        ));
        assert!(!same(&base, &cfg("version = 3", 100, r#""10.0.0.1/24""#)));
        assert!(!same(
            &base,
            &cfg(r#"unicast_peer = ["10.0.0.9"]"#, 100, r#""10.0.0.1/24""#)
        ));
        assert!(!same(
            &base,
            &cfg(r#"track_interface = ["eth1"]"#, 100, r#""10.0.0.1/24""#)
        ));
    }

    #[test]
    fn instances_carry_on_by_name_and_identity() {
        let two = |second_int: &str| {
            crate::config::load_str(
                "t.toml",
                &format!(
                    r#"
[[vrrp_instance]]
name = "A"
interface = "eth0"
virtual_router_id = 1
virtual_ipaddress = ["10.0.0.1/24"]

[[vrrp_instance]]
name = "B"
interface = "eth0"
virtual_router_id = 2
virtual_ipaddress = ["10.0.0.2/24"]
{second_int}
"#
                ),
                crate::config::Format::Toml,
                &crate::config::LoadOptions::default(),
            )
            .config
        };
        let old = two("");
        assert_eq!(carried_over(&old, &old), [(0, 0), (1, 1)]);
        // B's identity changed: it resigns and a new B starts.
        assert_eq!(carried_over(&old, &two("advert_int = 2")), [(0, 0)]);
        // Reordered: matched by name.
        let mut swapped = old.clone();
        swapped.vrrp_instances.reverse();
        assert_eq!(carried_over(&old, &swapped), [(0, 1), (1, 0)]);
        let mut fewer = old.clone();
        fewer.vrrp_instances.remove(0);
        assert_eq!(carried_over(&old, &fewer), [(0, 1)]);
    }

    /// Issue 17: a reload while the Master is silent (dead) must not give
    /// the Backup's Master_Down timer a fresh start, whether nothing
    /// changed, an unrelated item changed, or the instance's priority did:
    /// the driver's reload (a new router, `adopt`, the link states and
    /// Startup replayed) keeps the deadline, and it fires on time.
    #[test]
    fn a_reload_keeps_a_backups_master_down_timer_running() {
        use std::net::IpAddr;
        use std::time::{Duration, Instant};

        use crate::config::model::Family;
        use crate::vrrp::packet::{ChecksumMode, IpMeta, MCAST_V4};
        use crate::vrrp::router::{Input, Router, enters};

        let node = |n: u8| move |_: &str, _: Family| Some(IpAddr::from([10, 0, 0, n]));
        let vips = r#""10.0.0.1/24""#;
        let old = cfg("", 99, vips);
        let mut backup = Router::from_config(&old, &node(2)).unwrap();
        let master = Router::from_config(&cfg("", 100, vips), &node(1)).unwrap();
        let t0 = Instant::now();
        backup.handle(
            t0,
            Input::Link {
                ifname: "eth0",
                up: true,
            },
        );
        backup.handle(t0, Input::Startup);
        // The Master's last advert, at t0.
        let src = IpAddr::from([10, 0, 0, 1]);
        let bytes = master.instance(0).unwrap().advert(100).encode(
            src,
            IpAddr::V4(MCAST_V4),
            ChecksumMode::Rfc,
        );
        let meta = IpMeta {
            src,
            dst: IpAddr::V4(MCAST_V4),
            ttl: 255,
        };
        backup.handle(
            t0,
            Input::Packet {
                ifname: "eth0",
                meta,
                payload: &bytes,
            },
        );
        let due = backup.next_deadline().unwrap();
        assert!(due > t0 + Duration::from_secs(3));
        let unrelated = cfg("[global]\nrouter_id = \"other\"", 99, vips);
        for (k, new_cfg) in [old.clone(), unrelated, cfg("", 98, vips)]
            .iter()
            .enumerate()
        {
            let plan = carried_over(&old, new_cfg);
            assert_eq!(plan, [(0, 0)]);
            let mut new = Router::from_config(new_cfg, &node(2)).unwrap();
            new.adopt(0, &mut backup, 0);
            let at = t0 + Duration::from_millis(500 * (k as u64 + 1));
            new.handle(
                at,
                Input::Link {
                    ifname: "eth0",
                    up: true,
                },
            );
            new.handle(at, Input::Startup);
            assert_eq!(new.next_deadline(), Some(due), "reload {k}");
            backup = new;
        }
        let out = backup.handle(due, Input::Timeout);
        assert!(enters(&out, State::Master), "{out:?}");
    }

    #[test]
    fn a_master_resumes_only_after_a_short_absence() {
        let c = cfg("advert_int = 1", 100, r#""10.0.0.1/24""#);
        let mut resume = Resume::default();
        resume.states.insert("VI_1".into(), State::Master);
        // First start: nothing to resume.
        assert!(resumable(&c, &resume).is_empty());
        resume.down_ms = Some(1500);
        assert_eq!(resumable(&c, &resume), [0]);
        // Down for two intervals: a peer may have taken over.
        resume.down_ms = Some(2000);
        assert!(resumable(&c, &resume).is_empty());
        resume.down_ms = Some(10);
        resume.states.insert("VI_1".into(), State::Backup);
        assert!(resumable(&c, &resume).is_empty());
    }
}
