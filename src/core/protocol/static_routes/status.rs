//! What `mgmctl show protocols` shows of the static protocol: its
//! interfaces, routes and joins as they stand now, and its counters.

use super::{StaticConfig, StaticCounters};
use crate::core::protocol::status::LinkState;
use crate::core::protocol::{Cell, HostWishes, ProtoStatus, ProtoView, StatusTable};
use std::net::IpAddr;

pub(super) fn view(
    cfg: &StaticConfig,
    wished: &HostWishes,
    counters: &StaticCounters,
    view: &ProtoView<'_>,
) -> ProtoStatus {
    let link = |name: &str| Cell::Link(LinkState::of(view, name));
    let routes = cfg.routes.iter().fold(
        StatusTable::new(&["source", "group", "inbound", "outbound", "with_members"]),
        |t, r| {
            t.row(vec![
                Cell::opt(r.source, |s| Cell::Text(s.to_string())),
                Cell::Text(r.group.to_string()),
                link(&r.inbound),
                Cell::List(r.outbound.iter().map(|o| link(&o.name)).collect()),
                Cell::List(
                    r.outbound
                        .iter()
                        .filter(|o| o.only_with_members)
                        .map(|o| Cell::Interface(o.name.clone()))
                        .collect(),
                ),
            ])
        },
    );
    let joins = cfg.joins.iter().fold(
        StatusTable::new(&["interface", "group", "source", "joined", "filter"]),
        |t, j| {
            let wish = view
                .owned_named(&j.interface)
                .and_then(|i| wished.get(&(i, j.group)));
            t.row(vec![
                Cell::Interface(j.interface.clone()),
                Cell::Group(j.group),
                Cell::opt(j.source.map(IpAddr::V4), Cell::Address),
                Cell::Flag(wish.is_some()),
                Cell::opt(wish.cloned(), Cell::Filter),
            ])
        },
    );
    ProtoStatus::new()
        .table("interfaces", StatusTable::links(view, &cfg.interfaces))
        .table("routes", routes)
        .table("joins", joins)
        .counts("counters", counters.by_name())
}
