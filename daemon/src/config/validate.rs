//! Checks on the model after reading, whichever reader produced it. Every
//! problem is reported; nothing stops at the first. Ranges follow RFC 5798
//! §5.2 (VRID, priority, Max Advertise Interval in centiseconds) and RFC 3768
//! §5.3 (v2 Advertisement Interval in whole seconds).

use std::collections::{HashMap, HashSet};

use super::diag::{Diagnostics, Src, suggestion};
use super::model::{
    AuthType, CheckKind, Config, Family, InitialState, PluginCheck, PluginGrants, VrrpInstance,
};

/// RFC 3768 / RFC 5798 limit on the length of the PASS key (8 octets).
pub const AUTH_PASS_MAX: usize = 8;

pub fn validate(cfg: &mut Config, d: &mut Diagnostics) {
    unique_names(cfg, d);
    if let Some(v) = cfg.global.vrrp_version
        && v != 2
        && v != 3
    {
        d.error(
            cfg.global.src.key("vrrp_version"),
            format!("'vrrp_version' {v} is invalid: expected 2 or 3"),
        );
    }
    garp_spacing(cfg, d);
    super::delays::validate(cfg, d);
    fifo_scripts(cfg, d);
    for i in 0..cfg.vrrp_instances.len() {
        let global = cfg.global.clone();
        if let Some(inst) = cfg.vrrp_instances.get_mut(i) {
            super::strict::apply(inst, &global, d);
        }
        instance(cfg, i, d);
        if let Some(inst) = cfg.vrrp_instances.get(i) {
            advert_options(inst, d);
        }
    }
    if let Some(n) = cfg.global.vrrp_down_timer_adverts
        && !(1..=100).contains(&n)
    {
        d.error(
            cfg.global.src.key("vrrp_down_timer_adverts"),
            format!("'vrrp_down_timer_adverts' {n} is out of range: expected 1-100"),
        );
    }
    duplicate_vrids(cfg, d);
    sync_groups(cfg, d);
    scripts(cfg, d);
    virtual_servers(cfg, d);
    lvs(cfg, d);
    run_as(cfg, d);
    super::smtp::validate(cfg, d);
    super::scripts::Plan::new(cfg, d);
}

/// Where a script with its own account can run: the parent runs it (the
/// checker cannot change user), so it must be a command, and a real
/// server's checks that run with it must not parse what the network says
/// in the root process.
fn run_as(cfg: &Config, d: &mut Diagnostics) {
    for s in cfg.vrrp_scripts.iter().filter(|s| s.user.is_some()) {
        if s.plugin.is_some() {
            d.error(
                s.src.key("user"),
                format!(
                    "vrrp_script {}: 'user' applies to a script; a plugin always runs in the checker",
                    s.name
                ),
            );
        }
    }
    for vs in &cfg.virtual_servers {
        for rs in &vs.real_servers {
            let Some(misc) = rs
                .checkers
                .iter()
                .find(|c| c.kind == CheckKind::MiscCheck && c.ext.user.is_some())
            else {
                continue;
            };
            if let Some(http) = rs.checkers.iter().find(|c| c.kind.is_http()) {
                d.error(
                    http.src.at().or(misc.src.key("user")),
                    format!(
                        "virtual_server {}, real_server {}: a MISC_CHECK with its own 'user' runs in the parent, with the server's other checks; {} cannot (it would parse responses as root): drop the MISC_CHECK's 'user' or move {} to another real server entry",
                        vs.label(),
                        rs.ip,
                        http.kind.name(),
                        http.kind.name()
                    ),
                );
            }
        }
    }
}

fn unique_names(cfg: &Config, d: &mut Diagnostics) {
    fn check<'a>(
        what: &str,
        items: impl Iterator<Item = (&'a str, Option<&'a super::diag::Location>)>,
        d: &mut Diagnostics,
    ) {
        let mut seen: HashMap<&str, Option<&super::diag::Location>> = HashMap::new();
        for (name, loc) in items {
            if name.is_empty() {
                d.error(loc, format!("a {what} needs a name"));
                continue;
            }
            if let Some(first) = seen.get(name) {
                let at = first
                    .map(|l| format!(" (first at {l})"))
                    .unwrap_or_default();
                d.error(loc, format!("duplicate {what} '{name}'{at}"));
            } else {
                seen.insert(name, loc);
            }
        }
    }
    check(
        "vrrp_instance",
        cfg.vrrp_instances
            .iter()
            .map(|i| (i.name.as_str(), i.src.at())),
        d,
    );
    check(
        "vrrp_script",
        cfg.vrrp_scripts
            .iter()
            .map(|i| (i.name.as_str(), i.src.at())),
        d,
    );
    check(
        "vrrp_track_process",
        cfg.track_processes
            .iter()
            .map(|i| (i.name.as_str(), i.src.at())),
        d,
    );
    check(
        "vrrp_track_file",
        cfg.track_files
            .iter()
            .map(|i| (i.name.as_str(), i.src.at())),
        d,
    );
    check(
        "vrrp_sync_group",
        cfg.sync_groups
            .iter()
            .map(|i| (i.name.as_str(), i.src.at())),
        d,
    );
    check(
        "virtual_server_group",
        cfg.virtual_server_groups
            .iter()
            .map(|i| (i.name.as_str(), i.src.at())),
        d,
    );
}

