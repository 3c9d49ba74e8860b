//! The addresses instances own against what the kernel has, sans-IO: a
//! Master's address that someone else removed (`ip addr del`, `ip addr
//! flush`, a network manager) is put back; an address a non-Master finds on
//! its interface is taken away. The IO layer reads the kernel's addresses
//! after each address event and carries out the fixes.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;

use crate::config::values::Vip;

/// One address an instance owns (a VIP or an excluded VIP) where it lives.
#[derive(Clone, Copy, Debug)]
pub struct Owned<'a> {
    pub instance: usize,
    /// The interface index it lives on (the VMAC's for a VMAC instance).
    pub index: u32,
    pub vip: &'a Vip,
    /// The instance is Master: the address must be there, else it must not.
    pub master: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fix {
    /// A Master's address is missing: add it back (and announce it).
    Restore {
        instance: usize,
        index: u32,
        vip: Vip,
    },
    /// A non-Master's address is on the interface and no Master here owns it.
    Remove {
        instance: usize,
        index: u32,
        vip: Vip,
    },
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Audit {
    pub fixes: Vec<Fix>,
    /// Per instance, the Master's addresses the kernel does not have now
    /// (also those on an interface that is gone, which cannot be fixed).
    pub missing: BTreeMap<usize, Vec<IpAddr>>,
}

/// Compares `owned` with `present` (interface index, address). Interfaces
/// in `gone` were removed: nothing is done there (the instance waits for
/// its interface to come back).
pub fn audit(owned: &[Owned<'_>], present: &HashSet<(u32, IpAddr)>, gone: &HashSet<u32>) -> Audit {
    let mut out = Audit::default();
    let mut done: HashSet<(u32, IpAddr)> = HashSet::new();
    let held_by_master: HashSet<(u32, IpAddr)> = owned
        .iter()
        .filter(|o| o.master)
        .map(|o| (o.index, o.vip.addr))
        .collect();
    for o in owned {
        let key = (o.index, o.vip.addr);
        let there = present.contains(&key);
        if o.master && !there {
            out.missing.entry(o.instance).or_default().push(o.vip.addr);
        }
        if gone.contains(&o.index) || !done.insert(key) {
            continue;
        }
        if o.master && !there {
            out.fixes.push(Fix::Restore {
                instance: o.instance,
                index: o.index,
                vip: o.vip.clone(),
            });
        } else if !o.master && there && !held_by_master.contains(&key) {
            out.fixes.push(Fix::Remove {
                instance: o.instance,
                index: o.index,
                vip: o.vip.clone(),
            });
        } else if !o.master {
            // Another instance may still be Master of it: let it decide.
            done.remove(&key);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vip(s: &str) -> Vip {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e:?}"))
    }

    fn present(v: &[(u32, &str)]) -> HashSet<(u32, IpAddr)> {
        v.iter()
            .map(|(i, a)| (*i, a.parse().unwrap_or_else(|e| panic!("{a}: {e:?}"))))
            .collect()
    }

    #[test]
    fn a_masters_missing_address_is_restored_and_reported_missing() {
        let (a, b) = (vip("10.0.0.100/32"), vip("10.0.0.101/32"));
        let owned = [
            Owned {
                instance: 0,
                index: 2,
                vip: &a,
                master: true,
            },
            Owned {
                instance: 0,
                index: 2,
                vip: &b,
                master: true,
            },
        ];
        let r = audit(&owned, &present(&[(2, "10.0.0.101")]), &HashSet::new());
        assert_eq!(
            r.fixes,
            vec![Fix::Restore {
                instance: 0,
                index: 2,
                vip: a.clone()
            }]
        );
        assert_eq!(r.missing.get(&0), Some(&vec![a.addr]));
        // All there: nothing to do, nothing missing.
        let r = audit(
            &owned,
            &present(&[(2, "10.0.0.100"), (2, "10.0.0.101")]),
            &HashSet::new(),
        );
        assert_eq!(r, Audit::default());
    }

    #[test]
    fn an_address_on_another_interface_does_not_count() {
        let a = vip("10.0.0.100/32");
        let owned = [Owned {
            instance: 0,
            index: 2,
            vip: &a,
            master: true,
        }];
        let r = audit(&owned, &present(&[(3, "10.0.0.100")]), &HashSet::new());
        assert_eq!(r.fixes.len(), 1);
    }

    #[test]
    fn a_backup_removes_what_it_finds_unless_a_master_here_owns_it() {
        let a = vip("10.0.0.100/32");
        let backup = Owned {
            instance: 1,
            index: 2,
            vip: &a,
            master: false,
        };
        let here = present(&[(2, "10.0.0.100")]);
        let r = audit(&[backup], &here, &HashSet::new());
        assert_eq!(
            r.fixes,
            vec![Fix::Remove {
                instance: 1,
                index: 2,
                vip: a.clone()
            }]
        );
        assert!(r.missing.is_empty());
        // The same address owned by a Master on this host (either order).
        let master = Owned {
            instance: 0,
            master: true,
            ..backup
        };
        assert_eq!(
            audit(&[backup, master], &here, &HashSet::new()),
            Audit::default()
        );
        assert_eq!(
            audit(&[master, backup], &here, &HashSet::new()),
            Audit::default()
        );
        // Absent on a Backup: nothing.
        assert_eq!(
            audit(&[backup], &HashSet::new(), &HashSet::new()),
            Audit::default()
        );
    }

    #[test]
    fn nothing_is_done_on_a_removed_interface_but_the_loss_shows() {
        let a = vip("10.0.0.100/32");
        let owned = [Owned {
            instance: 0,
            index: 7,
            vip: &a,
            master: true,
        }];
        let r = audit(&owned, &HashSet::new(), &HashSet::from([7]));
        assert!(r.fixes.is_empty());
        assert_eq!(r.missing.get(&0), Some(&vec![a.addr]));
    }

    #[test]
    fn two_masters_owning_one_address_restore_it_once() {
        let a = vip("10.0.0.100/32");
        let m = |instance| Owned {
            instance,
            index: 2,
            vip: &a,
            master: true,
        };
        let r = audit(&[m(0), m(1)], &HashSet::new(), &HashSet::new());
        assert_eq!(r.fixes.len(), 1);
        assert_eq!(r.missing.len(), 2);
    }
}
