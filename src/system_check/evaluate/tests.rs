//! Every branch of every check, from hand-made facts and configurations.

use std::path::Path;

use super::*;
use crate::system_check::render;
use crate::system_check::{
    EXIT_MISSING, EXIT_OK, EXIT_WARNINGS, Errno, InterfaceFacts, Report, RouterProcess,
};

// ===== helpers =====

const MINIMAL: &str = "[[interface]]\nname = \"eth1\"\n\n[[interface]]\nname = \"eth2\"\n";

fn config(text: &str) -> Config {
    Config::parse(text, "mgmd.toml").unwrap_or_else(|e| panic!("must validate: {e}"))
}

fn with_table(n: u32) -> Config {
    config(&format!("[global]\ntable = {n}\n\n{MINIMAL}"))
}

fn iface(name: &str, rp_filter: u8) -> InterfaceFacts {
    InterfaceFacts {
        name: name.to_owned(),
        present: true,
        rp_filter: Some(rp_filter),
    }
}

/// A system with everything mgmd needs, for [`MINIMAL`].
fn healthy() -> SystemFacts {
    SystemFacts {
        kernel_release: Some("6.1.0-test".to_owned()),
        probe_namespace: ProbeNamespace::Scratch,
        ipv4: Probe::Ok,
        tables: Probe::Ok,
        ipv6: Probe::Ok,
        ip_mr_vif: Some(true),
        ip6_mr_vif: Some(true),
        mc_forwarding: Some(0),
        routers: Vec::new(),
        pid_file_pid: None,
        cap_eff: Some((1 << CAP_NET_ADMIN) | (1 << CAP_NET_RAW)),
        igmp_max_memberships: Some(20),
        igmp_max_msf: Some(10),
        interfaces: vec![iface("eth1", 0), iface("eth2", 0)],
    }
}

fn current_ns() -> ProbeNamespace {
    ProbeNamespace::Current {
        unshare: Errno(libc::EPERM),
    }
}

fn run(facts: &SystemFacts, cfg: &Config) -> Vec<Finding> {
    evaluate(facts, Path::new("mgmd.toml"), Ok(cfg))
}

fn find(findings: &[Finding], check: Check) -> Finding {
    let mut of = findings.iter().filter(|f| f.check == check);
    let f = of.next().unwrap_or_else(|| panic!("no {check:?} finding"));
    assert!(of.next().is_none(), "more than one {check:?} finding");
    f.clone()
}

