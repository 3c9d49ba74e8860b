//! The `upkeep:check/host` imports. Each checks the run's grants before it
//! touches anything, stops at the run's deadline, and caps what it returns.

use std::time::Instant;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};
use tracing::{debug, error, info, warn};
use wasmtime::component::Resource;

use super::bindings::upkeep::check::host::{
    Endpoint, Host, HostError, HostTcpConnection, HttpResponse, Level,
};
use super::context::{Ctx, TcpConnection};
use super::grants::Refusal;
use super::{DATA_LIMIT, LOG_LINES_PER_RUN, TEXT_LIMIT, clip, escape_controls};

/// Most TCP connections one run may hold open.
const CONNECTIONS_PER_RUN: u32 = 16;
/// Most bytes of an HTTP response head.
const HEAD_LIMIT: usize = 64 << 10;

impl From<Refusal> for HostError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Denied(t) => HostError::Denied(t),
            Refusal::Invalid(t) => HostError::Invalid(t),
        }
    }
}

fn io(e: std::io::Error) -> HostError {
    HostError::Io(e.to_string())
}

/// `f`, stopped at the run's deadline. (A free function: holding `&Ctx`
/// across an await would need the store's state to be `Sync`.)
async fn bounded<T>(
    deadline: std::time::Instant,
    f: impl Future<Output = Result<T, HostError>>,
) -> Result<T, HostError> {
    tokio::time::timeout_at(tokio::time::Instant::from_std(deadline), f)
        .await
        .unwrap_or(Err(HostError::TimedOut))
}

/// Reads to the end, failing past `limit` bytes.
async fn read_capped<R: AsyncRead + Unpin>(r: &mut R, limit: usize) -> Result<Vec<u8>, HostError> {
    let mut buf = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    r.take(cap).read_to_end(&mut buf).await.map_err(io)?;
    if buf.len() > limit {
        return Err(too_large(limit));
    }
    Ok(buf)
}

fn too_large(limit: usize) -> HostError {
    HostError::TooLarge(u32::try_from(limit).unwrap_or(u32::MAX))
}

impl Host for Ctx {
    async fn tcp_connect(&mut self, address: String) -> Result<Resource<TcpConnection>, HostError> {
        let addr = self.grants.tcp(&address)?;
        if self.connections >= CONNECTIONS_PER_RUN {
            return Err(HostError::Io(format!(
                "more than {CONNECTIONS_PER_RUN} connections in one run"
            )));
        }
        let stream = bounded(self.deadline, async {
            TcpStream::connect(addr).await.map_err(io)
        })
        .await?;
        self.connections += 1;
        self.table
            .push(TcpConnection { stream })
            .map_err(|e| HostError::Io(e.to_string()))
    }

    async fn http_get(
        &mut self,
        url: String,
        headers: Vec<(String, String)>,
    ) -> Result<HttpResponse, HostError> {
        let target = self.grants.http(&url)?;
        let mut req = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: upkeep-plugin\r\nConnection: close\r\n",
            target.path, target.host
        );
        for (k, v) in &headers {
            let bad = |s: &str| s.chars().any(|c| c.is_ascii_control());
            if k.is_empty() || bad(k) || bad(v) || k.contains(':') {
                return Err(HostError::Invalid(format!("header '{}'", clip(k))));
            }
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        bounded(self.deadline, async {
            let mut s = TcpStream::connect(target.addr).await.map_err(io)?;
            s.write_all(req.as_bytes()).await.map_err(io)?;
            let raw = read_capped(&mut s, DATA_LIMIT + HEAD_LIMIT).await?;
            let r = crate::checker::probe::split_response(&raw)
                .map_err(|e| HostError::Io(format!("malformed response: {e}")))?;
            if r.body.len() > DATA_LIMIT {
                return Err(too_large(DATA_LIMIT));
            }
            Ok(HttpResponse {
                status: r.status,
                headers: r.headers,
                body: r.body,
            })
        })
        .await
    }

