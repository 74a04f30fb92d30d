//! The box's own host memberships: what protocols wish to receive as a
//! host on an interface (a proxy's upstream membership, static joins),
//! merged per (interface, group) with the one RFC 3376 merge
//! ([`crate::core::filter::merge`]), and applied to the kernel as the net
//! change at commit. A membership nobody wishes any more is held for
//! [`HOST_LEAVE_HOLD`] first, so that an interface moving between two
//! protocols (two control requests) sends no leave upstream.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::core::filter::{self, HostFilter};
use crate::core::iface::IfaceTable;
use crate::core::output::Output;
use crate::core::types::{GroupAddr, IfIndex, ProtoId};

/// How long a host membership nobody wishes any more is kept before the
/// kernel is told to leave.
pub const HOST_LEAVE_HOLD: Duration = Duration::from_secs(3);

type Key = (IfIndex, GroupAddr);

/// Wishes, what the kernel holds, and the holds.
#[derive(Debug, Default)]
pub(super) struct HostTable {
    /// Host memberships each protocol wishes, per (interface, group).
    wishes: BTreeMap<Key, BTreeMap<ProtoId, HostFilter>>,
    /// Host memberships the kernel holds for us.
    applied: BTreeMap<Key, HostFilter>,
    /// Memberships nobody wishes any more, left at the deadline.
    hold: BTreeMap<Key, Instant>,
    /// Memberships whose wishes (or interface) changed since the last
    /// commit: the only ones a commit looks at, with the due holds.
    dirty: BTreeSet<Key>,
}

impl HostTable {
    /// Protocol `id` wishes `filter` for `group` on `ifindex` (`Include` of
    /// nothing: no wish).
    pub fn wish(&mut self, id: ProtoId, ifindex: IfIndex, group: GroupAddr, filter: HostFilter) {
        let key = (ifindex, group);
        self.dirty.insert(key);
        let wishes = self.wishes.entry(key).or_default();
        if filter.is_none() {
            wishes.remove(&id);
        } else {
            wishes.insert(id, filter);
        }
        if wishes.is_empty() {
            self.wishes.remove(&key);
        }
    }

    /// Protocol `id` is gone: every wish of its is withdrawn.
    pub fn withdraw_all(&mut self, id: ProtoId) {
        let mut emptied = Vec::new();
        for (key, wishes) in self.wishes.iter_mut() {
            if wishes.remove(&id).is_some() {
                self.dirty.insert(*key);
                if wishes.is_empty() {
                    emptied.push(*key);
                }
            }
        }
        for key in emptied {
            self.wishes.remove(&key);
        }
    }

    /// The interface vanished: its memberships went with it.
    pub fn iface_gone(&mut self, ifindex: IfIndex) {
        let on_it: Vec<Key> = self
            .wishes
            .keys()
            .chain(self.applied.keys())
            .filter(|(i, _)| *i == ifindex)
            .copied()
            .collect();
        self.dirty.extend(on_it);
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.hold.values().copied().min()
    }

    /// The net change of the merged wishes, as outputs. Only memberships
    /// whose wishes or interface changed, and those whose hold is due, are
    /// looked at: the cost follows the changes, not the number of
    /// memberships.
    pub fn commit(&mut self, now: Instant, ifaces: &IfaceTable) -> Vec<Output> {
        let mut out = Vec::new();
        let mut keys = std::mem::take(&mut self.dirty);
        keys.extend(
            self.hold
                .iter()
                .filter(|(_, d)| **d <= now)
                .map(|(k, _)| *k),
        );
        for key in keys {
            let (ifindex, group) = key;
            let (gone, merged) = self.target(&key, ifaces);
            match merged {
                Some(filter) => {
                    self.hold.remove(&key);
                    if self.applied.get(&key) != Some(&filter) {
                        self.applied.insert(key, filter.clone());
                        out.push(Output::HostMembership {
                            ifindex,
                            group,
                            filter,
                            local: ifaces.get(ifindex).and_then(|l| l.primary_v4()),
                        });
                    }
                }
                None if self.applied.contains_key(&key) => {
                    let deadline = if gone {
                        now
                    } else {
                        *self.hold.entry(key).or_insert(now + HOST_LEAVE_HOLD)
                    };
                    if deadline <= now {
                        self.hold.remove(&key);
                        self.applied.remove(&key);
                        out.push(Output::HostMembership {
                            ifindex,
                            group,
                            filter: HostFilter::none(),
                            local: ifaces.get(ifindex).and_then(|l| l.primary_v4()),
                        });
                    }
                }
                None => {}
            }
            if gone {
                self.wishes.remove(&key);
            }
        }
        debug_assert!(
            self.settled(now, ifaces),
            "a changed host membership was not looked at"
        );
        out
    }

    /// What the kernel should hold for a host membership: whether its
    /// interface is gone, and the merged wishes (`None`: nobody wishes it).
    fn target(&self, key: &Key, ifaces: &IfaceTable) -> (bool, Option<HostFilter>) {
        let gone = ifaces.get(key.0).is_none();
        let merged = if gone {
            None
        } else {
            self.wishes.get(key).and_then(|w| filter::merge(w.values()))
        };
        (gone, merged)
    }

    /// Every host membership as the wishes say, or held (the check that
    /// every change marked its membership).
    fn settled(&self, now: Instant, ifaces: &IfaceTable) -> bool {
        let keys: BTreeSet<&Key> = self.wishes.keys().chain(self.applied.keys()).collect();
        keys.into_iter().all(|key| {
            let (gone, merged) = self.target(key, ifaces);
            match merged {
                Some(f) => self.applied.get(key) == Some(&f) && !self.hold.contains_key(key),
                None => {
                    !gone
                        && self.applied.contains_key(key)
                        && self.hold.get(key).is_some_and(|d| *d > now)
                        || !self.applied.contains_key(key)
                }
            }
        })
    }
}
