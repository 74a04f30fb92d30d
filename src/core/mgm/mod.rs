//! The Multicast Group Manager: who owns each interface, which memberships
//! exist where, and which forwarding entries (MFEs) follow from them.
//!
//! Sans-IO. Every operation returns the ordered [`Effect`]s it caused
//! (callbacks owed to components, memberships attributed, forwarding entries
//! created/changed/deleted); the caller delivers callbacks and programs the
//! kernel. Misuse returns an [`MgmError`] and changes nothing.
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
//! # Net change
//!
//! To make that hitless, wrap the operation and IGMP's re-adds in
//! [`Mgm::begin_batch`] / [`Mgm::end_batch`]: the effects stay complete for
//! logging, and [`NetChange`] says which forwarding entries really changed
//! and which join/prune alerts a component would have got from one atomic
//! step. The kernel is programmed from the net change.
//!
//! # Alerts
//!
//! For a (*,G) key, component X gets a join alert when "some component other
//! than X has the key on an interface" turns true, a prune alert when it
//! turns false; every registered component and IGMP is a candidate. A
//! membership counts for the interface's routing owner if there is one,
//! else for IGMP. For an (S,G) key, only the owner of the RPF interface of S
//! is alerted: the incoming interface of the forwarding entry (S,G) if one
//! exists, else the interface recorded with [`Mgm::set_rpf_interface`].
//! `SourceSel::Except` entries never raise alerts; they only filter
//! forwarding.

mod batch;
mod iface;
mod membership;
mod mfe;

use std::collections::{BTreeMap, btree_map};
use std::net::Ipv4Addr;

use serde::Serialize;

pub use self::batch::{AlertKind, MfeDelta, NetAlert, NetChange};
pub use self::iface::{IgmpState, MgmIface};
pub use self::mfe::{Mfe, MfeRoute};

use self::batch::{Batch, Holders};
use self::iface::IfaceTable;
use self::membership::{AddedBy, MembershipTable, pack, unpack};
use self::mfe::{contains_sorted, insert_sorted, remove_sorted};
use crate::core::hash::IntMap;
use crate::core::types::{
    ComponentId, FlowKey, GroupAddr, IfIndex, MembershipKey, ProtoId, SourceSel,
};

// ===== Effect =====

/// One thing an operation caused, in the order it happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "effect", rename_all = "kebab-case")]
pub enum Effect {
    /// Callback to IGMP: stop adding/deleting memberships on `ifindex`.
    DisableIgmp {
        ifindex: IfIndex,
    },
    /// The routing owner of `ifindex` changed.
    OwnerChanged {
        ifindex: IfIndex,
        old: Option<ProtoId>,
        new: Option<ProtoId>,
    },
    /// Callback to IGMP: ownership change complete, re-add memberships.
    EnableIgmp {
        ifindex: IfIndex,
    },
    /// A membership entry now exists, attributed to `component`
    /// (the interface's owner at that moment); `by` is who added it.
    MembershipAdded {
        key: MembershipKey,
        ifindex: IfIndex,
        by: ComponentId,
        component: ComponentId,
    },
    /// A membership entry went away.
    MembershipRemoved {
        key: MembershipKey,
        ifindex: IfIndex,
        by: ComponentId,
        component: ComponentId,
    },
    JoinAlert {
        to: ComponentId,
        key: MembershipKey,
        member_update: bool,
    },
    PruneAlert {
        to: ComponentId,
        key: MembershipKey,
        ifindex: IfIndex,
        member_delete: bool,
    },
    LocalJoin {
        to: ProtoId,
        key: MembershipKey,
        ifindex: IfIndex,
    },
    LocalLeave {
        to: ProtoId,
        key: MembershipKey,
        ifindex: IfIndex,
    },
    CreationAlert {
        to: ComponentId,
        flow: FlowKey,
        iif: IfIndex,
        oifs: Vec<IfIndex>,
    },
    MfeCreated {
        flow: FlowKey,
        iif: IfIndex,
        oifs: Vec<IfIndex>,
    },
    MfeChanged {
        flow: FlowKey,
        iif: IfIndex,
        oifs: Vec<IfIndex>,
    },
    MfeDeleted {
        flow: FlowKey,
    },
    UpstreamChanged {
        flow: FlowKey,
        upstream: Option<Ipv4Addr>,
    },
}

