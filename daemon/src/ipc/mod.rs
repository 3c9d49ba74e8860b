//! IPC between the parent and its workers: one SOCK_SEQPACKET socketpair per
//! worker, one frame per packet.
//!
//! A frame is an 8-byte header — `UK`, the protocol version (u16, big
//! endian), the body length (u32, big endian; its top bit [`MORE`] says that
//! more of the same message follows) — and a piece of a JSON body. Frames are
//! bounded by [`MAX_FRAME`]; a message larger than one frame (a large
//! configuration, a batch of thousands of results) is split over several,
//! and the receiver puts it together up to its own limit
//! ([`FROM_WORKER_LIMIT`] in the parent, [`FROM_PARENT_LIMIT`] in a
//! worker). Anything malformed, oversized or of another version is an
//! [`IpcError`]: the receiver logs it and resets the connection; it never
//! panics (see the `ipc_frame` fuzz target).
//!
//! Peer check: SO_PEERCRED on a socketpair reports the process that created
//! the pair (the parent), not the worker. The parent therefore sets
//! SO_PASSCRED and checks the kernel-attached SCM_CREDENTIALS of every
//! message against the worker it started.

#![forbid(unsafe_code)]

pub mod link;
pub mod msg;

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::sys::fd::Registered;

pub use msg::Msg;

pub const MAGIC: [u8; 2] = *b"UK";
pub const PROTOCOL_VERSION: u16 = 2;
pub const HEADER_LEN: usize = 8;
/// Largest frame (header included).
pub const MAX_FRAME: usize = 4 << 20;

/// A received frame larger than this gives its buffer's pages beyond it
/// back once read (results and status stay below it).
const RELEASE_ABOVE: usize = 256 << 10;
/// What a frame buffer keeps resident once no frame larger than this has
/// come for [`QUIET`]: a worker's configuration (one frame of up to
/// 256 KiB) or the IPVS worker's status at start left its pages resident
/// for good, 150–300 KiB in each process at 2,000 checks (issue 18).
const KEEP_WHEN_QUIET: usize = 16 << 10;
/// See [`KEEP_WHEN_QUIET`]. Frames that keep coming (results, a status
/// that changes every second) keep their pages: they would fault them in
/// again at once.
const QUIET: std::time::Duration = std::time::Duration::from_secs(3);
/// Set in the length field: more frames of the same message follow.
pub const MORE: u32 = 1 << 31;
/// Largest message the parent takes from a worker (a worker's status, a
/// batch of results).
pub const FROM_WORKER_LIMIT: usize = 64 << 20;
/// Largest message a worker takes from the parent (a configuration with
/// the state to resume).
pub const FROM_PARENT_LIMIT: usize = 512 << 20;
/// The descriptor a worker finds its end of the socketpair on.
pub const WORKER_FD: RawFd = 3;
/// Where the metrics worker finds the listening socket the parent bound.
pub const LISTENER_FD: RawFd = 4;

