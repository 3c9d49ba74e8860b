//! keepalived.conf LVS blocks: `virtual_server_group`, `virtual_server`,
//! `real_server` and their health checkers.

use super::cx::Cx;
use super::keywords::{self as kw, Context};
use super::tree::Node;
use crate::config::diag::Src;
use crate::config::model::{
    CheckKind, DnsType, Endpoint, HttpUrl, LbAlgo, LbKind, LvsSyncDaemon, Protocol, RealServer,
    RealServerCheck, SmtpHost, TunnelCsum, TunnelEncap, VirtualServer, VirtualServerGroup,
};
use crate::config::values::StatusRange;
use crate::config::values::VsgEntry;

impl Cx<'_> {
    pub fn virtual_server_group(
        &mut self,
        name: String,
        n: &Node,
        nodes: &[Node],
    ) -> VirtualServerGroup {
        let mut g = VirtualServerGroup {
            name,
            members: Vec::new(),
            src: Src::new(n.word.loc.clone()),
        };
        for e in nodes {
            if e.block.is_some() {
                self.diags.error(
                    Some(&e.word.loc),
                    format!("unexpected block in virtual_server_group {}", g.name),
                );
                continue;
            }
            match VsgEntry::parse_words(&e.all_words()) {
                Ok(m) => {
                    g.src
                        .set(format!("members.{}", g.members.len()), &e.word.loc);
                    g.members.push(m);
                }
                Err(msg) => self.diags.error(
                    Some(&e.word.loc),
                    format!("in virtual_server_group {}: {msg}", g.name),
                ),
            }
        }
        g
    }

    /// `virtual_server IP PORT | fwmark N | group NAME { ... }`.
    pub fn virtual_server(&mut self, n: &Node, nodes: &[Node]) -> VirtualServer {
        let mut vs = VirtualServer::new();
        vs.src = Src::new(n.word.loc.clone());
        match n.args.as_slice() {
            [f, mark] if f.text == "fwmark" => {
                vs.fwmark = self.parse_token(n, mark, "a firewall mark number")
            }
            [g, name] if g.text == "group" => vs.group = Some(name.text.clone()),
            [ip, port] => {
                vs.ip = self.parse_token(n, ip, "an IPv4 or IPv6 address");
                vs.port = self.port(n, port);
            }
            [ip] => vs.ip = self.parse_token(n, ip, "an IPv4 or IPv6 address"),
            _ => self.diags.error(
                Some(&n.word.loc),
                "'virtual_server' expects 'IP PORT', 'fwmark N' or 'group NAME'",
            ),
        }
        let place = format!("in virtual_server {}", vs.label());
        let mut weight: Option<u32> = None;
        let mut protocol_set = false;
        let mut vs_tunnel: Option<Tunnel> = None;
        for n in nodes {
            let k = n.word.text.as_str();
            let handled = match k {
                "delay_loop" => {
                    vs.delay_loop = self.secs(n).unwrap_or(vs.delay_loop);
                    true
                }
                "retry" => {
                    vs.retry = self.retry_at_server(n);
                    true
                }
                "delay_before_retry" => {
                    vs.delay_before_retry = self.secs(n);
                    true
                }
                "warmup" => {
                    vs.warmup = self.secs(n);
                    true
                }
                "connect_timeout" => {
                    vs.connect_timeout = self.secs(n);
                    true
                }
                "weight" => {
                    // keepalived: the weight of real servers that set none, 1-65535.
                    weight = self.number(n).and_then(|w| self.in_range(n, w, 1, 65535));
                    true
                }
                "lb_algo" | "lvs_sched" => {
                    vs.lb_algo = self.choice(n, &LbAlgo::ALL).unwrap_or(vs.lb_algo);
                    true
                }
                "lb_kind" | "lvs_method" => {
                    if let Some((kind, tun)) = self.forwarding(n) {
                        vs.lb_kind = kind;
                        vs_tunnel = tun;
                    }
                    true
                }
                "protocol" => {
                    vs.protocol = self.choice(n, &Protocol::ALL).unwrap_or(vs.protocol);
                    protocol_set = true;
                    true
                }
                "persistence_timeout" => {
                    // keepalived: no value means 360 s.
                    vs.persistence_timeout = if n.args.is_empty() && n.block.is_none() {
                        Some(360)
                    } else {
                        self.number(n)
                    };
                    true
                }
                "persistence_granularity" => {
                    vs.persistence_granularity = self.ip(n);
                    true
                }
                "virtualhost" => {
                    vs.virtualhost = self.arg1(n, "a host name").map(|t| t.text.clone());
                    true
                }
                "sorry_server" => {
                    vs.sorry_server = self.endpoint(n);
                    true
                }
                "sorry_server_inhibit" => {
                    vs.sorry_server_inhibit = self.flag(n);
                    true
                }
                "quorum" => {
                    vs.quorum = self.number(n).unwrap_or(vs.quorum);
                    true
                }
                "hysteresis" => {
                    vs.hysteresis = self.number(n).unwrap_or(vs.hysteresis);
                    true
                }
                "quorum_up" => {
                    vs.quorum_up = self.script(n);
                    true
                }
                "quorum_down" => {
                    vs.quorum_down = self.script(n);
                    true
                }
                "alpha" => {
                    vs.alpha = self.flag(n);
                    true
                }
                "omega" => {
                    vs.omega = self.flag(n);
                    true
                }
                "inhibit_on_failure" => {
                    vs.inhibit_on_failure = self.flag(n);
                    true
                }
                "ha_suspend" => {
                    vs.ha_suspend = self.flag(n);
                    true
                }
                "ops" => {
                    vs.ops = self.flag(n);
                    true
                }
                "sh-fallback" | "mh-fallback" | "flag-1" => {
                    vs.sched_fallback = self.flag(n);
                    true
                }
                "sh-port" | "mh-port" | "flag-2" => {
                    vs.sched_port = self.flag(n);
                    true
                }
                "flag-3" => {
                    vs.sched_flag3 = self.flag(n);
                    true
                }
                "persistence_engine" => {
                    vs.persistence_engine = self.arg1(n, "an engine name").map(|t| t.text.clone());
                    true
                }
                "sorry_server_lvs_method" => {
                    vs.sorry_server_lvs_method = self.choice(n, &LbKind::ALL);
                    true
                }
                "real_server" => {
                    if let (Some(ep), Some(block)) = (self.endpoint_args(n), self.block(n)) {
                        let rs = self.real_server(ep, n, block);
                        vs.src.set(
                            format!("real_server.{}", vs.real_servers.len()),
                            &n.word.loc,
                        );
                        vs.real_servers.push(rs);
                    }
                    true
                }
                "smtp_alert" => {
                    vs.smtp_alert = self.switch(n);
                    true
                }
                _ => false,
            };
            if handled {
                vs.src.set(k, &n.word.loc);
            } else {
                self.unknown(&kw::VIRTUAL_SERVER, &place, n);
            }
        }
        // keepalived: a real server without its own method takes the
        // virtual server's, tunnel options included.
        // keepalived (check_data.c): an address or group virtual server
        // without `protocol` is UDP, with a warning; a firewall mark has none.
        if !protocol_set && vs.fwmark.is_none() {
            vs.protocol = Protocol::Udp;
            self.diags.warning(
                Some(&n.word.loc),
                format!(
                    "virtual_server {}: no protocol set, defaulting to UDP as keepalived does (write 'protocol TCP' for a TCP service)",
                    vs.label()
                ),
            );
        }
        if let Some(t) = vs_tunnel {
            for rs in vs
                .real_servers
                .iter_mut()
                .filter(|rs| rs.more.lb_kind.is_none())
            {
                t.apply(rs);
            }
        }
        if let Some(w) = weight.and_then(|w| i32::try_from(w).ok()) {
            for rs in vs
                .real_servers
                .iter_mut()
                .filter(|rs| rs.src.written("weight").is_none())
            {
                rs.weight = w;
            }
        }
        vs
    }

    /// keepalived's `lvs_method NAT|DR|TUN [type ipip|gue|gre] [port N]
    /// [nocsum|csum|remcsum]` (check_parser.c svr_forwarding_handler):
    /// the method, and for TUN with options, the tunnel.
    fn forwarding(&mut self, n: &Node) -> Option<(LbKind, Option<Tunnel>)> {
        if !self.no_block(n) {
            return None;
        }
        let Some(first) = n.args.first() else {
            self.diags.error(
                Some(&n.word.loc),
                format!("'{}' expects NAT, DR or TUN", n.word.text),
            );
            return None;
        };
        let Some(kind) = LbKind::ALL
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(&first.text))
            .map(|(_, k)| *k)
        else {
            self.diags.error(
                Some(&first.loc),
                format!(
                    "invalid value '{}' for '{}': expected one of NAT, DR, TUN{}",
                    first.text,
                    n.word.text,
                    crate::config::diag::suggestion(
                        &first.text,
                        LbKind::ALL.iter().map(|(name, _)| *name)
                    )
                ),
            );
            return None;
        };
        let rest = &n.args[1..];
        if rest.is_empty() {
            return Some((kind, None));
        }
        if kind != LbKind::Tun {
            self.diags.error(
                Some(&rest[0].loc),
                format!(
                    "'{}': options after {} are for TUN only",
                    n.word.text, first.text
                ),
            );
            return None;
        }
        let mut t = Tunnel {
            encap: TunnelEncap::Ipip,
            port: None,
            csum: None,
        };
        let mut words = rest.iter();
        while let Some(w) = words.next() {
            let value =
                |words: &mut std::slice::Iter<'_, super::lexer::Token>| words.next().cloned();
            match w.text.as_str() {
                "type" => {
                    let v = value(&mut words);
                    match v
                        .as_ref()
                        .and_then(|v| TunnelEncap::ALL.iter().find(|(name, _)| *name == v.text))
                    {
                        Some((_, e)) => t.encap = *e,
                        None => {
                            self.diags.error(
                                Some(&w.loc),
                                format!("'{}': 'type' expects ipip, gue or gre", n.word.text),
                            );
                            return None;
                        }
                    }
                }
                "port" => {
                    let v = value(&mut words);
                    match v
                        .as_ref()
                        .and_then(|v| v.text.parse::<u16>().ok())
                        .filter(|p| *p > 0)
                    {
                        Some(p) => t.port = Some(p),
                        None => {
                            self.diags.error(
                                Some(&w.loc),
                                format!("'{}': 'port' expects a port 1-65535", n.word.text),
                            );
                            return None;
                        }
                    }
                }
                "nocsum" => t.csum = Some(TunnelCsum::Nocsum),
                "csum" => t.csum = Some(TunnelCsum::Csum),
                "remcsum" => t.csum = Some(TunnelCsum::Remcsum),
                other => {
                    self.diags.error(
                        Some(&w.loc),
                        format!(
                            "'{}': unknown tunnel option '{other}' (type, port, nocsum, csum, remcsum)",
                            n.word.text
                        ),
                    );
                    return None;
                }
            }
        }
        // keepalived's own checks; the rest is validation's (as for tunnel_*).
        if (t.encap == TunnelEncap::Gue) != t.port.is_some() {
            self.diags.error(
                Some(&n.word.loc),
                format!(
                    "'{}': gue tunnels need 'port', other tunnels take none",
                    n.word.text
                ),
            );
            return None;
        }
        Some((kind, Some(t)))
    }

    /// `retry N` at virtual or real server level (keepalived: 1 or more).
    fn retry_at_server(&mut self, n: &Node) -> Option<u32> {
        let r = self.number(n)?;
        self.in_range(n, r, 1, u32::MAX)
    }

    fn in_range(&mut self, n: &Node, v: u32, lo: u32, hi: u32) -> Option<u32> {
        if (lo..=hi).contains(&v) {
            return Some(v);
        }
        self.diags.error(
            Some(&n.word.loc),
            format!("'{}' {v} is out of range: expected {lo}-{hi}", n.word.text),
        );
        None
    }

    fn endpoint(&mut self, n: &Node) -> Option<Endpoint> {
        if !self.no_block(n) {
            return None;
        }
        self.endpoint_args(n)
    }

    /// `IP [PORT]` as a keyword's arguments.
    fn endpoint_args(&mut self, n: &Node) -> Option<Endpoint> {
        match n.args.as_slice() {
            [ip] => Some(Endpoint {
                ip: self.parse_token(n, ip, "an IPv4 or IPv6 address")?,
                port: None,
            }),
            [ip, port] => {
                let ip = self.parse_token(n, ip, "an IPv4 or IPv6 address");
                let port = self.port(n, port);
                Some(Endpoint {
                    ip: ip?,
                    port: Some(port?),
                })
            }
            _ => {
                self.diags.error(
                    Some(&n.word.loc),
                    format!("'{}' expects 'IP [PORT]'", n.word.text),
                );
                None
            }
        }
    }

    fn real_server(&mut self, ep: Endpoint, n: &Node, nodes: &[Node]) -> RealServer {
        let mut rs = RealServer::new(ep.ip, ep.port);
        rs.src = Src::new(n.word.loc.clone());
        let place = format!("in real_server {}", ep.ip);
        for n in nodes {
            let k = n.word.text.as_str();
            let kind = match k {
                "HTTP_GET" => Some(CheckKind::HttpGet),
                "SSL_GET" => Some(CheckKind::SslGet),
                "TCP_CHECK" => Some(CheckKind::TcpCheck),
                "MISC_CHECK" => Some(CheckKind::MiscCheck),
                "SMTP_CHECK" => Some(CheckKind::SmtpCheck),
                "FILE_CHECK" => Some(CheckKind::FileCheck),
                "PING_CHECK" => Some(CheckKind::PingCheck),
                "UDP_CHECK" => Some(CheckKind::UdpCheck),
                "DNS_CHECK" => Some(CheckKind::DnsCheck),
                "UPKEEP_PLUGIN" => Some(CheckKind::Plugin),
                _ => None,
            };
            let handled = match (k, kind) {
                (_, Some(kind)) => {
                    if let Some(block) = self.block(n) {
                        let c = self.checker(kind, n, block);
                        rs.src
                            .set(format!("checker.{}", rs.checkers.len()), &n.word.loc);
                        rs.checkers.push(c);
                    }
                    true
                }
                ("weight", _) => {
                    rs.weight = self.int(n).unwrap_or(rs.weight);
                    true
                }
                ("inhibit_on_failure", _) => {
                    rs.more.inhibit_on_failure = self.switch(n);
                    true
                }
                ("alpha", _) => {
                    rs.more.alpha = self.switch(n);
                    true
                }
                ("delay_loop", _) => {
                    rs.more.delay_loop = self.secs(n);
                    true
                }
                ("retry", _) => {
                    rs.more.retry = self.retry_at_server(n);
                    true
                }
                ("delay_before_retry", _) => {
                    rs.more.delay_before_retry = self.secs(n);
                    true
                }
                ("warmup", _) => {
                    rs.more.warmup = self.secs(n);
                    true
                }
                ("connect_timeout", _) => {
                    rs.more.connect_timeout = self.secs(n);
                    true
                }
                ("virtualhost", _) => {
                    rs.more.virtualhost = self.arg1(n, "a host name").map(|t| t.text.clone());
                    true
                }
                ("notify_up", _) => {
                    rs.more.notify_up = self.script(n).map(Box::new);
                    true
                }
                ("notify_down", _) => {
                    rs.more.notify_down = self.script(n).map(Box::new);
                    true
                }
                ("uthreshold", _) => {
                    rs.more.uthreshold = self.number(n);
                    true
                }
                ("lthreshold", _) => {
                    rs.more.lthreshold = self.number(n);
                    true
                }
                ("lvs_method", _) => {
                    if let Some((kind, tun)) = self.forwarding(n) {
                        rs.more.lb_kind = Some(kind);
                        if let Some(t) = tun {
                            t.apply(&mut rs);
                        }
                    }
                    true
                }
                ("tunnel_encap", _) => {
                    rs.more.tunnel_encap = self.choice(n, &TunnelEncap::ALL);
                    true
                }
                ("tunnel_dport", _) => {
                    rs.more.tunnel_dport = self
                        .arg1(n, "a port number 0-65535")
                        .and_then(|t| self.port(n, t));
                    true
                }
                ("tunnel_nocsum" | "tunnel_csum" | "tunnel_remcsum", _) => {
                    if self.flag(n) {
                        rs.more.tunnel_csum = Some(match k {
                            "tunnel_csum" => TunnelCsum::Csum,
                            "tunnel_remcsum" => TunnelCsum::Remcsum,
                            _ => TunnelCsum::Nocsum,
                        });
                    }
                    true
                }
                ("smtp_alert", _) => {
                    rs.more.smtp_alert = self.switch(n);
                    true
                }
                _ => false,
            };
            if handled {
                rs.src.set(k, &n.word.loc);
            } else {
                self.unknown(&kw::REAL_SERVER, &place, n);
            }
        }
        rs
    }

    fn checker(&mut self, kind: CheckKind, n: &Node, nodes: &[Node]) -> RealServerCheck {
        let mut c = RealServerCheck::new(kind);
        c.src = Src::new(n.word.loc.clone());
        let ctx: &Context = match kind {
            CheckKind::HttpGet | CheckKind::SslGet => &kw::HTTP_CHECK,
            CheckKind::TcpCheck => &kw::TCP_CHECK,
            CheckKind::MiscCheck => &kw::MISC_CHECK,
            CheckKind::SmtpCheck => &kw::SMTP_CHECK,
            CheckKind::FileCheck => &kw::FILE_CHECK,
            CheckKind::PingCheck => &kw::PING_CHECK,
            CheckKind::UdpCheck => &kw::UDP_CHECK,
            CheckKind::DnsCheck => &kw::DNS_CHECK,
            CheckKind::Plugin => &kw::PLUGIN_CHECK,
        };
        let place = format!("in {}", kind.name());
        for n in nodes {
            let k = n.word.text.as_str();
            // Keywords outside this kind's list fall through to `unknown`.
            let handled = ctx.supported.contains(&k)
                && (self.connection_keyword(n, Connection::of_check(&mut c))
                    || self.schedule_keyword(n, &mut c)
                    || match k {
                        "url" => {
                            if let Some(block) = self.block(n) {
                                let u = self.url(block);
                                c.src.set(format!("url.{}", c.ext.url.len()), &n.word.loc);
                                c.ext.url.push(u);
                            }
                            true
                        }
                        "virtualhost" => {
                            c.ext.virtualhost = self.arg1(n, "a host name").map(|t| t.text.clone());
                            true
                        }
                        "enable_sni" => {
                            c.ext.enable_sni = self.flag(n);
                            true
                        }
                        "misc_path" => {
                            c.ext.misc_path = self.command(n);
                            true
                        }
                        "misc_timeout" => {
                            c.ext.misc_timeout = self.secs(n);
                            true
                        }
                        "user" => {
                            c.ext.user = self.user(n).map(Box::new);
                            true
                        }
                        "payload" => {
                            c.ext.payload = self.hex_words(n);
                            true
                        }
                        "require_reply" => {
                            // The words after it, when any, are the reply
                            // expected (keepalived's require_reply_handler).
                            if self.no_block(n) {
                                c.ext.require_reply = true;
                                if !n.args.is_empty() {
                                    c.ext.reply = self.hex_words(n);
                                    c.src.set("reply", &n.word.loc);
                                }
                            }
                            true
                        }
                        "min_reply_length" => {
                            c.ext.min_reply_length = self.parse(n, "a length 0-65535");
                            true
                        }
                        "max_reply_length" => {
                            c.ext.max_reply_length = self.parse(n, "a length 0-65535");
                            true
                        }
                        "type" => {
                            c.ext.dns_type = self.choice(n, &DnsType::ALL.map(|t| (t.name(), t)));
                            c.src.set("dns_type", &n.word.loc);
                            true
                        }
                        "name" => {
                            if c.ext.dns_name.is_some() {
                                self.diags.error(
                                    Some(&n.word.loc),
                                    format!("'name' given twice {place}"),
                                );
                            } else {
                                c.ext.dns_name = self.arg1(n, "a DNS name").map(|t| t.text.clone());
                                c.src.set("dns_name", &n.word.loc);
                            }
                            true
                        }
                        // UPKEEP_PLUGIN: the vrrp_script plugin's keywords.
                        "file" | "arg" | "allow" | "memory" => {
                            self.plugin_keyword(n, k, &mut c.ext.plugin, &mut c.src)
                        }
                        "helo_name" => {
                            c.ext.helo_name = self.arg1(n, "a host name").map(|t| t.text.clone());
                            true
                        }
                        "host" => {
                            if let Some(block) = self.block(n) {
                                let h = self.smtp_host(&mut c, n, block);
                                c.src.set(format!("host.{}", c.ext.host.len()), &n.word.loc);
                                c.ext.host.push(h);
                            }
                            true
                        }
                        "track_file" => {
                            c.ext.track_file =
                                self.arg1(n, "a track_file name").map(|t| t.text.clone());
                            true
                        }
                        "weight" if kind == CheckKind::FileCheck => {
                            if let Some((w, rev)) = self.file_check_weight(n) {
                                c.ext.weight = Some(w);
                                c.ext.weight_reverse = rev;
                            }
                            true
                        }
                        _ => false,
                    });
            if handled {
                c.src.set(k, &n.word.loc);
            } else {
                self.unknown(ctx, &place, n);
            }
        }
        if c.ext.bind_port.is_some() && c.ext.bindto.is_none() {
            // keepalived keeps the port in a source address of no family
            // and never binds it.
            self.diags.warning(
                c.src.written("bind_port"),
                format!(
                    "'bind_port' without 'bindto' {place} has no effect (as in keepalived): add 'bindto ADDRESS'"
                ),
            );
        }
        c
    }

    /// UDP_CHECK's `payload HEX...` / `require_reply HEX...`: the words
    /// after the keyword joined by spaces, as keepalived's make_strvec_str
    /// (validation reads the hex).
    fn hex_words(&mut self, n: &Node) -> Option<String> {
        if !self.no_block(n) {
            return None;
        }
        if n.args.is_empty() {
            self.diags.error(
                Some(&n.word.loc),
                format!(
                    "'{}' needs a value: hex digits, as in '01 0a ff'",
                    n.word.text
                ),
            );
            return None;
        }
        Some(
            n.args
                .iter()
                .map(|t| t.text.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        )
    }

    /// keepalived's connection keywords, common to every checker and to an
    /// SMTP_CHECK `host`; false: not one of them.
    fn connection_keyword(&mut self, n: &Node, mut to: Connection<'_>) -> bool {
        match n.word.text.as_str() {
            "connect_ip" => *to.ip = self.ip(n),
            "connect_port" => {
                *to.port = self
                    .arg1(n, "a port number 0-65535")
                    .and_then(|t| self.port(n, t));
            }
            "bindto" => *to.bind.ip() = self.ip(n),
            "bind_port" => {
                *to.bind.port() = self
                    .arg1(n, "a port number 0-65535")
                    .and_then(|t| self.port(n, t));
            }
            "connect_timeout" => *to.timeout = self.secs(n),
            _ => return false,
        }
        true
    }

    /// keepalived's scheduling keywords, common to every checker; in an
    /// SMTP_CHECK `host` they set the check's, as there. False: not one.
    fn schedule_keyword(&mut self, n: &Node, c: &mut RealServerCheck) -> bool {
        match n.word.text.as_str() {
            // nb_get_retry: HTTP_GET/SSL_GET's old name (their lists only).
            "retry" | "nb_get_retry" => c.retry = self.number(n),
            "delay_before_retry" => c.delay_before_retry = self.secs(n),
            "warmup" => c.ext.warmup = self.secs(n),
            "delay_loop" => c.ext.delay_loop = self.secs(n),
            "alpha" => c.ext.alpha = self.switch(n),
            "log_all_failures" => {
                c.ext.log_all_failures = self.switch(n).unwrap_or(c.ext.log_all_failures);
            }
            _ => return false,
        }
        true
    }

    /// An SMTP_CHECK `host` block: its connection keywords make the host;
    /// the others set the SMTP_CHECK's own (as keepalived, where they
    /// set the one checker the hosts are copied from).
    fn smtp_host(&mut self, c: &mut RealServerCheck, at: &Node, nodes: &[Node]) -> SmtpHost {
        let mut h = SmtpHost {
            src: Src::new(at.word.loc.clone()),
            ..SmtpHost::default()
        };
        let place = "in SMTP_CHECK host";
        for n in nodes {
            let k = n.word.text.as_str();
            let handled = kw::SMTP_HOST.supported.contains(&k)
                && (self.connection_keyword(n, Connection::of_host(&mut h))
                    || self.schedule_keyword(n, c));
            if handled {
                h.src.set(k, &n.word.loc);
            } else {
                self.unknown(&kw::SMTP_HOST, place, n);
            }
        }
        h
    }

    /// FILE_CHECK `weight W [reverse|noreverse]`, W within IPVS's weights
    /// (keepalived: -2147483647..2147483647).
    fn file_check_weight(&mut self, n: &Node) -> Option<(i32, bool)> {
        if !self.no_block(n) {
            return None;
        }
        let words = n.arg_words();
        let (num, reverse) = match words.as_slice() {
            [w] | [w, "noreverse"] => (*w, false),
            [w, "reverse"] => (*w, true),
            _ => {
                self.diags.error(
                    Some(&n.word.loc),
                    "'weight' expects 'N [reverse|noreverse]'",
                );
                return None;
            }
        };
        match num.parse::<i32>() {
            Ok(w) if w != i32::MIN => Some((w, reverse)),
            _ => {
                self.diags.error(
                    n.args.first().map(|t| &t.loc),
                    format!(
                        "invalid value '{num}' for 'weight': expected a whole number -2147483647-2147483647"
                    ),
                );
                None
            }
        }
    }

    /// `lvs_sync_daemon INTERFACE INSTANCE [id N] [maxlen N] [port N] [ttl N] [group IP]`.
    pub fn lvs_sync_daemon(&mut self, n: &Node) -> Option<LvsSyncDaemon> {
        if !self.no_block(n) {
            return None;
        }
        let (Some(interface), Some(instance)) = (n.args.first(), n.args.get(1)) else {
            self.diags.error(
                Some(&n.word.loc),
                "'lvs_sync_daemon' expects 'INTERFACE INSTANCE [id N] [maxlen N] [port N] [ttl N] [group IP]'",
            );
            return None;
        };
        let mut d = LvsSyncDaemon {
            interface: interface.text.clone(),
            instance: instance.text.clone(),
            id: None,
            maxlen: None,
            port: None,
            ttl: None,
            group: None,
        };
        let mut rest = n.args.iter().skip(2);
        while let Some(opt) = rest.next() {
            let Some(val) = rest.next() else {
                self.diags.error(
                    Some(&opt.loc),
                    format!("'lvs_sync_daemon': '{}' needs a value", opt.text),
                );
                return None;
            };
            let ok = match opt.text.as_str() {
                "id" => {
                    d.id = self.parse_token(n, val, "a sync id 0-255");
                    d.id.is_some()
                }
                "maxlen" => {
                    d.maxlen = self.parse_token(n, val, "a length in bytes");
                    d.maxlen.is_some()
                }
                "port" => {
                    d.port = self.port(n, val);
                    d.port.is_some()
                }
                "ttl" => {
                    d.ttl = self.parse_token(n, val, "a TTL 1-255");
                    d.ttl.is_some()
                }
                "group" => {
                    d.group = self.parse_token(n, val, "a multicast address");
                    d.group.is_some()
                }
                other => {
                    self.diags.error(
                        Some(&opt.loc),
                        format!(
                            "'lvs_sync_daemon': unknown option '{other}' (id, maxlen, port, ttl, group)"
                        ),
                    );
                    false
                }
            };
            if !ok {
                return None;
            }
        }
        Some(d)
    }

    fn url(&mut self, nodes: &[Node]) -> HttpUrl {
        let mut u = HttpUrl {
            path: String::new(),
            digest: None,
            status_code: Vec::new(),
            virtualhost: None,
        };
        for n in nodes {
            match n.word.text.as_str() {
                "path" => {
                    u.path = self
                        .arg1(n, "a URL path")
                        .map(|t| t.text.clone())
                        .unwrap_or_default()
                }
                "digest" => {
                    u.digest = self
                        .arg1(n, "an MD5 digest (32 hex digits)")
                        .map(|t| t.text.clone())
                }
                "virtualhost" => {
                    u.virtualhost = self.arg1(n, "a host name").map(|t| t.text.clone())
                }
                "status_code" => {
                    if !self.no_block(n) {
                        continue;
                    }
                    if n.args.is_empty() {
                        self.diags.error(
                            Some(&n.word.loc),
                            "'status_code' needs one or more codes or ranges",
                        );
                    }
                    for a in &n.args {
                        match StatusRange::parse(&a.text) {
                            Ok(r) => u.status_code.push(r),
                            Err(e) => self.diags.error(Some(&a.loc), e),
                        }
                    }
                }
                _ => self.unknown(&kw::URL, "in url", n),
            }
        }
        u
    }
}