// ===== MgmError =====

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MgmError {
    #[error("failed to register protocol: the name '{0}' is already registered")]
    AlreadyRegistered(String),
    #[error("failed to find protocol {0}: it is not registered")]
    UnknownProtocol(ProtoId),
    #[error("failed to deregister {proto}: it still owns interfaces {}", list(.ifaces))]
    StillOwnsInterfaces {
        proto: ProtoId,
        ifaces: Vec<IfIndex>,
    },
    #[error("interface {ifindex} is already owned by {owner}")]
    AlreadyOwned {
        ifindex: IfIndex,
        owner: ComponentId,
    },
    #[error("failed to act on interface {ifindex}: {component} does not own it")]
    NotOwner {
        ifindex: IfIndex,
        component: ComponentId,
    },
    #[error("failed to find interface {0}: it is not known to the group manager")]
    UnknownInterface(IfIndex),
    #[error("failed to change memberships on interface {0}: IGMP is disabled there")]
    IgmpDisabled(IfIndex),
    #[error("failed to enable IGMP on interface {0}: it is not disabled")]
    IgmpNotDisabled(IfIndex),
    #[error("failed to find forwarding entry {0}")]
    NotFound(FlowKey),
    #[error("failed to create a forwarding entry coming in on interface {0}: it is down")]
    InterfaceDown(IfIndex),
    #[error("failed to create forwarding entry {0}: it already exists")]
    MfeExists(FlowKey),
    #[error("failed to change membership: neither the join nor the forward flag is set")]
    NoFlags,
}

fn list(ifaces: &[IfIndex]) -> String {
    let v: Vec<String> = ifaces.iter().map(|i| i.to_string()).collect();
    v.join(", ")
}

// ===== MembershipFlags / Membership =====

/// `MGM_JOIN_STATE_FLAG` / `MGM_FORWARD_STATE_FLAG`: JOIN changes the
/// membership table (and every matching forwarding entry, with alerts);
/// FORWARD only adds or removes the interface in the forwarding entry of
/// that exact (S,G), if it exists (a no-op for (*,G) or a missing entry).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MembershipFlags {
    pub join: bool,
    pub forward: bool,
}

impl MembershipFlags {
    pub const JOIN: MembershipFlags = MembershipFlags {
        join: true,
        forward: false,
    };
    pub const FORWARD: MembershipFlags = MembershipFlags {
        join: false,
        forward: true,
    };
    pub const BOTH: MembershipFlags = MembershipFlags {
        join: true,
        forward: true,
    };
}

/// One row of the membership table: `by` added `key` on `ifindex`; it
/// counts for `component`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Membership {
    pub key: MembershipKey,
    pub ifindex: IfIndex,
    pub by: ComponentId,
    pub component: ComponentId,
}

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
    mfe_groups: IntMap<u32, u32>,
    rpf: BTreeMap<Ipv4Addr, IfIndex>,
    batch: Option<Batch>,
}

impl Mgm {
    pub fn new() -> Self {
        Self::default()
    }

    // ----- registration -----

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

    pub fn protocol_name(&self, p: ProtoId) -> Option<&str> {
        self.protocols.get(&p).map(String::as_str)
    }

    /// Registered protocols, in handle order.
    pub fn protocols(&self) -> impl Iterator<Item = (ProtoId, &str)> {
        self.protocols.iter().map(|(&p, n)| (p, n.as_str()))
    }

    // ----- interfaces -----

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

    /// Down: memberships and ownership stay, but the interface leaves every
    /// outgoing list and entries coming in on it are deleted. Up: outgoing
    /// lists are recomputed.
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
        self.rpf.retain(|_, i| *i != ifindex);
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

    // ----- ownership -----

    /// `Igmp` enables IGMP on the interface (coexisting with a routing
    /// owner, no sequence); a protocol takes routing ownership, running the
    /// ownership sequence if IGMP is enabled there.
    pub fn take_ownership(
        &mut self,
        c: ComponentId,
        ifindex: IfIndex,
    ) -> Result<Vec<Effect>, MgmError> {
        self.check_protocol(c)?;
        let iface = self.iface(ifindex)?;
        let mut out = Vec::new();
        match c {
            ComponentId::Igmp => {
                if iface.igmp != IgmpState::Off {
                    return Err(MgmError::AlreadyOwned {
                        ifindex,
                        owner: ComponentId::Igmp,
                    });
                }
                let routed = iface.owner.is_some();
                if let Some(i) = self.ifaces.get_mut(&ifindex) {
                    i.igmp = IgmpState::Enabled;
                }
                if !routed {
                    self.refresh_iif_owner(ifindex);
                }
            }
            ComponentId::Protocol(p) => {
                if let Some(q) = iface.owner {
                    return Err(MgmError::AlreadyOwned {
                        ifindex,
                        owner: ComponentId::Protocol(q),
                    });
                }
                self.change_owner(ifindex, Some(p), &mut out);
            }
        }
        Ok(out)
    }

