//! Changes of the interface itself: its address, its link state, a new
//! configuration (with the version change), and the stop.

use std::net::Ipv4Addr;
use std::time::Instant;

use super::{IgmpAction, IgmpRouter};
use crate::core::igmp::config::{IgmpIfConfig, IgmpVersion};
use crate::core::igmp::group::FilterMode;
use crate::core::igmp::stats::IgmpLog;
use crate::core::types::GroupAddr;

impl IgmpRouter {
    pub(super) fn process_address(
        &mut self,
        now: Instant,
        addr: Option<Ipv4Addr>,
        out: &mut Vec<IgmpAction>,
    ) {
        if addr == self.ifaddr {
            return;
        }
        let was_querier = self.is_querier();
        self.ifaddr = addr;
        if let (Some(a), Some(p)) = (addr, self.pending_querier)
            && a < p.address
        {
            self.pending_querier = None;
        }
        if let (Some(a), Some((q, _))) = (addr, self.other_querier)
            && a < q
        {
            // Our new address wins the election.
            self.other_querier = None;
            self.learned_rv = None;
            self.learned_qi = None;
        }
        match (was_querier, self.is_querier()) {
            (true, false) => self.stop_querier(self.other_querier.map(|(q, _)| q), out),
            // A new address for the querier: the election runs again from
            // it, as at start-up. The hosts and the other routers hear the
            // new address at once; a lower router takes the role with its
            // next general query (6.6.2). The groups stay.
            (_, true) => {
                if let Some(a) = addr {
                    out.push(IgmpAction::Log(IgmpLog::QuerierUp { address: a }));
                }
                self.start_querier(now);
                self.process_timers(now, out);
            }
            _ => {}
        }
    }

    pub(super) fn process_link_down(&mut self) {
        if self.link_down {
            return;
        }
        // Pending last-member retransmissions are dropped (their group
        // timers, already lowered, run out as usual); no general query is
        // due until the link is back.
        let mut quiet = Vec::new();
        if self.is_querier() {
            self.stop_querier(None, &mut quiet);
        }
        self.link_down = true;
        self.pending_querier = None;
    }

    pub(super) fn process_link_up(&mut self, now: Instant, out: &mut Vec<IgmpAction>) {
        if !self.link_down {
            return;
        }
        self.link_down = false;
        // Start-up again (6.6.2): querier first; another router with a
        // lower address takes the role with its next general query.
        self.other_querier = None;
        self.learned_rv = None;
        self.learned_qi = None;
        if self.is_querier()
            && let Some(a) = self.ifaddr
        {
            out.push(IgmpAction::Log(IgmpLog::QuerierUp { address: a }));
            self.start_querier(now);
            self.process_timers(now, out);
        }
    }

    pub(super) fn process_config(
        &mut self,
        now: Instant,
        cfg: IgmpIfConfig,
        out: &mut Vec<IgmpAction>,
    ) {
        let was_querier = self.is_querier();
        let old = std::mem::replace(&mut self.cfg, cfg);
        if old.version != self.cfg.version {
            self.convert_groups(old.version, out);
            if was_querier && self.is_querier() {
                // Queries of the new version, at the startup pace.
                self.start_querier(now);
            }
        }
        {
            // Groups the new filters refuse go away at once, and so do
            // EXCLUDE-mode groups in the SSM range (RFC 4604 2.2.1), on
            // every version: also those a change to v1/v2 has just made
            // EXCLUDE({}).
            let gone: Vec<GroupAddr> = self
                .groups
                .iter()
                .filter(|(g, grp)| {
                    g.is_link_local()
                        || !self.group_allowed(*g)
                        || (self.is_ssm(*g) && grp.mode == FilterMode::Exclude)
                })
                .map(|(g, _)| g)
                .collect();
            for g in gone {
                self.remove_group(g, out);
            }
            // A lowered limit: the highest addresses go (arbitrary, but the
            // same every time), and the operator is told.
            if let Some(max) = self.cfg.max_groups {
                let over = self.groups.len().saturating_sub(max as usize);
                if over > 0 {
                    let gone: Vec<GroupAddr> = self.groups.keys().rev().take(over).collect();
                    for g in gone {
                        self.remove_group(g, out);
                    }
                    out.push(IgmpAction::Log(IgmpLog::GroupLimitApplied {
                        removed: over,
                        limit: max,
                    }));
                }
            }
            if self.cfg.immediate_leave && !old.immediate_leave {
                for grp in self.groups.values_mut() {
                    grp.mark_untracked();
                }
            }
            // 8.2: the Query Interval is "the interval between General
            // Queries sent by the Querier". A shorter one counts from the
            // last query sent, so the next goes that long after it (at
            // once if that is past), not at the old pace. A longer one
            // waits for the query already due, which carries the new QQIC
            // (4.1.7): the other routers learn the new interval from it
            // before a gap that long, so none times this querier out early
            // (8.5).
            if self.is_querier()
                && let (Some(next), Some(last)) = (self.gq_next, self.gq_last)
            {
                let spacing = if self.startup_left > 0 {
                    self.cfg.startup_query_interval
                } else {
                    self.cfg.query_interval
                };
                self.gq_next = Some(next.min(now.max(last + spacing)));
            }
        }
        match (was_querier, self.is_querier()) {
            (true, false) => self.stop_querier(None, out),
            (false, true) => {
                if let Some(a) = self.ifaddr {
                    out.push(IgmpAction::Log(IgmpLog::QuerierUp { address: a }));
                }
                self.start_querier(now);
            }
            _ => {}
        }
    }

