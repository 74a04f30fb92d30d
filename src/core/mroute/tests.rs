use super::*;
use std::net::Ipv4Addr;

use crate::core::types::GroupAddr;

fn flow(s: u8, g: u8) -> FlowKey {
    FlowKey {
        group: GroupAddr::new(Ipv4Addr::new(239, 1, 1, g)).unwrap(),
        source: Ipv4Addr::new(10, 0, 0, s).into(),
    }
}

fn ifs(list: &[u32]) -> BTreeSet<IfIndex> {
    list.iter().map(|i| IfIndex(*i)).collect()
}

fn entry(iif: u32, oifs: &[u32]) -> (IfIndex, BTreeSet<IfIndex>) {
    (IfIndex(iif), ifs(oifs))
}

fn add_vif(v: u16, i: u32) -> MrtAction {
    MrtAction::AddVif {
        vif: VifIndex(v),
        ifindex: IfIndex(i),
    }
}

fn del_vif(v: u16, i: u32) -> MrtAction {
    MrtAction::DelVif {
        vif: VifIndex(v),
        ifindex: IfIndex(i),
    }
}

fn add_mfc(f: FlowKey, iif: u16, oifs: &[u16]) -> MrtAction {
    MrtAction::AddMfc {
        flow: f,
        iif_vif: VifIndex(iif),
        oifs: oifs.iter().map(|v| VifIndex(*v)).collect(),
    }
}

fn del_mfc(f: FlowKey, iif: u16) -> MrtAction {
    MrtAction::DelMfc {
        flow: f,
        iif_vif: VifIndex(iif),
    }
}

#[test]
fn allocates_lazily_lowest_first_pinned_first() {
    let mut t = MrouteTable::new();
    let desired = BTreeMap::from([(flow(1, 1), entry(5, &[7, 3]))]);
    let r = t.reconcile(&desired, &ifs(&[9]));
    assert_eq!(
        r.actions,
        vec![
            add_vif(0, 9),
            add_vif(1, 3),
            add_vif(2, 5),
            add_vif(3, 7),
            add_mfc(flow(1, 1), 2, &[1, 3]),
        ]
    );
    assert_eq!(t.vif_of(IfIndex(5)), Some(VifIndex(2)));
    assert_eq!(t.ifindex_of(VifIndex(3)), Some(IfIndex(7)));
    assert_eq!(t.vif_of(IfIndex(4)), None);
}

#[test]
fn reconcile_twice_is_idempotent() {
    let mut t = MrouteTable::new();
    let desired = BTreeMap::from([(flow(1, 1), entry(1, &[2, 3])), (flow(2, 2), entry(2, &[]))]);
    let first = t.reconcile(&desired, &ifs(&[4]));
    assert!(!first.actions.is_empty());
    let second = t.reconcile(&desired, &ifs(&[4]));
    assert_eq!(second, Reconcile::default());
}

#[test]
fn frees_unused_vifs_after_deleting_entries_and_reuses_lowest() {
    let mut t = MrouteTable::new();
    let d1 = BTreeMap::from([(flow(1, 1), entry(1, &[2])), (flow(1, 2), entry(3, &[4]))]);
    t.reconcile(&d1, &BTreeSet::new());
    // vifs: 0=1, 1=2, 2=3, 3=4. Drop the second flow, add one using 5.
    let d2 = BTreeMap::from([(flow(1, 1), entry(1, &[2])), (flow(1, 3), entry(1, &[5]))]);
    let r = t.reconcile(&d2, &BTreeSet::new());
    assert_eq!(
        r.actions,
        vec![
            del_mfc(flow(1, 2), 2),
            del_vif(2, 3),
            del_vif(3, 4),
            add_vif(2, 5),
            add_mfc(flow(1, 3), 0, &[2]),
        ]
    );
    assert_eq!(t.vif_of(IfIndex(3)), None);
    assert_eq!(t.vif_of(IfIndex(5)), Some(VifIndex(2)));
}

