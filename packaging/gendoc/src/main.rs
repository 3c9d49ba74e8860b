//! `upkeep-gendoc OUTDIR [--date YYYY-MM-DD]`: writes the man pages and
//! shell completions that the packages install, from the clap definitions
//! (`upkeep::cli`) and the Markdown in `docs/` and `packaging/man/`:
//!
//! ```text
//! OUTDIR/man/upkeepd.8 upkeepctl.8 upkeep.toml.5 upkeep-keepalived.conf.5
//! OUTDIR/completions/bash/{upkeepd,upkeepctl}
//! OUTDIR/completions/zsh/{_upkeepd,_upkeepctl}
//! OUTDIR/completions/fish/{upkeepd,upkeepctl}.fish
//! ```
//!
//! Run by scripts/package.sh at build time, so the pages never drift from
//! the options the binaries accept.

mod markdown;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Command;
use clap_complete::Shell;
use pulldown_cmark::HeadingLevel;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let mut out = None;
    let mut date = String::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--date" => date = args.next().context("--date needs a value")?,
            _ if out.is_none() && !a.starts_with('-') => out = Some(PathBuf::from(a)),
            _ => bail!("usage: upkeep-gendoc OUTDIR [--date YYYY-MM-DD]"),
        }
    }
    let out = out.context("usage: upkeep-gendoc OUTDIR [--date YYYY-MM-DD]")?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let src = Sources::read(&root)?;
    let man = out.join("man");
    std::fs::create_dir_all(&man)?;
    let pages = [
        ("upkeepd.8", upkeepd_page(&src, &date)?),
        ("upkeepctl.8", upkeepctl_page(&src, &date)?),
        ("upkeep.toml.5", toml_page(&src, &date)?),
        ("upkeep-keepalived.conf.5", keepalived_page(&src, &date)?),
    ];
    for (name, text) in pages {
        std::fs::write(man.join(name), text).with_context(|| format!("writing {name}"))?;
    }
    completions(&out.join("completions"))?;
    Ok(())
}

/// The Markdown the pages are made of.
struct Sources {
    config: String,
    operations: String,
    upkeepd: String,
    upkeepctl: String,
    toml: String,
    keepalived: String,
}

impl Sources {
    fn read(root: &Path) -> Result<Sources> {
        let read =
            |p: &str| std::fs::read_to_string(root.join(p)).with_context(|| format!("reading {p}"));
        Ok(Sources {
            config: read("docs/config.md")?,
            operations: read("docs/operations.md")?,
            upkeepd: read("packaging/man/upkeepd.8.md")?,
            upkeepctl: read("packaging/man/upkeepctl.8.md")?,
            toml: read("packaging/man/upkeep.toml.5.md")?,
            keepalived: read("packaging/man/upkeep-keepalived.conf.5.md")?,
        })
    }
}

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `.TH`, with `'\" t` first when the page has tables (man runs tbl).
fn page(title: &str, section: &str, date: &str, body: &str) -> String {
    let manual = if section == "8" {
        "System Manager's Manual"
    } else {
        "File Formats Manual"
    };
    let mut s = String::new();
    if markdown::needs_tbl(body) {
        s.push_str("'\\\" t\n");
    }
    s.push_str(&format!(
        ".TH \"{}\" \"{section}\" \"{date}\" \"upkeep {VERSION}\" \"{manual}\"\n",
        title.to_uppercase()
    ));
    s.push_str(body);
    s
}

/// `.SH NAME` in the form whatis(1) and lintian expect.
fn name_section(name: &str, what: &str) -> String {
    format!(".SH NAME\n{} \\- {what}\n", name.replace('-', "\\-"))
}

/// The `## NAME`-level sections of a Markdown file, by heading, in order.
fn sections(md: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut fenced = false;
    for line in md.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        }
        if !fenced && let Some(h) = line.strip_prefix("## ") {
            out.push((h.trim().to_string(), String::new()));
            continue;
        }
        if let Some((_, body)) = out.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    out
}

/// One `##` section of `md` (its body, with `###` subsections).
fn section<'a>(all: &'a [(String, String)], name: &str) -> Result<&'a str> {
    all.iter()
        .find(|(h, _)| h == name)
        .map(|(_, b)| b.as_str())
        .with_context(|| format!("no section '## {name}'"))
}