/// `vrrp_garp_interval` / `vrrp_gna_interval` and `garp_group`, as
/// keepalived's handlers check them.
fn garp_spacing(cfg: &Config, d: &mut Diagnostics) {
    for key in ["vrrp_garp_interval", "vrrp_gna_interval"] {
        let v = match key {
            "vrrp_garp_interval" => cfg.global.vrrp_garp_interval,
            _ => cfg.global.vrrp_gna_interval,
        };
        match v.map(|m| m.as_millis()) {
            Some(0) => d.error(
                cfg.global.src.key(key),
                format!("'{key}' 0 is invalid: expected a time in seconds above 0 (leave it out for none)"),
            ),
            Some(ms) if ms >= 1000 => d.warning(
                cfg.global.src.key(key),
                format!("'{key}' is very large: {} s between packets", ms as f64 / 1000.0),
            ),
            _ => {}
        }
    }
    let mut seen = HashSet::new();
    for g in &cfg.garp_groups {
        for (i, ifname) in g.interfaces.iter().enumerate() {
            if !seen.insert(ifname.as_str()) {
                d.warning(
                    g.src.key(&format!("interfaces.{i}")),
                    format!(
                        "garp_group already specified for {ifname}; this one is ignored for it"
                    ),
                );
            }
        }
        if g.interfaces.is_empty() {
            d.warning(
                g.src.key(""),
                "garp_group names no 'interface' or 'interfaces'; it has no effect",
            );
        }
    }
}

/// Where adverts go and how many may be missed (keepalived's checks).
fn advert_options(inst: &VrrpInstance, d: &mut Diagnostics) {
    let name = &inst.name;
    let at = |key: &str| inst.src.key(key);
    if let Some(n) = inst.down_timer_adverts
        && !(1..=100).contains(&n)
    {
        d.error(
            at("down_timer_adverts"),
            format!(
                "vrrp_instance {name}: 'down_timer_adverts' {n} is out of range: expected 1-100"
            ),
        );
    }
    let Some(group) = inst.mcast_dst_ip else {
        return;
    };
    let family = inst.family();
    let ok = match group {
        std::net::IpAddr::V4(g) => g.is_multicast(),
        // keepalived: link-local multicast (ff02::/16) only.
        std::net::IpAddr::V6(g) => g.segments()[0] == 0xff02,
    };
    if Family::of(&group) != family {
        d.error(
            at("mcast_dst_ip"),
            format!(
                "vrrp_instance {name}: 'mcast_dst_ip' {group} must be {family} like the instance"
            ),
        );
    } else if !ok {
        d.error(
            at("mcast_dst_ip"),
            format!(
                "vrrp_instance {name}: 'mcast_dst_ip' {group} is not {}multicast",
                if group.is_ipv6() { "link-local " } else { "" }
            ),
        );
    } else if !inst.unicast_peer.is_empty() {
        d.warning(
            at("mcast_dst_ip"),
            format!(
                "vrrp_instance {name}: multicast destination specified with unicast peers; ignored"
            ),
        );
    }
}

/// A FIFO script needs its FIFO (keepalived starts it only with one).
fn fifo_scripts(cfg: &Config, d: &mut Diagnostics) {
    let g = &cfg.global;
    for (fifo, script, fifo_key, key) in [
        (
            &g.notify_fifo,
            &g.notify_fifo_script,
            "notify_fifo",
            "notify_fifo_script",
        ),
        (
            &g.vrrp_notify_fifo,
            &g.vrrp_notify_fifo_script,
            "vrrp_notify_fifo",
            "vrrp_notify_fifo_script",
        ),
    ] {
        if script.is_some() && fifo.is_none() {
            d.warning(
                g.src.key(key),
                format!("'{key}' has no effect without '{fifo_key}'"),
            );
        }
    }
}

