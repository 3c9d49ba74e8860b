//! The worker's end of its connection to the parent, and how a worker's
//! run ends. Every role (VRRP, IPVS, checker) talks to the parent through a
//! [`Link`]; the supervisor's worker entry point builds it.

use tracing::warn;

use super::msg::Role;
use super::{Channel, FROM_PARENT_LIMIT, IpcError, Msg, Reader};

/// How a role's run ended.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The configuration cannot run here (missing interface, address...).
    #[error("{0}")]
    Config(String),
    /// The parent's socket failed or spoke nonsense.
    #[error("parent connection: {0}")]
    Ipc(#[from] IpcError),
    #[error("{0}")]
    Other(String),
}

/// The worker's connection to the parent.
pub struct Link {
    channel: Channel,
    reader: Reader,
}

impl Link {
    pub fn new(channel: Channel) -> Self {
        Self {
            channel,
            reader: Reader::new(FROM_PARENT_LIMIT),
        }
    }

    pub async fn send(&self, msg: &Msg) -> Result<(), IpcError> {
        self.channel.send(msg).await
    }

    /// Tells the parent that `generation` runs, then lets go of the
    /// executable's pages used only to get here (parsing, set-up): see
    /// [`crate::sys::mem::release_startup_pages`].
    pub async fn ready(&self, generation: u64) -> Result<(), IpcError> {
        self.channel.send(&Msg::Ready { generation }).await?;
        let_go_after_load();
        Ok(())
    }

    /// The next message for the role. Pings are answered here. Cancel-safe.
    pub async fn recv(&mut self) -> Result<Msg, IpcError> {
        loop {
            let (mut msg, _) = self.channel.recv(&mut self.reader).await?;
            if let Msg::Start { config, .. } | Msg::Reload { config, .. } = &mut msg {
                // Decoded one element at a time: spare room in every list.
                config.shrink();
            }
            match msg {
                Msg::Ping { seq } => self.channel.send(&Msg::Pong { seq }).await?,
                other => return Ok(other),
            }
        }
    }
}

/// Once a process runs a configuration (a worker after its Ready, the parent
/// after READY=1 and after each reload): the executable's pages used only
/// to get there (parsing, set-up) are let go
/// ([`crate::sys::mem::release_startup_pages`]), and the heap is trimmed,
/// since the message the configuration came in and the previous
/// configuration are freed.
pub fn let_go_after_load() {
    let bytes = crate::sys::mem::release_startup_pages();
    tracing::debug!(bytes, "start-up pages released");
    crate::sys::mem::trim_heap();
}

/// A message this role does not take: logged; the connection is reset.
pub fn unexpected(role: Role, msg: &Msg) -> WorkerError {
    warn!(role = %role, kind = msg.kind(), "unexpected message from the parent");
    WorkerError::Ipc(IpcError::Io(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("unexpected message '{}'", msg.kind()),
    )))
}
