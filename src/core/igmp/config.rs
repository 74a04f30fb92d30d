//! Per-interface IGMP settings as the state machine sees them (validated;
//! the TOML side lives in `crate::config`). Defaults are the RFC 9776
//! section 8 ones; the derived defaults come from [`super::timers`].

use std::time::Duration;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use super::timers;

/// IGMP version an interface runs (router side).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum IgmpVersion {
    #[serde(rename = "1")]
    V1,
    #[serde(rename = "2")]
    V2,
    #[serde(rename = "3")]
    V3,
}

/// Validated IGMP settings of one interface. Section numbers are RFC
/// 9776's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IgmpIfConfig {
    /// Router-side version (default 3).
    pub version: IgmpVersion,
    /// Take part in querier election and query when elected. `false` =
    /// never querier: listen and learn only (shared LANs where another
    /// router must stay querier).
    pub querier: bool,
    /// Query Interval (8.2, default 125 s).
    #[serde(serialize_with = "crate::core::types::duration_text::serialize")]
    pub query_interval: Duration,
    /// Query Response Interval (8.3, default 10 s). Less than query_interval.
    #[serde(serialize_with = "crate::core::types::duration_text::serialize")]
    pub query_response_interval: Duration,
    /// Robustness Variable (8.1, default 2, 1..=7 on the wire).
    pub robustness: u8,
    /// Last Member Query Interval (8.8, default 1 s).
    #[serde(serialize_with = "crate::core::types::duration_text::serialize")]
    pub last_member_query_interval: Duration,
    /// Last Member Query Count (8.9, default = robustness).
    pub last_member_query_count: u8,
    /// Startup Query Interval (8.6, default query_interval / 4).
    #[serde(serialize_with = "crate::core::types::duration_text::serialize")]
    pub startup_query_interval: Duration,
    /// Startup Query Count (8.7, default = robustness).
    pub startup_query_count: u8,
    /// v2: drop a group at once on a Leave (single-receiver links);
    /// v3: explicit host tracking, drop a group/source when its last
    /// tracked host leaves.
    pub immediate_leave: bool,
    /// Cap on groups on this interface; further joins are refused and
    /// counted (`None`: no cap). Default [`DEFAULT_MAX_GROUPS`].
    pub max_groups: Option<u32>,
    /// Cap on sources per group; further sources are refused and counted.
    pub max_sources_per_group: Option<u32>,
    /// Drop IGMP messages that lack the Router Alert option (section 4
    /// says every message is sent with it, but nothing asks a receiver to
    /// drop those without; off by default, see `docs/igmp.md`, "Checks and
    /// drop counters").
    pub require_router_alert: bool,
    /// Drop reports whose source is outside the interface's subnets
    /// (0.0.0.0 excepted), RFC 9776 9.2.
    pub check_source_subnet: bool,
    /// SSM range: v1/v2 reports for these groups are ignored on v3
    /// interfaces (RFC 4607). Default 232.0.0.0/8.
    pub ssm_range: Vec<Ipv4Net>,
    /// Serve hosts of older versions (RFC 9776 7.3.2, RFC 2236 5). `false`
    /// is RFC 9776 7.3.1's "configuration option to disable use of
    /// compatibility mode to allow networks to operate only in SSM mode":
    /// reports and leaves of a version older than `version` are ignored,
    /// so no group falls back to an older version's rules (on a v3
    /// interface every group keeps its source filters). Default on, as
    /// 7.3.1 asks ("SHOULD be disabled by default").
    pub compatibility_mode: bool,
    /// If non-empty, only groups inside these prefixes are learned.
    pub allow_groups: Vec<Ipv4Net>,
    /// Groups inside these prefixes are never learned (checked after allow).
    pub deny_groups: Vec<Ipv4Net>,
    /// Max Resp Time of the recovery query: the general query sent when
    /// the interface dropped input, so that hosts report again at once
    /// (default 1 s; `None` = never).
    pub recovery_query_response_interval: Option<Duration>,
}

/// Groups one interface learns at most unless `max-groups` says otherwise:
/// more than a real LAN carries (an IPTV line-up or a market-data feed set
/// is hundreds to a few thousand groups; the Linux bridge's snooping table
/// holds 4,096 by default, `multicast_hash_max`), and it bounds what one
/// misbehaving or hostile host can make mgmd hold (about 1 KB of memory
/// per group with a flow, so about 4 MB per interface).
pub const DEFAULT_MAX_GROUPS: u32 = 4096;

impl Default for IgmpIfConfig {
    fn default() -> Self {
        let query_interval = Duration::from_secs(125);
        let robustness = 2;
        IgmpIfConfig {
            version: IgmpVersion::V3,
            querier: true,
            query_interval,
            query_response_interval: Duration::from_secs(10),
            robustness,
            last_member_query_interval: Duration::from_secs(1),
            last_member_query_count: timers::default_last_member_query_count(robustness),
            startup_query_interval: timers::default_startup_query_interval(query_interval),
            startup_query_count: timers::default_startup_query_count(robustness),
            immediate_leave: false,
            max_groups: Some(DEFAULT_MAX_GROUPS),
            max_sources_per_group: None,
            require_router_alert: false,
            check_source_subnet: true,
            ssm_range: vec!["232.0.0.0/8".parse().expect("valid literal prefix")],
            compatibility_mode: true,
            allow_groups: Vec::new(),
            deny_groups: Vec::new(),
            recovery_query_response_interval: Some(Duration::from_secs(1)),
        }
    }
}
