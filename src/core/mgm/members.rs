//! Adding and deleting memberships, and the join/prune alerts they owe
//! (RFC 2715 rules; see the module documentation of [`super`]).

use std::net::IpAddr;

use super::Mgm;
use super::effect::{Effect, MembershipFlags, MgmError};
use super::iface::IgmpState;
use super::membership::AddedBy;
use crate::core::types::{ComponentId, FlowKey, GroupAddr, IfIndex, MembershipKey, SourceSel};

impl Mgm {
    /// Adds a membership (JOIN) and/or forwards the interface for that
    /// exact (S,G) (FORWARD). `c` must own the interface (IGMP: be enabled
    /// there). Adding what `c` already added changes nothing.
    pub fn add_membership(
        &mut self,
        c: ComponentId,
        key: MembershipKey,
        ifindex: IfIndex,
        flags: MembershipFlags,
    ) -> Result<Vec<Effect>, MgmError> {
        let by = self.check_member_access(c, ifindex, flags)?;
        let mut out = Vec::new();
        if flags.join {
            self.member_add(by, key, ifindex, &mut out);
        }
        if flags.forward {
            self.forward_override(key, ifindex, true, &mut out);
        }
        Ok(out)
    }

    /// Deletes a membership (JOIN) and/or stops forwarding the interface
    /// for that exact (S,G) (FORWARD). Deleting what `c` did not add
    /// changes nothing.
    pub fn delete_membership(
        &mut self,
        c: ComponentId,
        key: MembershipKey,
        ifindex: IfIndex,
        flags: MembershipFlags,
    ) -> Result<Vec<Effect>, MgmError> {
        let by = self.check_member_access(c, ifindex, flags)?;
        let mut out = Vec::new();
        if flags.join {
            self.member_remove(key, ifindex, by, true, &mut out);
        }
        if flags.forward {
            self.forward_override(key, ifindex, false, &mut out);
        }
        Ok(out)
    }

    /// Who may touch memberships on `ifindex`, and which bit they own.
    pub(super) fn check_member_access(
        &self,
        c: ComponentId,
        ifindex: IfIndex,
        flags: MembershipFlags,
    ) -> Result<AddedBy, MgmError> {
        self.check_protocol(c)?;
        let iface = self.iface(ifindex)?;
        let by = match c {
            ComponentId::Igmp => match iface.igmp {
                IgmpState::Enabled => AddedBy::IGMP,
                IgmpState::Disabled => return Err(MgmError::IgmpDisabled(ifindex)),
                IgmpState::Off => {
                    return Err(MgmError::NotOwner {
                        ifindex,
                        component: c,
                    });
                }
            },
            ComponentId::Protocol(p) if iface.owner == Some(p) => AddedBy::OWNER,
            ComponentId::Protocol(_) => {
                return Err(MgmError::NotOwner {
                    ifindex,
                    component: c,
                });
            }
        };
        if !flags.join && !flags.forward {
            return Err(MgmError::NoFlags);
        }
        Ok(by)
    }

    /// One pass over the interfaces holding `key`: who added the entry on
    /// `ifindex`, and which components hold the key elsewhere.
    pub(super) fn scan(&self, key: MembershipKey, ifindex: IfIndex) -> (AddedBy, Holders) {
        let (mut old, mut h) = (AddedBy::NONE, Holders::None);
        for (i, by) in self.members.ifaces_with(key) {
            if i == ifindex {
                old = by;
            } else if h != Holders::Many {
                h = h.add(self.component_of(i));
            }
            if h == Holders::Many && i >= ifindex {
                break;
            }
        }
        (old, h)
    }

    /// The owner of the incoming interface of the entry (S,G): who an
    /// (S,G) alert goes to. Without an entry nobody is alerted (see the
    /// module documentation).
    pub(super) fn rpf_owner(&self, source: IpAddr, group: GroupAddr) -> Option<ComponentId> {
        let flow = FlowKey { group, source };
        self.iface_owner(self.mfes.get(&flow)?.iif)
    }

    /// Pushes `alert(to)` for each recipient of the alert owed when
    /// component `c` starts or stops holding `key` and `rest` holds it
    /// elsewhere.
    pub(super) fn push_alerts(
        &self,
        key: MembershipKey,
        c: ComponentId,
        rest: Holders,
        out: &mut Vec<Effect>,
        alert: impl Fn(ComponentId) -> Effect,
    ) {
        match key.source {
            SourceSel::Except(_) => {}
            SourceSel::Only(s) => match self.rpf_owner(s, key.group) {
                Some(o) if o != c && rest.only_maybe(o) => out.push(alert(o)),
                _ => {}
            },
            SourceSel::Any => match rest {
                Holders::None => out.extend(self.components().filter(|&x| x != c).map(alert)),
                Holders::One(y) => out.push(alert(y)),
                Holders::Many => {}
            },
        }
    }

