//! The querier role (RFC 9776 6.6, RFC 2236 3): the election, the schedule of
//! general and startup queries, group(-and-source) specific queries, recovery
//! queries after input loss, and what a heard query tells (timers lowered,
//! QRV/QQI learned, versions of other routers).

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use super::{
    ALL_ROUTERS, ALL_SYSTEMS, ALL_V3_ROUTERS, IgmpAction, IgmpRouter, PendingQuerier,
    learned_values, v4,
};
use crate::core::igmp::config::IgmpVersion;
use crate::core::igmp::packet::{IgmpPacket, Query, QueryVersion};
use crate::core::igmp::stats::IgmpLog;
use crate::core::types::GroupAddr;

impl IgmpRouter {
    pub(super) fn start_querier(&mut self, now: Instant) {
        self.gq_next = Some(now);
        self.startup_left = self.cfg.startup_query_count.max(1);
    }

    /// We stop querying: drop the general query schedule and any pending
    /// last-member retransmissions. (When another querier wins the
    /// election, the retransmissions have already been sent: the role is
    /// held until they are, see [`Self::hear_lower_querier`].)
    pub(super) fn stop_querier(&mut self, other: Option<Ipv4Addr>, out: &mut Vec<IgmpAction>) {
        self.gq_next = None;
        self.startup_left = 0;
        let groups: Vec<GroupAddr> = self
            .groups
            .iter()
            .filter(|(_, g)| g.lmq_next.is_some())
            .map(|(g, _)| g)
            .collect();
        for g in groups {
            if let Some(grp) = self.groups.get_mut(&g) {
                grp.cancel_retrans();
            }
            self.rewake(g);
        }
        out.push(IgmpAction::Log(IgmpLog::QuerierDown { other }));
    }

    /// Last-member query retransmissions still to send on this interface.
    pub(super) fn retransmissions_pending(&self) -> bool {
        self.groups.values().any(|g| g.lmq_next.is_some())
    }

    /// A general query from a lower address (6.6.2: "When a router
    /// receives a General Query with a lower IP address, it sets the
    /// Other-Querier-Present Timer to [Other Querier Present Interval] and
    /// ceases to send general queries on the network if it was the
    /// previously elected querier").
    ///
    /// While we, as querier, still have last-member queries to send, the
    /// change waits for them (RFC 2236 3: "Any Querier to non-Querier
    /// transition is ignored during this time; the same router keeps
    /// sending the Group-Specific Queries"; 6.6.3.1 and 6.6.3.2 schedule
    /// the [Last Member Query Count] - 1 retransmissions with no exception).
    /// The role passes as soon as the last of them has gone, with the Other
    /// Querier Present timer counted from the query's arrival.
    pub(super) fn hear_lower_querier(
        &mut self,
        now: Instant,
        src: Ipv4Addr,
        q: &Query,
        out: &mut Vec<IgmpAction>,
    ) {
        let (qrv, qqi) = learned_values(q);
        let heard = PendingQuerier {
            address: src,
            heard: now,
            qrv,
            qqi,
        };
        if self.is_querier() && self.retransmissions_pending() {
            if self.pending_querier.is_none() {
                out.push(IgmpAction::Log(IgmpLog::QuerierChangeDeferred {
                    other: src,
                }));
            }
            // The lowest address heard wins once the change happens.
            if self.pending_querier.is_none_or(|p| src <= p.address) {
                self.pending_querier = Some(heard);
            }
            return;
        }
        self.yield_to(heard, out);
    }

    /// Another router is querier from `p.heard` on.
    pub(super) fn yield_to(&mut self, p: PendingQuerier, out: &mut Vec<IgmpAction>) {
        let was_querier = self.is_querier();
        self.learned_rv = p.qrv;
        self.learned_qi = p.qqi;
        // Present first, so that the interval uses the learned values.
        self.other_querier = Some((p.address, p.heard));
        let oqpi = self.timers().other_querier_present_interval();
        self.other_querier = Some((p.address, p.heard + oqpi));
        if was_querier {
            self.stop_querier(Some(p.address), out);
        }
    }

    /// Hand the role over once the last retransmission has gone (or at
    /// once when there are none left for another reason: the groups went
    /// away, the configuration changed).
    pub(super) fn resolve_pending_querier(&mut self, out: &mut Vec<IgmpAction>) {
        if self.pending_querier.is_none() || (self.is_querier() && self.retransmissions_pending()) {
            return;
        }
        if let Some(p) = self.pending_querier.take()
            && self.ifaddr.is_none_or(|a| p.address < a)
        {
            self.yield_to(p, out);
        }
    }