fn interface(findings: &[Finding], name: &str) -> Finding {
    findings
        .iter()
        .find(|f| f.check == Check::Interface && f.subject.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no finding for interface {name}"))
        .clone()
}

fn check_of(facts: &SystemFacts, cfg: &Config, check: Check) -> Finding {
    find(&run(facts, cfg), check)
}

/// A non-ok finding says what it costs and how to fix it; an ok one
/// neither.
fn assert_well_formed(f: &Finding) {
    if f.status == Status::Ok {
        assert!(f.cost.is_none() && f.fix.is_none(), "{f:?}");
    } else {
        assert!(f.cost.is_some() && f.fix.is_some(), "{f:?}");
    }
}

fn assert_has(f: &Finding, status: Status, words: &[&str]) {
    assert_eq!(f.status, status, "{f:#?}");
    let text = format!(
        "{} | {} | {}",
        f.summary,
        f.cost.as_deref().unwrap_or(""),
        f.fix.as_deref().unwrap_or("")
    );
    for w in words {
        assert!(text.contains(w), "{w:?} not in {text:?}");
    }
    assert_well_formed(f);
}

// ===== the whole report =====

#[test]
fn a_healthy_system_is_all_ok_and_exits_0() {
    let cfg = config(MINIMAL);
    let findings = run(&healthy(), &cfg);
    let checks: Vec<Check> = findings.iter().map(|f| f.check).collect();
    assert_eq!(
        checks,
        [
            Check::Configuration,
            Check::Ipv4MulticastRouting,
            Check::MulticastRoutingTables,
            Check::Ipv6MulticastRouting,
            Check::TableOwner,
            Check::Capabilities,
            Check::Interface,
            Check::Interface,
            Check::IgmpMaxMemberships,
            Check::IgmpMaxMsf,
        ]
    );
    for f in &findings {
        assert_eq!(f.status, Status::Ok, "{f:#?}");
        assert_well_formed(f);
    }
    let report = Report::new(findings, healthy());
    assert_eq!(report.verdict, Status::Ok);
    assert_eq!(report.exit_code(), EXIT_OK);
    assert_eq!(report.problems().count(), 0);
}

#[test]
fn the_exit_status_follows_the_worst_finding() {
    let cfg = config(MINIMAL);
    // Notes only: still 0.
    let mut f = healthy();
    f.ipv6 = Probe::failed(ProbeStep::Init, libc::ENOPROTOOPT);
    let r = Report::new(run(&f, &cfg), f);
    assert_eq!((r.verdict, r.exit_code()), (Status::Info, EXIT_OK));
    // A warning: 2.
    let mut f = healthy();
    f.interfaces[0].rp_filter = Some(1);
    let r = Report::new(run(&f, &cfg), f);
    assert_eq!((r.verdict, r.exit_code()), (Status::Warning, EXIT_WARNINGS));
    assert_eq!(r.problems().count(), 1);
    // Missing beats warning: 1.
    let mut f = healthy();
    f.interfaces[0].rp_filter = Some(1);
    f.ipv4 = Probe::failed(ProbeStep::Init, libc::ENOPROTOOPT);
    let r = Report::new(run(&f, &cfg), f);
    assert_eq!((r.verdict, r.exit_code()), (Status::Missing, EXIT_MISSING));
    assert_eq!(r.problems().count(), 2);
}

#[test]
fn an_unreadable_configuration_is_a_warning_and_the_defaults_are_checked() {
    let mut f = healthy();
    f.igmp_max_memberships = Some(0);
    let findings = evaluate(
        &f,
        Path::new("/etc/mgmd/mgmd.toml"),
        Err("/etc/mgmd/mgmd.toml: failed to read configuration: No such file"),
    );
    assert_has(
        &find(&findings, Check::Configuration),
        Status::Warning,
        &[
            "not usable",
            "No such file",
            "assumed the defaults",
            "mgmd --check -c /etc/mgmd/mgmd.toml",
        ],
    );
    // No interfaces, no memberships: nothing to say about them.
    assert!(findings.iter().all(|f| f.check != Check::Interface));
    assert_has(
        &find(&findings, Check::IgmpMaxMemberships),
        Status::Ok,
        &["join no group"],
    );
    // The checks that need no configuration ran.
    assert_eq!(
        find(&findings, Check::Ipv4MulticastRouting).status,
        Status::Ok
    );
}

#[test]
fn the_configuration_finding_names_the_table() {
    let f = check_of(&healthy(), &with_table(10), Check::Configuration);
    assert_has(
        &f,
        Status::Ok,
        &["mgmd.toml: valid (2 interfaces, table 10)"],
    );
}

// ===== IPv4 multicast routing =====

#[test]
fn ipv4_present_when_mrt_init_is_accepted() {
    let f = check_of(&healthy(), &config(MINIMAL), Check::Ipv4MulticastRouting);
    assert_has(&f, Status::Ok, &["present", "scratch network namespace"]);
    let mut facts = healthy();
    facts.probe_namespace = current_ns();
    let f = check_of(&facts, &config(MINIMAL), Check::Ipv4MulticastRouting);
    assert_has(&f, Status::Ok, &["in this network namespace"]);
}

#[test]
fn ipv4_present_when_the_table_is_owned() {
    let mut facts = healthy();
    facts.probe_namespace = current_ns();
    facts.ipv4 = Probe::failed(ProbeStep::Init, libc::EADDRINUSE);
    let f = check_of(&facts, &config(MINIMAL), Check::Ipv4MulticastRouting);
    assert_has(
        &f,
        Status::Ok,
        &["present", "EADDRINUSE", "another process owns"],
    );
}

#[test]
fn ipv4_missing_on_enoprotoopt_whatever_proc_says() {
    let mut facts = healthy();
    facts.ipv4 = Probe::failed(ProbeStep::Init, libc::ENOPROTOOPT);
    let f = check_of(&facts, &config(MINIMAL), Check::Ipv4MulticastRouting);
    assert_has(
        &f,
        Status::Missing,
        &[
            "CONFIG_IP_MROUTE",
            "ENOPROTOOPT",
            "mgmd cannot start",
            "CONFIG_IP_MROUTE=y",
        ],
    );
}

#[test]
fn ipv4_without_privileges_is_told_by_proc_net_ip_mr_vif() {
    let mut facts = healthy();
    facts.ipv4 = Probe::failed(ProbeStep::Socket, libc::EPERM);
    facts.ip_mr_vif = Some(true);
    let f = check_of(&facts, &config(MINIMAL), Check::Ipv4MulticastRouting);
    assert_has(
        &f,
        Status::Ok,
        &[
            "/proc/net/ip_mr_vif exists",
            "permission denied",
            "CAP_NET_RAW",
        ],
    );

    facts.ip_mr_vif = Some(false);
    let f = check_of(&facts, &config(MINIMAL), Check::Ipv4MulticastRouting);
    assert_has(
        &f,
        Status::Missing,
        &[
            "CONFIG_IP_MROUTE",
            "no /proc/net/ip_mr_vif",
            "permission denied",
            "mgmd cannot start",
        ],
    );

    facts.ip_mr_vif = None;
    let f = check_of(&facts, &config(MINIMAL), Check::Ipv4MulticastRouting);
    assert_has(
        &f,
        Status::Warning,
        &["could not be checked", "permission denied"],
    );
}

#[test]
fn ipv4_other_errors_fall_back_on_proc_too() {
    let mut facts = healthy();
    facts.ipv4 = Probe::failed(ProbeStep::Init, libc::EINVAL);
    facts.ip_mr_vif = Some(false);
    let f = check_of(&facts, &config(MINIMAL), Check::Ipv4MulticastRouting);
    assert_has(&f, Status::Missing, &["EINVAL", "no /proc/net/ip_mr_vif"]);
}

// ===== several tables =====

#[test]
fn tables_supported() {
    let f = check_of(&healthy(), &config(MINIMAL), Check::MulticastRoutingTables);
    assert_has(&f, Status::Ok, &["CONFIG_IP_MROUTE_MULTIPLE_TABLES"]);
    let f = check_of(&healthy(), &with_table(10), Check::MulticastRoutingTables);
    assert_has(&f, Status::Ok, &["table 10 selected"]);
}

#[test]
fn tables_missing_is_fatal_only_with_a_table_configured() {
    let mut facts = healthy();
    facts.tables = Probe::failed(ProbeStep::Table, libc::ENOPROTOOPT);
    let f = check_of(&facts, &config(MINIMAL), Check::MulticastRoutingTables);
    assert_has(
        &f,
        Status::Info,
        &[
            "CONFIG_IP_MROUTE_MULTIPLE_TABLES",
            "none for this configuration",
            "cannot be used",
        ],
    );
    let f = check_of(&facts, &with_table(10), Check::MulticastRoutingTables);
    assert_has(
        &f,
        Status::Missing,
        &[
            "CONFIG_IP_MROUTE_MULTIPLE_TABLES",
            "cannot start with `table = 10`",
            "remove `table`",
        ],
    );
}

#[test]
fn tables_without_any_multicast_routing_say_so() {
    let mut facts = healthy();
    facts.ipv4 = Probe::failed(ProbeStep::Init, libc::ENOPROTOOPT);
    facts.tables = Probe::failed(ProbeStep::Table, libc::ENOPROTOOPT);
    let f = check_of(&facts, &with_table(7), Check::MulticastRoutingTables);
    assert_has(
        &f,
        Status::Missing,
        &["no multicast routing at all", "table = 7"],
    );
}

#[test]
fn tables_owned_in_this_namespace_are_supported() {
    let mut facts = healthy();
    facts.probe_namespace = current_ns();
    facts.tables = Probe::failed(ProbeStep::Init, libc::EADDRINUSE);
    let f = check_of(&facts, &with_table(10), Check::MulticastRoutingTables);
    assert_has(&f, Status::Ok, &["supported", "EADDRINUSE"]);
}

#[test]
fn tables_unchecked_without_privileges() {
    let mut facts = healthy();
    facts.tables = Probe::failed(ProbeStep::Table, libc::EACCES);
    let f = check_of(&facts, &with_table(10), Check::MulticastRoutingTables);
    assert_has(
        &f,
        Status::Warning,
        &[
            "could not be checked for table 10",
            "permission denied",
            "CAP_NET_ADMIN",
        ],
    );
    let f = check_of(&facts, &config(MINIMAL), Check::MulticastRoutingTables);
    assert_has(
        &f,
        Status::Info,
        &["not checked", "none for this configuration"],
    );
}

// ===== IPv6 multicast routing =====

#[test]
fn ipv6_is_never_more_than_a_note() {
    let cfg = config(MINIMAL);
    let f = check_of(&healthy(), &cfg, Check::Ipv6MulticastRouting);
    assert_has(&f, Status::Ok, &["MRT6_INIT accepted"]);

    let mut facts = healthy();
    facts.ipv6 = Probe::failed(ProbeStep::Init, libc::EADDRINUSE);
    let f = check_of(&facts, &cfg, Check::Ipv6MulticastRouting);
    assert_has(&f, Status::Ok, &["EADDRINUSE"]);

    facts.ipv6 = Probe::failed(ProbeStep::Init, libc::ENOPROTOOPT);
    let f = check_of(&facts, &cfg, Check::Ipv6MulticastRouting);
    assert_has(
        &f,
        Status::Info,
        &[
            "CONFIG_IPV6_MROUTE",
            "MRT6_INIT failed with ENOPROTOOPT",
            "IPv4 only",
        ],
    );

    facts.ipv6 = Probe::failed(ProbeStep::Socket, libc::EAFNOSUPPORT);
    let f = check_of(&facts, &cfg, Check::Ipv6MulticastRouting);
    assert_has(&f, Status::Info, &["IPv6 is not available", "EAFNOSUPPORT"]);

    facts.ipv6 = Probe::failed(ProbeStep::Socket, libc::EPERM);
    facts.ip6_mr_vif = Some(true);
    let f = check_of(&facts, &cfg, Check::Ipv6MulticastRouting);
    assert_has(
        &f,
        Status::Ok,
        &["/proc/net/ip6_mr_vif exists", "permission denied"],
    );
    facts.ip6_mr_vif = Some(false);
    let f = check_of(&facts, &cfg, Check::Ipv6MulticastRouting);
    assert_has(
        &f,
        Status::Info,
        &["no /proc/net/ip6_mr_vif", "permission denied"],
    );
    facts.ip6_mr_vif = None;
    let f = check_of(&facts, &cfg, Check::Ipv6MulticastRouting);
    assert_has(&f, Status::Info, &["not checked"]);
}

// ===== the table's owner =====

fn router(pid: u32, name: &str) -> RouterProcess {
    RouterProcess {
        pid,
        name: name.to_owned(),
    }
}

#[test]
fn owner_free_table() {
    let f = check_of(&healthy(), &config(MINIMAL), Check::TableOwner);
    assert_has(&f, Status::Ok, &["no process owns", "mc_forwarding = 0"]);
    // In this namespace the probe took the table: certainly free.
    let mut facts = healthy();
    facts.probe_namespace = current_ns();
    let f = check_of(&facts, &config(MINIMAL), Check::TableOwner);
    assert_has(&f, Status::Ok, &["the default table is free"]);
}

#[test]
fn owner_is_this_configurations_mgmd() {
    let mut facts = healthy();
    facts.mc_forwarding = Some(1);
    facts.routers = vec![router(812, "mgmd")];
    facts.pid_file_pid = Some(812);
    let f = check_of(&facts, &config(MINIMAL), Check::TableOwner);
    assert_has(&f, Status::Ok, &["mgmd (pid 812)", "this configuration"]);
    // Also when the probe in this namespace met it.
    facts.probe_namespace = current_ns();
    facts.ipv4 = Probe::failed(ProbeStep::Init, libc::EADDRINUSE);
    let f = check_of(&facts, &config(MINIMAL), Check::TableOwner);
    assert_has(&f, Status::Ok, &["mgmd (pid 812)"]);
}

#[test]
fn owner_another_process_is_a_warning_when_uncertain() {
    let mut facts = healthy();
    facts.mc_forwarding = Some(1);
    facts.routers = vec![router(77, "smcrouted"), router(812, "mgmd")];
    facts.pid_file_pid = Some(900);
    let f = check_of(&facts, &config(MINIMAL), Check::TableOwner);
    assert_has(
        &f,
        Status::Warning,
        &[
            "mc_forwarding = 1",
            "smcrouted (pid 77), mgmd (pid 812)",
            "if it owns the default table",
            "exits 69",
        ],
    );
    facts.routers.clear();
    let f = check_of(&facts, &with_table(10), Check::TableOwner);
    assert_has(
        &f,
        Status::Warning,
        &["no known multicast routing daemon", "if it owns table 10"],
    );
}

#[test]
fn owner_another_process_is_missing_when_the_probe_met_it() {
    let mut facts = healthy();
    facts.probe_namespace = current_ns();
    facts.mc_forwarding = Some(1);
    facts.routers = vec![router(77, "smcrouted")];
    facts.ipv4 = Probe::failed(ProbeStep::Init, libc::EADDRINUSE);
    let f = check_of(&facts, &config(MINIMAL), Check::TableOwner);
    assert_has(
        &f,
        Status::Missing,
        &[
            "another process owns the default table",
            "smcrouted (pid 77)",
            "cannot start",
            "exits 69",
        ],
    );
    // With a table of its own, the table's probe decides: table 10 free.
    facts.tables = Probe::Ok;
    let f = check_of(&facts, &with_table(10), Check::TableOwner);
    assert_has(&f, Status::Ok, &["table 10 is free"]);
    facts.tables = Probe::failed(ProbeStep::Init, libc::EADDRINUSE);
    let f = check_of(&facts, &with_table(10), Check::TableOwner);
    assert_has(&f, Status::Missing, &["another process owns table 10"]);
}

#[test]
fn owner_unknown_when_nothing_tells() {
    let mut facts = healthy();
    facts.mc_forwarding = None;
    let f = check_of(&facts, &config(MINIMAL), Check::TableOwner);
    assert_has(
        &f,
        Status::Warning,
        &["could not tell", "mc_forwarding unreadable"],
    );
    // A probe in this namespace that could not open its socket tells nothing either.
    facts.probe_namespace = current_ns();
    facts.ipv4 = Probe::failed(ProbeStep::Socket, libc::EPERM);
    let f = check_of(&facts, &config(MINIMAL), Check::TableOwner);
    assert_eq!(f.status, Status::Warning);
}

// ===== capabilities =====

#[test]
fn capabilities_missing_are_fatal() {
    let mut facts = healthy();
    facts.cap_eff = Some(1 << CAP_NET_ADMIN);
    let f = check_of(&facts, &config(MINIMAL), Check::Capabilities);
    assert_has(
        &f,
        Status::Missing,
        &[
            "lacks CAP_NET_RAW",
            "cannot start",
            "exits 77",
            "AmbientCapabilities",
        ],
    );
    assert!(!f.summary.contains("CAP_NET_ADMIN"));
    facts.cap_eff = Some(0);
    let f = check_of(&facts, &with_table(10), Check::Capabilities);
    assert_has(
        &f,
        Status::Missing,
        &["lacks CAP_NET_ADMIN and CAP_NET_RAW", "selects the table"],
    );
    facts.cap_eff = None;
    let f = check_of(&facts, &config(MINIMAL), Check::Capabilities);
    assert_has(&f, Status::Warning, &["could not read CapEff"]);
}

// ===== interfaces =====

#[test]
fn interfaces_absent_or_strict() {
    let cfg = config(MINIMAL);
    let mut facts = healthy();
    facts.interfaces = vec![
        InterfaceFacts {
            name: "eth1".to_owned(),
            present: false,
            rp_filter: None,
        },
        iface("eth2", 1),
    ];
    let findings = run(&facts, &cfg);
    assert_has(
        &interface(&findings, "eth1"),
        Status::Warning,
        &["not present", "takes it up when it appears"],
    );
    assert_has(
        &interface(&findings, "eth2"),
        Status::Warning,
        &[
            "rp_filter is 1, strict",
            "dropped",
            "net.ipv4.conf.eth2.rp_filter=2",
        ],
    );
    // Not in the facts at all: as good as absent.
    facts.interfaces.clear();
    let findings = run(&facts, &cfg);
    assert_eq!(interface(&findings, "eth2").status, Status::Warning);
}

#[test]
fn interfaces_rp_filter_values() {
    let cfg = config(MINIMAL);
    let mut facts = healthy();
    facts.interfaces = vec![iface("eth1", 0), iface("eth2", 2)];
    let findings = run(&facts, &cfg);
    assert_has(
        &interface(&findings, "eth1"),
        Status::Ok,
        &["rp_filter 0 (off)"],
    );
    assert_has(
        &interface(&findings, "eth2"),
        Status::Ok,
        &["rp_filter 2 (loose)"],
    );
    facts.interfaces[1].rp_filter = None;
    let findings = run(&facts, &cfg);
    assert_has(
        &interface(&findings, "eth2"),
        Status::Info,
        &["could not be read"],
    );
}

#[test]
fn strict_rp_filter_is_a_note_when_its_warning_is_off() {
    let cfg = config(&format!("[global]\nrp-filter-warning = false\n\n{MINIMAL}"));
    let mut facts = healthy();
    facts.interfaces[0].rp_filter = Some(1);
    let findings = run(&facts, &cfg);
    assert_has(
        &interface(&findings, "eth1"),
        Status::Info,
        &["strict", "rp-filter-warning = false"],
    );
}

// ===== memberships =====

const STATIC_JOINS: &str = "\
[static]
[[static.join]]
interface = \"up0\"
group = \"239.1.1.1\"
source = \"10.0.0.1\"
[[static.join]]
interface = \"up0\"
group = \"239.1.1.1\"
source = \"10.0.0.2\"
[[static.join]]
interface = \"up0\"
group = \"239.1.1.1\"
source = \"10.0.0.3\"
[[static.join]]
interface = \"up0\"
group = \"239.2.2.2\"
[[static.join]]
interface = \"up0\"
group = \"239.3.3.3\"
source = \"10.0.0.1\"
[[static.join]]
interface = \"up0\"
group = \"239.3.3.3\"
";

fn static_only() -> Config {
    config(STATIC_JOINS)
}

#[test]
fn membership_need_counts_sockets_not_groups() {
    let need = MembershipNeed::of(&config(MINIMAL));
    assert_eq!(need.igmp_interfaces, 2);
    assert_eq!(need.per_socket(), 3);
    assert_eq!(need.largest_filter, None);

    let need = MembershipNeed::of(&static_only());
    assert_eq!(need.igmp_interfaces, 0);
    // Three groups on one interface: three memberships, one socket each.
    assert_eq!(need.fixed, [("static join", 3)]);
    assert!(need.following_hosts.is_empty());
    assert_eq!(need.per_socket(), 1);
    // 239.3.3.3 has a join without a source: an exclude filter, no list.
    assert_eq!(
        need.largest_filter,
        Some((
            "static join",
            "up0".to_owned(),
            "239.1.1.1".parse().unwrap(),
            3
        ))
    );

    let proxy = config("[proxy]\nupstream = [\"wan0\"]\ndownstream = [\"lan0\", \"lan1\"]\n");
    let need = MembershipNeed::of(&proxy);
    assert_eq!(need.following_hosts, ["the proxy's upstream joins"]);
    assert_eq!(need.igmp_interfaces, 2);
    assert_eq!(need.per_socket(), 3);

    assert_eq!(MembershipNeed::default().per_socket(), 0);
}

#[test]
fn max_memberships_enough() {
    let f = check_of(&healthy(), &config(MINIMAL), Check::IgmpMaxMemberships);
    assert_has(
        &f,
        Status::Ok,
        &[
            "20, per socket",
            "at most 3 on one socket",
            "2 interfaces",
            "6 in all",
        ],
    );
    let mut facts = healthy();
    facts.igmp_max_memberships = Some(3);
    let f = check_of(&facts, &config(MINIMAL), Check::IgmpMaxMemberships);
    assert_eq!(f.status, Status::Ok);
}

#[test]
fn max_memberships_too_small_names_what_is_lost() {
    let mut facts = healthy();
    facts.igmp_max_memberships = Some(2);
    let f = check_of(&facts, &config(MINIMAL), Check::IgmpMaxMemberships);
    assert_has(
        &f,
        Status::Warning,
        &[
            "2, below the 3",
            "224.0.0.1 (other routers' general queries",
            "igmp_max_memberships=3",
        ],
    );
    assert!(!f.cost.as_deref().unwrap().contains("224.0.0.22"));

    facts.igmp_max_memberships = Some(0);
    let f = check_of(&facts, &config(MINIMAL), Check::IgmpMaxMemberships);
    assert_has(
        &f,
        Status::Warning,
        &["224.0.0.22 (IGMPv3 reports), 224.0.0.2"],
    );
    assert!(!f.cost.as_deref().unwrap().contains("static joins"));

    let f = check_of(&facts, &static_only(), Check::IgmpMaxMemberships);
    assert_has(
        &f,
        Status::Warning,
        &["below the 1", "static joins fail", "3 joins"],
    );
    assert!(!f.cost.as_deref().unwrap().contains("224.0.0.22"));
}

#[test]
fn max_memberships_unread_or_unneeded() {
    let mut facts = healthy();
    facts.igmp_max_memberships = None;
    let f = check_of(&facts, &config(MINIMAL), Check::IgmpMaxMemberships);
    assert_has(&f, Status::Info, &["could not be read"]);
    let f = check_of(&healthy(), &config("[global]\n"), Check::IgmpMaxMemberships);
    assert_has(&f, Status::Ok, &["join no group"]);
}

#[test]
fn max_msf_against_the_largest_static_filter() {
    let f = check_of(&healthy(), &static_only(), Check::IgmpMaxMsf);
    assert_has(&f, Status::Ok, &["239.1.1.1 on up0 filter 3 sources"]);
    let mut facts = healthy();
    facts.igmp_max_msf = Some(2);
    let f = check_of(&facts, &static_only(), Check::IgmpMaxMsf);
    assert_has(
        &f,
        Status::Warning,
        &[
            "2, below",
            "3 sources",
            "first source only",
            "igmp_max_msf=3",
        ],
    );
    facts.igmp_max_msf = None;
    let f = check_of(&facts, &static_only(), Check::IgmpMaxMsf);
    assert_has(&f, Status::Info, &["could not be read"]);
}

#[test]
fn max_msf_without_source_specific_joins() {
    let f = check_of(&healthy(), &config(MINIMAL), Check::IgmpMaxMsf);
    assert_has(&f, Status::Ok, &["10; no source-specific join"]);
    let proxy = config("[proxy]\nupstream = [\"wan0\"]\ndownstream = [\"lan0\"]\n");
    let mut facts = healthy();
    facts.igmp_max_msf = None;
    let f = check_of(&facts, &proxy, Check::IgmpMaxMsf);
    assert_has(
        &f,
        Status::Ok,
        &["unreadable", "the filters of the proxy's upstream joins"],
    );
}

// ===== rendering =====

#[test]
fn the_table_has_a_line_per_finding_with_cost_and_fix_below() {
    let cfg = config(MINIMAL);
    let mut facts = healthy();
    facts.ipv4 = Probe::failed(ProbeStep::Init, libc::ENOPROTOOPT);
    let report = Report::new(run(&facts, &cfg), facts);
    let text = render::table(&report);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "kernel 6.1.0-test; probes ran in a scratch network namespace"
    );
    assert!(lines[2].starts_with("CHECK ") && lines[2].ends_with("STATUS   FINDING"));
    let at = lines
        .iter()
        .position(|l| l.starts_with("IPv4 multicast routing  missing  not in this kernel"))
        .expect("the IPv4 line");
    assert!(
        lines[at + 1]
            .trim_start()
            .starts_with("cost: mgmd cannot start")
    );
    assert!(lines[at + 2].trim_start().starts_with("fix:  run a kernel"));
    // The columns line up.
    let col = lines[2].find("FINDING").unwrap();
    assert_eq!(lines[at + 1].find("cost:"), Some(col));
    assert!(lines.iter().any(|l| l.starts_with("interface eth1  ")));
    assert_eq!(
        *lines.last().unwrap(),
        "missing: mgmd cannot start here, or cannot do what the configuration asks (exit 1)"
    );
}

