//! Property tests: random sequences of ownership changes, memberships,
//! interface events and forwarding entries, driven together with a
//! simulated IGMP that keeps its own membership set per interface and
//! re-adds it at every `EnableIgmp`, as the real IGMP does.
//!
//! Checked after every step against an independent model: the routing owner
//! of every interface; IGMP's memberships on every interface where it runs
//! equal the simulated IGMP's set; the protocols' memberships are exactly
//! those they added since the interface last changed owner (nothing lost,
//! nothing duplicated); every entry's outgoing list equals both
//! `wanted_oifs` and the model's list; failed operations change nothing;
//! the recorded effects replay to the new state; and the batch's net change
//! is the difference between the states before and after.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use mgmd::core::mgm::{Effect, MembershipFlags, Mfe, Mgm, MgmIface};

/// Where an entry comes in and goes out.
#[derive(Clone, Debug, PartialEq, Eq)]
struct MfeRoute {
    iif: IfIndex,
    oifs: Vec<IfIndex>,
}
use mgmd::core::types::{ComponentId, FlowKey, GroupAddr, IfIndex, MembershipKey, ProtoId};
use proptest::prelude::*;

const IFACES: u32 = 4;

fn group(i: u8) -> GroupAddr {
    GroupAddr::new(Ipv4Addr::new(239, 0, 0, 1 + i)).unwrap()
}

fn source(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, 1 + i)
}

fn key(kind: u8, s: u8, g: u8) -> MembershipKey {
    match kind {
        0 => MembershipKey::any(group(g)),
        1 => MembershipKey::only(source(s), group(g)),
        _ => MembershipKey::except(source(s), group(g)),
    }
}

fn flow(s: u8, g: u8) -> FlowKey {
    FlowKey {
        group: group(g),
        source: source(s).into(),
    }
}

#[derive(Clone, Debug)]
enum Op {
    /// who: 0 = IGMP, 1/2 = protocols A/B.
    Take(u8, u32),
    Release(u8, u32),
    ProtoAdd(u8, MembershipKey, u32),
    ProtoDel(u8, MembershipKey, u32),
    HostJoin(MembershipKey, u32),
    HostLeave(MembershipKey, u32),
    SetUp(u32, bool),
    Remove(u32),
    AddBack(u32),
    CreateMfe(FlowKey, u32),
    DeleteMfe(FlowKey),
    SetOifEnabled(FlowKey, u32, bool),
    Forward(u8, FlowKey, u32, bool),
    Resync(u32),
}

fn op() -> impl Strategy<Value = Op> {
    let ifc = 1..=IFACES;
    let k = (0u8..3, 0u8..2, 0u8..2).prop_map(|(a, b, c)| key(a, b, c));
    let f = (0u8..2, 0u8..2).prop_map(|(s, g)| flow(s, g));
    prop_oneof![
        3 => (0u8..3, ifc.clone()).prop_map(|(w, i)| Op::Take(w, i)),
        2 => (0u8..3, ifc.clone()).prop_map(|(w, i)| Op::Release(w, i)),
        3 => (1u8..3, k.clone(), ifc.clone()).prop_map(|(w, k, i)| Op::ProtoAdd(w, k, i)),
        2 => (1u8..3, k.clone(), ifc.clone()).prop_map(|(w, k, i)| Op::ProtoDel(w, k, i)),
        4 => (k.clone(), ifc.clone()).prop_map(|(k, i)| Op::HostJoin(k, i)),
        2 => (k, ifc.clone()).prop_map(|(k, i)| Op::HostLeave(k, i)),
        1 => (ifc.clone(), any::<bool>()).prop_map(|(i, u)| Op::SetUp(i, u)),
        1 => ifc.clone().prop_map(Op::Remove),
        1 => ifc.clone().prop_map(Op::AddBack),
        2 => (f.clone(), ifc.clone()).prop_map(|(f, i)| Op::CreateMfe(f, i)),
        1 => f.clone().prop_map(Op::DeleteMfe),
        1 => (f.clone(), ifc.clone(), any::<bool>()).prop_map(|(f, i, e)| Op::SetOifEnabled(f, i, e)),
        1 => (0u8..3, f, ifc.clone(), any::<bool>()).prop_map(|(w, f, i, on)| Op::Forward(w, f, i, on)),
        1 => ifc.prop_map(Op::Resync),
    ]
}

