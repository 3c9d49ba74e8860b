//! What a plugin may reach: the configuration's `allow` lists, checked
//! exactly. A target is compared as written after parsing; nothing is
//! resolved, so a grant can never widen through DNS or a path trick.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::config::model::PluginGrants;

/// Why a target is refused before anything is attempted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Well formed, but not granted.
    Denied(String),
    /// Malformed (the host cannot tell what it names).
    Invalid(String),
}

/// An HTTP URL the host can fetch: where to connect, the Host header and the
/// request target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpTarget {
    pub addr: SocketAddr,
    pub host: String,
    pub path: String,
}

/// Parses `http://HOST[:PORT][/PATH]`. HOST is an IP address (IPv6 in
/// brackets) or `localhost`; no user info, no fragment.
pub fn parse_http_url(url: &str) -> Result<HttpTarget, &'static str> {
    let rest = url
        .strip_prefix("http://")
        .ok_or("expected an http:// URL")?;
    if url.contains('#') || url.chars().any(|c| c.is_ascii_control() || c == ' ') {
        return Err("fragments, spaces and control characters are not allowed");
    }
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_string()),
    };
    if authority.contains('@') {
        return Err("user info is not allowed in the URL");
    }
    let (host, port) = split_host_port(authority).ok_or("expected HOST[:PORT] after http://")?;
    let ip = if host.eq_ignore_ascii_case("localhost") {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| "the host must be an IP address or localhost (names are not resolved)")?
    };
    Ok(HttpTarget {
        addr: SocketAddr::new(ip, port),
        host: authority.to_string(),
        path,
    })
}

fn split_host_port(authority: &str) -> Option<(&str, u16)> {
    if authority.is_empty() {
        return None;
    }
    if let Some(end) = authority.strip_prefix('[').and_then(|a| a.find(']')) {
        let host = &authority[..end + 2];
        return match &authority[end + 2..] {
            "" => Some((host, 80)),
            p => Some((host, p.strip_prefix(':')?.parse().ok()?)),
        };
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => Some((h, p.parse().ok()?)),
        Some(_) => None,
        None => Some((authority, 80)),
    }
}

/// A check's grants, parsed once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grants {
    tcp: Vec<SocketAddr>,
    http: Vec<String>,
    unix: Vec<String>,
    files: Vec<String>,
    processes: Vec<String>,
}

impl Grants {
    /// Grants from the configuration. Validation already refused malformed
    /// entries; any left here are dropped (they could never match).
    pub fn from_config(g: &PluginGrants) -> Self {
        Self {
            tcp: g.tcp.iter().filter_map(|t| t.parse().ok()).collect(),
            http: g
                .http
                .iter()
                .filter(|u| parse_http_url(u).is_ok())
                .cloned()
                .collect(),
            unix: g.unix.clone(),
            files: g.files.clone(),
            processes: g.processes.clone(),
        }
    }

    pub fn tcp(&self, address: &str) -> Result<SocketAddr, Refusal> {
        let addr: SocketAddr = address.parse().map_err(|_| {
            Refusal::Invalid(format!(
                "'{address}' is not IP:PORT (names are not resolved)"
            ))
        })?;
        if self.tcp.contains(&addr) {
            Ok(addr)
        } else {
            Err(Refusal::Denied(address.to_string()))
        }
    }

    /// Exactly a granted URL, or below a granted URL that ends in `/` (with
    /// no `..` or encoded dot that could climb out of it).
    pub fn http(&self, url: &str) -> Result<HttpTarget, Refusal> {
        let target = parse_http_url(url).map_err(|e| Refusal::Invalid(format!("'{url}': {e}")))?;
        let granted = self.http.iter().any(|g| {
            g == url
                || (g.ends_with('/') && url.starts_with(g.as_str()) && !climbs(&url[g.len()..]))
        });
        if granted {
            Ok(target)
        } else {
            Err(Refusal::Denied(url.to_string()))
        }
    }

    pub fn unix(&self, path: &str) -> Result<(), Refusal> {
        exact(&self.unix, path)
    }

    /// The files granted (the checker's Landlock ruleset makes them readable).
    pub fn files(&self) -> &[String] {
        &self.files
    }

