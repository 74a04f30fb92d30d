//! The groups' timers (6.5, 6.6.3) and the bookkeeping after every change:
//! the wake-up index and the membership deltas handed to the group manager.

use std::time::Instant;

use super::{IgmpAction, IgmpRouter, emit_delta};
use crate::core::igmp::stats::IgmpLog;
use crate::core::types::{GroupAddr, MembershipKey};

impl IgmpRouter {
    pub(super) fn process_timers(&mut self, now: Instant, out: &mut Vec<IgmpAction>) {
        // Other Querier Present timer: the role comes back to us (6.6.2).
        if let Some((_, t)) = self.other_querier
            && t <= now
        {
            self.other_querier = None;
            self.learned_rv = None;
            self.learned_qi = None;
            if self.is_querier()
                && let Some(a) = self.ifaddr
            {
                out.push(IgmpAction::Log(IgmpLog::QuerierUp { address: a }));
                self.gq_next = Some(now);
                self.startup_left = 0;
            }
        }
        if let Some(t) = self.gq_next
            && t <= now
        {
            if self.is_querier() {
                self.send_general_query(out);
                self.gq_last = Some(now);
                self.startup_left = self.startup_left.saturating_sub(1);
                let next = if self.startup_left > 0 {
                    self.cfg.startup_query_interval
                } else {
                    self.cfg.query_interval
                };
                self.gq_next = Some(now + next);
            } else {
                self.gq_next = None;
            }
        }
        if self.recovery.pending && self.recovery.next.is_some_and(|t| t <= now) {
            self.recovery.pending = false;
            if let Some(max_resp) = self.cfg.recovery_query_response_interval
                && self.is_querier()
            {
                self.send_recovery_query(now, max_resp, out);
            }
        }
        while let Some((t, g)) = self.wakes.first() {
            if t > now {
                break;
            }
            self.wakes.pop_first();
            if let Some(grp) = self.groups.get_mut(&g) {
                grp.wake = None;
            }
            self.process_group_timers(now, g, out);
        }
    }

    pub(super) fn process_group_timers(
        &mut self,
        now: Instant,
        g: GroupAddr,
        out: &mut Vec<IgmpAction>,
    ) {
        let querier = self.is_querier();
        let lmq = self.lmq();
        let mut before = self.view_buffer();
        let Some(grp) = self.groups.get_mut(&g) else {
            return;
        };
        grp.view(g, &mut before);
        if grp.lmq_next.is_some_and(|t| t <= now) {
            if querier {
                let r = grp.retransmit(now, lmq);
                if let Some(s) = r.group {
                    self.send_specific_query(g, s, Vec::new(), out);
                }
                if !r.suppressed.is_empty() {
                    self.send_specific_query(g, true, r.suppressed, out);
                }
                if !r.plain.is_empty() {
                    self.send_specific_query(g, false, r.plain, out);
                }
            } else {
                grp.cancel_retrans();
            }
        }
        self.expire_group(now, g, before, out);
    }

    /// Run the group's expiry, emit the view delta and logs, drop the
    /// group if empty, re-index its wake time.
    pub(super) fn expire_group(
        &mut self,
        now: Instant,
        g: GroupAddr,
        before: Vec<MembershipKey>,
        out: &mut Vec<IgmpAction>,
    ) {
        let Some(grp) = self.groups.get_mut(&g) else {
            return;
        };
        let e = grp.expire(now);
        if e.compat_changed {
            out.push(IgmpAction::Log(IgmpLog::CompatChanged {
                group: g,
                compat: grp.compat(),
            }));
        }
        if e.mode_changed && !grp.is_empty() {
            out.push(IgmpAction::Log(IgmpLog::ModeChanged {
                group: g,
                mode: grp.mode,
            }));
        }
        self.finish_group(g, before, out);
    }

    /// Emit the delta between `before` and the group's view now, delete
    /// it when empty, and update the wake index.
    pub(super) fn finish_group(
        &mut self,
        g: GroupAddr,
        before: Vec<MembershipKey>,
        out: &mut Vec<IgmpAction>,
    ) {
        let mut after = std::mem::take(&mut self.views.1);
        after.clear();
        let empty = match self.groups.get(&g) {
            Some(grp) => {
                grp.view(g, &mut after);
                grp.is_empty()
            }
            None => true,
        };
        emit_delta(&before, &after, out);
        self.views = (before, after);
        if empty {
            if let Some(grp) = self.groups.remove(&g) {
                if let Some(w) = grp.wake {
                    self.wakes.remove(w, g);
                }
                out.push(IgmpAction::Log(IgmpLog::GroupDeleted { group: g }));
            }
        } else {
            self.rewake(g);
        }
    }

    /// An empty buffer for a group's view before a change; hand it to
    /// [`Self::finish_group`], which keeps it for the next change.
    pub(super) fn view_buffer(&mut self) -> Vec<MembershipKey> {
        let mut v = std::mem::take(&mut self.views.0);
        v.clear();
        v
    }

    pub(super) fn rewake(&mut self, g: GroupAddr) {
        if let Some(grp) = self.groups.get_mut(&g) {
            let w = grp.compute_wake();
            if w != grp.wake {
                if let Some(old) = grp.wake {
                    self.wakes.remove(old, g);
                }
                if let Some(new) = w {
                    self.wakes.insert(new, g);
                }
                grp.wake = w;
            }
        }
    }

    // ===== receive =====

    pub(super) fn remove_group(&mut self, g: GroupAddr, out: &mut Vec<IgmpAction>) {
        if let Some(grp) = self.groups.remove(&g) {
            let mut before = Vec::new();
            grp.view(g, &mut before);
            emit_delta(&before, &[], out);
            if let Some(w) = grp.wake {
                self.wakes.remove(w, g);
            }
            out.push(IgmpAction::Log(IgmpLog::GroupDeleted { group: g }));
        }
    }

    pub(super) fn flush(&mut self, out: &mut Vec<IgmpAction>) {
        for m in self.memberships() {
            out.push(IgmpAction::MembershipDown(m));
        }
        self.groups.clear();
        self.wakes.clear();
    }
}