fn instance(cfg: &mut Config, idx: usize, d: &mut Diagnostics) {
    let global = cfg.global.clone();
    // Sets: an instance may track thousands of files.
    let names = |list: Vec<&str>| {
        list.into_iter()
            .map(str::to_string)
            .collect::<std::collections::BTreeSet<_>>()
    };
    let scripts = names(cfg.vrrp_scripts.iter().map(|s| s.name.as_str()).collect());
    let processes = names(
        cfg.track_processes
            .iter()
            .map(|s| s.name.as_str())
            .collect(),
    );
    let files = names(cfg.track_files.iter().map(|s| s.name.as_str()).collect());
    let Some(inst) = cfg.vrrp_instances.get_mut(idx) else {
        return;
    };
    let name = inst.name.clone();
    let at = |key: &str| inst.src.key(key).cloned();

    let rejected = |key: &str| inst.src.was_rejected(key);
    if inst.interface.is_empty() && !rejected("interface") {
        d.error(
            at("interface").as_ref(),
            format!("vrrp_instance {name}: 'interface' is required"),
        );
    }
    if !(1..=255).contains(&inst.virtual_router_id) && !rejected("virtual_router_id") {
        d.error(
            at("virtual_router_id").as_ref(),
            format!(
                "vrrp_instance {name}: 'virtual_router_id' {} is out of range: expected 1-255",
                inst.virtual_router_id
            ),
        );
    }
    if !(1..=255).contains(&inst.priority) {
        d.error(
            at("priority").as_ref(),
            format!(
                "vrrp_instance {name}: 'priority' {} is out of range: expected 1-255 (255 = address owner)",
                inst.priority
            ),
        );
    } else if inst.priority == 255 && inst.state == InitialState::Backup {
        d.warning(
            at("priority").as_ref(),
            format!("vrrp_instance {name}: priority 255 (address owner) always starts as MASTER; 'state BACKUP' is ignored"),
        );
    }
    if let Some(v) = inst.version
        && v != 2
        && v != 3
    {
        d.error(
            at("version").as_ref(),
            format!("vrrp_instance {name}: 'version' {v} is invalid: expected 2 or 3"),
        );
    }
    let family = inst.family();
    let mut version = inst.effective_version(&global);
    if family == Family::V6 && version == 2 {
        // keepalived 2.2.7 ignores `version 2` after an IPv6 address ("conflicts
        // with configured or deduced version 3; ignoring"); RFC 3768 is IPv4 only.
        d.warning(
            at("version").as_ref(),
            format!(
                "vrrp_instance {name}: VRRP version 2 does not support IPv6; running as version 3"
            ),
        );
        inst.version = Some(3);
        version = 3;
    }
    advert_int(inst, version, d);

    // Virtual addresses: one family per instance; duplicates are harmless but suspicious.
    let mut seen = HashSet::new();
    for (i, vip) in inst.virtual_ipaddress.iter().enumerate() {
        let loc = at(&format!("virtual_ipaddress.{i}"));
        if Family::of(&vip.addr) != family {
            d.error(
                loc.as_ref(),
                format!(
                    "vrrp_instance {name}: virtual address {} is {} but the instance is {family} (set by its first address); use virtual_ipaddress_excluded or a separate instance",
                    vip.addr,
                    Family::of(&vip.addr)
                ),
            );
        }
        if !seen.insert(vip.addr) {
            d.warning(
                loc.as_ref(),
                format!(
                    "vrrp_instance {name}: virtual address {} is listed more than once",
                    vip.addr
                ),
            );
        }
    }
    for (key, ip) in [
        ("unicast_src_ip", inst.unicast_src_ip),
        ("mcast_src_ip", inst.mcast_src_ip),
    ] {
        if let Some(ip) = ip
            && Family::of(&ip) != family
        {
            d.error(
                at(key).as_ref(),
                format!("vrrp_instance {name}: '{key}' {ip} is not {family} like the instance"),
            );
        }
    }
    for (i, peer) in inst.unicast_peer.iter().enumerate() {
        if Family::of(peer) != family {
            d.error(
                at(&format!("unicast_peer.{i}")).as_ref(),
                format!(
                    "vrrp_instance {name}: unicast peer {peer} is not {family} like the instance"
                ),
            );
        }
    }

    if let Some(auth) = &mut inst.authentication {
        // Both readers get here, so the TOML form is reported too.
        if auth.auth_type == AuthType::Ah {
            d.unsupported_kept(at("authentication").as_ref(), "auth_type AH");
        }
        if version == 3 {
            d.warning(
                at("authentication").as_ref(),
                format!("vrrp_instance {name}: VRRPv3 has no authentication (RFC 5798 §9); 'authentication' is ignored"),
            );
        } else if auth.auth_type == AuthType::Pass && auth.auth_pass.len() > AUTH_PASS_MAX {
            let mut cut = AUTH_PASS_MAX;
            while !auth.auth_pass.is_char_boundary(cut) {
                cut -= 1;
            }
            auth.auth_pass.truncate(cut);
            d.warning(
                at("authentication").as_ref(),
                format!(
                    "vrrp_instance {name}: 'auth_pass' is longer than {AUTH_PASS_MAX} bytes; truncated to '{}' as keepalived does",
                    auth.auth_pass
                ),
            );
        } else if auth.auth_type == AuthType::Pass && auth.auth_pass.is_empty() {
            d.error(
                at("authentication").as_ref(),
                format!("vrrp_instance {name}: 'auth_type PASS' needs an 'auth_pass'"),
            );
        }
    }

    if let Some(delay) = inst.preempt_delay {
        if delay.as_millis() > 1_000_000 {
            d.error(at("preempt_delay").as_ref(), format!("vrrp_instance {name}: 'preempt_delay' {delay} s is out of range: expected 0-1000"));
        }
        if !inst.preempt {
            d.warning(
                at("preempt_delay").as_ref(),
                format!("vrrp_instance {name}: 'preempt_delay' has no effect with 'nopreempt'"),
            );
        }
    }
    if !inst.preempt && inst.state == InitialState::Master {
        d.warning(
            at("nopreempt").as_ref(),
            format!("vrrp_instance {name}: 'nopreempt' needs 'state BACKUP' to keep an existing master; with 'state MASTER' this node still takes over at start"),
        );
    }

    let refs = [
        ("track_script", &inst.track_script, &scripts, "vrrp_script"),
        (
            "track_process",
            &inst.track_process,
            &processes,
            "vrrp_track_process",
        ),
        ("track_file", &inst.track_file, &files, "vrrp_track_file"),
    ];
    for (key, list, defined, block) in refs {
        for t in list {
            if !defined.contains(&t.name) {
                d.error(
                    at(&format!("{key}.{}", t.name)).as_ref(),
                    format!(
                        "vrrp_instance {name}: '{key}' names '{}', which is not defined: expected the name of a {block}{}",
                        t.name,
                        suggestion(&t.name, defined.iter().map(String::as_str))
                    ),
                );
            }
        }
    }
}

