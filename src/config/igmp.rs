//! The IGMP settings: `[igmp]` defaults and `[[interface]]` overrides,
//! each value checked on its own, then merged per interface with the RFC
//! defaults and the values derived from them, and checked against each
//! other (the error points at the most specific value involved).

use std::ops::Range;
use std::time::Duration;

use ipnet::Ipv4Net;
use toml::Spanned;

use super::raw::{DurationInput, RawIgmp, RawInterface, SpStr};
use crate::core::config_check::{Checker, GroupRange, IgmpUse, InterfaceUse, Result, fmt_dur};
use crate::core::igmp::config::{IgmpIfConfig, IgmpVersion};
use crate::core::igmp::timers;

// ===== limits =====

/// Largest Querier's Query Interval Code value, RFC 3376 4.1.7.
const MAX_QUERY_INTERVAL: Duration = Duration::from_secs(31_744);
/// Largest IGMPv3 Max Resp Code value, 31744 tenths of a second (4.1.1).
const MAX_RESP_V3: Duration = Duration::from_millis(3_174_400);
/// Largest IGMPv2 Max Resp Time, 255 tenths of a second (RFC 2236 2.2).
const MAX_RESP_V2: Duration = Duration::from_millis(25_500);
/// The unit of Max Resp Time / Max Resp Code.
const DECISECOND: Duration = Duration::from_millis(100);

// ===== values with their origin =====

/// Where a setting was written: in `[igmp]` or in an `[[interface]]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Level {
    Global,
    Interface,
}

#[derive(Clone, Debug)]
pub(super) struct At {
    span: Range<usize>,
    level: Level,
}

/// A checked setting and where it was written.
#[derive(Clone, Debug)]
pub(super) struct Set<T> {
    value: T,
    at: At,
}

/// The IGMP settings of one table, each checked on its own.
#[derive(Clone, Debug, Default)]
pub(super) struct IgmpSettings {
    version: Option<Set<IgmpVersion>>,
    querier: Option<Set<bool>>,
    query_interval: Option<Set<Duration>>,
    query_response_interval: Option<Set<Duration>>,
    robustness: Option<Set<u8>>,
    last_member_query_interval: Option<Set<Duration>>,
    last_member_query_count: Option<Set<u8>>,
    startup_query_interval: Option<Set<Duration>>,
    startup_query_count: Option<Set<u8>>,
    immediate_leave: Option<Set<bool>>,
    max_groups: Option<Set<Option<u32>>>,
    max_sources_per_group: Option<Set<Option<u32>>>,
    require_router_alert: Option<Set<bool>>,
    check_source_subnet: Option<Set<bool>>,
    ssm_range: Option<Set<Vec<Ipv4Net>>>,
    compatibility_mode: Option<Set<bool>>,
    allow_groups: Option<Set<Vec<Ipv4Net>>>,
    deny_groups: Option<Set<Vec<Ipv4Net>>>,
    recovery_query_response_interval: Option<Set<Option<Duration>>>,
}

/// An effective setting: its value and where it came from (`None` = the
/// RFC default or derived from other settings).
struct Eff<T> {
    value: T,
    at: Option<At>,
}

/// The override if given, else the inherited value, else `default`.
fn effective<T: Clone>(over: &Option<Set<T>>, base: &Option<Set<T>>, default: T) -> Eff<T> {
    match over.as_ref().or(base.as_ref()) {
        Some(s) => Eff {
            value: s.value.clone(),
            at: Some(s.at.clone()),
        },
        None => Eff {
            value: default,
            at: None,
        },
    }
}

// ===== impl Checker =====

