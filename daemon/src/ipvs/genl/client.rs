//! A blocking client of the kernel's IPVS over generic netlink (one
//! `NETLINK_GENERIC` socket; the family id resolved through the controller
//! by name, "IPVS"). The kernel answers each request before `send` returns,
//! so nothing here waits long; the socket still has a receive timeout.
//!
//! Writes go in batches: many requests in one datagram, one ACK each (the
//! kernel carries on after a refused one), matched by sequence number.

use std::io;
use std::time::Duration;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_REQUEST, NetlinkBuffer, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_generic::GenlMessage;
use netlink_packet_generic::ctrl::nlas::GenlCtrlAttrs;
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_GENERIC};

use super::codec::{
    FAMILY_NAME, Invalid, IpvsMsg, Request, decode_daemon, decode_dest, decode_info,
    decode_service, frame,
};
use super::model::{DestEntry, Info, ServiceEntry, ServiceKey, SyncDaemon};

/// A reply the kernel should have sent by now.
const RECV_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests per datagram (some 30 KiB: well below the socket's send
/// buffer; their ACKs fit the receive buffer).
const BATCH: usize = 128;
/// The kernel sends dump parts of up to 32 KiB.
const RECV_BUF: usize = 64 << 10;

#[derive(Debug, thiserror::Error)]
pub enum IpvsError {
    #[error("the kernel has no IPVS (module ip_vs)")]
    NoIpvs,
    #[error("{target} already exists in the kernel")]
    Exists { target: String },
    #[error("{target}: no such service in the kernel")]
    NoService { target: String },
    #[error("{target}: no such real server in the kernel")]
    NoDest { target: String },
    #[error("the kernel has no scheduler '{scheduler}' (module ip_vs_{scheduler}){}", pe_hint(.pe))]
    NoScheduler {
        scheduler: String,
        pe: Option<String>,
    },
    #[error("{op} {target}: not permitted (CAP_NET_ADMIN needed)")]
    NotPermitted { op: &'static str, target: String },
    #[error("{op} {target}: refused by the kernel: {source}")]
    Refused {
        op: &'static str,
        target: String,
        #[source]
        source: io::Error,
    },
    #[error("invalid request: {0}")]
    Invalid(#[from] Invalid),
    #[error("netlink: {0}")]
    Io(#[from] io::Error),
    #[error("malformed answer from the kernel: {0}")]
    Decode(String),
}

fn pe_hint(pe: &Option<String>) -> String {
    pe.as_ref()
        .map(|p| format!(" or no persistence engine '{p}' (module ip_vs_pe_{p})"))
        .unwrap_or_default()
}

impl IpvsError {
    /// A short stable name for status and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            IpvsError::NoIpvs => "no_ipvs",
            IpvsError::Exists { .. } => "exists",
            IpvsError::NoService { .. } => "no_service",
            IpvsError::NoDest { .. } => "no_dest",
            IpvsError::NoScheduler { .. } => "no_scheduler",
            IpvsError::NotPermitted { .. } => "not_permitted",
            IpvsError::Refused { .. } => "refused",
            IpvsError::Invalid(_) => "invalid",
            IpvsError::Io(_) => "netlink",
            IpvsError::Decode(_) => "decode",
        }
    }

    /// The kernel's answer `errno` to `req`, by what it means for that
    /// command (`ip_vs_genl_set_cmd`: a missing service is ESRCH, a missing
    /// destination ENOENT, a missing scheduler or engine module ENOENT).
    pub fn from_errno(req: &Request, errno: i32) -> IpvsError {
        let target = req.target();
        match (errno, req) {
            (libc::EEXIST, _) => IpvsError::Exists { target },
            (libc::ESRCH, _) => IpvsError::NoService { target },
            (libc::ENOENT, Request::NewService(s) | Request::SetService(s)) => {
                IpvsError::NoScheduler {
                    scheduler: s.scheduler.clone(),
                    pe: s.pe.clone(),
                }
            }
            (libc::ENOENT, Request::SetDest(..) | Request::DelDest(..)) => {
                IpvsError::NoDest { target }
            }
            (libc::EPERM | libc::EACCES, _) => IpvsError::NotPermitted {
                op: req.name(),
                target,
            },
            _ => IpvsError::Refused {
                op: req.name(),
                target,
                source: io::Error::from_raw_os_error(errno),
            },
        }
    }
}

pub struct Client {
    sock: Socket,
    family: u16,
    seq: u32,
    buf: Vec<u8>,
}

enum Answer {
    /// A message of the request (a reply or a dump part).
    Msg(IpvsMsg),
    /// The end: an ACK, a dump's DONE, or the kernel's error (positive errno).
    End(Option<i32>),
}

impl Client {
    /// Opens the socket and resolves the IPVS family; [`IpvsError::NoIpvs`]
    /// when the kernel has none.
    pub fn open() -> Result<Client, IpvsError> {
        let mut sock = Socket::new(NETLINK_GENERIC)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        // Errors carry the request's header only, not the whole request.
        let _ = sock.set_cap_ack(true);
        let s = socket2::SockRef::from(&sock);
        s.set_read_timeout(Some(RECV_TIMEOUT))?;
        let _ = s.set_recv_buffer_size(1 << 20);
        let _ = s.set_send_buffer_size(1 << 20);
        let mut c = Client {
            sock,
            family: 0,
            seq: 0,
            buf: Vec::with_capacity(RECV_BUF),
        };
        c.family = c.resolve()?;
        Ok(c)
    }

    /// The family id the kernel gave IPVS.
    pub fn family_id(&self) -> u16 {
        self.family
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    fn resolve(&mut self) -> Result<u16, IpvsError> {
        let seq = self.next_seq();
        let mut nl = NetlinkMessage::from(GenlMessage::from_payload(GenlCtrl {
            cmd: GenlCtrlCmd::GetFamily,
            nlas: vec![GenlCtrlAttrs::FamilyName(FAMILY_NAME.to_string())],
        }));
        nl.header.flags = NLM_F_REQUEST | NLM_F_ACK;
        nl.header.sequence_number = seq;
        nl.finalize();
        let mut out = vec![0; nl.buffer_len()];
        nl.serialize(&mut out);
        self.sock.send(&out, 0)?;
        let mut id = None;
        loop {
            for m in self.recv_datagram::<GenlMessage<GenlCtrl>>()? {
                if m.header.sequence_number != seq {
                    continue;
                }
                match m.payload {
                    NetlinkPayload::InnerMessage(g) => {
                        id = id.or(g.payload.nlas.iter().find_map(|a| match a {
                            GenlCtrlAttrs::FamilyId(i) => Some(*i),
                            _ => None,
                        }));
                    }
                    NetlinkPayload::Error(e) if e.code.is_some() => {
                        return Err(match e.raw_code().abs() {
                            libc::ENOENT => IpvsError::NoIpvs,
                            errno => IpvsError::Io(io::Error::from_raw_os_error(errno)),
                        });
                    }
                    NetlinkPayload::Error(_) | NetlinkPayload::Done(_) => {
                        return id.ok_or_else(|| IpvsError::Decode("no family id for IPVS".into()));
                    }
                    _ => {}
                }
            }
        }
    }

    /// One datagram's netlink messages.
    fn recv_datagram<T>(&mut self) -> Result<Vec<NetlinkMessage<T>>, IpvsError>
    where
        T: netlink_packet_core::NetlinkDeserializable,
    {
        self.buf.clear();
        let n = match self.sock.recv(&mut self.buf, libc::MSG_TRUNC) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return Err(IpvsError::Io(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no answer from the kernel",
                )));
            }
            Err(e) => return Err(e.into()),
        };
        if n > self.buf.len() {
            return Err(IpvsError::Decode(format!(
                "a {n}-byte datagram did not fit the {RECV_BUF}-byte buffer"
            )));
        }
        let mut out = Vec::new();
        let mut off = 0;
        while off < n {
            let rest = self.buf.get(off..n).unwrap_or_default();
            let len = NetlinkBuffer::new_checked(rest)
                .map_err(|e| IpvsError::Decode(e.to_string()))?
                .length() as usize;
            let m = NetlinkMessage::<T>::deserialize(rest)
                .map_err(|e| IpvsError::Decode(e.to_string()))?;
            out.push(m);
            off += len.max(16).next_multiple_of(4);
        }
        Ok(out)
    }

    /// The answers to the requests with sequence numbers `first..=last`,
    /// in arrival order, until each has ended.
    fn collect(&mut self, first: u32, last: u32) -> Result<Vec<(u32, Answer)>, IpvsError> {
        let mut open = last.wrapping_sub(first) as usize + 1;
        let mut out = Vec::new();
        while open > 0 {
            for m in self.recv_datagram::<GenlMessage<IpvsMsg>>()? {
                let seq = m.header.sequence_number;
                if seq.wrapping_sub(first) > last.wrapping_sub(first) {
                    continue; // a stale answer to an earlier, abandoned request
                }
                let answer = match m.payload {
                    NetlinkPayload::InnerMessage(g) => Answer::Msg(g.payload),
                    NetlinkPayload::Error(e) => Answer::End(e.code.map(|c| c.get().abs())),
                    NetlinkPayload::Done(d) => Answer::End((d.code != 0).then_some(d.code.abs())),
                    NetlinkPayload::Overrun(_) => {
                        return Err(IpvsError::Decode("netlink overrun".into()));
                    }
                    _ => continue,
                };
                if matches!(answer, Answer::End(_)) {
                    open -= 1;
                }
                out.push((seq, answer));
            }
        }
        Ok(out)
    }

    /// Runs one request; its replies (dump parts, GET_INFO's answer).
    pub fn run(&mut self, req: &Request) -> Result<Vec<IpvsMsg>, IpvsError> {
        let seq = self.next_seq();
        let bytes = frame(req.encode()?, self.family, seq, req.is_dump());
        self.sock.send(&bytes, 0)?;
        let mut replies = Vec::new();
        for (_, a) in self.collect(seq, seq)? {
            match a {
                Answer::Msg(m) => replies.push(m),
                Answer::End(Some(errno)) => return Err(IpvsError::from_errno(req, errno)),
                Answer::End(None) => {}
            }
        }
        Ok(replies)
    }

    /// Runs write requests in batches, in order; one result each.
    pub fn apply(&mut self, reqs: &[Request]) -> Vec<Result<(), IpvsError>> {
        let mut results: Vec<Option<Result<(), IpvsError>>> = reqs.iter().map(|_| None).collect();
        let mut pending = Vec::with_capacity(reqs.len());
        for (i, r) in reqs.iter().enumerate() {
            match r.encode() {
                Ok(m) => pending.push((i, m)),
                Err(e) => put(&mut results, i, Err(e.into())),
            }
        }
        for chunk in pending.chunks(BATCH) {
            let first = self.seq.wrapping_add(1);
            let mut datagram = Vec::new();
            for (_, m) in chunk {
                let seq = self.next_seq();
                datagram.extend(frame(m.clone(), self.family, seq, false));
            }
            let last = self.seq;
            let answers = self
                .sock
                .send(&datagram, 0)
                .map_err(IpvsError::from)
                .and_then(|_| self.collect(first, last));
            match answers {
                Ok(answers) => {
                    for (seq, a) in answers {
                        let Answer::End(code) = a else { continue };
                        // The k-th sequence number of the batch is its k-th request.
                        let k = seq.wrapping_sub(first) as usize;
                        let Some(&(i, _)) = chunk.get(k) else {
                            continue;
                        };
                        let result = match (code, reqs.get(i)) {
                            (Some(errno), Some(r)) => Err(IpvsError::from_errno(r, errno)),
                            _ => Ok(()),
                        };
                        put(&mut results, i, result);
                    }
                }
                Err(e) => {
                    for (i, _) in chunk {
                        let err = io::Error::other(e.to_string());
                        put(&mut results, *i, Err(IpvsError::Io(err)));
                    }
                }
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(IpvsError::Decode("no answer to a request".into()))))
            .collect()
    }

    pub fn info(&mut self) -> Result<Info, IpvsError> {
        let replies = self.run(&Request::GetInfo)?;
        let m = replies
            .first()
            .ok_or_else(|| IpvsError::Decode("no GET_INFO reply".into()))?;
        decode_info(m).map_err(|e| IpvsError::Decode(e.to_string()))
    }

    pub fn services(&mut self) -> Result<Vec<ServiceEntry>, IpvsError> {
        self.run(&Request::GetServices)?
            .iter()
            .map(|m| decode_service(m).map_err(|e| IpvsError::Decode(e.to_string())))
            .collect()
    }

    pub fn dests(&mut self, key: &ServiceKey) -> Result<Vec<DestEntry>, IpvsError> {
        let family = key.family();
        self.run(&Request::GetDests(*key))?
            .iter()
            .map(|m| decode_dest(m, family).map_err(|e| IpvsError::Decode(e.to_string())))
            .collect()
    }

    pub fn daemons(&mut self) -> Result<Vec<SyncDaemon>, IpvsError> {
        self.run(&Request::GetDaemons)?
            .iter()
            .map(|m| decode_daemon(m).map_err(|e| IpvsError::Decode(e.to_string())))
            .collect()
    }

    /// Every service with its destinations.
    pub fn table(&mut self) -> Result<Vec<(ServiceEntry, Vec<DestEntry>)>, IpvsError> {
        let services = self.services()?;
        let mut out = Vec::with_capacity(services.len());
        for s in services {
            let d = self.dests(&s.service.key)?;
            out.push((s, d));
        }
        Ok(out)
    }

    /// One write request.
    pub fn execute(&mut self, req: &Request) -> Result<(), IpvsError> {
        self.run(req).map(|_| ())
    }
}

fn put<T>(v: &mut [Option<T>], i: usize, value: T) {
    if let Some(slot) = v.get_mut(i) {
        *slot = Some(value);
    }
}
