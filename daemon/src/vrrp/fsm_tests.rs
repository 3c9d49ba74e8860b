//! Virtual-time tests: one per RFC 5798 §6 rule, plus keepalived extensions.

use super::*;

const LOCAL: &str = "10.0.0.2";
const PEER_LOW: &str = "10.0.0.1";
const PEER_HIGH: &str = "10.0.0.3";
const VIP: &str = "10.0.0.100";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn params(priority: u8, version: Version, interval_cs: u16) -> Params {
    Params {
        name: "VI_1".into(),
        vrid: 51,
        version,
        priority,
        advert_interval_cs: interval_cs,
        preempt: true,
        preempt_delay: Duration::ZERO,
        auth: Auth::None,
        vips: vec![ip(VIP)],
        held: vec![vip()],
        check_adv_addr: true,
        unicast_peers_only: None,
        down_timer_adverts: 3,
        local_addr: ip(LOCAL),
        garp: GarpParams::default(),
        in_sync_group: false,
    }
}

/// The one address the test instance holds.
fn vip() -> crate::config::values::Vip {
    crate::config::values::Vip {
        addr: ip(VIP),
        prefix: 32,
        brd: None,
        dev: None,
        scope: None,
        label: None,
    }
}

fn add() -> Action {
    Action::AddVips(vec![vip()])
}

fn remove() -> Action {
    Action::RemoveVips(vec![vip()])
}

fn garp(count: u32) -> Action {
    Action::Gratuitous {
        addrs: vec![ip(VIP)],
        count,
    }
}

fn advert(version: Version, priority: u8, interval_cs: u16) -> Advert {
    Advert {
        version,
        vrid: 51,
        priority,
        interval_cs,
        addrs: vec![ip(VIP)],
        auth: Auth::None,
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn us(n: u64) -> Duration {
    Duration::from_micros(n)
}

/// An instance started at `t0`.
fn started(p: Params) -> (Instance, Instant, Vec<Action>) {
    let t0 = Instant::now();
    let mut i = Instance::new(p);
    let a = i.handle(t0, Event::Startup);
    (i, t0, a)
}

fn recv(i: &mut Instance, now: Instant, src: &str, a: &Advert) -> Vec<Action> {
    i.handle(
        now,
        Event::Advert {
            src: ip(src),
            advert: a,
        },
    )
}

fn became(actions: &[Action], to: State) -> bool {
    actions
        .iter()
        .any(|a| matches!(a, Action::StateChanged { to: t, .. } if *t == to))
}

fn sent(actions: &[Action]) -> Vec<u8> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::SendAdvert { priority } => Some(*priority),
            _ => None,
        })
        .collect()
}

/// Drives the instance to Master by letting Master_Down_Interval pass.
fn make_master(i: &mut Instance, t0: Instant) -> Instant {
    let t = i.next_deadline().unwrap();
    assert!(t > t0);
    let a = i.handle(t, Event::Timeout);
    assert!(became(&a, State::Master), "{a:?}");
    t
}

#[test]
fn timing_formulas_match_the_rfcs() {
    // v3, priority 100, 1 s: skew = 156/256 × 1 s.
    let i = Instance::new(params(100, Version::V3, 100));
    assert_eq!(i.skew_time(), us(609_375));
    assert_eq!(i.master_down_interval(), us(3_609_375));
    // v3, priority 200, 0.1 s: skew = 56/256 × 100 ms.
    let i = Instance::new(params(200, Version::V3, 10));
    assert_eq!(i.skew_time(), us(21_875));
    assert_eq!(i.master_down_interval(), us(321_875));
    // v3, 10 ms, priority 254.
    let i = Instance::new(params(254, Version::V3, 1));
    assert_eq!(
        i.master_down_interval(),
        ms(30) + Duration::from_nanos(78_125)
    );
    // v2: skew = (256 - priority)/256 s whatever the interval.
    let i = Instance::new(params(100, Version::V2, 300));
    assert_eq!(i.skew_time(), us(609_375));
    assert_eq!(
        i.master_down_interval(),
        Duration::from_secs(9) + us(609_375)
    );
}

