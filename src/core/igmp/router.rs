//! The IGMP router of one interface (sans-IO): receive checks, querier
//! election and query schedule (RFC 9776 6.6, RFC 2236 3), compatibility
//! with older hosts and routers (RFC 9776 7.3) and the forwarding view
//! handed to the group manager as up/down deltas. Section numbers are RFC
//! 9776's unless another RFC is named.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use ipnet::Ipv4Net;

use super::config::{IgmpIfConfig, IgmpVersion};
use super::group::{ApplyParams, FilterMode, Group, Lmq};
use super::packet::{GroupRecord, IgmpPacket, Query, QueryVersion, RecordType};
use super::saved::{SavedGroup, WallClock};
use super::stats::{GroupStatus, IgmpIfStatus, IgmpLog, IgmpStats, SourceStatus};
use super::timers::Timers;
use crate::core::types::{GroupAddr, MembershipKey};

// ===== events and actions =====

/// Input of [`IgmpRouter::handle`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IgmpEvent {
    /// An IGMP message received on the interface: IP source and
    /// destination, IP TTL, whether the IP header carried Router Alert,
    /// and the IGMP payload (after the IP header).
    Rx {
        src: Ipv4Addr,
        dst: Ipv4Addr,
        ttl: u8,
        router_alert: bool,
        payload: Vec<u8>,
    },
    /// `now >= next_deadline()`: process every expired timer.
    Timer,
    /// The interface's primary IPv4 address changed.
    AddressChanged(Option<Ipv4Addr>),
    /// The interface's IPv4 subnets: the 9.2 source check, and which
    /// unicast destinations are the interface's own (4.1.12, 4.2.15).
    SubnetsChanged(Vec<Ipv4Net>),
    ConfigChanged(IgmpIfConfig),
    /// The link lost carrier or was set down: nothing is sent, the
    /// groups and their timers carry on (what times out goes as usual).
    LinkDown,
    /// The link is usable again: the election starts over as at start-up
    /// (this router queries first, with the startup queries, 8.6 and 8.7),
    /// and the hosts' answers refresh the groups kept while it was down.
    LinkUp,
    /// The interface dropped `drops` input messages (its receive drop
    /// counters grew, or the routing socket overflowed): reports may have
    /// been lost. The querier asks the hosts to report again with a
    /// recovery query, rate-limited.
    InputLost {
        drops: u64,
    },
    /// The interface goes away or IGMP is disabled on it: every
    /// membership goes down and the router stays inert afterwards.
    Stop,
}

/// Output of [`IgmpRouter::handle`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IgmpAction {
    /// Send an IGMP payload; the I/O layer adds the IP header with TTL 1,
    /// Router Alert and the interface address as source.
    Send {
        dst: Ipv4Addr,
        payload: Vec<u8>,
    },
    MembershipUp(MembershipKey),
    MembershipDown(MembershipKey),
    Log(IgmpLog),
}

/// How a report reached the state machine (for compatibility timers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    V1,
    V2,
    V3,
}

const ALL_SYSTEMS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 1);
const ALL_ROUTERS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 2);
const ALL_V3_ROUTERS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 22);

/// Most sources in one group-and-source-specific query. 4.1.8: the number
/// of sources "is limited by the MTU of the network over which the Query is
/// transmitted"; with a 1500-octet (Ethernet) MTU, a 24-octet IP header
/// (Router Alert included) and the 12-octet query header leave room for
/// (1500 - 24 - 12) / 4 = 366. Longer lists go out in several queries.
pub const MAX_QUERY_SOURCES: usize = 366;

/// At most one version-mismatch warning of each kind per interface in this
/// time (7.3.1: "such warnings MUST be rate-limited"); the ones held back
/// are counted in the next.
pub const VERSION_WARNING_INTERVAL: Duration = Duration::from_secs(600);

