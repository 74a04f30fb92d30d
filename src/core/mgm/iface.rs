//! Interfaces as the group manager sees them: up or down, routing owner,
//! IGMP state.

use serde::Serialize;

use crate::core::types::{ComponentId, IfIndex, ProtoId};

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
    /// Another router forwards to this link (it is the IGMP querier on a
    /// proxy's downstream, RFC 4605 4.2): the interface leaves every
    /// outgoing list, as a down one does, its memberships stay.
    pub silenced: bool,
}

impl MgmIface {
    pub(super) fn new(name: &str, up: bool) -> Self {
        MgmIface {
            name: name.to_owned(),
            up,
            owner: None,
            igmp: IgmpState::Off,
            silenced: false,
        }
    }

    /// The component memberships on this interface count for: the routing
    /// owner if any, else IGMP (D1 in ARCHITECTURE.md).
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

/// The known interfaces, kept sorted by ifindex in one vector: the hot
/// paths look an interface up several times per operation, and a binary
/// search over a few dozen contiguous entries beats a B-tree walk.
/// Interfaces come and go rarely.
#[derive(Clone, Debug, Default)]
pub(super) struct IfaceTable(Vec<(IfIndex, MgmIface)>);

impl IfaceTable {
    fn find(&self, ifindex: IfIndex) -> Result<usize, usize> {
        self.0.binary_search_by_key(&ifindex, |e| e.0)
    }

    pub(super) fn get(&self, ifindex: &IfIndex) -> Option<&MgmIface> {
        self.find(*ifindex).ok().map(|pos| &self.0[pos].1)
    }

    pub(super) fn get_mut(&mut self, ifindex: &IfIndex) -> Option<&mut MgmIface> {
        self.find(*ifindex).ok().map(|pos| &mut self.0[pos].1)
    }

    /// Inserts or replaces.
    pub(super) fn insert(&mut self, ifindex: IfIndex, iface: MgmIface) {
        match self.find(ifindex) {
            Ok(pos) => self.0[pos].1 = iface,
            Err(pos) => self.0.insert(pos, (ifindex, iface)),
        }
    }

    pub(super) fn remove(&mut self, ifindex: &IfIndex) -> Option<MgmIface> {
        self.find(*ifindex).ok().map(|pos| self.0.remove(pos).1)
    }

    /// In ifindex order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&IfIndex, &MgmIface)> {
        self.0.iter().map(|(k, i)| (k, i))
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

    #[test]
    fn table_keeps_ifindex_order() {
        let mut t = IfaceTable::default();
        for i in [7, 2, 9, 4] {
            t.insert(IfIndex(i), MgmIface::new(&format!("eth{i}"), true));
        }
        t.insert(IfIndex(4), MgmIface::new("renamed", false));
        let order: Vec<_> = t.iter().map(|(k, _)| k.0).collect();
        assert_eq!(order, vec![2, 4, 7, 9]);
        assert_eq!(t.get(&IfIndex(4)).map(|i| i.name.as_str()), Some("renamed"));
        assert!(t.get(&IfIndex(5)).is_none());
        if let Some(i) = t.get_mut(&IfIndex(9)) {
            i.up = false;
        }
        assert_eq!(t.get(&IfIndex(9)).map(|i| i.up), Some(false));
        assert_eq!(
            t.remove(&IfIndex(2)).map(|i| i.name),
            Some("eth2".to_owned())
        );
        assert!(t.remove(&IfIndex(2)).is_none());
        let order: Vec<_> = t.iter().map(|(k, _)| k.0).collect();
        assert_eq!(order, vec![4, 7, 9]);
    }
}
