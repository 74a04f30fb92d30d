//! The membership table: which (key, interface) entries exist and who added
//! them, indexed both by key (alerts, forwarding) and by interface
//! (ownership changes).

use std::collections::hash_map::Entry;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::slice;

use std::collections::BTreeSet;

use crate::core::hash::{IntMap, IntSet};
use crate::core::types::{Family, GroupAddr, IfIndex, MembershipKey, SourceSel};

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

/// Memberships, stored twice with packed keys: per key, the sorted
/// interfaces holding it (one hash probe answers every question the alert
/// rule and the outgoing lists ask); per interface, the keys it holds (for
/// ownership changes). Ordered listings sort on demand. Each family has its
/// own table: an IPv4 key packs into one `u64` (the hot path stays one
/// integer probe), an IPv6 key into [`Packed6`]. IPv4 keys list first, as
/// they order.
#[derive(Clone, Debug, Default)]
pub(super) struct MembershipTable {
    v4: Table<u64>,
    v6: Table<Packed6>,
}

/// A key packed for its family's table: order-preserving, so ranges of a
/// group's keys are ranges of packed keys.
pub(super) trait Packing: Copy + Ord + Hash + std::fmt::Debug {
    /// The group part alone (what `changed` collects).
    type Group: Copy + Ord + Hash + std::fmt::Debug;
    fn pack(key: MembershipKey) -> Self;
    fn unpack(self) -> MembershipKey;
    fn group(group: GroupAddr) -> Self::Group;
    fn group_addr(g: Self::Group) -> GroupAddr;
    /// The lowest and highest packed keys of `group`.
    fn group_range(group: GroupAddr) -> (Self, Self);
}

/// One family's memberships (see [`MembershipTable`]).
#[derive(Clone, Debug)]
pub(super) struct Table<P: Packing> {
    by_key: IntMap<P, Holding>,
    by_iface: IntMap<u32, BTreeSet<P>>,
    len: usize,
    /// Groups with an entry changed since `clear_changed`.
    changed: IntSet<P::Group>,
}

impl<P: Packing> Default for Table<P> {
    fn default() -> Self {
        Table {
            by_key: IntMap::default(),
            by_iface: IntMap::default(),
            len: 0,
            changed: IntSet::default(),
        }
    }
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

impl<P: Packing> Table<P> {
    fn get(&self, key: MembershipKey, ifindex: IfIndex) -> AddedBy {
        let v = self.holding(key);
        v.binary_search_by_key(&ifindex.0, |e| e.0)
            .map_or(AddedBy::NONE, |pos| v[pos].1)
    }

    fn changed_groups(&self) -> impl Iterator<Item = GroupAddr> {
        let mut v: Vec<P::Group> = self.changed.iter().copied().collect();
        v.sort_unstable();
        v.into_iter().map(P::group_addr)
    }

    fn set(&mut self, key: MembershipKey, ifindex: IfIndex, by: AddedBy) {
        self.changed.insert(P::group(key.group));
        let k = P::pack(key);
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

    fn forget_iface(&mut self, ifindex: IfIndex) {
        if self.by_iface.get(&ifindex.0).is_some_and(|s| s.is_empty()) {
            self.by_iface.remove(&ifindex.0);
        }
    }

    /// The interfaces holding `key` (sorted), empty if none.
    fn holding(&self, key: MembershipKey) -> &[(u32, AddedBy)] {
        self.by_key
            .get(&P::pack(key))
            .map_or(&[], Holding::as_slice)
    }

    fn keys_on(&self, ifindex: IfIndex) -> impl Iterator<Item = MembershipKey> + '_ {
        self.by_iface
            .get(&ifindex.0)
            .into_iter()
            .flat_map(|set| set.iter().map(|&k| k.unpack()))
    }

