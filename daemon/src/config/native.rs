//! The native TOML format: the model itself through serde, with
//! `deny_unknown_fields` everywhere. Positions for later diagnostics come from
//! a second, span-keeping parse of the same text.

use std::sync::Arc;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::diag::{Diagnostics, Lines, Location, Src, suggestion};
use super::model::Config;

pub fn read_str(name: &str, text: &str, diags: &mut Diagnostics) -> Config {
    let file: Arc<str> = Arc::from(name);
    match toml::from_str::<Config>(text) {
        Ok(mut cfg) => {
            if let Ok(doc) = DeTable::parse(text) {
                attach_locations(&mut cfg, doc.get_ref(), &Lines::new(&file, text));
            }
            cfg
        }
        Err(e) => {
            let loc = e
                .span()
                .map(|s| Location::from_offset(&file, text, s.start));
            diags.error(loc.as_ref(), explain(e.message()));
            Config::default()
        }
    }
}

/// serde's messages plus a suggestion: "unknown field `priorty`, expected one
/// of `name`, `priority`" gains "; did you mean 'priority'?".
fn explain(message: &str) -> String {
    let message = message.trim_end();
    let ticked: Vec<&str> = message.split('`').skip(1).step_by(2).collect();
    match ticked.split_first() {
        Some((bad, candidates))
            if message.starts_with("unknown field") || message.starts_with("unknown variant") =>
        {
            format!("{message}{}", suggestion(bad, candidates.iter().copied()))
        }
        _ => message.to_string(),
    }
}

/// The `index`-th table of the array of tables `key` in `t`.
fn nth_table<'a, 'i>(
    t: &'a DeTable<'i>,
    key: &str,
    index: usize,
) -> Option<&'a Spanned<DeValue<'i>>> {
    match t.get(key).map(Spanned::get_ref) {
        Some(DeValue::Array(items)) => items.get(index),
        _ => None,
    }
}

fn as_table<'a, 'i>(v: &'a Spanned<DeValue<'i>>) -> Option<&'a DeTable<'i>> {
    match v.get_ref() {
        DeValue::Table(t) => Some(t),
        _ => None,
    }
}

/// Positions of a table's keys; array items are also recorded as `key.N` and,
/// for strings, `key.FIRST_WORD` (how validation names track entries).
fn src_of(v: &Spanned<DeValue<'_>>, lines: &Lines<'_>) -> Src {
    let mut src = Src::new(lines.at(v.span().start));
    let Some(table) = as_table(v) else { return src };
    for (k, val) in table.iter() {
        let key: &str = k.get_ref();
        src.set(key, &lines.at(k.span().start));
        if let DeValue::Array(items) = val.get_ref() {
            for (i, item) in items.iter().enumerate() {
                let loc = lines.at(item.span().start);
                src.set(format!("{key}.{i}"), &loc);
                if let DeValue::String(s) = item.get_ref()
                    && let Some(w) = s.split_whitespace().next()
                {
                    src.set(format!("{key}.{w}"), &loc);
                }
            }
        }
    }
    src
}

fn attach_locations(cfg: &mut Config, doc: &DeTable<'_>, lines: &Lines<'_>) {
    if let Some(g) = doc.get("global") {
        cfg.global.src = src_of(g, lines);
    }
    macro_rules! each {
        ($list:expr, $key:literal) => {
            for (i, item) in $list.iter_mut().enumerate() {
                if let Some(t) = nth_table(doc, $key, i) {
                    item.src = src_of(t, lines);
                }
            }
        };
    }
    each!(cfg.vrrp_scripts, "vrrp_script");
    each!(cfg.track_processes, "vrrp_track_process");
    each!(cfg.track_files, "vrrp_track_file");
    each!(cfg.sync_groups, "vrrp_sync_group");
    each!(cfg.vrrp_instances, "vrrp_instance");
    each!(cfg.virtual_server_groups, "virtual_server_group");
    each!(cfg.interface_delays, "interface_up_down_delays");
    for (i, vs) in cfg.virtual_servers.iter_mut().enumerate() {
        let Some(vt) = nth_table(doc, "virtual_server", i) else {
            continue;
        };
        vs.src = src_of(vt, lines);
        let Some(vtable) = as_table(vt) else { continue };
        for (j, rs) in vs.real_servers.iter_mut().enumerate() {
            let Some(rt) = nth_table(vtable, "real_server", j) else {
                continue;
            };
            rs.src = src_of(rt, lines);
            let Some(rtable) = as_table(rt) else { continue };
            for (k, c) in rs.checkers.iter_mut().enumerate() {
                if let Some(ct) = nth_table(rtable, "checker", k) {
                    c.src = src_of(ct, lines);
                }
            }
        }
    }
}

