//! Sends the SMTP alerts `mail.rs` decides on, off the protocol path: the
//! parent's loop only appends to a bounded queue; one thread of its own
//! speaks SMTP (lettre's blocking client, plain SMTP as keepalived's), so a
//! dead or slow server never delays a transition or the loop.
//!
//! The queue holds [`QUEUE_LIMIT`] mails; a full queue drops its oldest
//! (the newest states matter most), counted and logged. A mail that fails
//! is tried [`ATTEMPTS`] times in all, with a growing pause between, then
//! counted as failed. Each mail carries the settings in force when it was
//! queued, so a reload applies to later mails only.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use lettre::Transport;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::SmtpTransport;
use lettre::transport::smtp::extension::ClientId;
use tracing::{error, info, warn};

use super::mail::Alert;
use crate::config::model::Config;
use crate::config::smtp::mailbox;
pub use crate::control::status::MailStatus;

/// Mails waiting at most; beyond, the oldest is dropped.
pub const QUEUE_LIMIT: usize = 64;
/// Tries per mail, the first included.
pub const ATTEMPTS: u32 = 3;
/// Pause after the first failed try; doubled after each.
const FIRST_PAUSE: Duration = Duration::from_secs(2);
/// keepalived's `smtp_connect_timeout` default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Where and how mails go, resolved from the configuration.
#[derive(Debug, PartialEq)]
pub struct Settings {
    pub host: String,
    pub port: u16,
    pub timeout: Duration,
    pub helo: String,
    pub from: Mailbox,
    pub to: Vec<Mailbox>,
}

impl Settings {
    /// None when nothing is to be sent (no server, no usable recipient).
    /// `host` is the local host name, `user` the daemon's account name
    /// (keepalived's defaults: HELO `HOST`, from `USER@HOST`).
    pub fn new(cfg: &Config, host: &str, user: &str) -> Option<Settings> {
        let g = &cfg.global;
        let server = g.smtp_server.as_ref()?;
        let to: Vec<Mailbox> = g
            .notification_email
            .iter()
            .filter_map(|a| mailbox(a))
            .collect();
        if to.is_empty() {
            return None;
        }
        let from = g
            .notification_email_from
            .as_deref()
            .and_then(mailbox)
            .or_else(|| mailbox(&format!("{user}@{host}")))
            .or_else(|| mailbox("root@localhost"))?;
        Some(Settings {
            host: server.host.clone(),
            port: server.port,
            timeout: g.smtp_connect_timeout.map_or(DEFAULT_TIMEOUT, |s| {
                Duration::from_secs(u64::from(s.max(1)))
            }),
            helo: g.smtp_helo_name.clone().unwrap_or_else(|| host.to_string()),
            from,
            to,
        })
    }

    /// The message as it goes out: keepalived's headers (Date, From, To,
    /// Subject, X-Mailer) plus what a mail client adds (Message-ID, MIME).
    pub fn message(&self, alert: &Alert) -> Result<Message, MailError> {
        let mut b = Message::builder()
            .from(self.from.clone())
            .subject(alert.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .message_id(Some(message_id(&self.helo)));
        for t in &self.to {
            b = b.to(t.clone());
        }
        let mut m = b
            .body(format!("{}\r\n", alert.body))
            .map_err(|e| MailError::Build(e.to_string()))?;
        m.headers_mut().insert_raw(HeaderValue::new(
            HeaderName::new_from_ascii_str("X-Mailer"),
            "upkeep".into(),
        ));
        Ok(m)
    }

    fn transport(&self) -> SmtpTransport {
        let helo = match self.helo.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(a)) => ClientId::Ipv4(a),
            Ok(std::net::IpAddr::V6(a)) => ClientId::Ipv6(a),
            Err(_) => ClientId::Domain(self.helo.clone()),
        };
        SmtpTransport::builder_dangerous(self.host.as_str())
            .port(self.port)
            .timeout(Some(self.timeout))
            .hello_name(helo)
            .build()
    }
}

fn message_id(host: &str) -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("<{now}.{}.{seq}.upkeep@{host}>", std::process::id())
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("building the message: {0}")]
    Build(String),
    #[error("SMTP: {0}")]
    Smtp(String),
}

struct Outgoing {
    alert: Alert,
    settings: Arc<Settings>,
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Outgoing>,
    /// Being sent (counted in `queued`).
    busy: bool,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    sent: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
}

/// The parent's mail queue and its sending thread (started with the first mail).
pub struct Mailer {
    settings: Option<Arc<Settings>>,
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
    limit: usize,
    /// The counters as [`Mailer::changed`] last saw them.
    seen: MailStatus,
}

impl Mailer {
    pub fn new(settings: Option<Settings>) -> Self {
        Mailer {
            settings: settings.map(Arc::new),
            shared: Arc::default(),
            thread: None,
            limit: QUEUE_LIMIT,
            seen: MailStatus::default(),
        }
    }

    /// After a reload (mails already queued keep their settings).
    pub fn set(&mut self, settings: Option<Settings>) {
        self.settings = settings.map(Arc::new);
    }