#[test]
fn startup_goes_to_backup_and_waits_master_down_interval() {
    let (mut i, t0, a) = started(params(100, Version::V3, 100));
    assert!(became(&a, State::Backup));
    assert!(sent(&a).is_empty(), "a Backup does not advertise");
    let deadline = i.next_deadline().unwrap();
    assert_eq!(deadline - t0, us(3_609_375));
    // Not a moment before.
    let early = i.handle(deadline - Duration::from_nanos(1), Event::Timeout);
    assert!(early.is_empty());
    let a = i.handle(deadline, Event::Timeout);
    assert_eq!(
        a[..4],
        [
            Action::SendAdvert { priority: 100 },
            add(),
            garp(5),
            Action::StateChanged {
                from: State::Backup,
                to: State::Master,
                cause: Cause::MasterDown
            },
        ]
    );
}

#[test]
fn owner_becomes_master_at_startup() {
    let (i, _, a) = started(params(255, Version::V3, 100));
    assert_eq!(i.state(), State::Master);
    assert_eq!(sent(&a), vec![255]);
    assert!(a.contains(&add()));
    assert!(a.contains(&Action::StateChanged {
        from: State::Initialize,
        to: State::Master,
        cause: Cause::Owner
    }));
}

#[test]
fn backup_resets_master_down_timer_on_each_advert() {
    let (mut i, t0, _) = started(params(100, Version::V3, 100));
    let adv = advert(Version::V3, 150, 100);
    for k in 1..=10u32 {
        let now = t0 + Duration::from_secs(1) * k;
        let a = recv(&mut i, now, PEER_HIGH, &adv);
        assert!(a.is_empty());
        assert_eq!(i.next_deadline(), Some(now + us(3_609_375)));
    }
    assert_eq!(i.state(), State::Backup);
    assert_eq!(
        i.master(),
        Some(MasterInfo {
            addr: ip(PEER_HIGH),
            priority: 150
        })
    );
}

#[test]
fn v3_backup_adopts_the_masters_interval() {
    let (mut i, t0, _) = started(params(100, Version::V3, 100));
    let now = t0 + ms(50);
    recv(&mut i, now, PEER_HIGH, &advert(Version::V3, 150, 10));
    assert_eq!(i.master_adver_interval(), ms(100));
    // 3 × 100 ms + 156/256 × 100 ms.
    assert_eq!(
        i.next_deadline(),
        Some(now + us(360_937) + Duration::from_nanos(500))
    );
}

#[test]
fn priority_zero_makes_backup_take_over_after_skew_time() {
    let (mut i, t0, _) = started(params(100, Version::V3, 100));
    recv(
        &mut i,
        t0 + ms(100),
        PEER_HIGH,
        &advert(Version::V3, 150, 100),
    );
    let now = t0 + ms(900);
    recv(&mut i, now, PEER_HIGH, &advert(Version::V3, 0, 100));
    assert_eq!(i.next_deadline(), Some(now + us(609_375)));
    let a = i.handle(now + us(609_375), Event::Timeout);
    assert!(a.contains(&Action::StateChanged {
        from: State::Backup,
        to: State::Master,
        cause: Cause::MasterResigned
    }));
}

#[test]
fn preempt_discards_lower_priority_master() {
    let (mut i, t0, _) = started(params(100, Version::V3, 100));
    recv(
        &mut i,
        t0 + ms(100),
        PEER_LOW,
        &advert(Version::V3, 150, 100),
    );
    let t1 = t0 + ms(200);
    recv(&mut i, t1, PEER_LOW, &advert(Version::V3, 50, 100));
    // The lower advert did not reset the timer: it runs from the last accepted one.
    assert_eq!(i.next_deadline(), Some(t0 + ms(100) + us(3_609_375)));
    for k in 1..=3 {
        recv(
            &mut i,
            t1 + ms(1000) * k,
            PEER_LOW,
            &advert(Version::V3, 50, 100),
        );
    }
    let a = i.handle(t0 + ms(100) + us(3_609_375), Event::Timeout);
    assert!(became(&a, State::Master));
}

