//! IGMP router of one interface driven through `handle(now, event)` with
//! a fake clock: startup queries, election, last-member queries, host
//! compatibility, immediate leave / explicit tracking, caps, every drop
//! reason, and the property that Up/Down actions are exactly the deltas
//! of `memberships()`.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use mgmd::core::igmp::packet::{self, GroupRecord, IgmpPacket, Query, QueryVersion, RecordType};
use mgmd::core::igmp::{
    FilterMode, IgmpAction, IgmpEvent, IgmpIfConfig, IgmpLog, IgmpRouter, IgmpVersion,
};
use mgmd::core::types::{GroupAddr, MembershipKey};
use proptest::prelude::*;

// ===== harness =====

const ME: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 5);
const ALL_SYSTEMS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 1);
const ALL_ROUTERS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 2);
const V3_ROUTERS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 22);

fn ip(s: &str) -> Ipv4Addr {
    s.parse().expect("test address")
}

fn grp(s: &str) -> GroupAddr {
    s.parse().expect("test group")
}

fn host(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, n)
}

fn src(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 168, 1, n)
}

/// A router plus a consumer that applies Up/Down; every step checks that
/// the consumer's view equals `memberships()` and that no Up repeats an
/// existing key nor a Down removes a missing one.
struct H {
    r: IgmpRouter,
    t0: Instant,
    now: Instant,
    view: BTreeSet<MembershipKey>,
}

impl H {
    fn new(cfg: IgmpIfConfig) -> H {
        let t0 = Instant::now();
        let mut h = H {
            r: IgmpRouter::new(cfg, Some(ME), t0),
            t0,
            now: t0,
            view: BTreeSet::new(),
        };
        h.ev(IgmpEvent::SubnetsChanged(vec![
            "10.0.0.0/24".parse().unwrap(),
        ]));
        h
    }

    /// Default v3 router that already sent its startup queries.
    fn v3() -> H {
        H::with(|_| {})
    }

    fn with(f: impl FnOnce(&mut IgmpIfConfig)) -> H {
        let mut cfg = IgmpIfConfig::default();
        f(&mut cfg);
        let mut h = H::new(cfg);
        h.settle();
        h
    }

    /// Seconds since t0.
    fn secs(&self) -> f64 {
        (self.now - self.t0).as_secs_f64()
    }

    fn apply(&mut self, acts: &[IgmpAction]) {
        for a in acts {
            match a {
                IgmpAction::MembershipUp(k) => assert!(self.view.insert(*k), "Up for present {k}"),
                IgmpAction::MembershipDown(k) => {
                    assert!(self.view.remove(k), "Down for missing {k}")
                }
                _ => {}
            }
        }
        let mem: BTreeSet<MembershipKey> = self.r.memberships().into_iter().collect();
        assert_eq!(self.view, mem, "Up/Down deltas diverged from memberships()");
    }

    fn ev(&mut self, e: IgmpEvent) -> Vec<IgmpAction> {
        let acts = self.r.handle(self.now, e);
        self.apply(&acts);
        acts
    }

    /// Advance to t0 + `secs`, firing every deadline on the way.
    fn to(&mut self, secs: f64) -> Vec<IgmpAction> {
        let end = self.t0 + Duration::from_secs_f64(secs);
        let mut all = Vec::new();
        while let Some(d) = self.r.next_deadline() {
            if d > end {
                break;
            }
            assert!(d >= self.now, "deadline in the past");
            self.now = d;
            all.extend(self.ev(IgmpEvent::Timer));
        }
        self.now = end;
        all
    }

    /// Let the startup queries go out (2 queries, 31.25 s apart).
    fn settle(&mut self) {
        self.to(0.0);
        self.to(32.0);
        self.t0 = self.now;
    }

    fn rx_full(
        &mut self,
        from: Ipv4Addr,
        dst: Ipv4Addr,
        ttl: u8,
        payload: Vec<u8>,
    ) -> Vec<IgmpAction> {
        self.ev(IgmpEvent::Rx {
            src: from,
            dst,
            ttl,
            router_alert: true,
            payload,
        })
    }

    fn rx(&mut self, from: Ipv4Addr, dst: Ipv4Addr, pkt: IgmpPacket) -> Vec<IgmpAction> {
        self.rx_full(from, dst, 1, pkt.encode())
    }

    fn v3r(&mut self, from: Ipv4Addr, recs: &[(RecordType, &str, &[u8])]) -> Vec<IgmpAction> {
        self.rx(from, V3_ROUTERS, v3_report(recs))
    }

    fn v2_report(&mut self, from: Ipv4Addr, g: &str) -> Vec<IgmpAction> {
        self.rx(from, ip(g), IgmpPacket::V2Report { group: ip(g) })
    }

    fn v1_report(&mut self, from: Ipv4Addr, g: &str) -> Vec<IgmpAction> {
        self.rx(from, ip(g), IgmpPacket::V1Report { group: ip(g) })
    }

    fn leave(&mut self, from: Ipv4Addr, g: &str) -> Vec<IgmpAction> {
        self.rx(from, ALL_ROUTERS, IgmpPacket::V2Leave { group: ip(g) })
    }

    fn drops(&self, reason: &str) -> u64 {
        self.r.stats().drops.get(reason).copied().unwrap_or(0)
    }

    fn mem(&self) -> Vec<MembershipKey> {
        self.r.memberships()
    }
}

fn v3_report(recs: &[(RecordType, &str, &[u8])]) -> IgmpPacket {
    IgmpPacket::V3Report {
        records: recs
            .iter()
            .map(|(t, g, s)| GroupRecord {
                record_type: *t,
                group: ip(g),
                sources: s.iter().map(|n| src(*n)).collect(),
            })
            .collect(),
    }
}

/// Queries among the actions, decoded.
fn queries(acts: &[IgmpAction]) -> Vec<(Ipv4Addr, Query)> {
    acts.iter()
        .filter_map(|a| match a {
            IgmpAction::Send { dst, payload } => match packet::decode(payload) {
                Ok(IgmpPacket::Query(q)) => Some((*dst, q)),
                other => panic!("sent a non-query: {other:?}"),
            },
            _ => None,
        })
        .collect()
}

fn logs(acts: &[IgmpAction]) -> Vec<IgmpLog> {
    acts.iter()
        .filter_map(|a| match a {
            IgmpAction::Log(l) => Some(l.clone()),
            _ => None,
        })
        .collect()
}

fn ups(acts: &[IgmpAction]) -> Vec<MembershipKey> {
    acts.iter()
        .filter_map(|a| match a {
            IgmpAction::MembershipUp(k) => Some(*k),
            _ => None,
        })
        .collect()
}

fn downs(acts: &[IgmpAction]) -> Vec<MembershipKey> {
    acts.iter()
        .filter_map(|a| match a {
            IgmpAction::MembershipDown(k) => Some(*k),
            _ => None,
        })
        .collect()
}

fn query_from(version: QueryVersion, group: &str, sources: &[u8]) -> IgmpPacket {
    IgmpPacket::Query(Query::specific(
        version,
        Duration::from_secs(1),
        ip(group),
        false,
        2,
        Duration::from_secs(125),
        sources.iter().map(|n| src(*n)).collect(),
    ))
}

use RecordType::*;

// ===== querier: startup, periodic, election =====

#[test]
fn startup_queries_then_periodic() {
    // Startup Query Count 2 at Startup Query Interval 31.25 s, then every
    // Query Interval 125 s (RFC 3376 8.6, 8.7).
    let mut h = H::new(IgmpIfConfig::default());
    assert_eq!(h.r.next_deadline(), Some(h.t0));
    let mut times = Vec::new();
    for _ in 0..4 {
        let d = h.r.next_deadline().unwrap();
        h.now = d;
        let acts = h.ev(IgmpEvent::Timer);
        let q = queries(&acts);
        assert_eq!(q.len(), 1);
        assert_eq!(q[0].0, ALL_SYSTEMS);
        assert_eq!(q[0].1.version, QueryVersion::V3);
        assert!(q[0].1.is_general());
        assert_eq!(q[0].1.qrv, 2);
        assert_eq!(q[0].1.qqic, 125);
        assert_eq!(q[0].1.max_resp_code, 100);
        times.push(h.secs());
    }
    assert_eq!(times, vec![0.0, 31.25, 156.25, 281.25]);
    assert_eq!(h.r.stats().tx_general_queries, 4);
    assert!(h.r.is_querier());
}

#[test]
fn v2_and_v1_routers_send_their_query_versions() {
    for (v, qv, code) in [
        (IgmpVersion::V2, QueryVersion::V2, 100),
        (IgmpVersion::V1, QueryVersion::V1, 0),
    ] {
        let mut h = H::new(IgmpIfConfig {
            version: v,
            ..Default::default()
        });
        let acts = h.to(0.0);
        let q = queries(&acts);
        assert_eq!(q[0].0, ALL_SYSTEMS);
        assert_eq!(q[0].1.version, qv);
        assert_eq!(q[0].1.max_resp_code, code);
        assert_eq!(
            acts.iter()
                .filter(|a| matches!(a, IgmpAction::Send { payload, .. } if payload.len() == 8))
                .count(),
            1
        );
    }
}

#[test]
fn lower_querier_wins_and_role_comes_back_after_other_querier_present_interval() {
    let mut h = H::v3();
    let other = host(2);
    let acts = h.rx(
        other,
        ALL_SYSTEMS,
        query_from(QueryVersion::V3, "0.0.0.0", &[]),
    );
    assert_eq!(
        logs(&acts),
        vec![IgmpLog::QuerierDown { other: Some(other) }]
    );
    assert!(!h.r.is_querier());
    let st = h.r.status(h.now);
    assert_eq!(st.querier, Some(other));
    // OQPI = 2 * 125 + 10 / 2 = 255 s (RFC 3376 8.5).
    assert_eq!(st.other_querier_expires, Some(Duration::from_secs(255)));
    // No general queries while the other querier is present.
    let acts = h.to(254.0);
    assert!(queries(&acts).is_empty());
    let acts = h.to(255.0);
    assert_eq!(logs(&acts), vec![IgmpLog::QuerierUp { address: ME }]);
    let q = queries(&acts);
    assert_eq!(q.len(), 1);
    assert!(q[0].1.is_general());
    assert!(h.r.is_querier());
    // Then periodic again.
    let acts = h.to(255.0 + 125.0);
    assert_eq!(queries(&acts).len(), 1);
}

#[test]
fn higher_querier_and_unspecified_source_do_not_win() {
    let mut h = H::v3();
    h.rx(
        host(9),
        ALL_SYSTEMS,
        query_from(QueryVersion::V3, "0.0.0.0", &[]),
    );
    assert!(h.r.is_querier());
    h.rx(
        Ipv4Addr::UNSPECIFIED,
        ALL_SYSTEMS,
        query_from(QueryVersion::V3, "0.0.0.0", &[]),
    );
    assert!(h.r.is_querier());
    assert_eq!(h.drops("query_from_unspecified"), 1);
    // Our own query looped back: recognised by exact address only.
    h.rx(
        ME,
        ALL_SYSTEMS,
        query_from(QueryVersion::V3, "0.0.0.0", &[]),
    );
    assert_eq!(h.drops("own_address"), 1);
    assert!(h.r.is_querier());
}

