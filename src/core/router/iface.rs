//! Interfaces: what the kernel's link and address facts mean for the
//! interfaces mgmd is configured on. A configured interface that appears
//! is made known to the manager, IGMP starts there if configured, and its
//! configured owner takes it; one that vanishes is released with the full
//! sequence; up/down and address changes reach IGMP and the owner.
//!
//! # Nothing is lost on a flap, a rename or a new address
//!
//! Down is a pause, not a removal. An interface that goes down keeps its
//! VIF, its owner, its IGMP state and its memberships (IGMP's timers keep
//! running, so a group that times out while the link is down goes as
//! usual), and the forwarding entries coming in on it keep their
//! book-keeping. Only the kernel's outgoing lists leave it (the manager's
//! rule: outgoing interfaces are up ones). When it comes back, the same
//! input puts it back into every outgoing list its memberships call for,
//! so the kernel forwards again as soon as the router has seen the link
//! come up, without waiting for a report; IGMP then starts over as querier
//! with its startup queries, and the hosts' answers refresh what was kept.
//!
//! A rename keeps everything (ifindex, VIF, IGMP, memberships, entries)
//! when the new name is configured the same way as the old one (same IGMP
//! settings, same owner by configuration); otherwise it is the old
//! interface leaving and the new one arriving, as the configuration says.
//! An address change keeps the memberships; the querier election runs
//! again from the new address.

use std::time::Instant;

use super::Router;
use crate::core::event::{Event, OwnerOp};
use crate::core::iface::IfaceChange;
use crate::core::igmp::IgmpEvent;
use crate::core::igmp::config::IgmpIfConfig;
use crate::core::protocol::ProtoEvent;
use crate::core::types::{ComponentId, IfIndex, IfName, Iface, ProtoId};

impl Router {
    /// The IGMP settings for an interface name, if IGMP runs there.
    pub(super) fn igmp_cfg(&self, name: &str) -> Option<IgmpIfConfig> {
        self.cfg.interface(name).and_then(|i| i.igmp.clone())
    }

    /// Whether mgmd uses this interface at all.
    pub(super) fn is_configured(&self, name: &str) -> bool {
        self.cfg.interface(name).is_some() || self.cfg.owner_of(name).is_some()
    }

    /// The running protocol that owns an interface name by configuration.
    pub(super) fn config_owner(&self, name: &str) -> Option<ProtoId> {
        let proto = self.cfg.owner_of(name)?;
        self.protocols
            .iter()
            .find(|p| p.proto.name() == proto)
            .map(|p| p.id)
    }

    pub(super) fn routing_owner(&self, ifindex: IfIndex) -> Option<ProtoId> {
        self.mgm.interface(ifindex).and_then(|i| i.owner)
    }

    pub(super) fn apply_iface_changes(&mut self, now: Instant, changes: Vec<IfaceChange>) {
        for change in changes {
            match change {
                IfaceChange::Added { ifindex, name } => self.iface_added(now, ifindex, &name),
                IfaceChange::Removed { ifindex, name } => {
                    self.hosts.iface_gone(ifindex);
                    self.iface_removed(now, ifindex, &name)
                }
                IfaceChange::Renamed { ifindex, old, new } => {
                    self.emit(Event::InterfaceRenamed {
                        ifindex,
                        old: IfName::lossy(&old),
                        new: IfName::lossy(&new),
                    });
                    if self.mgm.interface(ifindex).is_none() {
                        self.iface_added(now, ifindex, &new);
                    } else if self.same_configuration(&old, &new) {
                        self.iface_renamed(now, ifindex, &new);
                    } else {
                        self.iface_removed(now, ifindex, &old);
                        self.iface_added(now, ifindex, &new);
                    }
                }
                IfaceChange::OperChanged { ifindex, up } => self.iface_oper(now, ifindex, up),
                IfaceChange::AddrsChanged { ifindex } => self.iface_addrs(now, ifindex),
                IfaceChange::MtuChanged { ifindex, mtu } => {
                    if let Some(r) = self.igmp.get_mut(&ifindex) {
                        let actions = r.handle(now, IgmpEvent::MtuChanged(mtu));
                        self.igmp_actions(now, ifindex, actions);
                    }
                }
            }
        }
    }

    fn iface_added(&mut self, now: Instant, ifindex: IfIndex, name: &str) {
        if !self.is_configured(name) {
            return;
        }
        let Some(link) = self.ifaces.get(ifindex) else {
            return;
        };
        let interface = Iface {
            ifindex,
            name: IfName::lossy(name),
        };
        self.emit(Event::InterfaceAppeared {
            interface,
            up: link.oper_up(),
        });
        self.iface_start(now, ifindex, name);
    }

