//! A reload under way while the peer fails (issue 17, item 6): the Backup
//! is reloaded (SIGHUP, with and without a change to an unrelated item) at
//! the moment the Master's node dies (SIGKILL of every process in it); the
//! Backup still takes over within Master_Down_Interval plus the reload's
//! own duration. Measured on a capture on the bridge, from the Master's
//! last advert to the Backup's first; repeated, with the numbers printed.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test crate fails by panicking

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::lab::{Lab, adverts, vrrp_instance};

const UPKEEPD: &str = env!("CARGO_BIN_EXE_upkeepd");
const VIP: &str = "10.77.0.100";
const SECS: fn(u64) -> Duration = Duration::from_secs;
/// advert_int 1 s, 3 adverts, Backup priority 99: 3 + (256 − 99)/256 s.
const MASTER_DOWN: f64 = 3.0 + (256.0 - 99.0) / 256.0;

fn conf(lab: &Lab, k: usize, prio: u32, router_id: &str) -> String {
    format!(
        "global_defs {{\n    router_id {router_id}\n}}\n{}",
        vrrp_instance(lab, k, prio, &[VIP], "")
    )
}

/// When each round's HUP goes, after the kill: at it (5 times), then 2.5 s
/// later (3 times): a reload that restarted the Master_Down timer would
/// show as 2.5 s more.
const OFFSETS: [f64; 8] = [0.0, 0.0, 0.0, 0.0, 0.0, 2.5, 2.5, 2.5];

/// The Backup's router_id in round `i`: odd rounds change this one
/// unrelated item, even ones nothing.
fn router_id(i: usize) -> String {
    if i % 2 == 1 {
        format!("n1r{i}")
    } else {
        "n1".into()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0))
}

fn reload_at(lab: &Lab, k: usize) -> Option<u64> {
    lab.status(k)?["reload"]["at_ms"].as_u64()
}

/// From the capture: the Master's (`a`) last advert (priority above 0:
/// a node that dies does not resign) before the Backup's (`b`) first one
/// after `since` (epoch seconds), and that first one.
fn handover(pcap: &std::path::Path, a: &str, b: &str, since: f64) -> Option<(f64, f64)> {
    let seen = adverts(pcap);
    let first_b = seen.iter().find(|s| s.src == b && s.at > since)?.at;
    if let Some(r) = seen
        .iter()
        .find(|s| s.src == a && s.prio == 0 && s.at > since)
    {
        eprintln!(
            "the Master resigned (priority 0) at {:.3}: it did not die at once",
            r.at
        );
    }
    let last_a = seen
        .iter()
        .filter(|s| s.src == a && s.prio > 0 && s.at < first_b)
        .map(|s| s.at)
        .fold(f64::NAN, f64::max);
    (!last_a.is_nan()).then_some((last_a, first_b))
}

/// Seconds since midnight of a log line's timestamp (`...T13:53:44.832598Z`).
fn time_of(line: &str) -> Option<f64> {
    let t = line.split_whitespace().next()?.split('T').nth(1)?;
    let t = t.trim_end_matches('Z');
    let mut parts = t.split(':');
    let h: f64 = parts.next()?.parse().ok()?;
    let m: f64 = parts.next()?.parse().ok()?;
    let s: f64 = parts.next()?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + s)
}

/// The last reload in an upkeepd log: from the parent's "reloading
/// configuration" to the VRRP worker's "configuration reloaded", and to
/// the parent's.
fn reload_times(log: &str) -> (f64, f64) {
    let last = |pred: &dyn Fn(&str) -> bool| log.lines().rev().find(|l| pred(l)).and_then(time_of);
    let start = last(&|l| l.contains("reloading configuration"));
    let vrrp = last(&|l| l.contains("worker{role=vrrp}") && l.contains("configuration reloaded"));
    let parent = last(&|l| !l.contains("worker{") && l.contains("configuration reloaded"));
    match (start, vrrp, parent) {
        (Some(s), Some(v), Some(p)) => (v - s, p - s),
        _ => (f64::NAN, f64::NAN),
    }
}

