//! The checks a configuration asks for, ready to schedule.

use std::net::SocketAddr;
use std::time::Duration;

use std::sync::Arc;

use super::plugin::PluginProbe;
use super::plugin::grants::Grants;
use super::probe::{Probe, Tls};
use super::udp;
use crate::config::model::{CheckKind, Config, DnsType, ParamMatch, RealServer, VirtualServer};
use crate::config::scripts::{Kind, Plan};
use crate::exec::split_command;
use crate::ipvs::table::{rs_key, vs_key};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    /// The name results travel under (`script:NAME`, `real_server:VS/RS`, ...).
    pub source: String,
    /// All must pass.
    pub probes: Vec<Probe>,
    pub interval: Duration,
    pub timeout: Duration,
    pub fall: u32,
    pub rise: u32,
    pub init_fail: bool,
    /// Real servers (keepalived's `retry` / `delay_before_retry`): a failure
    /// while up is retried after this delay, `fall - 1` times, before the
    /// server is down; a down server is checked every `interval`.
    pub retry_delay: Option<Duration>,
    /// Up until `fall` failures, before any result (a real server without
    /// `alpha`).
    pub presume_up: bool,
    /// keepalived's `warmup`: the first run comes within this delay (else
    /// spread over one interval).
    pub warmup: Option<Duration>,
    /// For real-server checks: (virtual server key, real server key).
    pub real_server: Option<(String, String)>,
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

impl Spec {
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
            match plan.prepare_words(argv.clone(), Some(u), Kind::Check) {
                Some(prepared) => {
                    *argv = prepared.argv;
                    *account = Some(prepared.account);
                }
                None => {
                    self.unsupported = Some(format!(
                        "cannot run as user {}: unknown account or refused script",
                        u.user
                    ));
                }
            }
        }
    }
}

/// The checks the checker runs.
pub fn for_checker(cfg: &Config) -> Vec<Spec> {
    from_config(cfg)
        .into_iter()
        .filter(|s| !s.by_parent())
        .collect()
}

/// The checks the parent runs, ready (accounts resolved by `plan`).
pub fn for_parent(cfg: &Config, plan: &Plan) -> Vec<Spec> {
    from_config(cfg)
        .into_iter()
        .filter(Spec::by_parent)
        .map(|mut s| {
            s.prepare(plan);
            s
        })
        .collect()
}

