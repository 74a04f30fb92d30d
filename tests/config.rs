//! The configuration layer: every example validates, each kind of mistake
//! is rejected with its exact position and message, defaults follow RFC 3376
//! and per-interface overrides merge onto the `[igmp]` defaults.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::Ipv4Net;
use mgmd::cli::config_file::load;
use mgmd::config::{Config, ConfigError, GroupRange, Position};
use mgmd::core::igmp::config::{IgmpIfConfig, IgmpVersion};
use mgmd::core::protocol::proxy::{NAME as PROXY, ProxyConfig};
use mgmd::core::protocol::static_routes::{NAME as STATIC, Outbound, StaticConfig};
use mgmd::core::types::GroupAddr;

// ===== helpers =====

fn example(name: &str) -> Config {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    load(&path).unwrap_or_else(|e| panic!("{name} must validate: {e}"))
}

fn parse(text: &str) -> Config {
    Config::parse(text, "mgmd.toml").unwrap_or_else(|e| panic!("must validate: {e}"))
}

/// The full error line for `text`, which must be rejected.
fn reject(text: &str) -> String {
    match Config::parse(text, "mgmd.toml") {
        Ok(c) => panic!("accepted: {c:?}"),
        Err(e) => e.to_string(),
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn net(s: &str) -> Ipv4Net {
    s.parse().unwrap()
}

fn group(s: &str) -> GroupAddr {
    s.parse().unwrap()
}

fn igmp_of<'a>(c: &'a Config, ifname: &str) -> Option<&'a IgmpIfConfig> {
    c.interface(ifname)
        .unwrap_or_else(|| panic!("{ifname} is not configured"))
        .igmp
        .as_ref()
}

// ===== examples =====

#[test]
fn every_example_validates() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            load(&path).unwrap_or_else(|e| panic!("{e}"));
            count += 1;
        }
    }
    assert!(count >= 5, "expected the five examples, found {count}");
}

#[test]
fn minimal_example_runs_default_igmp_on_two_interfaces() {
    let c = example("minimal.toml");
    let names: Vec<_> = c.interfaces.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["eth1", "eth2"]);
    assert_eq!(igmp_of(&c, "eth1"), Some(&IgmpIfConfig::default()));
    assert_eq!(igmp_of(&c, "eth2"), Some(&IgmpIfConfig::default()));
    assert!(c.protocols.is_empty());
    assert_eq!(c.owner_of("eth1"), None);
}

#[test]
fn querier_only_example_has_a_listen_only_interface() {
    let c = example("querier-only.toml");
    let br0 = igmp_of(&c, "br0").unwrap();
    let br1 = igmp_of(&c, "br1").unwrap();
    assert_eq!(br0.version, IgmpVersion::V2);
    assert_eq!(br0.query_interval, secs(60));
    assert!(br0.querier);
    assert!(!br1.querier);
    assert_eq!(br1.version, IgmpVersion::V2);
}

#[test]
fn static_example_builds_routes_and_joins() {
    let c = example("static.toml");
    let s = c.protocol::<StaticConfig>().unwrap();
    assert_eq!(s.interfaces, ["eth0", "eth2", "eth3"]);
    assert_eq!(s.routes.len(), 2);
    assert_eq!(s.routes[0].source, Some(net("10.0.0.5/32")));
    assert_eq!(s.routes[0].group.as_single(), Some(group("239.1.1.1")));
    assert_eq!(s.routes[0].inbound, "eth0");
    assert_eq!(
        s.routes[0].outbound,
        [
            Outbound {
                name: "eth2".into(),
                only_with_members: false
            },
            Outbound {
                name: "eth3".into(),
                only_with_members: true
            }
        ]
    );
    assert_eq!(s.routes[1].source, None);
    assert_eq!(s.routes[1].group.net(), net("239.2.0.0/16"));
    assert!(s.routes[1].group.contains(group("239.2.9.9")));
    assert_eq!(s.joins[0].group, group("239.5.5.5"));
    assert_eq!(s.joins[0].source, Some(Ipv4Addr::new(10, 0, 0, 9)));
    assert_eq!(c.owner_of("eth0"), Some(STATIC));
    assert_eq!(c.owner_of("eth3"), Some(STATIC));
    assert_eq!(c.owner_of("eth9"), None);
    // IGMP only where a section asks for it.
    assert!(igmp_of(&c, "eth3").is_some());
    assert!(igmp_of(&c, "eth0").is_none());
    assert!(igmp_of(&c, "eth2").is_none());
}

