//! What a protocol may see of the router while it handles an event: the
//! kernel's links, which interfaces it owns, the memberships on an
//! interface and the forwarding entries, read-only. The manager itself
//! stays out of reach, so a protocol can only change state through the
//! actions it returns.

use std::time::Instant;

use crate::core::iface::{IfaceTable, Link};
use crate::core::mgm::Mgm;
use crate::core::types::{ComponentId, FlowKey, GroupAddr, IfIndex, MembershipKey, ProtoId};

/// A protocol's read-only view of the router. Built by the router for one
/// delivery.
pub struct ProtoView<'a> {
    now: Instant,
    me: ProtoId,
    ifaces: &'a IfaceTable,
    mgm: &'a Mgm,
    changed_groups: &'a [GroupAddr],
}

impl<'a> ProtoView<'a> {
    pub(crate) fn new(
        now: Instant,
        me: ProtoId,
        ifaces: &'a IfaceTable,
        mgm: &'a Mgm,
        changed_groups: &'a [GroupAddr],
    ) -> ProtoView<'a> {
        ProtoView {
            now,
            me,
            ifaces,
            mgm,
            changed_groups,
        }
    }

    /// The time of the input being handled.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The kernel's link `ifindex`, if it exists.
    pub fn link(&self, ifindex: IfIndex) -> Option<&'a Link> {
        self.ifaces.get(ifindex)
    }

    /// The kernel's link called `name`, if it exists.
    pub fn link_named(&self, name: &str) -> Option<&'a Link> {
        self.ifaces.by_name(name)
    }

    /// Whether this protocol is the routing owner of `ifindex`.
    pub fn owns(&self, ifindex: IfIndex) -> bool {
        self.mgm
            .interface(ifindex)
            .is_some_and(|i| i.owner == Some(self.me))
    }

    /// The interface called `name`, if it exists and this protocol owns it.
    pub fn owned_named(&self, name: &str) -> Option<IfIndex> {
        let ifindex = self.ifaces.by_name(name)?.ifindex;
        self.owns(ifindex).then_some(ifindex)
    }

    /// The memberships held on `ifindex` (whoever added them), in key
    /// order, each once.
    pub fn memberships_on(&self, ifindex: IfIndex) -> Vec<MembershipKey> {
        let mut keys: Vec<MembershipKey> =
            self.mgm.memberships_on(ifindex).map(|m| m.key).collect();
        keys.dedup();
        keys
    }

    /// The keys of `group` held on `ifindex`, in key order.
    pub fn memberships_of(&self, ifindex: IfIndex, group: GroupAddr) -> Vec<MembershipKey> {
        self.mgm.memberships_of(ifindex, group).collect()
    }

    /// Every forwarding entry with its incoming interface, in flow order.
    pub fn flows(&self) -> impl Iterator<Item = (FlowKey, IfIndex)> + 'a {
        self.mgm.mfes().map(|(f, m)| (*f, m.iif()))
    }

    /// The forwarding entries whose incoming interface this protocol owns,
    /// in flow order.
    pub fn own_flows(&self) -> impl Iterator<Item = (FlowKey, IfIndex)> + 'a {
        let me = Some(ComponentId::Protocol(self.me));
        self.mgm
            .mfes()
            .filter(move |(_, m)| m.iif_owner() == me)
            .map(|(f, m)| (*f, m.iif()))
    }

    /// Groups whose memberships changed during the operation this commit
    /// ends, in address order (at other events: so far in the operation).
    pub fn changed_groups(&self) -> &'a [GroupAddr] {
        self.changed_groups
    }
}
