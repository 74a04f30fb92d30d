//! Raw TOML -> validated [`Config`]: every value is checked on its own
//! (`validate_*`), then against the values it depends on. The first problem
//! found is returned as one [`ConfigError`] pointing at the value to change.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::Ipv4Net;
use toml::Spanned;

use super::raw::{
    DurationInput, LimitInput, OutboundInput, RawConfig, RawGlobal, RawIgmp, RawInterface,
    RawProxy, RawStatic, SpStr,
};
use super::{
    Config, ConfigError, GlobalConfig, GroupFilter, GroupRange, InterfaceConfig, LogLevel,
    Outbound, PROXY, ProxyConfig, STATIC, StaticConfig, StaticJoin, StaticRoute,
};
use crate::core::igmp::config::{IgmpIfConfig, IgmpVersion};
use crate::core::igmp::timers;
use crate::core::types::GroupAddr;

// ===== limits =====

/// `IFNAMSIZ` in `linux/if.h`, including the terminating NUL.
const IFNAMSIZ: usize = 16;
/// `sizeof(sockaddr_un.sun_path)` minus the terminating NUL.
const SUN_PATH_MAX: usize = 107;
/// `ipmr.c` rejects `MRT_TABLE` ids from this value on (the `pimreg<id>`
/// device name must fit `IFNAMSIZ`).
const MRT_TABLE_LIMIT: u32 = 1_000_000_000;
/// Largest Querier's Query Interval Code value, RFC 3376 4.1.7.
const MAX_QUERY_INTERVAL: Duration = Duration::from_secs(31_744);
/// Largest IGMPv3 Max Resp Code value, 31744 tenths of a second (4.1.1).
const MAX_RESP_V3: Duration = Duration::from_millis(3_174_400);
/// Largest IGMPv2 Max Resp Time, 255 tenths of a second (RFC 2236 2.2).
const MAX_RESP_V2: Duration = Duration::from_millis(25_500);
/// The unit of Max Resp Time / Max Resp Code.
const DECISECOND: Duration = Duration::from_millis(100);
const MIN_MFE_IDLE_TIMEOUT: Duration = Duration::from_secs(1);

type Result<T> = std::result::Result<T, ConfigError>;

/// Parses and validates configuration text.
pub(super) fn parse(text: &str, path: &Path) -> Result<Config> {
    let raw: RawConfig =
        toml::from_str(text).map_err(|e| ConfigError::from_toml(path, text, &e))?;
    Validator { path, text }.config(raw)
}

// ===== values with their origin =====

/// Where a setting was written: in `[igmp]` or in an `[[interface]]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Global,
    Interface,
}

#[derive(Clone, Debug)]
struct At {
    span: Range<usize>,
    level: Level,
}

/// A checked setting and where it was written.
#[derive(Clone, Debug)]
struct Set<T> {
    value: T,
    at: At,
}

/// The IGMP settings of one table, each checked on its own.
#[derive(Clone, Debug, Default)]
struct IgmpSettings {
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

/// One use of an interface by a routing protocol.
struct Claim {
    name: String,
    proto: &'static str,
    role: &'static str,
    span: Range<usize>,
}

/// What the protocol sections tell about interfaces.
#[derive(Default)]
struct Uses {
    claims: Vec<Claim>,
    /// Static outbound interfaces with `only-with-members = true`.
    need_igmp: Vec<(String, Range<usize>)>,
}

// ===== impl Validator =====

struct Validator<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Validator<'_> {
    fn err(&self, span: Range<usize>, message: String) -> ConfigError {
        ConfigError::invalid(self.path, self.text, span, message)
    }

    fn line_of(&self, span: &Range<usize>) -> usize {
        super::Position::of_offset(self.text, span.start).line
    }

