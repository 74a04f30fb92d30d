//! The views `mgmctl show` prints, built from the router's state. No
//! logic lives here beyond putting the state in the shape of the views.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Instant;

use super::Router;
use crate::core::igmp::{GroupStatus, IgmpRouter, IgmpStats, IgmpVersion, MsgCounters};
use crate::core::protocol::ProtoView;
use crate::core::status::{
    AttributionView, CountersView, GroupView, IGMP_DROP_REASONS, IGMP_MESSAGE_TYPES,
    IgmpCountersView, IgmpStateView, InterfaceCountersView, InterfaceStateView, InterfaceView,
    MetricsView, ProtocolView, QuerierView, RouteView, SourceView, Summary,
};
use crate::core::types::{GroupAddr, IfIndex};

impl Router {
    /// The state in three numbers (linear in entries and memberships).
    pub fn summary(&self) -> Summary {
        let mut groups: Vec<_> = self.mgm.groups_with_members().map(|k| k.group).collect();
        groups.dedup();
        Summary {
            flows_forwarding: self
                .mgm
                .mfes()
                .filter(|(_, m)| !m.oifs().is_empty())
                .count(),
            groups: groups.len(),
            interfaces_up: self.mgm.interfaces().filter(|(_, i)| i.up).count(),
        }
    }

    /// What the metrics endpoint exports of the router (read-only: no
    /// input, nothing recorded).
    pub fn metrics(&self, now: Instant) -> MetricsView {
        let interfaces = self
            .interface_names()
            .into_iter()
            .map(|name| {
                let link = self.ifaces.by_name(&name);
                let ifindex = link.map(|l| l.ifindex);
                InterfaceStateView {
                    up: link.is_some_and(|l| l.oper_up()),
                    owner: ifindex
                        .and_then(|i| self.routing_owner(i))
                        .map(|p| self.proto_name(p).to_owned()),
                    igmp_state: self.igmp_state_name(ifindex),
                    igmp: ifindex
                        .and_then(|i| self.igmp.get(&i))
                        .map(|r| igmp_state_view(r, now)),
                    interface: name,
                }
            })
            .collect();
        let (forwarding, empty) =
            self.mgm
                .mfes()
                .fold((0, 0), |(f, e), (_, m)| match m.oifs().is_empty() {
                    false => (f + 1, e),
                    true => (f, e + 1),
                });
        MetricsView {
            counters: self.counters_view(None),
            interfaces,
            entries_forwarding: forwarding,
            entries_drop: empty + self.flows.drop_count(),
        }
    }

    /// `show counters [IFACE]`.
    pub(super) fn show_all_counters(
        &self,
        interface: Option<&str>,
    ) -> Result<CountersView, String> {
        let view = self.counters_view(interface);
        match interface {
            Some(name) if view.interfaces.is_empty() => Err(format!(
                "interface {name} is not known to mgmd (configured and present)"
            )),
            _ => Ok(view),
        }
    }

    /// The router's counters and those of every interface it uses (with
    /// a VIF or IGMP), or of the one named.
    fn counters_view(&self, only: Option<&str>) -> CountersView {
        let mut used: BTreeSet<IfIndex> = self.mgm.interfaces().map(|(i, _)| i).collect();
        used.extend(self.igmp.keys().copied());
        let mut interfaces: Vec<InterfaceCountersView> = used
            .into_iter()
            .map(|ifindex| InterfaceCountersView {
                interface: self.ifname(ifindex),
                ifindex,
                vif: self.mroute.vif_of(ifindex),
                igmp: self
                    .igmp
                    .get(&ifindex)
                    .map(|r| igmp_counters_view(r.stats())),
            })
            .filter(|i| only.is_none_or(|name| i.interface == name))
            .collect();
        interfaces.sort_by(|a, b| a.interface.cmp(&b.interface));
        CountersView {
            router: self.counters,
            interfaces,
        }
    }

    /// "off", "enabled" or "disabled": IGMP's state on an interface.
    fn igmp_state_name(&self, ifindex: Option<IfIndex>) -> String {
        ifindex
            .and_then(|i| self.mgm.interface(i))
            .map(|m| format!("{:?}", m.igmp).to_lowercase())
            .unwrap_or_else(|| "off".into())
    }

    /// Every interface `show interfaces` lists: configured, owned by a
    /// protocol's configuration, or in use, in name order.
    fn interface_names(&self) -> BTreeSet<String> {
        let mut names: BTreeSet<String> =
            self.cfg.interfaces.iter().map(|i| i.name.clone()).collect();
        for p in &self.cfg.protocols {
            names.extend(p.owned_interfaces().iter().cloned());
        }
        for (_, i) in self.mgm.interfaces() {
            names.insert(i.name.clone());
        }
        names
    }