#[test]
fn proxy_example_owns_upstreams_and_runs_igmp_downstream() {
    let c = example("proxy.toml");
    let p = c.protocol::<ProxyConfig>().unwrap();
    assert_eq!(p.upstream, ["wan0", "wan1"]);
    assert_eq!(p.downstream, ["lan0", "lan1"]);
    assert_eq!(c.owner_of("wan0"), Some(PROXY));
    assert_eq!(c.owner_of("wan1"), Some(PROXY));
    assert_eq!(c.owner_of("lan0"), None);
    assert!(p.upstream_groups.permits(group("239.1.2.3")));
    assert!(!p.upstream_groups.permits(group("238.1.2.3")));
    assert!(p.downstream_groups.permits(group("238.1.2.3")));
    assert!(p.is_legal_source(Ipv4Addr::new(10, 9, 9, 9).into()));
    assert!(!p.is_legal_source(Ipv4Addr::new(172, 16, 0, 1).into()));
    // No IGMP router side on the upstreams.
    assert!(igmp_of(&c, "wan0").is_none());
    assert!(igmp_of(&c, "wan1").is_none());
    // Downstreams get the [igmp] defaults, lan1 its own override on top.
    let lan0 = igmp_of(&c, "lan0").unwrap();
    let lan1 = igmp_of(&c, "lan1").unwrap();
    assert_eq!(lan0.last_member_query_interval, Duration::from_millis(500));
    assert!(!lan0.immediate_leave);
    assert_eq!(lan1.last_member_query_interval, Duration::from_millis(500));
    assert!(lan1.immediate_leave);
}

#[test]
fn full_example_sets_every_section() {
    let c = example("full.toml");
    assert_eq!(c.global.table, Some(10));
    assert_eq!(c.global.mfe_idle_timeout, secs(900));
    assert_eq!(c.igmp_defaults.max_groups, Some(1000));
    assert_eq!(c.igmp_defaults.deny_groups, [net("239.255.255.250/32")]);
    assert!(igmp_of(&c, "dmz0").is_none());
    assert_eq!(c.owner_of("dmz0"), Some(STATIC));
    assert_eq!(c.owner_of("srv0"), Some(STATIC));
    assert_eq!(c.owner_of("wan1"), Some(PROXY));
    let lan1 = igmp_of(&c, "lan1").unwrap();
    assert_eq!(lan1.version, IgmpVersion::V2);
    assert_eq!(lan1.query_interval, secs(60));
    assert_eq!(lan1.max_sources_per_group, Some(64));
}

// ===== defaults and merging =====

#[test]
fn a_table_of_its_own_gets_its_own_socket_and_pid_file() {
    let c = parse("[global]\ntable = 10\n");
    assert_eq!(
        c.global.control_socket,
        PathBuf::from("/run/mgmd/mgmd-10.sock")
    );
    assert_eq!(c.global.pid_file, PathBuf::from("/run/mgmd/mgmd-10.pid"));
    // Named paths win.
    let c = parse(
        "[global]\ntable = 10\ncontrol-socket = \"/run/a.sock\"\npid-file = \"/run/a.pid\"\n",
    );
    assert_eq!(c.global.control_socket, PathBuf::from("/run/a.sock"));
    assert_eq!(c.global.pid_file, PathBuf::from("/run/a.pid"));
}

#[test]
fn metrics_listen_is_an_address_and_port_and_off_by_default() {
    assert_eq!(parse("").global.metrics_listen, None);
    let c = parse("[global]\nmetrics-listen = \"127.0.0.1:9477\"\n");
    assert_eq!(
        c.global.metrics_listen,
        Some("127.0.0.1:9477".parse().unwrap())
    );
    let c = parse("[global]\nmetrics-listen = \"[::1]:9477\"\n");
    assert_eq!(c.global.metrics_listen, Some("[::1]:9477".parse().unwrap()));
    assert_eq!(
        reject("[global]\nmetrics-listen = \"localhost:9477\"\n"),
        "mgmd.toml:2:18: metrics-listen = \"localhost:9477\" is not an address and port; \
         write e.g. \"127.0.0.1:9477\", or \"[::1]:9477\" for IPv6"
    );
    assert!(
        reject("[global]\nmetrics-listen = \"127.0.0.1\"\n").contains("not an address and port")
    );
    assert!(reject("[global]\nmetrics-listen = \"127.0.0.1:0\"\n").contains("port 0"));
    assert!(reject("[global]\nmetrics-listen = 9477\n").starts_with("mgmd.toml:2:"));
}

