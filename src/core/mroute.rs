//! Desired kernel multicast routing state (VIFs and MFC entries) and the
//! diff that brings the kernel there.
//!
//! [`MrouteTable`] is what we believe the kernel holds. [`MrouteTable::reconcile`]
//! takes the full desired set of forwarding entries (level-triggered, like
//! smcroute's mark-and-sweep reload) and returns the ordered [`MrtAction`]s to
//! apply. VIFs are allocated lazily: an interface gets a VIF only while some
//! entry uses it or it is pinned (IGMP interfaces must be VIFs so that IGMPv2
//! reports reach the multicast routing socket), and the lowest free index is
//! taken first. The kernel allows [`MAXVIFS`] VIFs per table.
//!
//! Sans-IO: nothing here touches the kernel. The kernel writer applies the
//! actions in order, skipping those that depend on a VIF change the kernel
//! refused ([`VifGate`]), and reports every refusal back
//! ([`MrouteTable::mark_failed`]). The audit (module `audit`) compares the
//! table with the kernel's as read back and repairs drift.

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::core::hash::IntMap;
use crate::core::types::{FlowKey, IfIndex, MAXVIFS, VifIndex, VifSet};

mod audit;

pub use self::audit::{Drift, Forwarding, KernelEntry, KernelTable, KernelVif};

// ===== MrtAction =====

/// One change to the kernel's multicast routing table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MrtAction {
    AddVif {
        vif: VifIndex,
        ifindex: IfIndex,
    },
    DelVif {
        vif: VifIndex,
        ifindex: IfIndex,
    },
    /// Adds or replaces the entry for `flow` (the kernel replaces an existing
    /// (S,G) in place). An empty `oifs` is a negative entry: the kernel drops
    /// the flow without raising further upcalls.
    AddMfc {
        flow: FlowKey,
        iif_vif: VifIndex,
        oifs: VifSet,
    },
    DelMfc {
        flow: FlowKey,
        iif_vif: VifIndex,
    },
}

impl MrtAction {
    /// The VIFs this action needs to exist (for `AddMfc`) or acts on.
    fn vifs(&self) -> impl Iterator<Item = VifIndex> {
        let (first, rest) = match *self {
            MrtAction::AddVif { vif, .. } | MrtAction::DelVif { vif, .. } => (vif, VifSet::EMPTY),
            MrtAction::AddMfc { iif_vif, oifs, .. } => (iif_vif, oifs),
            MrtAction::DelMfc { iif_vif, .. } => (iif_vif, VifSet::EMPTY),
        };
        std::iter::once(first).chain(rest)
    }
}

impl fmt::Display for MrtAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MrtAction::AddVif { vif, ifindex } => write!(f, "add vif {vif} (ifindex {ifindex})"),
            MrtAction::DelVif { vif, ifindex } => write!(f, "del vif {vif} (ifindex {ifindex})"),
            MrtAction::AddMfc {
                flow,
                iif_vif,
                oifs,
            } => {
                write!(f, "add mfc {flow} iif vif {iif_vif} oif vifs [")?;
                for (i, v) in oifs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            MrtAction::DelMfc { flow, iif_vif } => write!(f, "del mfc {flow} iif vif {iif_vif}"),
        }
    }
}

// ===== Reconcile =====

/// The result of [`MrouteTable::reconcile`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reconcile {
    /// Actions in the order they must be applied.
    pub actions: Vec<MrtAction>,
    /// Interfaces that needed a VIF but got none: all [`MAXVIFS`] were taken.
    pub vif_exhausted: Vec<IfIndex>,
    /// Flows not installed because their incoming interface got no VIF.
    pub skipped: Vec<FlowKey>,
    /// Flows installed without some outgoing interfaces that got no VIF.
    pub degraded: Vec<FlowKey>,
}

/// One installed MFC entry, in VIF terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MfcEntry {
    pub iif: VifIndex,
    pub oifs: VifSet,
}

