//! The membership table: which (key, interface) entries exist and who added
//! them, indexed both by key (alerts, forwarding) and by interface
//! (ownership changes).

use std::collections::hash_map::Entry;
use std::net::Ipv4Addr;
use std::slice;

use std::collections::BTreeSet;

use crate::core::hash::{IntMap, IntSet};
use crate::core::types::{GroupAddr, IfIndex, MembershipKey, SourceSel};

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

/// Memberships, stored twice with packed integer keys: per key, the sorted
/// interfaces holding it (one hash probe answers every question the alert
/// rule and the outgoing lists ask); per interface, the keys it holds (for
/// ownership changes). Ordered listings sort on demand.
#[derive(Clone, Debug, Default)]
pub(super) struct MembershipTable {
    by_key: IntMap<u64, Holding>,
    by_iface: IntMap<u32, BTreeSet<u64>>,
    len: usize,
    /// Groups (address bits) with an entry changed since `clear_changed`.
    changed: IntSet<u32>,
}

/// The interfaces holding one key, sorted by ifindex. Most keys are held on
/// one interface: that case lives in the table slot, without an allocation.
#[derive(Clone, Debug)]
enum Holding {
    One((u32, AddedBy)),
    Many(Vec<(u32, AddedBy)>),
}

impl Holding {
    fn as_slice(&self) -> &[(u32, AddedBy)] {
        match self {
            Holding::One(e) => slice::from_ref(e),
            Holding::Many(v) => v,
        }
    }

    /// Sets the entry for `i` (`AddedBy::NONE` removes it); returns whether
    /// it existed before. A `Many` keeps its allocation when it shrinks, so
    /// a key whose receivers come and go does not reallocate.
    fn set(&mut self, i: u32, by: AddedBy) -> bool {
        match self {
            Holding::One(e) if e.0 == i => {
                // Removing the last entry is left to the caller.
                e.1 = by;
                true
            }
            Holding::One(e) => {
                if !by.is_empty() {
                    let mut v = Vec::with_capacity(4);
                    v.push(*e);
                    let pos = usize::from(e.0 < i);
                    v.insert(pos, (i, by));
                    *self = Holding::Many(v);
                }
                false
            }
            Holding::Many(v) => match (v.binary_search_by_key(&i, |e| e.0), by.is_empty()) {
                (Ok(pos), false) => {
                    v[pos].1 = by;
                    true
                }
                (Ok(pos), true) => {
                    v.remove(pos);
                    true
                }
                (Err(pos), false) => {
                    v.insert(pos, (i, by));
                    false
                }
                (Err(_), true) => false,
            },
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Holding::One(e) => e.1.is_empty(),
            Holding::Many(v) => v.is_empty(),
        }
    }
}

impl MembershipTable {
    pub(super) fn get(&self, key: MembershipKey, ifindex: IfIndex) -> AddedBy {
        self.by_key
            .get(&pack(key))
            .and_then(|h| {
                let v = h.as_slice();
                v.binary_search_by_key(&ifindex.0, |e| e.0)
                    .ok()
                    .map(|pos| v[pos].1)
            })
            .unwrap_or(AddedBy::NONE)
    }

    pub(super) fn has(&self, key: MembershipKey, ifindex: IfIndex) -> bool {
        !self.get(key, ifindex).is_empty()
    }

    /// Groups with an entry added, removed or changed since the last
    /// [`Self::clear_changed`], in address order.
    pub(super) fn changed_groups(&self) -> Vec<GroupAddr> {
        let mut v: Vec<u32> = self.changed.iter().copied().collect();
        v.sort_unstable();
        v.into_iter()
            .filter_map(|g| GroupAddr::new(Ipv4Addr::from_bits(g)).ok())
            .collect()
    }

    pub(super) fn clear_changed(&mut self) {
        self.changed.clear();
    }

    /// Sets who added the entry; `AddedBy::NONE` removes it.
    pub(super) fn set(&mut self, key: MembershipKey, ifindex: IfIndex, by: AddedBy) {
        self.changed.insert(key.group.addr().to_bits());
        let k = pack(key);
        let i = ifindex.0;
        let existed = match self.by_key.entry(k) {
            Entry::Occupied(mut e) => {
                let existed = e.get_mut().set(i, by);
                if e.get().is_empty() {
                    e.remove();
                }
                existed
            }
            Entry::Vacant(_) if by.is_empty() => return,
            Entry::Vacant(e) => {
                e.insert(Holding::One((i, by)));
                false
            }
        };
        match (existed, by.is_empty()) {
            (true, true) => {
                self.len -= 1;
                // An emptied set stays (with its capacity) until
                // `forget_iface`: a flushed interface is usually refilled.
                if let Some(set) = self.by_iface.get_mut(&i) {
                    set.remove(&k);
                }
            }
            (false, false) => {
                self.len += 1;
                self.by_iface.entry(i).or_default().insert(k);
            }
            _ => {}
        }
    }

