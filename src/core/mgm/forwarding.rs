//! Forwarding entries: creation when a flow arrives, outgoing lists kept
//! equal to what the memberships and the protocols' answers imply, and
//! deletion.

use std::collections::btree_map;
use std::net::IpAddr;

use super::Mgm;
use super::effect::{Effect, MgmError};
use super::mfe::{Mfe, contains_sorted, insert_sorted, remove_sorted};
use crate::core::types::{FlowKey, IfIndex, MembershipKey, SourceSel};

impl Mgm {
    /// `MgmSetMfe`: the entry's upstream neighbour changed.
    pub fn set_upstream(
        &mut self,
        flow: FlowKey,
        upstream: Option<IpAddr>,
    ) -> Result<Vec<Effect>, MgmError> {
        let m = self.mfes.get_mut(&flow).ok_or(MgmError::NotFound(flow))?;
        if m.upstream == upstream {
            return Ok(Vec::new());
        }
        m.upstream = upstream;
        Ok(vec![Effect::UpstreamChanged { flow, upstream }])
    }

    /// Creates the entry for a new flow once the RPF decision (and the iif
    /// owner's answer) gave its incoming interface, which must be up. Emits `MfeCreated`,
    /// one `CreationAlert` per component with outgoing interfaces (each
    /// sees only its own), then the iif owner's join (non-empty list) or
    /// prune (negative entry) alert with `member_update = false`.
    pub fn create_mfe(
        &mut self,
        flow: FlowKey,
        iif: IfIndex,
        upstream: Option<IpAddr>,
    ) -> Result<Vec<Effect>, MgmError> {
        let iface = self.iface(iif)?;
        if !iface.up {
            return Err(MgmError::InterfaceDown(iif));
        }
        let iif_owner = iface.owner_component();
        // A new entry has no overrides yet. (Computed before the existence
        // check so that the table is searched once.)
        let oifs = self.oifs_with(flow, iif, None);
        match self.mfes.entry(flow) {
            btree_map::Entry::Occupied(_) => return Err(MgmError::MfeExists(flow)),
            btree_map::Entry::Vacant(slot) => {
                slot.insert(Mfe::new(iif, iif_owner, upstream, oifs.clone()));
            }
        }
        *self.mfe_groups.entry(flow.group).or_default() += 1;
        // Then one creation alert per component owning outgoing
        // interfaces, kept in component order (a handful of them).
        let mut out = Vec::with_capacity(3);
        for &o in &oifs {
            let Some(c) = self.ifaces.get(&o).map(|i| i.component()) else {
                continue;
            };
            let at =
                out.partition_point(|e| matches!(e, Effect::CreationAlert { to, .. } if *to < c));
            match out.get_mut(at) {
                Some(Effect::CreationAlert { to, oifs, .. }) if *to == c => oifs.push(o),
                _ => out.insert(
                    at,
                    Effect::CreationAlert {
                        to: c,
                        flow,
                        iif,
                        oifs: vec![o],
                    },
                ),
            }
        }
        let empty = oifs.is_empty();
        out.insert(0, Effect::MfeCreated { flow, iif, oifs });
        if let Some(to) = iif_owner {
            let key = MembershipKey::only(flow.source, flow.group);
            out.push(if empty {
                Effect::PruneAlert {
                    to,
                    key,
                    ifindex: iif,
                    member_delete: false,
                }
            } else {
                Effect::JoinAlert {
                    to,
                    key,
                    member_update: false,
                }
            });
        }
        Ok(out)
    }

    /// A creation-alert answer: `enabled = false` keeps `ifindex` out of
    /// the entry's outgoing list, `true` lets it in again.
    pub fn set_oif_enabled(
        &mut self,
        flow: FlowKey,
        ifindex: IfIndex,
        enabled: bool,
    ) -> Result<Vec<Effect>, MgmError> {
        if !self.mfes.contains_key(&flow) {
            return Err(MgmError::NotFound(flow));
        }
        self.iface(ifindex)?;
        if let Some(m) = self.mfes.get_mut(&flow) {
            m.edit_overrides(|o| {
                if enabled {
                    remove_sorted(&mut o.disabled, ifindex);
                } else {
                    insert_sorted(&mut o.disabled, ifindex);
                }
            });
        }
        let mut out = Vec::new();
        self.refresh_oif(flow, ifindex, &mut out);
        Ok(out)
    }