/// The forwarding entries the kernel should have, in interface terms,
/// as [`MrouteTable::reconcile_flows`] reads them: flow by flow, or all at
/// once for a full pass. A map is one; the router answers from its
/// manager's entries without keeping a copy.
pub trait Desired {
    /// The incoming interface and outgoing interfaces `flow` should have;
    /// `None`: no entry. An empty outgoing list is a negative entry.
    fn lookup(&self, flow: &FlowKey) -> Option<(IfIndex, impl Iterator<Item = IfIndex> + '_)>;
    /// Every entry.
    fn all(&self) -> Cow<'_, BTreeMap<FlowKey, (IfIndex, BTreeSet<IfIndex>)>>;
}

impl Desired for BTreeMap<FlowKey, (IfIndex, BTreeSet<IfIndex>)> {
    fn lookup(&self, flow: &FlowKey) -> Option<(IfIndex, impl Iterator<Item = IfIndex> + '_)> {
        self.get(flow)
            .map(|(iif, oifs)| (*iif, oifs.iter().copied()))
    }

    fn all(&self) -> Cow<'_, BTreeMap<FlowKey, (IfIndex, BTreeSet<IfIndex>)>> {
        Cow::Borrowed(self)
    }
}

// ===== MrouteTable =====

/// What we believe the kernel's multicast routing table holds.
#[derive(Clone, Debug, Default)]
pub struct MrouteTable {
    /// Live VIFs: vif -> ifindex.
    vifs: BTreeMap<VifIndex, IfIndex>,
    /// Reverse map of `vifs`.
    by_ifindex: BTreeMap<IfIndex, VifIndex>,
    /// VIFs whose deletion the kernel refused: still occupied there, deleted
    /// again by the next reconcile and not allocated before.
    stale_vifs: BTreeMap<VifIndex, IfIndex>,
    /// Installed MFC entries. An entry may still reference a VIF index that
    /// is no longer live (its device vanished); reconcile replaces or deletes
    /// such entries before the index is reused. Hashed: searched for every
    /// changed flow.
    mfc: IntMap<FlowKey, MfcEntry>,
    /// Set when something only a full pass repairs happened (a VIF change
    /// failed, a device vanished).
    needs_full: bool,
    /// Flows whose kernel change failed: looked at again next time.
    retry: BTreeSet<FlowKey>,
    /// The pinned set of the last full pass.
    last_pinned: BTreeSet<IfIndex>,
}

impl MrouteTable {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn vif_of(&self, ifindex: IfIndex) -> Option<VifIndex> {
        self.by_ifindex.get(&ifindex).copied()
    }

    pub fn ifindex_of(&self, vif: VifIndex) -> Option<IfIndex> {
        self.vifs.get(&vif).copied()
    }

