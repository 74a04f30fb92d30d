//! Nothing lost: the real router through link flaps, renames and address
//! changes. Interface facts, IGMP packets and upcalls in; kernel actions,
//! IGMP packets and events out.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

mod common;

use common::{addr, flow, join, link, mrt, show_interfaces, show_routes};
use mgmd::config::Config;
use mgmd::core::event::Event;
use mgmd::core::input::Input;
use mgmd::core::mroute::MrtAction;
use mgmd::core::output::Output;
use mgmd::core::router::Router;
use mgmd::core::snapshot::{Restore, RouterState};
use mgmd::core::types::{IfIndex, VifIndex, VifSet};

const UP0: IfIndex = IfIndex(2);
const LAN1: IfIndex = IfIndex(3);
const LAN2: IfIndex = IfIndex(4);

/// lan1 and lan9 are configured alike (a rename between them keeps
/// everything); lan2 runs IGMPv2.
fn config() -> Config {
    Config::parse(
        r#"
[igmp]
query-interval = "10s"
query-response-interval = "1s"
recovery-query-response-interval = "0.5s"

[[interface]]
name = "up0"
[[interface]]
name = "lan1"
[[interface]]
name = "lan9"
[[interface]]
name = "lan2"
version = 2
"#,
        "test.toml",
    )
    .unwrap()
}

fn dump() -> Input {
    common::snapshot(&[
        (UP0, "up0", "10.0.1.1"),
        (LAN1, "lan1", "10.0.2.1"),
        (LAN2, "lan2", "10.0.3.1"),
    ])
}

/// A router with a receiver of the group on lan1 and the flow from up0
/// forwarding there.
fn forwarding(t0: Instant) -> Router {
    let mut r = Router::new(config(), t0);
    r.step(t0, [dump()]);
    r.step(t0, [join(LAN1)]);
    let upcall = common::new_flow(&r, flow(), UP0, Some(UP0));
    r.step(t0, [upcall]);
    assert_eq!(show_routes(&mut r, t0)[0].oifs, vec!["lan1".to_string()]);
    r
}

fn vif(r: &mut Router, t: Instant, name: &str) -> VifIndex {
    show_interfaces(r, t)
        .into_iter()
        .find(|i| i.name == name)
        .and_then(|i| i.vif)
        .unwrap_or_else(|| panic!("{name} has no VIF"))
}

/// The general queries among the outputs: (interface, source address).
fn general_queries(out: &[Output]) -> Vec<(IfIndex, Ipv4Addr)> {
    out.iter()
        .filter_map(|o| match o {
            Output::SendIgmp {
                ifindex, src, dst, ..
            } if *dst == Ipv4Addr::new(224, 0, 0, 1) => Some((*ifindex, *src)),
            _ => None,
        })
        .collect()
}

fn set_link(r: &mut Router, t: Instant, ifindex: IfIndex, name: &str, up: bool) -> Vec<Output> {
    r.step(t, [Input::Link(link(ifindex, name, up))])
}

#[test]
fn a_flap_keeps_the_membership_and_restores_the_kernel_entry_with_the_up() {
    let t0 = Instant::now();
    let mut r = forwarding(t0);
    let (v_up0, v_lan1) = (vif(&mut r, t0, "up0"), vif(&mut r, t0, "lan1"));

    let out = set_link(&mut r, t0, LAN1, "lan1", false);
    // Only the outgoing list changes: the VIF stays, IGMP keeps listening.
    assert_eq!(
        mrt(&out),
        vec![MrtAction::AddMfc {
            flow: flow(),
            iif_vif: v_up0,
            oifs: VifSet::EMPTY,
        }]
    );
    assert!(
        !out.iter().any(|o| matches!(o, Output::ListenIgmp { .. })),
        "{out:?}"
    );
    assert_eq!(r.memberships_on(LAN1).len(), 1);
    let lan1 = show_interfaces(&mut r, t0)
        .into_iter()
        .find(|i| i.name == "lan1")
        .unwrap();
    assert_eq!((lan1.state.as_str(), lan1.vif), ("down", Some(v_lan1)));
    assert_eq!(lan1.querier.map(|q| q.groups), Some(1));

    // Nothing is sent on the down link, even when a query is due.
    let t1 = t0 + Duration::from_secs(20);
    let out = r.step(t1, [Input::Timer]);
    assert!(
        !general_queries(&out).iter().any(|(i, _)| *i == LAN1),
        "{out:?}"
    );

    // Up: the entry is back in the same input, and the startup query goes out.
    let out = set_link(&mut r, t1, LAN1, "lan1", true);
    assert_eq!(
        mrt(&out),
        vec![MrtAction::AddMfc {
            flow: flow(),
            iif_vif: v_up0,
            oifs: [v_lan1].into_iter().collect(),
        }]
    );
    assert_eq!(
        general_queries(&out),
        vec![(LAN1, Ipv4Addr::new(10, 0, 2, 1))]
    );
    assert_eq!(show_routes(&mut r, t1)[0].oifs, vec!["lan1".to_string()]);
}