/// RFC 9776 9.2 names reports only: a query from an address outside the
/// interface's subnets (an unnumbered neighbour, a point-to-point peer we
/// do not know as such) still elects, and a report from there is still
/// dropped.
#[test]
fn queries_from_outside_the_subnets_take_part_in_the_election() {
    let mut h = H::v3();
    let lower = ip("9.9.9.9");
    h.rx(
        lower,
        ALL_SYSTEMS,
        query_from(QueryVersion::V3, "0.0.0.0", &[]),
    );
    assert!(!h.r.is_querier());
    assert_eq!(h.drops("source_not_on_subnet"), 0);
    h.rx(
        lower,
        V3_ROUTERS,
        v3_report(&[(ModeIsExclude, "239.1.1.1", &[])]),
    );
    assert_eq!(h.drops("source_not_on_subnet"), 1);
    assert!(h.mem().is_empty());
}

#[test]
fn non_querier_learns_qrv_and_qqi() {
    let mut h = H::v3();
    let q = Query::general(
        QueryVersion::V3,
        Duration::from_secs(10),
        3,
        Duration::from_secs(60),
    );
    h.rx(host(2), ALL_SYSTEMS, IgmpPacket::Query(q));
    let st = h.r.status(h.now);
    assert_eq!(st.robustness, 3);
    assert_eq!(st.query_interval, Duration::from_secs(60));
    // GMI = 3 * 60 + 2 * 10; OQPI = 3 * 60 + 5 (RFC 9776 8.4, 8.5).
    assert_eq!(st.group_membership_interval, Duration::from_secs(200));
    assert_eq!(st.other_querier_expires, Some(Duration::from_secs(185)));
    h.v3r(host(20), &[(ModeIsExclude, "239.1.1.1", &[])]);
    let st = h.r.status(h.now);
    assert_eq!(st.groups[0].expires, Some(Duration::from_secs(200)));
}

#[test]
fn older_version_queries_warn_rate_limited() {
    // RFC 9776 7.3.1: a router not configured for IGMPv1/v2 "receives an
    // IGMPv1 Query or IGMPv2 General Query, it SHOULD log a warning. These
    // warnings MUST be rate-limited."
    let mut h = H::v3();
    let v2_general = query_from(QueryVersion::V2, "0.0.0.0", &[]);
    let acts = h.rx(host(9), ALL_SYSTEMS, v2_general.clone());
    assert_eq!(
        logs(&acts),
        vec![IgmpLog::OlderVersionQuerier {
            source: host(9),
            version: QueryVersion::V2,
            configured: IgmpVersion::V3,
            suppressed: 0,
        }]
    );
    // Within the interval: counted, not logged.
    h.to(100.0);
    let acts = h.rx(host(9), ALL_SYSTEMS, v2_general.clone());
    assert!(logs(&acts).is_empty());
    h.to(599.0);
    let acts = h.rx(
        host(8),
        ALL_SYSTEMS,
        query_from(QueryVersion::V1, "0.0.0.0", &[]),
    );
    assert!(logs(&acts).is_empty());
    // A v2 group-specific query is no reason to warn (only general ones).
    let acts = h.rx(
        host(9),
        ip("239.1.1.1"),
        query_from(QueryVersion::V2, "239.1.1.1", &[]),
    );
    assert!(logs(&acts).is_empty());
    assert_eq!(h.r.stats().older_version_queries, 3);
    // The interval over: the next one warns and tells how many were held.
    h.to(600.0);
    let acts = h.rx(host(9), ALL_SYSTEMS, v2_general);
    assert_eq!(
        logs(&acts),
        vec![IgmpLog::OlderVersionQuerier {
            source: host(9),
            version: QueryVersion::V2,
            configured: IgmpVersion::V3,
            suppressed: 2,
        }]
    );
    assert_eq!(h.r.stats().older_version_queries, 4);
    assert_eq!(h.r.stats().newer_version_queries, 0);
}

#[test]
fn v2_router_warns_about_v1_queries_and_about_v3_queries() {
    // RFC 2236 4: "If a router is not explicitly configured to use IGMPv1
    // and hears an IGMPv1 Query, it SHOULD log a warning." RFC 9776 7.3.1:
    // in IGMPv2 mode routers "SHOULD also warn about receiving an IGMPv3
    // query (such warnings MUST be rate-limited)".
    let mut h = H::with(|c| c.version = IgmpVersion::V2);
    let acts = h.rx(
        host(9),
        ALL_SYSTEMS,
        query_from(QueryVersion::V1, "0.0.0.0", &[]),
    );
    assert!(matches!(
        logs(&acts)[..],
        [IgmpLog::OlderVersionQuerier {
            version: QueryVersion::V1,
            configured: IgmpVersion::V2,
            ..
        }]
    ));
    let v3 = query_from(QueryVersion::V3, "239.1.1.1", &[]);
    let acts = h.rx(host(9), ip("239.1.1.1"), v3.clone());
    assert_eq!(
        logs(&acts),
        vec![IgmpLog::NewerVersionQuerier {
            source: host(9),
            version: QueryVersion::V3,
            configured: IgmpVersion::V2,
            suppressed: 0,
        }]
    );
    let acts = h.rx(host(9), ip("239.1.1.1"), v3);
    assert!(logs(&acts).is_empty(), "rate-limited");
    assert_eq!(h.r.stats().newer_version_queries, 2);
    assert_eq!(h.r.stats().older_version_queries, 1);
}

#[test]
fn v1_router_warns_about_v2_and_v3_queries() {
    // RFC 9776 7.3.1: in IGMPv1 mode routers "SHOULD also warn about
    // receiving an IGMPv2 or IGMPv3 query, although such warnings MUST be
    // rate-limited".
    let mut h = H::with(|c| c.version = IgmpVersion::V1);
    let acts = h.rx(
        host(9),
        ALL_SYSTEMS,
        query_from(QueryVersion::V2, "0.0.0.0", &[]),
    );
    assert!(matches!(
        logs(&acts)[..],
        [IgmpLog::NewerVersionQuerier {
            version: QueryVersion::V2,
            configured: IgmpVersion::V1,
            suppressed: 0,
            ..
        }]
    ));
    h.to(10.0);
    let acts = h.rx(
        host(9),
        ALL_SYSTEMS,
        query_from(QueryVersion::V3, "0.0.0.0", &[]),
    );
    assert!(
        logs(&acts)
            .iter()
            .all(|l| !matches!(l, IgmpLog::NewerVersionQuerier { .. }))
    );
    assert_eq!(h.r.stats().newer_version_queries, 2);
    assert_eq!(h.r.stats().older_version_queries, 0);
}

#[test]
fn querier_off_listens_but_never_queries() {
    let mut h = H::with(|c| c.querier = false);
    assert!(!h.r.is_querier());
    assert_eq!(h.r.stats().tx_general_queries, 0);
    h.v3r(host(20), &[(ModeIsExclude, "239.1.1.1", &[])]);
    // A leave asks for queries only from the querier.
    let acts = h.v3r(host(20), &[(ChangeToInclude, "239.1.1.1", &[])]);
    assert!(queries(&acts).is_empty());
    assert_eq!(h.mem(), vec![MembershipKey::any(grp("239.1.1.1"))]);
    // The querier's group-specific query lowers our group timer (6.6.1):
    // LMQC (2) x Max Resp Time (1 s).
    h.rx(
        host(2),
        ip("239.1.1.1"),
        query_from(QueryVersion::V3, "239.1.1.1", &[]),
    );
    let acts = h.to(2.0);
    assert_eq!(downs(&acts), vec![MembershipKey::any(grp("239.1.1.1"))]);
}

// RFC 9776 6.6.1: a router that receives a query with the S flag clear
// lowers the group timer (Q(G)) or the source timers (Q(G,A)) "to LMQT";
// 8.10: LMQT is the Last Member Query Interval times the Last Member Query
// Count, the querier's: its interval is the query's Max Response Time
// (8.8), its count by default its Robustness Variable (8.9), carried as
// QRV (4.1.6). A v2 query carries no QRV: our own count then.
// Input: a non-querier with LMQC 2 hears Q(G) with Max Resp Time 1 s and
// QRV 3, and a v2 Q(G). Output: the group goes 3 s, then 2 s, later.
#[test]
fn a_received_group_query_lowers_timers_to_the_querier_s_lmqt() {
    let mut h = H::v3();
    h.rx(host(2), ALL_SYSTEMS, general_from(QueryVersion::V3, 3));
    assert!(!h.r.is_querier());
    h.v3r(host(20), &[(ModeIsExclude, "239.1.1.1", &[])]);
    let q = Query::specific(
        QueryVersion::V3,
        Duration::from_secs(1),
        ip("239.1.1.1"),
        false,
        3,
        Duration::from_secs(125),
        Vec::new(),
    );
    h.rx(host(2), ip("239.1.1.1"), IgmpPacket::Query(q));
    assert_eq!(
        h.r.status(h.now).groups[0].expires,
        Some(Duration::from_secs(3))
    );
    assert!(downs(&h.to(2.9)).is_empty());
    assert_eq!(downs(&h.to(3.0)).len(), 1);
    // Q(G,A) likewise lowers the source timers.
    h.v3r(host(20), &[(AllowNewSources, "239.1.1.2", &[1, 2])]);
    let q = Query::specific(
        QueryVersion::V3,
        Duration::from_secs(1),
        ip("239.1.1.2"),
        false,
        3,
        Duration::from_secs(125),
        vec![src(1)],
    );
    h.rx(host(2), ip("239.1.1.2"), IgmpPacket::Query(q));
    assert_eq!(
        h.r.status(h.now).groups[0].sources[0].expires,
        Some(Duration::from_secs(3))
    );
    // A v2 Q(G): the Max Response Time times our own count (2).
    h.v2_report(host(20), "239.1.1.3");
    h.rx(
        host(2),
        ip("239.1.1.3"),
        query_from(QueryVersion::V2, "239.1.1.3", &[]),
    );
    let g3 =
        h.r.status(h.now)
            .groups
            .into_iter()
            .find(|g| g.group == grp("239.1.1.3"));
    assert_eq!(g3.unwrap().expires, Some(Duration::from_secs(2)));
}