#[derive(Debug, thiserror::Error)]
pub enum IpcError {
    #[error("frame of {0} bytes is shorter than the header")]
    Short(usize),
    #[error("bad magic {0:02x?}")]
    BadMagic([u8; 2]),
    #[error("protocol version {got}, expected {PROTOCOL_VERSION}")]
    WrongVersion { got: u16 },
    #[error("header says {said} body bytes, frame has {got}")]
    LengthMismatch { said: usize, got: usize },
    #[error("frame of {0} bytes exceeds the {MAX_FRAME}-byte limit")]
    TooLarge(usize),
    #[error("message of more than {0} bytes exceeds the receiver's limit")]
    MessageTooLarge(usize),
    #[error("the pieces of one message came from different senders")]
    MixedSenders,
    #[error("malformed body: {0}")]
    Body(#[from] serde_json::Error),
    #[error("message from pid {got:?}, expected pid {expected}")]
    WrongPeer { expected: u32, got: Option<u32> },
    #[error("connection closed")]
    Closed,
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Encodes one message as one frame (an error when it does not fit).
pub fn encode(msg: &Msg) -> Result<Vec<u8>, IpcError> {
    let out = header_then_body(msg)?;
    if out.len() > MAX_FRAME {
        return Err(IpcError::TooLarge(out.len()));
    }
    Ok(one_frame(out))
}

/// Encodes one message as the frames that carry it, in order.
pub fn frames(msg: &Msg) -> Result<Vec<Vec<u8>>, IpcError> {
    let out = header_then_body(msg)?;
    if out.len() <= MAX_FRAME {
        // Most messages: the body is written once, where it is sent from.
        return Ok(vec![one_frame(out)]);
    }
    let body = &out[HEADER_LEN..];
    if body.len() > FROM_PARENT_LIMIT {
        return Err(IpcError::MessageTooLarge(FROM_PARENT_LIMIT));
    }
    let piece = MAX_FRAME - HEADER_LEN;
    let n = body.len().div_ceil(piece);
    Ok((0..n)
        .map(|k| {
            let end = ((k + 1) * piece).min(body.len());
            frame(&body[k * piece..end], k + 1 < n)
        })
        .collect())
}

/// Room for the header, then `msg` encoded after it.
fn header_then_body(msg: &Msg) -> Result<Vec<u8>, IpcError> {
    let mut out = Vec::with_capacity(HEADER_LEN + msg.size_hint());
    out.resize(HEADER_LEN, 0);
    serde_json::to_writer(&mut out, msg)?;
    Ok(out)
}

/// `out` (from [`header_then_body`], at most MAX_FRAME bytes) with its
/// header written: one frame, the last of its message.
fn one_frame(mut out: Vec<u8>) -> Vec<u8> {
    let header = header(out.len() - HEADER_LEN, false);
    out[..HEADER_LEN].copy_from_slice(&header);
    out
}

fn header(len: usize, more: bool) -> [u8; HEADER_LEN] {
    // A piece is at most MAX_FRAME - HEADER_LEN bytes: it fits in 31 bits.
    let len = u32::try_from(len).unwrap_or(0) | if more { MORE } else { 0 };
    let mut h = [0; HEADER_LEN];
    h[..2].copy_from_slice(&MAGIC);
    h[2..4].copy_from_slice(&PROTOCOL_VERSION.to_be_bytes());
    h[4..].copy_from_slice(&len.to_be_bytes());
    h
}

fn frame(piece: &[u8], more: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + piece.len());
    out.extend_from_slice(&header(piece.len(), more));
    out.extend_from_slice(piece);
    out
}

/// Checks one frame's header; its body and whether more frames follow.
pub fn split_frame(frame: &[u8]) -> Result<(&[u8], bool), IpcError> {
    if frame.len() > MAX_FRAME {
        return Err(IpcError::TooLarge(frame.len()));
    }
    let (Some(magic), Some(version), Some(len), Some(body)) = (
        frame.get(0..2),
        frame.get(2..4),
        frame.get(4..8),
        frame.get(HEADER_LEN..),
    ) else {
        return Err(IpcError::Short(frame.len()));
    };
    if magic != MAGIC {
        return Err(IpcError::BadMagic([magic[0], magic[1]]));
    }
    let got = u16::from_be_bytes([version[0], version[1]]);
    if got != PROTOCOL_VERSION {
        return Err(IpcError::WrongVersion { got });
    }
    let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]);
    let said = (len & !MORE) as usize;
    if said != body.len() {
        return Err(IpcError::LengthMismatch {
            said,
            got: body.len(),
        });
    }
    Ok((body, len & MORE != 0))
}

/// Decodes a message that fits in one frame; every malformation is an
/// error, never a panic.
pub fn decode(frame: &[u8]) -> Result<Msg, IpcError> {
    match split_frame(frame)? {
        (body, false) => Ok(serde_json::from_slice(body)?),
        (_, true) => Err(IpcError::MessageTooLarge(MAX_FRAME)),
    }
}

/// Creates a close-on-exec SOCK_SEQPACKET pair (parent end, worker end),
/// with send buffers big enough for a [`MAX_FRAME`] message.
pub fn socketpair() -> io::Result<(OwnedFd, OwnedFd)> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType};
    let (a, b) = nix::sys::socket::socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    for fd in [&a, &b] {
        size_buffers(fd);
    }
    Ok((a, b))
}

/// A seqpacket send fails with EMSGSIZE above the send buffer: force it up
/// (root), else ask for what the sysctl cap allows.
fn size_buffers(fd: &OwnedFd) {
    use nix::sys::socket::{setsockopt, sockopt};
    let want = MAX_FRAME * 2;
    if setsockopt(fd, sockopt::SndBufForce, &want).is_err() {
        let _ = setsockopt(fd, sockopt::SndBuf, &want);
    }
    if setsockopt(fd, sockopt::RcvBufForce, &want).is_err() {
        let _ = setsockopt(fd, sockopt::RcvBuf, &want);
    }
}