/// The model as upkeep TOML, with a header naming the source and the
/// keepalived keywords that had no effect and so were not carried over.
pub fn to_toml(cfg: &Config, source: &str, dropped: &[&str]) -> Result<String, toml::ser::Error> {
    let body = toml::to_string_pretty(cfg)?;
    let mut out =
        format!("# upkeep configuration converted from {source} by `upkeepctl convert`.\n");
    if !dropped.is_empty() {
        out.push_str("# Not carried over (accepted but not supported by upkeep):\n");
        for k in dropped {
            out.push_str(&format!("#   {k}\n"));
        }
    }
    out.push('\n');
    out.push_str(&body);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> (Config, Diagnostics) {
        let mut d = Diagnostics::default();
        let c = read_str("t.toml", text, &mut d);
        (c, d)
    }

    /// Regression: each item's position was found by scanning the file from
    /// its start, so positions were quadratic in the file's size (a
    /// 10,000-real-server file took 40.5 s to check in a release build, now
    /// 0.11 s). The bound is far above what the fix takes (0.2 s in a debug
    /// build) and far below what the scan took (12.8 s
    /// for half the file, so about 50 s), so it cannot flake.
    #[test]
    fn a_large_file_is_read_in_linear_time() {
        let mut text = String::new();
        for v in 0..100 {
            text.push_str(&format!(
                "[[virtual_server]]\nip = \"10.8.{v}.1\"\nport = 80\nlb_kind = \"NAT\"\n\n"
            ));
            for r in 0..100 {
                text.push_str(&format!(
                    "[[virtual_server.real_server]]\nip = \"127.1.0.{}\"\nport = {}\n\n\
                     [[virtual_server.real_server.checker]]\ntype = \"TCP_CHECK\"\n\n",
                    v + 1,
                    20000 + r
                ));
            }
        }
        let began = std::time::Instant::now();
        let (cfg, d) = read(&text);
        let took = began.elapsed();
        assert!(!d.has_errors(), "{d:?}");
        assert_eq!(cfg.virtual_servers.len(), 100);
        let last = &cfg.virtual_servers[99].real_servers[99];
        assert_eq!(last.port, Some(20099));
        assert!(
            took < std::time::Duration::from_secs(10),
            "10,000 real servers read in {took:?}"
        );
    }

    #[test]
    fn unknown_field_gets_location_and_suggestion() {
        let (_, d) = read("[[vrrp_instance]]\nname = \"VI_1\"\npriorty = 100\n");
        let msg = d.items()[0].to_string();
        assert!(
            msg.starts_with("t.toml:3:1: error: unknown field `priorty`"),
            "{msg}"
        );
        assert!(msg.contains("did you mean 'priority'?"), "{msg}");
    }

    #[test]
    fn bad_enum_value_gets_suggestion() {
        let (_, d) = read("[[vrrp_instance]]\nname = \"VI_1\"\nstate = \"MASTR\"\n");
        let msg = d.items()[0].to_string();
        assert!(
            msg.contains("MASTR") && msg.contains("did you mean 'MASTER'?"),
            "{msg}"
        );
    }

    #[test]
    fn locations_are_attached() {
        let (c, d) = read(
            "[[vrrp_instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvirtual_router_id = 5\nvirtual_ipaddress = [\"10.0.0.1\"]\ntrack_script = [\"chk weight 2\"]\n",
        );
        assert!(!d.has_errors(), "{:?}", d.items());
        let src = &c.vrrp_instances[0].src;
        assert_eq!(src.key("virtual_router_id").map(|l| l.line), Some(4));
        assert_eq!(
            src.key("virtual_ipaddress.0").map(|l| (l.line, l.col)),
            Some((5, 22))
        );
        assert_eq!(src.key("track_script.chk").map(|l| l.line), Some(6));
    }

    #[test]
    fn syntax_error_is_located() {
        let (_, d) = read("[global]\nrouter_id = \n");
        assert!(
            d.items()[0].to_string().starts_with("t.toml:2:"),
            "{:?}",
            d.items()
        );
    }
}