    fn group_keys_on(
        &self,
        ifindex: IfIndex,
        group: GroupAddr,
    ) -> impl Iterator<Item = MembershipKey> + '_ {
        let (lo, hi) = P::group_range(group);
        self.by_iface
            .get(&ifindex.0)
            .into_iter()
            .flat_map(move |set| set.range(lo..=hi).map(|&k| k.unpack()))
    }

    fn iter(&self) -> impl Iterator<Item = (MembershipKey, IfIndex, AddedBy)> + '_ {
        let mut keys: Vec<(P, &Holding)> = self.by_key.iter().map(|(&k, h)| (k, h)).collect();
        keys.sort_unstable_by_key(|&(k, _)| k);
        keys.into_iter().flat_map(|(k, h)| {
            let key = k.unpack();
            h.as_slice()
                .iter()
                .map(move |&(i, by)| (key, IfIndex(i), by))
        })
    }
}

impl MembershipTable {
    pub(super) fn get(&self, key: MembershipKey, ifindex: IfIndex) -> AddedBy {
        match key.family() {
            Family::Ipv4 => self.v4.get(key, ifindex),
            Family::Ipv6 => self.v6.get(key, ifindex),
        }
    }

    pub(super) fn has(&self, key: MembershipKey, ifindex: IfIndex) -> bool {
        !self.get(key, ifindex).is_empty()
    }

    /// Groups with an entry added, removed or changed since the last
    /// [`Self::clear_changed`], in address order.
    pub(super) fn changed_groups(&self) -> Vec<GroupAddr> {
        self.v4
            .changed_groups()
            .chain(self.v6.changed_groups())
            .collect()
    }

    pub(super) fn clear_changed(&mut self) {
        self.v4.changed.clear();
        self.v6.changed.clear();
    }

    /// Sets who added the entry; `AddedBy::NONE` removes it.
    pub(super) fn set(&mut self, key: MembershipKey, ifindex: IfIndex, by: AddedBy) {
        match key.family() {
            Family::Ipv4 => self.v4.set(key, ifindex, by),
            Family::Ipv6 => self.v6.set(key, ifindex, by),
        }
    }

    /// Releases the per-interface index of an interface that holds no
    /// entry any more (it was removed).
    pub(super) fn forget_iface(&mut self, ifindex: IfIndex) {
        self.v4.forget_iface(ifindex);
        self.v6.forget_iface(ifindex);
    }

    /// Interfaces holding `key`, in ifindex order.
    pub(super) fn ifaces_with(
        &self,
        key: MembershipKey,
    ) -> impl Iterator<Item = (IfIndex, AddedBy)> + '_ {
        let held = match key.family() {
            Family::Ipv4 => self.v4.holding(key),
            Family::Ipv6 => self.v6.holding(key),
        };
        held.iter().map(|&(i, by)| (IfIndex(i), by))
    }

    /// Keys held on `ifindex`, in key order: O(m) for the m keys held
    /// there, whatever the size of the rest of the table.
    pub(super) fn keys_on(&self, ifindex: IfIndex) -> Vec<MembershipKey> {
        self.v4
            .keys_on(ifindex)
            .chain(self.v6.keys_on(ifindex))
            .collect()
    }

    /// Keys of `group` held on `ifindex`, in key order: O(log m + k).
    pub(super) fn group_keys_on(
        &self,
        ifindex: IfIndex,
        group: GroupAddr,
    ) -> impl Iterator<Item = MembershipKey> + '_ {
        match group.family() {
            Family::Ipv4 => OfFamily::V4(self.v4.group_keys_on(ifindex, group)),
            Family::Ipv6 => OfFamily::V6(self.v6.group_keys_on(ifindex, group)),
        }
    }

    /// Every entry, ordered by key (group, then source), then interface.
    /// Sorts the keys (with their entries, so no second probe per key):
    /// O(k log k) for k keys. For one interface, [`Self::keys_on`] costs
    /// only that interface's keys.
    pub(super) fn iter(&self) -> impl Iterator<Item = (MembershipKey, IfIndex, AddedBy)> + '_ {
        self.v4.iter().chain(self.v6.iter())
    }

    pub(super) fn len(&self) -> usize {
        self.v4.len + self.v6.len
    }
}

