//! The metrics worker (`upkeepd --role metrics`): serves Prometheus metrics
//! outside the root process.
//!
//! The parent binds the listening socket (it may be a privileged port, and
//! the address is checked once, at start) and hands it over as descriptor
//! [`LISTENER_FD`]; this process runs as the checker's unprivileged account
//! with no capabilities and serves the exposition text the parent sends
//! ([`Msg::Metrics`]). Who may send what: only the parent talks to it, and
//! the parent accepts from it nothing but `Ready` and `Pong`
//! (`supervisor::messages::allowed`), so a client that took this process
//! over can lie in the metrics and nothing else.

#![forbid(unsafe_code)]

use std::sync::{Arc, Mutex};

use tokio::signal::unix::{SignalKind, signal};
use tracing::info;

use crate::ipc::link::{Link, WorkerError, unexpected};
use crate::ipc::msg::Role;
use crate::ipc::{LISTENER_FD, Msg};

/// What is served before the parent's first rendering arrives.
const NOT_YET: &str = "# upkeep: starting\n";

pub async fn run(generation: u64, link: &mut Link) -> Result<(), WorkerError> {
    let listener = crate::sys::fd::take_inherited(LISTENER_FD)
        .map_err(|e| WorkerError::Other(format!("no listening socket on descriptor 4: {e}")))?;
    let listener = std::net::TcpListener::from(listener);
    let address = listener
        .local_addr()
        .map_err(|e| WorkerError::Other(format!("descriptor 4 is not a TCP listener: {e}")))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| WorkerError::Other(e.to_string()))?;
    let listener = tokio::net::TcpListener::from_std(listener)
        .map_err(|e| WorkerError::Other(e.to_string()))?;
    let mut term =
        signal(SignalKind::terminate()).map_err(|e| WorkerError::Other(e.to_string()))?;
    let text: Arc<Mutex<Arc<str>>> = Arc::new(Mutex::new(Arc::from(NOT_YET)));
    let shared = Arc::clone(&text);
    let body = move || {
        shared
            .lock()
            .map(|t| Arc::clone(&t))
            .unwrap_or_else(|_| Arc::from(NOT_YET))
    };
    let server = tokio::spawn(super::metrics::serve(listener, Arc::new(body)));
    info!(%address, "serving Prometheus metrics");
    link.ready(generation).await?;
    let result = loop {
        tokio::select! {
            _ = term.recv() => break Ok(()),
            m = link.recv() => match m {
                Ok(Msg::Metrics { text: t }) => {
                    if let Ok(mut current) = text.lock() {
                        *current = Arc::from(t);
                    }
                }
                Ok(Msg::Reload { generation, .. }) => {
                    link.ready(generation).await?;
                }
                Ok(Msg::Shutdown) => break Ok(()),
                Ok(other) => break Err(unexpected(Role::Metrics, &other)),
                Err(e) => break Err(e.into()),
            },
        }
    };
    server.abort();
    result
}
