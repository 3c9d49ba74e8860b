//! The pinned keyword table (tests/fixtures/keepalived-keywords/): every
//! keyword keepalived 2.2.7 or 2.3.4 accepts has a row, upkeep's keyword
//! lists are the table, and `upkeepd -t` does what each row says.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test crate fails by panicking

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use upkeep::config::keepalived::keywords::BLOCKS;

const VERSIONS: [&str; 2] = ["2.2.7", "2.3.4"];

fn dir() -> PathBuf {
    common::repo().join("tests/fixtures/keepalived-keywords")
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Status {
    Implemented,
    Warn,
    Reject,
}

#[derive(Clone, Debug)]
struct Row {
    line: usize,
    block: String,
    keyword: String,
    versions: String,
    status: Status,
    example: Option<String>,
    warning: Option<String>,
    reason: Option<String>,
}

fn field(s: &str) -> Option<String> {
    (s != "-").then(|| s.to_string())
}

fn table() -> Vec<Row> {
    let text = std::fs::read_to_string(dir().join("status.tsv")).unwrap();
    let mut rows = Vec::new();
    let mut header = true;
    for (i, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), 7, "status.tsv:{}: 7 columns expected", i + 1);
        if header {
            assert_eq!(cols[0], "block", "status.tsv: header first");
            header = false;
            continue;
        }
        let status = match cols[3] {
            "implemented" => Status::Implemented,
            "warn" => Status::Warn,
            "reject" => Status::Reject,
            other => panic!("status.tsv:{}: unknown status '{other}'", i + 1),
        };
        rows.push(Row {
            line: i + 1,
            block: cols[0].to_string(),
            keyword: cols[1].to_string(),
            versions: cols[2].to_string(),
            status,
            example: field(cols[4]).map(|e| e.replace("\\n", "\n")),
            warning: field(cols[5]),
            reason: field(cols[6]),
        });
    }
    rows
}

/// block path → keywords, for one keepalived version.
fn keepalived(version: &str) -> BTreeMap<String, BTreeSet<String>> {
    let path = dir().join(format!("keepalived-{version}.json"));
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The keywords docs/config.md lists as upkeep's own (its section
/// "upkeep's own keywords", one `` `name` `` per table row).
fn documented_extensions() -> BTreeSet<String> {
    let doc = std::fs::read_to_string(common::repo().join("docs/config.md")).unwrap();
    let start = doc
        .find("### upkeep's own keywords")
        .expect("docs/config.md has a section \"upkeep's own keywords\"");
    let section = &doc[start..];
    let end = section[4..].find("\n#").map_or(section.len(), |e| e + 4);
    section[..end]
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_string)
        .collect()
}