#[test]
fn kernel_audit_interval_is_a_minute_by_default_zero_turns_it_off() {
    assert_eq!(parse("").global.kernel_audit_interval, secs(60));
    let c = parse("[global]\nkernel-audit-interval = \"5s\"\n");
    assert_eq!(c.global.kernel_audit_interval, secs(5));
    let c = parse("[global]\nkernel-audit-interval = \"0s\"\n");
    assert_eq!(c.global.kernel_audit_interval, secs(0));
    assert_eq!(
        reject("[global]\nkernel-audit-interval = \"500ms\"\n"),
        "mgmd.toml:2:25: kernel-audit-interval = 0.5s is out of range; use 1s..=86400s (a day; \
         default 60s), or \"0s\" for no periodic audit"
    );
    assert!(reject("[global]\nkernel-audit-interval = \"2days\"\n").contains("out of range"));
    assert!(reject("[global]\nkernel-audit-interval = 60\n").contains("has no unit"));
}

#[test]
fn empty_file_gives_rfc_defaults() {
    let c = parse("");
    let d = &c.igmp_defaults;
    // RFC 3376 section 8.
    assert_eq!(d.version, IgmpVersion::V3);
    assert_eq!(d.robustness, 2); // 8.1
    assert_eq!(d.query_interval, secs(125)); // 8.2
    assert_eq!(d.query_response_interval, secs(10)); // 8.3
    assert_eq!(d.startup_query_interval, Duration::from_millis(31_250)); // 8.6
    assert_eq!(d.startup_query_count, 2); // 8.7
    assert_eq!(d.last_member_query_interval, secs(1)); // 8.8
    assert_eq!(d.last_member_query_count, 2); // 8.9
    assert_eq!(d.ssm_range, [net("232.0.0.0/8")]); // RFC 4607
    assert!(d.querier && d.check_source_subnet);
    assert!(!d.immediate_leave && !d.require_router_alert);
    assert_eq!(d.max_groups, Some(4096)); // mgmd's own default
    assert_eq!(*d, IgmpIfConfig::default());
    assert_eq!(
        c.global.control_socket,
        PathBuf::from("/run/mgmd/mgmd.sock")
    );
    assert_eq!(c.global.pid_file, PathBuf::from("/run/mgmd/mgmd.pid"));
    assert_eq!(c.global.table, None);
    assert_eq!(c.global.mfe_idle_timeout, secs(900));
    assert!(c.interfaces.is_empty());
}

#[test]
fn counts_and_startup_interval_follow_the_effective_values() {
    let c = parse(
        r#"
[igmp]
robustness = 3
query-interval = "100s"

[[interface]]
name = "eth1"

[[interface]]
name = "eth2"
robustness = 5
query-interval = "40s"

[[interface]]
name = "eth3"
last-member-query-count = 1
startup-query-interval = "5s"
"#,
    );
    let eth1 = igmp_of(&c, "eth1").unwrap();
    assert_eq!(eth1.last_member_query_count, 3);
    assert_eq!(eth1.startup_query_count, 3);
    assert_eq!(eth1.startup_query_interval, secs(25));
    let eth2 = igmp_of(&c, "eth2").unwrap();
    assert_eq!(eth2.last_member_query_count, 5);
    assert_eq!(eth2.startup_query_count, 5);
    assert_eq!(eth2.startup_query_interval, secs(10));
    let eth3 = igmp_of(&c, "eth3").unwrap();
    assert_eq!(eth3.last_member_query_count, 1);
    assert_eq!(eth3.startup_query_count, 3);
    assert_eq!(eth3.startup_query_interval, secs(5));
}

#[test]
fn interface_overrides_merge_onto_global_defaults() {
    let c = parse(
        r#"
[igmp]
version = 2
query-response-interval = "5s"
max-groups = 100
deny-groups = ["239.255.0.0/16"]

[[interface]]
name = "eth1"
query-interval = "30s"
max-groups = "unlimited"
deny-groups = ["239.1.0.0/16", "239.2.2.2"]

[[interface]]
name = "eth2"
igmp = false
"#,
    );
    let eth1 = igmp_of(&c, "eth1").unwrap();
    assert_eq!(eth1.version, IgmpVersion::V2); // inherited
    assert_eq!(eth1.query_response_interval, secs(5)); // inherited
    assert_eq!(eth1.query_interval, secs(30)); // overridden
    assert_eq!(eth1.robustness, 2); // RFC default
    assert_eq!(eth1.max_groups, None); // overridden to unlimited
    // A list replaces the inherited list, it does not extend it.
    assert_eq!(eth1.deny_groups, [net("239.1.0.0/16"), net("239.2.2.2/32")]);
    assert_eq!(c.igmp_defaults.max_groups, Some(100));
    assert!(igmp_of(&c, "eth2").is_none());
}

