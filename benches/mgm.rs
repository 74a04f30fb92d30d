//! Group manager benchmarks:
//! (a) one ownership change on an interface holding 10,000 memberships,
//!     with IGMP re-adding them after `EnableIgmp`, inside a batch;
//! (b) a stream of 1,000,000 membership adds/deletes over 32 interfaces;
//! (c) memory per membership, from the resident set size before and after
//!     filling the table with 1,000,000 entries (printed before the timings).

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::Instant;

use criterion::{BatchSize, Criterion, Throughput};
use mgmd::core::mgm::{Effect, MembershipFlags, Mgm};
use mgmd::core::types::{ComponentId, FlowKey, GroupAddr, IfIndex, MembershipKey};

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
const K: IfIndex = IfIndex(20);

/// IGMP holds 10,000 groups on eth20 (IGMP only); 1,000 of them also have
/// receivers on eth21 and a forwarding entry coming in on eth1.
fn ownership_setup() -> (Mgm, ComponentId, Vec<MembershipKey>) {
    let (mut m, _) = router();
    let b = ComponentId::Protocol(m.register("b").expect("fresh name"));
    let keys: Vec<MembershipKey> = (0..HELD).map(|n| MembershipKey::any(group(n))).collect();
    for &k in &keys {
        m.add_membership(ComponentId::Igmp, k, K, JOIN)
            .expect("igmp on");
    }
    for &k in &keys[..1_000] {
        m.add_membership(ComponentId::Igmp, k, IfIndex(21), JOIN)
            .expect("igmp on");
        let flow = FlowKey {
            group: k.group,
            source: Ipv4Addr::new(10, 0, 0, 1),
        };
        m.create_mfe(flow, IfIndex(1), None).expect("new flow");
    }
    (m, b, keys)
}

/// One change of owner and IGMP's answer, batched; returns the effect count.
fn change(m: &mut Mgm, take: bool, b: ComponentId, keys: &[MembershipKey]) -> usize {
    m.begin_batch();
    let fx = if take {
        m.take_ownership(b, K)
    } else {
        m.release_ownership(b, K)
    }
    .expect("ownership change");
    debug_assert_eq!(fx.last(), Some(&Effect::EnableIgmp { ifindex: K }));
    let mut n = fx.len();
    for &k in keys {
        n += m
            .add_membership(ComponentId::Igmp, k, K, JOIN)
            .expect("re-add")
            .len();
    }
    let net = m.end_batch();
    assert!(net.mfes.is_empty(), "ownership change must be hitless");
    n
}

fn bench_ownership(c: &mut Criterion) {
    let (mut m, b, keys) = ownership_setup();
    let mut g = c.benchmark_group("ownership");
    g.sample_size(20);
    g.bench_function("take_then_release_10k_memberships", |bch| {
        bch.iter(|| {
            black_box(change(&mut m, true, b, &keys));
            black_box(change(&mut m, false, b, &keys));
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
