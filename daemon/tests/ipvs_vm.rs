//! IPVS in a real kernel: the VM of tests/vm (this host has no IPVS). One VM
//! boots for the whole group of scenarios (tests/vm/ipvs/suite.sh); each
//! reports `ok NAME` or `fail NAME: why` on the results port and the host
//! test fails unless every scenario passed.
//!
//! The scenarios that exercise the library run this same test binary inside
//! the VM: the `in_vm_*` tests below are `#[ignore]`d on the host and run by
//! name in the guest. Skipped (loudly) only when qemu cannot run here.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test crate fails by panicking

use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

use upkeep::ipvs::genl::{
    Client, Dest, Family, Forward, IpvsError, Protocol, Request, Service, ServiceKey, SyncDaemon,
    SyncState, Tunnel, TunnelCsum, TunnelKind, flags,
};

mod common;

use common::vm;

const UPKEEPD: &str = env!("CARGO_BIN_EXE_upkeepd");
const UPKEEPCTL: &str = env!("CARGO_BIN_EXE_upkeepctl");

/// Every scenario of tests/vm/ipvs/suite.sh, in the order it runs them.
const SCENARIOS: &[&str] = &[
    "client",
    "reconcile",
    "semantics",
    "seed_dr",
    "seed_dual",
    "nat",
    "sync",
    "nosync",
];

