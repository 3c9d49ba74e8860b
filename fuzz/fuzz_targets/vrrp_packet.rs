//! The VRRP decoder and router must not panic on any packet, and whatever
//! decodes must encode back to the same bytes.
#![no_main]

use std::net::IpAddr;

use libfuzzer_sys::fuzz_target;
use upkeep::vrrp::packet::{Advert, ChecksumMode, IpMeta, split_ipv4};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (meta, payload) = if selector & 1 == 0 {
        match split_ipv4(rest) {
            Ok((m, p)) => (m, p),
            Err(_) => return,
        }
    } else {
        let src: IpAddr = "fe80::1".parse().unwrap();
        let dst: IpAddr = "ff02::12".parse().unwrap();
        (IpMeta { src, dst, ttl: 255 }, rest)
    };
    let mode = if selector & 2 == 0 {
        ChecksumMode::Rfc
    } else {
        ChecksumMode::NoPseudoHeader
    };
    if let Ok(advert) = Advert::decode(payload, &meta, mode) {
        // Re-encoding gives back a packet that decodes to the same advert.
        let bytes = advert.encode(meta.src, meta.dst, ChecksumMode::Rfc);
        let again = Advert::decode(&bytes, &meta, ChecksumMode::Rfc);
        assert_eq!(again.as_ref(), Ok(&advert));
    }
});