    /// `Igmp` disables IGMP on the interface, removing its memberships
    /// there (each as if IGMP had deleted it); a protocol gives up routing
    /// ownership, running the ownership sequence if IGMP is enabled there.
    pub fn release_ownership(
        &mut self,
        c: ComponentId,
        ifindex: IfIndex,
    ) -> Result<Vec<Effect>, MgmError> {
        self.check_protocol(c)?;
        let iface = self.iface(ifindex)?;
        let mut out = Vec::new();
        match c {
            ComponentId::Igmp => {
                if iface.igmp == IgmpState::Off {
                    return Err(MgmError::NotOwner {
                        ifindex,
                        component: c,
                    });
                }
                self.release_igmp(ifindex, &mut out);
            }
            ComponentId::Protocol(p) => {
                if iface.owner != Some(p) {
                    return Err(MgmError::NotOwner {
                        ifindex,
                        component: c,
                    });
                }
                self.change_owner(ifindex, None, &mut out);
            }
        }
        Ok(out)
    }

    /// The routing owner if any, else `Igmp` if IGMP runs there, else None.
    pub fn owner(&self, ifindex: IfIndex) -> Result<Option<ComponentId>, MgmError> {
        Ok(self.iface(ifindex)?.owner_component())
    }

    /// First half of the ownership sequence on its own, to re-synchronise
    /// IGMP on an interface (e.g. after IGMP restarted there): IGMP's
    /// memberships are flushed (with `LocalLeave` to the routing owner) and
    /// IGMP may not add or delete there until [`Mgm::enable_igmp`].
    pub fn disable_igmp(&mut self, ifindex: IfIndex) -> Result<Vec<Effect>, MgmError> {
        match self.iface(ifindex)?.igmp {
            IgmpState::Off => Err(MgmError::NotOwner {
                ifindex,
                component: ComponentId::Igmp,
            }),
            IgmpState::Disabled => Err(MgmError::IgmpDisabled(ifindex)),
            IgmpState::Enabled => {
                let mut out = vec![Effect::DisableIgmp { ifindex }];
                self.set_igmp(ifindex, IgmpState::Disabled);
                self.flush_iface(ifindex, AddedBy::IGMP, true, &mut out);
                Ok(out)
            }
        }
    }

    /// Second half: IGMP is enabled again and owes its re-adds.
    pub fn enable_igmp(&mut self, ifindex: IfIndex) -> Result<Vec<Effect>, MgmError> {
        if self.iface(ifindex)?.igmp != IgmpState::Disabled {
            return Err(MgmError::IgmpNotDisabled(ifindex));
        }
        self.set_igmp(ifindex, IgmpState::Enabled);
        Ok(vec![Effect::EnableIgmp { ifindex }])
    }

    // ----- memberships -----

    /// Adds a membership (JOIN) and/or forwards the interface for that
    /// exact (S,G) (FORWARD). `c` must own the interface (IGMP: be enabled
    /// there). Adding what `c` already added changes nothing.
    pub fn add_membership(
        &mut self,
        c: ComponentId,
        key: MembershipKey,
        ifindex: IfIndex,
        flags: MembershipFlags,
    ) -> Result<Vec<Effect>, MgmError> {
        let by = self.check_member_access(c, ifindex, flags)?;
        let mut out = Vec::new();
        if flags.join {
            self.member_add(by, key, ifindex, &mut out);
        }
        if flags.forward {
            self.forward_override(key, ifindex, true, &mut out);
        }
        Ok(out)
    }

