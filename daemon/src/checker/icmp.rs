//! PING_CHECK: one ICMP / ICMPv6 echo over an unprivileged datagram
//! socket (`SOCK_DGRAM` + `IPPROTO_ICMP[V6]`). The kernel fills in the
//! identifier and checksum and hands this socket only the replies to its
//! own identifier; such sockets need `net.ipv4.ping_group_range` to hold
//! the process's group (for IPv6 too), which the parent sets at start
//! when it can (see `supervisor::ping`).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use super::outcome::Outcome;

const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REPLY_V4: u8 = 0;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;

/// What the echo carries (as keepalived's, a recognisable marker).
const PAYLOAD: &[u8] = b"upkeep PING_CHECK";

/// Each echo's sequence number (each run also has a socket, so an
/// identifier, of its own).
static SEQ: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(1);

/// The sysctl that admits groups to unprivileged ICMP sockets.
pub const PING_GROUP_RANGE: &str = "/proc/sys/net/ipv4/ping_group_range";

/// An echo request with sequence `seq` (identifier and checksum 0: the
/// kernel sets both on a ping socket).
pub fn echo_request(v6: bool, seq: u16) -> Vec<u8> {
    let mut m = vec![
        if v6 { ECHO_REQUEST_V6 } else { ECHO_REQUEST_V4 },
        0,
        0,
        0,
        0,
        0,
    ];
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(PAYLOAD);
    m
}

/// Whether `buf` (an ICMP message without IP header, as a ping socket
/// returns it) is the echo reply to `seq` with our payload.
pub fn is_reply(v6: bool, buf: &[u8], seq: u16) -> bool {
    let want = if v6 { ECHO_REPLY_V6 } else { ECHO_REPLY_V4 };
    buf.len() >= 8
        && buf[0] == want
        && buf[1] == 0
        && buf[6..8] == seq.to_be_bytes()
        && &buf[8..] == PAYLOAD
}

/// Why an ICMP socket could not be opened, with what stops it.
fn socket_refused(e: &std::io::Error) -> String {
    if e.kind() != std::io::ErrorKind::PermissionDenied {
        return format!("ICMP socket: {e}");
    }
    let gid = nix::unistd::getegid();
    let range = std::fs::read_to_string(PING_GROUP_RANGE)
        .map(|r| r.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unreadable".into());
    format!(
        "ICMP socket refused: net.ipv4.ping_group_range ({range}) does not hold the checker's group {gid}"
    )
}

fn open(addr: IpAddr, bind: Option<IpAddr>) -> Result<tokio::net::UdpSocket, String> {
    let (domain, proto) = if addr.is_ipv4() {
        (Domain::IPV4, Protocol::ICMPV4)
    } else {
        (Domain::IPV6, Protocol::ICMPV6)
    };
    let s = Socket::new(domain, Type::DGRAM, Some(proto)).map_err(|e| socket_refused(&e))?;
    s.set_nonblocking(true)
        .map_err(|e| format!("ICMP socket: {e}"))?;
    if let Some(from) = bind {
        s.bind(&SocketAddr::new(from, 0).into())
            .map_err(|e| format!("bind {from}: {e}"))?;
    }
    // Connected: the kernel passes up only what comes from `addr`.
    s.connect(&SocketAddr::new(addr, 0).into())
        .map_err(|e| format!("ICMP to {addr}: {e}"))?;
    // A ping socket reads and writes as a UDP one does.
    tokio::net::UdpSocket::from_std(std::net::UdpSocket::from(s))
        .map_err(|e| format!("ICMP socket: {e}"))
}

/// One echo to `addr` (from `bind` when set): passes on its reply within
/// `timeout`. keepalived's `retry` / `delay_before_retry` are the
/// scheduler's, as for every real-server check.
pub async fn ping(addr: IpAddr, bind: Option<IpAddr>, timeout: Duration) -> Outcome {
    let sock = match open(addr, bind) {
        Ok(s) => s,
        Err(m) => return Outcome::fail(m),
    };
    let v6 = addr.is_ipv6();
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let exchange = async {
        sock.send(&echo_request(v6, seq)).await?;
        let mut buf = [0u8; 256];
        // Bounded by the timeout around it; anything else (a late reply
        // to an earlier run cannot reach a new socket) is skipped.
        loop {
            let n = sock.recv(&mut buf).await?;
            if is_reply(v6, &buf[..n], seq) {
                return Ok::<(), std::io::Error>(());
            }
        }
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(())) => Outcome::pass(format!("echo reply from {addr}")),
        Ok(Err(e)) => Outcome::fail(format!("echo to {addr}: {e}")),
        Err(_) => Outcome::fail(format!("echo to {addr}: no reply in {timeout:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_matches_its_request_only() {
        for v6 in [false, true] {
            let mut r = echo_request(v6, 0x1234);
            assert!(!is_reply(v6, &r, 0x1234), "a request is not a reply");
            r[0] = if v6 { ECHO_REPLY_V6 } else { ECHO_REPLY_V4 };
            r[4] = 0x77; // the identifier the kernel chose
            assert!(is_reply(v6, &r, 0x1234));
            assert!(!is_reply(v6, &r, 0x1235), "another sequence");
            assert!(!is_reply(!v6, &r, 0x1234), "the other family's type");
            assert!(!is_reply(v6, &r[..7], 0x1234), "truncated");
            let mut other = r.clone();
            other.push(0);
            assert!(!is_reply(v6, &other, 0x1234), "another payload");
        }
    }
}