// ===== the independent model =====

#[derive(Clone, Debug)]
struct ModelMfe {
    iif: IfIndex,
    disabled: BTreeSet<IfIndex>,
    on: BTreeSet<IfIndex>,
    off: BTreeSet<IfIndex>,
}

#[derive(Debug)]
struct Model {
    protos: [ProtoId; 2],
    /// Known interfaces: up, routing owner (1/2).
    ifaces: BTreeMap<IfIndex, (bool, Option<u8>)>,
    /// The simulated IGMP: interfaces where it runs and the keys it holds.
    igmp: BTreeMap<IfIndex, BTreeSet<MembershipKey>>,
    /// Protocol-added memberships (by the interface's owner).
    proto: BTreeSet<(MembershipKey, IfIndex)>,
    mfes: BTreeMap<FlowKey, ModelMfe>,
}

impl Model {
    fn comp(&self, who: u8) -> ComponentId {
        match who {
            0 => ComponentId::Igmp,
            w => ComponentId::Protocol(self.protos[usize::from(w) - 1]),
        }
    }

    fn known(&self, i: IfIndex) -> bool {
        self.ifaces.contains_key(&i)
    }

    fn owner(&self, i: IfIndex) -> Option<u8> {
        self.ifaces.get(&i).and_then(|x| x.1)
    }

    /// May `who` add/delete memberships on `i`?
    fn may_touch(&self, who: u8, i: IfIndex) -> bool {
        match who {
            0 => self.igmp.contains_key(&i),
            w => self.known(i) && self.owner(i) == Some(w),
        }
    }

    /// Interface `i` changed hands (or went away): everything on it goes.
    fn owner_changed(&mut self, i: IfIndex) {
        self.proto.retain(|&(_, j)| j != i);
        self.mfes.retain(|_, m| m.iif != i);
        self.clear_overrides(i);
    }

    fn clear_overrides(&mut self, i: IfIndex) {
        for m in self.mfes.values_mut() {
            m.disabled.remove(&i);
            m.on.remove(&i);
            m.off.remove(&i);
        }
    }

    fn has(&self, k: MembershipKey, i: IfIndex) -> bool {
        self.proto.contains(&(k, i)) || self.igmp.get(&i).is_some_and(|s| s.contains(&k))
    }

    fn oifs(&self, f: FlowKey, m: &ModelMfe) -> Vec<IfIndex> {
        self.ifaces
            .iter()
            .filter(|&(&i, &(up, _))| up && i != m.iif)
            .map(|(&i, _)| i)
            .filter(|&i| {
                if m.disabled.contains(&i) || m.off.contains(&i) {
                    return false;
                }
                m.on.contains(&i)
                    || self.has(MembershipKey::only(f.source, f.group), i)
                    || (self.has(MembershipKey::any(f.group), i)
                        && !self.has(MembershipKey::except(f.source, f.group), i))
            })
            .collect()
    }
}

// ===== snapshots of the manager =====

type Row = (MembershipKey, IfIndex, ComponentId, ComponentId);

#[derive(Clone, Debug, PartialEq)]
struct Snap {
    rows: BTreeSet<Row>,
    mfes: BTreeMap<FlowKey, Mfe>,
    ifaces: Vec<(IfIndex, MgmIface)>,
}

fn snap(m: &Mgm) -> Snap {
    let rows: Vec<Row> = m
        .memberships()
        .map(|r| (r.key, r.ifindex, r.by, r.component))
        .collect();
    let set: BTreeSet<Row> = rows.iter().copied().collect();
    assert_eq!(rows.len(), set.len(), "duplicate membership rows");
    Snap {
        rows: set,
        mfes: m.mfes().map(|(f, x)| (*f, x.clone())).collect(),
        ifaces: m.interfaces().map(|(i, x)| (i, x.clone())).collect(),
    }
}

fn routes(s: &Snap) -> BTreeMap<FlowKey, MfeRoute> {
    s.mfes
        .iter()
        .map(|(f, x)| {
            (
                *f,
                MfeRoute {
                    iif: x.iif(),
                    oifs: x.oifs().to_vec(),
                },
            )
        })
        .collect()
}

