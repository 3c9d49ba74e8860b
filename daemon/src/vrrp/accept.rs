//! Accept_Mode (RFC 5798 §6.1): a Master that is not the address owner and
//! runs with `no_accept` must not accept packets addressed to the virtual
//! addresses. Linux has no per-address switch for that, so, as keepalived
//! does, we drop them with nftables: one `inet upkeep` table whose sets hold
//! the VIPs currently owned under no_accept. IPv6 neighbour discovery to those
//! addresses stays allowed (else nobody could resolve them).
//!
//! The rules are loaded with `nft -f -` (the nftables package).

use std::net::IpAddr;
use std::process::Stdio;

use tokio::io::AsyncWriteExt;

pub const TABLE: &str = "upkeep";

#[derive(Debug, thiserror::Error)]
#[error("nft: {0}")]
pub struct NftError(String);

/// The ruleset, created once (replacing any left over from a crash).
pub fn ruleset() -> String {
    format!(
        "table inet {TABLE}
delete table inet {TABLE}
table inet {TABLE} {{
    set vips4 {{ type ipv4_addr; }}
    set vips6 {{ type ipv6_addr; }}
    chain input {{
        type filter hook input priority -1; policy accept;
        ip daddr @vips4 drop
        ip6 daddr @vips6 icmpv6 type {{ nd-neighbor-solicit, nd-neighbor-advert }} accept
        ip6 daddr @vips6 drop
    }}
    chain output {{
        type filter hook output priority -1; policy accept;
        ip saddr @vips4 drop
        ip6 saddr @vips6 icmpv6 type {{ nd-neighbor-solicit, nd-neighbor-advert }} accept
        ip6 saddr @vips6 drop
    }}
}}
"
    )
}

/// The command that adds (or removes) addresses to the drop sets.
pub fn elements(add: bool, addrs: &[IpAddr]) -> String {
    let verb = if add { "add" } else { "delete" };
    let mut out = String::new();
    for (set, v6) in [("vips4", false), ("vips6", true)] {
        let list: Vec<String> = addrs
            .iter()
            .filter(|a| a.is_ipv6() == v6)
            .map(ToString::to_string)
            .collect();
        if !list.is_empty() {
            out.push_str(&format!(
                "{verb} element inet {TABLE} {set} {{ {} }}\n",
                list.join(", ")
            ));
        }
    }
    out
}

pub async fn apply(script: &str) -> Result<(), NftError> {
    if script.is_empty() {
        return Ok(());
    }
    let mut child = tokio::process::Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| NftError(format!("cannot run nft: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .await
            .map_err(|e| NftError(e.to_string()))?;
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| NftError(e.to_string()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(NftError(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }
}

pub async fn teardown() -> Result<(), NftError> {
    apply(&format!("table inet {TABLE}\ndelete table inet {TABLE}\n")).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn element_commands_split_by_family() {
        let a: Vec<IpAddr> = vec![
            "10.0.0.1".parse().unwrap(),
            "fd00::1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
        ];
        assert_eq!(
            elements(true, &a),
            "add element inet upkeep vips4 { 10.0.0.1, 10.0.0.2 }\nadd element inet upkeep vips6 { fd00::1 }\n"
        );
        assert_eq!(
            elements(false, &a[1..2]),
            "delete element inet upkeep vips6 { fd00::1 }\n"
        );
        assert_eq!(elements(true, &[]), "");
    }

    #[test]
    fn ruleset_replaces_a_stale_table() {
        let r = ruleset();
        assert!(r.starts_with("table inet upkeep\ndelete table inet upkeep\n"));
        assert!(r.contains("ip daddr @vips4 drop"));
        assert!(r.contains("nd-neighbor-solicit"));
    }
}
