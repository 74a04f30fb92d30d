//! Facts and configuration in, findings out: one function per check, each
//! a plain match over what was found.

use std::path::Path;

use super::facts::{Probe, ProbeNamespace, ProbeStep, SystemFacts};
use super::{Check, Finding, Status};
use crate::config::Config;
use crate::core::types::GroupAddr;

/// `CAP_NET_ADMIN` and `CAP_NET_RAW` (`linux/capability.h`).
const CAP_NET_ADMIN: u32 = 12;
const CAP_NET_RAW: u32 = 13;

/// The groups each IGMP interface's socket joins, in the order it joins
/// them (the event loop's `ListenIgmp`), with what is lost without each.
const IGMP_LISTEN: [(GroupAddr, &str); 3] = [
    (GroupAddr::ALL_V3_ROUTERS, "IGMPv3 reports"),
    (GroupAddr::ALL_ROUTERS, "IGMPv2 leaves"),
    (
        GroupAddr::ALL_SYSTEMS,
        "other routers' general queries (querier election)",
    ),
];

/// How mgmd exits when another process owns its table.
const EXIT_TABLE_OWNED: u8 = 69;

// ===== public functions =====

/// The findings for `facts`, given the configuration read from `path`
/// (or why it could not be read: the checks that depend on it then assume
/// the defaults). In a fixed order, one per check and one per configured
/// interface.
pub fn evaluate(facts: &SystemFacts, path: &Path, config: Result<&Config, &str>) -> Vec<Finding> {
    let cfg = config.ok();
    let table = cfg.and_then(|c| c.global.table);
    let mut out = vec![
        configuration(path, config),
        ipv4(facts),
        tables(facts, table),
        ipv6(facts),
        table_owner(facts, table),
        capabilities(facts, table),
    ];
    if let Some(cfg) = cfg {
        out.extend(interfaces(facts, cfg));
    }
    let need = cfg.map(MembershipNeed::of).unwrap_or_default();
    out.push(max_memberships(facts, &need));
    out.push(max_msf(facts, &need));
    out
}

// ===== MembershipNeed =====