#[test]
fn nopreempt_keeps_the_current_master() {
    let mut p = params(100, Version::V3, 100);
    p.preempt = false;
    let (mut i, t0, _) = started(p);
    for k in 1..=20u32 {
        let now = t0 + Duration::from_secs(1) * k;
        recv(&mut i, now, PEER_LOW, &advert(Version::V3, 50, 100));
        i.handle(now, Event::Timeout);
        assert_eq!(i.state(), State::Backup);
    }
}

#[test]
fn preempt_delay_holds_preemption_after_start() {
    let mut p = params(100, Version::V3, 100);
    p.preempt_delay = Duration::from_secs(10);
    let (mut i, t0, _) = started(p);
    // During the delay a lower-priority Master is accepted.
    for k in 1..10u32 {
        let now = t0 + Duration::from_secs(1) * k;
        recv(&mut i, now, PEER_LOW, &advert(Version::V3, 50, 100));
        assert!(i.handle(now, Event::Timeout).is_empty());
    }
    // After it, its adverts are discarded and we take over one interval later.
    for k in 10..13u32 {
        recv(
            &mut i,
            t0 + Duration::from_secs(1) * k,
            PEER_LOW,
            &advert(Version::V3, 50, 100),
        );
    }
    let deadline = i.next_deadline().unwrap();
    assert_eq!(deadline, t0 + Duration::from_secs(9) + us(3_609_375));
    assert!(became(&i.handle(deadline, Event::Timeout), State::Master));
}

#[test]
fn master_advertises_every_interval() {
    let (mut i, t0, _) = started(params(100, Version::V3, 100));
    let t = make_master(&mut i, t0);
    for k in 1..=5u32 {
        let at = t + Duration::from_secs(1) * k;
        assert_eq!(i.next_deadline(), Some(at));
        assert_eq!(sent(&i.handle(at, Event::Timeout)), vec![100]);
    }
}

#[test]
fn master_yields_to_higher_priority() {
    let (mut i, t0, _) = started(params(100, Version::V3, 100));
    let t = make_master(&mut i, t0) + ms(10);
    let a = recv(&mut i, t, PEER_LOW, &advert(Version::V3, 101, 100));
    assert_eq!(a[0], remove());
    assert!(a.contains(&Action::StateChanged {
        from: State::Master,
        to: State::Backup,
        cause: Cause::HigherPriority {
            from: ip(PEER_LOW),
            priority: 101
        }
    }));
    assert!(sent(&a).is_empty());
}

#[test]
fn equal_priority_is_decided_by_the_higher_address() {
    let (mut i, t0, _) = started(params(100, Version::V3, 100));
    let t = make_master(&mut i, t0) + ms(10);
    assert!(recv(&mut i, t, PEER_LOW, &advert(Version::V3, 100, 100)).is_empty());
    assert_eq!(i.state(), State::Master);
    assert!(became(
        &recv(&mut i, t, PEER_HIGH, &advert(Version::V3, 100, 100)),
        State::Backup
    ));
}

#[test]
fn master_ignores_lower_priority_and_answers_resignation() {
    let (mut i, t0, _) = started(params(100, Version::V3, 100));
    let t = make_master(&mut i, t0) + ms(300);
    assert!(recv(&mut i, t, PEER_LOW, &advert(Version::V3, 99, 100)).is_empty());
    let a = recv(&mut i, t, PEER_LOW, &advert(Version::V3, 0, 100));
    assert_eq!(a, vec![Action::SendAdvert { priority: 100 }]);
    assert_eq!(i.next_deadline(), Some(t + ms(1000)));
}

#[test]
fn shutdown_resigns_as_master_and_is_silent_as_backup() {
    let (mut i, t0, _) = started(params(100, Version::V3, 100));
    let t = make_master(&mut i, t0);
    let a = i.handle(t, Event::Shutdown);
    assert_eq!(a[..2], [Action::SendAdvert { priority: 0 }, remove()]);
    assert!(became(&a, State::Initialize));
    assert_eq!(i.next_deadline(), None);
    let (mut b, t0, _) = started(params(100, Version::V3, 100));
    let a = b.handle(t0, Event::Shutdown);
    assert!(sent(&a).is_empty());
    assert!(became(&a, State::Initialize));
}

