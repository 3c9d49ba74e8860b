//! Value types with a compact written form shared by both readers: a VIP is
//! `10.0.0.1/24 dev eth0 label eth0:1` in keepalived.conf and in TOML alike.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration held in milliseconds, written in seconds (`1`, `0.01`).
/// In 32 bits, as the longest accepted fits: an optional one is 8 bytes,
/// not 16, and a real server and its check have eight (issue 18).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Millis(pub u32);

/// Longest duration accepted anywhere (about 11.5 days): keeps arithmetic far from overflow.
const MAX_MILLIS: u32 = 1_000_000_000;

impl Millis {
    /// `s` seconds, at most [`MAX_MILLIS`] (longer is cut to it).
    pub const fn from_secs(s: u32) -> Self {
        let ms = s.saturating_mul(1000);
        Self(if ms > MAX_MILLIS { MAX_MILLIS } else { ms })
    }

    pub fn as_millis(self) -> u64 {
        u64::from(self.0)
    }

    pub fn from_secs_f64(secs: f64) -> Result<Self, String> {
        if !secs.is_finite() || secs < 0.0 {
            return Err(format!("'{secs}' is not a non-negative number of seconds"));
        }
        let ms = (secs * 1000.0).round();
        if ms > MAX_MILLIS as f64 {
            return Err(format!(
                "{secs} s is too long (at most {} s)",
                MAX_MILLIS / 1000
            ));
        }
        // In range and non-negative, so the cast is exact.
        Ok(Self(ms as u32))
    }

    pub fn parse_secs(text: &str) -> Result<Self, String> {
        let secs: f64 = text
            .parse()
            .map_err(|_| format!("'{text}' is not a number of seconds"))?;
        Self::from_secs_f64(secs)
    }
}

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_multiple_of(1000) {
            write!(f, "{}", self.0 / 1000)
        } else {
            write!(f, "{}", f64::from(self.0) / 1000.0)
        }
    }
}

impl Serialize for Millis {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_multiple_of(1000) {
            s.serialize_u64(u64::from(self.0 / 1000))
        } else {
            s.serialize_f64(f64::from(self.0) / 1000.0)
        }
    }
}

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Millis;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of seconds")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Millis, E> {
                match u32::try_from(v) {
                    Ok(s) if s <= MAX_MILLIS / 1000 => Ok(Millis::from_secs(s)),
                    _ => Err(E::custom(format!("{v} s is too long"))),
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Millis, E> {
                let v = u64::try_from(v).map_err(|_| E::custom("a duration cannot be negative"))?;
                self.visit_u64(v)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Millis, E> {
                Millis::from_secs_f64(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// Implements Serialize/Deserialize through Display/FromStr.
macro_rules! string_serde {
    ($t:ty, $expecting:literal) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $t;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$t, E> {
                        v.parse().map_err(E::custom)
                    }
                }
                d.deserialize_str(V)
            }
        }
    };
}

fn words(s: &str) -> Vec<&str> {
    s.split_whitespace().collect()
}

/// Address scope of a VIP (`scope link`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Global,
    Site,
    Link,
    Host,
    Nowhere,
    Other(u8),
}

impl Scope {
    pub const NAMES: [&'static str; 5] = ["global", "site", "link", "host", "nowhere"];

    pub fn parse(s: &str) -> Result<Self, String> {
        Ok(match s {
            "global" => Scope::Global,
            "site" => Scope::Site,
            "link" => Scope::Link,
            "host" => Scope::Host,
            "nowhere" => Scope::Nowhere,
            n => match n.parse::<u8>() {
                Ok(v) => Scope::Other(v),
                Err(_) => {
                    return Err(format!(
                        "invalid scope '{s}': expected one of {} or a number 0-255{}",
                        Scope::NAMES.join(", "),
                        super::diag::suggestion(s, Scope::NAMES)
                    ));
                }
            },
        })
    }

    /// The rtnetlink scope number.
    pub fn number(self) -> u8 {
        match self {
            Scope::Global => 0,
            Scope::Site => 200,
            Scope::Link => 253,
            Scope::Host => 254,
            Scope::Nowhere => 255,
            Scope::Other(n) => n,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Global => f.write_str("global"),
            Scope::Site => f.write_str("site"),
            Scope::Link => f.write_str("link"),
            Scope::Host => f.write_str("host"),
            Scope::Nowhere => f.write_str("nowhere"),
            Scope::Other(n) => write!(f, "{n}"),
        }
    }
}

/// A virtual IP address: `ADDR[/PREFIX] [brd ADDR] [dev IF] [scope S] [label L]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vip {
    pub addr: IpAddr,
    pub prefix: u8,
    pub brd: Option<Ipv4Addr>,
    pub dev: Option<String>,
    pub scope: Option<Scope>,
    pub label: Option<String>,
}

