//! Argument helpers for the keepalived reader: each one reports a problem at
//! the token it concerns, names the keyword and says what was expected, and
//! returns `None` so the reader carries on and finds the next problem.

use std::net::IpAddr;
use std::str::FromStr;

use super::keywords::{Context, skipped_block};
use super::lexer::Token;
use super::tree::Node;
use crate::config::diag::{Diagnostics, suggestion};
use crate::config::model::{Script, ScriptUser};
use crate::config::values::Millis;

pub struct Cx<'d> {
    pub diags: &'d mut Diagnostics,
}

impl Cx<'_> {
    /// A keyword the block does not handle: a warning if keepalived knows it,
    /// an error with a suggestion otherwise.
    pub fn unknown(&mut self, ctx: &Context, place: &str, n: &Node) {
        let word = n.word.text.as_str();
        if ctx.is_known_unsupported(word) {
            self.diags.unsupported(Some(&n.word.loc), word);
            if let (Some(inner), Some(block)) = (skipped_block(ctx, word), &n.block) {
                self.skipped(inner, block);
            }
            return;
        }
        let hint = suggestion(word, ctx.candidates());
        // A skipped block lists only `known` words.
        let listed: Vec<&str> = if ctx.supported.is_empty() {
            ctx.candidates().collect()
        } else {
            ctx.supported.to_vec()
        };
        let expected = if listed.len() <= 12 {
            format!("expected one of {}", listed.join(", "))
        } else {
            format!("expected a keyword valid {}", ctx.what)
        };
        self.diags.error(
            Some(&n.word.loc),
            format!("unknown keyword '{word}' {place}: {expected}{hint}"),
        );
    }

    /// The inside of a block upkeep skips whole (its keyword was warned
    /// about): known words pass without a warning of their own, anything
    /// else is the same error as elsewhere.
    fn skipped(&mut self, ctx: &Context, nodes: &[Node]) {
        let place = ctx.what.to_string();
        for n in nodes {
            let word = n.word.text.as_str();
            if !ctx.known.contains(&word) {
                self.unknown(ctx, &place, n);
            } else if let (Some(inner), Some(block)) = (skipped_block(ctx, word), &n.block) {
                self.skipped(inner, block);
            }
        }
    }

    /// The block of a keyword that must have one.
    pub fn block<'n>(&mut self, n: &'n Node) -> Option<&'n [Node]> {
        match &n.block {
            Some(b) => Some(b),
            None => {
                self.diags.error(
                    Some(&n.word.loc),
                    format!(
                        "'{}' expects a block: '{} ... {{ ... }}'",
                        n.word.text, n.word.text
                    ),
                );
                None
            }
        }
    }

    /// Reports a block given to a keyword that takes none.
    pub fn no_block(&mut self, n: &Node) -> bool {
        if n.block.is_some() {
            self.diags.error(
                Some(&n.word.loc),
                format!("'{}' does not take a block", n.word.text),
            );
            return false;
        }
        true
    }

    /// Exactly one argument.
    pub fn arg1<'n>(&mut self, n: &'n Node, what: &str) -> Option<&'n Token> {
        if !self.no_block(n) {
            return None;
        }
        match n.args.as_slice() {
            [one] => Some(one),
            [] => {
                self.diags.error(
                    Some(&n.word.loc),
                    format!("'{}' needs a value: {what}", n.word.text),
                );
                None
            }
            [_, extra, ..] => {
                self.diags.error(
                    Some(&extra.loc),
                    format!(
                        "'{}' takes one value ({what}); unexpected '{}'",
                        n.word.text, extra.text
                    ),
                );
                None
            }
        }
    }

    /// No argument at all (a flag such as `nopreempt`).
    pub fn flag(&mut self, n: &Node) -> bool {
        if !self.no_block(n) {
            return false;
        }
        if let Some(extra) = n.args.first() {
            self.diags.error(
                Some(&extra.loc),
                format!(
                    "'{}' takes no value; unexpected '{}'",
                    n.word.text, extra.text
                ),
            );
            return false;
        }
        true
    }

    /// keepalived's `KEYWORD [true|false|on|off|yes|no]` (check_true_false,
    /// case-sensitive as there: keepalived 2.2.7 rejects `alpha ON`): no
    /// value is true.
    pub fn switch(&mut self, n: &Node) -> Option<bool> {
        if !self.no_block(n) {
            return None;
        }
        match n.args.as_slice() {
            [] => Some(true),
            [v] => match v.text.as_str() {
                "true" | "on" | "yes" => Some(true),
                "false" | "off" | "no" => Some(false),
                other => {
                    self.diags.error(
                        Some(&v.loc),
                        format!(
                            "invalid value '{other}' for '{}': expected true, false, on, off, yes or no (or nothing, meaning on)",
                            n.word.text
                        ),
                    );
                    None
                }
            },
            [_, extra, ..] => {
                self.diags.error(
                    Some(&extra.loc),
                    format!(
                        "'{}' takes at most one value; unexpected '{}'",
                        n.word.text, extra.text
                    ),
                );
                None
            }
        }
    }

    pub fn parse<T: FromStr>(&mut self, n: &Node, what: &str) -> Option<T> {
        let tok = self.arg1(n, what)?;
        self.parse_token(n, tok, what)
    }

    pub fn parse_token<T: FromStr>(&mut self, n: &Node, tok: &Token, what: &str) -> Option<T> {
        match tok.text.parse() {
            Ok(v) => Some(v),
            Err(_) => {
                self.diags.error(
                    Some(&tok.loc),
                    format!(
                        "invalid value '{}' for '{}': expected {what}",
                        tok.text, n.word.text
                    ),
                );
                None
            }
        }
    }

    pub fn number(&mut self, n: &Node) -> Option<u32> {
        self.parse(n, "a whole number")
    }

    pub fn int(&mut self, n: &Node) -> Option<i32> {
        self.parse(n, "a whole number (may be negative)")
    }

    pub fn ip(&mut self, n: &Node) -> Option<IpAddr> {
        self.parse(n, "an IPv4 or IPv6 address")
    }

    pub fn port(&mut self, n: &Node, tok: &Token) -> Option<u16> {
        self.parse_token(n, tok, "a port number 0-65535")
    }

    pub fn secs(&mut self, n: &Node) -> Option<Millis> {
        let tok = self.arg1(n, "a number of seconds")?;
        self.secs_token(n, tok)
    }

    pub fn secs_token(&mut self, n: &Node, tok: &Token) -> Option<Millis> {
        match Millis::parse_secs(&tok.text) {
            Ok(m) => Some(m),
            Err(e) => {
                self.diags.error(
                    Some(&tok.loc),
                    format!("invalid value for '{}': {e}", n.word.text),
                );
                None
            }
        }
    }

    /// The rest of the line as one string: a command with its arguments,
    /// whether quoted as one token or written as several words.
    pub fn command(&mut self, n: &Node) -> Option<String> {
        if !self.no_block(n) {
            return None;
        }
        if n.args.is_empty() {
            self.diags.error(
                Some(&n.word.loc),
                format!("'{}' needs a command", n.word.text),
            );
            return None;
        }
        Some(n.arg_words().join(" "))
    }

    /// A script keyword in keepalived's form: `"command args" [USER [GROUP]]`.
    /// keepalived (`notify_script_init`) reads the words after the first,
    /// quoted or not, as the account it runs as: `notify /x.sh root root`
    /// runs `/x.sh` as root:root, never `/x.sh root root` as root.
    pub fn script(&mut self, n: &Node) -> Option<Script> {
        if !self.no_block(n) {
            return None;
        }
        let Some(first) = n.args.first() else {
            self.diags.error(
                Some(&n.word.loc),
                format!("'{}' needs a command", n.word.text),
            );
            return None;
        };
        let user = match &n.args[1..] {
            [] => None,
            words @ ([_] | [_, _]) => user_group(words),
            [_, _, extra, ..] => {
                self.diags.error(
                    Some(&extra.loc),
                    format!(
                        "'{}' takes a command and then at most USER GROUP; unexpected '{}' (a command's arguments go inside quotes with it)",
                        n.word.text, extra.text
                    ),
                );
                return None;
            }
        };
        Some(Script {
            command: first.text.clone(),
            user,
        })
    }

    /// One of a fixed set of names (case-insensitive), listing them on error.
    pub fn choice<T: Copy>(&mut self, n: &Node, options: &[(&'static str, T)]) -> Option<T> {
        let names: Vec<&str> = options.iter().map(|(s, _)| *s).collect();
        let tok = self.arg1(n, &format!("one of {}", names.join(", ")))?;
        if let Some((_, v)) = options
            .iter()
            .find(|(s, _)| s.eq_ignore_ascii_case(&tok.text))
        {
            return Some(*v);
        }
        self.diags.error(
            Some(&tok.loc),
            format!(
                "invalid value '{}' for '{}': expected one of {}{}",
                tok.text,
                n.word.text,
                names.join(", "),
                suggestion(&tok.text, names.iter().copied())
            ),
        );
        None
    }

    /// `USER [GROUP]`.
    pub fn user(&mut self, n: &Node) -> Option<ScriptUser> {
        if !self.no_block(n) {
            return None;
        }
        if !matches!(n.args.len(), 1 | 2) {
            self.diags.error(
                Some(&n.word.loc),
                format!("'{}' expects 'USER [GROUP]'", n.word.text),
            );
            return None;
        }
        user_group(&n.args)
    }

    /// The entries of a list block (`virtual_ipaddress { ... }`), one per line.
    pub fn list<'n>(&mut self, n: &'n Node) -> Vec<&'n Node> {
        let Some(block) = self.block(n) else {
            return Vec::new();
        };
        if !n.args.is_empty() {
            self.diags.error(
                n.args.first().map(|t| &t.loc),
                format!("'{}' takes no value before its block", n.word.text),
            );
        }
        block
            .iter()
            .filter(|e| {
                if e.block.is_some() {
                    self.diags.error(
                        Some(&e.word.loc),
                        format!("unexpected block inside '{}'", n.word.text),
                    );
                    return false;
                }
                true
            })
            .collect()
    }

    /// The name of a named block (`vrrp_instance NAME { ... }`).
    pub fn name<'n>(&mut self, n: &'n Node) -> Option<&'n Token> {
        match n.args.as_slice() {
            [one] => Some(one),
            [] => {
                self.diags.error(
                    Some(&n.word.loc),
                    format!(
                        "'{}' needs a name: '{} NAME {{ ... }}'",
                        n.word.text, n.word.text
                    ),
                );
                None
            }
            [_, extra, ..] => {
                self.diags.error(
                    Some(&extra.loc),
                    format!(
                        "'{}' takes one name; unexpected '{}'",
                        n.word.text, extra.text
                    ),
                );
                None
            }
        }
    }
}

/// `USER [GROUP]` from one or two words (None for any other count).
fn user_group(words: &[Token]) -> Option<ScriptUser> {
    match words {
        [u] => Some(ScriptUser {
            user: u.text.clone(),
            group: None,
        }),
        [u, g] => Some(ScriptUser {
            user: u.text.clone(),
            group: Some(g.text.clone()),
        }),
        _ => None,
    }
}
