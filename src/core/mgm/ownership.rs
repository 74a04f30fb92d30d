//! Who owns an interface, and the ownership sequence that runs whenever
//! that changes (see the module documentation of [`super`]).

use super::Mgm;
use super::effect::{Effect, MgmError};
use super::iface::IgmpState;
use super::membership::AddedBy;
use crate::core::types::{ComponentId, IfIndex, ProtoId};

impl Mgm {
    /// `Igmp` enables IGMP on the interface (coexisting with a routing
    /// owner, no sequence); a protocol takes routing ownership, running the
    /// ownership sequence if IGMP is enabled there.
    pub fn take_ownership(
        &mut self,
        c: ComponentId,
        ifindex: IfIndex,
    ) -> Result<Vec<Effect>, MgmError> {
        self.check_protocol(c)?;
        let iface = self.iface(ifindex)?;
        let mut out = Vec::new();
        match c {
            ComponentId::Igmp => {
                if iface.igmp != IgmpState::Off {
                    return Err(MgmError::AlreadyOwned {
                        ifindex,
                        owner: ComponentId::Igmp,
                    });
                }
                let routed = iface.owner.is_some();
                if let Some(i) = self.ifaces.get_mut(&ifindex) {
                    i.igmp = IgmpState::Enabled;
                }
                if !routed {
                    self.refresh_iif_owner(ifindex);
                }
            }
            ComponentId::Protocol(p) => {
                if let Some(q) = iface.owner {
                    return Err(MgmError::AlreadyOwned {
                        ifindex,
                        owner: ComponentId::Protocol(q),
                    });
                }
                self.change_owner(ifindex, Some(p), &mut out);
            }
        }
        Ok(out)
    }

    /// `Igmp` disables IGMP on the interface, removing its memberships
    /// there (each as if IGMP had deleted it); a protocol gives up routing
    /// ownership, running the ownership sequence if IGMP is enabled there.
    pub fn release_ownership(
        &mut self,
        c: ComponentId,
        ifindex: IfIndex,
    ) -> Result<Vec<Effect>, MgmError> {
        self.check_protocol(c)?;
        let iface = self.iface(ifindex)?;
        let mut out = Vec::new();
        match c {
            ComponentId::Igmp => {
                if iface.igmp == IgmpState::Off {
                    return Err(MgmError::NotOwner {
                        ifindex,
                        component: c,
                    });
                }
                self.release_igmp(ifindex, &mut out);
            }
            ComponentId::Protocol(p) => {
                if iface.owner != Some(p) {
                    return Err(MgmError::NotOwner {
                        ifindex,
                        component: c,
                    });
                }
                self.change_owner(ifindex, None, &mut out);
            }
        }
        Ok(out)
    }

    /// The routing owner if any, else `Igmp` if IGMP runs there, else None.
    pub fn owner(&self, ifindex: IfIndex) -> Result<Option<ComponentId>, MgmError> {
        Ok(self.iface(ifindex)?.owner_component())
    }

    /// First half of the ownership sequence on its own, to re-synchronise
    /// IGMP on an interface (e.g. after IGMP restarted there): IGMP's
    /// memberships are flushed (with `LocalLeave` to the routing owner) and
    /// IGMP may not add or delete there until [`Mgm::enable_igmp`].
    pub fn disable_igmp(&mut self, ifindex: IfIndex) -> Result<Vec<Effect>, MgmError> {
        match self.iface(ifindex)?.igmp {
            IgmpState::Off => Err(MgmError::NotOwner {
                ifindex,
                component: ComponentId::Igmp,
            }),
            IgmpState::Disabled => Err(MgmError::IgmpDisabled(ifindex)),
            IgmpState::Enabled => {
                let mut out = vec![Effect::DisableIgmp { ifindex }];
                self.set_igmp(ifindex, IgmpState::Disabled);
                self.flush_iface(ifindex, AddedBy::IGMP, true, &mut out);
                Ok(out)
            }
        }
    }

    /// Second half: IGMP is enabled again and owes its re-adds.
    pub fn enable_igmp(&mut self, ifindex: IfIndex) -> Result<Vec<Effect>, MgmError> {
        if self.iface(ifindex)?.igmp != IgmpState::Disabled {
            return Err(MgmError::IgmpNotDisabled(ifindex));
        }
        self.set_igmp(ifindex, IgmpState::Enabled);
        Ok(vec![Effect::EnableIgmp { ifindex }])
    }

    /// The ownership sequence (module documentation).
    pub(super) fn change_owner(
        &mut self,
        ifindex: IfIndex,
        new: Option<ProtoId>,
        out: &mut Vec<Effect>,
    ) {
        let Some(iface) = self.ifaces.get(&ifindex) else {
            return;
        };
        let old = iface.owner;
        let igmp_on = iface.igmp == IgmpState::Enabled;
        if igmp_on {
            out.push(Effect::DisableIgmp { ifindex });
            self.set_igmp(ifindex, IgmpState::Disabled);
        }
        out.push(Effect::OwnerChanged { ifindex, old, new });
        // Flushed under the old attribution: prunes are owed by the old
        // component.
        self.flush_iface(ifindex, AddedBy::BOTH, false, out);
        self.delete_mfes_with_iif(ifindex, out);
        if let Some(i) = self.ifaces.get_mut(&ifindex) {
            i.owner = new;
        }
        self.clear_overrides(ifindex, out);
        if igmp_on {
            self.set_igmp(ifindex, IgmpState::Enabled);
            out.push(Effect::EnableIgmp { ifindex });
        }
    }

    pub(super) fn release_igmp(&mut self, ifindex: IfIndex, out: &mut Vec<Effect>) {
        self.flush_iface(ifindex, AddedBy::IGMP, true, out);
        self.set_igmp(ifindex, IgmpState::Off);
        if self.ifaces.get(&ifindex).is_some_and(|i| i.owner.is_none()) {
            self.delete_mfes_with_iif(ifindex, out);
            self.clear_overrides(ifindex, out);
        }
    }

    pub(super) fn refresh_iif_owner(&mut self, ifindex: IfIndex) {
        let owner = self.iface_owner(ifindex);
        for m in self.mfes.values_mut().filter(|m| m.iif == ifindex) {
            m.iif_owner = owner;
        }
    }

    pub(super) fn set_igmp(&mut self, ifindex: IfIndex, state: IgmpState) {
        if let Some(i) = self.ifaces.get_mut(&ifindex) {
            i.igmp = state;
        }
    }
}