/// Options keepalived accepts on a virtual address line that upkeep ignores,
/// with how many arguments each takes.
const VIP_UNSUPPORTED_OPTIONS: [(&str, usize); 10] = [
    ("peer", 1),
    ("mngtmpaddr", 0),
    // Per-address VMACs (keepalived 2.2+); the instance's `use_vmac` is supported.
    ("use_vmac", 0),
    ("home", 0),
    ("-nodad", 0),
    ("nodad", 0),
    ("noprefixroute", 0),
    ("autojoin", 0),
    ("track_group", 1),
    ("preferred_lft", 1),
];

/// `no_track` is read and needs nothing: upkeep does not track the
/// interface of a VIP on another device (keepalived's default), which is
/// what `no_track` asks for.
const VIP_OPTIONS: [&str; 6] = ["brd", "broadcast", "dev", "scope", "label", "no_track"];

/// keepalived's `brd ADDR`, `brd +` (host bits set) or `brd -` (host bits
/// clear; both only up to /30), IPv4 only.
fn broadcast(addr: IpAddr, prefix: u8, opt: &str, arg: &str) -> Result<Ipv4Addr, String> {
    let IpAddr::V4(v4) = addr else {
        return Err(format!("'{opt}' is for IPv4 addresses; {addr} is IPv6"));
    };
    let fill = match arg {
        "+" => true,
        "-" => false,
        a => {
            return a
                .parse()
                .map_err(|_| format!("'{opt} {a}': expected an IPv4 address, '+' or '-'"));
        }
    };
    if prefix > 30 {
        return Err(format!(
            "'{opt} {arg}': prefix length /{prefix} too long for a broadcast address (at most /30)"
        ));
    }
    let host = u32::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
    let a = u32::from(v4);
    Ok(Ipv4Addr::from(if fill { a | host } else { a & !host }))
}

/// An address with an optional `/prefix`; the prefix defaults to a host route.
pub fn parse_prefixed(text: &str) -> Result<(IpAddr, u8), String> {
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| format!("'{text}' is not an IP address"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => max,
        Some(p) => match p.parse::<u8>() {
            Ok(n) if n <= max => n,
            _ => {
                return Err(format!(
                    "invalid prefix length '/{p}' in '{text}': expected 0-{max}"
                ));
            }
        },
    };
    Ok((addr, prefix))
}

impl Vip {
    pub fn new(addr: IpAddr, prefix: u8) -> Self {
        Self {
            addr,
            prefix,
            brd: None,
            dev: None,
            scope: None,
            label: None,
        }
    }

    /// Parses a VIP line. Returns the VIP and the keepalived options it
    /// ignores (for "accepted but not supported" warnings).
    pub fn parse_words(words: &[&str]) -> Result<(Vip, Vec<&'static str>), String> {
        let (first, rest) = words
            .split_first()
            .ok_or_else(|| "an empty virtual address".to_string())?;
        let (addr, prefix) = parse_prefixed(first)?;
        let mut vip = Vip::new(addr, prefix);
        let mut ignored = Vec::new();
        let mut i = 0;
        while let Some(&opt) = rest.get(i) {
            let arg = rest.get(i + 1).copied();
            let need = |what: &str| {
                arg.ok_or_else(|| format!("'{opt}' in a virtual address needs {what}"))
            };
            match opt {
                "brd" | "broadcast" => {
                    let a = need("an IPv4 broadcast address, '+' or '-'")?;
                    vip.brd = Some(broadcast(addr, prefix, opt, a)?);
                    i += 2;
                }
                "no_track" => i += 1,
                "dev" => {
                    vip.dev = Some(need("an interface name")?.to_string());
                    i += 2;
                }
                "scope" => {
                    vip.scope = Some(Scope::parse(need("a scope")?)?);
                    i += 2;
                }
                "label" => {
                    vip.label = Some(need("a label")?.to_string());
                    i += 2;
                }
                other => match VIP_UNSUPPORTED_OPTIONS.iter().find(|(n, _)| *n == other) {
                    Some((name, nargs)) => {
                        ignored.push(*name);
                        i += 1 + nargs;
                    }
                    None => {
                        let all = VIP_OPTIONS
                            .iter()
                            .chain(VIP_UNSUPPORTED_OPTIONS.iter().map(|(n, _)| n));
                        return Err(format!(
                            "unknown virtual address option '{other}': expected one of {}{}",
                            VIP_OPTIONS.join(", "),
                            super::diag::suggestion(other, all.copied())
                        ));
                    }
                },
            }
        }
        Ok((vip, ignored))
    }
}

