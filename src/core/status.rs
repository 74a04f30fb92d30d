//! Read-only views of the daemon's state, as shown by `mgmctl` (tables) and
//! sent over the control socket (JSON). Built by the router, rendered by
//! the control tool; no logic lives here.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::core::mroute::Drift;
use crate::core::protocol::ProtoStatus;
use crate::core::protocol::status::SectionLayout;
use crate::core::types::{IfIndex, Iface, MembershipKey, VifIndex};

/// One configured interface (or one the kernel has that a protocol uses).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InterfaceView {
    pub name: String,
    /// `None` while the interface is pending (configured, not in the kernel).
    pub ifindex: Option<IfIndex>,
    /// "pending", "up" or "down".
    pub state: String,
    /// The routing protocol owning the interface's multicast, if any.
    pub owner: Option<String>,
    /// "off", "enabled" or "disabled" (inside an ownership change).
    pub igmp: String,
    pub vif: Option<VifIndex>,
    pub addrs: Vec<String>,
    pub querier: Option<QuerierView>,
}

/// The IGMP querier state of one interface.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuerierView {
    pub version: u8,
    /// Configured to take part in the election.
    pub querier_enabled: bool,
    /// We are the elected querier.
    pub is_querier: bool,
    /// The elected querier's address, if known.
    pub querier_addr: Option<IpAddr>,
    /// Seconds until the next general query (when querier).
    pub next_query_s: Option<f64>,
    /// Seconds until the Other Querier Present timer expires.
    pub other_querier_expires_s: Option<f64>,
    pub groups: usize,
    /// Packet counters: received/sent by type, drops by reason.
    pub counters: BTreeMap<String, u64>,
}

/// One group on one interface, with its sources.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupView {
    pub interface: String,
    pub ifindex: IfIndex,
    pub group: IpAddr,
    /// "include", "exclude" (IGMPv3) or "v1"/"v2" compatibility.
    pub mode: String,
    pub expires_s: Option<f64>,
    pub sources: Vec<SourceView>,
    /// The memberships the manager holds for this group here, with the
    /// component they are attributed to.
    pub attributed: Vec<AttributionView>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SourceView {
    pub source: IpAddr,
    pub expires_s: Option<f64>,
    /// Forwarded (timer running) or blocked (EXCLUDE list).
    pub forwarding: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttributionView {
    pub key: MembershipKey,
    pub added_by: String,
    pub component: String,
}

/// One forwarding entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RouteView {
    pub source: IpAddr,
    pub group: IpAddr,
    pub iif: String,
    pub oifs: Vec<String>,
    /// Owner of the incoming interface.
    pub iif_owner: Option<String>,
    pub upstream: Option<IpAddr>,
    pub packets: u64,
    pub bytes: u64,
    pub wrong_if: u64,
    pub age_s: f64,
    /// Seconds since the entry last carried traffic.
    pub idle_s: f64,
    /// Installed in the kernel (false when the VIF limit was hit).
    pub installed: bool,
    /// A drop entry: the flow has no incoming interface of ours (or its
    /// owner refused it), so the kernel drops it without asking again.
    #[serde(default)]
    pub refused: bool,
}

/// One registered routing protocol.
///
/// In JSON, `detail` is the protocol's status as a plain object and
/// `layout` the order and shape of its sections, which is how a reader
/// that knows no protocol gets the typed status back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(into = "ProtocolWire", from = "ProtocolWire")]
pub struct ProtocolView {
    pub name: String,
    pub interfaces: Vec<String>,
    pub detail: ProtoStatus,
}

/// [`ProtocolView`] as it travels.
#[derive(Serialize, Deserialize)]
struct ProtocolWire {
    name: String,
    interfaces: Vec<String>,
    detail: serde_json::Value,
    #[serde(default)]
    layout: Vec<SectionLayout>,
}

impl From<ProtocolView> for ProtocolWire {
    fn from(p: ProtocolView) -> ProtocolWire {
        ProtocolWire {
            layout: p.detail.layout(),
            detail: serde_json::to_value(&p.detail).unwrap_or_default(),
            name: p.name,
            interfaces: p.interfaces,
        }
    }
}