#[test]
fn weights_adjust_priority_and_clamp() {
    let (mut i, t0, _) = started(params(100, Version::V3, 100));
    let a = i.handle(
        t0,
        Event::Adjust {
            source: "chk".into(),
            delta: 20,
        },
    );
    assert_eq!(a, vec![Action::PriorityChanged { priority: 120 }]);
    i.handle(
        t0,
        Event::Adjust {
            source: "eth1".into(),
            delta: -50,
        },
    );
    assert_eq!(i.priority(), 70);
    // Replacing a source's adjustment, not adding to it.
    i.handle(
        t0,
        Event::Adjust {
            source: "chk".into(),
            delta: 200,
        },
    );
    assert_eq!(i.priority(), 250);
    i.handle(
        t0,
        Event::Adjust {
            source: "eth1".into(),
            delta: 0,
        },
    );
    assert_eq!(i.priority(), 254, "clamped below the owner's 255");
    i.handle(
        t0,
        Event::Adjust {
            source: "chk".into(),
            delta: -500,
        },
    );
    assert_eq!(i.priority(), 1, "clamped at 1");
    // Skew and Master_Down_Interval follow the effective priority.
    assert_eq!(i.skew_time(), ms(1000) * 255 / 256);
    // The owner is not adjusted.
    let (mut o, t0, _) = started(params(255, Version::V3, 100));
    o.handle(
        t0,
        Event::Adjust {
            source: "chk".into(),
            delta: -10,
        },
    );
    assert_eq!(o.priority(), 255);
}

#[test]
fn adverts_carry_the_effective_priority() {
    let (mut i, t0, _) = started(params(100, Version::V3, 100));
    let t = make_master(&mut i, t0);
    i.handle(
        t,
        Event::Adjust {
            source: "chk".into(),
            delta: -30,
        },
    );
    assert_eq!(sent(&i.handle(t + ms(1000), Event::Timeout)), vec![70]);
}

#[test]
fn fault_resigns_and_recovers_to_backup() {
    let (mut i, t0, _) = started(params(100, Version::V3, 100));
    let t = make_master(&mut i, t0);
    let a = i.handle(
        t,
        Event::Fault {
            source: "eth0".into(),
            failed: true,
        },
    );
    assert_eq!(a[..2], [Action::SendAdvert { priority: 0 }, remove()]);
    assert!(a.contains(&Action::StateChanged {
        from: State::Master,
        to: State::Fault,
        cause: Cause::Fault("eth0".into())
    }));
    assert_eq!(i.next_deadline(), None, "silent in Fault");
    // A second source, then both cleared.
    assert!(
        i.handle(
            t,
            Event::Fault {
                source: "chk".into(),
                failed: true
            }
        )
        .is_empty()
    );
    assert!(
        i.handle(
            t,
            Event::Fault {
                source: "eth0".into(),
                failed: false
            }
        )
        .is_empty()
    );
    assert_eq!(i.state(), State::Fault);
    let t2 = t + ms(5000);
    let a = i.handle(
        t2,
        Event::Fault {
            source: "chk".into(),
            failed: false,
        },
    );
    assert!(a.contains(&Action::StateChanged {
        from: State::Fault,
        to: State::Backup,
        cause: Cause::FaultCleared
    }));
    assert_eq!(i.next_deadline(), Some(t2 + us(3_609_375)));
    // Adverts are ignored while in Fault.
    i.handle(
        t2,
        Event::Fault {
            source: "x".into(),
            failed: true,
        },
    );
    assert!(recv(&mut i, t2, PEER_HIGH, &advert(Version::V3, 200, 100)).is_empty());
}

#[test]
fn fault_present_at_startup() {
    let mut i = Instance::new(params(100, Version::V3, 100));
    let t0 = Instant::now();
    assert!(
        i.handle(
            t0,
            Event::Fault {
                source: "eth0".into(),
                failed: true
            }
        )
        .is_empty()
    );
    let a = i.handle(t0, Event::Startup);
    assert!(became(&a, State::Fault));
}