#[test]
fn the_verdict_line_counts_warnings_and_notes() {
    let cfg = config(MINIMAL);
    let mut facts = healthy();
    facts.probe_namespace = current_ns();
    facts.ipv6 = Probe::failed(ProbeStep::Init, libc::ENOPROTOOPT);
    let report = Report::new(run(&facts, &cfg), facts.clone());
    let text = render::table(&report);
    assert!(text.starts_with(
        "kernel 6.1.0-test; probes ran in this network namespace (no scratch namespace: \
         unshare: permission denied (EPERM))"
    ));
    assert!(text.ends_with("ok: everything mgmd needs is there (1 note) (exit 0)\n"));
    facts.interfaces = vec![iface("eth1", 1), iface("eth2", 1)];
    let report = Report::new(run(&facts, &cfg), facts);
    assert!(
        render::table(&report).ends_with("warning: mgmd runs, degraded (2 warnings) (exit 2)\n")
    );
}

#[test]
fn json_names_errnos_and_statuses() {
    let mut facts = healthy();
    facts.ipv4 = Probe::failed(ProbeStep::Init, libc::ENOPROTOOPT);
    let report = Report::new(run(&facts, &config(MINIMAL)), facts);
    let v = serde_json::to_value(&report).unwrap();
    assert_eq!(v["verdict"], "missing");
    assert_eq!(v["exit-status"], 1);
    assert_eq!(v["findings"][1]["check"], "ipv4-multicast-routing");
    assert_eq!(v["findings"][1]["status"], "missing");
    assert_eq!(v["findings"][0]["cost"], serde_json::Value::Null);
    assert_eq!(v["facts"]["ipv4"]["failed"]["errno"], "ENOPROTOOPT");
    assert_eq!(v["facts"]["ipv4"]["failed"]["step"], "init");
    assert_eq!(v["facts"]["probe-namespace"], "scratch");
}

#[test]
fn errnos_read_as_names_and_permission_as_permission() {
    assert_eq!(
        Errno(libc::ENOPROTOOPT).to_string(),
        "ENOPROTOOPT (protocol not available)"
    );
    assert_eq!(Errno(libc::EPERM).to_string(), "permission denied (EPERM)");
    assert_eq!(
        Errno(libc::EACCES).to_string(),
        "permission denied (EACCES)"
    );
}

#[test]
fn one_line_carries_label_status_summary_and_cost() {
    let mut facts = healthy();
    facts.interfaces[0].rp_filter = Some(1);
    let findings = run(&facts, &config(MINIMAL));
    let line = interface(&findings, "eth1").one_line();
    assert!(
        line.starts_with("interface eth1: warning: present; rp_filter is 1, strict; multicast"),
        "{line}"
    );
}
