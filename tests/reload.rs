//! Live reconfiguration through the real router: a reload is one input; a
//! bad file changes nothing; a good one changes what it must and nothing
//! else (no kernel entry rewritten, no query sent, no host membership
//! touched for what did not change).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

mod common;

use common::{
    command, flow, host, join, join_from, join_group, mrt, show_groups, show_routes, snapshot,
};
use mgmd::config::Config;
use mgmd::core::control::{Answer, Command};
use mgmd::core::event::Event;
use mgmd::core::filter::HostFilter;
use mgmd::core::input::Input;
use mgmd::core::mroute::MrtAction;
use mgmd::core::output::Output;
use mgmd::core::protocol::static_routes::Edit;
use mgmd::core::router::{HOST_LEAVE_HOLD, Router};
use mgmd::core::status::ReloadReport;
use mgmd::core::types::{FlowKey, IfIndex};

const UP0: IfIndex = IfIndex(2);
const LAN1: IfIndex = IfIndex(3);
const LAN2: IfIndex = IfIndex(4);
const LAN3: IfIndex = IfIndex(6);
const UP1: IfIndex = IfIndex(5);

const BASE: &str = r#"
[igmp]
query-interval = "10s"
query-response-interval = "1s"

[[interface]]
name = "up0"
[[interface]]
name = "lan1"
[[interface]]
name = "lan2"

[static]
interfaces = ["up0", "lan2"]

[[static.join]]
interface = "up0"
group = "239.7.7.7"
"#;

/// A router on `text` with up0, lan1, lan2, lan3 and up1 present, a
/// receiver of the group on lan1 and the flow from up0 forwarded to it.
fn router(text: &str, t0: Instant) -> Router {
    let cfg = Config::parse(text, "mgmd.toml").unwrap_or_else(|e| panic!("{e}"));
    let mut r = Router::new(cfg, t0);
    r.step(
        t0,
        [snapshot(&[
            (UP0, "up0", "10.0.1.1"),
            (LAN1, "lan1", "10.0.2.1"),
            (LAN2, "lan2", "10.0.3.1"),
            (UP1, "up1", "10.0.4.1"),
            (LAN3, "lan3", "10.0.5.1"),
        ])],
    );
    r.step(t0, [join(LAN1)]);
    let upcall = common::new_flow(&r, flow(), UP0, Some(UP0));
    let out = r.step(t0, [upcall]);
    assert!(
        mrt(&out)
            .iter()
            .any(|a| matches!(a, MrtAction::AddMfc { oifs, .. } if !oifs.is_empty())),
        "{out:?}"
    );
    r
}

fn reload(r: &mut Router, t: Instant, text: &str) -> (Result<ReloadReport, String>, Vec<Output>) {
    let (reply, out) = command(
        r,
        t,
        Command::Reload {
            path: "mgmd.toml".into(),
            text: text.into(),
            overrides: Default::default(),
        },
    );
    let reply = reply.map(|a| match a {
        Answer::Reload(report) => report,
        other => panic!("{other:?}"),
    });
    (reply, out)
}

fn sends(out: &[Output]) -> usize {
    out.iter()
        .filter(|o| matches!(o, Output::SendIgmp { .. }))
        .count()
}

fn changes(report: &ReloadReport) -> Vec<String> {
    report
        .changes
        .iter()
        .map(|c| format!("{}: {}", c.section, c.change))
        .collect()
}

#[test]
fn the_same_file_changes_nothing() {
    let t0 = Instant::now();
    let mut r = router(BASE, t0);
    let t = t0 + Duration::from_millis(500);
    let before = show_routes(&mut r, t);
    let (report, out) = reload(&mut r, t, BASE);
    let report = report.unwrap();
    assert_eq!(changes(&report), Vec::<String>::new());
    assert_eq!(mrt(&out), vec![], "no kernel change");
    assert_eq!(host(&out), vec![], "no host membership change");
    assert_eq!(sends(&out), 0, "no query");
    assert_eq!(show_routes(&mut r, t), before);
}

