//! The unicast routes of one kernel routing table, for RPF lookups when
//! mgmd runs on a table of its own (`global.table`, one per VRF).
//!
//! The kernel's route lookup (`RTM_GETROUTE`, what `ip route get` does)
//! takes no table: it follows the policy rules, which normally end in the
//! main table. With a table configured, mgmd therefore dumps that table's
//! routes and answers RPF questions itself, the way a rule `lookup N`
//! placed before the main table would: the longest matching prefix of the
//! table decides (lowest metric among equal prefixes); an `unreachable`,
//! `blackhole` or `prohibit` route there means "no route" (as in a VRF's
//! table, which ends in such a default); a source the table has no route
//! for is left to the kernel's own lookup.
//!
//! Sans-IO: the event loop feeds it dumped routes.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::core::types::IfIndex;

/// One route of the table, as the lookup needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableRoute {
    pub dst: Ipv4Net,
    /// Lower wins among routes for the same prefix.
    pub metric: u32,
    pub kind: TableRouteKind,
}

/// What a route does with the traffic it matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableRouteKind {
    /// Out of `ifindex`, through `gateway` unless directly connected. For
    /// a multipath route, its first next hop.
    Unicast {
        ifindex: IfIndex,
        gateway: Option<Ipv4Addr>,
    },
    /// `unreachable`, `blackhole` or `prohibit`: the lookup ends with no
    /// route.
    NoRoute,
}

/// The answer of [`RouteTable::lookup`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableAnswer {
    /// The table routes the address out of `ifindex`.
    Route {
        ifindex: IfIndex,
        gateway: Option<Ipv4Addr>,
    },
    /// The table says there is no route (unreachable and the like).
    NoRoute,
    /// The table has no route matching the address.
    NotInTable,
}

/// The routes of one table, indexed for longest-prefix match.
#[derive(Clone, Debug, Default)]
pub struct RouteTable {
    /// Per prefix length (index = length), network bits -> best route.
    by_len: Vec<HashMap<u32, TableRoute>>,
    len: usize,
}

impl RouteTable {
    /// A table holding `routes` (in any order; for one prefix the lowest
    /// metric is kept, the first of equal ones).
    pub fn new(routes: impl IntoIterator<Item = TableRoute>) -> RouteTable {
        let mut by_len: Vec<HashMap<u32, TableRoute>> = vec![HashMap::new(); 33];
        for r in routes {
            let r = TableRoute {
                dst: r.dst.trunc(),
                ..r
            };
            let slot = &mut by_len[usize::from(r.dst.prefix_len())];
            let key = r.dst.network().to_bits();
            match slot.get(&key) {
                Some(have) if have.metric <= r.metric => {}
                _ => {
                    slot.insert(key, r);
                }
            }
        }
        let len = by_len.iter().map(HashMap::len).sum();
        RouteTable { by_len, len }
    }

    /// Number of distinct prefixes.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The route the table gives for `addr`.
    pub fn lookup(&self, addr: Ipv4Addr) -> TableAnswer {
        let bits = addr.to_bits();
        for (plen, routes) in self.by_len.iter().enumerate().rev() {
            if routes.is_empty() {
                continue;
            }
            let mask = u32::MAX.checked_shl(32 - plen as u32).unwrap_or(0);
            if let Some(r) = routes.get(&(bits & mask)) {
                return match r.kind {
                    TableRouteKind::Unicast { ifindex, gateway } => {
                        TableAnswer::Route { ifindex, gateway }
                    }
                    TableRouteKind::NoRoute => TableAnswer::NoRoute,
                };
            }
        }
        TableAnswer::NotInTable
    }
}

// ===== tests =====

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn uni(dst: &str, metric: u32, ifindex: u32) -> TableRoute {
        TableRoute {
            dst: dst.parse().unwrap(),
            metric,
            kind: TableRouteKind::Unicast {
                ifindex: IfIndex(ifindex),
                gateway: None,
            },
        }
    }

    fn via(ifindex: u32) -> TableAnswer {
        TableAnswer::Route {
            ifindex: IfIndex(ifindex),
            gateway: None,
        }
    }

    #[test]
    fn longest_prefix_wins_then_lowest_metric() {
        let t = RouteTable::new([
            uni("10.0.0.0/8", 0, 1),
            uni("10.1.0.0/16", 100, 2),
            uni("10.1.0.0/16", 50, 3),
            uni("10.1.2.3/32", 0, 4),
        ]);
        assert_eq!(t.len(), 3);
        assert_eq!(t.lookup("10.9.9.9".parse().unwrap()), via(1));
        assert_eq!(t.lookup("10.1.9.9".parse().unwrap()), via(3));
        assert_eq!(t.lookup("10.1.2.3".parse().unwrap()), via(4));
        assert_eq!(
            t.lookup("192.0.2.1".parse().unwrap()),
            TableAnswer::NotInTable
        );
    }

    #[test]
    fn an_unreachable_default_ends_the_lookup() {
        // A VRF's table: connected routes and an unreachable default.
        let t = RouteTable::new([
            uni("10.1.0.0/24", 0, 7),
            TableRoute {
                dst: "0.0.0.0/0".parse().unwrap(),
                metric: 4278198272,
                kind: TableRouteKind::NoRoute,
            },
        ]);
        assert_eq!(t.lookup("10.1.0.9".parse().unwrap()), via(7));
        assert_eq!(t.lookup("8.8.8.8".parse().unwrap()), TableAnswer::NoRoute);
    }

    #[test]
    fn host_bits_in_a_prefix_are_ignored_and_empty_is_empty() {
        let t = RouteTable::new([uni("10.1.0.77/24", 0, 2)]);
        assert_eq!(t.lookup("10.1.0.1".parse().unwrap()), via(2));
        let e = RouteTable::default();
        assert!(e.is_empty());
        assert_eq!(
            e.lookup("10.1.0.1".parse().unwrap()),
            TableAnswer::NotInTable
        );
    }

    proptest! {
        /// Agrees with a plain scan over every route.
        #[test]
        fn agrees_with_a_linear_scan(
            routes in proptest::collection::vec((any::<u32>(), 0u8..=32, 0u32..4, 1u32..6), 0..40),
            probes in proptest::collection::vec(any::<u32>(), 1..40),
        ) {
            let routes: Vec<TableRoute> = routes
                .into_iter()
                .map(|(a, l, m, i)| TableRoute {
                    dst: Ipv4Net::new(Ipv4Addr::from(a), l).unwrap(),
                    metric: m,
                    kind: if i == 5 {
                        TableRouteKind::NoRoute
                    } else {
                        TableRouteKind::Unicast { ifindex: IfIndex(i), gateway: None }
                    },
                })
                .collect();
            let t = RouteTable::new(routes.clone());
            for p in probes {
                let addr = Ipv4Addr::from(p);
                // Longest prefix, then lowest metric, then first listed.
                let best = routes
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.dst.contains(&addr))
                    .min_by_key(|(i, r)| (std::cmp::Reverse(r.dst.prefix_len()), r.metric, *i))
                    .map(|(_, r)| r.kind);
                let want = match best {
                    None => TableAnswer::NotInTable,
                    Some(TableRouteKind::NoRoute) => TableAnswer::NoRoute,
                    Some(TableRouteKind::Unicast { ifindex, gateway }) => {
                        TableAnswer::Route { ifindex, gateway }
                    }
                };
                prop_assert_eq!(t.lookup(addr), want);
            }
        }
    }
}