impl fmt::Display for Vip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)?;
        if let Some(b) = &self.brd {
            write!(f, " brd {b}")?;
        }
        if let Some(d) = &self.dev {
            write!(f, " dev {d}")?;
        }
        if let Some(s) = &self.scope {
            write!(f, " scope {s}")?;
        }
        if let Some(l) = &self.label {
            write!(f, " label {l}")?;
        }
        Ok(())
    }
}

impl FromStr for Vip {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (vip, ignored) = Vip::parse_words(&words(s))?;
        match ignored.first() {
            None => Ok(vip),
            Some(opt) => Err(format!("virtual address option '{opt}' is not supported")),
        }
    }
}
string_serde!(Vip, "a virtual address such as \"10.0.0.1/24 dev eth0\"");

/// A tracked thing with an optional weight: `NAME [weight N [reverse]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackRef {
    pub name: String,
    pub weight: Option<i32>,
    pub reverse: bool,
}

impl TrackRef {
    pub fn parse_words(words: &[&str]) -> Result<Self, String> {
        let (name, rest) = words
            .split_first()
            .ok_or_else(|| "an empty track entry".to_string())?;
        let mut t = TrackRef {
            name: (*name).to_string(),
            weight: None,
            reverse: false,
        };
        let mut i = 0;
        while let Some(&w) = rest.get(i) {
            match w {
                "weight" => {
                    let n = rest
                        .get(i + 1)
                        .ok_or_else(|| format!("'weight' after '{name}' needs a number"))?;
                    let v: i32 = n
                        .parse()
                        .ok()
                        .filter(|v: &i32| (-254..=254).contains(v))
                        .ok_or_else(|| {
                            format!("invalid weight '{n}' for '{name}': expected -254 to 254")
                        })?;
                    t.weight = Some(v);
                    i += 2;
                }
                "reverse" => {
                    t.reverse = true;
                    i += 1;
                }
                other => {
                    return Err(format!(
                        "unexpected '{other}' after '{name}': expected 'weight N' or 'reverse'{}",
                        super::diag::suggestion(other, ["weight", "reverse"])
                    ));
                }
            }
        }
        Ok(t)
    }
}

impl fmt::Display for TrackRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(w) = self.weight {
            write!(f, " weight {w}")?;
        }
        if self.reverse {
            f.write_str(" reverse")?;
        }
        Ok(())
    }
}

impl FromStr for TrackRef {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        TrackRef::parse_words(&words(s))
    }
}
string_serde!(TrackRef, "a track entry such as \"chk_haproxy weight 2\"");

/// A member of a virtual_server_group: `IP[-LAST] PORT` or `fwmark N`.
/// `LAST` replaces the address's last byte (IPv4) or 16-bit group (IPv6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VsgEntry {
    Range {
        first: IpAddr,
        last: Option<u16>,
        port: u16,
    },
    Fwmark(u32),
}

impl VsgEntry {
    pub fn parse_words(words: &[&str]) -> Result<Self, String> {
        match words {
            ["fwmark", n] => n
                .parse()
                .map(VsgEntry::Fwmark)
                .map_err(|_| format!("invalid fwmark '{n}': expected a number")),
            [range, port] => {
                let (addr, last) = match range.split_once('-') {
                    Some((a, l)) => (a, Some(l)),
                    None => (*range, None),
                };
                let first: IpAddr = addr
                    .parse()
                    .map_err(|_| format!("'{addr}' is not an IP address"))?;
                let last = match last {
                    None => None,
                    Some(l) => {
                        let (parsed, low, max) = match first {
                            IpAddr::V4(a) => (l.parse::<u16>().ok(), u16::from(a.octets()[3]), 255),
                            IpAddr::V6(a) => {
                                (u16::from_str_radix(l, 16).ok(), a.segments()[7], 0xffff)
                            }
                        };
                        match parsed {
                            Some(v) if v >= low && v <= max => Some(v),
                            _ => {
                                return Err(format!(
                                    "invalid address range '{range}': the end must be between the start's last part and {max}"
                                ));
                            }
                        }
                    }
                };
                let port = port
                    .parse()
                    .map_err(|_| format!("invalid port '{port}': expected 0-65535"))?;
                Ok(VsgEntry::Range { first, last, port })
            }
            _ => Err(format!(
                "invalid group member '{}': expected 'IP[-LAST] PORT' or 'fwmark N'",
                words.join(" ")
            )),
        }
    }
}