fn ms(m: crate::config::values::Millis) -> Duration {
    Duration::from_millis(m.as_millis())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settle {
    pub up: Duration,
    pub down: Duration,
}

pub fn from_config(cfg: &Config) -> Vec<Spec> {
    let mut out = Vec::new();
    for s in &cfg.vrrp_scripts {
        let interval = ms(s.interval).max(Duration::from_millis(10));
        out.push(Spec {
            source: format!("script:{}", s.name),
            probes: vec![match &s.plugin {
                Some(p) => Probe::Plugin(PluginProbe {
                    name: s.name.clone(),
                    file: p.file.clone().into(),
                    args: p.args.clone(),
                    memory_mib: p.memory_mib,
                    grants: Arc::new(Grants::from_config(&p.allow)),
                    real_server: None,
                }),
                None => Probe::Script {
                    argv: split_command(&s.script),
                    user: s.user.clone(),
                    account: None,
                },
            }],
            interval,
            timeout: s.timeout.map_or(interval, ms),
            fall: s.fall,
            rise: s.rise,
            init_fail: s.init_fail,
            retry_delay: None,
            presume_up: false,
            warmup: None,
            real_server: None,
            unsupported: None,
            settle: None,
            log_failures: Vec::new(),
        });
    }
    for p in &cfg.track_processes {
        let up = p.fork_delay.or(p.delay).map_or(Duration::ZERO, ms);
        let down = p.terminate_delay.or(p.delay).map_or(Duration::ZERO, ms);
        out.push(Spec {
            source: format!("process:{}", p.name),
            probes: vec![Probe::Process {
                name: p.process.clone(),
                args: p.args.clone(),
                partial: p.param_match == Some(ParamMatch::Partial),
                initial: p.param_match == Some(ParamMatch::Initial),
                min: p.quorum,
                max: p.quorum_max,
            }],
            // Exits wake the check at once (pidfd); the scan finds new ones.
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(2),
            fall: 1,
            rise: 1,
            init_fail: false,
            retry_delay: None,
            presume_up: false,
            warmup: None,
            real_server: None,
            unsupported: None,
            settle: ((up, down) != (Duration::ZERO, Duration::ZERO)).then_some(Settle { up, down }),
            log_failures: Vec::new(),
        });
    }
    for f in &cfg.track_files {
        out.push(Spec {
            source: format!("file:{}", f.name),
            probes: vec![Probe::File {
                path: f.file.clone(),
            }],
            interval: Duration::from_millis(500),
            timeout: Duration::from_secs(1),
            fall: 1,
            rise: 1,
            init_fail: false,
            retry_delay: None,
            presume_up: false,
            warmup: None,
            real_server: None,
            unsupported: None,
            settle: None,
            log_failures: Vec::new(),
        });
    }
    for vs in &cfg.virtual_servers {
        for rs in vs.real_servers.iter().filter(|r| !r.checkers.is_empty()) {
            out.push(real_server(vs, rs, cfg.global.checker_log_all_failures));
        }
    }
    out
}

fn real_server(vs: &VirtualServer, rs: &RealServer, log_all_failures: bool) -> Spec {
    let vkey = vs_key(vs);
    let rkey = rs_key(rs.ip, rs.port.or(vs.port));
    let mut probes = Vec::new();
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
    let mut log_failures = Vec::new();
    for c in &rs.checkers {
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
            .bindto
            .map(|ip| SocketAddr::new(ip, c.bind_port.unwrap_or(0)));
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
            CheckKind::TcpCheck => probes.push(Probe::Tcp { addr, bind }),
            CheckKind::PingCheck => probes.push(Probe::Ping {
                addr: addr.ip(),
                bind: bind.map(|b| b.ip()),
            }),
            CheckKind::UdpCheck => {
                // Validation has read the hex; unreadable here is empty.
                let payload = c
                    .payload
                    .as_deref()
                    .and_then(|h| udp::parse_hex(h, false))
                    .map_or_else(|| vec![0; udp::DEFAULT_PAYLOAD_LEN], |p| p.data);
                probes.push(Probe::Udp(udp::UdpCheck {
                    addr,
                    bind,
                    payload,
                    require_reply: c.require_reply,
                    reply: c.reply.as_deref().and_then(|h| udp::parse_hex(h, true)),
                    min_reply_length: c.min_reply_length.unwrap_or(0),
                    max_reply_length: c.max_reply_length.unwrap_or(u16::from(u8::MAX)),
                }));
            }
            CheckKind::DnsCheck => probes.push(Probe::Dns {
                addr,
                bind,
                name: c.dns_name.clone().unwrap_or_default(),
                dns_type: c.dns_type.unwrap_or(DnsType::Soa),
            }),
            CheckKind::HttpGet | CheckKind::SslGet => {
                for u in &c.url {
                    let host = u.virtualhost.clone().or_else(|| set.virtualhost.clone());
                    let tls = (c.kind == CheckKind::SslGet).then(|| Tls {
                        sni: host.clone().filter(|_| c.enable_sni),
                    });
                    probes.push(Probe::Http {
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
                    });
                }
            }
            CheckKind::Plugin => {
                if let Some(p) = &c.plugin {
                    probes.push(Probe::Plugin(PluginProbe {
                        name: format!("{vkey}/{rkey}"),
                        file: p.file.clone().into(),
                        args: p.args_for_real_server(addr),
                        memory_mib: p.memory_mib,
                        grants: Arc::new(Grants::from_config(&p.allow.for_real_server(addr))),
                        real_server: Some(addr),
                    }));
                }
            }
            CheckKind::MiscCheck => {
                timeout = timeout.max(ms(set.misc_timeout));
                let path = c.misc_path.clone().unwrap_or_default();
                probes.push(Probe::Script {
                    argv: split_command(&path),
                    user: c.user.clone(),
                    account: None,
                });
            }
        }
        // This checker's probes (one per url for HTTP_GET).
        log_failures.resize(probes.len(), log_all_failures || c.log_all_failures);
    }
    let interval = interval.unwrap_or(ms(vs.delay_loop));
    Spec {
        source: format!("real_server:{vkey}/{rkey}"),
        probes,
        interval: interval.max(Duration::from_millis(100)),
        timeout: timeout.max(Duration::from_millis(10)),
        fall: retries + 1,
        rise: 1,
        // alpha: down until the first check passes.
        init_fail: alpha,
        retry_delay: retry_delay.map(|d| d.max(Duration::from_millis(10))),
        presume_up: !alpha,
        warmup: Some(warmup),
        real_server: Some((vkey, rkey)),
        unsupported,
        settle: None,
        log_failures,
    }
}
