//! keepalived.conf VRRP blocks: `global_defs`, `vrrp_script`,
//! `vrrp_track_process`, `vrrp_track_file`, `vrrp_sync_group`, `vrrp_instance`.

use super::cx::Cx;
use super::keywords::{self as kw};
use super::tree::Node;
use crate::config::diag::Src;
use crate::config::model::Demote;
use crate::config::model::{
    AuthType, Authentication, GarpGroup, Global, InitialState, Notify, ParamMatch, PluginCheck,
    SyncGroup, TrackFile, TrackProcess, Vmac, VrrpInstance, VrrpScript,
};
use crate::config::values::{Millis, TrackRef, Vip};

impl Cx<'_> {
    /// `garp_group { ... }`; None (with keepalived's complaint) when it sets no interval.
    pub fn garp_group(&mut self, at: &Node, nodes: &[Node]) -> Option<GarpGroup> {
        let mut g = GarpGroup {
            src: Src::new(at.word.loc.clone()),
            ..GarpGroup::default()
        };
        for n in nodes {
            let k = n.word.text.as_str();
            let handled = match k {
                "garp_interval" => {
                    g.garp_interval = self.secs(n);
                    true
                }
                "gna_interval" => {
                    g.gna_interval = self.secs(n);
                    true
                }
                "interface" => {
                    if let Some(t) = self.arg1(n, "an interface name") {
                        g.src
                            .set(format!("interfaces.{}", g.interfaces.len()), &t.loc);
                        g.interfaces.push(t.text.clone());
                    }
                    true
                }
                "interfaces" => {
                    let entries = self.list(n);
                    if entries.is_empty() {
                        self.diags
                            .warning(Some(&n.word.loc), "garp_group: empty 'interfaces' block");
                    }
                    for e in entries {
                        for w in e.all_words() {
                            g.src
                                .set(format!("interfaces.{}", g.interfaces.len()), &e.word.loc);
                            g.interfaces.push(w.to_string());
                        }
                    }
                    true
                }
                _ => false,
            };
            if handled {
                g.src.set(k, &n.word.loc);
            } else {
                self.unknown(&kw::GARP_GROUP, "in garp_group", n);
            }
        }
        if g.garp_interval.is_none() && g.gna_interval.is_none() {
            // keepalived: "garp group N does not have any delay set - removing".
            self.diags.warning(
                Some(&at.word.loc),
                "garp_group sets neither 'garp_interval' nor 'gna_interval'; it is ignored",
            );
            return None;
        }
        Some(g)
    }

    pub fn global(&mut self, g: &mut Global, nodes: &[Node]) {
        for n in nodes {
            let k = n.word.text.as_str();
            let handled = match k {
                "router_id" => {
                    g.router_id = self.arg1(n, "a name").map(|t| t.text.clone());
                    true
                }
                "vrrp_version" => {
                    g.vrrp_version = self.parse(n, "2 or 3");
                    true
                }
                "vrrp_mcast_group4" => {
                    g.vrrp_mcast_group4 = self.parse(n, "an IPv4 multicast address");
                    true
                }
                "vrrp_mcast_group6" => {
                    g.vrrp_mcast_group6 = self.parse(n, "an IPv6 multicast address");
                    true
                }
                "vrrp_garp_master_delay" => {
                    g.vrrp_garp_master_delay = self.secs(n);
                    true
                }
                "vrrp_garp_master_repeat" => {
                    g.vrrp_garp_master_repeat = self.number(n);
                    true
                }
                "vrrp_garp_master_refresh" => {
                    g.vrrp_garp_master_refresh = self.secs(n);
                    true
                }
                "vrrp_garp_master_refresh_repeat" => {
                    g.vrrp_garp_master_refresh_repeat = self.number(n);
                    true
                }
                "vrrp_garp_lower_prio_delay" => {
                    g.vrrp_garp_lower_prio_delay = self.secs(n);
                    true
                }
                "vrrp_garp_lower_prio_repeat" => {
                    g.vrrp_garp_lower_prio_repeat = self.number(n);
                    true
                }
                "vrrp_garp_interval" => {
                    g.vrrp_garp_interval = self.secs(n);
                    true
                }
                "vrrp_gna_interval" => {
                    g.vrrp_gna_interval = self.secs(n);
                    true
                }
                "vrrp_down_timer_adverts" => {
                    g.vrrp_down_timer_adverts = self.parse(n, "a number 1-100");
                    true
                }
                "vmac_prefix" => {
                    g.vmac_prefix = self
                        .arg1(n, "an interface name prefix")
                        .map(|t| t.text.clone());
                    true
                }
                "vrrp_strict" => {
                    g.vrrp_strict = self.flag(n);
                    true
                }
                "vrrp_skip_check_adv_addr" => {
                    g.vrrp_skip_check_adv_addr = self.flag(n);
                    true
                }
                "vrrp_check_unicast_src" => {
                    g.vrrp_check_unicast_src = self.flag(n);
                    true
                }
                "script_user" => {
                    g.script_user = self.user(n);
                    true
                }
                "enable_script_security" => {
                    g.enable_script_security = self.flag(n);
                    true
                }
                "notify_fifo" => {
                    g.notify_fifo = self.arg1(n, "a FIFO path").map(|t| t.text.clone());
                    true
                }
                "notify_fifo_script" => {
                    g.notify_fifo_script = self.script(n);
                    true
                }
                "vrrp_notify_fifo" => {
                    g.vrrp_notify_fifo = self.arg1(n, "a FIFO path").map(|t| t.text.clone());
                    true
                }
                "vrrp_notify_fifo_script" => {
                    g.vrrp_notify_fifo_script = self.script(n);
                    true
                }
                // upkeep always recovers an instance whose interface is
                // deleted and created again: nothing to set.
                "dynamic_interfaces" => {
                    if self.no_block(n) {
                        if let Some(a) = n.args.first().filter(|a| a.text != "allow_if_changes") {
                            self.diags.error(
                                Some(&a.loc),
                                format!(
                                    "invalid value '{}' for 'dynamic_interfaces': expected nothing or 'allow_if_changes'",
                                    a.text
                                ),
                            );
                        } else if let Some(extra) = n.args.get(1) {
                            self.diags.error(
                                Some(&extra.loc),
                                format!(
                                    "'dynamic_interfaces' takes at most one value; unexpected '{}'",
                                    extra.text
                                ),
                            );
                        }
                    }
                    true
                }
                "lvs_flush" => {
                    g.lvs_flush = self.flag(n);
                    true
                }
                // keepalived's current name and its older spelling, one handler.
                "lvs_flush_on_stop" | "lvs_flush_onstop" => {
                    g.lvs_flush_onstop = if n.args.is_empty() && n.block.is_none() {
                        Some(crate::config::model::FlushOnStop::Vs)
                    } else {
                        self.choice(n, &crate::config::model::FlushOnStop::ALL)
                    };
                    true
                }
                "lvs_sync_daemon" => {
                    g.lvs_sync_daemon = self.lvs_sync_daemon(n);
                    true
                }
                "checker_log_all_failures" => {
                    g.checker_log_all_failures =
                        self.switch(n).unwrap_or(g.checker_log_all_failures);
                    true
                }
                _ => self.smtp_global(g, n),
            };
            if handled {
                g.src.set(k, &n.word.loc);
            } else {
                self.unknown(&kw::GLOBAL, "in global_defs", n);
            }
        }
    }

    pub fn vrrp_script(&mut self, name: String, n: &Node, nodes: &[Node]) -> VrrpScript {
        let mut s = VrrpScript::new(name);
        s.src = Src::new(n.word.loc.clone());
        let place = format!("in vrrp_script {}", s.name);
        for n in nodes {
            let k = n.word.text.as_str();
            let handled = match k {
                "script" => {
                    s.script = self.command(n).unwrap_or_default();
                    true
                }
                "interval" => {
                    s.interval = self.secs(n).unwrap_or(s.interval);
                    true
                }
                "timeout" => {
                    s.timeout = self.secs(n);
                    true
                }
                "weight" => {
                    if let Some((w, rev)) = self.weight_reverse(n) {
                        s.weight = w;
                        s.weight_reverse = rev;
                    }
                    true
                }
                "rise" => {
                    s.rise = self.number(n).unwrap_or(s.rise);
                    true
                }
                "fall" => {
                    s.fall = self.number(n).unwrap_or(s.fall);
                    true
                }
                "user" => {
                    s.user = self.user(n);
                    true
                }
                "init_fail" => {
                    s.init_fail = self.flag(n);
                    true
                }
                // upkeep extensions: restart-then-demote.
                "upkeep_restart" => {
                    s.on_failure.get_or_insert_with(Default::default).restart = self.script(n);
                    true
                }
                "upkeep_restart_grace" => {
                    let f = s.on_failure.get_or_insert_with(Default::default);
                    f.grace = self.secs(n).unwrap_or(f.grace);
                    true
                }
                "upkeep_restart_limit" => {
                    let limit = self.restart_limit(n);
                    let f = s.on_failure.get_or_insert_with(Default::default);
                    if let Some((count, window)) = limit {
                        f.max_restarts = count;
                        f.window = window;
                    }
                    true
                }
                "upkeep_demote" => {
                    let choices = [
                        ("weight", Demote::Weight),
                        ("fault", Demote::Fault),
                        ("resign", Demote::Resign),
                    ];
                    let d = self.choice(n, &choices);
                    let f = s.on_failure.get_or_insert_with(Default::default);
                    f.demote = d.unwrap_or(f.demote);
                    true
                }
                // upkeep extensions: the check is a WASM plugin.
                "upkeep_plugin" => self.plugin_keyword(n, "file", &mut s.plugin, &mut s.src),
                "upkeep_plugin_arg" | "upkeep_plugin_allow" | "upkeep_plugin_memory" => {
                    let short = k.trim_start_matches("upkeep_plugin_");
                    self.plugin_keyword(n, short, &mut s.plugin, &mut s.src)
                }
                _ => false,
            };
            if handled {
                s.src.set(k, &n.word.loc);
            } else {
                self.unknown(&kw::SCRIPT, &place, n);
            }
        }
        s
    }

    /// A plugin keyword by its short name (`file`, `arg`, `allow`,
    /// `memory`: UPKEEP_PLUGIN's; a vrrp_script's `upkeep_plugin`,
    /// `upkeep_plugin_arg`, ...); false: not one. Also records the names
    /// validation uses for both formats.
    pub fn plugin_keyword<P: Default + std::borrow::BorrowMut<PluginCheck>>(
        &mut self,
        n: &Node,
        short: &str,
        plugin: &mut Option<P>,
        src: &mut Src,
    ) -> bool {
        match short {
            "file" => {
                if let Some(t) = self.arg1(n, "the plugin's file") {
                    made(plugin).file = t.text.clone();
                }
                src.set("plugin", &n.word.loc);
            }
            "arg" => self.plugin_arg(made(plugin), n),
            "allow" => self.plugin_allow(made(plugin), src, n),
            "memory" => {
                let mib = self.number(n);
                let p = made(plugin);
                p.memory_mib = mib.unwrap_or(p.memory_mib);
                src.set("plugin.memory_mib", &n.word.loc);
            }
            _ => return false,
        }
        true
    }

    /// `upkeep_plugin_arg KEY VALUE` (`arg KEY VALUE` in UPKEEP_PLUGIN).
    pub fn plugin_arg(&mut self, p: &mut PluginCheck, n: &Node) {
        if !self.no_block(n) {
            return;
        }
        match n.args.as_slice() {
            [k, v] => p.args.push((k.text.clone(), v.text.clone())),
            _ => self.diags.error(
                Some(&n.word.loc),
                format!(
                    "'{}' takes two values: KEY VALUE (quote a value with spaces)",
                    n.word.text
                ),
            ),
        }
    }

    /// `upkeep_plugin_allow KIND TARGET...` (`allow KIND TARGET...` in
    /// UPKEEP_PLUGIN); each target's place goes to `src`.
    pub fn plugin_allow(&mut self, p: &mut PluginCheck, src: &mut Src, n: &Node) {
        if !self.no_block(n) {
            return;
        }
        let Some((kind, targets)) = n.args.split_first().filter(|(_, t)| !t.is_empty()) else {
            self.diags.error(
                Some(&n.word.loc),
                format!(
                    "'{}' takes KIND TARGET... (KIND: tcp, http, unix, file or process)",
                    n.word.text
                ),
            );
            return;
        };
        let mut known = false;
        for (name, list) in p.allow.kinds_mut() {
            if name == kind.text {
                known = true;
                for t in targets {
                    src.set(format!("plugin.allow.{name}.{}", list.len()), &t.loc);
                    list.push(t.text.clone());
                }
            }
        }
        if !known {
            self.diags.error(
                Some(&kind.loc),
                format!(
                    "unknown grant '{}' for '{}': expected tcp, http, unix, file or process",
                    kind.text, n.word.text
                ),
            );
        }
    }

    /// `upkeep_restart_limit COUNT SECONDS`.
    fn restart_limit(&mut self, n: &Node) -> Option<(u32, Millis)> {
        if !self.no_block(n) {
            return None;
        }
        match n.args.as_slice() {
            [count, window] => {
                let c = self.parse_token(n, count, "a whole number of restarts")?;
                let w = self.secs_token(n, window)?;
                Some((c, w))
            }
            _ => {
                self.diags.error(
                    Some(&n.word.loc),
                    "'upkeep_restart_limit' takes two values: COUNT SECONDS (e.g. 3 300)",
                );
                None
            }
        }
    }

    /// `weight N [reverse]`.
    fn weight_reverse(&mut self, n: &Node) -> Option<(i32, bool)> {
        if !self.no_block(n) {
            return None;
        }
        let words = n.arg_words();
        let (num, reverse) = match words.as_slice() {
            [w] => (*w, false),
            [w, "reverse"] => (*w, true),
            _ => {
                self.diags.error(
                    Some(&n.word.loc),
                    format!("'{}' expects 'N [reverse]'", n.word.text),
                );
                return None;
            }
        };
        match num.parse::<i32>() {
            Ok(w) => Some((w, reverse)),
            Err(_) => {
                self.diags.error(
                    n.args.first().map(|t| &t.loc),
                    format!(
                        "invalid value '{num}' for '{}': expected a whole number",
                        n.word.text
                    ),
                );
                None
            }
        }
    }

    pub fn track_process(&mut self, name: String, n: &Node, nodes: &[Node]) -> TrackProcess {
        let mut t = TrackProcess::new(name);
        t.src = Src::new(n.word.loc.clone());
        let place = format!("in vrrp_track_process {}", t.name);
        for n in nodes {
            let k = n.word.text.as_str();
            let handled = match k {
                "process" => {
                    // `process NAME [ARGS...]`: extra words are the arguments to match.
                    if let Some((first, rest)) = n.args.split_first().filter(|_| self.no_block(n)) {
                        t.process = first.text.clone();
                        if !rest.is_empty() {
                            let words: Vec<&str> = rest.iter().map(|a| a.text.as_str()).collect();
                            t.args = Some(words.join(" "));
                        }
                    } else if n.args.is_empty() {
                        self.diags
                            .error(Some(&n.word.loc), "'process' needs a process name");
                    }
                    true
                }
                "param_match" => {
                    t.param_match = self.choice(n, &ParamMatch::ALL);
                    true
                }
                "weight" => {
                    if let Some((w, rev)) = self.weight_reverse(n) {
                        t.weight = w;
                        t.weight_reverse = rev;
                    }
                    true
                }
                "quorum" => {
                    t.quorum = self.number(n).unwrap_or(t.quorum);
                    true
                }
                "quorum_max" => {
                    t.quorum_max = self.number(n);
                    true
                }
                "delay" => {
                    // keepalived: sets both, over any written before.
                    t.delay = self.secs(n);
                    if t.delay.is_some() {
                        (t.fork_delay, t.terminate_delay) = (None, None);
                    }
                    true
                }
                "fork_delay" => {
                    t.fork_delay = self.secs(n);
                    true
                }
                "terminate_delay" => {
                    t.terminate_delay = self.secs(n);
                    true
                }
                _ => false,
            };
            if handled {
                t.src.set(k, &n.word.loc);
            } else {
                self.unknown(&kw::TRACK_PROCESS, &place, n);
            }
        }
        t
    }

    pub fn track_file(&mut self, name: String, n: &Node, nodes: &[Node]) -> TrackFile {
        let mut t = TrackFile::new(name);
        t.src = Src::new(n.word.loc.clone());
        let place = format!("in vrrp_track_file {}", t.name);
        for n in nodes {
            let k = n.word.text.as_str();
            let handled = match k {
                "file" => {
                    t.file = self
                        .arg1(n, "a file path")
                        .map(|a| a.text.clone())
                        .unwrap_or_default();
                    true
                }
                "weight" => {
                    if let Some((w, rev)) = self.weight_reverse(n) {
                        t.weight = w;
                        t.weight_reverse = rev;
                    }
                    true
                }
                "init_file" => {
                    // `init_file [VALUE] [overwrite]`
                    let (value, overwrite) = match n.args.as_slice() {
                        [] => (None, false),
                        [o] if o.text == "overwrite" => (None, true),
                        [v] => (Some(v), false),
                        [v, o] if o.text == "overwrite" => (Some(v), true),
                        [_, extra] | [_, _, extra, ..] => {
                            self.diags.error(
                                Some(&extra.loc),
                                format!(
                                    "'init_file' expects '[VALUE] [overwrite]'; unexpected '{}'",
                                    extra.text
                                ),
                            );
                            (None, false)
                        }
                    };
                    t.init_file = match value {
                        None => Some(0),
                        Some(v) => self.parse_token(n, v, "a whole number"),
                    };
                    t.init_file_overwrite = overwrite;
                    true
                }
                _ => false,
            };
            if handled {
                t.src.set(k, &n.word.loc);
            } else {
                self.unknown(&kw::TRACK_FILE, &place, n);
            }
        }
        t
    }

    /// A notify keyword shared by instances and sync groups; false if `k` is none.
    fn notify(&mut self, notify: &mut Notify, k: &str, n: &Node) -> bool {
        let slot = match k {
            "notify_master" => &mut notify.on_master,
            "notify_backup" => &mut notify.on_backup,
            "notify_fault" => &mut notify.on_fault,
            "notify_stop" => &mut notify.on_stop,
            "notify" => &mut notify.on_change,
            _ => return false,
        };
        *slot = self.script(n);
        true
    }

    pub fn sync_group(&mut self, name: String, n: &Node, nodes: &[Node]) -> SyncGroup {
        let mut g = SyncGroup {
            name,
            group: Vec::new(),
            notify: Notify::default(),
            smtp_alert: None,
            src: Src::new(n.word.loc.clone()),
        };
        let place = format!("in vrrp_sync_group {}", g.name);
        for n in nodes {
            let k = n.word.text.as_str();
            let handled = match k {
                "group" => {
                    for e in self.list(n) {
                        for w in e.all_words() {
                            g.src.set(format!("group.{w}"), &e.word.loc);
                            g.group.push(w.to_string());
                        }
                    }
                    true
                }
                "smtp_alert" => {
                    g.smtp_alert = self.switch(n);
                    true
                }
                _ => self.notify(&mut g.notify, k, n),
            };
            if handled {
                g.src.set(k, &n.word.loc);
            } else if n.args.is_empty()
                && n.block.is_none()
                && !kw::SYNC_GROUP.candidates().any(|c| c == k)
            {
                // Old form, still in keepalived's samples: members listed without `group { }`.
                self.diags.warning(
                    Some(&n.word.loc),
                    format!("vrrp_sync_group {}: member '{k}' outside 'group {{ ... }}' (old syntax); write 'group {{ {k} ... }}'", g.name),
                );
                g.src.set(format!("group.{k}"), &n.word.loc);
                g.group.push(k.to_string());
            } else {
                self.unknown(&kw::SYNC_GROUP, &place, n);
            }
        }
        g
    }

    pub fn instance(&mut self, name: String, n: &Node, nodes: &[Node]) -> VrrpInstance {
        let mut v = VrrpInstance::new(name);
        v.src = Src::new(n.word.loc.clone());
        let place = format!("in vrrp_instance {}", v.name);
        for n in nodes {
            let k = n.word.text.as_str();
            let errors_before = self.diags.error_count();
            let handled = match k {
                "state" => {
                    let states = [
                        ("MASTER", InitialState::Master),
                        ("BACKUP", InitialState::Backup),
                    ];
                    v.state = self.choice(n, &states).unwrap_or(v.state);
                    true
                }
                "interface" => {
                    v.interface = self
                        .arg1(n, "an interface name")
                        .map(|t| t.text.clone())
                        .unwrap_or_default();
                    true
                }
                "virtual_router_id" => {
                    v.virtual_router_id = self
                        .parse(n, "a number 1-255")
                        .unwrap_or(v.virtual_router_id);
                    true
                }
                "priority" => {
                    v.priority = self.parse(n, "a number 1-255").unwrap_or(v.priority);
                    true
                }
                "advert_int" => {
                    v.advert_int = self.secs(n).unwrap_or(v.advert_int);
                    true
                }
                "version" => {
                    v.version = self.parse(n, "2 or 3");
                    true
                }
                "native_ipv6" => {
                    v.native_ipv6 = self.flag(n);
                    true
                }
                "authentication" => {
                    v.authentication = self.authentication(n);
                    true
                }
                "virtual_ipaddress" | "virtual_ipaddress_excluded" => {
                    let excluded = k == "virtual_ipaddress_excluded";
                    for e in self.list(n) {
                        let Some(vip) = self.vip(e) else { continue };
                        let list = if excluded {
                            &mut v.virtual_ipaddress_excluded
                        } else {
                            &mut v.virtual_ipaddress
                        };
                        v.src.set(format!("{k}.{}", list.len()), &e.word.loc);
                        list.push(vip);
                    }
                    true
                }
                "unicast_src_ip" => {
                    v.unicast_src_ip = self.ip(n);
                    true
                }
                "unicast_peer" => {
                    for e in self.list(n) {
                        let Some(ip) = self.parse_token(e, &e.word, "an IPv4 or IPv6 address")
                        else {
                            continue;
                        };
                        // `IP [min_ttl N] [max_ttl N]`: keepalived-only options.
                        for opt in e.args.iter().step_by(2) {
                            match opt.text.as_str() {
                                "min_ttl" | "max_ttl" => self.diags.unsupported(Some(&opt.loc), &opt.text),
                                other => self.diags.error(
                                    Some(&opt.loc),
                                    format!("unexpected '{other}' after unicast peer: expected 'min_ttl N' or 'max_ttl N'"),
                                ),
                            }
                        }
                        v.src.set(
                            format!("unicast_peer.{}", v.unicast_peer.len()),
                            &e.word.loc,
                        );
                        v.unicast_peer.push(ip);
                    }
                    true
                }
                "mcast_src_ip" => {
                    v.mcast_src_ip = self.ip(n);
                    true
                }
                "mcast_dst_ip" => {
                    v.mcast_dst_ip = self.ip(n);
                    true
                }
                "down_timer_adverts" => {
                    v.down_timer_adverts = self.parse(n, "a number 1-100");
                    true
                }
                "nopreempt" => {
                    if self.flag(n) {
                        v.preempt = false;
                    }
                    true
                }
                "preempt" => {
                    if self.flag(n) {
                        v.preempt = true;
                    }
                    true
                }
                "preempt_delay" => {
                    v.preempt_delay = self.secs(n);
                    true
                }
                "accept" => {
                    if self.flag(n) {
                        v.accept = true;
                    }
                    true
                }
                "no_accept" => {
                    if self.flag(n) {
                        v.accept = false;
                    }
                    true
                }
                "strict_mode" => {
                    // `strict_mode [on|off|true|false]`
                    v.strict_mode = match n.arg_words().as_slice() {
                        [] | ["on"] | ["true"] | ["yes"] => Some(true),
                        ["off"] | ["false"] | ["no"] => Some(false),
                        _ => {
                            self.diags
                                .error(Some(&n.word.loc), "'strict_mode' expects on or off");
                            v.strict_mode
                        }
                    };
                    true
                }
                "check_unicast_src" => {
                    v.check_unicast_src = self.flag(n);
                    true
                }
                "dont_track_primary" => {
                    v.dont_track_primary = self.flag(n);
                    true
                }
                "skip_check_adv_addr" => {
                    v.skip_check_adv_addr = self.flag(n);
                    true
                }
                "old_unicast_checksum" => {
                    // `old_unicast_checksum [never]`
                    v.old_unicast_checksum = match n.arg_words().as_slice() {
                        [] => true,
                        ["never"] => false,
                        _ => {
                            self.diags.error(
                                Some(&n.word.loc),
                                "'old_unicast_checksum' takes no value or 'never'",
                            );
                            false
                        }
                    };
                    true
                }
                "track_interface" | "track_script" | "track_process" | "track_file" => {
                    let mut refs = Vec::new();
                    for e in self.list(n) {
                        match TrackRef::parse_words(&e.all_words()) {
                            Ok(t) => {
                                v.src.set(format!("{k}.{}", t.name), &e.word.loc);
                                refs.push(t);
                            }
                            Err(msg) => self
                                .diags
                                .error(Some(&e.word.loc), format!("in '{k}': {msg}")),
                        }
                    }
                    let list = match k {
                        "track_interface" => &mut v.track_interface,
                        "track_script" => &mut v.track_script,
                        "track_process" => &mut v.track_process,
                        _ => &mut v.track_file,
                    };
                    list.extend(refs);
                    true
                }
                "garp_master_delay" => {
                    v.garp_master_delay = self.secs(n);
                    true
                }
                "garp_master_repeat" => {
                    v.garp_master_repeat = self.number(n);
                    true
                }
                "garp_master_refresh" => {
                    v.garp_master_refresh = self.secs(n);
                    true
                }
                "garp_master_refresh_repeat" => {
                    v.garp_master_refresh_repeat = self.number(n);
                    true
                }
                "garp_lower_prio_delay" => {
                    v.garp_lower_prio_delay = self.secs(n);
                    true
                }
                "garp_lower_prio_repeat" => {
                    v.garp_lower_prio_repeat = self.number(n);
                    true
                }
                "use_vmac" => {
                    if self.no_block(n) {
                        v.use_vmac = match n.args.as_slice() {
                            [] => Some(Vmac { name: None }),
                            [name] => Some(Vmac {
                                name: Some(name.text.clone()),
                            }),
                            [_, extra, ..] => {
                                self.diags.error(
                                    Some(&extra.loc),
                                    format!("'use_vmac' takes at most one interface name; unexpected '{}'", extra.text),
                                );
                                None
                            }
                        };
                    }
                    true
                }
                "vmac_xmit_base" => {
                    v.vmac_xmit_base = self.flag(n);
                    true
                }
                "lvs_sync_daemon_interface" => {
                    v.lvs_sync_daemon_interface =
                        self.arg1(n, "an interface name").map(|t| t.text.clone());
                    true
                }
                "smtp_alert" => {
                    v.smtp_alert = self.switch(n);
                    true
                }
                _ => self.notify(&mut v.notify, k, n),
            };
            if handled {
                v.src.set(k, &n.word.loc);
                if self.diags.error_count() > errors_before {
                    v.src.reject(k);
                }
            } else {
                self.unknown(&kw::INSTANCE, &place, n);
            }
        }
        v
    }

    fn vip(&mut self, e: &Node) -> Option<Vip> {
        match Vip::parse_words(&e.all_words()) {
            Ok((vip, ignored)) => {
                for opt in ignored {
                    self.diags.unsupported(Some(&e.word.loc), opt);
                }
                Some(vip)
            }
            Err(msg) => {
                self.diags
                    .error(Some(&e.word.loc), format!("in virtual_ipaddress: {msg}"));
                None
            }
        }
    }

    fn authentication(&mut self, n: &Node) -> Option<Authentication> {
        let block = self.block(n)?;
        let mut auth_type = None;
        let mut type_seen = false;
        let mut auth_pass = String::new();
        for e in block {
            match e.word.text.as_str() {
                "auth_type" => {
                    type_seen = true;
                    auth_type = self.choice(e, &[("PASS", AuthType::Pass), ("AH", AuthType::Ah)]);
                }
                "auth_pass" => {
                    auth_pass = self
                        .arg1(e, "a password of up to 8 characters")
                        .map(|t| t.text.clone())
                        .unwrap_or_default();
                }
                _ => self.unknown(&kw::AUTH, "in authentication", e),
            }
        }
        match auth_type {
            Some(auth_type) => Some(Authentication {
                auth_type,
                auth_pass,
            }),
            None => {
                // An invalid auth_type was reported already.
                if !type_seen {
                    self.diags.error(
                        Some(&n.word.loc),
                        "'authentication' needs 'auth_type PASS' (or AH)",
                    );
                }
                None
            }
        }
    }
}

/// The plugin settings being read, made when the first keyword comes (a
/// vrrp_script keeps them inline, a real server's check boxed).
fn made<P: Default + std::borrow::BorrowMut<PluginCheck>>(p: &mut Option<P>) -> &mut PluginCheck {
    p.get_or_insert_with(P::default).borrow_mut()
}

#[cfg(test)]
#[path = "vrrp_tests.rs"]
mod tests;
