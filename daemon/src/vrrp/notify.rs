//! Notify scripts and FIFO lines on state changes, as keepalived runs them:
//! `notify_master` / `notify_backup` / `notify_fault` / `notify_stop` as
//! written, and `notify` with `TYPE NAME STATE PRIORITY` appended.
//!
//! Each instance has its own queue, run in order by its own task, so a slow
//! script delays only later notifications of that instance and never the
//! protocol. A script that outlives its timeout is killed with its process group.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::fsm::State;
use crate::config::model::Notify;

pub const SCRIPT_TIMEOUT: Duration = Duration::from_secs(30);

/// Splits a command line into words: whitespace separates, `'...'` and
/// `"..."` group (quotes removed), `\` escapes the next character outside
/// single quotes. No other shell syntax.
pub fn split_command(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => cur.push(c),
            (_, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                in_word = true;
            }
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

/// keepalived's word for a state in notify arguments and FIFO lines.
fn state_word(state: State) -> &'static str {
    if state == State::Initialize {
        "STOP"
    } else {
        state.name()
    }
}

/// The commands keepalived runs for a transition to `state`.
pub fn commands(
    notify: &Notify,
    kind: &str,
    name: &str,
    state: State,
    priority: u8,
) -> Vec<Vec<String>> {
    let specific = match state {
        State::Master => notify.on_master.as_deref(),
        State::Backup => notify.on_backup.as_deref(),
        State::Fault => notify.on_fault.as_deref(),
        State::Initialize => notify.on_stop.as_deref(),
    };
    let mut out: Vec<Vec<String>> = specific.map(split_command).into_iter().collect();
    if let Some(generic) = notify.on_change.as_deref() {
        let mut words = split_command(generic);
        let state_word = state_word(state);
        words.extend([
            kind.to_string(),
            name.to_string(),
            state_word.to_string(),
            priority.to_string(),
        ]);
        out.push(words);
    }
    out.retain(|w| !w.is_empty());
    out
}

/// keepalived's FIFO line: `INSTANCE "VI_1" MASTER 100`.
pub fn fifo_line(kind: &str, name: &str, state: State, priority: u8) -> String {
    let state_word = state_word(state);
    format!("{kind} \"{name}\" {state_word} {priority}\n")
}

struct Job {
    commands: Vec<Vec<String>>,
    fifo_line: Option<String>,
}

/// Runs notifications off the protocol path.
pub struct Notifier {
    queues: HashMap<String, (mpsc::UnboundedSender<Job>, tokio::task::JoinHandle<()>)>,
    fifos: Vec<PathBuf>,
    timeout: Duration,
}

impl Notifier {
    pub fn new(fifos: Vec<PathBuf>, timeout: Duration) -> Self {
        Self {
            queues: HashMap::new(),
            fifos,
            timeout,
        }
    }

    /// Queues the notifications of one transition of `name`.
    pub fn transition(
        &mut self,
        kind: &str,
        name: &str,
        notify: &Notify,
        state: State,
        priority: u8,
    ) {
        let job = Job {
            commands: commands(notify, kind, name, state, priority),
            fifo_line: (!self.fifos.is_empty()).then(|| fifo_line(kind, name, state, priority)),
        };
        if job.commands.is_empty() && job.fifo_line.is_none() {
            return;
        }
        let fifos = self.fifos.clone();
        let timeout = self.timeout;
        let (tx, _) = self.queues.entry(name.to_string()).or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            (tx, tokio::spawn(worker(rx, fifos, timeout)))
        });
        let _ = tx.send(job);
    }

    /// Queues plain commands (IPVS's notify_up/down, quorum_up/down) behind
    /// what `queue` already runs; no FIFO line.
    pub fn commands(&mut self, queue: &str, commands: Vec<Vec<String>>) {
        let commands: Vec<Vec<String>> = commands.into_iter().filter(|c| !c.is_empty()).collect();
        if commands.is_empty() {
            return;
        }
        let timeout = self.timeout;
        let (tx, _) = self.queues.entry(queue.to_string()).or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            (tx, tokio::spawn(worker(rx, Vec::new(), timeout)))
        });
        let _ = tx.send(Job {
            commands,
            fifo_line: None,
        });
    }

    /// After a reload: the FIFOs the new configuration names.
    pub fn set_fifos(&mut self, fifos: Vec<PathBuf>) {
        self.fifos = fifos;
    }

    /// At shutdown: closes the queues and waits at most `limit` for what is
    /// queued (notify_stop among it) to run.
    pub async fn finish(self, limit: Duration) {
        let handles: Vec<_> = self.queues.into_values().map(|(_, h)| h).collect();
        let all = futures::future::join_all(handles);
        if tokio::time::timeout(limit, all).await.is_err() {
            warn!(
                limit_s = limit.as_secs_f64(),
                "notify scripts still running at exit"
            );
        }
    }
}

async fn worker(mut rx: mpsc::UnboundedReceiver<Job>, fifos: Vec<PathBuf>, timeout: Duration) {
    while let Some(job) = rx.recv().await {
        if let Some(line) = &job.fifo_line {
            for f in &fifos {
                write_fifo(f, line).await;
            }
        }
        for cmd in &job.commands {
            run(cmd, timeout).await;
        }
    }
}