/// v2: whole seconds 1–255 (RFC 3768 §5.3.7); v3: 1–4095 centiseconds (RFC 5798 §5.2.7).
fn advert_int(inst: &VrrpInstance, version: u8, d: &mut Diagnostics) {
    let ms = inst.advert_int.as_millis();
    let loc = inst.src.key("advert_int");
    let name = &inst.name;
    if version == 2 {
        if !ms.is_multiple_of(1000) || !(1000..=255_000).contains(&ms) {
            d.error(
                loc,
                format!("vrrp_instance {name}: 'advert_int' {} is invalid for VRRPv2: expected whole seconds 1-255 (or use version 3)", inst.advert_int),
            );
        }
    } else if !ms.is_multiple_of(10) || !(10..=40_950).contains(&ms) {
        d.error(
            loc,
            format!("vrrp_instance {name}: 'advert_int' {} is invalid for VRRPv3: expected 0.01-40.95 seconds in steps of 0.01", inst.advert_int),
        );
    }
}

/// Two instances with the same VRID on one interface and family would be one router.
fn duplicate_vrids(cfg: &Config, d: &mut Diagnostics) {
    let mut seen: HashMap<(String, u32, bool), &VrrpInstance> = HashMap::new();
    for inst in &cfg.vrrp_instances {
        let key = (
            inst.interface.clone(),
            inst.virtual_router_id,
            inst.family() == Family::V6,
        );
        match seen.get(&key) {
            Some(first) => d.error(
                inst.src.key("virtual_router_id"),
                format!(
                    "vrrp_instance {}: virtual_router_id {} is already used by vrrp_instance {} on {} ({}): each instance on an interface needs its own VRID per address family",
                    inst.name, inst.virtual_router_id, first.name, inst.interface, inst.family()
                ),
            ),
            None => {
                seen.insert(key, inst);
            }
        }
    }
}

fn sync_groups(cfg: &Config, d: &mut Diagnostics) {
    let instances: Vec<&str> = cfg.vrrp_instances.iter().map(|i| i.name.as_str()).collect();
    let mut owner: HashMap<&str, &str> = HashMap::new();
    for g in &cfg.sync_groups {
        if g.group.len() < 2 {
            d.warning(
                g.src.key("group"),
                format!(
                    "vrrp_sync_group {}: a sync group with fewer than 2 members has no effect",
                    g.name
                ),
            );
        }
        for m in &g.group {
            let loc = g.src.key(&format!("group.{m}"));
            if !instances.contains(&m.as_str()) {
                d.error(
                    loc,
                    format!(
                        "vrrp_sync_group {}: member '{m}' is not a vrrp_instance{}",
                        g.name,
                        suggestion(m, instances.iter().copied())
                    ),
                );
            } else if let Some(other) = owner.insert(m.as_str(), g.name.as_str()) {
                d.error(
                    loc,
                    format!("vrrp_sync_group {}: vrrp_instance {m} is already a member of vrrp_sync_group {other}", g.name),
                );
            }
        }
    }
}

/// A plugin must be a readable WASM component, and each grant a target
/// the host can check exactly. `place` names the check ("vrrp_script
/// NAME", "real_server IP PORT UPKEEP_PLUGIN"); `checked` is the address a
/// real server's plugin checks, which `$REAL_SERVER` in a grant stands for
/// (none for a vrrp_script, where `$REAL_SERVER` is an error).
fn plugin(
    place: &str,
    p: &PluginCheck,
    checked: Option<std::net::SocketAddr>,
    src: &Src,
    d: &mut Diagnostics,
) {
    let at = src.key("plugin").or(src.at());
    if p.file.is_empty() {
        d.error(at, format!("{place}: needs its plugin's 'file'"));
    } else if !p.file.starts_with('/') {
        d.error(
            at,
            format!(
                "{place}: the plugin file must be an absolute path, not '{}'",
                p.file
            ),
        );
    } else {
        match read_head(&p.file) {
            Err(e) => d.error(at, format!("{place}: cannot read plugin {}: {e}", p.file)),
            Ok(head) => {
                if let Some(why) = not_a_component(&head) {
                    d.error(at, format!("{place}: plugin {}: {why}", p.file));
                }
            }
        }
    }
    if !(1..=PluginCheck::MAX_MEMORY_MIB).contains(&p.memory_mib) {
        d.error(
            src.key("plugin.memory_mib").or(at),
            format!(
                "{place}: plugin memory {} MiB is out of range: expected 1 to {}",
                p.memory_mib,
                PluginCheck::MAX_MEMORY_MIB
            ),
        );
    }
    let mut grants = p.allow.clone();
    for (kind, list) in grants.kinds_mut() {
        for (i, t) in list.iter().enumerate() {
            let why = match checked {
                None if t.contains(PluginGrants::REAL_SERVER) => Some(
                    "$REAL_SERVER names the real server being checked: only a real server's plugin checker has one",
                ),
                None => bad_grant(kind, t),
                Some(a) => match PluginGrants::substitute(kind, t, a) {
                    Ok(t) => bad_grant(kind, &t),
                    Err(why) => Some(why),
                },
            };
            if let Some(why) = why {
                let key = format!("plugin.allow.{kind}.{i}");
                d.error(
                    src.written(&key).or(at),
                    format!("{place}: plugin grant {kind} '{t}': {why}"),
                );
            }
        }
    }
}

