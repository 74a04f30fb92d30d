//! Acceptance scenarios 1-36 of the group manager model (ARCHITECTURE.md,
//! "The manager's acceptance scenarios"), each asserting the exact ordered
//! effects.
//!
//! Cast: IGMP; DV and PM, two registered routing protocols. eth0 is the RPF
//! interface towards S1 and S2. Windows error codes map to typed errors.

use std::net::Ipv4Addr;

use mgmd::core::mgm::{Effect, IgmpState, Membership, MembershipFlags, Mgm, MgmError};
use mgmd::core::types::{ComponentId, FlowKey, GroupAddr, IfIndex, MembershipKey, ProtoId};

const ETH0: IfIndex = IfIndex(10);
const ETH1: IfIndex = IfIndex(11);
const ETH2: IfIndex = IfIndex(12);
const ETH3: IfIndex = IfIndex(13);
const ETH4: IfIndex = IfIndex(14);
const ETH9: IfIndex = IfIndex(19);
const S1: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 5);
const S2: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 9);
const IGMP: ComponentId = ComponentId::Igmp;
const JOIN: MembershipFlags = MembershipFlags::JOIN;

fn g1() -> GroupAddr {
    "239.1.1.1".parse().unwrap()
}

fn g2() -> GroupAddr {
    "239.2.2.2".parse().unwrap()
}

fn any(g: GroupAddr) -> MembershipKey {
    MembershipKey::any(g)
}

fn sg(s: Ipv4Addr, g: GroupAddr) -> MembershipKey {
    MembershipKey::only(s, g)
}

fn flow(s: Ipv4Addr, g: GroupAddr) -> FlowKey {
    FlowKey::new(s, g)
}

/// A manager with DV and PM registered and eth0..eth4 up.
struct World {
    m: Mgm,
    dv: ProtoId,
    pm: ProtoId,
}

impl World {
    fn new() -> Self {
        let mut m = Mgm::new();
        let dv = m.register("dv").unwrap();
        let pm = m.register("pm").unwrap();
        for (i, name) in [
            (ETH0, "eth0"),
            (ETH1, "eth1"),
            (ETH2, "eth2"),
            (ETH3, "eth3"),
            (ETH4, "eth4"),
        ] {
            assert!(m.interface_add(i, name, true).is_empty());
        }
        World { m, dv, pm }
    }

    fn dv(&self) -> ComponentId {
        ComponentId::Protocol(self.dv)
    }

    fn pm(&self) -> ComponentId {
        ComponentId::Protocol(self.pm)
    }
}

fn added(key: MembershipKey, ifindex: IfIndex, by: ComponentId, component: ComponentId) -> Effect {
    Effect::MembershipAdded {
        key,
        ifindex,
        by,
        component,
    }
}

fn removed(
    key: MembershipKey,
    ifindex: IfIndex,
    by: ComponentId,
    component: ComponentId,
) -> Effect {
    Effect::MembershipRemoved {
        key,
        ifindex,
        by,
        component,
    }
}

fn join(to: ComponentId, key: MembershipKey, member_update: bool) -> Effect {
    Effect::JoinAlert {
        to,
        key,
        member_update,
    }
}

fn prune(to: ComponentId, key: MembershipKey, ifindex: IfIndex, member_delete: bool) -> Effect {
    Effect::PruneAlert {
        to,
        key,
        ifindex,
        member_delete,
    }
}

fn changed(f: FlowKey, iif: IfIndex, oifs: &[IfIndex]) -> Effect {
    Effect::MfeChanged {
        flow: f,
        iif,
        oifs: oifs.to_vec(),
    }
}

// ===== registration / ownership =====

#[test]
fn scenario_01_register_rejects_duplicate_names() {
    // Registering the same instance twice fails; a second instance gets a new handle.
    let mut m = Mgm::new();
    let h1 = m.register("dv/1").unwrap();
    assert_eq!(
        m.register("dv/1"),
        Err(MgmError::AlreadyRegistered("dv/1".into()))
    );
    let h2 = m.register("dv/2").unwrap();
    assert_ne!(h1, h2);
    assert_eq!(
        m.protocols().collect::<Vec<_>>(),
        vec![(h1, "dv/1"), (h2, "dv/2")]
    );
}

#[test]
fn scenario_02_take_of_owned_interface_fails() {
    // PM cannot take eth1 from DV; the owner query still says DV; no callbacks.
    let mut w = World::new();
    let dv = w.dv();
    assert_eq!(
        w.m.take_ownership(dv, ETH1),
        Ok(vec![Effect::OwnerChanged {
            ifindex: ETH1,
            old: None,
            new: Some(w.dv)
        }])
    );
    assert_eq!(
        w.m.take_ownership(w.pm(), ETH1),
        Err(MgmError::AlreadyOwned {
            ifindex: ETH1,
            owner: dv
        })
    );
    assert_eq!(
        w.m.take_ownership(dv, ETH1),
        Err(MgmError::AlreadyOwned {
            ifindex: ETH1,
            owner: dv
        })
    );
    assert_eq!(w.m.owner(ETH1), Ok(Some(dv)));
}