    pub(super) fn send_query(&mut self, dst: Ipv4Addr, q: Query, out: &mut Vec<IgmpAction>) {
        let pkt = IgmpPacket::Query(q);
        self.stats.tx.bump(pkt.kind());
        out.push(IgmpAction::Send {
            dst,
            payload: pkt.encode(),
        });
    }

    pub(super) fn send_general_query(&mut self, out: &mut Vec<IgmpAction>) {
        self.stats.tx_general_queries += 1;
        let q = Query::general(
            self.query_version(),
            self.cfg.query_response_interval,
            self.cfg.robustness,
            self.cfg.query_interval,
        );
        self.send_query(ALL_SYSTEMS, q, out);
    }

    /// Input was lost on the interface (see [`IgmpEvent::InputLost`]).
    pub(super) fn process_input_lost(
        &mut self,
        now: Instant,
        drops: u64,
        out: &mut Vec<IgmpAction>,
    ) {
        self.stats.input_drops += drops;
        // A v1 query has no Max Resp Time to shorten; only the querier
        // queries.
        let Some(max_resp) = self.cfg.recovery_query_response_interval else {
            return;
        };
        if drops == 0 || self.cfg.version == IgmpVersion::V1 || !self.is_querier() {
            return;
        }
        let qi = self.qi();
        let r = &mut self.recovery;
        if r.last_drop.is_none_or(|t| now >= t + qi) {
            r.holdoff = max_resp;
        }
        r.last_drop = Some(now);
        r.drops += drops;
        if r.next.is_none_or(|t| now >= t) {
            self.send_recovery_query(now, max_resp, out);
        } else {
            r.pending = true;
        }
    }

    pub(super) fn send_recovery_query(
        &mut self,
        now: Instant,
        max_resp: Duration,
        out: &mut Vec<IgmpAction>,
    ) {
        let qi = self.qi();
        let r = &mut self.recovery;
        let drops = std::mem::take(&mut r.drops);
        r.next = Some(now + r.holdoff);
        r.holdoff = (r.holdoff * 2).min(qi.max(max_resp));
        r.pending = false;
        out.push(IgmpAction::Log(IgmpLog::RecoveryQuery { drops, max_resp }));
        self.stats.tx_general_queries += 1;
        self.stats.tx_recovery_queries += 1;
        let q = Query::general(
            self.query_version(),
            max_resp,
            self.cfg.robustness,
            self.cfg.query_interval,
        );
        self.send_query(ALL_SYSTEMS, q, out);
    }

    /// A group-specific query (`sources` empty) or group-and-source-specific
    /// queries, sent to the group (4.1.12), at most as many sources in each
    /// as the link's MTU allows (4.1.8, [`super::max_query_sources`]).
    pub(super) fn send_specific_query(
        &mut self,
        g: GroupAddr,
        suppress: bool,
        sources: Vec<Ipv4Addr>,
        out: &mut Vec<IgmpAction>,
    ) {
        if sources.is_empty() {
            self.stats.tx_group_queries += 1;
            return self.send_one_specific_query(g, suppress, Vec::new(), out);
        }
        for chunk in sources.chunks(self.max_sources) {
            self.stats.tx_group_source_queries += 1;
            self.send_one_specific_query(g, suppress, chunk.to_vec(), out);
        }
    }

    pub(super) fn send_one_specific_query(
        &mut self,
        g: GroupAddr,
        suppress: bool,
        sources: Vec<Ipv4Addr>,
        out: &mut Vec<IgmpAction>,
    ) {
        let q = Query::specific(
            self.query_version(),
            self.cfg.last_member_query_interval,
            v4(g),
            suppress,
            self.cfg.robustness,
            self.cfg.query_interval,
            sources,
        );
        self.send_query(v4(g), q, out);
    }

    // ===== timers =====

