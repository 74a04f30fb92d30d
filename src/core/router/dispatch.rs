//! Protocol dispatch: registering protocols, delivering events to them
//! with their read-only view (built in one place, [`Router::deliver_one`]),
//! and carrying out the actions they return.

use std::time::Instant;

use super::Router;
use super::agenda::Work;
use crate::core::event::{Event, OwnerOp};
use crate::core::protocol::{ProtoAction, ProtoEvent, ProtoNote, ProtoView, RoutingProtocol};
use crate::core::types::{ComponentId, ProtoId};

/// A registered routing protocol.
pub(super) struct ProtoSlot {
    pub id: ProtoId,
    pub proto: Box<dyn RoutingProtocol>,
}

impl Router {
    /// Registers a protocol with the manager and starts it.
    pub(super) fn register(&mut self, now: Instant, proto: Box<dyn RoutingProtocol>) {
        match self.mgm.register(proto.name()) {
            Ok(id) => {
                self.protocols.push(ProtoSlot { id, proto });
                self.deliver(now, id, ProtoEvent::Started);
            }
            Err(e) => self.mgm_error("registering a protocol", e),
        }
    }

    pub(super) fn slot(&self, id: ProtoId) -> Option<usize> {
        self.protocols.iter().position(|p| p.id == id)
    }

    /// Delivers one event and carries out what it causes: the entry point
    /// of an operation.
    pub(super) fn deliver(&mut self, now: Instant, id: ProtoId, ev: ProtoEvent) {
        self.carry_out(now, [Work::Deliver { to: id, ev }]);
    }

    /// Delivers one event to a protocol with its read-only view; the
    /// actions it returns are planned, in its order.
    pub(super) fn deliver_one(&mut self, now: Instant, id: ProtoId, ev: ProtoEvent) {
        let Some(i) = self.slot(id) else {
            return;
        };
        let changed = if ev == ProtoEvent::Commit {
            self.mgm.changed_groups()
        } else {
            Vec::new()
        };
        let view = ProtoView::new(now, id, &self.ifaces, &self.mgm, &changed);
        let actions = self.protocols[i].proto.handle(&view, ev);
        self.plan(
            actions
                .into_iter()
                .map(|action| Work::Action { from: id, action }),
        );
    }

    /// Carries out one action of a protocol; what it causes is planned.
    pub(super) fn action(&mut self, now: Instant, id: ProtoId, action: ProtoAction) {
        let c = ComponentId::Protocol(id);
        let result = match action {
            ProtoAction::TakeInterface { ifindex } => {
                self.plan_owner_change(ifindex, OwnerOp::Take, id)
            }
            ProtoAction::ReleaseInterface { ifindex } => {
                self.plan_owner_change(ifindex, OwnerOp::Release, id)
            }
            ProtoAction::AddMembership {
                key,
                ifindex,
                flags,
            } => self
                .mgm
                .add_membership(c, key, ifindex, flags)
                .map(|e| self.plan_effects(e)),
            ProtoAction::DeleteMembership {
                key,
                ifindex,
                flags,
            } => self
                .mgm
                .delete_membership(c, key, ifindex, flags)
                .map(|e| self.plan_effects(e)),
            ProtoAction::HostMembership {
                ifindex,
                group,
                filter,
            } => {
                self.hosts.wish(id, ifindex, group, filter);
                Ok(())
            }
            ProtoAction::FlushFlows { iif } => {
                self.flush_flows(iif);
                Ok(())
            }
            ProtoAction::RpfAnswer { flow, iif } => {
                self.rpf_answered(now, id, flow, iif);
                Ok(())
            }
            ProtoAction::DisableOifs { flow, oifs } => {
                let mut e = Vec::new();
                let mut result = Ok(());
                for oif in oifs {
                    match self.mgm.set_oif_enabled(flow, oif, false) {
                        Ok(more) => e.extend(more),
                        Err(err) => result = Err(err),
                    }
                }
                self.plan_effects(e);
                result
            }
            ProtoAction::Note(note) => {
                let note: ProtoNote<_> = note.map(|i| self.iface_ref(i));
                let protocol = self.proto_name(id);
                self.emit(Event::Protocol { protocol, note });
                Ok(())
            }
        };
        if let Err(e) = result {
            self.mgm_error("a protocol's action", e);
        }
    }
}