#[test]
fn scenario_03_deregister_requires_release() {
    // Deregistering while owning an interface fails; after release it works and the handle is dead.
    let mut w = World::new();
    let dv = w.dv();
    w.m.take_ownership(dv, ETH1).unwrap();
    assert_eq!(
        w.m.deregister(w.dv),
        Err(MgmError::StillOwnsInterfaces {
            proto: w.dv,
            ifaces: vec![ETH1]
        })
    );
    assert_eq!(
        w.m.release_ownership(dv, ETH1),
        Ok(vec![Effect::OwnerChanged {
            ifindex: ETH1,
            old: Some(w.dv),
            new: None
        }])
    );
    assert_eq!(w.m.deregister(w.dv), Ok(vec![]));
    assert_eq!(
        w.m.take_ownership(dv, ETH1),
        Err(MgmError::UnknownProtocol(w.dv))
    );
    assert_eq!(
        w.m.add_membership(dv, any(g1()), ETH1, JOIN),
        Err(MgmError::UnknownProtocol(w.dv))
    );
    assert_eq!(w.m.deregister(w.dv), Err(MgmError::UnknownProtocol(w.dv)));
    // Handles are never reused, even for the same name.
    let again = w.m.register("dv").unwrap();
    assert_ne!(again, w.dv);
}

#[test]
fn scenario_04_owner_of_unknown_interface_is_not_found() {
    // The owner query on an interface the manager never heard of fails.
    let w = World::new();
    assert_eq!(w.m.owner(ETH9), Err(MgmError::UnknownInterface(ETH9)));
    assert_eq!(w.m.owner(ETH1), Ok(None));
}

#[test]
fn scenario_05_release_of_not_owned_interface_fails() {
    // DV releasing an interface it never took is an error.
    let mut w = World::new();
    let dv = w.dv();
    assert_eq!(
        w.m.release_ownership(dv, ETH9),
        Err(MgmError::UnknownInterface(ETH9))
    );
    assert_eq!(
        w.m.release_ownership(dv, ETH2),
        Err(MgmError::NotOwner {
            ifindex: ETH2,
            component: dv
        })
    );
    assert_eq!(
        w.m.release_ownership(IGMP, ETH2),
        Err(MgmError::NotOwner {
            ifindex: ETH2,
            component: IGMP
        })
    );
}

#[test]
fn scenario_06_take_from_igmp_runs_disable_enable() {
    // DV takes IGMP's eth1: DISABLE, flush (prunes to DV and PM), ENABLE; IGMP's re-add gives DV a
    // LOCAL_JOIN and joins to PM and IGMP. The entry ends as it started (the router programs the
    // kernel with that net result: tests/router.rs).
    let mut w = World::new();
    let (dv, pm) = (w.dv(), w.pm());
    let k = any(g1());
    let f = flow(S1, g1());
    assert_eq!(w.m.take_ownership(IGMP, ETH1), Ok(vec![]));
    assert_eq!(
        w.m.add_membership(IGMP, k, ETH1, JOIN),
        Ok(vec![
            added(k, ETH1, IGMP, IGMP),
            join(dv, k, true),
            join(pm, k, true)
        ])
    );
    w.m.create_mfe(f, ETH0, None).unwrap();
    assert_eq!(w.m.mfe(f).unwrap().oifs(), &[ETH1]);

    assert_eq!(
        w.m.take_ownership(dv, ETH1),
        Ok(vec![
            Effect::DisableIgmp { ifindex: ETH1 },
            Effect::OwnerChanged {
                ifindex: ETH1,
                old: None,
                new: Some(w.dv)
            },
            removed(k, ETH1, IGMP, IGMP),
            prune(dv, k, ETH1, true),
            prune(pm, k, ETH1, true),
            changed(f, ETH0, &[]),
            Effect::EnableIgmp { ifindex: ETH1 },
        ])
    );
    assert_eq!(w.m.owner(ETH1), Ok(Some(dv)));
    // IGMP's answer to ENABLE.
    assert_eq!(
        w.m.add_membership(IGMP, k, ETH1, JOIN),
        Ok(vec![
            added(k, ETH1, IGMP, dv),
            Effect::LocalJoin {
                to: w.dv,
                key: k,
                ifindex: ETH1
            },
            join(IGMP, k, true),
            join(pm, k, true),
            changed(f, ETH0, &[ETH1]),
        ])
    );
    assert_eq!(w.m.mfe(f).unwrap().oifs(), &[ETH1]);
    assert_eq!(
        w.m.memberships().collect::<Vec<_>>(),
        vec![Membership {
            key: k,
            ifindex: ETH1,
            by: IGMP,
            component: dv
        }]
    );
}

#[test]
fn scenario_07_one_disable_enable_per_interface() {
    // IGMP holds G1 and G2 on eth1: one DISABLE and one ENABLE, then two LOCAL_JOINs.
    let mut w = World::new();
    let dv = w.dv();
    w.m.take_ownership(IGMP, ETH1).unwrap();
    for g in [g1(), g2()] {
        w.m.add_membership(IGMP, any(g), ETH1, JOIN).unwrap();
    }
    let fx = w.m.take_ownership(dv, ETH1).unwrap();
    let disables = fx
        .iter()
        .filter(|e| matches!(e, Effect::DisableIgmp { .. }))
        .count();
    let enables = fx
        .iter()
        .filter(|e| matches!(e, Effect::EnableIgmp { .. }))
        .count();
    assert_eq!((disables, enables), (1, 1));
    assert_eq!(fx.first(), Some(&Effect::DisableIgmp { ifindex: ETH1 }));
    assert_eq!(fx.last(), Some(&Effect::EnableIgmp { ifindex: ETH1 }));
    let mut local = Vec::new();
    for g in [g1(), g2()] {
        for e in w.m.add_membership(IGMP, any(g), ETH1, JOIN).unwrap() {
            if let Effect::LocalJoin { to, key, ifindex } = e {
                local.push((to, key, ifindex));
            }
        }
    }
    assert_eq!(
        local,
        vec![(w.dv, any(g1()), ETH1), (w.dv, any(g2()), ETH1)]
    );
}

