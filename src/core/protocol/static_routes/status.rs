//! What `mgmctl show protocols` shows of the static protocol: its
//! interfaces, routes and joins as they stand now, and its counters.

use serde::Serialize;

use super::{StaticConfig, StaticCounters};
use crate::core::filter::HostFilter;
use crate::core::protocol::{HostWishes, IfaceStatus, ProtoView};

#[derive(Serialize)]
struct StaticStatus {
    interfaces: Vec<IfaceStatus>,
    routes: Vec<RouteStatus>,
    joins: Vec<JoinStatus>,
    counters: StaticCounters,
}

#[derive(Serialize)]
struct RouteStatus {
    source: Option<String>,
    group: String,
    inbound: IfaceStatus,
    outbound: Vec<OutboundStatus>,
}

#[derive(Serialize)]
struct OutboundStatus {
    #[serde(flatten)]
    interface: IfaceStatus,
    only_with_members: bool,
}

#[derive(Serialize)]
struct JoinStatus {
    interface: String,
    group: String,
    source: Option<String>,
    joined: bool,
    filter: Option<HostFilter>,
}

pub(super) fn view(
    cfg: &StaticConfig,
    wished: &HostWishes,
    counters: &StaticCounters,
    view: &ProtoView<'_>,
) -> serde_json::Value {
    let iface = |name: &str| IfaceStatus::of(view, name);
    let status = StaticStatus {
        interfaces: cfg.interfaces.iter().map(|n| iface(n)).collect(),
        routes: cfg
            .routes
            .iter()
            .map(|r| RouteStatus {
                source: r.source.map(|n| n.to_string()),
                group: r.group.to_string(),
                inbound: iface(&r.inbound),
                outbound: r
                    .outbound
                    .iter()
                    .map(|o| OutboundStatus {
                        interface: iface(&o.name),
                        only_with_members: o.only_with_members,
                    })
                    .collect(),
            })
            .collect(),
        joins: cfg
            .joins
            .iter()
            .map(|j| {
                let wish = view
                    .owned_named(&j.interface)
                    .and_then(|i| wished.get(&(i, j.group)));
                JoinStatus {
                    interface: j.interface.clone(),
                    group: j.group.to_string(),
                    source: j.source.map(|s| s.to_string()),
                    joined: wish.is_some(),
                    filter: wish.cloned(),
                }
            })
            .collect(),
        counters: *counters,
    };
    serde_json::to_value(status).unwrap_or_default()
}
