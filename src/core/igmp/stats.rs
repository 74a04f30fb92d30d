//! Counters, status snapshot and debug events of one IGMP interface.
//! Plain data with `Serialize`, rendered by the control server.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use serde::Serialize;

use super::config::IgmpVersion;
use super::group::FilterMode;
use super::packet::QueryVersion;
use crate::core::types::GroupAddr;

// ===== counters =====

/// Messages by kind, in one direction.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MsgCounters {
    pub v1_query: u64,
    pub v2_query: u64,
    pub v3_query: u64,
    pub v1_report: u64,
    pub v2_report: u64,
    pub v2_leave: u64,
    pub v3_report: u64,
}

impl MsgCounters {
    pub(crate) fn bump(&mut self, kind: &str) {
        let c = match kind {
            "v1_query" => &mut self.v1_query,
            "v2_query" => &mut self.v2_query,
            "v3_query" => &mut self.v3_query,
            "v1_report" => &mut self.v1_report,
            "v2_report" => &mut self.v2_report,
            "v2_leave" => &mut self.v2_leave,
            _ => &mut self.v3_report,
        };
        *c += 1;
    }
}

/// Counters of one interface. Drop reasons are stable labels: decode
/// errors ([`super::packet::DecodeError::reason`]) and the router's
/// checks (`bad_ttl`, `no_router_alert`, `own_address`,
/// `source_not_on_subnet`, `bad_destination`, `bad_group`,
/// `link_local_group`, `group_denied`, `ssm_asm_report`,
/// `ssm_exclude_record`, `unknown_record_type`, `bad_source`,
/// `unsupported_version`, `query_from_unspecified`, `compat_disabled`,
/// `leave_in_v1_compat`, `to_in_in_v1_compat`, `block_in_compat`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct IgmpStats {
    pub rx: MsgCounters,
    pub tx: MsgCounters,
    /// IGMPv3 group records received (valid or not).
    pub rx_records: u64,
    /// General queries sent.
    pub tx_general_queries: u64,
    /// Group-specific queries sent.
    pub tx_group_queries: u64,
    /// Group-and-source-specific queries sent.
    pub tx_group_source_queries: u64,
    /// Whole messages or single records dropped, by reason.
    pub drops: BTreeMap<&'static str, u64>,
    /// New groups refused by `max_groups`.
    pub refused_groups: u64,
    /// New sources refused by `max_sources_per_group`.
    pub refused_sources: u64,
    /// Older-version queries that call for a warning (RFC 9776 7.3.1: an
    /// IGMPv1 query or IGMPv2 general query on a v3 interface; RFC 2236 4:
    /// an IGMPv1 query on a v2 interface). The network should be configured
    /// for the oldest version present.
    pub older_version_queries: u64,
    /// Queries newer than the interface's version (RFC 9776 7.3.1: a v2 or
    /// v3 query on a v1 interface, a v3 query on a v2 interface).
    pub newer_version_queries: u64,
    /// Input the interface dropped (its receive drop counters, or the
    /// routing socket's overflow), as reported to IGMP.
    pub input_drops: u64,
    /// Recovery queries sent: general queries with the short
    /// `recovery-query-response-interval`, after input drops.
    pub tx_recovery_queries: u64,
}

impl IgmpStats {
    pub(crate) fn drop(&mut self, reason: &'static str) {
        *self.drops.entry(reason).or_insert(0) += 1;
    }
}

// ===== status =====

/// Snapshot of one interface's IGMP state; durations are relative to the
/// `now` given to [`super::IgmpRouter::status`].
#[derive(Clone, Debug, Serialize)]
pub struct IgmpIfStatus {
    pub version: IgmpVersion,
    pub address: Option<Ipv4Addr>,
    /// True when this router is the querier.
    pub is_querier: bool,
    /// The querier's address: ours, the other querier's, or none.
    pub querier: Option<Ipv4Addr>,
    /// Other Querier Present timer.
    pub other_querier_expires: Option<Duration>,
    pub next_general_query: Option<Duration>,
    pub startup_queries_left: u8,
    /// Robustness and query interval in use (learned from the querier
    /// when not querier, RFC 9776 4.1.6/4.1.7).
    pub robustness: u8,
    pub query_interval: Duration,
    pub group_membership_interval: Duration,
    pub groups: Vec<GroupStatus>,
    pub stats: IgmpStats,
}