#[test]
fn fifty_flaps_end_where_they_started() {
    let t0 = Instant::now();
    let mut r = forwarding(t0);
    let mut t = t0;
    for _ in 0..50 {
        t += Duration::from_millis(20);
        set_link(&mut r, t, LAN1, "lan1", false);
        t += Duration::from_millis(20);
        let out = set_link(&mut r, t, LAN1, "lan1", true);
        assert_eq!(mrt(&out).len(), 1, "{out:?}");
    }
    assert_eq!(show_routes(&mut r, t)[0].oifs, vec!["lan1".to_string()]);
    assert_eq!(r.memberships_on(LAN1).len(), 1);
}

#[test]
fn a_group_that_times_out_while_the_link_is_down_goes() {
    let t0 = Instant::now();
    let mut r = forwarding(t0);
    set_link(&mut r, t0, LAN1, "lan1", false);
    // Group Membership Interval: 2 x 10 s + 2 x 1 s.
    let mut t = t0;
    while t < t0 + Duration::from_secs(23) {
        t = r.next_deadline().unwrap().max(t + Duration::from_millis(1));
        r.step(t, [Input::Timer]);
    }
    assert!(r.memberships_on(LAN1).is_empty());
    let out = set_link(&mut r, t, LAN1, "lan1", true);
    assert!(mrt(&out).is_empty(), "{out:?}");
    assert!(show_routes(&mut r, t)[0].oifs.is_empty());
}

#[test]
fn entries_coming_in_on_a_down_interface_are_kept() {
    let t0 = Instant::now();
    let mut r = forwarding(t0);
    let out = set_link(&mut r, t0, UP0, "up0", false);
    assert!(mrt(&out).is_empty(), "{out:?}");
    assert_eq!(show_routes(&mut r, t0).len(), 1);
    let out = set_link(&mut r, t0, UP0, "up0", true);
    assert!(mrt(&out).is_empty(), "{out:?}");
    assert_eq!(show_routes(&mut r, t0)[0].oifs, vec!["lan1".to_string()]);
}

#[test]
fn a_rename_between_names_configured_alike_keeps_everything() {
    let t0 = Instant::now();
    let mut r = forwarding(t0);
    let v_lan1 = vif(&mut r, t0, "lan1");
    // The kernel renames only links that are down.
    set_link(&mut r, t0, LAN1, "lan1", false);
    let out = set_link(&mut r, t0, LAN1, "lan9", false);
    assert!(mrt(&out).is_empty(), "{out:?}");
    assert!(
        !out.iter().any(|o| matches!(o, Output::ListenIgmp { .. })),
        "{out:?}"
    );
    let out = set_link(&mut r, t0, LAN1, "lan9", true);
    assert_eq!(mrt(&out).len(), 1, "{out:?}");
    assert_eq!(r.memberships_on(LAN1).len(), 1);
    assert_eq!(vif(&mut r, t0, "lan9"), v_lan1);
    assert_eq!(show_routes(&mut r, t0)[0].oifs, vec!["lan9".to_string()]);
    let names: Vec<String> = show_interfaces(&mut r, t0)
        .into_iter()
        .filter(|i| i.ifindex == Some(LAN1))
        .map(|i| i.name)
        .collect();
    assert_eq!(names, vec!["lan9".to_string()]);
}

