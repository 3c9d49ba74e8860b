//! Control: the parent's status picture, the control socket that
//! `upkeepctl` talks to, and Prometheus metrics.
//!
//! Protocol: one JSON request line, one JSON response line, then close;
//! except `watch`, answered with a `watching` line and then one event a
//! line until either side closes (`watch.rs`). The socket is mode 0600 and every peer is checked with SO_PEERCRED (root or
//! the daemon's own uid only).

#![forbid(unsafe_code)]

pub mod metrics;
pub mod metrics_worker;
pub mod render;
pub mod status;
pub mod stored;
pub mod watch;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

use status::StatusDoc;

pub const SOCKET_NAME: &str = "control.sock";
/// Longest request line accepted.
const MAX_REQUEST: usize = 64 * 1024;

pub fn socket_path(runtime_dir: &Path) -> PathBuf {
    runtime_dir.join(SOCKET_NAME)
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "lowercase")]
pub enum Request {
    Status,
    Reload,
    /// Re-execute the daemon's binary in place, keeping VRRP state
    /// (`supervisor::reexec`).
    Reexec,
    /// `upkeepctl maintenance`: `on` sets (true) or clears (false) it for
    /// `instances` (none: all); without `on`, only the answer.
    Maintenance {
        #[serde(default)]
        on: Option<bool>,
        #[serde(default)]
        instances: Vec<String>,
    },
    /// `upkeepctl handover`: these Masters (none: every Master) hand over.
    Handover {
        #[serde(default)]
        instances: Vec<String>,
        #[serde(default)]
        force: bool,
    },
    /// Keep the connection open and stream events (`watch.rs`).
    Watch,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "response", rename_all = "lowercase")]
pub enum Response {
    Status(Box<StatusDoc>),
    Reload {
        ok: bool,
        generation: u64,
        error: Option<String>,
    },
    /// The handover is under way: the answer comes before the exec.
    Reexec {
        pid: u32,
    },
    /// The instances in maintenance now.
    Maintenance {
        instances: std::collections::BTreeSet<String>,
    },
    /// The instances handing over (the client watches the status).
    Handover {
        instances: Vec<String>,
    },
    /// Events follow, one JSON line each (`watch::Event`).
    Watching {
        /// Events kept for a watcher that falls behind.
        capacity: usize,
    },
    Error {
        message: String,
    },
}

/// A request on its way to the parent's loop, with the way back.
pub struct Pending {
    pub request: Request,
    pub reply: oneshot::Sender<Response>,
}

/// Binds the control socket (replacing a stale one), mode 0600.
pub fn bind(runtime_dir: &Path) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    let path = socket_path(runtime_dir);
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    // Created under a umask that keeps it private from the first moment.
    use nix::sys::stat::{Mode, umask};
    let old = umask(Mode::from_bits_truncate(0o077));
    let listener = UnixListener::bind(&path);
    umask(old);
    let listener = listener?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Accepts connections until the future is dropped.
pub async fn serve(listener: UnixListener, tx: mpsc::Sender<Pending>, hub: watch::Hub) {
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                warn!(error = %e, "control socket accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        tokio::spawn(connection(stream, tx.clone(), hub.clone()));
    }
}