#[test]
fn a_bad_file_is_refused_with_its_position_and_changes_nothing() {
    let t0 = Instant::now();
    let mut r = router(BASE, t0);
    let t = t0 + Duration::from_millis(500);
    let groups = show_groups(&mut r, t);
    let bad = BASE.replace("query-interval = \"10s\"", "query-interval = 10");
    let (report, out) = reload(&mut r, t, &bad);
    let e = report.unwrap_err();
    assert!(
        e.starts_with("mgmd.toml:3:18: query-interval = 10 has no unit"),
        "{e}"
    );
    assert_eq!(mrt(&out), vec![]);
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Event(Event::ConfigRefused { .. })))
    );
    assert_eq!(show_groups(&mut r, t), groups);
    // Still running on the old configuration.
    let (reply, _) = command(&mut r, t, Command::ShowConfig);
    let Ok(Answer::Config(v)) = reply else {
        panic!()
    };
    assert_eq!(v.config["igmp"]["query_interval"], "10s");
    let (reply, _) = command(&mut r, t, Command::ShowCounters);
    let Ok(Answer::Counters(c)) = reply else {
        panic!()
    };
    assert_eq!((c.reloads, c.reloads_refused), (0, 1));
}

#[test]
fn new_timers_keep_the_learned_groups() {
    let t0 = Instant::now();
    let mut r = router(BASE, t0);
    let t = t0 + Duration::from_millis(500);
    let text = BASE.replace("query-interval = \"10s\"", "query-interval = \"20s\"");
    let (report, out) = reload(&mut r, t, &text);
    let report = report.unwrap();
    // The startup query interval follows (a quarter of the query interval).
    assert_eq!(
        changes(&report),
        [
            "igmp lan1: query-interval: 10s -> 20s",
            "igmp lan1: startup-query-interval: 2s 500ms -> 5s",
            "igmp lan2: query-interval: 10s -> 20s",
            "igmp lan2: startup-query-interval: 2s 500ms -> 5s",
            "igmp up0: query-interval: 10s -> 20s",
            "igmp up0: startup-query-interval: 2s 500ms -> 5s",
        ]
    );
    assert_eq!(mrt(&out), vec![]);
    assert_eq!(sends(&out), 0);
    assert_eq!(r.memberships_on(LAN1).len(), 1);
    assert_eq!(show_routes(&mut r, t)[0].oifs, ["lan1"]);
}

#[test]
fn a_lowered_limit_and_a_new_deny_list_remove_only_what_they_must() {
    let t0 = Instant::now();
    let mut r = router(BASE, t0);
    let g = |i: u8| Ipv4Addr::new(239, 5, 0, i);
    for i in 1..=4 {
        r.step(t0, [join_group(LAN1, g(i))]);
    }
    assert_eq!(r.memberships_on(LAN1).len(), 5);
    let t = t0 + Duration::from_millis(500);
    let text = BASE.replace(
        "[[interface]]\nname = \"lan1\"",
        "[[interface]]\nname = \"lan1\"\nmax-groups = 3\ndeny-groups = [\"239.5.0.4\"]",
    );
    let (report, out) = reload(&mut r, t, &text);
    let report = report.unwrap();
    assert!(
        changes(&report)
            .iter()
            .any(|c| c.contains("igmp lan1: max-groups")),
        "{report:?}"
    );
    // 239.5.0.4 is denied; of the four left, one goes to fit three.
    let left: BTreeSet<_> = r
        .memberships_on(LAN1)
        .iter()
        .map(|k| k.group.addr())
        .collect();
    assert_eq!(left.len(), 3, "{left:?}");
    assert!(!left.contains(&g(4).into()));
    // The flow's group stays (the limit removes the highest addresses).
    assert!(left.contains(&flow().group.addr()));
    assert!(
        mrt(&out).is_empty(),
        "the group of the flow stayed: {out:?}"
    );
    let removed: Vec<_> = out
        .iter()
        .filter(|o| {
            matches!(
                o,
                Output::Event(Event::Igmp {
                    log: mgmd::core::igmp::IgmpLog::GroupDeleted { .. },
                    ..
                })
            )
        })
        .collect();
    assert_eq!(removed.len(), 2, "{removed:?}");
}

