//! `show counters` and the metrics view, driven through the real router:
//! every key is there with zeros, counts are exact, the interface filter
//! and its errors, and the metrics view agrees with `show interfaces` and
//! `show routes`. Also: the list of IGMP drop reasons is complete.

mod common;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::*;
use mgmd::config::Config;
use mgmd::core::control::{Answer, Command};
use mgmd::core::igmp::{GroupRecord, IgmpPacket, RecordType};
use mgmd::core::input::{FlowCounters, Input};
use mgmd::core::router::Router;
use mgmd::core::status::{CountersView, IGMP_DROP_REASONS, IGMP_MESSAGE_TYPES};
use mgmd::core::types::IfIndex;

const UP0: IfIndex = IfIndex(2);
const LAN1: IfIndex = IfIndex(3);
const LAN2: IfIndex = IfIndex(4);

fn router(t0: Instant) -> Router {
    let cfg = Config::parse(
        r#"
[[interface]]
name = "up0"
[[interface]]
name = "lan1"
[[interface]]
name = "lan2"

[static]
interfaces = []
"#,
        "test.toml",
    )
    .unwrap();
    let mut r = Router::new(cfg, t0);
    r.step(
        t0,
        [snapshot(&[
            (UP0, "up0", "10.0.1.1"),
            (LAN1, "lan1", "10.0.2.1"),
            (LAN2, "lan2", "10.0.3.1"),
        ])],
    );
    r
}

fn counters(r: &mut Router, t: Instant, interface: Option<&str>) -> Result<CountersView, String> {
    let c = Command::ShowAllCounters {
        interface: interface.map(str::to_owned),
    };
    command(r, t, c).0.map(|a| match a {
        Answer::AllCounters(v) => *v,
        other => panic!("{other:?}"),
    })
}

/// An IGMPv3 report from 10.0.2.2 on lan1 with its checksum broken.
fn bad_checksum(t: Instant) -> (Instant, Input) {
    let mut payload = IgmpPacket::V3Report {
        records: vec![GroupRecord {
            record_type: RecordType::ChangeToExclude,
            group: group().v4().unwrap(),
            sources: vec![],
        }],
    }
    .encode();
    payload[2] ^= 0xff;
    (
        t,
        Input::IgmpRx {
            ifindex: LAN1,
            src: Ipv4Addr::new(10, 0, 2, 2),
            dst: Ipv4Addr::new(224, 0, 0, 22),
            ttl: 1,
            router_alert: true,
            payload,
        },
    )
}

#[test]
fn every_key_is_shown_with_zeros() {
    let t0 = Instant::now();
    let mut r = router(t0);
    let c = counters(&mut r, t0, None).unwrap();
    let names: Vec<&str> = c.interfaces.iter().map(|i| i.interface.as_str()).collect();
    assert_eq!(names, ["lan1", "lan2", "up0"]);
    for i in &c.interfaces {
        let g = i.igmp.as_ref().expect("IGMP runs everywhere here");
        let reasons: Vec<&str> = g.drops.keys().map(String::as_str).collect();
        let want: BTreeSet<&str> = IGMP_DROP_REASONS.iter().copied().collect();
        assert_eq!(reasons, want.into_iter().collect::<Vec<_>>());
        assert!(g.drops.values().all(|n| *n == 0));
        for dir in [&g.rx, &g.tx] {
            let types: BTreeSet<&str> = dir.keys().map(String::as_str).collect();
            assert_eq!(types, IGMP_MESSAGE_TYPES.iter().copied().collect());
        }
        let kinds: Vec<&str> = g.queries_sent.keys().map(String::as_str).collect();
        assert_eq!(kinds, ["general", "group", "group_source"]);
        assert!(i.vif.is_some(), "{i:?}");
    }
    // The router's counters serialize with every field.
    let json = serde_json::to_value(c.router).unwrap();
    assert_eq!(json.as_object().unwrap().len(), 18);
}

