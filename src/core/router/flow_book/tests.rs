//! The flow book alone: questions, entries, routes and idle time.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use super::{FlowBook, FlowInfo, FlowOrigin};
use crate::core::input::FlowCounters;
use crate::core::types::{FlowKey, IfIndex, ProtoId};

const UP: IfIndex = IfIndex(2);
const LAN: IfIndex = IfIndex(3);
const IDLE: Duration = Duration::from_secs(60);

fn flow(g: u8, s: u8) -> FlowKey {
    FlowKey {
        group: format!("239.1.1.{g}").parse().unwrap(),
        source: Ipv4Addr::new(10, 0, 0, s).into(),
    }
}

fn origin(rpf: Option<IfIndex>, upstream: Option<IpAddr>) -> FlowOrigin {
    FlowOrigin {
        arrival: UP,
        rpf,
        upstream,
    }
}

#[test]
fn a_question_is_closed_only_by_the_protocol_it_was_asked_of() {
    let t0 = Instant::now();
    let mut b = FlowBook::default();
    let f = flow(1, 1);
    b.ask(f, origin(Some(UP), None), ProtoId(1), t0 + IDLE, None);
    assert!(b.is_asked(&f));
    assert!(b.answer(&f, ProtoId(2)).is_none(), "asked of another");
    assert!(b.is_asked(&f));
    let (o, carried) = b.answer(&f, ProtoId(1)).expect("its answer");
    assert_eq!(o, origin(Some(UP), None));
    assert!(carried.is_none());
    assert!(!b.is_asked(&f));
    assert!(b.answer(&f, ProtoId(1)).is_none(), "answered once");
}

#[test]
fn unanswered_questions_expire_in_flow_order_and_set_the_deadline() {
    let t0 = Instant::now();
    let mut b = FlowBook::default();
    b.ask(
        flow(2, 1),
        origin(None, None),
        ProtoId(1),
        t0 + Duration::from_secs(5),
        None,
    );
    b.ask(
        flow(1, 1),
        origin(None, None),
        ProtoId(2),
        t0 + Duration::from_secs(5),
        None,
    );
    b.ask(
        flow(3, 1),
        origin(None, None),
        ProtoId(1),
        t0 + Duration::from_secs(9),
        None,
    );
    assert_eq!(b.next_deadline(), Some(t0 + Duration::from_secs(5)));
    assert!(b.expire_questions(t0 + Duration::from_secs(4)).is_empty());
    assert_eq!(
        b.expire_questions(t0 + Duration::from_secs(5)),
        vec![(flow(1, 1), ProtoId(2)), (flow(2, 1), ProtoId(1))]
    );
    assert_eq!(b.next_deadline(), Some(t0 + Duration::from_secs(9)));
    b.forget_questions_to(ProtoId(1));
    assert_eq!(b.next_deadline(), None);
}

#[test]
fn entries_are_known_listed_and_unbooked() {
    let t0 = Instant::now();
    let mut b = FlowBook::default();
    let (fwd, drop) = (flow(1, 1), flow(2, 1));
    b.forwarding(t0, fwd, FlowInfo::new(t0, origin(Some(UP), None)), IDLE);
    b.dropping(t0, drop, LAN, FlowInfo::new(t0, origin(None, None)), IDLE);
    assert!(b.has_entry(&fwd) && b.has_entry(&drop));
    assert!(b.info(&fwd).is_some() && b.info(&drop).is_none());
    assert_eq!(b.installed(), vec![fwd, drop]);
    assert_eq!(b.drop_count(), 1);
    assert_eq!(
        b.drops_in_on(LAN).map(|(f, _)| f).collect::<Vec<_>>(),
        vec![drop]
    );
    assert_eq!(b.drops_in_on(UP).count(), 0);
    b.unbook(&drop);
    b.unbook(&fwd);
    assert!(!b.has_entry(&fwd) && !b.has_entry(&drop));
    assert!(b.installed().is_empty());
}

#[test]
fn a_new_gateway_changes_entries_on_the_same_interface_only() {
    let t0 = Instant::now();
    let mut b = FlowBook::default();
    let gw1 = Some(Ipv4Addr::new(10, 0, 1, 254).into());
    let gw2 = Some(Ipv4Addr::new(10, 0, 1, 253).into());
    let (a, c, other) = (flow(2, 1), flow(1, 1), flow(1, 9));
    for f in [a, c, other] {
        b.forwarding(t0, f, FlowInfo::new(t0, origin(Some(UP), gw1)), IDLE);
    }
    assert_eq!(
        b.regateway(Ipv4Addr::new(10, 0, 0, 1).into(), Some(UP), gw2),
        vec![c, a]
    );
    assert_eq!(b.info(&a).unwrap().origin.upstream, gw2);
    assert_eq!(b.info(&other).unwrap().origin.upstream, gw1);
    // The same route again changes nothing.
    assert!(
        b.regateway(Ipv4Addr::new(10, 0, 0, 1).into(), Some(UP), gw2)
            .is_empty()
    );
    // Another interface: the flows are decided again, with the new route.
    let moved = b.rerouted(Ipv4Addr::new(10, 0, 0, 1).into(), Some(LAN), None);
    assert_eq!(
        moved.iter().map(|(f, _)| *f).collect::<Vec<_>>(),
        vec![c, a]
    );
    assert!(
        moved
            .iter()
            .all(|(_, i)| i.origin.rpf == Some(LAN) && i.origin.upstream.is_none())
    );
    assert_eq!(
        b.info(&a).unwrap().origin.rpf,
        Some(UP),
        "the book is unchanged"
    );
}

#[test]
fn entries_without_traffic_for_the_idle_time_expire_and_traffic_keeps_them() {
    let t0 = Instant::now();
    let mut b = FlowBook::default();
    let (busy, quiet, drop) = (flow(1, 1), flow(2, 1), flow(3, 1));
    b.forwarding(t0, busy, FlowInfo::new(t0, origin(Some(UP), None)), IDLE);
    b.forwarding(t0, quiet, FlowInfo::new(t0, origin(Some(UP), None)), IDLE);
    b.dropping(t0, drop, UP, FlowInfo::new(t0, origin(None, None)), IDLE);
    assert!(!b.idle_due(t0 + IDLE - Duration::from_millis(1)));
    let t1 = t0 + Duration::from_secs(30);
    let c = FlowCounters {
        packets: 10,
        bytes: 1000,
        wrong_if: 0,
    };
    b.update_counters(t1, vec![(busy, c)], IDLE);
    assert_eq!(b.info(&busy).unwrap().counters, c);
    assert!(b.idle_due(t0 + IDLE));
    assert_eq!(b.expire_idle(t0 + IDLE, IDLE), vec![quiet]);
    assert!(!b.has_entry(&drop), "an idle drop entry goes at once");
    // The router deletes the manager's entry; the book forgets it.
    b.deleted(quiet);
    b.recompute_idle_deadline(IDLE);
    assert_eq!(b.next_deadline(), Some(t1 + IDLE));
    assert_eq!(b.installed(), vec![busy]);
}

#[test]
fn an_idle_time_too_long_to_add_means_never() {
    let t0 = Instant::now();
    let mut b = FlowBook::default();
    b.forwarding(
        t0,
        flow(1, 1),
        FlowInfo::new(t0, origin(None, None)),
        Duration::MAX,
    );
    assert_eq!(b.next_deadline(), None);
    b.recompute_idle_deadline(Duration::MAX);
    assert_eq!(b.next_deadline(), None);
}
