//! Prometheus metrics: the node's [`StatusDoc`] in the text exposition
//! format 0.0.4, served by a deliberately small HTTP/1.x server
//! (`GET /metrics`, one request per connection).
//!
//! The server reads at most [`MAX_HEAD`] bytes of request head within
//! [`HEAD_TIMEOUT`], ignores the headers, answers and closes. Anything it
//! cannot parse gets a 400; it never panics on what a client sends.
//!
//! The parent renders (it holds the status); the server runs in the
//! unprivileged metrics worker ([`super::metrics_worker`]), so that what
//! network clients reach is not a root process.

use std::fmt::{self, Write as _};
use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout, timeout_at};
use tracing::{debug, warn};

use crate::checker::health::Verdict;
use crate::control::status::{MailStatus, StatusDoc, WorkerState};
use crate::vrrp::fsm::State;

/// What the server answers GET /metrics with: the latest rendering.
pub type Body = dyn Fn() -> Arc<str> + Send + Sync;

/// The exposition format's content type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4";
/// The path metrics are served on.
pub const PATH: &str = "/metrics";
/// Largest request head (request line and headers) read from a client.
pub const MAX_HEAD: usize = 8 * 1024;
/// Time a client has to send its request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------

/// Renders the node's metrics.
pub fn render(doc: &StatusDoc) -> String {
    let mut x = Exposition::default();

    // ---- VRRP ----
    let instances = &doc.instances;
    x.family(
        "upkeep_vrrp_state",
        Kind::Gauge,
        "VRRP instance state: 0 init, 1 backup, 2 master, 3 fault, -1 unknown.",
        instances.iter().map(|i| {
            (
                vec![("instance", i.name.as_str())],
                Value::Int(state_code(i.state)),
            )
        }),
    );
    x.family(
        "upkeep_vrrp_maintenance",
        Kind::Gauge,
        "1 while `upkeepctl maintenance` holds the instance out of Master (its state is then backup, or fault), else 0.",
        instances.iter().map(|i| {
            (
                vec![("instance", i.name.as_str())],
                Value::Int(i64::from(i.maintenance)),
            )
        }),
    );
    x.family(
        "upkeep_vrrp_priority",
        Kind::Gauge,
        "VRRP instance effective priority (after tracking).",
        instances
            .iter()
            .map(|i| (vec![("instance", i.name.as_str())], Value::from(i.priority))),
    );
    x.family(
        "upkeep_vrrp_base_priority",
        Kind::Gauge,
        "VRRP instance configured priority.",
        instances.iter().map(|i| {
            (
                vec![("instance", i.name.as_str())],
                Value::from(i.base_priority),
            )
        }),
    );
    x.family(
        "upkeep_vrrp_transitions_total",
        Kind::Counter,
        "VRRP instance state transitions.",
        instances.iter().map(|i| {
            (
                vec![("instance", i.name.as_str())],
                Value::from(i.transitions),
            )
        }),
    );
    x.family(
        "upkeep_vrrp_adverts_sent_total",
        Kind::Counter,
        "VRRP advertisements sent.",
        instances.iter().map(|i| {
            (
                vec![("instance", i.name.as_str())],
                Value::from(i.adverts_sent),
            )
        }),
    );
    x.family(
        "upkeep_vrrp_addresses_restored_total",
        Kind::Counter,
        "Addresses of a Master removed by someone else and put back.",
        instances.iter().map(|i| {
            (
                vec![("instance", i.name.as_str())],
                Value::from(i.addresses_restored),
            )
        }),
    );
    x.family(
        "upkeep_vrrp_addresses_removed_total",
        Kind::Counter,
        "Addresses found on a non-Master's interface and removed.",
        instances.iter().map(|i| {
            (
                vec![("instance", i.name.as_str())],
                Value::from(i.addresses_removed),
            )
        }),
    );
    x.family(
        "upkeep_vrrp_address_mismatches_total",
        Kind::Counter,
        "VRRPv3 adverts whose address list started to differ from ours (accepted, logged).",
        instances.iter().map(|i| {
            (
                vec![("instance", i.name.as_str())],
                Value::from(i.address_mismatches),
            )
        }),
    );
    x.family(
        "upkeep_vrrp_address_mismatch",
        Kind::Gauge,
        "1 while the peer advertises another address list than ours (VRRPv3).",
        instances.iter().map(|i| {
            (
                vec![("instance", i.name.as_str())],
                Value::Int(i64::from(i.address_mismatch.is_some())),
            )
        }),
    );
    x.family(
        "upkeep_vrrp_duplicate_vip_packets_total",
        Kind::Counter,
        "ARP packets from another host claiming one of the Master's VIPs.",
        instances.iter().map(|i| {
            (
                vec![("instance", i.name.as_str())],
                Value::from(i.duplicate_vip_packets),
            )
        }),
    );
    x.family(
        "upkeep_vrrp_duplicate_vips",
        Kind::Gauge,
        "VIPs of the Master that another host claims now.",
        instances.iter().map(|i| {
            let mut addrs: Vec<_> = i.duplicate_vips.iter().map(|d| d.addr).collect();
            addrs.sort_unstable();
            addrs.dedup();
            (
                vec![("instance", i.name.as_str())],
                Value::Int(i64::try_from(addrs.len()).unwrap_or(i64::MAX)),
            )
        }),
    );
    x.family(
        "upkeep_vrrp_adverts_received_total",
        Kind::Counter,
        "VRRP advertisements received and accepted.",
        instances.iter().map(|i| {
            (
                vec![("instance", i.name.as_str())],
                Value::from(i.adverts_received),
            )
        }),
    );
    let matched = instances.iter().flat_map(|i| {
        i.drops
            .iter()
            .map(move |(reason, n)| (i.name.as_str(), reason.as_str(), *n))
    });
    let unmatched = doc
        .unmatched_drops
        .iter()
        .map(|(reason, n)| ("", reason.as_str(), *n));
    x.family(
        "upkeep_vrrp_drops_total",
        Kind::Counter,
        "VRRP packets dropped, by reason (instance=\"\" when no instance matched).",
        matched.chain(unmatched).map(|(instance, reason, n)| {
            (
                vec![("instance", instance), ("reason", reason)],
                Value::from(n),
            )
        }),
    );

    // ---- checks ----
    let checks = &doc.checks;
    x.family(
        "upkeep_check_up",
        Kind::Gauge,
        "Check state after fall/rise: 1 up, 0 down, -1 unknown (not run yet).",
        checks.iter().map(|c| {
            let up = match c.state {
                Verdict::Up => 1,
                Verdict::Down => 0,
                Verdict::Unknown => -1,
            };
            (vec![("check", c.source.as_str())], Value::Int(up))
        }),
    );
    x.family(
        "upkeep_check_runs_total",
        Kind::Counter,
        "Check runs.",
        checks
            .iter()
            .map(|c| (vec![("check", c.source.as_str())], Value::from(c.runs))),
    );
    x.family(
        "upkeep_check_failures_total",
        Kind::Counter,
        "Check runs that failed.",
        checks
            .iter()
            .map(|c| (vec![("check", c.source.as_str())], Value::from(c.failures))),
    );
    x.family(
        "upkeep_check_latency_seconds",
        Kind::Gauge,
        "Duration of the check's last run.",
        checks.iter().filter_map(|c| {
            let us = c.latency_us?;
            // Microseconds fit an f64 exactly up to 2^53 (285 years).
            #[allow(clippy::cast_precision_loss)]
            let seconds = us as f64 / 1e6;
            Some((vec![("check", c.source.as_str())], Value::Float(seconds)))
        }),
    );
    x.family(
        "upkeep_check_plugin_metric",
        Kind::Gauge,
        "A number a WASM plugin check reported in its last run.",
        checks.iter().flat_map(|c| {
            c.metrics.iter().map(|(name, v)| {
                (
                    vec![("check", c.source.as_str()), ("name", name.as_str())],
                    Value::Float(*v),
                )
            })
        }),
    );

    // ---- IPVS ----
    // Addresses as label text, made once for the six families.
    let addresses: Vec<String> = doc
        .virtual_servers
        .iter()
        .flat_map(|vs| vs.real_servers.iter().map(|rs| rs.address.to_string()))
        .collect();
    let real_servers = || {
        doc.virtual_servers
            .iter()
            .flat_map(|vs| vs.real_servers.iter().map(move |rs| (vs, rs)))
            .zip(&addresses)
            .map(|((vs, rs), address)| {
                (
                    vec![
                        ("virtual_server", vs.key.as_str()),
                        ("real_server", address.as_str()),
                    ],
                    rs,
                )
            })
    };
    x.family(
        "upkeep_real_server_up",
        Kind::Gauge,
        "Real server health: 1 up, 0 down.",
        real_servers().map(|(labels, rs)| (labels, Value::from(rs.up))),
    );
    x.family(
        "upkeep_real_server_weight",
        Kind::Gauge,
        "Real server's configured weight.",
        real_servers().map(|(labels, rs)| (labels, Value::Int(i64::from(rs.weight)))),
    );
    x.family(
        "upkeep_real_server_desired_weight",
        Kind::Gauge,
        "Weight upkeep wants the real server to have in the kernel (absent: out of the table).",
        real_servers()
            .filter_map(|(labels, rs)| Some((labels, Value::from(u64::from(rs.desired_weight?))))),
    );
    x.family(
        "upkeep_real_server_kernel_weight",
        Kind::Gauge,
        "Weight the kernel's IPVS table had at the last reconcile (absent: not in it).",
        real_servers()
            .filter_map(|(labels, rs)| Some((labels, Value::from(u64::from(rs.kernel_weight?))))),
    );
    x.family(
        "upkeep_real_server_active_connections",
        Kind::Gauge,
        "Active connections to the real server (kernel, last reconcile).",
        real_servers().map(|(labels, rs)| (labels, Value::from(u64::from(rs.active_conns)))),
    );
    x.family(
        "upkeep_real_server_inactive_connections",
        Kind::Gauge,
        "Inactive connections to the real server (kernel, last reconcile).",
        real_servers().map(|(labels, rs)| (labels, Value::from(u64::from(rs.inactive_conns)))),
    );
    x.family(
        "upkeep_virtual_server_quorum",
        Kind::Gauge,
        "Virtual server quorum: 1 met, 0 lost (sorry server).",
        doc.virtual_servers.iter().map(|v| {
            (
                vec![("virtual_server", v.key.as_str())],
                Value::from(v.quorum_up),
            )
        }),
    );
    x.family(
        "upkeep_virtual_server_kernel_services",
        Kind::Gauge,
        "Kernel services of the virtual server present at the last reconcile.",
        doc.virtual_servers.iter().map(|v| {
            let n = u64::try_from(v.in_kernel).unwrap_or(u64::MAX);
            (vec![("virtual_server", v.key.as_str())], Value::from(n))
        }),
    );
    let ipvs = doc.ipvs.as_ref();
    x.family(
        "upkeep_ipvs_available",
        Kind::Gauge,
        "The kernel has IPVS and upkeep can program it: 1 yes, 0 no.",
        ipvs.map(|k| (Vec::new(), Value::from(k.available))),
    );
    x.family(
        "upkeep_ipvs_reconciles_total",
        Kind::Counter,
        "Reconciles of the kernel's IPVS table.",
        ipvs.map(|k| (Vec::new(), Value::from(k.reconciles))),
    );
    x.family(
        "upkeep_ipvs_drift_repairs_total",
        Kind::Counter,
        "Periodic reconciles that repaired changes made behind upkeep's back.",
        ipvs.map(|k| (Vec::new(), Value::from(k.drift_repairs))),
    );
    x.family(
        "upkeep_ipvs_changes_total",
        Kind::Counter,
        "IPVS requests applied, by command.",
        ipvs.into_iter()
            .flat_map(|k| &k.ops)
            .map(|(op, n)| (vec![("op", op.as_str())], Value::from(*n))),
    );
    x.family(
        "upkeep_ipvs_errors_total",
        Kind::Counter,
        "IPVS requests refused and reconciles failed, by error.",
        ipvs.into_iter()
            .flat_map(|k| &k.errors)
            .map(|(e, n)| (vec![("error", e.as_str())], Value::from(*n))),
    );
    x.family(
        "upkeep_ipvs_reconcile_seconds",
        Kind::Gauge,
        "Duration of the last reconcile.",
        ipvs.and_then(|k| k.last_reconcile.as_ref()).map(|r| {
            // Microseconds fit an f64 exactly up to 2^53.
            #[allow(clippy::cast_precision_loss)]
            let s = r.took_us as f64 / 1e6;
            (Vec::new(), Value::Float(s))
        }),
    );
    x.family(
        "upkeep_ipvs_sync_daemon",
        Kind::Gauge,
        "Kernel connection-sync daemons running, by state (master, backup).",
        ipvs.into_iter().flat_map(|k| &k.sync_daemons).map(|d| {
            let state = d.split_whitespace().next().unwrap_or("unknown");
            (vec![("state", state)], Value::from(1u64))
        }),
    );

    // ---- workers ----
    x.family(
        "upkeep_worker_up",
        Kind::Gauge,
        "Worker process running: 1 yes, 0 no.",
        doc.workers.iter().map(|w| {
            let up = w.pid.is_some() && w.state == WorkerState::Running;
            (vec![("role", w.role.as_str())], Value::from(up))
        }),
    );
    x.family(
        "upkeep_worker_restarts_total",
        Kind::Counter,
        "Worker restarts after a failure.",
        doc.workers
            .iter()
            .map(|w| (vec![("role", w.role.as_str())], Value::from(w.restarts))),
    );
    x.family(
        "upkeep_worker_protocol_violations_total",
        Kind::Counter,
        "Messages a worker was not allowed to send (each reset the worker).",
        doc.workers
            .iter()
            .map(|w| (vec![("role", w.role.as_str())], Value::from(w.violations))),
    );

    // ---- configuration ----
    x.family(
        "upkeep_config_generation",
        Kind::Gauge,
        "Configuration generation (1 at start, bumped by every successful reload).",
        [(Vec::new(), Value::from(doc.generation))],
    );
    // ---- SMTP alerts ----
    let mail = doc.mail.as_ref();
    for (name, help, get) in [
        (
            "upkeep_mail_sent_total",
            "SMTP alerts sent.",
            (|m: &MailStatus| m.sent) as fn(&MailStatus) -> u64,
        ),
        (
            "upkeep_mail_failed_total",
            "SMTP alerts given up after every try.",
            |m: &MailStatus| m.failed,
        ),
        (
            "upkeep_mail_dropped_total",
            "SMTP alerts dropped from a full queue.",
            |m: &MailStatus| m.dropped,
        ),
    ] {
        x.family(
            name,
            Kind::Counter,
            help,
            mail.map(|m| (Vec::new(), Value::from(get(m)))),
        );
    }
    x.family(
        "upkeep_mail_queued",
        Kind::Gauge,
        "SMTP alerts waiting to be sent.",
        mail.map(|m| (Vec::new(), Value::from(m.queued))),
    );

    x.family(
        "upkeep_reload_success",
        Kind::Gauge,
        "Whether the last reload succeeded: 1 yes, 0 no (absent before the first reload).",
        doc.reload.iter().map(|r| (Vec::new(), Value::from(r.ok))),
    );

    x.out
}