/// An iterator over one family's table (the other's is never looked at).
enum OfFamily<A, B> {
    V4(A),
    V6(B),
}

impl<A, B, T> Iterator for OfFamily<A, B>
where
    A: Iterator<Item = T>,
    B: Iterator<Item = T>,
{
    type Item = T;

    fn next(&mut self) -> Option<T> {
        match self {
            OfFamily::V4(a) => a.next(),
            OfFamily::V6(b) => b.next(),
        }
    }
}

// ===== packings =====

const TAG_ANY: u64 = 0;
const TAG_ONLY: u64 = 1;
const TAG_EXCEPT: u64 = 2;

/// An IPv4 key in 62 bits, keeping its order: the 28 low bits of the group
/// (every group is in 224.0.0.0/4), the source variant, the source address.
impl Packing for u64 {
    type Group = u32;

    fn pack(key: MembershipKey) -> u64 {
        let g = u64::from(Self::group(key.group) & 0x0fff_ffff);
        let (tag, s) = match key.source {
            SourceSel::Any => (TAG_ANY, 0),
            SourceSel::Only(s) => (TAG_ONLY, v4_bits(s)),
            SourceSel::Except(s) => (TAG_EXCEPT, v4_bits(s)),
        };
        (g << 34) | (tag << 32) | u64::from(s)
    }

    fn unpack(self) -> MembershipKey {
        let group = Self::group_addr(0xe000_0000 | ((self >> 34) as u32 & 0x0fff_ffff));
        let s = IpAddr::V4(Ipv4Addr::from_bits(self as u32));
        let source = match (self >> 32) & 3 {
            TAG_ANY => SourceSel::Any,
            TAG_ONLY => SourceSel::Only(s),
            _ => SourceSel::Except(s),
        };
        MembershipKey { group, source }
    }

    fn group(group: GroupAddr) -> u32 {
        v4_bits(group.addr())
    }

    fn group_addr(g: u32) -> GroupAddr {
        GroupAddr::new(Ipv4Addr::from_bits(g)).unwrap_or(GroupAddr::ALL_SYSTEMS)
    }

    fn group_range(group: GroupAddr) -> (u64, u64) {
        let lo = Self::pack(MembershipKey::any(group));
        (lo, lo | ((1 << 34) - 1))
    }
}

/// An IPv6 key: group, source variant, source, in that order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct Packed6 {
    group: u128,
    tag: u8,
    source: u128,
}

impl Packing for Packed6 {
    type Group = u128;

    fn pack(key: MembershipKey) -> Packed6 {
        let (tag, source) = match key.source {
            SourceSel::Any => (TAG_ANY, 0),
            SourceSel::Only(s) => (TAG_ONLY, v6_bits(s)),
            SourceSel::Except(s) => (TAG_EXCEPT, v6_bits(s)),
        };
        Packed6 {
            group: Self::group(key.group),
            tag: tag as u8,
            source,
        }
    }

    fn unpack(self) -> MembershipKey {
        let s = IpAddr::V6(Ipv6Addr::from_bits(self.source));
        let source = match u64::from(self.tag) {
            TAG_ANY => SourceSel::Any,
            TAG_ONLY => SourceSel::Only(s),
            _ => SourceSel::Except(s),
        };
        MembershipKey {
            group: Self::group_addr(self.group),
            source,
        }
    }

    fn group(group: GroupAddr) -> u128 {
        v6_bits(group.addr())
    }

    fn group_addr(g: u128) -> GroupAddr {
        GroupAddr::new(Ipv6Addr::from_bits(g)).unwrap_or(GroupAddr::ALL_NODES)
    }

