//! AF_PACKET sockets (link-layer frames: gratuitous ARP, ARP probes and
//! the replies to them). socket2 opens them; sending to a link-layer
//! address, or binding to one interface, needs a `sockaddr_ll`, which has
//! no safe builder.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use socket2::{Domain, Protocol, SockFilter, Socket, Type};

/// A non-blocking, close-on-exec raw packet socket for `protocol`.
fn raw(protocol: u16) -> io::Result<Socket> {
    let socket = Socket::new(
        Domain::PACKET,
        Type::RAW,
        Some(Protocol::from(i32::from(protocol.to_be()))),
    )?;
    socket.set_nonblocking(true)?;
    socket.set_cloexec(true)?;
    Ok(socket)
}

/// A raw packet socket for one Ethernet protocol.
pub struct PacketSocket {
    socket: Socket,
    protocol: u16,
}

impl PacketSocket {
    /// Opens a non-blocking raw packet socket that sends `protocol` (host
    /// order, e.g. 0x0806 for ARP) and receives nothing: opened with
    /// protocol 0 (packet(7)), so the frames it never reads are not queued.
    pub fn open(protocol: u16) -> io::Result<Self> {
        Ok(Self {
            socket: raw(0)?,
            protocol,
        })
    }

    /// Sends a whole Ethernet frame (header included) out of `ifindex` to
    /// the link-layer address `dst`.
    pub fn send_to(&self, frame: &[u8], ifindex: u32, dst: [u8; 6]) -> io::Result<()> {
        let mut addr = [0u8; 8];
        addr[..6].copy_from_slice(&dst);
        let sll = libc::sockaddr_ll {
            sll_family: libc::AF_PACKET as libc::c_ushort,
            sll_protocol: self.protocol.to_be(),
            sll_ifindex: i32::try_from(ifindex).unwrap_or(0),
            sll_hatype: 0,
            sll_pkttype: 0,
            sll_halen: 6,
            sll_addr: addr,
        };
        // SAFETY: `frame` and `sll` outlive the call and the lengths passed
        // are theirs.
        let rc = unsafe {
            libc::sendto(
                self.socket.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                std::ptr::from_ref(&sll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }
}

/// A non-blocking packet socket for `protocol` that receives only from
/// `ifindex`, through `filter` (a classic BPF program, attached before the
/// bind so that no frame of another interface is queued after it).
pub fn receiver(protocol: u16, ifindex: u32, filter: &[SockFilter]) -> io::Result<Socket> {
    let socket = raw(protocol)?;
    if !filter.is_empty() {
        socket.attach_filter(filter)?;
    }
    let sll = libc::sockaddr_ll {
        sll_family: libc::AF_PACKET as libc::c_ushort,
        sll_protocol: protocol.to_be(),
        sll_ifindex: i32::try_from(ifindex)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface index"))?,
        sll_hatype: 0,
        sll_pkttype: 0,
        sll_halen: 0,
        sll_addr: [0; 8],
    };
    // SAFETY: `sll` outlives the call and the length passed is its size.
    let rc = unsafe {
        libc::bind(
            socket.as_raw_fd(),
            std::ptr::from_ref(&sll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(socket)
}

impl AsFd for PacketSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use std::mem::MaybeUninit;
    use std::time::{Duration, Instant};

    use super::*;

    const ETH_P_ARP: u16 = 0x0806;

    fn received(s: &Socket) -> bool {
        let mut buf = [MaybeUninit::<u8>::uninit(); 128];
        s.recv(&mut buf).is_ok()
    }

    /// The announcer's socket only sends: were it opened for ARP it would
    /// get a copy of every ARP frame in the namespace and, never read,
    /// hold them until its buffer filled.
    #[test]
    fn the_sending_socket_queues_nothing() {
        crate::testutil::private_netns();
        let send = PacketSocket::open(ETH_P_ARP).unwrap();
        let listen = raw(ETH_P_ARP).unwrap();
        let mut frame = [0u8; 42];
        frame[..6].copy_from_slice(&[0xff; 6]);
        frame[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        frame[12..14].copy_from_slice(&ETH_P_ARP.to_be_bytes());
        // Loopback is interface 1 in a new namespace.
        send.send_to(&frame, 1, [0xff; 6]).unwrap();
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut heard = false;
        while !heard && Instant::now() < deadline {
            heard = received(&listen);
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(heard, "the frame never reached a listening socket");
        assert!(!received(&send.socket), "the sending socket queued a frame");
    }
}