#[test]
fn group_range_keeps_single_groups_and_prefixes_apart() {
    let single = GroupRange::single(group("239.1.1.1")).unwrap();
    assert_eq!(single.to_string(), "239.1.1.1");
    assert_eq!(single.as_single(), Some(group("239.1.1.1")));
    let prefix = GroupRange::new(net("239.1.0.0/16")).unwrap();
    assert_eq!(prefix.to_string(), "239.1.0.0/16");
    assert_eq!(prefix.as_single(), None);
    assert!(GroupRange::new(net("10.0.0.0/8")).is_none());
    assert!(GroupRange::new(net("192.0.0.0/2")).is_none());
}

#[test]
fn read_error_names_the_file() {
    let e = load("/nonexistent/mgmd.toml").unwrap_err();
    assert!(matches!(e, ConfigError::Read { .. }));
    assert!(
        e.to_string()
            .starts_with("/nonexistent/mgmd.toml: failed to read configuration: ")
    );
    assert_eq!(e.position(), None);
}

#[test]
fn errors_expose_position_and_message() {
    let e = Config::parse("[igmp]\nrobustness = 0\n", "x.toml").unwrap_err();
    assert_eq!(
        e.position(),
        Some(Position {
            line: 2,
            column: 14
        })
    );
    assert_eq!(e.path(), std::path::Path::new("x.toml"));
    assert!(e.message().starts_with("robustness = 0 is out of range"));
}

// ===== rejections =====

#[test]
fn rejects_unknown_key_listing_allowed_keys() {
    assert_eq!(
        reject("[global]\ncontrol-sock = \"/run/x\"\n"),
        "mgmd.toml:2:1: unknown key `control-sock`; allowed keys: `control-socket`, \
         `pid-file`, `table`, `mfe-idle-timeout`, `log-level`, `rp-filter-warning`, \
         `metrics-listen`, `kernel-audit-interval`"
    );
    assert_eq!(
        reject("[proxy]\nupstream = [\"wan0\"]\ndownstream = [\"lan0\"]\nupstream-allow = []\n"),
        "mgmd.toml:4:1: unknown key `upstream-allow`; allowed keys: `upstream`, `downstream`, \
         `upstream-allow-groups`, `upstream-deny-groups`, `downstream-allow-groups`, \
         `downstream-deny-groups`, `legal-sources`"
    );
    assert_eq!(
        reject(
            "[[static.route]]\ngroup = \"239.1.1.1\"\ninbound = \"a\"\noutbound = [{ name = \"b\", members = true }]\n"
        ),
        "mgmd.toml:4:27: unknown key `members`; allowed keys: `name`, `only-with-members`"
    );
}

#[test]
fn rejects_a_bare_number_as_duration() {
    assert_eq!(
        reject("[igmp]\nquery-interval = 125\n"),
        "mgmd.toml:2:18: query-interval = 125 has no unit; durations are strings with a \
         unit, e.g. \"125s\", \"2m\", \"500ms\""
    );
}

#[test]
fn rejects_a_bad_duration_string() {
    assert_eq!(
        reject("[global]\nmfe-idle-timeout = \"15 fortnights\"\n"),
        "mgmd.toml:2:20: mfe-idle-timeout = \"15 fortnights\" is not a duration (unknown \
         time unit \"fortnights\", supported units: ns, us/µs, ms, sec, min, hours, days, weeks, \
         months, years (and few variations)); write a number and a unit, e.g. \"125s\", \
         \"1m30s\", \"500ms\""
    );
}

#[test]
fn rejects_a_group_that_is_not_multicast() {
    assert_eq!(
        reject(
            "[[static.route]]\ngroup = \"10.1.1.1\"\ninbound = \"eth0\"\noutbound = [\"eth1\"]\n"
        ),
        "mgmd.toml:2:9: group: \"10.1.1.1\" is not a multicast group; groups are inside \
         224.0.0.0/4, e.g. \"239.1.1.1\" or \"239.1.0.0/16\""
    );
    assert_eq!(
        reject("[igmp]\nallow-groups = [\"239.0.0.0/8\", \"192.0.0.0/2\"]\n"),
        "mgmd.toml:2:32: allow-groups: \"192.0.0.0/2\" is not a multicast group; groups are \
         inside 224.0.0.0/4, e.g. \"239.1.1.1\" or \"239.1.0.0/16\""
    );
}