#[test]
fn receive_checks_that_need_the_configuration() {
    let (mut i, t0, _) = started(params(100, Version::V3, 100));
    let drop = |a: Vec<Action>| match a.as_slice() {
        [Action::Dropped(r)] => Some(*r),
        _ => None,
    };
    assert_eq!(
        drop(recv(&mut i, t0, PEER_HIGH, &advert(Version::V2, 150, 100))),
        Some(DropReason::VersionMismatch)
    );
    // v3 accepts another address list (RFC 5798 §7.1; see
    // v3_accepts_a_different_address_list_and_reports_it); v2 drops it.
    let mut other = advert(Version::V2, 150, 100);
    other.addrs = vec![ip("10.0.0.99")];
    let (mut i, t0, _) = started(params(100, Version::V2, 100));
    assert_eq!(
        drop(recv(&mut i, t0, PEER_HIGH, &other)),
        Some(DropReason::AddressMismatch)
    );
    other.priority = 255;
    assert_eq!(
        drop(recv(&mut i, t0, PEER_HIGH, &other)),
        None,
        "the owner's list is not checked"
    );
    assert_eq!(
        drop(recv(&mut i, t0, LOCAL, &advert(Version::V3, 150, 100))),
        Some(DropReason::OwnAdvert)
    );
    // A dropped advert changes nothing.
    let (mut j, t0, _) = started(params(100, Version::V3, 100));
    let before = j.next_deadline();
    recv(
        &mut j,
        t0 + ms(500),
        PEER_HIGH,
        &advert(Version::V2, 200, 100),
    );
    assert_eq!(j.next_deadline(), before);
    assert_eq!(j.state(), State::Backup);
}

#[test]
fn v2_checks_interval_and_password() {
    let mut p = params(100, Version::V2, 100);
    p.auth = Auth::pass("secret");
    let (mut i, t0, _) = started(p);
    let drop = |a: Vec<Action>| match a.as_slice() {
        [Action::Dropped(r)] => Some(*r),
        _ => None,
    };
    let mut a = advert(Version::V2, 150, 100);
    a.auth = Auth::pass("secret");
    assert_eq!(drop(recv(&mut i, t0, PEER_HIGH, &a)), None);
    a.interval_cs = 200;
    assert_eq!(
        drop(recv(&mut i, t0, PEER_HIGH, &a)),
        Some(DropReason::IntervalMismatch)
    );
    a.interval_cs = 100;
    a.auth = Auth::pass("wrong");
    assert_eq!(
        drop(recv(&mut i, t0, PEER_HIGH, &a)),
        Some(DropReason::AuthFailure)
    );
    a.auth = Auth::None;
    assert_eq!(
        drop(recv(&mut i, t0, PEER_HIGH, &a)),
        Some(DropReason::AuthTypeMismatch)
    );
}

#[test]
fn gratuitous_schedule_after_becoming_master() {
    let mut p = params(100, Version::V3, 100);
    p.garp.master_refresh = Some(Duration::from_secs(60));
    p.garp.master_refresh_repeat = 2;
    let (mut i, t0, _) = started(p);
    let t = make_master(&mut i, t0);
    let mut bursts = Vec::new();
    let mut now = t;
    for _ in 0..200 {
        let Some(next) = i.next_deadline() else { break };
        if next > t + Duration::from_secs(130) {
            break;
        }
        now = next;
        for a in i.handle(now, Event::Timeout) {
            if let Action::Gratuitous { count, .. } = a {
                bursts.push((now - t, count));
            }
        }
    }
    assert!(now > t);
    assert_eq!(
        bursts,
        vec![
            (Duration::from_secs(5), 5),
            (Duration::from_secs(60), 2),
            (Duration::from_secs(120), 2)
        ]
    );
}

#[test]
fn lower_priority_master_triggers_a_delayed_burst_when_configured() {
    let mut p = params(100, Version::V3, 100);
    p.garp.master_delay = Duration::ZERO;
    p.garp.lower_prio_delay = Some(ms(500));
    p.garp.lower_prio_repeat = 3;
    let (mut i, t0, _) = started(p);
    let t = make_master(&mut i, t0);
    recv(&mut i, t + ms(100), PEER_LOW, &advert(Version::V3, 50, 100));
    assert_eq!(i.next_deadline(), Some(t + ms(600)));
    assert_eq!(i.handle(t + ms(600), Event::Timeout), vec![garp(3)]);
}

