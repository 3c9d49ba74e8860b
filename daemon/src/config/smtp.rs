//! Checks on the SMTP alert settings (`global_defs`' `smtp_server`,
//! `notification_email`, ...). What they do: `supervisor::mail`.

use lettre::message::Mailbox;

use super::diag::Diagnostics;
use super::model::Config;

/// An address as upkeep sends to it (`user@host` or `Name <user@host>`).
pub fn mailbox(text: &str) -> Option<Mailbox> {
    text.trim().parse().ok()
}

pub fn validate(cfg: &Config, d: &mut Diagnostics) {
    let g = &cfg.global;
    if let Some(s) = &g.smtp_server {
        let at = g.src.key("smtp_server");
        if s.port == 0 {
            d.error(at, "'smtp_server' port 0 is invalid: expected 1-65535");
        }
        if s.host.parse::<std::net::IpAddr>().is_err() && !host_name(&s.host) {
            d.error(
                at,
                format!(
                    "'smtp_server' '{}' is neither an IP address nor a host name",
                    s.host
                ),
            );
        }
    }
    if g.smtp_connect_timeout == Some(0) {
        d.error(
            g.src.key("smtp_connect_timeout"),
            "'smtp_connect_timeout' 0 is invalid: expected a number of seconds, at least 1",
        );
    }
    if let Some(h) = &g.smtp_helo_name
        && (h.is_empty() || h.chars().any(|c| c.is_whitespace() || c.is_control()))
    {
        d.error(
            g.src.key("smtp_helo_name"),
            format!("'smtp_helo_name' '{h}' is not a name HELO can carry"),
        );
    }
    for a in &g.notification_email {
        if a.trim().is_empty() {
            d.error(
                g.src.key("notification_email"),
                "'notification_email' has an empty address",
            );
        } else if mailbox(a).is_none() {
            // keepalived sends to anything; a mail client cannot: warned,
            // and left out of the recipients.
            d.warning(
                g.src.key("notification_email"),
                format!("'notification_email' '{a}' is not an email address (user@host); no mail goes to it"),
            );
        }
    }
    if let Some(f) = &g.notification_email_from {
        if f.trim().is_empty() {
            d.error(
                g.src.key("notification_email_from"),
                "'notification_email_from' is empty",
            );
        } else if mailbox(f).is_none() {
            d.warning(
                g.src.key("notification_email_from"),
                format!("'notification_email_from' '{f}' is not an email address (user@host); mails go out from the default sender"),
            );
        }
    }
}