#[test]
fn scenario_08_release_with_igmp_coresident() {
    // DV releases eth1 where IGMP runs: DISABLE, flush (prunes to all but DV), MFEs with iif=eth1
    // deleted, ENABLE; IGMP becomes the owner and its re-add alerts everyone but IGMP.
    let mut w = World::new();
    let (dv, pm) = (w.dv(), w.pm());
    let k = any(g1());
    let f = flow(S2, g2());
    w.m.take_ownership(dv, ETH1).unwrap();
    w.m.take_ownership(IGMP, ETH1).unwrap();
    w.m.add_membership(IGMP, k, ETH1, JOIN).unwrap();
    w.m.create_mfe(f, ETH1, None).unwrap();
    assert_eq!(
        w.m.release_ownership(dv, ETH1),
        Ok(vec![
            Effect::DisableIgmp { ifindex: ETH1 },
            Effect::OwnerChanged {
                ifindex: ETH1,
                old: Some(w.dv),
                new: None
            },
            removed(k, ETH1, IGMP, dv),
            prune(IGMP, k, ETH1, true),
            prune(pm, k, ETH1, true),
            Effect::MfeDeleted { flow: f },
            Effect::EnableIgmp { ifindex: ETH1 },
        ])
    );
    assert_eq!(w.m.owner(ETH1), Ok(Some(IGMP)));
    assert_eq!(w.m.mfe(f), None);
    assert_eq!(
        w.m.add_membership(IGMP, k, ETH1, JOIN),
        Ok(vec![
            added(k, ETH1, IGMP, IGMP),
            join(dv, k, true),
            join(pm, k, true)
        ])
    );
}

#[test]
fn scenario_09_no_igmp_no_disable_enable() {
    // IGMP runs on eth1 only: DV taking and releasing eth2 raises no DISABLE/ENABLE.
    let mut w = World::new();
    let dv = w.dv();
    w.m.take_ownership(IGMP, ETH1).unwrap();
    let change = |old, new| Effect::OwnerChanged {
        ifindex: ETH2,
        old,
        new,
    };
    assert_eq!(
        w.m.take_ownership(dv, ETH2),
        Ok(vec![change(None, Some(w.dv))])
    );
    assert_eq!(
        w.m.release_ownership(dv, ETH2),
        Ok(vec![change(Some(w.dv), None)])
    );
}

#[test]
fn scenario_10_leave_inside_window_is_not_readded() {
    // A host leaves G1 between DISABLE and ENABLE: IGMP re-adds only its current groups.
    let mut w = World::new();
    let dv = w.dv();
    w.m.take_ownership(IGMP, ETH1).unwrap();
    let mut igmp_groups = vec![any(g1()), any(g2())];
    for &k in &igmp_groups {
        w.m.add_membership(IGMP, k, ETH1, JOIN).unwrap();
    }
    let fx = w.m.take_ownership(dv, ETH1).unwrap();
    for e in fx {
        match e {
            // The leave is recorded by IGMP only; it makes no call while disabled.
            Effect::DisableIgmp { .. } => igmp_groups.retain(|k| *k != any(g1())),
            Effect::EnableIgmp { ifindex } => {
                for &k in &igmp_groups {
                    w.m.add_membership(IGMP, k, ifindex, JOIN).unwrap();
                }
            }
            _ => {}
        }
    }
    let keys: Vec<_> =
        w.m.memberships_on(ETH1)
            .map(|r| (r.key, r.by, r.component))
            .collect();
    assert_eq!(keys, vec![(any(g2()), IGMP, dv)]);
}

#[test]
fn scenario_11_igmp_add_while_disabled_fails() {
    // IGMP adding on a disabled interface fails and changes nothing.
    let mut w = World::new();
    w.m.take_ownership(IGMP, ETH1).unwrap();
    w.m.add_membership(IGMP, any(g1()), ETH1, JOIN).unwrap();
    let fx = w.m.disable_igmp(ETH1).unwrap();
    assert_eq!(fx[0], Effect::DisableIgmp { ifindex: ETH1 });
    assert_eq!(w.m.interface(ETH1).unwrap().igmp, IgmpState::Disabled);
    let before: Vec<_> = w.m.memberships().collect();
    assert_eq!(
        w.m.add_membership(IGMP, any(g2()), ETH1, JOIN),
        Err(MgmError::IgmpDisabled(ETH1))
    );
    assert_eq!(
        w.m.delete_membership(IGMP, any(g1()), ETH1, JOIN),
        Err(MgmError::IgmpDisabled(ETH1))
    );
    assert_eq!(w.m.memberships().collect::<Vec<_>>(), before);
    assert_eq!(
        w.m.enable_igmp(ETH1),
        Ok(vec![Effect::EnableIgmp { ifindex: ETH1 }])
    );
    assert!(w.m.add_membership(IGMP, any(g2()), ETH1, JOIN).is_ok());
}

#[test]
fn scenario_12_readds_come_after_enable_returns() {
    // IGMP cannot add inside ENABLE: the effect list ends with EnableIgmp and the re-adds made
    // after the call are accepted.
    let mut w = World::new();
    let dv = w.dv();
    w.m.take_ownership(IGMP, ETH1).unwrap();
    w.m.add_membership(IGMP, any(g1()), ETH1, JOIN).unwrap();
    let fx = w.m.take_ownership(dv, ETH1).unwrap();
    assert_eq!(fx.last(), Some(&Effect::EnableIgmp { ifindex: ETH1 }));
    assert_eq!(w.m.interface(ETH1).unwrap().igmp, IgmpState::Enabled);
    let readd = w.m.add_membership(IGMP, any(g1()), ETH1, JOIN).unwrap();
    assert_eq!(readd[0], added(any(g1()), ETH1, IGMP, dv));
}

