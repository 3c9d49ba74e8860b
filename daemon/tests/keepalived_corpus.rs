//! Acceptance (issue 15): real-world keepalived.conf files, in
//! `tests/fixtures/keepalived-corpus/` (origins in its SOURCES.md), are
//! accepted by Debian's keepalived 2.2.7 (`keepalived -t`, when installed)
//! and load in upkeep (`upkeepd -t`) with zero errors. upkeep's warnings are
//! printed per file, not asserted.
//!
//! Both checks run where the files expect to run: in a network namespace of
//! the test's own with the interfaces the corpus names (dummies), and in a
//! private mount namespace where the scripts the files name under
//! `/etc/keepalived` (and other absent directories) exist as root-owned stubs
//! and `include`d fragments (`NAME.d/` beside `NAME.conf`) sit where the
//! file includes them from. keepalived -t fails on a missing interface or
//! script, so without this it would reject every real file.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test crate fails by panicking

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::lab::Lab;

const KEEPALIVED: &str = "/usr/sbin/keepalived";

/// The corpus may grow; it must not silently empty.
const MIN_FILES: usize = 30;

/// Interfaces the corpus files name (`eth0` comes with the lab); made as
/// empty bridges (the kernel may lack the dummy module).
const INTERFACES: &[&str] = &[
    "eth1",
    "ens3",
    "ens18",
    "ens160",
    "ens192",
    "ens224",
    "enp0s3",
    "enp0s8",
    "bond0",
    "bond1",
    "vmbr0",
    "br-ex",
    "br-mgmt",
    // Neutron's L3 HA router ports
    "ha-5a1d2c3e-4f",
    "qr-9b8c7d6e-5f",
    "qg-1a2b3c4d-5e",
];

/// Keywords whose value starts with a script path.
const SCRIPT_KEYWORDS: &[&str] = &[
    "script",
    "misc_path",
    "notify",
    "notify_master",
    "notify_backup",
    "notify_fault",
    "notify_stop",
    "notify_deleted",
    "notify_master_rx_lower_pri",
    "notify_up",
    "notify_down",
    "quorum_up",
    "quorum_down",
    "notify_fifo_script",
    "vrrp_notify_fifo_script",
    "lvs_notify_fifo_script",
];

fn corpus_dir() -> PathBuf {
    common::repo().join("tests/fixtures/keepalived-corpus")
}

/// Every `*.conf` at the top of the corpus (fragments live in `NAME.d/`).
fn corpus_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("corpus directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "conf"))
        .collect();
    v.sort();
    v
}

/// The lines of a file without comments (`#` or `!` to the end of the line).
fn code_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(|l| l.split(['#', '!']).next().unwrap_or(""))
        .map(str::trim)
}

/// Keywords whose value starts with a file keepalived reads (vrrp_track_file).
const FILE_KEYWORDS: &[&str] = &["file"];

/// Absolute paths the file (and its fragments) name after one of `keywords`.
fn paths_after(text: &str, keywords: &[&str]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in code_lines(text) {
        let mut words = line.splitn(2, char::is_whitespace);
        let (Some(kw), Some(rest)) = (words.next(), words.next()) else {
            continue;
        };
        if !keywords.contains(&kw) {
            continue;
        }
        let path = rest
            .trim()
            .trim_start_matches(['"', '\''])
            .split(|c: char| c.is_whitespace() || c == '"' || c == '\'')
            .next()
            .unwrap_or("");
        if path.starts_with('/') {
            out.insert(path.to_string());
        }
    }
    out
}

/// The directories `include` lines read from.
fn include_dirs(text: &str) -> BTreeSet<String> {
    code_lines(text)
        .filter_map(|l| l.strip_prefix("include "))
        .filter_map(|p| {
            Path::new(p.trim())
                .parent()
                .map(|d| d.display().to_string())
        })
        .collect()
}