    pub(super) fn show_interfaces(&self, now: Instant) -> Vec<InterfaceView> {
        self.interface_names()
            .into_iter()
            .map(|name| {
                let link = self.ifaces.by_name(&name);
                let ifindex = link.map(|l| l.ifindex);
                let owner = ifindex
                    .and_then(|i| self.routing_owner(i))
                    .map(|p| self.proto_name(p).to_owned());
                InterfaceView {
                    state: match link {
                        None => "pending".into(),
                        Some(l) if l.oper_up() => "up".into(),
                        Some(_) => "down".into(),
                    },
                    owner,
                    igmp: self.igmp_state_name(ifindex),
                    vif: ifindex.and_then(|i| self.mroute.vif_of(i)),
                    addrs: link
                        .map(|l| l.addrs.iter().map(|a| a.to_string()).collect())
                        .unwrap_or_default(),
                    querier: ifindex
                        .and_then(|i| self.igmp.get(&i))
                        .map(|r| querier_view(r, now)),
                    ifindex,
                    name,
                }
            })
            .collect()
    }

    pub(super) fn show_groups(&self, now: Instant) -> Vec<GroupView> {
        let mut out = Vec::new();
        for (ifindex, r) in &self.igmp {
            let name = self.ifname(*ifindex);
            // One listing per interface, grouped by group address.
            let mut by_group: BTreeMap<GroupAddr, Vec<AttributionView>> = BTreeMap::new();
            for m in self.mgm.memberships_on(*ifindex) {
                by_group
                    .entry(m.key.group)
                    .or_default()
                    .push(AttributionView {
                        key: m.key,
                        added_by: self.component_name(m.by).to_owned(),
                        component: self.component_name(m.component).to_owned(),
                    });
            }
            for g in r.status(now).groups {
                let attributed = by_group.remove(&g.group).unwrap_or_default();
                out.push(GroupView {
                    interface: name.clone(),
                    ifindex: *ifindex,
                    group: g.group.addr(),
                    mode: group_mode(&g),
                    expires_s: g.expires.map(|d| d.as_secs_f64()),
                    sources: g
                        .sources
                        .iter()
                        .map(|s| SourceView {
                            source: s.source.into(),
                            expires_s: s.expires.map(|d| d.as_secs_f64()),
                            forwarding: s.forwarding,
                        })
                        .collect(),
                    attributed,
                });
            }
        }
        out
    }

    pub(super) fn show_routes(&self, now: Instant) -> Vec<RouteView> {
        let mut out: Vec<RouteView> = self
            .mgm
            .mfes()
            .map(|(flow, m)| {
                let info = self.flows.info(flow);
                let c = info.map(|i| i.counters).unwrap_or_default();
                RouteView {
                    source: flow.source,
                    group: flow.group.addr(),
                    iif: self.ifname(m.iif()),
                    oifs: m.oifs().iter().map(|i| self.ifname(*i)).collect(),
                    iif_owner: self
                        .routing_owner(m.iif())
                        .map(|p| self.proto_name(p).to_owned()),
                    upstream: m.upstream(),
                    packets: c.packets,
                    bytes: c.bytes,
                    wrong_if: c.wrong_if,
                    age_s: info.map(|i| secs_since(now, i.created)).unwrap_or(0.0),
                    idle_s: info.map(|i| secs_since(now, i.last_active)).unwrap_or(0.0),
                    installed: self.mroute.mfc_entry(flow).is_some(),
                    refused: false,
                }
            })
            .collect();
        for (flow, iif, info) in self.flows.drops() {
            out.push(RouteView {
                source: flow.source,
                group: flow.group.addr(),
                iif: self.ifname(iif),
                oifs: Vec::new(),
                iif_owner: None,
                upstream: None,
                packets: info.counters.packets,
                bytes: info.counters.bytes,
                wrong_if: info.counters.wrong_if,
                age_s: secs_since(now, info.created),
                idle_s: secs_since(now, info.last_active),
                installed: self.mroute.mfc_entry(flow).is_some(),
                refused: true,
            });
        }
        out.sort_by_key(|r| (r.group, r.source));
        out
    }

    pub(super) fn show_protocols(&self, now: Instant) -> Vec<ProtocolView> {
        self.protocols
            .iter()
            .map(|p| {
                let view = ProtoView::new(now, p.id, &self.ifaces, &self.mgm, &[]);
                ProtocolView {
                    name: p.proto.name().to_string(),
                    interfaces: self
                        .mgm
                        .interfaces()
                        .filter(|(_, i)| i.owner == Some(p.id))
                        .map(|(_, i)| i.name.clone())
                        .collect(),
                    detail: p.proto.status(&view),
                }
            })
            .collect()
    }
}

// ===== helper functions =====