#[test]
fn scenario_13_igmp_joins_protocol_owned_interface_silently() {
    // IGMP taking DV's eth1 raises no DISABLE/ENABLE; the owner stays DV.
    let mut w = World::new();
    let dv = w.dv();
    w.m.take_ownership(dv, ETH1).unwrap();
    assert_eq!(w.m.take_ownership(IGMP, ETH1), Ok(vec![]));
    assert_eq!(w.m.owner(ETH1), Ok(Some(dv)));
    assert_eq!(w.m.interface(ETH1).unwrap().igmp, IgmpState::Enabled);
    assert_eq!(
        w.m.take_ownership(IGMP, ETH1),
        Err(MgmError::AlreadyOwned {
            ifindex: ETH1,
            owner: IGMP
        })
    );
}

// ===== membership and (*,G) alerts =====

/// DV owns eth1 and eth4, PM owns eth2, IGMP runs on eth3.
fn three_owners() -> World {
    let mut w = World::new();
    let (dv, pm) = (w.dv(), w.pm());
    w.m.take_ownership(dv, ETH1).unwrap();
    w.m.take_ownership(dv, ETH4).unwrap();
    w.m.take_ownership(pm, ETH2).unwrap();
    w.m.take_ownership(IGMP, ETH3).unwrap();
    w
}

#[test]
fn scenario_14_first_join_alerts_all_others() {
    // The first component with (*,G1) alerts PM and IGMP, not itself.
    let mut w = three_owners();
    let (dv, pm) = (w.dv(), w.pm());
    let k = any(g1());
    assert_eq!(
        w.m.add_membership(dv, k, ETH1, JOIN),
        Ok(vec![
            added(k, ETH1, dv, dv),
            join(IGMP, k, true),
            join(pm, k, true)
        ])
    );
}

#[test]
fn scenario_15_second_join_alerts_first_only() {
    // The second component with (*,G1) alerts only the first.
    let mut w = three_owners();
    let (dv, pm) = (w.dv(), w.pm());
    let k = any(g1());
    w.m.add_membership(dv, k, ETH1, JOIN).unwrap();
    assert_eq!(
        w.m.add_membership(pm, k, ETH2, JOIN),
        Ok(vec![added(k, ETH2, pm, pm), join(dv, k, true)])
    );
}

#[test]
fn scenario_16_later_joins_alert_nobody() {
    // A third component joining raises no alert.
    let mut w = three_owners();
    let (dv, pm) = (w.dv(), w.pm());
    let k = any(g1());
    w.m.add_membership(dv, k, ETH1, JOIN).unwrap();
    w.m.add_membership(pm, k, ETH2, JOIN).unwrap();
    assert_eq!(
        w.m.add_membership(IGMP, k, ETH3, JOIN),
        Ok(vec![added(k, ETH3, IGMP, IGMP)])
    );
}

#[test]
fn scenario_17_same_component_second_interface_is_silent() {
    // DV adding (*,G1) on a second interface of its own raises no alert; re-adding is a no-op.
    let mut w = three_owners();
    let (dv, pm) = (w.dv(), w.pm());
    let k = any(g1());
    assert_eq!(
        w.m.add_membership(dv, k, ETH1, JOIN),
        Ok(vec![
            added(k, ETH1, dv, dv),
            join(IGMP, k, true),
            join(pm, k, true)
        ])
    );
    assert_eq!(
        w.m.add_membership(dv, k, ETH4, JOIN),
        Ok(vec![added(k, ETH4, dv, dv)])
    );
    assert_eq!(w.m.add_membership(dv, k, ETH4, JOIN), Ok(vec![]));
}

#[test]
fn scenario_18_prunes_follow_the_last_two_components() {
    // PM leaving alerts DV only; DV then leaving alerts everybody else.
    let mut w = three_owners();
    let (dv, pm) = (w.dv(), w.pm());
    let k = any(g1());
    w.m.add_membership(dv, k, ETH1, JOIN).unwrap();
    w.m.add_membership(pm, k, ETH2, JOIN).unwrap();
    assert_eq!(
        w.m.delete_membership(pm, k, ETH2, JOIN),
        Ok(vec![removed(k, ETH2, pm, pm), prune(dv, k, ETH2, true)])
    );
    assert_eq!(
        w.m.delete_membership(dv, k, ETH1, JOIN),
        Ok(vec![
            removed(k, ETH1, dv, dv),
            prune(IGMP, k, ETH1, true),
            prune(pm, k, ETH1, true)
        ])
    );
}

#[test]
fn scenario_19_component_still_present_elsewhere_is_silent() {
    // DV deleting (*,G1) on eth1 while holding it on eth4 raises no prune.
    let mut w = three_owners();
    let dv = w.dv();
    let k = any(g1());
    w.m.add_membership(dv, k, ETH1, JOIN).unwrap();
    w.m.add_membership(dv, k, ETH4, JOIN).unwrap();
    assert_eq!(
        w.m.delete_membership(dv, k, ETH1, JOIN),
        Ok(vec![removed(k, ETH1, dv, dv)])
    );
}

#[test]
fn scenario_20_delete_on_other_owners_interface_fails() {
    // PM deleting on DV's eth1 is refused.
    let mut w = three_owners();
    let (dv, pm) = (w.dv(), w.pm());
    w.m.add_membership(dv, any(g1()), ETH1, JOIN).unwrap();
    assert_eq!(
        w.m.delete_membership(pm, any(g1()), ETH1, JOIN),
        Err(MgmError::NotOwner {
            ifindex: ETH1,
            component: pm
        })
    );
    assert_eq!(w.m.membership_count(), 1);
}

