//! The one path for every change of ownership ([`Router::change_owner`]),
//! and what the manager's effects cause: IGMP's re-adds after an enable,
//! protocols' answers to alerts. Every effect is also told as an event,
//! named. The work is done in order by the agenda (`agenda.rs`).

use std::time::Instant;

use super::Router;
use super::agenda::Work;
use crate::core::event::{Event, NamedEffect, OwnerOp};
use crate::core::mgm::{Effect, MembershipFlags, MgmError};
use crate::core::protocol::ProtoEvent;
use crate::core::types::{ComponentId, IfIndex, ProtoId};

impl Router {
    /// The one path for every change of ownership (configuration,
    /// `mgmctl take/release`, a protocol's own action): the manager runs
    /// the disable/enable sequence; IGMP's re-adds are delivered as its
    /// answer to the enable; the protocol is told once the sequence is
    /// complete; the flows coming in on the interface are decided again by
    /// the new owner. Done at once; an error of the manager changes
    /// nothing.
    pub(super) fn change_owner(
        &mut self,
        now: Instant,
        ifindex: IfIndex,
        op: OwnerOp,
        id: ProtoId,
    ) -> Result<(), MgmError> {
        self.plan_owner_change(ifindex, op, id)?;
        self.carry_out(now, []);
        Ok(())
    }

    /// The manager's part of an ownership change now; the rest planned.
    pub(super) fn plan_owner_change(
        &mut self,
        ifindex: IfIndex,
        op: OwnerOp,
        id: ProtoId,
    ) -> Result<(), MgmError> {
        // Flows coming in on this interface are decided again by the new
        // owner right after the sequence, from what the kernel told us when
        // they arrived: no upcall round trip, and no kernel change at all
        // when the decision comes out the same.
        let redecide = self.flows_in_on(ifindex);
        let c = ComponentId::Protocol(id);
        let effects = match op {
            OwnerOp::Take => self.mgm.take_ownership(c, ifindex)?,
            OwnerOp::Release => self.mgm.release_ownership(c, ifindex)?,
        };
        let interface = self.iface_ref(ifindex);
        let protocol = self.proto_name(id);
        if !self.handover {
            self.emit(Event::OwnershipStarted {
                interface,
                protocol,
                op,
            });
        }
        let ev = match op {
            OwnerOp::Take => ProtoEvent::InterfaceTaken { ifindex },
            OwnerOp::Release => ProtoEvent::InterfaceReleased { ifindex },
        };
        let effects = Work::Effects(effects.into_iter());
        let told = Work::Deliver { to: id, ev };
        let redecide = redecide.into_iter().map(|(flow, info)| Work::Redecide {
            flow,
            info: Box::new(info),
        });
        let complete = Work::OwnerComplete {
            interface,
            protocol,
            op,
        };
        let work: Vec<Work> = [effects, told]
            .into_iter()
            .chain(redecide)
            .chain([complete])
            .collect();
        self.plan(work);
        Ok(())
    }

    /// Delivers the manager's effects, in order, with everything they cause
    /// (IGMP re-adds after an enable, protocol answers to alerts).
    pub(super) fn process_effects(&mut self, now: Instant, effects: Vec<Effect>) {
        self.carry_out(now, [Work::Effects(effects.into_iter())]);
    }