/// The tunnel options of `lvs_method TUN ...`.
#[derive(Clone, Copy)]
struct Tunnel {
    encap: TunnelEncap,
    port: Option<u16>,
    csum: Option<TunnelCsum>,
}

impl Tunnel {
    /// Onto a real server, under what it set with `tunnel_*` itself.
    fn apply(self, rs: &mut RealServer) {
        rs.more.tunnel_encap = rs.more.tunnel_encap.or(Some(self.encap));
        rs.more.tunnel_dport = rs.more.tunnel_dport.or(self.port);
        rs.more.tunnel_csum = rs.more.tunnel_csum.or(self.csum);
    }
}

#[cfg(test)]
#[path = "lvs_tests.rs"]
mod tests;

/// Where a checker's or an SMTP_CHECK host's connection keywords go.
struct Connection<'a> {
    ip: &'a mut Option<std::net::IpAddr>,
    port: &'a mut Option<u16>,
    bind: Bind<'a>,
    timeout: &'a mut Option<crate::config::values::Millis>,
}

/// Where `bindto` and `bind_port` go: a check's in its box of rare
/// settings, made only when one is given.
enum Bind<'a> {
    Check(&'a mut crate::config::model::ExtBox),
    Host {
        ip: &'a mut Option<std::net::IpAddr>,
        port: &'a mut Option<u16>,
    },
}

impl Bind<'_> {
    fn ip(&mut self) -> &mut Option<std::net::IpAddr> {
        match self {
            Bind::Check(ext) => &mut ext.bindto,
            Bind::Host { ip, .. } => ip,
        }
    }

    fn port(&mut self) -> &mut Option<u16> {
        match self {
            Bind::Check(ext) => &mut ext.bind_port,
            Bind::Host { port, .. } => port,
        }
    }
}

impl<'a> Connection<'a> {
    fn of_check(c: &'a mut RealServerCheck) -> Self {
        Self {
            ip: &mut c.connect_ip,
            port: &mut c.connect_port,
            bind: Bind::Check(&mut c.ext),
            timeout: &mut c.connect_timeout,
        }
    }

    fn of_host(h: &'a mut SmtpHost) -> Self {
        Self {
            ip: &mut h.connect_ip,
            port: &mut h.connect_port,
            bind: Bind::Host {
                ip: &mut h.bindto,
                port: &mut h.bind_port,
            },
            timeout: &mut h.connect_timeout,
        }
    }
}
