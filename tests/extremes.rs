//! No value `--check` accepts can panic the daemon: every key at the ends
//! of its range goes through the configuration check, then through a
//! running router that learns groups, forwards flows, reloads and lets
//! years pass.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

mod common;

use common::{command, join_group, snapshot};
use mgmd::config::Config;
use mgmd::core::control::Command;
use mgmd::core::igmp::{GroupRecord, IgmpPacket, RecordType};
use mgmd::core::input::{FlowCounters, Input};
use mgmd::core::router::Router;
use mgmd::core::types::{FlowKey, IfIndex};

const UP0: IfIndex = IfIndex(2);
const LAN1: IfIndex = IfIndex(3);

/// Each key with the smallest and the largest value it accepts (the
/// interval keys are set so that they fit each other).
fn ends() -> Vec<(&'static str, String)> {
    let year = 365 * 24 * 3600;
    vec![
        (
            "low",
            r#"
[global]
table = 1
mfe-idle-timeout = "1s"
[igmp]
version = 1
query-interval = "1s"
query-response-interval = "0.1s"
robustness = 1
last-member-query-interval = "0.1s"
last-member-query-count = 1
startup-query-interval = "0.1s"
startup-query-count = 1
max-groups = 1
max-sources-per-group = 1
"#
            .to_owned(),
        ),
        (
            "high",
            format!(
                r#"
[global]
table = 999999999
mfe-idle-timeout = "{year}s"
[igmp]
version = 3
query-interval = "31744s"
query-response-interval = "3174.4s"
robustness = 7
last-member-query-interval = "3174.4s"
last-member-query-count = 255
startup-query-interval = "31744s"
startup-query-count = 255
max-groups = 4294967295
max-sources-per-group = "unlimited"
"#
            ),
        ),
        (
            "v2 at its limits",
            r#"
[igmp]
version = 2
query-interval = "31744s"
query-response-interval = "25.5s"
last-member-query-interval = "25.5s"
last-member-query-count = 255
robustness = 7
"#
            .to_owned(),
        ),
    ]
}

fn v3_report(group: Ipv4Addr, record_type: RecordType, sources: &[Ipv4Addr]) -> Vec<u8> {
    IgmpPacket::V3Report {
        records: vec![GroupRecord {
            record_type,
            group,
            sources: sources.to_vec(),
        }],
    }
    .encode()
}

fn rx(payload: Vec<u8>, dst: Ipv4Addr) -> Input {
    Input::IgmpRx {
        ifindex: LAN1,
        src: Ipv4Addr::new(10, 0, 2, 2),
        dst,
        ttl: 1,
        router_alert: true,
        payload,
    }
}

