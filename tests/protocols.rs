//! The static and proxy protocols driven through the real router: links
//! appear, hosts send real IGMPv3 reports, the kernel reports flows, the
//! operator takes and releases interfaces; the tests look at what the
//! router outputs (host memberships, kernel entries) and at what
//! `show routes` and `show protocols` say.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

mod common;

use common::{command, link, release, show_protocols, show_routes, take};
use mgmd::cli::config_file::load;
use mgmd::config::Config;
use mgmd::core::control::Command;
use mgmd::core::filter::HostFilter;
use mgmd::core::iface::AddrFact;
use mgmd::core::igmp::{GroupRecord, IgmpPacket, Query, QueryVersion, RecordType};
use mgmd::core::input::Input;
use mgmd::core::mroute::MrtAction;
use mgmd::core::output::Output;
use mgmd::core::protocol::registry::{PROTOCOLS, Registry};
use mgmd::core::router::{HOST_LEAVE_HOLD, Router};
use mgmd::core::status::{ProtocolView, RouteView};
use mgmd::core::types::{FlowKey, GroupAddr, IfIndex};

// ===== the bench =====

/// A router on a configuration, with a clock that moves on by a millisecond
/// per operation (so timers behave as on a real box).
struct Bench {
    r: Router,
    now: Instant,
}

impl Bench {
    fn new(text: &str) -> Bench {
        let cfg = Config::parse(text, "test.toml").unwrap_or_else(|e| panic!("{e}"));
        let now = Instant::now();
        Bench {
            r: Router::new(cfg, now),
            now,
        }
    }

    fn tick(&mut self) -> Instant {
        self.now += Duration::from_millis(1);
        self.now
    }

    fn input(&mut self, input: Input) -> Vec<Output> {
        let t = self.tick();
        self.r.step(t, [input])
    }

    /// A link appears, up, with address 10.0.<ifindex>.1/24: the host
    /// memberships the operation changed.
    fn link(&mut self, ifindex: u32, name: &str) -> Vec<(IfIndex, GroupAddr, HostFilter)> {
        let i = IfIndex(ifindex);
        let mut out = self.input(Input::Link(link(i, name, true)));
        out.extend(self.input(Input::AddrAdded(AddrFact {
            ifindex: i,
            addr: Ipv4Addr::new(10, 0, ifindex as u8, 1).into(),
            prefix_len: 24,
            peer: None,
        })));
        hosts(&out)
    }

    /// The link goes up or down.
    fn oper(&mut self, ifindex: IfIndex, name: &str, up: bool) -> Vec<Output> {
        self.input(Input::Link(link(ifindex, name, up)))
    }

    /// Host `host` on `ifindex` sends an IGMPv3 report with one record.
    fn report(
        &mut self,
        ifindex: IfIndex,
        host: u8,
        record_type: RecordType,
        group: &str,
        sources: &[&str],
    ) -> Vec<(IfIndex, GroupAddr, HostFilter)> {
        let payload = IgmpPacket::V3Report {
            records: vec![GroupRecord {
                record_type,
                group: group.parse().unwrap(),
                sources: sources.iter().map(|s| s.parse().unwrap()).collect(),
            }],
        }
        .encode();
        let out = self.input(Input::IgmpRx {
            ifindex,
            src: Ipv4Addr::new(10, 0, ifindex.0 as u8, 10 + host),
            dst: Ipv4Addr::new(224, 0, 0, 22),
            ttl: 1,
            router_alert: true,
            payload,
        });
        hosts(&out)
    }

    /// A host joins `group` from any source (EXCLUDE {}).
    fn join_any(
        &mut self,
        ifindex: IfIndex,
        host: u8,
        group: &str,
    ) -> Vec<(IfIndex, GroupAddr, HostFilter)> {
        self.report(ifindex, host, RecordType::ChangeToExclude, group, &[])
    }

    /// A host leaves `group` (INCLUDE {}).
    fn leave(
        &mut self,
        ifindex: IfIndex,
        host: u8,
        group: &str,
    ) -> Vec<(IfIndex, GroupAddr, HostFilter)> {
        self.report(ifindex, host, RecordType::ChangeToInclude, group, &[])
    }

    /// The kernel reports a new flow: where its entry comes in, if it got
    /// one that forwards or not (`None`: refused, a drop entry).
    fn flow(&mut self, flow: FlowKey, arrival: IfIndex, rpf: Option<IfIndex>) -> Option<String> {
        let upcall = common::new_flow(&self.r, flow, arrival, rpf);
        self.input(upcall);
        let r = self
            .route(flow)
            .unwrap_or_else(|| panic!("no entry for {flow}"));
        (!r.refused).then_some(r.iif)
    }

