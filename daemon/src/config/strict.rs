//! keepalived's strict mode (`vrrp_strict`, `strict_mode`): what its
//! `vrrp_complete_instance` (vrrp.c, 2.2.7) refuses or resets so that an
//! instance keeps to RFC 3768 / RFC 5798. What keepalived refuses (the
//! instance is dropped) is an error here; what it resets and runs is a
//! warning saying so, at the line of the keyword, and the model is reset
//! the same way, so that the running instance is the one keepalived runs.

use std::net::IpAddr;

use super::diag::Diagnostics;
use super::model::{Family, Global, InitialState, VrrpInstance};

/// Applies strict mode to `inst` when it is in force.
pub fn apply(inst: &mut VrrpInstance, global: &Global, d: &mut Diagnostics) {
    if !inst.strict(global) {
        return;
    }
    let name = inst.name.clone();
    let src = inst.src.clone();
    let at = |key: &str| src.key(key).cloned();
    let explicit = |key: &str| src.written(key).is_some();
    let owner = inst.priority == 255;

    if inst.family() == Family::V6 && inst.effective_version(global) == 2 {
        d.warning(
            at("version").as_ref(),
            format!("vrrp_instance {name}: strict mode: cannot use IPv6 with VRRP version 2; setting version 3"),
        );
        inst.version = Some(3);
    }
    if inst.virtual_ipaddress.is_empty() {
        d.error(
            at("virtual_ipaddress").as_ref(),
            format!(
                "vrrp_instance {name}: strict mode: no VIP specified; at least one is required"
            ),
        );
    }
    let master = inst.state == InitialState::Master;
    if explicit("state") && master != owner {
        d.warning(
            at("state").as_ref(),
            format!(
                "vrrp_instance {name}: strict mode: state MASTER must match being address owner (priority 255); starting as {}",
                if owner { "MASTER" } else { "BACKUP" }
            ),
        );
        inst.state = if owner {
            InitialState::Master
        } else {
            InitialState::Backup
        };
    }
    if inst.authentication.take().is_some() {
        d.warning(
            at("authentication").as_ref(),
            format!(
                "vrrp_instance {name}: strict mode does not support authentication; ignoring it"
            ),
        );
    }
    if !inst.unicast_peer.is_empty() {
        d.error(
            at("unicast_peer").as_ref(),
            format!("vrrp_instance {name}: unicast peers are not supported in strict mode"),
        );
    }
    if inst.family() == Family::V6
        && let Some(first) = inst.virtual_ipaddress.first()
        && !is_link_local(first.addr)
    {
        d.warning(
            at("virtual_ipaddress.0").as_ref(),
            format!(
                "vrrp_instance {name}: strict mode: the first IPv6 VIP address ({}) must be link local",
                first.addr
            ),
        );
    }
    if inst.preempt_delay.take().is_some_and(|p| p.as_millis() > 0) {
        d.warning(
            at("preempt_delay").as_ref(),
            format!(
                "vrrp_instance {name}: preempt_delay is incompatible with strict mode; resetting"
            ),
        );
    }
    // Accept mode: off unless set, or the address owner.
    if !(explicit("accept") || explicit("no_accept")) {
        inst.accept = owner;
    } else if inst.accept && !owner && inst.effective_version(global) == 2 {
        d.warning(
            at("accept").as_ref(),
            format!("vrrp_instance {name}: strict mode: accept mode for VRRP version 2 does not comply with RFC 3768; resetting"),
        );
        inst.accept = false;
    }
    if inst.garp_lower_prio_repeat.is_some_and(|r| r > 0) {
        d.warning(
            at("garp_lower_prio_repeat").as_ref(),
            format!("vrrp_instance {name}: strict mode requires no repeat garps; resetting"),
        );
    }
    if inst
        .garp_lower_prio_delay
        .is_some_and(|r| r.as_millis() > 0)
    {
        d.warning(
            at("garp_lower_prio_delay").as_ref(),
            format!("vrrp_instance {name}: strict mode requires no repeat garp delay; resetting"),
        );
    }
    // Also the global ones: no lower-priority bursts in strict mode.
    inst.garp_lower_prio_repeat = Some(0);
    inst.garp_lower_prio_delay = None;
    if inst
        .down_timer_adverts
        .or(global.vrrp_down_timer_adverts)
        .is_some_and(|n| n != 3)
    {
        d.warning(
            at("down_timer_adverts").as_ref(),
            format!("vrrp_instance {name}: down_timer_adverts is incompatible with strict mode; resetting"),
        );
        inst.down_timer_adverts = Some(3);
    }
    if inst.vmac_xmit_base {
        d.warning(
            at("vmac_xmit_base").as_ref(),
            format!(
                "vrrp_instance {name}: vmac_xmit_base is incompatible with strict mode; resetting"
            ),
        );
        inst.vmac_xmit_base = false;
    }
}

fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V6(v6) => v6.is_unicast_link_local(),
        IpAddr::V4(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use crate::config::model::{Config, InitialState};
    use crate::config::{Format, LoadOptions, Loaded, Severity, load_str};

    fn conf(text: &str) -> Loaded {
        load_str("k.conf", text, Format::Keepalived, &LoadOptions::default())
    }

    fn msgs(l: &Loaded, sev: Severity) -> Vec<String> {
        l.diagnostics.messages(sev)
    }

    fn cfg(l: &Loaded) -> &Config {
        &l.config
    }

    const BODY: &str = "    interface eth0\n    virtual_router_id 1\n    priority 100\n    advert_int 1\n    virtual_ipaddress {\n        10.0.0.1/24\n    }\n";

    #[test]
    fn vrrp_strict() {
        let l = conf(&format!(
            "global_defs {{\n    vrrp_strict\n}}\nvrrp_instance V {{\n    state MASTER\n{BODY}    authentication {{\n        auth_type PASS\n        auth_pass secret\n    }}\n    preempt_delay 10\n}}\n"
        ));
        let w = msgs(&l, Severity::Warning);
        assert!(msgs(&l, Severity::Error).is_empty(), "{w:#?}");
        let has = |line: u32, text: &str| {
            w.iter()
                .any(|m| m.starts_with(&format!("k.conf:{line}:")) && m.contains(text))
        };
        assert!(
            has(5, "state MASTER must match being address owner"),
            "{w:#?}"
        );
        assert!(has(13, "does not support authentication"), "{w:#?}");
        assert!(
            has(17, "preempt_delay is incompatible with strict mode"),
            "{w:#?}"
        );
        let i = &cfg(&l).vrrp_instances[0];
        assert_eq!(i.state, InitialState::Backup);
        assert!(i.authentication.is_none());
        assert!(i.preempt_delay.is_none());
        assert!(!i.accept, "no accept mode unless set");
        assert_eq!(i.garp_lower_prio_repeat, Some(0));
    }

    #[test]
    fn strict_mode_refuses_unicast_peers_and_no_vips() {
        let l = conf(
            "vrrp_instance V {\n    strict_mode on\n    interface eth0\n    virtual_router_id 1\n    unicast_peer {\n        10.0.0.2\n    }\n}\n",
        );
        let e = msgs(&l, Severity::Error);
        assert!(
            e.iter().any(|m| m.starts_with("k.conf:5:")
                && m.contains("unicast peers are not supported in strict mode")),
            "{e:#?}"
        );
        assert!(e.iter().any(|m| m.contains("no VIP specified")), "{e:#?}");
    }

    #[test]
    fn strict_mode_accept_and_owner() {
        // Explicit accept with v2: reset, with keepalived's warning.
        let l = conf(&format!(
            "vrrp_instance V {{\n    strict_mode\n    accept\n{BODY}}}\n"
        ));
        assert!(
            msgs(&l, Severity::Warning)
                .iter()
                .any(|m| m.starts_with("k.conf:3:") && m.contains("RFC 3768")),
            "{:#?}",
            msgs(&l, Severity::Warning)
        );
        assert!(!cfg(&l).vrrp_instances[0].accept);
        // Explicit accept with v3: kept.
        let l = conf(&format!(
            "vrrp_instance V {{\n    strict_mode\n    version 3\n    accept\n{BODY}}}\n"
        ));
        assert!(cfg(&l).vrrp_instances[0].accept);
        // The owner keeps accept mode by default.
        let l = conf(&format!(
            "vrrp_instance V {{\n    strict_mode\n{}}}\n",
            BODY.replace("priority 100", "priority 255")
        ));
        assert!(cfg(&l).vrrp_instances[0].accept);
        // strict_mode off beats vrrp_strict.
        let l = conf(&format!(
            "global_defs {{\n    vrrp_strict\n}}\nvrrp_instance V {{\n    strict_mode off\n{BODY}}}\n"
        ));
        assert!(cfg(&l).vrrp_instances[0].accept);
        assert!(msgs(&l, Severity::Warning).is_empty());
    }
}