#[test]
fn a_route_added_forwards_and_removed_stops() {
    let t0 = Instant::now();
    let mut r = router(BASE, t0);
    let t = t0 + Duration::from_millis(500);
    let with_route = format!(
        "{BASE}\n[[static.route]]\ngroup = \"{}\"\ninbound = \"up0\"\noutbound = [\"lan2\"]\n",
        flow().group
    );
    let (report, out) = reload(&mut r, t, &with_route);
    assert_eq!(
        changes(&report.unwrap()),
        ["static: routes added: group=239.1.1.1/32 inbound=up0 outbound=lan2"]
    );
    assert_eq!(show_routes(&mut r, t)[0].oifs, ["lan1", "lan2"]);
    let adds: Vec<_> = mrt(&out);
    assert!(
        matches!(&adds[..], [MrtAction::AddMfc { oifs, .. }] if oifs.len() == 2),
        "one replacement in the kernel: {adds:?}"
    );
    assert_eq!(host(&out), vec![], "the static join is not touched");
    // And back.
    let (report, out) = reload(&mut r, t, BASE);
    assert_eq!(
        changes(&report.unwrap()),
        ["static: routes removed: group=239.1.1.1/32 inbound=up0 outbound=lan2"]
    );
    assert_eq!(show_routes(&mut r, t)[0].oifs, ["lan1"]);
    assert_eq!(mrt(&out).len(), 1);
    assert_eq!(host(&out), vec![]);
}

#[test]
fn an_interface_added_starts_and_removed_stops() {
    let t0 = Instant::now();
    let mut r = router(BASE, t0);
    let t = t0 + Duration::from_millis(500);
    let more = format!("{BASE}\n[[interface]]\nname = \"lan3\"\n");
    let (report, out) = reload(&mut r, t, &more);
    assert_eq!(changes(&report.unwrap()), ["interface lan3: added"]);
    assert!(out.iter().any(|o| matches!(
        o,
        Output::ListenIgmp {
            ifindex: LAN3,
            on: true
        }
    )));
    assert_eq!(sends(&out), 1, "its startup query");
    assert!(
        mrt(&out)
            .iter()
            .all(|a| matches!(a, MrtAction::AddVif { ifindex: LAN3, .. }))
    );
    let (report, out) = reload(&mut r, t + Duration::from_secs(1), BASE);
    assert_eq!(
        changes(&report.unwrap()),
        ["interface lan3: no longer configured"]
    );
    assert!(out.iter().any(|o| matches!(
        o,
        Output::ListenIgmp {
            ifindex: LAN3,
            on: false
        }
    )));
    assert!(
        mrt(&out)
            .iter()
            .all(|a| matches!(a, MrtAction::DelVif { ifindex: LAN3, .. }))
    );
    assert_eq!(show_routes(&mut r, t)[0].oifs, ["lan1"]);
}