impl Checker<'_> {
    /// Checks each IGMP setting of one table on its own.
    pub(super) fn validate_igmp(&self, raw: &RawIgmp, level: Level) -> Result<IgmpSettings> {
        fn set<T>(value: T, span: Range<usize>, level: Level) -> Set<T> {
            Set {
                value,
                at: At { span, level },
            }
        }
        let flag =
            |v: &Option<Spanned<bool>>| v.as_ref().map(|v| set(*v.get_ref(), v.span(), level));
        let mut s = IgmpSettings::default();

        if let Some(v) = &raw.version {
            let version = match *v.get_ref() {
                1 => IgmpVersion::V1,
                2 => IgmpVersion::V2,
                3 => IgmpVersion::V3,
                n => {
                    return Err(self.err(
                        v.span(),
                        format!("version = {n} is not an IGMP version; use 1, 2 or 3"),
                    ));
                }
            };
            s.version = Some(set(version, v.span(), level));
        }
        s.querier = flag(&raw.querier);
        if let Some(v) = &raw.query_interval {
            let d = self.validate_duration("query-interval", v)?;
            if d < Duration::from_secs(1) || d > MAX_QUERY_INTERVAL {
                return Err(self.err(
                    v.span(),
                    format!(
                        "query-interval = {} is out of range; use 1s..={} (the largest \
                         Querier's Query Interval Code, RFC 3376 4.1.7)",
                        fmt_dur(d),
                        fmt_dur(MAX_QUERY_INTERVAL)
                    ),
                ));
            }
            if d.subsec_nanos() != 0 {
                return Err(self.err(
                    v.span(),
                    format!(
                        "query-interval = {} is not a whole number of seconds; the Querier's \
                         Query Interval Code counts seconds (RFC 3376 4.1.7)",
                        fmt_dur(d)
                    ),
                ));
            }
            s.query_interval = Some(set(d, v.span(), level));
        }
        if let Some(v) = &raw.query_response_interval {
            let d = self.validate_max_resp("query-response-interval", "8.3", v)?;
            s.query_response_interval = Some(set(d, v.span(), level));
        }
        if let Some(v) = &raw.robustness {
            let n = *v.get_ref();
            if !(1..=7).contains(&n) {
                return Err(self.err(
                    v.span(),
                    format!(
                        "robustness = {n} is out of range; use 1..=7 (QRV is 3 bits and 0 is \
                         not allowed, RFC 3376 4.1.6 and 8.1)"
                    ),
                ));
            }
            s.robustness = Some(set(n as u8, v.span(), level));
        }
        if let Some(v) = &raw.last_member_query_interval {
            let d = self.validate_max_resp("last-member-query-interval", "8.8", v)?;
            s.last_member_query_interval = Some(set(d, v.span(), level));
        }
        if let Some(v) = &raw.last_member_query_count {
            let n = self.validate_count("last-member-query-count", "8.9", v)?;
            s.last_member_query_count = Some(set(n, v.span(), level));
        }
        if let Some(v) = &raw.startup_query_interval {
            let d = self.validate_duration("startup-query-interval", v)?;
            if d < DECISECOND || d > MAX_QUERY_INTERVAL {
                return Err(self.err(
                    v.span(),
                    format!(
                        "startup-query-interval = {} is out of range; use {}..={} \
                         (RFC 3376 8.6; default query-interval/4)",
                        fmt_dur(d),
                        fmt_dur(DECISECOND),
                        fmt_dur(MAX_QUERY_INTERVAL)
                    ),
                ));
            }
            s.startup_query_interval = Some(set(d, v.span(), level));
        }
        if let Some(v) = &raw.startup_query_count {
            let n = self.validate_count("startup-query-count", "8.7", v)?;
            s.startup_query_count = Some(set(n, v.span(), level));
        }
        s.immediate_leave = flag(&raw.immediate_leave);
        if let Some(v) = &raw.max_groups {
            s.max_groups = Some(set(self.validate_limit("max-groups", v)?, v.span(), level));
        }
        if let Some(v) = &raw.max_sources_per_group {
            let n = self.validate_limit("max-sources-per-group", v)?;
            s.max_sources_per_group = Some(set(n, v.span(), level));
        }
        s.require_router_alert = flag(&raw.require_router_alert);
        s.check_source_subnet = flag(&raw.check_source_subnet);
        s.compatibility_mode = flag(&raw.compatibility_mode);
        let ranges = |key: &str, v: &Option<Spanned<Vec<SpStr>>>| -> Result<_> {
            match v {
                None => Ok(None),
                Some(list) => {
                    let nets = list
                        .get_ref()
                        .iter()
                        .map(|g| self.validate_group_range(key, g).map(GroupRange::net))
                        .collect::<Result<Vec<_>>>()?;
                    Ok(Some(set(nets, list.span(), level)))
                }
            }
        };
        s.ssm_range = ranges("ssm-range", &raw.ssm_range)?;
        s.allow_groups = ranges("allow-groups", &raw.allow_groups)?;
        s.deny_groups = ranges("deny-groups", &raw.deny_groups)?;
        if let (Some(a), Some(d)) = (&s.allow_groups, &s.deny_groups) {
            self.warn_overlap(
                "allow-groups",
                &a.value,
                "deny-groups",
                &d.value,
                d.at.span.clone(),
            );
        }
        if let Some(v) = &raw.recovery_query_response_interval {
            // "0s" turns recovery queries off.
            let d = match self.validate_duration("recovery-query-response-interval", v)? {
                d if d.is_zero() => None,
                _ => Some(self.validate_max_resp("recovery-query-response-interval", "8.3", v)?),
            };
            s.recovery_query_response_interval = Some(set(d, v.span(), level));
        }
        Ok(s)
    }

    /// Merges `over` onto `base` onto the RFC defaults, derives the
    /// dependent defaults and checks the settings against each other.
    /// `ifname` is `None` for the `[igmp]` defaults themselves.
    pub(super) fn resolve_igmp(
        &self,
        over: &IgmpSettings,
        base: &IgmpSettings,
        ifname: Option<&str>,
    ) -> Result<IgmpIfConfig> {
        let d = IgmpIfConfig::default();
        let on = ifname.map_or(String::new(), |n| format!(" on interface '{n}'"));

        let version = effective(&over.version, &base.version, d.version);
        let qi = effective(&over.query_interval, &base.query_interval, d.query_interval);
        let qri = effective(
            &over.query_response_interval,
            &base.query_response_interval,
            d.query_response_interval,
        );
        let robustness = effective(&over.robustness, &base.robustness, d.robustness);
        let lmqi = effective(
            &over.last_member_query_interval,
            &base.last_member_query_interval,
            d.last_member_query_interval,
        );
        // RFC 9776 8.9 and 8.7: the counts default to the Robustness
        // Variable; 8.6: the startup interval to a quarter of the query
        // interval (the formulas are in `timers`). Derived from the
        // effective values of this interface.
        let lmqc = effective(
            &over.last_member_query_count,
            &base.last_member_query_count,
            timers::default_last_member_query_count(robustness.value),
        );
        let sqi = effective(
            &over.startup_query_interval,
            &base.startup_query_interval,
            timers::default_startup_query_interval(qi.value),
        );
        let sqc = effective(
            &over.startup_query_count,
            &base.startup_query_count,
            timers::default_startup_query_count(robustness.value),
        );

        if qri.value >= qi.value {
            let span = self.blame(&[&qri.at, &qi.at]);
            return Err(self.err(
                span.clone(),
                format!(
                    "query-response-interval {} is not less than query-interval {}{on}; the \
                     response interval must be shorter than the query interval (RFC 3376 8.3)",
                    self.describe(fmt_dur(qri.value), &qri.at, &span),
                    self.describe(fmt_dur(qi.value), &qi.at, &span),
                ),
            ));
        }
        if version.value == IgmpVersion::V2 {
            for (key, eff) in [
                ("query-response-interval", &qri),
                ("last-member-query-interval", &lmqi),
            ] {
                if eff.value > MAX_RESP_V2 {
                    let span = self.blame(&[&eff.at, &version.at]);
                    return Err(self.err(
                        span.clone(),
                        format!(
                            "{key} {} does not fit an IGMPv2 query{on}; with {} it may be at \
                             most {} (Max Resp Time counts tenths of a second in 8 bits, RFC \
                             2236 2.2): lower it or use version = 3",
                            self.describe(fmt_dur(eff.value), &eff.at, &span),
                            self.describe("version = 2".to_owned(), &version.at, &span),
                            fmt_dur(MAX_RESP_V2),
                        ),
                    ));
                }
            }
        }
        let rqri = effective(
            &over.recovery_query_response_interval,
            &base.recovery_query_response_interval,
            d.recovery_query_response_interval,
        );
        if let (IgmpVersion::V2, Some(r)) = (version.value, rqri.value)
            && r > MAX_RESP_V2
        {
            let span = self.blame(&[&rqri.at, &version.at]);
            return Err(self.err(
                span.clone(),
                format!(
                    "recovery-query-response-interval {} does not fit an IGMPv2 query{on}; with \
                     {} it may be at most {} (RFC 2236 2.2): lower it or use version = 3",
                    self.describe(fmt_dur(r), &rqri.at, &span),
                    self.describe("version = 2".to_owned(), &version.at, &span),
                    fmt_dur(MAX_RESP_V2),
                ),
            ));
        }
        // RFC 9776 8.14.2: "The Query Interval MUST be equal to or longer
        // than the Max Response Time inserted in General Query Messages";
        // a recovery query is a general query with this Max Response Time.
        if let Some(r) = rqri.value
            && r > qi.value
        {
            let span = self.blame(&[&rqri.at, &qi.at]);
            return Err(self.err(
                span.clone(),
                format!(
                    "recovery-query-response-interval {} is longer than query-interval {}{on}; \
                     a general query's Max Response Time may be at most the query interval \
                     (RFC 9776 8.14.2): lower it, or \"0s\" to send no recovery queries",
                    self.describe(fmt_dur(r), &rqri.at, &span),
                    self.describe(fmt_dur(qi.value), &qi.at, &span),
                ),
            ));
        }
        if sqi.value > qi.value {
            let span = self.blame(&[&sqi.at, &qi.at]);
            return Err(self.err(
                span.clone(),
                format!(
                    "startup-query-interval {} is longer than query-interval {}{on}; startup \
                     queries come at most query-interval apart (RFC 3376 8.6: default \
                     query-interval/4)",
                    self.describe(fmt_dur(sqi.value), &sqi.at, &span),
                    self.describe(fmt_dur(qi.value), &qi.at, &span),
                ),
            ));
        }

        Ok(IgmpIfConfig {
            version: version.value,
            querier: effective(&over.querier, &base.querier, d.querier).value,
            query_interval: qi.value,
            query_response_interval: qri.value,
            robustness: robustness.value,
            last_member_query_interval: lmqi.value,
            last_member_query_count: lmqc.value,
            startup_query_interval: sqi.value,
            startup_query_count: sqc.value,
            immediate_leave: effective(&over.immediate_leave, &base.immediate_leave, false).value,
            max_groups: effective(&over.max_groups, &base.max_groups, d.max_groups).value,
            max_sources_per_group: effective(
                &over.max_sources_per_group,
                &base.max_sources_per_group,
                d.max_sources_per_group,
            )
            .value,
            require_router_alert: effective(
                &over.require_router_alert,
                &base.require_router_alert,
                d.require_router_alert,
            )
            .value,
            check_source_subnet: effective(
                &over.check_source_subnet,
                &base.check_source_subnet,
                d.check_source_subnet,
            )
            .value,
            ssm_range: effective(&over.ssm_range, &base.ssm_range, d.ssm_range).value,
            compatibility_mode: effective(
                &over.compatibility_mode,
                &base.compatibility_mode,
                d.compatibility_mode,
            )
            .value,
            allow_groups: effective(&over.allow_groups, &base.allow_groups, d.allow_groups).value,
            deny_groups: effective(&over.deny_groups, &base.deny_groups, d.deny_groups).value,
            recovery_query_response_interval: rqri.value,
        })
    }

    /// The IGMP settings of one `[[interface]]`, or `None` if IGMP is off
    /// there. `uses` are what the protocol sections say about it.
    pub(super) fn interface_igmp(
        &self,
        name: &str,
        ri: &RawInterface,
        global: &IgmpSettings,
        uses: &[(&'static str, &InterfaceUse)],
    ) -> Result<Option<IgmpIfConfig>> {
        let settings = ri.igmp_settings();
        let explicit = ri.igmp.as_ref().map(|b| *b.get_ref());
        let host = uses.iter().find(|(_, u)| u.igmp == IgmpUse::Host);
        if explicit.unwrap_or(host.is_none()) {
            let own = self.validate_igmp(&settings, Level::Interface)?;
            return self.resolve_igmp(&own, global, Some(name)).map(Some);
        }
        let serves = uses.iter().find_map(|(_, u)| match &u.igmp {
            IgmpUse::Serves { refusal } => Some(refusal),
            _ => None,
        });
        if let (Some(b), Some(refusal)) = (ri.igmp.as_ref(), serves) {
            return Err(self.err(b.span(), refusal.clone()));
        }
        if let Some((key, span)) = settings.first_key() {
            let why = match (explicit, host) {
                (Some(_), _) | (None, None) => "igmp = false".to_owned(),
                (None, Some((proto, u))) => {
                    format!("IGMP is off by default on a {proto} {}", u.role)
                }
            };
            return Err(self.err(
                span,
                format!(
                    "interface '{name}' sets the IGMP key `{key}` but IGMP does not run there \
                     ({why}); remove the IGMP keys or set igmp = true"
                ),
            ));
        }
        Ok(None)
    }

    /// The position to report for settings that contradict each other:
    /// the most specific one that was written (an interface override over
    /// an `[igmp]` default); on a tie, the first listed.
    pub(super) fn blame(&self, involved: &[&Option<At>]) -> Range<usize> {
        let mut best: Option<&At> = None;
        for at in involved.iter().filter_map(|a| a.as_ref()) {
            if best.is_none_or(|b| at.level > b.level) {
                best = Some(at);
            }
        }
        best.map_or(0..0, |a| a.span.clone())
    }

    /// `value`, with where it came from unless it is on the reported line.
    pub(super) fn describe(
        &self,
        value: String,
        at: &Option<At>,
        reported: &Range<usize>,
    ) -> String {
        match at {
            None => format!("{value} (default)"),
            Some(a) if self.line_of(&a.span) != self.line_of(reported) => {
                format!("{value} (line {})", self.line_of(&a.span))
            }
            Some(_) => value,
        }
    }

    /// A Max Resp Code/Time value: tenths of a second, at most the IGMPv3
    /// limit (the IGMPv2 limit depends on the version: `resolve_igmp`).
    pub(super) fn validate_max_resp(
        &self,
        key: &str,
        section: &str,
        v: &Spanned<DurationInput>,
    ) -> Result<Duration> {
        let d = self.validate_duration(key, v)?;
        if d < DECISECOND || d > MAX_RESP_V3 {
            return Err(self.err(
                v.span(),
                format!(
                    "{key} = {} is out of range; use {}..={} (IGMPv3 Max Resp Code, RFC 3376 \
                     4.1.1 and {section}; at most {} for IGMPv2)",
                    fmt_dur(d),
                    fmt_dur(DECISECOND),
                    fmt_dur(MAX_RESP_V3),
                    fmt_dur(MAX_RESP_V2)
                ),
            ));
        }
        if d.as_nanos() % DECISECOND.as_nanos() != 0 {
            return Err(self.err(
                v.span(),
                format!(
                    "{key} = {} is not a multiple of 100ms; queries carry it in tenths of a \
                     second (RFC 3376 4.1.1)",
                    fmt_dur(d)
                ),
            ));
        }
        Ok(d)
    }

    pub(super) fn validate_count(&self, key: &str, section: &str, v: &Spanned<i64>) -> Result<u8> {
        let n = *v.get_ref();
        u8::try_from(n).ok().filter(|&n| n >= 1).ok_or_else(|| {
            self.err(
                v.span(),
                format!(
                    "{key} = {n} is out of range; use 1..=255 (RFC 3376 {section}; default = \
                     robustness)"
                ),
            )
        })
    }
}
