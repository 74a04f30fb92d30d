//! What one input costs the router when an IGMP proxy is configured and
//! N groups are joined downstream: a current-state report that only
//! refreshes a membership (the bulk of what a querier receives) and a
//! join/leave pair that changes one. Each input is its own commit, as when
//! reports trickle in one by one.
//!
//!     cargo bench --bench proxy_commit [-- N...]

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use mgmd::config::Config;
use mgmd::core::event::Event;
use mgmd::core::iface::{AddrFact, LinkFact};
use mgmd::core::igmp::{GroupRecord, IgmpPacket, RecordType};
use mgmd::core::input::Input;
use mgmd::core::mgm::Effect;
use mgmd::core::output::Output;
use mgmd::core::router::Router;
use mgmd::core::types::IfIndex;

const WAN0: IfIndex = IfIndex(2);
const LAN0: IfIndex = IfIndex(3);

fn report(group: u32, record_type: RecordType) -> Input {
    Input::IgmpRx {
        ifindex: LAN0,
        src: Ipv4Addr::new(10, 1, 0, 2),
        dst: Ipv4Addr::new(224, 0, 0, 22),
        ttl: 1,
        router_alert: true,
        payload: IgmpPacket::V3Report {
            records: vec![GroupRecord {
                record_type,
                group: Ipv4Addr::from(0xef01_0000 + group),
                sources: vec![],
            }],
        }
        .encode(),
    }
}

fn host_joins(out: &[Output]) -> usize {
    out.iter()
        .filter(|o| matches!(o, Output::HostMembership { .. }))
        .count()
}

/// Memberships of group `group` on lan0 added and removed by these
/// outputs (their events). Checked per input instead of listing lan0's
/// memberships, which would cost O(groups) and hide what is measured.
fn lan0_changes(out: &[Output], group: u32) -> (usize, usize) {
    let group = Ipv4Addr::from(0xef01_0000 + group);
    let mut changes = (0, 0);
    for o in out {
        match o {
            Output::Event(Event::Effect(Effect::MembershipAdded { key, ifindex, .. }))
                if ifindex.ifindex == LAN0 && key.group.addr() == group =>
            {
                changes.0 += 1
            }
            Output::Event(Event::Effect(Effect::MembershipRemoved { key, ifindex, .. }))
                if ifindex.ifindex == LAN0 && key.group.addr() == group =>
            {
                changes.1 += 1
            }
            _ => {}
        }
    }
    changes
}

/// A proxy router with `n` groups joined on lan0 (and reported upstream).
fn router(n: u32, t0: Instant) -> Router {
    let cfg = Config::parse(
        // Immediate leave: a leave removes the membership at once.
        "[proxy]\nupstream = [\"wan0\"]\ndownstream = [\"lan0\"]\n\
         [[interface]]\nname = \"lan0\"\nimmediate-leave = true\n",
        "proxy_commit.toml",
    )
    .expect("bench config");
    let mut r = Router::new(cfg, t0);
    r.step(
        t0,
        [Input::Snapshot {
            links: vec![LinkFact::up(WAN0, "wan0"), LinkFact::up(LAN0, "lan0")],
            addrs: vec![
                AddrFact {
                    ifindex: WAN0,
                    addr: Ipv4Addr::new(10, 0, 0, 1).into(),
                    prefix_len: 24,
                    peer: None,
                },
                AddrFact {
                    ifindex: LAN0,
                    addr: Ipv4Addr::new(10, 1, 0, 1).into(),
                    prefix_len: 24,
                    peer: None,
                },
            ],
        }],
    );
    let out = r.step(t0, (0..n).map(|g| report(g, RecordType::ChangeToExclude)));
    assert_eq!(
        host_joins(&out),
        n as usize,
        "every group reported upstream"
    );
    r
}

fn per_input(k: u32, mut f: impl FnMut(u32)) -> Duration {
    let t = Instant::now();
    for i in 0..k {
        f(i);
    }
    t.elapsed() / k
}

fn main() {
    let mut ns: Vec<u32> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    if ns.is_empty() {
        ns = vec![100, 1000, 4000];
    }
    // Under `cargo test` (no `--bench`) a short smoke run.
    let k = if std::env::args().any(|a| a == "--bench") {
        2000
    } else {
        20
    };
    println!("| groups joined | refreshing report | join or leave of one more group |");
    println!("|---|---|---|");
    for n in ns {
        let t0 = Instant::now();
        let mut r = router(n, t0);
        let now = t0 + Duration::from_millis(1);
        let refresh = per_input(k, |i| {
            let out = r.step(now, [report(i % n, RecordType::ModeIsExclude)]);
            assert_eq!(host_joins(&out), 0);
        });
        let change = per_input(k, |_| {
            let out = r.step(now, [report(n, RecordType::ChangeToExclude)]);
            assert_eq!(lan0_changes(&out, n), (1, 0), "the join adds");
            // (Upstream, the leave waits for the hold time; a join within
            // it sends nothing.)
            let out = r.step(now, [report(n, RecordType::ChangeToInclude)]);
            assert_eq!(lan0_changes(&out, n), (0, 1), "the leave removes");
        }) / 2;
        assert_eq!(r.memberships_on(LAN0).len(), n as usize);
        println!("| {n} | {refresh:.2?} | {change:.2?} |");
    }
}