#[test]
fn iif_change_is_one_add_mfc() {
    let mut t = MrouteTable::new();
    let d1 = BTreeMap::from([(flow(1, 1), entry(1, &[2, 3]))]);
    t.reconcile(&d1, &BTreeSet::new());
    let d2 = BTreeMap::from([(flow(1, 1), entry(2, &[1, 3]))]);
    let r = t.reconcile(&d2, &BTreeSet::new());
    assert_eq!(r.actions, vec![add_mfc(flow(1, 1), 1, &[0, 2])]);
}

#[test]
fn entry_referencing_freed_vif_leaves_before_the_index_is_reused() {
    let mut t = MrouteTable::new();
    let d1 = BTreeMap::from([(flow(1, 1), entry(1, &[2]))]);
    t.reconcile(&d1, &BTreeSet::new());
    // Interface 2 is replaced by 3: vif 1 is freed and reused.
    let d2 = BTreeMap::from([(flow(1, 1), entry(1, &[3]))]);
    let r = t.reconcile(&d2, &BTreeSet::new());
    assert_eq!(
        r.actions,
        vec![
            del_mfc(flow(1, 1), 0),
            del_vif(1, 2),
            add_vif(1, 3),
            add_mfc(flow(1, 1), 0, &[1]),
        ]
    );
}

#[test]
fn iif_is_not_an_oif() {
    let mut t = MrouteTable::new();
    let d = BTreeMap::from([(flow(1, 1), entry(1, &[1, 2]))]);
    let r = t.reconcile(&d, &BTreeSet::new());
    assert_eq!(r.actions.last(), Some(&add_mfc(flow(1, 1), 0, &[1])));
}

#[test]
fn thirty_third_interface_is_exhausted_others_fine() {
    let mut t = MrouteTable::new();
    let pinned: BTreeSet<IfIndex> = (1..=31).map(IfIndex).collect();
    // 31 pinned + iif 100 + oif 101 (the 33rd interface).
    let d = BTreeMap::from([
        (flow(1, 1), entry(100, &[1, 101])),
        (flow(1, 2), entry(101, &[1])),
        (flow(1, 3), entry(2, &[3])),
    ]);
    let r = t.reconcile(&d, &pinned);
    assert_eq!(r.vif_exhausted, vec![IfIndex(101)]);
    assert_eq!(r.skipped, vec![flow(1, 2)]);
    assert_eq!(r.degraded, vec![flow(1, 1)]);
    let adds = r
        .actions
        .iter()
        .filter(|a| matches!(a, MrtAction::AddVif { .. }))
        .count();
    assert_eq!(adds, MAXVIFS);
    assert!(r.actions.contains(&add_mfc(flow(1, 1), 31, &[0])));
    assert!(r.actions.contains(&add_mfc(flow(1, 3), 1, &[2])));
    // Once a pinned interface goes away, the waiting one gets its index.
    let pinned2: BTreeSet<IfIndex> = (2..=31).map(IfIndex).collect();
    let d2 = BTreeMap::from([(flow(1, 2), entry(101, &[2]))]);
    let r2 = t.reconcile(&d2, &pinned2);
    assert!(r2.vif_exhausted.is_empty());
    assert!(r2.actions.contains(&add_vif(0, 101)));
}

#[test]
fn ordering_add_vif_before_add_mfc_del_mfc_before_del_vif() {
    let mut t = MrouteTable::new();
    let mut desired = BTreeMap::new();
    for i in 1..=6u8 {
        desired.insert(flow(i, i), entry(u32::from(i), &[u32::from(i) + 10]));
    }
    let mut kernel = KernelModel::default();
    let r = t.reconcile(&desired, &BTreeSet::new());
    check_order(&mut kernel, &r.actions);
    let desired2: BTreeMap<_, _> = (4..=9u8)
        .map(|i| (flow(i, i), entry(u32::from(i) + 20, &[u32::from(i)])))
        .collect();
    let r2 = t.reconcile(&desired2, &BTreeSet::new());
    check_order(&mut kernel, &r2.actions);
    assert!(t.reconcile(&desired2, &BTreeSet::new()).actions.is_empty());
}