    pub fn file(&self, path: &str) -> Result<(), Refusal> {
        exact(&self.files, path)
    }

    pub fn process(&self, name: &str) -> Result<(), Refusal> {
        exact(&self.processes, name)
    }
}

fn exact(list: &[String], target: &str) -> Result<(), Refusal> {
    if list.iter().any(|g| g == target) {
        Ok(())
    } else {
        Err(Refusal::Denied(target.to_string()))
    }
}

/// Whether the part of a URL below a directory grant could lead out of it:
/// `..`, or any percent-encoding or backslash (a server may decode
/// `%2e`, `%252e` or `\` into a climb; an exact grant can name such a URL).
fn climbs(rest: &str) -> bool {
    rest.contains("..") || rest.contains('%') || rest.contains('\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants() -> Grants {
        Grants::from_config(&PluginGrants {
            tcp: vec!["127.0.0.1:80".into(), "[::1]:8080".into()],
            http: vec![
                "http://127.0.0.1/nginx_status".into(),
                "http://localhost:8080/api/".into(),
            ],
            unix: vec!["/run/haproxy/admin.sock".into()],
            files: vec!["/proc/loadavg".into()],
            processes: vec!["haproxy".into()],
        })
    }

    #[test]
    fn tcp_is_exact() {
        let g = grants();
        assert!(g.tcp("127.0.0.1:80").is_ok());
        assert!(g.tcp("[::1]:8080").is_ok());
        assert_eq!(
            g.tcp("127.0.0.1:81"),
            Err(Refusal::Denied("127.0.0.1:81".into()))
        );
        assert!(matches!(g.tcp("localhost:80"), Err(Refusal::Invalid(_))));
    }

    #[test]
    fn http_exact_or_below_a_directory_grant() {
        let g = grants();
        let t = g.http("http://127.0.0.1/nginx_status").unwrap();
        assert_eq!(t.addr, "127.0.0.1:80".parse().unwrap());
        assert_eq!(t.path, "/nginx_status");
        assert!(g.http("http://127.0.0.1/nginx_status2").is_err());
        let t = g.http("http://localhost:8080/api/health?x=1").unwrap();
        assert_eq!(t.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(t.host, "localhost:8080");
        for bad in [
            "http://localhost:8080/api/../admin",
            "http://localhost:8080/api/%2e%2e/admin",
            "http://localhost:8080/api/%252e%252e/admin",
            "http://localhost:8080/api/%252E%252E/admin",
            "http://localhost:8080/api/..%5cadmin",
            "http://localhost:8080/api/\\..\\admin",
            "http://localhost:8080/apiX",
            "http://127.0.0.1:80/nginx_status",
        ] {
            assert!(
                matches!(g.http(bad), Err(Refusal::Denied(_))),
                "{bad} was granted"
            );
        }
        for bad in [
            "https://127.0.0.1/",
            "http://user@127.0.0.1/",
            "http://example.com/",
            "http://127.0.0.1/a b",
            "http://127.0.0.1:99999/",
        ] {
            assert!(
                matches!(g.http(bad), Err(Refusal::Invalid(_))),
                "{bad} was not invalid"
            );
        }
    }

    #[test]
    fn url_forms() {
        let t = parse_http_url("http://[::1]:8080?q").unwrap();
        assert_eq!(t.addr, "[::1]:8080".parse().unwrap());
        assert_eq!(t.path, "/?q");
        let t = parse_http_url("http://10.0.0.1").unwrap();
        assert_eq!(t.addr, "10.0.0.1:80".parse().unwrap());
        assert_eq!(t.path, "/");
        assert!(parse_http_url("http://").is_err());
        assert!(parse_http_url("http://::1/").is_err());
    }

    #[test]
    fn paths_and_names_are_exact() {
        let g = grants();
        assert!(g.unix("/run/haproxy/admin.sock").is_ok());
        assert!(g.unix("/run/haproxy/../haproxy/admin.sock").is_err());
        assert!(g.file("/proc/loadavg").is_ok());
        assert!(g.file("/etc/shadow").is_err());
        assert!(g.process("haproxy").is_ok());
        assert!(g.process("nginx").is_err());
    }
}