/// The group memberships a configuration makes mgmd hold, counted from
/// the sockets that hold them: `net.ipv4.igmp_max_memberships` and
/// `net.ipv4.igmp_max_msf` are limits per socket.
///
/// Each interface where IGMP runs has a socket of its own holding
/// 224.0.0.22, 224.0.0.2 and 224.0.0.1 (`MrtSocket::join_group`); each
/// host membership a protocol holds (see
/// [`crate::core::protocol::registry::HostMemberships`]) has a socket of its
/// own (`HostMemberships`). So one socket holds at most three memberships,
/// whatever the number of interfaces and groups.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MembershipNeed {
    /// Interfaces where IGMP runs (three memberships each, on one socket).
    pub igmp_interfaces: usize,
    /// The host memberships the protocols' configurations fix, protocol by
    /// protocol: how messages name one, and how many there are (one each).
    pub fixed: Vec<(&'static str, usize)>,
    /// Host memberships that follow what hosts report (one socket per
    /// group: not known in advance), as messages name them.
    pub following_hosts: Vec<&'static str>,
    /// The fixed membership with the most sources in its filter: how
    /// messages name it, its interface, group and number of sources.
    pub largest_filter: Option<(&'static str, String, GroupAddr, usize)>,
}

impl MembershipNeed {
    pub fn of(cfg: &Config) -> MembershipNeed {
        let igmp_interfaces = cfg.interfaces.iter().filter(|i| i.igmp.is_some()).count();
        let mut need = MembershipNeed {
            igmp_interfaces,
            ..MembershipNeed::default()
        };
        for p in &cfg.protocols {
            let h = p.host_memberships();
            if !h.fixed.is_empty() {
                need.fixed.push((h.noun, h.fixed.len()));
            }
            need.following_hosts.extend(h.following_hosts);
            for (i, g, n) in h.fixed {
                // The first of the largest, in (interface, group) order.
                let larger = match (&need.largest_filter, n) {
                    (_, None | Some(0)) => false,
                    (None, Some(_)) => true,
                    (Some((_, _, _, best)), Some(n)) => n > *best,
                };
                if larger {
                    need.largest_filter = n.map(|n| (h.noun, i, g, n));
                }
            }
        }
        need
    }

    /// Memberships the configuration fixes, in all.
    fn fixed_count(&self) -> usize {
        self.fixed.iter().map(|(_, n)| n).sum()
    }

    /// What no limit per socket can be checked for in advance, as the
    /// end of a finding (" plus the proxy's upstream joins").
    fn plus_following(&self) -> String {
        if self.following_hosts.is_empty() {
            String::new()
        } else {
            format!(" plus {}", self.following_hosts.join(" and "))
        }
    }

    /// The most memberships one of mgmd's sockets holds.
    pub fn per_socket(&self) -> u32 {
        if self.igmp_interfaces > 0 {
            IGMP_LISTEN.len() as u32
        } else if self.fixed_count() > 0 || !self.following_hosts.is_empty() {
            1
        } else {
            0
        }
    }

    /// How the count was made, for the finding.
    fn explain(&self) -> String {
        let mut parts = Vec::new();
        if self.igmp_interfaces > 0 {
            parts.push(format!(
                "{} on each IGMP interface's socket ({} interface{})",
                IGMP_LISTEN.len(),
                self.igmp_interfaces,
                plural(self.igmp_interfaces)
            ));
        }
        for (noun, n) in &self.fixed {
            parts.push(format!(
                "1 on each {noun}'s socket ({n} join{})",
                plural(*n)
            ));
        }
        for f in &self.following_hosts {
            parts.push(format!("1 on the socket of each of {f}"));
        }
        let known = IGMP_LISTEN.len() * self.igmp_interfaces + self.fixed_count();
        format!(
            "{}; {known} in all{}",
            parts.join(", "),
            self.plus_following()
        )
    }
}

// ===== the checks =====

fn configuration(path: &Path, config: Result<&Config, &str>) -> Finding {
    match config {
        Ok(cfg) => {
            let n = cfg.interfaces.len();
            Finding::ok(
                Check::Configuration,
                format!(
                    "{}: valid ({n} interface{}, {})",
                    path.display(),
                    plural(n),
                    table_name(cfg.global.table)
                ),
            )
        }
        Err(e) => Finding::not_ok(
            Check::Configuration,
            Status::Warning,
            format!("not usable: {e}"),
            "the checks that depend on it assumed the defaults (the default table, no interfaces, \
             no memberships, the default pid file)",
            format!(
                "`mgmd --check -c {}` says what is wrong; then run this again",
                path.display()
            ),
        ),
    }
}

/// Whether the kernel has IPv4 multicast routing, from the probe or, when
/// the probe could not tell, from `/proc/net/ip_mr_vif`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Presence {
    Present,
    Absent,
    Unknown,
}

fn ipv4_presence(f: &SystemFacts) -> Presence {
    match f.ipv4 {
        Probe::Ok => Presence::Present,
        Probe::Failed { step, errno } => match (step, errno.0) {
            (ProbeStep::Init, libc::EADDRINUSE) => Presence::Present,
            (_, libc::ENOPROTOOPT) => Presence::Absent,
            _ => match f.ip_mr_vif {
                Some(true) => Presence::Present,
                Some(false) => Presence::Absent,
                None => Presence::Unknown,
            },
        },
    }
}

