//! The static routing protocol (smcroute-like): fixed routes from an
//! inbound interface to a list of outbound interfaces, and host joins that
//! pull traffic from upstream routers.
//!
//! # Routes
//!
//! A route matches a flow when the flow's group is inside the route's group
//! range and its source inside the route's source prefix (any source when
//! the route has none). Among the routes that match, the most specific wins:
//! an exact source (/32) beats a source prefix, which beats any source
//! (a longer prefix beats a shorter one); with equal sources, a longer group
//! prefix wins; with both equal, the first route in the file wins.
//!
//! * RPF ([`ProtoEvent::RpfQuery`], answered at once): when the flow arrived on (or the kernel's
//!   unicast RPF points at) an interface static owns that is the inbound of
//!   a matching route, that interface is the incoming interface (the
//!   arrival interface is tried first). Otherwise the kernel's answer is
//!   returned unchanged, so IGMP-only forwarding keeps working for flows
//!   static has no route for.
//! * [`ProtoEvent::FlowCreated`]: each outbound of the matching route that
//!   exists, is owned by static and is not `only-with-members` is added to
//!   the flow's entry with [`MembershipFlags::FORWARD`] (forward-only: no
//!   membership is recorded, no alert is raised). An outbound taken later
//!   is added to the entries that already exist when static gets it.
//!   `only-with-members` outbounds add nothing: IGMP runs there, and the
//!   memberships it learns on an interface static owns go into forwarding
//!   directly (decision D1 in ARCHITECTURE.md).
//! * Creation alert ([`ProtoEvent::CreationAlert`], never answered): static keeps every interface the manager put in a new
//!   entry. Besides its FORWARD adds, those are interfaces where IGMP
//!   learned receivers for the group; they asked for the traffic, exactly
//!   as on an IGMP-only interface, whether or not a route names them.
//!
//! # Joins
//!
//! Each `[[static.join]]` is a host-membership wish on its interface while
//! static owns it: `Exclude{}` for an any-source join, `Include{S}` for a
//! source-specific one (several source-specific joins of one group on one
//! interface merge into one `Include`, an any-source join covers them all).
//! Wishes are computed at [`ProtoEvent::Commit`] and only their net change
//! is sent.

mod cli;
mod config;
mod edit;
mod status;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

pub use self::config::{KIND, NAME, Outbound, StaticConfig, StaticJoin, StaticRoute};
pub use self::edit::Edit;

use super::{
    HostWishes, NoteValue, ProtoAction, ProtoEvent, ProtoNote, ProtoStatus, ProtoView,
    RoutingProtocol, host_wish_changes,
};
use crate::core::filter::HostFilter;
use crate::core::mgm::MembershipFlags;
use crate::core::types::{FlowKey, IfIndex, MembershipKey, ipv4_of};

// ===== StaticRoutes =====

/// The static routing protocol. See the module documentation.
#[derive(Debug)]
pub struct StaticRoutes {
    cfg: StaticConfig,
    /// The routes by group prefix, so that a new flow looks only at the
    /// routes whose group range holds its group.
    index: RouteIndex,
    /// The host-membership wishes sent at the last commit.
    wished: HostWishes,
    counters: StaticCounters,
}

/// What static counts.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct StaticCounters {
    /// RPF answers given by a route.
    pub rpf_by_route: u64,
    /// RPF questions answered with the kernel's RPF (no route).
    pub rpf_by_kernel: u64,
    /// Entries created on a static inbound that a route matched.
    pub flows_matched: u64,
    /// Entries created on a static interface that no route matched.
    pub flows_unmatched: u64,
    /// Forward-only outbound adds sent.
    pub forward_adds: u64,
}

impl StaticCounters {
    /// The counters by name, for the status.
    fn by_name(&self) -> [(&'static str, u64); 5] {
        [
            ("rpf_by_route", self.rpf_by_route),
            ("rpf_by_kernel", self.rpf_by_kernel),
            ("flows_matched", self.flows_matched),
            ("flows_unmatched", self.flows_unmatched),
            ("forward_adds", self.forward_adds),
        ]
    }
}

impl StaticRoutes {
    pub fn new(cfg: StaticConfig) -> Self {
        StaticRoutes {
            index: RouteIndex::new(&cfg.routes),
            cfg,
            wished: HostWishes::new(),
            counters: StaticCounters::default(),
        }
    }