/// The `##` sections of `md` from `first` up to, not including, `until`,
/// with their headings, as Markdown.
fn span(md: &str, first: &str, until: Option<&str>) -> Result<String> {
    let all = sections(md);
    let start = all
        .iter()
        .position(|(h, _)| h == first)
        .with_context(|| format!("no section '## {first}'"))?;
    let mut out = String::new();
    for (h, body) in &all[start..] {
        if Some(h.as_str()) == until {
            break;
        }
        out.push_str(&format!("## {h}\n{body}"));
    }
    Ok(out)
}

fn md(text: &str) -> String {
    markdown::to_roff(text, HeadingLevel::H2)
}

/// clap_mangen's rendering of one part of a command's page.
fn clap_part(
    cmd: &Command,
    part: fn(&clap_mangen::Man, &mut dyn std::io::Write) -> std::io::Result<()>,
) -> Result<String> {
    let mut buf = Vec::new();
    part(&clap_mangen::Man::new(cmd.clone()), &mut buf)?;
    Ok(String::from_utf8(buf)?)
}

fn upkeepd_page(src: &Sources, date: &str) -> Result<String> {
    let mut cmd = upkeep::cli::upkeepd::command();
    cmd.build();
    let extra = sections(&src.upkeepd);
    let mut body = name_section(
        "upkeepd",
        "high-availability daemon: VRRP, IPVS and health checks (keepalived compatible)",
    );
    body += &clap_part(&cmd, clap_mangen::Man::render_synopsis_section)?;
    body += &md(&format!(
        "## DESCRIPTION\n{}",
        section(&extra, "DESCRIPTION")?
    ));
    body += &clap_part(&cmd, clap_mangen::Man::render_options_section)?;
    // docs/operations.md: processes, systemd, reload, status, checks.
    body += &md(&span(&src.operations, "Processes", None)?);
    body += &rest(&src.upkeepd, &["DESCRIPTION"]);
    Ok(page("upkeepd", "8", date, &body))
}

fn upkeepctl_page(src: &Sources, date: &str) -> Result<String> {
    let mut cmd = upkeep::cli::upkeepctl::command();
    cmd.build();
    let extra = sections(&src.upkeepctl);
    let mut body = name_section("upkeepctl", "control and conversion client for upkeepd");
    body += &clap_part(&cmd, clap_mangen::Man::render_synopsis_section)?;
    body += &md(&format!(
        "## DESCRIPTION\n{}",
        section(&extra, "DESCRIPTION")?
    ));
    body += &clap_part(&cmd, clap_mangen::Man::render_options_section)?;
    body += ".SH COMMANDS\n";
    for sub in leaves(&cmd) {
        body += &subcommand(sub)?;
    }
    body += &rest(&src.upkeepctl, &["DESCRIPTION"]);
    Ok(page("upkeepctl", "8", date, &body))
}

/// Subcommands that run something (not groups such as `plugin`), in order.
fn leaves(cmd: &Command) -> Vec<&Command> {
    let mut out = Vec::new();
    // Not clap's generated `help` subcommands.
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        if sub.has_subcommands() {
            out.extend(leaves(sub));
        } else {
            out.push(sub);
        }
    }
    out
}

/// A subcommand as a `.SS`: its synopsis, help and options.
fn subcommand(sub: &Command) -> Result<String> {
    let name = sub.get_bin_name().unwrap_or(sub.get_name()).to_string();
    let mut s = format!(".SS \"{name}\"\n");
    let synopsis = clap_part(sub, clap_mangen::Man::render_synopsis_section)?;
    s += &synopsis.replacen(".SH SYNOPSIS\n", "", 1);
    let about = sub
        .get_long_about()
        .or(sub.get_about())
        .map(|a| a.to_string())
        .unwrap_or_default();
    s += &md(&about);
    let options = clap_part(sub, clap_mangen::Man::render_options_section)?;
    if !options.is_empty() {
        s += ".RS 4\n";
        s += &options.replacen(".SH OPTIONS\n", "", 1);
        s += ".RE\n";
    }
    Ok(s)
}

fn toml_page(src: &Sources, date: &str) -> Result<String> {
    let extra = sections(&src.toml);
    let mut body = name_section("upkeep.toml", "configuration file of upkeepd");
    body += &md(&format!(
        "## SYNOPSIS\n{}## DESCRIPTION\n{}",
        section(&extra, "SYNOPSIS")?,
        section(&extra, "DESCRIPTION")?
    ));
    // docs/config.md from the format to validation; keepalived.conf and the
    // command line have pages of their own.
    body += &md(&span(
        &src.config,
        "Format",
        Some("Reading keepalived.conf"),
    )?);
    body += &rest(&src.toml, &["SYNOPSIS", "DESCRIPTION"]);
    Ok(page("upkeep.toml", "5", date, &body))
}