    /// Live VIFs in index order.
    pub fn vifs(&self) -> impl Iterator<Item = (VifIndex, IfIndex)> + '_ {
        self.vifs.iter().map(|(v, i)| (*v, *i))
    }

    /// How many entries the kernel holds as we believe.
    pub fn entry_count(&self) -> usize {
        self.mfc.len()
    }

    pub fn mfc_entry(&self, flow: &FlowKey) -> Option<&MfcEntry> {
        self.mfc.get(flow)
    }

    /// Takes over a table the kernel already holds (the multicast routing
    /// socket was handed over): these VIFs and entries exist. The next
    /// reconcile is a full pass, which removes what is no longer wanted
    /// and leaves alone what is.
    pub fn adopt(
        &mut self,
        vifs: impl IntoIterator<Item = (VifIndex, IfIndex)>,
        entries: impl IntoIterator<Item = (FlowKey, VifIndex, VifSet)>,
    ) {
        *self = Self::default();
        for (vif, ifindex) in vifs {
            if usize::from(vif.0) < MAXVIFS && !self.by_ifindex.contains_key(&ifindex) {
                self.vifs.insert(vif, ifindex);
                self.by_ifindex.insert(ifindex, vif);
            }
        }
        for (flow, iif, oifs) in entries {
            self.mfc.insert(flow, MfcEntry { iif, oifs });
        }
        self.needs_full = true;
    }

    /// The installed entries, in flow order (handed to the next process).
    pub fn entries(&self) -> Vec<(FlowKey, MfcEntry)> {
        in_flow_order(&self.mfc)
            .into_iter()
            .map(|(f, e)| (*f, *e))
            .collect()
    }

    /// Forgets everything, for when the kernel table was flushed or the
    /// socket reopened.
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// Reconciles to the desired set of forwarding entries:
    /// `flow -> (iif ifindex, oif ifindexes)`, plus `pinned` interfaces that
    /// need a VIF even without entries.
    ///
    /// Action order: deletions of entries that go away (or that reference a
    /// VIF being freed), then VIF deletions, then VIF additions, then entry
    /// additions and replacements. A freed index may therefore be reused in
    /// the same round. An iif listed among the oifs is dropped from the oifs
    /// (the kernel would send (S,G) traffic back out of its incoming VIF).
    /// When VIFs run out, already allocated interfaces keep theirs, pinned
    /// interfaces come next, then the others by ifindex.
    pub fn reconcile(
        &mut self,
        desired: &BTreeMap<FlowKey, (IfIndex, BTreeSet<IfIndex>)>,
        pinned: &BTreeSet<IfIndex>,
    ) -> Reconcile {
        let mut out = Reconcile::default();

        // 1. Interfaces that need a VIF, in allocation priority order.
        let mut wanted: BTreeSet<IfIndex> = pinned.clone();
        for (iif, oifs) in desired.values() {
            wanted.insert(*iif);
            wanted.extend(oifs.iter().copied());
        }

        // 2. Keep live VIFs still wanted; free the rest.
        let freed: Vec<(VifIndex, IfIndex)> = self
            .vifs
            .iter()
            .filter(|(_, ifx)| !wanted.contains(ifx))
            .map(|(v, i)| (*v, *i))
            .collect();
        for (vif, ifindex) in &freed {
            self.vifs.remove(vif);
            self.by_ifindex.remove(ifindex);
        }
        let stale: Vec<(VifIndex, IfIndex)> =
            std::mem::take(&mut self.stale_vifs).into_iter().collect();

        // 3. Allocate new VIFs: pinned interfaces first, then the others.
        let mut new_vifs: Vec<(VifIndex, IfIndex)> = Vec::new();
        let order = pinned
            .iter()
            .chain(wanted.iter().filter(|i| !pinned.contains(i)));
        for ifindex in order {
            if self.by_ifindex.contains_key(ifindex) {
                continue;
            }
            match self.lowest_free_vif() {
                Some(vif) => {
                    self.vifs.insert(vif, *ifindex);
                    self.by_ifindex.insert(*ifindex, vif);
                    new_vifs.push((vif, *ifindex));
                }
                None => out.vif_exhausted.push(*ifindex),
            }
        }
        let is_new = |v: VifIndex| new_vifs.iter().any(|(nv, _)| *nv == v);

        // 4. Translate the desired entries to VIF terms.
        let mut target: IntMap<FlowKey, MfcEntry> = IntMap::default();
        for (flow, (iif, oifs)) in desired {
            let Some(iif_vif) = self.vif_of(*iif) else {
                out.skipped.push(*flow);
                continue;
            };
            let mut oif_vifs = VifSet::EMPTY;
            let mut missing = false;
            for oif in oifs.iter().filter(|o| *o != iif) {
                match self.vif_of(*oif) {
                    Some(v) => {
                        oif_vifs.insert(v);
                    }
                    None => missing = true,
                }
            }
            if missing {
                out.degraded.push(*flow);
            }
            target.insert(
                *flow,
                MfcEntry {
                    iif: iif_vif,
                    oifs: oif_vifs,
                },
            );
        }

        // 5. Diff the MFC. An installed entry that references an index that
        // is not live-and-kept (freed now, vanished earlier, or about to be
        // reassigned) must leave the kernel before that index is reused.
        let mut early = Vec::new();
        let mut late = Vec::new();
        let installed = std::mem::take(&mut self.mfc);
        let mut must_readd: BTreeSet<FlowKey> = BTreeSet::new();
        // In flow order: the actions come out the same every time.
        for (flow, cur) in in_flow_order(&installed) {
            let references_dead = std::iter::once(cur.iif)
                .chain(cur.oifs.iter())
                .any(|v| !self.vifs.contains_key(&v) || is_new(v));
            // Equal VIF numbers mean nothing if one of them changed owner.
            if references_dead || !target.contains_key(flow) {
                early.push(MrtAction::DelMfc {
                    flow: *flow,
                    iif_vif: cur.iif,
                });
                must_readd.insert(*flow);
            }
        }
        for (flow, want) in in_flow_order(&target) {
            if must_readd.contains(flow) || installed.get(flow) != Some(want) {
                late.push(MrtAction::AddMfc {
                    flow: *flow,
                    iif_vif: want.iif,
                    oifs: want.oifs,
                });
            }
        }
        self.mfc = target;

        out.actions.extend(early);
        for (vif, ifindex) in stale.into_iter().chain(freed) {
            out.actions.push(MrtAction::DelVif { vif, ifindex });
        }
        for (vif, ifindex) in new_vifs {
            out.actions.push(MrtAction::AddVif { vif, ifindex });
        }
        out.actions.extend(late);
        out
    }

    /// Like [`Self::reconcile`], but looks only at the flows in `changed`
    /// (and those whose kernel change failed) when nothing else can have
    /// moved: the pinned set is the one of the last full pass, every VIF
    /// belongs to a pinned interface, and every changed flow's interfaces
    /// have VIFs. Otherwise it runs the full pass. The cost is then
    /// proportional to the changes, not to the size of the table.
    pub fn reconcile_flows(
        &mut self,
        desired: &impl Desired,
        changed: &[FlowKey],
        pinned: &BTreeSet<IfIndex>,
    ) -> Reconcile {
        let mut incremental = !self.needs_full
            && *pinned == self.last_pinned
            && self.stale_vifs.is_empty()
            && self.by_ifindex.keys().all(|i| pinned.contains(i));
        // Each changed flow in VIF terms; a flow with an interface that
        // has no VIF needs the full pass (which allocates).
        let mut wants: Vec<(FlowKey, Option<MfcEntry>)> = Vec::new();
        if incremental {
            wants.reserve(changed.len() + self.retry.len());
            for flow in self.retry.iter().chain(changed) {
                match self.want(desired, flow) {
                    Some(want) => wants.push((*flow, want)),
                    None => {
                        incremental = false;
                        break;
                    }
                }
            }
        }
        if !incremental {
            self.needs_full = false;
            self.retry.clear();
            self.last_pinned = pinned.clone();
            return self.reconcile(&desired.all(), pinned);
        }
        self.retry.clear();
        let mut out = Reconcile::default();
        let add = |flow, want: MfcEntry| MrtAction::AddMfc {
            flow,
            iif_vif: want.iif,
            oifs: want.oifs,
        };
        for (flow, want) in wants {
            match (self.mfc.entry(flow), want) {
                (Entry::Occupied(cur), None) => {
                    out.actions.push(MrtAction::DelMfc {
                        flow,
                        iif_vif: cur.remove().iif,
                    });
                }
                (Entry::Occupied(mut cur), Some(want)) if *cur.get() != want => {
                    out.actions.push(add(flow, want));
                    cur.insert(want);
                }
                (Entry::Vacant(slot), Some(want)) => {
                    out.actions.push(add(flow, want));
                    slot.insert(want);
                }
                _ => {}
            }
        }
        out
    }

    /// The entry `flow` should have in VIF terms (`Some(None)`: none);
    /// `None` if one of its interfaces has no VIF.
    fn want(&self, desired: &impl Desired, flow: &FlowKey) -> Option<Option<MfcEntry>> {
        let Some((iif, oifs)) = desired.lookup(flow) else {
            return Some(None);
        };
        let mut entry = MfcEntry {
            iif: self.vif_of(iif)?,
            oifs: VifSet::EMPTY,
        };
        for oif in oifs.filter(|o| *o != iif) {
            entry.oifs.insert(self.vif_of(oif)?);
        }
        Some(Some(entry))
    }

    /// The first flow whose recorded entry differs from `desired`, leaving
    /// out flows waiting for a retry and flows with an interface that has
    /// no VIF. Right after a reconcile there is none: the check that every
    /// change was reported to [`Self::reconcile_flows`].
    pub fn first_drift(&self, desired: &impl Desired) -> Option<FlowKey> {
        let all = desired.all();
        let recorded = self.mfc.keys().filter(|f| !all.contains_key(f));
        all.keys()
            .chain(recorded)
            .filter(|f| !self.retry.contains(f))
            .find(|f| match self.want(desired, f) {
                Some(want) => self.mfc.get(f).copied() != want,
                None => false,
            })
            .copied()
    }

    /// Records that the kernel rejected `action`, so that the next reconcile
    /// retries it: a failed addition is forgotten, a failed deletion is
    /// remembered as still present.
    pub fn mark_failed(&mut self, action: &MrtAction) {
        match action {
            MrtAction::AddVif { vif, ifindex } => {
                self.needs_full = true;
                if self.vifs.get(vif) == Some(ifindex) {
                    self.forget_vif(*vif);
                }
            }
            MrtAction::DelVif { vif, ifindex } => {
                // The index may have been handed to another interface in the
                // same round; that allocation cannot succeed while the kernel
                // still holds the old one.
                self.needs_full = true;
                if self.vifs.contains_key(vif) {
                    self.forget_vif(*vif);
                }
                self.stale_vifs.insert(*vif, *ifindex);
            }
            MrtAction::AddMfc { flow, .. } => {
                self.mfc.remove(flow);
                self.retry.insert(*flow);
            }
            MrtAction::DelMfc { flow, iif_vif } => {
                self.retry.insert(*flow);
                // If the flow is to be re-added in this round the addition
                // replaces the kernel entry anyway.
                self.mfc.entry(*flow).or_insert(MfcEntry {
                    iif: *iif_vif,
                    oifs: VifSet::EMPTY,
                });
            }
        }
    }

    /// The device vanished: the kernel already removed its VIF. Entries that
    /// still reference the index stay recorded (the kernel keeps them too)
    /// and are replaced or deleted by the next reconcile before the index is
    /// reused.
    pub fn interface_gone(&mut self, ifindex: IfIndex) {
        self.needs_full = true;
        if let Some(vif) = self.by_ifindex.remove(&ifindex) {
            self.vifs.remove(&vif);
        }
        self.stale_vifs.retain(|_, i| *i != ifindex);
    }

    // ===== helper functions =====

    fn lowest_free_vif(&self) -> Option<VifIndex> {
        (0..MAXVIFS as u16)
            .map(VifIndex)
            .find(|v| !self.vifs.contains_key(v) && !self.stale_vifs.contains_key(v))
    }

    /// Forgets a live VIF and every entry that uses it (so the entries are
    /// re-added once the VIF exists).
    fn forget_vif(&mut self, vif: VifIndex) {
        if let Some(ifindex) = self.vifs.remove(&vif) {
            self.by_ifindex.remove(&ifindex);
        }
        self.mfc
            .retain(|_, e| e.iif != vif && !e.oifs.contains(vif));
    }
}

