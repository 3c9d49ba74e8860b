//! The checks a configuration asks for, ready to schedule.

use std::net::SocketAddr;
use std::time::Duration;

use std::sync::Arc;

use super::plugin::PluginProbe;
use super::plugin::grants::Grants;
use super::probe::{DnsProbe, HttpProbe, Probe, ProcessProbe, SmtpProbe, Tls};
use super::{REAL_SERVER, udp};
use crate::config::model::{CheckKind, Config, DnsType, ParamMatch, RealServer, VirtualServer};
use crate::config::scripts::{Kind, Plan};
use crate::exec::split_command;
use crate::ipvs::table::{rs_key, vs_key};
use crate::names::{Name, NameList};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    /// All must pass.
    pub probes: Probes,
    /// The four durations in whole milliseconds, 32 bits (read through
    /// [`Spec::interval`] and the like): 16 bytes, not 64, in a spec the
    /// checker keeps per check (issue 18).
    pub(crate) interval_ms: Ms,
    pub(crate) timeout_ms: Ms,
    pub fall: u32,
    pub rise: u32,
    pub init_fail: bool,
    /// Real servers (keepalived's `retry` / `delay_before_retry`): a failure
    /// while up is retried after this delay, `fall - 1` times, before the
    /// server is down; a down server is checked every `interval`.
    pub(crate) retry_delay_ms: Option<Ms>,
    /// Up until `fall` failures, before any result (a real server without
    /// `alpha`).
    pub presume_up: bool,
    /// See [`Spec::warmup`].
    pub(crate) warmup_ms: Option<Ms>,
    /// For real-server checks: where the virtual server's key ends in
    /// the check's name (see [`Spec::real_server`]). Not two more strings: the
    /// checker keeps a spec per check (issue 18).
    pub real_server_at: Option<std::num::NonZeroU32>,
    /// What few checks have; none while all of it is unset.
    pub rare: Option<Box<Rare>>,
}

/// A spec's probes: one (nearly every check) inline, more in a box of
/// their own. Boxed alone, a TCP check's probe was a 64-byte heap block
/// with the allocator's header beside a 16-byte pointer: 0.3 MiB more of
/// the checker at 10,000 checks (issue 18). Reads as a slice.
pub type Probes = crate::few::Few<Probe>;

/// A [`Spec`]'s settings that most checks lack, boxed: the checker keeps a
/// spec per check, and these were 80 of its 250 bytes at 10,000 real
/// servers that have none of them (issue 18).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rare {
    /// keepalived's track_process `fork_delay` / `terminate_delay`: a
    /// change to up (down) is reported only if it still holds this long
    /// after (none: at once). The first result is reported at once.
    pub settle: Option<Settle>,
    /// Why the check cannot run, when it cannot (reported, never scheduled).
    pub unsupported: Option<String>,
    /// Per probe (same order; missing: false): keepalived's
    /// `log_all_failures` of the checker it comes from, or
    /// `checker_log_all_failures`. A failed run of such a probe is logged
    /// while the check is up, not only the change to down.
    pub log_failures: Vec<bool>,
}

impl Rare {
    /// `rare`, boxed only when something in it is set.
    pub fn boxed(mut rare: Rare) -> Option<Box<Rare>> {
        rare.log_failures.shrink_to_fit();
        (rare != Rare::default()).then(|| Box::new(rare))
    }
}

/// Whole milliseconds in 32 bits (49 days; the configuration accepts at
/// most 11.5): longer saturates, a fraction of one is dropped. Kept
/// inverted in a `NonZeroU32`, so that an `Option<Ms>` is 4 bytes too
/// (two of them in the spec the checker keeps per check; issue 18); the
/// largest value is one millisecond short of 2^32.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ms(std::num::NonZeroU32);