#[test]
fn a_protocol_section_added_takes_its_interfaces_and_removed_releases_them() {
    let t0 = Instant::now();
    let mut r = router(BASE, t0);
    let t = t0 + Duration::from_millis(500);
    let proxy = format!("{BASE}\n[proxy]\nupstream = [\"up1\"]\ndownstream = [\"lan3\"]\n");
    let (report, out) = reload(&mut r, t, &proxy);
    let report = report.unwrap();
    assert!(
        changes(&report).contains(&"proxy: added".to_owned()),
        "{report:?}"
    );
    assert!(
        changes(&report).contains(&"interface up1: added".to_owned()),
        "{report:?}"
    );
    assert!(
        changes(&report).contains(&"interface lan3: added".to_owned()),
        "{report:?}"
    );
    assert_eq!(
        mrt(&out)
            .iter()
            .filter(|a| matches!(a, MrtAction::AddMfc { .. }))
            .count(),
        0
    );
    // A receiver on lan3 is now reported upstream on up1.
    let out = r.step(
        t,
        [join_from(
            LAN3,
            Ipv4Addr::new(10, 0, 5, 2),
            Ipv4Addr::new(239, 8, 8, 8),
        )],
    );
    assert_eq!(
        host(&out),
        vec![(UP1, HostFilter::Exclude(BTreeSet::new()))]
    );
    // The proxy goes: its upstream membership is left after the hold time.
    let (report, out) = reload(&mut r, t, BASE);
    assert!(changes(&report.unwrap()).contains(&"proxy: removed".to_owned()));
    assert_eq!(host(&out), vec![]);
    let out = r.step(t + HOST_LEAVE_HOLD, [Input::Timer]);
    assert_eq!(
        host(&out),
        vec![(UP1, HostFilter::Include(BTreeSet::new()))]
    );
}

#[test]
fn restart_only_keys_keep_their_running_values() {
    let t0 = Instant::now();
    let mut r = router(BASE, t0);
    let text = format!("[global]\ntable = 7\ncontrol-socket = \"/tmp/other.sock\"\n{BASE}");
    let (report, out) = reload(&mut r, t0, &text);
    let report = report.unwrap();
    assert_eq!(
        changes(&report),
        [
            "global: table changes at the next restart; the running value stays",
            "global: control-socket changes at the next restart; the running value stays",
            // (the pid file's default follows the table)
            "global: pid-file changes at the next restart; the running value stays",
        ]
    );
    assert_eq!(mrt(&out), vec![]);
    assert_eq!(r.config().global.table, None);
}

#[test]
fn runtime_routes_and_joins_apply_like_a_reload_of_static() {
    let t0 = Instant::now();
    let mut r = router(BASE, t0);
    let t = t0 + Duration::from_millis(500);
    let edit = |r: &mut Router, e: Edit| command(r, t, static_edit(e));
    let (reply, out) = edit(
        &mut r,
        Edit::RouteAdd {
            source: None,
            group: flow().group.to_string(),
            inbound: "up0".into(),
            outbound: vec!["lan2".into()],
            with_members: Vec::new(),
        },
    );
    assert!(reply.is_ok(), "{reply:?}");
    assert_eq!(show_routes(&mut r, t)[0].oifs, ["lan1", "lan2"]);
    assert_eq!(mrt(&out).len(), 1);
    // Refused edits say why and change nothing.
    let (reply, out) = edit(
        &mut r,
        Edit::RouteAdd {
            source: None,
            group: "10.0.0.1".into(),
            inbound: "up0".into(),
            outbound: vec!["lan2".into()],
            with_members: Vec::new(),
        },
    );
    assert!(reply.unwrap_err().contains("not a multicast group"));
    assert_eq!(mrt(&out), vec![]);
    // A join on up0 (static owns it) is reported upstream.
    let (reply, out) = edit(
        &mut r,
        Edit::Join {
            interface: "up0".into(),
            group: "239.9.9.1".into(),
            source: None,
        },
    );
    assert!(reply.is_ok());
    assert_eq!(
        host(&out),
        vec![(UP0, HostFilter::Exclude(BTreeSet::new()))]
    );
    // show config marks them.
    let (reply, _) = command(&mut r, t, Command::ShowConfig);
    let Ok(Answer::Config(v)) = reply else {
        panic!()
    };
    assert_eq!(v.runtime_edits.len(), 2);
    assert!(v.runtime_edits[0].starts_with("[[static.route]]"));
    assert_eq!(v.config["static"]["routes"][0]["runtime"], true);
    // A reload drops them.
    let (report, _) = reload(&mut r, t, BASE);
    let report = report.unwrap();
    assert!(
        changes(&report).iter().any(|c| c.starts_with("static:")),
        "{report:?}"
    );
    assert_eq!(show_routes(&mut r, t)[0].oifs, ["lan1"]);
    let (reply, _) = command(&mut r, t, Command::ShowConfig);
    let Ok(Answer::Config(v)) = reply else {
        panic!()
    };
    assert!(v.runtime_edits.is_empty());
}