    /// The route for `flow` among those whose inbound passes `inbound_ok`
    /// (see the module documentation for the order).
    fn best_route(&self, flow: FlowKey, inbound_ok: impl Fn(&str) -> bool) -> Option<&StaticRoute> {
        // The most specific; on a tie, the first in the file.
        let mut best: Option<(usize, &StaticRoute)> = None;
        for i in self.index.candidates(flow.group) {
            let r = &self.cfg.routes[i];
            if !route_matches(r, flow) || !inbound_ok(&r.inbound) {
                continue;
            }
            let better = match best {
                None => true,
                Some((j, b)) => {
                    (specificity(r), std::cmp::Reverse(i)) > (specificity(b), std::cmp::Reverse(j))
                }
            };
            if better {
                best = Some((i, r));
            }
        }
        best.map(|(_, r)| r)
    }

    /// The route for `flow` entering on `iif`, an interface static owns.
    fn route_for(&self, view: &ProtoView<'_>, flow: FlowKey, iif: IfIndex) -> Option<&StaticRoute> {
        self.best_route(flow, |name| view.owned_named(name) == Some(iif))
    }

    /// The RPF answer: a static interface that is the inbound of a matching
    /// route (the arrival interface first), else the kernel's answer.
    fn rpf(
        &mut self,
        view: &ProtoView<'_>,
        flow: FlowKey,
        arrival: IfIndex,
        rpf: Option<IfIndex>,
    ) -> Option<IfIndex> {
        let candidates = std::iter::once(arrival).chain(rpf.filter(|&r| r != arrival));
        for cand in candidates {
            if view.owns(cand) && self.route_for(view, flow, cand).is_some() {
                self.counters.rpf_by_route += 1;
                return Some(cand);
            }
        }
        self.counters.rpf_by_kernel += 1;
        rpf
    }

    /// Forward-only adds for `flow` entering on `iif` along `route`,
    /// restricted to outbound `only` when given.
    fn forward_adds(
        &mut self,
        view: &ProtoView<'_>,
        flow: FlowKey,
        iif: IfIndex,
        route: &StaticRoute,
        only: Option<IfIndex>,
    ) -> Vec<ProtoAction> {
        let key = MembershipKey::only(flow.source, flow.group);
        let actions: Vec<ProtoAction> = route
            .outbound
            .iter()
            .filter(|o| !o.only_with_members)
            .filter_map(|o| view.owned_named(&o.name))
            .filter(|&oif| oif != iif && only.is_none_or(|x| x == oif))
            .map(|ifindex| ProtoAction::AddMembership {
                key,
                ifindex,
                flags: MembershipFlags::FORWARD,
            })
            .collect();
        self.counters.forward_adds += actions.len() as u64;
        actions
    }

    fn flow_created(
        &mut self,
        view: &ProtoView<'_>,
        flow: FlowKey,
        iif: IfIndex,
    ) -> Vec<ProtoAction> {
        let Some(route) = self.route_for(view, flow, iif).cloned() else {
            self.counters.flows_unmatched += 1;
            return Vec::new();
        };
        self.counters.flows_matched += 1;
        let note = ProtoNote::new("route-matched", "a route matched {flow} coming in on {iif}")
            .with("flow", NoteValue::Flow(flow))
            .with("iif", NoteValue::Interface(Some(iif)))
            .detail();
        let mut actions = vec![ProtoAction::Note(note)];
        actions.extend(self.forward_adds(view, flow, iif, &route, None));
        actions
    }

    /// `ifindex` was just taken: add it to the existing entries on static
    /// inbounds whose route lists it as an outbound (taking an interface
    /// clears the manager's FORWARD adds on it).
    fn outbound_taken(&mut self, view: &ProtoView<'_>, ifindex: IfIndex) -> Vec<ProtoAction> {
        let flows: Vec<(FlowKey, IfIndex)> = view
            .own_flows()
            .filter(|(_, iif)| *iif != ifindex)
            .collect();
        let mut actions = Vec::new();
        for (flow, iif) in flows {
            if let Some(route) = self.route_for(view, flow, iif).cloned() {
                actions.extend(self.forward_adds(view, flow, iif, &route, Some(ifindex)));
            }
        }
        actions
    }

