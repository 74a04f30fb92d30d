//! IGMP state machine throughput (group records per second through
//! `IgmpRouter::handle`, decode included) and the memory held by 10,000
//! groups x 10 sources (resident set growth, read from /proc).

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group};
use mgmd::core::igmp::packet::{GroupRecord, IgmpPacket, RecordType};
use mgmd::core::igmp::{IgmpEvent, IgmpIfConfig, IgmpRouter};

const RECORDS_PER_REPORT: usize = 50;
const SOURCES_PER_RECORD: u8 = 10;

fn report(first_group: u32, rt: RecordType) -> Vec<u8> {
    let records = (0..RECORDS_PER_REPORT as u32)
        .map(|i| GroupRecord {
            record_type: rt,
            group: Ipv4Addr::from(0xe801_0000 + first_group + i),
            sources: (1..=SOURCES_PER_RECORD)
                .map(|s| Ipv4Addr::new(10, 1, 0, s))
                .collect(),
        })
        .collect();
    IgmpPacket::V3Report { records }.encode()
}

fn rx(payload: Vec<u8>) -> IgmpEvent {
    IgmpEvent::Rx {
        src: Ipv4Addr::new(10, 0, 0, 20),
        dst: Ipv4Addr::new(224, 0, 0, 22),
        ttl: 1,
        router_alert: true,
        payload,
    }
}

fn router(now: Instant) -> IgmpRouter {
    let cfg = IgmpIfConfig {
        // The memory figure holds 10,000 groups on one interface.
        max_groups: None,
        ..IgmpIfConfig::default()
    };
    let mut r = IgmpRouter::new(cfg, Some(Ipv4Addr::new(10, 0, 0, 1)), now);
    r.handle(
        now,
        IgmpEvent::SubnetsChanged(vec!["10.0.0.0/24".parse().unwrap()]),
    );
    r
}

fn bench_records(c: &mut Criterion) {
    let mut g = c.benchmark_group("igmp");
    g.throughput(Throughput::Elements(RECORDS_PER_REPORT as u64));
    // Steady state: refresh 50 existing INCLUDE groups of 10 sources.
    g.bench_function("refresh_is_in_50x10", |b| {
        let t0 = Instant::now();
        let mut r = router(t0);
        let pkt = report(0, RecordType::ModeIsInclude);
        r.handle(t0, rx(pkt.clone()));
        let mut ms = 0u64;
        b.iter(|| {
            ms += 1;
            let acts = r.handle(t0 + Duration::from_millis(ms), rx(pkt.clone()));
            black_box(acts);
        });
    });
    // Churn: create 50 groups x 10 sources (50 x 10 Up), then the same
    // records as BLOCK + timer expiry take them down again.
    g.throughput(Throughput::Elements(2 * RECORDS_PER_REPORT as u64));
    g.bench_function("join_then_block_50x10", |b| {
        let t0 = Instant::now();
        let mut r = router(t0);
        let join = report(0, RecordType::AllowNewSources);
        let block = report(0, RecordType::BlockOldSources);
        let mut now = t0;
        b.iter(|| {
            now += Duration::from_secs(10);
            black_box(r.handle(now, rx(join.clone())));
            black_box(r.handle(now, rx(block.clone())));
            // Let the last-member queries run out and the sources go.
            now += Duration::from_secs(3);
            while r.next_deadline().is_some_and(|d| d <= now) {
                black_box(r.handle(now, IgmpEvent::Timer));
            }
        });
    });
    g.finish();
}

/// Resident set size in bytes (Linux /proc/self/statm, field 2, pages).
fn rss() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn memory_10k_groups() {
    let t0 = Instant::now();
    let before = rss();
    let mut r = router(t0);
    for first in (0..10_000u32).step_by(RECORDS_PER_REPORT) {
        r.handle(t0, rx(report(first, RecordType::ModeIsInclude)));
    }
    let after = rss();
    let n = r.memberships().len();
    assert_eq!(n, 100_000, "10,000 groups x 10 sources");
    match (before, after) {
        (Some(b), Some(a)) => println!(
            "igmp/memory: 10000 groups x 10 sources = {n} memberships, RSS growth {:.2} MiB",
            a.saturating_sub(b) as f64 / (1024.0 * 1024.0)
        ),
        _ => println!("igmp/memory: /proc/self/statm unavailable"),
    }
    black_box(r);
}

criterion_group!(benches, bench_records);

fn main() {
    // Measure memory first, in a fresh process, before criterion's own
    // allocations.
    memory_10k_groups();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
