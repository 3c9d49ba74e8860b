//! The worker's end of its connection to the parent, and how a worker's
//! run ends. Every role (VRRP, IPVS, checker) talks to the parent through a
//! [`Link`]; the supervisor's worker entry point builds it.

use std::sync::atomic::{AtomicU64, Ordering};

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
    /// A ping read and not answered yet (0: none; the parent numbers its
    /// pings from 1). The answer waits for room on the socket, and a
    /// worker's select may drop `recv` meanwhile for another branch: the
    /// answer is then owed, and goes out before anything else is sent or
    /// read. Dropped with the future, it was lost, and a worker flooding a
    /// slow parent went unanswered.
    owed: AtomicU64,
}

impl Link {
    pub fn new(channel: Channel) -> Self {
        Self {
            channel,
            reader: Reader::new(FROM_PARENT_LIMIT),
            owed: AtomicU64::new(0),
        }
    }

    pub async fn send(&self, msg: &Msg) -> Result<(), IpcError> {
        self.answer_owed().await?;
        self.channel.send(msg).await
    }

    /// Tells the parent that `generation` runs, then lets go of the
    /// executable's pages used only to get here (parsing, set-up): see
    /// [`crate::sys::mem::release_startup_pages`].
    pub async fn ready(&self, generation: u64) -> Result<(), IpcError> {
        self.send(&Msg::Ready { generation }).await?;
        let_go_after_load();
        Ok(())
    }

    /// The next message for the role. Pings are answered here. Cancel-safe:
    /// a ping read is answered even when this is dropped before the answer
    /// went out (at the next send or receive).
    pub async fn recv(&mut self) -> Result<Msg, IpcError> {
        loop {
            self.answer_owed().await?;
            let (mut msg, _) = self.channel.recv(&mut self.reader).await?;
            if let Msg::Start { config, .. } | Msg::Reload { config, .. } = &mut msg {
                // Decoded one element at a time: spare room in every list.
                config.shrink();
            }
            match msg {
                Msg::Ping { seq } => self.owed.store(seq, Ordering::Relaxed),
                other => return Ok(other),
            }
        }
    }

    /// Sends the answer to the last ping read, if it has not gone out.
    async fn answer_owed(&self) -> Result<(), IpcError> {
        let seq = self.owed.load(Ordering::Relaxed);
        if seq != 0 {
            self.channel.send(&Msg::Pong { seq }).await?;
            self.owed.store(0, Ordering::Relaxed);
        }
        Ok(())
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
    crate::sys::mem::release_stack_below_here();
    tracing::debug!(bytes, "start-up pages released");
    crate::sys::mem::trim_heap();
    release_again_later();
}

/// When the executable's pages are let go again after the first time: the
/// first seconds after Ready are start-up too (the first adverts and state
/// changes, the first checks and status writes). 30 s after start, the
/// code of those seconds still held 1.4–3.4 MiB per process outside the
/// code idle runs (bench/README.md, "The code idle runs, packed").
const RELEASE_AGAIN_AFTER: std::time::Duration = std::time::Duration::from_secs(10);

/// And from then on: what a failover, a reload or a worker's restart ran
/// once stays mapped until let go. Mapping the idle code again costs a few
/// dozen page faults (it lies together, daemon/hot-code.ld).
const RELEASE_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// Starts, once per process, the task that lets go of the executable's
/// pages [`RELEASE_AGAIN_AFTER`] the first load and every
/// [`RELEASE_EVERY`] after that. Outside a runtime (a test), nothing.
fn release_again_later() {
    use std::sync::atomic::{AtomicBool, Ordering};
    static STARTED: AtomicBool = AtomicBool::new(false);
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    if STARTED.swap(true, Ordering::Relaxed) {
        return;
    }
    runtime.spawn(release_on(RELEASE_AGAIN_AFTER, RELEASE_EVERY));
}

async fn release_on(after: std::time::Duration, every: std::time::Duration) {
    tokio::time::sleep(after).await;
    loop {
        let bytes = crate::sys::mem::release_startup_pages();
        crate::sys::mem::release_stack_below_here();
        tracing::debug!(bytes, "executable pages released");
        tokio::time::sleep(every).await;
    }
}

/// A message this role does not take: logged; the connection is reset.
pub fn unexpected(role: Role, msg: &Msg) -> WorkerError {
    warn!(role = %role, kind = msg.kind(), "unexpected message from the parent");
    WorkerError::Ipc(IpcError::Io(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("unexpected message '{}'", msg.kind()),
    )))
}

#[cfg(test)]
mod tests {
    use super::{Channel, Link, Msg};
    use crate::ipc::socketpair;
    use crate::sys::mem::releases;
    use std::time::{Duration, Instant};

    /// A ping whose answer could not go out (the worker's socket full) and
    /// whose receive was dropped for another branch is answered before the
    /// worker's next message (regression: the answer was lost).
    #[test]
    fn a_ping_answered_while_the_socket_is_full_is_not_lost() {
        crate::ipc::tests::rt().block_on(async {
            let (p, w) = socketpair().unwrap();
            let parent = Channel::new(p).unwrap();
            let mut link = Link::new(Channel::new(w).unwrap());
            let filler = Msg::Pong { seq: 999 };
            let mut sent = 0;
            let full = Duration::from_millis(50);
            while tokio::time::timeout(full, link.channel.send(&filler))
                .await
                .is_ok()
            {
                sent += 1;
                assert!(sent < 10_000_000, "the socket never filled");
            }
            assert!(sent > 0);
            parent.send(&Msg::Ping { seq: 7 }).await.unwrap();
            let recv = tokio::time::timeout(Duration::from_millis(200), link.recv()).await;
            assert!(recv.is_err(), "nothing but the ping came");
            let mut reader = crate::ipc::Reader::new(crate::ipc::FROM_WORKER_LIMIT);
            for _ in 0..sent {
                assert_eq!(parent.recv(&mut reader).await.unwrap().0, filler);
            }
            link.send(&Msg::Ready { generation: 3 }).await.unwrap();
            let mut next = Vec::new();
            for _ in 0..2 {
                let m =
                    tokio::time::timeout(Duration::from_secs(5), parent.recv(&mut reader)).await;
                next.push(m.ok().and_then(Result::ok).map(|(m, _)| m));
            }
            assert_eq!(
                next,
                [
                    Some(Msg::Pong { seq: 7 }),
                    Some(Msg::Ready { generation: 3 })
                ]
            );
        });
    }

    #[test]
    fn a_load_outside_a_runtime_releases_once_and_starts_no_task() {
        // tokio::spawn would panic here; the release itself still happens.
        let before = releases();
        super::let_go_after_load();
        assert_eq!(releases(), before + 1);
    }

    #[tokio::test]
    async fn the_executable_is_let_go_again_after_start_and_now_and_then() {
        // A second load (a reload) starts no second task.
        super::let_go_after_load();
        super::let_go_after_load();
        let loads = releases();
        assert!(loads >= 2, "released at each load");
        // The same task, on a shorter clock: none before `after`, then one
        // per `every`. The bounds are loose (a loaded machine runs late).
        let task = tokio::spawn(super::release_on(
            Duration::from_secs(1),
            Duration::from_millis(20),
        ));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(releases(), loads, "none before the first second");
        let end = Instant::now() + Duration::from_secs(20);
        while releases() < loads + 3 && Instant::now() < end {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(releases() >= loads + 3, "{} after {loads}", releases());
        task.abort();
    }
}
