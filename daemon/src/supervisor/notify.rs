//! Notify scripts and FIFO lines on state changes, as keepalived runs them:
//! `notify_master` / `notify_backup` / `notify_fault` / `notify_stop` as
//! written, and `notify` with `TYPE NAME STATE PRIORITY` appended.
//! upkeep adds one word: an instance that `upkeepctl maintenance` holds in
//! Backup is `MAINTENANCE` (its specific script is `notify_backup`).
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

use super::record::Notification;
use crate::config::model::Notify;
use crate::config::scripts::{Kind, Plan, Prepared};
use crate::exec;
use crate::vrrp::fsm::State;

pub const SCRIPT_TIMEOUT: Duration = Duration::from_secs(30);

/// keepalived's word for a state in notify arguments and FIFO lines, and
/// upkeep's `MAINTENANCE` for a Backup held by `upkeepctl maintenance`.
fn state_word(state: State, maintenance: bool) -> &'static str {
    match state {
        State::Initialize => "STOP",
        State::Backup if maintenance => "MAINTENANCE",
        _ => state.name(),
    }
}

/// The commands keepalived runs for a transition to `state`, each with the
/// account it runs as (see `config::scripts`); a script that must not run
/// (refused, unknown account) is left out.
pub fn commands(
    notify: &Notify,
    plan: &Plan,
    kind: &str,
    name: &str,
    state: State,
    maintenance: bool,
    priority: u8,
) -> Vec<Prepared> {
    let specific = match state {
        State::Master => notify.on_master.as_ref(),
        State::Backup => notify.on_backup.as_ref(),
        State::Fault => notify.on_fault.as_ref(),
        State::Initialize => notify.on_stop.as_ref(),
    };
    let mut out: Vec<Prepared> = specific
        .and_then(|s| plan.prepare_script(s, Kind::Notify))
        .into_iter()
        .collect();
    if let Some(mut generic) = notify
        .on_change
        .as_ref()
        .and_then(|s| plan.prepare_script(s, Kind::Notify))
    {
        let state_word = state_word(state, maintenance);
        generic.argv.extend([
            kind.to_string(),
            name.to_string(),
            state_word.to_string(),
            priority.to_string(),
        ]);
        out.push(generic);
    }
    out.retain(|p| !p.argv.is_empty());
    out
}

/// keepalived's FIFO line: `INSTANCE "VI_1" MASTER 100`.
pub fn fifo_line(kind: &str, name: &str, state: State, maintenance: bool, priority: u8) -> String {
    let state_word = state_word(state, maintenance);
    format!("{kind} \"{name}\" {state_word} {priority}\n")
}

struct Job {
    commands: Vec<Prepared>,
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