#[test]
fn a_flow_coming_in_on_a_replaced_protocols_interface_keeps_flowing() {
    let t0 = Instant::now();
    let text = format!(
        "{BASE}\n[[static.route]]\ngroup = \"239.1.0.0/16\"\ninbound = \"up0\"\noutbound = [\"lan2\"]\n"
    );
    let mut r = router(&text, t0);
    let other = FlowKey {
        group: "239.1.2.2".parse().unwrap(),
        source: Ipv4Addr::new(10, 0, 1, 2).into(),
    };
    let upcall = common::new_flow(&r, other, UP0, Some(UP0));
    r.step(t0, [upcall]);
    // Another route changes [static]; both flows' entries stay as they are.
    let changed = format!(
        "{text}\n[[static.route]]\ngroup = \"239.3.0.0/16\"\ninbound = \"up0\"\noutbound = [\"lan2\"]\n"
    );
    let (report, out) = reload(&mut r, t0, &changed);
    assert_eq!(
        changes(&report.unwrap()),
        ["static: routes added: group=239.3.0.0/16 inbound=up0 outbound=lan2"]
    );
    assert_eq!(mrt(&out), vec![], "{out:?}");
    assert_eq!(host(&out), vec![]);
    assert_eq!(show_routes(&mut r, t0).len(), 2);
}

#[test]
fn reports_name_what_changed_as_an_operator_wrote_it() {
    let t0 = Instant::now();
    let mut r = router(BASE, t0);
    let new = BASE.replace(
        "name = \"lan2\"",
        "name = \"lan2\"\nquery-interval = \"60s\"",
    ) + "[[static.route]]\ngroup = \"239.9.0.0/16\"\ninbound = \"up0\"\noutbound = [\"lan2\"]\n";
    let (rep, _) = reload(&mut r, t0, &new);
    assert_eq!(
        changes(&rep.unwrap()),
        [
            "static: routes added: group=239.9.0.0/16 inbound=up0 outbound=lan2",
            "igmp lan2: query-interval: 10s -> 1m",
            "igmp lan2: startup-query-interval: 2s 500ms -> 15s",
        ]
    );
    let (rep, _) = command(
        &mut r,
        t0,
        static_edit(Edit::RouteAdd {
            source: Some("10.0.1.0/24".into()),
            group: "239.5.0.0/16".into(),
            inbound: "up0".into(),
            outbound: vec!["lan2".into()],
            with_members: vec![],
        }),
    );
    let Ok(Answer::Reload(rep)) = rep else {
        panic!("{rep:?}")
    };
    assert_eq!(
        changes(&rep),
        [
            "static: routes added: group=239.5.0.0/16 inbound=up0 outbound=lan2 runtime=true source=10.0.1.0/24"
        ]
    );
}

