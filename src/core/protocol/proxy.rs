//! The IGMP proxy (RFC 4605, IPv4): receivers on the downstream interfaces
//! join groups with IGMP; the proxy joins the merged set upstream, as a
//! host, and the traffic that arrives on the upstream is forwarded down.
//!
//! # Upstream
//!
//! The proxy owns every configured upstream interface. The one in use is
//! the first, in configuration order, that exists, is operationally up and
//! is owned by the proxy; when it goes down or vanishes the next one takes
//! over, and the preferred one takes over again when it returns. On a
//! change the flows of the old and the new upstream are flushed (so they
//! are decided again; the new one's may have been refused while it was a
//! standby) and the host memberships move: withdrawn on the old upstream,
//! wished on the new. An upstream that changed owner in the same operation
//! is not flushed: the router's ownership sequence has just decided its
//! flows again, with the new owner's RPF answer, and flushing them would
//! make the kernel drop and re-learn a flow that keeps flowing.
//!
//! # Merged membership (RFC 4605 4.1, with the RFC 3376 3.2 merging rules)
//!
//! Per group, over the memberships the manager holds on the downstream
//! interfaces: an interface with (*,G) is in EXCLUDE mode, its exclude list
//! being its (S,G) blocks ([`SourceSel::Except`]); one without is in INCLUDE
//! mode with its (S,G) sources. If any interface is in EXCLUDE mode the
//! result is `Exclude(intersection of the exclude lists - every included
//! source)`, else `Include(union of the sources)`. Link-local groups
//! (224.0.0.0/24) are never proxied; a group must pass both
//! `upstream-*-groups` and `downstream-*-groups`.
//!
//! The merge is recomputed at a [`ProtoEvent::Commit`] when the manager's
//! memberships changed since the last one (most commits, such as timers
//! and reports that only refresh a membership, skip it), and only groups
//! whose result changed are sent, so a flush and re-add of the same
//! memberships inside one operation (an ownership change of a downstream
//! interface) sends nothing upstream.
//!
//! # RPF
//!
//! A flow arriving on an upstream candidate (or whose kernel RPF interface
//! is one) is accepted only on the upstream in use (as ownership and link
//! state are now, not as they were at the last commit, so that flows
//! decided inside an ownership sequence get the answer they will keep), only from a legal
//! source and only for a group that passes both filters; otherwise it is
//! refused (installed as a drop entry) and counted by reason. Any other
//! flow gets the kernel's RPF answer unchanged.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use serde::Serialize;

use super::{
    HostFilter, HostWishes, IfaceStatus, ProtoAction, ProtoCtx, ProtoEvent, RoutingProtocol, bump,
    filter_json, host_wish_changes, is_owned,
};
use crate::config::{PROXY, ProxyConfig};
use crate::core::mgm::MembershipFlags;
use crate::core::types::{FlowKey, GroupAddr, IfIndex, MembershipKey, SourceSel};

// ===== Proxy =====

/// The IGMP proxy. See the module documentation.
#[derive(Debug)]
pub struct Proxy {
    cfg: ProxyConfig,
    /// The upstream in use since the last commit.
    upstream: Option<IfIndex>,
    /// The merged downstream membership at the last commit (what is
    /// wished on `upstream`, if any).
    merged: BTreeMap<GroupAddr, HostFilter>,
    /// The manager's membership generation `merged` was computed at: a
    /// commit with no membership change since skips the merge.
    merged_at: Option<u64>,
    /// Interfaces taken or released since the last commit: their flows
    /// were decided again by the router's ownership sequence.
    moved: BTreeSet<IfIndex>,
    counters: ProxyCounters,
}

/// What the proxy counts. `rpf` only has `&self`, hence the cells.
#[derive(Debug, Default)]
struct ProxyCounters {
    flows_accepted: Cell<u64>,
    refused_illegal_source: Cell<u64>,
    refused_group_filtered: Cell<u64>,
    refused_standby_upstream: Cell<u64>,
    /// Changes of the upstream in use (including to and from none).
    upstream_changes: u64,
}

impl Proxy {
    pub fn new(cfg: ProxyConfig) -> Self {
        Proxy {
            cfg,
            upstream: None,
            merged: BTreeMap::new(),
            merged_at: None,
            moved: BTreeSet::new(),
            counters: ProxyCounters::default(),
        }
    }