    /// Starts using an interface the configuration names: the manager
    /// learns it, IGMP starts if configured, its configured owner takes it.
    pub(super) fn iface_start(&mut self, now: Instant, ifindex: IfIndex, name: &str) {
        let Some(link) = self.ifaces.get(ifindex) else {
            return;
        };
        let up = link.oper_up();
        let effects = self.mgm.interface_add(ifindex, name, up);
        self.process_effects(now, effects);
        if self.igmp_cfg(name).is_some() {
            match self.mgm.take_ownership(ComponentId::Igmp, ifindex) {
                Ok(effects) => self.process_effects(now, effects),
                Err(e) => self.mgm_error("IGMP taking an interface", e),
            }
            if up {
                self.igmp_start(now, ifindex);
            }
        }
        if let Some(id) = self.config_owner(name) {
            if let Err(e) = self.change_owner(now, ifindex, OwnerOp::Take, id) {
                self.mgm_error("taking an interface by configuration", e);
            }
        }
    }

    /// Whether an interface renamed from `old` to `new` stays what it was:
    /// used, with the same IGMP settings and the same owner by
    /// configuration.
    fn same_configuration(&self, old: &str, new: &str) -> bool {
        self.is_configured(new)
            && self.igmp_cfg(old) == self.igmp_cfg(new)
            && self.cfg.owner_of(old) == self.cfg.owner_of(new)
    }

    /// A rename that keeps everything: the manager learns the new name,
    /// the owner hears of the change.
    fn iface_renamed(&mut self, now: Instant, ifindex: IfIndex, new: &str) {
        let up = self.ifaces.get(ifindex).is_some_and(|l| l.oper_up());
        let effects = self.mgm.interface_add(ifindex, new, up);
        self.process_effects(now, effects);
        if let Some(id) = self.routing_owner(ifindex) {
            self.deliver(now, id, ProtoEvent::InterfaceChanged { ifindex });
        }
    }

    fn iface_removed(&mut self, now: Instant, ifindex: IfIndex, name: &str) {
        if self.mgm.interface(ifindex).is_none() {
            return;
        }
        let interface = Iface {
            ifindex,
            name: IfName::lossy(name),
        };
        self.emit(Event::InterfaceVanished { interface });
        self.iface_stop(now, ifindex);
    }

    /// Stops using an interface: IGMP stops there, its owner releases it
    /// with the full sequence, the manager forgets it.
    pub(super) fn iface_stop(&mut self, now: Instant, ifindex: IfIndex) {
        // IGMP state dies with the link: nothing is re-added at enable.
        self.igmp_stop(now, ifindex);
        let owner = self.routing_owner(ifindex);
        match self.mgm.interface_remove(ifindex) {
            Ok(effects) => self.process_effects(now, effects),
            Err(e) => self.mgm_error("removing an interface", e),
        }
        if let Some(id) = owner {
            self.deliver(now, id, ProtoEvent::InterfaceReleased { ifindex });
        }
        self.drops_retain(|iif| iif != ifindex);
    }

    fn iface_oper(&mut self, now: Instant, ifindex: IfIndex, up: bool) {
        if self.mgm.interface(ifindex).is_none() {
            return;
        }
        let interface = self.iface_ref(ifindex);
        self.emit(Event::InterfaceState { interface, up });
        // IGMP keeps its groups while the link is down (module
        // documentation); the manager takes the interface out of the
        // outgoing lists and puts it back.
        if !up {
            self.igmp_link(now, ifindex, false);
        }
        match self.mgm.interface_set_up(ifindex, up) {
            Ok(effects) => self.process_effects(now, effects),
            Err(e) => self.mgm_error("interface state", e),
        }
        if up && self.igmp_cfg(interface.name.as_str()).is_some() {
            if self.igmp.contains_key(&ifindex) {
                self.igmp_link(now, ifindex, true);
            } else {
                self.igmp_start(now, ifindex);
            }
        }
        if let Some(id) = self.routing_owner(ifindex) {
            self.deliver(now, id, ProtoEvent::InterfaceChanged { ifindex });
        }
    }

    fn iface_addrs(&mut self, now: Instant, ifindex: IfIndex) {
        let Some(link) = self.ifaces.get(ifindex) else {
            return;
        };
        let (addr, subnets) = (link.primary_v4(), link.subnets_v4());
        if let Some(r) = self.igmp.get_mut(&ifindex) {
            let mut actions = r.handle(now, IgmpEvent::AddressChanged(addr));
            actions.extend(r.handle(now, IgmpEvent::SubnetsChanged(subnets)));
            self.igmp_actions(now, ifindex, actions);
        }
        if let Some(id) = self.routing_owner(ifindex) {
            self.deliver(now, id, ProtoEvent::InterfaceChanged { ifindex });
        }
    }
}
