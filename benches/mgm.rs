//! Group manager benchmarks:
//! (a) one ownership change on an interface holding 10,000 IGMP
//!     memberships, on the daemon's own path: `mgmctl take` and `release`
//!     as router inputs (the sequence, IGMP's re-adds, the protocols'
//!     commit, the kernel reconcile and every event);
//! (b) a stream of 1,000,000 membership adds/deletes over 32 interfaces;
//! (c) memory per membership, from the resident set size before and after
//!     filling the table with 1,000,000 entries (printed before the timings).

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::Instant;

use criterion::{BatchSize, Criterion, Throughput};
use mgmd::config::Config;
use mgmd::core::control::Command;
use mgmd::core::iface::{AddrFact, LinkFact};
use mgmd::core::igmp::{GroupRecord, IgmpPacket, RecordType};
use mgmd::core::input::Input;
use mgmd::core::mgm::{MembershipFlags, Mgm};
use mgmd::core::output::Output;
use mgmd::core::router::Router;
use mgmd::core::types::{ComponentId, FlowKey, GroupAddr, IfIndex, MembershipKey, VifIndex};

const JOIN: MembershipFlags = MembershipFlags::JOIN;

fn group(n: u32) -> GroupAddr {
    // 239.0.0.0/8 holds 16 M groups.
    let [_, b, c, d] = n.to_be_bytes();
    GroupAddr::new(Ipv4Addr::new(239, b, c, d)).expect("239/8 is multicast")
}

/// A small deterministic generator (xorshift), so every run replays the same
/// stream.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// 32 interfaces: 1..=16 owned by protocol "a" with IGMP co-resident,
/// 17..=32 IGMP only.
fn router() -> (Mgm, ComponentId) {
    let mut m = Mgm::new();
    let a = ComponentId::Protocol(m.register("a").expect("fresh manager"));
    for i in 1..=32 {
        m.interface_add(IfIndex(i), &format!("eth{i}"), true);
        if i <= 16 {
            m.take_ownership(a, IfIndex(i)).expect("unowned");
        }
        m.take_ownership(ComponentId::Igmp, IfIndex(i))
            .expect("igmp off");
    }
    (m, a)
}

// ===== (a) ownership change =====

const HELD: u32 = 10_000;
const UP0: IfIndex = IfIndex(1);
const LAN1: IfIndex = IfIndex(20);
const LAN2: IfIndex = IfIndex(21);

/// A router with IGMP on up0, lan1 and lan2 and a static protocol that owns
/// nothing yet. Hosts on lan1 joined 10,000 groups; 1,000 of them also have
/// receivers on lan2 and a flow coming in on up0, forwarded to both.
fn ownership_setup(t0: Instant) -> Router {
    let cfg = Config::parse(
        "[igmp]\nmax-groups = \"unlimited\"\n\
         [[interface]]\nname = \"up0\"\n[[interface]]\nname = \"lan1\"\n\
         [[interface]]\nname = \"lan2\"\n[static]\ninterfaces = []\n",
        "bench.toml",
    )
    .expect("valid configuration");
    let mut r = Router::new(cfg, t0);
    let links = [(UP0, "up0", 1), (LAN1, "lan1", 2), (LAN2, "lan2", 3)];
    r.step(
        t0,
        [Input::Snapshot {
            links: links.iter().map(|&(i, n, _)| LinkFact::up(i, n)).collect(),
            addrs: links
                .iter()
                .map(|&(ifindex, _, net)| AddrFact {
                    ifindex,
                    addr: Ipv4Addr::new(10, 0, net, 1).into(),
                    prefix_len: 24,
                    peer: None,
                })
                .collect(),
        }],
    );
    let report = |ifindex: IfIndex, net: u8, groups: &[GroupAddr]| Input::IgmpRx {
        ifindex,
        src: Ipv4Addr::new(10, 0, net, 2),
        dst: Ipv4Addr::new(224, 0, 0, 22),
        ttl: 1,
        router_alert: true,
        payload: IgmpPacket::V3Report {
            records: groups
                .iter()
                .map(|g| GroupRecord {
                    record_type: RecordType::ChangeToExclude,
                    group: g.v4().unwrap(),
                    sources: vec![],
                })
                .collect(),
        }
        .encode(),
    };
    let groups: Vec<GroupAddr> = (0..HELD).map(group).collect();
    r.step(t0, groups.chunks(100).map(|c| report(LAN1, 2, c)));
    r.step(t0, groups[..1_000].chunks(100).map(|c| report(LAN2, 3, c)));
    let up0 = (0..32)
        .map(VifIndex)
        .find(|v| r.ifindex_of_vif(*v) == Some(UP0))
        .expect("up0 is a VIF");
    let flows = groups[..1_000].iter().map(|g| Input::NewFlow {
        flow: FlowKey {
            group: *g,
            source: Ipv4Addr::new(10, 0, 1, 2).into(),
        },
        vif: up0,
        rpf: Some(UP0),
        upstream: None,
    });
    r.step(t0, flows);
    assert_eq!(r.memberships_on(LAN1).len(), HELD as usize);
    assert_eq!(r.installed_flows().len(), 1_000);
    r
}