fn read_head(path: &str) -> std::io::Result<[u8; 8]> {
    use std::io::Read;
    let mut head = [0u8; 8];
    std::fs::File::open(path)?.read_exact(&mut head)?;
    Ok(head)
}

/// The WASM binary header: magic, then version 1 for core modules or the
/// component-model layer (0x0d, layer 1).
pub fn not_a_component(head: &[u8; 8]) -> Option<&'static str> {
    if head[..4] != *b"\0asm" {
        return Some("not a WebAssembly file");
    }
    match head[4..] {
        [0x0d, 0x00, 0x01, 0x00] => None,
        [0x01, 0x00, 0x00, 0x00] => Some(
            "a core WebAssembly module, not a component: build for wasm32-wasip2 or wrap it into a component",
        ),
        _ => Some("an unsupported WebAssembly version"),
    }
}

/// Why a grant cannot be used as written.
pub fn bad_grant(kind: &str, target: &str) -> Option<&'static str> {
    match kind {
        "tcp" => target
            .parse::<std::net::SocketAddr>()
            .is_err()
            .then_some("expected IP:PORT (names are not resolved)"),
        "http" => crate::checker::plugin::grants::parse_http_url(target).err(),
        "unix" | "file" => (!target.starts_with('/')).then_some("expected an absolute path"),
        "process" => (target.is_empty() || target.contains('/'))
            .then_some("expected a process name (no '/')"),
        _ => Some("unknown kind of grant"),
    }
}

fn scripts(cfg: &Config, d: &mut Diagnostics) {
    for s in &cfg.vrrp_scripts {
        let name = &s.name;
        match &s.plugin {
            None if s.script.trim().is_empty() => d.warning(
                s.src.at(),
                format!("vrrp_script {name} has no 'script'; it will always fail"),
            ),
            Some(_) if !s.script.trim().is_empty() => d.error(
                s.src.key("plugin"),
                format!("vrrp_script {name} has both a 'script' and a plugin: keep one"),
            ),
            Some(p) => plugin(&format!("vrrp_script {name}"), p, None, &s.src, d),
            None => {}
        }
        if s.interval.as_millis() == 0 {
            d.error(
                s.src.key("interval"),
                format!("vrrp_script {name}: 'interval' must be more than 0"),
            );
        }
        if s.timeout.is_some_and(|t| t.as_millis() == 0) {
            d.error(
                s.src.key("timeout"),
                format!("vrrp_script {name}: 'timeout' must be more than 0"),
            );
        }
        if !(-254..=254).contains(&s.weight) {
            d.error(
                s.src.key("weight"),
                format!(
                    "vrrp_script {name}: 'weight' {} is out of range: expected -254 to 254",
                    s.weight
                ),
            );
        }
        for (key, v) in [("rise", s.rise), ("fall", s.fall)] {
            if v == 0 {
                d.error(
                    s.src.key(key),
                    format!("vrrp_script {name}: '{key}' must be at least 1"),
                );
            }
        }
    }
    for p in &cfg.track_processes {
        if p.process.is_empty() {
            d.error(
                p.src.at(),
                format!("vrrp_track_process {} needs a 'process'", p.name),
            );
        }
        if p.quorum_max.is_some_and(|m| m < p.quorum) {
            d.error(
                p.src.key("quorum_max"),
                format!(
                    "vrrp_track_process {}: 'quorum_max' is below 'quorum'",
                    p.name
                ),
            );
        }
    }
    for f in &cfg.track_files {
        if f.file.is_empty() {
            d.error(
                f.src.at(),
                format!("vrrp_track_file {} needs a 'file'", f.name),
            );
        }
    }
}

