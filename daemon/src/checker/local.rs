//! Checks the parent runs itself: scripts with an account of their own
//! (`vrrp_script { user ... }`, `MISC_CHECK { user ... }`). The checker
//! runs as one unprivileged account and cannot change it, and it must not
//! be able to make anything run as another account; so the parent, which
//! schedules these from its own configuration only, runs them with
//! `exec`'s account switch. Same scheduler, fall/rise and messages as the
//! checker's (`worker::Checker`); the parent checks the results as it
//! checks the checker's.

use std::time::Duration;

use tokio::sync::mpsc;

use super::spec::Specs;
use super::worker::Checker;
use crate::ipc::Msg;

/// The parent's handle: new check lists in, results (`Checks`,
/// `RealServer`) out through the channel given to [`spawn`].
pub struct Local {
    load: mpsc::UnboundedSender<(u64, Specs)>,
    task: tokio::task::JoinHandle<()>,
}

/// A result and the generation of the check list that produced it.
pub type Report = (u64, Msg);

/// Starts the runner (idle until [`Local::load`]).
pub fn spawn(out: mpsc::Sender<Report>) -> Local {
    let (load, rx) = mpsc::unbounded_channel();
    Local {
        load,
        task: tokio::spawn(run(rx, out)),
    }
}

impl Local {
    /// Runs `specs` from now on (a check that did not change keeps its
    /// state); results carry `generation`.
    pub fn load(&self, generation: u64, specs: Specs) {
        let _ = self.load.send((generation, specs));
    }

    /// Stops every check (and the scripts running, with their groups).
    pub fn stop(self) {
        self.task.abort();
    }
}

async fn run(mut load: mpsc::UnboundedReceiver<(u64, Specs)>, out: mpsc::Sender<Report>) {
    let mut checker = Checker::new();
    let mut generation = 0;
    let mut flush = tokio::time::interval(Duration::from_secs(1));
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            l = load.recv() => {
                let Some((g, specs)) = l else { break };
                // Runs of the previous list end here: none of their
                // results is taken for the new list's checks.
                checker.stop();
                generation = g;
                checker.load(specs);
            }
            r = checker.next() => {
                for m in checker.record(r) {
                    if out.send((generation, m)).await.is_err() {
                        return;
                    }
                }
            }
            _ = flush.tick() => {
                let counters = checker.counters_due();
                while let Some(m) = checker.batch(counters) {
                    if out.send((generation, m)).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
    checker.stop();
}
