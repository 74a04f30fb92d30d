//! The audit of the kernel's table: what the kernel holds, read back by the
//! I/O layer ([`KernelTable`]), against what mgmd believes it programmed
//! ([`MrouteTable`]); every difference as a [`Drift`]; and the repair,
//! which makes the belief follow the kernel where it drifted so that the
//! next reconcile writes mgmd's own state again through the usual path.
//!
//! Compared in interface terms: a VIF is its index and device, an entry its
//! incoming and outgoing devices (the VIFs are compared on their own).
//! Left out: flows whose last change the kernel refused (they are retried
//! anyway) and VIFs whose deletion the kernel refused (deleted again).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::{MfcEntry, MrouteTable, MrtAction};
use crate::core::hash::IntMap;
use crate::core::types::{FlowKey, IfIndex, VifIndex};

// ===== KernelTable =====

/// One multicast routing table as the kernel shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct KernelTable {
    /// Every VIF, with its device.
    pub vifs: Vec<KernelVif>,
    /// Every resolved entry (those waiting for the answer to an upcall are
    /// not entries yet).
    pub entries: Vec<KernelEntry>,
}

/// One VIF of the kernel's table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct KernelVif {
    pub vif: VifIndex,
    pub ifindex: IfIndex,
}

/// One MFC entry of the kernel's table, in interface terms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct KernelEntry {
    pub flow: FlowKey,
    /// `None` when the entry's incoming VIF no longer exists.
    pub iif: Option<IfIndex>,
    /// The outgoing interfaces (of VIFs that exist).
    pub oifs: Vec<IfIndex>,
}

// ===== Drift =====

/// Where an entry forwards: its incoming and outgoing interfaces.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forwarding<I> {
    pub iif: Option<I>,
    /// In ascending ifindex order.
    pub oifs: Vec<I>,
}

impl<I> Forwarding<I> {
    fn map<J>(self, f: &impl Fn(I) -> J) -> Forwarding<J> {
        Forwarding {
            iif: self.iif.map(f),
            oifs: self.oifs.into_iter().map(f).collect(),
        }
    }
}

impl<I: fmt::Display> fmt::Display for Forwarding<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.iif {
            Some(i) => write!(f, "iif {i}")?,
            None => f.write_str("iif none")?,
        }
        if self.oifs.is_empty() {
            return f.write_str(" (drop)");
        }
        f.write_str(" oifs ")?;
        for (n, o) in self.oifs.iter().enumerate() {
            if n > 0 {
                f.write_str(",")?;
            }
            write!(f, "{o}")?;
        }
        Ok(())
    }
}

/// One difference between the kernel's table and mgmd's, with interfaces
/// as `I` (an ifindex here, named by the router).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "drift", rename_all = "kebab-case")]
pub enum Drift<I = IfIndex> {
    /// A VIF mgmd made is not in the kernel.
    VifMissing { vif: VifIndex, interface: I },
    /// The kernel's VIF at an index mgmd uses is on another device.
    VifChanged { vif: VifIndex, ours: I, kernel: I },
    /// The kernel has a VIF mgmd did not make.
    VifForeign { vif: VifIndex, interface: I },
    /// An entry mgmd installed is not in the kernel.
    EntryMissing { flow: FlowKey, ours: Forwarding<I> },
    /// The kernel's entry forwards otherwise than mgmd installed it.
    EntryChanged {
        flow: FlowKey,
        ours: Forwarding<I>,
        kernel: Forwarding<I>,
    },
    /// The kernel has an entry mgmd did not install.
    EntryForeign {
        flow: FlowKey,
        kernel: Forwarding<I>,
    },
}