    /// The upstream in use since the last commit.
    pub fn upstream(&self) -> Option<IfIndex> {
        self.upstream
    }

    /// Whether the proxy acts on `group` at all.
    fn group_permitted(&self, group: GroupAddr) -> bool {
        !group.is_link_local()
            && self.cfg.upstream_groups.permits(group)
            && self.cfg.downstream_groups.permits(group)
    }

    /// Whether `ifindex` is one of the configured upstream interfaces.
    fn is_candidate(&self, ctx: &ProtoCtx<'_>, ifindex: IfIndex) -> bool {
        ctx.ifaces
            .get(ifindex)
            .is_some_and(|l| self.cfg.upstream.contains(&l.name))
    }

    /// The first configured upstream that exists, is up and is ours.
    fn select_upstream(&self, ctx: &ProtoCtx<'_>) -> Option<IfIndex> {
        self.cfg.upstream.iter().find_map(|name| {
            let link = ctx.ifaces.by_name(name)?;
            (link.oper_up() && is_owned(ctx, link.ifindex)).then_some(link.ifindex)
        })
    }

    /// The merged membership of the downstream interfaces, by group.
    fn merge_downstream(&self, ctx: &ProtoCtx<'_>) -> BTreeMap<GroupAddr, HostFilter> {
        let mut per_group: BTreeMap<GroupAddr, Vec<IfaceGroup>> = BTreeMap::new();
        for name in &self.cfg.downstream {
            let Some(link) = ctx.ifaces.by_name(name) else {
                continue;
            };
            let mut here: BTreeMap<GroupAddr, IfaceGroup> = BTreeMap::new();
            for m in ctx.mgm.memberships_on(link.ifindex) {
                if !self.group_permitted(m.key.group) {
                    continue;
                }
                let g = here.entry(m.key.group).or_default();
                match m.key.source {
                    SourceSel::Any => g.exclude_mode = true,
                    SourceSel::Only(s) => {
                        g.include.insert(s);
                    }
                    SourceSel::Except(s) => {
                        g.blocked.insert(s);
                    }
                }
            }
            for (group, g) in here {
                per_group.entry(group).or_default().push(g);
            }
        }
        per_group
            .into_iter()
            .filter_map(|(group, ifaces)| merge(&ifaces).map(|f| (group, f)))
            .collect()
    }

    fn wishes(upstream: Option<IfIndex>, merged: &BTreeMap<GroupAddr, HostFilter>) -> HostWishes {
        let Some(up) = upstream else {
            return HostWishes::new();
        };
        merged.iter().map(|(&g, f)| ((up, g), f.clone())).collect()
    }

    /// RFC 4605 4.2: what a downstream sender sends also goes upstream.
    /// Adds `upstream` to the entry of `flow` when it comes in on a
    /// downstream interface.
    fn forward_upstream(
        &self,
        ctx: &ProtoCtx<'_>,
        flow: FlowKey,
        iif: IfIndex,
        upstream: Option<IfIndex>,
    ) -> Vec<ProtoAction> {
        let Some(up) = upstream.filter(|u| *u != iif) else {
            return Vec::new();
        };
        let downstream = ctx
            .ifaces
            .get(iif)
            .is_some_and(|l| self.cfg.downstream.contains(&l.name));
        if !downstream || !self.group_permitted(flow.group) {
            return Vec::new();
        }
        vec![ProtoAction::AddMembership {
            key: MembershipKey::only(flow.source, flow.group),
            ifindex: up,
            flags: MembershipFlags::FORWARD,
        }]
    }