    /// The host-membership wishes of the joins, given current ownership.
    fn wanted_joins(&self, view: &ProtoView<'_>) -> HostWishes {
        let mut wishes = HostWishes::new();
        for j in &self.cfg.joins {
            let Some(ifindex) = view.owned_named(&j.interface) else {
                continue;
            };
            let entry = wishes
                .entry((ifindex, j.group))
                .or_insert_with(|| HostFilter::Include(BTreeSet::new()));
            match (j.source, entry) {
                (None, e) => *e = HostFilter::Exclude(BTreeSet::new()),
                (Some(s), HostFilter::Include(set)) => {
                    set.insert(s.into());
                }
                (Some(_), HostFilter::Exclude(_)) => {}
            }
        }
        wishes
    }

    fn commit(&mut self, view: &ProtoView<'_>) -> Vec<ProtoAction> {
        let wanted = self.wanted_joins(view);
        let actions = host_wish_changes(&self.wished, &wanted);
        self.wished = wanted;
        actions
    }
}

impl RoutingProtocol for StaticRoutes {
    fn name(&self) -> &'static str {
        NAME
    }

    fn handle(&mut self, view: &ProtoView<'_>, ev: ProtoEvent) -> Vec<ProtoAction> {
        match ev {
            ProtoEvent::RpfQuery { flow, arrival, rpf } => {
                let iif = self.rpf(view, flow, arrival, rpf);
                vec![ProtoAction::RpfAnswer { flow, iif }]
            }
            ProtoEvent::FlowCreated { flow, iif } => self.flow_created(view, flow, iif),
            ProtoEvent::InterfaceTaken { ifindex } => self.outbound_taken(view, ifindex),
            ProtoEvent::Commit => self.commit(view),
            // Joins are level-triggered at commit; forwarding follows the
            // manager's memberships; the creation alert keeps every
            // interface (module documentation); nothing else concerns
            // static.
            ProtoEvent::Started
            | ProtoEvent::CreationAlert { .. }
            | ProtoEvent::InterfaceReleased { .. }
            | ProtoEvent::InterfaceChanged { .. }
            | ProtoEvent::JoinAlert { .. }
            | ProtoEvent::PruneAlert { .. }
            | ProtoEvent::LocalJoin { .. }
            | ProtoEvent::LocalLeave { .. }
            | ProtoEvent::IgmpRx { .. }
            | ProtoEvent::FlowSeen { .. }
            | ProtoEvent::Timer => Vec::new(),
        }
    }

    fn status(&self, view: &ProtoView<'_>) -> ProtoStatus {
        status::view(&self.cfg, &self.wished, &self.counters, view)
    }
}

// ===== RouteIndex =====

/// Routes by group prefix: for each prefix length in use, the routes whose
/// group range has that length, by network address.
#[derive(Debug, Default)]
struct RouteIndex {
    by_len: Vec<(u8, std::collections::HashMap<u32, Vec<usize>>)>,
}

impl RouteIndex {
    fn new(routes: &[StaticRoute]) -> RouteIndex {
        let mut by_len: std::collections::BTreeMap<u8, std::collections::HashMap<u32, Vec<usize>>> =
            std::collections::BTreeMap::new();
        for (i, r) in routes.iter().enumerate() {
            let net = r.group.net();
            by_len
                .entry(net.prefix_len())
                .or_default()
                .entry(net.network().to_bits())
                .or_default()
                .push(i);
        }
        RouteIndex {
            by_len: by_len.into_iter().collect(),
        }
    }

    /// The routes whose group range holds `group`, in no particular order.
    /// Routes are IPv4: an IPv6 group has none.
    fn candidates(&self, group: crate::core::types::GroupAddr) -> impl Iterator<Item = usize> + '_ {
        let g = group.v4().map(Ipv4Addr::to_bits);
        let by_len = if g.is_some() { &self.by_len[..] } else { &[] };
        let g = g.unwrap_or(0);
        by_len.iter().flat_map(move |(len, nets)| {
            let mask = if *len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(*len))
            };
            nets.get(&(g & mask)).into_iter().flatten().copied()
        })
    }
}

// ===== helper functions =====

fn route_matches(r: &StaticRoute, flow: FlowKey) -> bool {
    r.group.contains(flow.group)
        && r.source
            .is_none_or(|n| ipv4_of(flow.source).is_some_and(|s| n.contains(&s)))
}

/// Greater = more specific: source first (any < prefix < exact, longer
/// prefix wins), then the group prefix length.
fn specificity(r: &StaticRoute) -> (i8, u8) {
    let source = r.source.map_or(-1, |n| n.prefix_len() as i8);
    (source, r.group.net().prefix_len())
}