#[test]
fn sync_group_members_ask_before_becoming_master() {
    let mut p = params(100, Version::V3, 100);
    p.in_sync_group = true;
    let (mut i, _, _) = started(p);
    let t = i.next_deadline().unwrap();
    assert_eq!(i.handle(t, Event::Timeout), vec![Action::WantsMaster]);
    assert_eq!(i.state(), State::Backup);
    assert!(i.wants_master());
    assert_eq!(i.next_deadline(), None);
    // An advert from a Master withdraws the wish and restarts the timer.
    recv(
        &mut i,
        t + ms(10),
        PEER_HIGH,
        &advert(Version::V3, 150, 100),
    );
    assert!(!i.wants_master());
    let t2 = i.next_deadline().unwrap();
    assert_eq!(i.handle(t2, Event::Timeout), vec![Action::WantsMaster]);
    let a = i.handle(t2, Event::GroupMaster { group: "G".into() });
    assert!(a.contains(&Action::StateChanged {
        from: State::Backup,
        to: State::Master,
        cause: Cause::SyncGroup("G".into())
    }));
    let a = i.handle(t2 + ms(10), Event::GroupBackup { group: "G".into() });
    assert!(a.contains(&remove()));
    assert_eq!(i.state(), State::Backup);
}

#[test]
fn resign_gives_up_mastership_at_once_and_holds_backup_until_cleared() {
    let (mut i, t0, _) = started(params(100, Version::V3, 100));
    let t = make_master(&mut i, t0);
    let resign = |active| Event::Resign {
        source: "script:chk".into(),
        active,
    };
    let a = i.handle(t + ms(10), resign(true));
    assert_eq!(sent(&a), vec![0], "priority-0 advert first");
    assert!(a.contains(&remove()));
    assert!(became(&a, State::Backup));
    // While resigned, Master_Down_Interval passes and nothing happens.
    let mut now = t + ms(10);
    for _ in 0..3 {
        now = i.next_deadline().unwrap();
        let a = i.handle(now, Event::Timeout);
        assert!(!became(&a, State::Master), "{a:?}");
        assert_eq!(i.state(), State::Backup);
    }
    // Cleared: the next Master_Down_Interval without adverts makes it Master.
    assert!(i.handle(now, resign(false)).is_empty());
    let at = i.next_deadline().unwrap();
    let a = i.handle(at, Event::Timeout);
    assert!(became(&a, State::Master), "{a:?}");
}

#[test]
fn resume_starts_as_master_without_waiting_unless_faulted_or_resigned() {
    let mut i = Instance::new(params(100, Version::V3, 100));
    let t0 = Instant::now();
    let a = i.handle(t0, Event::Resume);
    assert_eq!(sent(&a), vec![100], "an advert at once");
    assert!(a.contains(&add()));
    assert!(became(&a, State::Master));
    // A resigned instance does not resume; Startup then makes it Backup.
    let mut j = Instance::new(params(100, Version::V3, 100));
    let _ = j.handle(
        t0,
        Event::Resign {
            source: "script:chk".into(),
            active: true,
        },
    );
    assert!(j.handle(t0, Event::Resume).is_empty());
    assert!(became(&j.handle(t0, Event::Startup), State::Backup));
}

