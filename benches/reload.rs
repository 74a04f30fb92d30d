//! A reload of a large static configuration: 100,000 routes, of which 1%
//! change (1,000 routes go, 1,000 others come). Two figures: the whole
//! reload through the router (`mgmctl reload`: parse and validate the new
//! file, compare it with the running one, replace the static protocol,
//! commit), and the comparison of the two `[static]` sections alone (what
//! the reload reports as changed).
//!
//! Each size is first timed once (a printed line), then measured by
//! criterion. Reloads alternate between the two files, so every measured
//! reload changes 1% of the routes.
//!
//!     cargo bench --bench reload [-- FILTER]
//!
//! `RELOAD_BENCH_SIZES=10000,100000` chooses the sizes (the default);
//! `RELOAD_BENCH_ONCE=1` stops after the single timings. Under
//! `cargo test` (no `--bench`) a short smoke run of 1,000 routes.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use mgmd::config::Config;
use mgmd::core::control::{Answer, Command};
use mgmd::core::iface::{AddrFact, LinkFact};
use mgmd::core::input::Input;
use mgmd::core::output::Output;
use mgmd::core::protocol::registry::ProtocolConfig;
use mgmd::core::router::Router;
use mgmd::core::types::IfIndex;

const UP0: IfIndex = IfIndex(2);
const LAN1: IfIndex = IfIndex(3);
const LAN2: IfIndex = IfIndex(4);

/// A `[static]` section with `n` routes; with `changed`, every 100th
/// route has another group (1% of the routes differ).
fn config_text(n: usize, changed: bool) -> String {
    let mut s = String::from(
        "[[interface]]\nname = \"lan1\"\n[[interface]]\nname = \"lan2\"\n\
         [static]\ninterfaces = [\"up0\", \"lan1\", \"lan2\"]\n",
    );
    for i in 0..n {
        let (a, b, c) = (i / 65_536, (i / 256) % 256, i % 256);
        let a = if changed && i % 100 == 0 { a + 100 } else { a };
        s.push_str(&format!(
            "[[static.route]]\ngroup = \"239.{a}.{b}.{c}\"\ninbound = \"up0\"\n\
             outbound = [\"lan1\", \"lan2\"]\n"
        ));
    }
    s
}

fn parse(text: &str) -> Config {
    Config::parse(text, "reload.toml").expect("valid configuration")
}

/// A router running `text` with its three interfaces present.
fn router(text: &str, t0: Instant) -> Router {
    let mut r = Router::new(parse(text), t0);
    let link = |ifindex, name, addr| {
        (
            LinkFact::up(ifindex, name),
            AddrFact {
                ifindex,
                addr: IpAddr::V4(addr),
                prefix_len: 24,
                peer: None,
            },
        )
    };
    let (links, addrs) = [
        link(UP0, "up0", Ipv4Addr::new(10, 0, 1, 1)),
        link(LAN1, "lan1", Ipv4Addr::new(10, 0, 2, 1)),
        link(LAN2, "lan2", Ipv4Addr::new(10, 0, 3, 1)),
    ]
    .into_iter()
    .unzip();
    r.step(t0, [Input::Snapshot { links, addrs }]);
    r
}

/// `mgmctl reload` of `text`; returns how many changes it reported.
fn reload(r: &mut Router, now: Instant, text: &str) -> usize {
    let out = r.step(
        now,
        [Input::Command(Command::Reload {
            path: "reload.toml".into(),
            text: text.into(),
            overrides: Default::default(),
        })],
    );
    let reply = out.into_iter().find_map(|o| match o {
        Output::Reply(r) => Some(r),
        _ => None,
    });
    match reply {
        Some(Ok(Answer::Reload(report))) => report.changes.len(),
        other => panic!("reload refused: {other:?}"),
    }
}

/// The `[static]` sections of the two files.
fn sections(a: &str, b: &str) -> (Config, Config) {
    (parse(a), parse(b))
}

fn static_of(c: &Config) -> &dyn ProtocolConfig {
    c.section("static").expect("a [static] section").as_ref()
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let sizes: Vec<usize> = match std::env::var("RELOAD_BENCH_SIZES") {
        Ok(s) => s.split(',').filter_map(|n| n.trim().parse().ok()).collect(),
        Err(_) if bench => vec![10_000, 100_000],
        Err(_) => vec![1_000],
    };
    let texts: Vec<(usize, String, String)> = sizes
        .iter()
        .map(|&n| (n, config_text(n, false), config_text(n, true)))
        .collect();

    for (n, a, b) in &texts {
        let t0 = Instant::now();
        let mut r = router(a, t0);
        let t = Instant::now();
        let changes = reload(&mut r, t0 + Duration::from_secs(1), b);
        let whole = t.elapsed();
        let (ca, cb) = sections(a, b);
        let t = Instant::now();
        let diff = black_box(static_of(&ca).diff(static_of(&cb)));
        let alone = t.elapsed();
        assert_eq!(diff.len(), 2, "{n} routes: {diff:?}");
        println!(
            "reload {n} static routes, 1% changed: {:.3} s ({changes} changes reported); \
             the section diff alone: {:.3} ms",
            whole.as_secs_f64(),
            alone.as_secs_f64() * 1e3
        );
    }
    if std::env::var_os("RELOAD_BENCH_ONCE").is_some() {
        return;
    }

    let mut c = Criterion::default().configure_from_args().sample_size(10);
    let mut g = c.benchmark_group("reload_static_1pct");
    for (n, a, b) in &texts {
        let (ca, cb) = sections(a, b);
        g.bench_function(BenchmarkId::new("section_diff", n), |bench| {
            bench.iter(|| black_box(static_of(&ca).diff(static_of(&cb))))
        });
        let t0 = Instant::now();
        let mut r = router(a, t0);
        let mut now = t0;
        let mut flip = false;
        g.bench_function(BenchmarkId::new("router_reload", n), |bench| {
            bench.iter(|| {
                now += Duration::from_millis(1);
                flip = !flip;
                black_box(reload(&mut r, now, if flip { b } else { a }))
            })
        });
    }
    g.finish();
    c.final_summary();
}