    /// Queues the notifications of one transition.
    pub fn transition(&mut self, n: &Notification, plan: &Plan) {
        let (kind, name) = (n.kind, n.name.as_str());
        let (state, maintenance, priority) = (n.state, n.maintenance, n.priority);
        let job = Job {
            commands: commands(&n.notify, plan, kind, name, state, maintenance, priority),
            fifo_line: (!self.fifos.is_empty())
                .then(|| fifo_line(kind, name, state, maintenance, priority)),
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
    pub fn commands(&mut self, queue: &str, commands: Vec<Prepared>) {
        let commands: Vec<Prepared> = commands
            .into_iter()
            .filter(|c| !c.argv.is_empty())
            .collect();
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
    // Never through a symlink, and only into a FIFO.
    let opened = tokio::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .await;
    let opened = match opened {
        Ok(f) => {
            use std::os::unix::fs::FileTypeExt;
            match f.metadata().await {
                Ok(m) if m.file_type().is_fifo() => Ok(f),
                _ => Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "not a FIFO",
                )),
            }
        }
        Err(e) => Err(e),
    };
    match opened {
        Ok(mut f) => {
            if let Err(e) = f.write_all(line.as_bytes()).await {
                warn!(fifo = %path.display(), error = %e, "notify fifo write failed");
            }
        }
        Err(e) => warn!(fifo = %path.display(), error = %e, "notify fifo not writable"),
    }
}

/// Runs one notify command, as its account, to its end or its timeout
/// (see [`crate::exec`]).
pub async fn run(cmd: &Prepared, timeout: Duration) -> exec::Finished {
    let argv = &cmd.argv;
    let f = exec::run(&exec::Command {
        argv,
        timeout,
        user: Some(&cmd.account),
        output: exec::Output::Discard,
    })
    .await;
    let result = f.describe(argv, timeout);
    let user = cmd.account.name.as_str();
    if f.success() {
        info!(command = %argv.join(" "), user, result = %result, "notify script finished");
    } else {
        warn!(command = %argv.join(" "), user, result = %result, "notify script failed");
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan::new(
            &crate::config::Config::default(),
            &mut crate::config::Diagnostics::default(),
        )
    }

    fn words(p: Vec<Prepared>) -> Vec<Vec<String>> {
        p.into_iter().map(|p| p.argv).collect()
    }

    #[test]
    fn notify_gets_type_name_state_priority() {
        let n = Notify {
            on_master: Some("/bin/m arg".into()),
            on_change: Some("/bin/n".into()),
            ..Notify::default()
        };
        let plan = plan();
        assert_eq!(
            words(commands(
                &n,
                &plan,
                "INSTANCE",
                "VI_1",
                State::Master,
                false,
                100
            )),
            vec![
                vec!["/bin/m", "arg"],
                vec!["/bin/n", "INSTANCE", "VI_1", "MASTER", "100"]
            ]
        );
        assert_eq!(
            words(commands(
                &n,
                &plan,
                "INSTANCE",
                "VI_1",
                State::Initialize,
                false,
                100
            ))[0],
            vec!["/bin/n", "INSTANCE", "VI_1", "STOP", "100"]
        );
        assert_eq!(
            fifo_line("INSTANCE", "VI_1", State::Backup, false, 99),
            "INSTANCE \"VI_1\" BACKUP 99\n"
        );
    }

    /// Maintenance: notify_backup runs, notify and the FIFO say MAINTENANCE.
    #[test]
    fn maintenance_is_its_own_word_with_the_backup_script() {
        let n = Notify {
            on_backup: Some("/bin/b".into()),
            on_change: Some("/bin/n".into()),
            ..Notify::default()
        };
        let plan = plan();
        assert_eq!(
            words(commands(
                &n,
                &plan,
                "INSTANCE",
                "VI_1",
                State::Backup,
                true,
                100
            )),
            vec![
                vec!["/bin/b"],
                vec!["/bin/n", "INSTANCE", "VI_1", "MAINTENANCE", "100"]
            ]
        );
        assert_eq!(
            fifo_line("INSTANCE", "VI_1", State::Backup, true, 100),
            "INSTANCE \"VI_1\" MAINTENANCE 100\n"
        );
        // A fault in maintenance is a fault.
        assert_eq!(state_word(State::Fault, true), "FAULT");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn scripts_run_in_order_per_instance() {
        let dir = std::env::temp_dir().join(format!("upkeep-order-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("log");
        let mut n = Notifier::new(Vec::new(), Duration::from_secs(5));
        let cmd = |delay: &str| Notify {
            on_change: Some(
                format!(
                    "/bin/sh -c 'sleep {delay}; echo $3 >> {}' sh",
                    log.display()
                )
                .as_str()
                .into(),
            ),
            ..Notify::default()
        };
        let plan = plan();
        let note = |notify, state| Notification {
            kind: "INSTANCE",
            name: "VI_1".into(),
            notify,
            state,
            maintenance: false,
            priority: 100,
        };
        n.transition(&note(cmd("0.3"), State::Master), &plan);
        n.transition(&note(cmd("0"), State::Backup), &plan);
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