fn ipv4(f: &SystemFacts) -> Finding {
    const CHECK: Check = Check::Ipv4MulticastRouting;
    let cost = "mgmd cannot start: no process can own a multicast routing table";
    let fix = "run a kernel built with CONFIG_IP_MROUTE=y (the distribution kernels of Debian, \
               Ubuntu, Fedora and the like have it; many cloud micro-VM, WSL2 and container-host \
               kernels do not)";
    match f.ipv4 {
        Probe::Ok => Finding::ok(
            CHECK,
            format!(
                "present: MRT_INIT accepted {} (and released at once)",
                where_probed(f.probe_namespace)
            ),
        ),
        Probe::Failed {
            step: ProbeStep::Init,
            errno,
        } if errno.0 == libc::EADDRINUSE => Finding::ok(
            CHECK,
            "present: MRT_INIT answered EADDRINUSE in this namespace (another process owns the \
             default table: see table owner)",
        ),
        Probe::Failed { step, errno } if errno.0 == libc::ENOPROTOOPT => Finding::not_ok(
            CHECK,
            Status::Missing,
            format!(
                "not in this kernel (CONFIG_IP_MROUTE): {step} failed with {errno} {}",
                where_probed(f.probe_namespace)
            ),
            cost,
            fix,
        ),
        Probe::Failed { step, errno } => {
            let why = format!(
                "the probe could not run: {step}: {errno}{}",
                hint(step, errno.0)
            );
            match f.ip_mr_vif {
                Some(true) => Finding::ok(
                    CHECK,
                    format!("present (/proc/net/ip_mr_vif exists); {why}"),
                ),
                Some(false) => Finding::not_ok(
                    CHECK,
                    Status::Missing,
                    format!("not in this kernel (CONFIG_IP_MROUTE): no /proc/net/ip_mr_vif; {why}"),
                    cost,
                    fix,
                ),
                None => Finding::not_ok(
                    CHECK,
                    Status::Warning,
                    format!("could not be checked: {why}; /proc/net is unreadable"),
                    "if the kernel lacks CONFIG_IP_MROUTE, mgmd cannot start",
                    "run `mgmd check-system` as root",
                ),
            }
        }
    }
}

fn tables(f: &SystemFacts, table: Option<u32>) -> Finding {
    const CHECK: Check = Check::MulticastRoutingTables;
    let fix_kernel = "run a kernel built with CONFIG_IP_MROUTE_MULTIPLE_TABLES=y, or remove \
                      `table` from [global] (mgmd then uses the default table)";
    match (f.tables, table) {
        (Probe::Ok, None) => Finding::ok(
            CHECK,
            "supported (CONFIG_IP_MROUTE_MULTIPLE_TABLES): MRT_TABLE accepted",
        ),
        (Probe::Ok, Some(n)) => Finding::ok(
            CHECK,
            format!(
                "supported (CONFIG_IP_MROUTE_MULTIPLE_TABLES): table {n} selected and MRT_INIT \
                 accepted {}",
                where_probed(f.probe_namespace)
            ),
        ),
        (
            Probe::Failed {
                step: ProbeStep::Init,
                errno,
            },
            Some(n),
        ) if errno.0 == libc::EADDRINUSE => Finding::ok(
            CHECK,
            format!(
                "supported: table {n} selected; MRT_INIT answered EADDRINUSE (another process \
                 owns it: see table owner)"
            ),
        ),
        (Probe::Failed { step, errno }, table) if errno.0 == libc::ENOPROTOOPT => {
            let summary = if ipv4_presence(f) == Presence::Absent {
                "not available: the kernel has no multicast routing at all".to_owned()
            } else {
                format!(
                    "not in this kernel (CONFIG_IP_MROUTE_MULTIPLE_TABLES): {step} failed with {errno}"
                )
            };
            match table {
                Some(n) => Finding::not_ok(
                    CHECK,
                    Status::Missing,
                    summary,
                    format!("mgmd cannot start with `table = {n}` in [global]"),
                    fix_kernel,
                ),
                None => Finding::not_ok(
                    CHECK,
                    Status::Info,
                    summary,
                    "none for this configuration (the default table); `table` in [global] cannot \
                     be used: one mgmd per network namespace",
                    "run a kernel built with CONFIG_IP_MROUTE_MULTIPLE_TABLES=y to run one mgmd \
                     per table",
                ),
            }
        }
        (Probe::Failed { step, errno }, Some(n)) => Finding::not_ok(
            CHECK,
            Status::Warning,
            format!(
                "could not be checked for table {n}: {step}: {errno}{}",
                hint(step, errno.0)
            ),
            format!(
                "if the kernel lacks CONFIG_IP_MROUTE_MULTIPLE_TABLES, mgmd cannot start with \
                 `table = {n}`"
            ),
            "run `mgmd check-system` as root",
        ),
        (Probe::Failed { step, errno }, None) => Finding::not_ok(
            CHECK,
            Status::Info,
            format!("not checked: {step}: {errno}{}", hint(step, errno.0)),
            "none for this configuration (the default table)",
            "run `mgmd check-system` as root to know whether `table` could be used",
        ),
    }
}