impl From<ProtocolWire> for ProtocolView {
    fn from(w: ProtocolWire) -> ProtocolView {
        ProtocolView {
            detail: ProtoStatus::from_json(&w.layout, &w.detail),
            name: w.name,
            interfaces: w.interfaces,
        }
    }
}

/// The router's own counters (`mgmctl ping`, `show counters`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterView {
    /// Flows the kernel reported (NOCACHE upcalls acted on).
    pub new_flows: u64,
    /// New flows with no incoming interface of ours (drop entries).
    pub flows_refused: u64,
    /// New flows whose RPF question the owner did not answer in time.
    pub rpf_unanswered: u64,
    /// Route changes that made flows be decided again.
    pub rpf_changes: u64,
    /// NOCACHE upcalls for a VIF with no interface of ours (ignored).
    pub upcalls_unknown: u64,
    /// Completed ownership changes.
    pub ownership_moves: u64,
    /// Configurations applied (reloads and runtime edits).
    pub reloads: u64,
    /// Configurations refused (the running one stayed).
    pub reloads_refused: u64,
    /// Kernel changes refused (each is retried).
    pub kernel_errors: u64,
    /// Interfaces that got no VIF (the kernel's per-table limit).
    pub vif_limit_reached: u64,
    /// Manager operations refused (a component acted out of turn).
    pub manager_errors: u64,
    /// Inputs that caused too many effects (a loop between components).
    pub effect_loops: u64,
    /// IGMP messages we sent and received back.
    pub igmp_rx_own: u64,
    /// IGMP messages on interfaces without IGMP.
    pub igmp_rx_not_enabled: u64,
    /// IGMP messages not sent: the interface has no IPv4 address.
    pub igmp_tx_no_address: u64,
    /// IGMP membership changes held back during an ownership change
    /// (re-added at its end).
    pub igmp_changes_while_disabled: u64,
    /// Audits of the kernel's multicast routing table (periodic, and
    /// `mgmctl verify`).
    pub kernel_audits: u64,
    /// Differences between the kernel's table and mgmd's the audits found
    /// and repaired.
    pub kernel_drift: u64,
}

/// `mgmctl verify`: the kernel's multicast routing table against what
/// mgmd believes it programmed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditView {
    /// VIFs and entries mgmd believes the kernel holds.
    pub vifs: usize,
    pub entries: usize,
    /// VIFs and entries the kernel holds.
    pub kernel_vifs: usize,
    pub kernel_entries: usize,
    /// Every difference, VIFs first, then entries in flow order.
    pub differences: Vec<Drift<Iface>>,
    /// The differences were repaired (`--repair`).
    pub repaired: bool,
}

/// The owner of an interface after `take` or `release`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerView {
    pub interface: String,
    pub owner: Option<String>,
}

/// The router's state in three numbers (service status line, metrics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Forwarding entries with at least one outgoing interface.
    pub flows_forwarding: usize,
    /// Groups some interface has members for.
    pub groups: usize,
    /// Interfaces mgmd uses that are up.
    pub interfaces_up: usize,
}

/// What a reload (or a runtime edit) changed, section by section.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadReport {
    pub changes: Vec<ConfigChange>,
    /// What the new configuration does that does nothing useful.
    pub warnings: Vec<String>,
}

/// One change of the configuration: where, and what.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigChange {
    /// "global", "igmp eth1", "interface eth1", "static", "proxy".
    pub section: String,
    pub change: String,
}

/// The running configuration as `mgmctl show config` shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConfigView {
    /// The validated configuration (what mgmd runs on).
    pub config: serde_json::Value,
    /// Runtime edits since the last reload, in order, as they would be
    /// written in the file.
    pub runtime_edits: Vec<String>,
}