    fn route(&mut self, flow: FlowKey) -> Option<RouteView> {
        let t = self.tick();
        show_routes(&mut self.r, t)
            .into_iter()
            .find(|r| r.source == flow.source && r.group == flow.group.addr())
    }

    /// The outgoing interfaces of the flow's entry.
    fn oifs(&mut self, flow: FlowKey) -> Vec<String> {
        self.route(flow)
            .unwrap_or_else(|| panic!("no entry for {flow}"))
            .oifs
    }

    fn status(&mut self, name: &str) -> serde_json::Value {
        let t = self.tick();
        let p = show_protocols(&mut self.r, t)
            .into_iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("no protocol {name}"));
        // What mgmctl reads back from the reply is the same status.
        let wire = serde_json::to_value(&p).unwrap();
        let back: ProtocolView = serde_json::from_value(wire.clone()).unwrap();
        assert_eq!(serde_json::to_value(&back).unwrap(), wire);
        wire["detail"].clone()
    }

    fn take(&mut self, iface: &str, proto: &str) -> Vec<Output> {
        let t = self.tick();
        take(&mut self.r, t, iface, proto).unwrap_or_else(|e| panic!("{e}"))
    }

    fn release(&mut self, iface: &str, proto: &str) -> Vec<Output> {
        let t = self.tick();
        release(&mut self.r, t, iface, proto).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Lets the host-leave hold time pass: the held leaves.
    fn after_hold(&mut self) -> Vec<(IfIndex, GroupAddr, HostFilter)> {
        self.now += HOST_LEAVE_HOLD;
        let t = self.now;
        hosts(&self.r.step(t, [Input::Timer]))
    }
}

// ===== helpers =====

fn hosts(out: &[Output]) -> Vec<(IfIndex, GroupAddr, HostFilter)> {
    out.iter()
        .filter_map(|o| match o {
            Output::HostMembership {
                ifindex,
                group,
                filter,
                ..
            } => Some((*ifindex, *group, filter.clone())),
            _ => None,
        })
        .collect()
}

fn g(s: &str) -> GroupAddr {
    s.parse().unwrap()
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn flow(s: &str, grp: &str) -> FlowKey {
    FlowKey::new(ip(s), g(grp))
}

fn set(list: &[&str]) -> BTreeSet<IpAddr> {
    list.iter().map(|s| ip(s).into()).collect()
}

fn host(ifindex: IfIndex, grp: &str, filter: HostFilter) -> (IfIndex, GroupAddr, HostFilter) {
    (ifindex, g(grp), filter)
}

fn include(list: &[&str]) -> HostFilter {
    HostFilter::Include(set(list))
}

fn exclude(list: &[&str]) -> HostFilter {
    HostFilter::Exclude(set(list))
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

// ===== the registry =====

#[test]
fn every_registered_protocol_has_a_section_of_its_own() {
    assert!(!PROTOCOLS.is_empty());
    let registry = Registry::default();
    let mut seen = BTreeSet::new();
    for (i, kind) in PROTOCOLS.iter().enumerate() {
        let name = kind.name;
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "`{name}` is not a section name as the file writes one"
        );
        assert!(
            !["global", "igmp", "interface"].contains(&name),
            "`{name}` is a built-in section"
        );
        assert!(seen.insert(name), "`{name}` is registered twice");
        assert_eq!(registry.find(name).map(|k| k.name), Some(name));
        assert_eq!(registry.position(name), i);

        // Its tables: the section first, then tables inside it, each with
        // keys.
        let tables = (kind.keys)();
        assert_eq!(tables.first().map(|t| t.table.as_str()), Some(name));
        for t in &tables {
            assert!(!t.keys.is_empty(), "{}: no keys", t.table);
            assert!(
                t.table == name || t.table.starts_with(&format!("{name}.")),
                "{} is not inside [{name}]",
                t.table
            );
        }
        // The keys it declares are the keys its section accepts: an
        // unknown one is refused with that list.
        let e = Config::parse(&format!("[{name}]\nzz-unknown = 1\n"), "t.toml")
            .expect_err("an unknown key is refused")
            .to_string();
        let allowed: Vec<String> = tables[0].keys.iter().map(|k| format!("`{k}`")).collect();
        assert!(e.ends_with(&allowed.join(", ")), "{name}: {e}");
    }
}

#[test]
fn protocols_are_built_in_registry_order() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    let text = std::fs::read_to_string(dir.join("full.toml")).unwrap();
    let cfg = Config::parse(&text, "full.toml").unwrap();
    let configured: Vec<&str> = cfg.protocols.iter().map(|p| p.name()).collect();
    assert!(
        configured.len() > 1,
        "full.toml configures several protocols"
    );
    let registry = Registry::default();
    let positions: Vec<usize> = configured.iter().map(|n| registry.position(n)).collect();
    assert!(positions.is_sorted(), "{configured:?}");
    let mut b = Bench::new(&text);
    let t = b.tick();
    let shown: Vec<String> = show_protocols(&mut b.r, t)
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(shown, configured);
    let mut b = Bench::new("[[interface]]\nname = \"eth0\"\n");
    let t = b.tick();
    assert!(show_protocols(&mut b.r, t).is_empty());
}