impl Ms {
    pub(crate) fn of(d: Duration) -> Self {
        let ms = u32::try_from(d.as_millis())
            .unwrap_or(u32::MAX)
            .min(u32::MAX - 1);
        Self(std::num::NonZeroU32::new(!ms).unwrap_or(std::num::NonZeroU32::MIN))
    }

    fn get(self) -> Duration {
        Duration::from_millis(u64::from(!self.0.get()))
    }
}

impl Spec {
    /// No probe yet, run every `interval` with `timeout`, one result
    /// makes a state, nothing else set.
    fn plain(interval: Duration, timeout: Duration) -> Spec {
        Spec {
            probes: Probes::default(),
            interval_ms: Ms::of(interval),
            timeout_ms: Ms::of(timeout),
            fall: 1,
            rise: 1,
            init_fail: false,
            retry_delay_ms: None,
            presume_up: false,
            warmup_ms: None,
            real_server_at: None,
            rare: None,
        }
    }

    pub fn interval(&self) -> Duration {
        self.interval_ms.get()
    }

    pub fn timeout(&self) -> Duration {
        self.timeout_ms.get()
    }

    /// Real servers: the delay before a retry (see the field).
    pub fn retry_delay(&self) -> Option<Duration> {
        self.retry_delay_ms.map(Ms::get)
    }

    /// keepalived's `warmup`: the first run comes within this delay (else
    /// spread over one interval).
    pub fn warmup(&self) -> Option<Duration> {
        self.warmup_ms.map(Ms::get)
    }

    pub fn settle(&self) -> Option<Settle> {
        self.rare.as_ref().and_then(|r| r.settle)
    }

    pub fn unsupported(&self) -> Option<&str> {
        self.rare.as_ref()?.unsupported.as_deref()
    }

    /// Whether a failed run of probe `i` is logged while the check is up.
    pub fn log_failure(&self, i: usize) -> bool {
        self.rare
            .as_ref()
            .is_some_and(|r| r.log_failures.get(i).copied().unwrap_or(false))
    }

    /// For real-server checks: (virtual server key, real server key), as
    /// the check's `name` (`real_server:VS/RS`) names them.
    pub fn real_server<'a>(&self, name: &'a str) -> Option<(&'a str, &'a str)> {
        let at = usize::try_from(self.real_server_at?.get()).ok()?;
        let vs = name.get(REAL_SERVER.len()..at)?;
        let rs = name.get(at.checked_add(1)?..)?;
        Some((vs, rs))
    }

    /// Run by the parent: a script with an account of its own (the checker
    /// cannot change user, and must not be able to make anyone else run
    /// anything as another account).
    pub fn by_parent(&self) -> bool {
        self.probes
            .iter()
            .any(|p| matches!(p, Probe::Script { user: Some(_), .. }))
    }

    /// For the parent: fills in each script's account and checked words
    /// from `plan`; a script that must not run makes the check unsupported.
    pub fn prepare(&mut self, plan: &Plan) {
        for p in &mut self.probes {
            let Probe::Script {
                argv,
                user: Some(u),
                account,
            } = p
            else {
                continue;
            };
            match plan.prepare_words(argv.clone(), Some(&**u), Kind::Check) {
                Some(prepared) => {
                    *argv = prepared.argv;
                    *account = Some(Box::new(prepared.account));
                }
                None => {
                    self.rare.get_or_insert_default().unsupported = Some(format!(
                        "cannot run as user {}: unknown account or refused script",
                        u.user
                    ));
                }
            }
        }
    }
}

/// Checks with their names (the names results travel under:
/// `script:NAME`, `real_server:VS/RS`, ...), the names in one list beside
/// the specs rather than a string in each: the checker keeps them for
/// its life (issue 18).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Specs {
    names: NameList,
    list: Vec<Spec>,
}