// RFC 9776 4.1.6: "Routers adopt the QRV value from the most recently
// received Query as their own [Robustness Variable] value"; 4.1.7: a
// non-querier adopts the querier's QQI. With `querier = false` mgmd takes
// no part in the election, so the querier may have a higher address: it
// is still the router whose values mgmd adopts (the lowest address among
// the routers heard querying).
// Input: querier = false at .5, general queries from .9 (QRV 3, QQI 60 s),
// then .7 (QRV 4), then .8. Output: the querier and the values in use.
#[test]
fn a_non_querier_takes_the_querier_s_qrv_whatever_its_address() {
    let mut h = H::with(|c| c.querier = false);
    let general = |qrv, qqi| {
        IgmpPacket::Query(Query::general(
            QueryVersion::V3,
            Duration::from_secs(10),
            qrv,
            Duration::from_secs(qqi),
        ))
    };
    h.rx(host(9), ALL_SYSTEMS, general(3, 60));
    let st = h.r.status(h.now);
    assert_eq!(st.querier, Some(host(9)));
    assert_eq!(
        (st.robustness, st.query_interval),
        (3, Duration::from_secs(60))
    );
    // GMI = 3 x 60 + 2 x 10 (8.4).
    assert_eq!(st.group_membership_interval, Duration::from_secs(200));
    h.rx(host(7), ALL_SYSTEMS, general(4, 60));
    h.rx(host(8), ALL_SYSTEMS, general(5, 30));
    let st = h.r.status(h.now);
    assert_eq!(st.querier, Some(host(7)));
    assert_eq!(
        (st.robustness, st.query_interval),
        (4, Duration::from_secs(60))
    );
    assert!(!st.is_querier);
    assert_eq!(h.r.stats().tx_general_queries, 0);
    // The querier goes quiet: our own values again, still no query.
    h.to(4.0 * 60.0 + 5.0);
    let st = h.r.status(h.now);
    assert_eq!(st.querier, None);
    assert_eq!(
        (st.robustness, st.query_interval),
        (2, Duration::from_secs(125))
    );
    assert_eq!(h.r.stats().tx_general_queries, 0);
}

// RFC 9776 4: every IGMP message "is sent with an IP Time-to-Live of 1"
// (RFC 2236 2, RFC 1112 appendix I likewise), and IGMP reports
// memberships "to any neighboring multicast routers" (1). A v1/v2 report is a datagram to the
// group itself, which a multicast router forwards like the group's data
// when its TTL allows; one that arrives with a TTL other than 1 left its
// sender with TTL > 1 and may have crossed routers. mgmd drops it
// (`bad_ttl`): no state from a host that is not a neighbour, also where
// the source-subnet check (9.2) is off (an unnumbered link), and no
// election won by an off-link query.
// Input: with check-source-subnet = false, a v2 report with TTL 31 from
// off the subnet, the same with TTL 1, a lower general query with TTL 2.
// Output: only the TTL 1 report makes state; mgmd stays querier.
#[test]
fn messages_with_a_ttl_other_than_1_are_not_from_a_neighbour() {
    let mut h = H::with(|c| c.check_source_subnet = false);
    let far = ip("10.9.9.9");
    let report = IgmpPacket::V2Report {
        group: ip("239.1.1.1"),
    };
    let acts = h.rx_full(far, ip("239.1.1.1"), 31, report.encode());
    assert!(ups(&acts).is_empty());
    assert_eq!(h.drops("bad_ttl"), 1);
    let acts = h.rx_full(far, ip("239.1.1.1"), 1, report.encode());
    assert_eq!(ups(&acts), vec![MembershipKey::any(grp("239.1.1.1"))]);
    h.rx_full(
        host(2),
        ALL_SYSTEMS,
        2,
        general_from(QueryVersion::V3, 2).encode(),
    );
    assert_eq!(h.drops("bad_ttl"), 2);
    assert!(h.r.is_querier());
}

#[test]
fn address_change_reruns_the_election() {
    let mut h = H::v3();
    h.rx(
        host(2),
        ALL_SYSTEMS,
        query_from(QueryVersion::V3, "0.0.0.0", &[]),
    );
    assert!(!h.r.is_querier());
    // Our new address is lower than the other querier's: querier again,
    // with the first startup query at once.
    let acts = h.ev(IgmpEvent::AddressChanged(Some(host(1))));
    assert_eq!(logs(&acts), vec![IgmpLog::QuerierUp { address: host(1) }]);
    assert!(h.r.is_querier());
    assert_eq!(queries(&acts).len(), 1);
    assert!(queries(&h.to(0.0)).is_empty());
    // A new address for the querier: the election runs again from it, the
    // startup queries go out anew, the groups stay.
    h.v3r(host(20), &[(ModeIsExclude, "239.1.1.1", &[])]);
    let acts = h.ev(IgmpEvent::AddressChanged(Some(host(3))));
    assert_eq!(logs(&acts), vec![IgmpLog::QuerierUp { address: host(3) }]);
    assert_eq!(queries(&acts).len(), 1);
    assert_eq!(h.r.status(h.now).startup_queries_left, 1);
    assert_eq!(h.mem(), vec![MembershipKey::any(grp("239.1.1.1"))]);
    // Losing the address stops queries.
    let acts = h.ev(IgmpEvent::AddressChanged(None));
    assert_eq!(logs(&acts), vec![IgmpLog::QuerierDown { other: None }]);
    assert!(queries(&h.to(1000.0)).is_empty());
}

#[test]
fn a_down_link_keeps_its_groups_sends_nothing_and_starts_over_when_up() {
    let mut h = H::v3();
    h.v3r(host(20), &[(ModeIsExclude, "239.1.1.1", &[])]);
    h.to(100.0);
    h.v3r(host(21), &[(ModeIsExclude, "239.2.2.2", &[])]);
    // A lower querier was heard; the link goes down.
    h.rx(
        host(2),
        ALL_SYSTEMS,
        query_from(QueryVersion::V3, "0.0.0.0", &[]),
    );
    let acts = h.ev(IgmpEvent::LinkDown);
    assert!(acts.is_empty(), "{acts:?}");
    assert!(!h.r.is_querier());
    // Timers run on: the first group goes at its Group Membership Interval
    // (260 s after its report), nothing is sent meanwhile.
    let acts = h.to(300.0);
    assert!(queries(&acts).is_empty(), "{acts:?}");
    assert_eq!(downs(&acts), vec![MembershipKey::any(grp("239.1.1.1"))]);
    assert_eq!(h.mem(), vec![MembershipKey::any(grp("239.2.2.2"))]);
    // Up: querier again at once (the other querier is forgotten), with the
    // startup queries; the group kept is still there.
    let acts = h.ev(IgmpEvent::LinkUp);
    assert_eq!(logs(&acts), vec![IgmpLog::QuerierUp { address: ME }]);
    assert_eq!(queries(&acts).len(), 1);
    assert!(h.r.is_querier());
    assert_eq!(h.mem(), vec![MembershipKey::any(grp("239.2.2.2"))]);
    let acts = h.to(300.0 + 31.25);
    assert_eq!(queries(&acts).len(), 1);
    // A second LinkUp changes nothing.
    assert!(h.ev(IgmpEvent::LinkUp).is_empty());
}

#[test]
fn config_change_turns_querier_off() {
    let mut h = H::v3();
    let acts = h.ev(IgmpEvent::ConfigChanged(IgmpIfConfig {
        querier: false,
        ..Default::default()
    }));
    assert_eq!(logs(&acts), vec![IgmpLog::QuerierDown { other: None }]);
    assert!(queries(&h.to(1000.0)).is_empty());
}

#[test]
fn a_version_change_keeps_every_member() {
    // v3 -> v2: a v2 router knows no sources, so INCLUDE({S1,S2}) and
    // EXCLUDE({}) both become (*,G) with their latest timer; v2 queries
    // start at once.
    let mut h = H::v3();
    h.v3r(host(20), &[(ModeIsInclude, "239.1.1.1", &[1, 2])]);
    h.v3r(host(21), &[(ModeIsExclude, "239.2.2.2", &[])]);
    let acts = h.ev(IgmpEvent::ConfigChanged(IgmpIfConfig {
        version: IgmpVersion::V2,
        ..Default::default()
    }));
    assert_eq!(
        h.mem(),
        vec![
            MembershipKey::any(grp("239.1.1.1")),
            MembershipKey::any(grp("239.2.2.2"))
        ]
    );
    assert_eq!(
        downs(&acts),
        vec![
            MembershipKey::only(src(1), grp("239.1.1.1")),
            MembershipKey::only(src(2), grp("239.1.1.1"))
        ]
    );
    let t = h.secs();
    let sent = queries(&h.to(t));
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].1.version, QueryVersion::V2);
    // Nobody answers: both run out when their timers would have.
    h.to(269.0);
    assert_eq!(h.mem().len(), 2);
    h.to(271.0);
    assert!(h.mem().is_empty());

    // v2 -> v3: the groups came from v2 hosts, so they stay in IGMPv2
    // compatibility: a BLOCK is ignored, a v2 leave still works.
    let mut h = H::with(|c| c.version = IgmpVersion::V2);
    h.v2_report(host(20), "239.1.1.1");
    let acts = h.ev(IgmpEvent::ConfigChanged(IgmpIfConfig::default()));
    assert!(downs(&acts).is_empty(), "{acts:?}");
    assert_eq!(h.mem(), vec![MembershipKey::any(grp("239.1.1.1"))]);
    let t = h.secs();
    assert_eq!(queries(&h.to(t))[0].1.version, QueryVersion::V3);
    h.v3r(host(21), &[(BlockOldSources, "239.1.1.1", &[1])]);
    assert_eq!(h.drops("block_in_compat"), 1);
    let acts = h.leave(host(20), "239.1.1.1");
    assert!(
        queries(&acts)
            .iter()
            .any(|(_, q)| q.group == ip("239.1.1.1")),
        "{acts:?}"
    );
    let t = h.secs();
    h.to(t + 3.0);
    assert!(h.mem().is_empty());

    // v1 -> v2: the group keeps its IGMPv1 host, so a leave is ignored.
    let mut h = H::with(|c| c.version = IgmpVersion::V1);
    h.v1_report(host(20), "239.1.1.1");
    h.ev(IgmpEvent::ConfigChanged(IgmpIfConfig {
        version: IgmpVersion::V2,
        ..Default::default()
    }));
    let acts = h.leave(host(20), "239.1.1.1");
    assert!(queries(&acts).is_empty(), "{acts:?}");
    assert_eq!(h.mem(), vec![MembershipKey::any(grp("239.1.1.1"))]);
}

// ===== RFC 9776 points settled against the text =====

fn general_from(version: QueryVersion, qrv: u8) -> IgmpPacket {
    IgmpPacket::Query(Query::general(
        version,
        Duration::from_secs(10),
        qrv,
        Duration::from_secs(125),
    ))
}