/// A replaced protocol hands its interfaces to its successor without
/// telling (or counting) ownership moves; an interface the new section no
/// longer gives it is told as the release it is.
#[test]
fn a_replaced_protocol_moves_no_interface_it_keeps() {
    let t0 = Instant::now();
    let mut r = router(BASE, t0);
    let moves = |r: &mut Router| match command(r, t0, Command::ShowCounters).0 {
        Ok(Answer::Counters(c)) => c.ownership_moves,
        other => panic!("{other:?}"),
    };
    let ownership_events = |out: &[Output]| -> Vec<String> {
        out.iter()
            .filter_map(|o| match o {
                Output::Event(
                    e @ (Event::OwnershipStarted { .. } | Event::OwnershipComplete { .. }),
                ) => Some(e.to_string()),
                Output::Event(Event::Effect(e)) if e.is_ownership_step() => Some(format!("{e:?}")),
                _ => None,
            })
            .collect()
    };
    let before = moves(&mut r);
    let added = BASE.to_owned()
        + "[[static.route]]\ngroup = \"239.9.0.0/16\"\ninbound = \"up0\"\noutbound = [\"lan2\"]\n";
    let (rep, out) = reload(&mut r, t0, &added);
    rep.unwrap();
    assert!(
        ownership_events(&out).is_empty(),
        "{:?}",
        ownership_events(&out)
    );
    assert_eq!(moves(&mut r), before);
    let (_, out) = command(
        &mut r,
        t0,
        static_edit(Edit::RouteDel {
            source: None,
            group: "239.9.0.0/16".into(),
        }),
    );
    assert!(
        ownership_events(&out).is_empty(),
        "{:?}",
        ownership_events(&out)
    );
    assert_eq!(moves(&mut r), before);
    // lan2 is no longer static's: one release, told and counted.
    let fewer = BASE.replace("interfaces = [\"up0\", \"lan2\"]", "interfaces = [\"up0\"]");
    let (rep, out) = reload(&mut r, t0, &fewer);
    rep.unwrap();
    let told = ownership_events(&out);
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(
        told[0].contains("lan2") && told[0].contains("static"),
        "{told:?}"
    );
    assert_eq!(moves(&mut r), before + 1);
}

/// An edit goes to the protocol it names, which reads it; the router
/// knows only whether that protocol is configured.
#[test]
fn a_runtime_edit_is_the_named_protocols_to_read() {
    let t0 = Instant::now();
    let mut r = router(BASE, t0);
    let edit = |protocol: &str, edit: serde_json::Value| Command::Edit {
        protocol: protocol.into(),
        edit,
    };
    let (rep, _) = command(&mut r, t0, edit("pim", serde_json::json!({})));
    assert_eq!(
        rep.unwrap_err(),
        "no routing protocol named pim (known: static, proxy)"
    );
    let (rep, _) = command(&mut r, t0, edit("proxy", serde_json::json!({})));
    assert_eq!(
        rep.unwrap_err(),
        "no [proxy] section is configured; runtime edits of proxy need one"
    );
    let (rep, _) = command(&mut r, t0, edit("static", serde_json::json!({"edit": "x"})));
    let e = rep.unwrap_err();
    assert!(
        e.starts_with("malformed edit of static: unknown variant `x`"),
        "{e}"
    );
}

/// A runtime edit is warned about as the same lines in the file would be.
#[test]
fn a_useless_runtime_edit_is_warned_about() {
    let t0 = Instant::now();
    let mut r = router(BASE, t0);
    let (rep, _) = command(
        &mut r,
        t0,
        static_edit(Edit::RouteAdd {
            source: None,
            group: "224.0.0.5".into(),
            inbound: "up0".into(),
            outbound: vec!["lan2".into()],
            with_members: vec![],
        }),
    );
    let Ok(Answer::Reload(rep)) = rep else {
        panic!("{rep:?}")
    };
    assert_eq!(rep.warnings.len(), 1, "{rep:?}");
    assert!(rep.warnings[0].contains("link-local"), "{rep:?}");
    let (rep, _) = command(
        &mut r,
        t0,
        static_edit(Edit::Join {
            interface: "up0".into(),
            group: "239.8.8.8".into(),
            source: None,
        }),
    );
    let Ok(Answer::Reload(rep)) = rep else {
        panic!("{rep:?}")
    };
    assert!(rep.warnings.is_empty(), "{rep:?}");
}

/// Drives the router by its own deadlines from `from` to `until` and
/// returns the times of the general queries it sends on `ifindex`.
fn general_queries(
    r: &mut Router,
    from: Instant,
    until: Instant,
    ifindex: IfIndex,
) -> Vec<Instant> {
    let mut at = Vec::new();
    let mut now = from;
    while let Some(t) = r.next_deadline().filter(|t| *t <= until) {
        now = t.max(now);
        for o in r.step(now, [Input::Timer]) {
            if let Output::SendIgmp {
                ifindex: i, dst, ..
            } = o
                && i == ifindex
                && dst == Ipv4Addr::new(224, 0, 0, 1)
            {
                at.push(now);
            }
        }
    }
    at
}

