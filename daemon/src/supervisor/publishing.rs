//! The parent's side of publishing: the status document it builds, the
//! metrics worker's listener and feed, and the paced publication
//! (`publish.rs` holds the pacing and the file).

use std::time::Instant;

use tracing::error;

use super::{Parent, publish};
use crate::config::model::Config;
use crate::control;
use crate::control::status::{ChecksView, StatusDoc, StatusView};
use crate::ipc::Msg;
use crate::ipc::msg::Role;
use crate::names::Name;

/// The metrics listener, bound here (root: any port) once at start and
/// handed to every incarnation of the metrics worker, which serves it.
pub(super) fn bind_metrics(cfg: &Config) -> Option<publish::Metrics> {
    let addr = cfg.global.metrics_address?;
    match std::net::TcpListener::bind(addr) {
        Ok(listener) => Some(publish::Metrics::new(listener)),
        Err(e) => {
            error!(address = %addr, error = %e, "cannot serve metrics");
            None
        }
    }
}

impl Parent {
    pub(super) fn status_doc(&self) -> StatusDoc {
        self.with_status(|v| v.to_doc())
    }

    /// A slot in the records for every check of the committed
    /// configuration (the checker's and the parent's own), at start and at
    /// each commit; the record shares their names with what is accepted.
    pub(super) fn bind_records(&mut self) {
        self.record.bind_checks(
            self.accepted.current.clone(),
            self.local_sources.current.clone(),
        );
    }

    /// Calls `f` with the status as it is now, borrowed from the records.
    pub(super) fn with_status<R>(&self, f: impl FnOnce(&StatusView<'_>) -> R) -> R {
        let policy = |source: Name<'_>| self.routing.describe(source);
        // Unpacked for this view only (see `ipvs_record`).
        let virtual_servers = self.record.virtual_servers.unpack();
        let view = StatusView {
            pid: std::process::id(),
            config: self.opts.config_path.display().to_string(),
            generation: self.generation,
            reload: self.reload_status.as_ref(),
            instances: &self.record.instances,
            unmatched_drops: &self.record.unmatched_drops,
            checks: ChecksView::new(&self.record.checks, &policy),
            virtual_servers: &virtual_servers,
            ipvs: self.workers.get(Role::Ipvs).map(|_| &self.record.ipvs),
            workers: self.workers.status(),
            scripts: self
                .plan
                .entries
                .iter()
                .map(|e| {
                    let a = self.plan.account(e);
                    crate::control::status::ScriptStatus {
                        owner: e.owner.clone(),
                        keyword: e.keyword.clone(),
                        command: e.command.clone(),
                        user: a.map(|a| a.name.clone()),
                        uid: a.map(|a| a.uid),
                        gid: a.map(|a| a.gid),
                        runs_in: if e.by_parent { "parent" } else { "checker" }.into(),
                    }
                })
                .collect(),
            mail: self.mailer.configured().then(|| self.mailer.status()),
        };
        f(&view)
    }

    /// Gives the metrics worker a new rendering when its copy is stale and
    /// the pace allows (`doc`: the status just built, if any).
    pub(super) fn feed_metrics(&mut self, doc: Option<&StatusDoc>) {
        let Some(m) = &mut self.metrics else { return };
        if !self.workers.present(Role::Metrics) || !m.due(Instant::now()) {
            return;
        }
        let text = match doc {
            Some(d) => control::metrics::render(d),
            None => control::metrics::render(&self.status_doc()),
        };
        if let Some(m) = &mut self.metrics {
            m.sent(Instant::now());
        }
        self.workers.send(Role::Metrics, Msg::Metrics { text });
    }

    /// Shares the status (status.json, metrics) and STATUS=, when due.
    pub(super) fn publish(&mut self, force: bool) {
        if self.record.take_verdict_changes() {
            self.publisher.touch();
        }
        if !self.publisher.due(force) {
            return;
        }
        let started = Instant::now();
        if let Some(m) = &mut self.metrics {
            m.changed();
        }
        self.feed_metrics(None);
        self.with_status(|v| publish::write_status(&self.opts.runtime_dir, v));
        self.publisher.published(started);
        crate::sys::mem::trim_heap_now_and_then();
        if self.ready_sent && self.reload.is_none() && !self.stopping {
            let line = publish::status_line(&self.record, self.reload_status.as_ref());
            if line != self.publisher.last_status_line {
                self.tell_systemd(|sd| sd.status(&line));
                self.publisher.last_status_line = line;
            }
        }
    }
}
