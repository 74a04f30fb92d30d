//! Helpers shared by the router-level integration tests.
#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::time::Instant;

use mgmd::core::control::{Answer, Command};
use mgmd::core::event::Event;
use mgmd::core::filter::HostFilter;
use mgmd::core::iface::{AddrFact, LinkFact};
use mgmd::core::igmp::{GroupRecord, IgmpPacket, RecordType};
use mgmd::core::input::Input;
use mgmd::core::mroute::MrtAction;
use mgmd::core::output::Output;
use mgmd::core::router::Router;
use mgmd::core::status::{GroupView, InterfaceView, ProtocolView, RouteView};
use mgmd::core::types::{FlowKey, GroupAddr, IfIndex, MAXVIFS, VifIndex};

/// A recording replayed with `registry`: each step's outputs, one JSON line
/// per step (as `mgmd replay --json` prints them).
pub fn replay_outputs(
    registry: &mgmd::core::protocol::registry::Registry,
    input: &std::path::Path,
) -> String {
    let file = std::fs::File::open(input).unwrap_or_else(|e| panic!("{}: {e}", input.display()));
    let mut out = String::new();
    mgmd::record::replay_with(registry, input, std::io::BufReader::new(file), |step| {
        let line = serde_json::json!({ "t-ns": step.t_ns, "out": step.outputs });
        out.push_str(&line.to_string());
        out.push('\n');
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
    out
}

/// A multicast-capable link, administratively and operationally `up`.
pub fn link(ifindex: IfIndex, name: &str, up: bool) -> LinkFact {
    LinkFact {
        up,
        running: up,
        ..LinkFact::up(ifindex, name)
    }
}

/// A /24 address on a link.
pub fn addr(ifindex: IfIndex, a: &str) -> AddrFact {
    AddrFact {
        ifindex,
        addr: a.parse().unwrap(),
        prefix_len: 24,
        peer: None,
    }
}

/// The first interface dump: each link up, with its one /24 address.
pub fn snapshot(ifaces: &[(IfIndex, &str, &str)]) -> Input {
    Input::Snapshot {
        links: ifaces
            .iter()
            .map(|&(i, name, _)| link(i, name, true))
            .collect(),
        addrs: ifaces.iter().map(|&(i, _, a)| addr(i, a)).collect(),
    }
}

/// The group the tests forward.
pub fn group() -> GroupAddr {
    "239.1.1.1".parse().unwrap()
}

/// The flow the tests forward: 10.0.1.2 (behind up0) to [`group`].
pub fn flow() -> FlowKey {
    FlowKey {
        group: group(),
        source: Ipv4Addr::new(10, 0, 1, 2).into(),
    }
}

/// The kernel actions among a router's outputs.
pub fn mrt(out: &[Output]) -> Vec<MrtAction> {
    out.iter()
        .filter_map(|o| match o {
            Output::Mrt(a) => Some(*a),
            _ => None,
        })
        .collect()
}

/// The host memberships among a router's outputs: (interface, filter).
pub fn host(out: &[Output]) -> Vec<(IfIndex, HostFilter)> {
    out.iter()
        .filter_map(|o| match o {
            Output::HostMembership {
                ifindex, filter, ..
            } => Some((*ifindex, filter.clone())),
            _ => None,
        })
        .collect()
}

/// The receiver 10.0.2.2 joining the group (IGMPv3, any source) on
/// `ifindex`.
pub fn join(ifindex: IfIndex) -> Input {
    join_group(ifindex, group().v4().unwrap())
}

/// The receiver 10.0.2.2 joining `group` (IGMPv3, any source) on `ifindex`.
pub fn join_group(ifindex: IfIndex, group: Ipv4Addr) -> Input {
    join_from(ifindex, Ipv4Addr::new(10, 0, 2, 2), group)
}

/// Host `src` joining `group` (IGMPv3, any source) on `ifindex`.
pub fn join_from(ifindex: IfIndex, src: Ipv4Addr, group: Ipv4Addr) -> Input {
    Input::IgmpRx {
        ifindex,
        src,
        dst: Ipv4Addr::new(224, 0, 0, 22),
        ttl: 1,
        router_alert: true,
        payload: IgmpPacket::V3Report {
            records: vec![GroupRecord {
                record_type: RecordType::ChangeToExclude,
                group,
                sources: vec![],
            }],
        }
        .encode(),
    }
}

/// The events among a router's outputs.
pub fn events(out: &[Output]) -> Vec<Event> {
    out.iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

/// Runs a command: its answer and every output (the answer included).
pub fn command(r: &mut Router, t: Instant, c: Command) -> (Result<Answer, String>, Vec<Output>) {
    let out = r.step(t, [Input::Command(c)]);
    let reply = out
        .iter()
        .find_map(|o| match o {
            Output::Reply(r) => Some(r.clone()),
            _ => None,
        })
        .expect("a command is answered");
    (reply, out)
}

/// `mgmctl take IFACE PROTO`: the outputs, or the refusal.
pub fn take(
    r: &mut Router,
    t: Instant,
    interface: &str,
    protocol: &str,
) -> Result<Vec<Output>, String> {
    let c = Command::Take {
        interface: interface.into(),
        protocol: protocol.into(),
    };
    let (reply, out) = command(r, t, c);
    reply.map(|_| out)
}

/// `mgmctl release IFACE PROTO`: the outputs, or the refusal.
pub fn release(
    r: &mut Router,
    t: Instant,
    interface: &str,
    protocol: &str,
) -> Result<Vec<Output>, String> {
    let c = Command::Release {
        interface: interface.into(),
        protocol: protocol.into(),
    };
    let (reply, out) = command(r, t, c);
    reply.map(|_| out)
}

pub fn show_routes(r: &mut Router, t: Instant) -> Vec<RouteView> {
    match command(r, t, Command::ShowRoutes).0 {
        Ok(Answer::Routes(v)) => v,
        other => panic!("{other:?}"),
    }
}

pub fn show_interfaces(r: &mut Router, t: Instant) -> Vec<InterfaceView> {
    match command(r, t, Command::ShowInterfaces).0 {
        Ok(Answer::Interfaces(v)) => v,
        other => panic!("{other:?}"),
    }
}

pub fn show_groups(r: &mut Router, t: Instant) -> Vec<GroupView> {
    match command(r, t, Command::ShowGroups).0 {
        Ok(Answer::Groups(v)) => v,
        other => panic!("{other:?}"),
    }
}

pub fn show_protocols(r: &mut Router, t: Instant) -> Vec<ProtocolView> {
    match command(r, t, Command::ShowProtocols).0 {
        Ok(Answer::Protocols(v)) => v,
        other => panic!("{other:?}"),
    }
}

/// The kernel's NOCACHE upcall for `flow` arriving on `arrival`, whose VIF
/// the router must have made (the kernel reports flows on VIFs only), with
/// the unicast route towards the source pointing out of `rpf`.
pub fn new_flow(r: &Router, flow: FlowKey, arrival: IfIndex, rpf: Option<IfIndex>) -> Input {
    Input::NewFlow {
        flow,
        vif: vif_of(r, arrival),
        rpf,
        upstream: None,
    }
}

/// The VIF the router made for `ifindex`.
pub fn vif_of(r: &Router, ifindex: IfIndex) -> VifIndex {
    (0..MAXVIFS)
        .filter_map(|v| u16::try_from(v).ok().map(VifIndex))
        .find(|v| r.ifindex_of_vif(*v) == Some(ifindex))
        .unwrap_or_else(|| panic!("interface {ifindex} has no VIF"))
}
