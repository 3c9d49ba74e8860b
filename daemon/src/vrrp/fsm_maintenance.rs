//! Resignations by an operator (`upkeepctl maintenance`, `upkeepctl
//! handover`): RFC 5798 §6.4.3's priority-0 advert, with the VIPs released
//! only once the new Master is heard, so that clients whose ARP cache still
//! names this node are served until the new Master's gratuitous ARP.
//!
//! - Maintenance holds the instance out of Master (Backup) until cleared.
//! - Handover holds it out of Master until another router's advert with a
//!   priority above 0 is heard, then it is an ordinary Backup again; if no
//!   other Master is heard within [`Instance::handover_bound`], the hold is
//!   given up so that the VIPs are not left without a Master.

use std::time::{Duration, Instant};

use super::{Action, Cause, HANDOVER, Instance, MAINTENANCE, PRIORITY_RESIGN, State};

impl Instance {
    /// Whether `upkeepctl maintenance` holds this instance.
    pub fn in_maintenance(&self) -> bool {
        self.resigned.contains(MAINTENANCE)
    }

    /// Whether a handover is waiting for another router's Master advert.
    pub fn handing_over(&self) -> bool {
        self.resigned.contains(HANDOVER)
    }

    /// Whether the VIPs are on this node: a Master's, or a resigned
    /// Master's until the new Master is heard.
    pub fn holds_vips(&self) -> bool {
        self.state == State::Master || self.release_at.is_some()
    }

    /// How long a resigned Master keeps its VIPs at most: a peer takes
    /// over within Skew_Time of the priority-0 advert, or, if that advert
    /// was lost, within its Master_Down_Interval of our last advert.
    pub fn release_bound(&self) -> Duration {
        self.master_down_interval() + self.master_adver_interval()
    }

    /// How long a handover waits for another Master before it is given up.
    pub fn handover_bound(&self) -> Duration {
        self.release_bound() * 2
    }

    pub(super) fn resign(
        &mut self,
        now: Instant,
        source: String,
        active: bool,
        out: &mut Vec<Action>,
    ) {
        if !active {
            if source == HANDOVER {
                self.handover_until = None;
            }
            self.resigned.remove(&source);
            return;
        }
        let first = self.resigned.is_empty();
        let (cause, graceful) = match source.as_str() {
            MAINTENANCE => (Cause::Maintenance, true),
            HANDOVER => (Cause::Handover, true),
            _ => (Cause::Resigned(source.clone()), false),
        };
        self.resigned.insert(source);
        if first && self.state == State::Master {
            out.push(Action::SendAdvert {
                priority: PRIORITY_RESIGN,
            });
            if graceful {
                self.release_later(now, cause, out);
            } else {
                self.become_backup(now, cause, out);
            }
        }
        self.wants_master = false;
    }

    /// A Master hands over; anything else has nothing to hand over.
    pub(super) fn handover(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.state != State::Master {
            return;
        }
        self.handover_until = Some(now + self.handover_bound());
        self.resign(now, HANDOVER.to_string(), true, out);
    }

    /// Master → Backup keeping the VIPs (and the no_accept rules) for now.
    fn release_later(&mut self, now: Instant, cause: Cause, out: &mut Vec<Action>) {
        self.adver_at = None;
        self.garp_at = None;
        self.refresh_at = None;
        self.release_at = Some(now + self.release_bound());
        self.master_down_at = Some(now + self.master_down_interval());
        self.transition(now, State::Backup, cause, out);
    }

    /// A Backup heard another router's Master advert (priority above 0):
    /// a resigned Master lets go of its VIPs, a handover is complete.
    pub(super) fn other_master_heard(&mut self, out: &mut Vec<Action>) {
        if self.release_at.take().is_some() {
            out.push(Action::RemoveVips(self.params.held.clone()));
        }
        if self.resigned.remove(HANDOVER) {
            self.handover_until = None;
        }
    }

    /// The release and handover bounds.
    pub(super) fn operator_timeouts(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.release_at.is_some_and(|t| t <= now) {
            self.release_at = None;
            out.push(Action::RemoveVips(self.params.held.clone()));
        }
        if self.handover_until.is_some_and(|t| t <= now) {
            self.handover_until = None;
            self.resigned.remove(HANDOVER);
        }
    }
}