async fn connection(stream: UnixStream, tx: mpsc::Sender<Pending>, hub: watch::Hub) {
    let me = nix::unistd::geteuid().as_raw();
    let allowed = match stream.peer_cred() {
        Ok(c) => c.uid() == 0 || c.uid() == me,
        Err(_) => false,
    };
    let (mut read, mut write) = stream.into_split();
    let response = if allowed {
        match read_request(&mut read).await {
            Ok(Request::Watch) => match hub.watch() {
                Ok(watcher) => {
                    // Only the receiver stays: the daemon's end closes the
                    // stream when it goes.
                    drop(hub);
                    let first = Response::Watching {
                        capacity: watch::CAPACITY,
                    };
                    if write_line(&mut write, &first).await {
                        watcher.stream(read, write).await;
                    }
                    return;
                }
                Err(full) => {
                    warn!(error = %full, "watch refused");
                    Response::Error {
                        message: full.to_string(),
                    }
                }
            },
            Ok(request) => {
                let (reply, rx) = oneshot::channel();
                if tx.send(Pending { request, reply }).await.is_err() {
                    Response::Error {
                        message: "daemon is shutting down".into(),
                    }
                } else {
                    rx.await.unwrap_or(Response::Error {
                        message: "daemon is shutting down".into(),
                    })
                }
            }
            Err(message) => {
                debug!(error = %message, "bad control request");
                Response::Error { message }
            }
        }
    } else {
        warn!("control connection from an unauthorised user refused");
        Response::Error {
            message: "permission denied".into(),
        }
    };
    write_line(&mut write, &response).await;
}

/// Writes one response line (waiting at most 5 s); whether it went.
async fn write_line(write: &mut tokio::net::unix::OwnedWriteHalf, response: &Response) -> bool {
    let Ok(mut line) = serde_json::to_vec(response) else {
        return false;
    };
    line.push(b'\n');
    matches!(
        tokio::time::timeout(Duration::from_secs(5), write.write_all(&line)).await,
        Ok(Ok(()))
    )
}

async fn read_request(read: &mut tokio::net::unix::OwnedReadHalf) -> Result<Request, String> {
    let mut reader = tokio::io::BufReader::new(read).take(MAX_REQUEST as u64);
    let mut line = String::new();
    match tokio::time::timeout(Duration::from_secs(5), reader.read_line(&mut line)).await {
        Err(_) => return Err("timed out reading the request".into()),
        Ok(Err(e)) => return Err(format!("reading the request: {e}")),
        Ok(Ok(_)) => {}
    }
    if !line.ends_with('\n') && line.len() >= MAX_REQUEST {
        return Err("request too long".into());
    }
    serde_json::from_str(line.trim()).map_err(|e| format!("malformed request: {e}"))
}

use tokio::io::AsyncReadExt as _;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {path}: {source} (is upkeepd running with this --runtime-dir?)")]
    Connect {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("control socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed response: {0}")]
    Malformed(#[from] serde_json::Error),
}

/// Asks to watch: the daemon's first line (`Watching`, or an error) and
/// the stream the events follow on (one JSON line each, no time limit).
pub fn watch(
    runtime_dir: &Path,
) -> Result<(Response, BufReader<std::os::unix::net::UnixStream>), ClientError> {
    let (first, reader) = exchange(runtime_dir, &Request::Watch, Duration::from_secs(10))?;
    reader.get_ref().set_read_timeout(None)?;
    Ok((first, reader))
}

/// Sends one request and waits (at most `timeout`) for the response.
pub fn request(
    runtime_dir: &Path,
    req: &Request,
    timeout: Duration,
) -> Result<Response, ClientError> {
    Ok(exchange(runtime_dir, req, timeout)?.0)
}

/// One request out, one response line back; the connection stays open.
fn exchange(
    runtime_dir: &Path,
    req: &Request,
    timeout: Duration,
) -> Result<(Response, BufReader<std::os::unix::net::UnixStream>), ClientError> {
    let path = socket_path(runtime_dir);
    let mut s =
        std::os::unix::net::UnixStream::connect(&path).map_err(|source| ClientError::Connect {
            path: path.display().to_string(),
            source,
        })?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let mut line = serde_json::to_vec(req)?;
    line.push(b'\n');
    // A refused peer's answer may come (and the daemon close) before the
    // request is written: the answer says more than the broken pipe.
    let wrote = s.write_all(&line);
    let mut reader = BufReader::new(s);
    let mut resp = String::new();
    match reader.read_line(&mut resp) {
        Ok(n) if n > 0 => Ok((serde_json::from_str(resp.trim())?, reader)),
        read => {
            wrote?;
            read?;
            Ok((serde_json::from_str(resp.trim())?, reader))
        }
    }
}