#[test]
fn scenario_21_delete_on_unknown_interface_fails() {
    // Deleting on an interface the manager does not know is "not found".
    let mut w = three_owners();
    let dv = w.dv();
    assert_eq!(
        w.m.delete_membership(dv, any(g1()), ETH9, JOIN),
        Err(MgmError::UnknownInterface(ETH9))
    );
}

#[test]
fn scenario_22_igmp_on_protocol_interface_gives_local_join_leave() {
    // IGMP add/delete on DV's eth1: LOCAL_JOIN/LEAVE to DV and alerts as DV's component (D1).
    let mut w = World::new();
    let (dv, pm) = (w.dv(), w.pm());
    let k = any(g1());
    w.m.take_ownership(dv, ETH1).unwrap();
    w.m.take_ownership(IGMP, ETH1).unwrap();
    assert_eq!(
        w.m.add_membership(IGMP, k, ETH1, JOIN),
        Ok(vec![
            added(k, ETH1, IGMP, dv),
            Effect::LocalJoin {
                to: w.dv,
                key: k,
                ifindex: ETH1
            },
            join(IGMP, k, true),
            join(pm, k, true),
        ])
    );
    assert_eq!(
        w.m.delete_membership(IGMP, k, ETH1, JOIN),
        Ok(vec![
            removed(k, ETH1, IGMP, dv),
            Effect::LocalLeave {
                to: w.dv,
                key: k,
                ifindex: ETH1
            },
            prune(IGMP, k, ETH1, true),
            prune(pm, k, ETH1, true),
        ])
    );
}

// ===== (S,G) alerts =====

#[test]
fn scenario_23_source_specific_alerts_go_to_rpf_owner_only() {
    // (S1,G1) joins and prunes by PM alert only DV, the owner of the RPF interface eth0 (the
    // incoming interface of the entry (S1,G1); mgmd learns it when the flow's data arrives).
    let mut w = World::new();
    let (dv, pm) = (w.dv(), w.pm());
    let k = sg(S1, g1());
    let f = flow(S1, g1());
    w.m.take_ownership(dv, ETH0).unwrap();
    w.m.take_ownership(pm, ETH2).unwrap();
    w.m.create_mfe(f, ETH0, None).unwrap();
    assert_eq!(
        w.m.add_membership(pm, k, ETH2, JOIN),
        Ok(vec![
            added(k, ETH2, pm, pm),
            join(dv, k, true),
            changed(f, ETH0, &[ETH2]),
            join(dv, k, false),
        ])
    );
    assert_eq!(
        w.m.delete_membership(pm, k, ETH2, JOIN),
        Ok(vec![
            removed(k, ETH2, pm, pm),
            prune(dv, k, ETH2, true),
            changed(f, ETH0, &[]),
            prune(dv, k, ETH2, false),
        ])
    );
    // Without an entry (S2,G1) there is no RPF interface known: nobody is alerted.
    let k2 = sg(S2, g1());
    assert_eq!(
        w.m.add_membership(pm, k2, ETH2, JOIN),
        Ok(vec![added(k2, ETH2, pm, pm)])
    );
}

#[test]
fn scenario_24_rpf_owner_own_join_is_silent() {
    // DV, owner of the RPF interface, adding (S1,G1) itself alerts nobody.
    let mut w = World::new();
    let dv = w.dv();
    let k = sg(S1, g1());
    let f = flow(S1, g1());
    w.m.take_ownership(dv, ETH0).unwrap();
    w.m.take_ownership(dv, ETH1).unwrap();
    w.m.create_mfe(f, ETH0, None).unwrap();
    // No membership alert; only the entry's own alert (its list is no
    // longer empty, scenario 29's rule) to its incoming interface's owner.
    assert_eq!(
        w.m.add_membership(dv, k, ETH1, JOIN),
        Ok(vec![
            added(k, ETH1, dv, dv),
            changed(f, ETH0, &[ETH1]),
            join(dv, k, false)
        ])
    );
}

// ===== MFE life cycle =====

/// DV owns eth0; PM owns eth2 with (*,G1); IGMP runs on eth3 with (*,G1).
fn receivers() -> World {
    let mut w = World::new();
    let (dv, pm) = (w.dv(), w.pm());
    w.m.take_ownership(dv, ETH0).unwrap();
    w.m.take_ownership(pm, ETH2).unwrap();
    w.m.take_ownership(IGMP, ETH3).unwrap();
    w.m.add_membership(pm, any(g1()), ETH2, JOIN).unwrap();
    w.m.add_membership(IGMP, any(g1()), ETH3, JOIN).unwrap();
    w
}

fn creation_s1g1(w: &World) -> Vec<Effect> {
    let f = flow(S1, g1());
    vec![
        Effect::MfeCreated {
            flow: f,
            iif: ETH0,
            oifs: vec![ETH2, ETH3],
        },
        Effect::CreationAlert {
            to: IGMP,
            flow: f,
            iif: ETH0,
            oifs: vec![ETH3],
        },
        Effect::CreationAlert {
            to: w.pm(),
            flow: f,
            iif: ETH0,
            oifs: vec![ETH2],
        },
        join(w.dv(), sg(S1, g1()), false),
    ]
}