#[test]
fn migration_examples_configure_their_protocols() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    let cfg = load(dir.join("smcroute-migration.toml")).unwrap();
    assert_eq!(cfg.protocols.len(), 1);
    assert_eq!(cfg.protocols[0].name(), "static");
    assert_eq!(
        cfg.protocols[0].owned_interfaces(),
        names(&["eth0", "eth1", "eth2", "eth3", "eth4"])
    );
    let cfg = load(dir.join("igmpproxy-migration.toml")).unwrap();
    assert_eq!(cfg.protocols.len(), 1);
    assert_eq!(cfg.protocols[0].name(), "proxy");
    assert_eq!(cfg.protocols[0].owned_interfaces(), names(&["eth0"]));
    assert_eq!(cfg.owner_of("eth0"), Some("proxy"));
    assert_eq!(cfg.owner_of("eth1"), None);
}

// ===== static =====

const STATIC: &str = r#"
[igmp]
immediate-leave = true

[static]
interfaces = ["eth0", "eth1", "eth2", "eth3", "eth4", "eth9"]

# (S,G)
[[static.route]]
source = "10.0.0.5"
group = "239.1.1.1"
inbound = "eth0"
outbound = ["eth1", { name = "eth3", only-with-members = true }]

# (*,G/24)
[[static.route]]
group = "239.1.1.0/24"
inbound = "eth0"
outbound = ["eth2"]

# (S/24,G)
[[static.route]]
source = "10.0.0.0/24"
group = "239.1.1.1"
inbound = "eth0"
outbound = ["eth4"]

# (*,G/16) from eth4; eth9 never appears
[[static.route]]
group = "239.2.0.0/16"
inbound = "eth4"
outbound = ["eth1", "eth9"]

[[static.join]]
interface = "eth0"
group = "239.5.5.5"
source = "10.0.0.9"

[[static.join]]
interface = "eth0"
group = "239.5.5.5"
source = "10.0.0.10"

[[static.join]]
interface = "eth2"
group = "239.6.6.6"

[[interface]]
name = "eth3"

[[interface]]
name = "lan0"
"#;

const ETH0: IfIndex = IfIndex(10);
const ETH2: IfIndex = IfIndex(12);
const ETH3: IfIndex = IfIndex(13);
const ETH4: IfIndex = IfIndex(14);
const LAN0: IfIndex = IfIndex(20);

fn static_bench() -> Bench {
    let mut b = Bench::new(STATIC);
    for (i, n) in [
        (10, "eth0"),
        (11, "eth1"),
        (12, "eth2"),
        (13, "eth3"),
        (14, "eth4"),
        (20, "lan0"),
    ] {
        b.link(i, n);
    }
    b
}

#[test]
fn static_exact_route_forwards_to_present_owned_outbounds_only() {
    let mut b = static_bench();
    let f = flow("10.0.0.5", "239.1.1.1");
    // Input: (10.0.0.5,239.1.1.1) on eth0, kernel RPF unknown.
    // Output: iif eth0; eth1 forward-only; eth3 (only-with-members) not yet.
    assert_eq!(b.flow(f, ETH0, None).as_deref(), Some("eth0"));
    assert_eq!(b.oifs(f), names(&["eth1"]));
    // A receiver on eth3 brings it in through IGMP (D1), without a join
    // being recorded for static.
    b.join_any(ETH3, 1, "239.1.1.1");
    assert_eq!(b.oifs(f), names(&["eth1", "eth3"]));
    b.leave(ETH3, 1, "239.1.1.1");
    assert_eq!(b.oifs(f), names(&["eth1"]));
    // Forward-only adds record no membership.
    assert!(b.r.memberships_on(IfIndex(11)).is_empty());
    assert_eq!(b.route(f).unwrap().iif_owner.as_deref(), Some("static"));
}

