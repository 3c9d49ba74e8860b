use std::collections::BTreeSet;
use std::net::IpAddr;

use super::*;
use crate::ipvs::genl::{Family, Protocol, Tunnel};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn key(a: &str) -> ServiceKey {
    ServiceKey::Addr {
        protocol: Protocol::Tcp,
        addr: ip(a),
        port: 80,
    }
}

fn dest(a: &str, w: u32) -> Dest {
    Dest::new(ip(a), 80, Forward::Route, w)
}

/// What the kernel would dump after applying `desired`.
fn kernel_of(desired: &[(Service, Vec<Dest>)]) -> Vec<(ServiceEntry, Vec<DestEntry>)> {
    desired
        .iter()
        .map(|(s, d)| {
            (
                ServiceEntry { service: s.clone() },
                d.iter()
                    .map(|d| DestEntry {
                        dest: *d,
                        active: 1,
                        inactive: 2,
                        persistent: 0,
                    })
                    .collect(),
            )
        })
        .collect()
}

fn owned(keys: &[ServiceKey]) -> BTreeSet<ServiceKey> {
    keys.iter().copied().collect()
}

#[test]
fn an_empty_kernel_gets_everything_and_a_matching_one_nothing() {
    let s = Service::new(key("10.0.0.1"), "wrr");
    let desired = vec![(s.clone(), vec![dest("10.0.1.1", 1), dest("10.0.1.2", 2)])];
    let p = plan(&desired, &[], &owned(&[s.key]));
    assert_eq!(
        p,
        vec![
            Request::NewService(s.clone()),
            Request::NewDest(s.key, dest("10.0.1.1", 1)),
            Request::NewDest(s.key, dest("10.0.1.2", 2)),
        ]
    );
    assert!(plan(&desired, &kernel_of(&desired), &owned(&[s.key])).is_empty());
}

#[test]
fn a_weight_change_is_one_set_dest() {
    let s = Service::new(key("10.0.0.1"), "wrr");
    let before = vec![(s.clone(), vec![dest("10.0.1.1", 1), dest("10.0.1.2", 2)])];
    let after = vec![(s.clone(), vec![dest("10.0.1.1", 1), dest("10.0.1.2", 5)])];
    assert_eq!(
        plan(&after, &kernel_of(&before), &owned(&[s.key])),
        vec![Request::SetDest(s.key, dest("10.0.1.2", 5))]
    );
}

#[test]
fn only_owned_services_are_touched() {
    let mine = Service::new(key("10.0.0.1"), "wrr");
    let theirs = Service::new(key("10.0.0.2"), "rr");
    let old = Service::new(key("10.0.0.3"), "rr");
    let kernel = kernel_of(&[
        (mine.clone(), vec![dest("10.0.1.1", 1)]),
        (theirs.clone(), vec![dest("10.0.2.1", 1)]),
        (old.clone(), vec![dest("10.0.3.1", 1)]),
    ]);
    let desired = vec![(mine.clone(), vec![dest("10.0.1.1", 1)])];
    // `old` was in the previous configuration: it goes; `theirs` stays.
    assert_eq!(
        plan(&desired, &kernel, &owned(&[mine.key, old.key])),
        vec![Request::DelService(old.key)]
    );
}

#[test]
fn drift_by_hand_is_repaired() {
    let s = Service::new(key("10.0.0.1"), "wrr");
    let desired = vec![(s.clone(), vec![dest("10.0.1.1", 1), dest("10.0.1.2", 2)])];
    // ipvsadm -d of one, -e of the other's weight, -a of a stranger.
    let kernel = kernel_of(&[(s.clone(), vec![dest("10.0.1.2", 9), dest("10.0.1.9", 1)])]);
    assert_eq!(
        plan(&desired, &kernel, &owned(&[s.key])),
        vec![
            Request::NewDest(s.key, dest("10.0.1.1", 1)),
            Request::SetDest(s.key, dest("10.0.1.2", 2)),
            Request::DelDest(s.key, ip("10.0.1.9"), 80),
        ]
    );
    // ipvsadm -D: the whole service comes back.
    assert_eq!(plan(&desired, &[], &owned(&[s.key])).len(), 3);
    // ipvsadm -E -s rr: the scheduler is set back.
    let mut other = s.clone();
    other.scheduler = "rr".into();
    let kernel = kernel_of(&[(other, desired[0].1.clone())]);
    assert_eq!(
        plan(&desired, &kernel, &owned(&[s.key])),
        vec![Request::SetService(s.clone())]
    );
}