fn ipv6(f: &SystemFacts) -> Finding {
    const CHECK: Check = Check::Ipv6MulticastRouting;
    let cost = "none today: mgmd routes IPv4 only (IPv6 multicast routing is planned and will \
                need it)";
    let fix = "a kernel built with CONFIG_IPV6_MROUTE=y, once mgmd routes IPv6";
    let step_name = |step: ProbeStep| match step {
        ProbeStep::Init => "MRT6_INIT".to_owned(),
        other => other.to_string(),
    };
    match f.ipv6 {
        Probe::Ok => Finding::ok(
            CHECK,
            format!(
                "present: MRT6_INIT accepted {} (and released at once)",
                where_probed(f.probe_namespace)
            ),
        ),
        Probe::Failed {
            step: ProbeStep::Init,
            errno,
        } if errno.0 == libc::EADDRINUSE => Finding::ok(
            CHECK,
            "present: MRT6_INIT answered EADDRINUSE (another process owns the IPv6 table)",
        ),
        Probe::Failed { step, errno } if errno.0 == libc::ENOPROTOOPT => Finding::not_ok(
            CHECK,
            Status::Info,
            format!(
                "not in this kernel (CONFIG_IPV6_MROUTE): {} failed with {errno}",
                step_name(step)
            ),
            cost,
            fix,
        ),
        Probe::Failed {
            step: ProbeStep::Socket,
            errno,
        } if errno.0 == libc::EAFNOSUPPORT => Finding::not_ok(
            CHECK,
            Status::Info,
            format!("IPv6 is not available in this kernel: {errno}"),
            cost,
            "a kernel with IPv6 (and CONFIG_IPV6_MROUTE=y), once mgmd routes IPv6",
        ),
        Probe::Failed { step, errno } => {
            let why = format!(
                "the probe could not run: {}: {errno}{}",
                step_name(step),
                hint(step, errno.0)
            );
            match f.ip6_mr_vif {
                Some(true) => Finding::ok(
                    CHECK,
                    format!("present (/proc/net/ip6_mr_vif exists); {why}"),
                ),
                Some(false) => Finding::not_ok(
                    CHECK,
                    Status::Info,
                    format!(
                        "not in this kernel (CONFIG_IPV6_MROUTE): no /proc/net/ip6_mr_vif; {why}"
                    ),
                    cost,
                    fix,
                ),
                None => Finding::not_ok(
                    CHECK,
                    Status::Info,
                    format!("not checked: {why}"),
                    cost,
                    fix,
                ),
            }
        }
    }
}

