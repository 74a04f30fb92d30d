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
//! The merge is recomputed at a [`ProtoEvent::Commit`] for the groups
//! whose memberships changed during the operation (most commits, such as
//! timers and reports that only refresh a membership, have none), so a
//! join or leave costs the same whatever the number of groups; and only
//! groups whose result changed are sent, so a flush and re-add of the same
//! memberships inside one operation (an ownership change of a downstream
//! interface) sends nothing upstream. The merge itself is the one of
//! [`crate::core::filter::merge`], over each downstream interface's
//! filter for the group.
//!
//! # RPF ([`ProtoEvent::RpfQuery`], answered at once)
//!
//! A flow arriving on an upstream candidate (or whose kernel RPF interface
//! is one) is accepted only on the upstream in use (as ownership and link
//! state are now, not as they were at the last commit, so that flows
//! decided inside an ownership sequence get the answer they will keep), only from a legal
//! source and only for a group that passes both filters; otherwise it is
//! refused (installed as a drop entry) and counted by reason. Any other
//! flow gets the kernel's RPF answer unchanged.

mod config;
mod status;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

pub use self::config::{KIND, NAME, ProxyConfig};

use super::{
    NoteValue, ProtoAction, ProtoEvent, ProtoNote, ProtoStatus, ProtoView, RoutingProtocol,
};
use crate::core::filter::{self, HostFilter};
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
    /// wished on `upstream`, if any), by group.
    merged: BTreeMap<GroupAddr, HostFilter>,
    /// Every group must be merged again at the next commit (at start).
    merge_all: bool,
    /// Interfaces taken or released since the last commit: their flows
    /// were decided again by the router's ownership sequence.
    moved: BTreeSet<IfIndex>,
    counters: ProxyCounters,
}

/// What the proxy counts.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ProxyCounters {
    pub flows_accepted: u64,
    pub refused_illegal_source: u64,
    pub refused_group_filtered: u64,
    pub refused_standby_upstream: u64,
    /// Changes of the upstream in use (including to and from none).
    pub upstream_changes: u64,
}

