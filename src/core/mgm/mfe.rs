//! Multicast forwarding entries: one per (S,G), with an incoming interface
//! and the outgoing interface list the membership table implies.

use std::net::IpAddr;

use serde::Serialize;

use crate::core::types::{ComponentId, IfIndex};

/// One forwarding entry. `oifs` is kept equal to
/// [`super::Mgm::wanted_oifs`] at all times.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mfe {
    pub(super) iif: IfIndex,
    pub(super) iif_owner: Option<ComponentId>,
    pub(super) upstream: Option<IpAddr>,
    pub(super) oifs: Vec<IfIndex>,
    /// Per-interface answers of protocols; most entries have none, so
    /// they live out of line (an entry stays small in a large table).
    pub(super) overrides: Option<Box<Overrides>>,
}

/// Per-interface overrides of the membership table for one entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub(super) struct Overrides {
    /// Interfaces switched off by a creation-alert answer.
    pub(super) disabled: Vec<IfIndex>,
    /// FORWARD-flag adds and deletes (mutually exclusive, latest wins).
    pub(super) forward_on: Vec<IfIndex>,
    pub(super) forward_off: Vec<IfIndex>,
}

impl Overrides {
    fn is_empty(&self) -> bool {
        self.disabled.is_empty() && self.forward_on.is_empty() && self.forward_off.is_empty()
    }
}

impl Mfe {
    pub(super) fn new(
        iif: IfIndex,
        iif_owner: Option<ComponentId>,
        upstream: Option<IpAddr>,
        oifs: Vec<IfIndex>,
    ) -> Mfe {
        Mfe {
            iif,
            iif_owner,
            upstream,
            oifs,
            overrides: None,
        }
    }

    pub fn iif(&self) -> IfIndex {
        self.iif
    }

    /// The owner of the incoming interface (`InIfProtocol`).
    pub fn iif_owner(&self) -> Option<ComponentId> {
        self.iif_owner
    }

    pub fn upstream(&self) -> Option<IpAddr> {
        self.upstream
    }

    /// Outgoing interfaces, in ifindex order. Empty = negative entry.
    pub fn oifs(&self) -> &[IfIndex] {
        &self.oifs
    }

    /// Interfaces a creation-alert answer switched off, in ifindex order.
    pub fn disabled(&self) -> &[IfIndex] {
        self.overrides.as_deref().map_or(&[], |o| &o.disabled)
    }

    pub(super) fn forward_on(&self) -> &[IfIndex] {
        self.overrides.as_deref().map_or(&[], |o| &o.forward_on)
    }

    pub(super) fn forward_off(&self) -> &[IfIndex] {
        self.overrides.as_deref().map_or(&[], |o| &o.forward_off)
    }

    /// Changes the overrides; none left means none stored.
    pub(super) fn edit_overrides<T>(&mut self, f: impl FnOnce(&mut Overrides) -> T) -> T {
        let o = self.overrides.get_or_insert_with(Box::default);
        let r = f(o);
        if o.is_empty() {
            self.overrides = None;
        }
        r
    }

    /// Drops every per-interface override for `ifindex`; true if any.
    pub(super) fn clear_overrides(&mut self, ifindex: IfIndex) -> bool {
        if self.overrides.is_none() {
            return false;
        }
        self.edit_overrides(|o| {
            let a = remove_sorted(&mut o.disabled, ifindex);
            let b = remove_sorted(&mut o.forward_on, ifindex);
            let c = remove_sorted(&mut o.forward_off, ifindex);
            a || b || c
        })
    }
}

// ===== helper functions =====

pub(super) fn contains_sorted(v: &[IfIndex], i: IfIndex) -> bool {
    v.binary_search(&i).is_ok()
}

/// Inserts keeping order; false if already present.
pub(super) fn insert_sorted(v: &mut Vec<IfIndex>, i: IfIndex) -> bool {
    match v.binary_search(&i) {
        Ok(_) => false,
        Err(pos) => {
            v.insert(pos, i);
            true
        }
    }
}

/// Removes keeping order; false if absent.
pub(super) fn remove_sorted(v: &mut Vec<IfIndex>, i: IfIndex) -> bool {
    match v.binary_search(&i) {
        Ok(pos) => {
            v.remove(pos);
            true
        }
        Err(_) => false,
    }
}

// ===== tests =====

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_vec_helpers() {
        let mut v = Vec::new();
        assert!(insert_sorted(&mut v, IfIndex(5)));
        assert!(insert_sorted(&mut v, IfIndex(2)));
        assert!(insert_sorted(&mut v, IfIndex(9)));
        assert!(!insert_sorted(&mut v, IfIndex(5)));
        assert_eq!(v, vec![IfIndex(2), IfIndex(5), IfIndex(9)]);
        assert!(contains_sorted(&v, IfIndex(9)));
        assert!(remove_sorted(&mut v, IfIndex(5)));
        assert!(!remove_sorted(&mut v, IfIndex(5)));
        assert!(!contains_sorted(&v, IfIndex(5)));
        assert_eq!(v, vec![IfIndex(2), IfIndex(9)]);
    }

    #[test]
    fn clear_overrides_reports_change() {
        let mut m = Mfe::new(IfIndex(1), None, None, vec![]);
        m.edit_overrides(|o| {
            o.disabled.push(IfIndex(3));
            o.forward_on.push(IfIndex(4));
        });
        assert_eq!(m.disabled(), [IfIndex(3)]);
        assert!(m.clear_overrides(IfIndex(3)));
        assert!(m.clear_overrides(IfIndex(4)));
        assert!(!m.clear_overrides(IfIndex(4)));
        assert!(m.disabled().is_empty() && m.forward_on().is_empty());
        assert!(m.overrides.is_none(), "no overrides left, none stored");
    }
}