    pub(super) fn process_query(
        &mut self,
        now: Instant,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        q: Query,
        out: &mut Vec<IgmpAction>,
    ) {
        // A query from 0.0.0.0 never takes part in the election.
        if src.is_unspecified() {
            return self.stats.drop("query_from_unspecified");
        }
        let group = if q.is_general() {
            None
        } else {
            let Ok(g) = GroupAddr::new(q.group) else {
                return self.stats.drop("bad_group");
            };
            Some(g)
        };
        if !self.addressed_to_interface(dst, group) {
            return self.stats.drop("bad_destination");
        }
        self.note_query_version(now, src, &q, out);
        // A router with `querier = false` takes no part in the election:
        // whoever sends general queries is the querier for it, at any
        // address (the lowest of those it hears), and it adopts that
        // router's QRV and QQI (4.1.6, 4.1.7) as any non-querier does.
        let elects = self.ifaddr.is_none_or(|a| src < a)
            || (!self.cfg.querier && self.other_querier.is_none_or(|(a, _)| src <= a));
        if q.is_general() && elects {
            // Election (6.6.2): by general queries only. A group-specific
            // or group-and-source-specific query from a lower address does
            // not make us yield; it still lowers timers below.
            self.hear_lower_querier(now, src, &q, out);
        } else if q.version == QueryVersion::V3 && self.other_querier.is_some_and(|(a, _)| a == src)
        {
            // 4.1.6, 4.1.7: the values of "the most recently received
            // Query" of the querier, whatever its kind.
            (self.learned_rv, self.learned_qi) = learned_values(&q);
        }
        // Timer lowering on specific queries with S clear (6.6.1), to the
        // sender's LMQT (see `Timers::last_member_query_time_heard`).
        let (qrv, _) = learned_values(&q);
        let low = now
            + self
                .timers()
                .last_member_query_time_heard(q.max_resp_time(), qrv);
        if let Some(g) = group
            && !q.suppress
            && let Some(grp) = self.groups.get_mut(&g)
        {
            if q.sources.is_empty() {
                grp.lower_group_timer(low);
            } else {
                grp.lower_source_timers(low, &q.sources);
            }
            self.rewake(g);
        }
    }

    /// Is `dst` one of the addresses of the interface, as a message about
    /// `group` (if any) sees it? 4.1.12: "a system MUST accept and process
    /// any Query whose IP Destination Address field contains any of the
    /// addresses (unicast or multicast) assigned to the interface on which
    /// the Query arrives"; 4.2.15 says the same of v1 and v2 Reports. The
    /// same rule serves leaves (RFC 2236 9 sends them to 224.0.0.2 and asks
    /// routers to accept them at the group too) and v3 reports (sent to
    /// 224.0.0.22).
    ///
    /// Multicast: the groups the interface has as an IGMP router, 224.0.0.1
    /// (every system, 5), 224.0.0.2 and 224.0.0.22 (joined for IGMP, 6), and
    /// the group the message is about. Unicast: our address, or any address
    /// inside the interface's subnets. The kernel hands up only messages to
    /// local addresses, so one inside these subnets is the interface's own
    /// (a secondary address, or the subnet's broadcast address).
    pub(super) fn addressed_to_interface(&self, dst: Ipv4Addr, group: Option<GroupAddr>) -> bool {
        if dst.is_multicast() {
            matches!(dst, ALL_SYSTEMS | ALL_ROUTERS | ALL_V3_ROUTERS)
                || group.is_some_and(|g| g.addr() == dst)
        } else {
            Some(dst) == self.ifaddr || self.subnets.iter().any(|n| n.contains(&dst))
        }
    }

    /// Count queries of another version than ours and warn about them,
    /// rate-limited (7.3.1). Older: "If a router is not explicitly
    /// configured to use IGMPv1 or IGMPv2 and receives an IGMPv1 Query or
    /// IGMPv2 General Query, it SHOULD log a warning. These warnings MUST be
    /// rate-limited"; for a v2 router, RFC 2236 4: "If a router is not
    /// explicitly configured to use IGMPv1 and hears an IGMPv1 Query, it
    /// SHOULD log a warning". Newer: in IGMPv1 mode routers "SHOULD also
    /// warn about receiving an IGMPv2 or IGMPv3 query, although such
    /// warnings MUST be rate-limited"; in IGMPv2 mode they "SHOULD also warn
    /// about receiving an IGMPv3 query (such warnings MUST be
    /// rate-limited)".
    pub(super) fn note_query_version(
        &mut self,
        now: Instant,
        src: Ipv4Addr,
        q: &Query,
        out: &mut Vec<IgmpAction>,
    ) {
        use IgmpVersion as V;
        use QueryVersion as Q;
        let configured = self.cfg.version;
        let older = match (configured, q.version) {
            (V::V3, Q::V1) | (V::V2, Q::V1) => true,
            (V::V3, Q::V2) => q.is_general(),
            _ => false,
        };
        let newer = matches!(
            (configured, q.version),
            (V::V1, Q::V2 | Q::V3) | (V::V2, Q::V3)
        );
        if older {
            self.stats.older_version_queries += 1;
            if let Some(suppressed) = self.older_warning.admit(now) {
                out.push(IgmpAction::Log(IgmpLog::OlderVersionQuerier {
                    source: src,
                    version: q.version,
                    configured,
                    suppressed,
                }));
            }
        }
        if newer {
            self.stats.newer_version_queries += 1;
            if let Some(suppressed) = self.newer_warning.admit(now) {
                out.push(IgmpAction::Log(IgmpLog::NewerVersionQuerier {
                    source: src,
                    version: q.version,
                    configured,
                    suppressed,
                }));
            }
        }
    }
}