fn table_owner(f: &SystemFacts, table: Option<u32>) -> Finding {
    const CHECK: Check = Check::TableOwner;
    let name = table_name(table);
    // A probe in this namespace on mgmd's own table says for certain
    // whether it is owned; a probe in a scratch namespace says nothing
    // about this one, and `mc_forwarding` counts the owned tables of every
    // id.
    let probe = match table {
        None => f.ipv4,
        Some(_) => f.tables,
    };
    let certain = match (f.probe_namespace, probe) {
        (ProbeNamespace::Current { .. }, Probe::Ok) => Some(false),
        (ProbeNamespace::Current { .. }, p)
            if p.errno_at(ProbeStep::Init) == Some(libc::EADDRINUSE) =>
        {
            Some(true)
        }
        _ => None,
    };
    let owned = certain.or(f.mc_forwarding.map(|n| n > 0));
    let ours = f
        .routers
        .iter()
        .find(|r| r.name == "mgmd" && Some(r.pid) == f.pid_file_pid);
    let others: Vec<String> = f
        .routers
        .iter()
        .filter(|r| Some(*r) != ours)
        .map(ToString::to_string)
        .collect();
    let running = if others.is_empty() {
        "no known multicast routing daemon found running here".to_owned()
    } else {
        format!("running here: {}", others.join(", "))
    };
    let fix = "stop the other owner (e.g. `systemctl stop smcroute`), or give each its own table \
               (`table = N` in [global]; needs CONFIG_IP_MROUTE_MULTIPLE_TABLES)";
    let forwarding = match f.mc_forwarding {
        Some(n) => format!("mc_forwarding = {n}"),
        None => "mc_forwarding unreadable".to_owned(),
    };
    match (owned, ours) {
        (Some(false), _) if certain.is_some() => Finding::ok(
            CHECK,
            format!("{name} is free: MRT_INIT in this namespace succeeded ({forwarding})"),
        ),
        (Some(false), _) => Finding::ok(
            CHECK,
            format!("no process owns a multicast routing table in this namespace ({forwarding})"),
        ),
        (Some(true), Some(me)) => Finding::ok(
            CHECK,
            format!(
                "{me}, running on this configuration (its pid file), owns it ({forwarding}); \
                 a second mgmd on {name} would be refused"
            ),
        ),
        (Some(true), None) if certain == Some(true) => Finding::not_ok(
            CHECK,
            Status::Missing,
            format!(
                "another process owns {name} in this namespace (MRT_INIT: EADDRINUSE); {running}"
            ),
            format!("mgmd cannot start while it does (it exits {EXIT_TABLE_OWNED})"),
            fix,
        ),
        (Some(true), None) => Finding::not_ok(
            CHECK,
            Status::Warning,
            format!(
                "a process owns a multicast routing table in this namespace ({forwarding}); {running}"
            ),
            format!(
                "if it owns {name}, mgmd cannot start while it does (it exits {EXIT_TABLE_OWNED})"
            ),
            fix,
        ),
        (None, _) => Finding::not_ok(
            CHECK,
            Status::Warning,
            format!("could not tell whether a process owns {name} ({forwarding}); {running}"),
            format!("if another process owns it, mgmd cannot start (it exits {EXIT_TABLE_OWNED})"),
            "run `mgmd check-system` as root",
        ),
    }
}

fn capabilities(f: &SystemFacts, table: Option<u32>) -> Finding {
    const CHECK: Check = Check::Capabilities;
    let fix = "run mgmd as root, or grant it both (the packaged systemd units do: \
               AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW); this check reports the \
               capabilities of the process that runs it";
    let needs = if table.is_some() {
        "CAP_NET_RAW opens its raw IGMP and multicast routing sockets; CAP_NET_ADMIN sets their \
         options and host memberships, and selects the table"
    } else {
        "CAP_NET_RAW opens its raw IGMP and multicast routing sockets; CAP_NET_ADMIN sets their \
         options and host memberships"
    };
    let Some(mask) = f.cap_eff else {
        return Finding::not_ok(
            CHECK,
            Status::Warning,
            "could not read CapEff from /proc/self/status",
            format!("mgmd needs CAP_NET_ADMIN and CAP_NET_RAW ({needs})"),
            fix,
        );
    };
    let lacking: Vec<&str> = [
        (CAP_NET_ADMIN, "CAP_NET_ADMIN"),
        (CAP_NET_RAW, "CAP_NET_RAW"),
    ]
    .into_iter()
    .filter(|(bit, _)| mask & (1 << bit) == 0)
    .map(|(_, name)| name)
    .collect();
    if lacking.is_empty() {
        return Finding::ok(CHECK, "CAP_NET_ADMIN and CAP_NET_RAW are held");
    }
    Finding::not_ok(
        CHECK,
        Status::Missing,
        format!("this process lacks {}", lacking.join(" and ")),
        format!("mgmd cannot start without them (it exits 77): {needs}"),
        fix,
    )
}

