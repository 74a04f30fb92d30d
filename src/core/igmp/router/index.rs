//! IGMP's groups and their wake-up order, keyed by the group's IPv4
//! address as an integer. IGMP holds IPv4 groups only, and these B-trees
//! are searched on every report: 4-byte keys instead of the family-neutral
//! 17-byte [`GroupAddr`] keep their nodes small (BENCHMARKS.md,
//! "Address-family-neutral types"). Both take and give [`GroupAddr`]s.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::Instant;

use super::v4;
use crate::core::igmp::group::Group;
use crate::core::types::GroupAddr;

fn key(g: GroupAddr) -> u32 {
    v4(g).to_bits()
}

/// The group of a key: every key was made by [`key`] from a group.
fn group(k: u32) -> GroupAddr {
    GroupAddr::new(Ipv4Addr::from_bits(k)).unwrap_or(GroupAddr::ALL_SYSTEMS)
}

/// The groups of one interface, in address order.
#[derive(Debug, Default)]
pub(super) struct Groups(BTreeMap<u32, Group>);

impl Groups {
    pub(super) fn get(&self, g: &GroupAddr) -> Option<&Group> {
        self.0.get(&key(*g))
    }

    pub(super) fn get_mut(&mut self, g: &GroupAddr) -> Option<&mut Group> {
        self.0.get_mut(&key(*g))
    }

    pub(super) fn contains_key(&self, g: &GroupAddr) -> bool {
        self.0.contains_key(&key(*g))
    }

    pub(super) fn insert(&mut self, g: GroupAddr, grp: Group) {
        self.0.insert(key(g), grp);
    }

    pub(super) fn remove(&mut self, g: &GroupAddr) -> Option<Group> {
        self.0.remove(&key(*g))
    }

    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    pub(super) fn clear(&mut self) {
        self.0.clear();
    }

    pub(super) fn keys(&self) -> impl DoubleEndedIterator<Item = GroupAddr> + '_ {
        self.0.keys().map(|&k| group(k))
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &Group> {
        self.0.values()
    }

    pub(super) fn values_mut(&mut self) -> impl Iterator<Item = &mut Group> {
        self.0.values_mut()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (GroupAddr, &Group)> {
        self.0.iter().map(|(&k, grp)| (group(k), grp))
    }
}

/// (earliest timer, group): which group wakes first.
#[derive(Debug, Default)]
pub(super) struct Wakes(BTreeSet<(Instant, u32)>);

impl Wakes {
    pub(super) fn first(&self) -> Option<(Instant, GroupAddr)> {
        self.0.first().map(|&(t, k)| (t, group(k)))
    }

    pub(super) fn pop_first(&mut self) {
        self.0.pop_first();
    }

    pub(super) fn insert(&mut self, t: Instant, g: GroupAddr) {
        self.0.insert((t, key(g)));
    }

    pub(super) fn remove(&mut self, t: Instant, g: GroupAddr) {
        self.0.remove(&(t, key(g)));
    }

    pub(super) fn clear(&mut self) {
        self.0.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_come_back_in_address_order_with_their_addresses() {
        let g = |s: &str| s.parse::<GroupAddr>().unwrap();
        let mut m = Groups::default();
        for s in ["239.2.0.1", "224.0.1.1", "239.1.0.1"] {
            m.insert(g(s), Group::new(false));
        }
        assert_eq!(
            m.keys().collect::<Vec<_>>(),
            vec![g("224.0.1.1"), g("239.1.0.1"), g("239.2.0.1")]
        );
        assert!(m.contains_key(&g("239.1.0.1")));
        assert!(m.remove(&g("239.1.0.1")).is_some());
        assert_eq!(m.len(), 2);
        let t = Instant::now();
        let mut w = Wakes::default();
        w.insert(t + std::time::Duration::from_secs(2), g("224.0.1.1"));
        w.insert(t, g("239.2.0.1"));
        assert_eq!(w.first(), Some((t, g("239.2.0.1"))));
        w.remove(t, g("239.2.0.1"));
        assert_eq!(w.first().map(|(_, g)| g), Some(g("224.0.1.1")));
    }
}