/// The gauge value of a VRRP state.
fn state_code(state: State) -> i64 {
    match state {
        State::Initialize => 0,
        State::Backup => 1,
        State::Master => 2,
        State::Fault => 3,
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Gauge,
    Counter,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        }
    }
}

/// A sample's value.
#[derive(Clone, Copy)]
enum Value {
    Int(i64),
    Uint(u64),
    Float(f64),
}

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::Uint(v)
    }
}

impl From<u8> for Value {
    fn from(v: u8) -> Self {
        Value::Uint(v.into())
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Uint(v.into())
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Value::Int(v) => write!(f, "{v}"),
            Value::Uint(v) => write!(f, "{v}"),
            Value::Float(v) if v.is_nan() => f.write_str("NaN"),
            Value::Float(v) if v.is_infinite() => {
                f.write_str(if v > 0.0 { "+Inf" } else { "-Inf" })
            }
            // Rust's shortest round-trip form, never an exponent: Go's
            // ParseFloat (Prometheus) reads it.
            Value::Float(v) => write!(f, "{v}"),
        }
    }
}

/// A sample: its labels (name, unescaped value) and its value.
type Sample<'a> = (Vec<(&'static str, &'a str)>, Value);

#[derive(Default)]
struct Exposition {
    out: String,
}