// ===== VifGate =====

/// Which kernel changes are worth attempting, given the VIF changes the
/// kernel refused. An `AddMfc` that uses an index whose addition or
/// deletion failed would fail too, or worse, install an entry pointing at
/// the wrong interface; an `AddVif` that reuses an index whose deletion
/// failed would find it taken. Neither is attempted: both are reported as
/// refused, so that the router retries them once it knows. A mark lasts
/// until a later change of that VIF succeeds (the router's retries are
/// attempted: an `AddVif` after a failed addition, any `DelVif`), so it
/// also covers batches the router sent before it heard of the failure.
#[derive(Clone, Debug, Default)]
pub struct VifGate {
    /// Indices whose addition failed.
    add_failed: VifSet,
    /// Indices whose deletion failed: the kernel still holds them.
    del_failed: VifSet,
}

impl VifGate {
    /// The VIF that keeps `action` from being attempted, if any.
    pub fn blocked_by(&self, action: &MrtAction) -> Option<VifIndex> {
        match *action {
            MrtAction::AddMfc { .. } => action
                .vifs()
                .find(|v| self.add_failed.contains(*v) || self.del_failed.contains(*v)),
            MrtAction::AddVif { vif, .. } => self.del_failed.contains(vif).then_some(vif),
            MrtAction::DelVif { .. } | MrtAction::DelMfc { .. } => None,
        }
    }

    /// Records the outcome of an attempted action.
    pub fn record(&mut self, action: &MrtAction, ok: bool) {
        let without = |set: VifSet, vif: VifIndex| set.iter().filter(|v| *v != vif).collect();
        match (*action, ok) {
            (MrtAction::AddVif { vif, .. }, true) => {
                self.add_failed = without(self.add_failed, vif)
            }
            (MrtAction::AddVif { vif, .. }, false) => {
                self.add_failed.insert(vif);
            }
            (MrtAction::DelVif { vif, .. }, true) => {
                self.del_failed = without(self.del_failed, vif);
                self.add_failed = without(self.add_failed, vif);
            }
            (MrtAction::DelVif { vif, .. }, false) => {
                self.del_failed.insert(vif);
            }
            _ => {}
        }
    }
}

/// The entries of `m` sorted by flow.
fn in_flow_order(m: &IntMap<FlowKey, MfcEntry>) -> Vec<(&FlowKey, &MfcEntry)> {
    let mut v: Vec<_> = m.iter().collect();
    v.sort_unstable_by_key(|(f, _)| **f);
    v
}

// ===== tests =====

#[cfg(test)]
mod tests;