// ===== the harness =====

struct Harness {
    m: Mgm,
    model: Model,
}

impl Harness {
    fn new() -> Self {
        let mut m = Mgm::new();
        let a = m.register("a").unwrap();
        let b = m.register("b").unwrap();
        let mut ifaces = BTreeMap::new();
        for i in 1..=IFACES {
            m.interface_add(IfIndex(i), &format!("eth{i}"), true);
            ifaces.insert(IfIndex(i), (true, None));
        }
        Harness {
            m,
            model: Model {
                protos: [a, b],
                ifaces,
                igmp: BTreeMap::new(),
                proto: BTreeSet::new(),
                mfes: BTreeMap::new(),
            },
        }
    }

    /// Runs one operation (and IGMP's answers); checks everything.
    fn step(&mut self, op: &Op) {
        let before = snap(&self.m);
        let (res, expect_ok) = self.apply(op);
        let mut effects = match res {
            Ok(fx) => {
                assert!(expect_ok, "{op:?} succeeded, model says it must fail");
                fx
            }
            Err(e) => {
                assert!(
                    !expect_ok,
                    "{op:?} failed ({e}), model says it must succeed"
                );
                assert_eq!(snap(&self.m), before, "failed {op:?} changed state");
                Vec::new()
            }
        };
        // IGMP's answer to ENABLE: re-add its current set, after the call.
        let enables: Vec<IfIndex> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::EnableIgmp { ifindex } => Some(*ifindex),
                _ => None,
            })
            .collect();
        for i in enables {
            let keys: Vec<MembershipKey> = self
                .model
                .igmp
                .get(&i)
                .into_iter()
                .flatten()
                .copied()
                .collect();
            for k in keys {
                let fx = self
                    .m
                    .add_membership(ComponentId::Igmp, k, i, MembershipFlags::JOIN);
                effects.extend(fx.expect("re-add after enable must succeed"));
            }
        }
        let after = snap(&self.m);
        self.check_state(&after);
        check_replay(&before, &after, &effects);
    }

    fn apply(&mut self, op: &Op) -> (Result<Vec<Effect>, mgmd::core::mgm::MgmError>, bool) {
        let md = &mut self.model;
        match *op {
            Op::Take(w, i) => {
                let i = IfIndex(i);
                let c = md.comp(w);
                let ok = md.known(i)
                    && match w {
                        0 => !md.igmp.contains_key(&i),
                        _ => md.owner(i).is_none(),
                    };
                let r = self.m.take_ownership(c, i);
                if ok {
                    if w == 0 {
                        md.igmp.insert(i, BTreeSet::new());
                    } else {
                        md.owner_changed(i);
                        md.ifaces.get_mut(&i).unwrap().1 = Some(w);
                    }
                }
                (r, ok)
            }
            Op::Release(w, i) => {
                let i = IfIndex(i);
                let ok = md.known(i)
                    && match w {
                        0 => md.igmp.contains_key(&i),
                        _ => md.owner(i) == Some(w),
                    };
                let r = self.m.release_ownership(md.comp(w), i);
                if ok {
                    if w == 0 {
                        md.igmp.remove(&i);
                        if md.owner(i).is_none() {
                            md.mfes.retain(|_, m| m.iif != i);
                            md.clear_overrides(i);
                        }
                    } else {
                        md.owner_changed(i);
                        md.ifaces.get_mut(&i).unwrap().1 = None;
                    }
                }
                (r, ok)
            }
            Op::ProtoAdd(w, k, i) | Op::ProtoDel(w, k, i) => {
                let i = IfIndex(i);
                let ok = md.may_touch(w, i);
                let add = matches!(op, Op::ProtoAdd(..));
                let c = md.comp(w);
                let r = if add {
                    self.m.add_membership(c, k, i, MembershipFlags::JOIN)
                } else {
                    self.m.delete_membership(c, k, i, MembershipFlags::JOIN)
                };
                if ok {
                    if add {
                        md.proto.insert((k, i));
                    } else {
                        md.proto.remove(&(k, i));
                    }
                }
                (r, ok)
            }
            Op::HostJoin(k, i) | Op::HostLeave(k, i) => {
                let i = IfIndex(i);
                let join = matches!(op, Op::HostJoin(..));
                let Some(set) = md.igmp.get_mut(&i) else {
                    // IGMP does not run there: nothing to report.
                    return (Ok(Vec::new()), true);
                };
                if join {
                    set.insert(k);
                    (
                        self.m
                            .add_membership(ComponentId::Igmp, k, i, MembershipFlags::JOIN),
                        true,
                    )
                } else {
                    set.remove(&k);
                    (
                        self.m
                            .delete_membership(ComponentId::Igmp, k, i, MembershipFlags::JOIN),
                        true,
                    )
                }
            }
            Op::SetUp(i, up) => {
                let i = IfIndex(i);
                let ok = md.known(i);
                let r = self.m.interface_set_up(i, up);
                if let Some(x) = md.ifaces.get_mut(&i) {
                    // Entries coming in on a down interface stay.
                    x.0 = up;
                }
                (r, ok)
            }
            Op::Remove(i) => {
                let i = IfIndex(i);
                let ok = md.known(i);
                // IGMP learns of the removal from the kernel too: it drops the interface.
                md.igmp.remove(&i);
                let r = self.m.interface_remove(i);
                if ok {
                    md.owner_changed(i);
                    md.ifaces.remove(&i);
                }
                (r, ok)
            }
            Op::AddBack(i) => {
                let i = IfIndex(i);
                let fx = self.m.interface_add(i, &format!("eth{}", i.0), true);
                match md.ifaces.get_mut(&i) {
                    Some(x) => x.0 = true,
                    None => {
                        md.ifaces.insert(i, (true, None));
                    }
                }
                (Ok(fx), true)
            }
            Op::CreateMfe(f, iif) => {
                let iif = IfIndex(iif);
                let ok = md.ifaces.get(&iif).is_some_and(|x| x.0) && !md.mfes.contains_key(&f);
                let r = self.m.create_mfe(f, iif, None);
                if ok {
                    md.mfes.insert(
                        f,
                        ModelMfe {
                            iif,
                            disabled: BTreeSet::new(),
                            on: BTreeSet::new(),
                            off: BTreeSet::new(),
                        },
                    );
                }
                (r, ok)
            }
            Op::DeleteMfe(f) => {
                let ok = md.mfes.remove(&f).is_some();
                (self.m.delete_mfe(f), ok)
            }
            Op::SetOifEnabled(f, i, en) => {
                let i = IfIndex(i);
                let ok = md.mfes.contains_key(&f) && md.known(i);
                let r = self.m.set_oif_enabled(f, i, en);
                if ok {
                    let x = md.mfes.get_mut(&f).unwrap();
                    if en {
                        x.disabled.remove(&i);
                    } else {
                        x.disabled.insert(i);
                    }
                }
                (r, ok)
            }
            Op::Forward(w, f, i, on) => {
                let i = IfIndex(i);
                let ok = md.may_touch(w, i);
                let k = MembershipKey::only(f.source, f.group);
                let c = md.comp(w);
                let r = if on {
                    self.m.add_membership(c, k, i, MembershipFlags::FORWARD)
                } else {
                    self.m.delete_membership(c, k, i, MembershipFlags::FORWARD)
                };
                if ok && let Some(x) = md.mfes.get_mut(&f) {
                    let (add, del) = if on {
                        (&mut x.on, &mut x.off)
                    } else {
                        (&mut x.off, &mut x.on)
                    };
                    add.insert(i);
                    del.remove(&i);
                }
                (r, ok)
            }
            Op::Resync(i) => {
                // IGMP re-synchronises an interface: disable, then enable (re-adds follow).
                let i = IfIndex(i);
                let ok = md.igmp.contains_key(&i);
                let r = self.m.disable_igmp(i).and_then(|mut fx| {
                    fx.extend(self.m.enable_igmp(i)?);
                    Ok(fx)
                });
                (r, ok)
            }
        }
    }

    fn check_state(&self, s: &Snap) {
        let md = &self.model;
        // Interfaces and owners.
        let ifaces: Vec<IfIndex> = s.ifaces.iter().map(|x| x.0).collect();
        assert_eq!(ifaces, md.ifaces.keys().copied().collect::<Vec<_>>());
        for (i, x) in &s.ifaces {
            let (up, owner) = md.ifaces[i];
            assert_eq!(x.up, up);
            assert_eq!(
                x.owner,
                owner.map(|w| md.protos[usize::from(w) - 1]),
                "owner of {i}"
            );
            assert_eq!(
                x.igmp != mgmd::core::mgm::IgmpState::Off,
                md.igmp.contains_key(i)
            );
            assert_ne!(
                x.igmp,
                mgmd::core::mgm::IgmpState::Disabled,
                "left disabled"
            );
        }
        // Memberships: IGMP's equal the simulated set; the protocols' equal what they added.
        let mut igmp_rows: BTreeMap<IfIndex, BTreeSet<MembershipKey>> = BTreeMap::new();
        let mut proto_rows = BTreeSet::new();
        for &(k, i, by, comp) in &s.rows {
            let owner = md.owner(i);
            let expect_comp = owner.map_or(ComponentId::Igmp, |w| md.comp(w));
            assert_eq!(comp, expect_comp, "attribution of {k} on {i}");
            if by == ComponentId::Igmp {
                igmp_rows.entry(i).or_default().insert(k);
            } else {
                assert_eq!(Some(by), owner.map(|w| md.comp(w)));
                proto_rows.insert((k, i));
            }
        }
        let sim: BTreeMap<IfIndex, BTreeSet<MembershipKey>> = md
            .igmp
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(i, v)| (*i, v.clone()))
            .collect();
        assert_eq!(
            igmp_rows, sim,
            "IGMP's memberships differ from IGMP's own view"
        );
        assert_eq!(
            proto_rows, md.proto,
            "protocol memberships lost or invented"
        );
        assert_eq!(self.m.membership_count(), {
            let mut pairs: BTreeSet<(MembershipKey, IfIndex)> = md.proto.clone();
            for (i, v) in &md.igmp {
                pairs.extend(v.iter().map(|k| (*k, *i)));
            }
            pairs.len()
        });
        // Forwarding entries.
        assert_eq!(
            s.mfes.keys().collect::<Vec<_>>(),
            md.mfes.keys().collect::<Vec<_>>(),
            "forwarding entries differ"
        );
        for (f, x) in &s.mfes {
            assert_eq!(
                x.oifs(),
                self.m.wanted_oifs(*f, x.iif()).as_slice(),
                "oifs of {f}"
            );
            let mm = &md.mfes[f];
            assert_eq!(x.iif(), mm.iif);
            assert_eq!(x.oifs(), md.oifs(*f, mm).as_slice(), "model oifs of {f}");
        }
    }
}

