//! Regression tests for what fuzzing (`scripts/fuzz.sh`) found, one per
//! finding, each with the input that showed it.

use std::collections::BTreeMap;
use std::time::Instant;

use mgmd::config::Config;
use mgmd::core::iface::LinkFact;
use mgmd::core::input::Input;
use mgmd::core::mroute::MrtAction;
use mgmd::core::output::Output;
use mgmd::core::router::Router;
use mgmd::core::types::{IfIndex, VifIndex};
use mgmd::ctl::proto::{EventRecord, Reply};
use serde_json::json;

/// `ctl` target: a float in a reply's data (the daemon sends durations
/// as seconds, e.g. `expires_s`) came back one unit in the last place off
/// after the client parsed it, because JSON floats were parsed only to
/// best effort.
#[test]
fn reply_and_event_floats_survive_the_round_trip() {
    for x in [2.9180816269192096e-77, 123.45678901234567, 0.1 + 0.2] {
        let reply = Reply::ok(json!({ "expires_s": x }));
        let line = serde_json::to_string(&reply).unwrap();
        let back: Reply = serde_json::from_str(&line).unwrap();
        assert_eq!(back, reply, "{line}");
        let ev = EventRecord {
            t_ms: 1,
            seq: 2,
            kind: "effect".into(),
            text: "t".into(),
            data: json!([x]),
        };
        let line = serde_json::to_string(&ev).unwrap();
        assert_eq!(
            serde_json::from_str::<EventRecord>(&line).unwrap(),
            ev,
            "{line}"
        );
    }
}

/// `netlink` target: a link dump is not atomic, so a rename during it can
/// list two links under one name. The interface table keeps one of them;
/// the router took the other for deleted and forgot its VIF, which the
/// kernel still had, and then added a VIF over it (`EADDRINUSE`).
#[test]
fn a_dump_with_one_name_twice_keeps_the_vif_table_consistent() {
    let cfg = Config::parse("[[interface]]\nname = \"lan1\"\n", "t.toml").unwrap();
    let t0 = Instant::now();
    let mut r = Router::new(cfg, t0);
    let mut kernel = KernelVifs::default();
    let lan1 = |i| LinkFact::up(IfIndex(i), "lan1");
    kernel.apply(&r.step(t0, [Input::Link(lan1(4))]));
    kernel.apply(&r.step(t0, [Input::Link(lan1(5))]));
    kernel.apply(&r.step(
        t0,
        [Input::Snapshot {
            links: vec![lan1(4), lan1(5)],
            addrs: vec![],
        }],
    ));
    // Both devices exist: whichever one the table keeps has the one VIF.
    let kept = r.ifaces().by_name("lan1").unwrap().ifindex;
    assert_eq!(
        kernel.vifs.values().copied().collect::<Vec<_>>(),
        vec![kept]
    );
}

/// The kernel's VIF table, as a router's outputs change it; refuses what
/// the kernel refuses.
#[derive(Default)]
struct KernelVifs {
    vifs: BTreeMap<VifIndex, IfIndex>,
}

impl KernelVifs {
    fn apply(&mut self, out: &[Output]) {
        for o in out {
            match o {
                Output::Mrt(MrtAction::AddVif { vif, ifindex }) => {
                    assert!(!self.vifs.contains_key(vif), "{vif:?} is in use");
                    self.vifs.insert(*vif, *ifindex);
                }
                Output::Mrt(MrtAction::DelVif { vif, ifindex }) => {
                    assert_eq!(self.vifs.remove(vif), Some(*ifindex), "del {vif:?}");
                }
                _ => {}
            }
        }
    }
}