impl Specs {
    /// Adds a check (none past 4 GiB of names, beyond any configuration).
    pub fn push<'n>(&mut self, name: impl Into<Name<'n>>, spec: Spec) {
        if self.names.push(name) {
            self.list.push(spec);
        }
    }

    /// (name, spec) in order.
    pub fn iter(&self) -> impl Iterator<Item = (Name<'_>, &Spec)> {
        self.names.iter().zip(&self.list)
    }

    /// The checks `keep` keeps, changed by `change`.
    pub fn select(self, keep: impl Fn(&Spec) -> bool, change: impl Fn(&mut Spec)) -> Specs {
        let mut out = Specs::default();
        for (name, mut spec) in self.names.iter().zip(self.list) {
            if keep(&spec) {
                change(&mut spec);
                out.push(name, spec);
            }
        }
        out.names.shrink_to_fit();
        out.list.shrink_to_fit();
        out
    }

    /// The names and the specs, at the same positions.
    pub fn into_parts(self) -> (NameList, Vec<Spec>) {
        (self.names, self.list)
    }
}

impl IntoIterator for Specs {
    type Item = (String, Spec);
    type IntoIter = std::vec::IntoIter<(String, Spec)>;
    /// Each check with its name in a string of its own (for tests and
    /// lists made once, not for what is kept).
    fn into_iter(self) -> Self::IntoIter {
        let names = self.names.iter().map(|n| n.to_string());
        names.zip(self.list).collect::<Vec<_>>().into_iter()
    }
}

impl<S: AsRef<str>> FromIterator<(S, Spec)> for Specs {
    fn from_iter<I: IntoIterator<Item = (S, Spec)>>(iter: I) -> Self {
        let mut out = Specs::default();
        for (name, spec) in iter {
            out.push(name.as_ref(), spec);
        }
        out
    }
}

/// The checks the checker runs.
pub fn for_checker(cfg: &Config) -> Specs {
    from_config(cfg).select(|s| !s.by_parent(), |_| {})
}

/// The checks the parent runs, ready (accounts resolved by `plan`).
pub fn for_parent(cfg: &Config, plan: &Plan) -> Specs {
    from_config(cfg).select(Spec::by_parent, |s| s.prepare(plan))
}