impl<I> Drift<I> {
    /// The same difference with interfaces named by `f`.
    pub fn map<J>(self, f: impl Fn(I) -> J) -> Drift<J> {
        match self {
            Drift::VifMissing { vif, interface } => Drift::VifMissing {
                vif,
                interface: f(interface),
            },
            Drift::VifChanged { vif, ours, kernel } => Drift::VifChanged {
                vif,
                ours: f(ours),
                kernel: f(kernel),
            },
            Drift::VifForeign { vif, interface } => Drift::VifForeign {
                vif,
                interface: f(interface),
            },
            Drift::EntryMissing { flow, ours } => Drift::EntryMissing {
                flow,
                ours: ours.map(&f),
            },
            Drift::EntryChanged { flow, ours, kernel } => Drift::EntryChanged {
                flow,
                ours: ours.map(&f),
                kernel: kernel.map(&f),
            },
            Drift::EntryForeign { flow, kernel } => Drift::EntryForeign {
                flow,
                kernel: kernel.map(&f),
            },
        }
    }

    /// A short name of the kind of difference (`mgmctl verify`'s column).
    pub fn kind(&self) -> &'static str {
        match self {
            Drift::VifMissing { .. } => "vif-missing",
            Drift::VifChanged { .. } => "vif-changed",
            Drift::VifForeign { .. } => "vif-foreign",
            Drift::EntryMissing { .. } => "entry-missing",
            Drift::EntryChanged { .. } => "entry-changed",
            Drift::EntryForeign { .. } => "entry-foreign",
        }
    }
}

impl<I: fmt::Display> fmt::Display for Drift<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Drift::VifMissing { vif, interface } => {
                write!(f, "VIF {vif} ({interface}) is missing from the kernel")
            }
            Drift::VifChanged { vif, ours, kernel } => write!(
                f,
                "the kernel's VIF {vif} is on {kernel}, mgmd made it on {ours}"
            ),
            Drift::VifForeign { vif, interface } => {
                write!(
                    f,
                    "the kernel has VIF {vif} ({interface}), which mgmd did not make"
                )
            }
            Drift::EntryMissing { flow, ours } => {
                write!(f, "entry {flow} ({ours}) is missing from the kernel")
            }
            Drift::EntryChanged { flow, ours, kernel } => write!(
                f,
                "the kernel's entry {flow} is {kernel}, mgmd installed {ours}"
            ),
            Drift::EntryForeign { flow, kernel } => write!(
                f,
                "the kernel has entry {flow} ({kernel}), which mgmd did not install"
            ),
        }
    }
}

// ===== impl MrouteTable =====

impl MrouteTable {
    /// Every difference between `kernel` and this table: VIFs in index
    /// order, then entries in flow order.
    pub fn audit(&self, kernel: &KernelTable) -> Vec<Drift> {
        let mut out = Vec::new();
        let kernel_vifs: BTreeMap<VifIndex, IfIndex> =
            kernel.vifs.iter().map(|v| (v.vif, v.ifindex)).collect();
        for (vif, ours) in &self.vifs {
            match kernel_vifs.get(vif) {
                None => out.push(Drift::VifMissing {
                    vif: *vif,
                    interface: *ours,
                }),
                Some(k) if k != ours => out.push(Drift::VifChanged {
                    vif: *vif,
                    ours: *ours,
                    kernel: *k,
                }),
                Some(_) => {}
            }
        }
        for (vif, k) in &kernel_vifs {
            if !self.vifs.contains_key(vif) && !self.stale_vifs.contains_key(vif) {
                out.push(Drift::VifForeign {
                    vif: *vif,
                    interface: *k,
                });
            }
        }

        let in_kernel: IntMap<FlowKey, &KernelEntry> =
            kernel.entries.iter().map(|e| (e.flow, e)).collect();
        let mut entries: Vec<(FlowKey, Drift)> = Vec::new();
        for (flow, entry) in &self.mfc {
            if self.retry.contains(flow) {
                continue;
            }
            let ours = self.forwarding(entry);
            match in_kernel.get(flow) {
                None => entries.push((*flow, Drift::EntryMissing { flow: *flow, ours })),
                Some(k) => {
                    let kernel = kernel_forwarding(k);
                    if kernel != ours {
                        entries.push((
                            *flow,
                            Drift::EntryChanged {
                                flow: *flow,
                                ours,
                                kernel,
                            },
                        ));
                    }
                }
            }
        }
        for (flow, k) in &in_kernel {
            if !self.mfc.contains_key(flow) && !self.retry.contains(flow) {
                entries.push((
                    *flow,
                    Drift::EntryForeign {
                        flow: *flow,
                        kernel: kernel_forwarding(k),
                    },
                ));
            }
        }
        entries.sort_unstable_by_key(|(flow, _)| *flow);
        out.extend(entries.into_iter().map(|(_, d)| d));
        out
    }

