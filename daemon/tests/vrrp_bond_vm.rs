//! Bonds and VLANs under link flaps (issue 17, item 4), in a real kernel:
//! this host's kernel has neither CONFIG_BONDING nor CONFIG_VLAN_8021Q, so
//! `bond_and_vlan_in_a_real_kernel` boots the VM of tests/vm (Debian's
//! cloud kernel under qemu) and runs this same test binary inside it: the
//! `#[ignore]`d tests below, by exact name, each reported `ok NAME` or
//! `fail NAME` on the results port. The host test fails unless each
//! passed; it skips (loudly) only when qemu cannot run here. Inside the
//! VM, a kernel that makes no bond or VLAN fails the test.
//!
//! The scenarios (common/flap.rs): a VLAN as the instance's interface
//! under a short and a long flap; a bond (active-backup, miimon 100) of
//! two veths as the instance's interface losing one member (no failover)
//! then both (failover) and a clean return; a bond as a tracked interface
//! under its delays.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test crate fails by panicking

mod common;

use std::process::Command;
use std::time::Instant;

use common::flap::{
    FIRST_MASTER, SECS, UPKEEPD, conf, epoch, expect_clean_return, flaps_under_delays, k_faults,
    keepalived_link_flaps, keepalived_return, keepalived_tracked_flaps, longest_gap, sources,
    tracked_aggregate_follows_its_delays, transitions,
};
use common::lab::{Lab, adverts};
use common::vm;

/// The tests the VM runs, in order (`UPKEEP_VM_TESTS="a b"` runs others,
/// such as `keepalived_with_bonds_and_vlans`, the record).
const IN_VM: &[&str] = &[
    "a_vlan_flap_shorter_than_the_down_delay_changes_nothing_and_a_longer_one_fails_over",
    "a_bond_losing_one_member_keeps_its_master_and_losing_both_fails_over",
    "a_tracked_bond_follows_its_delays",
];

/// The guest's side: the modules, then each test by exact name, its
/// result and time on the results port. Its output goes to the console.
const GUEST: &str = r#"export PATH=/usr/sbin:/bin:/sbin:/usr/bin
for m in veth bridge bonding 8021q; do
    vm_modprobe "$m" || { vm_result "fail modules: $m"; exit 1; }
done
failed=0
while read -r name; do
    [ -n "$name" ] || continue
    echo "=== $name"
    start=$(date +%s)
    /bin/flap-vm --ignored --exact "$name" --nocapture --test-threads=1 2>&1
    rc=$?
    took=$(( $(date +%s) - start ))
    if [ $rc = 0 ]; then vm_result "ok $name $took s"; else failed=1; vm_result "fail $name exit $rc $took s"; fi
    echo "=== $name: exit $rc after $took s"
done < /tests
exit $failed
"#;