fn stats(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let med = s.get(s.len() / 2).copied().unwrap_or(f64::NAN);
    (
        s.first().copied().unwrap_or(f64::NAN),
        med,
        s.last().copied().unwrap_or(f64::NAN),
    )
}

#[test]
fn a_reload_on_the_backup_as_the_master_dies_still_takes_over_in_time() {
    let mut lab = Lab::new(2);
    let master = conf(&lab, 0, 100, "n0");
    lab.start(0, UPKEEPD, &master, "k.conf");
    lab.start(1, UPKEEPD, &conf(&lab, 1, 99, "n1"), "k.conf");
    lab.expect_state(0, "VI_1", "MASTER", SECS(10));
    lab.expect_state(1, "VI_1", "BACKUP", SECS(3));
    let pcap = lab.capture_bridge("reload.pcap", "vrrp");
    let (a, b) = (lab.nodes[0].v4.clone(), lab.nodes[1].v4.clone());
    let mut takeovers = Vec::new();
    let mut reloads = Vec::new();
    for (i, &offset) in OFFSETS.iter().enumerate() {
        let id = router_id(i);
        std::fs::write(lab.config_path(1, "k.conf"), conf(&lab, 1, 99, &id)).unwrap();
        // The Master's adverts on the capture before it dies.
        std::thread::sleep(SECS(2));
        let before = reload_at(&lab, 1);
        let (killed, hup);
        if offset == 0.0 {
            hup = now_ms();
            lab.signal(1, libc::SIGHUP);
            killed = now_ms();
            lab.kill_all(0);
        } else {
            killed = now_ms();
            lab.kill_all(0);
            std::thread::sleep(Duration::from_secs_f64(offset));
            hup = now_ms();
            lab.signal(1, libc::SIGHUP);
        }
        lab.expect_state(1, "VI_1", "MASTER", SECS(10));
        assert!(
            lab.wait(SECS(10), || reload_at(&lab, 1) != before),
            "no reload\n{}",
            lab.log(1)
        );
        let status = lab.status(1).unwrap();
        assert_eq!(status["reload"]["ok"], true, "{status}");
        let reload = (reload_at(&lab, 1).unwrap_or(hup).saturating_sub(hup)) as f64 / 1000.0;
        let (vrrp_reload, parent_reload) = reload_times(&lab.log(1));
        std::thread::sleep(SECS(1));
        let (last, first) = handover(&pcap, &a, &b, killed as f64 / 1000.0 - 1.5)
            .unwrap_or_else(|| panic!("no handover on the capture\n{}", lab.logs()));
        let took = first - last;
        eprintln!(
            "round {i}: HUP {offset} s after the kill ({}): takeover {took:.3} s after the Master's last advert; reload took {reload:.3} s from the signal to status.json (log: {parent_reload:.4} s in the parent, {vrrp_reload:.4} s to the VRRP worker's end)",
            if i % 2 == 1 {
                "router_id changed"
            } else {
                "no change"
            }
        );
        assert!(
            took < MASTER_DOWN + reload + 1.0,
            "round {i}: takeover {took:.3} s > Master_Down_Interval {MASTER_DOWN:.3} + reload {reload:.3} + 1 s\n{}",
            lab.log(1)
        );
        takeovers.push(took);
        reloads.push(reload);
        // The Master back (it preempts) for the next round.
        lab.start(0, UPKEEPD, &master, "k.conf");
        lab.expect_state(0, "VI_1", "MASTER", SECS(10));
        lab.expect_state(1, "VI_1", "BACKUP", SECS(3));
    }
    let at_kill = &takeovers[..5];
    let (lo, med, hi) = stats(at_kill);
    let (rlo, rmed, rhi) = stats(&reloads);
    let (llo, lmed, lhi) = stats(&takeovers[5..]);
    eprintln!(
        "takeover with a reload at the kill (n={}): min {lo:.3} median {med:.3} max {hi:.3} s; with the reload 2.5 s later (n={}): min {llo:.3} median {lmed:.3} max {lhi:.3} s; Master_Down_Interval {MASTER_DOWN:.3} s; reload min {rlo:.3} median {rmed:.3} max {rhi:.3} s",
        at_kill.len(),
        takeovers.len() - 5
    );
}