#[derive(Clone, Debug, Serialize)]
pub struct GroupStatus {
    pub group: GroupAddr,
    pub mode: FilterMode,
    /// Group Compatibility Mode (RFC 9776 7.3.2).
    pub compat: IgmpVersion,
    /// Group timer (EXCLUDE mode).
    pub expires: Option<Duration>,
    pub v1_host_expires: Option<Duration>,
    pub v2_host_expires: Option<Duration>,
    pub sources: Vec<SourceStatus>,
    /// Hosts tracked in EXCLUDE mode (explicit tracking).
    pub reporters: Vec<Ipv4Addr>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SourceStatus {
    pub source: Ipv4Addr,
    /// None: timer 0 (blocked, EXCLUDE mode only).
    pub expires: Option<Duration>,
    pub forwarding: bool,
    /// Hosts tracked as including this source (explicit tracking).
    pub reporters: Vec<Ipv4Addr>,
}

// ===== debug events =====

/// Structured events, returned as `IgmpAction::Log`. The two version
/// warnings are operator warnings (RFC 9776 7.3.1 asks for them, already
/// rate-limited here); the others are state changes for the debug log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IgmpLog {
    /// This router became querier.
    QuerierUp {
        address: Ipv4Addr,
    },
    /// This router stopped being querier; `other` is the querier that
    /// won, if any.
    QuerierDown {
        other: Option<Ipv4Addr>,
    },
    /// A lower-address querier was heard while this router still had
    /// last-member queries to send: it keeps the role until they are sent
    /// (RFC 2236 3), then `QuerierDown` follows.
    QuerierChangeDeferred {
        other: Ipv4Addr,
    },
    /// Warning: a query of an older version than the interface's was
    /// heard (RFC 9776 7.3.1, RFC 2236 4): the routers of this link are not
    /// configured for the same version. At most one per
    /// [`super::router::VERSION_WARNING_INTERVAL`]; `suppressed` counts the
    /// ones held back since the previous warning.
    OlderVersionQuerier {
        source: Ipv4Addr,
        version: QueryVersion,
        configured: IgmpVersion,
        suppressed: u64,
    },
    /// Warning: a query of a newer version than the interface's was heard
    /// (RFC 9776 7.3.1). Rate-limited like `OlderVersionQuerier`.
    NewerVersionQuerier {
        source: Ipv4Addr,
        version: QueryVersion,
        configured: IgmpVersion,
        suppressed: u64,
    },
    /// Warning: a join of `group` was refused because the interface holds
    /// `max-groups` groups. Rate-limited like `OlderVersionQuerier`.
    GroupRefused {
        group: GroupAddr,
        limit: u32,
        suppressed: u64,
    },
    /// A new configuration lowered `max-groups` below the groups held:
    /// `removed` groups (the highest addresses) were dropped.
    GroupLimitApplied {
        removed: usize,
        limit: u32,
    },
    GroupCreated {
        group: GroupAddr,
    },
    GroupDeleted {
        group: GroupAddr,
    },
    ModeChanged {
        group: GroupAddr,
        mode: FilterMode,
    },
    CompatChanged {
        group: GroupAddr,
        compat: IgmpVersion,
    },
    /// The interface dropped `drops` input messages since the last
    /// recovery query (reports may be among them): a general query with
    /// Max Resp Time `max_resp` asks every host to report again.
    RecoveryQuery {
        drops: u64,
        max_resp: std::time::Duration,
    },
}
