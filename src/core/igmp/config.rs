//! Per-interface IGMP settings as the state machine sees them (validated;
//! the TOML side lives in `crate::config`). Defaults are the RFC 3376 ones.

use std::time::Duration;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

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

/// Validated IGMP settings of one interface.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IgmpIfConfig {
    /// Router-side version (RFC 3376 default 3).
    pub version: IgmpVersion,
    /// Take part in querier election and query when elected. `false` =
    /// never querier: listen and learn only (shared LANs where another
    /// router must stay querier).
    pub querier: bool,
    /// Query Interval (RFC 3376 8.2, default 125 s).
    pub query_interval: Duration,
    /// Query Response Interval (8.3, default 10 s). Less than query_interval.
    pub query_response_interval: Duration,
    /// Robustness Variable (8.1, default 2, 1..=7 on the wire).
    pub robustness: u8,
    /// Last Member Query Interval (8.8, default 1 s).
    pub last_member_query_interval: Duration,
    /// Last Member Query Count (8.9, default = robustness).
    pub last_member_query_count: u8,
    /// Startup Query Interval (8.6, default query_interval / 4).
    pub startup_query_interval: Duration,
    /// Startup Query Count (8.7, default = robustness).
    pub startup_query_count: u8,
    /// v2: drop a group at once on a Leave (single-receiver links);
    /// v3: explicit host tracking, drop a group/source when its last
    /// tracked host leaves.
    pub immediate_leave: bool,
    /// Cap on groups on this interface; further joins are refused and counted.
    pub max_groups: Option<u32>,
    /// Cap on sources per group; further sources are refused and counted.
    pub max_sources_per_group: Option<u32>,
    /// Drop IGMP messages that lack the Router Alert option.
    pub require_router_alert: bool,
    /// Drop reports whose source is outside the interface's subnets
    /// (0.0.0.0 excepted), RFC 3376 9.2.
    pub check_source_subnet: bool,
    /// SSM range: v1/v2 reports for these groups are ignored on v3
    /// interfaces (RFC 4607). Default 232.0.0.0/8.
    pub ssm_range: Vec<Ipv4Net>,
    /// If non-empty, only groups inside these prefixes are learned.
    pub allow_groups: Vec<Ipv4Net>,
    /// Groups inside these prefixes are never learned (checked after allow).
    pub deny_groups: Vec<Ipv4Net>,
}

impl Default for IgmpIfConfig {
    fn default() -> Self {
        let query_interval = Duration::from_secs(125);
        IgmpIfConfig {
            version: IgmpVersion::V3,
            querier: true,
            query_interval,
            query_response_interval: Duration::from_secs(10),
            robustness: 2,
            last_member_query_interval: Duration::from_secs(1),
            last_member_query_count: 2,
            startup_query_interval: query_interval / 4,
            startup_query_count: 2,
            immediate_leave: false,
            max_groups: None,
            max_sources_per_group: None,
            require_router_alert: false,
            check_source_subnet: true,
            ssm_range: vec!["232.0.0.0/8".parse().expect("valid literal prefix")],
            allow_groups: Vec::new(),
            deny_groups: Vec::new(),
        }
    }
}
