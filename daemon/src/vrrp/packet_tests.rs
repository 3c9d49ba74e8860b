//! Golden bytes were produced by scapy 2.8 (an independent implementation:
//! `VRRP` / `VRRPv3` layers, checksums computed by scapy).

use super::*;
use proptest::prelude::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn meta(src: &str, dst: &str) -> IpMeta {
    IpMeta {
        src: ip(src),
        dst: ip(dst),
        ttl: 255,
    }
}

const GOLDEN_V2: [u8; 20] = [
    0x21, 0x33, 0x64, 0x01, 0x01, 0x01, 0x1d, 0xa9, 0xc0, 0xa8, 0x01, 0xdc, 0x31, 0x32, 0x33, 0x34,
    0x35, 0x36, 0x00, 0x00,
];
const GOLDEN_V3_V4: [u8; 16] = [
    0x31, 0x33, 0x64, 0x02, 0x00, 0x64, 0x6b, 0x09, 0x0a, 0x00, 0x00, 0x64, 0x0a, 0x00, 0x00, 0x65,
];
const GOLDEN_V3_V6: [u8; 24] = [
    0x31, 0x07, 0xc8, 0x01, 0x00, 0x05, 0xdb, 0x12, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07,
];

fn v2_advert() -> Advert {
    Advert {
        version: Version::V2,
        vrid: 51,
        priority: 100,
        interval_cs: 100,
        addrs: vec![ip("192.168.1.220")],
        auth: Auth::pass("123456"),
    }
}

fn v3_v4_advert() -> Advert {
    Advert {
        version: Version::V3,
        vrid: 51,
        priority: 100,
        interval_cs: 100,
        addrs: vec![ip("10.0.0.100"), ip("10.0.0.101")],
        auth: Auth::None,
    }
}

fn v3_v6_advert() -> Advert {
    Advert {
        version: Version::V3,
        vrid: 7,
        priority: 200,
        interval_cs: 5,
        addrs: vec![ip("2001:db8::7")],
        auth: Auth::None,
    }
}

#[test]
fn golden_v2_ipv4_with_pass_auth() {
    let m = meta("192.168.1.103", "224.0.0.18");
    assert_eq!(
        v2_advert().encode(m.src, m.dst, ChecksumMode::Rfc),
        GOLDEN_V2
    );
    assert_eq!(
        Advert::decode(&GOLDEN_V2, &m, ChecksumMode::Rfc),
        Ok(v2_advert())
    );
}

#[test]
fn golden_v3_ipv4_checksum_has_pseudo_header() {
    let m = meta("10.0.0.1", "224.0.0.18");
    assert_eq!(
        v3_v4_advert().encode(m.src, m.dst, ChecksumMode::Rfc),
        GOLDEN_V3_V4
    );
    assert_eq!(
        Advert::decode(&GOLDEN_V3_V4, &m, ChecksumMode::Rfc),
        Ok(v3_v4_advert())
    );
    // The pseudo-header binds the addresses: another source fails the checksum.
    let other = meta("10.0.0.2", "224.0.0.18");
    assert_eq!(
        Advert::decode(&GOLDEN_V3_V4, &other, ChecksumMode::Rfc),
        Err(DropReason::BadChecksum)
    );
}

#[test]
fn golden_v3_ipv6() {
    let m = meta("fe80::1", "ff02::12");
    assert_eq!(
        v3_v6_advert().encode(m.src, m.dst, ChecksumMode::Rfc),
        GOLDEN_V3_V6
    );
    assert_eq!(
        Advert::decode(&GOLDEN_V3_V6, &m, ChecksumMode::Rfc),
        Ok(v3_v6_advert())
    );
}

#[test]
fn checksum_without_pseudo_header_is_an_option() {
    let m = meta("10.0.0.1", "224.0.0.18");
    let legacy = v3_v4_advert().encode(m.src, m.dst, ChecksumMode::NoPseudoHeader);
    assert_ne!(legacy, GOLDEN_V3_V4);
    assert_eq!(
        Advert::decode(&legacy, &m, ChecksumMode::Rfc),
        Err(DropReason::BadChecksum)
    );
    assert_eq!(
        Advert::decode(&legacy, &m, ChecksumMode::NoPseudoHeader),
        Ok(v3_v4_advert())
    );
    // The lenient mode still accepts RFC packets.
    assert!(Advert::decode(&GOLDEN_V3_V4, &m, ChecksumMode::NoPseudoHeader).is_ok());
}