/// Drives a router on `text` through learning, forwarding, a reload to
/// `reload`, and years of timers.
fn exercise(text: &str, reload: &str) {
    let base = format!(
        "{text}\n[[interface]]\nname = \"up0\"\n[[interface]]\nname = \"lan1\"\n\
         [static]\ninterfaces = []\n"
    );
    let cfg = Config::parse(&base, "ends.toml").unwrap_or_else(|e| panic!("{e}"));
    let t0 = Instant::now();
    let mut r = Router::new(cfg, t0);
    r.step(
        t0,
        [snapshot(&[
            (UP0, "up0", "10.0.1.1"),
            (LAN1, "lan1", "10.0.2.1"),
        ])],
    );
    let g = |i: u8| Ipv4Addr::new(239, 1, 1, i);
    let s = |i: u8| Ipv4Addr::new(10, 0, 1, i);
    let inputs = vec![
        join_group(LAN1, g(1)),
        join_group(LAN1, g(2)),
        rx(
            v3_report(g(3), RecordType::ChangeToInclude, &[s(2), s(3)]),
            Ipv4Addr::new(224, 0, 0, 22),
        ),
        rx(
            v3_report(g(3), RecordType::BlockOldSources, &[s(2)]),
            Ipv4Addr::new(224, 0, 0, 22),
        ),
        // v1 and v2 reports and a v2 leave.
        rx(vec![0x12, 0, 0, 0, 239, 1, 1, 4], g(4)),
        rx(vec![0x16, 0, 0, 0, 239, 1, 1, 5], g(5)),
        rx(
            vec![0x17, 0, 0, 0, 239, 1, 1, 5],
            Ipv4Addr::new(224, 0, 0, 2),
        ),
        // A general query from a lower address (election).
        Input::IgmpRx {
            ifindex: LAN1,
            src: Ipv4Addr::new(10, 0, 2, 0),
            dst: Ipv4Addr::new(224, 0, 0, 1),
            ttl: 1,
            router_alert: true,
            payload: IgmpPacket::Query(mgmd::core::igmp::Query::general(
                mgmd::core::igmp::QueryVersion::V3,
                Duration::from_secs(3000),
                7,
                Duration::from_secs(31744),
            ))
            .encode(),
        },
    ];
    for (i, input) in inputs.into_iter().enumerate() {
        r.step(t0 + Duration::from_millis(i as u64), [input]);
    }
    let flow = FlowKey {
        group: "239.1.1.1".parse().unwrap(),
        source: s(2).into(),
    };
    let upcall = common::new_flow(&r, flow, UP0, Some(UP0));
    r.step(t0, [upcall]);
    r.step(
        t0,
        [Input::Counters(vec![(
            flow,
            FlowCounters {
                packets: u64::MAX,
                bytes: u64::MAX,
                wrong_if: u64::MAX,
            },
        )])],
    );
    let reload_text = format!(
        "{reload}\n[[interface]]\nname = \"up0\"\n[[interface]]\nname = \"lan1\"\n\
         [static]\ninterfaces = []\n"
    );
    let (reply, _) = command(
        &mut r,
        t0,
        Command::Reload {
            path: "ends.toml".into(),
            text: reload_text,
            overrides: Default::default(),
        },
    );
    reply.unwrap_or_else(|e| panic!("{e}"));
    // Time passes: every timer fires, up to ten years later.
    let mut t = t0;
    for step in [1, 10, 100, 3_600, 86_400, 31_536_000, 315_360_000] {
        t = t0 + Duration::from_secs(step);
        // Fire the first deadlines one by one (a 1 s query interval
        // would otherwise mean 300 million of them), then jump.
        for _ in 0..200 {
            let Some(d) = r.next_deadline().filter(|d| *d <= t) else {
                break;
            };
            r.step(d.max(t0), [Input::Timer]);
            let next = r.next_deadline();
            assert!(
                next.is_none_or(|n| n > d),
                "a timer at {d:?} fired and stayed due"
            );
        }
        r.step(t, [Input::Timer]);
        if let Some(n) = r.next_deadline() {
            assert!(n > t, "after a timer pass at {t:?} a deadline is still due");
        }
    }
    for c in [
        Command::ShowInterfaces,
        Command::ShowGroups,
        Command::ShowRoutes,
        Command::ShowProtocols,
        Command::ShowCounters,
        Command::ShowConfig,
    ] {
        command(&mut r, t, c).0.unwrap();
    }
    r.step(t, [Input::Shutdown]);
}

#[test]
fn every_key_at_its_ends_runs_without_panicking() {
    let cases = ends();
    for (name, text) in &cases {
        Config::parse(text, "ends.toml").unwrap_or_else(|e| panic!("{name}: {e}"));
        for (_, other) in &cases {
            exercise(text, other);
        }
    }
}

#[test]
fn values_past_the_ends_are_refused_not_wrapped() {
    for (key, value) in [
        ("[global]\ntable", "1000000000"),
        ("[global]\ntable", "0"),
        ("[global]\ntable", "99999999999999999999"),
        ("[global]\nmfe-idle-timeout", "\"366days\""),
        ("[global]\nmfe-idle-timeout", "\"500000000000years\""),
        ("[global]\nmfe-idle-timeout", "\"0s\""),
        ("[igmp]\nquery-interval", "\"31745s\""),
        ("[igmp]\nquery-interval", "\"0s\""),
        ("[igmp]\nquery-response-interval", "\"3174.5s\""),
        ("[igmp]\nrobustness", "8"),
        ("[igmp]\nrobustness", "-1"),
        ("[igmp]\nlast-member-query-count", "256"),
        ("[igmp]\nstartup-query-count", "0"),
        ("[igmp]\nmax-groups", "4294967296"),
        ("[igmp]\nmax-groups", "0"),
        ("[igmp]\nversion", "4"),
    ] {
        let text = format!("{key} = {value}\n");
        let e = Config::parse(&text, "t.toml").expect_err(&text);
        let msg = e.to_string();
        assert!(msg.starts_with("t.toml:2:"), "{text}: {msg}");
        assert!(
            !msg.contains("i64") && !msg.contains("i128") && !msg.contains("u32"),
            "{text}: {msg}"
        );
    }
}