// ===== tests =====

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config_check::GroupRange;

    fn route(source: Option<&str>, group: &str, inbound: &str) -> StaticRoute {
        StaticRoute {
            source: source.map(|s| s.parse().unwrap()),
            group: GroupRange::new(group.parse().unwrap()).unwrap(),
            inbound: inbound.into(),
            outbound: vec![Outbound {
                name: "out".into(),
                only_with_members: false,
            }],
            runtime: false,
        }
    }

    fn flow(s: &str, g: &str) -> FlowKey {
        FlowKey {
            source: s.parse().unwrap(),
            group: g.parse().unwrap(),
        }
    }

    fn proto(routes: Vec<StaticRoute>) -> StaticRoutes {
        StaticRoutes::new(StaticConfig {
            interfaces: vec![],
            routes,
            joins: vec![],
        })
    }

    #[test]
    fn most_specific_route_wins_source_first() {
        let p = proto(vec![
            route(None, "239.0.0.0/8", "a"),
            route(None, "239.1.1.1/32", "b"),
            route(Some("10.0.0.0/8"), "239.0.0.0/8", "c"),
            route(Some("10.1.0.0/16"), "239.0.0.0/8", "d"),
            route(Some("10.1.2.3/32"), "239.0.0.0/8", "e"),
            route(Some("10.1.2.3/32"), "239.1.1.0/24", "f"),
        ]);
        let best = |f| p.best_route(f, |_| true).map(|r| r.inbound.as_str());
        assert_eq!(best(flow("10.1.2.3", "239.1.1.1")), Some("f"));
        assert_eq!(best(flow("10.1.2.3", "239.9.9.9")), Some("e"));
        assert_eq!(best(flow("10.1.9.9", "239.1.1.1")), Some("d"));
        assert_eq!(best(flow("10.9.9.9", "239.1.1.1")), Some("c"));
        assert_eq!(best(flow("192.0.2.1", "239.1.1.1")), Some("b"));
        assert_eq!(best(flow("192.0.2.1", "239.2.2.2")), Some("a"));
        assert_eq!(best(flow("192.0.2.1", "238.1.1.1")), None);
        // Restricted to one inbound, the best route of that inbound wins.
        let on_a = p.best_route(flow("10.1.2.3", "239.1.1.1"), |n| n == "a");
        assert_eq!(on_a.map(|r| r.inbound.as_str()), Some("a"));
    }

    proptest::proptest! {
        /// The index finds what a walk over every route finds.
        #[test]
        fn the_index_agrees_with_a_full_walk(
            routes in proptest::collection::vec((0u8..4, 0u8..=32, proptest::option::of(0u8..=32), 0u8..3), 0..40),
            flows in proptest::collection::vec((0u8..4, 0u8..4), 1..20),
        ) {
            let groups = ["239.1.1.1", "239.1.2.3", "239.200.0.1", "224.0.1.9"];
            let sources = ["10.0.0.1", "10.0.1.2", "192.0.2.9", "10.9.9.9"];
            let mut list = Vec::new();
            for (g, glen, slen, inb) in routes {
                let gnet: ipnet::Ipv4Net = format!("{}/{}", groups[g as usize], glen.max(4)).parse().unwrap();
                let Some(group) = GroupRange::new(gnet.trunc()) else { continue };
                let source = slen.map(|l| {
                    format!("{}/{}", sources[g as usize], l.max(1)).parse::<ipnet::Ipv4Net>().unwrap().trunc()
                });
                let mut r = route(None, "239.0.0.0/8", ["a", "b", "c"][inb as usize]);
                r.group = group;
                r.source = source;
                list.push(r);
            }
            let p = proto(list.clone());
            for (g, s) in flows {
                let f = flow(sources[s as usize], groups[g as usize]);
                let walk = list
                    .iter()
                    .filter(|r| route_matches(r, f) && r.inbound != "c")
                    .fold(None::<&StaticRoute>, |b, r| match b {
                        Some(b) if specificity(r) <= specificity(b) => Some(b),
                        _ => Some(r),
                    });
                let indexed = p.best_route(f, |n| n != "c");
                proptest::prop_assert_eq!(indexed, walk);
            }
        }
    }

    #[test]
    fn equal_routes_keep_file_order() {
        let p = proto(vec![
            route(None, "239.1.0.0/16", "first"),
            route(None, "239.1.0.0/16", "second"),
        ]);
        let best = p.best_route(flow("10.0.0.1", "239.1.2.3"), |_| true);
        assert_eq!(best.map(|r| r.inbound.as_str()), Some("first"));
    }
}