fn querier_view(r: &IgmpRouter, now: Instant) -> QuerierView {
    let s = r.status(now);
    QuerierView {
        version: version_number(s.version),
        querier_enabled: r.config().querier,
        is_querier: s.is_querier,
        querier_addr: s.querier.map(IpAddr::V4),
        next_query_s: s.next_general_query.map(|d| d.as_secs_f64()),
        other_querier_expires_s: s.other_querier_expires.map(|d| d.as_secs_f64()),
        groups: s.groups.len(),
        counters: igmp_counters(r.stats()),
    }
}

fn igmp_state_view(r: &IgmpRouter, now: Instant) -> IgmpStateView {
    let s = r.status(now);
    let (forwarding, blocked) =
        s.groups
            .iter()
            .flat_map(|g| &g.sources)
            .fold((0, 0), |(f, b), src| match src.forwarding {
                true => (f + 1, b),
                false => (f, b + 1),
            });
    IgmpStateView {
        version: version_number(s.version),
        is_querier: s.is_querier,
        groups: s.groups.len(),
        sources_forwarding: forwarding,
        sources_blocked: blocked,
    }
}

/// The IGMP counters with every key, zeros too.
fn igmp_counters_view(s: &IgmpStats) -> IgmpCountersView {
    let by_type = |c: &MsgCounters| -> BTreeMap<String, u64> {
        let counts = [
            c.v1_query,
            c.v2_query,
            c.v3_query,
            c.v1_report,
            c.v2_report,
            c.v2_leave,
            c.v3_report,
        ];
        IGMP_MESSAGE_TYPES
            .iter()
            .zip(counts)
            .map(|(t, n)| ((*t).to_owned(), n))
            .collect()
    };
    let mut drops: BTreeMap<String, u64> = IGMP_DROP_REASONS
        .iter()
        .map(|r| ((*r).to_owned(), 0))
        .collect();
    // A reason not in the list yet is still shown.
    for (reason, n) in &s.drops {
        drops.insert((*reason).to_owned(), *n);
    }
    IgmpCountersView {
        rx: by_type(&s.rx),
        tx: by_type(&s.tx),
        queries_sent: [
            ("general", s.tx_general_queries),
            ("group", s.tx_group_queries),
            ("group_source", s.tx_group_source_queries),
        ]
        .into_iter()
        .map(|(k, n)| (k.to_owned(), n))
        .collect(),
        rx_records: s.rx_records,
        drops,
        refused_groups: s.refused_groups,
        refused_sources: s.refused_sources,
        older_version_queries: s.older_version_queries,
        newer_version_queries: s.newer_version_queries,
    }
}

/// Seconds from `then` to `now` (0 if `then` is later).
fn secs_since(now: Instant, then: Instant) -> f64 {
    now.saturating_duration_since(then).as_secs_f64()
}

fn version_number(v: IgmpVersion) -> u8 {
    match v {
        IgmpVersion::V1 => 1,
        IgmpVersion::V2 => 2,
        IgmpVersion::V3 => 3,
    }
}

/// "include"/"exclude" for IGMPv3 groups, "v1"/"v2" for groups in an
/// older compatibility mode.
fn group_mode(g: &GroupStatus) -> String {
    match g.compat {
        IgmpVersion::V3 => format!("{:?}", g.mode).to_lowercase(),
        v => format!("v{}", version_number(v)),
    }
}

/// Flatten the IGMP counters into "rx_v2_report" style names.
fn igmp_counters(s: &IgmpStats) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for (dir, c) in [("rx", &s.rx), ("tx", &s.tx)] {
        for (name, v) in [
            ("v1_query", c.v1_query),
            ("v2_query", c.v2_query),
            ("v3_query", c.v3_query),
            ("v1_report", c.v1_report),
            ("v2_report", c.v2_report),
            ("v2_leave", c.v2_leave),
            ("v3_report", c.v3_report),
        ] {
            m.insert(format!("{dir}_{name}"), v);
        }
    }
    m.insert("rx_records".into(), s.rx_records);
    m.insert("tx_general_queries".into(), s.tx_general_queries);
    m.insert("tx_group_queries".into(), s.tx_group_queries);
    m.insert("tx_group_source_queries".into(), s.tx_group_source_queries);
    m.insert("refused_groups".into(), s.refused_groups);
    m.insert("refused_sources".into(), s.refused_sources);
    m.insert("older_version_queries".into(), s.older_version_queries);
    m.insert("newer_version_queries".into(), s.newer_version_queries);
    m.insert("input_drops".into(), s.input_drops);
    m.insert("tx_recovery_queries".into(), s.tx_recovery_queries);
    for (reason, v) in &s.drops {
        m.insert(format!("drop_{reason}"), *v);
    }
    m
}
