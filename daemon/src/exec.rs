//! Running an operator's command: health-check scripts (in the checker),
//! notify scripts and restart commands (in the parent). The one place that
//! spawns them, so that the rules are the same everywhere:
//!
//! - the command runs in a process group of its own; on timeout, or when
//!   the run is abandoned (the caller stops or reloads), the whole group is
//!   killed, so a script's own children do not outlive it;
//! - it runs as the account the caller names (or the caller's own);
//! - stdin is closed; stdout and stderr are read to the end (a script that
//!   fills a pipe must not hang) but only the first [`OUTPUT_LIMIT`] bytes
//!   of each are kept, or both are discarded;
//! - it inherits nothing else of ours: no descriptor above stderr, and a
//!   clean environment ([`PATH`] and `HOME=/`), as keepalived gives its
//!   scripts (the daemon's own environment may hold what systemd or the
//!   operator's shell put there);
//! - a command line is split into words as keepalived does ([`split_command`]).

#![forbid(unsafe_code)]

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::account::Account;

/// Most of a command's stdout (and of its stderr) kept; the rest is read
/// and dropped.
pub const OUTPUT_LIMIT: usize = 1024;
/// Most characters of the output line a result carries.
const SUMMARY_LIMIT: usize = 200;
/// The PATH a command gets.
pub const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What to run and how.
#[derive(Clone, Debug)]
pub struct Command<'a> {
    /// Program and arguments (the program as written: found through PATH
    /// when it has no slash).
    pub argv: &'a [String],
    pub timeout: Duration,
    /// Run as this account; None: as the calling process.
    pub user: Option<&'a Account>,
    /// Keep the output (a summary line for the result) or discard it.
    pub output: Output,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Keep,
    Discard,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ended {
    Exited(i32),
    Signalled(i32),
    /// Killed, with its process group, at the timeout.
    TimedOut,
    /// It could not be started (no such program, no permission...).
    NotStarted(String),
    /// Waiting for it failed.
    Lost(String),
}

/// The result of one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finished {
    pub ended: Ended,
    /// The last non-empty line of stderr (else stdout), at most
    /// [`SUMMARY_LIMIT`] characters; empty when the output was discarded.
    pub output: String,
}

impl Finished {
    pub fn success(&self) -> bool {
        self.ended == Ended::Exited(0)
    }

    /// A short description for logs and status: `exit 3: message`,
    /// `killed by signal 9`, `timed out after 300 ms; process group killed`.
    pub fn describe(&self, argv: &[String], timeout: Duration) -> String {
        let prog = argv.first().map(String::as_str).unwrap_or("");
        let head = match &self.ended {
            Ended::Exited(c) => format!("exit {c}"),
            Ended::Signalled(s) => format!("killed by signal {s}"),
            Ended::TimedOut => {
                return format!(
                    "timed out after {} ms; process group killed",
                    timeout.as_millis()
                );
            }
            Ended::NotStarted(e) if argv.is_empty() => return e.clone(),
            Ended::NotStarted(e) => return format!("cannot run {prog}: {e}"),
            Ended::Lost(e) => return format!("waiting for {prog}: {e}"),
        };
        if self.output.is_empty() {
            head
        } else {
            format!("{head}: {}", self.output)
        }
    }
}