#[test]
fn rejects_a_prefix_with_host_bits() {
    assert_eq!(
        reject("[igmp]\nssm-range = [\"232.1.1.1/8\"]\n"),
        "mgmd.toml:2:14: ssm-range: \"232.1.1.1/8\" has host bits set; did you mean \
         \"232.0.0.0/8\"?"
    );
}

#[test]
fn rejects_a_source_that_is_not_unicast() {
    let route = |src: &str| {
        format!(
            "[[static.route]]\nsource = \"{src}\"\ngroup = \"239.1.1.1\"\ninbound = \"eth0\"\n\
             outbound = [\"eth1\"]\n"
        )
    };
    assert_eq!(
        reject(&route("239.2.2.2")),
        "mgmd.toml:2:10: source: \"239.2.2.2\" is a multicast address; a source is the \
         unicast address (or prefix) of a sender"
    );
    assert_eq!(
        reject(&route("0.0.0.0")),
        "mgmd.toml:2:10: source: \"0.0.0.0\" is the unspecified address; a source is the \
         address of a sender"
    );
    assert_eq!(
        reject(&route("255.255.255.255")),
        "mgmd.toml:2:10: source: \"255.255.255.255\" is the broadcast address; a source is \
         the unicast address of a sender"
    );
    assert_eq!(
        reject(&route("0.0.0.0/0")),
        "mgmd.toml:2:10: source: \"0.0.0.0/0\" covers every address; omit it to match any \
         source"
    );
    assert_eq!(
        reject(
            "[proxy]\nupstream = [\"wan0\"]\ndownstream = [\"lan0\"]\nlegal-sources = [\"224.0.0.0/3\"]\n"
        ),
        "mgmd.toml:4:18: legal-sources: \"224.0.0.0/3\" is a multicast address; a source is \
         the unicast address (or prefix) of a sender"
    );
}

#[test]
fn rejects_an_interface_claimed_by_two_protocols() {
    assert_eq!(
        reject(
            "[[static.route]]\ngroup = \"239.1.1.1\"\ninbound = \"eth0\"\noutbound = [\"wan0\"]\n\n\
             [proxy]\nupstream = [\"wan0\"]\ndownstream = [\"lan0\"]\n"
        ),
        "mgmd.toml:7:13: interface 'wan0' is claimed by two protocols: static (route \
         outbound, line 4) and proxy (upstream, line 7); an interface belongs to at most one \
         routing protocol"
    );
    assert_eq!(
        reject(
            "[proxy]\nupstream = [\"wan0\"]\ndownstream = [\"lan0\"]\n\n\
             [static]\ninterfaces = [\"lan0\"]\n"
        ),
        "mgmd.toml:6:15: interface 'lan0' is claimed by two protocols: proxy (downstream, \
         line 3) and static (listed in interfaces, line 6); an interface belongs to at most \
         one routing protocol"
    );
}

#[test]
fn rejects_igmp_values_out_of_rfc_range() {
    let cases = [
        (
            "version = 4",
            "mgmd.toml:2:11: version = 4 is not an IGMP version; use 1, 2 or 3",
        ),
        (
            "robustness = 0",
            "mgmd.toml:2:14: robustness = 0 is out of range; use 1..=7 (QRV is 3 bits and 0 is \
             not allowed, RFC 3376 4.1.6 and 8.1)",
        ),
        (
            "robustness = 8",
            "mgmd.toml:2:14: robustness = 8 is out of range; use 1..=7 (QRV is 3 bits and 0 is \
             not allowed, RFC 3376 4.1.6 and 8.1)",
        ),
        (
            "query-interval = \"31745s\"",
            "mgmd.toml:2:18: query-interval = 31745s is out of range; use 1s..=31744s (the \
             largest Querier's Query Interval Code, RFC 3376 4.1.7)",
        ),
        (
            "query-interval = \"62.5s\"",
            "mgmd.toml:2:18: query-interval = 62.5s is not a whole number of seconds; the \
             Querier's Query Interval Code counts seconds (RFC 3376 4.1.7)",
        ),
        (
            "query-response-interval = \"3175s\"",
            "mgmd.toml:2:27: query-response-interval = 3175s is out of range; use \
             0.1s..=3174.4s (IGMPv3 Max Resp Code, RFC 3376 4.1.1 and 8.3; at most 25.5s for \
             IGMPv2)",
        ),
        (
            "query-response-interval = \"1250ms\"",
            "mgmd.toml:2:27: query-response-interval = 1.25s is not a multiple of 100ms; \
             queries carry it in tenths of a second (RFC 3376 4.1.1)",
        ),
        (
            "last-member-query-interval = \"0s\"",
            "mgmd.toml:2:30: last-member-query-interval = 0s is out of range; use \
             0.1s..=3174.4s (IGMPv3 Max Resp Code, RFC 3376 4.1.1 and 8.8; at most 25.5s for \
             IGMPv2)",
        ),
        (
            "last-member-query-count = 0",
            "mgmd.toml:2:27: last-member-query-count = 0 is out of range; use 1..=255 (RFC \
             3376 8.9; default = robustness)",
        ),
        (
            "startup-query-count = 256",
            "mgmd.toml:2:23: startup-query-count = 256 is out of range; use 1..=255 (RFC 3376 \
             8.7; default = robustness)",
        ),
        (
            "max-groups = 0",
            "mgmd.toml:2:14: max-groups = 0 is not a valid limit; use 1..=4294967295 or \
             \"unlimited\"",
        ),
    ];
    for (line, expected) in cases {
        assert_eq!(reject(&format!("[igmp]\n{line}\n")), expected, "for {line}");
    }
}