/// RFC 1123 host name syntax (the name is resolved when a mail is sent).
fn host_name(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.trim_end_matches('.').split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diags(text: &str) -> Vec<String> {
        let mut d = Diagnostics::default();
        let mut cfg = crate::config::keepalived::read_str("k.conf", text, None, &mut d);
        crate::config::validate::validate(&mut cfg, &mut d);
        d.items().iter().map(|i| i.to_string()).collect()
    }

    #[test]
    fn keepalived_keywords_are_read() {
        let mut d = Diagnostics::default();
        let cfg = crate::config::keepalived::read_str(
            "k.conf",
            "global_defs {\n notification_email {\n  a@example.org b@example.org\n  c@example.org\n }\n notification_email_from \"Ops <ka@example.org>\"\n smtp_server 192.0.2.1 2525\n smtp_helo_name lb1.example.org\n smtp_connect_timeout 5\n smtp_alert\n smtp_alert_vrrp off\n smtp_alert_checker yes\n no_email_faults\n}\nvrrp_sync_group G { group { VI_1 }\n smtp_alert false }\nvrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n smtp_alert on\n}\nvirtual_server 10.0.0.1 80 {\n smtp_alert no\n real_server 10.0.0.2 80 {\n  smtp_alert\n }\n}\n",
            None,
            &mut d,
        );
        assert!(!d.has_errors(), "{:?}", d.items());
        assert!(d.unsupported_keywords().is_empty(), "{:?}", d.items());
        let g = &cfg.global;
        assert_eq!(
            g.notification_email,
            ["a@example.org", "b@example.org", "c@example.org"]
        );
        assert_eq!(
            g.notification_email_from.as_deref(),
            Some("Ops <ka@example.org>")
        );
        let s = g.smtp_server.as_ref().map(|s| (s.host.as_str(), s.port));
        assert_eq!(s, Some(("192.0.2.1", 2525)));
        assert_eq!(g.smtp_helo_name.as_deref(), Some("lb1.example.org"));
        assert_eq!(g.smtp_connect_timeout, Some(5));
        assert_eq!(
            (g.smtp_alert, g.smtp_alert_vrrp, g.smtp_alert_checker),
            (Some(true), Some(false), Some(true))
        );
        assert!(g.no_email_faults);
        assert_eq!(cfg.sync_groups[0].smtp_alert, Some(false));
        assert_eq!(cfg.vrrp_instances[0].smtp_alert, Some(true));
        assert_eq!(cfg.virtual_servers[0].smtp_alert, Some(false));
        assert_eq!(
            cfg.virtual_servers[0].real_servers[0].more.smtp_alert,
            Some(true)
        );
        // And the same through TOML, as `upkeepctl convert` writes it.
        let text = crate::config::native::to_toml(&cfg, "k.conf", &[]).unwrap_or_default();
        let mut d2 = Diagnostics::default();
        let back = crate::config::native::read_str("k.toml", &text, &mut d2);
        assert!(!d2.has_errors(), "{:?}\n{text}", d2.items());
        assert_eq!(back.global.smtp_server, g.smtp_server);
        assert_eq!(back.global.notification_email, g.notification_email);
        assert_eq!(back.vrrp_instances[0].smtp_alert, Some(true));
        assert_eq!(
            back.virtual_servers[0].real_servers[0].more.smtp_alert,
            Some(true)
        );
    }

    #[test]
    fn defaults_and_names() {
        let mut d = Diagnostics::default();
        let cfg = crate::config::keepalived::read_str(
            "k.conf",
            "global_defs {\n smtp_server mail.example.org\n smtp_connect_timeout 0\n notification_email_from ka@example.org extra words\n}\n",
            None,
            &mut d,
        );
        assert!(!d.has_errors(), "{:?}", d.items());
        let g = &cfg.global;
        assert_eq!(
            g.smtp_server.as_ref().map(|s| (s.host.as_str(), s.port)),
            Some(("mail.example.org", 25))
        );
        // keepalived: 0 becomes 1 with a warning; extra words are ignored.
        assert_eq!(g.smtp_connect_timeout, Some(1));
        assert_eq!(g.notification_email_from.as_deref(), Some("ka@example.org"));
        assert_eq!(d.items().len(), 2, "{:?}", d.items());
    }

    #[test]
    fn bad_values_are_reported_with_their_line() {
        let out = diags("global_defs {\n smtp_server 192.0.2.1 0\n}\n");
        assert!(
            out.iter()
                .any(|m| m.starts_with("k.conf:2:") && m.contains("port 0")),
            "{out:?}"
        );
        let out = diags("global_defs {\n smtp_server bad_host!\n}\n");
        assert!(
            out.iter()
                .any(|m| m.contains("neither an IP address nor a host name")),
            "{out:?}"
        );
        let out = diags("global_defs {\n smtp_server 192.0.2.1 smtp\n}\n");
        assert!(out.iter().any(|m| m.contains("port number")), "{out:?}");
        let out = diags("vrrp_instance VI_1 {\n smtp_alert maybe\n}\n");
        assert!(
            out.iter()
                .any(|m| m.starts_with("k.conf:2:") && m.contains("invalid value 'maybe'")),
            "{out:?}"
        );
        let out = diags("global_defs {\n notification_email {\n  root\n }\n}\n");
        assert!(
            out.iter()
                .any(|m| m.contains("warning") && m.contains("'root'")),
            "{out:?}"
        );
    }
}
