//! The notify FIFOs' side of keepalived's `fifo_open` (lib/notify.c): each
//! FIFO is held open read-write for as long as it is configured, so that
//! its reader never sees end-of-file between two lines (keepalived's
//! sample reader, `while read line; do ...; done < $FIFO`, would stop at
//! the first); and its `notify_fifo_script` / `vrrp_notify_fifo_script`
//! is started with the FIFO's path as its last argument, as its account
//! (`config::scripts`), restarted with a bounded back-off when it ends
//! (keepalived only logs that), and stopped with its process group when the
//! FIFO leaves the configuration or the daemon stops.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::spawn::Backoff;
use crate::config::model::Config;
use crate::config::scripts::{Kind, Plan, Prepared};
use crate::exec;

/// First and longest wait before restarting a reader that ended.
pub const RESTART_MIN: Duration = Duration::from_secs(1);
pub const RESTART_MAX: Duration = Duration::from_secs(30);

/// Each configured FIFO and the command that reads it (its path appended),
/// if any. keepalived ignores `vrrp_notify_fifo` when it names the same
/// FIFO as `notify_fifo`.
pub fn wanted(cfg: &Config, plan: &Plan) -> BTreeMap<PathBuf, Option<Prepared>> {
    let g = &cfg.global;
    let mut out = BTreeMap::new();
    for (fifo, script) in [
        (&g.notify_fifo, &g.notify_fifo_script),
        (&g.vrrp_notify_fifo, &g.vrrp_notify_fifo_script),
    ] {
        let Some(fifo) = fifo else { continue };
        let path = PathBuf::from(fifo);
        if out.contains_key(&path) {
            continue;
        }
        let reader = script
            .as_ref()
            .and_then(|s| plan.prepare_script(s, Kind::Notify))
            .filter(|p| !p.argv.is_empty())
            .map(|mut p| {
                p.argv.push(fifo.clone());
                p
            });
        out.insert(path, reader);
    }
    out
}

struct Held {
    /// Our read-write end: the FIFO always has a writer (and a reader).
    _fd: Option<File>,
    reader: Option<(Prepared, JoinHandle<()>)>,
}

/// The FIFOs held open and their readers.
#[derive(Default)]
pub struct FifoScripts {
    held: BTreeMap<PathBuf, Held>,
}

impl FifoScripts {
    /// Brings the FIFOs and readers to what `wanted` says: a reader whose
    /// command and account are unchanged keeps running across a reload.
    pub fn apply(&mut self, wanted: BTreeMap<PathBuf, Option<Prepared>>) {
        let gone: Vec<PathBuf> = self
            .held
            .keys()
            .filter(|p| !wanted.contains_key(*p))
            .cloned()
            .collect();
        for p in gone {
            if let Some(h) = self.held.remove(&p) {
                stop(&p, h.reader);
            }
        }
        for (path, reader) in wanted {
            let h = self.held.entry(path.clone()).or_insert_with(|| Held {
                _fd: hold(&path),
                reader: None,
            });
            if h.reader.as_ref().map(|(c, _)| c) == reader.as_ref() {
                continue;
            }
            stop(&path, h.reader.take());
            h.reader = reader.map(|cmd| {
                let task = tokio::spawn(supervise(path.clone(), cmd.clone()));
                (cmd, task)
            });
        }
    }

    /// Stops every reader (their process groups are killed) and closes the
    /// FIFOs; returns when the readers are gone.
    pub async fn stop(self) {
        let mut tasks = Vec::new();
        for (path, h) in self.held {
            if let Some((cmd, task)) = h.reader {
                info!(fifo = %path.display(), command = %cmd.argv.join(" "), "stopping the notify FIFO script");
                task.abort();
                tasks.push(task);
            }
        }
        // An aborted task drops its run, which kills the process group.
        for t in tasks {
            let _ = t.await;
        }
    }
}

fn stop(path: &std::path::Path, reader: Option<(Prepared, JoinHandle<()>)>) {
    if let Some((cmd, task)) = reader {
        info!(fifo = %path.display(), command = %cmd.argv.join(" "), "stopping the notify FIFO script");
        task.abort();
    }
}

/// Opens the FIFO read-write (never through a symlink; only a FIFO).
fn hold(path: &std::path::Path) -> Option<File> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path);
    match f {
        Ok(f) if f.metadata().is_ok_and(|m| m.file_type().is_fifo()) => Some(f),
        Ok(_) => {
            warn!(fifo = %path.display(), "not a FIFO; not held open");
            None
        }
        Err(e) => {
            warn!(fifo = %path.display(), error = %e, "notify FIFO not opened");
            None
        }
    }
}