/// `mgmctl take lan1 static` or `release`: the outputs it caused.
fn change(r: &mut Router, now: Instant, take: bool) -> usize {
    let (interface, protocol) = ("lan1".to_owned(), "static".to_owned());
    let c = if take {
        Command::Take {
            interface,
            protocol,
        }
    } else {
        Command::Release {
            interface,
            protocol,
        }
    };
    let out = r.step(now, [Input::Command(c)]);
    assert!(
        out.iter().any(|o| matches!(o, Output::Reply(Ok(_)))),
        "the ownership change was refused"
    );
    assert!(
        !out.iter().any(|o| matches!(o, Output::Mrt(_))),
        "an ownership change must not touch the kernel"
    );
    out.len()
}

fn bench_ownership(c: &mut Criterion) {
    let t0 = Instant::now();
    let mut r = ownership_setup(t0);
    let mut g = c.benchmark_group("ownership");
    g.sample_size(20);
    g.bench_function("router_take_then_release_10k_memberships", |bch| {
        bch.iter(|| {
            black_box(change(&mut r, t0, true));
            black_box(change(&mut r, t0, false));
        })
    });
    g.finish();
}

// ===== (b) add/delete stream =====

const STREAM: usize = 1_000_000;

fn stream(a: ComponentId) -> Vec<(ComponentId, MembershipKey, IfIndex, bool)> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    (0..STREAM)
        .map(|_| {
            let r = rng.next();
            let ifindex = IfIndex(1 + (r % 32) as u32);
            let n = ((r >> 8) % 4_096) as u32;
            let key = if (r >> 24) % 4 == 0 {
                MembershipKey::only(Ipv4Addr::new(10, 0, 0, (r >> 30) as u8 % 8), group(n))
            } else {
                MembershipKey::any(group(n))
            };
            let who = if ifindex.0 <= 16 && (r >> 40) % 2 == 0 {
                a
            } else {
                ComponentId::Igmp
            };
            (who, key, ifindex, (r >> 48) % 2 == 0)
        })
        .collect()
}

fn run_stream(m: &mut Mgm, ops: &[(ComponentId, MembershipKey, IfIndex, bool)]) -> usize {
    let mut n = 0;
    for &(who, key, ifindex, add) in ops {
        let fx = if add {
            m.add_membership(who, key, ifindex, JOIN)
        } else {
            m.delete_membership(who, key, ifindex, JOIN)
        };
        n += fx.expect("valid op").len();
    }
    n
}

fn bench_stream(c: &mut Criterion) {
    let (m, a) = router();
    let ops = stream(a);
    let mut g = c.benchmark_group("membership");
    g.sample_size(10);
    g.throughput(Throughput::Elements(STREAM as u64));
    g.bench_function("stream_1m_add_delete_32_ifaces", |bch| {
        bch.iter_batched_ref(
            || m.clone(),
            |m| black_box(run_stream(m, &ops)),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

// ===== (c) memory =====

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Fills a manager with 1,000,000 memberships made by `entry(n)` and
/// prints the growth of the resident set per membership.
fn memory_case(name: &str, entry: impl Fn(u32) -> (MembershipKey, IfIndex)) {
    const N: u32 = 1_000_000;
    let before = rss_kib();
    let (mut m, _) = router();
    let start = Instant::now();
    for n in 0..N {
        let (key, ifindex) = entry(n);
        m.add_membership(ComponentId::Igmp, key, ifindex, JOIN)
            .expect("igmp on");
    }
    let fill = start.elapsed();
    let after = rss_kib();
    assert_eq!(m.membership_count(), N as usize);
    let grown = after.saturating_sub(before);
    let per = (grown * 1024) as f64 / f64::from(N);
    println!(
        "memory ({name}): {N} memberships, resident set +{grown} KiB = {per:.1} bytes per \
         membership (filled in {fill:?})"
    );
    black_box(&m);
}

fn memory_report() {
    // Dense: 31,250 groups, each on all 32 interfaces.
    memory_case("dense, 32 interfaces per group", |n| {
        (MembershipKey::any(group(n / 32)), IfIndex(1 + n % 32))
    });
    // Sparse, the worst case: every membership its own group.
    memory_case("sparse, 1 interface per group", |n| {
        (MembershipKey::any(group(n)), IfIndex(1 + n % 32))
    });
}

fn main() {
    memory_report();
    let mut c = Criterion::default().configure_from_args();
    bench_ownership(&mut c);
    bench_stream(&mut c);
    c.final_summary();
}
