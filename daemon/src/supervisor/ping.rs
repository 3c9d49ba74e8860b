//! Unprivileged ICMP sockets for PING_CHECK: the kernel admits only the
//! groups in `net.ipv4.ping_group_range` (of this network namespace, for
//! IPv4 and IPv6). At the checker's start the parent adds the checker's
//! group when that admits no other group; else it leaves the range alone
//! and the check reports why it cannot run.

use tracing::{info, warn};

use crate::checker::icmp::PING_GROUP_RANGE;
use crate::config::model::{CheckKind, Config};

/// Whether any real server is checked with PING_CHECK.
pub fn wanted(cfg: &Config) -> bool {
    cfg.virtual_servers
        .iter()
        .flat_map(|vs| &vs.real_servers)
        .flat_map(|rs| &rs.checkers)
        .any(|c| c.kind == CheckKind::PingCheck)
}

/// What the range must become to admit `gid` and no other group than
/// it already admits: `None` when it admits `gid`, or when adding it
/// would admit others (a range is one interval, so only an empty range or
/// one next to `gid` can take it alone).
pub fn widened(lo: u32, hi: u32, gid: u32) -> Option<Option<(u32, u32)>> {
    if lo > hi {
        return Some(Some((gid, gid)));
    }
    if (lo..=hi).contains(&gid) {
        return Some(None);
    }
    if hi.checked_add(1) == Some(gid) {
        return Some(Some((lo, gid)));
    }
    if gid.checked_add(1) == Some(lo) {
        return Some(Some((gid, hi)));
    }
    None
}

/// Admits `gid` to ICMP sockets when the configuration pings and the
/// range can take it alone (logged); warns when it cannot.
pub fn allow_group(cfg: &Config, gid: u32) {
    if !wanted(cfg) {
        return;
    }
    let text = match std::fs::read_to_string(PING_GROUP_RANGE) {
        Ok(t) => t,
        Err(e) => {
            warn!(path = PING_GROUP_RANGE, error = %e, "PING_CHECK: cannot read the ICMP socket groups");
            return;
        }
    };
    let mut words = text.split_whitespace().map(str::parse::<u32>);
    let (Some(Ok(lo)), Some(Ok(hi))) = (words.next(), words.next()) else {
        warn!(path = PING_GROUP_RANGE, value = %text.trim(), "PING_CHECK: unreadable ICMP socket groups");
        return;
    };
    match widened(lo, hi, gid) {
        Some(None) => {}
        Some(Some((a, b))) => match std::fs::write(PING_GROUP_RANGE, format!("{a} {b}\n")) {
            Ok(()) => info!(
                was = %format!("{lo} {hi}"),
                now = %format!("{a} {b}"),
                gid,
                "PING_CHECK: net.ipv4.ping_group_range widened to the checker's group"
            ),
            Err(e) => {
                warn!(gid, error = %e, "PING_CHECK: cannot admit the checker's group to ICMP sockets")
            }
        },
        None => warn!(
            range = %format!("{lo} {hi}"),
            gid,
            "PING_CHECK: net.ipv4.ping_group_range excludes the checker's group and admitting it would admit others: left alone, PING_CHECKs fail until it is set"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::widened;

    #[test]
    fn only_the_checkers_group_is_added() {
        // The kernel's default: none.
        assert_eq!(widened(1, 0, 999), Some(Some((999, 999))));
        assert_eq!(widened(0, 2_147_483_647, 999), Some(None));
        assert_eq!(widened(100, 998, 999), Some(Some((100, 999))));
        assert_eq!(widened(1000, 2000, 999), Some(Some((999, 2000))));
        assert_eq!(widened(0, 0, 999), None, "would admit 1-998");
        assert_eq!(widened(u32::MAX, u32::MAX, 999), None);
    }
}
