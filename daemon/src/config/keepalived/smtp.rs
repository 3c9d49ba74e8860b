//! keepalived.conf SMTP alert keywords: the `global_defs` ones
//! (`notification_email`, `smtp_server`, ...) and `smtp_alert [BOOL]` in
//! `vrrp_instance`, `vrrp_sync_group`, `virtual_server` and `real_server`.
//! What they do: `supervisor::mail`.

use super::cx::Cx;
use super::tree::Node;
use crate::config::model::{Global, SmtpServer};

impl Cx<'_> {
    /// One of the SMTP keywords of `global_defs`; false when `n` is not one.
    pub fn smtp_global(&mut self, g: &mut Global, n: &Node) -> bool {
        match n.word.text.as_str() {
            "notification_email" => {
                // keepalived: `notification_email { a@b c@d }`, one or more
                // addresses per line; an empty block is a warning there too.
                let words: Vec<String> = self
                    .list(n)
                    .into_iter()
                    .flat_map(|e| e.all_words().into_iter().map(str::to_string))
                    .collect();
                if words.is_empty() && n.block.is_some() {
                    self.diags.warning(
                        Some(&n.word.loc),
                        "empty 'notification_email' block: no mail will be sent",
                    );
                }
                g.notification_email.extend(words);
            }
            "notification_email_from" => {
                // keepalived takes the first word and ignores the rest, with
                // a warning (`"Name <addr>"` in quotes is one word).
                if let [first, rest @ ..] = n.args.as_slice()
                    && self.no_block(n)
                {
                    if let Some(extra) = rest.first() {
                        self.diags.warning(
                            Some(&extra.loc),
                            format!(
                                "'notification_email_from' takes one address; ignoring '{}' and what follows (quote \"Name <address>\")",
                                extra.text
                            ),
                        );
                    }
                    g.notification_email_from = Some(first.text.clone());
                } else if n.args.is_empty() {
                    self.diags.error(
                        Some(&n.word.loc),
                        "'notification_email_from' needs a value: an email address",
                    );
                }
            }
            "smtp_server" => g.smtp_server = self.smtp_server(n),
            "smtp_helo_name" => {
                g.smtp_helo_name = self.arg1(n, "a host name").map(|t| t.text.clone())
            }
            "smtp_connect_timeout" => {
                g.smtp_connect_timeout = self.number(n).map(|s| {
                    if s == 0 {
                        // keepalived's own correction, with its warning.
                        self.diags.warning(
                            Some(&n.word.loc),
                            "smtp_connect_timeout must be greater than 0; using 1",
                        );
                    }
                    s.max(1)
                })
            }
            "smtp_alert" => g.smtp_alert = self.switch(n),
            "smtp_alert_vrrp" => g.smtp_alert_vrrp = self.switch(n),
            "smtp_alert_checker" => g.smtp_alert_checker = self.switch(n),
            "no_email_faults" => g.no_email_faults = self.flag(n),
            _ => return false,
        }
        true
    }

    /// `smtp_server HOST [PORT]` (port 25 when absent).
    fn smtp_server(&mut self, n: &Node) -> Option<SmtpServer> {
        if !self.no_block(n) {
            return None;
        }
        match n.args.as_slice() {
            [host] => Some(SmtpServer {
                host: host.text.clone(),
                port: SmtpServer::DEFAULT_PORT,
            }),
            [host, port] => {
                let port = self.parse_token(n, port, "a port number 1-65535")?;
                Some(SmtpServer {
                    host: host.text.clone(),
                    port,
                })
            }
            [] => {
                self.diags.error(
                    Some(&n.word.loc),
                    "'smtp_server' needs a value: an address or host name, and optionally a port",
                );
                None
            }
            [_, _, extra, ..] => {
                self.diags.error(
                    Some(&extra.loc),
                    format!(
                        "'smtp_server' takes HOST [PORT]; unexpected '{}'",
                        extra.text
                    ),
                );
                None
            }
        }
    }
}
