//! The router end to end without the kernel: interface facts, IGMP
//! packets and kernel upcalls in; kernel actions, IGMP packets and events
//! out. Checks the ownership sequence is observed step by step while the
//! kernel only ever sees the net result.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

use common::{
    addr, events, flow, group, host, join, join_group, link, mrt, release, show_interfaces,
    show_routes, take,
};
use mgmd::config::{Checker, Config, ConfigError};
use mgmd::core::event::{Event, OwnerOp};
use mgmd::core::filter::HostFilter;
use mgmd::core::input::Input;
use mgmd::core::mgm::Effect;
use mgmd::core::mroute::MrtAction;
use mgmd::core::output::Output;
use mgmd::core::protocol::registry::{
    ParsedSection, ProtocolConfig, ProtocolKind, Registry, TableKeys,
};
use mgmd::core::protocol::{ProtoAction, ProtoEvent, ProtoStatus, ProtoView, RoutingProtocol};
use mgmd::core::router::{HOST_LEAVE_HOLD, Router};
use mgmd::core::types::{FlowKey, GroupAddr, IfIndex};

const UP0: IfIndex = IfIndex(2);
const LAN1: IfIndex = IfIndex(3);
const LAN2: IfIndex = IfIndex(4);

fn config() -> Config {
    Config::parse(
        r#"
[[interface]]
name = "up0"
[[interface]]
name = "lan1"
[[interface]]
name = "lan2"
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

/// A routing protocol that wishes a host membership on every interface it
/// owns and accepts every flow on its interfaces. With `withdraws` false it
/// never takes a wish back (the router must clean up after it).
struct Dummy {
    withdraws: bool,
}

impl RoutingProtocol for Dummy {
    fn name(&self) -> &'static str {
        "dummy"
    }
    fn handle(&mut self, _view: &ProtoView<'_>, ev: ProtoEvent) -> Vec<ProtoAction> {
        match ev {
            ProtoEvent::RpfQuery { flow, arrival, .. } => vec![ProtoAction::RpfAnswer {
                flow,
                iif: Some(arrival),
            }],
            ProtoEvent::InterfaceTaken { ifindex } => vec![ProtoAction::HostMembership {
                ifindex,
                group: "239.9.9.9".parse().unwrap(),
                filter: HostFilter::Exclude(BTreeSet::new()),
            }],
            ProtoEvent::InterfaceReleased { ifindex } if self.withdraws => {
                vec![ProtoAction::HostMembership {
                    ifindex,
                    group: "239.9.9.9".parse().unwrap(),
                    filter: HostFilter::Include(BTreeSet::new()),
                }]
            }
            _ => Vec::new(),
        }
    }
    fn status(&self, _view: &ProtoView<'_>) -> ProtoStatus {
        ProtoStatus::new()
    }
}

/// `[dummy]`, which owns no interface until it is given one.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DummyConfig {
    withdraws: bool,
}

impl ProtocolConfig for DummyConfig {
    fn name(&self) -> &'static str {
        "dummy"
    }
    fn owned_interfaces(&self) -> &[String] {
        &[]
    }
    fn build(&self) -> Box<dyn RoutingProtocol> {
        Box::new(Dummy {
            withdraws: self.withdraws,
        })
    }
}

const DUMMY: ProtocolKind = ProtocolKind {
    name: "dummy",
    parse: parse_dummy,
    keys: || {
        vec![TableKeys {
            table: "dummy".into(),
            keys: mgmd::core::config_check::table_keys::<DummyConfig>(),
        }]
    },
    cli: None,
};

fn parse_dummy(
    c: &Checker<'_>,
    value: toml::Spanned<toml::de::DeValue<'_>>,
) -> Result<ParsedSection, ConfigError> {
    let config: DummyConfig = c.section(value)?;
    Ok(ParsedSection {
        config: Arc::new(config),
        uses: Vec::new(),
    })
}

/// The interfaces of [`config`] and a `[dummy]` section.
fn config_with_dummy(withdraws: bool) -> Config {
    let text = format!(
        "[[interface]]\nname = \"up0\"\n[[interface]]\nname = \"lan1\"\n[[interface]]\n\
         name = \"lan2\"\n[dummy]\nwithdraws = {withdraws}\n"
    );
    Config::parse_with(&Registry::default().with(DUMMY), &text, "test.toml").unwrap()
}

/// The kernel's NOCACHE upcall for `flow` arriving on up0, with the
/// unicast route towards its source pointing out of `rpf`.
fn upcall(r: &Router, flow: FlowKey, rpf: Option<IfIndex>) -> Input {
    common::new_flow(r, flow, UP0, rpf)
}