fn virtual_servers(cfg: &Config, d: &mut Diagnostics) {
    let groups: Vec<&str> = cfg
        .virtual_server_groups
        .iter()
        .map(|g| g.name.as_str())
        .collect();
    let mut seen = HashMap::new();
    for vs in &cfg.virtual_servers {
        let label = vs.label();
        let at = vs.src.at();
        let forms = usize::from(vs.ip.is_some())
            + usize::from(vs.fwmark.is_some())
            + usize::from(vs.group.is_some());
        if forms != 1 {
            d.error(at, format!("virtual_server {label}: give exactly one of 'ip' and 'port', 'fwmark' or 'group'"));
        }
        if vs.ip.is_some() && vs.port.is_none() {
            d.error(
                at,
                format!(
                    "virtual_server {label}: an address needs a port: 'virtual_server IP PORT'"
                ),
            );
        }
        if let Some(g) = &vs.group
            && !groups.contains(&g.as_str())
        {
            d.error(
                at,
                format!(
                    "virtual_server group {g}: no virtual_server_group named '{g}'{}",
                    suggestion(g, groups.iter().copied())
                ),
            );
        }
        // Keyed as the kernel keys services: the same address and port
        // with another protocol (DNS over UDP and TCP) is another service.
        let key = vs.key();
        if let Some(first) = seen.insert(key.clone(), at) {
            let where_ = first
                .map(|l| format!(" (first at {l})"))
                .unwrap_or_default();
            d.error(at, format!("duplicate virtual_server {key}{where_}"));
        }
        if vs.quorum == 0 {
            d.error(
                vs.src.key("quorum"),
                format!("virtual_server {label}: 'quorum' must be at least 1"),
            );
        }
        if vs.hysteresis >= vs.quorum && vs.hysteresis > 0 {
            d.error(
                vs.src.key("hysteresis"),
                format!("virtual_server {label}: 'hysteresis' must be below 'quorum'"),
            );
        }
        if vs.connect_timeout.is_some_and(|t| t.as_millis() == 0) {
            d.error(
                vs.src.key("connect_timeout"),
                format!("virtual_server {label}: 'connect_timeout' must be more than 0"),
            );
        }
        let mut rs_seen = HashSet::new();
        for (i, rs) in vs.real_servers.iter().enumerate() {
            let loc = rs.src.at().or(vs.src.key(&format!("real_server.{i}")));
            if !rs_seen.insert((rs.ip, rs.port)) {
                d.error(
                    loc,
                    format!(
                        "virtual_server {label}: real_server {} is listed twice",
                        rs.ip
                    ),
                );
            }
            if let Some(vip) = vs.ip {
                let tunnel = rs.more.lb_kind.unwrap_or(vs.lb_kind) == super::model::LbKind::Tun;
                if Family::of(&vip) != Family::of(&rs.ip) && !tunnel {
                    d.error(loc, format!("virtual_server {label}: real_server {} is not the same address family (only TUN may mix families)", rs.ip));
                }
            }
            if !(0..=65535).contains(&rs.weight) {
                d.error(
                    rs.src.key("weight"),
                    format!(
                        "real_server {}: 'weight' {} is out of range: expected 0-65535",
                        rs.ip, rs.weight
                    ),
                );
            }
            // An inherited checker setting (keepalived: a timeout of at least 1 µs).
            if rs.more.connect_timeout.is_some_and(|t| t.as_millis() == 0) {
                d.error(
                    rs.src.key("connect_timeout"),
                    format!(
                        "real_server {}: 'connect_timeout' must be more than 0",
                        rs.ip
                    ),
                );
            }
            for c in &rs.checkers {
                checker(&label, rs.ip, c.checked_addr(rs, vs), c, d);
                file_check(cfg, &label, rs.ip, c, d);
            }
        }
    }
}

/// The sync daemon, tunnels and names the kernel limits (15 bytes).
fn lvs(cfg: &Config, d: &mut Diagnostics) {
    use super::model::{LbKind, TunnelCsum, TunnelEncap};
    let g = &cfg.global;
    if let Some(s) = &g.lvs_sync_daemon {
        let at = g.src.key("lvs_sync_daemon");
        if !cfg.vrrp_instances.iter().any(|i| i.name == s.instance) {
            d.error(
                at,
                format!(
                    "lvs_sync_daemon: no vrrp_instance named '{}'{}",
                    s.instance,
                    suggestion(
                        &s.instance,
                        cfg.vrrp_instances.iter().map(|i| i.name.as_str())
                    )
                ),
            );
        }
        if s.interface.is_empty() || s.interface.len() > 15 {
            d.error(
                at,
                format!(
                    "lvs_sync_daemon: interface name '{}' must be 1-15 bytes",
                    s.interface
                ),
            );
        }
        if s.id.is_some_and(|i| i > 255) {
            d.error(at, "lvs_sync_daemon: 'id' must be 0-255");
        }
        if s.ttl == Some(0) {
            d.error(at, "lvs_sync_daemon: 'ttl' must be 1-255");
        }
        if s.group.is_some_and(|a| !a.is_multicast()) {
            d.error(at, "lvs_sync_daemon: 'group' must be a multicast address");
        }
    }
    let old: Vec<&VrrpInstance> = cfg
        .vrrp_instances
        .iter()
        .filter(|i| i.lvs_sync_daemon_interface.is_some())
        .collect();
    if old.len() > 1 || (!old.is_empty() && g.lvs_sync_daemon.is_some()) {
        d.error(
            old.first().and_then(|i| i.src.key("lvs_sync_daemon_interface")),
            "only one sync daemon: give 'lvs_sync_daemon' in global_defs or 'lvs_sync_daemon_interface' in one vrrp_instance",
        );
    }
    for vs in &cfg.virtual_servers {
        let label = vs.label();
        if let Some(pe) = &vs.persistence_engine
            && (pe.is_empty() || pe.len() > 15)
        {
            d.error(
                vs.src.key("persistence_engine"),
                format!("virtual_server {label}: engine name '{pe}' must be 1-15 bytes"),
            );
        }
        for rs in &vs.real_servers {
            let tunnel = rs.more.lb_kind.unwrap_or(vs.lb_kind) == LbKind::Tun;
            let encap = rs.more.tunnel_encap.unwrap_or_default();
            let any = rs.more.tunnel_encap.is_some()
                || rs.more.tunnel_dport.is_some()
                || rs.more.tunnel_csum.is_some();
            let at = rs.src.key("tunnel_encap").or(rs.src.at());
            let why = if any && !tunnel {
                Some("tunnel options need 'lvs_method TUN'")
            } else if encap == TunnelEncap::Gue && rs.more.tunnel_dport.is_none() {
                Some("'tunnel_encap gue' needs 'tunnel_dport'")
            } else if encap != TunnelEncap::Gue && rs.more.tunnel_dport.is_some() {
                Some("'tunnel_dport' is for 'tunnel_encap gue' only")
            } else if encap == TunnelEncap::Ipip
                && rs.more.tunnel_csum.is_some_and(|c| c != TunnelCsum::Nocsum)
            {
                Some("ipip tunnels have no checksum option")
            } else if encap == TunnelEncap::Gre && rs.more.tunnel_csum == Some(TunnelCsum::Remcsum)
            {
                Some("'tunnel_remcsum' is for 'tunnel_encap gue' only")
            } else {
                None
            };
            if let Some(why) = why {
                d.error(
                    at,
                    format!("virtual_server {label}, real_server {}: {why}", rs.ip),
                );
            }
        }
    }
}