/// Runs `cmd` to its end or its timeout.
pub async fn run(cmd: &Command<'_>) -> Finished {
    let not_started = |e: String| Finished {
        ended: Ended::NotStarted(e),
        output: String::new(),
    };
    let Some((prog, args)) = cmd.argv.split_first() else {
        return not_started("empty command".into());
    };
    let mut c = tokio::process::Command::new(prog);
    c.args(args)
        .env_clear()
        .env("PATH", PATH)
        .env("HOME", "/")
        .stdin(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    crate::sys::process::close_inherited_on_exec(c.as_std_mut());
    match cmd.output {
        Output::Keep => c.stdout(Stdio::piped()).stderr(Stdio::piped()),
        Output::Discard => c.stdout(Stdio::null()).stderr(Stdio::null()),
    };
    if let Some(a) = cmd.user {
        // std also drops the supplementary groups when root changes uid.
        c.uid(a.uid).gid(a.gid);
    }
    let mut child = match c.spawn() {
        Ok(ch) => ch,
        Err(e) => return not_started(e.to_string()),
    };
    // If this run is abandoned (the caller stops or reloads mid-run), the
    // whole group goes; a run that finishes leaves what it started alone.
    let mut group = GroupGuard(child.id().and_then(|p| i32::try_from(p).ok()));
    let (mut out, mut err) = (child.stdout.take(), child.stderr.take());
    let work = async {
        let (o, e) = tokio::join!(bounded(out.as_mut()), bounded(err.as_mut()));
        (child.wait().await, o, e)
    };
    match tokio::time::timeout(cmd.timeout, work).await {
        Ok((status, o, e)) => {
            group.0 = None;
            let ended = match status {
                Ok(s) => match (s.code(), s.signal()) {
                    (Some(c), _) => Ended::Exited(c),
                    (None, Some(sig)) => Ended::Signalled(sig),
                    _ => Ended::Lost("ended without a status".into()),
                },
                Err(e) => Ended::Lost(e.to_string()),
            };
            Finished {
                ended,
                output: summary(&o, &e),
            }
        }
        Err(_) => {
            group.kill();
            let _ = child.wait().await;
            Finished {
                ended: Ended::TimedOut,
                output: String::new(),
            }
        }
    }
}

/// Kills a command's process group when dropped while armed.
struct GroupGuard(Option<i32>);

impl GroupGuard {
    fn kill(&mut self) {
        if let Some(g) = self.0.take().filter(|g| *g > 0) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(g),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads to the end, keeping the first [`OUTPUT_LIMIT`] bytes.
async fn bounded<R: AsyncRead + Unpin>(r: Option<&mut R>) -> Vec<u8> {
    let mut kept = Vec::new();
    let Some(r) = r else { return kept };
    // On the heap: an idle check's task must stay small (thousands of them).
    let mut buf = vec![0u8; 4096];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => return kept,
            Ok(n) => {
                let room = OUTPUT_LIMIT.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
}

fn summary(out: &[u8], err: &[u8]) -> String {
    let pick = if err.is_empty() { out } else { err };
    let s = String::from_utf8_lossy(pick);
    let line = s.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
    line.chars().take(SUMMARY_LIMIT).collect()
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Vec<String> {
        vec!["/bin/sh".into(), "-c".into(), script.into()]
    }

    fn cmd(argv: &[String], timeout: Duration) -> Command<'_> {
        Command {
            argv,
            timeout,
            user: None,
            output: Output::Keep,
        }
    }

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

    #[tokio::test(flavor = "current_thread")]
    async fn exits_signals_and_failures_to_start_are_told_apart() {
        let t = Duration::from_secs(5);
        let ok = run(&cmd(&sh("echo fine; exit 0"), t)).await;
        assert!(ok.success());
        assert_eq!(ok.output, "fine");
        let bad = run(&cmd(&sh("echo out; echo broken >&2; exit 3"), t)).await;
        assert_eq!(bad.ended, Ended::Exited(3));
        assert_eq!(bad.describe(&sh(""), t), "exit 3: broken");
        let killed = run(&cmd(&sh("kill -9 $$"), t)).await;
        assert_eq!(killed.ended, Ended::Signalled(9));
        let missing = ["/no/such/program".to_string()];
        let m = run(&cmd(&missing, t)).await;
        assert!(matches!(m.ended, Ended::NotStarted(_)));
        assert!(
            m.describe(&missing, t)
                .starts_with("cannot run /no/such/program: ")
        );
        assert_eq!(run(&cmd(&[], t)).await.describe(&[], t), "empty command");
        let noisy = sh("echo noise; exit 0");
        let quiet = Command {
            output: Output::Discard,
            ..cmd(&noisy, t)
        };
        assert_eq!(run(&quiet).await.output, "");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_hanging_command_is_killed_with_its_whole_group_at_its_timeout() {
        let dir = std::env::temp_dir().join(format!("upkeep-exec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let marker = dir.join("child-alive");
        // The command's own child would survive a plain kill of the command.
        let script = format!("sleep 30 & echo $! > {}; wait", marker.display());
        let started = std::time::Instant::now();
        let f = run(&cmd(&sh(&script), Duration::from_millis(300))).await;
        assert_eq!(f.ended, Ended::TimedOut);
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

    /// Regression: commands inherited every descriptor the daemon had not
    /// marked close-on-exec, and the daemon's whole environment.
    #[tokio::test(flavor = "current_thread")]
    async fn a_command_inherits_no_descriptor_and_a_clean_environment() {
        // A descriptor of ours that is not close-on-exec.
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&a);
        nix::fcntl::fcntl(
            &a,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
        )
        .unwrap();
        let f = run(&cmd(
            &sh(&format!(
                "ls /proc/self/fd | tr '\\n' ' '; test -e /proc/self/fd/{fd} && echo LEAKED >&2; env | sort | tr '\\n' ' '"
            )),
            Duration::from_secs(5),
        ))
        .await;
        assert!(f.success(), "{f:?}");
        assert!(!f.output.contains("LEAKED"), "{f:?}");
        let words: Vec<&str> = f.output.split_whitespace().collect();
        assert!(
            words.iter().all(|w| !w.contains('=')
                || w.starts_with("PATH=")
                || w.starts_with("HOME=")
                || w.starts_with("PWD=")
                || w.starts_with("SHLVL=")
                || w.starts_with("_=")),
            "environment: {words:?}"
        );
        assert!(
            words.contains(&format!("PATH={PATH}").as_str()),
            "{words:?}"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn output_is_bounded_but_read_to_the_end() {
        // 1 MiB on stdout: more than a pipe holds, so a run that stopped
        // reading would hang until its timeout.
        let f = run(&cmd(
            &sh("head -c 1048576 /dev/zero | tr '\\0' x; echo; echo last"),
            Duration::from_secs(10),
        ))
        .await;
        assert!(f.success(), "{f:?}");
        assert!(f.output.len() <= SUMMARY_LIMIT);
    }
}