#[test]
fn the_kernels_local_method_and_hashed_flag_are_no_drift() {
    let s = Service::new(key("10.0.0.1"), "wrr");
    let d = Dest::new(ip("127.0.0.1"), 80, Forward::Route, 1);
    let desired = vec![(s.clone(), vec![d])];
    let mut kernel = kernel_of(&desired);
    kernel[0].1[0].dest.forward = Forward::Local;
    assert!(plan(&desired, &kernel, &owned(&[s.key])).is_empty());
    // A tunnel's options are compared.
    let t = Dest::new(ip("10.0.1.1"), 80, Forward::Tunnel(Tunnel::default()), 1);
    let desired = vec![(s.clone(), vec![t])];
    let mut kernel = kernel_of(&desired);
    kernel[0].1[0].dest.forward = Forward::Tunnel(Tunnel {
        port: 6080,
        ..Tunnel::default()
    });
    assert_eq!(
        plan(&desired, &kernel, &owned(&[s.key])),
        vec![Request::SetDest(s.key, t)]
    );
}

#[test]
fn a_sorry_server_comes_in_before_the_last_real_server_leaves() {
    let s = Service::new(key("10.0.0.1"), "wrr");
    let kernel = kernel_of(&[(s.clone(), vec![dest("10.0.1.1", 1)])]);
    let desired = vec![(s.clone(), vec![dest("10.9.9.9", 1)])];
    assert_eq!(
        plan(&desired, &kernel, &owned(&[s.key])),
        vec![
            Request::NewDest(s.key, dest("10.9.9.9", 1)),
            Request::DelDest(s.key, ip("10.0.1.1"), 80),
        ]
    );
}

#[test]
fn fwmark_services_of_each_family_are_distinct() {
    let v4 = Service::new(
        ServiceKey::Fwmark {
            family: Family::V4,
            mark: 1,
        },
        "rr",
    );
    let v6 = Service::new(
        ServiceKey::Fwmark {
            family: Family::V6,
            mark: 1,
        },
        "rr",
    );
    let kernel = kernel_of(&[(v6.clone(), vec![])]);
    assert_eq!(
        plan(&[(v4.clone(), vec![])], &kernel, &owned(&[v4.key])),
        vec![Request::NewService(v4)]
    );
}

#[test]
fn sync_daemons_are_started_replaced_and_stopped() {
    let d = |state, id| SyncDaemon {
        state,
        interface: "eth0".into(),
        sync_id: id,
        maxlen: None,
        group: None,
        port: None,
        ttl: None,
    };
    let mut running = d(SyncState::Backup, 50);
    running.maxlen = Some(1472);
    running.port = Some(8848);
    // The kernel's defaults satisfy a request without options.
    assert!(plan_daemons(&[d(SyncState::Backup, 50)], &[running.clone()]).is_empty());
    // Backup → master.
    assert_eq!(
        plan_daemons(&[d(SyncState::Master, 50)], &[running.clone()]),
        vec![
            Request::NewDaemon(d(SyncState::Master, 50)),
            Request::DelDaemon(SyncState::Backup)
        ]
    );
    // Another sync id: restarted.
    assert_eq!(
        plan_daemons(&[d(SyncState::Backup, 51)], &[running]),
        vec![
            Request::DelDaemon(SyncState::Backup),
            Request::NewDaemon(d(SyncState::Backup, 51))
        ]
    );
}

#[test]
fn a_patched_dump_is_what_the_kernel_holds_after_the_plan() {
    let s = Service::new(key("10.0.0.1"), "wrr");
    let gone = Service::new(key("10.0.0.3"), "rr");
    let mut other = s.clone();
    other.scheduler = "rr".into();
    let mut kernel = kernel_of(&[
        (other, vec![dest("10.0.1.2", 9), dest("10.0.1.9", 1)]),
        (gone.clone(), vec![dest("10.0.3.1", 1)]),
    ]);
    let n = Service::new(key("10.0.0.2"), "wlc");
    let desired = vec![
        (s.clone(), vec![dest("10.0.1.1", 1), dest("10.0.1.2", 2)]),
        (n.clone(), vec![dest("10.0.2.1", 4)]),
    ];
    let owned = owned(&[s.key, n.key, gone.key]);
    for r in plan(&desired, &kernel, &owned) {
        patch(&mut kernel, &r);
    }
    // Nothing left to do, and a changed destination kept its counters.
    assert!(plan(&desired, &kernel, &owned).is_empty(), "{kernel:?}");
    let d2 = kernel[0]
        .1
        .iter()
        .find(|e| e.dest.addr == ip("10.0.1.2"))
        .unwrap();
    assert_eq!((d2.dest.weight, d2.active, d2.inactive), (2, 1, 2));
    assert_eq!(kernel.len(), 2);
}