    fn commit(&mut self, ctx: &ProtoCtx<'_>) -> Vec<ProtoAction> {
        let upstream = self.select_upstream(ctx);
        // The merge depends only on the downstream memberships (a link
        // that comes or goes changes them too): most commits (timers,
        // refreshing reports, upcalls) find them unchanged.
        let generation = ctx.mgm.membership_generation();
        let merged = if self.merged_at == Some(generation) {
            debug_assert_eq!(
                self.merge_downstream(ctx),
                self.merged,
                "the downstream memberships changed without a new generation"
            );
            None
        } else {
            Some(self.merge_downstream(ctx))
        };
        let mut actions = Vec::new();
        // A new upstream, or one just taken (which clears the manager's
        // forward-only adds on it): downstream senders' flows go up again.
        if upstream.is_some_and(|u| upstream != self.upstream || self.moved.contains(&u)) {
            let flows: Vec<(FlowKey, IfIndex)> =
                ctx.mgm.mfes().map(|(f, m)| (*f, m.iif())).collect();
            for (flow, iif) in flows {
                actions.extend(self.forward_upstream(ctx, flow, iif, upstream));
            }
        }
        if upstream != self.upstream {
            self.counters.upstream_changes += 1;
            let name = |i: Option<IfIndex>| {
                i.and_then(|i| ctx.ifaces.get(i))
                    .map_or_else(|| "none".to_owned(), |l| l.name.clone())
            };
            tracing::info!(
                target: "proto",
                old = %name(self.upstream),
                new = %name(upstream),
                "proxy upstream changed"
            );
            for iif in [self.upstream, upstream].into_iter().flatten() {
                if !self.moved.contains(&iif) {
                    actions.push(ProtoAction::FlushFlows { iif });
                }
            }
        }
        let merged_changed = merged.as_ref().is_some_and(|m| *m != self.merged);
        if upstream != self.upstream || merged_changed {
            let new_merged = merged.as_ref().unwrap_or(&self.merged);
            let old = Self::wishes(self.upstream, &self.merged);
            let new = Self::wishes(upstream, new_merged);
            actions.extend(host_wish_changes(&old, &new));
        }
        if let Some(m) = merged {
            self.merged = m;
        }
        self.merged_at = Some(generation);
        self.upstream = upstream;
        self.moved.clear();
        actions
    }
}

impl RoutingProtocol for Proxy {
    fn name(&self) -> &'static str {
        PROXY
    }

    fn configured_interfaces(&self) -> BTreeSet<String> {
        self.cfg.upstream.iter().cloned().collect()
    }

    fn handle(&mut self, ctx: &ProtoCtx<'_>, ev: ProtoEvent) -> Vec<ProtoAction> {
        match ev {
            ProtoEvent::Commit => self.commit(ctx),
            ProtoEvent::FlowSeen { flow, iif } => {
                self.forward_upstream(ctx, flow, iif, self.upstream)
            }
            ProtoEvent::InterfaceTaken { ifindex } | ProtoEvent::InterfaceReleased { ifindex } => {
                self.moved.insert(ifindex);
                Vec::new()
            }
            // Everything is derived from the manager's state at commit:
            // the upstream from ownership and link state, the membership
            // from the downstream interfaces' entries.
            ProtoEvent::Started
            | ProtoEvent::InterfaceChanged { .. }
            | ProtoEvent::JoinAlert { .. }
            | ProtoEvent::PruneAlert { .. }
            | ProtoEvent::LocalJoin { .. }
            | ProtoEvent::LocalLeave { .. }
            | ProtoEvent::FlowCreated { .. }
            | ProtoEvent::IgmpRx { .. }
            | ProtoEvent::Timer => Vec::new(),
        }
    }

    fn rpf(
        &self,
        ctx: &ProtoCtx<'_>,
        flow: FlowKey,
        arrival: IfIndex,
        rpf: Option<IfIndex>,
    ) -> Option<IfIndex> {
        let answer = if self.is_candidate(ctx, arrival) {
            Some(arrival)
        } else {
            rpf
        };
        let Some(iif) = answer.filter(|&i| self.is_candidate(ctx, i)) else {
            return answer;
        };
        if Some(iif) != self.select_upstream(ctx) {
            bump(&self.counters.refused_standby_upstream);
            None
        } else if !self.group_permitted(flow.group) {
            bump(&self.counters.refused_group_filtered);
            None
        } else if !self.cfg.is_legal_source(flow.source) {
            bump(&self.counters.refused_illegal_source);
            None
        } else {
            bump(&self.counters.flows_accepted);
            Some(iif)
        }
    }

    fn status(&self, ctx: &ProtoCtx<'_>) -> serde_json::Value {
        let upstream = self
            .upstream
            .and_then(|i| ctx.ifaces.get(i))
            .map(|l| l.name.clone());
        let status = ProxyStatus {
            upstream,
            candidates: self
                .cfg
                .upstream
                .iter()
                .map(|n| IfaceStatus::of(ctx, n))
                .collect(),
            downstream: self
                .cfg
                .downstream
                .iter()
                .map(|n| IfaceStatus::of(ctx, n))
                .collect(),
            membership: self
                .merged
                .iter()
                .map(|(g, f)| (g.to_string(), filter_json(f)))
                .collect(),
            counters: CountersStatus {
                flows_accepted: self.counters.flows_accepted.get(),
                refused_illegal_source: self.counters.refused_illegal_source.get(),
                refused_group_filtered: self.counters.refused_group_filtered.get(),
                refused_standby_upstream: self.counters.refused_standby_upstream.get(),
                upstream_changes: self.counters.upstream_changes,
            },
        };
        serde_json::to_value(status).unwrap_or_default()
    }
}

