//! The IGMP router of one interface (sans-IO): receive checks, querier
//! election and query schedule (RFC 3376 6.6, RFC 2236 3), compatibility
//! with older hosts (RFC 3376 7.3) and the forwarding view handed to the
//! group manager as up/down deltas.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use ipnet::Ipv4Net;

use super::config::{IgmpIfConfig, IgmpVersion};
use super::group::{ApplyParams, FilterMode, Group, Lmq};
use super::packet::{GroupRecord, IgmpPacket, Query, QueryVersion, RecordType};
use super::stats::{GroupStatus, IgmpIfStatus, IgmpLog, IgmpStats, SourceStatus};
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
    /// The interface's IPv4 subnets (RFC 3376 9.2 source check).
    SubnetsChanged(Vec<Ipv4Net>),
    ConfigChanged(IgmpIfConfig),
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
    /// QRV / QQI learned from the querier (RFC 3376 4.1.6, 4.1.7).
    learned_rv: Option<u8>,
    learned_qi: Option<Duration>,
    groups: BTreeMap<GroupAddr, Group>,
    /// (earliest timer, group): the groups' wake-up index.
    wakes: BTreeSet<(Instant, GroupAddr)>,
    stats: IgmpStats,
    stopped: bool,
}

impl IgmpRouter {
    /// A router for one interface. When it may be querier it starts with
    /// the startup queries (RFC 3376 8.6, 8.7): the first is due at `now`.
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
            groups: BTreeMap::new(),
            wakes: BTreeSet::new(),
            stats: IgmpStats::default(),
            stopped: false,
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
            IgmpEvent::Stop => self.process_stop(&mut out),
        }
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
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The current forwarding view (RFC 3376 6.3), in key order.
    pub fn memberships(&self) -> Vec<MembershipKey> {
        let mut v = Vec::new();
        for (g, grp) in &self.groups {
            grp.view(*g, &mut v);
        }
        v
    }

    pub fn stats(&self) -> &IgmpStats {
        &self.stats
    }

    pub fn config(&self) -> &IgmpIfConfig {
        &self.cfg
    }

    /// True when this router is the querier on its interface.
    pub fn is_querier(&self) -> bool {
        !self.stopped && self.cfg.querier && self.ifaddr.is_some() && self.other_querier.is_none()
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
            group_membership_interval: self.gmi(),
            groups,
            stats: self.stats.clone(),
        }
    }

    // ===== timer values (RFC 3376 8) =====

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

    /// Group Membership Interval (8.4) = Older Host Present Interval (8.13).
    fn gmi(&self) -> Duration {
        self.qi() * u32::from(self.rv()) + self.cfg.query_response_interval
    }

    /// Other Querier Present Interval (8.5).
    fn oqpi(&self) -> Duration {
        self.qi() * u32::from(self.rv()) + self.cfg.query_response_interval / 2
    }

    fn lmq(&self) -> Lmq {
        Lmq {
            time: self.cfg.last_member_query_interval * u32::from(self.cfg.last_member_query_count),
            interval: self.cfg.last_member_query_interval,
            count: self.cfg.last_member_query_count,
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

    /// We stop querying: drop the schedule and pending retransmissions.
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

    fn send_specific_query(
        &mut self,
        g: GroupAddr,
        suppress: bool,
        sources: Vec<Ipv4Addr>,
        out: &mut Vec<IgmpAction>,
    ) {
        if sources.is_empty() {
            self.stats.tx_group_queries += 1;
        } else {
            self.stats.tx_group_source_queries += 1;
        }
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
            if dst != ALL_SYSTEMS {
                return self.stats.drop("bad_destination");
            }
            None
        } else {
            let Ok(g) = GroupAddr::new(q.group) else {
                return self.stats.drop("bad_group");
            };
            if dst != q.group {
                return self.stats.drop("bad_destination");
            }
            Some(g)
        };
        let older = matches!(
            (self.cfg.version, q.version),
            (IgmpVersion::V3, QueryVersion::V1 | QueryVersion::V2)
                | (IgmpVersion::V2, QueryVersion::V1)
        );
        if older {
            self.stats.older_version_queries += 1;
            out.push(IgmpAction::Log(IgmpLog::OlderVersionQuery {
                source: src,
                version: q.version,
            }));
        }
        // Election (6.6.2): the lowest address is querier.
        if self.ifaddr.is_none_or(|a| src < a) {
            let was_querier = self.is_querier();
            if q.version == QueryVersion::V3 {
                self.learned_rv = (q.qrv != 0).then_some(q.qrv);
                let qqi = q.qqi();
                self.learned_qi = (!qqi.is_zero()).then_some(qqi);
            }
            // Present first, so that oqpi() uses the learned values.
            self.other_querier = Some((src, now));
            let oqpi = self.oqpi();
            self.other_querier = Some((src, now + oqpi));
            if was_querier {
                self.stop_querier(Some(src), out);
            }
        }
        // Timer lowering on specific queries with S clear (6.6.1).
        if let Some(g) = group
            && !q.suppress
            && let Some(grp) = self.groups.get_mut(&g)
        {
            let mut mrt = q.max_resp_time();
            if mrt.is_zero() {
                mrt = self.cfg.last_member_query_interval;
            }
            let low = now + mrt * u32::from(self.cfg.last_member_query_count);
            if q.sources.is_empty() {
                grp.lower_group_timer(low);
            } else {
                grp.lower_source_timers(low, &q.sources);
            }
            self.rewake(g);
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
        if dst != group {
            return self.stats.drop("bad_destination");
        }
        if self.cfg.version == IgmpVersion::V3 && self.is_ssm(g) {
            return self.stats.drop("ssm_asm_report");
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
        if dst != ALL_ROUTERS && dst != group {
            return self.stats.drop("bad_destination");
        }
        if self.cfg.version == IgmpVersion::V3 && self.is_ssm(g) {
            return self.stats.drop("ssm_asm_report");
        }
        if self.groups.get(&g).is_some_and(|grp| grp.v1_host.is_some()) {
            // v1 hosts would not answer the group query (7.3.2).
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
        if dst != ALL_V3_ROUTERS {
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
        // 7.3.2: in v1/v2 compatibility, BLOCK is ignored and TO_EX
        // loses its source list.
        if origin == Origin::V3
            && let Some(grp) = self.groups.get(&g)
            && grp.compat() != IgmpVersion::V3
        {
            match rt {
                RecordType::BlockOldSources => return self.stats.drop("block_in_compat"),
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
                return;
            }
            self.groups.insert(g, Group::new(false));
            out.push(IgmpAction::Log(IgmpLog::GroupCreated { group: g }));
        }
        let p = ApplyParams {
            gmi: self.gmi(),
            max_sources: self.cfg.max_sources_per_group,
            track,
        };
        let querier = self.is_querier();
        let lmq = self.lmq();
        let immediate_v2 = self.cfg.immediate_leave && self.cfg.version == IgmpVersion::V2;
        let gmi = p.gmi;
        let Some(grp) = self.groups.get_mut(&g) else {
            return;
        };
        let mut before = Vec::new();
        grp.view(g, &mut before);
        let compat_before = grp.compat();
        let mode_before = grp.mode;
        match origin {
            Origin::V1 if self.cfg.version != IgmpVersion::V1 => grp.v1_host = Some(now + gmi),
            Origin::V2 if v3_router && rt != RecordType::ChangeToInclude => {
                grp.v2_host = Some(now + gmi)
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
            (false, true) => {
                if let Some(a) = addr {
                    out.push(IgmpAction::Log(IgmpLog::QuerierUp { address: a }));
                }
                self.start_querier(now);
            }
            _ => {}
        }
    }

    fn process_config(&mut self, now: Instant, cfg: IgmpIfConfig, out: &mut Vec<IgmpAction>) {
        let was_querier = self.is_querier();
        let old = std::mem::replace(&mut self.cfg, cfg);
        if old.version != self.cfg.version {
            // Group state of one version means nothing to another: start
            // over, with startup queries.
            self.flush(out);
            if was_querier && self.is_querier() {
                self.start_querier(now);
            }
        } else {
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
        self.startup_left = 0;
        self.stopped = true;
    }
}

// ===== helper functions =====

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
