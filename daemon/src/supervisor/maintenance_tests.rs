use std::collections::BTreeSet;

use super::*;
use crate::testutil::keepalived_config;

const TWO: &str = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n priority 150\n nopreempt\n virtual_ipaddress { 10.0.0.100 }\n}\nvrrp_instance VI_2 {\n interface eth0\n virtual_router_id 2\n virtual_ipaddress { 10.0.0.101 }\n}\n";

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn v(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn maintenance_on_and_off_by_name_or_for_all() {
    let cfg = keepalived_config(TWO);
    let none = BTreeSet::new();
    assert_eq!(
        change(&cfg, &none, true, &[]).unwrap(),
        set(&["VI_1", "VI_2"])
    );
    let one = change(&cfg, &none, true, &v(&["VI_2"])).unwrap();
    assert_eq!(one, set(&["VI_2"]));
    assert_eq!(change(&cfg, &one, false, &v(&["VI_2"])).unwrap(), none);
    assert_eq!(change(&cfg, &one, false, &[]).unwrap(), none);
}

#[test]
fn an_unknown_instance_is_refused_with_the_valid_names() {
    let cfg = keepalived_config(TWO);
    let e = change(&cfg, &BTreeSet::new(), true, &v(&["VI_1", "web"])).unwrap_err();
    assert_eq!(
        e,
        "unknown instance 'web'; configured instances: VI_1, VI_2"
    );
    // Nothing was set: the refusal is whole.
    // A name left over from an earlier configuration may still be cleared.
    let stale = set(&["gone"]);
    assert_eq!(
        change(&cfg, &stale, false, &v(&["gone"])).unwrap(),
        BTreeSet::new()
    );
    assert!(change(&cfg, &stale, true, &v(&["gone"])).is_err());
}

#[test]
fn handover_takes_masters_only_and_refuses_a_preempting_one_without_force() {
    let cfg = keepalived_config(TWO);
    let mut r = Record::default();
    assert_eq!(
        handover(&cfg, &r, &[], false).unwrap_err(),
        "no instance is Master here: nothing to hand over"
    );
    r.states.insert("VI_1".into(), State::Master);
    r.states.insert("VI_2".into(), State::Backup);
    assert_eq!(handover(&cfg, &r, &[], false).unwrap(), v(&["VI_1"]));
    let e = handover(&cfg, &r, &v(&["VI_2"]), false).unwrap_err();
    assert!(e.contains("VI_2 is BACKUP, not MASTER"), "{e}");
    assert!(
        handover(&cfg, &r, &v(&["nope"]), false)
            .unwrap_err()
            .contains("unknown instance 'nope'")
    );
    r.states.insert("VI_2".into(), State::Master);
    let e = handover(&cfg, &r, &v(&["VI_2"]), false).unwrap_err();
    assert!(e.contains("preempts") && e.contains("--force"), "{e}");
    assert_eq!(
        handover(&cfg, &r, &v(&["VI_2"]), true).unwrap(),
        v(&["VI_2"])
    );
    r.maintenance.insert("VI_1".into());
    assert!(
        handover(&cfg, &r, &v(&["VI_1"]), false)
            .unwrap_err()
            .contains("in maintenance")
    );
}

#[test]
fn the_set_is_kept_atomically_and_never_read_through_a_symlink() {
    let dir = std::env::temp_dir().join(format!("upkeep-maint-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    assert!(load(&dir).is_empty(), "no file: none in maintenance");
    save(&dir, &set(&["VI_1", "VI_2"])).unwrap();
    assert_eq!(load(&dir), set(&["VI_1", "VI_2"]));
    assert!(!dir.join(format!(".{FILE}.tmp")).exists());
    // Garbage: none, and the daemon still starts.
    std::fs::write(dir.join(FILE), "{").unwrap();
    assert!(load(&dir).is_empty());
    // A symlink planted in its place is not followed, and saving replaces
    // the link itself, leaving its target alone.
    let target = dir.join("elsewhere");
    std::fs::write(&target, "[\"VI_9\"]").unwrap();
    std::fs::remove_file(dir.join(FILE)).unwrap();
    std::os::unix::fs::symlink(&target, dir.join(FILE)).unwrap();
    assert!(load(&dir).is_empty());
    save(&dir, &set(&["VI_1"])).unwrap();
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "[\"VI_9\"]");
    assert_eq!(load(&dir), set(&["VI_1"]));
    let _ = std::fs::remove_dir_all(&dir);
}