#[test]
fn rejects_response_interval_not_below_query_interval() {
    assert_eq!(
        reject("[igmp]\nquery-interval = \"10s\"\n"),
        "mgmd.toml:2:18: query-response-interval 10s (default) is not less than \
         query-interval 10s; the response interval must be shorter than the query interval \
         (RFC 3376 8.3)"
    );
    // The override is blamed, and the inherited value is located.
    assert_eq!(
        reject(
            "[igmp]\nquery-response-interval = \"20s\"\n\n[[interface]]\nname = \"eth1\"\n\
             query-interval = \"20s\"\n"
        ),
        "mgmd.toml:6:18: query-response-interval 20s (line 2) is not less than \
         query-interval 20s on interface 'eth1'; the response interval must be shorter than \
         the query interval (RFC 3376 8.3)"
    );
}

#[test]
fn rejects_v2_response_times_that_do_not_fit_the_packet() {
    assert_eq!(
        reject("[igmp]\nversion = 2\nquery-response-interval = \"30s\"\n"),
        "mgmd.toml:3:27: query-response-interval 30s does not fit an IGMPv2 query; with \
         version = 2 (line 2) it may be at most 25.5s (Max Resp Time counts tenths of a \
         second in 8 bits, RFC 2236 2.2): lower it or use version = 3"
    );
    // The same value is fine for v3 and rejected where an interface uses v2.
    assert_eq!(
        reject(
            "[igmp]\nlast-member-query-interval = \"26s\"\n\n[[interface]]\nname = \"eth1\"\n\
             version = 2\n"
        ),
        "mgmd.toml:6:11: last-member-query-interval 26s (line 2) does not fit an IGMPv2 \
         query on interface 'eth1'; with version = 2 it may be at most 25.5s (Max Resp Time \
         counts tenths of a second in 8 bits, RFC 2236 2.2): lower it or use version = 3"
    );
}

#[test]
fn rejects_startup_interval_longer_than_query_interval() {
    assert_eq!(
        reject("[igmp]\nstartup-query-interval = \"200s\"\n"),
        "mgmd.toml:2:26: startup-query-interval 200s is longer than query-interval 125s \
         (default); startup queries come at most query-interval apart (RFC 3376 8.6: default \
         query-interval/4)"
    );
}

#[test]
fn rejects_inbound_interface_in_outbound_list() {
    assert_eq!(
        reject(
            "[[static.route]]\ngroup = \"239.1.1.1\"\ninbound = \"eth0\"\n\
             outbound = [\"eth1\", \"eth0\"]\n"
        ),
        "mgmd.toml:4:21: interface 'eth0' is both the inbound interface and an outbound \
         interface of this route; traffic is never sent back out of the interface it arrived \
         on: remove it from outbound"
    );
}

#[test]
fn rejects_duplicate_interface_sections() {
    assert_eq!(
        reject("[[interface]]\nname = \"eth1\"\n\n[[interface]]\nname = \"eth1\"\nversion = 2\n"),
        "mgmd.toml:5:8: duplicate [[interface]] section for 'eth1' (the first is at line 2); \
         each interface has one section: merge them"
    );
}

#[test]
fn rejects_invalid_interface_names() {
    assert_eq!(
        reject("[[interface]]\nname = \"averyveryverylong0\"\n"),
        "mgmd.toml:2:8: name: interface name \"averyveryverylong0\" is 18 bytes long; Linux \
         interface names have at most 15 bytes (IFNAMSIZ)"
    );
    assert_eq!(
        reject("[[interface]]\nname = \"eth0/1\"\n"),
        "mgmd.toml:2:8: name: interface name \"eth0/1\" contains '/'; interface names may not \
         contain '/', ':' or whitespace"
    );
    assert_eq!(
        reject("[proxy]\nupstream = [\"wan 0\"]\ndownstream = [\"lan0\"]\n"),
        "mgmd.toml:2:13: upstream: interface name \"wan 0\" contains ' '; interface names may \
         not contain '/', ':' or whitespace"
    );
    // 15 bytes is the longest allowed name.
    parse("[[interface]]\nname = \"abcdefghijklmno\"\n");
}

