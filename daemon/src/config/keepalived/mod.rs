//! Reader for keepalived.conf syntax (keepalived.conf(5)): lexer and
//! preprocessor → statement tree → the typed model.

mod cx;
mod delays;
pub mod keywords;
pub mod lexer;
mod lvs;
mod smtp;
pub mod tree;
mod vrrp;

use std::path::Path;
use std::sync::Arc;

use cx::Cx;
use lexer::{LexOptions, Lexer};
use tree::Node;

use super::diag::Diagnostics;
use super::model::Config;

/// Reads a keepalived.conf file (following `include`s).
pub fn read_file(path: &Path, config_id: Option<&str>, diags: &mut Diagnostics) -> Config {
    let mut lx = Lexer::new(
        LexOptions {
            config_id: config_id.map(str::to_string),
            allow_include: true,
        },
        diags,
    );
    lx.file(path, None);
    let lines = lx.finish();
    let nodes = tree::build(lines, diags);
    read_nodes(&nodes, diags)
}

/// Reads keepalived.conf text held in memory; `include` is refused.
pub fn read_str(
    name: &str,
    text: &str,
    config_id: Option<&str>,
    diags: &mut Diagnostics,
) -> Config {
    let mut lx = Lexer::new(
        LexOptions {
            config_id: config_id.map(str::to_string),
            allow_include: false,
        },
        diags,
    );
    lx.text(&Arc::from(name), text, None);
    let lines = lx.finish();
    let nodes = tree::build(lines, diags);
    read_nodes(&nodes, diags)
}

fn read_nodes(nodes: &[Node], diags: &mut Diagnostics) -> Config {
    let mut cfg = Config::default();
    let mut cx = Cx { diags };
    for n in nodes {
        let k = n.word.text.as_str();
        match k {
            "global_defs" => {
                if cx.flag_args_none(n)
                    && let Some(block) = cx.block(n)
                {
                    if cfg.global.src.at().is_none() {
                        cfg.global.src.set_at(n.word.loc.clone());
                    }
                    cx.global(&mut cfg.global, block);
                }
            }
            "vrrp_script"
            | "vrrp_track_process"
            | "vrrp_track_file"
            | "track_file"
            | "vrrp_sync_group"
            | "vrrp_instance"
            | "virtual_server_group" => {
                let name = cx.name(n).map(|t| t.text.clone());
                let block = cx.block(n);
                let (Some(name), Some(block)) = (name, block) else {
                    continue;
                };
                match k {
                    "vrrp_script" => cfg.vrrp_scripts.push(cx.vrrp_script(name, n, block)),
                    "vrrp_track_process" => {
                        cfg.track_processes.push(cx.track_process(name, n, block))
                    }
                    "vrrp_track_file" | "track_file" => {
                        cfg.track_files.push(cx.track_file(name, n, block))
                    }
                    "vrrp_sync_group" => cfg.sync_groups.push(cx.sync_group(name, n, block)),
                    "vrrp_instance" => cfg.vrrp_instances.push(cx.instance(name, n, block)),
                    _ => cfg
                        .virtual_server_groups
                        .push(cx.virtual_server_group(name, n, block)),
                }
            }
            "garp_group" => {
                if cx.flag_args_none(n)
                    && let Some(block) = cx.block(n)
                    && let Some(g) = cx.garp_group(n, block)
                {
                    cfg.garp_groups.push(g);
                }
            }
            "interface_up_down_delays" => {
                let delays = cx.interface_delays(n);
                cfg.interface_delays.extend(delays);
            }
            "virtual_server" => {
                if let Some(block) = cx.block(n) {
                    cfg.virtual_servers.push(cx.virtual_server(n, block));
                }
            }
            _ => cx.unknown(&keywords::TOP, "at the top level", n),
        }
    }
    cfg
}

impl Cx<'_> {
    /// For blocks that take no arguments (`global_defs { ... }`).
    fn flag_args_none(&mut self, n: &Node) -> bool {
        if let Some(extra) = n.args.first() {
            self.diags.error(
                Some(&extra.loc),
                format!(
                    "'{}' takes no value before its block; unexpected '{}'",
                    n.word.text, extra.text
                ),
            );
            return false;
        }
        true
    }
}

#[cfg(test)]
mod tests;