#[test]
fn counts_are_exact_and_the_filter_selects_one_interface() {
    let t0 = Instant::now();
    let mut r = router(t0);
    let (t, bad) = bad_checksum(t0 + Duration::from_millis(10));
    r.step(t, [bad]);
    r.step(t, [join(LAN1)]);
    take(&mut r, t, "lan2", "static").unwrap();
    release(&mut r, t, "lan2", "static").unwrap();

    let c = counters(&mut r, t, Some("lan1")).unwrap();
    assert_eq!(c.interfaces.len(), 1);
    let g = c.interfaces[0].igmp.as_ref().unwrap();
    assert_eq!(g.drops["bad_checksum"], 1);
    assert_eq!(g.drops.values().sum::<u64>(), 1);
    assert_eq!(g.rx["v3_report"], 1);
    assert_eq!(g.rx_records, 1);
    assert_eq!(c.router.ownership_moves, 2);

    let all = counters(&mut r, t, None).unwrap();
    let lan2 = all
        .interfaces
        .iter()
        .find(|i| i.interface == "lan2")
        .unwrap();
    assert_eq!(lan2.igmp.as_ref().unwrap().drops.values().sum::<u64>(), 0);
    assert_eq!(all.router, c.router);
}

#[test]
fn an_unknown_interface_is_refused() {
    let t0 = Instant::now();
    let mut r = router(t0);
    let e = counters(&mut r, t0, Some("eth9")).unwrap_err();
    assert!(e.contains("eth9"), "{e}");
}

// Input: a NOCACHE upcall for a VIF no interface of the router has (its
// interface went while the packet was queued). Output: nothing but the
// count; the same upcall on a VIF of ours is a new flow.
#[test]
fn an_upcall_for_an_unknown_vif_is_counted_and_ignored() {
    let t0 = Instant::now();
    let mut r = router(t0);
    let unknown = mgmd::core::types::VifIndex(31);
    assert_eq!(r.ifindex_of_vif(unknown), None);
    let out = r.step(
        t0,
        [Input::NewFlow {
            flow: flow(),
            vif: unknown,
            rpf: Some(UP0),
            upstream: None,
        }],
    );
    assert!(mrt(&out).is_empty() && events(&out).is_empty(), "{out:?}");
    let c = counters(&mut r, t0, None).unwrap().router;
    assert_eq!((c.upcalls_unknown, c.new_flows), (1, 0));
    let upcall = common::new_flow(&r, flow(), UP0, Some(UP0));
    r.step(t0, [upcall]);
    let c = counters(&mut r, t0, None).unwrap().router;
    assert_eq!((c.upcalls_unknown, c.new_flows), (1, 1));
}

#[test]
fn the_metrics_view_agrees_with_the_show_views() {
    let t0 = Instant::now();
    let mut r = router(t0);
    r.step(t0, [join(LAN1)]);
    let t = t0 + Duration::from_millis(5);
    let upcall = common::new_flow(&r, flow(), UP0, Some(UP0));
    r.step(t, [upcall]);
    // A flow nobody asked for and that has no route: a drop entry.
    let stray = mgmd::core::types::FlowKey {
        group: "239.7.7.7".parse().unwrap(),
        source: Ipv4Addr::new(10, 0, 9, 9).into(),
    };
    let upcall = common::new_flow(&r, stray, UP0, None);
    r.step(t, [upcall]);
    r.step(
        t,
        [Input::Counters(vec![(
            flow(),
            FlowCounters {
                packets: 10,
                bytes: 1000,
                wrong_if: 0,
            },
        )])],
    );
    let m = r.metrics(t);
    let routes = show_routes(&mut r, t);
    let ifaces = show_interfaces(&mut r, t);
    let forwarding = routes.iter().filter(|r| !r.oifs.is_empty()).count();
    assert_eq!((m.entries_forwarding, m.entries_drop), (1, 1));
    assert_eq!(m.entries_forwarding + m.entries_drop, routes.len());
    assert_eq!(m.entries_forwarding, forwarding);
    assert_eq!(m.interfaces.len(), ifaces.len());
    for (state, view) in m.interfaces.iter().zip(&ifaces) {
        assert_eq!(state.interface, view.name);
        assert_eq!(state.up, view.state == "up");
        assert_eq!(state.owner, view.owner);
        assert_eq!(state.igmp_state, view.igmp);
        let (g, q) = (state.igmp.unwrap(), view.querier.as_ref().unwrap());
        assert_eq!(g.groups, q.groups);
        assert_eq!(g.is_querier, q.is_querier);
        assert_eq!(g.version, q.version);
    }
    let lan1 = m.interfaces.iter().find(|i| i.interface == "lan1").unwrap();
    assert_eq!(lan1.igmp.unwrap().groups, 1);
    assert_eq!(m.counters, counters(&mut r, t, None).unwrap());
    // Reading the view is not an input: it changes nothing.
    assert_eq!(r.metrics(t), m);
}