#[test]
fn static_picks_the_most_specific_route() {
    let mut b = static_bench();
    // Source prefix beats the group prefix route.
    let f = flow("10.0.0.7", "239.1.1.1");
    assert_eq!(b.flow(f, ETH0, None).as_deref(), Some("eth0"));
    assert_eq!(b.oifs(f), names(&["eth4"]));
    // Other sources: only the (*,G/24) route matches.
    let f = flow("192.0.2.1", "239.1.1.1");
    assert_eq!(b.flow(f, ETH0, None).as_deref(), Some("eth0"));
    assert_eq!(b.oifs(f), names(&["eth2"]));
    let f = flow("10.0.0.5", "239.1.1.77");
    assert_eq!(b.flow(f, ETH0, None).as_deref(), Some("eth0"));
    assert_eq!(b.oifs(f), names(&["eth2"]));
    assert_eq!(b.status("static")["counters"]["flows_matched"], 3);
}

#[test]
fn static_absent_and_unowned_outbounds_are_skipped_until_taken() {
    let mut b = static_bench();
    b.release("eth1", "static");
    let f = flow("192.0.2.1", "239.2.3.4");
    assert_eq!(b.flow(f, ETH4, None).as_deref(), Some("eth4"));
    // eth1 is not ours, eth9 does not exist.
    assert_eq!(b.oifs(f), names(&[]));
    // Taking eth1 again adds it to the existing entry, in the kernel too.
    let out = b.take("eth1", "static");
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Mrt(MrtAction::AddMfc { flow: x, oifs, .. }) if *x == f && oifs.len() == 1)),
        "{out:?}"
    );
    assert_eq!(b.oifs(f), names(&["eth1"]));
    let st = b.status("static");
    assert_eq!(st["routes"][3]["outbound"][1]["present"], false);
    assert_eq!(st["routes"][3]["outbound"][0]["owned"], true);
    assert_eq!(st["routes"][0]["outbound"][1]["name"], "eth3");
    assert_eq!(st["routes"][0]["with_members"], serde_json::json!(["eth3"]));
    assert_eq!(st["routes"][3]["with_members"], serde_json::json!([]));
}

#[test]
fn static_rpf_falls_back_to_the_kernel_without_a_route() {
    let mut b = static_bench();
    // No route for 238.1.1.1: the kernel's answer stands.
    assert_eq!(
        b.flow(flow("10.0.0.5", "238.1.1.1"), ETH0, Some(LAN0))
            .as_deref(),
        Some("lan0")
    );
    assert_eq!(b.flow(flow("10.0.0.6", "238.1.1.1"), ETH0, None), None);
    // A route exists but not on the arrival interface eth2 (not an inbound).
    assert_eq!(b.flow(flow("10.0.0.8", "239.1.1.1"), ETH2, None), None);
    // Arrived on an IGMP-only interface, kernel RPF is the route's
    // inbound: the inbound is used.
    assert_eq!(
        b.flow(flow("10.0.0.5", "239.1.1.2"), LAN0, Some(ETH0))
            .as_deref(),
        Some("eth0")
    );
    let st = b.status("static");
    assert_eq!(st["counters"]["rpf_by_kernel"], 3);
    assert_eq!(st["counters"]["rpf_by_route"], 1);
}

#[test]
fn static_keeps_igmp_receivers_in_new_entries() {
    let mut b = static_bench();
    // Receivers on eth3 (static-owned, IGMP on) for a group whose route
    // does not list eth3 at all.
    b.join_any(ETH3, 1, "239.1.1.50");
    let f = flow("192.0.2.1", "239.1.1.50");
    assert_eq!(b.flow(f, ETH0, None).as_deref(), Some("eth0"));
    assert_eq!(b.oifs(f), names(&["eth2", "eth3"]));
}

#[test]
fn static_joins_follow_ownership_and_send_only_net_changes() {
    let mut b = Bench::new(STATIC);
    // eth0 appears: static takes it and wishes the merged SSM join.
    assert_eq!(
        b.link(10, "eth0"),
        [host(ETH0, "239.5.5.5", include(&["10.0.0.9", "10.0.0.10"]))]
    );
    assert_eq!(b.link(12, "eth2"), [host(ETH2, "239.6.6.6", exclude(&[]))]);
    // Unrelated operations send nothing again.
    assert!(b.link(11, "eth1").is_empty());
    let st = b.status("static");
    assert_eq!(st["joins"][0]["joined"], true);
    assert_eq!(st["joins"][2]["filter"]["mode"], "exclude");
    // Released and taken back within the hold time: nothing reaches the
    // kernel.
    assert!(hosts(&b.release("eth2", "static")).is_empty());
    assert!(hosts(&b.take("eth2", "static")).is_empty());
    assert!(b.after_hold().is_empty());
    // Released for good: withdrawn once the hold time is over.
    assert!(hosts(&b.release("eth2", "static")).is_empty());
    assert_eq!(b.status("static")["joins"][2]["joined"], false);
    assert_eq!(b.after_hold(), [host(ETH2, "239.6.6.6", include(&[]))]);
    // Vanished: gone at once, with the link.
    let out = b.input(Input::LinkGone { ifindex: ETH0 });
    assert_eq!(hosts(&out), [host(ETH0, "239.5.5.5", include(&[]))]);
}

