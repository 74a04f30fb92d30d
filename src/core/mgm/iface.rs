//! Interfaces as the group manager sees them: up or down, routing owner,
//! IGMP state.

use serde::Serialize;

use crate::core::types::{ComponentId, ProtoId};

/// IGMP's state on one interface. IGMP coexists with at most one routing
/// owner; `Disabled` is the window of an ownership change (or of an explicit
/// [`super::Mgm::disable_igmp`]) during which IGMP must not add or delete
/// memberships there.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IgmpState {
    #[default]
    Off,
    Enabled,
    Disabled,
}

/// One interface known to the manager.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MgmIface {
    pub name: String,
    pub up: bool,
    /// The routing protocol owning the interface, if any.
    pub owner: Option<ProtoId>,
    pub igmp: IgmpState,
}

impl MgmIface {
    pub(super) fn new(name: &str, up: bool) -> Self {
        MgmIface {
            name: name.to_owned(),
            up,
            owner: None,
            igmp: IgmpState::Off,
        }
    }

    /// The component memberships on this interface count for: the routing
    /// owner if any, else IGMP (decision D1).
    pub fn component(&self) -> ComponentId {
        match self.owner {
            Some(p) => ComponentId::Protocol(p),
            None => ComponentId::Igmp,
        }
    }

    /// The owner as `owner()` reports it: the routing owner, else IGMP if
    /// it runs here, else nobody.
    pub fn owner_component(&self) -> Option<ComponentId> {
        match (self.owner, self.igmp) {
            (Some(p), _) => Some(ComponentId::Protocol(p)),
            (None, IgmpState::Off) => None,
            (None, _) => Some(ComponentId::Igmp),
        }
    }
}

// ===== tests =====

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_component_prefers_the_routing_owner() {
        let mut i = MgmIface::new("eth0", true);
        assert_eq!(i.owner_component(), None);
        assert_eq!(i.component(), ComponentId::Igmp);
        i.igmp = IgmpState::Enabled;
        assert_eq!(i.owner_component(), Some(ComponentId::Igmp));
        i.owner = Some(ProtoId(4));
        assert_eq!(i.owner_component(), Some(ComponentId::Protocol(ProtoId(4))));
        assert_eq!(i.component(), ComponentId::Protocol(ProtoId(4)));
    }
}
