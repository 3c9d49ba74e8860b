//! One run of one check. Every probe is bounded by its timeout; a probe
//! reports pass or fail with a short, bounded message.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

pub use super::outcome::Outcome;
use crate::exec;

/// Most of an HTTP response read (head and body, for the digest).
const HTTP_LIMIT: usize = 1 << 20;

/// TLS for SSL_GET. As keepalived's SSL_GET, the server's certificate is
/// not verified: the check is whether the service answers, not who it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tls {
    pub sni: Option<String>,
}

/// What to probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// A command (argv); exit status 0 passes. With its own `user` the
    /// parent runs it (the checker cannot change account) as `account`,
    /// which the parent fills in from its own resolution.
    Script {
        argv: Vec<String>,
        /// Boxed, as in the configuration: most scripts have neither.
        user: Option<Box<crate::config::model::ScriptUser>>,
        account: Option<Box<crate::account::Account>>,
    },
    /// A TCP connection can be established (from `bind`, keepalived's
    /// `bindto` / `bind_port`, when set).
    Tcp {
        addr: SocketAddr,
        /// Boxed: few checks set one, and inline it doubled every probe.
        bind: Option<Box<SocketAddr>>,
    },
    /// An HTTP GET answers with an accepted status (and body digest).
    Http(Box<HttpProbe>),
    /// An ICMP / ICMPv6 echo is answered (PING_CHECK), sent from `bind`
    /// when set.
    Ping {
        addr: std::net::IpAddr,
        bind: Option<std::net::IpAddr>,
    },
    /// UDP_CHECK: a datagram sent, an ICMP error or (when required) no or
    /// a wrong reply fails.
    Udp(Box<super::udp::UdpCheck>),
    /// DNS_CHECK: a query of `dns_type` for `name` answered NOERROR.
    Dns(Box<DnsProbe>),
    /// An SMTP server greets, accepts HELO and QUIT (SMTP_CHECK; one per
    /// `host`).
    Smtp(Box<SmtpProbe>),
    /// A file holding a number (keepalived's vrrp_track_file): passes when 0.
    File {
        path: String,
        value: std::sync::Arc<super::file_check::TrackFileValue>,
    },
    /// A track file's number sets a real server's health and weight
    /// (FILE_CHECK).
    TrackFile(Box<super::file_check::FileProbe>),
    /// A WASM plugin (run by the plugin host, not by `run`).
    Plugin(Box<super::plugin::PluginProbe>),
    /// At least `min` (at most `max`) processes match.
    Process(Box<ProcessProbe>),
}

/// A DNS_CHECK's query. This and the other boxed kinds keep [`Probe`] at
/// 48 bytes, a TCP check's size: the checker holds a probe per check, and
/// inline they made every one 96 (issue 18).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsProbe {
    pub addr: SocketAddr,
    pub bind: Option<SocketAddr>,
    pub name: String,
    pub dns_type: crate::config::model::DnsType,
}

/// One SMTP server an SMTP_CHECK talks to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmtpProbe {
    pub addr: SocketAddr,
    pub bind: Option<SocketAddr>,
    pub helo: String,
}

/// A tracked process: at least `min` (at most `max`) processes match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessProbe {
    pub name: String,
    pub args: Option<String>,
    pub partial: bool,
    pub initial: bool,
    pub min: u32,
    pub max: Option<u32>,
}

/// An HTTP GET (HTTP_GET, SSL_GET): boxed in [`Probe`], whose other
/// kinds are much smaller (a TCP check's probe is 64 bytes; with this
/// inline every probe was 184: issue 18, the checker at 10,000 checks).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpProbe {
    pub addr: SocketAddr,
    /// The source address (and port) of the connection, when set.
    pub bind: Option<SocketAddr>,
    pub host: String,
    pub path: String,
    /// Inclusive ranges; empty: 200–299.
    pub status: Vec<(u16, u16)>,
    /// MD5 of the body in lowercase hex.
    pub digest: Option<String>,
    /// HTTPS (SSL_GET): TLS first, with this SNI name when set.
    pub tls: Option<Tls>,
}

