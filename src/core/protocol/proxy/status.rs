//! What `mgmctl show protocols` shows of the proxy: the upstream in use,
//! the candidates and downstream interfaces as they stand now, what is
//! reported upstream, and its counters.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{ProxyConfig, ProxyCounters};
use crate::core::filter::HostFilter;
use crate::core::protocol::{IfaceStatus, ProtoView};
use crate::core::types::{GroupAddr, IfIndex};

#[derive(Serialize)]
struct ProxyStatus<'a> {
    upstream: Option<String>,
    candidates: Vec<IfaceStatus>,
    downstream: Vec<IfaceStatus>,
    /// What is reported upstream (when there is an upstream), by group.
    membership: &'a BTreeMap<GroupAddr, HostFilter>,
    counters: ProxyCounters,
}

pub(super) fn view(
    cfg: &ProxyConfig,
    upstream: Option<IfIndex>,
    merged: &BTreeMap<GroupAddr, HostFilter>,
    counters: &ProxyCounters,
    view: &ProtoView<'_>,
) -> serde_json::Value {
    let status = ProxyStatus {
        upstream: upstream.and_then(|i| view.link(i)).map(|l| l.name.clone()),
        candidates: cfg
            .upstream
            .iter()
            .map(|n| IfaceStatus::of(view, n))
            .collect(),
        downstream: cfg
            .downstream
            .iter()
            .map(|n| IfaceStatus::of(view, n))
            .collect(),
        membership: merged,
        counters: *counters,
    };
    serde_json::to_value(status).unwrap_or_default()
}
