//! What `mgmctl show protocols` shows of the proxy: the upstream in use,
//! the candidates and downstream interfaces as they stand now, what is
//! reported upstream, and its counters.

use std::collections::BTreeMap;

use super::{ProxyConfig, ProxyCounters};
use crate::core::filter::HostFilter;
use crate::core::protocol::{Cell, ProtoStatus, ProtoView, StatusTable};
use crate::core::types::{GroupAddr, IfIndex};

pub(super) fn view(
    cfg: &ProxyConfig,
    upstream: Option<IfIndex>,
    merged: &BTreeMap<GroupAddr, HostFilter>,
    counters: &ProxyCounters,
    view: &ProtoView<'_>,
) -> ProtoStatus {
    let upstream = upstream.and_then(|i| view.link(i));
    ProtoStatus::new()
        .value(
            "upstream",
            Cell::opt(upstream, |l| Cell::Interface(l.name.clone())),
        )
        .table("candidates", StatusTable::links(view, &cfg.upstream))
        .table("downstream", StatusTable::links(view, &cfg.downstream))
        // What is reported upstream (when there is an upstream), by group.
        .block(
            "membership",
            merged
                .iter()
                .map(|(g, f)| (g.to_string(), Cell::Filter(f.clone())))
                .collect(),
        )
        .counts("counters", counters.by_name())
}