async fn write_fifo(path: &PathBuf, line: &str) {
    // Non-blocking open: with no reader this fails (ENXIO) rather than hangs.
    let opened = tokio::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .await;
    match opened {
        Ok(mut f) => {
            if let Err(e) = f.write_all(line.as_bytes()).await {
                warn!(fifo = %path.display(), error = %e, "notify fifo write failed");
            }
        }
        Err(e) => warn!(fifo = %path.display(), error = %e, "notify fifo not writable"),
    }
}

/// Runs one command with a timeout; on timeout kills its process group.
pub async fn run(cmd: &[String], timeout: Duration) -> Option<std::process::ExitStatus> {
    let (prog, args) = cmd.split_first()?;
    let mut c = tokio::process::Command::new(prog);
    c.args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match c.spawn() {
        Ok(ch) => ch,
        Err(e) => {
            warn!(command = %cmd.join(" "), error = %e, "notify script did not start");
            return None;
        }
    };
    let pid = child.id();
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => {
            info!(command = %cmd.join(" "), status = %status, "notify script finished");
            Some(status)
        }
        Ok(Err(e)) => {
            warn!(command = %cmd.join(" "), error = %e, "notify script wait failed");
            None
        }
        Err(_) => {
            if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
                // SAFETY: kill(2) on the process group we created; no memory is involved.
                unsafe {
                    libc::kill(-pid, libc::SIGKILL);
                }
            }
            let _ = child.wait().await;
            warn!(command = %cmd.join(" "), timeout_s = timeout.as_secs_f64(), "notify script timed out; killed");
            None
        }
    }
}

/// Creates a notify FIFO that does not exist yet (as keepalived does).
pub fn ensure_fifo(path: &std::path::Path) {
    use std::os::unix::ffi::OsStrExt;
    if path.exists() {
        return;
    }
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return;
    };
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
        warn!(fifo = %path.display(), error = %std::io::Error::last_os_error(), "cannot create notify fifo");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_split_like_keepalived() {
        assert_eq!(
            split_command("/usr/local/bin/vrrp.sh  MASTER  VI_1"),
            vec!["/usr/local/bin/vrrp.sh", "MASTER", "VI_1"]
        );
        assert_eq!(
            split_command("a 'b c' \"d e\" f\\ g"),
            vec!["a", "b c", "d e", "f g"]
        );
        assert_eq!(split_command("  "), Vec::<String>::new());
        assert_eq!(split_command("x ''"), vec!["x", ""]);
    }

    #[test]
    fn notify_gets_type_name_state_priority() {
        let n = Notify {
            on_master: Some("/bin/m arg".into()),
            on_change: Some("/bin/n".into()),
            ..Notify::default()
        };
        assert_eq!(
            commands(&n, "INSTANCE", "VI_1", State::Master, 100),
            vec![
                vec!["/bin/m", "arg"],
                vec!["/bin/n", "INSTANCE", "VI_1", "MASTER", "100"]
            ]
        );
        assert_eq!(
            commands(&n, "INSTANCE", "VI_1", State::Initialize, 100)[0],
            vec!["/bin/n", "INSTANCE", "VI_1", "STOP", "100"]
        );
        assert_eq!(
            fifo_line("INSTANCE", "VI_1", State::Backup, 99),
            "INSTANCE \"VI_1\" BACKUP 99\n"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn hanging_script_is_killed_at_its_timeout() {
        let dir = std::env::temp_dir().join(format!("upkeep-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let marker = dir.join("child-alive");
        // The script's own child would survive a plain kill of the script.
        let script = format!("sleep 30 & echo $! > {}; wait", marker.display());
        let started = std::time::Instant::now();
        let status = run(
            &["/bin/sh".into(), "-c".into(), script],
            Duration::from_millis(300),
        )
        .await;
        assert!(status.is_none());
        assert!(started.elapsed() < Duration::from_secs(5));
        let pid: i32 = std::fs::read_to_string(&marker)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        // Gone, or a zombie waiting for its new parent to reap it.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit(')')
            .next()
            .and_then(|s| s.split_whitespace().next());
        assert!(
            matches!(state, None | Some("Z")),
            "the whole process group was killed: {stat}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn scripts_run_in_order_per_instance() {
        let dir = std::env::temp_dir().join(format!("upkeep-order-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("log");
        let mut n = Notifier::new(Vec::new(), Duration::from_secs(5));
        let cmd = |delay: &str| Notify {
            on_change: Some(format!(
                "/bin/sh -c 'sleep {delay}; echo $3 >> {}' sh",
                log.display()
            )),
            ..Notify::default()
        };
        n.transition("INSTANCE", "VI_1", &cmd("0.3"), State::Master, 100);
        n.transition("INSTANCE", "VI_1", &cmd("0"), State::Backup, 100);
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if std::fs::read_to_string(&log)
                .map(|s| s.lines().count())
                .unwrap_or(0)
                == 2
            {
                break;
            }
        }
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "MASTER\nBACKUP\n");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