#[test]
fn a_rename_to_a_name_configured_otherwise_starts_over() {
    let t0 = Instant::now();
    let mut r = forwarding(t0);
    set_link(&mut r, t0, LAN1, "lan1", false);
    // lan2's name is free once lan2 is gone; its section runs IGMPv2.
    r.step(t0, [Input::LinkGone { ifindex: LAN2 }]);
    set_link(&mut r, t0, LAN1, "lan2", false);
    assert!(r.memberships_on(LAN1).is_empty());
    // To a name the configuration does not know: no longer used.
    set_link(&mut r, t0, LAN1, "guest", false);
    assert!(r.used_interfaces().all(|i| i.ifindex != LAN1));
}

#[test]
fn an_address_change_keeps_the_groups_and_the_election_runs_again() {
    let t0 = Instant::now();
    let mut r = forwarding(t0);
    let t1 = t0 + Duration::from_secs(5);
    r.step(t1, [Input::AddrRemoved(addr(LAN1, "10.0.2.1"))]);
    let out = r.step(t1, [Input::AddrAdded(addr(LAN1, "10.0.2.7"))]);
    assert!(mrt(&out).is_empty(), "{out:?}");
    assert_eq!(r.memberships_on(LAN1).len(), 1);
    // Querier again from the new address, with a startup query at once.
    assert_eq!(
        general_queries(&out),
        vec![(LAN1, Ipv4Addr::new(10, 0, 2, 7))]
    );
    let q = show_interfaces(&mut r, t1)
        .into_iter()
        .find(|i| i.name == "lan1")
        .and_then(|i| i.querier)
        .unwrap();
    assert!(q.is_querier);
    assert_eq!(q.querier_addr, Some(Ipv4Addr::new(10, 0, 2, 7).into()));
    assert_eq!(show_routes(&mut r, t1)[0].oifs, vec!["lan1".to_string()]);
}

// ===== report loss recovery =====

fn drops(lan1: u64, socket: u64) -> Input {
    Input::InputDrops {
        interfaces: vec![(UP0, 0), (LAN1, lan1), (LAN2, 0)],
        socket,
    }
}

/// The recovery queries among the outputs: general queries with Max Resp
/// Code 5 (0.5 s; the other general queries have 10).
fn recovery_queries(out: &[Output]) -> Vec<IfIndex> {
    out.iter()
        .filter_map(|o| match o {
            Output::SendIgmp {
                ifindex,
                dst,
                payload,
                ..
            } if *dst == Ipv4Addr::new(224, 0, 0, 1) && payload[1] == 5 => Some(*ifindex),
            _ => None,
        })
        .collect()
}

#[test]
fn input_dropped_on_an_interface_brings_one_recovery_query_there() {
    let t0 = Instant::now();
    let mut r = forwarding(t0);
    // The first reading is the baseline, whatever it says.
    let out = r.step(t0, [drops(7, 3)]);
    assert!(recovery_queries(&out).is_empty(), "{out:?}");
    // lan1 dropped input: one recovery query there, Max Resp Time 0.5 s.
    let t1 = t0 + Duration::from_secs(1);
    let out = r.step(t1, [drops(9, 3)]);
    assert_eq!(recovery_queries(&out), vec![LAN1]);
    // More drops within the hold-off (the Max Resp Time): one more query,
    // when the hold-off ends.
    let ms = |n| t1 + Duration::from_millis(n);
    let out = r.step(ms(300), [drops(12, 3)]);
    assert!(recovery_queries(&out).is_empty(), "{out:?}");
    assert!(recovery_queries(&r.step(ms(499), [Input::Timer])).is_empty());
    assert_eq!(
        recovery_queries(&r.step(ms(500), [Input::Timer])),
        vec![LAN1]
    );
    let lan1 = show_interfaces(&mut r, t1)
        .into_iter()
        .find(|i| i.name == "lan1")
        .and_then(|i| i.querier)
        .unwrap();
    assert_eq!(lan1.counters.get("tx_recovery_queries"), Some(&2));
    assert_eq!(lan1.counters.get("input_drops"), Some(&5));
    // While drops go on, the hold-off doubles (1 s now).
    let out = r.step(ms(1000), [drops(13, 3)]);
    assert!(recovery_queries(&out).is_empty(), "{out:?}");
    assert!(recovery_queries(&r.step(ms(1499), [Input::Timer])).is_empty());
    assert_eq!(
        recovery_queries(&r.step(ms(1500), [Input::Timer])),
        vec![LAN1]
    );
    // No drops, no query.
    assert!(recovery_queries(&r.step(ms(9000), [Input::Timer])).is_empty());
}

