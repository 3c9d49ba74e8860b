//! UDP_CHECK's rules, as keepalived's check_udp.c: send `payload` (hex),
//! then without `require_reply` silence until the timeout passes and an
//! ICMP port unreachable (a refused receive) fails; with it a reply must
//! come, and with an expected reply (hex, `x` a wildcard nibble) it must
//! be `min_reply_length`..=`max_reply_length` long and match on the
//! shorter of the two.

use std::net::SocketAddr;
use std::time::Duration;

use super::outcome::Outcome;

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

/// keepalived sends this many zero bytes when no `payload` is set
/// (layer4.c UDP_BUFSIZE).
pub const DEFAULT_PAYLOAD_LEN: usize = 32;

/// One UDP_CHECK, ready to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdpCheck {
    pub addr: SocketAddr,
    pub bind: Option<SocketAddr>,
    pub payload: Vec<u8>,
    pub require_reply: bool,
    pub reply: Option<Pattern>,
    pub min_reply_length: u16,
    pub max_reply_length: u16,
}

/// How the wait for a reply ended.
#[derive(Debug)]
pub enum Event<'a> {
    Reply(&'a [u8]),
    /// The receive failed: an ICMP error came back (port unreachable is
    /// ECONNREFUSED on a connected socket).
    Error(std::io::Error),
    /// Nothing within the timeout.
    Silence,
}

/// keepalived's udp_socket_state + udp_check_thread.
pub fn judge(c: &UdpCheck, ev: Event<'_>) -> Outcome {
    let to = c.addr;
    match ev {
        Event::Error(e) => Outcome::fail(format!("UDP to {to}: {e}")),
        Event::Silence if c.require_reply => Outcome::fail(format!("UDP to {to}: no reply")),
        Event::Silence => Outcome::pass(format!("UDP to {to}: no error before the timeout")),
        Event::Reply(r) => match &c.reply {
            Some(want)
                if c.require_reply
                    && !reply_matches(r, want, c.min_reply_length, c.max_reply_length) =>
            {
                Outcome::fail(format!(
                    "UDP to {to}: reply of {} bytes does not match ({})",
                    r.len(),
                    hex_prefix(r)
                ))
            }
            _ => Outcome::pass(format!("UDP to {to}: reply of {} bytes", r.len())),
        },
    }
}

/// A reply's first bytes in hex, for the message.
fn hex_prefix(r: &[u8]) -> String {
    let mut s: String = r.iter().take(16).map(|b| format!("{b:02x}")).collect();
    if r.len() > 16 {
        s.push_str("...");
    }
    s
}

/// A UDP socket connected to `addr`, bound to `bind` first when set (as
/// keepalived's udp_bind_connect): a connected socket hears ICMP errors
/// for what it sent and only datagrams from `addr`.
pub async fn connected(
    addr: SocketAddr,
    bind: Option<SocketAddr>,
) -> std::io::Result<tokio::net::UdpSocket> {
    let local = bind.unwrap_or_else(|| match addr {
        SocketAddr::V4(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
        SocketAddr::V6(_) => SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 0)),
    });
    let sock = tokio::net::UdpSocket::bind(local).await?;
    sock.connect(addr).await?;
    Ok(sock)
}

/// One UDP_CHECK run: send the payload, then wait up to `timeout`.
pub async fn check(c: &UdpCheck, timeout: Duration) -> Outcome {
    let sock = match connected(c.addr, c.bind).await {
        Ok(s) => s,
        Err(e) => return Outcome::fail(format!("UDP to {}: {e}", c.addr)),
    };
    if let Err(e) = sock.send(&c.payload).await {
        return judge(c, Event::Error(e));
    }
    // keepalived reads at most max_reply_length + 1 bytes: a longer reply
    // is cut there and fails the length bound.
    let mut buf = vec![0u8; usize::from(c.max_reply_length) + 1];
    match tokio::time::timeout(timeout, sock.recv(&mut buf)).await {
        Ok(Ok(n)) => judge(c, Event::Reply(&buf[..n])),
        Ok(Err(e)) => judge(c, Event::Error(e)),
        Err(_) => judge(c, Event::Silence),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(require_reply: bool, reply: Option<&str>) -> UdpCheck {
        UdpCheck {
            addr: "192.0.2.1:53".parse().unwrap(),
            bind: None,
            payload: vec![0; DEFAULT_PAYLOAD_LEN],
            require_reply,
            reply: reply.and_then(|r| parse_hex(r, true)),
            min_reply_length: 0,
            max_reply_length: 255,
        }
    }

    #[test]
    fn silence_passes_unless_a_reply_is_required() {
        assert!(judge(&check(false, None), Event::Silence).ok);
        assert!(!judge(&check(true, None), Event::Silence).ok);
        assert!(!judge(&check(true, Some("4f4b")), Event::Silence).ok);
    }

    #[test]
    fn port_unreachable_fails_either_way() {
        for c in [check(false, None), check(true, None)] {
            let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
            assert!(!judge(&c, Event::Error(refused)).ok);
        }
    }

    #[test]
    fn a_reply_is_checked_only_against_an_expected_one() {
        assert!(judge(&check(false, None), Event::Reply(b"anything")).ok);
        assert!(judge(&check(true, None), Event::Reply(b"anything")).ok);
        assert!(judge(&check(true, Some("4f4b")), Event::Reply(b"OK\n")).ok);
        let o = judge(&check(true, Some("4f4b")), Event::Reply(b"NO\n"));
        assert!(!o.ok && o.message.contains("4e4f0a"), "{}", o.message);
        let mut short = check(true, Some("4f4b"));
        short.min_reply_length = 4;
        assert!(!judge(&short, Event::Reply(b"OK\n")).ok, "too short");
    }

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