    /// Deletes an entry (idle, or route change); no alerts.
    pub fn delete_mfe(&mut self, flow: FlowKey) -> Result<Vec<Effect>, MgmError> {
        if !self.mfes.contains_key(&flow) {
            return Err(MgmError::NotFound(flow));
        }
        self.mfe_remove(flow);
        Ok(vec![Effect::MfeDeleted { flow }])
    }

    pub fn mfe(&self, flow: FlowKey) -> Option<&Mfe> {
        self.mfes.get(&flow)
    }

    /// Every entry, ordered by group, then source.
    pub fn mfes(&self) -> impl Iterator<Item = (&FlowKey, &Mfe)> {
        self.mfes.iter()
    }

    /// The outgoing list the rule gives for `flow` coming in on `iif`:
    /// interfaces that are up and hold (S,G), or (*,G) without an (S,G)
    /// block, plus FORWARD adds, minus FORWARD deletes, minus
    /// creation-disabled, minus `iif`. Overrides are those of the existing
    /// entry, if any.
    pub fn wanted_oifs(&self, flow: FlowKey, iif: IfIndex) -> Vec<IfIndex> {
        self.oifs_with(flow, iif, self.mfes.get(&flow))
    }

    /// [`Self::wanted_oifs`] with the entry's overrides given.
    pub(super) fn oifs_with(&self, flow: FlowKey, iif: IfIndex, mfe: Option<&Mfe>) -> Vec<IfIndex> {
        let mut cand: Vec<IfIndex> = self
            .members
            .ifaces_with(MembershipKey::any(flow.group))
            .chain(
                self.members
                    .ifaces_with(MembershipKey::only(flow.source, flow.group)),
            )
            .map(|(i, _)| i)
            .collect();
        if let Some(m) = mfe {
            cand.extend_from_slice(m.forward_on());
        }
        cand.sort_unstable();
        cand.dedup();
        cand.retain(|&k| self.oif_wanted(flow, iif, mfe, k));
        cand
    }

    pub(super) fn mfe_remove(&mut self, flow: FlowKey) {
        if self.mfes.remove(&flow).is_some() {
            let g = flow.group;
            if let Some(n) = self.mfe_groups.get_mut(&g) {
                *n -= 1;
                if *n == 0 {
                    self.mfe_groups.remove(&g);
                }
            }
        }
    }

    pub(super) fn delete_mfes_with_iif(&mut self, ifindex: IfIndex, out: &mut Vec<Effect>) {
        let flows: Vec<FlowKey> = self
            .mfes
            .iter()
            .filter(|(_, m)| m.iif == ifindex)
            .map(|(&f, _)| f)
            .collect();
        for flow in flows {
            self.mfe_remove(flow);
            out.push(Effect::MfeDeleted { flow });
        }
    }

    /// Drops creation-answer and FORWARD overrides for `ifindex` (they were
    /// given by its former owner) and refreshes the lists.
    pub(super) fn clear_overrides(&mut self, ifindex: IfIndex, out: &mut Vec<Effect>) {
        let mut touched = Vec::new();
        for (&flow, m) in self.mfes.iter_mut() {
            if m.clear_overrides(ifindex) {
                touched.push(flow);
            }
        }
        for flow in touched {
            self.refresh_oif(flow, ifindex, out);
        }
    }

    pub(super) fn apply_silenced(&mut self, ifindex: IfIndex, on: bool, out: &mut Vec<Effect>) {
        match self.ifaces.get_mut(&ifindex) {
            Some(i) if i.silenced != on => i.silenced = on,
            _ => return,
        }
        let flows: Vec<FlowKey> = self.mfes.keys().copied().collect();
        for flow in flows {
            self.refresh_oif(flow, ifindex, out);
        }
    }

    pub(super) fn apply_up(&mut self, ifindex: IfIndex, up: bool, out: &mut Vec<Effect>) {
        match self.ifaces.get_mut(&ifindex) {
            Some(i) if i.up != up => i.up = up,
            _ => return,
        }
        // Entries coming in on a down interface stay: nothing arrives
        // while it is down, and they forward again as soon as it is up.
        let flows: Vec<FlowKey> = self.mfes.keys().copied().collect();
        for flow in flows {
            self.refresh_oif(flow, ifindex, out);
        }
    }