/// A rate limit decided from `now`: admits the first event, then one per
/// [`VERSION_WARNING_INTERVAL`].
#[derive(Clone, Copy, Debug, Default)]
struct RateLimit {
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimit {
    /// `Some(events held back since the last admitted one)` when this one
    /// may be reported.
    fn admit(&mut self, now: Instant) -> Option<u64> {
        if self
            .last
            .is_some_and(|t| now < t + VERSION_WARNING_INTERVAL)
        {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// The rate limit of recovery queries: at least `holdoff` apart, where
/// `holdoff` starts at their Max Resp Time (the hosts have answered the
/// last one by then) and doubles while drops go on, up to the Query Interval,
/// so that a link that keeps dropping never gets more than one extra
/// general query per Query Interval. Back to the start after a Query
/// Interval without drops. Drops seen while held off call for one query
/// when the hold-off ends.
#[derive(Clone, Copy, Debug, Default)]
struct Recovery {
    /// No recovery query before this.
    next: Option<Instant>,
    holdoff: Duration,
    /// Drops seen while held off: a query is due at `next`.
    pending: bool,
    /// Drops since the last recovery query (for its log line).
    drops: u64,
    last_drop: Option<Instant>,
}

/// A lower-address querier heard while this router still had last-member
/// queries to send: the role passes once they are sent (RFC 2236 3).
#[derive(Clone, Copy, Debug)]
struct PendingQuerier {
    address: Ipv4Addr,
    /// When its general query arrived: the Other Querier Present timer
    /// runs from then.
    heard: Instant,
    qrv: Option<u8>,
    qqi: Option<Duration>,
}

// ===== IgmpRouter =====

/// IGMP router state of one interface.
#[derive(Debug)]
pub struct IgmpRouter {
    cfg: IgmpIfConfig,
    ifaddr: Option<Ipv4Addr>,
    subnets: Vec<Ipv4Net>,
    /// Other querier and the expiry of the Other Querier Present timer.
    other_querier: Option<(Ipv4Addr, Instant)>,
    /// Next general query, when querier.
    gq_next: Option<Instant>,
    startup_left: u8,
    /// QRV / QQI learned from the querier (4.1.6, 4.1.7).
    learned_rv: Option<u8>,
    learned_qi: Option<Duration>,
    /// A lower querier waiting for our last-member queries to finish.
    pending_querier: Option<PendingQuerier>,
    /// Warnings about older / newer version queriers (7.3.1).
    older_warning: RateLimit,
    newer_warning: RateLimit,
    /// Warnings about joins refused by `max-groups`.
    limit_warning: RateLimit,
    groups: BTreeMap<GroupAddr, Group>,
    /// (earliest timer, group): the groups' wake-up index.
    wakes: BTreeSet<(Instant, GroupAddr)>,
    stats: IgmpStats,
    stopped: bool,
    /// The link is down: no query is due and none is sent.
    link_down: bool,
    recovery: Recovery,
}

impl IgmpRouter {
    /// A router for one interface. When it may be querier it starts with
    /// the startup queries (8.6, 8.7): the first is due at `now`.
    pub fn new(cfg: IgmpIfConfig, ifaddr: Option<Ipv4Addr>, now: Instant) -> Self {
        let mut r = IgmpRouter {
            cfg,
            ifaddr,
            subnets: Vec::new(),
            other_querier: None,
            gq_next: None,
            startup_left: 0,
            learned_rv: None,
            learned_qi: None,
            pending_querier: None,
            older_warning: RateLimit::default(),
            newer_warning: RateLimit::default(),
            limit_warning: RateLimit::default(),
            groups: BTreeMap::new(),
            wakes: BTreeSet::new(),
            stats: IgmpStats::default(),
            stopped: false,
            link_down: false,
            recovery: Recovery::default(),
        };
        if r.is_querier() {
            r.start_querier(now);
        }
        r
    }

    /// Process one event; returns what to do, in order.
    pub fn handle(&mut self, now: Instant, ev: IgmpEvent) -> Vec<IgmpAction> {
        let mut out = Vec::new();
        if self.stopped {
            return out;
        }
        match ev {
            IgmpEvent::Rx {
                src,
                dst,
                ttl,
                router_alert,
                payload,
            } => self.process_rx(now, src, dst, ttl, router_alert, &payload, &mut out),
            IgmpEvent::Timer => self.process_timers(now, &mut out),
            IgmpEvent::AddressChanged(addr) => self.process_address(now, addr, &mut out),
            IgmpEvent::SubnetsChanged(nets) => self.subnets = nets,
            IgmpEvent::ConfigChanged(cfg) => self.process_config(now, cfg, &mut out),
            IgmpEvent::LinkDown => self.process_link_down(),
            IgmpEvent::LinkUp => self.process_link_up(now, &mut out),
            IgmpEvent::InputLost { drops } => self.process_input_lost(now, drops, &mut out),
            IgmpEvent::Stop => self.process_stop(&mut out),
        }
        self.resolve_pending_querier(&mut out);
        out
    }

    /// When the next `Timer` event is due.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.stopped {
            return None;
        }
        [
            self.gq_next,
            self.other_querier.map(|(_, t)| t),
            self.wakes.first().map(|(t, _)| *t),
            self.recovery.next.filter(|_| self.recovery.pending),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The current forwarding view (6.3), in key order.
    pub fn memberships(&self) -> Vec<MembershipKey> {
        let mut v = Vec::new();
        for (g, grp) in &self.groups {
            grp.view(*g, &mut v);
        }
        v
    }

    /// The groups, as handed to the next process.
    pub fn saved_groups(&self, clock: WallClock) -> Vec<SavedGroup> {
        self.groups
            .iter()
            .map(|(g, grp)| SavedGroup::of(*g, grp, clock))
            .collect()
    }

    /// Takes over groups a previous process held (see
    /// [`crate::core::snapshot`]): each group not known here yet and still
    /// allowed starts with the timers it had, as they stand now; its
    /// memberships come up. The startup queries then confirm them, or let
    /// them time out.
    pub fn restore_groups(&mut self, clock: WallClock, saved: &[SavedGroup]) -> Vec<IgmpAction> {
        let mut out = Vec::new();
        if self.stopped {
            return out;
        }
        for s in saved {
            let g = s.group;
            if self.groups.contains_key(&g) || g.is_link_local() || !self.group_allowed(g) {
                continue;
            }
            let Some(grp) = s.group(clock) else {
                continue;
            };
            self.groups.insert(g, grp);
            out.push(IgmpAction::Log(IgmpLog::GroupCreated { group: g }));
            self.finish_group(g, Vec::new(), &mut out);
        }
        out
    }

    pub fn stats(&self) -> &IgmpStats {
        &self.stats
    }

    pub fn config(&self) -> &IgmpIfConfig {
        &self.cfg
    }

    /// True when this router is the querier on its interface.
    pub fn is_querier(&self) -> bool {
        !self.stopped
            && !self.link_down
            && self.cfg.querier
            && self.ifaddr.is_some()
            && self.other_querier.is_none()
    }

    /// True while the link is down (groups kept, nothing sent).
    pub fn is_link_down(&self) -> bool {
        self.link_down
    }

    /// Status snapshot; remaining times are relative to `now`.
    pub fn status(&self, now: Instant) -> IgmpIfStatus {
        let rem = |t: Option<Instant>| t.map(|t| t.saturating_duration_since(now));
        let groups = self
            .groups
            .iter()
            .map(|(g, grp)| GroupStatus {
                group: *g,
                mode: grp.mode,
                compat: grp.compat(),
                expires: rem(grp.timer),
                v1_host_expires: rem(grp.v1_host),
                v2_host_expires: rem(grp.v2_host),
                sources: grp
                    .sources
                    .iter()
                    .map(|(s, src)| SourceStatus {
                        source: *s,
                        expires: rem(src.timer),
                        forwarding: src.timer.is_some(),
                        reporters: src.hosts.hosts().to_vec(),
                    })
                    .collect(),
                reporters: grp.hosts.hosts().to_vec(),
            })
            .collect();
        IgmpIfStatus {
            version: self.cfg.version,
            address: self.ifaddr,
            is_querier: self.is_querier(),
            querier: match self.other_querier {
                Some((q, _)) => Some(q),
                None if self.is_querier() => self.ifaddr,
                None => None,
            },
            other_querier_expires: rem(self.other_querier.map(|(_, t)| t)),
            next_general_query: rem(self.gq_next),
            startup_queries_left: self.startup_left,
            robustness: self.rv(),
            query_interval: self.qi(),
            group_membership_interval: self.timers().group_membership_interval(),
            groups,
            stats: self.stats.clone(),
        }
    }

    // ===== timer values (8; the formulas are in super::timers) =====

    fn rv(&self) -> u8 {
        match (self.other_querier, self.learned_rv) {
            (Some(_), Some(rv)) => rv,
            _ => self.cfg.robustness,
        }
    }

    fn qi(&self) -> Duration {
        match (self.other_querier, self.learned_qi) {
            (Some(_), Some(qi)) => qi,
            _ => self.cfg.query_interval,
        }
    }

    /// The variables in use: ours, with the querier's QRV and QQI while
    /// another router is querier (4.1.6, 4.1.7). The Query Response
    /// Interval and the last-member settings are always our own.
    fn timers(&self) -> Timers {
        Timers {
            robustness: self.rv(),
            query_interval: self.qi(),
            query_response_interval: self.cfg.query_response_interval,
            last_member_query_interval: self.cfg.last_member_query_interval,
            last_member_query_count: self.cfg.last_member_query_count,
        }
    }

    fn lmq(&self) -> Lmq {
        let t = self.timers();
        Lmq {
            time: t.last_member_query_time(),
            interval: t.last_member_query_interval,
            count: t.last_member_query_count,
        }
    }

    fn query_version(&self) -> QueryVersion {
        match self.cfg.version {
            IgmpVersion::V1 => QueryVersion::V1,
            IgmpVersion::V2 => QueryVersion::V2,
            IgmpVersion::V3 => QueryVersion::V3,
        }
    }

    // ===== querier =====

    fn start_querier(&mut self, now: Instant) {
        self.gq_next = Some(now);
        self.startup_left = self.cfg.startup_query_count.max(1);
    }

    /// We stop querying: drop the general query schedule and any pending
    /// last-member retransmissions. (When another querier wins the
    /// election, the retransmissions have already been sent: the role is
    /// held until they are, see [`Self::hear_lower_querier`].)
    fn stop_querier(&mut self, other: Option<Ipv4Addr>, out: &mut Vec<IgmpAction>) {
        self.gq_next = None;
        self.startup_left = 0;
        let groups: Vec<GroupAddr> = self
            .groups
            .iter()
            .filter(|(_, g)| g.lmq_next.is_some())
            .map(|(g, _)| *g)
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
    fn retransmissions_pending(&self) -> bool {
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
    fn hear_lower_querier(
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
    fn yield_to(&mut self, p: PendingQuerier, out: &mut Vec<IgmpAction>) {
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
    fn resolve_pending_querier(&mut self, out: &mut Vec<IgmpAction>) {
        if self.pending_querier.is_none() || (self.is_querier() && self.retransmissions_pending()) {
            return;
        }
        if let Some(p) = self.pending_querier.take()
            && self.ifaddr.is_none_or(|a| p.address < a)
        {
            self.yield_to(p, out);
        }
    }

    fn send_query(&mut self, dst: Ipv4Addr, q: Query, out: &mut Vec<IgmpAction>) {
        let pkt = IgmpPacket::Query(q);
        self.stats.tx.bump(pkt.kind());
        out.push(IgmpAction::Send {
            dst,
            payload: pkt.encode(),
        });
    }

    fn send_general_query(&mut self, out: &mut Vec<IgmpAction>) {
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
    fn process_input_lost(&mut self, now: Instant, drops: u64, out: &mut Vec<IgmpAction>) {
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

    fn send_recovery_query(&mut self, now: Instant, max_resp: Duration, out: &mut Vec<IgmpAction>) {
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
    /// queries, sent to the group (4.1.12), at most [`MAX_QUERY_SOURCES`]
    /// sources in each.
    fn send_specific_query(
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
        for chunk in sources.chunks(MAX_QUERY_SOURCES) {
            self.stats.tx_group_source_queries += 1;
            self.send_one_specific_query(g, suppress, chunk.to_vec(), out);
        }
    }

    fn send_one_specific_query(
        &mut self,
        g: GroupAddr,
        suppress: bool,
        sources: Vec<Ipv4Addr>,
        out: &mut Vec<IgmpAction>,
    ) {
        let q = Query::specific(
            self.query_version(),
            self.cfg.last_member_query_interval,
            g.addr(),
            suppress,
            self.cfg.robustness,
            self.cfg.query_interval,
            sources,
        );
        self.send_query(g.addr(), q, out);
    }

    // ===== timers =====

    fn process_timers(&mut self, now: Instant, out: &mut Vec<IgmpAction>) {
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
        while let Some(&(t, g)) = self.wakes.first() {
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

    fn process_group_timers(&mut self, now: Instant, g: GroupAddr, out: &mut Vec<IgmpAction>) {
        let querier = self.is_querier();
        let lmq = self.lmq();
        let mut before = Vec::new();
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
    fn expire_group(
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
    fn finish_group(
        &mut self,
        g: GroupAddr,
        before: Vec<MembershipKey>,
        out: &mut Vec<IgmpAction>,
    ) {
        let mut after = Vec::new();
        let empty = match self.groups.get(&g) {
            Some(grp) => {
                grp.view(g, &mut after);
                grp.is_empty()
            }
            None => true,
        };
        emit_delta(&before, &after, out);
        if empty {
            if let Some(grp) = self.groups.remove(&g) {
                if let Some(w) = grp.wake {
                    self.wakes.remove(&(w, g));
                }
                out.push(IgmpAction::Log(IgmpLog::GroupDeleted { group: g }));
            }
        } else {
            self.rewake(g);
        }
    }

    fn rewake(&mut self, g: GroupAddr) {
        if let Some(grp) = self.groups.get_mut(&g) {
            let w = grp.compute_wake();
            if w != grp.wake {
                if let Some(old) = grp.wake {
                    self.wakes.remove(&(old, g));
                }
                if let Some(new) = w {
                    self.wakes.insert((new, g));
                }
                grp.wake = w;
            }
        }
    }

    // ===== receive =====

    #[allow(clippy::too_many_arguments)]
    fn process_rx(
        &mut self,
        now: Instant,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        ttl: u8,
        router_alert: bool,
        payload: &[u8],
        out: &mut Vec<IgmpAction>,
    ) {
        let pkt = match IgmpPacket::decode(payload) {
            Ok(p) => p,
            Err(e) => return self.stats.drop(e.reason()),
        };
        self.stats.rx.bump(pkt.kind());
        if ttl != 1 {
            return self.stats.drop("bad_ttl");
        }
        if self.cfg.require_router_alert && !router_alert {
            return self.stats.drop("no_router_alert");
        }
        // Our own messages looped back: recognised by exact address.
        if Some(src) == self.ifaddr {
            return self.stats.drop("own_address");
        }
        if self.cfg.check_source_subnet
            && !src.is_unspecified()
            && !self.subnets.iter().any(|n| n.contains(&src))
        {
            return self.stats.drop("source_not_on_subnet");
        }
        match pkt {
            IgmpPacket::Query(q) => self.process_query(now, src, dst, q, out),
            IgmpPacket::V1Report { group } => {
                self.process_v1v2_report(now, src, dst, group, Origin::V1, out)
            }
            IgmpPacket::V2Report { group } => {
                if self.cfg.version == IgmpVersion::V1 {
                    return self.stats.drop("unsupported_version");
                }
                self.process_v1v2_report(now, src, dst, group, Origin::V2, out)
            }
            IgmpPacket::V2Leave { group } => self.process_leave(now, src, dst, group, out),
            IgmpPacket::V3Report { records } => self.process_v3_report(now, src, dst, records, out),
        }
    }

    fn process_query(
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
        if q.is_general() && self.ifaddr.is_none_or(|a| src < a) {
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
        // Timer lowering on specific queries with S clear (6.6.1).
        let low = now
            + self
                .timers()
                .last_member_query_time_heard(q.max_resp_time());
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
    fn addressed_to_interface(&self, dst: Ipv4Addr, group: Option<GroupAddr>) -> bool {
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
    fn note_query_version(
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

    /// Checks shared by every report kind; `Ok` is a group we may learn.
    fn check_group(&mut self, group: Ipv4Addr) -> Option<GroupAddr> {
        let Ok(g) = GroupAddr::new(group) else {
            self.stats.drop("bad_group");
            return None;
        };
        if g.is_link_local() {
            self.stats.drop("link_local_group");
            return None;
        }
        if !self.group_allowed(g) {
            self.stats.drop("group_denied");
            return None;
        }
        Some(g)
    }

    fn group_allowed(&self, g: GroupAddr) -> bool {
        let a = g.addr();
        (self.cfg.allow_groups.is_empty() || self.cfg.allow_groups.iter().any(|n| n.contains(&a)))
            && !self.cfg.deny_groups.iter().any(|n| n.contains(&a))
    }

    fn is_ssm(&self, g: GroupAddr) -> bool {
        self.cfg.ssm_range.iter().any(|n| n.contains(&g.addr()))
    }

    /// A report or leave of a version older than the interface's, with
    /// `compatibility-mode = false` (7.3.1: "a configuration option to
    /// disable use of compatibility mode to allow networks to operate only
    /// in SSM mode").
    fn compat_disabled(&self, origin: Origin) -> bool {
        let older = match origin {
            Origin::V1 => self.cfg.version != IgmpVersion::V1,
            Origin::V2 => self.cfg.version == IgmpVersion::V3,
            Origin::V3 => false,
        };
        older && !self.cfg.compatibility_mode
    }

    fn process_v1v2_report(
        &mut self,
        now: Instant,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        group: Ipv4Addr,
        origin: Origin,
        out: &mut Vec<IgmpAction>,
    ) {
        let Some(g) = self.check_group(group) else {
            return;
        };
        if !self.addressed_to_interface(dst, Some(g)) {
            return self.stats.drop("bad_destination");
        }
        // 6.4: "SSM-aware routers SHOULD ignore IGMPv1/IGMPv2 Report and
        // IGMPv2 DONE messages that contain multicast addresses in the SSM
        // address range" (also RFC 4604 2.2.1).
        if self.cfg.version == IgmpVersion::V3 && self.is_ssm(g) {
            return self.stats.drop("ssm_asm_report");
        }
        if self.compat_disabled(origin) {
            return self.stats.drop("compat_disabled");
        }
        // 7.3.2: v1 and v2 reports are IS_EX({}).
        self.process_record(
            now,
            g,
            RecordType::ModeIsExclude,
            Vec::new(),
            src,
            origin,
            out,
        );
    }

    fn process_leave(
        &mut self,
        now: Instant,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        group: Ipv4Addr,
        out: &mut Vec<IgmpAction>,
    ) {
        if self.cfg.version == IgmpVersion::V1 {
            return self.stats.drop("unsupported_version");
        }
        let Some(g) = self.check_group(group) else {
            return;
        };
        if !self.addressed_to_interface(dst, Some(g)) {
            return self.stats.drop("bad_destination");
        }
        if self.cfg.version == IgmpVersion::V3 && self.is_ssm(g) {
            return self.stats.drop("ssm_asm_report");
        }
        if self.compat_disabled(Origin::V2) {
            return self.stats.drop("compat_disabled");
        }
        if self.groups.get(&g).is_some_and(|grp| grp.v1_host.is_some()) {
            // v1 hosts would not answer the group query. 7.3.2: in IGMPv1
            // Group Compatibility Mode "IGMPv2 Leave messages and IGMPv3
            // TO_IN() messages are also ignored"; RFC 2236 5: "If there are
            // version 1 hosts present for a particular group, a router MUST
            // ignore any Leave Group messages that it receives for that
            // group."
            return self.stats.drop("leave_in_v1_compat");
        }
        // 7.3.2: a leave is TO_IN({}).
        self.process_record(
            now,
            g,
            RecordType::ChangeToInclude,
            Vec::new(),
            src,
            Origin::V2,
            out,
        );
    }

    fn process_v3_report(
        &mut self,
        now: Instant,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        records: Vec<GroupRecord>,
        out: &mut Vec<IgmpAction>,
    ) {
        if self.cfg.version != IgmpVersion::V3 {
            return self.stats.drop("unsupported_version");
        }
        if !self.addressed_to_interface(dst, None) {
            return self.stats.drop("bad_destination");
        }
        for rec in records {
            self.stats.rx_records += 1;
            if let RecordType::Other(_) = rec.record_type {
                self.stats.drop("unknown_record_type");
                continue;
            }
            let Some(g) = self.check_group(rec.group) else {
                continue;
            };
            if self.is_ssm(g)
                && matches!(
                    rec.record_type,
                    RecordType::ModeIsExclude | RecordType::ChangeToExclude
                )
            {
                self.stats.drop("ssm_exclude_record");
                continue;
            }
            let mut sources = rec.sources;
            let n = sources.len();
            sources.retain(|s| !(s.is_multicast() || s.is_unspecified() || s.is_broadcast()));
            for _ in sources.len()..n {
                self.stats.drop("bad_source");
            }
            sources.sort_unstable();
            sources.dedup();
            self.process_record(now, g, rec.record_type, sources, src, Origin::V3, out);
        }
    }

    /// Apply one (possibly translated) group record.
    #[allow(clippy::too_many_arguments)]
    fn process_record(
        &mut self,
        now: Instant,
        g: GroupAddr,
        rt: RecordType,
        mut sources: Vec<Ipv4Addr>,
        host: Ipv4Addr,
        origin: Origin,
        out: &mut Vec<IgmpAction>,
    ) {
        let v3_router = self.cfg.version == IgmpVersion::V3;
        let track = v3_router && self.cfg.immediate_leave;
        // 7.3.2: in v1/v2 compatibility, "IGMPv3 BLOCK messages are
        // ignored, as are source-lists in TO_EX() messages"; in IGMPv1
        // Group Compatibility Mode "IGMPv2 Leave messages and IGMPv3 TO_IN()
        // messages are also ignored" (a v1 host answers no group query).
        if origin == Origin::V3
            && let Some(grp) = self.groups.get(&g)
            && grp.compat() != IgmpVersion::V3
        {
            match rt {
                RecordType::BlockOldSources => return self.stats.drop("block_in_compat"),
                RecordType::ChangeToInclude if grp.compat() == IgmpVersion::V1 => {
                    return self.stats.drop("to_in_in_v1_compat");
                }
                RecordType::ChangeToExclude => sources.clear(),
                _ => {}
            }
        }
        if !self.groups.contains_key(&g) {
            // A missing group is INCLUDE({}): only records that leave
            // state behind create it.
            let creates = match rt {
                RecordType::ModeIsExclude | RecordType::ChangeToExclude => true,
                RecordType::ModeIsInclude
                | RecordType::AllowNewSources
                | RecordType::ChangeToInclude => !sources.is_empty(),
                _ => false,
            };
            if !creates {
                return;
            }
            if let Some(max) = self.cfg.max_groups
                && self.groups.len() >= max as usize
            {
                self.stats.refused_groups += 1;
                if let Some(suppressed) = self.limit_warning.admit(now) {
                    out.push(IgmpAction::Log(IgmpLog::GroupRefused {
                        group: g,
                        limit: max,
                        suppressed,
                    }));
                }
                return;
            }
            self.groups.insert(g, Group::new(false));
            out.push(IgmpAction::Log(IgmpLog::GroupCreated { group: g }));
        }
        let timers = self.timers();
        let p = ApplyParams {
            gmi: timers.group_membership_interval(),
            max_sources: self.cfg.max_sources_per_group,
            track,
        };
        let querier = self.is_querier();
        let lmq = self.lmq();
        let immediate_v2 = self.cfg.immediate_leave && self.cfg.version == IgmpVersion::V2;
        // 7.3.2: "The IGMPv1-Host-Present Timer is set to [Older Version
        // Host Present Interval] seconds whenever an IGMPv1 Membership Report
        // is received" (the same for IGMPv2); the interval is 8.13's.
        let ohpi = timers.older_host_present_interval();
        let Some(grp) = self.groups.get_mut(&g) else {
            return;
        };
        let mut before = Vec::new();
        grp.view(g, &mut before);
        let compat_before = grp.compat();
        let mode_before = grp.mode;
        match origin {
            Origin::V1 if self.cfg.version != IgmpVersion::V1 => grp.v1_host = Some(now + ohpi),
            Origin::V2 if v3_router && rt != RecordType::ChangeToInclude => {
                grp.v2_host = Some(now + ohpi)
            }
            _ => {}
        }
        let res = grp.apply(now, rt, &sources, host, &p);
        self.stats.refused_sources += res.refused_sources;
        if grp.compat() != compat_before {
            out.push(IgmpAction::Log(IgmpLog::CompatChanged {
                group: g,
                compat: grp.compat(),
            }));
        }
        if grp.mode != mode_before {
            out.push(IgmpAction::Log(IgmpLog::ModeChanged {
                group: g,
                mode: grp.mode,
            }));
        }
        // "Send Q(...)" actions are the querier's (6.4.2, 6.6.3).
        let mut sends: Vec<(bool, Vec<Ipv4Addr>)> = Vec::new();
        let mut expire_now = false;
        if querier {
            let host_known = !host.is_unspecified();
            let group_left = res.query_group
                && (immediate_v2 || (track && host_known && grp.hosts.is_known_empty()));
            if group_left {
                grp.expire_group_now(now);
                expire_now = true;
            } else if res.query_group && grp.start_group_query(now, lmq) {
                sends.push((false, Vec::new()));
            }
            let mut to_query = Vec::with_capacity(res.query_sources.len());
            let no_excluders = grp.mode == FilterMode::Include || grp.hosts.is_known_empty();
            for s in res.query_sources {
                let left = track
                    && host_known
                    && no_excluders
                    && grp
                        .sources
                        .get(&s)
                        .is_some_and(|x| x.hosts.is_known_empty());
                if left {
                    grp.expire_source_now(now, s);
                    expire_now = true;
                } else {
                    to_query.push(s);
                }
            }
            let now_q = grp.start_source_query(now, lmq, &to_query);
            if !now_q.is_empty() {
                sends.push((false, now_q));
            }
        }
        for (suppress, srcs) in sends {
            self.send_specific_query(g, suppress, srcs, out);
        }
        if expire_now {
            self.expire_group(now, g, before, out);
        } else {
            self.finish_group(g, before, out);
        }
    }

    // ===== interface events =====

    fn process_address(&mut self, now: Instant, addr: Option<Ipv4Addr>, out: &mut Vec<IgmpAction>) {
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

    fn process_link_down(&mut self) {
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

    fn process_link_up(&mut self, now: Instant, out: &mut Vec<IgmpAction>) {
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

    fn process_config(&mut self, now: Instant, cfg: IgmpIfConfig, out: &mut Vec<IgmpAction>) {
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
            // Groups the new filters refuse go away at once.
            let v3 = self.cfg.version == IgmpVersion::V3;
            let gone: Vec<GroupAddr> = self
                .groups
                .iter()
                .filter(|(g, grp)| {
                    g.is_link_local()
                        || !self.group_allowed(**g)
                        || (v3 && self.is_ssm(**g) && grp.mode == FilterMode::Exclude)
                })
                .map(|(g, _)| *g)
                .collect();
            for g in gone {
                self.remove_group(g, out);
            }
            // A lowered limit: the highest addresses go (arbitrary, but the
            // same every time), and the operator is told.
            if let Some(max) = self.cfg.max_groups {
                let over = self.groups.len().saturating_sub(max as usize);
                if over > 0 {
                    let gone: Vec<GroupAddr> =
                        self.groups.keys().rev().take(over).copied().collect();
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
            if self.is_querier()
                && self.cfg.query_interval < old.query_interval
                && let Some(t) = self.gq_next
            {
                self.gq_next = Some(t.min(now + self.cfg.query_interval));
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
    fn convert_groups(&mut self, old: IgmpVersion, out: &mut Vec<IgmpAction>) {
        let new = self.cfg.version;
        let groups: Vec<GroupAddr> = self.groups.keys().copied().collect();
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

    fn remove_group(&mut self, g: GroupAddr, out: &mut Vec<IgmpAction>) {
        if let Some(grp) = self.groups.remove(&g) {
            let mut before = Vec::new();
            grp.view(g, &mut before);
            emit_delta(&before, &[], out);
            if let Some(w) = grp.wake {
                self.wakes.remove(&(w, g));
            }
            out.push(IgmpAction::Log(IgmpLog::GroupDeleted { group: g }));
        }
    }

    fn flush(&mut self, out: &mut Vec<IgmpAction>) {
        for m in self.memberships() {
            out.push(IgmpAction::MembershipDown(m));
        }
        self.groups.clear();
        self.wakes.clear();
    }

    fn process_stop(&mut self, out: &mut Vec<IgmpAction>) {
        self.flush(out);
        self.gq_next = None;
        self.other_querier = None;
        self.pending_querier = None;
        self.startup_left = 0;
        self.stopped = true;
    }
}

// ===== helper functions =====

/// QRV and QQI a query tells (4.1.6, 4.1.7): `None` where the querier's
/// value is zero or absent (a v1/v2 query has neither), so that our own
/// configured value applies ("unless that most recently received QRV was
/// zero, in which case the receivers use the default [Robustness
/// Variable] value specified in Section 8.1 or a statically configured
/// value").
fn learned_values(q: &Query) -> (Option<u8>, Option<Duration>) {
    if q.version != QueryVersion::V3 {
        return (None, None);
    }
    let qqi = q.qqi();
    (
        (q.qrv != 0).then_some(q.qrv),
        (!qqi.is_zero()).then_some(qqi),
    )
}

/// Up/Down actions turning sorted `before` into sorted `after`.
fn emit_delta(before: &[MembershipKey], after: &[MembershipKey], out: &mut Vec<IgmpAction>) {
    let (mut i, mut j) = (0, 0);
    while i < before.len() || j < after.len() {
        match (before.get(i), after.get(j)) {
            (Some(b), Some(a)) if b == a => {
                i += 1;
                j += 1;
            }
            (Some(b), Some(a)) if b < a => {
                out.push(IgmpAction::MembershipDown(*b));
                i += 1;
            }
            (Some(_), Some(a)) => {
                out.push(IgmpAction::MembershipUp(*a));
                j += 1;
            }
            (Some(b), None) => {
                out.push(IgmpAction::MembershipDown(*b));
                i += 1;
            }
            (None, Some(a)) => {
                out.push(IgmpAction::MembershipUp(*a));
                j += 1;
            }
            (None, None) => break,
        }
    }
}
