//! The one path for every change of ownership ([`Router::change_owner`]),
//! and the loop that delivers the manager's effects with everything they
//! cause: IGMP's re-adds after an enable, protocols' answers to alerts.
//! Every effect is also told as an event, named.

use std::collections::VecDeque;
use std::time::Instant;

use super::Router;
use crate::core::event::{Event, NamedEffect, OwnerOp};
use crate::core::mgm::{Effect, MembershipFlags, MgmError};
use crate::core::protocol::ProtoEvent;
use crate::core::types::{ComponentId, IfIndex, ProtoId};

/// The number of effects one input may cause before the router assumes a
/// loop between components and stops delivering (logged).
const EFFECT_BUDGET: usize = 1_000_000;

impl Router {
    /// The one path for every change of ownership (configuration,
    /// `mgmctl take/release`, a protocol's own action): the manager runs
    /// the disable/enable sequence; IGMP's re-adds are delivered as its
    /// answer to the enable; the protocol is told once the sequence is
    /// complete; the flows coming in on the interface are decided again by
    /// the new owner.
    pub(super) fn change_owner(
        &mut self,
        now: Instant,
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
        self.process_effects(now, effects);
        let ev = match op {
            OwnerOp::Take => ProtoEvent::InterfaceTaken { ifindex },
            OwnerOp::Release => ProtoEvent::InterfaceReleased { ifindex },
        };
        self.deliver(now, id, ev);
        self.redecide(now, redecide);
        if !self.handover {
            self.counters.ownership_moves += 1;
            self.emit(Event::OwnershipComplete {
                interface,
                protocol,
                op,
            });
        }
        Ok(())
    }

    /// Delivers the manager's effects, in order, with everything they cause
    /// (IGMP re-adds after an enable, protocol answers to alerts).
    pub(super) fn process_effects(&mut self, now: Instant, effects: Vec<Effect>) {
        let mut queue: VecDeque<Effect> = effects.into();
        let mut budget = EFFECT_BUDGET;
        while let Some(effect) = queue.pop_front() {
            budget -= 1;
            if budget == 0 {
                self.counters.effect_loops += 1;
                self.emit(Event::EffectLoop);
                return;
            }
            if !(self.handover && effect.is_ownership_step()) {
                let named = self.named(&effect);
                self.emit(Event::Effect(named));
            }
            let more = match effect {
                Effect::EnableIgmp { ifindex } => self.igmp_readd(ifindex),
                Effect::JoinAlert {
                    to: ComponentId::Protocol(p),
                    key,
                    member_update,
                } => self.deliver_collect(now, p, ProtoEvent::JoinAlert { key, member_update }),
                Effect::PruneAlert {
                    to: ComponentId::Protocol(p),
                    key,
                    ifindex,
                    member_delete,
                } => self.deliver_collect(
                    now,
                    p,
                    ProtoEvent::PruneAlert {
                        key,
                        ifindex,
                        member_delete,
                    },
                ),
                Effect::LocalJoin { to, key, ifindex } => {
                    self.deliver_collect(now, to, ProtoEvent::LocalJoin { key, ifindex })
                }
                Effect::LocalLeave { to, key, ifindex } => {
                    self.deliver_collect(now, to, ProtoEvent::LocalLeave { key, ifindex })
                }
                Effect::CreationAlert {
                    to: ComponentId::Protocol(p),
                    flow,
                    iif,
                    oifs,
                } => self.deliver_collect(now, p, ProtoEvent::CreationAlert { flow, iif, oifs }),
                Effect::MfeCreated { flow, .. } | Effect::MfeChanged { flow, .. } => {
                    self.flow_changed(flow);
                    Vec::new()
                }
                Effect::MfeDeleted { flow } => {
                    self.flow_deleted(flow);
                    Vec::new()
                }
                // IGMP ignores alerts; the rest is for the record.
                Effect::JoinAlert { .. }
                | Effect::PruneAlert { .. }
                | Effect::CreationAlert { .. }
                | Effect::DisableIgmp { .. }
                | Effect::OwnerChanged { .. }
                | Effect::MembershipAdded { .. }
                | Effect::MembershipRemoved { .. }
                | Effect::UpstreamChanged { .. } => Vec::new(),
            };
            queue.extend(more);
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