#[test]
fn an_overflow_of_the_routing_socket_asks_every_igmp_interface() {
    let t0 = Instant::now();
    let mut r = forwarding(t0);
    r.step(t0, [drops(0, 0)]);
    let out = r.step(t0, [drops(0, 40)]);
    // lan2 runs IGMPv2: its query is a v2 one, with the same Max Resp Time.
    assert_eq!(recovery_queries(&out), vec![UP0, LAN1, LAN2]);
}

#[test]
fn recovery_queries_are_off_with_zero_and_never_sent_by_a_non_querier() {
    let t0 = Instant::now();
    let cfg = Config::parse(
        r#"
[[interface]]
name = "up0"
recovery-query-response-interval = "0s"
[[interface]]
name = "lan1"
querier = false
[[interface]]
name = "lan2"
recovery-query-response-interval = "0.5s"
"#,
        "test.toml",
    )
    .unwrap();
    let mut r = Router::new(cfg, t0);
    r.step(t0, [dump()]);
    r.step(t0, [Input::Timer]);
    r.step(t0, [drops(0, 0)]);
    let out = r.step(t0 + Duration::from_secs(1), [drops(5, 10)]);
    assert_eq!(recovery_queries(&out), vec![LAN2]);
    let lan1 = show_interfaces(&mut r, t0)
        .into_iter()
        .find(|i| i.name == "lan1")
        .and_then(|i| i.querier)
        .unwrap();
    assert_eq!(lan1.counters.get("input_drops"), Some(&15));
    assert_eq!(lan1.counters.get("tx_recovery_queries"), Some(&0));
}

// ===== restarts =====

const CONFIG_FP: &str = "0123456789abcdef";
/// Some wall-clock time (ms since the Unix epoch).
const WALL: u64 = 1_800_000_000_000;

fn restore(state: RouterState, after_ms: u64, adopted: bool) -> Input {
    Input::Restore(Box::new(Restore {
        state,
        config: CONFIG_FP.into(),
        now: WALL + after_ms,
        adopted,
    }))
}

