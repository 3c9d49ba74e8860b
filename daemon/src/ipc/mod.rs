//! IPC between the parent and its workers: one SOCK_SEQPACKET socketpair per
//! worker, one message per packet.
//!
//! A frame is an 8-byte header — `UK`, the protocol version (u16, big
//! endian), the body length (u32, big endian) — and a JSON body. Frames are
//! bounded by [`MAX_FRAME`]. Anything malformed, oversized or of another
//! version is an [`IpcError`]: the receiver logs it and resets the
//! connection; it never panics (see the `ipc_frame` fuzz target).
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
pub const PROTOCOL_VERSION: u16 = 1;
pub const HEADER_LEN: usize = 8;
/// Largest frame (header included). A configuration travels in one frame.
pub const MAX_FRAME: usize = 4 << 20;
/// The descriptor a worker finds its end of the socketpair on.
pub const WORKER_FD: RawFd = 3;

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
    #[error("malformed body: {0}")]
    Body(#[from] serde_json::Error),
    #[error("message from pid {got:?}, expected pid {expected}")]
    WrongPeer { expected: u32, got: Option<u32> },
    #[error("connection closed")]
    Closed,
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Encodes one message as a frame.
pub fn encode(msg: &Msg) -> Result<Vec<u8>, IpcError> {
    let body = serde_json::to_vec(msg)?;
    let total = HEADER_LEN + body.len();
    if total > MAX_FRAME {
        return Err(IpcError::TooLarge(total));
    }
    let len = u32::try_from(body.len()).map_err(|_| IpcError::TooLarge(total))?;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decodes one frame; every malformation is an error, never a panic.
pub fn decode(frame: &[u8]) -> Result<Msg, IpcError> {
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
    let said = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
    if said != body.len() {
        return Err(IpcError::LengthMismatch {
            said,
            got: body.len(),
        });
    }
    Ok(serde_json::from_slice(body)?)
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
}

impl Channel {
    pub fn new(fd: OwnedFd) -> io::Result<Self> {
        set_nonblocking(&fd)?;
        let fd = crate::sys::fd::register(fd, Interest::READABLE | Interest::WRITABLE)?;
        Ok(Self { fd })
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
        self.send_frame(&encode(msg)?).await
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

    /// Receives and decodes one message. `buf` is reused between calls and
    /// grown to [`MAX_FRAME`] on first use. Cancel-safe.
    pub async fn recv(&self, buf: &mut Vec<u8>) -> Result<(Msg, Option<Cred>), IpcError> {
        if buf.len() < MAX_FRAME {
            buf.resize(MAX_FRAME, 0);
        }
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|fd| recv_with_cred(fd.get_ref().as_raw_fd(), buf)) {
                Ok(Ok((0, _))) => return Err(IpcError::Closed),
                Ok(Ok((n, _))) if n > buf.len() => return Err(IpcError::TooLarge(n)),
                Ok(Ok((n, cred))) => {
                    let frame = buf.get(..n).unwrap_or(&[]);
                    return decode(frame).map(|m| (m, cred));
                }
                Ok(Err(e)) => return Err(e.into()),
                Err(_would_block) => continue,
            }
        }
    }
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