#[test]
fn election_by_general_query_only() {
    // RFC 9776 6.6.2: "When a router receives a General Query with a lower
    // IP address, it sets the Other-Querier-Present Timer ... and ceases to
    // send general queries". Group-specific and group-and-source-specific
    // queries from a lower address are no election input; they still lower
    // timers (6.6.1).
    let mut h = H::v3();
    let g = grp("239.1.1.1");
    h.v3r(host(20), &[(ModeIsExclude, "239.1.1.1", &[])]);
    h.v3r(host(20), &[(ModeIsInclude, "232.1.1.1", &[1])]);
    let acts = h.rx(
        host(2),
        ip("239.1.1.1"),
        query_from(QueryVersion::V3, "239.1.1.1", &[]),
    );
    assert!(logs(&acts).is_empty(), "{acts:?}");
    let acts = h.rx(
        host(2),
        ip("232.1.1.1"),
        query_from(QueryVersion::V3, "232.1.1.1", &[1]),
    );
    assert!(logs(&acts).is_empty(), "{acts:?}");
    let acts = h.rx(
        host(2),
        ip("239.1.1.1"),
        query_from(QueryVersion::V2, "239.1.1.1", &[]),
    );
    assert!(logs(&acts).is_empty(), "{acts:?}");
    assert!(h.r.is_querier());
    assert_eq!(h.r.status(h.now).querier, Some(ME));
    // The timers were lowered to LMQC x Max Resp Time = 2 s.
    let acts = h.to(2.0);
    assert_eq!(
        downs(&acts),
        vec![
            MembershipKey::only(src(1), grp("232.1.1.1")),
            MembershipKey::any(g)
        ]
    );
    // Still querier: the next periodic general query goes out (the last
    // startup query was at 31.25 s of the settle, so the next is at 124.25 s).
    let acts = h.to(124.25);
    assert_eq!(queries(&acts).len(), 1);
    assert!(queries(&acts)[0].1.is_general());
    // A lower general query does make us yield.
    let acts = h.rx(host(2), ALL_SYSTEMS, general_from(QueryVersion::V3, 2));
    assert_eq!(
        logs(&acts),
        vec![IgmpLog::QuerierDown {
            other: Some(host(2))
        }]
    );
    assert!(queries(&h.to(124.25 + 254.0)).is_empty());
}

#[test]
fn lower_querier_waits_for_scheduled_group_queries() {
    // RFC 2236 3: "Any Querier to non-Querier transition is ignored during
    // this time; the same router keeps sending the Group-Specific Queries."
    // RFC 9776 6.6.3.1 schedules the [Last Member Query Count] - 1
    // retransmissions with no exception. The role passes once they are sent.
    let mut h = H::with(|c| c.version = IgmpVersion::V2);
    let g = grp("239.1.1.1");
    h.v2_report(host(20), "239.1.1.1");
    let acts = h.leave(host(20), "239.1.1.1");
    assert_eq!(queries(&acts).len(), 1);
    h.to(0.5);
    let acts = h.rx(host(2), ALL_SYSTEMS, general_from(QueryVersion::V2, 0));
    assert_eq!(
        logs(&acts),
        vec![IgmpLog::QuerierChangeDeferred { other: host(2) }]
    );
    assert!(h.r.is_querier());
    // The retransmission goes at 1 s, and the role passes right after it.
    let acts = h.to(1.0);
    let q = queries(&acts);
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].0, ip("239.1.1.1"));
    assert_eq!(q[0].1.group, ip("239.1.1.1"));
    assert_eq!(
        logs(&acts),
        vec![IgmpLog::QuerierDown {
            other: Some(host(2))
        }]
    );
    assert!(!h.r.is_querier());
    assert_eq!(h.r.stats().tx_group_queries, 2);
    // The Other Querier Present timer runs from the query's arrival (0.5 s):
    // 255 s, so 254.5 s are left at 1 s.
    assert_eq!(
        h.r.status(h.now).other_querier_expires,
        Some(Duration::from_millis(254_500))
    );
    // LMQT after the leave the group is gone; no further query of ours.
    let acts = h.to(2.0);
    assert_eq!(downs(&acts), vec![MembershipKey::any(g)]);
    assert!(queries(&h.to(255.0)).is_empty());
    // The role comes back when the other querier goes quiet.
    let acts = h.to(255.5);
    assert_eq!(logs(&acts), vec![IgmpLog::QuerierUp { address: ME }]);
}

#[test]
fn lower_querier_waits_for_scheduled_group_and_source_queries() {
    // RFC 9776 6.6.3.2: "The router must then immediately send a
    // Group-and-Source Specific Query as well as schedule [Last Member Query
    // Count] - 1 query retransmission(s)"; with RFC 2236 3 the role is held
    // until they are sent.
    let mut h = H::v3();
    h.v3r(host(20), &[(ModeIsInclude, "232.1.1.1", &[1, 2])]);
    let acts = h.v3r(host(20), &[(BlockOldSources, "232.1.1.1", &[1])]);
    assert_eq!(queries(&acts).len(), 1);
    h.to(0.3);
    let acts = h.rx(host(2), ALL_SYSTEMS, general_from(QueryVersion::V3, 2));
    assert_eq!(
        logs(&acts),
        vec![IgmpLog::QuerierChangeDeferred { other: host(2) }]
    );
    let acts = h.to(1.0);
    let q = queries(&acts);
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].1.sources, vec![src(1)]);
    assert_eq!(
        logs(&acts),
        vec![IgmpLog::QuerierDown {
            other: Some(host(2))
        }]
    );
    assert_eq!(h.r.stats().tx_group_source_queries, 2);
    assert_eq!(
        downs(&h.to(2.0)),
        vec![MembershipKey::only(src(1), grp("232.1.1.1"))]
    );
}

#[test]
fn queries_and_reports_to_any_address_of_the_interface_are_processed() {
    // RFC 9776 4.1.12: "a system MUST accept and process any Query whose IP
    // Destination Address field contains any of the addresses (unicast or
    // multicast) assigned to the interface on which the Query arrives";
    // 4.2.15: the same for "any v1 or v2 Report".
    let mut h = H::v3();
    // A v2 report to our unicast address; a v1 report to a secondary
    // address inside the interface's subnet; a v2 report to 224.0.0.1.
    h.rx(
        ME,
        ME,
        IgmpPacket::V2Report {
            group: ip("239.0.0.9"),
        },
    );
    assert_eq!(h.drops("own_address"), 1, "looped-back check still first");
    h.rx(
        host(20),
        ME,
        IgmpPacket::V2Report {
            group: ip("239.1.1.1"),
        },
    );
    h.rx(
        host(20),
        ip("10.0.0.77"),
        IgmpPacket::V1Report {
            group: ip("239.2.2.2"),
        },
    );
    h.rx(
        host(20),
        ALL_SYSTEMS,
        IgmpPacket::V2Report {
            group: ip("239.3.3.3"),
        },
    );
    // A v3 report to our unicast address.
    h.rx(
        host(20),
        ME,
        v3_report(&[(ModeIsInclude, "232.4.4.4", &[1])]),
    );
    assert_eq!(
        h.mem(),
        vec![
            MembershipKey::only(src(1), grp("232.4.4.4")),
            MembershipKey::any(grp("239.1.1.1")),
            MembershipKey::any(grp("239.2.2.2")),
            MembershipKey::any(grp("239.3.3.3")),
        ]
    );
    // A leave to 224.0.0.22 starts the last-member queries; so does one
    // sent to its group (RFC 2236 9: "A router SHOULD accept Leave Messages
    // addressed to the group being left").
    let acts = h.rx(
        host(20),
        V3_ROUTERS,
        IgmpPacket::V2Leave {
            group: ip("239.3.3.3"),
        },
    );
    assert_eq!(queries(&acts).len(), 1);
    let six = || IgmpPacket::V2Report {
        group: ip("239.6.6.6"),
    };
    h.rx(host(21), ip("239.6.6.6"), six());
    let acts = h.rx(
        host(21),
        ip("239.6.6.6"),
        IgmpPacket::V2Leave {
            group: ip("239.6.6.6"),
        },
    );
    assert_eq!(queries(&acts).len(), 1);
    // A group query to 224.0.0.1 lowers the timer (6.6.1).
    h.rx(
        host(9),
        ALL_SYSTEMS,
        query_from(QueryVersion::V3, "239.1.1.1", &[]),
    );
    // A lower general query to our unicast address wins the election.
    let acts = h.rx(host(2), ME, general_from(QueryVersion::V3, 2));
    assert_eq!(
        logs(&acts),
        vec![IgmpLog::QuerierChangeDeferred { other: host(2) }]
    );
    let acts = h.to(2.0);
    assert!(logs(&acts).contains(&IgmpLog::QuerierDown {
        other: Some(host(2))
    }));
    assert_eq!(
        downs(&acts),
        vec![
            MembershipKey::any(grp("239.1.1.1")),
            MembershipKey::any(grp("239.3.3.3")),
            MembershipKey::any(grp("239.6.6.6"))
        ]
    );
    assert_eq!(h.drops("bad_destination"), 0);
}

#[test]
fn v1_host_present_ignores_to_in_records() {
    // RFC 9776 7.3.2: in IGMPv1 Group Compatibility Mode, "IGMPv2 Leave
    // messages and IGMPv3 TO_IN() messages are also ignored".
    let mut h = H::v3();
    let g = grp("239.1.1.1");
    h.v1_report(host(20), "239.1.1.1");
    assert_eq!(h.r.status(h.now).groups[0].compat, IgmpVersion::V1);
    let acts = h.v3r(host(21), &[(ChangeToInclude, "239.1.1.1", &[])]);
    assert!(queries(&acts).is_empty());
    let acts = h.v3r(host(21), &[(ChangeToInclude, "239.1.1.1", &[5])]);
    assert!(queries(&acts).is_empty());
    assert_eq!(h.drops("to_in_in_v1_compat"), 2);
    assert!(h.r.status(h.now).groups[0].sources.is_empty());
    // The group stays for the whole membership interval of the v1 report.
    assert!(downs(&h.to(100.0)).is_empty());
    // In IGMPv2 compatibility a TO_IN is a leave: it is acted on.
    let acts = h.v2_report(host(22), "239.5.5.5");
    assert_eq!(ups(&acts), vec![MembershipKey::any(grp("239.5.5.5"))]);
    let acts = h.v3r(host(21), &[(ChangeToInclude, "239.5.5.5", &[])]);
    assert_eq!(queries(&acts).len(), 1);
    // Once the IGMPv1-Host-Present timer ran out (Older Host Present
    // Interval, 260 s), the TO_IN is acted on again.
    h.to(250.0);
    h.v3r(host(21), &[(ModeIsExclude, "239.1.1.1", &[])]);
    let acts = h.to(260.0);
    assert!(logs(&acts).contains(&IgmpLog::CompatChanged {
        group: g,
        compat: IgmpVersion::V3
    }));
    let acts = h.v3r(host(21), &[(ChangeToInclude, "239.1.1.1", &[])]);
    assert_eq!(queries(&acts).len(), 1);
    assert_eq!(h.drops("to_in_in_v1_compat"), 2);
}

