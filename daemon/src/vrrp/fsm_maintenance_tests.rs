//! Virtual-time tests of operator resignations (`fsm_maintenance.rs`).

use super::*;

fn maintenance(active: bool) -> Event<'static> {
    Event::Resign {
        source: MAINTENANCE.into(),
        active,
    }
}

fn removes(a: &[Action]) -> bool {
    a.contains(&remove())
}

#[test]
fn maintenance_resigns_keeps_the_vips_until_the_new_master_is_heard() {
    let (mut i, t0, _) = started(params(150, Version::V3, 100));
    let t = make_master(&mut i, t0);
    let a = i.handle(t + ms(10), maintenance(true));
    assert_eq!(sent(&a), vec![0], "priority-0 advert first");
    assert!(a.contains(&Action::StateChanged {
        from: State::Master,
        to: State::Backup,
        cause: Cause::Maintenance
    }));
    assert!(!removes(&a), "VIPs kept until the peer is Master: {a:?}");
    assert!(i.in_maintenance() && i.holds_vips());
    // The peer's first Master advert: the VIPs go.
    let a = recv(&mut i, t + ms(80), PEER_LOW, &advert(Version::V3, 100, 100));
    assert!(removes(&a), "{a:?}");
    assert!(!i.holds_vips());
    // It stays Backup however long the peer is silent.
    let mut now = t + ms(80);
    for _ in 0..5 {
        now = i.next_deadline().unwrap();
        let a = i.handle(now, Event::Timeout);
        assert!(!became(&a, State::Master), "{a:?}");
    }
    // And does not preempt the lower-priority Master.
    let a = recv(&mut i, now, PEER_LOW, &advert(Version::V3, 100, 100));
    assert!(a.is_empty(), "{a:?}");
    // Off: an ordinary Backup again, which preempts the lower priority.
    assert!(i.handle(now, maintenance(false)).is_empty());
    assert!(!i.in_maintenance());
    let at = i.next_deadline().unwrap();
    assert!(became(&i.handle(at, Event::Timeout), State::Master));
}

#[test]
fn a_resigned_master_without_a_peer_lets_go_of_the_vips_after_the_bound() {
    let (mut i, t0, _) = started(params(100, Version::V3, 100));
    let t = make_master(&mut i, t0);
    let a = i.handle(t, maintenance(true));
    assert!(!removes(&a));
    let bound = i.release_bound();
    assert_eq!(bound, i.master_down_interval() + ms(1000));
    let mut removed_at = None;
    let mut now = t;
    for _ in 0..10 {
        now = i.next_deadline().unwrap();
        if removes(&i.handle(now, Event::Timeout)) {
            removed_at = Some(now);
            break;
        }
    }
    assert_eq!(removed_at, Some(t + bound));
    assert_eq!(i.state(), State::Backup);
    // Shutdown after that removes nothing more.
    assert!(!removes(&i.handle(now, Event::Shutdown)));
}

#[test]
fn shutdown_while_handing_over_removes_the_vips() {
    let (mut i, t0, _) = started(params(100, Version::V3, 100));
    let t = make_master(&mut i, t0);
    let _ = i.handle(t, maintenance(true));
    let a = i.handle(t + ms(5), Event::Shutdown);
    assert!(removes(&a), "{a:?}");
    assert_eq!(sent(&a), Vec::<u8>::new(), "already resigned as Backup");
}

#[test]
fn handover_ends_when_the_new_master_is_heard() {
    let mut p = params(100, Version::V3, 100);
    p.preempt = false;
    let (mut i, t0, _) = started(p);
    let t = make_master(&mut i, t0);
    let a = i.handle(t, Event::Handover);
    assert_eq!(sent(&a), vec![0]);
    assert!(a.contains(&Action::StateChanged {
        from: State::Master,
        to: State::Backup,
        cause: Cause::Handover
    }));
    assert!(i.handing_over() && i.holds_vips() && !i.in_maintenance());
    // A priority-0 advert (another resigning router) does not end it.
    let _ = recv(&mut i, t + ms(10), PEER_HIGH, &advert(Version::V3, 0, 100));
    assert!(i.handing_over());
    let a = recv(&mut i, t + ms(70), PEER_LOW, &advert(Version::V3, 90, 100));
    assert!(removes(&a));
    assert!(!i.handing_over() && !i.holds_vips());
    assert_eq!(i.master().map(|m| m.priority), Some(90));
    // An ordinary Backup: the Master's resignation makes it Master again.
    let _ = recv(&mut i, t + ms(500), PEER_LOW, &advert(Version::V3, 0, 100));
    let at = i.next_deadline().unwrap();
    assert_eq!(at, t + ms(500) + i.skew_time());
    assert!(became(&i.handle(at, Event::Timeout), State::Master));
}

#[test]
fn handover_without_a_peer_is_given_up_and_the_node_is_master_again() {
    let (mut i, t0, _) = started(params(100, Version::V3, 100));
    let t = make_master(&mut i, t0);
    let _ = i.handle(t, Event::Handover);
    let bound = i.handover_bound();
    let mut master_at = None;
    for _ in 0..20 {
        let now = i.next_deadline().unwrap();
        if became(&i.handle(now, Event::Timeout), State::Master) {
            master_at = Some(now);
            break;
        }
    }
    let at = master_at.expect("Master again");
    assert!(at >= t + bound, "not before the bound: {:?}", at - t);
    assert!(at <= t + bound + i.master_down_interval(), "{:?}", at - t);
    assert!(!i.handing_over());
}

#[test]
fn handover_of_a_backup_does_nothing() {
    let (mut i, t0, _) = started(params(100, Version::V3, 100));
    assert!(i.handle(t0 + ms(10), Event::Handover).is_empty());
    assert!(!i.handing_over());
}

#[test]
fn maintenance_before_start_keeps_even_the_owner_out_of_master() {
    let mut i = Instance::new(params(PRIORITY_OWNER, Version::V3, 100));
    let t0 = Instant::now();
    assert!(i.handle(t0, maintenance(true)).is_empty());
    assert!(
        i.handle(t0, Event::Resume).is_empty(),
        "no resume as Master"
    );
    let a = i.handle(t0, Event::Startup);
    assert!(became(&a, State::Backup), "{a:?}");
    let at = i.next_deadline().unwrap();
    assert!(!became(&i.handle(at, Event::Timeout), State::Master));
    // A fault and its end keep the hold.
    let _ = i.handle(
        at,
        Event::Fault {
            source: "interface:eth0".into(),
            failed: true,
        },
    );
    let a = i.handle(
        at + ms(1),
        Event::Fault {
            source: "interface:eth0".into(),
            failed: false,
        },
    );
    assert!(became(&a, State::Backup), "{a:?}");
    assert!(i.in_maintenance());
}

#[test]
fn a_check_resignation_still_removes_the_vips_at_once() {
    let (mut i, t0, _) = started(params(100, Version::V3, 100));
    let t = make_master(&mut i, t0);
    let a = i.handle(
        t,
        Event::Resign {
            source: "script:chk".into(),
            active: true,
        },
    );
    assert!(removes(&a));
    // Maintenance on top of it changes nothing more.
    assert!(i.handle(t, maintenance(true)).is_empty());
    assert!(i.in_maintenance());
}