    /// Releases the per-interface index of an interface that holds no
    /// entry any more (it was removed).
    pub(super) fn forget_iface(&mut self, ifindex: IfIndex) {
        if self.by_iface.get(&ifindex.0).is_some_and(|s| s.is_empty()) {
            self.by_iface.remove(&ifindex.0);
        }
    }

    /// Interfaces holding `key`, in ifindex order.
    pub(super) fn ifaces_with(
        &self,
        key: MembershipKey,
    ) -> impl Iterator<Item = (IfIndex, AddedBy)> + '_ {
        self.by_key
            .get(&pack(key))
            .into_iter()
            .flat_map(|h| h.as_slice().iter().map(|&(i, by)| (IfIndex(i), by)))
    }

    /// Keys held on `ifindex`, in key order: O(m) for the m keys held
    /// there, whatever the size of the rest of the table.
    pub(super) fn keys_on(&self, ifindex: IfIndex) -> Vec<MembershipKey> {
        self.by_iface
            .get(&ifindex.0)
            .map(|set| set.iter().map(|&k| unpack(k)).collect())
            .unwrap_or_default()
    }

    /// Keys of `group` held on `ifindex`, in key order: O(log m + k).
    pub(super) fn group_keys_on(
        &self,
        ifindex: IfIndex,
        group: GroupAddr,
    ) -> impl Iterator<Item = MembershipKey> + '_ {
        let lo = pack(MembershipKey::any(group));
        let hi = lo | ((1 << 34) - 1);
        self.by_iface
            .get(&ifindex.0)
            .into_iter()
            .flat_map(move |set| set.range(lo..=hi).map(|&k| unpack(k)))
    }

    /// Every entry, ordered by key (group, then source), then interface.
    /// Sorts the keys (with their entries, so no second probe per key):
    /// O(k log k) for k keys. For one interface, [`Self::keys_on`] costs
    /// only that interface's keys.
    pub(super) fn iter(&self) -> impl Iterator<Item = (MembershipKey, IfIndex, AddedBy)> + '_ {
        let mut keys: Vec<(u64, &Holding)> = self.by_key.iter().map(|(&k, h)| (k, h)).collect();
        keys.sort_unstable_by_key(|&(k, _)| k);
        keys.into_iter().flat_map(|(k, h)| {
            let key = unpack(k);
            h.as_slice()
                .iter()
                .map(move |&(i, by)| (key, IfIndex(i), by))
        })
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }
}

// ===== helper functions =====

const TAG_ANY: u64 = 0;
const TAG_ONLY: u64 = 1;
const TAG_EXCEPT: u64 = 2;

/// Packs a key into 62 bits, keeping its order: the 28 low bits of the group
/// (every group is in 224.0.0.0/4), the source variant, the source address.
pub(super) fn pack(key: MembershipKey) -> u64 {
    let g = u64::from(key.group.addr().to_bits() & 0x0fff_ffff);
    let (tag, s) = match key.source {
        SourceSel::Any => (TAG_ANY, 0),
        SourceSel::Only(s) => (TAG_ONLY, s.to_bits()),
        SourceSel::Except(s) => (TAG_EXCEPT, s.to_bits()),
    };
    (g << 34) | (tag << 32) | u64::from(s)
}

pub(super) fn unpack(k: u64) -> MembershipKey {
    let bits = 0xe000_0000 | ((k >> 34) as u32 & 0x0fff_ffff);
    let group = GroupAddr::new(Ipv4Addr::from_bits(bits)).unwrap_or(GroupAddr::ALL_SYSTEMS);
    let s = Ipv4Addr::from_bits(k as u32);
    let source = match (k >> 32) & 3 {
        TAG_ANY => SourceSel::Any,
        TAG_ONLY => SourceSel::Only(s),
        _ => SourceSel::Except(s),
    };
    MembershipKey { group, source }
}

// ===== tests =====