/// A router with a receiver of the group on lan1 and the flow forwarding.
fn forwarding(t0: Instant) -> Router {
    forwarding_with(t0, true)
}

fn forwarding_with(t0: Instant, withdraws: bool) -> Router {
    let mut r = Router::new(config_with_dummy(withdraws), t0);
    r.step(t0, [dump()]);
    r.step(t0, [join(LAN1)]);
    let out = r.step(t0, [upcall(&r, flow(), Some(UP0))]);
    let vif_lan1 = show_interfaces(&mut r, t0)
        .into_iter()
        .find(|i| i.name == "lan1")
        .and_then(|i| i.vif)
        .unwrap();
    let adds: Vec<_> = mrt(&out)
        .into_iter()
        .filter(|a| matches!(a, MrtAction::AddMfc { .. }))
        .collect();
    assert!(
        matches!(&adds[..], [MrtAction::AddMfc { flow: f, oifs, .. }] if *f == flow() && oifs.iter().eq([vif_lan1])),
        "{adds:?}"
    );
    r
}

#[test]
fn start_up_gives_every_configured_interface_a_vif_and_igmp() {
    let t0 = Instant::now();
    let mut r = Router::new(config(), t0);
    let out = r.step(t0, [dump()]);
    let vifs = mrt(&out)
        .into_iter()
        .filter(|a| matches!(a, MrtAction::AddVif { .. }))
        .count();
    assert_eq!(vifs, 3);
    let listening: Vec<IfIndex> = out
        .iter()
        .filter_map(|o| match o {
            Output::ListenIgmp { ifindex, on: true } => Some(*ifindex),
            _ => None,
        })
        .collect();
    assert_eq!(listening, vec![UP0, LAN1, LAN2]);
    // The startup general query goes out on each interface from its address.
    let queries: Vec<(IfIndex, Ipv4Addr)> = out
        .iter()
        .filter_map(|o| match o {
            Output::SendIgmp { ifindex, src, .. } => Some((*ifindex, *src)),
            _ => None,
        })
        .collect();
    assert!(
        queries.contains(&(LAN1, Ipv4Addr::new(10, 0, 2, 1))),
        "{queries:?}"
    );
}

#[test]
fn a_join_then_a_flow_forwards_to_the_member() {
    forwarding(Instant::now());
}

#[test]
fn an_upcall_for_a_flow_we_have_reinstalls_the_same_entry() {
    let t0 = Instant::now();
    let mut r = forwarding(t0);
    let installed = mrt(&r.step(t0, [upcall(&r, flow(), Some(UP0))]));
    assert_eq!(installed.len(), 1, "{installed:?}");
    assert!(
        matches!(installed[0], MrtAction::AddMfc { flow: f, .. } if f == flow()),
        "{installed:?}"
    );
    // The kernel lost it once more: the same entry again, and the router's
    // own view is unchanged.
    let out = mrt(&r.step(t0, [upcall(&r, flow(), Some(UP0))]));
    assert_eq!(out, installed);
    assert_eq!(r.installed_flows(), vec![flow()]);
    assert_eq!(show_routes(&mut r, t0).len(), 1);

    // The same for a drop entry (no route towards the source).
    let other = FlowKey {
        group: group(),
        source: Ipv4Addr::new(192, 0, 2, 7).into(),
    };
    let first = mrt(&r.step(t0, [upcall(&r, other, None)]));
    assert!(
        matches!(&first[..], [MrtAction::AddMfc { flow: f, oifs, .. }] if *f == other && oifs.is_empty()),
        "{first:?}"
    );
    assert_eq!(mrt(&r.step(t0, [upcall(&r, other, None)])), first);
}