// ===== status =====

#[derive(Serialize)]
struct ProxyStatus {
    upstream: Option<String>,
    candidates: Vec<IfaceStatus>,
    downstream: Vec<IfaceStatus>,
    /// What is reported upstream (when there is an upstream), by group.
    membership: BTreeMap<String, serde_json::Value>,
    counters: CountersStatus,
}

#[derive(Serialize)]
struct CountersStatus {
    flows_accepted: u64,
    refused_illegal_source: u64,
    refused_group_filtered: u64,
    refused_standby_upstream: u64,
    upstream_changes: u64,
}

// ===== helper functions =====

/// One downstream interface's state for one group.
#[derive(Debug, Default)]
struct IfaceGroup {
    /// (*,G) present: EXCLUDE mode.
    exclude_mode: bool,
    /// (S,G) wanted.
    include: BTreeSet<Ipv4Addr>,
    /// (S,G) blocked (meaningful in EXCLUDE mode only).
    blocked: BTreeSet<Ipv4Addr>,
}

/// RFC 3376 3.2 merging of the interfaces' states for one group; `None` =
/// nobody wants it.
fn merge(ifaces: &[IfaceGroup]) -> Option<HostFilter> {
    let included: BTreeSet<Ipv4Addr> = ifaces
        .iter()
        .flat_map(|g| g.include.iter().copied())
        .collect();
    let mut excluded: Option<BTreeSet<Ipv4Addr>> = None;
    for g in ifaces.iter().filter(|g| g.exclude_mode) {
        excluded = Some(match excluded {
            None => g.blocked.clone(),
            Some(x) => x.intersection(&g.blocked).copied().collect(),
        });
    }
    match excluded {
        Some(x) => Some(HostFilter::Exclude(
            x.difference(&included).copied().collect(),
        )),
        None if included.is_empty() => None,
        None => Some(HostFilter::Include(included)),
    }
}

// ===== tests =====

#[cfg(test)]
mod tests {
    use super::*;

    fn a(last: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 0, 0, last)
    }

    fn iface(exclude_mode: bool, include: &[u8], blocked: &[u8]) -> IfaceGroup {
        IfaceGroup {
            exclude_mode,
            include: include.iter().map(|&l| a(l)).collect(),
            blocked: blocked.iter().map(|&l| a(l)).collect(),
        }
    }

    fn set(l: &[u8]) -> BTreeSet<Ipv4Addr> {
        l.iter().map(|&l| a(l)).collect()
    }

    #[test]
    fn include_and_include_is_the_union() {
        let m = merge(&[iface(false, &[1, 2], &[]), iface(false, &[2, 3], &[])]);
        assert_eq!(m, Some(HostFilter::Include(set(&[1, 2, 3]))));
    }

    #[test]
    fn exclude_and_include_removes_included_sources() {
        let m = merge(&[iface(true, &[], &[1, 2, 3]), iface(false, &[2], &[])]);
        assert_eq!(m, Some(HostFilter::Exclude(set(&[1, 3]))));
    }

    #[test]
    fn exclude_and_exclude_is_the_intersection() {
        let m = merge(&[
            iface(true, &[], &[1, 2, 3]),
            iface(true, &[], &[2, 3, 4]),
            iface(false, &[3], &[]),
        ]);
        assert_eq!(m, Some(HostFilter::Exclude(set(&[2]))));
        let m = merge(&[iface(true, &[], &[1]), iface(true, &[], &[])]);
        assert_eq!(m, Some(HostFilter::Exclude(set(&[]))));
    }

    #[test]
    fn blocks_without_any_source_mean_nothing() {
        assert_eq!(merge(&[iface(false, &[], &[1])]), None);
        assert_eq!(merge(&[]), None);
    }
}