/// A model of the kernel table, to replay actions against.
#[derive(Default)]
struct KernelModel {
    vifs: BTreeMap<VifIndex, IfIndex>,
    mfc: BTreeMap<FlowKey, Vec<VifIndex>>,
}

/// Replays `actions` against `k` and checks that no MFC ever references
/// a VIF that does not exist, and no VIF is deleted while referenced.
fn check_order(k: &mut KernelModel, actions: &[MrtAction]) {
    for a in actions {
        match a {
            MrtAction::AddVif { vif, ifindex } => {
                assert!(k.vifs.insert(*vif, *ifindex).is_none(), "{a}: vif busy");
            }
            MrtAction::DelVif { vif, .. } => {
                assert!(
                    !k.mfc.values().any(|v| v.contains(vif)),
                    "{a}: still referenced"
                );
                assert!(k.vifs.remove(vif).is_some(), "{a}: no such vif");
            }
            MrtAction::AddMfc {
                flow,
                iif_vif,
                oifs,
            } => {
                for v in std::iter::once(*iif_vif).chain(oifs) {
                    assert!(k.vifs.contains_key(&v), "{a}: vif {v} missing");
                }
                let mut all = vec![*iif_vif];
                all.extend(oifs);
                k.mfc.insert(*flow, all);
            }
            MrtAction::DelMfc { flow, .. } => {
                assert!(k.mfc.remove(flow).is_some(), "{a}: no such entry");
            }
        }
    }
}

/// What the kernel writer and the router do with `actions`: each is
/// attempted through the gate, and every refusal (attempted or not) is
/// marked failed. Returns the refusals with the kernel's error (`None`:
/// not attempted).
fn apply(
    t: &mut MrouteTable,
    gate: &mut VifGate,
    actions: &[MrtAction],
    kernel: impl Fn(&MrtAction) -> Result<(), &'static str>,
) -> Vec<(MrtAction, Option<&'static str>)> {
    let mut refused = Vec::new();
    for a in actions {
        let result = match gate.blocked_by(a) {
            Some(_) => Err(None),
            None => {
                let r = kernel(a);
                gate.record(a, r.is_ok());
                r.map_err(Some)
            }
        };
        if let Err(e) = result {
            t.mark_failed(a);
            refused.push((*a, e));
        }
    }
    refused
}

#[test]
fn failed_add_vif_is_retried_with_its_entries() {
    let mut t = MrouteTable::new();
    let d = BTreeMap::from([(flow(1, 1), entry(1, &[2]))]);
    let r = t.reconcile(&d, &BTreeSet::new());
    let mut gate = VifGate::default();
    let failures = apply(&mut t, &mut gate, &r.actions, |a| match a {
        MrtAction::AddVif { ifindex, .. } if *ifindex == IfIndex(2) => Err("ENODEV"),
        _ => Ok(()),
    });
    // The AddMfc using vif 1 was not attempted.
    assert_eq!(failures.len(), 2);
    assert_eq!(failures[0], (add_vif(1, 2), Some("ENODEV")));
    assert_eq!(failures[1], (add_mfc(flow(1, 1), 0, &[1]), None));
    assert_eq!(t.vif_of(IfIndex(2)), None);
    // An entry using vif 1 that was sent before the refusal was heard
    // is not attempted either.
    let late = [add_mfc(flow(1, 2), 0, &[1])];
    let failures = apply(&mut t, &mut gate, &late, |_| Ok(()));
    assert_eq!(failures, vec![(late[0], None)]);
    // The router's retry is attempted; once it succeeds the entries go
    // through again.
    let r2 = t.reconcile(&d, &BTreeSet::new());
    assert_eq!(
        r2.actions,
        vec![add_vif(1, 2), add_mfc(flow(1, 1), 0, &[1])]
    );
    assert!(apply(&mut t, &mut gate, &r2.actions, |_| Ok(())).is_empty());
}