#[cfg(test)]
mod tests {
    use super::*;

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
    fn packing_keeps_keys_and_their_order() {
        let s1 = Ipv4Addr::new(10, 0, 0, 1);
        let s2 = Ipv4Addr::new(192, 168, 255, 254);
        let hi = GroupAddr::new(Ipv4Addr::new(239, 255, 255, 255)).unwrap();
        let mut keys = vec![
            MembershipKey::any(g(1)),
            MembershipKey::only(s1, g(1)),
            MembershipKey::only(s2, g(1)),
            MembershipKey::except(s1, g(1)),
            MembershipKey::any(g(2)),
            MembershipKey::except(s2, hi),
            MembershipKey::any(GroupAddr::ALL_SYSTEMS),
        ];
        keys.sort();
        for w in keys.windows(2) {
            assert!(pack(w[0]) < pack(w[1]), "{} vs {}", w[0], w[1]);
        }
        for k in keys {
            assert_eq!(unpack(pack(k)), k);
        }
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
        assert_eq!(t.keys_on(IfIndex(3)), vec![k1, k2]);
        t.set(k1, IfIndex(3), AddedBy::NONE);
        t.set(k2, IfIndex(3), AddedBy::NONE);
        assert!(t.keys_on(IfIndex(3)).is_empty());
        assert!(t.by_iface.contains_key(&3));
        t.forget_iface(IfIndex(3));
        assert!(!t.by_iface.contains_key(&3));
        t.forget_iface(IfIndex(2));
        assert!(t.by_iface.contains_key(&2), "interface 2 still holds k1");
        assert!(!t.has(k1, IfIndex(3)));
        assert_eq!(t.get(k1, IfIndex(2)), AddedBy::OWNER);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn a_key_moves_between_inline_and_list_storage() {
        let mut t = MembershipTable::default();
        let k = MembershipKey::any(g(9));
        t.set(k, IfIndex(5), AddedBy::IGMP);
        t.set(k, IfIndex(2), AddedBy::OWNER);
        t.set(k, IfIndex(7), AddedBy::BOTH);
        let on: Vec<_> = t.ifaces_with(k).map(|(i, _)| i.0).collect();
        assert_eq!(on, vec![2, 5, 7]);
        t.set(k, IfIndex(5), AddedBy::NONE);
        t.set(k, IfIndex(2), AddedBy::NONE);
        assert_eq!(
            t.ifaces_with(k).collect::<Vec<_>>(),
            vec![(IfIndex(7), AddedBy::BOTH)]
        );
        t.set(k, IfIndex(7), AddedBy::IGMP);
        assert_eq!(t.get(k, IfIndex(7)), AddedBy::IGMP);
        assert_eq!(t.len(), 1);
        // Removing an absent entry changes nothing.
        t.set(k, IfIndex(3), AddedBy::NONE);
        assert_eq!(t.len(), 1);
        t.set(k, IfIndex(7), AddedBy::NONE);
        assert_eq!(t.len(), 0);
        assert_eq!(t.ifaces_with(k).count(), 0);
        assert!(t.keys_on(IfIndex(7)).is_empty());
        // And back to one inline entry, then two again (the other side).
        t.set(k, IfIndex(4), AddedBy::IGMP);
        t.set(k, IfIndex(1), AddedBy::IGMP);
        let on: Vec<_> = t.ifaces_with(k).map(|(i, _)| i.0).collect();
        assert_eq!(on, vec![1, 4]);
        assert_eq!(t.len(), 2);
        let all: Vec<_> = t.iter().map(|(_, i, _)| i.0).collect();
        assert_eq!(all, vec![1, 4]);
    }

    #[test]
    fn listings_come_in_key_then_interface_order() {
        let mut t = MembershipTable::default();
        let s = Ipv4Addr::new(10, 0, 0, 1);
        let keys = [
            MembershipKey::any(g(3)),
            MembershipKey::only(s, g(1)),
            MembershipKey::any(g(1)),
            MembershipKey::except(s, g(2)),
        ];
        for (n, &k) in keys.iter().enumerate() {
            for i in [9, 4, 6].iter().take(n + 1) {
                t.set(k, IfIndex(*i), AddedBy::IGMP);
            }
        }
        let all: Vec<_> = t.iter().map(|(k, i, _)| (k, i.0)).collect();
        let mut want = all.clone();
        want.sort();
        assert_eq!(all, want);
        assert_eq!(all.len(), 1 + 2 + 3 + 3);
        let mut on9 = keys.to_vec();
        on9.sort();
        assert_eq!(t.keys_on(IfIndex(9)), on9);
        assert_eq!(t.keys_on(IfIndex(6)), vec![keys[2], keys[3]]);
    }
}
