//! The derived timer values of RFC 9776 section 8, each computed here and
//! nowhere else. The configured values (Robustness Variable, Query
//! Interval, ...) live in [`super::IgmpIfConfig`]; what follows from them
//! is a function of this module, so that no two places can disagree.
//!
//! RFC 9776 Appendix C lists its changes from RFC 3376. Among them, the
//! Group Membership Interval gained a second Query Response Interval, so
//! it no longer equals the Older Host Present Interval (RFC 3376 had both
//! at RV x QI + QRI): the two are separate functions here.

use std::time::Duration;

// ===== Timers =====

/// The protocol variables in use on an interface at one moment: the
/// router's own, or, while another router is querier, that querier's
/// Robustness Variable and Query Interval (RFC 9776 4.1.6, 4.1.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timers {
    /// Robustness Variable (8.1).
    pub robustness: u8,
    /// Query Interval (8.2).
    pub query_interval: Duration,
    /// Query Response Interval (8.3).
    pub query_response_interval: Duration,
    /// Last Member Query Interval (8.8).
    pub last_member_query_interval: Duration,
    /// Last Member Query Count (8.9).
    pub last_member_query_count: u8,
}

impl Timers {
    /// Group Membership Interval, RFC 9776 8.4: "This value MUST be
    /// ([Robustness Variable] times [Query Interval]) plus (2 * [Query
    /// Response Interval])." (RFC 3376 8.4 and RFC 2236 8.4 add one Query
    /// Response Interval; RFC 9776 is followed for every version, since a
    /// v1/v2 interface is one of its compatibility modes, 7.3.1.)
    pub fn group_membership_interval(&self) -> Duration {
        self.query_interval * u32::from(self.robustness) + self.query_response_interval * 2
    }

    /// Other Querier Present Interval, RFC 9776 8.5: "([Robustness
    /// Variable] times [Query Interval]) plus (0.5 times [Query Response
    /// Interval])."
    pub fn other_querier_present_interval(&self) -> Duration {
        self.query_interval * u32::from(self.robustness) + self.query_response_interval / 2
    }

    /// Older Host Present Interval, RFC 9776 8.13: "This value MUST be
    /// ([Robustness Variable] times [Query Interval]) plus [Query Response
    /// Interval]." Also RFC 2236 5's v1-host timer, which "should be the
    /// same as the [Group Membership Interval]" of RFC 2236 (the same sum).
    pub fn older_host_present_interval(&self) -> Duration {
        self.query_interval * u32::from(self.robustness) + self.query_response_interval
    }

    /// Last Member Query Time, RFC 9776 8.10: "[Last Member Query
    /// Interval] times [Last Member Query Count]".
    pub fn last_member_query_time(&self) -> Duration {
        self.last_member_query_interval * u32::from(self.last_member_query_count)
    }

    /// The time a group or source timer is lowered to when this router
    /// hears a group(-and-source)-specific query with the S flag clear: the
    /// sender's Last Member Query Time. RFC 9776 6.6.1 lowers the timers
    /// "to LMQT", and 8.10 makes LMQT "the Last Member Query Interval
    /// multiplied by the Last Member Query Count" of the router that
    /// queries: its interval is the query's Max Response Time (8.8: the
    /// Last Member Query Interval "is the Max Response Time used to
    /// calculate the Max Resp Code inserted into Group-Specific Queries"),
    /// its count is by default its Robustness Variable (8.9), which an
    /// IGMPv3 query carries as QRV (4.1.6). A v1/v2 query, or a QRV of 0,
    /// leaves our own count (settings "MUST be consistent among all systems
    /// on a single link", 8); a Max Response Time of 0 (a v1 query has
    /// none) our own interval. RFC 2236 7's non-querier "start timer*"
    /// (the query's Max Response Time times the Last Member Query Count)
    /// is the same rule.
    pub fn last_member_query_time_heard(&self, max_resp: Duration, qrv: Option<u8>) -> Duration {
        let interval = if max_resp.is_zero() {
            self.last_member_query_interval
        } else {
            max_resp
        };
        interval * u32::from(qrv.unwrap_or(self.last_member_query_count))
    }
}

// ===== configuration defaults =====

/// Startup Query Interval default, RFC 9776 8.6: "1/4 times [Query
/// Interval]".
pub fn default_startup_query_interval(query_interval: Duration) -> Duration {
    query_interval / 4
}

/// Startup Query Count default, RFC 9776 8.7: "[Robustness Variable]".
pub fn default_startup_query_count(robustness: u8) -> u8 {
    robustness
}

/// Last Member Query Count default, RFC 9776 8.9: "[Robustness
/// Variable]".
pub fn default_last_member_query_count(robustness: u8) -> u8 {
    robustness
}

// ===== tests =====

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Timers {
        Timers {
            robustness: 2,
            query_interval: Duration::from_secs(125),
            query_response_interval: Duration::from_secs(10),
            last_member_query_interval: Duration::from_secs(1),
            last_member_query_count: 2,
        }
    }

    #[test]
    fn rfc_9776_section_8_values_at_the_defaults() {
        let t = defaults();
        // 8.4: 2 x 125 + 2 x 10.
        assert_eq!(t.group_membership_interval(), Duration::from_secs(270));
        // 8.5: 2 x 125 + 10 / 2.
        assert_eq!(t.other_querier_present_interval(), Duration::from_secs(255));
        // 8.13: 2 x 125 + 10.
        assert_eq!(t.older_host_present_interval(), Duration::from_secs(260));
        // 8.10: 1 x 2.
        assert_eq!(t.last_member_query_time(), Duration::from_secs(2));
        // 8.6, 8.7, 8.9.
        assert_eq!(
            default_startup_query_interval(t.query_interval),
            Duration::from_millis(31_250)
        );
        assert_eq!(default_startup_query_count(2), 2);
        assert_eq!(default_last_member_query_count(2), 2);
    }

    #[test]
    fn each_formula_follows_its_own_inputs() {
        let t = Timers {
            robustness: 3,
            query_interval: Duration::from_secs(60),
            query_response_interval: Duration::from_millis(2_500),
            last_member_query_interval: Duration::from_millis(300),
            last_member_query_count: 4,
        };
        assert_eq!(t.group_membership_interval(), Duration::from_secs(185));
        assert_eq!(
            t.other_querier_present_interval(),
            Duration::from_millis(181_250)
        );
        assert_eq!(
            t.older_host_present_interval(),
            Duration::from_millis(182_500)
        );
        assert_eq!(t.last_member_query_time(), Duration::from_millis(1_200));
        // 6.6.1, 8.10: the querier's LMQT, its interval from the query's
        // Max Response Time, its count from the query's QRV (8.9), ours
        // where the query has none.
        assert_eq!(
            t.last_member_query_time_heard(Duration::from_millis(500), None),
            Duration::from_secs(2)
        );
        assert_eq!(
            t.last_member_query_time_heard(Duration::from_millis(500), Some(3)),
            Duration::from_millis(1_500)
        );
        assert_eq!(
            t.last_member_query_time_heard(Duration::ZERO, None),
            Duration::from_millis(1_200)
        );
    }
}