/// The recorded effects, replayed on the old state, give the new one.
fn check_replay(before: &Snap, after: &Snap, effects: &[Effect]) {
    let mut rows = before.rows.clone();
    let mut mfes = routes(before);
    for e in effects {
        match e {
            Effect::MembershipAdded {
                key,
                ifindex,
                by,
                component,
            } => assert!(
                rows.insert((*key, *ifindex, *by, *component)),
                "added twice: {e:?}"
            ),
            Effect::MembershipRemoved {
                key,
                ifindex,
                by,
                component,
            } => assert!(
                rows.remove(&(*key, *ifindex, *by, *component)),
                "removed absent: {e:?}"
            ),
            Effect::MfeCreated { flow, iif, oifs } => {
                let old = mfes.insert(
                    *flow,
                    MfeRoute {
                        iif: *iif,
                        oifs: oifs.clone(),
                    },
                );
                assert!(old.is_none());
            }
            Effect::MfeChanged { flow, iif, oifs } => {
                let old = mfes.insert(
                    *flow,
                    MfeRoute {
                        iif: *iif,
                        oifs: oifs.clone(),
                    },
                );
                assert!(old.is_some_and(|o| o.oifs != *oifs), "no-op change: {e:?}");
            }
            Effect::MfeDeleted { flow } => assert!(mfes.remove(flow).is_some()),
            _ => {}
        }
    }
    assert_eq!(rows, after.rows, "membership effects do not replay");
    assert_eq!(mfes, routes(after), "forwarding effects do not replay");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn ownership_changes_lose_nothing(ops in proptest::collection::vec(op(), 1..24)) {
        let mut h = Harness::new();
        for op in &ops {
            h.step(op);
        }
    }
}