#[test]
fn taking_and_releasing_an_outgoing_interface_changes_nothing_in_the_kernel() {
    let t0 = Instant::now();
    let mut r = forwarding(t0);
    let out = take(&mut r, t0, "lan1", "dummy").unwrap();
    let ev = events(&out);
    let pos = |what: &str, f: &dyn Fn(&Event) -> bool| {
        ev.iter()
            .position(f)
            .unwrap_or_else(|| panic!("no event {what} in {ev:#?}"))
    };
    let disable = pos(
        "disable",
        &|e| matches!(e, Event::Effect(Effect::DisableIgmp { ifindex }) if ifindex.ifindex == LAN1),
    );
    let owner = pos(
        "owner change",
        &|e| matches!(e, Event::Effect(Effect::OwnerChanged { ifindex, old: None, new: Some("dummy") }) if ifindex.ifindex == LAN1),
    );
    let enable = pos(
        "enable",
        &|e| matches!(e, Event::Effect(Effect::EnableIgmp { ifindex }) if ifindex.ifindex == LAN1),
    );
    let complete = pos(
        "complete",
        &|e| matches!(e, Event::OwnershipComplete { interface, protocol: "dummy", op: OwnerOp::Take } if interface.ifindex == LAN1),
    );
    assert!(disable < owner && owner < enable && enable < complete);
    assert_eq!(mrt(&out), vec![], "the kernel sees only the net change");
    assert_eq!(
        r.memberships_on(LAN1).len(),
        1,
        "IGMP's membership was re-added"
    );

    let out = release(&mut r, t0, "lan1", "dummy").unwrap();
    assert_eq!(mrt(&out), vec![]);
    assert_eq!(r.memberships_on(LAN1).len(), 1);
    assert_eq!(show_routes(&mut r, t0)[0].oifs, vec!["lan1".to_string()]);
}

#[test]
fn taking_the_incoming_interface_redecides_its_flows_without_a_gap() {
    let t0 = Instant::now();
    let mut r = forwarding(t0);
    let out = take(&mut r, t0, "up0", "dummy").unwrap();
    assert_eq!(mrt(&out), vec![], "same decision: no kernel change");
    let routes = show_routes(&mut r, t0);
    assert_eq!(routes.len(), 1);
    assert_eq!(routes[0].iif_owner.as_deref(), Some("dummy"));
    let out = release(&mut r, t0, "up0", "dummy").unwrap();
    assert_eq!(mrt(&out), vec![]);
    assert_eq!(show_routes(&mut r, t0)[0].iif_owner, None);
}

#[test]
fn host_memberships_survive_a_move_and_leave_after_the_hold_time() {
    let t0 = Instant::now();
    let mut r = forwarding(t0);
    let out = take(&mut r, t0, "up0", "dummy").unwrap();
    assert_eq!(
        host(&out),
        vec![(UP0, HostFilter::Exclude(BTreeSet::new()))]
    );
    // Made from the interface's address, which the router chose.
    let local = out.iter().find_map(|o| match o {
        Output::HostMembership { local, .. } => Some(*local),
        _ => None,
    });
    let up0 = r.ifaces().get(UP0).and_then(|l| l.primary_v4());
    assert!(up0.is_some());
    assert_eq!(local, Some(up0));
    // Released and taken back within the hold time: nothing reaches the kernel.
    let out = release(&mut r, t0, "up0", "dummy").unwrap();
    assert_eq!(host(&out), vec![]);
    let t1 = t0 + HOST_LEAVE_HOLD / 2;
    let out = take(&mut r, t1, "up0", "dummy").unwrap();
    assert_eq!(host(&out), vec![]);
    // Released for good: the leave goes out when the hold time is over.
    let out = release(&mut r, t1, "up0", "dummy").unwrap();
    assert_eq!(host(&out), vec![]);
    let deadline = r.next_deadline().unwrap();
    assert!(deadline <= t1 + HOST_LEAVE_HOLD);
    let out = r.step(t1 + HOST_LEAVE_HOLD, [Input::Timer]);
    assert_eq!(
        host(&out),
        vec![(UP0, HostFilter::Include(BTreeSet::new()))]
    );
}

#[test]
fn a_host_membership_on_a_vanished_interface_is_dropped_at_once() {
    for withdraws in [true, false] {
        let t0 = Instant::now();
        let mut r = forwarding_with(t0, withdraws);
        let out = take(&mut r, t0, "up0", "dummy").unwrap();
        assert_eq!(host(&out).len(), 1, "{out:?}");
        // No hold time: the kernel dropped the membership with the link.
        let out = r.step(t0, [Input::LinkGone { ifindex: UP0 }]);
        assert_eq!(
            host(&out),
            vec![(UP0, HostFilter::Include(BTreeSet::new()))],
            "withdraws: {withdraws}"
        );
    }
}