#[test]
fn scenario_25_creation_alerts_each_component_its_own_interfaces() {
    // After the RPF decision (iif eth0, DV's), the new MFE alerts PM with [eth2] and IGMP with
    // [eth3]; its incoming protocol is DV.
    let mut w = receivers();
    let f = flow(S1, g1());
    assert_eq!(w.m.create_mfe(f, ETH0, None), Ok(creation_s1g1(&w)));
    let mfe = w.m.mfe(f).unwrap();
    assert_eq!(
        (mfe.iif(), mfe.iif_owner(), mfe.oifs()),
        (ETH0, Some(w.dv()), &[ETH2, ETH3][..])
    );
    assert_eq!(w.m.create_mfe(f, ETH0, None), Err(MgmError::MfeExists(f)));
}

#[test]
fn scenario_26_creation_answer_disables_an_interface() {
    // PM answering the creation alert with "disabled" for eth2 leaves oifs = {eth3}.
    let mut w = receivers();
    let f = flow(S1, g1());
    w.m.create_mfe(f, ETH0, None).unwrap();
    assert_eq!(
        w.m.set_oif_enabled(f, ETH2, false),
        Ok(vec![changed(f, ETH0, &[ETH3])])
    );
    assert_eq!(w.m.mfe(f).unwrap().oifs(), &[ETH3]);
    assert_eq!(w.m.wanted_oifs(f, ETH0), vec![ETH3]);
}

#[test]
fn scenario_27_rpf_rewrite_never_forwards_out_of_iif() {
    // The RPF owner moved the incoming interface to eth1: eth1 never appears among the oifs.
    let mut w = receivers();
    let dv = w.dv();
    let f = flow(S1, g1());
    w.m.take_ownership(dv, ETH1).unwrap();
    w.m.add_membership(dv, any(g1()), ETH1, JOIN).unwrap();
    assert_eq!(w.m.wanted_oifs(f, ETH0), vec![ETH1, ETH2, ETH3]);
    w.m.create_mfe(f, ETH1, None).unwrap();
    assert_eq!(w.m.mfe(f).unwrap().iif(), ETH1);
    assert_eq!(w.m.mfe(f).unwrap().oifs(), &[ETH2, ETH3]);
}

#[test]
fn scenario_28_last_oif_gone_prunes_the_iif_owner() {
    // IGMP leaving the last oif empties the MFE: PRUNE_ALERT(S1,G1, member_delete=false) to DV.
    let mut w = World::new();
    let (dv, pm) = (w.dv(), w.pm());
    let f = flow(S1, g1());
    let k = any(g1());
    w.m.take_ownership(dv, ETH0).unwrap();
    w.m.take_ownership(IGMP, ETH3).unwrap();
    w.m.add_membership(IGMP, k, ETH3, JOIN).unwrap();
    w.m.create_mfe(f, ETH0, None).unwrap();
    assert_eq!(
        w.m.delete_membership(IGMP, k, ETH3, JOIN),
        Ok(vec![
            removed(k, ETH3, IGMP, IGMP),
            prune(dv, k, ETH3, true),
            prune(pm, k, ETH3, true),
            changed(f, ETH0, &[]),
            prune(dv, sg(S1, g1()), ETH3, false),
        ])
    );
    // The negative entry stays until the daemon's idle timer deletes it.
    assert_eq!(w.m.mfe(f).unwrap().oifs(), &[] as &[IfIndex]);
}

#[test]
fn scenario_29_first_oif_on_negative_entry_joins_the_iif_owner() {
    // PM joining G1 on a negative MFE adds eth2: JOIN_ALERT(S1,G1, member_update=false) to DV,
    // after the (*,G1) alerts.
    let mut w = World::new();
    let (dv, pm) = (w.dv(), w.pm());
    let f = flow(S1, g1());
    let k = any(g1());
    w.m.take_ownership(dv, ETH0).unwrap();
    w.m.take_ownership(pm, ETH2).unwrap();
    assert_eq!(
        w.m.create_mfe(f, ETH0, None),
        Ok(vec![
            Effect::MfeCreated {
                flow: f,
                iif: ETH0,
                oifs: vec![]
            },
            prune(dv, sg(S1, g1()), ETH0, false),
        ])
    );
    assert_eq!(
        w.m.add_membership(pm, k, ETH2, JOIN),
        Ok(vec![
            added(k, ETH2, pm, pm),
            join(IGMP, k, true),
            join(dv, k, true),
            changed(f, ETH0, &[ETH2]),
            join(dv, sg(S1, g1()), false),
        ])
    );
}

#[test]
fn scenario_30_deleted_entry_is_recreated_by_next_packet() {
    // An expired (idle) MFE is deleted and not found; the next packet creates it again.
    let mut w = receivers();
    let f = flow(S1, g1());
    w.m.create_mfe(f, ETH0, None).unwrap();
    assert_eq!(w.m.delete_mfe(f), Ok(vec![Effect::MfeDeleted { flow: f }]));
    assert_eq!(w.m.mfe(f), None);
    assert_eq!(w.m.delete_mfe(f), Err(MgmError::NotFound(f)));
    assert_eq!(w.m.create_mfe(f, ETH0, None), Ok(creation_s1g1(&w)));
}

#[test]
fn scenario_31_release_deletes_entries_coming_in_there() {
    // DV releasing eth0 deletes the MFE whose iif is eth0.
    let mut w = receivers();
    let dv = w.dv();
    let f = flow(S1, g1());
    w.m.create_mfe(f, ETH0, None).unwrap();
    assert_eq!(
        w.m.release_ownership(dv, ETH0),
        Ok(vec![
            Effect::OwnerChanged {
                ifindex: ETH0,
                old: Some(w.dv),
                new: None
            },
            Effect::MfeDeleted { flow: f },
        ])
    );
    assert_eq!(w.m.mfe(f), None);
}

