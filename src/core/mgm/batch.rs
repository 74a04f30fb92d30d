//! Net change over a batch of operations. The effects of an ownership change
//! are recorded step by step (disable, flush, enable, re-adds), but the
//! kernel and the protocols act on what really changed between the start
//! and the end of the batch: a receiver IGMP still holds sees no gap.

use std::collections::BTreeMap;

use serde::Serialize;

use super::mfe::MfeRoute;
use crate::core::types::{ComponentId, FlowKey, MembershipKey};

/// What a batch really changed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NetChange {
    /// Forwarding entries whose route differs from before the batch, in
    /// flow order (group, then source). `before: None` = created,
    /// `after: None` = deleted.
    pub mfes: Vec<MfeDelta>,
    /// Alerts a component would have got had the batch been one atomic
    /// step, ordered by key, then recipient, membership alerts before
    /// forwarding-entry alerts.
    pub alerts: Vec<NetAlert>,
}

impl NetChange {
    pub fn is_empty(&self) -> bool {
        self.mfes.is_empty() && self.alerts.is_empty()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MfeDelta {
    pub flow: FlowKey,
    pub before: Option<MfeRoute>,
    pub after: Option<MfeRoute>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlertKind {
    Join,
    Prune,
}

/// A net join or prune alert. `member_update` as in the effects: true for a
/// change of membership, false for a forwarding entry's outgoing list
/// turning empty or non-empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct NetAlert {
    pub to: ComponentId,
    pub key: MembershipKey,
    pub kind: AlertKind,
    pub member_update: bool,
}

/// The state a batch saw first, per key and per flow touched.
#[derive(Clone, Debug, Default)]
pub(super) struct Batch {
    /// Every change of a key's holders, in the order made (keys packed,
    /// see [`super::membership::pack`]). Kept as a log rather than a map:
    /// appending is cheaper than a hash insert per change, and the changes
    /// of a batch come in a few key-ordered runs (an interface is flushed,
    /// then refilled, in key order), which a stable sort merges in linear
    /// time.
    keys: Vec<KeyChange>,
    /// Route of the flow before its first change in the batch.
    pub(super) mfes: BTreeMap<FlowKey, Option<MfeRoute>>,
}

/// Components holding a key before its first change in the batch and after
/// its latest one. A key's holders change only when an entry for it appears
/// or goes away (an interface's owner changes only once it holds nothing),
/// and the change already computes both, so the end of the batch needs no
/// lookups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct KeyChange {
    pub(super) key: u64,
    pub(super) before: Holders,
    pub(super) after: Holders,
}

impl Batch {
    /// Records that the holders of `key` went from `before` to `after`.
    pub(super) fn note_key(&mut self, key: u64, before: Holders, after: Holders) {
        self.keys.push(KeyChange { key, before, after });
    }

    /// The keys whose holders differ from before the batch (the `before`
    /// of their first change, the `after` of their last), in key order.
    pub(super) fn changed_keys(&mut self) -> Vec<KeyChange> {
        let mut log = std::mem::take(&mut self.keys);
        // Stable: a key's changes stay in the order made.
        log.sort_by_key(|c| c.key);
        log.dedup_by(|later, kept| {
            let same = later.key == kept.key;
            if same {
                kept.after = later.after;
            }
            same
        });
        log.retain(|c| c.before != c.after);
        log
    }
}

/// Components holding a key, as far as the alert rule needs to know.
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

// ===== helper functions =====

/// `others(x, k)` of the alert rule: some component other than `x` holds
/// the key. Two distinct holders always include one other than `x`, so
/// [`Holders`] says enough.
pub(super) fn others(present: Holders, x: ComponentId) -> bool {
    match present {
        Holders::None => false,
        Holders::One(y) => y != x,
        Holders::Many => true,
    }
}

/// The alert an outgoing list going from `before` to `after` owes the
/// incoming interface's owner, if any.
pub(super) fn oif_alert(before: Option<&MfeRoute>, after: &MfeRoute) -> Option<AlertKind> {
    match before {
        Some(b) if b.iif == after.iif => match (b.oifs.is_empty(), after.oifs.is_empty()) {
            (true, false) => Some(AlertKind::Join),
            (false, true) => Some(AlertKind::Prune),
            _ => None,
        },
        _ if after.oifs.is_empty() => Some(AlertKind::Prune),
        _ => Some(AlertKind::Join),
    }
}

// ===== tests =====

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::types::{IfIndex, ProtoId};

    #[test]
    fn others_ignores_the_component_itself() {
        let dv = ComponentId::Protocol(ProtoId(1));
        assert!(!others(Holders::None, dv));
        assert!(!others(Holders::One(dv), dv));
        assert!(others(Holders::One(dv), ComponentId::Igmp));
        assert!(others(Holders::None.add(ComponentId::Igmp).add(dv), dv));
    }

    #[test]
    fn holders_fold() {
        let dv = ComponentId::Protocol(ProtoId(1));
        let h = Holders::None.add(dv).add(dv);
        assert_eq!(h, Holders::One(dv));
        assert!(h.only_maybe(dv));
        assert!(!h.only_maybe(ComponentId::Igmp));
        assert_eq!(h.add(ComponentId::Igmp), Holders::Many);
        assert!(Holders::None.only_maybe(dv));
    }

    #[test]
    fn batch_keeps_first_before_and_last_after() {
        let dv = ComponentId::Protocol(ProtoId(1));
        let one = Holders::One(ComponentId::Igmp);
        let mut b = Batch::default();
        b.note_key(9, one, Holders::None);
        b.note_key(3, Holders::None, Holders::One(dv));
        b.note_key(9, Holders::None, one);
        b.note_key(5, Holders::None, Holders::Many);
        b.note_key(5, Holders::Many, Holders::One(dv));
        let changed: Vec<_> = b
            .changed_keys()
            .into_iter()
            .map(|c| (c.key, c.before, c.after))
            .collect();
        // Key 9 is back where it started.
        assert_eq!(
            changed,
            vec![
                (3, Holders::None, Holders::One(dv)),
                (5, Holders::None, Holders::One(dv)),
            ]
        );
    }

    #[test]
    fn oif_alert_follows_emptiness() {
        let r = |iif: u32, oifs: &[u32]| MfeRoute {
            iif: IfIndex(iif),
            oifs: oifs.iter().map(|&i| IfIndex(i)).collect(),
        };
        assert_eq!(
            oif_alert(Some(&r(1, &[])), &r(1, &[2])),
            Some(AlertKind::Join)
        );
        assert_eq!(
            oif_alert(Some(&r(1, &[2])), &r(1, &[])),
            Some(AlertKind::Prune)
        );
        assert_eq!(oif_alert(Some(&r(1, &[2])), &r(1, &[3])), None);
        assert_eq!(oif_alert(None, &r(1, &[])), Some(AlertKind::Prune));
        assert_eq!(
            oif_alert(Some(&r(1, &[2])), &r(4, &[2])),
            Some(AlertKind::Join)
        );
    }
}