    /// Queues a mail; never blocks (beyond the queue's lock).
    pub fn send(&mut self, alert: Alert) {
        let Some(settings) = self.settings.clone() else {
            return;
        };
        if self.thread.is_none() {
            let shared = Arc::clone(&self.shared);
            match std::thread::Builder::new()
                .name("upkeep-mail".into())
                .spawn(move || run(&shared))
            {
                Ok(t) => self.thread = Some(t),
                Err(e) => {
                    error!(error = %e, subject = %alert.subject, "cannot start the mail thread; alert not sent");
                    self.shared.failed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        }
        let dropped = {
            let mut q = lock(&self.shared.queue);
            q.items.push_back(Outgoing { alert, settings });
            let mut dropped = Vec::new();
            while q.items.len() > self.limit {
                if let Some(o) = q.items.pop_front() {
                    dropped.push(o.alert.subject);
                }
            }
            dropped
        };
        self.shared.wake.notify_one();
        for subject in dropped {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            warn!(subject = %subject, limit = self.limit, "mail queue full: oldest alert dropped");
        }
    }

    pub fn status(&self) -> MailStatus {
        let q = lock(&self.shared.queue);
        MailStatus {
            sent: self.shared.sent.load(Ordering::Relaxed),
            failed: self.shared.failed.load(Ordering::Relaxed),
            dropped: self.shared.dropped.load(Ordering::Relaxed),
            queued: (q.items.len() + usize::from(q.busy)) as u64,
        }
    }

    /// Whether the counters moved since the last call (the status is due).
    pub fn changed(&mut self) -> bool {
        let now = self.status();
        let changed = now != self.seen;
        self.seen = now;
        changed
    }

    /// Whether mail is configured at all (status shows the counters then).
    pub fn configured(&self) -> bool {
        self.settings.is_some() || self.thread.is_some()
    }

    /// At exit: what is queued (the STOP alerts among it) gets at most
    /// `limit` to go out, without retries; the rest is abandoned.
    pub async fn finish(mut self, limit: Duration) {
        {
            let mut q = lock(&self.shared.queue);
            q.closed = true;
        }
        self.shared.wake.notify_all();
        let Some(t) = self.thread.take() else { return };
        let deadline = Instant::now() + limit;
        while !t.is_finished() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if t.is_finished() {
            let _ = t.join();
        } else {
            warn!(
                queued = self.status().queued,
                "mail alerts still unsent at exit"
            );
        }
    }
}

fn lock(m: &Mutex<Queue>) -> std::sync::MutexGuard<'_, Queue> {
    // A panic while holding the lock leaves a consistent queue.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The sending thread: one mail at a time, in order.
fn run(shared: &Shared) {
    loop {
        let next = {
            let mut q = lock(&shared.queue);
            loop {
                if let Some(o) = q.items.pop_front() {
                    q.busy = true;
                    break Some(o);
                }
                if q.closed {
                    break None;
                }
                q = shared
                    .wake
                    .wait(q)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
        };
        let Some(o) = next else { return };
        deliver(shared, &o);
        lock(&shared.queue).busy = false;
    }
}

fn deliver(shared: &Shared, o: &Outgoing) {
    let s = &o.settings;
    let subject = o.alert.subject.as_str();
    let mut pause = FIRST_PAUSE;
    for attempt in 1..=ATTEMPTS {
        let started = Instant::now();
        let result = s.message(&o.alert).and_then(|m| {
            s.transport()
                .send(&m)
                .map_err(|e| MailError::Smtp(e.to_string()))
        });
        match result {
            Ok(_) => {
                shared.sent.fetch_add(1, Ordering::Relaxed);
                info!(subject, server = %s.host, port = s.port, attempt, took_ms = started.elapsed().as_millis() as u64, "mail alert sent");
                return;
            }
            Err(e @ MailError::Build(_)) => {
                error!(subject, error = %e, "mail alert not sent");
                break;
            }
            Err(e) => {
                warn!(subject, server = %s.host, port = s.port, attempt, attempts = ATTEMPTS, error = %e, "mail alert: sending failed");
            }
        }
        if attempt == ATTEMPTS || wait_or_closed(shared, pause) {
            break;
        }
        pause *= 2;
    }
    shared.failed.fetch_add(1, Ordering::Relaxed);
    error!(subject, server = %s.host, port = s.port, "mail alert given up");
}

/// Sleeps `pause` unless the mailer closes meanwhile (then true: no retry).
fn wait_or_closed(shared: &Shared, pause: Duration) -> bool {
    let deadline = Instant::now() + pause;
    let mut q = lock(&shared.queue);
    loop {
        if q.closed {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        q = shared
            .wake
            .wait_timeout(q, deadline - now)
            .map(|(g, _)| g)
            .unwrap_or_else(|e| e.into_inner().0);
    }
}

/// The local host name (keepalived's default router_id, HELO name and
/// sender domain).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// The daemon's account name (keepalived's default sender is `USER@HOST`).
pub fn user_name() -> String {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map_or_else(|| "root".into(), |u| u.name)
}
