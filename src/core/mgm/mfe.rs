//! Multicast forwarding entries: one per (S,G), with an incoming interface
//! and the outgoing interface list the membership table implies.

use std::net::Ipv4Addr;

use serde::Serialize;

use crate::core::types::{ComponentId, IfIndex};

/// One forwarding entry. `oifs` is kept equal to
/// [`super::Mgm::wanted_oifs`] at all times.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mfe {
    pub(super) iif: IfIndex,
    pub(super) iif_owner: Option<ComponentId>,
    pub(super) upstream: Option<Ipv4Addr>,
    pub(super) oifs: Vec<IfIndex>,
    /// Interfaces switched off by a creation-alert answer.
    pub(super) disabled: Vec<IfIndex>,
    /// FORWARD-flag adds and deletes (mutually exclusive, latest wins).
    pub(super) forward_on: Vec<IfIndex>,
    pub(super) forward_off: Vec<IfIndex>,
}

impl Mfe {
    pub fn iif(&self) -> IfIndex {
        self.iif
    }

    /// The owner of the incoming interface (`InIfProtocol`).
    pub fn iif_owner(&self) -> Option<ComponentId> {
        self.iif_owner
    }

    pub fn upstream(&self) -> Option<Ipv4Addr> {
        self.upstream
    }

    /// Outgoing interfaces, in ifindex order. Empty = negative entry.
    pub fn oifs(&self) -> &[IfIndex] {
        &self.oifs
    }

    pub fn disabled(&self) -> &[IfIndex] {
        &self.disabled
    }

    pub(super) fn route(&self) -> MfeRoute {
        MfeRoute {
            iif: self.iif,
            oifs: self.oifs.clone(),
        }
    }

    /// Drops every per-interface override for `ifindex`; true if any.
    pub(super) fn clear_overrides(&mut self, ifindex: IfIndex) -> bool {
        let a = remove_sorted(&mut self.disabled, ifindex);
        let b = remove_sorted(&mut self.forward_on, ifindex);
        let c = remove_sorted(&mut self.forward_off, ifindex);
        a || b || c
    }
}

/// What the kernel needs of an entry: where it comes in, where it goes out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MfeRoute {
    pub iif: IfIndex,
    pub oifs: Vec<IfIndex>,
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
        let mut m = Mfe {
            iif: IfIndex(1),
            iif_owner: None,
            upstream: None,
            oifs: vec![],
            disabled: vec![IfIndex(3)],
            forward_on: vec![IfIndex(4)],
            forward_off: vec![],
        };
        assert!(m.clear_overrides(IfIndex(3)));
        assert!(m.clear_overrides(IfIndex(4)));
        assert!(!m.clear_overrides(IfIndex(4)));
        assert!(m.disabled.is_empty() && m.forward_on.is_empty());
    }
}