#[test]
fn failed_deletions_are_retried() {
    let mut t = MrouteTable::new();
    let d = BTreeMap::from([(flow(1, 1), entry(1, &[2]))]);
    t.reconcile(&d, &BTreeSet::new());
    let r = t.reconcile(&BTreeMap::new(), &BTreeSet::new());
    assert_eq!(
        r.actions,
        vec![del_mfc(flow(1, 1), 0), del_vif(0, 1), del_vif(1, 2)]
    );
    for a in &r.actions {
        t.mark_failed(a);
    }
    let r2 = t.reconcile(&BTreeMap::new(), &BTreeSet::new());
    assert_eq!(r2.actions, r.actions);
    assert!(
        t.reconcile(&BTreeMap::new(), &BTreeSet::new())
            .actions
            .is_empty()
    );
}

#[test]
fn stale_vif_blocks_reuse_until_deleted() {
    let mut t = MrouteTable::new();
    t.reconcile(&BTreeMap::new(), &ifs(&[1]));
    let r = t.reconcile(&BTreeMap::new(), &ifs(&[2]));
    assert_eq!(r.actions, vec![del_vif(0, 1), add_vif(0, 2)]);
    let mut gate = VifGate::default();
    let failures = apply(&mut t, &mut gate, &r.actions, |a| match a {
        MrtAction::DelVif { .. } => Err("EBUSY"),
        _ => Ok(()),
    });
    assert_eq!(
        failures,
        vec![(del_vif(0, 1), Some("EBUSY")), (add_vif(0, 2), None)],
        "the AddVif reusing the index is not attempted"
    );
    assert_eq!(t.vif_of(IfIndex(2)), None);
    let r2 = t.reconcile(&BTreeMap::new(), &ifs(&[2]));
    assert_eq!(r2.actions, vec![del_vif(0, 1), add_vif(0, 2)]);
    // The deletion goes through this time, and so does the addition.
    assert!(apply(&mut t, &mut gate, &r2.actions, |_| Ok(())).is_empty());
    assert_eq!(t.vif_of(IfIndex(2)), Some(VifIndex(0)));
}

#[test]
fn interface_gone_frees_index_after_entries_are_fixed() {
    let mut t = MrouteTable::new();
    let d = BTreeMap::from([(flow(1, 1), entry(1, &[2, 3]))]);
    t.reconcile(&d, &BTreeSet::new());
    t.interface_gone(IfIndex(2));
    assert_eq!(t.vif_of(IfIndex(2)), None);
    // The core drops interface 2 and adds interface 4, which takes vif 1.
    let d2 = BTreeMap::from([(flow(1, 1), entry(1, &[3, 4]))]);
    let r = t.reconcile(&d2, &BTreeSet::new());
    assert_eq!(
        r.actions,
        vec![
            del_mfc(flow(1, 1), 0),
            add_vif(1, 4),
            add_mfc(flow(1, 1), 0, &[1, 2]),
        ]
    );
}

/// Random desired states: (source, group) -> (iif, oifs) over a few
/// flows and interfaces.
fn flows_strategy()
-> impl proptest::strategy::Strategy<Value = BTreeMap<(u8, u8), (u32, BTreeSet<u32>)>> {
    proptest::collection::btree_map(
        (1u8..6, 1u8..6),
        (1u32..12, proptest::collection::btree_set(1u32..12, 0..4)),
        0..6,
    )
}

