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

pub mod msg;

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

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
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` is a valid array of two ints for the kernel to fill.
    let rc = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: socketpair succeeded, so both descriptors are open and ours alone.
    let (a, b) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    for fd in [&a, &b] {
        size_buffers(fd);
    }
    Ok((a, b))
}

/// A seqpacket send fails with EMSGSIZE above the send buffer: force it up
/// (root), else ask for what the sysctl cap allows.
fn size_buffers(fd: &OwnedFd) {
    let want = i32::try_from(MAX_FRAME * 2).unwrap_or(i32::MAX);
    for (force, plain) in [
        (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
        (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
    ] {
        if setsockopt_int(fd.as_raw_fd(), libc::SOL_SOCKET, force, want).is_err() {
            let _ = setsockopt_int(fd.as_raw_fd(), libc::SOL_SOCKET, plain, want);
        }
    }
}

pub fn setsockopt_int(fd: RawFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: the option value is a live i32 and its exact size is passed.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&raw const value).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
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
    fd: AsyncFd<OwnedFd>,
}

impl Channel {
    pub fn new(fd: OwnedFd) -> io::Result<Self> {
        set_nonblocking(fd.as_raw_fd())?;
        // SAFETY: `fd` is an owned descriptor; it stays the same open socket
        // until the AsyncFd that owns it is dropped.
        let fd = unsafe {
            AsyncFd::register_with_interest(fd, Interest::READABLE | Interest::WRITABLE)
        }?;
        Ok(Self { fd })
    }

    /// Asks the kernel to attach the sender's credentials to every message.
    pub fn pass_credentials(&self) -> io::Result<()> {
        setsockopt_int(
            self.fd.get_ref().as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PASSCRED,
            1,
        )
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.get_ref().as_raw_fd()
    }

    pub async fn send(&self, msg: &Msg) -> Result<(), IpcError> {
        self.send_frame(&encode(msg)?).await
    }

    /// Sends raw bytes as one packet (also used by tests to send garbage).
    pub async fn send_frame(&self, frame: &[u8]) -> Result<(), IpcError> {
        loop {
            let mut guard = self.fd.writable().await?;
            let res = guard.try_io(|fd| {
                // SAFETY: `frame` is a live buffer of the given length.
                let n = unsafe {
                    libc::send(
                        fd.get_ref().as_raw_fd(),
                        frame.as_ptr().cast(),
                        frame.len(),
                        libc::MSG_NOSIGNAL,
                    )
                };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(())
                }
            });
            match res {
                Ok(Ok(())) => return Ok(()),
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

fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we own; no pointers involved.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// recvmsg with MSG_TRUNC (so an oversized packet reports its real size)
/// and room for one SCM_CREDENTIALS control message.
fn recv_with_cred(fd: RawFd, buf: &mut [u8]) -> io::Result<(usize, Option<Cred>)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // Aligned space for one ucred control message (and slack for others).
    let mut control = [0u64; 16];
    // SAFETY: msghdr is plain data; zero is a valid starting value.
    let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
    hdr.msg_iov = &raw mut iov;
    hdr.msg_iovlen = 1;
    hdr.msg_control = control.as_mut_ptr().cast();
    // size_t on glibc, socklen_t on musl (the static build).
    hdr.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: `hdr` points at live buffers (`iov` → `buf`, `control`) whose
    // sizes are given; they outlive the call.
    let n = unsafe { libc::recvmsg(fd, &raw mut hdr, libc::MSG_TRUNC | libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut cred = None;
    // SAFETY: the CMSG_* macros walk the control buffer the kernel filled,
    // bounded by msg_controllen; the ucred is read unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&raw const hdr);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_CREDENTIALS {
                let u: libc::ucred = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                cred = Some(Cred {
                    pid: u32::try_from(u.pid).unwrap_or(0),
                    uid: u.uid,
                    gid: u.gid,
                });
            } else if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                // Descriptors nobody asked for: close them.
                let data = libc::CMSG_DATA(c).cast::<RawFd>();
                let bytes = (*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                for k in 0..bytes / std::mem::size_of::<RawFd>() {
                    libc::close(std::ptr::read_unaligned(data.add(k)));
                }
            }
            c = libc::CMSG_NXTHDR(&raw const hdr, c);
        }
    }
    Ok((usize::try_from(n).unwrap_or(0), cred))
}

#[cfg(test)]
pub(crate) mod tests;