fn interfaces(f: &SystemFacts, cfg: &Config) -> Vec<Finding> {
    let strict_status = if cfg.global.rp_filter_warning {
        Status::Warning
    } else {
        Status::Info
    };
    cfg.interfaces
        .iter()
        .map(|i| {
            let name = i.name.as_str();
            let facts = f.interfaces.iter().find(|x| x.name == name);
            let finding = match facts {
                None | Some(super::InterfaceFacts { present: false, .. }) => Finding::not_ok(
                    Check::Interface,
                    Status::Warning,
                    "configured but not present in this network namespace",
                    "mgmd starts without it and takes it up when it appears; until then nothing \
                     is queried, joined or forwarded on it",
                    "create the interface, or correct its name in the configuration",
                ),
                Some(x) => match x.rp_filter {
                    Some(1) => {
                        let silenced = if cfg.global.rp_filter_warning {
                            ""
                        } else {
                            " (global.rp-filter-warning = false)"
                        };
                        Finding::not_ok(
                            Check::Interface,
                            strict_status,
                            format!("present; rp_filter is 1, strict{silenced}"),
                            "multicast from sources whose unicast route points out of another \
                             interface is dropped before mgmd can forward it",
                            format!(
                                "sysctl -w net.ipv4.conf.{name}.rp_filter=2 (loose: the larger of \
                                 conf.all and conf.{name} applies), persisted in /etc/sysctl.d/"
                            ),
                        )
                    }
                    Some(0) => Finding::ok(Check::Interface, "present; rp_filter 0 (off)"),
                    Some(2) => Finding::ok(Check::Interface, "present; rp_filter 2 (loose)"),
                    Some(v) => Finding::ok(Check::Interface, format!("present; rp_filter {v}")),
                    None => Finding::not_ok(
                        Check::Interface,
                        Status::Info,
                        "present; its rp_filter could not be read",
                        "none known; a strict filter (1) would drop multicast from sources \
                         routed elsewhere",
                        format!("check with `sysctl net.ipv4.conf.{name}.rp_filter`"),
                    ),
                },
            };
            Finding {
                subject: Some(name.to_owned()),
                ..finding
            }
        })
        .collect()
}

fn max_memberships(f: &SystemFacts, need: &MembershipNeed) -> Finding {
    const CHECK: Check = Check::IgmpMaxMemberships;
    let per_socket = need.per_socket();
    let Some(value) = f.igmp_max_memberships else {
        return Finding::not_ok(
            CHECK,
            Status::Info,
            format!(
                "net.ipv4.igmp_max_memberships could not be read; mgmd holds at most {per_socket} \
                 on one socket"
            ),
            "none known",
            "check with `sysctl net.ipv4.igmp_max_memberships`",
        );
    };
    if per_socket == 0 {
        return Finding::ok(
            CHECK,
            format!("{value}; this configuration makes mgmd join no group"),
        );
    }
    if value >= per_socket {
        return Finding::ok(
            CHECK,
            format!(
                "{value}, per socket; mgmd holds at most {per_socket} on one socket ({})",
                need.explain()
            ),
        );
    }
    let mut lost: Vec<String> = Vec::new();
    if need.igmp_interfaces > 0 {
        let missed: Vec<String> = IGMP_LISTEN
            .iter()
            .skip(value as usize)
            .map(|(g, what)| format!("{g} ({what})"))
            .collect();
        lost.push(format!(
            "on IGMP interfaces the joins of {} fail, so those messages are not received",
            missed.join(", ")
        ));
    }
    let host: Vec<String> = need
        .fixed
        .iter()
        .map(|(noun, _)| format!("{noun}s"))
        .chain(need.following_hosts.iter().map(|f| f.to_string()))
        .collect();
    if value == 0 && !host.is_empty() {
        lost.push(format!("{} fail", host.join(" and ")));
    }
    Finding::not_ok(
        CHECK,
        Status::Warning,
        format!(
            "{value}, below the {per_socket} mgmd holds on one socket ({})",
            need.explain()
        ),
        format!("joins beyond the limit fail (ENOBUFS): {}", lost.join("; ")),
        format!(
            "sysctl -w net.ipv4.igmp_max_memberships={per_socket} (or more; the default is 20), \
             persisted in /etc/sysctl.d/"
        ),
    )
}