/// Credentials the kernel attached to a received message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cred {
    pub pid: u32,
    pub uid: u32,
    pub gid: u32,
}

/// One end of a worker connection.
pub struct Channel {
    fd: AsyncFd<Registered<OwnedFd>>,
    /// The frames of one message go out together.
    sending: tokio::sync::Mutex<()>,
}

/// The receiving side's buffers: one frame, and the message being put
/// together (kept between calls, so that `recv` is cancel-safe).
#[derive(Debug)]
pub struct Reader {
    /// Allocated at the first receive (sys::mem::PageBuf: resident only
    /// where packets land, never in the heap).
    frame: Option<crate::sys::mem::PageBuf>,
    message: Vec<u8>,
    sender: Option<Cred>,
    limit: usize,
    /// When a frame larger than [`KEEP_WHEN_QUIET`] last came, while its
    /// pages have not been given back: kept here, not in a timer, since
    /// callers start `recv` again on every turn of their loops.
    large_at: Option<tokio::time::Instant>,
}

impl Reader {
    /// For messages of at most `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self {
            frame: None,
            message: Vec::new(),
            sender: None,
            limit,
            large_at: None,
        }
    }
}

impl Channel {
    pub fn new(fd: OwnedFd) -> io::Result<Self> {
        set_nonblocking(&fd)?;
        let fd = crate::sys::fd::register(fd, Interest::READABLE | Interest::WRITABLE)?;
        Ok(Self {
            fd,
            sending: tokio::sync::Mutex::new(()),
        })
    }

    /// Asks the kernel to attach the sender's credentials to every message.
    pub fn pass_credentials(&self) -> io::Result<()> {
        nix::sys::socket::setsockopt(
            self.fd.get_ref(),
            nix::sys::socket::sockopt::PassCred,
            &true,
        )
        .map_err(io::Error::from)
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.get_ref().as_raw_fd()
    }

    /// Bytes waiting to be read (messages the reader has not taken yet).
    pub fn unread(&self) -> bool {
        crate::sys::fd::unread_bytes(self.fd.get_ref().as_fd()).is_ok_and(|n| n > 0)
    }

    pub async fn send(&self, msg: &Msg) -> Result<(), IpcError> {
        let frames = frames(msg)?;
        let _one_at_a_time = self.sending.lock().await;
        for f in &frames {
            self.send_frame(f).await?;
        }
        Ok(())
    }

    /// Sends raw bytes as one packet (also used by tests to send garbage).
    pub async fn send_frame(&self, frame: &[u8]) -> Result<(), IpcError> {
        use nix::sys::socket::MsgFlags;
        loop {
            let mut guard = self.fd.writable().await?;
            let res = guard.try_io(|fd| {
                nix::sys::socket::send(fd.get_ref().as_raw_fd(), frame, MsgFlags::MSG_NOSIGNAL)
                    .map_err(io::Error::from)
            });
            match res {
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(e)) if e.raw_os_error() == Some(libc::EPIPE) => {
                    return Err(IpcError::Closed);
                }
                Ok(Err(e)) => return Err(e.into()),
                Err(_would_block) => continue,
            }
        }
    }

    /// Receives and decodes one message (put together from its frames),
    /// with the credentials its frames carried. Cancel-safe: a message in
    /// progress stays in `r`.
    pub async fn recv(&self, r: &mut Reader) -> Result<(Msg, Option<Cred>), IpcError> {
        // Not written before use: only the pages that packets fill become
        // resident. `resize` wrote all 4 MiB in every worker and once per
        // worker in the parent; calloc served it from free heap after the
        // configuration was loaded, zeroed and resident (bench/README.md).
        let frame = match &mut r.frame {
            Some(f) => f,
            None => r.frame.insert(crate::sys::mem::PageBuf::new(MAX_FRAME)?),
        };
        loop {
            let mut guard = match r.large_at.map(|t| t + QUIET) {
                Some(at) => match tokio::time::timeout_at(at, self.fd.readable()).await {
                    Ok(ready) => ready?,
                    Err(_quiet) => {
                        frame.release_after(KEEP_WHEN_QUIET);
                        r.large_at = None;
                        continue;
                    }
                },
                None => self.fd.readable().await?,
            };
            let got = guard.try_io(|fd| recv_with_cred(fd.get_ref().as_raw_fd(), frame));
            let (n, cred) = match got {
                Ok(Ok((0, _))) => return Err(IpcError::Closed),
                Ok(Ok((n, _))) if n > frame.len() => return Err(IpcError::TooLarge(n)),
                Ok(Ok(got)) => got,
                Ok(Err(e)) => return Err(e.into()),
                Err(_would_block) => continue,
            };
            let done = assemble(
                &mut r.message,
                &mut r.sender,
                r.limit,
                frame.get(..n).unwrap_or(&[]),
                cred,
            );
            if n > KEEP_WHEN_QUIET {
                r.large_at = Some(tokio::time::Instant::now());
            }
            if n > RELEASE_ABOVE {
                // Read out above; a configuration's frames (megabytes, at
                // start and reload) need not stay resident.
                frame.release_after(RELEASE_ABOVE);
            }
            if let Some(done) = done {
                return done;
            }
        }
    }
}