    /// FORWARD flag: force `ifindex` in (`on`) or out of the entry for the
    /// exact (S,G) of `key`, if it exists.
    pub(super) fn forward_override(
        &mut self,
        key: MembershipKey,
        ifindex: IfIndex,
        on: bool,
        out: &mut Vec<Effect>,
    ) {
        let SourceSel::Only(source) = key.source else {
            return;
        };
        let flow = FlowKey {
            group: key.group,
            source,
        };
        let Some(m) = self.mfes.get_mut(&flow) else {
            return;
        };
        m.edit_overrides(|o| {
            let (add, del) = if on {
                (&mut o.forward_on, &mut o.forward_off)
            } else {
                (&mut o.forward_off, &mut o.forward_on)
            };
            insert_sorted(add, ifindex);
            remove_sorted(del, ifindex);
        });
        self.refresh_oif(flow, ifindex, out);
    }

    pub(super) fn oif_wanted(
        &self,
        flow: FlowKey,
        iif: IfIndex,
        mfe: Option<&Mfe>,
        k: IfIndex,
    ) -> bool {
        if k == iif || !self.ifaces.get(&k).is_some_and(|i| i.up && !i.silenced) {
            return false;
        }
        if let Some(m) = mfe {
            if contains_sorted(m.disabled(), k) || contains_sorted(m.forward_off(), k) {
                return false;
            }
            if contains_sorted(m.forward_on(), k) {
                return true;
            }
        }
        self.members
            .has(MembershipKey::only(flow.source, flow.group), k)
            || (self.members.has(MembershipKey::any(flow.group), k)
                && !self
                    .members
                    .has(MembershipKey::except(flow.source, flow.group), k))
    }

    /// Refreshes `ifindex` in every entry the key can affect.
    pub(super) fn refresh_key(
        &mut self,
        key: MembershipKey,
        ifindex: IfIndex,
        out: &mut Vec<Effect>,
    ) {
        match key.source {
            SourceSel::Any => {
                if !self.mfe_groups.contains_key(&key.group) {
                    return;
                }
                let (lo, hi) = FlowKey::group_range(key.group);
                let flows: Vec<FlowKey> = self.mfes.range(lo..=hi).map(|(&f, _)| f).collect();
                for flow in flows {
                    self.refresh_oif(flow, ifindex, out);
                }
            }
            SourceSel::Only(source) | SourceSel::Except(source) => {
                let flow = FlowKey {
                    group: key.group,
                    source,
                };
                self.refresh_oif(flow, ifindex, out);
            }
        }
    }

    /// Brings `ifindex` in the entry's outgoing list in line with the rule;
    /// on a change emits `MfeChanged` and, when the list turns empty or
    /// non-empty, the iif owner's alert with `member_update = false`.
    pub(super) fn refresh_oif(&mut self, flow: FlowKey, ifindex: IfIndex, out: &mut Vec<Effect>) {
        let Some(m) = self.mfes.get(&flow) else {
            return;
        };
        let want = self.oif_wanted(flow, m.iif, Some(m), ifindex);
        if want == contains_sorted(&m.oifs, ifindex) {
            return;
        }
        let to = self.iface_owner(m.iif);
        let Some(m) = self.mfes.get_mut(&flow) else {
            return;
        };
        let was_empty = m.oifs.is_empty();
        if want {
            insert_sorted(&mut m.oifs, ifindex);
        } else {
            remove_sorted(&mut m.oifs, ifindex);
        }
        let (iif, oifs) = (m.iif, m.oifs.clone());
        let now_empty = oifs.is_empty();
        out.push(Effect::MfeChanged { flow, iif, oifs });
        let key = MembershipKey::only(flow.source, flow.group);
        match (to, was_empty, now_empty) {
            (Some(to), true, false) => out.push(Effect::JoinAlert {
                to,
                key,
                member_update: false,
            }),
            (Some(to), false, true) => out.push(Effect::PruneAlert {
                to,
                key,
                ifindex,
                member_delete: false,
            }),
            _ => {}
        }
    }
}
