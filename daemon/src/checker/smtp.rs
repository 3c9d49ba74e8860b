//! SMTP_CHECK (keepalived's check_smtp.c): connect, read the 220
//! greeting, send `HELO name`, expect 250, send `QUIT`, read its reply.
//!
//! The conversation is a sans-IO core ([`Session`]: bytes in, "send
//! this" / "pass" / "fail" out), run over TCP by [`check`], which owns
//! the timeouts. Beyond keepalived: multi-line replies (`220-...`) are
//! read to their last line (keepalived fails them as a bad greeting),
//! and a line longer than RFC 5321's 512 bytes fails the check
//! (keepalived clears its buffer and reads on).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::outcome::Outcome;

/// keepalived's SMTP_DEFAULT_HELO.
pub const DEFAULT_HELO: &str = "smtpchecker.keepalived.org";

/// RFC 5321 §4.5.3.1.5: a reply line is at most 512 bytes with its CRLF.
pub const LINE_MAX: usize = 512;

/// Lines of one multi-line reply read before giving up (a bound, not a
/// limit any server needs: EHLO replies have about a dozen).
pub const REPLY_LINES_MAX: usize = 64;

/// What the core asks of its IO.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Write these bytes, then read.
    Send(Vec<u8>),
    /// Read more.
    Read,
    /// The server answered as a working one.
    Pass,
    Fail(String),
}

/// Where the conversation is: the reply being waited for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Banner,
    Helo,
    Quit,
    Done,
}

impl Phase {
    pub fn waiting_for(self) -> &'static str {
        match self {
            Phase::Banner => "the greeting",
            Phase::Helo => "the reply to HELO",
            Phase::Quit => "the reply to QUIT",
            Phase::Done => "nothing",
        }
    }
}

/// One SMTP_CHECK conversation.
pub struct Session {
    helo: String,
    phase: Phase,
    buf: Vec<u8>,
    /// The code of the multi-line reply being read, and its lines so far.
    open: Option<(u16, usize)>,
}

impl Session {
    pub fn new(helo: &str) -> Self {
        Self {
            helo: helo.to_string(),
            phase: Phase::Banner,
            buf: Vec::new(),
            open: None,
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Bytes from the server.
    pub fn feed(&mut self, bytes: &[u8]) -> Step {
        if self.phase == Phase::Done {
            return Step::Fail("data after the end of the conversation".into());
        }
        self.buf.extend_from_slice(bytes);
        while let Some(nl) = self.buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=nl).collect();
            if line.len() > LINE_MAX {
                return self.fail(format!(
                    "reply line longer than {LINE_MAX} bytes while waiting for {}",
                    self.phase.waiting_for()
                ));
            }
            match self.line(&line) {
                Step::Read => continue,
                step => return step,
            }
        }
        if self.buf.len() >= LINE_MAX {
            return self.fail(format!(
                "reply line longer than {LINE_MAX} bytes while waiting for {}",
                self.phase.waiting_for()
            ));
        }
        Step::Read
    }

    /// The server closed the connection (or reading failed).
    pub fn closed(&mut self) -> Step {
        match self.phase {
            Phase::Done => Step::Pass,
            p => {
                let partial = if self.buf.is_empty() && self.open.is_none() {
                    ""
                } else {
                    " (in the middle of a reply)"
                };
                self.fail(format!(
                    "connection closed while waiting for {}{partial}",
                    p.waiting_for()
                ))
            }
        }
    }

    fn fail(&mut self, why: String) -> Step {
        self.phase = Phase::Done;
        Step::Fail(why)
    }

    /// One complete line (with its LF).
    fn line(&mut self, raw: &[u8]) -> Step {
        let text = raw.strip_suffix(b"\n").unwrap_or(raw);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if self.phase == Phase::Quit {
            // keepalived: whatever line answers QUIT ends the check well.
            self.phase = Phase::Done;
            return Step::Pass;
        }
        let Some((code, last)) = parse_line(text) else {
            let waiting = self.phase.waiting_for();
            return self.fail(format!("garbled reply '{}' to {waiting}", shown(text)));
        };
        let lines = match self.open {
            Some((open, _)) if open != code => {
                let waiting = self.phase.waiting_for();
                return self.fail(format!(
                    "reply {code} inside a multi-line {open} reply, waiting for {waiting}"
                ));
            }
            Some((_, n)) => n + 1,
            None => 1,
        };
        if !last {
            if lines >= REPLY_LINES_MAX {
                let waiting = self.phase.waiting_for();
                return self.fail(format!(
                    "more than {REPLY_LINES_MAX} lines in the reply while waiting for {waiting}"
                ));
            }
            self.open = Some((code, lines));
            return Step::Read;
        }
        self.open = None;
        match (self.phase, code) {
            (Phase::Banner, 220) => {
                self.phase = Phase::Helo;
                Step::Send(format!("HELO {}\r\n", self.helo).into_bytes())
            }
            (Phase::Banner, _) => self.fail(format!("bad greeting: '{}'", shown(text))),
            (Phase::Helo, 250) => {
                self.phase = Phase::Quit;
                Step::Send(b"QUIT\r\n".to_vec())
            }
            (Phase::Helo, _) => self.fail(format!("bad reply to HELO: '{}'", shown(text))),
            (Phase::Quit | Phase::Done, _) => Step::Pass,
        }
    }
}