/// Every reason the IGMP code counts a drop under is listed, so that
/// `show counters` and the metrics show it before it happens.
#[test]
fn the_drop_reasons_are_complete() {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut found = BTreeSet::new();
    // Every source file of the IGMP code.
    let mut files = Vec::new();
    let mut dirs = vec![std::path::PathBuf::from(format!("{root}/src/core/igmp"))];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        // `stats.drop("reason")` in the router, `=> "reason"` in
        // DecodeError::reason.
        for part in text.split(".drop(\"").skip(1) {
            found.insert(part.split('"').next().unwrap().to_owned());
        }
        if let Some(body) = text.split("pub fn reason(&self)").nth(1) {
            let body = body.split("\n    }\n").next().unwrap();
            for part in body.split("=> \"").skip(1) {
                found.insert(part.split('"').next().unwrap().to_owned());
            }
        }
    }
    assert!(found.len() >= 20, "{found:?}");
    let listed: BTreeSet<String> = IGMP_DROP_REASONS.iter().map(|s| s.to_string()).collect();
    let missing: Vec<_> = found.difference(&listed).collect();
    assert!(missing.is_empty(), "not in IGMP_DROP_REASONS: {missing:?}");
    let stale: Vec<_> = listed.difference(&found).collect();
    assert!(stale.is_empty(), "counted nowhere: {stale:?}");
}

/// The "Metrics" table of docs/monitoring.md names every metric the endpoint
/// exports (the router's counters through `mgmd_<counter>_total` and the
/// list of counters in docs/mgmctl.md).
#[test]
fn the_docs_name_every_metric() {
    use mgmd::ctl::reply::IoCounters;
    use mgmd::daemon::metrics::{Snapshot, encode};
    let mgmctl = include_str!("../docs/mgmctl.md");
    let metrics = include_str!("../docs/monitoring.md")
        .split("## Metrics")
        .nth(1)
        .expect("a Metrics section");
    let snapshot = Snapshot {
        router: mgmd::core::status::MetricsView {
            counters: CountersView {
                router: Default::default(),
                interfaces: Vec::new(),
            },
            interfaces: Vec::new(),
            entries_forwarding: 0,
            entries_drop: 0,
        },
        io: IoCounters::default(),
        forwarded: Vec::new(),
    };
    let text = encode(snapshot, true).unwrap();
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    assert!(names.len() > 30, "{names:?}");
    let router: Vec<String> = serde_json::to_value(mgmd::core::status::CounterView::default())
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .map(|k| format!("mgmd_{k}"))
        .collect();
    for name in names {
        let documented = if router.iter().any(|r| r == name) {
            let bare = name.trim_start_matches("mgmd_");
            mgmctl.contains(&format!("`{bare}`")) && metrics.contains("mgmd_<counter>_total")
        } else {
            metrics.contains(&format!("`{name}"))
        };
        assert!(
            documented,
            "{name} is not in the Metrics section of docs/monitoring.md"
        );
    }
}
