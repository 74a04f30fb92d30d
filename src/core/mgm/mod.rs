//! The Multicast Group Manager: who owns each interface, which memberships
//! exist where, and which forwarding entries (MFEs) follow from them.
//!
//! Sans-IO. Every operation returns the ordered [`Effect`]s it caused
//! (callbacks owed to components, memberships attributed, forwarding entries
//! created/changed/deleted); the caller delivers callbacks and programs the
//! kernel. Misuse returns an [`MgmError`] and changes nothing. ARCHITECTURE.md
//! describes the model and the decisions mgmd took where it was open.
//!
//! The rooms: [`effect`] (what operations return), `ownership` (take,
//! release and the sequence), `members` (memberships and their alerts),
//! `forwarding` (entries and their outgoing lists), and the tables they
//! work on (`iface`, `membership`, `mfe`).
//!
//! # Ownership sequence
//!
//! Every change of an interface's routing owner (take, release, interface
//! removal) where IGMP is enabled runs `DisableIgmp` → `OwnerChanged` →
//! flush of every membership on the interface (the old owner's and IGMP's,
//! with the prune alerts they owe) → deletion of the forwarding entries
//! whose incoming interface it is → `EnableIgmp`. IGMP answers `EnableIgmp`
//! by re-adding its current memberships with ordinary
//! [`Mgm::add_membership`] calls (`ComponentId::Igmp`, [`MembershipFlags::JOIN`]),
//! which the caller makes right after the operation returns and before it
//! reports the operation complete.
//!
//! The manager reports every step. Acting on the *net* change of a whole
//! sequence (so that a receiver IGMP still holds sees no gap) is the
//! caller's part: the router programs the kernel from the entries as they
//! are at the end of each input, and protocols derive what they send from
//! their state at commit.
//!
//! # Alerts
//!
//! For a (*,G) key, component X gets a join alert when "some component other
//! than X has the key on an interface" turns true, a prune alert when it
//! turns false; every registered component and IGMP is a candidate. A
//! membership counts for the interface's routing owner if there is one,
//! else for IGMP. For an (S,G) key, only the owner of the incoming
//! interface of the forwarding entry (S,G) is alerted, once that entry
//! exists (entries are made when data arrives); `SourceSel::Except`
//! entries never raise alerts, they only filter forwarding.

pub mod effect;
mod forwarding;
mod iface;
mod members;
mod membership;
mod mfe;
mod ownership;

use std::collections::BTreeMap;

pub use self::effect::{Effect, Membership, MembershipFlags, MgmError};
pub use self::iface::{IgmpState, MgmIface};
pub use self::mfe::Mfe;

use self::iface::IfaceTable;
use self::membership::{AddedBy, MembershipTable};
use crate::core::hash::IntMap;
use crate::core::types::{
    ComponentId, FlowKey, GroupAddr, IfIndex, MembershipKey, ProtoId, SourceSel,
};

// ===== Mgm =====

/// The group manager's whole state. See the module documentation.
#[derive(Clone, Debug, Default)]
pub struct Mgm {
    protocols: BTreeMap<ProtoId, String>,
    last_proto: u32,
    ifaces: IfaceTable,
    members: MembershipTable,
    mfes: BTreeMap<FlowKey, Mfe>,
    /// Number of entries per group (address bits), so that a (*,G) change
    /// skips the range walk over `mfes` when G has none.
    mfe_groups: IntMap<GroupAddr, u32>,
}

impl Mgm {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a routing protocol instance. Names are unique among live
    /// registrations; handles are never reused.
    pub fn register(&mut self, name: &str) -> Result<ProtoId, MgmError> {
        if self.protocols.values().any(|n| n == name) {
            return Err(MgmError::AlreadyRegistered(name.to_owned()));
        }
        self.last_proto += 1;
        let p = ProtoId(self.last_proto);
        self.protocols.insert(p, name.to_owned());
        Ok(p)
    }

