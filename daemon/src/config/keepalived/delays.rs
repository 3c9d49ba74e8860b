//! keepalived.conf `interface_up_down_delays { IF DOWN [UP] ... }` (a
//! top-level block, keepalived.conf(5) "Interface up/down status change
//! debouncing"): seconds with decimals; an omitted up delay is the down
//! delay.

use super::cx::Cx;
use super::tree::Node;
use crate::config::diag::Src;
use crate::config::model::InterfaceDelay;

impl Cx<'_> {
    /// The entries of one block, one per line; a line in error is left out
    /// (reported at its word).
    pub fn interface_delays(&mut self, n: &Node) -> Vec<InterfaceDelay> {
        let mut out = Vec::new();
        for e in self.list(n) {
            let (down, up, extra) = match e.args.as_slice() {
                [] => {
                    self.diags.error(
                        Some(&e.word.loc),
                        format!(
                            "interface_up_down_delays: '{}' needs a down delay in seconds: 'IF DOWN [UP]'",
                            e.word.text
                        ),
                    );
                    continue;
                }
                [down] => (down, None, None),
                [down, up] => (down, Some(up), None),
                [down, up, extra, ..] => (down, Some(up), Some(extra)),
            };
            if let Some(x) = extra {
                self.diags.error(
                    Some(&x.loc),
                    format!(
                        "interface_up_down_delays: unexpected '{}' after the delays of '{}' (expected 'IF DOWN [UP]')",
                        x.text, e.word.text
                    ),
                );
                continue;
            }
            let Some(down_delay) = self.secs_token(n, down) else {
                continue;
            };
            let up_delay = match up {
                Some(t) => match self.secs_token(n, t) {
                    Some(m) => Some(m),
                    None => continue,
                },
                None => None,
            };
            let mut src = Src::new(e.word.loc.clone());
            src.set("interface", &e.word.loc);
            src.set("down_delay", &down.loc);
            if let Some(t) = up {
                src.set("up_delay", &t.loc);
            }
            out.push(InterfaceDelay {
                interface: e.word.text.clone(),
                down_delay,
                up_delay,
                src,
            });
        }
        out
    }
}
