//! VRRP advertisement codec: RFC 3768 §5.1 (v2, IPv4) and RFC 5798 §5.1
//! (v3, IPv4 and IPv6), with the receive checks of RFC 5798 §7.1 that can
//! be made without knowing the local configuration.
//!
//! ```text
//! v3:  0                   1                   2                   3
//!     |Version| Type  | Virtual Rtr ID|   Priority    |Count IPvX Addr|
//!     |(rsvd) |     Max Adver Int     |          Checksum             |
//!     |                 IPvX Address(es) (4 or 16 octets each)        |
//!
//! v2: |Version| Type  | Virtual Rtr ID|   Priority    | Count IP Addrs|
//!     |   Auth Type   |   Adver Int   |          Checksum             |
//!     |                 IPv4 Address(es)                              |
//!     |                 Authentication Data (8 octets)                |
//! ```
//!
//! The v3 checksum covers an IPv4 or IPv6 pseudo-header (RFC 5798 §5.2.8);
//! the v2 checksum covers the VRRP message only.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const IPPROTO_VRRP: u8 = 112;
/// RFC 5798 §5.1.1.3 / §5.1.2.3: sent with TTL / hop limit 255, checked on receipt.
pub const VRRP_TTL: u8 = 255;
pub const MCAST_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
pub const MCAST_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);

const TYPE_ADVERTISEMENT: u8 = 1;
const HEADER_LEN: usize = 8;
const AUTH_DATA_LEN: usize = 8;
/// v2 auth types (RFC 2338 §5.3.6; RFC 3768 keeps 1 and 2 reserved for it).
const AUTH_NONE: u8 = 0;
const AUTH_PASS: u8 = 1;
const AUTH_AH: u8 = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    V2,
    V3,
}

impl Version {
    fn number(self) -> u8 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }
}

/// v2 authentication; v3 has none (RFC 5798 §9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    None,
    /// Simple text password, zero-padded to 8 octets.
    Pass([u8; AUTH_DATA_LEN]),
    /// IP Authentication Header: recognised so that it can be rejected by name.
    Ah,
}

impl Auth {
    /// A PASS key from a configured password (at most 8 bytes are used).
    pub fn pass(password: &str) -> Self {
        let mut key = [0u8; AUTH_DATA_LEN];
        for (k, b) in key.iter_mut().zip(password.bytes()) {
            *k = b;
        }
        Auth::Pass(key)
    }
}

/// One decoded advertisement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Advert {
    pub version: Version,
    pub vrid: u8,
    pub priority: u8,
    /// Advertisement interval in centiseconds (v2 carries whole seconds).
    pub interval_cs: u16,
    pub addrs: Vec<IpAddr>,
    /// Always `Auth::None` for v3.
    pub auth: Auth,
}

/// Why a received packet was dropped. Every drop is counted by reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// IPv4 header missing, malformed or not protocol 112.
    BadIpHeader,
    /// RFC 5798 §7.1: TTL / hop limit must be 255.
    TtlNot255,
    TooShort,
    BadVersion,
    BadType,
    /// Length does not match the address count.
    BadLength,
    BadChecksum,
    /// No instance with this VRID on this interface and family.
    UnknownVrid,
    /// The instance runs the other VRRP version.
    VersionMismatch,
    AuthTypeMismatch,
    AuthFailure,
    /// v2: the advertisement interval differs from ours (RFC 3768 §7.1).
    IntervalMismatch,
    /// The address list differs from ours and the sender is not the owner.
    AddressMismatch,
    /// Our own advertisement looped back.
    OwnAdvert,
    /// `check_unicast_src`: the sender is not one of the unicast peers.
    NotAUnicastPeer,
}

