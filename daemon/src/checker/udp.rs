//! UDP_CHECK's rules, as keepalived's check_udp.c: send `payload` (hex),
//! then without `require_reply` silence until the timeout passes and an
//! ICMP port unreachable (a refused receive) fails; with it a reply must
//! come, and with an expected reply (hex, `x` a wildcard nibble) it must
//! be `min_reply_length`..=`max_reply_length` long and match on the
//! shorter of the two.

/// An expected reply: bytes and, per byte, the nibbles that are wildcards.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    pub data: Vec<u8>,
    pub mask: Vec<u8>,
}

/// keepalived's read_hex_str: hex digits, spaces and tabs between bytes
/// (a lone digit before a space is one byte), `x`/`X` wildcard nibbles
/// when `wildcards`. None when invalid or empty.
pub fn parse_hex(s: &str, wildcards: bool) -> Option<Pattern> {
    let nibble = |c: u8| -> Option<(u8, u8)> {
        match c {
            b'0'..=b'9' => Some((c - b'0', 0)),
            b'a'..=b'f' => Some((c - b'a' + 10, 0)),
            b'A'..=b'F' => Some((c - b'A' + 10, 0)),
            b'x' | b'X' if wildcards => Some((0, 0x0f)),
            _ => None,
        }
    };
    let b = s.as_bytes();
    let (mut data, mut mask) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b' ' || b[i] == b'\t' {
            i += 1;
            continue;
        }
        let (mut v, mut m) = nibble(b[i])?;
        i += 1;
        if i < b.len() && b[i] != b' ' && b[i] != b'\t' {
            let (v2, m2) = nibble(b[i])?;
            i += 1;
            v = (v << 4) | v2;
            m = (m << 4) | m2;
        }
        data.push(v);
        mask.push(m);
    }
    (!data.is_empty()).then_some(Pattern { data, mask })
}

/// Whether a reply passes: its length within the bounds, its bytes equal
/// to the pattern's over the shorter of the two, wildcards aside.
pub fn reply_matches(reply: &[u8], want: &Pattern, min: u16, max: u16) -> bool {
    let len = reply.len();
    if len < usize::from(min) || len > usize::from(max) {
        return false;
    }
    reply
        .iter()
        .zip(want.data.iter().zip(&want.mask))
        .all(|(r, (d, m))| (r ^ d) & !m == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_reads_as_keepalived_reads_it() {
        assert_eq!(
            parse_hex("0a0B ff", false).unwrap().data,
            [0x0a, 0x0b, 0xff]
        );
        assert_eq!(parse_hex("1 2 3", false).unwrap().data, [1, 2, 3]);
        assert_eq!(parse_hex("abc", false).unwrap().data, [0xab, 0x0c]);
        assert!(parse_hex("", false).is_none());
        assert!(parse_hex("zz", false).is_none());
        assert!(parse_hex("4x", false).is_none(), "no wildcard in a payload");
        let p = parse_hex("4x X5", true).unwrap();
        assert_eq!((p.data, p.mask), (vec![0x40, 0x05], vec![0x0f, 0xf0]));
    }

    #[test]
    fn replies_match_on_the_shorter_with_wildcards_and_bounds() {
        let p = parse_hex("4f4b x0", true).unwrap();
        assert!(reply_matches(b"OK\x30", &p, 0, 255));
        assert!(
            reply_matches(b"OK", &p, 0, 255),
            "shorter reply: its length"
        );
        assert!(reply_matches(b"OK\x50 and more", &p, 0, 255));
        assert!(!reply_matches(b"OK\x31", &p, 0, 255), "low nibble differs");
        assert!(!reply_matches(b"NO\x30", &p, 0, 255));
        assert!(!reply_matches(b"OK", &p, 3, 255), "too short");
        assert!(!reply_matches(b"OK\x30", &p, 0, 2), "too long");
        assert!(
            reply_matches(b"", &p, 0, 255),
            "keepalived passes an empty reply"
        );
    }
}