/// The deepest existing ancestor of `path`'s directory, where a tmpfs
/// will hold what the file needs there. Never a directory the system needs
/// (/etc holds the accounts keepalived looks up).
fn mount_point(path: &str) -> String {
    let mut dir = Path::new(path).parent().unwrap_or(Path::new("/"));
    while !dir.is_dir() {
        dir = dir.parent().unwrap_or(Path::new("/"));
    }
    let d = dir.display().to_string();
    assert!(
        ![
            "/",
            "/etc",
            "/usr",
            "/usr/bin",
            "/bin",
            "/usr/sbin",
            "/sbin",
            "/var",
            "/tmp"
        ]
        .contains(&d.as_str()),
        "{path}: the corpus may only name new files under a directory a tmpfs can cover (found {d})"
    );
    d
}

/// A shell script that sets up the file's environment in the (private)
/// mount namespace `ip netns exec` gives it, then execs its arguments.
fn environment(file: &Path) -> String {
    let text = std::fs::read_to_string(file).unwrap();
    let fragments = file.with_extension("d");
    let mut all_text = text.clone();
    let mut fragment_files = Vec::new();
    if fragments.is_dir() {
        for e in std::fs::read_dir(&fragments).unwrap() {
            let p = e.unwrap().path();
            all_text.push('\n');
            all_text.push_str(&std::fs::read_to_string(&p).unwrap());
            fragment_files.push(p);
        }
        fragment_files.sort();
    }
    let absent = |keywords| -> Vec<String> {
        paths_after(&all_text, keywords)
            .into_iter()
            .filter(|p| !Path::new(p).exists())
            .collect()
    };
    let scripts = absent(SCRIPT_KEYWORDS);
    let files = absent(FILE_KEYWORDS);
    let includes = include_dirs(&all_text);
    let mut mounts = BTreeSet::new();
    for p in scripts.iter().chain(&files) {
        mounts.insert(mount_point(p));
    }
    for d in &includes {
        mounts.insert(mount_point(&format!("{d}/x")));
    }
    let mut sh = String::from("set -e\nmount --make-rprivate /\n");
    for m in &mounts {
        sh.push_str(&format!("mount -t tmpfs -o mode=0755 corpus '{m}'\n"));
    }
    for s in &scripts {
        sh.push_str(&format!(
            "mkdir -p \"$(dirname '{s}')\"\nprintf '#!/bin/sh\\nexit 0\\n' > '{s}'\nchmod 0755 '{s}'\n"
        ));
    }
    for f in &files {
        sh.push_str(&format!("mkdir -p \"$(dirname '{f}')\"\necho 0 > '{f}'\n"));
    }
    for d in &includes {
        sh.push_str(&format!("mkdir -p '{d}'\n"));
        for f in &fragment_files {
            sh.push_str(&format!("cp '{}' '{d}/'\n", f.display()));
        }
    }
    sh.push_str("exec \"$@\"\n");
    sh
}

/// A namespace with the corpus's interfaces (up, no carrier; keepalived -t
/// only asks that they exist).
fn lab() -> Lab {
    let lab = Lab::new(1);
    for ifname in INTERFACES {
        lab.ip(0, &["link", "add", ifname, "type", "bridge"]);
        lab.ip(0, &["link", "set", ifname, "up"]);
    }
    lab
}