    fn group_range(group: GroupAddr) -> (Packed6, Packed6) {
        let g = Self::group(group);
        (
            Packed6 {
                group: g,
                tag: 0,
                source: 0,
            },
            Packed6 {
                group: g,
                tag: u8::MAX,
                source: u128::MAX,
            },
        )
    }
}

// ===== helper functions =====

/// The bits of an address in an IPv4 key (the table of a key is chosen by
/// its group's family, and a key's source is of the same family).
fn v4_bits(a: IpAddr) -> u32 {
    match a {
        IpAddr::V4(a) => a.to_bits(),
        IpAddr::V6(_) => 0,
    }
}

/// The bits of an address in an IPv6 key.
fn v6_bits(a: IpAddr) -> u128 {
    match a {
        IpAddr::V6(a) => a.to_bits(),
        IpAddr::V4(a) => a.to_ipv6_mapped().to_bits(),
    }
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
            assert!(u64::pack(w[0]) < u64::pack(w[1]), "{} vs {}", w[0], w[1]);
        }
        for k in keys {
            assert_eq!(u64::pack(k).unpack(), k);
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
        assert!(t.v4.by_iface.contains_key(&3));
        t.forget_iface(IfIndex(3));
        assert!(!t.v4.by_iface.contains_key(&3));
        t.forget_iface(IfIndex(2));
        assert!(t.v4.by_iface.contains_key(&2), "interface 2 still holds k1");
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

    #[test]
    fn ipv6_keys_pack_in_order_and_list_after_ipv4() {
        let g6 = |last: u16| GroupAddr::new(Ipv6Addr::new(0xff3e, 0, 0, 0, 0, 0, 0, last)).unwrap();
        let s1 = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
        let s2 = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);
        let mut keys = vec![
            MembershipKey::any(g6(1)),
            MembershipKey::only(s1, g6(1)),
            MembershipKey::only(s2, g6(1)),
            MembershipKey::except(s1, g6(1)),
            MembershipKey::any(g6(2)),
            MembershipKey::except(s2, GroupAddr::ALL_NODES),
        ];
        keys.sort();
        for w in keys.windows(2) {
            assert!(
                Packed6::pack(w[0]) < Packed6::pack(w[1]),
                "{} vs {}",
                w[0],
                w[1]
            );
        }
        for &k in &keys {
            assert_eq!(Packed6::pack(k).unpack(), k);
        }
        let mut t = MembershipTable::default();
        for &k in keys.iter().rev() {
            t.set(k, IfIndex(4), AddedBy::IGMP);
        }
        let v4 = MembershipKey::any(g(1));
        t.set(v4, IfIndex(4), AddedBy::OWNER);
        let mut want = keys.clone();
        want.insert(0, v4);
        assert_eq!(t.keys_on(IfIndex(4)), want);
        assert_eq!(t.iter().map(|(k, _, _)| k).collect::<Vec<_>>(), want);
        let of_g1: Vec<_> = t.group_keys_on(IfIndex(4), g6(1)).collect();
        assert_eq!(of_g1.len(), 4);
        assert!(of_g1.iter().all(|k| k.group == g6(1)));
        assert_eq!(
            t.group_keys_on(IfIndex(4), g(1)).collect::<Vec<_>>(),
            vec![v4]
        );
        assert_eq!(t.get(keys[0], IfIndex(4)), AddedBy::IGMP);
        assert_eq!(t.get(v4, IfIndex(4)), AddedBy::OWNER);
        assert_eq!(t.len(), 7);
        let mut groups = vec![g(1), GroupAddr::ALL_NODES, g6(1), g6(2)];
        groups.sort();
        assert_eq!(t.changed_groups(), groups);
        for &k in &keys {
            t.set(k, IfIndex(4), AddedBy::NONE);
        }
        assert_eq!(t.len(), 1);
        assert_eq!(t.ifaces_with(keys[0]).count(), 0);
    }
}