impl DropReason {
    pub const ALL: [DropReason; 15] = [
        DropReason::BadIpHeader,
        DropReason::TtlNot255,
        DropReason::TooShort,
        DropReason::BadVersion,
        DropReason::BadType,
        DropReason::BadLength,
        DropReason::BadChecksum,
        DropReason::UnknownVrid,
        DropReason::VersionMismatch,
        DropReason::AuthTypeMismatch,
        DropReason::AuthFailure,
        DropReason::IntervalMismatch,
        DropReason::AddressMismatch,
        DropReason::OwnAdvert,
        DropReason::NotAUnicastPeer,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DropReason::BadIpHeader => "bad_ip_header",
            DropReason::TtlNot255 => "ttl_not_255",
            DropReason::TooShort => "too_short",
            DropReason::BadVersion => "bad_version",
            DropReason::BadType => "bad_type",
            DropReason::BadLength => "bad_length",
            DropReason::BadChecksum => "bad_checksum",
            DropReason::UnknownVrid => "unknown_vrid",
            DropReason::VersionMismatch => "version_mismatch",
            DropReason::AuthTypeMismatch => "auth_type_mismatch",
            DropReason::AuthFailure => "auth_failure",
            DropReason::IntervalMismatch => "interval_mismatch",
            DropReason::AddressMismatch => "address_mismatch",
            DropReason::OwnAdvert => "own_advert",
            DropReason::NotAUnicastPeer => "not_a_unicast_peer",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether the v3 IPv4 checksum includes the pseudo-header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ChecksumMode {
    /// RFC 5798: pseudo-header included.
    #[default]
    Rfc,
    /// Send without the pseudo-header (peers that leave it out), accept both.
    NoPseudoHeader,
}

/// Addressing of one packet, as the IP layer saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpMeta {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub ttl: u8,
}

/// RFC 1071 one's-complement sum, folded, of the given byte slices in order
/// (each slice except the last has even length in all our uses).
fn ones_complement(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    for part in parts {
        let mut chunks = part.chunks_exact(2);
        for c in &mut chunks {
            sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [last] = chunks.remainder() {
            sum += u32::from(*last) << 8;
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn checksum(version: Version, msg: &[u8], src: IpAddr, dst: IpAddr, pseudo: bool) -> u16 {
    let len = msg.len() as u16;
    match (version, src, dst) {
        (Version::V3, IpAddr::V4(s), IpAddr::V4(d)) if pseudo => {
            let ph = [0, IPPROTO_VRRP];
            ones_complement(&[&s.octets(), &d.octets(), &ph, &len.to_be_bytes(), msg])
        }
        (Version::V3, IpAddr::V6(s), IpAddr::V6(d)) => {
            let ph = [0, 0, 0, IPPROTO_VRRP];
            let len32 = u32::from(len).to_be_bytes();
            ones_complement(&[&s.octets(), &d.octets(), &len32, &ph, msg])
        }
        _ => ones_complement(&[msg]),
    }
}

impl Advert {
    /// Encodes the VRRP message (not the IP header) for sending from `src` to `dst`.
    /// A v2 interval is rounded down to whole seconds (validation keeps it whole).
    pub fn encode(&self, src: IpAddr, dst: IpAddr, mode: ChecksumMode) -> Vec<u8> {
        let addr_len = if src.is_ipv4() { 4 } else { 16 };
        let count = self.addrs.len().min(255);
        let auth_len = if self.version == Version::V2 {
            AUTH_DATA_LEN
        } else {
            0
        };
        let mut b = Vec::with_capacity(HEADER_LEN + count * addr_len + auth_len);
        b.push((self.version.number() << 4) | TYPE_ADVERTISEMENT);
        b.push(self.vrid);
        b.push(self.priority);
        b.push(count as u8);
        match self.version {
            Version::V2 => {
                b.push(match self.auth {
                    Auth::None => AUTH_NONE,
                    Auth::Pass(_) => AUTH_PASS,
                    Auth::Ah => AUTH_AH,
                });
                b.push(u8::try_from(self.interval_cs / 100).unwrap_or(u8::MAX));
            }
            Version::V3 => b.extend_from_slice(&(self.interval_cs & 0x0fff).to_be_bytes()),
        }
        b.extend_from_slice(&[0, 0]);
        for a in self.addrs.iter().take(count) {
            match a {
                IpAddr::V4(v4) => b.extend_from_slice(&v4.octets()),
                IpAddr::V6(v6) => b.extend_from_slice(&v6.octets()),
            }
        }
        if self.version == Version::V2 {
            match self.auth {
                Auth::Pass(key) => b.extend_from_slice(&key),
                _ => b.extend_from_slice(&[0; AUTH_DATA_LEN]),
            }
        }
        let sum = checksum(self.version, &b, src, dst, mode == ChecksumMode::Rfc);
        b[6..8].copy_from_slice(&sum.to_be_bytes());
        b
    }

    /// Decodes and checks a VRRP message received from `meta.src`.
    pub fn decode(msg: &[u8], meta: &IpMeta, mode: ChecksumMode) -> Result<Advert, DropReason> {
        if meta.ttl != VRRP_TTL {
            return Err(DropReason::TtlNot255);
        }
        let [vt, vrid, priority, count, b4, b5, ..] = *msg else {
            return Err(DropReason::TooShort);
        };
        if msg.len() < HEADER_LEN {
            return Err(DropReason::TooShort);
        }
        let version = match vt >> 4 {
            2 if meta.src.is_ipv4() => Version::V2,
            3 => Version::V3,
            _ => return Err(DropReason::BadVersion),
        };
        if vt & 0x0f != TYPE_ADVERTISEMENT {
            return Err(DropReason::BadType);
        }
        let addr_len = if meta.src.is_ipv4() { 4 } else { 16 };
        let auth_len = if version == Version::V2 {
            AUTH_DATA_LEN
        } else {
            0
        };
        let expected = HEADER_LEN + usize::from(count) * addr_len + auth_len;
        if msg.len() != expected {
            return Err(DropReason::BadLength);
        }
        let ok = checksum(version, msg, meta.src, meta.dst, true) == 0
            || (mode == ChecksumMode::NoPseudoHeader
                && checksum(version, msg, meta.src, meta.dst, false) == 0);
        if !ok {
            return Err(DropReason::BadChecksum);
        }
        let addr_bytes = msg
            .get(HEADER_LEN..HEADER_LEN + usize::from(count) * addr_len)
            .unwrap_or(&[]);
        let addrs = addr_bytes
            .chunks_exact(addr_len)
            .map(|c| match <[u8; 4]>::try_from(c) {
                Ok(v4) => IpAddr::V4(Ipv4Addr::from(v4)),
                Err(_) => {
                    let mut v6 = [0u8; 16];
                    v6.copy_from_slice(c);
                    IpAddr::V6(Ipv6Addr::from(v6))
                }
            })
            .collect();
        let (interval_cs, auth) = match version {
            Version::V2 => {
                let key_at = expected - AUTH_DATA_LEN;
                let mut key = [0u8; AUTH_DATA_LEN];
                key.copy_from_slice(msg.get(key_at..expected).unwrap_or(&[0; AUTH_DATA_LEN]));
                let auth = match b4 {
                    AUTH_NONE => Auth::None,
                    AUTH_PASS => Auth::Pass(key),
                    AUTH_AH => Auth::Ah,
                    _ => return Err(DropReason::AuthTypeMismatch),
                };
                (u16::from(b5) * 100, auth)
            }
            Version::V3 => (u16::from_be_bytes([b4, b5]) & 0x0fff, Auth::None),
        };
        Ok(Advert {
            version,
            vrid,
            priority,
            interval_cs,
            addrs,
            auth,
        })
    }
}

/// Splits a received IPv4 packet (raw sockets deliver the header) into its
/// addressing and the VRRP message.
pub fn split_ipv4(packet: &[u8]) -> Result<(IpMeta, &[u8]), DropReason> {
    let [vihl, _, len_hi, len_lo, ..] = *packet else {
        return Err(DropReason::BadIpHeader);
    };
    let ihl = usize::from(vihl & 0x0f) * 4;
    if vihl >> 4 != 4 || ihl < 20 || packet.len() < ihl {
        return Err(DropReason::BadIpHeader);
    }
    let total = usize::from(u16::from_be_bytes([len_hi, len_lo]));
    let end = if total >= ihl && total <= packet.len() {
        total
    } else {
        packet.len()
    };
    let (Some(&ttl), Some(&proto), Some(src), Some(dst)) = (
        packet.get(8),
        packet.get(9),
        packet.get(12..16),
        packet.get(16..20),
    ) else {
        return Err(DropReason::BadIpHeader);
    };
    if proto != IPPROTO_VRRP {
        return Err(DropReason::BadIpHeader);
    }
    let v4 = |s: &[u8]| {
        let mut a = [0u8; 4];
        a.copy_from_slice(s);
        IpAddr::V4(Ipv4Addr::from(a))
    };
    let meta = IpMeta {
        src: v4(src),
        dst: v4(dst),
        ttl,
    };
    Ok((meta, packet.get(ihl..end).unwrap_or(&[])))
}

#[cfg(test)]
#[path = "packet_tests.rs"]
mod tests;
