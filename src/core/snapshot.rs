//! The state one mgmd process hands to the next: what it learned from
//! hosts (IGMP groups per interface) and from the kernel (the flows it
//! forwards), and, when it hands over the multicast routing socket itself,
//! the kernel's VIFs and entries as it last applied them.
//!
//! The daemon writes it under the runtime directory (at most once a
//! second when it changed, and at shutdown) and gives it to the next
//! router as [`crate::core::input::Input::Restore`], so that a restart is
//! recorded and replayed like any other input. The router ignores a
//! snapshot of another format, of another configuration, or older than
//! the longest Group Membership Interval (nothing in it would still hold),
//! and says why.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::core::igmp::SavedGroup;
use crate::core::mroute::KernelTable;
use crate::core::types::{FlowKey, IfIndex, VifIndex, VifSet};

/// The format written; another one is ignored.
pub const FORMAT: u32 = 1;

/// Everything handed over.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RouterState {
    pub format: u32,
    /// [`fingerprint`] of the configuration text the router ran on.
    pub config: String,
    /// When it was written (ms since the Unix epoch).
    pub written: u64,
    pub interfaces: Vec<SavedInterface>,
    pub flows: Vec<SavedFlow>,
    /// The kernel's VIFs and entries, when the multicast routing socket
    /// is handed over with the snapshot (a planned restart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<SavedKernel>,
}

/// The IGMP groups of one interface.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SavedInterface {
    pub ifindex: IfIndex,
    pub name: String,
    pub groups: Vec<SavedGroup>,
}

/// A flow as the kernel reported it: where it arrived and the route
/// towards its source (decided again on restore, as after a route change).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SavedFlow {
    pub flow: FlowKey,
    pub arrival: IfIndex,
    pub rpf: Option<IfIndex>,
    pub upstream: Option<IpAddr>,
}

/// The kernel's multicast routing table as the old process last applied
/// it (its kernel writer drained first).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SavedKernel {
    pub vifs: Vec<(VifIndex, IfIndex)>,
    pub entries: Vec<(FlowKey, VifIndex, VifSet)>,
}

impl SavedKernel {
    /// The table as the kernel shows it (in interface terms), in VIF
    /// terms. An entry whose incoming VIF is gone is left out: the router
    /// does not hold it, and the audit removes it from the kernel.
    pub fn from_table(table: &KernelTable) -> SavedKernel {
        let vif_of: std::collections::BTreeMap<IfIndex, VifIndex> =
            table.vifs.iter().map(|v| (v.ifindex, v.vif)).collect();
        SavedKernel {
            vifs: table.vifs.iter().map(|v| (v.vif, v.ifindex)).collect(),
            entries: table
                .entries
                .iter()
                .filter_map(|e| {
                    let iif = *vif_of.get(&e.iif?)?;
                    let mut oifs = VifSet::EMPTY;
                    for o in e.oifs.iter().filter_map(|o| vif_of.get(o)) {
                        oifs.insert(*o);
                    }
                    Some((e.flow, iif, oifs))
                })
                .collect(),
        }
    }
}

/// What the router is given at start.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Restore {
    pub state: RouterState,
    /// [`fingerprint`] of the configuration the router runs on now.
    pub config: String,
    /// The wall clock when the input was made (ms since the Unix epoch).
    pub now: u64,
    /// The multicast routing socket was handed over: the kernel still
    /// holds `state.kernel`.
    pub adopted: bool,
}

/// A stable fingerprint of a configuration text (64-bit FNV-1a, hex):
/// equal texts, equal fingerprints, in every process and version.
pub fn fingerprint(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::mroute::{KernelEntry, KernelVif};

    #[test]
    fn a_kernel_table_in_vif_terms() {
        let flow = |g: &str| FlowKey {
            group: g.parse().unwrap(),
            source: std::net::Ipv4Addr::new(10, 0, 1, 2).into(),
        };
        let table = KernelTable {
            vifs: vec![
                KernelVif {
                    vif: VifIndex(0),
                    ifindex: IfIndex(7),
                },
                KernelVif {
                    vif: VifIndex(3),
                    ifindex: IfIndex(9),
                },
            ],
            entries: vec![
                KernelEntry {
                    flow: flow("239.1.1.1"),
                    iif: Some(IfIndex(7)),
                    oifs: vec![IfIndex(9)],
                },
                // Its incoming VIF is gone: not taken over.
                KernelEntry {
                    flow: flow("239.1.1.2"),
                    iif: None,
                    oifs: vec![IfIndex(9)],
                },
                // A drop entry.
                KernelEntry {
                    flow: flow("239.1.1.3"),
                    iif: Some(IfIndex(9)),
                    oifs: vec![],
                },
            ],
        };
        let saved = SavedKernel::from_table(&table);
        assert_eq!(
            saved.vifs,
            vec![(VifIndex(0), IfIndex(7)), (VifIndex(3), IfIndex(9))]
        );
        let mut to_lan = VifSet::EMPTY;
        to_lan.insert(VifIndex(3));
        assert_eq!(
            saved.entries,
            vec![
                (flow("239.1.1.1"), VifIndex(0), to_lan),
                (flow("239.1.1.3"), VifIndex(3), VifSet::EMPTY),
            ]
        );
    }

    #[test]
    fn fingerprints_are_stable_and_tell_texts_apart() {
        assert_eq!(fingerprint(""), "cbf29ce484222325");
        assert_eq!(fingerprint("a"), "af63dc4c8601ec8c");
        assert_ne!(fingerprint("[igmp]\n"), fingerprint("[igmp]\n\n"));
    }
}