pub async fn run(probe: &Probe, timeout: Duration) -> Outcome {
    match probe {
        Probe::Script { argv, account, .. } => {
            Box::pin(script(argv, account.as_deref(), timeout)).await
        }
        Probe::Tcp { addr, bind } => {
            match tokio::time::timeout(timeout, connect(*addr, bind.as_deref().copied())).await {
                // The record makes "connected to ADDR" when it is sent
                // (worker::CheckRecord::message): none made per run.
                Ok(Ok(_)) => Outcome::pass(String::new()),
                Ok(Err(e)) => connect_failed(*addr, &e),
                Err(_) => connect_timed_out(*addr),
            }
        }
        Probe::Http(h) => {
            let HttpProbe {
                addr,
                bind,
                host,
                path,
                status,
                digest,
                tls,
            } = &**h;
            let scheme = if tls.is_some() { "https" } else { "http" };
            let url = format!("{scheme}://{host}{path}");
            let req = HttpRequest {
                addr: *addr,
                bind: *bind,
                host,
                path,
                status,
                digest: digest.as_deref(),
                url: &url,
            };
            // Boxed: the TLS handshake state is large and exists only during a run.
            match tokio::time::timeout(timeout, Box::pin(http(req, tls.as_ref()))).await {
                Ok(o) => o,
                Err(_) => Outcome::fail(format!("GET {url}: timed out")),
            }
        }
        Probe::Process(p) => {
            let ProcessProbe {
                name,
                args,
                partial,
                initial,
                min,
                max,
            } = &**p;
            let n = super::procs::count(name, args.as_deref(), *partial, *initial);
            let ok = n >= *min && max.is_none_or(|m| n <= m);
            Outcome {
                ok,
                message: format!("{n} process(es) named {name}"),
                value: None,
            }
        }
        Probe::Ping { addr, bind } => super::icmp::ping(*addr, *bind, timeout).await,
        Probe::Udp(c) => super::udp::check(c, timeout).await,
        Probe::Dns(d) => super::dns::check(d.addr, d.bind, &d.name, d.dns_type, timeout).await,
        // Boxed: the conversation state exists only during a run.
        Probe::Smtp(s) => Box::pin(super::smtp::check(s.addr, s.bind, &s.helo, timeout)).await,
        Probe::TrackFile(f) => f.run().0,
        Probe::Plugin(p) => Outcome::fail(format!("plugin {}: no plugin host", p.file.display())),
        Probe::File { path, value } => {
            let (value, note) = value.read(path);
            Outcome {
                ok: value == 0,
                message: format!("{path}: {value}{note}"),
                value: Some(value),
            }
        }
    }
}

/// How [`connected_to`]'s message begins (the parent keeps such messages
/// as their address: control::stored).
pub(crate) const CONNECTED_TO: &str = "connected to ";

/// Room for the longest IPv4 "connected to ADDR" ([`connected_to_v4`]).
pub(crate) const CONNECTED_V4: usize = CONNECTED_TO.len() + crate::ipc::msg::V4_TEXT;

/// "connected to ADDR", the message of every passing TCP_CHECK run: built
/// by hand for IPv4, since `format!` of a socket address cost a tenth of
/// the checker's instructions per check (callgrind, 500 checks).
pub(crate) fn connected_to(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(v4) => connected_to_v4(v4, &mut [0; CONNECTED_V4]).to_owned(),
        SocketAddr::V6(_) => format!("{CONNECTED_TO}{addr}"),
    }
}

/// [`connected_to`] of an IPv4 address, into `buf` (the parent writes the
/// messages it keeps as addresses into status.json with it).
pub(crate) fn connected_to_v4(a: std::net::SocketAddrV4, buf: &mut [u8; CONNECTED_V4]) -> &str {
    crate::ipc::msg::v4_text_after(CONNECTED_TO, a, buf)
}

/// A TCP connect's failure, as every TCP probe (and `checker::connects`)
/// says it.
pub(super) fn connect_failed(addr: SocketAddr, e: &std::io::Error) -> Outcome {
    Outcome::fail(format!("connect {addr}: {e}"))
}

/// A TCP connect that did not complete within its timeout.
pub(super) fn connect_timed_out(addr: SocketAddr) -> Outcome {
    Outcome::fail(format!("connect {addr}: timed out"))
}

/// A TCP connection to `addr`, from `bind` when set (keepalived's `bindto`
/// and `bind_port`: bound before connecting, as its checkers do).
pub(super) async fn connect(
    addr: SocketAddr,
    bind: Option<SocketAddr>,
) -> std::io::Result<tokio::net::TcpStream> {
    let Some(from) = bind else {
        return tokio::net::TcpStream::connect(addr).await;
    };
    let sock = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // A fixed source port is reused check after check: allow binding it
    // while the previous connection lingers in TIME_WAIT.
    if from.port() != 0 {
        sock.set_reuseaddr(true)?;
    }
    sock.bind(from)?;
    sock.connect(addr).await
}

