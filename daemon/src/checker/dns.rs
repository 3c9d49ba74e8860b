//! DNS_CHECK, as keepalived's check_dns.c: one query (`type`, `name`,
//! recursion desired, class IN, a random ID) over UDP to the real server;
//! the first reply with the query's ID and QR set decides: RCODE 0
//! (NOERROR) passes, any other fails. keepalived does not look at the
//! answer section, so an answer without records (NODATA) passes too; a
//! datagram too short for a header, with another ID or without QR is not
//! the reply and the wait goes on until the timeout (which the caller
//! owns). Stricter than keepalived in one way: the reply must parse as a
//! DNS message (keepalived reads only the header), so a truncated or
//! garbled reply fails.
//!
//! The protocol half is sans-IO ([`query`], [`judge`]); [`check`] is the
//! socket around it.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::{Header, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use super::outcome::Outcome;
use crate::config::model::DnsType;

/// A DNS header's length.
const HEADER_LEN: usize = 12;

/// keepalived's receive buffer (DNS_BUFFER_SIZE): longer replies are cut
/// there, so they are read whole up to the UDP limit here instead.
const RECV_LEN: usize = 65_535;

/// The query, ready to send: `name` ("" or "." is the root) of type `t`.
pub fn query(id: u16, name: &str, t: DnsType) -> Result<Vec<u8>, String> {
    let qname = if name.is_empty() || name == "." {
        Name::root()
    } else {
        Name::from_ascii(name).map_err(|e| format!("name '{name}': {e}"))?
    };
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(qname, RecordType::from(t.code())));
    m.to_vec().map_err(|e| format!("query for '{name}': {e}"))
}

/// What one datagram says about the query `id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Not the reply (too short, another ID, not a response): keep waiting.
    Ignore(&'static str),
    Pass(String),
    Fail(String),
}

/// Judges one datagram received for the query `id`.
pub fn judge(id: u16, reply: &[u8]) -> Verdict {
    // keepalived skips a datagram shorter than its (mis-sized) header
    // check; here: shorter than a header.
    if reply.len() < HEADER_LEN {
        return Verdict::Ignore("shorter than a DNS header");
    }
    let Ok(header) = Header::read(&mut BinDecoder::new(reply)) else {
        return Verdict::Ignore("no DNS header");
    };
    let meta = header.metadata;
    if meta.id != id {
        return Verdict::Ignore("another ID");
    }
    if meta.message_type != MessageType::Response {
        return Verdict::Ignore("a query, not a response");
    }
    // The header's 4 bits, as keepalived (not EDNS's extended code).
    let rcode = meta.response_code;
    if u16::from(rcode) != 0 {
        return Verdict::Fail(format!("rcode {} ({rcode})", u16::from(rcode)));
    }
    match Message::from_vec(reply) {
        Ok(m) => Verdict::Pass(format!("NOERROR, {} answer(s)", m.answers.len())),
        Err(e) => Verdict::Fail(format!("garbled reply ({} bytes): {e}", reply.len())),
    }
}

/// A query ID nobody off the path can guess (keepalived uses random()).
fn random_id() -> u16 {
    use std::io::Read;
    let mut b = [0u8; 2];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_ok()
    {
        return u16::from_ne_bytes(b);
    }
    // Unreadable /dev/urandom: the process's hash keys are random too.
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    );
    h.finish() as u16
}

/// One query to `addr` (from `bind` when set); passes on a NOERROR reply
/// within `timeout`.
pub async fn check(
    addr: SocketAddr,
    bind: Option<SocketAddr>,
    name: &str,
    t: DnsType,
    timeout: Duration,
) -> Outcome {
    let id = random_id();
    let what = format!("{} {} query to {addr}", t.name(), display_name(name));
    let q = match query(id, name, t) {
        Ok(q) => q,
        Err(e) => return Outcome::fail(format!("{what}: {e}")),
    };
    let sock = match super::udp::connected(addr, bind).await {
        Ok(s) => s,
        Err(e) => return Outcome::fail(format!("{what}: {e}")),
    };
    let exchange = async {
        sock.send(&q).await?;
        let mut buf = vec![0u8; RECV_LEN];
        // Bounded by the timeout around it.
        loop {
            let n = sock.recv(&mut buf).await?;
            match judge(id, &buf[..n]) {
                Verdict::Ignore(why) => {
                    tracing::debug!(%addr, why, "DNS_CHECK: datagram skipped");
                }
                Verdict::Pass(m) => {
                    return Ok::<_, std::io::Error>(Outcome::pass(format!("{what}: {m}")));
                }
                Verdict::Fail(m) => return Ok(Outcome::fail(format!("{what}: {m}"))),
            }
        }
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => Outcome::fail(format!("{what}: {e}")),
        Err(_) => Outcome::fail(format!("{what}: no reply in {timeout:?}")),
    }
}