    /// Makes this table believe what the kernel holds where `drift` (from
    /// [`Self::audit`] against `kernel`) says it differs, so that the next
    /// reconcile writes mgmd's state again: a VIF missing or on another
    /// device is allocated again with every entry that uses it, a missing
    /// or changed entry is added again. Returns what must go first: the
    /// deletion of what mgmd did not make (foreign VIFs and entries, and
    /// the kernel's VIF at an index of ours that is on another device).
    pub fn repair(&mut self, kernel: &KernelTable, drift: &[Drift]) -> Vec<MrtAction> {
        let kernel_vif: BTreeMap<IfIndex, VifIndex> =
            kernel.vifs.iter().map(|v| (v.ifindex, v.vif)).collect();
        let mut first = Vec::new();
        let mut foreign_entries = BTreeSet::new();
        for d in drift {
            match d {
                // The kernel keeps an entry's TTL for a VIF index after the
                // VIF is gone (its dumps stop showing it, the entry does
                // not forget it): once the index is in use again, an entry
                // rewritten behind mgmd's back can forward through it
                // unseen. So every entry is installed again, which replaces
                // its TTLs whole.
                Drift::VifMissing { vif, .. } => {
                    self.needs_full = true;
                    self.forget_vif(*vif);
                    self.mfc.clear();
                }
                Drift::VifChanged { vif, kernel, .. } => {
                    self.needs_full = true;
                    self.forget_vif(*vif);
                    self.mfc.clear();
                    first.push(MrtAction::DelVif {
                        vif: *vif,
                        ifindex: *kernel,
                    });
                }
                Drift::VifForeign { vif, interface } => {
                    self.needs_full = true;
                    first.push(MrtAction::DelVif {
                        vif: *vif,
                        ifindex: *interface,
                    });
                }
                Drift::EntryMissing { flow, .. } | Drift::EntryChanged { flow, .. } => {
                    self.mfc.remove(flow);
                    self.retry.insert(*flow);
                }
                Drift::EntryForeign { flow, kernel } => {
                    // The kernel ignores the incoming VIF of a deletion; it
                    // is named for the log.
                    let iif_vif = kernel
                        .iif
                        .and_then(|i| kernel_vif.get(&i).copied())
                        .unwrap_or(VifIndex(0));
                    foreign_entries.insert(*flow);
                    first.push(MrtAction::DelMfc {
                        flow: *flow,
                        iif_vif,
                    });
                }
            }
        }
        // Entries before VIFs, as the kernel wants them removed.
        first.sort_by_key(|a| !matches!(a, MrtAction::DelMfc { .. }));
        // Should mgmd want such a flow after all, it is added after the
        // deletion.
        self.retry.extend(foreign_entries);
        first
    }

    /// An entry of ours in interface terms.
    fn forwarding(&self, entry: &MfcEntry) -> Forwarding<IfIndex> {
        let mut oifs: Vec<IfIndex> = entry
            .oifs
            .iter()
            .filter_map(|v| self.ifindex_of(v))
            .collect();
        oifs.sort_unstable();
        Forwarding {
            iif: self.ifindex_of(entry.iif),
            oifs,
        }
    }
}

/// A kernel entry's interfaces, in the order [`Forwarding`] keeps them.
fn kernel_forwarding(k: &KernelEntry) -> Forwarding<IfIndex> {
    let mut oifs = k.oifs.clone();
    oifs.sort_unstable();
    oifs.dedup();
    Forwarding { iif: k.iif, oifs }
}