fn events_of(out: &[Output]) -> Vec<Event> {
    out.iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn after_a_crash_the_snapshot_brings_forwarding_back_with_the_first_dump() {
    let t0 = Instant::now();
    let a = forwarding(t0);
    let state = a.state(t0, WALL, CONFIG_FP, false);
    assert_eq!(state.interfaces.len(), 1);
    assert_eq!(state.flows.len(), 1);
    // The snapshot goes through JSON, as written to its file.
    let text = serde_json::to_string(&state).unwrap();
    let state: RouterState = serde_json::from_str(&text).unwrap();

    // A new process, 2 s later: the kernel's table is empty.
    let t1 = t0 + Duration::from_secs(100);
    let mut b = Router::new(config(), t1);
    let out = b.step(t1, [restore(state, 2000, false)]);
    assert!(mrt(&out).is_empty(), "{out:?}");
    let out = b.step(t1, [dump()]);
    let v = |r: &mut Router, n| vif(r, t1, n);
    let (v_up0, v_lan1) = (v(&mut b, "up0"), v(&mut b, "lan1"));
    let entry = MrtAction::AddMfc {
        flow: flow(),
        iif_vif: v_up0,
        oifs: [v_lan1].into_iter().collect(),
    };
    assert!(mrt(&out).contains(&entry), "{out:?}");
    assert!(
        events_of(&out).iter().any(|e| matches!(
            e,
            Event::StateRestored {
                groups: 1,
                flows: 1,
                ..
            }
        )),
        "{out:?}"
    );
    assert_eq!(b.memberships_on(LAN1).len(), 1);
    // The group keeps its timer: 22 s (GMI) from the join, 2 s of which
    // passed between the processes; unconfirmed, it goes at its time.
    let mut t = t1;
    while b.memberships_on(LAN1).len() == 1 {
        t = b.next_deadline().unwrap();
        b.step(t, [Input::Timer]);
    }
    assert_eq!(t - t1, Duration::from_secs(20));
}

#[test]
fn a_snapshot_of_another_configuration_or_too_old_is_ignored() {
    let t0 = Instant::now();
    let a = forwarding(t0);
    let mut foreign = a.state(t0, WALL, CONFIG_FP, false);
    foreign.config = "fedcba9876543210".into();
    let mut b = Router::new(config(), t0);
    let out = b.step(t0, [restore(foreign, 1000, false)]);
    assert!(
        events_of(&out).iter().any(
            |e| matches!(e, Event::SnapshotIgnored { reason } if reason.contains("another configuration"))
        ),
        "{out:?}"
    );
    b.step(t0, [dump()]);
    assert!(b.memberships_on(LAN1).is_empty());

    // Older than the longest Group Membership Interval (22 s here).
    let stale = a.state(t0, WALL, CONFIG_FP, false);
    let mut c = Router::new(config(), t0);
    let out = c.step(t0, [restore(stale, 23_000, false)]);
    assert!(
        events_of(&out)
            .iter()
            .any(|e| matches!(e, Event::SnapshotIgnored { reason } if reason.contains("stale"))),
        "{out:?}"
    );
    c.step(t0, [dump()]);
    assert!(c.memberships_on(LAN1).is_empty());
}

#[test]
fn a_handed_over_table_is_adopted_and_left_as_it_is() {
    let t0 = Instant::now();
    let a = forwarding(t0);
    let state = a.state(t0, WALL, CONFIG_FP, true);
    let kernel = state.kernel.clone().unwrap();
    assert_eq!((kernel.vifs.len(), kernel.entries.len()), (3, 1));

    let mut b = Router::new(config(), t0);
    let out = b.step(t0, [restore(state, 50, true)]);
    assert!(mrt(&out).is_empty(), "{out:?}");
    assert!(
        events_of(&out).iter().any(|e| matches!(
            e,
            Event::KernelAdopted {
                vifs: 3,
                entries: 1
            }
        )),
        "{out:?}"
    );
    // Inputs before the interfaces are known change nothing in the kernel.
    let out = b.step(t0, [Input::Timer]);
    assert!(mrt(&out).is_empty(), "{out:?}");
    // The dump: the same VIFs and the same entry, so not one kernel change.
    let out = b.step(t0, [dump()]);
    assert!(mrt(&out).is_empty(), "{out:?}");
    assert_eq!(b.memberships_on(LAN1).len(), 1);
    assert_eq!(show_routes(&mut b, t0)[0].oifs, vec!["lan1".to_string()]);
    // Later changes are plain differences against the adopted table.
    let out = b.step(t0, [Input::Link(link(LAN1, "lan1", false))]);
    assert_eq!(mrt(&out).len(), 1, "{out:?}");
}

#[test]
fn a_handed_over_table_with_an_unusable_snapshot_is_cleaned_up() {
    let t0 = Instant::now();
    let a = forwarding(t0);
    let mut state = a.state(t0, WALL, CONFIG_FP, true);
    state.config = "fedcba9876543210".into();
    let mut b = Router::new(config(), t0);
    b.step(t0, [restore(state, 50, true)]);
    // Nothing learned is taken over: the entry nobody asked for goes, the
    // VIFs of the configured interfaces stay.
    let out = b.step(t0, [dump()]);
    let actions = mrt(&out);
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, MrtAction::DelMfc { flow: f, .. } if *f == flow())),
        "{out:?}"
    );
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, MrtAction::AddVif { .. } | MrtAction::DelVif { .. })),
        "{out:?}"
    );
}
