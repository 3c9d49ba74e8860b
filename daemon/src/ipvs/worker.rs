//! The IPVS worker process (CAP_NET_ADMIN only).

use std::collections::{BTreeMap, BTreeSet};

use tokio::signal::unix::{SignalKind, signal};
use tracing::{debug, warn};

use super::table::Table;
use crate::config::model::Config;
use crate::ipc::Msg;
use crate::ipc::link::{Link, WorkerError, unexpected};
use crate::ipc::msg::{Resume, Role};

pub async fn run(
    config: Config,
    generation: u64,
    resume: Resume,
    link: &mut Link,
) -> Result<(), WorkerError> {
    let down: BTreeMap<String, BTreeSet<String>> = resume
        .real_servers_down
        .into_iter()
        .map(|(k, v)| (k, v.into_iter().collect()))
        .collect();
    let mut table = Table::from_config(&config, &down);
    warn!(
        virtual_servers = config.virtual_servers.len(),
        "IPVS kernel programming is not in this build: the table is kept and reported, not installed"
    );
    let mut term =
        signal(SignalKind::terminate()).map_err(|e| WorkerError::Other(e.to_string()))?;
    link.send(&Msg::Ready { generation }).await?;
    link.send(&Msg::IpvsStatus {
        virtual_servers: table.status(),
    })
    .await?;
    // Health changes come in bursts (thousands at start): the table goes to
    // the parent at most once a second.
    let mut report = tokio::time::interval(std::time::Duration::from_secs(1));
    report.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut dirty = false;
    loop {
        let msg = tokio::select! {
            _ = term.recv() => break,
            _ = report.tick() => {
                if std::mem::take(&mut dirty) {
                    link.send(&Msg::IpvsStatus { virtual_servers: table.status() }).await?;
                }
                continue;
            }
            m = link.recv() => m?,
        };
        match msg {
            Msg::RealServer(change) => {
                if table.apply(&change) {
                    dirty = true;
                    debug!(virtual_server = %change.virtual_server, real_server = %change.real_server, up = change.up, "real server health");
                } else {
                    warn!(virtual_server = %change.virtual_server, real_server = %change.real_server, "health change for an unknown real server ignored");
                }
            }
            Msg::Reload { generation, config } => {
                table = Table::from_config(&config, &table.down());
                link.send(&Msg::Ready { generation }).await?;
                dirty = true;
            }
            Msg::Shutdown => break,
            other => return Err(unexpected(Role::Ipvs, &other)),
        }
    }
    Ok(())
}