#[test]
fn bond_and_vlan_in_a_real_kernel() {
    if let Some(why) = vm::cannot_run() {
        eprintln!("\n\n*** SKIPPED: the bond and VLAN VM tests cannot run here: {why} ***\n\n");
        return;
    }
    let started = Instant::now();
    let dir = vm::tempdir("bond-vm");
    let (console, out, guest, tests) = (
        dir.join("console.log"),
        dir.join("results.txt"),
        dir.join("guest.sh"),
        dir.join("tests"),
    );
    let run: Vec<String> = std::env::var("UPKEEP_VM_TESTS").map_or_else(
        |_| IN_VM.iter().map(|s| (*s).to_string()).collect(),
        |v| v.split_whitespace().map(String::from).collect(),
    );
    std::fs::write(&guest, GUEST).unwrap();
    std::fs::write(&tests, run.join("\n") + "\n").unwrap();
    let me = std::env::current_exe().unwrap();
    // upkeepd at the path the test binary knows it by (env!).
    let status = Command::new("python3")
        .arg(vm::dir().join("vm.py"))
        .args(["run", "--init"])
        .arg(&guest)
        .args(["--timeout", "600", "--mem", "1536", "--modules", ""])
        .arg("--console")
        .arg(&console)
        .arg("--out")
        .arg(&out)
        .arg("--bin")
        .arg(format!("{}:/bin/flap-vm", me.display()))
        .arg("--bin")
        .arg(format!("{UPKEEPD}:{UPKEEPD}"))
        .arg("--file")
        .arg(format!("{}:/tests", tests.display()))
        .status()
        .expect("run tests/vm/vm.py");
    let results = std::fs::read_to_string(&out).unwrap_or_default();
    let console_text = std::fs::read_to_string(&console).unwrap_or_default();
    // The measured numbers, from the guest's output (after libtest's
    // "test NAME ... " where a test's first line follows it).
    for l in console_text.lines() {
        let l = l.split_once(" ... ").map_or(l, |(_, rest)| rest);
        if ["eth0.10:", "bond:", "tracked ", "keepalived", "=== "]
            .iter()
            .any(|p| l.starts_with(p))
        {
            eprintln!("vm: {l}");
        }
    }
    eprintln!(
        "vm: results\n{results}vm: the VM run took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let failed: Vec<&String> = run
        .iter()
        .filter(|t| {
            !results
                .lines()
                .any(|l| l.strip_prefix("ok ").and_then(|r| r.split(' ').next()) == Some(t))
        })
        .collect();
    assert!(
        failed.is_empty() && status.success(),
        "in the VM, failed: {failed:?}\nvm.py exit status {status}\n--- results\n{results}\n--- console (last 400 lines)\n{}",
        vm::tail(&console_text, 400)
    );
    if std::env::var_os("UPKEEP_VM_KEEP").is_some() {
        eprintln!("VM console and results kept in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

// ------------------------------------------------------------ in the VM

/// Fails (not skips) where the kernel makes no link of `kind`: these
/// tests run in the VM, whose kernel has bonding and 802.1Q.
fn require(lab: &Lab, kind: &str) {
    assert!(
        lab.supports(0, kind),
        "this kernel makes no {kind} links: this test runs inside the VM (bond_and_vlan_in_a_real_kernel)"
    );
}

/// The flaps of `flaps_under_delays` on a VLAN (`eth0.10`) as the
/// instance's interface: the carrier of `eth0` under it goes.
#[test]
#[ignore = "runs inside the VM (bond_and_vlan_in_a_real_kernel boots it)"]
fn a_vlan_flap_shorter_than_the_down_delay_changes_nothing_and_a_longer_one_fails_over() {
    let mut lab = Lab::new(2);
    require(&lab, "vlan");
    for k in 0..2 {
        lab.vlan(k, 10);
    }
    flaps_under_delays(
        &mut lab,
        "eth0.10",
        "10.78.0.100",
        ["10.78.0.10", "10.78.0.11"],
    );
}

#[test]
#[ignore = "runs inside the VM (bond_and_vlan_in_a_real_kernel boots it)"]
fn a_bond_losing_one_member_keeps_its_master_and_losing_both_fails_over() {
    let mut lab = Lab::new(2);
    require(&lab, "bond");
    let vip = "10.77.0.100";
    lab.bond(0);
    lab.start(0, UPKEEPD, &conf("bond0", 100, vip, "", ""), "k.conf");
    lab.start(1, UPKEEPD, &conf("eth0", 99, vip, "", ""), "k.conf");
    lab.expect_state(0, "VI_1", "MASTER", FIRST_MASTER);
    lab.expect_state(1, "VI_1", "BACKUP", SECS(3));
    let pcap = lab.capture_bridge("bond.pcap", "vrrp");
    let (t0, t1) = (transitions(&lab, 0), transitions(&lab, 1));

    let from = epoch();
    lab.bridge_ip(&["link", "set", "p0a", "down"]);
    std::thread::sleep(SECS(5));
    let to = epoch();
    let bonding = lab.exec(0, &["cat", "/proc/net/bonding/bond0"]);
    assert!(bonding.contains("Currently Active Slave: m1"), "{bonding}");
    assert_eq!(
        (transitions(&lab, 0), transitions(&lab, 1)),
        (t0, t1),
        "one member down changed a state\n{}",
        lab.logs()
    );
    let seen = adverts(&pcap);
    assert_eq!(
        sources(&seen, from - 1.0, to),
        vec!["10.77.0.10".to_string()]
    );
    let gap = longest_gap(&seen, "10.77.0.10", from - 1.0, to);
    eprintln!(
        "bond: one member down: no transition; longest gap between the Master's adverts {gap:.3} s"
    );

    let start = Instant::now();
    lab.bridge_ip(&["link", "set", "p0b", "down"]);
    lab.expect_state(0, "VI_1", "FAULT", SECS(3));
    let fault = start.elapsed();
    lab.expect_state(1, "VI_1", "MASTER", SECS(6));
    let takeover = start.elapsed();
    assert!(lab.wait(SECS(2), || lab.has_addr(1, vip) && !lab.has_addr(0, vip)));
    lab.bridge_ip(&["link", "set", "p0a", "up"]);
    lab.bridge_ip(&["link", "set", "p0b", "up"]);
    let back = expect_clean_return(&lab, &pcap, vip, "10.77.0.10");
    eprintln!(
        "bond: both members down: FAULT after {fault:?}, Backup MASTER after {takeover:?}; both back: MASTER again after {back:?}"
    );
}

/// A bond (`bond1`, active-backup, miimon 100) as a tracked interface:
/// `tracked_aggregate_follows_its_delays` (a kernel without bonding fails
/// it: `ip link add ... type bond` fails).
#[test]
#[ignore = "runs inside the VM (bond_and_vlan_in_a_real_kernel boots it)"]
fn a_tracked_bond_follows_its_delays() {
    tracked_aggregate_follows_its_delays("bond");
}

/// What keepalived (Debian's 2.2.7, in the VM's base archive) does in the
/// same flaps on a VLAN, with a tracked bond and with a bond as the
/// instance's interface, for the record: nothing is asserted beyond the
/// lab working. Run with `UPKEEP_VM_TESTS=keepalived_with_bonds_and_vlans
/// cargo nextest run -p upkeep --test vrrp_bond_vm --no-capture`.
#[test]
#[ignore = "a record of keepalived's behaviour, not a test of upkeep (runs inside the VM)"]
fn keepalived_with_bonds_and_vlans() {
    keepalived_link_flaps(true);
    keepalived_tracked_flaps("bond");
    // The bond as the Master's interface, without delays.
    let mut lab = Lab::new(2);
    require(&lab, "bond");
    let vip = "10.77.0.100";
    lab.bond(0);
    lab.start_keepalived(0, &conf("bond0", 100, vip, "", ""));
    lab.start_keepalived(1, &conf("eth0", 99, vip, "", ""));
    assert!(
        lab.wait(SECS(10), || lab.has_addr(0, vip)),
        "{}",
        lab.keepalived_log(0)
    );
    std::thread::sleep(SECS(2));
    let pcap = lab.capture_bridge("kb.pcap", "vrrp");
    let from = epoch();
    lab.bridge_ip(&["link", "set", "p0a", "down"]);
    std::thread::sleep(SECS(5));
    let seen = adverts(&pcap);
    eprintln!(
        "keepalived bond: one member down: FAULT entered {} times; advertisers {:?}",
        k_faults(&lab, 0),
        sources(&seen, from - 1.0, epoch())
    );
    let start = Instant::now();
    lab.bridge_ip(&["link", "set", "p0b", "down"]);
    let took = lab
        .wait(SECS(6), || lab.has_addr(1, vip))
        .then(|| start.elapsed());
    lab.bridge_ip(&["link", "set", "p0a", "up"]);
    lab.bridge_ip(&["link", "set", "p0b", "up"]);
    let (back, last) = keepalived_return(&lab, &pcap, vip);
    eprintln!(
        "keepalived bond: both down: Backup holds the VIP after {took:?}; both back: VIP on the Master only after {back:?}; last 2.5 s advertisers {last:?}"
    );
}

/// Regression: nextest runs this binary's VM test beside the IPVS one, and
/// on a fresh checkout both built tests/vm's cache at once; one renamed
/// `vmlinuz.new` from under the other ("No such file or directory"). Two
/// builders of one empty cache: both succeed, and only one of them builds
/// (the other waits on the cache's lock and reuses it). The packages
/// already in the checkout's cache are copied in, so nothing downloads
/// twice.
#[test]
fn two_builders_of_an_empty_vm_cache_build_it_once() {
    let dir = vm::tempdir("vm-cache-race");
    let cache = dir.join("cache");
    let debs = cache.join("debs");
    std::fs::create_dir_all(&debs).unwrap();
    let shared = common::repo().join("target/vm-cache/debs");
    if let Ok(entries) = std::fs::read_dir(&shared) {
        for e in entries.flatten() {
            let _ = std::fs::copy(e.path(), debs.join(e.file_name()));
        }
    }
    let build = || {
        Command::new("python3")
            .arg(vm::dir().join("vm.py"))
            .arg("build")
            .env("UPKEEP_VM_CACHE", &cache)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run tests/vm/vm.py build")
    };
    let (a, b) = (build(), build());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let log = |o: &std::process::Output| {
        format!(
            "{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    let (la, lb) = (log(&a), log(&b));
    assert!(
        a.status.success() && b.status.success(),
        "a build failed:\n--- first ({})\n{la}\n--- second ({})\n{lb}",
        a.status,
        b.status
    );
    let builds = la.matches("vm: unpacking").count() + lb.matches("vm: unpacking").count();
    assert_eq!(
        builds, 1,
        "builds of one cache:\n--- first\n{la}\n--- second\n{lb}"
    );
    for f in ["vmlinuz", "base.cpio"] {
        assert!(cache.join(f).is_file(), "{f} missing from the cache");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
