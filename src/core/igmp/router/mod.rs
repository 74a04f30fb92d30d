//! The IGMP router of one interface (sans-IO): receive checks, querier
//! election and query schedule (RFC 9776 6.6, RFC 2236 3), compatibility
//! with older hosts and routers (RFC 9776 7.3) and the forwarding view
//! handed to the group manager as up/down deltas. Section numbers are RFC
//! 9776's unless another RFC is named.
//!
//! [`IgmpRouter::handle`] takes one [`IgmpEvent`] and the time and returns
//! [`IgmpAction`]s. The state and the entry points are here; the work is in
//! rooms of their own: `reports` (what hosts send), `querier` (election and
//! queries), `groups` (timers and the membership deltas), `link` (address,
//! link state, configuration and version changes).

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use ipnet::Ipv4Net;

use self::index::{Groups, Wakes};
use super::config::{IgmpIfConfig, IgmpVersion};
use super::group::Lmq;
use super::packet::{Query, QueryVersion};
use super::saved::{SavedGroup, WallClock};
use super::stats::{GroupStatus, IgmpIfStatus, IgmpLog, IgmpStats, SourceStatus};
use super::timers::Timers;
use crate::core::types::{GroupAddr, MembershipKey};

mod groups;
mod index;
mod link;
mod querier;
mod reports;

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
    /// The link's MTU (`None`: unknown, taken as 1500): how many sources
    /// a group-and-source-specific query can carry (4.1.8).
    MtuChanged(Option<u32>),
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

/// Most sources in one group-and-source-specific query on a link whose MTU
/// is unknown (taken as Ethernet's 1500); see [`max_query_sources`].
pub const MAX_QUERY_SOURCES: usize = 366;

/// Most sources in one group-and-source-specific query on a link of this
/// MTU. 4.1.8: the number of sources "is limited by the MTU of the network
/// over which the Query is transmitted"; a 24-octet IP header (Router Alert
/// included) and the 12-octet query header leave (MTU - 36) / 4: 366 at
/// 1500, 364 on PPPoE's 1492, 135 at IPv4's minimum of 576 (and never less
/// than one). Longer lists go out in several queries.
pub fn max_query_sources(mtu: Option<u32>) -> usize {
    match mtu {
        None => MAX_QUERY_SOURCES,
        Some(m) => (m.saturating_sub(36) / 4).max(1) as usize,
    }
}

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
    /// Sources per group-and-source-specific query (the link's MTU).
    max_sources: usize,
    /// Other querier and the expiry of the Other Querier Present timer.
    other_querier: Option<(Ipv4Addr, Instant)>,
    /// Next general query, when querier.
    gq_next: Option<Instant>,
    /// When the last general query of the schedule went (recovery queries
    /// aside): a new interval counts from it.
    gq_last: Option<Instant>,
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
    groups: Groups,
    /// (earliest timer, group): the groups' wake-up index.
    wakes: Wakes,
    stats: IgmpStats,
    stopped: bool,
    /// The link is down: no query is due and none is sent.
    link_down: bool,
    recovery: Recovery,
    /// Buffers for a group's forwarding view before and after a change
    /// (kept, so that a report costs no allocation for them).
    views: (Vec<MembershipKey>, Vec<MembershipKey>),
}

impl IgmpRouter {
    /// A router for one interface. When it may be querier it starts with
    /// the startup queries (8.6, 8.7): the first is due at `now`.
    pub fn new(cfg: IgmpIfConfig, ifaddr: Option<Ipv4Addr>, now: Instant) -> Self {
        let mut r = IgmpRouter {
            cfg,
            ifaddr,
            subnets: Vec::new(),
            max_sources: MAX_QUERY_SOURCES,
            other_querier: None,
            gq_next: None,
            gq_last: None,
            startup_left: 0,
            learned_rv: None,
            learned_qi: None,
            pending_querier: None,
            older_warning: RateLimit::default(),
            newer_warning: RateLimit::default(),
            limit_warning: RateLimit::default(),
            groups: Groups::default(),
            wakes: Wakes::default(),
            stats: IgmpStats::default(),
            stopped: false,
            link_down: false,
            recovery: Recovery::default(),
            views: (Vec::new(), Vec::new()),
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
            IgmpEvent::MtuChanged(mtu) => self.max_sources = max_query_sources(mtu),
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
            self.wakes.first().map(|(t, _)| t),
            self.recovery.next.filter(|_| self.recovery.pending),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The current forwarding view (6.3), in key order.
    pub fn memberships(&self) -> Vec<MembershipKey> {
        let mut v = Vec::new();
        for (g, grp) in self.groups.iter() {
            grp.view(g, &mut v);
        }
        v
    }

    /// The groups, as handed to the next process.
    pub fn saved_groups(&self, clock: WallClock) -> Vec<SavedGroup> {
        self.groups
            .iter()
            .map(|(g, grp)| SavedGroup::of(g, grp, clock))
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

    /// The other router that is querier on the link (a lower address heard
    /// within the Other Querier Present Interval), if any.
    pub fn other_querier(&self) -> Option<Ipv4Addr> {
        self.other_querier.map(|(a, _)| a)
    }

    /// Status snapshot; remaining times are relative to `now`.
    pub fn status(&self, now: Instant) -> IgmpIfStatus {
        let rem = |t: Option<Instant>| t.map(|t| t.saturating_duration_since(now));
        let groups = self
            .groups
            .iter()
            .map(|(g, grp)| GroupStatus {
                group: g,
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
}

// ===== helper functions =====

/// The address of a group IGMP holds. IGMP holds IPv4 groups only: each
/// came from an IGMP message or was checked against an IPv4 range.
pub(super) fn v4(g: GroupAddr) -> Ipv4Addr {
    debug_assert!(g.v4().is_some(), "IGMP holds the IPv6 group {g}");
    g.v4().unwrap_or(Ipv4Addr::UNSPECIFIED)
}

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