#[test]
fn every_keepalived_keyword_has_a_row_and_every_row_is_real() {
    let rows = table();
    let versions: Vec<_> = VERSIONS.iter().map(|v| (*v, keepalived(v))).collect();
    let mut seen = BTreeSet::new();
    let mut problems = Vec::new();
    for r in &rows {
        if !seen.insert((r.block.clone(), r.keyword.clone())) {
            problems.push(format!(
                "status.tsv:{}: {} {} twice",
                r.line, r.block, r.keyword
            ));
        }
        let has: Vec<&str> = versions
            .iter()
            .filter(|(_, j)| j.get(&r.block).is_some_and(|k| k.contains(&r.keyword)))
            .map(|(v, _)| *v)
            .collect();
        let expected = match has.as_slice() {
            [_, _] => "both",
            [v] => v,
            _ => "upkeep",
        };
        if r.versions != expected {
            problems.push(format!(
                "status.tsv:{}: {} {}: versions '{}', keepalived's tables say '{expected}'",
                r.line, r.block, r.keyword, r.versions
            ));
        }
        match r.status {
            Status::Reject if r.reason.is_none() => problems.push(format!(
                "status.tsv:{}: a reject row needs its reason",
                r.line
            )),
            Status::Warn if r.warning.is_none() => problems.push(format!(
                "status.tsv:{}: a warn row names its warning",
                r.line
            )),
            _ => {}
        }
    }
    let extensions = documented_extensions();
    let upkeeps =
        |w: &str| w.starts_with("upkeep_") || w.starts_with("UPKEEP_") || extensions.contains(w);
    for r in rows.iter().filter(|r| r.versions == "upkeep") {
        // Inside an upkeep block (UPKEEP_PLUGIN) every keyword is upkeep's.
        if !upkeeps(&r.keyword) && !r.block.split('/').any(upkeeps) {
            problems.push(format!(
                "status.tsv:{}: '{}' is in neither keepalived version: an upkeep extension starts with upkeep_ or UPKEEP_, is inside such a block, or is listed in docs/config.md (upkeep's own keywords)",
                r.line, r.keyword
            ));
        }
    }
    for (v, j) in &versions {
        for (block, words) in j {
            for w in words {
                if !seen.contains(&(block.clone(), w.clone())) {
                    problems.push(format!("keepalived {v}: {block} {w} has no row"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn keyword_lists_equal_the_table() {
    let rows = table();
    let mut problems = Vec::new();
    let paths: BTreeSet<&str> = BLOCKS.iter().map(|(p, _)| *p).collect();
    for r in &rows {
        if !paths.contains(r.block.as_str()) {
            problems.push(format!(
                "status.tsv:{}: block {} has no keyword list in keywords.rs BLOCKS",
                r.line, r.block
            ));
        }
    }
    for (path, ctx) in BLOCKS {
        let of = |s: Status| -> BTreeSet<&str> {
            rows.iter()
                .filter(|r| r.block == *path && r.status == s)
                .map(|r| r.keyword.as_str())
                .collect()
        };
        let supported: BTreeSet<&str> = ctx.supported.iter().copied().collect();
        let known: BTreeSet<&str> = ctx.known.iter().copied().collect();
        let implemented = of(Status::Implemented);
        let warn = of(Status::Warn);
        for (what, list, rows_of) in [
            ("supported", &supported, &implemented),
            ("known", &known, &warn),
        ] {
            for k in list.difference(rows_of) {
                problems.push(format!(
                    "{path}: '{k}' is {what} in keywords.rs but not {} in status.tsv",
                    if what == "supported" {
                        "implemented"
                    } else {
                        "warn"
                    }
                ));
            }
            for k in rows_of.difference(list) {
                problems.push(format!(
                    "{path}: '{k}' is {} in status.tsv but not {what} in keywords.rs",
                    if what == "supported" {
                        "implemented"
                    } else {
                        "warn"
                    }
                ));
            }
        }
        for k in of(Status::Reject) {
            if supported.contains(k) || known.contains(k) {
                problems.push(format!(
                    "{path}: '{k}' is reject in status.tsv but listed in keywords.rs"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ------------------------------------------------------------ upkeepd -t

/// What surrounds a keyword of a block so that the file is valid: the
/// block's opening line, lines it always needs, lines it needs only when
/// nothing else is inside (a virtual server's real server), and text that
/// must come before it (the instance a sync group names).
struct Frame {
    open: String,
    required: Vec<String>,
    when_innermost: Vec<String>,
    before: Vec<String>,
}

fn frame(path_elem: &str, parent: &str, n: usize) -> Frame {
    let f = |open: String, required: &[&str], when_innermost: &[&str]| Frame {
        open,
        required: required.iter().map(|s| s.to_string()).collect(),
        when_innermost: when_innermost.iter().map(|s| s.to_string()).collect(),
        before: Vec::new(),
    };
    let instance = |name: &str, vrid: usize| {
        vec![
            format!("vrrp_instance {name} {{"),
            "interface lo".into(),
            format!("virtual_router_id {vrid}"),
            "priority 100".into(),
            format!("virtual_ipaddress {{\n192.0.2.{vrid}\n}}"),
            "}".into(),
        ]
    };
    match (parent, path_elem) {
        ("", "global_defs") => f("global_defs {".into(), &[], &[]),
        ("", "vrrp_instance") => {
            let lines = instance(&format!("VI_{n}"), n);
            Frame {
                open: lines[0].clone(),
                required: lines[1..lines.len() - 1].to_vec(),
                when_innermost: Vec::new(),
                before: Vec::new(),
            }
        }
        ("vrrp_instance", "authentication") => f(
            "authentication {".into(),
            &["auth_type PASS", "auth_pass secret"],
            &[],
        ),
        ("", "vrrp_script") => f(
            format!("vrrp_script chk_{n} {{"),
            &["script /bin/true"],
            &[],
        ),
        ("", "vrrp_track_process") => f(
            format!("vrrp_track_process tp_{n} {{"),
            &["process sshd"],
            &[],
        ),
        ("", "vrrp_track_file" | "track_file") => {
            f(format!("{path_elem} tf_{n} {{"), &["file %DIR%/track"], &[])
        }
        // Two members: a smaller group warns that it has no effect.
        ("", "vrrp_sync_group") => Frame {
            open: format!("vrrp_sync_group SG_{n} {{"),
            required: vec![format!("group {{\nVI_{n}\nVI_{n}b\n}}")],
            when_innermost: Vec::new(),
            before: [
                instance(&format!("VI_{n}"), n),
                instance(&format!("VI_{n}b"), n + 130),
            ]
            .concat(),
        },
        ("", "virtual_server") => f(
            format!("virtual_server 192.0.2.1 {} {{", 10000 + n),
            // Without it keepalived (and upkeep) default to UDP with a warning.
            &["protocol TCP"],
            &["real_server 10.0.0.1 80 {\nTCP_CHECK {\n}\n}"],
        ),
        ("virtual_server", "real_server") => {
            f("real_server 10.0.0.1 80 {".into(), &[], &["TCP_CHECK {\n}"])
        }
        ("real_server", "HTTP_GET" | "SSL_GET") => {
            f(format!("{path_elem} {{"), &[], &["url {\npath /\n}"])
        }
        ("real_server", "UPKEEP_PLUGIN") => {
            f("UPKEEP_PLUGIN {".into(), &["file %DIR%/plugin.wasm"], &[])
        }
        ("real_server", "MISC_CHECK") => f("MISC_CHECK {".into(), &["misc_path /bin/true"], &[]),
        ("real_server", "FILE_CHECK") => f("FILE_CHECK {".into(), &["track_file tf"], &[]),
        ("HTTP_GET" | "SSL_GET", "url") => f("url {".into(), &["path /"], &[]),
        // Blocks upkeep skips whole, and the rest: nothing needed inside.
        (_, name) => f(format!("{name} {{"), &[], &[]),
    }
}

/// One keyword in its block, or several keywords sharing one block.
struct Piece {
    rows: Vec<Row>,
    /// Names the piece's "accepted but not supported" warnings give.
    warnings: BTreeSet<String>,
    /// Global settings act on the whole file: such a piece gets a file of its own.
    alone: bool,
}

/// Where a piece landed in its file.
struct Placed {
    rows: Vec<(Row, usize)>,
    range: (usize, usize),
    /// For rows warned about through their block: the block's line.
    block_line: usize,
}

/// What examples refer to: a script, a process, a file to track, and the
/// instance `lvs_sync_daemon` names (VRID 254: pieces use 1-240, examples 250-253).
const PREAMBLE: &str = "vrrp_script chk {\nscript /bin/true\n}\nvrrp_track_process tp {\nprocess sshd\n}\nvrrp_track_file tf {\nfile %DIR%/track\n}\nvrrp_instance VI_sync {\ninterface lo\nvirtual_router_id 254\npriority 100\nvirtual_ipaddress {\n192.0.2.254\n}\ntrack_script {\nchk\n}\ntrack_process {\ntp\n}\ntrack_file {\ntf\n}\n}\n";

fn render(text: &str, n: usize, dir: &Path) -> String {
    text.replace("%N%", &n.to_string())
        .replace("%DIR%", &dir.display().to_string())
}

/// The file being written and its line count.
struct Out<'a> {
    text: String,
    lines: usize,
    n: usize,
    dir: &'a Path,
}

impl Out<'_> {
    /// Appends `text`, returning the number of its first line.
    fn push(&mut self, text: &str) -> usize {
        let start = self.lines + 1;
        for l in render(text, self.n, self.dir).lines() {
            self.text.push_str(l);
            self.text.push('\n');
            self.lines += 1;
        }
        start
    }
}

/// Writes a piece at the end of `out`.
fn place(piece: &Piece, out: &mut Out) -> Placed {
    let n = out.n;
    let path: Vec<&str> = piece.rows[0].block.split('/').collect();
    let path: Vec<&str> = if path == ["TOP"] { Vec::new() } else { path };
    let start = out.lines + 1;
    let frames: Vec<Frame> = path
        .iter()
        .enumerate()
        .map(|(i, e)| frame(e, if i == 0 { "" } else { path[i - 1] }, n))
        .collect();
    for f in &frames {
        for b in &f.before {
            out.push(b);
        }
    }
    // Words the rows write themselves (a keyword, or one an example adds
    // beside it) replace a frame's line for the same word.
    let written: BTreeSet<String> = piece
        .rows
        .iter()
        .flat_map(|r| {
            let mut w = vec![r.keyword.clone()];
            if let Some(e) = &r.example {
                w.extend(
                    e.lines()
                        .skip(1)
                        .filter_map(|l| l.split_whitespace().next())
                        .map(str::to_string),
                );
            }
            // A plugin takes the place of the script.
            if r.keyword.starts_with("upkeep_plugin") {
                w.push("script".into());
            }
            w
        })
        .collect();
    let mut block_line = start;
    let last = frames.len().saturating_sub(1);
    for (i, f) in frames.iter().enumerate() {
        let at = out.push(&f.open);
        if piece.rows[0].warning.as_deref() == path.get(i).copied() {
            block_line = at;
        }
        let innermost = i == last;
        for l in f
            .required
            .iter()
            .chain(f.when_innermost.iter().filter(|_| innermost))
        {
            let first = l.split_whitespace().next().unwrap_or("");
            if !(innermost && written.contains(first)) {
                out.push(l);
            }
        }
    }
    let mut rows = Vec::new();
    for r in &piece.rows {
        let text = match &r.example {
            Some(e) => format!("{} {e}", r.keyword),
            None => r.keyword.clone(),
        };
        rows.push((r.clone(), out.push(&text)));
    }
    for _ in &frames {
        out.push("}");
    }
    Placed {
        rows,
        range: (start, out.lines),
        block_line,
    }
}

#[derive(Debug)]
struct Diag {
    line: usize,
    error: bool,
    message: String,
}

fn check(file: &Path) -> (Vec<Diag>, Vec<String>) {
    let out = Command::new(env!("CARGO_BIN_EXE_upkeepd"))
        .arg("-t")
        .arg("-f")
        .arg(file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let prefix = format!("{}:", file.display());
    let mut diags = Vec::new();
    let mut other = Vec::new();
    for l in stderr.lines() {
        let located = l.strip_prefix(&prefix).and_then(|rest| {
            let mut parts = rest.splitn(3, ':');
            let line = parts.next()?.parse().ok()?;
            parts.next()?;
            let rest = parts.next()?.trim_start();
            let (sev, msg) = rest.split_once(": ")?;
            Some(Diag {
                line,
                error: sev == "error",
                message: msg.to_string(),
            })
        });
        match located {
            Some(d) => diags.push(d),
            None if l.ends_with("warning(s)")
                || l.ends_with("configuration is invalid; not starting")
                || l.trim().is_empty() => {}
            None => other.push(l.to_string()),
        }
    }
    (diags, other)
}

fn names_unsupported(d: &Diag, name: &str) -> bool {
    !d.error && d.message == format!("'{name}' is accepted but not supported; it has no effect")
}

#[test]
fn upkeepd_does_what_each_row_says() {
    let rows = table();
    let dir = std::env::temp_dir().join(format!("upkeep-keywords-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // What the examples point at: a file to track, a plugin's header.
    std::fs::write(dir.join("track"), "0\n").unwrap();
    std::fs::write(dir.join("plugin.wasm"), b"\0asm\x0d\x00\x01\x00").unwrap();

    // Rows warned about through a block that upkeep skips whole share one
    // copy of the block; every other row gets its own.
    let mut pieces: Vec<Piece> = Vec::new();
    let mut by_block: BTreeMap<String, usize> = BTreeMap::new();
    for r in rows {
        let through_block = r.status == Status::Warn && r.warning.as_ref() != Some(&r.keyword);
        if through_block && let Some(&i) = by_block.get(&r.block) {
            pieces[i].rows.push(r);
            continue;
        }
        let warnings = match (&r.status, &r.warning) {
            (Status::Warn, Some(w)) => BTreeSet::from([w.clone()]),
            _ => BTreeSet::new(),
        };
        let alone = r.block == "global_defs" && r.status == Status::Implemented;
        if through_block {
            by_block.insert(r.block.clone(), pieces.len());
        }
        pieces.push(Piece {
            rows: vec![r],
            warnings,
            alone,
        });
    }

    // Warnings are given once per name and load: a name at most once per file.
    let mut files: Vec<(Vec<usize>, BTreeSet<String>, bool)> = Vec::new();
    for (i, p) in pieces.iter().enumerate() {
        let slot = files.iter_mut().find(|(members, names, alone)| {
            !p.alone && !*alone && members.len() < 110 && names.is_disjoint(&p.warnings)
        });
        match slot {
            Some((members, names, _)) => {
                members.push(i);
                names.extend(p.warnings.iter().cloned());
            }
            None => files.push((vec![i], p.warnings.clone(), p.alone)),
        }
    }

    let mut problems = Vec::new();
    let mut checked = 0;
    for (fi, (members, _, _)) in files.iter().enumerate() {
        let path = dir.join(format!("keywords-{fi}.conf"));
        let mut out = Out {
            text: String::new(),
            lines: 0,
            n: 0,
            dir: &dir,
        };
        out.push(PREAMBLE);
        let mut placed = Vec::new();
        for (k, &pi) in members.iter().enumerate() {
            out.n = k + 1;
            placed.push(place(&pieces[pi], &mut out));
        }
        let text = out.text;
        std::fs::write(&path, &text).unwrap();
        let (diags, other) = check(&path);
        let show = |what: String| format!("{}: {what}", path.display());
        for o in &other {
            problems.push(show(format!("unexpected output: {o}")));
        }
        for d in &diags {
            if !placed
                .iter()
                .any(|p| (p.range.0..=p.range.1).contains(&d.line))
            {
                problems.push(show(format!(
                    "line {} outside every row: {}",
                    d.line, d.message
                )));
            }
        }
        for p in &placed {
            let inside: Vec<&Diag> = diags
                .iter()
                .filter(|d| (p.range.0..=p.range.1).contains(&d.line))
                .collect();
            for (r, at) in &p.rows {
                checked += 1;
                let at_row: Vec<&Diag> = inside.iter().copied().filter(|d| d.line == *at).collect();
                let what = format!(
                    "{} '{}' ({:?}, status.tsv:{})",
                    r.block, r.keyword, r.status, r.line
                );
                match r.status {
                    Status::Implemented => {
                        for d in &inside {
                            problems.push(format!(
                                "{what}: line {}: {}: {}",
                                d.line,
                                if d.error { "error" } else { "warning" },
                                d.message
                            ));
                        }
                    }
                    Status::Warn => {
                        let name = r.warning.clone().unwrap_or_default();
                        let errors: Vec<_> = inside.iter().filter(|d| d.error).collect();
                        if !errors.is_empty() {
                            problems.push(format!("{what}: errors {errors:?}"));
                        }
                        let warned: Vec<_> = diags
                            .iter()
                            .filter(|d| names_unsupported(d, &name))
                            .collect();
                        let expected_line = if name == r.keyword { *at } else { p.block_line };
                        if warned.len() != 1 || warned[0].line != expected_line {
                            problems.push(format!(
                                "{what}: expected one warning naming '{name}' at line {expected_line}, got {warned:?}"
                            ));
                        }
                        if name != r.keyword && !at_row.is_empty() {
                            problems
                                .push(format!("{what}: inside a skipped block, yet {at_row:?}"));
                        }
                    }
                    Status::Reject => {
                        if !inside.iter().any(|d| {
                            d.error
                                && d.line == *at
                                && d.message.contains(&format!("'{}'", r.keyword))
                        }) {
                            problems.push(format!(
                                "{what}: expected an error naming it at line {at}, got {inside:?}"
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(checked > 400, "only {checked} rows checked");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        problems.is_empty(),
        "{} problem(s) in {} files:\n{}",
        problems.len(),
        files.len(),
        problems.join("\n")
    );
}

/// "Did you mean" draws only from the lists, so only from real names.
#[test]
fn suggestions_are_real_names() {
    let dir = std::env::temp_dir().join(format!("upkeep-keywords-dym-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("k.conf");
    let mut text = String::new();
    writeln!(
        text,
        "global_defs {{\nvrrp_nftables\nnftable_priority 1\nlvs_flush_on_sto\n}}"
    )
    .unwrap();
    writeln!(text, "SSL {{\ncertificat /x\n}}").unwrap();
    std::fs::write(&path, &text).unwrap();
    let (diags, _) = check(&path);
    let msgs: Vec<&str> = diags.iter().map(|d| d.message.as_str()).collect();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        msgs.iter()
            .any(|m| m.contains("unknown keyword 'vrrp_nftables'")
                && m.ends_with("did you mean 'nftables'?")),
        "{msgs:#?}"
    );
    assert!(
        msgs.iter()
            .any(|m| m.contains("did you mean 'nftables_priority'")),
        "{msgs:#?}"
    );
    assert!(
        msgs.iter()
            .any(|m| m.contains("did you mean 'lvs_flush_on_stop'")),
        "{msgs:#?}"
    );
    assert!(
        msgs.iter()
            .any(|m| m.contains("unknown keyword 'certificat' in SSL")
                && m.contains("did you mean 'certificate'")),
        "{msgs:#?}"
    );
    assert!(
        msgs.iter()
            .any(|m| m.contains("'SSL' is accepted but not supported")),
        "{msgs:#?}"
    );
}