    /// Deregisters a protocol; it must have released every interface.
    pub fn deregister(&mut self, p: ProtoId) -> Result<Vec<Effect>, MgmError> {
        self.check_protocol(ComponentId::Protocol(p))?;
        let owned: Vec<IfIndex> = self
            .ifaces
            .iter()
            .filter(|(_, i)| i.owner == Some(p))
            .map(|(&k, _)| k)
            .collect();
        if !owned.is_empty() {
            return Err(MgmError::StillOwnsInterfaces {
                proto: p,
                ifaces: owned,
            });
        }
        self.protocols.remove(&p);
        Ok(Vec::new())
    }

    /// Registered protocols, in handle order.
    pub fn protocols(&self) -> impl Iterator<Item = (ProtoId, &str)> {
        self.protocols.iter().map(|(&p, n)| (p, n.as_str()))
    }

    /// Makes an interface known (or updates name and state of a known one).
    pub fn interface_add(&mut self, ifindex: IfIndex, name: &str, up: bool) -> Vec<Effect> {
        match self.ifaces.get_mut(&ifindex) {
            Some(i) => {
                i.name = name.to_owned();
                let mut out = Vec::new();
                self.apply_up(ifindex, up, &mut out);
                out
            }
            None => {
                self.ifaces.insert(ifindex, MgmIface::new(name, up));
                Vec::new()
            }
        }
    }

    /// Down: memberships, ownership and the entries coming in on the
    /// interface stay, but it leaves every outgoing list. Up: outgoing
    /// lists are recomputed, so it is back wherever its memberships say.
    pub fn interface_set_up(
        &mut self,
        ifindex: IfIndex,
        up: bool,
    ) -> Result<Vec<Effect>, MgmError> {
        self.iface(ifindex)?;
        let mut out = Vec::new();
        self.apply_up(ifindex, up, &mut out);
        Ok(out)
    }

    /// Silenced: another router forwards to the link (see
    /// [`MgmIface::silenced`]); the interface leaves every outgoing list
    /// and keeps its memberships. Back: outgoing lists are recomputed.
    pub fn interface_set_silenced(
        &mut self,
        ifindex: IfIndex,
        silenced: bool,
    ) -> Result<Vec<Effect>, MgmError> {
        self.iface(ifindex)?;
        let mut out = Vec::new();
        self.apply_silenced(ifindex, silenced, &mut out);
        Ok(out)
    }

    /// The interface is gone: its routing owner is released with the full
    /// sequence, IGMP is released, entries touching it are cleaned and it
    /// is forgotten. IGMP's re-adds answering the `EnableIgmp` fail with
    /// `UnknownInterface` and may be dropped.
    pub fn interface_remove(&mut self, ifindex: IfIndex) -> Result<Vec<Effect>, MgmError> {
        let iface = self.iface(ifindex)?;
        let mut out = Vec::new();
        if iface.owner.is_some() {
            self.change_owner(ifindex, None, &mut out);
        }
        if self.iface(ifindex)?.igmp != IgmpState::Off {
            self.release_igmp(ifindex, &mut out);
        }
        // Anything left (an unowned interface's entries, overrides).
        self.flush_iface(ifindex, AddedBy::BOTH, false, &mut out);
        self.delete_mfes_with_iif(ifindex, &mut out);
        self.ifaces.remove(&ifindex);
        self.members.forget_iface(ifindex);
        self.clear_overrides(ifindex, &mut out);
        Ok(out)
    }

    pub fn interface(&self, ifindex: IfIndex) -> Option<&MgmIface> {
        self.ifaces.get(&ifindex)
    }

    /// Known interfaces, in ifindex order.
    pub fn interfaces(&self) -> impl Iterator<Item = (IfIndex, &MgmIface)> {
        self.ifaces.iter().map(|(&k, i)| (k, i))
    }