// ===== proxy =====

const PROXY_OPEN: &str = r#"
[igmp]
immediate-leave = true

[proxy]
upstream = ["wan0", "wan1"]
downstream = ["lan0", "lan1", "lan2"]
"#;

const PROXY_FILTERED: &str = r#"
[igmp]
immediate-leave = true

[proxy]
upstream = ["wan0", "wan1"]
downstream = ["lan0", "lan1", "lan2"]
upstream-allow-groups = ["239.0.0.0/8"]
upstream-deny-groups = ["239.255.0.0/16"]
downstream-deny-groups = ["239.254.0.0/16"]
legal-sources = ["10.0.0.0/8"]
"#;

const WAN0: IfIndex = IfIndex(1);
const WAN1: IfIndex = IfIndex(2);
const LAN1: IfIndex = IfIndex(21);
const LAN2: IfIndex = IfIndex(22);

fn proxy_bench(text: &str) -> Bench {
    let mut b = Bench::new(text);
    for (i, n) in [
        (1, "wan0"),
        (2, "wan1"),
        (20, "lan0"),
        (21, "lan1"),
        (22, "lan2"),
    ] {
        assert!(b.link(i, n).is_empty(), "{n}");
    }
    b
}

// RFC 4605 4.1: "the proxy device performs the host portion of the
// IGMP/MLD protocol on the upstream interface". mgmd's proxy hands that
// portion to the kernel's host side: it wishes a membership on the upstream
// once per change of the merged database, and the kernel sends the
// State-Change Report [Robustness Variable] times and answers the upstream
// router's queries from the membership it holds (namespace test 70 shows
// both on the wire). So the proxy itself sends nothing upstream: one wish
// per net change, none for a refresh, none for an upstream query.
// Input: a join on lan0, the host's IS_EX answers, queries arriving on
// wan0. Output: one host membership change; no output at all upstream.
#[test]
fn proxy_leaves_retransmissions_and_query_answers_to_the_host_side() {
    let mut b = proxy_bench(PROXY_OPEN);
    let grp = "239.1.1.1";
    assert_eq!(b.join_any(LAN0, 1, grp), [host(WAN0, grp, exclude(&[]))]);
    // Current-state answers to downstream queries refresh, change nothing.
    for _ in 0..3 {
        let out = b.report(LAN0, 1, RecordType::ModeIsExclude, grp, &[]);
        assert!(out.is_empty(), "{out:?}");
    }
    // The upstream router's general and group-specific queries.
    for (dst, q) in [
        (
            "224.0.0.1",
            Query::general(
                QueryVersion::V3,
                Duration::from_secs(1),
                2,
                Duration::from_secs(10),
            ),
        ),
        (
            grp,
            Query::specific(
                QueryVersion::V3,
                Duration::from_secs(1),
                ip(grp),
                false,
                2,
                Duration::from_secs(10),
                Vec::new(),
            ),
        ),
    ] {
        let out = b.input(Input::IgmpRx {
            ifindex: WAN0,
            src: ip("10.0.1.2"),
            dst: ip(dst),
            ttl: 1,
            router_alert: true,
            payload: IgmpPacket::Query(q).encode(),
        });
        assert!(out.iter().all(|o| matches!(o, Output::Event(_))), "{out:?}");
    }
    assert_eq!(b.status("proxy")["membership"][grp]["mode"], "exclude");
}

#[test]
fn proxy_merges_include_modes_into_their_union() {
    use RecordType::{AllowNewSources as Allow, BlockOldSources as Block};
    let mut b = proxy_bench(PROXY_OPEN);
    let grp = "239.1.1.1";
    let out = b.report(LAN0, 1, Allow, grp, &["10.0.0.1"]);
    assert_eq!(out, [host(WAN0, grp, include(&["10.0.0.1"]))]);
    let out = b.report(LAN1, 1, Allow, grp, &["10.0.0.2"]);
    assert_eq!(out, [host(WAN0, grp, include(&["10.0.0.1", "10.0.0.2"]))]);
    // The same source on another interface changes nothing.
    assert!(b.report(LAN2, 1, Allow, grp, &["10.0.0.2"]).is_empty());
    assert!(b.report(LAN2, 1, Block, grp, &["10.0.0.2"]).is_empty());
    let out = b.report(LAN0, 1, Block, grp, &["10.0.0.1"]);
    assert_eq!(out, [host(WAN0, grp, include(&["10.0.0.2"]))]);
    // The last source goes: the leave upstream waits for the hold time.
    assert!(b.report(LAN1, 1, Block, grp, &["10.0.0.2"]).is_empty());
    assert_eq!(b.after_hold(), [host(WAN0, grp, include(&[]))]);
}