    /// The configured version changed from `old`: every group is carried
    /// over as the new version's router would hold it, so no member loses
    /// its traffic (7.3, RFC 2236 4).
    /// - To IGMPv1/v2, which know no sources: a group becomes EXCLUDE({})
    ///   with the latest of its timers (an INCLUDE group's longest source
    ///   timer): every source of the group is forwarded, as such a router
    ///   does. A v1 router forgets its IGMPv1-host timers.
    /// - To IGMPv3 (or v1 to v2): the groups were learned from hosts of the
    ///   old version, so each gets that version's Older Host Present timer
    ///   for as long as its group timer runs (7.3.2): it stays in the old
    ///   compatibility mode until a newer report refreshes it or it runs
    ///   out, and leaves keep working.
    ///
    /// Pending group(-and-source) specific queries are dropped; the
    /// startup queries of the new version refresh everything.
    pub(super) fn convert_groups(&mut self, old: IgmpVersion, out: &mut Vec<IgmpAction>) {
        let new = self.cfg.version;
        let groups: Vec<GroupAddr> = self.groups.keys().collect();
        for g in groups {
            let Some(grp) = self.groups.get_mut(&g) else {
                continue;
            };
            let mut before = Vec::new();
            grp.view(g, &mut before);
            grp.retrans = 0;
            grp.lmq_next = None;
            for src in grp.sources.values_mut() {
                src.retrans = 0;
            }
            if new != IgmpVersion::V3 {
                let latest = match grp.mode {
                    FilterMode::Exclude => grp.timer,
                    FilterMode::Include => grp.sources.values().filter_map(|s| s.timer).max(),
                };
                grp.mode = FilterMode::Exclude;
                grp.timer = latest;
                grp.sources.clear();
                grp.mark_untracked();
                grp.v2_host = None;
                if new == IgmpVersion::V1 {
                    grp.v1_host = None;
                }
                if grp.timer.is_none() {
                    grp.mode = FilterMode::Include;
                }
            }
            let learned_from = match old {
                IgmpVersion::V1 => Some(IgmpVersion::V1),
                IgmpVersion::V2 if new == IgmpVersion::V3 => Some(IgmpVersion::V2),
                _ => None,
            };
            match (learned_from, grp.timer) {
                (Some(IgmpVersion::V1), Some(t)) => {
                    grp.v1_host = Some(grp.v1_host.map_or(t, |h| h.max(t)))
                }
                (Some(IgmpVersion::V2), Some(t)) => {
                    grp.v2_host = Some(grp.v2_host.map_or(t, |h| h.max(t)))
                }
                _ => {}
            }
            self.finish_group(g, before, out);
        }
    }

    pub(super) fn process_stop(&mut self, out: &mut Vec<IgmpAction>) {
        self.flush(out);
        self.gq_next = None;
        self.other_querier = None;
        self.pending_querier = None;
        self.startup_left = 0;
        self.stopped = true;
    }
}