#[test]
fn an_interface_that_vanishes_is_released_and_comes_back_with_a_new_ifindex() {
    let t0 = Instant::now();
    let mut r = forwarding(t0);
    take(&mut r, t0, "lan1", "dummy").unwrap();
    let out = r.step(t0, [Input::LinkGone { ifindex: LAN1 }]);
    let ev = events(&out);
    assert!(
        ev.iter().any(|e| matches!(e, Event::InterfaceVanished { interface } if interface.ifindex == LAN1 && interface.name.as_str() == "lan1")),
        "{ev:#?}"
    );
    assert!(show_routes(&mut r, t0)[0].oifs.is_empty());
    let lan1 = show_interfaces(&mut r, t0)
        .into_iter()
        .find(|i| i.name == "lan1")
        .unwrap();
    assert_eq!(lan1.state, "pending");

    let new = IfIndex(9);
    r.step(t0, [Input::Link(link(new, "lan1", true))]);
    r.step(t0, [Input::AddrAdded(addr(new, "10.0.2.1"))]);
    let lan1 = show_interfaces(&mut r, t0)
        .into_iter()
        .find(|i| i.name == "lan1")
        .unwrap();
    assert_eq!(lan1.ifindex, Some(new));
    assert_eq!(lan1.state, "up");
    assert_eq!(lan1.igmp, "enabled");
    // A receiver's report on the new link forwards the flow there again.
    let out = r.step(t0 + Duration::from_secs(1), [join(new)]);
    assert!(
        mrt(&out)
            .iter()
            .any(|a| matches!(a, MrtAction::AddMfc { oifs, .. } if !oifs.is_empty())),
        "{out:?}"
    );
    assert_eq!(show_routes(&mut r, t0)[0].oifs, vec!["lan1".to_string()]);
}

#[test]
fn unknown_protocol_or_interface_is_a_clear_error() {
    let t0 = Instant::now();
    let mut r = forwarding(t0);
    let e = take(&mut r, t0, "lan1", "pim").unwrap_err();
    assert!(e.contains("no routing protocol named pim"), "{e}");
    let e = take(&mut r, t0, "eth9", "dummy").unwrap_err();
    assert!(e.contains("eth9"), "{e}");
    let e = release(&mut r, t0, "lan1", "dummy").unwrap_err();
    assert!(!e.is_empty());
}

#[test]
fn a_burst_of_reports_is_learned_in_full_with_one_commit() {
    let t0 = Instant::now();
    let mut r = Router::new(config(), t0);
    r.step(t0, [dump()]);
    let groups: Vec<Ipv4Addr> = (0..4000u32)
        .map(|i| Ipv4Addr::from(u32::from(Ipv4Addr::new(239, 2, 0, 0)) + i))
        .collect();
    let reports = groups.iter().map(|g| join_group(LAN1, *g));
    r.step(t0, reports);
    assert_eq!(r.memberships_on(LAN1).len(), 4000);
    // Flows for the groups: each is forwarded to lan1 once it arrives.
    let up0 = common::vif_of(&r, UP0);
    let flows = groups.iter().take(10).map(|g| Input::NewFlow {
        flow: FlowKey {
            group: GroupAddr::new(*g).unwrap(),
            source: Ipv4Addr::new(10, 0, 1, 2).into(),
        },
        vif: up0,
        rpf: Some(UP0),
        upstream: None,
    });
    let out = r.step(t0, flows);
    let adds = mrt(&out)
        .into_iter()
        .filter(|a| matches!(a, MrtAction::AddMfc { oifs, .. } if oifs.len() == 1))
        .count();
    assert_eq!(adds, 10);
}

#[test]
fn a_route_change_moves_the_flow_to_its_new_incoming_interface() {
    let t0 = Instant::now();
    let mut r = forwarding(t0);
    let source: IpAddr = Ipv4Addr::new(10, 0, 1, 2).into();
    assert_eq!(r.flow_sources(), vec![(source, Some(UP0), None)]);
    // The same route: nothing to do.
    let out = r.step(
        t0,
        [Input::RpfChanged {
            source,
            rpf: Some(UP0),
            upstream: None,
        }],
    );
    assert_eq!(mrt(&out), vec![]);
    // The source is now reached through lan2: one replacement in the kernel.
    let out = r.step(
        t0,
        [Input::RpfChanged {
            source,
            rpf: Some(LAN2),
            upstream: Some(Ipv4Addr::new(10, 0, 3, 9).into()),
        }],
    );
    let adds: Vec<_> = mrt(&out)
        .into_iter()
        .filter(|a| !matches!(a, MrtAction::AddVif { .. }))
        .collect();
    assert!(
        matches!(&adds[..], [MrtAction::AddMfc { flow: f, oifs, .. }] if *f == flow() && oifs.len() == 1),
        "{adds:?}"
    );
    let routes = show_routes(&mut r, t0);
    assert_eq!(routes[0].iif, "lan2");
    assert_eq!(routes[0].oifs, vec!["lan1".to_string()]);
    assert_eq!(
        r.flow_sources(),
        vec![(source, Some(LAN2), Some(Ipv4Addr::new(10, 0, 3, 9).into()))]
    );
    // No route any more: the flow becomes a drop entry.
    r.step(
        t0,
        [Input::RpfChanged {
            source,
            rpf: None,
            upstream: None,
        }],
    );
    let routes = show_routes(&mut r, t0);
    assert_eq!(routes.len(), 1);
    assert!(routes[0].oifs.is_empty());
}

