//! Process presence (keepalived's vrrp_track_process): counts processes by
//! name (the kernel's 15-character `comm`, or the first word of the command
//! line, with or without its directory) and optionally by arguments.

use std::path::Path;

/// Processes matching `name` (and `args`: the whole argument string by
/// default, its start with `initial`, anywhere with `partial`).
pub fn count(name: &str, args: Option<&str>, partial: bool, initial: bool) -> u32 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut n = 0u32;
    for e in dir.flatten() {
        let file_name = e.file_name();
        let Some(pid) = file_name
            .to_str()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        if matches(
            Path::new("/proc").join(pid).as_path(),
            name,
            args,
            partial,
            initial,
        ) {
            n = n.saturating_add(1);
        }
    }
    n
}

fn matches(dir: &Path, name: &str, args: Option<&str>, partial: bool, initial: bool) -> bool {
    let cmdline = std::fs::read(dir.join("cmdline")).unwrap_or_default();
    let words: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|w| !w.is_empty())
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
    let comm = comm.trim_end_matches('\n');
    let argv0 = words.first().map(String::as_str).unwrap_or("");
    let base = argv0.rsplit('/').next().unwrap_or("");
    // Kernel threads have no command line: never a match.
    if words.is_empty() {
        return false;
    }
    let named = comm == name || argv0 == name || base == name;
    if !named {
        return false;
    }
    let Some(want) = args else { return true };
    let have = words.get(1..).map(|w| w.join(" ")).unwrap_or_default();
    if partial {
        have.contains(want)
    } else if initial {
        have.starts_with(want)
    } else {
        have == want
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_this_test_process_and_not_a_made_up_one() {
        let me = std::fs::read_to_string("/proc/self/comm").unwrap();
        assert!(count(me.trim(), None, false, false) >= 1);
        assert_eq!(count("no-such-process-name", None, false, false), 0);
        // A sleeping child with known arguments.
        let mut child = std::process::Command::new("sleep")
            .arg("30.5")
            .spawn()
            .unwrap();
        assert!(count("sleep", Some("30.5"), false, false) >= 1);
        assert!(count("sleep", Some("30"), false, true) >= 1);
        assert!(count("sleep", Some(".5"), true, false) >= 1);
        assert_eq!(count("sleep", Some("31"), false, false), 0);
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