#[test]
fn rejects_a_proxy_without_upstream() {
    assert_eq!(
        reject("[global]\n\n[proxy]\ndownstream = [\"lan0\"]\n"),
        "mgmd.toml:3:1: [proxy] has no upstream interface; add upstream = [\"wan0\"] (several \
         are tried in order)"
    );
}

#[test]
fn rejects_an_interface_both_upstream_and_downstream() {
    assert_eq!(
        reject("[proxy]\nupstream = [\"wan0\", \"lan0\"]\ndownstream = [\"lan0\"]\n"),
        "mgmd.toml:3:15: interface 'lan0' is both a proxy upstream and a proxy downstream; \
         an interface is one or the other"
    );
}

#[test]
fn rejects_igmp_settings_where_igmp_is_off() {
    assert_eq!(
        reject("[[interface]]\nname = \"eth1\"\nigmp = false\nquery-interval = \"60s\"\n"),
        "mgmd.toml:4:18: interface 'eth1' sets the IGMP key `query-interval` but IGMP does \
         not run there (igmp = false); remove the IGMP keys or set igmp = true"
    );
    assert_eq!(
        reject(
            "[proxy]\nupstream = [\"wan0\"]\ndownstream = [\"lan0\"]\n\n[[interface]]\n\
             name = \"wan0\"\nversion = 2\n"
        ),
        "mgmd.toml:7:11: interface 'wan0' sets the IGMP key `version` but IGMP does not run \
         there (IGMP is off by default on a proxy upstream); remove the IGMP keys or set igmp \
         = true"
    );
    assert_eq!(
        reject(
            "[proxy]\nupstream = [\"wan0\"]\ndownstream = [\"lan0\"]\n\n[[interface]]\n\
             name = \"lan0\"\nigmp = false\n"
        ),
        "mgmd.toml:7:8: interface 'lan0' is a proxy downstream but has igmp = false; the \
         proxy learns its receivers through IGMP there: remove igmp = false"
    );
}

#[test]
fn rejects_only_with_members_without_igmp() {
    assert_eq!(
        reject(
            "[[static.route]]\ngroup = \"239.1.1.1\"\ninbound = \"eth0\"\n\
             outbound = [{ name = \"eth1\", only-with-members = true }]\n"
        ),
        "mgmd.toml:4:13: outbound interface 'eth1' has only-with-members = true but IGMP \
         does not run on it; add an [[interface]] section with name = \"eth1\" (IGMP is on by \
         default there) or drop only-with-members"
    );
}

#[test]
fn static_routes_may_name_interfaces_it_owns_only_at_runtime() {
    // With an explicit list, static owns only the listed interfaces at
    // start; routes naming others apply once it is given them at runtime.
    let cfg = Config::parse(
        "[static]\ninterfaces = [\"eth0\"]\n\n[[static.route]]\n\
         group = \"239.1.1.1\"\ninbound = \"eth0\"\noutbound = [\"eth2\"]\n\n\
         [proxy]\nupstream = [\"eth2\"]\ndownstream = [\"eth3\"]\n",
        "mgmd.toml",
    )
    .unwrap();
    assert_eq!(
        cfg.protocol::<StaticConfig>().unwrap().interfaces,
        vec!["eth0".to_string()]
    );
    assert_eq!(cfg.owner_of("eth2"), Some("proxy"));
}

#[test]
fn rejects_duplicate_routes_and_bad_joins() {
    assert_eq!(
        reject(
            "[[static.route]]\ngroup = \"239.1.1.1\"\ninbound = \"eth0\"\noutbound = [\"eth1\"]\n\n\
             [[static.route]]\ngroup = \"239.1.1.1\"\ninbound = \"eth0\"\noutbound = [\"eth2\"]\n"
        ),
        "mgmd.toml:7:9: a route for (*, 239.1.1.1) is already defined at line 2; give each \
         source/group one route and list all its outbound interfaces there"
    );
    assert_eq!(
        reject("[[static.join]]\ninterface = \"eth0\"\ngroup = \"239.1.0.0/16\"\n"),
        "mgmd.toml:3:9: group: \"239.1.0.0/16\" is a prefix; a join is for one group address"
    );
}