/// RFC 9776 9.2: reports are checked against "a subnet assigned to the
/// interface"; on a point-to-point link (`ip addr add 10.6.0.1 peer
/// 10.6.0.2`) the peer's address is that subnet, so the peer's join is
/// learned with the default `check-source-subnet = true`, and a stranger's
/// is still dropped.
#[test]
fn a_point_to_point_peer_s_reports_pass_the_subnet_check() {
    let t0 = Instant::now();
    let mut r = Router::new(config(), t0);
    r.step(
        t0,
        [Input::Snapshot {
            links: vec![link(UP0, "up0", true), link(LAN1, "lan1", true)],
            addrs: vec![
                addr(UP0, "10.0.1.1"),
                mgmd::core::iface::AddrFact {
                    peer: Some(Ipv4Addr::new(10, 6, 0, 2).into()),
                    ..mgmd::core::iface::AddrFact::new(LAN1, Ipv4Addr::new(10, 6, 0, 1), 32)
                },
            ],
        }],
    );
    let lan1 = show_interfaces(&mut r, t0)
        .into_iter()
        .find(|i| i.name == "lan1")
        .unwrap();
    assert_eq!(lan1.addrs, vec!["10.6.0.1 peer 10.6.0.2/32".to_string()]);
    r.step(
        t0,
        [common::join_from(
            LAN1,
            Ipv4Addr::new(10, 6, 0, 3),
            group().v4().unwrap(),
        )],
    );
    assert!(common::show_groups(&mut r, t0).is_empty());
    r.step(
        t0,
        [common::join_from(
            LAN1,
            Ipv4Addr::new(10, 6, 0, 2),
            group().v4().unwrap(),
        )],
    );
    let groups = common::show_groups(&mut r, t0);
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].interface, "lan1");
}

#[test]
fn a_refused_entry_is_retried_by_the_next_step_with_news_never_by_its_own() {
    let t0 = Instant::now();
    let mut r = forwarding(t0);
    let installed = r.installed_flows();
    let add = MrtAction::AddMfc {
        flow: flow(),
        iif_vif: mgmd::core::types::VifIndex(0),
        oifs: mgmd::core::types::VifSet::EMPTY,
    };
    // The refusal alone: reported, counted, and nothing goes to the kernel
    // (a refusal that repeats would otherwise loop at the kernel's pace).
    let out = r.step(
        t0,
        [Input::KernelRejected {
            action: add,
            error: "No buffer space available".into(),
        }],
    );
    assert!(mrt(&out).is_empty(), "{out:?}");
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Event(Event::KernelRefused { .. }))),
        "{out:?}"
    );
    // Two refusals in one step: still nothing.
    let again = Input::KernelRejected {
        action: add,
        error: "No buffer space available".into(),
    };
    assert!(mrt(&r.step(t0, [again.clone(), again])).is_empty());
    // The next step with news programs the entry again, once.
    let out = mrt(&r.step(t0 + Duration::from_millis(10), [Input::Timer]));
    let adds: Vec<_> = out
        .iter()
        .filter(|a| matches!(a, MrtAction::AddMfc { flow: f, .. } if *f == flow()))
        .collect();
    assert_eq!(adds.len(), 1, "{out:?}");
    assert_eq!(r.installed_flows(), installed);
}

#[test]
fn shutdown_is_one_step_that_removes_everything_installed() {
    let t0 = Instant::now();
    let mut r = forwarding(t0);
    let out = r.step(t0, [Input::Shutdown]);
    let actions = mrt(&out);
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, MrtAction::DelMfc { flow: f, .. } if *f == flow())),
        "{actions:?}"
    );
    assert_eq!(
        actions
            .iter()
            .filter(|a| matches!(a, MrtAction::DelVif { .. }))
            .count(),
        3,
        "{actions:?}"
    );
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, MrtAction::AddMfc { .. } | MrtAction::AddVif { .. })),
        "{actions:?}"
    );
    assert!(r.installed_flows().is_empty());
}
