//! The membership table: which (key, interface) entries exist and who added
//! them, indexed both by key (alerts, forwarding) and by interface
//! (ownership changes).

use std::collections::{BTreeMap, BTreeSet};

use crate::core::types::{IfIndex, MembershipKey};

/// Who added one (key, interface) entry. Only IGMP and the interface's
/// current routing owner can add there, so two bits say it all; the routing
/// owner's bit always means the owner of the moment, because every change of
/// owner flushes the interface.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct AddedBy(u8);

impl AddedBy {
    pub(super) const NONE: AddedBy = AddedBy(0);
    pub(super) const IGMP: AddedBy = AddedBy(1);
    pub(super) const OWNER: AddedBy = AddedBy(2);
    pub(super) const BOTH: AddedBy = AddedBy(3);

    pub(super) fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub(super) fn contains(self, other: AddedBy) -> bool {
        self.0 & other.0 == other.0 && !other.is_empty()
    }

    pub(super) fn with(self, other: AddedBy) -> AddedBy {
        AddedBy(self.0 | other.0)
    }

    pub(super) fn without(self, other: AddedBy) -> AddedBy {
        AddedBy(self.0 & !other.0)
    }

    pub(super) fn intersect(self, other: AddedBy) -> AddedBy {
        AddedBy(self.0 & other.0)
    }
}

/// Memberships, stored twice in compact form: 16-byte keys in B-trees, no
/// per-entry allocation.
#[derive(Clone, Debug, Default)]
pub(super) struct MembershipTable {
    by_key: BTreeMap<(MembershipKey, IfIndex), AddedBy>,
    by_iface: BTreeMap<IfIndex, BTreeSet<MembershipKey>>,
}

impl MembershipTable {
    pub(super) fn get(&self, key: MembershipKey, ifindex: IfIndex) -> AddedBy {
        self.by_key
            .get(&(key, ifindex))
            .copied()
            .unwrap_or(AddedBy::NONE)
    }

    pub(super) fn has(&self, key: MembershipKey, ifindex: IfIndex) -> bool {
        self.by_key.contains_key(&(key, ifindex))
    }

    /// Sets who added the entry; `AddedBy::NONE` removes it.
    pub(super) fn set(&mut self, key: MembershipKey, ifindex: IfIndex, by: AddedBy) {
        if by.is_empty() {
            if self.by_key.remove(&(key, ifindex)).is_some()
                && let Some(set) = self.by_iface.get_mut(&ifindex)
            {
                set.remove(&key);
                if set.is_empty() {
                    self.by_iface.remove(&ifindex);
                }
            }
        } else if self.by_key.insert((key, ifindex), by).is_none() {
            self.by_iface.entry(ifindex).or_default().insert(key);
        }
    }

    /// Interfaces holding `key`, in ifindex order.
    pub(super) fn ifaces_with(
        &self,
        key: MembershipKey,
    ) -> impl Iterator<Item = (IfIndex, AddedBy)> + '_ {
        self.by_key
            .range((key, IfIndex(0))..=(key, IfIndex(u32::MAX)))
            .map(|(&(_, i), &by)| (i, by))
    }

    /// Keys held on `ifindex`, in key order.
    pub(super) fn keys_on(&self, ifindex: IfIndex) -> impl Iterator<Item = MembershipKey> + '_ {
        self.by_iface
            .get(&ifindex)
            .into_iter()
            .flat_map(|set| set.iter().copied())
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (MembershipKey, IfIndex, AddedBy)> + '_ {
        self.by_key.iter().map(|(&(k, i), &by)| (k, i, by))
    }

    pub(super) fn len(&self) -> usize {
        self.by_key.len()
    }
}

// ===== tests =====

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::core::types::GroupAddr;

    fn g(last: u8) -> GroupAddr {
        GroupAddr::new(Ipv4Addr::new(239, 0, 0, last)).unwrap()
    }

    #[test]
    fn added_by_bits() {
        assert!(AddedBy::BOTH.contains(AddedBy::IGMP));
        assert!(!AddedBy::IGMP.contains(AddedBy::OWNER));
        assert!(!AddedBy::IGMP.contains(AddedBy::NONE));
        assert_eq!(AddedBy::BOTH.without(AddedBy::IGMP), AddedBy::OWNER);
        assert_eq!(AddedBy::IGMP.with(AddedBy::OWNER), AddedBy::BOTH);
        assert_eq!(AddedBy::IGMP.intersect(AddedBy::OWNER), AddedBy::NONE);
    }

    #[test]
    fn both_indexes_stay_in_step() {
        let mut t = MembershipTable::default();
        let k1 = MembershipKey::any(g(1));
        let k2 = MembershipKey::only(Ipv4Addr::new(10, 0, 0, 1), g(1));
        t.set(k1, IfIndex(3), AddedBy::IGMP);
        t.set(k1, IfIndex(2), AddedBy::OWNER);
        t.set(k2, IfIndex(3), AddedBy::BOTH);
        assert_eq!(t.len(), 3);
        let on: Vec<_> = t.ifaces_with(k1).collect();
        assert_eq!(
            on,
            vec![(IfIndex(2), AddedBy::OWNER), (IfIndex(3), AddedBy::IGMP)]
        );
        assert_eq!(t.keys_on(IfIndex(3)).collect::<Vec<_>>(), vec![k1, k2]);
        t.set(k1, IfIndex(3), AddedBy::NONE);
        t.set(k2, IfIndex(3), AddedBy::NONE);
        assert_eq!(t.keys_on(IfIndex(3)).count(), 0);
        assert!(!t.has(k1, IfIndex(3)));
        assert_eq!(t.get(k1, IfIndex(2)), AddedBy::OWNER);
        assert_eq!(t.len(), 1);
    }
}