#[test]
fn rejects_global_values_out_of_range() {
    assert_eq!(
        reject("[global]\ntable = 0\n"),
        "mgmd.toml:2:9: table = 0 is out of range; a multicast routing table id is \
         1..=999999999 (omit table for the default table)"
    );
    assert_eq!(
        reject("[global]\ncontrol-socket = \"mgmd.sock\"\n"),
        "mgmd.toml:2:18: control-socket = \"mgmd.sock\" is not an absolute path; give a path \
         starting with '/'"
    );
    assert_eq!(
        reject("[global]\nlog-level = \"verbose\"\n"),
        "mgmd.toml:2:13: unknown log level 'verbose'; use one of error, warn, info, debug, \
         trace"
    );
}

#[test]
fn rejects_syntax_errors_and_wrong_types_with_position() {
    assert_eq!(
        reject("[igmp]\nversion = \"3\"\n"),
        "mgmd.toml:2:11: invalid type: string \"3\"; expected an integer"
    );
    assert_eq!(
        reject("[[static.route]]\ngroup = \"239.1.1.1\"\noutbound = [\"eth1\"]\n"),
        "mgmd.toml:1:1: missing key `inbound`"
    );
}

// RFC 9776 8.14.2: "The Query Interval MUST be equal to or longer than the
// Max Response Time inserted in General Query Messages." A recovery query
// is a general query whose Max Response Time is
// recovery-query-response-interval: longer than the query interval is
// refused where it is set (or where the query interval is set, for an
// inherited value), equal is accepted.
// Input: files with the two keys in [igmp] and [[interface]].
// Output: the FILE:LINE:COL message, or the value in use.
#[test]
fn rejects_recovery_response_interval_longer_than_query_interval() {
    assert_eq!(
        reject("[igmp]\nquery-interval = \"20s\"\nrecovery-query-response-interval = \"30s\"\n"),
        "mgmd.toml:3:36: recovery-query-response-interval 30s is longer than query-interval \
         20s (line 2); a general query's Max Response Time may be at most the query interval \
         (RFC 9776 8.14.2): lower it, or \"0s\" to send no recovery queries"
    );
    assert_eq!(
        reject(
            "[igmp]\nrecovery-query-response-interval = \"30s\"\n\n[[interface]]\n\
             name = \"eth1\"\nquery-interval = \"20s\"\nquery-response-interval = \"5s\"\n"
        ),
        "mgmd.toml:6:18: recovery-query-response-interval 30s (line 2) is longer than \
         query-interval 20s on interface 'eth1'; a general query's Max Response Time may be at \
         most the query interval (RFC 9776 8.14.2): lower it, or \"0s\" to send no recovery \
         queries"
    );
    let c = parse(
        "[igmp]\nquery-interval = \"20s\"\nrecovery-query-response-interval = \"20s\"\n\
         [[interface]]\nname = \"lan0\"\n[[interface]]\nname = \"lan1\"\n\
         recovery-query-response-interval = \"0s\"\nquery-interval = \"11s\"\n",
    );
    assert_eq!(
        igmp_of(&c, "lan0")
            .unwrap()
            .recovery_query_response_interval,
        Some(secs(20))
    );
    assert_eq!(
        igmp_of(&c, "lan1")
            .unwrap()
            .recovery_query_response_interval,
        None
    );
}

#[test]
fn recovery_query_response_interval_defaults_overrides_and_limits() {
    let c = parse(
        r#"
[igmp]
recovery-query-response-interval = "2.5s"
[[interface]]
name = "lan0"
[[interface]]
name = "lan1"
recovery-query-response-interval = "0s"
"#,
    );
    assert_eq!(
        igmp_of(&c, "lan0")
            .unwrap()
            .recovery_query_response_interval,
        Some(Duration::from_millis(2500))
    );
    assert_eq!(
        igmp_of(&c, "lan1")
            .unwrap()
            .recovery_query_response_interval,
        None
    );
    let c = parse("[[interface]]\nname = \"lan0\"\n");
    assert_eq!(
        igmp_of(&c, "lan0")
            .unwrap()
            .recovery_query_response_interval,
        Some(secs(1))
    );
    let e = reject(
        "[[interface]]\nname = \"lan0\"\nversion = 2\nrecovery-query-response-interval = \"30s\"\n",
    );
    assert!(e.contains("does not fit an IGMPv2 query"), "{e}");
    let e = reject("[igmp]\nrecovery-query-response-interval = \"50ms\"\n");
    assert!(e.contains("out of range"), "{e}");
}