#[test]
fn scenario_32_forward_flag_touches_only_the_entry() {
    // PM's FORWARD add puts eth2 in the MFE without recording a membership or member alerts.
    let mut w = World::new();
    let (dv, pm) = (w.dv(), w.pm());
    let f = flow(S1, g1());
    w.m.take_ownership(dv, ETH0).unwrap();
    w.m.take_ownership(pm, ETH2).unwrap();
    w.m.create_mfe(f, ETH0, None).unwrap();
    let k = sg(S1, g1());
    assert_eq!(
        w.m.add_membership(pm, k, ETH2, MembershipFlags::FORWARD),
        Ok(vec![changed(f, ETH0, &[ETH2]), join(dv, k, false)])
    );
    assert_eq!(w.m.memberships().count(), 0);
    assert_eq!(w.m.wanted_oifs(f, ETH0), vec![ETH2]);
    assert_eq!(
        w.m.delete_membership(pm, k, ETH2, MembershipFlags::FORWARD),
        Ok(vec![changed(f, ETH0, &[]), prune(dv, k, ETH2, false)])
    );
    // FORWARD on a (*,G) key or a missing entry is a no-op.
    assert_eq!(
        w.m.add_membership(pm, any(g1()), ETH2, MembershipFlags::FORWARD),
        Ok(vec![])
    );
    assert_eq!(
        w.m.add_membership(pm, sg(S2, g1()), ETH2, MembershipFlags::FORWARD),
        Ok(vec![])
    );
}

#[test]
fn scenario_33_set_upstream() {
    // Changing the upstream neighbour shows in the MFE; a missing (S,G) is not found.
    let mut w = receivers();
    let f = flow(S1, g1());
    let nbr = Some(Ipv4Addr::new(10, 0, 0, 1).into());
    w.m.create_mfe(f, ETH0, None).unwrap();
    assert_eq!(
        w.m.set_upstream(f, nbr),
        Ok(vec![Effect::UpstreamChanged {
            flow: f,
            upstream: nbr
        }])
    );
    assert_eq!(w.m.mfe(f).unwrap().upstream(), nbr);
    // The same neighbour again changes nothing.
    assert_eq!(w.m.set_upstream(f, nbr), Ok(vec![]));
    let missing = flow(S2, g2());
    assert_eq!(
        w.m.set_upstream(missing, nbr),
        Err(MgmError::NotFound(missing))
    );
}

// ===== enumeration =====

#[test]
fn scenario_34_entries_ordered_by_group_then_source() {
    // MFEs (S2,G1),(S1,G2),(S1,G1) enumerate as (S1,G1),(S2,G1),(S1,G2); resuming after (S2,G1)
    // yields (S1,G2) and then nothing.
    let mut w = World::new();
    for f in [flow(S2, g1()), flow(S1, g2()), flow(S1, g1())] {
        w.m.create_mfe(f, ETH0, None).unwrap();
    }
    let all: Vec<FlowKey> = w.m.mfes().map(|(f, _)| *f).collect();
    assert_eq!(all, vec![flow(S1, g1()), flow(S2, g1()), flow(S1, g2())]);
    let next: Vec<FlowKey> =
        w.m.mfes()
            .map(|(f, _)| *f)
            .filter(|f| *f > flow(S2, g1()))
            .collect();
    assert_eq!(next, vec![flow(S1, g2())]);
}

#[test]
fn scenario_35_group_enumeration_lists_wildcard_and_source_entries() {
    // Membership enumeration returns (*,G) and (S,G) entries, ordered by group then source.
    let mut w = three_owners();
    let (dv, pm) = (w.dv(), w.pm());
    w.m.add_membership(pm, sg(S1, g2()), ETH2, JOIN).unwrap();
    w.m.add_membership(dv, any(g2()), ETH1, JOIN).unwrap();
    w.m.add_membership(IGMP, any(g1()), ETH3, JOIN).unwrap();
    w.m.add_membership(dv, any(g1()), ETH4, JOIN).unwrap();
    w.m.add_membership(IGMP, MembershipKey::except(S2, g1()), ETH3, JOIN)
        .unwrap();
    let groups: Vec<_> = w.m.groups_with_members().collect();
    assert_eq!(groups, vec![any(g1()), any(g2()), sg(S1, g2())]);
    let rows: Vec<_> = w.m.memberships().map(|r| (r.key, r.ifindex)).collect();
    assert_eq!(
        rows,
        vec![
            (any(g1()), ETH3),
            (any(g1()), ETH4),
            (MembershipKey::except(S2, g1()), ETH3),
            (any(g2()), ETH1),
            (sg(S1, g2()), ETH2),
        ]
    );
}

#[test]
fn scenario_36_unregistered_reader_cannot_add() {
    // An unregistered admin tool can read entries but cannot add memberships.
    let mut w = receivers();
    w.m.create_mfe(flow(S1, g1()), ETH0, None).unwrap();
    assert_eq!(w.m.mfes().count(), 1);
    let ad = ComponentId::Protocol(ProtoId(99));
    assert_eq!(
        w.m.add_membership(ad, any(g1()), ETH2, JOIN),
        Err(MgmError::UnknownProtocol(ProtoId(99)))
    );
}

// ===== beyond the numbered scenarios =====