#[test]
fn older_host_present_interval_is_not_the_group_membership_interval() {
    // RFC 9776 8.13: Older Host Present Interval = RV x QI + QRI (260 s);
    // 8.4: Group Membership Interval = RV x QI + 2 x QRI (270 s). A v2
    // report sets both timers; the group leaves v2 compatibility 10 s
    // before its membership times out.
    let mut h = H::v3();
    let g = grp("239.1.1.1");
    h.v2_report(host(20), "239.1.1.1");
    let st = h.r.status(h.now);
    assert_eq!(st.groups[0].v2_host_expires, Some(Duration::from_secs(260)));
    assert_eq!(st.groups[0].expires, Some(Duration::from_secs(270)));
    assert_eq!(st.group_membership_interval, Duration::from_secs(270));
    let acts = h.to(260.0);
    assert_eq!(
        logs(&acts),
        vec![IgmpLog::CompatChanged {
            group: g,
            compat: IgmpVersion::V3
        }]
    );
    assert!(downs(&acts).is_empty());
    assert_eq!(downs(&h.to(270.0)), vec![MembershipKey::any(g)]);
}

#[test]
fn compatibility_mode_off_ignores_older_hosts() {
    // RFC 9776 7.3.1: "It is RECOMMENDED that implementations provide a
    // configuration option to disable use of compatibility mode to allow
    // networks to operate only in SSM mode." With it, no group falls back
    // to v1/v2 rules: older reports and leaves are ignored, source filters
    // hold.
    let mut h = H::with(|c| c.compatibility_mode = false);
    h.v2_report(host(20), "239.1.1.1");
    h.v1_report(host(20), "239.1.1.1");
    h.leave(host(20), "239.1.1.1");
    assert_eq!(h.drops("compat_disabled"), 3);
    assert!(h.mem().is_empty());
    // IGMPv3 ASM and SSM keep working, BLOCK included.
    h.v3r(host(21), &[(ModeIsExclude, "239.1.1.1", &[])]);
    h.v2_report(host(20), "239.1.1.1");
    let acts = h.v3r(host(21), &[(BlockOldSources, "239.1.1.1", &[3])]);
    assert_eq!(queries(&acts).len(), 1, "BLOCK honoured: the group is v3");
    assert_eq!(h.r.status(h.now).groups[0].compat, IgmpVersion::V3);
    assert_eq!(h.drops("compat_disabled"), 4);
    // On a v2 interface the older hosts are the v1 ones.
    let mut h = H::with(|c| {
        c.version = IgmpVersion::V2;
        c.compatibility_mode = false;
    });
    h.v1_report(host(20), "239.1.1.1");
    assert!(h.mem().is_empty());
    h.v2_report(host(20), "239.1.1.1");
    assert_eq!(h.mem(), vec![MembershipKey::any(grp("239.1.1.1"))]);
    assert_eq!(h.drops("compat_disabled"), 1);
    // On by default (7.3.1: the option "SHOULD be disabled by default").
    assert!(IgmpIfConfig::default().compatibility_mode);
}

#[test]
fn source_lists_longer_than_the_mtu_allows_go_in_several_queries() {
    // RFC 9776 4.1.8: the number of sources "is limited by the MTU of the
    // network over which the Query is transmitted".
    let mut h = H::v3();
    let sources: Vec<Ipv4Addr> = (1..=400u32)
        .map(|i| Ipv4Addr::from(0xc0a8_0000 + i))
        .collect();
    let rec = |t| IgmpPacket::V3Report {
        records: vec![GroupRecord {
            record_type: t,
            group: ip("232.1.1.1"),
            sources: sources.clone(),
        }],
    };
    h.rx(host(20), V3_ROUTERS, rec(AllowNewSources));
    assert_eq!(h.mem().len(), 400);
    let acts = h.rx(host(20), V3_ROUTERS, rec(BlockOldSources));
    let q = queries(&acts);
    assert_eq!(
        q.iter().map(|(_, q)| q.sources.len()).collect::<Vec<_>>(),
        vec![366, 34]
    );
    for a in &acts {
        if let IgmpAction::Send { payload, .. } = a {
            assert!(payload.len() + 24 <= 1500, "{} octets", payload.len());
        }
    }
    assert_eq!(h.r.stats().tx_group_source_queries, 2);
}

/// 4.1.8 with the link's own MTU: on a 1492-octet PPPoE link a query holds
/// (1492 - 24 - 12) / 4 = 364 sources, on a 576-octet link 135; every
/// query fits its link.
#[test]
fn the_sources_per_query_follow_the_link_mtu() {
    for (mtu, split) in [(1492u32, vec![364, 36]), (576, vec![135, 135, 130])] {
        let mut h = H::v3();
        h.ev(IgmpEvent::MtuChanged(Some(mtu)));
        let sources: Vec<Ipv4Addr> = (1..=400u32)
            .map(|i| Ipv4Addr::from(0xc0a8_0000 + i))
            .collect();
        let rec = |t| IgmpPacket::V3Report {
            records: vec![GroupRecord {
                record_type: t,
                group: ip("232.1.1.1"),
                sources: sources.clone(),
            }],
        };
        h.rx(host(20), V3_ROUTERS, rec(AllowNewSources));
        let acts = h.rx(host(20), V3_ROUTERS, rec(BlockOldSources));
        let q = queries(&acts);
        assert_eq!(
            q.iter().map(|(_, q)| q.sources.len()).collect::<Vec<_>>(),
            split
        );
        for a in &acts {
            if let IgmpAction::Send { payload, .. } = a {
                assert!(
                    payload.len() + 24 <= mtu as usize,
                    "{} octets",
                    payload.len()
                );
            }
        }
    }
}

#[test]
fn non_querier_takes_qrv_and_qqi_from_the_querier_s_latest_query() {
    // RFC 9776 4.1.6: "Routers adopt the QRV value from the most recently
    // received Query as their own [Robustness Variable] value"; 4.1.7 the
    // same for the QQI. The querier's group-specific queries count too;
    // another router's do not. While we are querier, a higher-address
    // router's values are not taken (it is about to yield to us).
    let mut h = H::v3();
    h.rx(host(9), ALL_SYSTEMS, general_from(QueryVersion::V3, 5));
    assert!(h.r.is_querier());
    assert_eq!(h.r.status(h.now).robustness, 2);
    h.rx(host(2), ALL_SYSTEMS, general_from(QueryVersion::V3, 3));
    assert_eq!(h.r.status(h.now).robustness, 3);
    let specific = |qrv| {
        IgmpPacket::Query(Query::specific(
            QueryVersion::V3,
            Duration::from_secs(1),
            ip("239.1.1.1"),
            true,
            qrv,
            Duration::from_secs(60),
            Vec::new(),
        ))
    };
    h.rx(host(3), ip("239.1.1.1"), specific(5));
    assert_eq!(h.r.status(h.now).robustness, 3);
    h.rx(host(2), ip("239.1.1.1"), specific(4));
    let st = h.r.status(h.now);
    assert_eq!(st.robustness, 4);
    assert_eq!(st.query_interval, Duration::from_secs(60));
    // QRV 0: back to our own value.
    h.rx(host(2), ip("239.1.1.1"), specific(0));
    assert_eq!(h.r.status(h.now).robustness, 2);
}

#[test]
fn received_query_with_s_flag_leaves_timers_alone() {
    // RFC 9776 6.6.1: "When a router sends or receives a query with the S
    // flag set, it will not update its timers"; with the flag clear it
    // lowers them (Q(G): group timer, Q(G,A): source timers, to LMQT).
    let mut h = H::with(|c| c.querier = false);
    let g = grp("239.1.1.1");
    h.v3r(host(20), &[(ModeIsExclude, "239.1.1.1", &[])]);
    h.v3r(host(20), &[(ModeIsInclude, "232.1.1.1", &[1])]);
    let with_s = |group: &str, sources: Vec<Ipv4Addr>| {
        IgmpPacket::Query(Query::specific(
            QueryVersion::V3,
            Duration::from_secs(1),
            ip(group),
            true,
            2,
            Duration::from_secs(125),
            sources,
        ))
    };
    h.rx(host(2), ip("239.1.1.1"), with_s("239.1.1.1", vec![]));
    h.rx(host(2), ip("232.1.1.1"), with_s("232.1.1.1", vec![src(1)]));
    let st = h.r.status(h.now);
    assert_eq!(st.groups[1].expires, Some(Duration::from_secs(270)));
    assert_eq!(
        st.groups[0].sources[0].expires,
        Some(Duration::from_secs(270))
    );
    assert!(downs(&h.to(10.0)).is_empty());
    h.rx(
        host(2),
        ip("232.1.1.1"),
        query_from(QueryVersion::V3, "232.1.1.1", &[1]),
    );
    h.rx(
        host(2),
        ip("239.1.1.1"),
        query_from(QueryVersion::V3, "239.1.1.1", &[]),
    );
    assert_eq!(
        downs(&h.to(12.0)),
        vec![
            MembershipKey::only(src(1), grp("232.1.1.1")),
            MembershipKey::any(g)
        ]
    );
}

#[test]
fn sources_to_block_after_compatibility_wait_a_membership_interval() {
    // RFC 9776 7.3.2: when a group returns to IGMPv3 mode, "Source-specific
    // information will be learned during the next General Query, but
    // sources that should be blocked will not be blocked until [Group
    // Membership Interval] after that."
    let mut h = H::v3();
    let g = grp("239.1.1.1");
    h.v2_report(host(20), "239.1.1.1");
    h.to(261.0);
    assert_eq!(h.r.status(h.now).groups[0].compat, IgmpVersion::V3);
    // EXCLUDE({}) IS_EX({7}): 7 gets the Group Membership Interval, still
    // forwarded.
    let acts = h.v3r(host(21), &[(ModeIsExclude, "239.1.1.1", &[7])]);
    assert!(ups(&acts).is_empty(), "{acts:?}");
    assert_eq!(h.mem(), vec![MembershipKey::any(g)]);
    h.to(400.0);
    h.v3r(host(21), &[(ModeIsExclude, "239.1.1.1", &[7])]);
    assert_eq!(h.mem(), vec![MembershipKey::any(g)]);
    // 270 s after the first IS_EX, 7 is blocked.
    let acts = h.to(531.0);
    assert_eq!(ups(&acts), vec![MembershipKey::except(src(7), g)]);
}

#[test]
fn router_alert_is_not_required_by_default() {
    // RFC 9776 4: every message "carries an IP Router Alert option"; no
    // rule asks a receiver to drop one without it, and hosts that leave it
    // out exist, so mgmd accepts them unless require-router-alert is set.
    let mut h = H::v3();
    h.ev(IgmpEvent::Rx {
        src: host(20),
        dst: ip("239.1.1.1"),
        ttl: 1,
        router_alert: false,
        payload: IgmpPacket::V2Report {
            group: ip("239.1.1.1"),
        }
        .encode(),
    });
    assert_eq!(h.mem(), vec![MembershipKey::any(grp("239.1.1.1"))]);
    assert!(!IgmpIfConfig::default().require_router_alert);
}

// ===== IGMPv3 behaviour through handle() =====