    pub(super) fn member_add(
        &mut self,
        by: AddedBy,
        key: MembershipKey,
        ifindex: IfIndex,
        out: &mut Vec<Effect>,
    ) {
        let (old, rest) = self.scan(key, ifindex);
        if old.contains(by) {
            return;
        }
        let component = self.component_of(ifindex);
        let first = old.is_empty();
        self.members.set(key, ifindex, old.with(by));
        out.push(Effect::MembershipAdded {
            key,
            ifindex,
            by: self.adder(by, ifindex),
            component,
        });
        if by == AddedBy::IGMP
            && let ComponentId::Protocol(to) = component
        {
            out.push(Effect::LocalJoin { to, key, ifindex });
        }
        if first {
            // No alert when `component` held the key elsewhere already.
            if rest != Holders::One(component) {
                self.push_alerts(key, component, rest, out, |to| Effect::JoinAlert {
                    to,
                    key,
                    member_update: true,
                });
            }
            self.refresh_key(key, ifindex, out);
        }
    }

    /// Removes the `bits` of the entry (key, ifindex) that are set, with
    /// `LocalLeave` to the owner for IGMP's bit when `local`.
    pub(super) fn member_remove(
        &mut self,
        key: MembershipKey,
        ifindex: IfIndex,
        bits: AddedBy,
        local: bool,
        out: &mut Vec<Effect>,
    ) {
        let (old, rest) = self.scan(key, ifindex);
        let gone = old.intersect(bits);
        if gone.is_empty() {
            return;
        }
        let component = self.component_of(ifindex);
        let left = old.without(gone);
        self.members.set(key, ifindex, left);
        for bit in [AddedBy::IGMP, AddedBy::OWNER] {
            if !gone.contains(bit) {
                continue;
            }
            out.push(Effect::MembershipRemoved {
                key,
                ifindex,
                by: self.adder(bit, ifindex),
                component,
            });
            if local
                && bit == AddedBy::IGMP
                && let ComponentId::Protocol(to) = component
            {
                out.push(Effect::LocalLeave { to, key, ifindex });
            }
        }
        if left.is_empty() {
            // No alert when `component` still holds the key elsewhere.
            if rest != Holders::One(component) {
                self.push_alerts(key, component, rest, out, |to| Effect::PruneAlert {
                    to,
                    key,
                    ifindex,
                    member_delete: true,
                });
            }
            self.refresh_key(key, ifindex, out);
        }
    }

    /// Removes the `bits` of every entry on `ifindex`.
    pub(super) fn flush_iface(
        &mut self,
        ifindex: IfIndex,
        bits: AddedBy,
        local: bool,
        out: &mut Vec<Effect>,
    ) {
        let keys = self.members.keys_on(ifindex);
        for key in keys {
            self.member_remove(key, ifindex, bits, local, out);
        }
    }
}

// ===== Holders =====

/// Components holding a key, as far as the alert rule needs to know: two
/// distinct holders always include one other than any given component.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Holders {
    None,
    One(ComponentId),
    Many,
}

impl Holders {
    pub(super) fn add(self, c: ComponentId) -> Holders {
        match self {
            Holders::None => Holders::One(c),
            Holders::One(x) if x == c => self,
            _ => Holders::Many,
        }
    }

    /// True when no holder other than `x` is left.
    pub(super) fn only_maybe(self, x: ComponentId) -> bool {
        match self {
            Holders::None => true,
            Holders::One(y) => y == x,
            Holders::Many => false,
        }
    }
}

// ===== tests =====

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::types::ProtoId;

    #[test]
    fn holders_fold() {
        let a = ComponentId::Igmp;
        let b = ComponentId::Protocol(ProtoId(1));
        assert_eq!(Holders::None.add(a), Holders::One(a));
        assert_eq!(Holders::One(a).add(a), Holders::One(a));
        assert_eq!(Holders::One(a).add(b), Holders::Many);
        assert!(Holders::None.only_maybe(a));
        assert!(Holders::One(a).only_maybe(a));
        assert!(!Holders::One(b).only_maybe(a));
        assert!(!Holders::Many.only_maybe(a));
    }
}