fn checker(
    label: &str,
    rs: std::net::IpAddr,
    checked: std::net::SocketAddr,
    c: &super::model::RealServerCheck,
    d: &mut Diagnostics,
) {
    let kind = c.kind.name();
    let place = format!("virtual_server {label}, real_server {rs}, {kind}");
    let place = place.as_str();
    if c.kind.is_http() {
        if c.ext.url.is_empty() {
            d.error(c.src.at(), format!("{place}: needs at least one 'url'"));
        }
        for (i, u) in c.ext.url.iter().enumerate() {
            let loc = c.src.key(&format!("url.{i}"));
            if !u.path.starts_with('/') {
                d.error(
                    loc,
                    format!("{place}: url path '{}' must start with '/'", u.path),
                );
            }
            if let Some(dg) = &u.digest
                && (dg.len() != 32 || !dg.chars().all(|ch| ch.is_ascii_hexdigit()))
            {
                d.error(
                    loc,
                    format!("{place}: digest '{dg}' is not an MD5 digest (32 hex digits)"),
                );
            }
        }
    } else {
        for (key, set) in [
            ("url", !c.ext.url.is_empty()),
            ("virtualhost", c.ext.virtualhost.is_some()),
            ("enable_sni", c.ext.enable_sni),
        ] {
            if set {
                d.error(
                    c.src.key(key),
                    format!("{place}: '{key}' belongs to HTTP_GET or SSL_GET"),
                );
            }
        }
    }
    match (&c.ext.plugin, c.kind == CheckKind::Plugin) {
        (Some(p), true) => plugin(place, p, Some(checked), &c.src, d),
        (None, true) => d.error(c.src.at(), format!("{place}: needs its plugin's 'file'")),
        (Some(_), false) => d.error(
            c.src.key("plugin").or(c.src.at()),
            format!("{place}: 'plugin' belongs to a plugin checker"),
        ),
        (None, false) => {}
    }
    if c.kind == CheckKind::MiscCheck {
        if c.ext
            .misc_path
            .as_deref()
            .is_none_or(|p| p.trim().is_empty())
        {
            d.error(c.src.at(), format!("{place}: needs 'misc_path'"));
        }
    } else {
        for (key, set) in [
            ("misc_path", c.ext.misc_path.is_some()),
            ("misc_timeout", c.ext.misc_timeout.is_some()),
            ("misc_dynamic", c.ext.misc_dynamic),
            ("user", c.ext.user.is_some()),
        ] {
            if set {
                d.error(
                    c.src.key(key),
                    format!("{place}: '{key}' belongs to MISC_CHECK"),
                );
            }
        }
    }
    checker_udp_dns(c, place, d);
    if c.connect_timeout.is_some_and(|t| t.as_millis() == 0) {
        d.error(
            c.src.key("connect_timeout"),
            format!("{place}: 'connect_timeout' must be more than 0"),
        );
    }
    for (key, set, kind) in [
        ("helo_name", c.ext.helo_name.is_some(), CheckKind::SmtpCheck),
        ("host", !c.ext.host.is_empty(), CheckKind::SmtpCheck),
        (
            "track_file",
            c.ext.track_file.is_some(),
            CheckKind::FileCheck,
        ),
        ("weight", c.ext.weight.is_some(), CheckKind::FileCheck),
        ("weight_reverse", c.ext.weight_reverse, CheckKind::FileCheck),
    ] {
        if set && c.kind != kind {
            d.error(
                c.src.key(key),
                format!("{place}: '{key}' belongs to {}", kind.name()),
            );
        }
    }
    for (i, h) in c.ext.host.iter().enumerate() {
        if h.connect_timeout.is_some_and(|t| t.as_millis() == 0) {
            d.error(
                h.src
                    .key("connect_timeout")
                    .or(c.src.key(&format!("host.{i}"))),
                format!("{place}, host: 'connect_timeout' must be more than 0"),
            );
        }
    }
}

