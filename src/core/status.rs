//! Read-only views of the daemon's state, as shown by `mgmctl` (tables) and
//! sent over the control socket (JSON). Built by the router, rendered by
//! the control tool; no logic lives here.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::core::types::{IfIndex, MembershipKey, VifIndex};

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
    pub querier_addr: Option<Ipv4Addr>,
    /// Seconds until the next general query (when querier).
    pub next_query_s: Option<f64>,
    /// Seconds until the Other Querier Present timer expires.
    pub other_querier_expires_s: Option<f64>,
    pub groups: usize,
    /// Packet counters: received/sent by type, drops by reason.
    pub counters: std::collections::BTreeMap<String, u64>,
}

/// One group on one interface, with its sources.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupView {
    pub interface: String,
    pub ifindex: IfIndex,
    pub group: Ipv4Addr,
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
    pub source: Ipv4Addr,
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
    pub source: Ipv4Addr,
    pub group: Ipv4Addr,
    pub iif: String,
    pub oifs: Vec<String>,
    /// Owner of the incoming interface.
    pub iif_owner: Option<String>,
    pub upstream: Option<Ipv4Addr>,
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProtocolView {
    pub name: String,
    pub interfaces: Vec<String>,
    pub detail: serde_json::Value,
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
    /// WRONGVIF upcalls.
    pub wrong_interface: u64,
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