/// One received frame into the message being put together: the message
/// when it is complete (or why it is refused), None while frames remain.
fn assemble(
    message: &mut Vec<u8>,
    sender: &mut Option<Cred>,
    limit: usize,
    frame: &[u8],
    cred: Option<Cred>,
) -> Option<Result<(Msg, Option<Cred>), IpcError>> {
    let (body, more) = match split_frame(frame) {
        Ok(x) => x,
        Err(e) => return Some(Err(e)),
    };
    // A message above RELEASE_ABOVE (a worker's configuration, the IPVS
    // worker's status) is decoded on a thread of its own
    // (`sys::mem::apart`), whose arena then holds it: the decoder's
    // temporaries, and what the receiver keeps only until it has copied
    // or built its own tables from it, stay out of the main heap. Decoded
    // there, they set its high-water mark, and the tables built after were
    // strewn among their holes: the checker's heap at 10,000 checks stayed
    // 3.7 MiB resident for about 2 MiB live (issue 18).
    let decode = |body: &[u8]| {
        let msg = if body.len() > RELEASE_ABOVE {
            crate::sys::mem::apart(|| serde_json::from_slice::<Msg>(body))
        } else {
            serde_json::from_slice(body)
        };
        msg.map(|m| (m, cred)).map_err(Into::into)
    };
    if message.is_empty() && !more {
        // The common case: one frame.
        return Some(decode(body));
    }
    if !message.is_empty() && *sender != cred {
        message.clear();
        return Some(Err(IpcError::MixedSenders));
    }
    if message.len() + body.len() > limit {
        message.clear();
        return Some(Err(IpcError::MessageTooLarge(limit)));
    }
    *sender = cred;
    message.extend_from_slice(body);
    if more {
        return None;
    }
    let whole = std::mem::take(message);
    Some(decode(&whole))
}

fn set_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    let flags = OFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

/// recvmsg with MSG_TRUNC (so an oversized packet reports its real size)
/// and room for one SCM_CREDENTIALS control message. Descriptors nobody
/// asked for (SCM_RIGHTS) are closed.
fn recv_with_cred(fd: RawFd, buf: &mut [u8]) -> io::Result<(usize, Option<Cred>)> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, UnixCredentials};
    let mut iov = [io::IoSliceMut::new(buf)];
    let mut control = nix::cmsg_space!(UnixCredentials, [RawFd; 8]);
    let msg = nix::sys::socket::recvmsg::<()>(
        fd,
        &mut iov,
        Some(&mut control),
        MsgFlags::MSG_TRUNC | MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    let mut cred = None;
    for c in msg.cmsgs()? {
        match c {
            ControlMessageOwned::ScmCredentials(u) => {
                cred = Some(Cred {
                    pid: u32::try_from(u.pid()).unwrap_or(0),
                    uid: u.uid(),
                    gid: u.gid(),
                });
            }
            ControlMessageOwned::ScmRights(fds) => {
                for fd in fds {
                    let _ = nix::unistd::close(fd);
                }
            }
            _ => {}
        }
    }
    Ok((msg.bytes, cred))
}

#[cfg(test)]
pub(crate) mod tests;