fn display_name(name: &str) -> &str {
    if name.is_empty() { "." } else { name }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::ResponseCode;
    use hickory_proto::rr::{RData, Record, rdata::A};

    fn reply(id: u16, rcode: ResponseCode, answers: usize) -> Vec<u8> {
        let q = Message::from_vec(&query(id, "www.example.com", DnsType::A).unwrap()).unwrap();
        let mut m = Message::new(id, MessageType::Response, OpCode::Query);
        m.metadata.response_code = rcode;
        m.add_queries(q.queries.clone());
        for i in 0..answers {
            m.add_answer(Record::from_rdata(
                Name::from_ascii("www.example.com.").unwrap(),
                60,
                RData::A(A::new(192, 0, 2, i as u8)),
            ));
        }
        m.to_vec().unwrap()
    }

    #[test]
    fn the_query_is_keepalived_s() {
        let q = query(0xbeef, "www.example.com", DnsType::Aaaa).unwrap();
        assert_eq!(&q[..4], &[0xbe, 0xef, 0x01, 0x00], "ID, RD only");
        assert_eq!(&q[4..12], &[0, 1, 0, 0, 0, 0, 0, 0], "one question");
        let m = Message::from_vec(&q).unwrap();
        assert_eq!(m.queries.len(), 1);
        assert_eq!(m.queries[0].query_type(), RecordType::AAAA);
        assert_eq!(m.queries[0].name().to_ascii(), "www.example.com.");
        // keepalived's default: SOA of the root.
        let root = query(1, "", DnsType::Soa).unwrap();
        assert_eq!(&root[12..], &[0, 0, 6, 0, 1], "root, SOA, IN");
        assert_eq!(query(1, ".", DnsType::Soa).unwrap(), root);
    }

    #[test]
    fn noerror_with_the_query_id_passes() {
        assert!(matches!(
            judge(7, &reply(7, ResponseCode::NoError, 1)),
            Verdict::Pass(_)
        ));
    }

    #[test]
    fn no_answer_passes_as_in_keepalived() {
        // NODATA (the name exists, not with that type): keepalived looks
        // only at the rcode.
        assert!(matches!(
            judge(7, &reply(7, ResponseCode::NoError, 0)),
            Verdict::Pass(_)
        ));
    }

    #[test]
    fn error_rcodes_fail() {
        for rc in [
            ResponseCode::NXDomain,
            ResponseCode::Refused,
            ResponseCode::ServFail,
            ResponseCode::FormErr,
        ] {
            match judge(7, &reply(7, rc, 0)) {
                Verdict::Fail(m) => assert!(m.contains("rcode"), "{m}"),
                v => panic!("{rc:?}: {v:?}"),
            }
        }
    }

    #[test]
    fn another_id_or_a_query_is_not_the_reply() {
        assert_eq!(
            judge(8, &reply(7, ResponseCode::NoError, 1)),
            Verdict::Ignore("another ID")
        );
        // An error with another ID does not fail the check either.
        assert!(matches!(
            judge(8, &reply(7, ResponseCode::Refused, 0)),
            Verdict::Ignore(_)
        ));
        let q = query(7, "www.example.com", DnsType::A).unwrap();
        assert_eq!(judge(7, &q), Verdict::Ignore("a query, not a response"));
    }

    #[test]
    fn short_datagrams_are_skipped() {
        let r = reply(7, ResponseCode::NoError, 1);
        assert!(matches!(judge(7, &r[..11]), Verdict::Ignore(_)));
        assert!(matches!(judge(7, &[]), Verdict::Ignore(_)));
    }

    #[test]
    fn truncated_or_garbled_replies_fail() {
        let r = reply(7, ResponseCode::NoError, 2);
        for cut in [HEADER_LEN + 3, r.len() - 1, r.len() - 5] {
            match judge(7, &r[..cut]) {
                Verdict::Fail(m) => assert!(m.contains("garbled"), "{m}"),
                v => panic!("cut at {cut}: {v:?}"),
            }
        }
        // A header that promises answers with nothing after it.
        let mut h = r[..HEADER_LEN].to_vec();
        h[7] = 3;
        assert!(matches!(judge(7, &h), Verdict::Fail(_)));
        // A label pointer past the end.
        let mut g = r.clone();
        g[HEADER_LEN] = 0xc0;
        g[HEADER_LEN + 1] = 0xff;
        assert!(matches!(judge(7, &g), Verdict::Fail(_)));
    }

    #[test]
    fn bad_names_are_refused_before_sending() {
        assert!(query(1, &"a".repeat(64), DnsType::A).is_err());
    }
}