/// A rolling change of the VIP list (issue 17): the Master advertises one
/// more address than the Backup has. v3 accepts the advert (RFC 5798 §7.1
/// "MAY check … SHOULD log"), so the Backup stays Backup; the mismatch is
/// reported once when it starts, again only when the peer's list changes,
/// and once when it ends.
#[test]
fn v3_accepts_a_different_address_list_and_reports_it() {
    let (mut i, t0, _) = started(params(100, Version::V3, 100));
    let mut wider = advert(Version::V3, 150, 100);
    wider.addrs = vec![ip(VIP), ip("10.0.0.101")];
    let mismatches = |a: &[Action]| {
        a.iter()
            .filter(|x| matches!(x, Action::AddressMismatch(_)))
            .count()
    };
    let ended = |a: &[Action]| {
        a.iter()
            .any(|x| matches!(x, Action::AddressMismatchEnded { .. }))
    };
    let mut reported = 0;
    let mut t = t0;
    // Ten seconds of adverts, every second: always Backup, reported once.
    for _ in 0..10 {
        t += ms(1000);
        let a = recv(&mut i, t, PEER_HIGH, &wider);
        assert!(!a.iter().any(|x| matches!(x, Action::Dropped(_))), "{a:?}");
        reported += mismatches(&a);
        if let Some(d) = i.next_deadline() {
            let a = i.handle(d.min(t + ms(999)), Event::Timeout);
            assert!(!became(&a, State::Master), "{a:?}");
        }
    }
    assert_eq!(reported, 1);
    assert_eq!(i.state(), State::Backup);
    let m = i.address_mismatch().unwrap();
    assert_eq!(m.from, ip(PEER_HIGH));
    assert_eq!(m.theirs, vec![ip(VIP), ip("10.0.0.101")]);
    // The peer's list changes again: one more report.
    wider.addrs.push(ip("10.0.0.102"));
    t += ms(1000);
    assert_eq!(mismatches(&recv(&mut i, t, PEER_HIGH, &wider)), 1);
    // The Backup is reloaded with the same list: over at once.
    let mut p = params(100, Version::V3, 100);
    p.vips = wider.addrs.clone();
    assert!(ended(&i.set_params(p.clone())));
    assert_eq!(i.address_mismatch(), None);
    t += ms(1000);
    assert!(recv(&mut i, t, PEER_HIGH, &wider).is_empty());
    // Backup first: the Master still sends the old list, then catches up.
    let narrow = advert(Version::V3, 150, 100);
    t += ms(1000);
    assert_eq!(mismatches(&recv(&mut i, t, PEER_HIGH, &narrow)), 1);
    t += ms(1000);
    assert!(ended(&recv(&mut i, t, PEER_HIGH, &wider)));
    // Taking over ends it too (that peer is no longer heard).
    t += ms(1000);
    recv(&mut i, t, PEER_HIGH, &narrow);
    let a = i.handle(i.next_deadline().unwrap(), Event::Timeout);
    assert!(became(&a, State::Master) && ended(&a), "{a:?}");
    // skip_check_adv_addr: not compared at all.
    let mut p = params(100, Version::V3, 100);
    p.check_adv_addr = false;
    let (mut j, t0, _) = started(p);
    assert!(recv(&mut j, t0 + ms(10), PEER_HIGH, &narrow.clone()).is_empty());
    let mut other = narrow;
    other.addrs = vec![ip("10.0.0.99")];
    assert!(recv(&mut j, t0 + ms(20), PEER_HIGH, &other).is_empty());
}

/// v2 keeps RFC 3768 §7.1: a non-owner's advert with another list is
/// dropped, so the Backup takes over after Master_Down_Interval (two
/// Masters until the lists agree; docs/operations.md says so).
#[test]
fn v2_drops_a_different_address_list() {
    let (mut i, t0, _) = started(params(100, Version::V2, 100));
    let mut wider = advert(Version::V2, 150, 100);
    wider.addrs = vec![ip(VIP), ip("10.0.0.101")];
    let mut t = t0;
    let mut master_at = None;
    for _ in 0..6 {
        t += ms(1000);
        let a = recv(&mut i, t, PEER_HIGH, &wider);
        assert_eq!(a, vec![Action::Dropped(DropReason::AddressMismatch)]);
        if let Some(d) = i.next_deadline().filter(|d| *d <= t + ms(1000))
            && became(&i.handle(d, Event::Timeout), State::Master)
        {
            master_at.get_or_insert(d);
        }
    }
    let took = master_at.expect("took over").duration_since(t0);
    assert_eq!(
        took,
        Duration::from_secs(3) + Duration::from_secs(1) * 156 / 256
    );
    assert_eq!(i.address_mismatch(), None, "v2 does not report it");
}

#[path = "fsm_maintenance_tests.rs"]
mod maintenance;