#[test]
fn ipvs_in_a_real_kernel() {
    if let Some(why) = vm::cannot_run() {
        eprintln!("\n\n*** SKIPPED: the IPVS VM tests cannot run here: {why} ***\n\n");
        return;
    }
    let dir = vm::tempdir("ipvs-vm");
    let console = dir.join("console.log");
    let out = dir.join("results.txt");
    let me = std::env::current_exe().unwrap();
    let suite = vm::dir().join("ipvs/suite.sh");
    // UPKEEP_VM_SCENARIOS="a b" runs only those (while working on them).
    let only = std::env::var("UPKEEP_VM_SCENARIOS").ok();
    let scenarios_run: Vec<&str> = SCENARIOS
        .iter()
        .copied()
        .filter(|s| {
            only.as_ref()
                .is_none_or(|o| o.split_whitespace().any(|x| x == *s))
        })
        .collect();
    let scenarios = dir.join("scenarios");
    std::fs::write(&scenarios, scenarios_run.join("\n") + "\n").unwrap();
    let mut cmd = Command::new("python3");
    cmd.arg(vm::dir().join("vm.py"))
        .arg("run")
        .arg("--init")
        .arg(&suite)
        .args(["--timeout", "900", "--mem", "1536"])
        .arg("--console")
        .arg(&console)
        .arg("--out")
        .arg(&out)
        .args(["--modules", ""])
        .arg("--bin")
        .arg(format!("{}:/bin/ipvs-vm", me.display()))
        .arg("--bin")
        .arg(format!("{UPKEEPD}:/usr/sbin/upkeepd"))
        .arg("--bin")
        .arg(format!("{UPKEEPCTL}:/usr/sbin/upkeepctl"))
        .arg("--file")
        .arg(format!("{}:/scenarios", scenarios.display()));
    for f in std::fs::read_dir(vm::dir().join("ipvs")).unwrap() {
        let p = f.unwrap().path();
        if p.extension().is_some_and(|e| e == "sh") {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            cmd.arg("--file")
                .arg(format!("{}:/ipvs/{name}", p.display()));
        }
    }
    for f in [
        "lvs-dr-master.conf",
        "lvs-dr-backup.conf",
        "lvs-dr-dual-a.conf",
        "lvs-dr-dual-b.conf",
    ] {
        cmd.arg("--file")
            .arg(format!("{}:/seeds/{f}", common::seeds().join(f).display()));
    }
    let status = cmd.status().expect("run tests/vm/vm.py");
    let results = std::fs::read_to_string(&out).unwrap_or_default();
    let console_text = std::fs::read_to_string(&console).unwrap_or_default();
    let report = || {
        format!(
            "vm.py exit status {status}\n--- results\n{results}\n--- console (last 300 lines)\n{}",
            vm::tail(&console_text, 300)
        )
    };
    for m in results.lines().filter(|l| l.starts_with("measure ")) {
        eprintln!("{m}");
    }
    let mut failed = Vec::new();
    for s in &scenarios_run {
        let ok = results.lines().any(|l| l.trim() == format!("ok {s}"));
        if !ok {
            failed.push(*s);
        }
    }
    assert!(
        failed.is_empty() && status.success(),
        "IPVS scenarios failed: {failed:?}\n{}",
        report()
    );
    if std::env::var_os("UPKEEP_VM_KEEP").is_some() {
        eprintln!("VM console and results kept in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

// ------------------------------------------------------------ in the VM

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn key(protocol: Protocol, a: &str, port: u16) -> ServiceKey {
    ServiceKey::Addr {
        protocol,
        addr: ip(a),
        port,
    }
}

fn in_vm() -> bool {
    Path::new("/proc/net/ip_vs").exists()
}

/// The client against the kernel: every kind of service and forwarding
/// method, IPv4 and IPv6, created, dumped, changed and deleted; errors by
/// name. Run in the VM by suite.sh (`client`).
#[test]
#[ignore = "runs inside the IPVS VM (ipvs_in_a_real_kernel boots it)"]
fn in_vm_client() {
    assert!(in_vm(), "no IPVS here: this test runs inside the VM");
    let mut c = Client::open().unwrap();
    let info = c.info().unwrap();
    assert_eq!(info.version_string(), "1.2.1");
    c.execute(&Request::Flush).unwrap();

    // Every service kind, with options.
    let mut services = vec![
        Service::new(key(Protocol::Tcp, "10.0.0.1", 80), "wrr"),
        Service::new(key(Protocol::Udp, "10.0.0.1", 53), "rr"),
        Service::new(key(Protocol::Sctp, "10.0.0.1", 3868), "sh"),
        Service::new(key(Protocol::Tcp, "2001:db8::1", 443), "lc"),
        Service::new(key(Protocol::Udp, "2001:db8::1", 53), "wlc"),
        Service::new(
            ServiceKey::Fwmark {
                family: Family::V4,
                mark: 7,
            },
            "mh",
        ),
        Service::new(
            ServiceKey::Fwmark {
                family: Family::V6,
                mark: 9,
            },
            "dh",
        ),
    ];
    services[1].flags = flags::PERSISTENT;
    services[1].timeout = 300;
    services[1].netmask = upkeep::ipvs::genl::Service::netmask_of(ip("255.255.255.0"));
    services[2].flags = flags::SCHED_PORT | flags::SCHED_FALLBACK | flags::ONEPACKET;
    services[3].flags = flags::PERSISTENT;
    services[3].timeout = 60;
    services[3].netmask = 64;
    services[5].flags = flags::SCHED_PORT;
    for s in &services {
        c.execute(&Request::NewService(s.clone()))
            .unwrap_or_else(|e| panic!("{}: {e}", s.key));
    }
    let dumped: Vec<Service> = c
        .services()
        .unwrap()
        .into_iter()
        .map(|e| e.service)
        .collect();
    for s in &services {
        assert!(dumped.contains(s), "{s:?} not in the dump {dumped:?}");
    }
    assert_eq!(dumped.len(), services.len());

    // Every forwarding method on the TCP service, and IPv6 ones.
    let k = services[0].key;
    let tunnel = |kind, port, csum| Forward::Tunnel(Tunnel { kind, port, csum });
    let mut nat = Dest::new(ip("192.168.1.3"), 8080, Forward::Masq, 3);
    nat.upper = 100;
    nat.lower = 10;
    let dests = vec![
        Dest::new(ip("192.168.1.2"), 80, Forward::Route, 2),
        nat,
        Dest::new(
            ip("192.168.1.4"),
            80,
            tunnel(TunnelKind::Ipip, 0, TunnelCsum::None),
            1,
        ),
        Dest::new(
            ip("192.168.1.5"),
            80,
            tunnel(TunnelKind::Gue, 6080, TunnelCsum::Csum),
            1,
        ),
        Dest::new(
            ip("192.168.1.6"),
            80,
            tunnel(TunnelKind::Gue, 6081, TunnelCsum::Remcsum),
            1,
        ),
        Dest::new(
            ip("192.168.1.7"),
            80,
            tunnel(TunnelKind::Gre, 0, TunnelCsum::Csum),
            1,
        ),
        // IPv6 real server of an IPv4 service: tunnels only.
        Dest::new(
            ip("2001:db8::7"),
            80,
            tunnel(TunnelKind::Ipip, 0, TunnelCsum::None),
            1,
        ),
    ];
    let results = c.apply(
        &dests
            .iter()
            .map(|d| Request::NewDest(k, *d))
            .collect::<Vec<_>>(),
    );
    for (d, r) in dests.iter().zip(&results) {
        assert!(r.is_ok(), "{d:?}: {r:?}");
    }
    let got: Vec<Dest> = c.dests(&k).unwrap().into_iter().map(|e| e.dest).collect();
    assert_eq!(got.len(), dests.len(), "{got:?}");
    for d in &dests {
        assert!(got.contains(d), "{d:?} not in {got:?}");
    }
    let k6 = services[3].key;
    let d6 = [
        Dest::new(ip("2001:db8::10"), 443, Forward::Masq, 1),
        Dest::new(ip("2001:db8::11"), 443, Forward::Route, 2),
    ];
    for d in d6 {
        c.execute(&Request::NewDest(k6, d)).unwrap();
    }
    let fw = services[5].key;
    c.execute(&Request::NewDest(
        fw,
        Dest::new(ip("192.168.1.8"), 0, Forward::Route, 4),
    ))
    .unwrap();
    let mut got6: Vec<Dest> = c.dests(&k6).unwrap().into_iter().map(|e| e.dest).collect();
    got6.sort_by_key(|d| d.addr);
    assert_eq!(got6, d6.to_vec());

    // Modify: weight and method in place; the service's scheduler.
    let mut d0 = dests[0];
    d0.weight = 7;
    d0.forward = Forward::Masq;
    c.execute(&Request::SetDest(k, d0)).unwrap();
    let now = c.dests(&k).unwrap();
    assert!(now.iter().any(|e| e.dest == d0), "{now:?}");
    let mut s0 = services[0].clone();
    s0.scheduler = "wlc".into();
    s0.flags = flags::PERSISTENT;
    s0.timeout = 10;
    c.execute(&Request::SetService(s0.clone())).unwrap();
    assert!(c.services().unwrap().iter().any(|e| e.service == s0));

    // Every scheduler the kernel offers passes through by name (suite.sh
    // loaded their modules; 6.1 has no `twos`, tried below).
    for (i, sched) in [
        "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "mh", "sed", "nq", "fo", "ovf",
    ]
    .iter()
    .enumerate()
    {
        let s = Service::new(key(Protocol::Tcp, "10.0.2.1", 1000 + i as u16), sched);
        c.execute(&Request::NewService(s.clone())).unwrap();
        let back = c.services().unwrap();
        assert!(back.iter().any(|e| e.service == s), "{sched}: {back:?}");
        c.execute(&Request::DelService(s.key)).unwrap();
    }

    // Errors by name.
    let again = c.execute(&Request::NewService(services[0].clone()));
    assert!(matches!(again, Err(IpvsError::Exists { .. })), "{again:?}");
    let again = c.execute(&Request::NewDest(k, dests[1]));
    assert!(matches!(again, Err(IpvsError::Exists { .. })), "{again:?}");
    let none = c.execute(&Request::DelDest(k, ip("192.168.9.9"), 80));
    assert!(matches!(none, Err(IpvsError::NoDest { .. })), "{none:?}");
    let gone = key(Protocol::Tcp, "10.9.9.9", 80);
    let none = c.execute(&Request::SetDest(gone, dests[0]));
    assert!(matches!(none, Err(IpvsError::NoService { .. })), "{none:?}");
    let none = c.execute(&Request::DelService(gone));
    assert!(matches!(none, Err(IpvsError::NoService { .. })), "{none:?}");
    // A scheduler whose module is not loaded (the worker never loads one).
    let no_mod = c.execute(&Request::NewService(Service::new(gone, "twos")));
    match &no_mod {
        Err(e @ IpvsError::NoScheduler { scheduler, .. }) => {
            assert_eq!(scheduler, "twos");
            assert_eq!(
                e.to_string(),
                "the kernel has no scheduler 'twos' (module ip_vs_twos)"
            );
        }
        other => panic!("{other:?}"),
    }
    // A batch with a refused request in the middle: the others still apply.
    let batch = c.apply(&[
        Request::NewDest(k6, Dest::new(ip("2001:db8::12"), 443, Forward::Masq, 1)),
        Request::NewDest(k6, d6[0]),
        Request::NewDest(k6, Dest::new(ip("2001:db8::13"), 443, Forward::Masq, 1)),
    ]);
    assert!(batch[0].is_ok() && batch[2].is_ok(), "{batch:?}");
    assert!(
        matches!(batch[1], Err(IpvsError::Exists { .. })),
        "{batch:?}"
    );

    // Delete.
    c.execute(&Request::DelDest(k, d0.addr, d0.port)).unwrap();
    assert!(!c.dests(&k).unwrap().iter().any(|e| e.dest.addr == d0.addr));
    for s in &services {
        c.execute(&Request::DelService(s.key)).unwrap();
    }
    assert!(c.services().unwrap().is_empty());

    // Many at once: 2,000 real servers in one call.
    let big = Service::new(key(Protocol::Tcp, "10.0.1.1", 80), "wrr");
    c.execute(&Request::NewService(big.clone())).unwrap();
    let many: Vec<Request> = (0..2000u32)
        .map(|i| {
            let a = IpAddr::from([10, 1, (i / 250) as u8, (i % 250) as u8 + 1]);
            Request::NewDest(big.key, Dest::new(a, 80, Forward::Route, 1 + i % 5))
        })
        .collect();
    assert!(c.apply(&many).iter().all(Result::is_ok));
    assert_eq!(c.dests(&big.key).unwrap().len(), 2000);

    // Sync daemons (on the dummy link suite.sh made).
    let master = SyncDaemon {
        state: SyncState::Master,
        interface: "sync0".into(),
        sync_id: 9,
        maxlen: Some(1200),
        group: Some(ip("239.0.0.9")),
        port: Some(8850),
        ttl: Some(3),
    };
    let backup = SyncDaemon {
        state: SyncState::Backup,
        interface: "sync0".into(),
        sync_id: 9,
        maxlen: None,
        group: None,
        port: None,
        ttl: None,
    };
    c.execute(&Request::NewDaemon(master.clone())).unwrap();
    c.execute(&Request::NewDaemon(backup.clone())).unwrap();
    let running = c.daemons().unwrap();
    assert_eq!(running.len(), 2, "{running:?}");
    assert!(
        running
            .iter()
            .any(|d| master.satisfied_by(d) && d == &master),
        "{running:?}"
    );
    assert!(
        running.iter().any(|d| backup.satisfied_by(d)),
        "{running:?}"
    );
    let dflt = running
        .iter()
        .find(|d| d.state == SyncState::Backup)
        .unwrap();
    assert_eq!(dflt.group, Some(IpAddr::V4(SyncDaemon::DEFAULT_GROUP)));
    assert_eq!(dflt.port, Some(SyncDaemon::DEFAULT_PORT));
    let again = c.execute(&Request::NewDaemon(master.clone()));
    assert!(again.is_err(), "a second master daemon: {again:?}");
    c.execute(&Request::DelDaemon(SyncState::Master)).unwrap();
    c.execute(&Request::DelDaemon(SyncState::Backup)).unwrap();
    assert!(c.daemons().unwrap().is_empty());

    c.execute(&Request::Flush).unwrap();
    assert!(c.services().unwrap().is_empty());
}

/// The IPVS requests in a netlink capture (nlmon + tcpdump, file in
/// $UPKEEP_PCAP), one `REQUEST ...` line each, decoded by upkeep's codec.
/// Run in the VM by tests/vm/ipvs/lib.sh (`requests`).
#[test]
#[ignore = "runs inside the IPVS VM (ipvs_in_a_real_kernel boots it)"]
fn in_vm_pcap_requests() {
    use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
    use netlink_packet_generic::GenlMessage;
    use upkeep::ipvs::genl::IpvsMsg;
    let path = std::env::var("UPKEEP_PCAP").expect("UPKEEP_PCAP");
    let family = Client::open().unwrap().family_id();
    let pcap = std::fs::read(path).unwrap();
    let rd = |off: usize| u32::from_le_bytes(pcap[off..off + 4].try_into().unwrap());
    assert_eq!(rd(0), 0xa1b2_c3d4, "little-endian pcap");
    // DLT_NETLINK: a 16-byte cooked header ending with the netlink protocol.
    assert_eq!(rd(20), 253, "link type NETLINK");
    let mut off = 24;
    while off + 16 <= pcap.len() {
        let caplen = rd(off + 8) as usize;
        let pkt = &pcap[off + 16..(off + 16 + caplen).min(pcap.len())];
        off += 16 + caplen;
        if pkt.len() < 16 || u16::from_be_bytes([pkt[14], pkt[15]]) != 16 {
            continue; // not generic netlink
        }
        let mut data = &pkt[16..];
        while data.len() >= 16 {
            let len = u32::from_ne_bytes(data[..4].try_into().unwrap()) as usize;
            let kind = u16::from_ne_bytes([data[4], data[5]]);
            let flags = u16::from_ne_bytes([data[6], data[7]]);
            if len < 16 || len > data.len() {
                break;
            }
            if kind == family && flags & 1 != 0 {
                let m = NetlinkMessage::<GenlMessage<IpvsMsg>>::deserialize(&data[..len]).unwrap();
                if let NetlinkPayload::InnerMessage(g) = m.payload {
                    match Request::decode(&g.payload) {
                        Ok(r) => println!("REQUEST {}", upkeep::ipvs::reconcile::describe(&r)),
                        Err(e) => println!("UNDECODED {e}"),
                    }
                }
            }
            data = &data[len.next_multiple_of(4).min(data.len())..];
        }
    }
}