    fn config(&self, raw: RawConfig) -> Result<Config> {
        let global = self.validate_global(&raw.global)?;
        let global_igmp = self.validate_igmp(&raw.igmp, Level::Global)?;
        let igmp_defaults = self.resolve_igmp(&IgmpSettings::default(), &global_igmp, None)?;

        let mut seen: HashMap<String, Range<usize>> = HashMap::new();
        let mut sections = Vec::new();
        for ri in &raw.interface {
            let name = self.validate_ifname("name", &ri.name)?;
            if let Some(first) = seen.get(&name) {
                return Err(self.err(
                    ri.name.span(),
                    format!(
                        "duplicate [[interface]] section for '{name}' (the first is at line {}); \
                         each interface has one section: merge them",
                        self.line_of(first)
                    ),
                ));
            }
            seen.insert(name.clone(), ri.name.span());
            sections.push((name, ri));
        }

        let mut uses = Uses::default();
        let static_routes = match &raw.static_routes {
            Some(s) => Some(self.validate_static(s, &mut uses)?),
            None => None,
        };
        let proxy = match &raw.proxy {
            Some(p) => Some(self.validate_proxy(p, &mut uses)?),
            None => None,
        };
        self.check_claims(&uses.claims)?;

        let is_upstream = |n: &str| {
            proxy
                .as_ref()
                .is_some_and(|p| p.upstream.iter().any(|u| u == n))
        };
        let is_downstream = |n: &str| {
            proxy
                .as_ref()
                .is_some_and(|p| p.downstream.iter().any(|d| d == n))
        };

        let mut interfaces = Vec::new();
        for (name, ri) in sections {
            let igmp = self.interface_igmp(&name, ri, &global_igmp, is_upstream(&name), || {
                is_downstream(&name)
            })?;
            interfaces.push(InterfaceConfig { name, igmp });
        }
        let implicit = static_routes
            .iter()
            .flat_map(|s| s.interfaces.iter().map(|n| (n, false)))
            .chain(
                proxy
                    .iter()
                    .flat_map(|p| p.upstream.iter().map(|n| (n, false))),
            )
            .chain(
                proxy
                    .iter()
                    .flat_map(|p| p.downstream.iter().map(|n| (n, true))),
            );
        for (name, igmp) in implicit {
            if !interfaces.iter().any(|i: &InterfaceConfig| &i.name == name) {
                interfaces.push(InterfaceConfig {
                    name: name.clone(),
                    igmp: igmp.then(|| igmp_defaults.clone()),
                });
            }
        }

        for (name, span) in &uses.need_igmp {
            let on = interfaces
                .iter()
                .any(|i| &i.name == name && i.igmp.is_some());
            if !on {
                return Err(self.err(
                    span.clone(),
                    format!(
                        "outbound interface '{name}' has only-with-members = true but IGMP does \
                         not run on it; add an [[interface]] section with name = \"{name}\" \
                         (IGMP is on by default there) or drop only-with-members"
                    ),
                ));
            }
        }

        Ok(Config {
            global,
            igmp_defaults,
            interfaces,
            static_routes,
            proxy,
        })
    }

    // ===== [global] =====

    fn validate_global(&self, raw: &RawGlobal) -> Result<GlobalConfig> {
        let mut g = GlobalConfig::default();
        if let Some(v) = &raw.control_socket {
            g.control_socket = self.validate_abs_path("control-socket", v)?;
            let len = v.get_ref().len();
            if len > SUN_PATH_MAX {
                return Err(self.err(
                    v.span(),
                    format!(
                        "control-socket is {len} bytes long; a Unix socket path has at most \
                         {SUN_PATH_MAX} bytes (sun_path)"
                    ),
                ));
            }
        }
        if let Some(v) = &raw.pid_file {
            g.pid_file = self.validate_abs_path("pid-file", v)?;
        }
        if let Some(v) = &raw.table {
            let t = *v.get_ref();
            if t < 1 || t >= i64::from(MRT_TABLE_LIMIT) {
                return Err(self.err(
                    v.span(),
                    format!(
                        "table = {t} is out of range; a multicast routing table id is \
                         1..={} (omit table for the default table)",
                        MRT_TABLE_LIMIT - 1
                    ),
                ));
            }
            g.table = Some(t as u32);
            // One instance per table: its own socket and pid file unless
            // named.
            if raw.control_socket.is_none() {
                g.control_socket = super::default_control_socket(g.table);
            }
            if raw.pid_file.is_none() {
                g.pid_file = super::default_pid_file(g.table);
            }
        }
        if let Some(v) = &raw.mfe_idle_timeout {
            let d = self.validate_duration("mfe-idle-timeout", v)?;
            if d < MIN_MFE_IDLE_TIMEOUT {
                return Err(self.err(
                    v.span(),
                    format!(
                        "mfe-idle-timeout = {} is too short; use at least {} (default 900s)",
                        fmt_dur(d),
                        fmt_dur(MIN_MFE_IDLE_TIMEOUT)
                    ),
                ));
            }
            g.mfe_idle_timeout = d;
        }
        if let Some(v) = &raw.log_level {
            g.log_level = v
                .get_ref()
                .parse::<LogLevel>()
                .map_err(|e| self.err(v.span(), e))?;
        }
        if let Some(v) = raw.rp_filter_warning {
            g.rp_filter_warning = v;
        }
        Ok(g)
    }