    /// One effect: told, and handed to the component it is for (what that
    /// causes is planned).
    pub(super) fn effect(&mut self, effect: Effect) {
        if !(self.handover && effect.is_ownership_step()) {
            let named = self.named(&effect);
            self.emit(Event::Effect(named));
        }
        match effect {
            Effect::EnableIgmp { ifindex } => {
                let more = self.igmp_readd(ifindex);
                self.plan_effects(more);
            }
            Effect::JoinAlert {
                to: ComponentId::Protocol(p),
                key,
                member_update,
            } => self.plan([Work::Deliver {
                to: p,
                ev: ProtoEvent::JoinAlert { key, member_update },
            }]),
            Effect::PruneAlert {
                to: ComponentId::Protocol(p),
                key,
                ifindex,
                member_delete,
            } => self.plan([Work::Deliver {
                to: p,
                ev: ProtoEvent::PruneAlert {
                    key,
                    ifindex,
                    member_delete,
                },
            }]),
            Effect::LocalJoin { to, key, ifindex } => self.plan([Work::Deliver {
                to,
                ev: ProtoEvent::LocalJoin { key, ifindex },
            }]),
            Effect::LocalLeave { to, key, ifindex } => self.plan([Work::Deliver {
                to,
                ev: ProtoEvent::LocalLeave { key, ifindex },
            }]),
            Effect::CreationAlert {
                to: ComponentId::Protocol(p),
                flow,
                iif,
                oifs,
            } => self.plan([Work::Deliver {
                to: p,
                ev: ProtoEvent::CreationAlert { flow, iif, oifs },
            }]),
            Effect::MfeCreated { flow, .. } | Effect::MfeChanged { flow, .. } => {
                self.flow_changed(flow)
            }
            Effect::MfeDeleted { flow } => self.flow_deleted(flow),
            // IGMP ignores alerts; the rest is for the record.
            Effect::JoinAlert { .. }
            | Effect::PruneAlert { .. }
            | Effect::CreationAlert { .. }
            | Effect::DisableIgmp { .. }
            | Effect::OwnerChanged { .. }
            | Effect::MembershipAdded { .. }
            | Effect::MembershipRemoved { .. }
            | Effect::UpstreamChanged { .. } => {}
        }
    }

    /// IGMP's answer to ENABLE: re-add every membership it holds there.
    fn igmp_readd(&mut self, ifindex: IfIndex) -> Vec<Effect> {
        let Some(r) = self.igmp.get(&ifindex) else {
            return Vec::new();
        };
        let mut effects = Vec::new();
        let mut failed = Vec::new();
        for key in r.memberships() {
            match self
                .mgm
                .add_membership(ComponentId::Igmp, key, ifindex, MembershipFlags::JOIN)
            {
                Ok(e) => effects.extend(e),
                Err(e) => failed.push(e),
            }
        }
        for e in failed {
            self.mgm_error("IGMP re-adding a membership", e);
        }
        effects
    }

    /// The effect with interfaces, components and protocols named.
    fn named(&self, effect: &Effect) -> NamedEffect {
        effect.clone().map(
            |i| self.iface_ref(i),
            |c| self.component_name(c),
            |p| self.proto_name(p),
        )
    }

    /// A protocol's name ("?" for a handle that is not registered).
    pub(super) fn proto_name(&self, id: ProtoId) -> &'static str {
        self.slot(id)
            .map_or("?", |i| self.protocols[i].proto.name())
    }

    pub(super) fn component_name(&self, c: ComponentId) -> &'static str {
        match c {
            ComponentId::Igmp => "igmp",
            ComponentId::Protocol(p) => self.proto_name(p),
        }
    }

    /// A manager error, with interfaces and protocols named.
    pub(super) fn describe_mgm_error(&self, e: &MgmError) -> String {
        let ifname = |i: &IfIndex| self.ifname(*i);
        match e {
            MgmError::AlreadyOwned { ifindex, owner } => format!(
                "interface {} is already owned by {}",
                ifname(ifindex),
                self.component_name(*owner)
            ),
            MgmError::NotOwner { ifindex, component } => format!(
                "{} does not own interface {}",
                self.component_name(*component),
                ifname(ifindex)
            ),
            MgmError::UnknownInterface(i) => {
                format!("interface {} is not known to the group manager", ifname(i))
            }
            MgmError::IgmpDisabled(i) => format!(
                "IGMP is disabled on interface {} (an ownership change is running)",
                ifname(i)
            ),
            MgmError::InterfaceDown(i) => {
                format!("interface {} is down", ifname(i))
            }
            other => other.to_string(),
        }
    }
}