// RFC 9776 8.2: the Query Interval is "the interval between General
// Queries sent by the Querier". A reload that lowers it from 10 s to 7 s
// paces the queries at 7 s from the first one after the reload on: the
// next is due 7 s after the last one sent (or at once if that is past),
// never at the old 10 s.
// Input: startup and periodic queries at 10 s, a reload to 7 s 2 s after
// one, later a reload to 14 s. Output: the query times on lan1.
#[test]
fn a_lowered_query_interval_paces_the_queries_from_the_next_one_on() {
    let t0 = Instant::now();
    let mut r = router(BASE, t0);
    // Startup queries (2, 2.5 s apart), then one every 10 s.
    let sent = general_queries(&mut r, t0, t0 + Duration::from_secs(33), LAN1);
    let last = *sent.last().unwrap();
    assert_eq!(last - t0, Duration::from_millis(32_500), "{sent:?}");
    let t = last + Duration::from_secs(2);
    let text = BASE.replace("query-interval = \"10s\"", "query-interval = \"7s\"");
    let (report, out) = reload(&mut r, t, &text);
    report.unwrap();
    assert_eq!(sends(&out), 0);
    let after = general_queries(&mut r, t, t + Duration::from_secs(30), LAN1);
    let gaps: Vec<Duration> = std::iter::once(last)
        .chain(after.iter().copied())
        .collect::<Vec<_>>()
        .windows(2)
        .map(|w| w[1] - w[0])
        .collect();
    assert_eq!(gaps[..4], [Duration::from_secs(7); 4], "{after:?}");

    // A longer one waits for the query already due, which tells the other
    // routers the new interval (QQIC), and paces the next ones.
    let last = *after.last().unwrap();
    let t = last + Duration::from_secs(1);
    let text = BASE.replace("query-interval = \"10s\"", "query-interval = \"14s\"");
    reload(&mut r, t, &text).0.unwrap();
    let after = general_queries(&mut r, t, t + Duration::from_secs(40), LAN1);
    assert_eq!(
        after.iter().map(|q| *q - last).collect::<Vec<_>>(),
        [7, 21, 35].map(Duration::from_secs),
    );
}

/// A runtime edit of `[static]` as mgmctl sends it.
fn static_edit(edit: Edit) -> Command {
    Command::Edit {
        protocol: "static".into(),
        edit: serde_json::to_value(edit).unwrap(),
    }
}

/// A runtime route whose outbound forwards only with members is taken
/// where IGMP runs and refused, with the reason, where it does not.
#[test]
fn a_runtime_route_with_members_needs_igmp_on_that_interface() {
    let t0 = Instant::now();
    let text = BASE.replace(
        "name = \"lan2\"\n",
        "name = \"lan2\"\n[[interface]]\nname = \"lan3\"\nigmp = false\n",
    );
    let mut r = router(&text, t0);
    let add = |with: &str| {
        static_edit(Edit::RouteAdd {
            source: None,
            group: "239.5.0.0/16".into(),
            inbound: "up0".into(),
            outbound: vec![],
            with_members: vec![with.into()],
        })
    };
    let (rep, _) = command(&mut r, t0, add("lan3"));
    let err = rep.expect_err("lan3 runs no IGMP");
    assert!(
        err.contains("outbound interface 'lan3' forwards only with members, but IGMP does not run"),
        "{err}"
    );
    let (rep, _) = command(&mut r, t0, add("lan2"));
    let Ok(Answer::Reload(rep)) = rep else {
        panic!("{rep:?}")
    };
    assert_eq!(
        changes(&rep),
        ["static: routes added: group=239.5.0.0/16 inbound=up0 \
             outbound=(name=lan2 only-with-members=true) runtime=true"]
    );
}
