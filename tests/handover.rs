//! Ownership moves between the real protocols, through the router, without
//! the kernel: the upstream interface moves proxy -> static -> proxy in
//! separate control requests while a flow is forwarded. The kernel must see
//! no change of the flow's entry and the box no change of its upstream
//! membership.

use std::collections::BTreeSet;
use std::time::Instant;

mod common;

use common::{flow, host, join, link, mrt, release, show_routes, snapshot, take};
use mgmd::config::Config;
use mgmd::core::filter::HostFilter;
use mgmd::core::input::Input;
use mgmd::core::mroute::MrtAction;
use mgmd::core::router::{HOST_LEAVE_HOLD, Router};
use mgmd::core::types::IfIndex;

const UP0: IfIndex = IfIndex(2);
const UP1: IfIndex = IfIndex(5);
const LAN1: IfIndex = IfIndex(3);

const CONFIG: &str = r#"
[[interface]]
name = "lan1"

[proxy]
upstream = ["up0", "up1"]
downstream = ["lan1"]

[static]
interfaces = []

[[static.route]]
group = "239.1.0.0/16"
inbound = "up0"
outbound = ["lan1"]

[[static.join]]
interface = "up0"
group = "239.1.1.1"
"#;

fn new_flow(r: &Router, arrival: IfIndex) -> Input {
    common::new_flow(r, flow(), arrival, Some(arrival))
}

/// A receiver on lan1 joined the group; the flow from up0 is forwarded.
fn forwarding(t0: Instant) -> Router {
    let cfg = Config::parse(CONFIG, "test.toml").unwrap_or_else(|e| panic!("{e}"));
    let mut r = Router::new(cfg, t0);
    r.step(
        t0,
        [snapshot(&[
            (UP0, "up0", "10.0.1.1"),
            (LAN1, "lan1", "10.0.2.1"),
            (UP1, "up1", "10.0.4.1"),
        ])],
    );
    let out = r.step(t0, [join(LAN1)]);
    assert_eq!(
        host(&out),
        vec![(UP0, HostFilter::Exclude(BTreeSet::new()))],
        "the proxy joins upstream"
    );
    let out = r.step(t0, [new_flow(&r, UP0)]);
    assert!(
        mrt(&out)
            .iter()
            .any(|a| matches!(a, MrtAction::AddMfc { flow: f, oifs, .. } if *f == flow() && oifs.len() == 1)),
        "{out:?}"
    );
    r
}

fn iif_owner(r: &mut Router, t: Instant) -> Option<String> {
    let routes = show_routes(r, t);
    assert_eq!(routes.len(), 1, "{routes:?}");
    assert_eq!(routes[0].oifs, vec!["lan1".to_string()]);
    routes[0].iif_owner.clone()
}

#[test]
fn upstream_moves_between_proxy_and_static_without_a_kernel_change_or_a_leave() {
    let t0 = Instant::now();
    let mut r = forwarding(t0);
    assert_eq!(iif_owner(&mut r, t0).as_deref(), Some("proxy"));
    let mut t = t0;
    for _ in 0..2 {
        for (op, iface, proto, owner) in [
            ("release", "up0", "proxy", None),
            ("take", "up0", "static", Some("static")),
            ("release", "up0", "static", None),
            ("take", "up0", "proxy", Some("proxy")),
        ] {
            t += HOST_LEAVE_HOLD / 10;
            let out = match op {
                "take" => take(&mut r, t, iface, proto),
                _ => release(&mut r, t, iface, proto),
            }
            .unwrap();
            assert_eq!(mrt(&out), vec![], "{op} {iface} {proto}: kernel changed");
            // (The proxy moves its wishes to up1 while up0 is not its own.)
            let on_up0: Vec<_> = host(&out).into_iter().filter(|(i, _)| *i == UP0).collect();
            assert_eq!(
                on_up0,
                vec![],
                "{op} {iface} {proto}: up0 membership changed"
            );
            assert_eq!(
                iif_owner(&mut r, t).as_deref(),
                owner,
                "{op} {iface} {proto}"
            );
        }
    }
    // The flow kept arriving: no new upcall was needed, and one that comes
    // in anyway (the kernel lost the entry) changes nothing.
    let out = r.step(t, [new_flow(&r, UP0)]);
    assert!(host(&out).is_empty());
}

#[test]
fn a_proxy_upstream_switch_still_redecides_the_flows() {
    let t0 = Instant::now();
    let mut r = forwarding(t0);
    // up0 goes down: up1 takes over; the flow on up0 is flushed.
    let out = r.step(t0, [Input::Link(link(UP0, "up0", false))]);
    assert!(
        mrt(&out)
            .iter()
            .any(|a| matches!(a, MrtAction::DelMfc { flow: f, .. } if *f == flow())),
        "{out:?}"
    );
    assert_eq!(
        host(&out),
        vec![(UP1, HostFilter::Exclude(BTreeSet::new()))],
        "the membership moves to up1 (up0's is held)"
    );
    // The flow now arriving on up1 is accepted there.
    r.step(t0, [new_flow(&r, UP1)]);
    let routes = show_routes(&mut r, t0);
    assert_eq!(routes.len(), 1, "{routes:?}");
    assert_eq!(routes[0].iif, "up1");
    assert_eq!(routes[0].oifs, vec!["lan1".to_string()]);
}