#[test]
fn v3_include_join_and_source_expiry() {
    let mut h = H::v3();
    let acts = h.v3r(host(20), &[(AllowNewSources, "232.1.1.1", &[1, 2])]);
    let g = grp("232.1.1.1");
    assert_eq!(
        ups(&acts),
        vec![
            MembershipKey::only(src(1), g),
            MembershipKey::only(src(2), g)
        ]
    );
    // GMI = 2 x 125 + 2 x 10 = 270 s (RFC 9776 8.4).
    assert!(downs(&h.to(269.0)).is_empty());
    let acts = h.to(270.0);
    assert_eq!(
        downs(&acts),
        vec![
            MembershipKey::only(src(1), g),
            MembershipKey::only(src(2), g)
        ]
    );
    assert!(h.mem().is_empty());
}

#[test]
fn v3_block_sends_group_and_source_queries_then_source_expires() {
    let mut h = H::v3();
    h.v3r(host(20), &[(ModeIsInclude, "232.1.1.1", &[1, 2])]);
    let acts = h.v3r(host(20), &[(BlockOldSources, "232.1.1.1", &[1])]);
    let q = queries(&acts);
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].0, ip("232.1.1.1"));
    assert_eq!(q[0].1.sources, vec![src(1)]);
    assert!(!q[0].1.suppress);
    assert_eq!(q[0].1.max_resp_code, 10, "LMQI 1 s");
    // Retransmission after LMQI, then the source goes after LMQT (2 s).
    let acts = h.to(1.0);
    assert_eq!(queries(&acts).len(), 1);
    let acts = h.to(2.0);
    assert!(queries(&acts).is_empty());
    assert_eq!(
        downs(&acts),
        vec![MembershipKey::only(src(1), grp("232.1.1.1"))]
    );
    assert_eq!(h.mem(), vec![MembershipKey::only(src(2), grp("232.1.1.1"))]);
    assert_eq!(h.r.stats().tx_group_source_queries, 2);
}

#[test]
fn v3_answer_to_source_query_keeps_source_and_sets_s_flag() {
    let mut h = H::v3();
    h.v3r(host(20), &[(ModeIsInclude, "232.1.1.1", &[1])]);
    h.v3r(host(20), &[(BlockOldSources, "232.1.1.1", &[1])]);
    h.to(0.5);
    // Another host still wants source 1.
    h.v3r(host(21), &[(ModeIsInclude, "232.1.1.1", &[1])]);
    let acts = h.to(1.0);
    let q = queries(&acts);
    assert_eq!(q.len(), 1);
    assert!(q[0].1.suppress, "source timer above LMQT: S set");
    assert!(downs(&h.to(10.0)).is_empty());
}

#[test]
fn v3_exclude_mode_view_and_to_in_queries() {
    let mut h = H::v3();
    let g = grp("239.1.1.1");
    let acts = h.v3r(host(20), &[(ModeIsExclude, "239.1.1.1", &[7])]);
    assert_eq!(
        ups(&acts),
        vec![MembershipKey::any(g), MembershipKey::except(src(7), g)]
    );
    // TO_IN({}) in EXCLUDE: Send Q(G,X-A) (X empty) and Send Q(G).
    let acts = h.v3r(host(20), &[(ChangeToInclude, "239.1.1.1", &[])]);
    let q = queries(&acts);
    assert_eq!(q.len(), 1);
    assert!(q[0].1.sources.is_empty());
    assert_eq!(q[0].0, ip("239.1.1.1"));
    let acts = h.to(1.0);
    assert_eq!(queries(&acts).len(), 1);
    let acts = h.to(2.0);
    assert_eq!(
        downs(&acts),
        vec![MembershipKey::any(g), MembershipKey::except(src(7), g)]
    );
    assert!(h.mem().is_empty());
}

#[test]
fn v3_exclude_group_timer_expiry_switches_to_include() {
    let mut h = H::v3();
    let g = grp("239.1.1.1");
    h.v3r(host(20), &[(ModeIsExclude, "239.1.1.1", &[7])]);
    h.to(100.0);
    h.v3r(host(21), &[(AllowNewSources, "239.1.1.1", &[3])]);
    let acts = h.to(270.0);
    assert!(logs(&acts).contains(&IgmpLog::ModeChanged {
        group: g,
        mode: FilterMode::Include
    }));
    assert_eq!(h.mem(), vec![MembershipKey::only(src(3), g)]);
    let acts = h.to(370.0);
    assert_eq!(downs(&acts), vec![MembershipKey::only(src(3), g)]);
}

// ===== RFC 2236 / RFC 1112 routers =====

#[test]
fn v2_leave_sends_lmqc_group_queries_then_removes_group() {
    let mut h = H::with(|c| c.version = IgmpVersion::V2);
    let g = grp("239.1.1.1");
    let acts = h.v2_report(host(20), "239.1.1.1");
    assert_eq!(ups(&acts), vec![MembershipKey::any(g)]);
    let acts = h.leave(host(20), "239.1.1.1");
    let q = queries(&acts);
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].0, ip("239.1.1.1"));
    assert_eq!(q[0].1.version, QueryVersion::V2);
    assert_eq!(q[0].1.group, ip("239.1.1.1"));
    assert_eq!(q[0].1.max_resp_code, 10);
    let acts = h.to(1.0);
    assert_eq!(queries(&acts).len(), 1, "second of LMQC=2 at LMQI");
    assert!(downs(&acts).is_empty());
    let acts = h.to(2.0);
    assert!(queries(&acts).is_empty());
    assert_eq!(downs(&acts), vec![MembershipKey::any(g)]);
    assert_eq!(h.r.stats().tx_group_queries, 2);
}

#[test]
fn v2_report_after_leave_keeps_group() {
    let mut h = H::with(|c| c.version = IgmpVersion::V2);
    h.v2_report(host(20), "239.1.1.1");
    h.leave(host(20), "239.1.1.1");
    h.v2_report(host(21), "239.1.1.1");
    assert!(downs(&h.to(269.0)).is_empty());
    assert_eq!(downs(&h.to(270.0)).len(), 1, "GMI after the last report");
}

#[test]
fn v2_immediate_leave_drops_at_once() {
    let mut h = H::with(|c| {
        c.version = IgmpVersion::V2;
        c.immediate_leave = true;
    });
    h.v2_report(host(20), "239.1.1.1");
    let acts = h.leave(host(20), "239.1.1.1");
    assert!(queries(&acts).is_empty());
    assert_eq!(downs(&acts), vec![MembershipKey::any(grp("239.1.1.1"))]);
}

#[test]
fn v2_router_v1_host_present_ignores_leaves() {
    // RFC 2236 5: "If a router receives a Version 1 Membership Report, it
    // MUST set a timer to note that there are version 1 hosts present ...
    // This timer should be the same as the [Group Membership Interval]"
    // (RFC 2236's: RV x QI + QRI = 260 s, RFC 9776's Older Host Present
    // Interval); "If there are version 1 hosts present for a particular
    // group, a router MUST ignore any Leave Group messages".
    let mut h = H::with(|c| c.version = IgmpVersion::V2);
    h.v1_report(host(20), "239.1.1.1");
    let acts = h.leave(host(21), "239.1.1.1");
    assert!(queries(&acts).is_empty());
    assert_eq!(h.drops("leave_in_v1_compat"), 1);
    let st = h.r.status(h.now);
    assert_eq!(st.groups[0].compat, IgmpVersion::V1);
    assert_eq!(st.groups[0].v1_host_expires, Some(Duration::from_secs(260)));
}

#[test]
fn v2_router_drops_v3_reports_and_v1_router_drops_leaves() {
    let mut h = H::with(|c| c.version = IgmpVersion::V2);
    h.v3r(host(20), &[(ModeIsExclude, "239.1.1.1", &[])]);
    assert_eq!(h.drops("unsupported_version"), 1);
    // RFC 2236 4, RFC 9776 7.3.1: in IGMPv1 mode a router "MUST ignore
    // Leave Group messages".
    let mut h = H::with(|c| c.version = IgmpVersion::V1);
    h.v1_report(host(20), "239.1.1.1");
    h.leave(host(20), "239.1.1.1");
    assert_eq!(h.drops("unsupported_version"), 1);
    assert!(h.r.status(h.now).groups[0].expires.is_some());
    // RFC 1112: reports only, the group times out.
    assert_eq!(h.mem(), vec![MembershipKey::any(grp("239.1.1.1"))]);
    assert_eq!(downs(&h.to(270.0)).len(), 1);
}

// RFC 2236 4 and RFC 9776 7.3.1 ask a router in IGMPv1 mode for v1
// queries and to ignore leaves; neither asks it to ignore v2 reports, and
// RFC 9776 7.3.2 treats a v2 report in IGMPv1 compatibility as IS_EX({}).
// A v2 host that has not heard a v1 query yet sends its join as a v2
// report: it is learned at once, not at the host's answer to the next query.
// Input: a v1 interface, a v2 report, later a leave. Output: the group up
// at once, the leave ignored, the group gone after the membership interval.
#[test]
fn v1_router_learns_v2_reports_at_once() {
    let mut h = H::with(|c| c.version = IgmpVersion::V1);
    let acts = h.v2_report(host(20), "239.1.1.1");
    assert_eq!(ups(&acts), vec![MembershipKey::any(grp("239.1.1.1"))]);
    assert_eq!(h.drops("unsupported_version"), 0);
    h.to(100.0);
    h.leave(host(20), "239.1.1.1");
    assert_eq!(h.drops("unsupported_version"), 1);
    assert_eq!(h.mem(), vec![MembershipKey::any(grp("239.1.1.1"))]);
    assert!(downs(&h.to(269.0)).is_empty());
    assert_eq!(downs(&h.to(270.0)).len(), 1);
}

// ===== compatibility (RFC 3376 7.3.2) =====

#[test]
fn v3_router_v2_host_compat_ignores_block_and_to_ex_sources() {
    let mut h = H::v3();
    let g = grp("239.1.1.1");
    h.v2_report(host(20), "239.1.1.1");
    assert_eq!(h.r.status(h.now).groups[0].compat, IgmpVersion::V2);
    h.v3r(host(21), &[(BlockOldSources, "239.1.1.1", &[1])]);
    assert_eq!(h.drops("block_in_compat"), 1);
    // TO_EX({7}) is treated as TO_EX({}): no block for 7.
    h.v3r(host(21), &[(ChangeToExclude, "239.1.1.1", &[7])]);
    assert_eq!(h.mem(), vec![MembershipKey::any(g)]);
    assert!(h.r.status(h.now).groups[0].sources.is_empty());
    // After the Older Host Present Interval (8.13: RV x QI + QRI, 260 s
    // at the defaults, 10 s less than the GMI) without v2 reports, the
    // group is back in v3 mode (kept alive by a v3 report).
    h.to(200.0);
    h.v3r(host(21), &[(ModeIsExclude, "239.1.1.1", &[7])]);
    let acts = h.to(260.0);
    assert!(logs(&acts).contains(&IgmpLog::CompatChanged {
        group: g,
        compat: IgmpVersion::V3
    }));
    // Back in v3 mode, TO_EX keeps its sources: EXCLUDE(X,Y) TO_EX(A)
    // creates A-X-Y with the group timer.
    h.v3r(host(21), &[(ChangeToExclude, "239.1.1.1", &[7, 8])]);
    let st = h.r.status(h.now);
    let srcs: Vec<Ipv4Addr> = st.groups[0].sources.iter().map(|s| s.source).collect();
    assert_eq!(srcs, vec![src(7), src(8)]);
}