// ===== tests =====

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::types::GroupAddr;
    use std::net::Ipv4Addr;

    fn flow(g: u8) -> FlowKey {
        FlowKey {
            group: GroupAddr::new(Ipv4Addr::new(239, 1, 1, g)).unwrap(),
            source: Ipv4Addr::new(10, 0, 0, 1).into(),
        }
    }

    fn desired(list: &[(u8, u32, &[u32])]) -> BTreeMap<FlowKey, (IfIndex, BTreeSet<IfIndex>)> {
        list.iter()
            .map(|(g, iif, oifs)| {
                (
                    flow(*g),
                    (IfIndex(*iif), oifs.iter().map(|o| IfIndex(*o)).collect()),
                )
            })
            .collect()
    }

    /// A model kernel: actions applied as the kernel does, read back as a
    /// [`KernelTable`].
    #[derive(Default)]
    struct Kernel {
        vifs: BTreeMap<VifIndex, IfIndex>,
        mfc: BTreeMap<FlowKey, (VifIndex, Vec<VifIndex>)>,
    }

    impl Kernel {
        fn apply(&mut self, actions: &[MrtAction]) {
            for a in actions {
                match a {
                    MrtAction::AddVif { vif, ifindex } => {
                        assert!(self.vifs.insert(*vif, *ifindex).is_none(), "{a}: busy");
                    }
                    MrtAction::DelVif { vif, .. } => {
                        self.vifs.remove(vif);
                    }
                    MrtAction::AddMfc {
                        flow,
                        iif_vif,
                        oifs,
                    } => {
                        self.mfc.insert(*flow, (*iif_vif, oifs.iter().collect()));
                    }
                    MrtAction::DelMfc { flow, .. } => {
                        self.mfc.remove(flow);
                    }
                }
            }
        }

        fn read(&self) -> KernelTable {
            KernelTable {
                vifs: self
                    .vifs
                    .iter()
                    .map(|(vif, ifindex)| KernelVif {
                        vif: *vif,
                        ifindex: *ifindex,
                    })
                    .collect(),
                entries: self
                    .mfc
                    .iter()
                    .map(|(flow, (iif, oifs))| KernelEntry {
                        flow: *flow,
                        iif: self.vifs.get(iif).copied(),
                        oifs: oifs
                            .iter()
                            .filter_map(|v| self.vifs.get(v).copied())
                            .collect(),
                    })
                    .collect(),
            }
        }
    }

    /// The interfaces in use (each gets a VIF, as the router pins them).
    fn pinned() -> BTreeSet<IfIndex> {
        (1..=5).map(IfIndex).collect()
    }

    /// Table and model kernel in step on `d`.
    fn in_step(d: &BTreeMap<FlowKey, (IfIndex, BTreeSet<IfIndex>)>) -> (MrouteTable, Kernel) {
        let mut t = MrouteTable::new();
        let mut k = Kernel::default();
        k.apply(&t.reconcile_flows(d, &[], &pinned()).actions);
        assert!(t.audit(&k.read()).is_empty());
        (t, k)
    }

    /// What the kernel forwards, in interface terms, and its VIFs' devices.
    #[allow(clippy::type_complexity)]
    fn forwards(
        k: &Kernel,
    ) -> (
        BTreeMap<FlowKey, (Option<IfIndex>, BTreeSet<IfIndex>)>,
        BTreeSet<IfIndex>,
    ) {
        let read = k.read();
        (
            read.entries
                .into_iter()
                .map(|e| (e.flow, (e.iif, e.oifs.into_iter().collect())))
                .collect(),
            read.vifs.into_iter().map(|v| v.ifindex).collect(),
        )
    }

    /// Audits, repairs and reconciles as the router does; the kernel then
    /// matches again. Returns what the audit found.
    fn audit_and_repair(
        t: &mut MrouteTable,
        k: &mut Kernel,
        d: &BTreeMap<FlowKey, (IfIndex, BTreeSet<IfIndex>)>,
    ) -> Vec<Drift> {
        let read = k.read();
        let drift = t.audit(&read);
        let first = t.repair(&read, &drift);
        k.apply(&first);
        k.apply(&t.reconcile_flows(d, &[], &pinned()).actions);
        assert_eq!(
            t.audit(&k.read()),
            vec![],
            "still drifting after the repair"
        );
        drift
    }

    #[test]
    fn a_deleted_entry_is_reported_and_added_again() {
        let d = desired(&[(1, 1, &[2, 3]), (2, 1, &[2])]);
        let (mut t, mut k) = in_step(&d);
        k.mfc.remove(&flow(2));
        let drift = audit_and_repair(&mut t, &mut k, &d);
        assert_eq!(
            drift,
            vec![Drift::EntryMissing {
                flow: flow(2),
                ours: Forwarding {
                    iif: Some(IfIndex(1)),
                    oifs: vec![IfIndex(2)]
                }
            }]
        );
        assert_eq!(
            drift[0].to_string(),
            "entry (10.0.0.1,239.1.1.2) (iif 1 oifs 2) is missing from the kernel"
        );
    }

    #[test]
    fn a_changed_entry_is_written_again() {
        let d = desired(&[(1, 1, &[2, 3])]);
        let (mut t, mut k) = in_step(&d);
        let (iif, _) = k.mfc[&flow(1)];
        k.mfc.insert(flow(1), (iif, vec![]));
        let drift = audit_and_repair(&mut t, &mut k, &d);
        assert_eq!(drift.len(), 1);
        assert_eq!(drift[0].kind(), "entry-changed");
        assert_eq!(
            drift[0].to_string(),
            "the kernel's entry (10.0.0.1,239.1.1.1) is iif 1 (drop), mgmd installed iif 1 oifs 2,3"
        );
    }

    #[test]
    fn foreign_entries_and_vifs_are_removed_first() {
        let d = desired(&[(1, 1, &[2])]);
        let (mut t, mut k) = in_step(&d);
        // vifs 0=1, 1=2; someone adds vif 5 on device 9 and an entry on it.
        k.vifs.insert(VifIndex(5), IfIndex(9));
        k.mfc.insert(flow(7), (VifIndex(5), vec![VifIndex(0)]));
        let read = k.read();
        let drift = t.audit(&read);
        assert_eq!(
            drift,
            vec![
                Drift::VifForeign {
                    vif: VifIndex(5),
                    interface: IfIndex(9)
                },
                Drift::EntryForeign {
                    flow: flow(7),
                    kernel: Forwarding {
                        iif: Some(IfIndex(9)),
                        oifs: vec![IfIndex(1)]
                    }
                },
            ]
        );
        let first = t.repair(&read, &drift);
        assert_eq!(
            first,
            vec![
                MrtAction::DelMfc {
                    flow: flow(7),
                    iif_vif: VifIndex(5)
                },
                MrtAction::DelVif {
                    vif: VifIndex(5),
                    ifindex: IfIndex(9)
                },
            ]
        );
        k.apply(&first);
        k.apply(&t.reconcile_flows(&d, &[], &pinned()).actions);
        assert!(t.audit(&k.read()).is_empty());
        assert!(!k.vifs.contains_key(&VifIndex(5)));
        assert!(!k.mfc.contains_key(&flow(7)));
    }

    #[test]
    fn a_deleted_vif_comes_back_with_its_entries() {
        let d = desired(&[(1, 1, &[2, 3]), (2, 3, &[1])]);
        let (mut t, mut k) = in_step(&d);
        // vifs 0..5 = 1..5: vif 1 goes; its entries lose it as an oif.
        k.vifs.remove(&VifIndex(1));
        let drift = audit_and_repair(&mut t, &mut k, &d);
        let kinds: Vec<&str> = drift.iter().map(Drift::kind).collect();
        assert_eq!(kinds, vec!["vif-missing", "entry-changed"]);
        assert_eq!(k.vifs.get(&VifIndex(1)), Some(&IfIndex(2)));
    }

    #[test]
    fn a_vif_on_another_device_is_replaced() {
        let d = desired(&[(1, 1, &[2])]);
        let (mut t, mut k) = in_step(&d);
        k.vifs.insert(VifIndex(1), IfIndex(42));
        let drift = audit_and_repair(&mut t, &mut k, &d);
        assert_eq!(
            drift[0],
            Drift::VifChanged {
                vif: VifIndex(1),
                ours: IfIndex(2),
                kernel: IfIndex(42)
            }
        );
        assert_eq!(forwards(&k).1, pinned());
    }

    #[test]
    fn refused_changes_are_not_drift() {
        let d = desired(&[(1, 1, &[2])]);
        let (mut t, mut k) = in_step(&d);
        // A deletion the kernel refused: the entry stays in the kernel and
        // is tried again; a VIF whose deletion was refused likewise.
        let del = MrtAction::DelMfc {
            flow: flow(1),
            iif_vif: VifIndex(0),
        };
        t.mark_failed(&del);
        t.mark_failed(&MrtAction::DelVif {
            vif: VifIndex(7),
            ifindex: IfIndex(70),
        });
        k.vifs.insert(VifIndex(7), IfIndex(70));
        assert_eq!(t.audit(&k.read()), vec![]);
    }

    #[test]
    fn the_names_follow_the_map() {
        let d = Drift::EntryChanged {
            flow: flow(3),
            ours: Forwarding {
                iif: Some(IfIndex(1)),
                oifs: vec![IfIndex(2), IfIndex(3)],
            },
            kernel: Forwarding {
                iif: None,
                oifs: vec![],
            },
        };
        let named = d.map(|i| format!("if{}", i.0));
        assert_eq!(
            named.to_string(),
            "the kernel's entry (10.0.0.1,239.1.1.3) is iif none (drop), mgmd installed iif if1 oifs if2,if3"
        );
        let json = serde_json::to_value(&named).unwrap();
        assert_eq!(json["drift"], "entry-changed");
        assert_eq!(json["ours"]["oifs"], serde_json::json!(["if2", "if3"]));
    }

    proptest::proptest! {
        /// Whatever was done to the kernel behind mgmd's back (entries
        /// deleted or rewritten, VIFs deleted, moved or added), one audit
        /// and repair bring it back to exactly what mgmd wants.
        #[test]
        fn any_tampering_is_repaired(
            flows in proptest::collection::btree_map(
                1u8..20,
                (1u32..=5, proptest::collection::btree_set(1u32..=5, 0..4)),
                1..10,
            ),
            tamper in proptest::collection::vec((0u8..5, 0u8..20, 0u16..8, 1u32..50), 1..8),
        ) {
            let d: BTreeMap<FlowKey, (IfIndex, BTreeSet<IfIndex>)> = flows
                .into_iter()
                .map(|(g, (iif, oifs))| {
                    (flow(g), (IfIndex(iif), oifs.into_iter().map(IfIndex).collect()))
                })
                .collect();
            let (mut t, mut k) = in_step(&d);
            for (op, g, vif, dev) in tamper {
                let vif = VifIndex(vif);
                match op {
                    0 => { k.mfc.remove(&flow(g)); }
                    1 => { k.mfc.insert(flow(g), (vif, vec![VifIndex(0)])); }
                    2 => { k.vifs.remove(&vif); }
                    3 => { k.vifs.insert(vif, IfIndex(100 + dev)); }
                    _ => {
                        if let Some(e) = k.mfc.get_mut(&flow(g)) {
                            e.1.clear();
                        }
                    }
                }
            }
            let read = k.read();
            let drift = t.audit(&read);
            let first = t.repair(&read, &drift);
            k.apply(&first);
            k.apply(&t.reconcile_flows(&d, &[], &pinned()).actions);
            proptest::prop_assert_eq!(t.audit(&k.read()), vec![]);
            // And the kernel forwards exactly what mgmd wants.
            let want: BTreeMap<FlowKey, (Option<IfIndex>, BTreeSet<IfIndex>)> = d
                .iter()
                .map(|(f, (iif, oifs))| {
                    let mut oifs = oifs.clone();
                    oifs.remove(iif);
                    (*f, (Some(*iif), oifs))
                })
                .collect();
            proptest::prop_assert_eq!(forwards(&k), (want, pinned()));
        }
    }
}