impl fmt::Display for VsgEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VsgEntry::Fwmark(m) => write!(f, "fwmark {m}"),
            VsgEntry::Range { first, last, port } => {
                write!(f, "{first}")?;
                match (last, first) {
                    (Some(l), IpAddr::V4(_)) => write!(f, "-{l}")?,
                    (Some(l), IpAddr::V6(_)) => write!(f, "-{l:x}")?,
                    (None, _) => {}
                }
                write!(f, " {port}")
            }
        }
    }
}

impl FromStr for VsgEntry {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        VsgEntry::parse_words(&words(s))
    }
}
string_serde!(
    VsgEntry,
    "a group member such as \"10.0.0.1-9 80\" or \"fwmark 1\""
);

/// An inclusive range of HTTP status codes, written `200` or `200-299`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusRange {
    pub first: u16,
    pub last: u16,
}

impl StatusRange {
    /// `200` or `200-299`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || {
            format!("invalid status code '{s}': expected a code 100-599 or a range such as 200-299")
        };
        let (a, b) = s.split_once('-').unwrap_or((s, s));
        let first: u16 = a.parse().map_err(|_| bad())?;
        let last: u16 = b.parse().map_err(|_| bad())?;
        if !(100..=599).contains(&first) || !(100..=599).contains(&last) || first > last {
            return Err(bad());
        }
        Ok(StatusRange { first, last })
    }

    pub fn contains(&self, code: u16) -> bool {
        (self.first..=self.last).contains(&code)
    }
}

impl fmt::Display for StatusRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

impl Serialize for StatusRange {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.first == self.last {
            s.serialize_u16(self.first)
        } else {
            s.collect_str(self)
        }
    }
}

