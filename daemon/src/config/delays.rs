//! Checks on `interface_up_down_delays` (keepalived.conf(5), "Interface
//! up/down status change debouncing"): at most 255 s each; an interface
//! named twice keeps the later line, as keepalived overwrites it; and a
//! down delay so long that a peer's Master_Down_Interval runs out first
//! is pointed out.

use std::collections::HashMap;

use super::diag::Diagnostics;
use super::model::Config;
use super::values::Millis;

/// keepalived's limit on either delay.
pub const MAX_DELAY: Millis = Millis::from_secs(255);

pub fn validate(cfg: &Config, d: &mut Diagnostics) {
    let mut last: HashMap<&str, usize> = HashMap::new();
    for (i, e) in cfg.interface_delays.iter().enumerate() {
        for (key, v) in [("down_delay", Some(e.down_delay)), ("up_delay", e.up_delay)] {
            if let Some(v) = v
                && v > MAX_DELAY
            {
                d.error(
                    e.src.key(key),
                    format!(
                        "interface_up_down_delays: {key} {v} s for {} is too long: at most 255 s",
                        e.interface
                    ),
                );
            }
        }
        if let Some(prev) = last.insert(e.interface.as_str(), i)
            && let Some(p) = cfg.interface_delays.get(prev)
        {
            d.warning(
                p.src.key("interface"),
                format!(
                    "interface_up_down_delays: {} is listed again later; the later delays apply",
                    e.interface
                ),
            );
        }
    }
    // keepalived: the delay must stay below (down_timer_adverts - 1) ×
    // advert_int of every instance on the interface, else the peer takes
    // over while this node still believes the link may come back. Only an
    // instance's own interface: over a tracked one, its adverts go on.
    for (&name, &i) in &last {
        let Some(e) = cfg.interface_delays.get(i) else {
            continue;
        };
        for inst in &cfg.vrrp_instances {
            if inst.interface != name {
                continue;
            }
            let adverts = inst
                .down_timer_adverts
                .or(cfg.global.vrrp_down_timer_adverts)
                .unwrap_or(3);
            let limit = inst.advert_int.as_millis() * u64::from(adverts.saturating_sub(1));
            if e.down_delay.as_millis() >= limit {
                d.warning(
                    e.src.key("down_delay"),
                    format!(
                        "interface_up_down_delays: the down delay of {name} ({} s) is not below {} s ({} advert intervals of vrrp_instance {}): its peer may take over before this node gives up",
                        e.down_delay,
                        limit as f64 / 1000.0,
                        adverts.saturating_sub(1),
                        inst.name
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Format, LoadOptions, Loaded, Severity, load_str};

    fn conf(text: &str) -> Loaded {
        load_str("d.conf", text, Format::Keepalived, &LoadOptions::default())
    }

    fn toml(text: &str) -> Loaded {
        load_str("d.toml", text, Format::Toml, &LoadOptions::default())
    }

    const INSTANCE: &str = "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n    advert_int 2\n    track_interface {\n        eth1\n    }\n    virtual_ipaddress {\n        10.0.0.1\n    }\n}\n";

    #[test]
    fn keepalived_lines_with_and_without_an_up_delay() {
        let l = conf(&format!(
            "interface_up_down_delays {{\n    eth0 0.5 2\n    eth1 1.25\n}}\n{INSTANCE}"
        ));
        assert!(l.is_ok(), "{:?}", l.diagnostics);
        let d = &l.config.interface_delays;
        assert_eq!(d.len(), 2);
        assert_eq!(
            (d[0].interface.as_str(), d[0].down_delay.0, d[0].up().0),
            ("eth0", 500, 2000)
        );
        // An omitted up delay is the down delay.
        assert_eq!(
            (d[1].interface.as_str(), d[1].down_delay.0, d[1].up().0),
            ("eth1", 1250, 1250)
        );
        assert!(l.diagnostics.messages(Severity::Warning).is_empty());
    }

    #[test]
    fn errors_name_file_line_and_keyword() {
        let l = conf(
            "interface_up_down_delays {\n    eth0\n    eth1 x\n    eth2 1 2 3\n    eth3 300\n}\n",
        );
        let e = l.diagnostics.messages(Severity::Error);
        assert_eq!(e.len(), 4, "{e:#?}");
        assert!(
            e[0].starts_with("d.conf:2:") && e[0].contains("needs a down delay"),
            "{}",
            e[0]
        );
        assert!(
            e[1].starts_with("d.conf:3:") && e[1].contains("interface_up_down_delays"),
            "{}",
            e[1]
        );
        assert!(
            e[2].starts_with("d.conf:4:") && e[2].contains("unexpected '3'"),
            "{}",
            e[2]
        );
        assert!(
            e[3].starts_with("d.conf:5:") && e[3].contains("at most 255 s"),
            "{}",
            e[3]
        );
        let l = toml(
            "[[interface_up_down_delays]]\ninterface = \"eth0\"\ndown_delay = 1\nup_delay = 256\n",
        );
        let e = l.diagnostics.messages(Severity::Error);
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(
            e[0].starts_with("d.toml:4:") && e[0].contains("up_delay"),
            "{}",
            e[0]
        );
    }

    #[test]
    fn a_delay_past_the_peers_patience_and_a_repeat_are_warned_about() {
        // advert_int 2, 3 adverts: below 4 s is fine; 4 s is not. A
        // tracked interface (eth1) may wait longer: the adverts go on.
        let l = conf(&format!(
            "interface_up_down_delays {{\n    eth0 3.9\n    eth1 20\n}}\n{INSTANCE}"
        ));
        assert!(
            l.diagnostics.messages(Severity::Warning).is_empty(),
            "{:?}",
            l.diagnostics
        );
        let l = conf(&format!(
            "interface_up_down_delays {{\n    eth0 4\n    eth1 1\n}}\ninterface_up_down_delays {{\n    eth0 4\n}}\n{INSTANCE}"
        ));
        let w = l.diagnostics.messages(Severity::Warning);
        assert_eq!(w.len(), 2, "{w:#?}");
        assert!(
            w.iter()
                .any(|m| m.starts_with("d.conf:6:") && m.contains("its peer may take over")),
            "{w:#?}"
        );
        assert!(
            w.iter()
                .any(|m| m.starts_with("d.conf:2:") && m.contains("listed again")),
            "{w:#?}"
        );
    }
}
