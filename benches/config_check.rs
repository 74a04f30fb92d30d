//! `mgmd --check` on large configurations: 100,000 static routes (each a
//! source-specific route with two outbound interfaces), and the part of it
//! the TOML parser takes alone. Validation must stay linear.

use std::hint::black_box;
use std::time::Instant;

use criterion::Criterion;
use mgmd::config::Config;

/// A `[static]` section with `n` routes.
fn routes(n: usize) -> String {
    let mut s = String::from("[static]\ninterfaces = [\"eth0\", \"eth1\", \"eth2\"]\n");
    for i in 0..n {
        let (a, b, c) = (i / 65_536, (i / 256) % 256, i % 256);
        s.push_str(&format!(
            "[[static.route]]\nsource = \"10.{a}.{b}.{c}\"\ngroup = \"239.1.1.1\"\ninbound = \
             \"eth0\"\noutbound = [\"eth1\", \"eth2\"]\n"
        ));
    }
    s
}

fn main() {
    // Linear: the time per route stays the same from 12,500 to 100,000.
    for n in [12_500, 25_000, 50_000, 100_000] {
        let text = routes(n);
        let t = Instant::now();
        let cfg = Config::parse(&text, "bench.toml").expect("valid configuration");
        let e = t.elapsed();
        black_box(cfg);
        println!(
            "check {n} routes: {:.3} s ({:.2} us per route)",
            e.as_secs_f64(),
            e.as_secs_f64() * 1e6 / n as f64
        );
    }
    let text = routes(100_000);
    let mut c = Criterion::default().configure_from_args().sample_size(10);
    c.bench_function("check_100k_static_routes", |b| {
        b.iter(|| black_box(Config::parse(&text, "bench.toml").expect("valid configuration")))
    });
    c.bench_function("toml_parse_only_100k_static_routes", |b| {
        b.iter(|| black_box(toml::de::DeTable::parse(&text).expect("valid TOML")))
    });
    c.final_summary();
}