impl Exposition {
    /// Writes one metric family: `# HELP`, `# TYPE`, then its samples. A
    /// family without samples is left out entirely.
    fn family<'a>(
        &mut self,
        name: &str,
        kind: Kind,
        help: &str,
        samples: impl IntoIterator<Item = Sample<'a>>,
    ) {
        let mut samples = samples.into_iter().peekable();
        if samples.peek().is_none() {
            return;
        }
        // Writing to a String cannot fail.
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {}", kind.name());
        for (labels, value) in samples {
            self.out.push_str(name);
            if !labels.is_empty() {
                self.out.push('{');
                for (n, (label, v)) in labels.iter().enumerate() {
                    if n > 0 {
                        self.out.push(',');
                    }
                    self.out.push_str(label);
                    self.out.push_str("=\"");
                    escape_label_value_into(&mut self.out, v);
                    self.out.push('"');
                }
                self.out.push('}');
            }
            let _ = writeln!(self.out, " {value}");
        }
    }
}

/// Label values escape backslash, double quote and line feed.
fn escape_label_value_into(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// HELP text escapes backslash and line feed.
fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

// ---------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------

/// The server's bounds; [`serve`] uses [`Limits::DEFAULT`], tests shorter ones.
#[derive(Clone, Copy, Debug)]
struct Limits {
    /// Time a client has to send its request head.
    head_timeout: Duration,
    /// Time a client has to take the response.
    write_timeout: Duration,
    /// After answering, how long unread request bytes are drained (so that
    /// closing with data pending does not reset the connection and lose
    /// the response).
    linger: Duration,
    /// Connections handled at once; further ones wait in the listen backlog.
    max_connections: usize,
}

impl Limits {
    const DEFAULT: Limits = Limits {
        head_timeout: HEAD_TIMEOUT,
        write_timeout: Duration::from_secs(5),
        linger: Duration::from_secs(1),
        max_connections: 64,
    };
}

/// Most request bytes drained after answering.
const MAX_DRAIN: usize = 256 * 1024;

/// Serves GET /metrics (404 for other paths, 405 for other methods) on
/// `listener` until the future is dropped; `snapshot` returns the current
/// [`StatusDoc`]. One task per connection, each bounded to [`MAX_HEAD`]
/// bytes of request head read within [`HEAD_TIMEOUT`]; every response is
/// followed by closing the connection. Dropping the future also ends the
/// connections in progress.
pub async fn serve(listener: TcpListener, snapshot: Arc<Body>) {
    serve_with(listener, snapshot, Limits::DEFAULT).await;
}

async fn serve_with(listener: TcpListener, snapshot: Arc<Body>, limits: Limits) {
    // Owned here, so dropping this future aborts the connections too.
    let mut conns = JoinSet::new();
    loop {
        while conns.try_join_next().is_some() {}
        if conns.len() >= limits.max_connections {
            let _ = conns.join_next().await;
            continue;
        }
        match listener.accept().await {
            Ok((stream, peer)) => {
                let snapshot = Arc::clone(&snapshot);
                conns.spawn(async move {
                    if let Err(e) = handle(stream, snapshot.as_ref(), limits).await {
                        debug!(%peer, error = %e, "metrics: connection failed");
                    }
                });
            }
            Err(e) => {
                // Usually out of descriptors: back off instead of spinning.
                warn!(error = %e, "metrics: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// What reading a request head gave.
enum Head {
    /// The head, up to and including its blank line.
    Complete(Vec<u8>),
    /// More than [`MAX_HEAD`] bytes without a blank line.
    TooLarge,
    /// The client closed its side first; `partial` says whether it sent anything.
    Eof { partial: bool },
}

async fn handle(mut stream: TcpStream, snapshot: &Body, limits: Limits) -> io::Result<()> {
    let deadline = Instant::now() + limits.head_timeout;
    let head = match timeout_at(deadline, read_head(&mut stream)).await {
        Ok(head) => head?,
        Err(_) => {
            debug!("metrics: request head timed out");
            return Ok(());
        }
    };
    let response = match head {
        Head::Complete(head) => respond(&head, snapshot),
        Head::TooLarge => error_response(400, "Bad Request", "request head too large\n"),
        Head::Eof { partial: true } => error_response(400, "Bad Request", "incomplete request\n"),
        Head::Eof { partial: false } => return Ok(()),
    };
    match timeout(limits.write_timeout, async {
        stream.write_all(&response).await?;
        stream.shutdown().await
    })
    .await
    {
        Ok(r) => r?,
        Err(_) => {
            debug!("metrics: response write timed out");
            return Ok(());
        }
    }
    // Drain what the client still sends (bounded), then close.
    let _ = timeout(limits.linger, async {
        let mut sink = [0u8; 4096];
        let mut drained = 0;
        while drained < MAX_DRAIN {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    })
    .await;
    Ok(())
}

/// Reads until the blank line ending the head (CRLF CRLF, or a lenient
/// LF LF), at most [`MAX_HEAD`] bytes.
async fn read_head(stream: &mut TcpStream) -> io::Result<Head> {
    let mut buf = vec![0u8; MAX_HEAD];
    let mut len = 0;
    loop {
        if len == buf.len() {
            return Ok(Head::TooLarge);
        }
        let n = stream.read(&mut buf[len..]).await?;
        if n == 0 {
            return Ok(Head::Eof { partial: len > 0 });
        }
        // Look only at the new bytes and the 3 before them.
        let start = len.saturating_sub(3);
        len += n;
        if let Some(end) = head_end(&buf[start..len]) {
            buf.truncate(start + end);
            return Ok(Head::Complete(buf));
        }
    }
}

/// The length of `data` up to and including the first blank line.
fn head_end(data: &[u8]) -> Option<usize> {
    (0..data.len()).find_map(|i| {
        let rest = &data[i..];
        if rest.starts_with(b"\r\n\r\n") {
            Some(i + 4)
        } else if rest.starts_with(b"\n\n") {
            Some(i + 2)
        } else if rest.starts_with(b"\n\r\n") {
            Some(i + 3)
        } else {
            None
        }
    })
}

/// The response to a complete request head.
fn respond(head: &[u8], snapshot: &Body) -> Vec<u8> {
    let Some((method, target)) = request_line(head) else {
        return error_response(400, "Bad Request", "malformed request line\n");
    };
    // Query strings are ignored (Prometheus may add some).
    let path = target.split_once('?').map_or(target, |(p, _)| p);
    if path != PATH {
        return error_response(404, "Not Found", "not found; metrics are at /metrics\n");
    }
    match method {
        "GET" | "HEAD" => {
            let body = snapshot();
            response("200 OK", CONTENT_TYPE, "", &body, method == "HEAD")
        }
        _ => response(
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "Allow: GET, HEAD\r\n",
            "method not allowed\n",
            false,
        ),
    }
}

/// Parses `METHOD SP TARGET SP HTTP/1.x`, the head's first line.
fn request_line(head: &[u8]) -> Option<(&str, &str)> {
    let line_end = head.iter().position(|&b| b == b'\n')?;
    let line = std::str::from_utf8(&head[..line_end]).ok()?;
    let line = line.strip_suffix('\r').unwrap_or(line);
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    };
    let version_ok = version
        .strip_prefix("HTTP/1.")
        .is_some_and(|minor| matches!(minor.as_bytes(), [d] if d.is_ascii_digit()));
    if !token(method) || !target.starts_with('/') || !target.is_ascii() || !version_ok {
        return None;
    }
    if target.bytes().any(|b| b.is_ascii_control()) {
        return None;
    }
    Some((method, target))
}

fn error_response(code: u16, reason: &str, body: &str) -> Vec<u8> {
    response(
        &format!("{code} {reason}"),
        "text/plain; charset=utf-8",
        "",
        body,
        false,
    )
}

/// A complete `Connection: close` response; `extra` holds further header
/// lines, each ending in CRLF.
fn response(status: &str, content_type: &str, extra: &str, body: &str, head_only: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