    /// Every membership row, ordered by key (group, then source), then
    /// interface, then adder. Each call sorts the whole table's keys
    /// (O(k log k)); to follow a few interfaces, [`Mgm::memberships_on`]
    /// costs only their entries.
    pub fn memberships(&self) -> impl Iterator<Item = Membership> + '_ {
        self.members
            .iter()
            .flat_map(move |(key, ifindex, by)| self.rows(key, ifindex, by))
    }

    /// Membership rows on one interface, ordered by key. Costs O(m log m)
    /// for the m entries on that interface (its own key index is sorted,
    /// nothing else is visited); collect it once rather than once per group.
    pub fn memberships_on(&self, ifindex: IfIndex) -> impl Iterator<Item = Membership> + '_ {
        self.members
            .keys_on(ifindex)
            .into_iter()
            .flat_map(move |key| self.rows(key, ifindex, self.members.get(key, ifindex)))
    }

    /// Number of (key, interface) entries.
    pub fn membership_count(&self) -> usize {
        self.members.len()
    }

    /// Keys that some interface wants ((*,G) and (S,G); blocks excluded),
    /// once each, ordered by group then source.
    pub fn groups_with_members(&self) -> impl Iterator<Item = MembershipKey> + '_ {
        let mut last = None;
        self.members.iter().filter_map(move |(key, _, _)| {
            if matches!(key.source, SourceSel::Except(_)) || last == Some(key) {
                None
            } else {
                last = Some(key);
                Some(key)
            }
        })
    }

    /// The keys of `group` held on `ifindex` (by anyone), in key order.
    pub fn memberships_of(
        &self,
        ifindex: IfIndex,
        group: GroupAddr,
    ) -> impl Iterator<Item = MembershipKey> + '_ {
        self.members.group_keys_on(ifindex, group)
    }

    /// Groups whose memberships changed since the last
    /// [`Mgm::clear_changed_groups`], in address order: what a protocol
    /// that merges memberships per group must look at again.
    pub fn changed_groups(&self) -> Vec<GroupAddr> {
        self.members.changed_groups()
    }

    /// Starts a new round of [`Mgm::changed_groups`].
    pub fn clear_changed_groups(&mut self) {
        self.members.clear_changed();
    }

    // ===== helper functions =====

    fn iface(&self, ifindex: IfIndex) -> Result<&MgmIface, MgmError> {
        self.ifaces
            .get(&ifindex)
            .ok_or(MgmError::UnknownInterface(ifindex))
    }

    fn iface_owner(&self, ifindex: IfIndex) -> Option<ComponentId> {
        self.ifaces
            .get(&ifindex)
            .and_then(MgmIface::owner_component)
    }

    fn check_protocol(&self, c: ComponentId) -> Result<(), MgmError> {
        match c {
            ComponentId::Protocol(p) if !self.protocols.contains_key(&p) => {
                Err(MgmError::UnknownProtocol(p))
            }
            _ => Ok(()),
        }
    }

    /// IGMP and every registered protocol, in component order.
    fn components(&self) -> impl Iterator<Item = ComponentId> + '_ {
        std::iter::once(ComponentId::Igmp)
            .chain(self.protocols.keys().map(|&p| ComponentId::Protocol(p)))
    }

    fn component_of(&self, ifindex: IfIndex) -> ComponentId {
        self.ifaces
            .get(&ifindex)
            .map_or(ComponentId::Igmp, MgmIface::component)
    }

    fn adder(&self, bit: AddedBy, ifindex: IfIndex) -> ComponentId {
        match (bit, self.ifaces.get(&ifindex).and_then(|i| i.owner)) {
            (AddedBy::OWNER, Some(p)) => ComponentId::Protocol(p),
            _ => ComponentId::Igmp,
        }
    }

    fn rows(
        &self,
        key: MembershipKey,
        ifindex: IfIndex,
        by: AddedBy,
    ) -> impl Iterator<Item = Membership> + use<> {
        let component = self.component_of(ifindex);
        let owner = self.ifaces.get(&ifindex).and_then(|i| i.owner);
        let igmp = by.contains(AddedBy::IGMP).then_some(ComponentId::Igmp);
        let prot = owner
            .filter(|_| by.contains(AddedBy::OWNER))
            .map(ComponentId::Protocol);
        [igmp, prot]
            .into_iter()
            .flatten()
            .map(move |by| Membership {
                key,
                ifindex,
                by,
                component,
            })
    }
}