/// FILE_CHECK names a defined track file (keepalived: "track_file NAME
/// not found", and the check is dropped; here an error).
fn file_check(
    cfg: &Config,
    label: &str,
    rs: std::net::IpAddr,
    c: &super::model::RealServerCheck,
    d: &mut Diagnostics,
) {
    if c.kind != CheckKind::FileCheck {
        return;
    }
    let place = format!("virtual_server {label}, real_server {rs}, FILE_CHECK");
    // keepalived's FILE_CHECK takes only track_file and weight (TOML
    // would otherwise accept these and ignore them).
    for (key, set) in [
        ("connect_ip", c.connect_ip.is_some()),
        ("connect_port", c.connect_port.is_some()),
        ("bindto", c.ext.bindto.is_some()),
        ("bind_port", c.ext.bind_port.is_some()),
        ("connect_timeout", c.connect_timeout.is_some()),
        ("retry", c.retry.is_some()),
        ("delay_before_retry", c.delay_before_retry.is_some()),
        ("warmup", c.ext.warmup.is_some()),
        ("delay_loop", c.ext.delay_loop.is_some()),
        ("alpha", c.ext.alpha.is_some()),
    ] {
        if set {
            d.error(
                c.src.key(key),
                format!(
                    "{place}: '{key}' does not apply to FILE_CHECK (only track_file and weight)"
                ),
            );
        }
    }
    let Some(name) = &c.ext.track_file else {
        d.error(c.src.at(), format!("{place}: needs 'track_file NAME'"));
        return;
    };
    if !cfg.track_files.iter().any(|f| &f.name == name) {
        d.error(
            c.src.key("track_file").or(c.src.at()),
            format!(
                "{place}: 'track_file' names '{name}', which is not defined: expected the name of a track_file{}",
                suggestion(name, cfg.track_files.iter().map(|f| f.name.as_str()))
            ),
        );
    }
}

/// UDP_CHECK's and DNS_CHECK's fields: on their kind only, hex that
/// reads as keepalived's read_hex_str reads it, bounds in order, a DNS
/// name without empty labels (what keepalived rejects) or overlong ones.
fn checker_udp_dns(c: &super::model::RealServerCheck, place: &str, d: &mut Diagnostics) {
    use crate::checker::udp::parse_hex;
    if c.kind == CheckKind::UdpCheck {
        for (key, hex, wildcards) in [
            ("payload", &c.ext.payload, false),
            ("reply", &c.ext.reply, true),
        ] {
            if let Some(h) = hex
                && parse_hex(h, wildcards).is_none()
            {
                let what = if wildcards {
                    "hex digits (x a wildcard nibble)"
                } else {
                    "hex digits"
                };
                d.error(
                    c.src.key(key),
                    format!("{place}: '{key}' {h:?} is not {what}, as in '01 0a ff'"),
                );
            }
        }
        if c.ext.reply.is_some() && !c.ext.require_reply {
            d.error(
                c.src.key("reply"),
                format!("{place}: 'reply' needs 'require_reply = true'"),
            );
        }
        let (min, max) = (
            c.ext.min_reply_length.unwrap_or(0),
            c.ext.max_reply_length.unwrap_or(u16::from(u8::MAX)),
        );
        if min > max {
            d.error(
                c.src
                    .written("min_reply_length")
                    .or(c.src.key("max_reply_length")),
                format!(
                    "{place}: min_reply_length {min} > max_reply_length {max}: the check would always fail"
                ),
            );
        }
    } else {
        for (key, set) in [
            ("payload", c.ext.payload.is_some()),
            ("require_reply", c.ext.require_reply),
            ("reply", c.ext.reply.is_some()),
            ("min_reply_length", c.ext.min_reply_length.is_some()),
            ("max_reply_length", c.ext.max_reply_length.is_some()),
        ] {
            if set {
                d.error(
                    c.src.key(key),
                    format!("{place}: '{key}' belongs to UDP_CHECK"),
                );
            }
        }
    }
    if c.kind == CheckKind::DnsCheck {
        if let Some(name) = &c.ext.dns_name
            && let Err(why) = dns_name_problem(name)
        {
            d.error(
                c.src.key("dns_name"),
                format!("{place}: DNS name '{name}' {why}"),
            );
        }
    } else {
        for (key, set) in [
            ("dns_type", c.ext.dns_type.is_some()),
            ("dns_name", c.ext.dns_name.is_some()),
        ] {
            if set {
                d.error(
                    c.src.key(key),
                    format!("{place}: '{key}' belongs to DNS_CHECK"),
                );
            }
        }
    }
}

/// keepalived refuses a name with an empty label ("a..b", ".a"); a label
/// over 63 bytes or a name over 253 cannot be sent.
pub fn dns_name_problem(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name == "." {
        return Ok(());
    }
    let body = name.strip_suffix('.').unwrap_or(name);
    if body.split('.').any(str::is_empty) {
        return Err("has an empty label");
    }
    if body.split('.').any(|l| l.len() > 63) {
        return Err("has a label over 63 characters");
    }
    if body.len() > 253 {
        return Err("is over 253 characters");
    }
    if !body.is_ascii() {
        return Err("is not ASCII (write an IDN in its xn-- form)");
    }
    Ok(())
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