/// `NNN text` (the last line of a reply), `NNN-text` (more follow) or a
/// bare `NNN`: the code and whether the line is the reply's last.
fn parse_line(text: &[u8]) -> Option<(u16, bool)> {
    let digits = text.get(..3)?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let code = digits
        .iter()
        .fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    match text.get(3) {
        None | Some(b' ') => Some((code, true)),
        Some(b'-') => Some((code, false)),
        Some(_) => None,
    }
}

/// A reply for a message: printable ASCII, at most 80 characters.
fn shown(text: &[u8]) -> String {
    let mut s: String = text
        .iter()
        .take(80)
        .map(|&b| {
            if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '?'
            }
        })
        .collect();
    if text.len() > 80 {
        s.push_str("...");
    }
    s
}

/// One SMTP_CHECK of `addr` from `bind`: each step (connecting, then
/// each reply) within `timeout`, as keepalived's per-operation
/// `connect_timeout`.
pub async fn check(
    addr: SocketAddr,
    bind: Option<SocketAddr>,
    helo: &str,
    timeout: Duration,
) -> Outcome {
    let fail = |why: String| Outcome::fail(format!("SMTP {addr}: {why}"));
    let mut s = match tokio::time::timeout(timeout, super::probe::connect(addr, bind)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return fail(format!("connect: {e}")),
        Err(_) => return fail("connect: timed out".into()),
    };
    let mut session = Session::new(helo);
    let mut buf = [0u8; 1024];
    let mut deadline = tokio::time::Instant::now() + timeout;
    loop {
        let phase = session.phase();
        let step = match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return fail(format!("timed out waiting for {}", phase.waiting_for())),
            Ok(Ok(0)) => session.closed(),
            Ok(Ok(n)) => session.feed(&buf[..n]),
            Ok(Err(e)) => {
                return fail(format!(
                    "reading while waiting for {}: {e}",
                    phase.waiting_for()
                ));
            }
        };
        match step {
            Step::Read => {}
            Step::Send(bytes) => {
                match tokio::time::timeout(timeout, s.write_all(&bytes)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return fail(format!("writing: {e}")),
                    Err(_) => return fail("writing: timed out".into()),
                }
                deadline = tokio::time::Instant::now() + timeout;
            }
            Step::Pass => return Outcome::pass(format!("SMTP {addr}: greeting, HELO and QUIT")),
            Step::Fail(why) => return fail(why),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(replies: &[&[u8]]) -> (Vec<Step>, Session) {
        let mut s = Session::new("checker.example");
        let steps = replies.iter().map(|r| s.feed(r)).collect();
        (steps, s)
    }

    fn helo() -> Step {
        Step::Send(b"HELO checker.example\r\n".to_vec())
    }

    #[test]
    fn a_working_server_passes() {
        let (steps, _) = run(&[b"220 mx ESMTP\r\n", b"250 mx\r\n", b"221 bye\r\n"]);
        assert_eq!(
            steps,
            [helo(), Step::Send(b"QUIT\r\n".to_vec()), Step::Pass]
        );
    }

    #[test]
    fn keepalived_default_helo_name() {
        let mut s = Session::new(DEFAULT_HELO);
        assert_eq!(
            s.feed(b"220 x\r\n"),
            Step::Send(b"HELO smtpchecker.keepalived.org\r\n".to_vec())
        );
    }

    #[test]
    fn multi_line_greeting_split_anywhere_is_read_to_its_last_line() {
        let (steps, s) = run(&[
            b"220-mx.example",
            b" ESMTP\r\n220-more\r",
            b"\n",
            b"220 ready\n",
        ]);
        assert_eq!(steps, [Step::Read, Step::Read, Step::Read, helo()]);
        assert_eq!(s.phase(), Phase::Helo);
        // Bare code, LF only.
        let (steps, _) = run(&[b"220\n", b"250-a\r\n250 b\r\n"]);
        assert_eq!(steps, [helo(), Step::Send(b"QUIT\r\n".to_vec())]);
    }

    #[test]
    fn wrong_greeting_code_fails() {
        let (steps, s) = run(&[b"554 no service\r\n"]);
        assert_eq!(steps, [Step::Fail("bad greeting: '554 no service'".into())]);
        assert_eq!(s.phase(), Phase::Done);
        let (steps, _) = run(&[b"421-busy\r\n421 go away\r\n"]);
        assert!(matches!(&steps[0], Step::Fail(m) if m.contains("421 go away")));
    }

    #[test]
    fn refusal_of_helo_fails() {
        for code in ["500", "501", "550", "554", "421"] {
            let reply = format!("{code} no\r\n");
            let (steps, _) = run(&[b"220 ok\r\n", reply.as_bytes()]);
            assert_eq!(
                steps[1],
                Step::Fail(format!("bad reply to HELO: '{code} no'")),
                "{code}"
            );
        }
    }

    #[test]
    fn garbled_and_truncated_lines_fail() {
        for bad in [
            &b"22 short\r\n"[..],
            b"2200 long code\r\n",
            b"abc hello\r\n",
            b"220_x\r\n",
            b"\r\n",
            b"HTTP/1.1 400 Bad Request\r\n",
        ] {
            let (steps, _) = run(&[bad]);
            assert!(
                matches!(&steps[0], Step::Fail(m) if m.starts_with("garbled reply")),
                "{bad:?}: {steps:?}"
            );
        }
        // A continuation line of another code.
        let (steps, _) = run(&[b"220-a\r\n250 b\r\n"]);
        assert!(matches!(&steps[0], Step::Fail(m) if m.contains("multi-line 220")));
        // Control bytes are not echoed into messages.
        let (steps, _) = run(&[b"5\x1b[31m\r\n"]);
        assert!(matches!(&steps[0], Step::Fail(m) if !m.contains('\x1b')));
    }

    #[test]
    fn over_long_lines_fail_and_the_buffer_stays_bounded() {
        let mut s = Session::new("x");
        let chunk = [b'a'; 100];
        let mut last = Step::Read;
        for _ in 0..10 {
            last = s.feed(&chunk);
            if last != Step::Read {
                break;
            }
        }
        assert!(matches!(&last, Step::Fail(m) if m.contains("longer than 512")));
        assert!(s.buf.len() <= LINE_MAX + chunk.len());
        // A complete line over the limit, in one piece.
        let mut line = b"220 ".to_vec();
        line.extend([b'x'; 600]);
        line.extend(b"\r\n");
        let (steps, _) = run(&[&line]);
        assert!(matches!(&steps[0], Step::Fail(m) if m.contains("longer than 512")));
        // 512 with CRLF is allowed.
        let mut line = b"220 ".to_vec();
        line.extend([b'x'; 506]);
        line.extend(b"\r\n");
        assert_eq!(line.len(), 512);
        assert_eq!(run(&[&line]).0[0], helo());
    }

    #[test]
    fn endless_multi_line_replies_fail() {
        let mut s = Session::new("x");
        let mut last = Step::Read;
        for _ in 0..=REPLY_LINES_MAX {
            last = s.feed(b"220-more\r\n");
            if last != Step::Read {
                break;
            }
        }
        assert!(matches!(&last, Step::Fail(m) if m.contains("more than 64 lines")));
    }

    #[test]
    fn closing_early_fails_at_each_step() {
        let mut s = Session::new("x");
        assert_eq!(
            s.closed(),
            Step::Fail("connection closed while waiting for the greeting".into())
        );
        let mut s = Session::new("x");
        s.feed(b"220-part");
        assert!(matches!(s.closed(), Step::Fail(m) if m.contains("middle of a reply")));
        let mut s = Session::new("x");
        s.feed(b"220 ok\r\n");
        assert!(matches!(s.closed(), Step::Fail(m) if m.contains("reply to HELO")));
        // keepalived: no reply to QUIT is a read failure.
        let mut s = Session::new("x");
        s.feed(b"220 ok\r\n");
        s.feed(b"250 ok\r\n");
        assert!(matches!(s.closed(), Step::Fail(m) if m.contains("reply to QUIT")));
    }

    #[test]
    fn any_line_answering_quit_passes_as_in_keepalived() {
        let (steps, s) = run(&[b"220 a\r\n", b"250 b\r\n", b"whatever\n"]);
        assert_eq!(steps[2], Step::Pass);
        assert_eq!(s.phase(), Phase::Done);
    }
}