/// Every reason an IGMP message or record is dropped for, as
/// [`IgmpCountersView::drops`] lists them (zeros too): the decoder's
/// ([`crate::core::igmp::DecodeError::reason`]) and the router's checks
/// ([`crate::core::igmp::IgmpStats`]). A reason missing here is still
/// shown once counted; `tests/counters.rs` checks the list is complete.
pub const IGMP_DROP_REASONS: &[&str] = &[
    // The decoder.
    "too_short",
    "bad_checksum",
    "bad_length",
    "count_overrun",
    "unknown_type",
    // The router's checks.
    "bad_ttl",
    "no_router_alert",
    "own_address",
    "source_not_on_subnet",
    "unsupported_version",
    "query_from_unspecified",
    "bad_group",
    "bad_destination",
    "link_local_group",
    "group_denied",
    "ssm_asm_report",
    "ssm_exclude_record",
    "unknown_record_type",
    "bad_source",
    "compat_disabled",
    "leave_in_v1_compat",
    "to_in_in_v1_compat",
    "block_in_compat",
];

/// The IGMP message types counted in each direction, as
/// [`IgmpCountersView::rx`] and [`IgmpCountersView::tx`] list them.
pub const IGMP_MESSAGE_TYPES: &[&str] = &[
    "v1_query",
    "v2_query",
    "v3_query",
    "v1_report",
    "v2_report",
    "v2_leave",
    "v3_report",
];

/// The IGMP counters of one interface, every key present (zeros too).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IgmpCountersView {
    /// Messages received, by type ([`IGMP_MESSAGE_TYPES`]).
    pub rx: BTreeMap<String, u64>,
    /// Messages sent, by type.
    pub tx: BTreeMap<String, u64>,
    /// Queries sent, by kind: `general`, `group`, `group_source`.
    pub queries_sent: BTreeMap<String, u64>,
    /// IGMPv3 group records received (valid or not).
    pub rx_records: u64,
    /// Messages and records dropped, by reason ([`IGMP_DROP_REASONS`]).
    pub drops: BTreeMap<String, u64>,
    /// New groups refused by `max-groups`.
    pub refused_groups: u64,
    /// New sources refused by `max-sources-per-group`.
    pub refused_sources: u64,
    /// Queries of an older version than the interface's (a warning each).
    pub older_version_queries: u64,
    /// Queries of a newer version than the interface's.
    pub newer_version_queries: u64,
}

/// The counters of one interface mgmd uses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceCountersView {
    pub interface: String,
    pub ifindex: IfIndex,
    /// Its VIF, if it has one (the daemon adds the VIF's kernel counters).
    pub vif: Option<VifIndex>,
    /// `None` where IGMP does not run.
    pub igmp: Option<IgmpCountersView>,
}

/// `show counters`: the router's counters and those of every interface it
/// uses (or of the one asked for), in interface name order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountersView {
    pub router: CounterView,
    pub interfaces: Vec<InterfaceCountersView>,
}

/// What the metrics endpoint exports of the router: its counters and the
/// state worth a gauge. Read without an input (it changes nothing).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricsView {
    pub counters: CountersView,
    /// Every interface mgmd uses, in name order.
    pub interfaces: Vec<InterfaceStateView>,
    /// Forwarding entries with at least one outgoing interface.
    pub entries_forwarding: usize,
    /// Entries without one: drop entries (refused flows, or no receivers).
    pub entries_drop: usize,
}

/// The state of one interface, for gauges.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceStateView {
    pub interface: String,
    pub up: bool,
    /// The routing protocol owning it, if any.
    pub owner: Option<String>,
    /// "off", "enabled" or "disabled", as `show interfaces` says.
    pub igmp_state: String,
    /// The IGMP querier's state where IGMP runs.
    pub igmp: Option<IgmpStateView>,
}

/// The IGMP state of one interface in numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IgmpStateView {
    /// The version the interface runs (1, 2 or 3).
    pub version: u8,
    /// We are the elected querier.
    pub is_querier: bool,
    /// Groups with members.
    pub groups: usize,
    /// Sources forwarded (INCLUDE lists, and EXCLUDE-mode sources with a
    /// running timer).
    pub sources_forwarding: usize,
    /// Sources blocked (EXCLUDE lists).
    pub sources_blocked: usize,
}