#[test]
fn v3_router_v1_host_compat_ignores_leave() {
    let mut h = H::v3();
    h.v1_report(host(20), "239.1.1.1");
    h.v2_report(host(21), "239.1.1.1");
    assert_eq!(h.r.status(h.now).groups[0].compat, IgmpVersion::V1);
    let acts = h.leave(host(21), "239.1.1.1");
    assert!(queries(&acts).is_empty());
    assert_eq!(h.drops("leave_in_v1_compat"), 1);
}

#[test]
fn v3_router_v2_leave_sends_group_query() {
    let mut h = H::v3();
    h.v2_report(host(20), "239.1.1.1");
    let acts = h.leave(host(20), "239.1.1.1");
    let q = queries(&acts);
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].1.version, QueryVersion::V3);
    assert_eq!(downs(&h.to(2.0)).len(), 1);
}

// ===== explicit tracking (immediate_leave on v3) =====

#[test]
fn explicit_tracking_last_exclude_host_leaves_at_once() {
    let mut h = H::with(|c| c.immediate_leave = true);
    let g = grp("239.1.1.1");
    h.v3r(host(20), &[(ModeIsExclude, "239.1.1.1", &[])]);
    h.v3r(host(21), &[(ModeIsExclude, "239.1.1.1", &[])]);
    // One host leaves: the other is known, so the normal query runs.
    let acts = h.v3r(host(20), &[(ChangeToInclude, "239.1.1.1", &[])]);
    assert_eq!(queries(&acts).len(), 1);
    assert_eq!(h.r.status(h.now).groups[0].reporters, vec![host(21)]);
    // The last one leaves: no query, gone now.
    let acts = h.v3r(host(21), &[(ChangeToInclude, "239.1.1.1", &[])]);
    assert!(queries(&acts).is_empty());
    assert_eq!(downs(&acts), vec![MembershipKey::any(g)]);
}

#[test]
fn explicit_tracking_sources() {
    let mut h = H::with(|c| c.immediate_leave = true);
    let g = grp("232.1.1.1");
    h.v3r(host(20), &[(AllowNewSources, "232.1.1.1", &[1, 2])]);
    h.v3r(host(21), &[(AllowNewSources, "232.1.1.1", &[1])]);
    let acts = h.v3r(host(20), &[(BlockOldSources, "232.1.1.1", &[1, 2])]);
    // Source 2 had only host 20: gone at once; source 1 still has host 21,
    // yet is queried (tracking may be stale).
    assert_eq!(downs(&acts), vec![MembershipKey::only(src(2), g)]);
    let q = queries(&acts);
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].1.sources, vec![src(1)]);
    let acts = h.v3r(host(21), &[(BlockOldSources, "232.1.1.1", &[1])]);
    assert_eq!(downs(&acts), vec![MembershipKey::only(src(1), g)]);
    assert!(h.mem().is_empty());
}

#[test]
fn explicit_tracking_unknown_reporter_falls_back_to_queries() {
    let mut h = H::with(|c| c.immediate_leave = true);
    h.v3r(Ipv4Addr::UNSPECIFIED, &[(ModeIsExclude, "239.1.1.1", &[])]);
    h.v3r(host(20), &[(ModeIsExclude, "239.1.1.1", &[])]);
    let acts = h.v3r(host(20), &[(ChangeToInclude, "239.1.1.1", &[])]);
    assert_eq!(queries(&acts).len(), 1);
    assert!(downs(&acts).is_empty());
}

// ===== caps, filters, SSM =====

#[test]
fn max_groups_and_sources_refuse_and_count() {
    let mut h = H::with(|c| {
        c.max_groups = Some(1);
        c.max_sources_per_group = Some(2);
    });
    h.v3r(host(20), &[(AllowNewSources, "232.1.1.1", &[1, 2, 3])]);
    h.v3r(host(20), &[(ModeIsExclude, "239.2.2.2", &[])]);
    assert_eq!(h.r.stats().refused_sources, 1);
    assert_eq!(h.r.stats().refused_groups, 1);
    assert_eq!(h.mem().len(), 2);
}

#[test]
fn refused_groups_are_logged_at_most_once_per_interval() {
    let mut h = H::with(|c| c.max_groups = Some(1));
    assert!(
        logs(&h.v2_report(host(20), "239.1.1.1")).contains(&IgmpLog::GroupCreated {
            group: grp("239.1.1.1")
        })
    );
    let acts = h.v2_report(host(20), "239.2.2.2");
    assert_eq!(
        logs(&acts),
        vec![IgmpLog::GroupRefused {
            group: grp("239.2.2.2"),
            limit: 1,
            suppressed: 0,
        }]
    );
    // Within the interval (the first group kept by its host's reports):
    // counted, not logged.
    for t in [100.0, 200.0, 300.0, 400.0, 500.0] {
        h.to(t);
        h.v2_report(host(20), "239.1.1.1");
        assert!(logs(&h.v2_report(host(21), "239.3.3.3")).is_empty());
    }
    h.to(600.0);
    h.v2_report(host(20), "239.1.1.1");
    let acts = h.v2_report(host(21), "239.4.4.4");
    assert_eq!(
        logs(&acts),
        vec![IgmpLog::GroupRefused {
            group: grp("239.4.4.4"),
            limit: 1,
            suppressed: 5,
        }]
    );
    assert_eq!(h.r.stats().refused_groups, 7);
    assert_eq!(h.mem(), vec![MembershipKey::any(grp("239.1.1.1"))]);
}

#[test]
fn the_default_cap_is_4096_groups() {
    assert_eq!(IgmpIfConfig::default().max_groups, Some(4096));
    let mut h = H::v3();
    for i in 0..4097u32 {
        let g = Ipv4Addr::from(u32::from(Ipv4Addr::new(239, 1, 0, 0)) + i).to_string();
        h.v3r(host(20), &[(ModeIsExclude, g.as_str(), &[])]);
    }
    assert_eq!(h.mem().len(), 4096);
    assert_eq!(h.r.stats().refused_groups, 1);
}

#[test]
fn ssm_range_on_v3() {
    let mut h = H::v3();
    h.v2_report(host(20), "232.1.1.1");
    h.v1_report(host(20), "232.1.1.1");
    h.leave(host(20), "232.1.1.1");
    assert_eq!(h.drops("ssm_asm_report"), 3);
    h.v3r(
        host(20),
        &[
            (ModeIsExclude, "232.1.1.1", &[]),
            (ChangeToExclude, "232.1.1.1", &[1]),
        ],
    );
    assert_eq!(h.drops("ssm_exclude_record"), 2);
    assert!(h.mem().is_empty());
}

/// RFC 4604 3.1: a router "SHOULD ignore a group record" of type
/// MODE_IS_EXCLUDE or CHANGE_TO_EXCLUDE_MODE for an SSM address, and "MUST
/// process any other group records within the same report": one report
/// mixing such records with an SSM INCLUDE record and an any-source join
/// drops only the EXCLUDE records.
#[test]
fn ssm_exclude_records_are_dropped_and_the_rest_of_the_report_applies() {
    let mut h = H::v3();
    h.v3r(
        host(20),
        &[
            (ChangeToExclude, "232.1.1.1", &[]),
            (AllowNewSources, "232.1.1.2", &[1]),
            (ModeIsExclude, "232.1.1.3", &[2]),
            (ChangeToExclude, "239.1.1.1", &[]),
        ],
    );
    assert_eq!(h.drops("ssm_exclude_record"), 2);
    assert_eq!(
        h.mem(),
        vec![
            MembershipKey::only(src(1), grp("232.1.1.2")),
            MembershipKey::any(grp("239.1.1.1")),
        ]
    );
}

/// RFC 4604 2.2.1 and RFC 9776 6.4: "SSM-aware routers SHOULD ignore
/// IGMPv1/IGMPv2 Report and IGMPv2 DONE messages that contain multicast
/// addresses in the SSM address range" and "SHOULD NOT use such Reports to
/// establish IP forwarding state": on v2 and v1 interfaces as on v3 ones,
/// for 232/8 and for a configured range; other groups are learned as
/// before. A version change to v2 drops the SSM groups it would turn into
/// EXCLUDE({}).
#[test]
fn ssm_range_on_v1_and_v2_interfaces() {
    for version in [IgmpVersion::V2, IgmpVersion::V1] {
        let mut h = H::with(|c| {
            c.version = version;
            c.ssm_range.push("239.232.0.0/16".parse().unwrap());
        });
        h.v2_report(host(20), "232.1.1.1");
        h.v1_report(host(20), "232.1.1.1");
        h.v1_report(host(20), "239.232.1.1");
        if version == IgmpVersion::V2 {
            h.leave(host(20), "232.1.1.1");
        }
        // Both versions take v2 reports, so the SSM check sees the v2
        // one on a v1 interface too; only v2 looks at leaves.
        let expected = if version == IgmpVersion::V2 { 4 } else { 3 };
        assert_eq!(h.drops("ssm_asm_report"), expected, "{version:?}");
        assert!(h.mem().is_empty(), "{version:?}");
        h.v1_report(host(20), "239.1.1.1");
        assert_eq!(h.mem(), vec![MembershipKey::any(grp("239.1.1.1"))]);
    }
    // A v3 interface with an SSM channel becomes v2: no (*,G) for it.
    let mut h = H::v3();
    h.v3r(host(20), &[(AllowNewSources, "232.1.1.1", &[1])]);
    assert_eq!(h.mem().len(), 1);
    let acts = h.ev(IgmpEvent::ConfigChanged(IgmpIfConfig {
        version: IgmpVersion::V2,
        ..Default::default()
    }));
    assert!(h.mem().is_empty(), "{acts:?}");
}

#[test]
fn allow_and_deny_lists() {
    let mut h = H::with(|c| {
        c.allow_groups = vec!["239.0.0.0/8".parse().unwrap()];
        c.deny_groups = vec!["239.9.0.0/16".parse().unwrap()];
    });
    h.v2_report(host(20), "238.1.1.1");
    h.v2_report(host(20), "239.9.1.1");
    h.v2_report(host(20), "239.1.1.1");
    assert_eq!(h.drops("group_denied"), 2);
    assert_eq!(h.mem(), vec![MembershipKey::any(grp("239.1.1.1"))]);
    // A config change that denies it removes the group.
    let acts = h.ev(IgmpEvent::ConfigChanged(IgmpIfConfig {
        deny_groups: vec!["239.0.0.0/8".parse().unwrap()],
        ..Default::default()
    }));
    assert_eq!(downs(&acts), vec![MembershipKey::any(grp("239.1.1.1"))]);
}

// ===== receive checks and drop reasons =====