#[test]
fn release_with_igmp_readds_is_hitless() {
    // DV releasing eth1 where IGMP still holds G1: the entry ends as it started.
    let mut w = World::new();
    let (dv, pm) = (w.dv(), w.pm());
    let k = any(g1());
    let f = flow(S1, g1());
    w.m.take_ownership(dv, ETH0).unwrap();
    w.m.take_ownership(dv, ETH1).unwrap();
    w.m.take_ownership(IGMP, ETH1).unwrap();
    w.m.take_ownership(pm, ETH2).unwrap();
    w.m.add_membership(IGMP, k, ETH1, JOIN).unwrap();
    w.m.create_mfe(f, ETH0, None).unwrap();
    let before = w.m.mfe(f).unwrap().clone();
    let fx = w.m.release_ownership(dv, ETH1).unwrap();
    assert!(fx.contains(&prune(dv, sg(S1, g1()), ETH1, false)));
    w.m.add_membership(IGMP, k, ETH1, JOIN).unwrap();
    // The entry is as before; the membership is now IGMP's own.
    assert_eq!(w.m.mfe(f).unwrap().oifs(), before.oifs());
    assert_eq!(
        w.m.memberships().collect::<Vec<_>>(),
        vec![Membership {
            key: k,
            ifindex: ETH1,
            by: IGMP,
            component: IGMP
        }]
    );
}

#[test]
fn interface_down_and_removal_clean_forwarding() {
    // A down interface leaves the oif lists but keeps the entries coming in on it; removal runs
    // the release sequence and forgets the interface.
    let mut w = receivers();
    let pm = w.pm();
    let f = flow(S1, g1());
    w.m.create_mfe(f, ETH0, None).unwrap();
    assert_eq!(
        w.m.interface_set_up(ETH2, false),
        Ok(vec![changed(f, ETH0, &[ETH3])])
    );
    assert_eq!(
        w.m.interface_set_up(ETH2, true),
        Ok(vec![changed(f, ETH0, &[ETH2, ETH3])])
    );
    let fx = w.m.interface_remove(ETH2).unwrap();
    assert_eq!(
        fx,
        vec![
            Effect::OwnerChanged {
                ifindex: ETH2,
                old: Some(w.pm),
                new: None
            },
            removed(any(g1()), ETH2, pm, pm),
            prune(IGMP, any(g1()), ETH2, true),
            changed(f, ETH0, &[ETH3]),
        ]
    );
    assert_eq!(w.m.owner(ETH2), Err(MgmError::UnknownInterface(ETH2)));
    assert_eq!(w.m.interface_set_up(ETH0, false), Ok(vec![]));
    assert_eq!(w.m.mfe(f).map(|m| m.iif()), Some(ETH0));
    assert_eq!(w.m.interface_set_up(ETH0, true), Ok(vec![]));
    assert_eq!(w.m.delete_mfe(f), Ok(vec![Effect::MfeDeleted { flow: f }]));
}

// ===== both address families in one manager =====

#[test]
fn ipv6_and_ipv4_state_share_interfaces_but_not_entries() {
    // One manager holds both families: an IPv6 (*,G) on eth2 and eth3 and
    // an IPv4 (*,G) on eth3 only. Each family's entry forwards to its own
    // family's members; a change to one family's membership touches only
    // that family's entry; a protocol releasing an interface flushes both.
    let g6: GroupAddr = "ff3e::8000:1".parse().unwrap();
    let s6: std::net::Ipv6Addr = "2001:db8::5".parse().unwrap();
    let mut w = World::new();
    let (dv, pm) = (w.dv(), w.pm());
    w.m.take_ownership(dv, ETH0).unwrap();
    w.m.take_ownership(pm, ETH2).unwrap();
    w.m.take_ownership(IGMP, ETH3).unwrap();
    w.m.add_membership(pm, any(g6), ETH2, JOIN).unwrap();
    w.m.add_membership(IGMP, any(g6), ETH3, JOIN).unwrap();
    w.m.add_membership(IGMP, any(g1()), ETH3, JOIN).unwrap();
    let f6 = FlowKey::new(s6, g6);
    let f4 = flow(S1, g1());
    w.m.create_mfe(f6, ETH0, None).unwrap();
    w.m.create_mfe(f4, ETH0, None).unwrap();
    assert_eq!(w.m.mfe(f6).unwrap().oifs(), &[ETH2, ETH3]);
    assert_eq!(w.m.mfe(f4).unwrap().oifs(), &[ETH3]);
    // IGMP leaves the IPv6 group on eth3: only the IPv6 entry changes.
    let fx = w.m.delete_membership(IGMP, any(g6), ETH3, JOIN).unwrap();
    assert!(
        fx.iter()
            .all(|e| !matches!(e, Effect::MfeChanged { flow, .. } if *flow == f4)),
        "{fx:?}"
    );
    assert_eq!(w.m.mfe(f6).unwrap().oifs(), &[ETH2]);
    assert_eq!(w.m.mfe(f4).unwrap().oifs(), &[ETH3]);
    // (S,G) of the IPv6 source is kept apart from the IPv4 one.
    w.m.add_membership(IGMP, MembershipKey::only(s6, g6), ETH3, JOIN)
        .unwrap();
    assert_eq!(w.m.mfe(f6).unwrap().oifs(), &[ETH2, ETH3]);
    // Listings order IPv4 keys first, then IPv6 ones.
    let keys: Vec<MembershipKey> = w.m.memberships_on(ETH3).map(|m| m.key).collect();
    assert_eq!(keys, vec![any(g1()), MembershipKey::only(s6, g6)]);
    // PM gives eth2 back: its IPv6 membership goes, the entry follows.
    w.m.release_ownership(pm, ETH2).unwrap();
    assert_eq!(w.m.mfe(f6).unwrap().oifs(), &[ETH3]);
    assert_eq!(w.m.memberships_on(ETH2).count(), 0);
}
