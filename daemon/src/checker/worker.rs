//! The checker process (unprivileged user, no capabilities).

use tokio::signal::unix::{SignalKind, signal};
use tracing::warn;

use super::{configured, unknown};
use crate::config::model::Config;
use crate::ipc::Msg;
use crate::ipc::msg::Role;
use crate::supervisor::worker::{Link, WorkerError, unexpected};

const NOT_RUN: &str = "not run: this build has no check scheduler yet";

async fn announce(cfg: &Config, link: &Link) -> Result<(), WorkerError> {
    for source in configured(cfg) {
        warn!(check = %source, "check is not run by this build; it has no effect yet");
        link.send(&Msg::CheckState(unknown(source, NOT_RUN)))
            .await?;
    }
    Ok(())
}

pub async fn run(config: Config, generation: u64, link: &mut Link) -> Result<(), WorkerError> {
    let mut term =
        signal(SignalKind::terminate()).map_err(|e| WorkerError::Other(e.to_string()))?;
    link.send(&Msg::Ready { generation }).await?;
    announce(&config, link).await?;
    loop {
        let msg = tokio::select! {
            _ = term.recv() => break,
            m = link.recv() => m?,
        };
        match msg {
            Msg::Reload { generation, config } => {
                link.send(&Msg::Ready { generation }).await?;
                announce(&config, link).await?;
            }
            Msg::Shutdown => break,
            other => return Err(unexpected(Role::Checker, &other)),
        }
    }
    Ok(())
}
