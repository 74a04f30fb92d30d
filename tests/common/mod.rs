//! Helpers shared by the router-level integration tests.
#![allow(dead_code)]

use std::net::Ipv4Addr;

use mgmd::core::iface::{AddrFact, LinkFact};
use mgmd::core::igmp::{GroupRecord, IgmpPacket, RecordType};
use mgmd::core::mroute::MrtAction;
use mgmd::core::protocol::HostFilter;
use mgmd::core::router::{Input, Output};
use mgmd::core::types::{FlowKey, GroupAddr, IfIndex};

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
        source: Ipv4Addr::new(10, 0, 1, 2),
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
    join_group(ifindex, group().addr())
}

/// The receiver 10.0.2.2 joining `group` (IGMPv3, any source) on `ifindex`.
pub fn join_group(ifindex: IfIndex, group: Ipv4Addr) -> Input {
    Input::IgmpRx {
        ifindex,
        src: Ipv4Addr::new(10, 0, 2, 2),
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