    fn validate_abs_path(&self, key: &str, v: &SpStr) -> Result<PathBuf> {
        let p = Path::new(v.get_ref());
        if !p.is_absolute() {
            return Err(self.err(
                v.span(),
                format!(
                    "{key} = \"{}\" is not an absolute path; give a path starting with '/'",
                    v.get_ref()
                ),
            ));
        }
        Ok(p.to_path_buf())
    }

    // ===== IGMP settings =====

    /// Checks each IGMP setting of one table on its own.
    fn validate_igmp(&self, raw: &RawIgmp, level: Level) -> Result<IgmpSettings> {
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
        Ok(s)
    }

    /// Merges `over` onto `base` onto the RFC defaults, derives the
    /// dependent defaults and checks the settings against each other.
    /// `ifname` is `None` for the `[igmp]` defaults themselves.
    fn resolve_igmp(
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
        })
    }

    /// The IGMP settings of one `[[interface]]`, or `None` if IGMP is off
    /// there.
    fn interface_igmp(
        &self,
        name: &str,
        ri: &RawInterface,
        global: &IgmpSettings,
        upstream: bool,
        downstream: impl Fn() -> bool,
    ) -> Result<Option<IgmpIfConfig>> {
        let settings = ri.igmp_settings();
        let explicit = ri.igmp.as_ref().map(|b| *b.get_ref());
        // A proxy acts as a host on its upstream (RFC 4605 2.1): IGMP's
        // router side is off there unless asked for.
        if explicit.unwrap_or(!upstream) {
            let own = self.validate_igmp(&settings, Level::Interface)?;
            return self.resolve_igmp(&own, global, Some(name)).map(Some);
        }
        if let Some(b) = ri.igmp.as_ref().filter(|_| downstream()) {
            return Err(self.err(
                b.span(),
                format!(
                    "interface '{name}' is a proxy downstream but has igmp = false; the proxy \
                     learns its receivers through IGMP there: remove igmp = false"
                ),
            ));
        }
        if let Some((key, span)) = settings.first_key() {
            let why = if explicit.is_some() {
                "igmp = false"
            } else {
                "IGMP is off by default on a proxy upstream"
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
    fn blame(&self, involved: &[&Option<At>]) -> Range<usize> {
        let mut best: Option<&At> = None;
        for at in involved.iter().filter_map(|a| a.as_ref()) {
            if best.is_none_or(|b| at.level > b.level) {
                best = Some(at);
            }
        }
        best.map_or(0..0, |a| a.span.clone())
    }

    /// `value`, with where it came from unless it is on the reported line.
    fn describe(&self, value: String, at: &Option<At>, reported: &Range<usize>) -> String {
        match at {
            None => format!("{value} (default)"),
            Some(a) if self.line_of(&a.span) != self.line_of(reported) => {
                format!("{value} (line {})", self.line_of(&a.span))
            }
            Some(_) => value,
        }
    }

    // ===== [static] =====

    fn validate_static(&self, raw: &Spanned<RawStatic>, uses: &mut Uses) -> Result<StaticConfig> {
        let raw = raw.get_ref();
        let mut explicit: Option<(Vec<String>, Range<usize>)> = None;
        if let Some(list) = &raw.interfaces {
            let mut names = Vec::new();
            for n in list.get_ref() {
                let name = self.validate_ifname("interfaces", n)?;
                if names.contains(&name) {
                    return Err(self.err(
                        n.span(),
                        format!("interface '{name}' is listed twice in [static] interfaces"),
                    ));
                }
                uses.claims.push(Claim {
                    name: name.clone(),
                    proto: STATIC,
                    role: "listed in interfaces",
                    span: n.span(),
                });
                names.push(name);
            }
            explicit = Some((names, list.span()));
        }

        // Every interface a route or join names, in file order.
        let mut used: Vec<(String, &'static str, Range<usize>)> = Vec::new();
        let mut routes: Vec<(StaticRoute, Range<usize>)> = Vec::new();
        for r in &raw.route {
            let r = r.get_ref();
            let group = self.validate_group_range("group", &r.group)?;
            let source = match &r.source {
                Some(s) => Some(self.validate_source_prefix("source", s)?),
                None => None,
            };
            let inbound = self.validate_ifname("inbound", &r.inbound)?;
            used.push((inbound.clone(), "route inbound", r.inbound.span()));
            if r.outbound.get_ref().is_empty() {
                return Err(self.err(
                    r.outbound.span(),
                    "outbound is empty; a route needs at least one outbound interface".to_owned(),
                ));
            }
            let mut outbound: Vec<Outbound> = Vec::new();
            for o in r.outbound.get_ref() {
                let oi: &OutboundInput = o.get_ref();
                let name = self.validate_ifname_str("outbound", &oi.name, o.span())?;
                if name == inbound {
                    return Err(self.err(
                        o.span(),
                        format!(
                            "interface '{name}' is both the inbound interface and an outbound \
                             interface of this route; traffic is never sent back out of the \
                             interface it arrived on: remove it from outbound"
                        ),
                    ));
                }
                if outbound.iter().any(|x| x.name == name) {
                    return Err(self.err(
                        o.span(),
                        format!("interface '{name}' is listed twice in this route's outbound"),
                    ));
                }
                if oi.only_with_members {
                    uses.need_igmp.push((name.clone(), o.span()));
                }
                used.push((name.clone(), "route outbound", o.span()));
                outbound.push(Outbound {
                    name,
                    only_with_members: oi.only_with_members,
                });
            }
            let route = StaticRoute {
                source,
                group,
                inbound,
                outbound,
            };
            if let Some((_, first)) = routes
                .iter()
                .find(|(x, _)| x.source == route.source && x.group == route.group)
            {
                let what = match route.source {
                    Some(s) => format!("({s}, {})", route.group),
                    None => format!("(*, {})", route.group),
                };
                return Err(self.err(
                    r.group.span(),
                    format!(
                        "a route for {what} is already defined at line {}; give each \
                         source/group one route and list all its outbound interfaces there",
                        self.line_of(first)
                    ),
                ));
            }
            routes.push((route, r.group.span()));
        }

        let mut joins: Vec<StaticJoin> = Vec::new();
        for j in &raw.join {
            let j = j.get_ref();
            let interface = self.validate_ifname("interface", &j.interface)?;
            let group = self.validate_group_addr("group", &j.group)?;
            let source = match &j.source {
                Some(s) => Some(self.validate_source_addr("source", s)?),
                None => None,
            };
            let join = StaticJoin {
                interface: interface.clone(),
                group,
                source,
            };
            if joins.contains(&join) {
                return Err(self.err(
                    j.group.span(),
                    format!("this join of {group} on '{interface}' is listed twice"),
                ));
            }
            used.push((interface, "join", j.interface.span()));
            joins.push(join);
        }

        let interfaces = match explicit {
            // Routes and joins may also name interfaces outside the list:
            // they apply while static owns them (`mgmctl take IFACE static`).
            Some((names, _)) => names,
            None => {
                let mut names: Vec<String> = Vec::new();
                for (name, role, span) in &used {
                    uses.claims.push(Claim {
                        name: name.clone(),
                        proto: STATIC,
                        role,
                        span: span.clone(),
                    });
                    if !names.contains(name) {
                        names.push(name.clone());
                    }
                }
                names
            }
        };

        Ok(StaticConfig {
            interfaces,
            routes: routes.into_iter().map(|(r, _)| r).collect(),
            joins,
        })
    }

    // ===== [proxy] =====

    fn validate_proxy(&self, raw: &Spanned<RawProxy>, uses: &mut Uses) -> Result<ProxyConfig> {
        let span = raw.span();
        let raw = raw.get_ref();
        if raw.upstream.is_empty() {
            return Err(self.err(
                span,
                "[proxy] has no upstream interface; add upstream = [\"wan0\"] (several are \
                 tried in order)"
                    .to_owned(),
            ));
        }
        if raw.downstream.is_empty() {
            return Err(self.err(
                span,
                "[proxy] has no downstream interface; add downstream = [\"lan0\", ...], the \
                 interfaces whose receivers the proxy serves"
                    .to_owned(),
            ));
        }
        let mut upstream: Vec<String> = Vec::new();
        for n in &raw.upstream {
            let name = self.validate_ifname("upstream", n)?;
            if upstream.contains(&name) {
                return Err(self.err(
                    n.span(),
                    format!("interface '{name}' is listed twice in upstream"),
                ));
            }
            uses.claims.push(Claim {
                name: name.clone(),
                proto: PROXY,
                role: "upstream",
                span: n.span(),
            });
            upstream.push(name);
        }
        let mut downstream: Vec<String> = Vec::new();
        for n in &raw.downstream {
            let name = self.validate_ifname("downstream", n)?;
            if upstream.contains(&name) {
                return Err(self.err(
                    n.span(),
                    format!(
                        "interface '{name}' is both a proxy upstream and a proxy downstream; an \
                         interface is one or the other"
                    ),
                ));
            }
            if downstream.contains(&name) {
                return Err(self.err(
                    n.span(),
                    format!("interface '{name}' is listed twice in downstream"),
                ));
            }
            uses.claims.push(Claim {
                name: name.clone(),
                proto: PROXY,
                role: "downstream",
                span: n.span(),
            });
            downstream.push(name);
        }
        let filter = |allow_key: &str, allow: &[SpStr], deny_key: &str, deny: &[SpStr]| {
            Ok::<_, ConfigError>(GroupFilter {
                allow: allow
                    .iter()
                    .map(|g| self.validate_group_range(allow_key, g))
                    .collect::<Result<_>>()?,
                deny: deny
                    .iter()
                    .map(|g| self.validate_group_range(deny_key, g))
                    .collect::<Result<_>>()?,
            })
        };
        Ok(ProxyConfig {
            upstream,
            downstream,
            upstream_groups: filter(
                "upstream-allow-groups",
                &raw.upstream_allow_groups,
                "upstream-deny-groups",
                &raw.upstream_deny_groups,
            )?,
            downstream_groups: filter(
                "downstream-allow-groups",
                &raw.downstream_allow_groups,
                "downstream-deny-groups",
                &raw.downstream_deny_groups,
            )?,
            legal_sources: raw
                .legal_sources
                .iter()
                .map(|s| self.validate_source_prefix("legal-sources", s))
                .collect::<Result<_>>()?,
        })
    }

    /// An interface belongs to at most one routing protocol.
    fn check_claims(&self, claims: &[Claim]) -> Result<()> {
        for (i, a) in claims.iter().enumerate() {
            let other = claims[..i]
                .iter()
                .find(|b| b.name == a.name && b.proto != a.proto);
            if let Some(b) = other {
                let (first, second) = if b.span.start <= a.span.start {
                    (b, a)
                } else {
                    (a, b)
                };
                return Err(self.err(
                    second.span.clone(),
                    format!(
                        "interface '{}' is claimed by two protocols: {} ({}, line {}) and {} \
                         ({}, line {}); an interface belongs to at most one routing protocol",
                        a.name,
                        first.proto,
                        first.role,
                        self.line_of(&first.span),
                        second.proto,
                        second.role,
                        self.line_of(&second.span),
                    ),
                ));
            }
        }
        Ok(())
    }

    // ===== single values =====

    fn validate_duration(&self, key: &str, v: &Spanned<DurationInput>) -> Result<Duration> {
        match v.get_ref() {
            DurationInput::Text(s) => humantime::parse_duration(s.trim()).map_err(|e| {
                self.err(
                    v.span(),
                    format!(
                        "{key} = \"{s}\" is not a duration ({e}); write a number and a unit, \
                         e.g. \"125s\", \"1m30s\", \"500ms\""
                    ),
                )
            }),
            DurationInput::Number(n) => Err(self.err(
                v.span(),
                format!(
                    "{key} = {n} has no unit; durations are strings with a unit, e.g. \
                     \"{n}s\", \"2m\", \"500ms\""
                ),
            )),
        }
    }

    /// A Max Resp Code/Time value: tenths of a second, at most the IGMPv3
    /// limit (the IGMPv2 limit depends on the version: `resolve_igmp`).
    fn validate_max_resp(
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

    fn validate_count(&self, key: &str, section: &str, v: &Spanned<i64>) -> Result<u8> {
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

    fn validate_limit(&self, key: &str, v: &Spanned<LimitInput>) -> Result<Option<u32>> {
        match v.get_ref() {
            LimitInput::Text(t) if t == "unlimited" => Ok(None),
            LimitInput::Count(n) if *n >= 1 && *n <= i64::from(u32::MAX) => Ok(Some(*n as u32)),
            other => {
                let shown = match other {
                    LimitInput::Count(n) => n.to_string(),
                    LimitInput::Text(t) => format!("\"{t}\""),
                };
                Err(self.err(
                    v.span(),
                    format!(
                        "{key} = {shown} is not a valid limit; use 1..={} or \"unlimited\"",
                        u32::MAX
                    ),
                ))
            }
        }
    }

    /// Interface names as the kernel accepts them (`dev_valid_name()`).
    fn validate_ifname(&self, key: &str, v: &SpStr) -> Result<String> {
        self.validate_ifname_str(key, v.get_ref(), v.span())
    }

    fn validate_ifname_str(&self, key: &str, name: &str, span: Range<usize>) -> Result<String> {
        let problem = if name.is_empty() {
            Some("is empty".to_owned())
        } else if name.len() >= IFNAMSIZ {
            Some(format!(
                "is {} bytes long; Linux interface names have at most {} bytes (IFNAMSIZ)",
                name.len(),
                IFNAMSIZ - 1
            ))
        } else if name == "." || name == ".." {
            Some("is not allowed".to_owned())
        } else {
            name.chars()
                .find(|c| *c == '/' || *c == ':' || c.is_whitespace())
                .map(|c| {
                    format!(
                        "contains {c:?}; interface names may not contain '/', ':' or whitespace"
                    )
                })
        };
        match problem {
            Some(p) => Err(self.err(span, format!("{key}: interface name \"{name}\" {p}"))),
            None => Ok(name.to_owned()),
        }
    }

    /// A group or a prefix of groups.
    fn validate_group_range(&self, key: &str, v: &SpStr) -> Result<GroupRange> {
        let s = v.get_ref().trim();
        let net = self.parse_addr_or_prefix(
            key,
            v,
            "a group such as \"239.1.1.1\" or a prefix such as \"239.1.0.0/16\"",
        )?;
        GroupRange::new(net).ok_or_else(|| {
            self.err(
                v.span(),
                format!(
                    "{key}: \"{s}\" is not a multicast group; groups are inside 224.0.0.0/4, \
                     e.g. \"239.1.1.1\" or \"239.1.0.0/16\""
                ),
            )
        })
    }

    /// Exactly one group.
    fn validate_group_addr(&self, key: &str, v: &SpStr) -> Result<GroupAddr> {
        let range = self.validate_group_range(key, v)?;
        range.as_single().ok_or_else(|| {
            self.err(
                v.span(),
                format!(
                    "{key}: \"{}\" is a prefix; a join is for one group address",
                    v.get_ref()
                ),
            )
        })
    }

    /// A sender: a unicast address or prefix.
    fn validate_source_prefix(&self, key: &str, v: &SpStr) -> Result<Ipv4Net> {
        let s = v.get_ref().trim();
        let net = self.parse_addr_or_prefix(
            key,
            v,
            "a unicast address such as \"10.0.0.5\" or a prefix such as \"10.0.0.0/24\"",
        )?;
        let multicast = Ipv4Net::new(Ipv4Addr::new(224, 0, 0, 0), 4).expect("valid literal prefix");
        let problem = if net.prefix_len() == 0 {
            Some("covers every address; omit it to match any source")
        } else if net.prefix_len() == 32 && net.addr().is_unspecified() {
            Some("is the unspecified address; a source is the address of a sender")
        } else if net.prefix_len() == 32 && net.addr().is_broadcast() {
            Some("is the broadcast address; a source is the unicast address of a sender")
        } else if multicast.contains(&net.addr()) {
            Some("is a multicast address; a source is the unicast address (or prefix) of a sender")
        } else if net.contains(&multicast) {
            Some("covers the multicast range 224.0.0.0/4; a source prefix must be unicast")
        } else {
            None
        };
        match problem {
            Some(p) => Err(self.err(v.span(), format!("{key}: \"{s}\" {p}"))),
            None => Ok(net),
        }
    }

    /// Exactly one sender address.
    fn validate_source_addr(&self, key: &str, v: &SpStr) -> Result<Ipv4Addr> {
        let net = self.validate_source_prefix(key, v)?;
        if net.prefix_len() != 32 {
            return Err(self.err(
                v.span(),
                format!(
                    "{key}: \"{}\" is a prefix; a source-specific join names one source address",
                    v.get_ref()
                ),
            ));
        }
        Ok(net.addr())
    }

    /// "a.b.c.d" (as a /32) or "a.b.c.d/len" with no host bits set.
    fn parse_addr_or_prefix(&self, key: &str, v: &SpStr, expected: &str) -> Result<Ipv4Net> {
        let s = v.get_ref().trim();
        if s.contains('/') {
            let net: Ipv4Net = s.parse().map_err(|_| {
                self.err(
                    v.span(),
                    format!("{key}: \"{s}\" is not an IPv4 prefix; expected {expected}"),
                )
            })?;
            if net.trunc() != net {
                return Err(self.err(
                    v.span(),
                    format!(
                        "{key}: \"{s}\" has host bits set; did you mean \"{}\"?",
                        net.trunc()
                    ),
                ));
            }
            Ok(net)
        } else {
            let addr: Ipv4Addr = s.parse().map_err(|_| {
                self.err(
                    v.span(),
                    format!("{key}: \"{s}\" is not an IPv4 address; expected {expected}"),
                )
            })?;
            Ok(Ipv4Net::from(addr))
        }
    }
}

// ===== helper functions =====

/// "125s", "25.5s", "0.1s": seconds, as short as exact.
fn fmt_dur(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validator(text: &str) -> Validator<'_> {
        Validator {
            path: Path::new("t.toml"),
            text,
        }
    }

    #[test]
    fn durations_print_as_exact_seconds() {
        assert_eq!(fmt_dur(Duration::from_secs(125)), "125s");
        assert_eq!(fmt_dur(MAX_RESP_V2), "25.5s");
        assert_eq!(fmt_dur(MAX_RESP_V3), "3174.4s");
        assert_eq!(fmt_dur(Duration::from_millis(31_250)), "31.25s");
        assert_eq!(fmt_dur(DECISECOND), "0.1s");
    }

    #[test]
    fn blame_prefers_the_interface_override() {
        let v = validator("");
        let global = Some(At {
            span: 1..2,
            level: Level::Global,
        });
        let iface = Some(At {
            span: 5..6,
            level: Level::Interface,
        });
        assert_eq!(v.blame(&[&global, &iface]), 5..6);
        assert_eq!(v.blame(&[&iface, &global]), 5..6);
        // Same level: the first listed (the value being checked).
        assert_eq!(v.blame(&[&global, &None]), 1..2);
        assert_eq!(v.blame(&[&None, &global]), 1..2);
    }

    #[test]
    fn addresses_and_prefixes_parse_to_networks() {
        let text = "x";
        let v = validator(text);
        let sp = |s: &str| Spanned::new(0..1, s.to_owned());
        assert_eq!(
            v.parse_addr_or_prefix("k", &sp("10.0.0.5"), "").unwrap(),
            "10.0.0.5/32".parse::<Ipv4Net>().unwrap()
        );
        assert_eq!(
            v.parse_addr_or_prefix("k", &sp(" 10.0.0.0/24 "), "")
                .unwrap(),
            "10.0.0.0/24".parse::<Ipv4Net>().unwrap()
        );
        assert!(v.parse_addr_or_prefix("k", &sp("10.0.0.1/24"), "").is_err());
        assert!(v.parse_addr_or_prefix("k", &sp("10.0.0.0/33"), "").is_err());
        assert!(v.parse_addr_or_prefix("k", &sp("eth0"), "").is_err());
        assert!(v.validate_source_prefix("k", &sp("10.0.0.0/8")).is_ok());
        assert!(v.validate_source_prefix("k", &sp("192.0.0.0/2")).is_err());
        assert!(v.validate_group_addr("k", &sp("224.0.0.0/4")).is_err());
        assert_eq!(
            v.validate_group_addr("k", &sp("239.1.1.1")).unwrap(),
            "239.1.1.1".parse::<GroupAddr>().unwrap()
        );
    }

    #[test]
    fn interface_names_follow_the_kernel_rules() {
        let v = validator("x");
        for ok in ["eth0", "br-lan.10", "abcdefghijklmno", "wlan0@x"] {
            assert!(v.validate_ifname_str("k", ok, 0..1).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a:1",
            "a b",
            "a\tb",
            "abcdefghijklmnop",
        ] {
            assert!(v.validate_ifname_str("k", bad, 0..1).is_err(), "{bad:?}");
        }
    }
}
