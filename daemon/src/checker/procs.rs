//! Process presence (keepalived's vrrp_track_process): counts processes by
//! name (the kernel's 15-character `comm`, or the first word of the command
//! line, with or without its directory) and optionally by arguments.

use std::path::Path;

/// Processes matching `name` (and `args`: the whole argument string by
/// default, its start with `initial`, anywhere with `partial`).
pub fn count(name: &str, args: Option<&str>, partial: bool, initial: bool) -> u32 {
    u32::try_from(matching(name, args, partial, initial).len()).unwrap_or(u32::MAX)
}

/// The pids of the matching processes.
pub fn matching(name: &str, args: Option<&str>, partial: bool, initial: bool) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            matches(
                Path::new("/proc").join(pid.to_string()).as_path(),
                name,
                args,
                partial,
                initial,
            )
        })
        .collect()
}

/// Resolves when any of `pids` exits (pidfd: the kernel wakes us), or never
/// when there is none to watch. Event-driven exits; new processes are seen
/// at the next scan.
pub async fn any_exit(pids: &[i32]) {
    let mut watched = Vec::new();
    for &pid in pids {
        // A process already gone has no pidfd: the next scan sees it gone.
        let Ok(fd) = crate::sys::process::pidfd_open(pid) else {
            continue;
        };
        if let Ok(a) = crate::sys::fd::register(fd, tokio::io::Interest::READABLE) {
            watched.push(a);
        }
    }
    if watched.is_empty() {
        return std::future::pending().await;
    }
    let waits = watched.iter().map(|a| Box::pin(a.readable()));
    let _ = futures::future::select_all(waits).await;
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

    /// Polls `cond` for up to 2 s.
    fn eventually(mut cond: impl FnMut() -> bool) -> bool {
        for _ in 0..200 {
            if cond() {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        false
    }

    #[test]
    fn counts_this_test_process_and_not_a_made_up_one() {
        let me = std::fs::read_to_string("/proc/self/comm").unwrap();
        assert!(count(me.trim(), None, false, false) >= 1);
        assert_eq!(count("no-such-process-name", None, false, false), 0);
        // A sleeping child with known arguments. Its command line appears a
        // moment after spawn returns (the parent resumes mid-exec): poll.
        let arg = format!("30.{}", std::process::id());
        let mut child = std::process::Command::new("sleep")
            .arg(&arg)
            .spawn()
            .unwrap();
        assert!(eventually(|| count("sleep", Some(&arg), false, false) >= 1));
        assert!(count("sleep", Some("30."), false, true) >= 1);
        assert!(count("sleep", Some(&arg[2..]), true, false) >= 1);
        assert_eq!(count("sleep", Some("31"), false, false), 0);
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn an_exit_wakes_the_watcher() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let arg = format!("31.{}", std::process::id());
            let mut child = tokio::process::Command::new("sleep")
                .arg(&arg)
                .kill_on_drop(true)
                .spawn()
                .unwrap();
            let pid = i32::try_from(child.id().unwrap()).unwrap();
            assert!(eventually(
                || matching("sleep", Some(&arg), false, false) == vec![pid]
            ));
            let watch = tokio::spawn(async move { any_exit(&[pid]).await });
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            assert!(!watch.is_finished(), "woke before the exit");
            child.kill().await.unwrap();
            tokio::time::timeout(std::time::Duration::from_secs(5), watch)
                .await
                .expect("the exit woke the watcher")
                .unwrap();
            // Nothing to watch: never resolves.
            let idle =
                tokio::time::timeout(std::time::Duration::from_millis(50), any_exit(&[])).await;
            assert!(idle.is_err());
        });
    }
}