#[test]
fn proxy_merges_exclude_with_include_and_exclude() {
    use RecordType::{AllowNewSources as Allow, ChangeToExclude as ToEx};
    let mut b = proxy_bench(PROXY_OPEN);
    let grp = "239.1.1.1";
    let out = b.report(LAN0, 1, ToEx, grp, &["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
    assert_eq!(
        out,
        [host(
            WAN0,
            grp,
            exclude(&["10.0.0.1", "10.0.0.2", "10.0.0.3"])
        )]
    );
    assert_eq!(b.status("proxy")["membership"][grp]["mode"], "exclude");
    // A second EXCLUDE interface: the intersection of the lists.
    let out = b.report(LAN1, 1, ToEx, grp, &["10.0.0.2", "10.0.0.3", "10.0.0.4"]);
    assert_eq!(out, [host(WAN0, grp, exclude(&["10.0.0.2", "10.0.0.3"]))]);
    // An INCLUDE interface asking for 10.0.0.3 removes it from the list.
    let out = b.report(LAN2, 1, Allow, grp, &["10.0.0.3"]);
    assert_eq!(out, [host(WAN0, grp, exclude(&["10.0.0.2"]))]);
    // lan0 leaves: only lan1's list (minus lan2's source).
    let out = b.leave(LAN0, 1, grp);
    assert_eq!(out, [host(WAN0, grp, exclude(&["10.0.0.2", "10.0.0.4"]))]);
    // lan1 leaves too: back to INCLUDE from lan2.
    let out = b.leave(LAN1, 1, grp);
    assert_eq!(out, [host(WAN0, grp, include(&["10.0.0.3"]))]);
}

#[test]
fn proxy_never_proxies_link_local_groups() {
    let mut b = proxy_bench(PROXY_OPEN);
    assert!(b.join_any(LAN0, 1, "224.0.0.251").is_empty());
    assert!(
        b.report(
            LAN0,
            1,
            RecordType::AllowNewSources,
            "224.0.0.9",
            &["10.0.0.1"]
        )
        .is_empty()
    );
    assert_eq!(b.status("proxy")["membership"], serde_json::json!({}));
    // 224.0.1.x is not link-local.
    assert_eq!(
        b.join_any(LAN0, 1, "224.0.1.1"),
        [host(WAN0, "224.0.1.1", exclude(&[]))]
    );
}

#[test]
fn proxy_group_filters_apply_upstream_and_downstream() {
    let mut b = proxy_bench(PROXY_FILTERED);
    // Outside upstream-allow, inside upstream-deny, inside downstream-deny.
    assert!(b.join_any(LAN0, 1, "238.1.1.1").is_empty());
    assert!(b.join_any(LAN0, 1, "239.255.1.1").is_empty());
    assert!(b.join_any(LAN0, 1, "239.254.1.1").is_empty());
    assert_eq!(
        b.join_any(LAN0, 1, "239.1.1.1"),
        [host(WAN0, "239.1.1.1", exclude(&[]))]
    );
}

#[test]
fn proxy_refuses_flows_by_source_group_and_standby_upstream() {
    let mut b = proxy_bench(PROXY_FILTERED);
    b.join_any(LAN0, 1, "239.1.1.1");
    b.join_any(LAN1, 1, "239.254.1.1");
    // Legal source, permitted group, on the upstream: forwarded down.
    let f = flow("10.1.1.1", "239.1.1.1");
    assert_eq!(b.flow(f, WAN0, None).as_deref(), Some("wan0"));
    assert_eq!(b.oifs(f), names(&["lan0"]));
    // Illegal source, even when the kernel would accept it.
    assert_eq!(
        b.flow(flow("192.0.2.1", "239.1.1.1"), WAN0, Some(WAN0)),
        None
    );
    // Filtered group (downstream-deny), legal source.
    assert_eq!(b.flow(flow("10.1.1.1", "239.254.1.1"), WAN0, None), None);
    // Arrived on the standby upstream.
    assert_eq!(
        b.flow(flow("10.1.1.2", "239.1.1.1"), WAN1, Some(WAN1)),
        None
    );
    // Arrived on a downstream with the kernel pointing at the upstream:
    // the same checks apply.
    assert_eq!(
        b.flow(flow("192.0.2.9", "239.1.1.1"), LAN1, Some(WAN0)),
        None
    );
    let c = &b.status("proxy")["counters"];
    assert_eq!(c["flows_accepted"], 1);
    assert_eq!(c["refused_illegal_source"], 2);
    assert_eq!(c["refused_group_filtered"], 1);
    assert_eq!(c["refused_standby_upstream"], 1);
}

#[test]
fn proxy_forwards_downstream_senders_upstream() {
    // RFC 4605 4.2: a downstream sender's traffic goes to the upstream and
    // to the other downstreams with members.
    let mut b = proxy_bench(PROXY_OPEN);
    b.join_any(LAN1, 1, "239.1.1.1");
    let f = flow("192.0.2.1", "239.1.1.1");
    assert_eq!(b.flow(f, LAN0, Some(LAN0)).as_deref(), Some("lan0"));
    assert_eq!(b.oifs(f), names(&["wan0", "lan1"]));
    // Link-local groups stay on their link.
    assert_eq!(
        b.flow(flow("192.0.2.1", "224.0.0.251"), LAN0, Some(LAN0)),
        None
    );
    // Traffic from upstream is not sent back up.
    let up = flow("10.9.9.9", "239.1.1.1");
    assert_eq!(b.flow(up, WAN0, Some(WAN0)).as_deref(), Some("wan0"));
    assert_eq!(b.oifs(up), names(&["lan1"]));
}

#[test]
fn proxy_rpf_leaves_flows_off_its_upstreams_to_the_kernel() {
    let mut b = proxy_bench(PROXY_OPEN);
    // The proxy owns lan2 too (not an upstream): asked about a flow that
    // arrives there, it gives the kernel's answer.
    b.take("lan2", "proxy");
    let f = flow("192.0.2.1", "239.1.1.1");
    assert_eq!(b.flow(f, LAN2, Some(LAN1)).as_deref(), Some("lan1"));
    assert_eq!(b.flow(flow("192.0.2.2", "239.1.1.1"), LAN2, None), None);
}

#[test]
fn proxy_fails_over_and_returns_moving_its_wishes() {
    let mut b = proxy_bench(PROXY_OPEN);
    b.join_any(LAN0, 1, "239.1.1.1");
    b.report(
        LAN1,
        1,
        RecordType::AllowNewSources,
        "239.2.2.2",
        &["10.0.0.1"],
    );
    let f = flow("10.9.9.9", "239.1.1.1");
    assert_eq!(b.flow(f, WAN0, None).as_deref(), Some("wan0"));
    // wan0 goes down: wan1 takes over at once; wan0's memberships are
    // left after the hold time; its flow is gone.
    let out = b.oper(WAN0, "wan0", false);
    assert_eq!(
        hosts(&out),
        [
            host(WAN1, "239.1.1.1", exclude(&[])),
            host(WAN1, "239.2.2.2", include(&["10.0.0.1"])),
        ]
    );
    assert_eq!(b.status("proxy")["upstream"], "wan1");
    assert!(b.route(f).is_none());
    // A flow now arrives on wan1 and is forwarded.
    let f1 = flow("10.9.9.8", "239.1.1.1");
    assert_eq!(b.flow(f1, WAN1, None).as_deref(), Some("wan1"));
    // wan0 is back within the hold time: the preferred upstream takes over
    // again without a word to the kernel (it is still a member there), and
    // flows on wan1 are flushed to be decided again.
    let out = b.oper(WAN0, "wan0", true);
    assert!(hosts(&out).is_empty(), "{out:?}");
    assert!(b.route(f1).is_none());
    assert_eq!(
        b.after_hold(),
        [
            host(WAN1, "239.1.1.1", include(&[])),
            host(WAN1, "239.2.2.2", include(&[])),
        ]
    );
    // wan0 vanishes: its memberships go with it, wan1 takes over. It comes
    // back as a new link and is taken.
    let out = b.input(Input::LinkGone { ifindex: WAN0 });
    assert_eq!(
        hosts(&out),
        [
            host(WAN0, "239.1.1.1", include(&[])),
            host(WAN0, "239.2.2.2", include(&[])),
            host(WAN1, "239.1.1.1", exclude(&[])),
            host(WAN1, "239.2.2.2", include(&["10.0.0.1"])),
        ]
    );
    let out = b.link(3, "wan0");
    assert_eq!(
        out,
        [
            host(IfIndex(3), "239.1.1.1", exclude(&[])),
            host(IfIndex(3), "239.2.2.2", include(&["10.0.0.1"])),
        ]
    );
    let st = b.status("proxy");
    assert_eq!(st["upstream"], "wan0");
    assert_eq!(st["counters"]["upstream_changes"], 5);
    assert_eq!(st["candidates"][1]["up"], true);
}

#[test]
fn proxy_without_any_upstream_wishes_nothing() {
    let mut b = proxy_bench(PROXY_OPEN);
    b.join_any(LAN0, 1, "239.1.1.1");
    assert!(hosts(&b.oper(WAN1, "wan1", false)).is_empty());
    assert!(hosts(&b.oper(WAN0, "wan0", false)).is_empty());
    assert_eq!(b.after_hold(), [host(WAN0, "239.1.1.1", include(&[]))]);
    assert!(b.join_any(LAN0, 1, "239.3.3.3").is_empty());
    assert_eq!(b.status("proxy")["upstream"], serde_json::Value::Null);
    let out = b.oper(WAN1, "wan1", true);
    assert_eq!(
        hosts(&out),
        [
            host(WAN1, "239.1.1.1", exclude(&[])),
            host(WAN1, "239.3.3.3", exclude(&[])),
        ]
    );
}

#[test]
fn proxy_is_hitless_when_a_downstream_changes_owner() {
    use mgmd::core::event::Event;
    use mgmd::core::mgm::Effect;
    let mut b = proxy_bench(&format!("{PROXY_OPEN}\n[static]\ninterfaces = []\n"));
    b.join_any(LAN0, 1, "239.1.1.1");
    b.report(
        LAN0,
        2,
        RecordType::AllowNewSources,
        "239.2.2.2",
        &["10.0.0.1"],
    );
    // Static takes lan0: flush, then IGMP re-adds. The proxy hears the
    // alerts, and sends nothing upstream.
    let out = b.take("lan0", "static");
    assert!(hosts(&out).is_empty(), "{out:?}");
    let alerts = |out: &[Output], prune: bool| {
        out.iter().any(|o| match o {
            Output::Event(Event::Effect(Effect::PruneAlert { to: "proxy", .. })) => prune,
            Output::Event(Event::Effect(Effect::JoinAlert { to: "proxy", .. })) => !prune,
            _ => false,
        })
    };
    assert!(alerts(&out, true) && alerts(&out, false));
    // Released and taken again: nothing either.
    assert!(hosts(&b.release("lan0", "static")).is_empty());
    assert!(hosts(&b.take("lan0", "static")).is_empty());
    assert!(b.after_hold().is_empty());
    // Memberships still count while lan0 belongs to static.
    assert!(b.leave(LAN0, 1, "239.1.1.1").is_empty());
    assert_eq!(b.after_hold(), [host(WAN0, "239.1.1.1", include(&[]))]);
    assert!(hosts(&b.release("lan0", "static")).is_empty());
    // The command answered with the new owner.
    let t = b.tick();
    let (reply, _) = command(
        &mut b.r,
        t,
        Command::Release {
            interface: "lan0".into(),
            protocol: "static".into(),
        },
    );
    assert!(
        reply
            .unwrap_err()
            .contains("static does not own interface lan0")
    );
}

/// RFC 4605 4.2: the proxy forwards on a downstream interface "based upon
/// ... whether or not this proxy device is the IGMP/MLD Querier on each
/// interface". A lower router's general query on lan1 makes it the querier
/// there: the flow from upstream leaves lan1 (that router forwards to the
/// link), lan2 keeps it; lan1's members still count in the merged
/// membership upstream (4.1). When that querier goes quiet for the Other
/// Querier Present Interval, mgmd is querier again and lan1 forwards.
#[test]
fn proxy_forwards_downstream_only_where_no_other_router_is_querier() {
    use mgmd::core::igmp::packet::{Query, QueryVersion};
    let mut b = proxy_bench(PROXY_OPEN);
    b.join_any(LAN1, 1, "239.1.1.1");
    b.join_any(LAN2, 1, "239.1.1.1");
    let up = flow("10.9.9.9", "239.1.1.1");
    assert_eq!(b.flow(up, WAN0, Some(WAN0)).as_deref(), Some("wan0"));
    assert_eq!(b.oifs(up), names(&["lan1", "lan2"]));
    let query = IgmpPacket::Query(Query::general(
        QueryVersion::V3,
        Duration::from_secs(10),
        2,
        Duration::from_secs(125),
    ))
    .encode();
    let out = b.input(Input::IgmpRx {
        ifindex: LAN1,
        src: ip("10.0.0.9"),
        dst: ip("224.0.0.1"),
        ttl: 1,
        router_alert: true,
        payload: query,
    });
    assert!(hosts(&out).is_empty(), "{out:?}");
    assert_eq!(b.oifs(up), names(&["lan2"]));
    // lan2's member leaves: lan1's still holds the group upstream.
    assert!(b.leave(LAN2, 1, "239.1.1.1").is_empty());
    assert!(b.oifs(up).is_empty());
    // 8.5: the Other Querier Present Interval is 255 s at the defaults.
    b.now += Duration::from_secs(256);
    let t = b.now;
    b.r.step(t, [Input::Timer]);
    assert_eq!(b.oifs(up), names(&["lan1"]));
}