impl ProxyCounters {
    /// The counters by name, for the status.
    fn by_name(&self) -> [(&'static str, u64); 5] {
        [
            ("flows_accepted", self.flows_accepted),
            ("refused_illegal_source", self.refused_illegal_source),
            ("refused_group_filtered", self.refused_group_filtered),
            ("refused_standby_upstream", self.refused_standby_upstream),
            ("upstream_changes", self.upstream_changes),
        ]
    }
}

impl Proxy {
    pub fn new(cfg: ProxyConfig) -> Self {
        Proxy {
            cfg,
            upstream: None,
            merged: BTreeMap::new(),
            merge_all: true,
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
    fn is_candidate(&self, view: &ProtoView<'_>, ifindex: IfIndex) -> bool {
        view.link(ifindex)
            .is_some_and(|l| self.cfg.upstream.contains(&l.name))
    }

    /// The first configured upstream that exists, is up and is ours.
    fn select_upstream(&self, view: &ProtoView<'_>) -> Option<IfIndex> {
        self.cfg.upstream.iter().find_map(|name| {
            let link = view.link_named(name)?;
            (link.oper_up() && view.owns(link.ifindex)).then_some(link.ifindex)
        })
    }

    /// The downstream interfaces that exist.
    fn downstreams(&self, view: &ProtoView<'_>) -> Vec<IfIndex> {
        self.cfg
            .downstream
            .iter()
            .filter_map(|name| view.link_named(name).map(|l| l.ifindex))
            .collect()
    }

    /// The merged membership of the downstream interfaces for `group`.
    fn merge_group(
        &self,
        view: &ProtoView<'_>,
        downstreams: &[IfIndex],
        group: GroupAddr,
    ) -> Option<HostFilter> {
        if !self.group_permitted(group) {
            return None;
        }
        let filters: Vec<HostFilter> = downstreams
            .iter()
            .filter_map(|&i| iface_filter(view.memberships_of(i, group)))
            .collect();
        filter::merge(&filters)
    }

    /// The merged membership of every group held downstream.
    fn merge_all(
        &self,
        view: &ProtoView<'_>,
        downstreams: &[IfIndex],
    ) -> BTreeMap<GroupAddr, HostFilter> {
        let mut groups: BTreeSet<GroupAddr> = BTreeSet::new();
        for &i in downstreams {
            groups.extend(view.memberships_on(i).into_iter().map(|k| k.group));
        }
        groups
            .into_iter()
            .filter_map(|g| self.merge_group(view, downstreams, g).map(|f| (g, f)))
            .collect()
    }

    /// RFC 4605 4.2: what a downstream sender sends also goes upstream.
    /// Adds `upstream` to the entry of `flow` when it comes in on a
    /// downstream interface.
    fn forward_upstream(
        &self,
        view: &ProtoView<'_>,
        flow: FlowKey,
        iif: IfIndex,
        upstream: Option<IfIndex>,
    ) -> Vec<ProtoAction> {
        let Some(up) = upstream.filter(|u| *u != iif) else {
            return Vec::new();
        };
        let downstream = view
            .link(iif)
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

    /// The RPF answer (module documentation).
    fn rpf(
        &mut self,
        view: &ProtoView<'_>,
        flow: FlowKey,
        arrival: IfIndex,
        rpf: Option<IfIndex>,
    ) -> Option<IfIndex> {
        let answer = if self.is_candidate(view, arrival) {
            Some(arrival)
        } else {
            rpf
        };
        let Some(iif) = answer.filter(|&i| self.is_candidate(view, i)) else {
            return answer;
        };
        let (counter, answer) = if Some(iif) != self.select_upstream(view) {
            (&mut self.counters.refused_standby_upstream, None)
        } else if !self.group_permitted(flow.group) {
            (&mut self.counters.refused_group_filtered, None)
        } else if !self.cfg.is_legal_source(flow.source) {
            (&mut self.counters.refused_illegal_source, None)
        } else {
            (&mut self.counters.flows_accepted, Some(iif))
        };
        *counter += 1;
        answer
    }

    fn commit(&mut self, view: &ProtoView<'_>) -> Vec<ProtoAction> {
        let upstream = self.select_upstream(view);
        let downstreams = self.downstreams(view);
        // Only the groups whose memberships changed are merged again (a
        // link that comes or goes changes its memberships too).
        let mut changed: BTreeMap<GroupAddr, Option<HostFilter>> = BTreeMap::new();
        if std::mem::take(&mut self.merge_all) {
            let all = self.merge_all(view, &downstreams);
            for g in self.merged.keys().chain(all.keys()) {
                changed.insert(*g, all.get(g).cloned());
            }
        } else {
            for &g in view.changed_groups() {
                changed.insert(g, self.merge_group(view, &downstreams, g));
            }
        }
        changed.retain(|g, f| self.merged.get(g) != f.as_ref());

        let mut actions = Vec::new();
        // A new upstream, or one just taken (which clears the manager's
        // forward-only adds on it): downstream senders' flows go up again.
        if upstream.is_some_and(|u| upstream != self.upstream || self.moved.contains(&u)) {
            let flows: Vec<(FlowKey, IfIndex)> = view.flows().collect();
            for (flow, iif) in flows {
                actions.extend(self.forward_upstream(view, flow, iif, upstream));
            }
        }
        let moved_upstream = upstream != self.upstream;
        if moved_upstream {
            self.counters.upstream_changes += 1;
            let note = ProtoNote::new("upstream-changed", "upstream {old} -> {new}")
                .with("old", NoteValue::Interface(self.upstream))
                .with("new", NoteValue::Interface(upstream));
            actions.push(ProtoAction::Note(note));
            for iif in [self.upstream, upstream].into_iter().flatten() {
                if !self.moved.contains(&iif) {
                    actions.push(ProtoAction::FlushFlows { iif });
                }
            }
        }
        // The host memberships: withdrawals first, then new or changed
        // wishes, each in (interface, group) order.
        let mut withdraw: Vec<(IfIndex, GroupAddr)> = Vec::new();
        let mut wish: Vec<(IfIndex, GroupAddr, HostFilter)> = Vec::new();
        if moved_upstream {
            if let Some(old) = self.upstream {
                withdraw.extend(self.merged.keys().map(|&g| (old, g)));
            }
        }
        for (g, f) in &changed {
            match f {
                Some(f) => {
                    self.merged.insert(*g, f.clone());
                }
                None => {
                    self.merged.remove(g);
                    if let (Some(up), false) = (self.upstream, moved_upstream) {
                        withdraw.push((up, *g));
                    }
                }
            }
        }
        if let Some(up) = upstream {
            if moved_upstream {
                wish.extend(self.merged.iter().map(|(&g, f)| (up, g, f.clone())));
            } else {
                wish.extend(
                    changed
                        .iter()
                        .filter_map(|(&g, f)| f.as_ref().map(|f| (up, g, f.clone()))),
                );
            }
        }
        withdraw.sort_unstable();
        wish.sort_unstable_by_key(|(i, g, _)| (*i, *g));
        actions.extend(
            withdraw
                .into_iter()
                .map(|(ifindex, group)| ProtoAction::HostMembership {
                    ifindex,
                    group,
                    filter: HostFilter::none(),
                }),
        );
        actions.extend(wish.into_iter().map(|(ifindex, group, filter)| {
            ProtoAction::HostMembership {
                ifindex,
                group,
                filter,
            }
        }));
        debug_assert_eq!(
            self.merge_all(view, &downstreams),
            self.merged,
            "a downstream membership changed without its group being marked"
        );
        self.upstream = upstream;
        self.moved.clear();
        actions
    }
}

impl RoutingProtocol for Proxy {
    fn name(&self) -> &'static str {
        NAME
    }

    fn handle(&mut self, view: &ProtoView<'_>, ev: ProtoEvent) -> Vec<ProtoAction> {
        match ev {
            ProtoEvent::RpfQuery { flow, arrival, rpf } => {
                let iif = self.rpf(view, flow, arrival, rpf);
                vec![ProtoAction::RpfAnswer { flow, iif }]
            }
            ProtoEvent::Commit => self.commit(view),
            ProtoEvent::FlowSeen { flow, iif } => {
                self.forward_upstream(view, flow, iif, self.upstream)
            }
            ProtoEvent::InterfaceTaken { ifindex } | ProtoEvent::InterfaceReleased { ifindex } => {
                self.moved.insert(ifindex);
                Vec::new()
            }
            // Everything is derived from the manager's state at commit:
            // the upstream from ownership and link state, the membership
            // from the downstream interfaces' entries. The creation alert
            // keeps every interface.
            ProtoEvent::Started
            | ProtoEvent::CreationAlert { .. }
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

    fn status(&self, view: &ProtoView<'_>) -> ProtoStatus {
        status::view(&self.cfg, self.upstream, &self.merged, &self.counters, view)
    }
}

// ===== helper functions =====

/// One downstream interface's filter for one group, from its memberships:
/// with (*,G) it is in EXCLUDE mode, its (S,G) blocks excluded (but not
/// the sources it also wants); otherwise INCLUDE of its (S,G) sources.
/// `None`: it holds nothing for the group.
fn iface_filter(keys: impl IntoIterator<Item = MembershipKey>) -> Option<HostFilter> {
    let mut exclude_mode = false;
    let mut include: BTreeSet<IpAddr> = BTreeSet::new();
    let mut blocked: BTreeSet<IpAddr> = BTreeSet::new();
    let mut any = false;
    for k in keys {
        any = true;
        match k.source {
            SourceSel::Any => exclude_mode = true,
            SourceSel::Only(s) => {
                include.insert(s);
            }
            SourceSel::Except(s) => {
                blocked.insert(s);
            }
        }
    }
    if !any {
        return None;
    }
    Some(if exclude_mode {
        HostFilter::Exclude(blocked.difference(&include).copied().collect())
    } else {
        HostFilter::Include(include)
    })
}

// ===== tests =====

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn a(last: u8) -> IpAddr {
        Ipv4Addr::new(10, 0, 0, last).into()
    }

    fn set(l: &[u8]) -> BTreeSet<IpAddr> {
        l.iter().map(|&l| a(l)).collect()
    }

    fn keys(any: bool, only: &[u8], except: &[u8]) -> Vec<MembershipKey> {
        let g: GroupAddr = "239.1.1.1".parse().unwrap();
        let mut v = Vec::new();
        if any {
            v.push(MembershipKey::any(g));
        }
        v.extend(only.iter().map(|&s| MembershipKey::only(a(s), g)));
        v.extend(except.iter().map(|&s| MembershipKey::except(a(s), g)));
        v
    }

    #[test]
    fn an_interface_with_any_source_is_in_exclude_mode() {
        assert_eq!(
            iface_filter(keys(true, &[2], &[1, 2, 3])),
            Some(HostFilter::Exclude(set(&[1, 3])))
        );
        assert_eq!(
            iface_filter(keys(false, &[1, 2], &[])),
            Some(HostFilter::Include(set(&[1, 2])))
        );
        // Blocks without any source mean nothing.
        assert_eq!(
            iface_filter(keys(false, &[], &[1])),
            Some(HostFilter::Include(set(&[])))
        );
        assert_eq!(iface_filter(Vec::new()), None);
    }

    #[test]
    fn interfaces_merge_as_rfc_3376_says() {
        let merged = filter::merge(&[
            iface_filter(keys(true, &[], &[1, 2, 3])).unwrap(),
            iface_filter(keys(true, &[], &[2, 3, 4])).unwrap(),
            iface_filter(keys(false, &[3], &[])).unwrap(),
        ]);
        assert_eq!(merged, Some(HostFilter::Exclude(set(&[2]))));
    }
}