    /// Deletes a membership (JOIN) and/or stops forwarding the interface
    /// for that exact (S,G) (FORWARD). Deleting what `c` did not add
    /// changes nothing.
    pub fn delete_membership(
        &mut self,
        c: ComponentId,
        key: MembershipKey,
        ifindex: IfIndex,
        flags: MembershipFlags,
    ) -> Result<Vec<Effect>, MgmError> {
        let by = self.check_member_access(c, ifindex, flags)?;
        let mut out = Vec::new();
        if flags.join {
            self.member_remove(key, ifindex, by, true, &mut out);
        }
        if flags.forward {
            self.forward_override(key, ifindex, false, &mut out);
        }
        Ok(out)
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

    /// Changes whenever a membership entry changes: a reader that saw the
    /// same value before may skip recomputing what it derives from them.
    pub fn membership_generation(&self) -> u64 {
        self.members.generation()
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

    /// Records the RPF interface towards `source` (from the daemon's route
    /// lookup), used to address (S,G) alerts while no forwarding entry
    /// (S,G) exists. No alert is re-sent on a change.
    pub fn set_rpf_interface(&mut self, source: Ipv4Addr, ifindex: Option<IfIndex>) {
        match ifindex {
            Some(i) => self.rpf.insert(source, i),
            None => self.rpf.remove(&source),
        };
    }

    // ----- forwarding entries -----

    /// Creates the entry for a new flow once the RPF decision (and the iif
    /// owner's answer) gave its incoming interface, which must be up. Emits `MfeCreated`,
    /// one `CreationAlert` per component with outgoing interfaces (each
    /// sees only its own), then the iif owner's join (non-empty list) or
    /// prune (negative entry) alert with `member_update = false`.
    pub fn create_mfe(
        &mut self,
        flow: FlowKey,
        iif: IfIndex,
        upstream: Option<Ipv4Addr>,
    ) -> Result<Vec<Effect>, MgmError> {
        let iface = self.iface(iif)?;
        if !iface.up {
            return Err(MgmError::InterfaceDown(iif));
        }
        let iif_owner = iface.owner_component();
        // A new entry has no overrides yet. (Computed before the existence
        // check so that the table is searched once.)
        let oifs = self.oifs_with(flow, iif, None);
        match self.mfes.entry(flow) {
            btree_map::Entry::Occupied(_) => return Err(MgmError::MfeExists(flow)),
            btree_map::Entry::Vacant(slot) => {
                slot.insert(Mfe::new(iif, iif_owner, upstream, oifs.clone()));
            }
        }
        *self
            .mfe_groups
            .entry(flow.group.addr().to_bits())
            .or_default() += 1;
        if let Some(b) = self.batch.as_mut() {
            // It did not exist when the batch began, or it was deleted since.
            b.mfes.entry(flow).or_insert(None);
        }
        // Then one creation alert per component owning outgoing
        // interfaces, kept in component order (a handful of them).
        let mut out = Vec::with_capacity(3);
        for &o in &oifs {
            let Some(c) = self.ifaces.get(&o).map(|i| i.component()) else {
                continue;
            };
            let at =
                out.partition_point(|e| matches!(e, Effect::CreationAlert { to, .. } if *to < c));
            match out.get_mut(at) {
                Some(Effect::CreationAlert { to, oifs, .. }) if *to == c => oifs.push(o),
                _ => out.insert(
                    at,
                    Effect::CreationAlert {
                        to: c,
                        flow,
                        iif,
                        oifs: vec![o],
                    },
                ),
            }
        }
        let empty = oifs.is_empty();
        out.insert(0, Effect::MfeCreated { flow, iif, oifs });
        if let Some(to) = iif_owner {
            let key = MembershipKey::only(flow.source, flow.group);
            out.push(if empty {
                Effect::PruneAlert {
                    to,
                    key,
                    ifindex: iif,
                    member_delete: false,
                }
            } else {
                Effect::JoinAlert {
                    to,
                    key,
                    member_update: false,
                }
            });
        }
        Ok(out)
    }

    /// A creation-alert answer: `enabled = false` keeps `ifindex` out of
    /// the entry's outgoing list, `true` lets it in again.
    pub fn set_oif_enabled(
        &mut self,
        flow: FlowKey,
        ifindex: IfIndex,
        enabled: bool,
    ) -> Result<Vec<Effect>, MgmError> {
        if !self.mfes.contains_key(&flow) {
            return Err(MgmError::NotFound(flow));
        }
        self.iface(ifindex)?;
        if let Some(m) = self.mfes.get_mut(&flow) {
            m.edit_overrides(|o| {
                if enabled {
                    remove_sorted(&mut o.disabled, ifindex);
                } else {
                    insert_sorted(&mut o.disabled, ifindex);
                }
            });
        }
        let mut out = Vec::new();
        self.refresh_oif(flow, ifindex, &mut out);
        Ok(out)
    }

    /// Deletes an entry (idle, or route change); no alerts.
    pub fn delete_mfe(&mut self, flow: FlowKey) -> Result<Vec<Effect>, MgmError> {
        if !self.mfes.contains_key(&flow) {
            return Err(MgmError::NotFound(flow));
        }
        self.note_mfe(flow);
        self.mfe_remove(flow);
        Ok(vec![Effect::MfeDeleted { flow }])
    }

    pub fn set_upstream(
        &mut self,
        flow: FlowKey,
        upstream: Option<Ipv4Addr>,
    ) -> Result<Vec<Effect>, MgmError> {
        let m = self.mfes.get_mut(&flow).ok_or(MgmError::NotFound(flow))?;
        m.upstream = upstream;
        Ok(vec![Effect::UpstreamChanged { flow, upstream }])
    }

    pub fn mfe(&self, flow: FlowKey) -> Option<&Mfe> {
        self.mfes.get(&flow)
    }

    /// Every entry, ordered by group, then source.
    pub fn mfes(&self) -> impl Iterator<Item = (&FlowKey, &Mfe)> {
        self.mfes.iter()
    }

    /// The outgoing list the rule gives for `flow` coming in on `iif`:
    /// interfaces that are up and hold (S,G), or (*,G) without an (S,G)
    /// block, plus FORWARD adds, minus FORWARD deletes, minus
    /// creation-disabled, minus `iif`. Overrides are those of the existing
    /// entry, if any.
    pub fn wanted_oifs(&self, flow: FlowKey, iif: IfIndex) -> Vec<IfIndex> {
        self.oifs_with(flow, iif, self.mfes.get(&flow))
    }

    /// [`Self::wanted_oifs`] with the entry's overrides given.
    fn oifs_with(&self, flow: FlowKey, iif: IfIndex, mfe: Option<&Mfe>) -> Vec<IfIndex> {
        let mut cand: Vec<IfIndex> = self
            .members
            .ifaces_with(MembershipKey::any(flow.group))
            .chain(
                self.members
                    .ifaces_with(MembershipKey::only(flow.source, flow.group)),
            )
            .map(|(i, _)| i)
            .collect();
        if let Some(m) = mfe {
            cand.extend_from_slice(m.forward_on());
        }
        cand.sort_unstable();
        cand.dedup();
        cand.retain(|&k| self.oif_wanted(flow, iif, mfe, k));
        cand
    }

    // ----- batches -----

    /// Starts recording the state every later change starts from. Batches
    /// do not nest: a second `begin_batch` keeps the open one.
    pub fn begin_batch(&mut self) {
        if self.batch.is_none() {
            self.batch = Some(Batch::default());
        }
    }

    /// Ends the batch and returns what really changed since `begin_batch`
    /// (empty without an open batch).
    pub fn end_batch(&mut self) -> NetChange {
        let Some(mut b) = self.batch.take() else {
            return NetChange::default();
        };
        let mut net = NetChange::default();
        // The alert rule looks at the holders only: keys whose holders are
        // back where they started owe nothing.
        for c in b.changed_keys() {
            let (key, before, after) = (unpack(c.key), c.before, c.after);
            let rpf_owner = match key.source {
                SourceSel::Only(s) => self.rpf_owner(s, key.group),
                _ => None,
            };
            let candidates = self
                .components()
                .filter(|_| key.source == SourceSel::Any)
                .chain(rpf_owner);
            for x in candidates {
                let (was, is) = (batch::others(before, x), batch::others(after, x));
                if was != is {
                    net.alerts.push(NetAlert {
                        to: x,
                        key,
                        kind: if is {
                            AlertKind::Join
                        } else {
                            AlertKind::Prune
                        },
                        member_update: true,
                    });
                }
            }
        }
        for (flow, before) in b.mfes {
            let after = self.mfes.get(&flow).map(Mfe::route);
            if before == after {
                continue;
            }
            if let Some(a) = &after
                && let Some(kind) = batch::oif_alert(before.as_ref(), a)
                && let Some(to) = self.iface_owner(a.iif)
            {
                net.alerts.push(NetAlert {
                    to,
                    key: MembershipKey::only(flow.source, flow.group),
                    kind,
                    member_update: false,
                });
            }
            net.mfes.push(MfeDelta {
                flow,
                before,
                after,
            });
        }
        net
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

    /// Who may touch memberships on `ifindex`, and which bit they own.
    fn check_member_access(
        &self,
        c: ComponentId,
        ifindex: IfIndex,
        flags: MembershipFlags,
    ) -> Result<AddedBy, MgmError> {
        self.check_protocol(c)?;
        let iface = self.iface(ifindex)?;
        let by = match c {
            ComponentId::Igmp => match iface.igmp {
                IgmpState::Enabled => AddedBy::IGMP,
                IgmpState::Disabled => return Err(MgmError::IgmpDisabled(ifindex)),
                IgmpState::Off => {
                    return Err(MgmError::NotOwner {
                        ifindex,
                        component: c,
                    });
                }
            },
            ComponentId::Protocol(p) if iface.owner == Some(p) => AddedBy::OWNER,
            ComponentId::Protocol(_) => {
                return Err(MgmError::NotOwner {
                    ifindex,
                    component: c,
                });
            }
        };
        if !flags.join && !flags.forward {
            return Err(MgmError::NoFlags);
        }
        Ok(by)
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

    fn set_igmp(&mut self, ifindex: IfIndex, state: IgmpState) {
        if let Some(i) = self.ifaces.get_mut(&ifindex) {
            i.igmp = state;
        }
    }

    /// One pass over the interfaces holding `key`: who added the entry on
    /// `ifindex`, and which components hold the key elsewhere.
    fn scan(&self, key: MembershipKey, ifindex: IfIndex) -> (AddedBy, Holders) {
        let (mut old, mut h) = (AddedBy::NONE, Holders::None);
        for (i, by) in self.members.ifaces_with(key) {
            if i == ifindex {
                old = by;
            } else if h != Holders::Many {
                h = h.add(self.component_of(i));
            }
            if h == Holders::Many && i >= ifindex {
                break;
            }
        }
        (old, h)
    }

    /// The owner of the RPF interface towards `source`.
    fn rpf_owner(&self, source: Ipv4Addr, group: GroupAddr) -> Option<ComponentId> {
        let flow = FlowKey { group, source };
        let iif = match self.mfes.get(&flow) {
            Some(m) => m.iif,
            None => *self.rpf.get(&source)?,
        };
        self.iface_owner(iif)
    }

    /// Pushes `alert(to)` for each recipient of the alert owed when
    /// component `c` starts or stops holding `key` and `rest` holds it
    /// elsewhere.
    fn push_alerts(
        &self,
        key: MembershipKey,
        c: ComponentId,
        rest: Holders,
        out: &mut Vec<Effect>,
        alert: impl Fn(ComponentId) -> Effect,
    ) {
        match key.source {
            SourceSel::Except(_) => {}
            SourceSel::Only(s) => match self.rpf_owner(s, key.group) {
                Some(o) if o != c && rest.only_maybe(o) => out.push(alert(o)),
                _ => {}
            },
            SourceSel::Any => match rest {
                Holders::None => out.extend(self.components().filter(|&x| x != c).map(alert)),
                Holders::One(y) => out.push(alert(y)),
                Holders::Many => {}
            },
        }
    }

    /// Records in an open batch that the components holding `key` went
    /// from `before` to `after`.
    fn note_key(&mut self, key: MembershipKey, before: Holders, after: Holders) {
        if let Some(b) = self.batch.as_mut() {
            b.note_key(pack(key), before, after);
        }
    }

    fn note_mfe(&mut self, flow: FlowKey) {
        if self
            .batch
            .as_ref()
            .is_some_and(|b| !b.mfes.contains_key(&flow))
        {
            let route = self.mfes.get(&flow).map(Mfe::route);
            if let Some(b) = self.batch.as_mut() {
                b.mfes.insert(flow, route);
            }
        }
    }

    fn member_add(
        &mut self,
        by: AddedBy,
        key: MembershipKey,
        ifindex: IfIndex,
        out: &mut Vec<Effect>,
    ) {
        let (old, rest) = self.scan(key, ifindex);
        if old.contains(by) {
            return;
        }
        let component = self.component_of(ifindex);
        let first = old.is_empty();
        if first {
            self.note_key(key, rest, rest.add(component));
        }
        self.members.set(key, ifindex, old.with(by));
        out.push(Effect::MembershipAdded {
            key,
            ifindex,
            by: self.adder(by, ifindex),
            component,
        });
        if by == AddedBy::IGMP
            && let ComponentId::Protocol(to) = component
        {
            out.push(Effect::LocalJoin { to, key, ifindex });
        }
        if first {
            // No alert when `component` held the key elsewhere already.
            if rest != Holders::One(component) {
                self.push_alerts(key, component, rest, out, |to| Effect::JoinAlert {
                    to,
                    key,
                    member_update: true,
                });
            }
            self.refresh_key(key, ifindex, out);
        }
    }

    /// Removes the `bits` of the entry (key, ifindex) that are set, with
    /// `LocalLeave` to the owner for IGMP's bit when `local`.
    fn member_remove(
        &mut self,
        key: MembershipKey,
        ifindex: IfIndex,
        bits: AddedBy,
        local: bool,
        out: &mut Vec<Effect>,
    ) {
        let (old, rest) = self.scan(key, ifindex);
        let gone = old.intersect(bits);
        if gone.is_empty() {
            return;
        }
        let component = self.component_of(ifindex);
        let left = old.without(gone);
        if left.is_empty() {
            self.note_key(key, rest.add(component), rest);
        }
        self.members.set(key, ifindex, left);
        for bit in [AddedBy::IGMP, AddedBy::OWNER] {
            if !gone.contains(bit) {
                continue;
            }
            out.push(Effect::MembershipRemoved {
                key,
                ifindex,
                by: self.adder(bit, ifindex),
                component,
            });
            if local
                && bit == AddedBy::IGMP
                && let ComponentId::Protocol(to) = component
            {
                out.push(Effect::LocalLeave { to, key, ifindex });
            }
        }
        if left.is_empty() {
            // No alert when `component` still holds the key elsewhere.
            if rest != Holders::One(component) {
                self.push_alerts(key, component, rest, out, |to| Effect::PruneAlert {
                    to,
                    key,
                    ifindex,
                    member_delete: true,
                });
            }
            self.refresh_key(key, ifindex, out);
        }
    }

    /// Removes the `bits` of every entry on `ifindex`.
    fn flush_iface(&mut self, ifindex: IfIndex, bits: AddedBy, local: bool, out: &mut Vec<Effect>) {
        let keys = self.members.keys_on(ifindex);
        for key in keys {
            self.member_remove(key, ifindex, bits, local, out);
        }
    }

    /// The ownership sequence (module documentation).
    fn change_owner(&mut self, ifindex: IfIndex, new: Option<ProtoId>, out: &mut Vec<Effect>) {
        let Some(iface) = self.ifaces.get(&ifindex) else {
            return;
        };
        let old = iface.owner;
        let igmp_on = iface.igmp == IgmpState::Enabled;
        if igmp_on {
            out.push(Effect::DisableIgmp { ifindex });
            self.set_igmp(ifindex, IgmpState::Disabled);
        }
        out.push(Effect::OwnerChanged { ifindex, old, new });
        // Flushed under the old attribution: prunes are owed by the old
        // component.
        self.flush_iface(ifindex, AddedBy::BOTH, false, out);
        self.delete_mfes_with_iif(ifindex, out);
        if let Some(i) = self.ifaces.get_mut(&ifindex) {
            i.owner = new;
        }
        self.clear_overrides(ifindex, out);
        if igmp_on {
            self.set_igmp(ifindex, IgmpState::Enabled);
            out.push(Effect::EnableIgmp { ifindex });
        }
    }

    fn release_igmp(&mut self, ifindex: IfIndex, out: &mut Vec<Effect>) {
        self.flush_iface(ifindex, AddedBy::IGMP, true, out);
        self.set_igmp(ifindex, IgmpState::Off);
        if self.ifaces.get(&ifindex).is_some_and(|i| i.owner.is_none()) {
            self.delete_mfes_with_iif(ifindex, out);
            self.clear_overrides(ifindex, out);
        }
    }

    fn refresh_iif_owner(&mut self, ifindex: IfIndex) {
        let owner = self.iface_owner(ifindex);
        for m in self.mfes.values_mut().filter(|m| m.iif == ifindex) {
            m.iif_owner = owner;
        }
    }

    fn mfe_remove(&mut self, flow: FlowKey) {
        if self.mfes.remove(&flow).is_some() {
            let g = flow.group.addr().to_bits();
            if let Some(n) = self.mfe_groups.get_mut(&g) {
                *n -= 1;
                if *n == 0 {
                    self.mfe_groups.remove(&g);
                }
            }
        }
    }

    fn delete_mfes_with_iif(&mut self, ifindex: IfIndex, out: &mut Vec<Effect>) {
        let flows: Vec<FlowKey> = self
            .mfes
            .iter()
            .filter(|(_, m)| m.iif == ifindex)
            .map(|(&f, _)| f)
            .collect();
        for flow in flows {
            self.note_mfe(flow);
            self.mfe_remove(flow);
            out.push(Effect::MfeDeleted { flow });
        }
    }

    /// Drops creation-answer and FORWARD overrides for `ifindex` (they were
    /// given by its former owner) and refreshes the lists.
    fn clear_overrides(&mut self, ifindex: IfIndex, out: &mut Vec<Effect>) {
        let mut touched = Vec::new();
        for (&flow, m) in self.mfes.iter_mut() {
            if m.clear_overrides(ifindex) {
                touched.push(flow);
            }
        }
        for flow in touched {
            self.refresh_oif(flow, ifindex, out);
        }
    }

    fn apply_up(&mut self, ifindex: IfIndex, up: bool, out: &mut Vec<Effect>) {
        match self.ifaces.get_mut(&ifindex) {
            Some(i) if i.up != up => i.up = up,
            _ => return,
        }
        if !up {
            self.delete_mfes_with_iif(ifindex, out);
        }
        let flows: Vec<FlowKey> = self.mfes.keys().copied().collect();
        for flow in flows {
            self.refresh_oif(flow, ifindex, out);
        }
    }

    /// FORWARD flag: force `ifindex` in (`on`) or out of the entry for the
    /// exact (S,G) of `key`, if it exists.
    fn forward_override(
        &mut self,
        key: MembershipKey,
        ifindex: IfIndex,
        on: bool,
        out: &mut Vec<Effect>,
    ) {
        let SourceSel::Only(source) = key.source else {
            return;
        };
        let flow = FlowKey {
            group: key.group,
            source,
        };
        let Some(m) = self.mfes.get_mut(&flow) else {
            return;
        };
        m.edit_overrides(|o| {
            let (add, del) = if on {
                (&mut o.forward_on, &mut o.forward_off)
            } else {
                (&mut o.forward_off, &mut o.forward_on)
            };
            insert_sorted(add, ifindex);
            remove_sorted(del, ifindex);
        });
        self.refresh_oif(flow, ifindex, out);
    }

    fn oif_wanted(&self, flow: FlowKey, iif: IfIndex, mfe: Option<&Mfe>, k: IfIndex) -> bool {
        if k == iif || !self.ifaces.get(&k).is_some_and(|i| i.up) {
            return false;
        }
        if let Some(m) = mfe {
            if contains_sorted(m.disabled(), k) || contains_sorted(m.forward_off(), k) {
                return false;
            }
            if contains_sorted(m.forward_on(), k) {
                return true;
            }
        }
        self.members
            .has(MembershipKey::only(flow.source, flow.group), k)
            || (self.members.has(MembershipKey::any(flow.group), k)
                && !self
                    .members
                    .has(MembershipKey::except(flow.source, flow.group), k))
    }

    /// Refreshes `ifindex` in every entry the key can affect.
    fn refresh_key(&mut self, key: MembershipKey, ifindex: IfIndex, out: &mut Vec<Effect>) {
        match key.source {
            SourceSel::Any => {
                if !self.mfe_groups.contains_key(&key.group.addr().to_bits()) {
                    return;
                }
                let lo = FlowKey {
                    group: key.group,
                    source: Ipv4Addr::UNSPECIFIED,
                };
                let hi = FlowKey {
                    group: key.group,
                    source: Ipv4Addr::BROADCAST,
                };
                let flows: Vec<FlowKey> = self.mfes.range(lo..=hi).map(|(&f, _)| f).collect();
                for flow in flows {
                    self.refresh_oif(flow, ifindex, out);
                }
            }
            SourceSel::Only(source) | SourceSel::Except(source) => {
                let flow = FlowKey {
                    group: key.group,
                    source,
                };
                self.refresh_oif(flow, ifindex, out);
            }
        }
    }

    /// Brings `ifindex` in the entry's outgoing list in line with the rule;
    /// on a change emits `MfeChanged` and, when the list turns empty or
    /// non-empty, the iif owner's alert with `member_update = false`.
    fn refresh_oif(&mut self, flow: FlowKey, ifindex: IfIndex, out: &mut Vec<Effect>) {
        let Some(m) = self.mfes.get(&flow) else {
            return;
        };
        let want = self.oif_wanted(flow, m.iif, Some(m), ifindex);
        if want == contains_sorted(&m.oifs, ifindex) {
            return;
        }
        let to = self.iface_owner(m.iif);
        self.note_mfe(flow);
        let Some(m) = self.mfes.get_mut(&flow) else {
            return;
        };
        let was_empty = m.oifs.is_empty();
        if want {
            insert_sorted(&mut m.oifs, ifindex);
        } else {
            remove_sorted(&mut m.oifs, ifindex);
        }
        let (iif, oifs) = (m.iif, m.oifs.clone());
        let now_empty = oifs.is_empty();
        out.push(Effect::MfeChanged { flow, iif, oifs });
        let key = MembershipKey::only(flow.source, flow.group);
        match (to, was_empty, now_empty) {
            (Some(to), true, false) => out.push(Effect::JoinAlert {
                to,
                key,
                member_update: false,
            }),
            (Some(to), false, true) => out.push(Effect::PruneAlert {
                to,
                key,
                ifindex,
                member_delete: false,
            }),
            _ => {}
        }
    }
}

// ===== tests =====

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_are_lower_case() {
        let e = MgmError::StillOwnsInterfaces {
            proto: ProtoId(2),
            ifaces: vec![IfIndex(3), IfIndex(4)],
        };
        assert_eq!(
            e.to_string(),
            "failed to deregister proto#2: it still owns interfaces 3, 4"
        );
        let e = MgmError::AlreadyOwned {
            ifindex: IfIndex(3),
            owner: ComponentId::Igmp,
        };
        assert_eq!(e.to_string(), "interface 3 is already owned by igmp");
    }
}