/// What keepalived (Debian's 2.2.7) does in the same test, for the record:
/// SIGHUP to the Backup's keepalived as every process of the Master's node
/// is killed. Run with `cargo nextest run -p upkeep --test vrrp_reload_lab
/// --run-ignored ignored-only --no-capture`.
#[test]
#[ignore = "a record of keepalived's behaviour, not a test of upkeep"]
fn keepalived_reloaded_as_the_master_dies() {
    let mut lab = Lab::new(2);
    let master = conf(&lab, 0, 100, "n0");
    lab.start_keepalived(0, &master);
    lab.start_keepalived(1, &conf(&lab, 1, 99, "n1"));
    assert!(
        lab.wait(SECS(10), || lab.has_addr(0, VIP)),
        "{}",
        lab.keepalived_log(0)
    );
    std::thread::sleep(SECS(2));
    let pcap = lab.capture_bridge("k.pcap", "vrrp");
    let (a, b) = (lab.nodes[0].v4.clone(), lab.nodes[1].v4.clone());
    let parent = |lab: &Lab| -> Option<i32> {
        std::fs::read_to_string(lab.nodes[1].dir.join("k.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    let mut takeovers = Vec::new();
    for (i, &offset) in OFFSETS.iter().enumerate() {
        let id = router_id(i);
        std::fs::write(
            lab.nodes[1].dir.join("keepalived.conf"),
            conf(&lab, 1, 99, &id),
        )
        .unwrap();
        std::thread::sleep(SECS(2));
        // The Backup's last adverts as Master (before the Master took back
        // over) must not pass for a takeover.
        let quiet = adverts(&pcap)
            .iter()
            .filter(|s| s.src == b)
            .map(|s| s.at + 0.001)
            .fold(0.0, f64::max);
        let killed = now_ms();
        let hup = |lab: &Lab| {
            if let Some(pid) = parent(lab) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGHUP,
                );
            }
        };
        if offset == 0.0 {
            hup(&lab);
            lab.kill_all(0);
        } else {
            lab.kill_all(0);
            std::thread::sleep(Duration::from_secs_f64(offset));
            hup(&lab);
        }
        let held = lab.wait(SECS(10), || lab.has_addr(1, VIP));
        std::thread::sleep(SECS(1));
        let h = handover(&pcap, &a, &b, (killed as f64 / 1000.0 - 1.5).max(quiet));
        let took = h.map(|(last, first)| first - last);
        eprintln!(
            "keepalived round {i}: HUP {offset} s after the kill: Backup holds the VIP: {held}; takeover {took:?} s after the Master's last advert"
        );
        if let Some(t) = took {
            takeovers.push(t);
        }
        lab.start_keepalived(0, &master);
        let back = lab.wait(SECS(15), || lab.has_addr(0, VIP) && !lab.has_addr(1, VIP));
        if !back {
            eprintln!("keepalived round {i}: the Master did not take back over within 15 s");
        }
        std::thread::sleep(SECS(1));
    }
    eprintln!(
        "keepalived takeovers {takeovers:?}; at the kill (first 5) min/median/max {:?}",
        stats(&takeovers[..takeovers.len().min(5)])
    );
    let log = lab.keepalived_log(1);
    let reloads: Vec<&str> = log.lines().filter(|l| l.contains("eload")).collect();
    eprintln!("--- node 1 reload lines\n{}", reloads.join("\n"));
}