fn ms(m: crate::config::values::Millis) -> Duration {
    Duration::from_millis(m.as_millis())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settle {
    pub up: Duration,
    pub down: Duration,
}

pub fn from_config(cfg: &Config) -> Specs {
    let mut out = Specs::default();
    for s in &cfg.vrrp_scripts {
        let interval = ms(s.interval).max(Duration::from_millis(10));
        out.push(
            &format!("script:{}", s.name),
            Spec {
                probes: vec![match &s.plugin {
                    Some(p) => Probe::Plugin(Box::new(PluginProbe {
                        name: s.name.clone(),
                        file: p.file.clone().into(),
                        args: p.args.clone(),
                        memory_mib: p.memory_mib,
                        grants: Arc::new(Grants::from_config(&p.allow)),
                        real_server: None,
                    })),
                    None => Probe::Script {
                        argv: split_command(&s.script),
                        user: s.user.clone().map(Box::new),
                        account: None,
                    },
                }]
                .into(),
                fall: s.fall,
                rise: s.rise,
                init_fail: s.init_fail,
                ..Spec::plain(interval, s.timeout.map_or(interval, ms))
            },
        );
    }
    for p in &cfg.track_processes {
        let up = p.fork_delay.or(p.delay).map_or(Duration::ZERO, ms);
        let down = p.terminate_delay.or(p.delay).map_or(Duration::ZERO, ms);
        out.push(
            &format!("process:{}", p.name),
            Spec {
                probes: vec![Probe::Process(Box::new(ProcessProbe {
                    name: p.process.clone(),
                    args: p.args.clone(),
                    partial: p.param_match == Some(ParamMatch::Partial),
                    initial: p.param_match == Some(ParamMatch::Initial),
                    min: p.quorum,
                    max: p.quorum_max,
                }))]
                .into(),
                rare: Rare::boxed(Rare {
                    settle: ((up, down) != (Duration::ZERO, Duration::ZERO))
                        .then_some(Settle { up, down }),
                    ..Rare::default()
                }),
                // Exits wake the check at once (pidfd); the scan finds new ones.
                ..Spec::plain(Duration::from_secs(1), Duration::from_secs(2))
            },
        );
    }
    for f in &cfg.track_files {
        out.push(
            &format!("file:{}", f.name),
            Spec {
                probes: vec![Probe::File {
                    path: f.file.clone(),
                    value: Arc::default(),
                }]
                .into(),
                ..Spec::plain(TRACK_FILE_POLL, Duration::from_secs(1))
            },
        );
    }
    for vs in &cfg.virtual_servers {
        for rs in vs.real_servers.iter().filter(|r| !r.checkers.is_empty()) {
            let (name, spec) = real_server(cfg, vs, rs);
            out.push(&name, spec);
        }
    }
    out
}

/// How often a track file is read (keepalived watches with inotify).
const TRACK_FILE_POLL: Duration = Duration::from_millis(500);

/// A FILE_CHECK's probe: its track file, with the check's weight or
/// else the file's (keepalived's file_end_handler).
fn file_probe(cfg: &Config, c: &crate::config::model::RealServerCheck) -> Option<Probe> {
    let name = c.ext.track_file.as_ref()?;
    let f = cfg.track_files.iter().find(|f| &f.name == name)?;
    let (weight, reverse) = match c.ext.weight {
        Some(w) => (w, c.ext.weight_reverse),
        None => (f.weight, f.weight_reverse),
    };
    Some(Probe::TrackFile(Box::new(super::file_check::FileProbe {
        name: f.name.clone(),
        path: f.file.clone(),
        weight,
        reverse,
        value: Arc::default(),
    })))
}

fn real_server(cfg: &Config, vs: &VirtualServer, rs: &RealServer) -> (String, Spec) {
    let log_all_failures = cfg.global.checker_log_all_failures;
    let vkey = vs_key(vs);
    let rkey = rs_key(rs.ip, rs.port.or(vs.port));
    // Sized up front: a vector's first push makes room for four, and a
    // real server's one probe (184 B) took 736, 5.5 MiB of the checker's
    // 20 at 10,000 checks (heaptrack, issue 18). Shrinking afterwards left
    // the bigger blocks as holes between live ones. (Other specs' vectors
    // are `vec![...]`, exact; an SMTP_CHECK with several hosts may grow.)
    let mut probes = Vec::with_capacity(rs.checkers.len());
    // One schedule for all of a server's checkers (all must pass): the
    // shortest delay_loop and delay_before_retry, the most retries and the
    // longest timeout and warmup of its checkers, each after keepalived's
    // inheritance (see `RealServerCheck::settings`).
    let mut interval: Option<Duration> = None;
    let mut timeout = Duration::ZERO;
    let mut retries = 0;
    let mut retry_delay: Option<Duration> = None;
    let mut warmup = Duration::ZERO;
    let mut alpha = false;
    let mut unsupported = None;
    // Empty (no allocation) unless a probe logs its failures: the usual
    // case, in a spec the checker keeps per check.
    let mut log_failures = Vec::new();
    for c in &rs.checkers {
        let first_probe = probes.len();
        if c.kind == CheckKind::FileCheck {
            // No schedule of its own in keepalived (inotify, no retry,
            // no alpha): it follows the server's other checkers, else
            // the track files' polling below.
            if let Some(f) = file_probe(cfg, c) {
                probes.push(f);
            }
            // keepalived's FILE_CHECK has no log_all_failures (its probe
            // stays false).
            continue;
        }
        let set = c.settings(rs, vs);
        let dl = ms(set.delay_loop);
        interval = Some(interval.map_or(dl, |i| i.min(dl)));
        retries = retries.max(set.retry);
        let dbr = ms(set.delay_before_retry);
        retry_delay = Some(retry_delay.map_or(dbr, |d| d.min(dbr)));
        warmup = warmup.max(ms(set.warmup));
        alpha |= set.alpha;
        let addr = c.checked_addr(rs, vs);
        // keepalived binds only with a `bindto` address (a `bind_port`
        // alone is kept in an address of no family, never bound).
        let bind = c
            .ext
            .bindto
            .map(|ip| SocketAddr::new(ip, c.ext.bind_port.unwrap_or(0)));
        if bind.is_some_and(|b| b.is_ipv4() != addr.is_ipv4()) {
            unsupported = Some(format!(
                "{}: bindto {} and the address checked {} differ in family",
                c.kind.name(),
                bind.map(|b| b.ip().to_string()).unwrap_or_default(),
                addr.ip()
            ));
        }
        if c.kind != CheckKind::MiscCheck {
            // A plugin's run, like a connection, ends at connect_timeout.
            timeout = timeout.max(ms(set.connect_timeout));
        }
        match c.kind {
            CheckKind::TcpCheck => probes.push(Probe::Tcp {
                addr,
                bind: bind.map(Box::new),
            }),
            CheckKind::PingCheck => probes.push(Probe::Ping {
                addr: addr.ip(),
                bind: bind.map(|b| b.ip()),
            }),
            CheckKind::UdpCheck => {
                // Validation has read the hex; unreadable here is empty.
                let payload = c
                    .ext
                    .payload
                    .as_deref()
                    .and_then(|h| udp::parse_hex(h, false))
                    .map_or_else(|| vec![0; udp::DEFAULT_PAYLOAD_LEN], |p| p.data);
                probes.push(Probe::Udp(Box::new(udp::UdpCheck {
                    addr,
                    bind,
                    payload,
                    require_reply: c.ext.require_reply,
                    reply: c.ext.reply.as_deref().and_then(|h| udp::parse_hex(h, true)),
                    min_reply_length: c.ext.min_reply_length.unwrap_or(0),
                    max_reply_length: c.ext.max_reply_length.unwrap_or(u16::from(u8::MAX)),
                })));
            }
            CheckKind::DnsCheck => probes.push(Probe::Dns(Box::new(DnsProbe {
                addr,
                bind,
                name: c.ext.dns_name.clone().unwrap_or_default(),
                dns_type: c.ext.dns_type.unwrap_or(DnsType::Soa),
            }))),
            CheckKind::HttpGet | CheckKind::SslGet => {
                for u in &c.ext.url {
                    let host = u.virtualhost.clone().or_else(|| set.virtualhost.clone());
                    let tls = (c.kind == CheckKind::SslGet).then(|| Tls {
                        sni: host.clone().filter(|_| c.ext.enable_sni),
                    });
                    probes.push(Probe::Http(Box::new(HttpProbe {
                        addr,
                        bind,
                        host: host.unwrap_or_else(|| addr.to_string()),
                        path: if u.path.is_empty() {
                            "/".into()
                        } else {
                            u.path.clone()
                        },
                        status: u.status_code.iter().map(|r| (r.first, r.last)).collect(),
                        digest: u.digest.clone(),
                        tls,
                    })));
                }
            }
            CheckKind::Plugin => {
                if let Some(p) = &c.ext.plugin {
                    probes.push(Probe::Plugin(Box::new(PluginProbe {
                        name: format!("{vkey}/{rkey}"),
                        file: p.file.clone().into(),
                        args: p.args_for_real_server(addr),
                        memory_mib: p.memory_mib,
                        grants: Arc::new(Grants::from_config(&p.allow.for_real_server(addr))),
                        real_server: Some(addr),
                    })));
                }
            }
            CheckKind::SmtpCheck => {
                let helo = c
                    .ext
                    .helo_name
                    .clone()
                    .unwrap_or_else(|| super::smtp::DEFAULT_HELO.to_string());
                // keepalived: the check's own connection when any of its
                // connection keywords is set or it has no `host`; one more
                // per `host` (the real server's address unless it says).
                let own = c.ext.host.is_empty()
                    || c.connect_ip.is_some()
                    || c.connect_port.is_some()
                    || c.ext.bindto.is_some()
                    || c.ext.bind_port.is_some()
                    || c.connect_timeout.is_some();
                let rs_port = rs.port.or(vs.port).unwrap_or(25);
                if own {
                    let addr = SocketAddr::new(
                        c.connect_ip.unwrap_or(rs.ip),
                        c.connect_port.or(rs.port).or(vs.port).unwrap_or(25),
                    );
                    probes.push(Probe::Smtp(Box::new(SmtpProbe {
                        addr,
                        bind,
                        helo: helo.clone(),
                    })));
                }
                for h in &c.ext.host {
                    let addr = SocketAddr::new(
                        h.connect_ip.unwrap_or(rs.ip),
                        h.connect_port.unwrap_or(rs_port),
                    );
                    let bind = h
                        .bindto
                        .map(|ip| SocketAddr::new(ip, h.bind_port.unwrap_or(0)));
                    if bind.is_some_and(|b| b.is_ipv4() != addr.is_ipv4()) {
                        unsupported = Some(format!(
                            "SMTP_CHECK host: bindto {} and the address checked {} differ in family",
                            bind.map(|b| b.ip().to_string()).unwrap_or_default(),
                            addr.ip()
                        ));
                    }
                    // Unset: the check's (keepalived leaves it 0 there).
                    if let Some(t) = h.connect_timeout {
                        timeout = timeout.max(ms(t));
                    }
                    probes.push(Probe::Smtp(Box::new(SmtpProbe {
                        addr,
                        bind,
                        helo: helo.clone(),
                    })));
                }
            }
            CheckKind::FileCheck => {}
            CheckKind::MiscCheck => {
                timeout = timeout.max(ms(set.misc_timeout));
                let path = c.ext.misc_path.clone().unwrap_or_default();
                probes.push(Probe::Script {
                    argv: split_command(&path),
                    user: c.ext.user.clone(),
                    account: None,
                });
            }
        }
        // This checker's probes (one per url for HTTP_GET).
        if log_all_failures || c.ext.log_all_failures {
            log_failures.resize(first_probe, false);
            log_failures.resize(probes.len(), true);
        }
    }
    // Only FILE_CHECKs: the track files' polling, no retry, no alpha.
    let file_only = interval.is_none();
    let interval = interval.unwrap_or(if file_only {
        TRACK_FILE_POLL
    } else {
        ms(vs.delay_loop)
    });
    let warmup = if file_only { Duration::ZERO } else { warmup };
    if file_only {
        timeout = Duration::from_secs(1);
    }
    let spec = Spec {
        probes: probes.into(),
        interval_ms: Ms::of(interval.max(Duration::from_millis(100))),
        timeout_ms: Ms::of(timeout.max(Duration::from_millis(10))),
        fall: retries + 1,
        rise: 1,
        // alpha: down until the first check passes.
        init_fail: alpha,
        retry_delay_ms: retry_delay.map(|d| Ms::of(d.max(Duration::from_millis(10)))),
        presume_up: !alpha,
        warmup_ms: Some(Ms::of(warmup)),
        // A key beyond 4 GiB cannot be configured; such a spec would only
        // lose its virtual and real server split.
        real_server_at: u32::try_from(REAL_SERVER.len() + vkey.len())
            .ok()
            .and_then(std::num::NonZeroU32::new),
        rare: Rare::boxed(Rare {
            settle: None,
            unsupported,
            log_failures,
        }),
    };
    (super::real_server_source(&vkey, &rkey), spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::keepalived_config;

    /// One probe is kept inline, more (or none) in a box; all read back
    /// as the list they came from, in order, and can be changed in place.
    #[test]
    fn probes_read_back_as_given() {
        let tcp = |port: u16| Probe::Tcp {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            bind: None,
        };
        for n in 0..3u16 {
            let given: Vec<Probe> = (0..n).map(tcp).collect();
            let mut probes = Probes::from(given.clone());
            assert_eq!(matches!(probes, Probes::One(_)), n == 1);
            assert_eq!(&probes[..], &given[..]);
            assert_eq!((&probes).into_iter().count(), usize::from(n));
            for p in &mut probes {
                *p = tcp(9);
            }
            assert!(probes.iter().all(|p| *p == tcp(9)));
        }
    }

    fn rs_named(text: &str) -> Vec<(String, Spec)> {
        from_config(&keepalived_config(text))
            .into_iter()
            .filter(|(n, s)| s.real_server(n).is_some())
            .collect()
    }

    fn rs_specs(text: &str) -> Vec<Spec> {
        rs_named(text).into_iter().map(|(_, s)| s).collect()
    }

    fn smtp(p: &Probe) -> (String, Option<String>, String) {
        match p {
            Probe::Smtp(s) => (
                s.addr.to_string(),
                s.bind.map(|b| b.to_string()),
                s.helo.clone(),
            ),
            other => panic!("{other:?}"),
        }
    }

    /// keepalived's check_smtp.c: without hosts the real server is
    /// checked; with hosts only they are, unless the check sets a
    /// connection keyword of its own; host keywords like `retry` are the
    /// check's.
    #[test]
    fn smtp_check_hosts_as_in_keepalived() {
        let s = rs_specs(
            "virtual_server 10.0.0.1 25 {\n protocol TCP\n real_server 10.0.0.2 25 {\n  SMTP_CHECK {\n  }\n }\n}\n",
        );
        assert_eq!(
            smtp(&s[0].probes[0]),
            (
                "10.0.0.2:25".into(),
                None,
                crate::checker::smtp::DEFAULT_HELO.into()
            )
        );
        let s = rs_specs(
            "virtual_server 10.0.0.1 25 {\n protocol TCP\n real_server 10.0.0.2 2525 {\n  SMTP_CHECK {\n   helo_name me.example\n   host {\n    connect_ip 10.0.0.3\n    retry 4\n   }\n   host {\n    connect_port 26\n    bindto 10.0.0.9\n    bind_port 4000\n    connect_timeout 9\n   }\n  }\n }\n}\n",
        );
        let got: Vec<_> = s[0].probes.iter().map(smtp).collect();
        assert_eq!(
            got,
            [
                ("10.0.0.3:2525".into(), None, "me.example".into()),
                (
                    "10.0.0.2:26".into(),
                    Some("10.0.0.9:4000".into()),
                    "me.example".into()
                ),
            ]
        );
        assert_eq!(s[0].fall, 5, "host retry is the check's");
        assert_eq!(s[0].timeout(), Duration::from_secs(9));
        // A connection keyword of its own: the check's address too.
        let s = rs_specs(
            "virtual_server 10.0.0.1 25 {\n protocol TCP\n real_server 10.0.0.2 25 {\n  SMTP_CHECK {\n   connect_timeout 2\n   host {\n    connect_ip 10.0.0.3\n   }\n  }\n }\n}\n",
        );
        let got: Vec<_> = s[0].probes.iter().map(|p| smtp(p).0).collect();
        assert_eq!(got, ["10.0.0.2:25", "10.0.0.3:25"]);
    }

    /// Issue 18: a real server's check names its server from its source
    /// (no copies of the two keys), whatever the keys hold; without
    /// log_all_failures its spec has no per-probe list at all.
    #[test]
    fn a_real_servers_spec_names_it_from_its_source() {
        let s = rs_named(
            "virtual_server 2001:db8::1 53 {\n protocol UDP\n real_server 2001:db8::2 53 {\n  TCP_CHECK {\n  }\n }\n}\nvirtual_server_group G/1 {\n 10.0.0.1 80\n}\nvirtual_server group G/1 {\n protocol TCP\n real_server 10.0.0.2 8080 {\n  TCP_CHECK {\n  }\n }\n}\n",
        );
        let names: Vec<_> = s.iter().map(|(n, s)| s.real_server(n).unwrap()).collect();
        assert_eq!(
            names,
            [
                ("[2001:db8::1]:53/udp", "[2001:db8::2]:53"),
                ("group:G/1", "10.0.0.2:8080")
            ]
        );
        // Nothing rare set: no box for it.
        assert!(s.iter().all(|(_, s)| s.rare.is_none()));
    }

    /// Regression: a FILE_CHECK's probe took log_all_failures from the
    /// checker written after it.
    #[test]
    fn log_all_failures_stays_with_its_checker() {
        let s = rs_specs(
            "track_file tf {\n file /run/x\n}\nvirtual_server 10.0.0.1 80 {\n protocol TCP\n real_server 10.0.0.2 80 {\n  FILE_CHECK {\n   track_file tf\n  }\n  TCP_CHECK {\n   log_all_failures\n  }\n }\n}\n",
        );
        assert_eq!(s[0].probes.len(), 2);
        assert!(!s[0].log_failure(0) && s[0].log_failure(1));
        assert!(!s[0].log_failure(2), "no such probe");
        let flags = s[0].rare.as_ref().map(|r| &r.log_failures);
        assert_eq!(flags, Some(&vec![false, true]));
        assert_eq!(flags.map(Vec::capacity), Some(2), "no spare room");
    }

    /// FILE_CHECK takes the track file's weight unless it sets its own;
    /// alone it polls like the track files, without retries or alpha.
    #[test]
    fn file_check_weight_and_schedule() {
        let conf = |inner: &str| {
            format!(
                "track_file tf {{\n file /run/x\n weight 3 reverse\n}}\nvirtual_server 10.0.0.1 80 {{\n protocol TCP\n alpha\n retry 5\n real_server 10.0.0.2 80 {{\n  FILE_CHECK {{\n   track_file tf\n{inner}  }}\n }}\n}}\n"
            )
        };
        let s = rs_specs(&conf(""));
        let Probe::TrackFile(f) = &s[0].probes[0] else {
            panic!("{:?}", s[0].probes)
        };
        assert_eq!((f.path.as_str(), f.weight, f.reverse), ("/run/x", 3, true));
        assert_eq!(s[0].interval(), TRACK_FILE_POLL);
        assert_eq!((s[0].fall, s[0].init_fail), (1, false));
        let s = rs_specs(&conf("   weight 0\n"));
        let Probe::TrackFile(f) = &s[0].probes[0] else {
            panic!("{:?}", s[0].probes)
        };
        assert_eq!((f.weight, f.reverse), (0, false));
    }

    /// Issue 18: a duration reads back as its whole milliseconds, the
    /// largest saturate, and an `Option<Ms>` takes no more than an `Ms`.
    #[test]
    fn milliseconds_read_back_and_saturate() {
        let ms = Duration::from_millis;
        for (given, back) in [
            (Duration::ZERO, ms(0)),
            (Duration::from_micros(1500), ms(1)),
            (ms(1000), ms(1000)),
            (ms(11 * 86_400_000), ms(11 * 86_400_000)),
            (ms(u64::from(u32::MAX) - 1), ms(u64::from(u32::MAX) - 1)),
            (ms(u64::from(u32::MAX)), ms(u64::from(u32::MAX) - 1)),
            (Duration::MAX, ms(u64::from(u32::MAX) - 1)),
        ] {
            assert_eq!(Ms::of(given).get(), back, "{given:?}");
        }
        assert_eq!(std::mem::size_of::<Option<Ms>>(), 4);
    }
}