#[test]
fn drop_reasons() {
    let mut h = H::with(|c| c.require_router_alert = true);
    let rep = IgmpPacket::V2Report {
        group: ip("239.1.1.1"),
    };
    // TTL must be 1.
    h.rx_full(host(20), ip("239.1.1.1"), 2, rep.encode());
    assert_eq!(h.drops("bad_ttl"), 1);
    // Router Alert required.
    h.ev(IgmpEvent::Rx {
        src: host(20),
        dst: ip("239.1.1.1"),
        ttl: 1,
        router_alert: false,
        payload: rep.encode(),
    });
    assert_eq!(h.drops("no_router_alert"), 1);
    // Source outside the interface subnets (RFC 9776 9.2).
    h.rx(ip("10.9.9.9"), ip("239.1.1.1"), rep.clone());
    assert_eq!(h.drops("source_not_on_subnet"), 1);
    // Destinations that are not the interface's (RFC 9776 4.1.12, 4.2.15
    // accept any address of the interface): a report for G sent to another
    // group, a v3 report sent to a group, a leave sent to another group, a
    // general query sent to a group, a group query sent to another group, a
    // report sent to a unicast address of another interface, a query sent
    // to the limited broadcast address.
    h.rx(host(20), ip("239.1.1.2"), rep.clone());
    h.rx(
        host(20),
        ip("239.1.1.1"),
        v3_report(&[(ModeIsExclude, "239.1.1.1", &[])]),
    );
    h.rx(
        host(20),
        ip("239.1.1.2"),
        IgmpPacket::V2Leave {
            group: ip("239.1.1.1"),
        },
    );
    h.rx(
        host(9),
        ip("239.1.1.1"),
        query_from(QueryVersion::V3, "0.0.0.0", &[]),
    );
    h.rx(
        host(9),
        ip("239.1.1.2"),
        query_from(QueryVersion::V3, "239.1.1.1", &[]),
    );
    h.rx(host(20), ip("10.9.9.1"), rep.clone());
    h.rx(
        host(9),
        Ipv4Addr::BROADCAST,
        query_from(QueryVersion::V3, "0.0.0.0", &[]),
    );
    assert_eq!(h.drops("bad_destination"), 7);
    // Non-multicast and link-local groups.
    h.rx(
        host(20),
        ip("10.1.1.1"),
        IgmpPacket::V2Report {
            group: ip("10.1.1.1"),
        },
    );
    h.rx(
        host(20),
        ip("224.0.0.251"),
        IgmpPacket::V2Report {
            group: ip("224.0.0.251"),
        },
    );
    assert_eq!(h.drops("bad_group"), 1);
    assert_eq!(h.drops("link_local_group"), 1);
    // Per-record drops in one v3 report; the good record still counts.
    h.v3r(
        host(20),
        &[
            (ModeIsExclude, "10.1.1.1", &[]),
            (ModeIsExclude, "1.2.3.4", &[]),
            (ModeIsExclude, "224.0.0.5", &[]),
            (Other(9), "239.3.3.3", &[]),
            (ModeIsExclude, "239.4.4.4", &[]),
        ],
    );
    assert_eq!(h.drops("bad_group"), 3);
    assert_eq!(h.drops("link_local_group"), 2);
    assert_eq!(h.drops("unknown_record_type"), 1);
    assert_eq!(h.r.stats().rx_records, 5);
    // Bad sources inside a record are dropped one by one.
    h.rx(
        host(20),
        V3_ROUTERS,
        IgmpPacket::V3Report {
            records: vec![GroupRecord {
                record_type: AllowNewSources,
                group: ip("232.5.5.5"),
                sources: vec![ip("0.0.0.0"), ip("239.1.1.1"), src(1)],
            }],
        },
    );
    assert_eq!(h.drops("bad_source"), 2);
    // Decode errors by reason.
    let mut bad = rep.encode();
    bad[7] ^= 1;
    h.rx_full(host(20), ip("239.1.1.1"), 1, bad);
    h.rx_full(host(20), ip("239.1.1.1"), 1, vec![0x16, 0, 0]);
    assert_eq!(h.drops("bad_checksum"), 1);
    // RFC 9776 4: "Unrecognized message types MUST be silently ignored"
    // (here DVMRP, 0x13): counted, nothing sent, no state.
    let mut dvmrp = vec![0x13, 0, 0, 0, 0, 0, 0, 0];
    let c = packet::checksum(&dvmrp);
    dvmrp[2..4].copy_from_slice(&c.to_be_bytes());
    let acts = h.rx_full(host(20), ALL_ROUTERS, 1, dvmrp);
    assert!(acts.is_empty(), "{acts:?}");
    assert_eq!(h.drops("unknown_type"), 1);
    assert_eq!(h.drops("too_short"), 1);
    // Nothing malformed made state.
    assert_eq!(
        h.mem(),
        vec![
            MembershipKey::only(src(1), grp("232.5.5.5")),
            MembershipKey::any(grp("239.4.4.4"))
        ]
    );
    assert_eq!(
        h.r.stats().rx.v2_report,
        7,
        "decode failures are not counted by type"
    );
}

#[test]
fn report_from_unspecified_source_is_accepted() {
    // RFC 3376 4.2.13: 0.0.0.0 is accepted even with the subnet check.
    let mut h = H::v3();
    h.v3r(Ipv4Addr::UNSPECIFIED, &[(ModeIsExclude, "239.1.1.1", &[])]);
    assert_eq!(h.mem(), vec![MembershipKey::any(grp("239.1.1.1"))]);
}

#[test]
fn no_subnets_known_means_reports_are_dropped_with_the_check_on() {
    let t0 = Instant::now();
    let mut r = IgmpRouter::new(IgmpIfConfig::default(), Some(ME), t0);
    let rep = v3_report(&[(ModeIsExclude, "239.1.1.1", &[])]).encode();
    let ev = |p: Vec<u8>| IgmpEvent::Rx {
        src: host(20),
        dst: V3_ROUTERS,
        ttl: 1,
        router_alert: true,
        payload: p,
    };
    r.handle(t0, ev(rep.clone()));
    assert_eq!(r.stats().drops["source_not_on_subnet"], 1);
    let mut r = IgmpRouter::new(
        IgmpIfConfig {
            check_source_subnet: false,
            ..Default::default()
        },
        Some(ME),
        t0,
    );
    r.handle(t0, ev(rep));
    assert_eq!(r.memberships().len(), 1);
}

#[test]
fn stop_brings_everything_down_and_goes_inert() {
    let mut h = H::v3();
    h.v3r(
        host(20),
        &[
            (ModeIsExclude, "239.1.1.1", &[7]),
            (AllowNewSources, "232.1.1.1", &[1]),
        ],
    );
    let acts = h.ev(IgmpEvent::Stop);
    assert_eq!(downs(&acts).len(), 3);
    assert!(h.mem().is_empty());
    assert_eq!(h.r.next_deadline(), None);
    assert!(h.v2_report(host(20), "239.1.1.1").is_empty());
}

#[test]
fn status_serializes() {
    let mut h = H::v3();
    h.v3r(host(20), &[(ModeIsExclude, "239.1.1.1", &[7])]);
    let st = h.r.status(h.now);
    assert!(st.is_querier);
    assert_eq!(st.querier, Some(ME));
    assert_eq!(st.groups[0].mode, FilterMode::Exclude);
    assert_eq!(st.groups[0].sources[0].expires, None);
    assert!(!st.groups[0].sources[0].forwarding);
    let json = serde_json::to_string(&st).unwrap();
    assert!(json.contains("\"mode\":\"exclude\""), "{json}");
    assert!(json.contains("\"v3_report\":1"), "{json}");
}

// ===== property: Up/Down are exactly the deltas =====

#[derive(Clone, Debug)]
enum Step {
    V3(u8, RecordType, u8, Vec<u8>),
    V2Report(u8, u8),
    V1Report(u8, u8),
    Leave(u8, u8),
    GroupQuery(u8, Vec<u8>),
    OtherQuerier,
    Wait(u16),
}

fn arb_step() -> impl Strategy<Value = Step> {
    let host = 20u8..24;
    let group = 0u8..3;
    let sources = prop::collection::vec(1u8..6, 0..4);
    let rt = (1u8..=6).prop_map(RecordType::from_u8);
    prop_oneof![
        6 => (host.clone(), rt, group.clone(), sources.clone()).prop_map(|(h, t, g, s)| Step::V3(h, t, g, s)),
        1 => (host.clone(), group.clone()).prop_map(|(h, g)| Step::V2Report(h, g)),
        1 => (host.clone(), group.clone()).prop_map(|(h, g)| Step::V1Report(h, g)),
        1 => (host, group.clone()).prop_map(|(h, g)| Step::Leave(h, g)),
        1 => (group, sources).prop_map(|(g, s)| Step::GroupQuery(g, s)),
        1 => Just(Step::OtherQuerier),
        3 => (0u16..300).prop_map(Step::Wait),
    ]
}

fn group_name(g: u8) -> &'static str {
    ["239.1.1.1", "232.1.1.1", "239.2.2.2"][usize::from(g)]
}

fn run_steps(cfg: IgmpIfConfig, steps: Vec<Step>) {
    let mut h = H::new(cfg);
    for s in steps {
        match s {
            Step::V3(from, t, g, srcs) => {
                h.v3r(host(from), &[(t, group_name(g), &srcs)]);
            }
            Step::V2Report(from, g) => {
                h.v2_report(host(from), group_name(g));
            }
            Step::V1Report(from, g) => {
                h.v1_report(host(from), group_name(g));
            }
            Step::Leave(from, g) => {
                h.leave(host(from), group_name(g));
            }
            Step::GroupQuery(g, srcs) => {
                h.rx(
                    host(2),
                    ip(group_name(g)),
                    query_from(QueryVersion::V3, group_name(g), &srcs),
                );
            }
            Step::OtherQuerier => {
                h.rx(
                    host(2),
                    ALL_SYSTEMS,
                    query_from(QueryVersion::V3, "0.0.0.0", &[]),
                );
            }
            Step::Wait(ms10) => {
                let t = h.secs() + f64::from(ms10) / 10.0;
                h.to(t);
            }
        }
    }
    // Everything eventually expires.
    let t = h.secs() + 2000.0;
    h.to(t);
    assert!(h.mem().is_empty());
    assert!(h.view.is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn up_down_are_exact_deltas_v3(steps in prop::collection::vec(arb_step(), 0..60)) {
        run_steps(IgmpIfConfig::default(), steps);
    }

    #[test]
    fn up_down_are_exact_deltas_v3_tracking_caps(steps in prop::collection::vec(arb_step(), 0..60)) {
        run_steps(
            IgmpIfConfig {
                immediate_leave: true,
                max_groups: Some(2),
                max_sources_per_group: Some(3),
                ..Default::default()
            },
            steps,
        );
    }

    #[test]
    fn up_down_are_exact_deltas_v2(steps in prop::collection::vec(arb_step(), 0..60)) {
        run_steps(IgmpIfConfig { version: IgmpVersion::V2, ..Default::default() }, steps);
    }
}