#[test]
fn receive_checks_drop_malformed_packets() {
    let m = meta("10.0.0.1", "224.0.0.18");
    let check = |bytes: &[u8], m: &IpMeta| Advert::decode(bytes, m, ChecksumMode::Rfc);
    assert_eq!(
        check(&GOLDEN_V3_V4, &IpMeta { ttl: 64, ..m }),
        Err(DropReason::TtlNot255)
    );
    assert_eq!(check(&GOLDEN_V3_V4[..5], &m), Err(DropReason::TooShort));
    assert_eq!(check(&GOLDEN_V3_V4[..7], &m), Err(DropReason::TooShort));
    assert_eq!(
        check(&GOLDEN_V3_V4[..12], &m),
        Err(DropReason::BadLength),
        "truncated address"
    );
    let mut extra = GOLDEN_V3_V4.to_vec();
    extra.extend_from_slice(&[0; 4]);
    assert_eq!(
        check(&extra, &m),
        Err(DropReason::BadLength),
        "trailing bytes"
    );
    let mut v = GOLDEN_V3_V4;
    v[0] = 0x41;
    assert_eq!(check(&v, &m), Err(DropReason::BadVersion));
    let mut t = GOLDEN_V3_V4;
    t[0] = 0x32;
    assert_eq!(check(&t, &m), Err(DropReason::BadType));
    let mut c = GOLDEN_V3_V4;
    c[7] ^= 1;
    assert_eq!(check(&c, &m), Err(DropReason::BadChecksum));
    let mut many = GOLDEN_V3_V4;
    many[3] = 255;
    assert_eq!(
        check(&many, &m),
        Err(DropReason::BadLength),
        "count claims 255 addresses"
    );
    // v2 over IPv6 does not exist.
    let m6 = meta("fe80::1", "ff02::12");
    let mut v2on6 = GOLDEN_V3_V6;
    v2on6[0] = 0x21;
    assert_eq!(check(&v2on6, &m6), Err(DropReason::BadVersion));
    // An unknown v2 auth type.
    let m2 = meta("192.168.1.103", "224.0.0.18");
    let mut a = GOLDEN_V2;
    a[4] = 9;
    // Fix the checksum so only the auth type is wrong.
    a[6] = 0;
    a[7] = 0;
    let sum = ones_complement(&[&a]);
    a[6..8].copy_from_slice(&sum.to_be_bytes());
    assert_eq!(check(&a, &m2), Err(DropReason::AuthTypeMismatch));
}

#[test]
fn ipv4_header_split() {
    let mut pkt = vec![
        0x45, 0, 0, 36, 0, 0, 0, 0, 255, 112, 0, 0, 10, 0, 0, 1, 224, 0, 0, 18,
    ];
    pkt.extend_from_slice(&GOLDEN_V3_V4);
    let (m, payload) = split_ipv4(&pkt).unwrap();
    assert_eq!(m, meta("10.0.0.1", "224.0.0.18"));
    assert_eq!(payload, GOLDEN_V3_V4);
    let mut other = pkt.clone();
    other[9] = 6;
    assert_eq!(split_ipv4(&other), Err(DropReason::BadIpHeader));
    assert_eq!(split_ipv4(&pkt[..10]), Err(DropReason::BadIpHeader));
    let mut bad_ihl = pkt.clone();
    bad_ihl[0] = 0x4f;
    assert!(split_ipv4(&bad_ihl[..30]).is_err());
}

fn arb_advert() -> impl Strategy<Value = (Advert, IpAddr, IpAddr)> {
    let v4 = (
        any::<u32>(),
        any::<u32>(),
        prop::collection::vec(any::<u32>(), 0..20),
        1u8..=255,
        prop::option::of(any::<[u8; 8]>()),
    )
        .prop_map(|(s, d, addrs, secs, pass)| {
            let a = Advert {
                version: Version::V2,
                vrid: 1,
                priority: 0,
                interval_cs: u16::from(secs) * 100,
                addrs: addrs
                    .into_iter()
                    .map(|x| IpAddr::V4(Ipv4Addr::from(x)))
                    .collect(),
                auth: pass.map_or(Auth::None, Auth::Pass),
            };
            (
                a,
                IpAddr::V4(Ipv4Addr::from(s)),
                IpAddr::V4(Ipv4Addr::from(d)),
            )
        });
    let v3 = (
        any::<bool>(),
        any::<u128>(),
        any::<u128>(),
        prop::collection::vec(any::<u128>(), 0..20),
        0u16..4096,
    )
        .prop_map(|(six, s, d, addrs, cs)| {
            let mk = |x: u128| {
                if six {
                    IpAddr::V6(Ipv6Addr::from(x))
                } else {
                    IpAddr::V4(Ipv4Addr::from(x as u32))
                }
            };
            let a = Advert {
                version: Version::V3,
                vrid: 1,
                priority: 0,
                interval_cs: cs,
                addrs: addrs.into_iter().map(mk).collect(),
                auth: Auth::None,
            };
            (a, mk(s), mk(d))
        });
    (prop_oneof![v4, v3], any::<u8>(), any::<u8>()).prop_map(|((mut a, s, d), vrid, prio)| {
        a.vrid = vrid;
        a.priority = prio;
        (a, s, d)
    })
}

proptest! {
    #[test]
    fn decode_of_encode_is_identity((advert, src, dst) in arb_advert()) {
        let m = IpMeta { src, dst, ttl: 255 };
        for mode in [ChecksumMode::Rfc, ChecksumMode::NoPseudoHeader] {
            let bytes = advert.encode(src, dst, mode);
            prop_assert_eq!(Advert::decode(&bytes, &m, mode), Ok(advert.clone()));
        }
    }

    #[test]
    fn decode_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..600), six in any::<bool>(), ttl in any::<u8>()) {
        let m = if six { meta("fe80::1", "ff02::12") } else { meta("10.0.0.1", "224.0.0.18") };
        let _ = Advert::decode(&bytes, &IpMeta { ttl, ..m }, ChecksumMode::NoPseudoHeader);
        let _ = split_ipv4(&bytes);
    }
}