    async fn unix_exchange(
        &mut self,
        path: String,
        request: Vec<u8>,
    ) -> Result<Vec<u8>, HostError> {
        self.grants.unix(&path)?;
        bounded(self.deadline, async {
            let mut s = UnixStream::connect(&path).await.map_err(io)?;
            s.write_all(&request).await.map_err(io)?;
            s.shutdown().await.map_err(io)?;
            read_capped(&mut s, DATA_LIMIT).await
        })
        .await
    }

    async fn read_file(&mut self, path: String) -> Result<Vec<u8>, HostError> {
        self.grants.file(&path)?;
        bounded(self.deadline, async {
            crate::checker::fileread::read_regular_async(
                std::path::Path::new(&path),
                DATA_LIMIT,
                true,
            )
            .await
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::InvalidData => too_large(DATA_LIMIT),
                _ => io(e),
            })
        })
        .await
    }

    async fn process_count(&mut self, name: String) -> Result<u32, HostError> {
        self.grants.process(&name)?;
        let n = crate::checker::procs::matching(&name, None, false, false).len();
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    async fn real_server(&mut self) -> Option<Endpoint> {
        self.real_server.map(|a| Endpoint {
            ip: a.ip().to_string(),
            port: a.port(),
        })
    }

    async fn monotonic_now(&mut self) -> u64 {
        monotonic_ns()
    }

    async fn log(&mut self, level: Level, message: String) {
        if self.logs >= LOG_LINES_PER_RUN || !self.budget.take(&self.check, Instant::now()) {
            self.dropped_logs = self.dropped_logs.saturating_add(1);
            return;
        }
        self.logs += 1;
        let text = escape_controls(&if message.len() > TEXT_LIMIT {
            clip(&message)
        } else {
            message
        });
        let check = self.check.as_str();
        match level {
            Level::Debug => debug!(check, message = %text, "plugin"),
            Level::Info => info!(check, message = %text, "plugin"),
            Level::Warn => warn!(check, message = %text, "plugin"),
            Level::Error => error!(check, message = %text, "plugin"),
        }
    }
}

/// Nanoseconds since the first call in this process.
fn monotonic_ns() -> u64 {
    static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let origin = *ORIGIN.get_or_init(Instant::now);
    u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

impl HostTcpConnection for Ctx {
    async fn send(
        &mut self,
        conn: Resource<TcpConnection>,
        data: Vec<u8>,
    ) -> Result<(), HostError> {
        let deadline = tokio::time::Instant::from_std(self.deadline);
        let c = self
            .table
            .get_mut(&conn)
            .map_err(|e| HostError::Io(e.to_string()))?;
        tokio::time::timeout_at(deadline, c.stream.write_all(&data))
            .await
            .map_err(|_| HostError::TimedOut)?
            .map_err(io)
    }

    async fn receive(
        &mut self,
        conn: Resource<TcpConnection>,
        max: u32,
    ) -> Result<Vec<u8>, HostError> {
        let deadline = tokio::time::Instant::from_std(self.deadline);
        let c = self
            .table
            .get_mut(&conn)
            .map_err(|e| HostError::Io(e.to_string()))?;
        let max = usize::try_from(max).unwrap_or(DATA_LIMIT).min(DATA_LIMIT);
        let mut buf = vec![0; max];
        let n = tokio::time::timeout_at(deadline, c.stream.read(&mut buf))
            .await
            .map_err(|_| HostError::TimedOut)?
            .map_err(io)?;
        buf.truncate(n);
        Ok(buf)
    }

    async fn drop(&mut self, conn: Resource<TcpConnection>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        self.connections = self.connections.saturating_sub(1);
        Ok(())
    }
}

/// `types` declares only types: nothing to implement.
impl super::bindings::upkeep::check::types::Host for Ctx {}