/// Runs a check script (see [`crate::exec`]) as `account` (None: as this
/// process): exit status 0 passes.
pub async fn script(
    argv: &[String],
    account: Option<&crate::account::Account>,
    timeout: Duration,
) -> Outcome {
    let f = exec::run(&exec::Command {
        argv,
        timeout,
        user: account,
        output: exec::Output::Keep,
    })
    .await;
    let message = f.describe(argv, timeout);
    if f.success() {
        Outcome::pass(message)
    } else {
        Outcome::fail(message)
    }
}

struct HttpRequest<'a> {
    addr: SocketAddr,
    bind: Option<SocketAddr>,
    host: &'a str,
    path: &'a str,
    status: &'a [(u16, u16)],
    digest: Option<&'a str>,
    url: &'a str,
}

async fn http(r: HttpRequest<'_>, tls: Option<&Tls>) -> Outcome {
    let url = r.url;
    let tcp = match connect(r.addr, r.bind).await {
        Ok(s) => s,
        Err(e) => return Outcome::fail(format!("GET {url}: connect {}: {e}", r.addr)),
    };
    let Some(tls) = tls else {
        return exchange(tcp, &r).await;
    };
    let name = tls
        .sni
        .clone()
        .and_then(|n| rustls::pki_types::ServerName::try_from(n).ok())
        .unwrap_or_else(|| rustls::pki_types::ServerName::IpAddress(r.addr.ip().into()));
    let connector = match super::tls::connector() {
        Ok(c) => c,
        Err(e) => return Outcome::fail(format!("GET {url}: TLS set-up: {e}")),
    };
    match connector.connect(name, tcp).await {
        Ok(stream) => exchange(stream, &r).await,
        Err(e) => Outcome::fail(format!("GET {url}: TLS: {e}")),
    }
}

async fn exchange<S: AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut s: S,
    r: &HttpRequest<'_>,
) -> Outcome {
    let (url, host, path, status, digest) = (r.url, r.host, r.path, r.status, r.digest);
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: upkeep\r\nConnection: close\r\n\r\n"
    );
    if let Err(e) = s.write_all(req.as_bytes()).await {
        return Outcome::fail(format!("GET {url}: {e}"));
    }
    let mut resp = Vec::new();
    if let Err(e) = (&mut s)
        .take(HTTP_LIMIT as u64)
        .read_to_end(&mut resp)
        .await
    {
        return Outcome::fail(format!("GET {url}: {e}"));
    }
    let reply = match split_response(&resp) {
        Ok(r) => r,
        Err(e) => return Outcome::fail(format!("GET {url}: {e}")),
    };
    let code = reply.status;
    let accepted = if status.is_empty() {
        (200..=299).contains(&code)
    } else {
        status.iter().any(|(a, b)| (*a..=*b).contains(&code))
    };
    if !accepted {
        return Outcome::fail(format!("GET {url}: status {code}"));
    }
    if let Some(want) = digest {
        let got: String = {
            use md5::Digest;
            md5::Md5::digest(&reply.body)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        };
        if !got.eq_ignore_ascii_case(want) {
            return Outcome::fail(format!(
                "GET {url}: status {code}, digest {got} (expected {want})"
            ));
        }
    }
    Outcome::pass(format!("GET {url}: status {code}"))
}

/// An HTTP/1.x response: status, headers (names lowercase) and the body,
/// de-chunked.
pub struct HttpReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

pub fn split_response(resp: &[u8]) -> Result<HttpReply, &'static str> {
    let head_end = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no complete response head")?;
    let head = String::from_utf8_lossy(&resp[..head_end]);
    let mut lines = head.lines();
    let status = lines
        .next()
        .filter(|l| l.starts_with("HTTP/"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or("malformed status line")?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let body = &resp[head_end + 4..];
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    Ok(HttpReply {
        status,
        headers,
        body: if chunked {
            dechunk(body)
        } else {
            body.to_vec()
        },
    })
}

/// Decodes a chunked body (bounded by the input; malformed input ends it).
fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_text = String::from_utf8_lossy(&b[..eol]);
        let Ok(size) = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
        else {
            return out;
        };
        if size == 0 {
            return out;
        }
        let start = eol + 2;
        let Some(chunk) = b.get(start..start + size) else {
            return out;
        };
        out.extend_from_slice(chunk);
        b = b.get(start + size + 2..).unwrap_or(&[]);
    }
}

#[cfg(test)]
#[path = "probe_tests.rs"]
mod tests;