/// Runs the reader until aborted; restarts it when it ends.
async fn supervise(fifo: PathBuf, cmd: Prepared) {
    let mut backoff = Backoff::new(RESTART_MIN, RESTART_MAX);
    loop {
        info!(fifo = %fifo.display(), command = %cmd.argv.join(" "), user = %cmd.account.name, "starting the notify FIFO script");
        let started = Instant::now();
        let f = exec::run(&exec::Command {
            argv: &cmd.argv,
            // It reads for as long as the FIFO exists.
            timeout: Duration::MAX,
            user: Some(&cmd.account),
            output: exec::Output::Keep,
        })
        .await;
        let delay = backoff.on_exit(started.elapsed());
        warn!(
            fifo = %fifo.display(),
            result = %f.describe(&cmd.argv, Duration::MAX),
            ran_ms = started.elapsed().as_millis() as u64,
            restart_in_ms = delay.as_millis() as u64,
            "notify FIFO script ended; restarting it"
        );
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::Account;
    use crate::config::model::Script;

    fn plan_and_cfg(text: &str) -> (Config, Plan) {
        let l = crate::config::load_str(
            "k.conf",
            text,
            crate::config::Format::Keepalived,
            &crate::config::LoadOptions::default(),
        );
        let plan = Plan::new(&l.config, &mut crate::config::diag::Diagnostics::default());
        (l.config, plan)
    }

    #[test]
    fn the_fifo_path_is_the_last_argument_and_a_shared_fifo_is_read_once() {
        let (cfg, plan) = plan_and_cfg(
            "global_defs {\n    notify_fifo /run/k.fifo\n    notify_fifo_script \"/bin/reader -v\" nobody\n    vrrp_notify_fifo /run/k.fifo\n    vrrp_notify_fifo_script /bin/other\n}\n",
        );
        let w = wanted(&cfg, &plan);
        assert_eq!(w.len(), 1);
        let r = w[&PathBuf::from("/run/k.fifo")].clone().unwrap();
        assert_eq!(r.argv, ["/bin/reader", "-v", "/run/k.fifo"]);
        assert_eq!(r.account.name, "nobody");
        assert_eq!(
            cfg.global.notify_fifo_script,
            Some(Script {
                command: "/bin/reader -v".into(),
                user: Some(crate::config::model::ScriptUser {
                    user: "nobody".into(),
                    group: None
                })
            })
        );
    }

    fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if f() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        f()
    }

    /// `notify_fifo_script`: started with the FIFO, reads every line (also
    /// after the writer closed, as our read-write end keeps it open), is
    /// restarted when it dies, and is gone with its group when stopped.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn notify_fifo_script() {
        let dir = std::env::temp_dir().join(format!("upkeep-fifo-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("k.fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let script = dir.join("reader.sh");
        let out = dir.join("out");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho \"start $$ $1\" >> {o}\nwhile read line; do echo \"$line\" >> {o}; done < \"$1\"\necho eof >> {o}\n",
                o = out.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let cmd = Prepared {
            argv: vec![script.display().to_string(), fifo.display().to_string()],
            account: Account::root(),
        };
        let mut f = FifoScripts::default();
        f.apply([(fifo.clone(), Some(cmd))].into_iter().collect());
        let read = || std::fs::read_to_string(&out).unwrap_or_default();
        assert!(wait_for(Duration::from_secs(5), || read().contains("start")));
        assert!(
            read().contains(&format!(" {}", fifo.display())),
            "{}",
            read()
        );
        // Two writers, each closing after its line: no end-of-file between them.
        for line in [
            "INSTANCE \"VI_1\" MASTER 100",
            "INSTANCE \"VI_1\" BACKUP 100",
        ] {
            let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
            std::io::Write::write_all(&mut w, format!("{line}\n").as_bytes()).unwrap();
        }
        assert!(
            wait_for(Duration::from_secs(5), || read().contains("BACKUP")),
            "{}",
            read()
        );
        assert!(!read().contains("eof"), "{}", read());
        // Killed: started again after the back-off's first step.
        let pid = |t: &str| -> Vec<i32> {
            t.lines()
                .filter_map(|l| l.strip_prefix("start "))
                .filter_map(|l| l.split_whitespace().next()?.parse().ok())
                .collect()
        };
        let first = pid(&read())[0];
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(first),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        let t = Instant::now();
        assert!(
            wait_for(Duration::from_secs(5), || pid(&read()).len() == 2),
            "{}",
            read()
        );
        let second = pid(&read())[1];
        eprintln!("restarted after {:?}", t.elapsed());
        assert!(t.elapsed() >= Duration::from_millis(900));
        f.stop().await;
        let alive = |p: i32| {
            std::path::Path::new(&format!("/proc/{p}")).exists()
                && !std::fs::read_to_string(format!("/proc/{p}/stat"))
                    .unwrap_or_default()
                    .contains(") Z")
        };
        assert!(
            wait_for(Duration::from_secs(2), || !alive(second)),
            "reader {second} still runs"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