/// Runs `cmd` inside the lab's namespace and `file`'s environment.
fn run(lab: &Lab, file: &Path, cmd: &[&str]) -> Output {
    Command::new("ip")
        .args(["netns", "exec", &lab.nodes[0].ns, "sh", "-c"])
        .arg(environment(file))
        .arg("corpus-env")
        .args(cmd)
        .output()
        .expect("running ip netns exec")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn corpus_has_enough_files_each_with_its_origin() {
    let files = corpus_files();
    assert!(files.len() >= MIN_FILES, "{} files: {files:?}", files.len());
    let sources = std::fs::read_to_string(corpus_dir().join("SOURCES.md")).unwrap();
    for f in &files {
        let n = name(f);
        assert!(
            sources.contains(&format!("`{n}`")),
            "{n} is not in SOURCES.md"
        );
        let head = std::fs::read_to_string(f).unwrap();
        assert!(
            head.starts_with('#') || head.starts_with('!'),
            "{n} starts without its header comment"
        );
    }
}

/// keepalived 2.2.7's `-t` kills itself with SIGTERM after checking a
/// script as a non-root account (lib/notify.c check_script_secure(): in
/// config-test mode `main_pid` is its own pid, never its parent's); fixed
/// in 2.2.8 by aae8e910 "config_check: Don't kill process when checking
/// validity of scripts". For a file that names the `nobody` account, that
/// death is checked again on a copy with the accounts set to root, which
/// must then pass: everything else in the file is still checked.
fn killed_by_the_script_account_bug(out: &Output, text: &str) -> bool {
    use std::os::unix::process::ExitStatusExt;
    out.status.signal() == Some(libc::SIGTERM)
        && text
            .split(|c: char| !c.is_alphanumeric() && c != '_')
            .any(|w| w == "nobody")
}

fn with_root_accounts(text: &str) -> String {
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        let words: Vec<&str> = line.split(' ').collect();
        let mapped: Vec<&str> = words
            .iter()
            .map(|w| match w.trim_end() {
                "nobody" | "nogroup" => {
                    if w.ends_with('\n') {
                        "root\n"
                    } else {
                        "root"
                    }
                }
                _ => w,
            })
            .collect();
        out.push_str(&mapped.join(" "));
    }
    out
}

#[test]
fn keepalived_accepts_every_corpus_file() {
    if !Path::new(KEEPALIVED).exists() {
        eprintln!("{KEEPALIVED} is not installed: keepalived -t skipped");
        return;
    }
    let lab = lab();
    let mut rejected = Vec::new();
    for f in corpus_files() {
        let mut out = run(&lab, &f, &[KEEPALIVED, "-t", "-f", f.to_str().unwrap()]);
        let text_of_file = std::fs::read_to_string(&f).unwrap();
        if killed_by_the_script_account_bug(&out, &text_of_file) {
            let copy = lab.config_path(0, &name(&f));
            std::fs::write(&copy, with_root_accounts(&text_of_file)).unwrap();
            println!(
                "{}: keepalived 2.2.7 -t died of SIGTERM (its non-root script account bug); checking it with root accounts",
                name(&f)
            );
            out = run(&lab, &f, &[KEEPALIVED, "-t", "-f", copy.to_str().unwrap()]);
        }
        if !out.status.success() {
            rejected.push(format!("{}: {:?}\n{}", name(&f), out.status, text(&out)));
        }
    }
    assert!(
        rejected.is_empty(),
        "keepalived -t rejects corpus files:\n{}",
        rejected.join("\n")
    );
}

#[test]
fn upkeep_loads_every_corpus_file_without_errors() {
    let lab = lab();
    let mut failed = Vec::new();
    for f in corpus_files() {
        let out = run(
            &lab,
            &f,
            &[
                env!("CARGO_BIN_EXE_upkeepd"),
                "-t",
                "-f",
                f.to_str().unwrap(),
            ],
        );
        let all = text(&out);
        let errors: Vec<&str> = all.lines().filter(|l| l.contains(": error: ")).collect();
        let warnings: Vec<&str> = all.lines().filter(|l| l.contains(": warning: ")).collect();
        println!("{}: {} warning(s)", name(&f), warnings.len());
        for w in &warnings {
            println!("  {w}");
        }
        if !out.status.success() || !errors.is_empty() {
            failed.push(format!(
                "{}: {:?}\n{}",
                name(&f),
                out.status,
                errors.join("\n")
            ));
        }
    }
    assert!(
        failed.is_empty(),
        "upkeepd -t reports errors in corpus files:\n{}",
        failed.join("\n")
    );
}