fn max_msf(f: &SystemFacts, need: &MembershipNeed) -> Finding {
    const CHECK: Check = Check::IgmpMaxMsf;
    let proxy = if need.following_hosts.is_empty() {
        String::new()
    } else {
        format!(
            "; the filters of {} follow what hosts report and are not counted",
            need.following_hosts.join(" and ")
        )
    };
    let Some((noun, ifname, group, sources)) = &need.largest_filter else {
        return match f.igmp_max_msf {
            Some(v) => Finding::ok(CHECK, format!("{v}; no source-specific join{proxy}")),
            None => Finding::ok(CHECK, format!("unreadable; no source-specific join{proxy}")),
        };
    };
    let largest = format!(
        "the {noun}s of {group} on {ifname} filter {sources} source{}",
        plural(*sources)
    );
    match f.igmp_max_msf {
        Some(v) if v as usize >= *sources => {
            Finding::ok(CHECK, format!("{v}, per membership; {largest}{proxy}"))
        }
        Some(v) => Finding::not_ok(
            CHECK,
            Status::Warning,
            format!("{v}, below what {largest}{proxy}"),
            "the kernel refuses that membership's source filter (ENOBUFS): it stays joined \
             for its first source only",
            format!(
                "sysctl -w net.ipv4.igmp_max_msf={sources} (or more; the default is 10), \
                 persisted in /etc/sysctl.d/"
            ),
        ),
        None => Finding::not_ok(
            CHECK,
            Status::Info,
            format!("net.ipv4.igmp_max_msf could not be read; {largest}"),
            "none known",
            "check with `sysctl net.ipv4.igmp_max_msf`",
        ),
    }
}

// ===== helper functions =====

impl Finding {
    fn ok(check: Check, summary: impl Into<String>) -> Finding {
        Finding {
            check,
            subject: None,
            status: Status::Ok,
            summary: summary.into(),
            cost: None,
            fix: None,
        }
    }

    fn not_ok(
        check: Check,
        status: Status,
        summary: impl Into<String>,
        cost: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding {
            check,
            subject: None,
            status,
            summary: summary.into(),
            cost: Some(cost.into()),
            fix: Some(fix.into()),
        }
    }
}

fn table_name(table: Option<u32>) -> String {
    match table {
        None => "the default table".to_owned(),
        Some(n) => format!("table {n}"),
    }
}

fn where_probed(ns: ProbeNamespace) -> &'static str {
    match ns {
        ProbeNamespace::Scratch => "in a scratch network namespace",
        ProbeNamespace::Current { .. } => "in this network namespace",
    }
}

/// What a refusal at `step` usually means.
fn hint(step: ProbeStep, errno: i32) -> &'static str {
    match (step, errno) {
        (ProbeStep::Socket, libc::EPERM | libc::EACCES) => " (a raw socket needs CAP_NET_RAW)",
        (ProbeStep::Table, libc::EPERM | libc::EACCES) => " (MRT_TABLE needs CAP_NET_ADMIN)",
        _ => "",
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

// ===== tests =====

#[cfg(test)]
mod tests;