impl<'de> Deserialize<'de> for StatusRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = StatusRange;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a status code or a range such as \"200-299\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<StatusRange, E> {
                StatusRange::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<StatusRange, E> {
                StatusRange::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StatusRange, E> {
                StatusRange::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// A list of (key, value) pairs written as a table, in the order written
/// (plugin arguments).
pub mod ordered_pairs {
    use std::fmt;

    use serde::de::{MapAccess, Visitor};
    use serde::ser::SerializeMap;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(v.len()))?;
        for (k, val) in v {
            m.serialize_entry(k, val)?;
        }
        m.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
        struct Pairs;
        impl<'de> Visitor<'de> for Pairs {
            type Value = Vec<(String, String)>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table of string values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(kv) = map.next_entry::<String, String>()? {
                    out.push(kv);
                }
                Ok(out)
            }
        }
        d.deserialize_map(Pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_parse_and_display() {
        assert_eq!(Millis::parse_secs("1").map(|m| m.0), Ok(1000));
        assert_eq!(Millis::parse_secs("0.01").map(|m| m.0), Ok(10));
        assert_eq!(Millis::parse_secs("40.95").map(|m| m.0), Ok(40950));
        assert!(Millis::parse_secs("-1").is_err());
        assert!(Millis::parse_secs("abc").is_err());
        assert!(Millis::parse_secs("inf").is_err());
        assert!(Millis::parse_secs("1e300").is_err());
        assert_eq!(Millis(1500).to_string(), "1.5");
        assert_eq!(Millis(2000).to_string(), "2");
    }

    /// Issue 18: held in 32 bits, the longest accepted duration still
    /// reads and writes back, one beyond is refused in every form (text,
    /// TOML/JSON integer and float, beyond u32), and an optional one is 8
    /// bytes.
    #[test]
    fn millis_in_32_bits_keep_the_whole_accepted_range() {
        let max = Millis::parse_secs("1000000").unwrap();
        assert_eq!(max.as_millis(), 1_000_000_000);
        assert_eq!(Millis::from_secs(1_000_000), max);
        assert_eq!(Millis::from_secs(u32::MAX), max);
        assert!(Millis::parse_secs("1000000.001").is_err());
        let json = |t: &str| serde_json::from_str::<Millis>(t);
        assert_eq!(json("1000000").unwrap(), max);
        assert_eq!(json(&serde_json::to_string(&max).unwrap()).unwrap(), max);
        assert_eq!(json("0.001").unwrap(), Millis(1));
        for long in [
            "1000001",
            "4294968",
            "18446744073709551615",
            "1000000.5",
            "-1",
        ] {
            assert!(json(long).is_err(), "{long}");
        }
        assert_eq!(std::mem::size_of::<Option<Millis>>(), 8);
    }

    #[test]
    fn vip_full_syntax() {
        let (v, ign) = Vip::parse_words(&[
            "10.0.0.1/24",
            "brd",
            "10.0.0.255",
            "dev",
            "eth1",
            "scope",
            "link",
            "label",
            "eth1:1",
        ])
        .unwrap();
        assert!(ign.is_empty());
        assert_eq!(
            v.to_string(),
            "10.0.0.1/24 brd 10.0.0.255 dev eth1 scope link label eth1:1"
        );
        assert_eq!(v.to_string().parse::<Vip>().unwrap(), v);
    }

    #[test]
    fn vip_defaults_to_host_prefix() {
        assert_eq!("192.168.1.220".parse::<Vip>().unwrap().prefix, 32);
        assert_eq!("fe80::1".parse::<Vip>().unwrap().prefix, 128);
    }

    #[test]
    fn vip_errors() {
        assert!("10.0.0.1/33".parse::<Vip>().unwrap_err().contains("0-32"));
        assert!(
            "10.0.0.300"
                .parse::<Vip>()
                .unwrap_err()
                .contains("not an IP")
        );
        assert!("10.0.0.1 dev".parse::<Vip>().unwrap_err().contains("needs"));
        let e = "10.0.0.1 lable x".parse::<Vip>().unwrap_err();
        assert!(e.contains("did you mean 'label'"), "{e}");
        assert!(
            "10.0.0.1 scope lnk"
                .parse::<Vip>()
                .unwrap_err()
                .contains("did you mean 'link'")
        );
    }

    #[test]
    fn vip_keepalived_only_options_are_reported() {
        let (_, ign) =
            Vip::parse_words(&["10.0.0.1", "peer", "10.0.0.2", "home", "-nodad"]).unwrap();
        assert_eq!(ign, vec!["peer", "home", "-nodad"]);
        assert!("10.0.0.1 home".parse::<Vip>().is_err());
    }

    #[test]
    fn track_ref_syntax() {
        let t: TrackRef = "eth2 weight -20 reverse".parse().unwrap();
        assert_eq!(
            (t.name.as_str(), t.weight, t.reverse),
            ("eth2", Some(-20), true)
        );
        assert_eq!(t.to_string().parse::<TrackRef>().unwrap(), t);
        assert!(
            "x weight 300"
                .parse::<TrackRef>()
                .unwrap_err()
                .contains("-254 to 254")
        );
        assert!(
            "x wieght 3"
                .parse::<TrackRef>()
                .unwrap_err()
                .contains("did you mean 'weight'")
        );
    }

    #[test]
    fn vsg_entries() {
        let e: VsgEntry = "192.168.200.3-10 80".parse().unwrap();
        assert_eq!(e.to_string(), "192.168.200.3-10 80");
        let e6: VsgEntry = "ae00::2-9 80".parse().unwrap();
        assert_eq!(e6.to_string(), "ae00::2-9 80");
        assert_eq!("fwmark 7".parse::<VsgEntry>().unwrap(), VsgEntry::Fwmark(7));
        assert!("10.0.0.5-3 80".parse::<VsgEntry>().is_err());
        assert!("10.0.0.5-300 80".parse::<VsgEntry>().is_err());
        assert!("10.0.0.5".parse::<VsgEntry>().is_err());
    }

    #[test]
    fn status_ranges() {
        assert_eq!(
            StatusRange::parse("200-299").unwrap().to_string(),
            "200-299"
        );
        assert!(StatusRange::parse("503").unwrap().contains(503));
        assert!(StatusRange::parse("299-200").is_err());
        assert!(StatusRange::parse("99").is_err());
    }
}