fn keepalived_page(src: &Sources, date: &str) -> Result<String> {
    let extra = sections(&src.keepalived);
    let mut body = name_section(
        "upkeep-keepalived.conf",
        "what upkeepd reads of keepalived.conf, and how it differs from keepalived",
    );
    body += &md(&format!(
        "## SYNOPSIS\n{}## DESCRIPTION\n{}",
        section(&extra, "SYNOPSIS")?,
        section(&extra, "DESCRIPTION")?
    ));
    // "Reading keepalived.conf": its ### subsections become sections.
    let reading = span(&src.config, "Reading keepalived.conf", Some("Command line"))?;
    body += &markdown::to_roff(&reading, HeadingLevel::H3);
    body += &rest(&src.keepalived, &["SYNOPSIS", "DESCRIPTION"]);
    Ok(page("upkeep-keepalived.conf", "5", date, &body))
}

/// Every section of a packaging/man/*.md file but those already used.
fn rest(md_text: &str, used: &[&str]) -> String {
    let mut text = String::new();
    for (h, b) in sections(md_text) {
        if !used.contains(&h.as_str()) {
            text.push_str(&format!("## {h}\n{b}"));
        }
    }
    md(&text)
}

fn completions(dir: &Path) -> Result<()> {
    for (shell, sub, file) in [
        (Shell::Bash, "bash", "{}"),
        (Shell::Zsh, "zsh", "_{}"),
        (Shell::Fish, "fish", "{}.fish"),
    ] {
        let d = dir.join(sub);
        std::fs::create_dir_all(&d)?;
        for (name, mut cmd) in [
            ("upkeepd", upkeep::cli::upkeepd::command()),
            ("upkeepctl", upkeep::cli::upkeepctl::command()),
        ] {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut cmd, name, &mut buf);
            std::fs::write(d.join(file.replace("{}", name)), buf)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_skip_headings_in_code_blocks() {
        let s = sections("intro\n## A\na\n```\n## not\n```\n## B\nb\n");
        let names: Vec<&str> = s.iter().map(|(h, _)| h.as_str()).collect();
        assert_eq!(names, ["A", "B"]);
        assert!(s[0].1.contains("## not"));
    }

    #[test]
    fn span_stops_before_until() {
        let md = "## A\na\n## B\nb\n## C\nc\n";
        assert_eq!(span(md, "A", Some("C")).unwrap(), "## A\na\n## B\nb\n");
        assert!(span(md, "X", None).is_err());
    }

    /// The real pages: every one has its sections, hidden worker options
    /// stay hidden, and the upkeepctl page documents each command.
    #[test]
    fn pages_from_the_repository() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let src = Sources::read(&root).unwrap();
        let d = upkeepd_page(&src, "2025-01-01").unwrap();
        for want in [
            ".SH NAME\nupkeepd \\- ",
            ".SH SYNOPSIS",
            ".SH OPTIONS",
            "check\\-config",
            ".SH \"FILES\"",
            ".SH \"SEE ALSO\"",
        ] {
            assert!(d.contains(want), "upkeepd.8 lacks {want:?}");
        }
        assert!(!d.contains("\\-\\-role"), "hidden option in upkeepd.8");
        let c = upkeepctl_page(&src, "2025-01-01").unwrap();
        for want in [
            "upkeepctl convert",
            "upkeepctl status",
            "upkeepctl reload",
            "upkeepctl plugin run",
        ] {
            assert!(
                c.contains(&format!(".SS \"{want}\"")),
                "upkeepctl.8 lacks {want}"
            );
        }
        let t = toml_page(&src, "2025-01-01").unwrap();
        assert!(t.starts_with("'\\\" t\n.TH \"UPKEEP.TOML\" \"5\""));
        assert!(t.contains(".SH \"VRRP_INSTANCE\""));
        assert!(!t.contains("PREPROCESSOR"));
        let k = keepalived_page(&src, "2025-01-01").unwrap();
        assert!(k.contains(".SH \"PREPROCESSOR\""));
        assert!(k.contains(".SH \"KEYWORD MAP\""));
    }
}