fn desired_of(
    flows: BTreeMap<(u8, u8), (u32, BTreeSet<u32>)>,
) -> BTreeMap<FlowKey, (IfIndex, BTreeSet<IfIndex>)> {
    flows
        .into_iter()
        .map(|((s, g), (iif, oifs))| {
            (
                flow(s, g),
                (IfIndex(iif), oifs.into_iter().map(IfIndex).collect()),
            )
        })
        .collect()
}

/// The kernel model holds exactly the desired entries (in interface
/// terms, iif never among the oifs) and a VIF for exactly the
/// interfaces that need one.
fn check_kernel_matches(
    k: &KernelModel,
    desired: &BTreeMap<FlowKey, (IfIndex, BTreeSet<IfIndex>)>,
    pinned: &BTreeSet<IfIndex>,
) -> Result<(), proptest::test_runner::TestCaseError> {
    let mut in_kernel = BTreeMap::new();
    for (f, vifs) in &k.mfc {
        let iif = k.vifs[&vifs[0]];
        let oifs: BTreeSet<IfIndex> = vifs[1..].iter().map(|v| k.vifs[v]).collect();
        in_kernel.insert(*f, (iif, oifs));
    }
    let expected: BTreeMap<_, _> = desired
        .iter()
        .map(|(f, (iif, oifs))| {
            let mut o = oifs.clone();
            o.remove(iif);
            (*f, (*iif, o))
        })
        .collect();
    proptest::prop_assert_eq!(in_kernel, expected);
    let mut needed: BTreeSet<IfIndex> = pinned.clone();
    for (iif, oifs) in desired.values() {
        needed.insert(*iif);
        needed.extend(oifs);
    }
    let have: BTreeSet<IfIndex> = k.vifs.values().copied().collect();
    proptest::prop_assert_eq!(have, needed);
    Ok(())
}

proptest::proptest! {
    /// Any sequence of desired states: actions apply cleanly in order, the
    /// model kernel ends up exactly as desired, and a repeat is a no-op.
    #[test]
    fn random_sequences_converge(
        steps in proptest::collection::vec(
            (flows_strategy(), proptest::collection::btree_set(1u32..12, 0..3)),
            1..6,
        )
    ) {
        let mut t = MrouteTable::new();
        let mut k = KernelModel::default();
        for (flows, pinned) in steps {
            let desired = desired_of(flows);
            let pinned: BTreeSet<IfIndex> = pinned.into_iter().map(IfIndex).collect();
            let r = t.reconcile(&desired, &pinned);
            check_order(&mut k, &r.actions);
            proptest::prop_assert!(t.reconcile(&desired, &pinned).actions.is_empty());
            check_kernel_matches(&k, &desired, &pinned)?;
        }
    }
}

proptest::proptest! {
    /// The same with `reconcile_flows` told only which flows changed: the
    /// kernel ends up the same as with full passes.
    #[test]
    fn random_sequences_converge_flow_by_flow(
        steps in proptest::collection::vec(flows_strategy(), 1..6)
    ) {
        let mut t = MrouteTable::new();
        let mut k = KernelModel::default();
        let mut before: BTreeMap<FlowKey, (IfIndex, BTreeSet<IfIndex>)> = BTreeMap::new();
        // Every interface pinned: after the first full pass each step
        // takes the flow-by-flow path.
        let pinned: BTreeSet<IfIndex> = (1u32..12).map(IfIndex).collect();
        for flows in steps {
            let desired = desired_of(flows);
            let changed: Vec<FlowKey> = before
                .keys()
                .chain(desired.keys())
                .filter(|f| before.get(f) != desired.get(f))
                .copied()
                .collect();
            let r = t.reconcile_flows(&desired, &changed, &pinned);
            check_order(&mut k, &r.actions);
            proptest::prop_assert!(
                t.reconcile_flows(&desired, &[], &pinned).actions.is_empty()
            );
            before = desired.clone();
            check_kernel_matches(&k, &desired, &pinned)?;
        }
    }
}
