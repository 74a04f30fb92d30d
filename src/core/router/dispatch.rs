//! Protocol dispatch: registering protocols, delivering events to them
//! with their read-only view (built in one place, [`Router::deliver_collect`]),
//! and carrying out the actions they return.

use std::time::Instant;

use super::Router;
use crate::core::event::{Event, OwnerOp};
use crate::core::mgm::Effect;
use crate::core::protocol::{ProtoAction, ProtoEvent, ProtoNote, ProtoView, RoutingProtocol};
use crate::core::types::{ComponentId, FlowKey, ProtoId};

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

    /// Delivers one event and carries out what it causes.
    pub(super) fn deliver(&mut self, now: Instant, id: ProtoId, ev: ProtoEvent) {
        let effects = self.deliver_collect(now, id, ev);
        self.process_effects(now, effects);
    }

    /// Delivers one event to a protocol and carries out its actions;
    /// returns the manager effects those actions caused (not yet
    /// processed).
    pub(super) fn deliver_collect(
        &mut self,
        now: Instant,
        id: ProtoId,
        ev: ProtoEvent,
    ) -> Vec<Effect> {
        let Some(i) = self.slot(id) else {
            return Vec::new();
        };
        let changed = if ev == ProtoEvent::Commit {
            self.mgm.changed_groups()
        } else {
            Vec::new()
        };
        let view = ProtoView::new(now, id, &self.ifaces, &self.mgm, &changed);
        let actions = self.protocols[i].proto.handle(&view, ev);
        self.proto_actions(now, id, actions)
    }

    fn proto_actions(
        &mut self,
        now: Instant,
        id: ProtoId,
        actions: Vec<ProtoAction>,
    ) -> Vec<Effect> {
        let mut effects = Vec::new();
        let c = ComponentId::Protocol(id);
        for action in actions {
            let result = match action {
                ProtoAction::TakeInterface { ifindex } => self
                    .change_owner(now, ifindex, OwnerOp::Take, id)
                    .map(|_| Vec::new()),
                ProtoAction::ReleaseInterface { ifindex } => self
                    .change_owner(now, ifindex, OwnerOp::Release, id)
                    .map(|_| Vec::new()),
                ProtoAction::AddMembership {
                    key,
                    ifindex,
                    flags,
                } => self.mgm.add_membership(c, key, ifindex, flags),
                ProtoAction::DeleteMembership {
                    key,
                    ifindex,
                    flags,
                } => self.mgm.delete_membership(c, key, ifindex, flags),
                ProtoAction::HostMembership {
                    ifindex,
                    group,
                    filter,
                } => {
                    self.hosts.wish(id, ifindex, group, filter);
                    Ok(Vec::new())
                }
                ProtoAction::FlushFlows { iif } => {
                    let flows: Vec<FlowKey> = self
                        .mgm
                        .mfes()
                        .filter(|(_, m)| m.iif() == iif)
                        .map(|(f, _)| *f)
                        .collect();
                    let mut e = Vec::new();
                    for flow in flows {
                        if let Ok(more) = self.mgm.delete_mfe(flow) {
                            e.extend(more);
                        }
                    }
                    self.drops_retain(|i| i != iif);
                    Ok(e)
                }
                ProtoAction::RpfAnswer { flow, iif } => {
                    self.rpf_answered(now, id, flow, iif);
                    Ok(Vec::new())
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
                    result.map(|_| e)
                }
                ProtoAction::Note(note) => {
                    let note: ProtoNote<_> = note.map(|i| self.iface_ref(i));
                    let protocol = self.proto_name(id);
                    self.emit(Event::Protocol { protocol, note });
                    Ok(Vec::new())
                }
            };
            match result {
                Ok(e) => effects.extend(e),
                Err(e) => self.mgm_error("a protocol's action", e),
            }
        }
        effects
    }
}
