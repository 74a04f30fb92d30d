//! The configuration parser: `Config::parse(text, path)`, as `mgmd` and
//! `mgmd --check` run it on the file's text.
//!
//! Input: the file's bytes (text that is not UTF-8 never reaches the
//! parser: reading the file rejects it). No input may panic. A rejection
//! names the file and a position inside the text; an accepted
//! configuration holds only values inside the bounds `docs/configuration.md`
//! documents.
#![no_main]

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use ipnet::Ipv4Net;
use libfuzzer_sys::fuzz_target;
use mgmd::config::{Config, GroupRange};
use mgmd::core::igmp::{IgmpIfConfig, IgmpVersion};

const PATH: &str = "/etc/mgmd/mgmd.toml";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse(text, PATH) {
        Ok(cfg) => {
            check_bounds(&cfg);
            // Deterministic, and printable as `--check` output may be.
            let again = Config::parse(text, PATH).expect("accepted once, accepted twice");
            assert_eq!(cfg, again);
            serde_json::to_string(&cfg).expect("a configuration serializes");
        }
        Err(e) => {
            assert_eq!(e.path(), Path::new(PATH));
            let at = e.position().expect("a parse error has a position");
            let lines = text.split('\n').count();
            assert!(
                at.line >= 1 && at.line <= lines,
                "line {} outside 1..={lines}",
                at.line
            );
            let line = text.split('\n').nth(at.line - 1).unwrap_or("");
            assert!(
                at.column >= 1 && at.column <= line.chars().count() + 1,
                "column {} outside line {} ({:?})",
                at.column,
                at.line,
                line
            );
            let shown = e.to_string();
            assert!(shown.starts_with(&format!("{PATH}:{}:{}: ", at.line, at.column)));
            assert!(!e.message().is_empty());
        }
    }
});

/// The tables of `docs/configuration.md`, as assertions.
fn check_bounds(cfg: &Config) {
    let g = &cfg.global;
    assert!(g.control_socket.is_absolute() && g.pid_file.is_absolute());
    assert!(g.control_socket.as_os_str().len() <= 107, "sun_path");
    if let Some(t) = g.table {
        assert!((1..=999_999_999).contains(&t), "table {t}");
    }
    assert!(g.mfe_idle_timeout >= Duration::from_secs(1));

    check_igmp(&cfg.igmp_defaults);
    let mut names = BTreeSet::new();
    for i in &cfg.interfaces {
        check_ifname(&i.name);
        assert!(names.insert(i.name.as_str()), "interface {} twice", i.name);
        if let Some(c) = &i.igmp {
            check_igmp(c);
        }
    }
    if let Some(s) = cfg.protocol::<mgmd::core::protocol::static_routes::StaticConfig>() {
        for n in &s.interfaces {
            check_ifname(n);
        }
        let mut pairs = BTreeSet::new();
        for r in &s.routes {
            check_ifname(&r.inbound);
            check_range(r.group);
            if let Some(src) = r.source {
                check_source(src);
            }
            assert!(!r.outbound.is_empty(), "route without outbound");
            let outs: BTreeSet<&str> = r.outbound.iter().map(|o| o.name.as_str()).collect();
            assert_eq!(outs.len(), r.outbound.len(), "outbound listed twice");
            assert!(!outs.contains(r.inbound.as_str()), "inbound is outbound");
            for o in &r.outbound {
                check_ifname(&o.name);
                if o.only_with_members {
                    let igmp = cfg.interface(&o.name).and_then(|i| i.igmp.as_ref());
                    assert!(
                        igmp.is_some(),
                        "only-with-members without IGMP on {}",
                        o.name
                    );
                }
            }
            assert!(pairs.insert((r.source, r.group)), "two routes for one pair");
        }
        for j in &s.joins {
            check_ifname(&j.interface);
            assert!(j.group.addr().is_multicast());
            if let Some(src) = j.source {
                check_source(Ipv4Net::from(src));
            }
        }
    }
    if let Some(p) = cfg.protocol::<mgmd::core::protocol::proxy::ProxyConfig>() {
        assert!(!p.upstream.is_empty() && !p.downstream.is_empty());
        for n in p.upstream.iter().chain(&p.downstream) {
            check_ifname(n);
        }
        assert!(
            p.upstream.iter().all(|u| !p.downstream.contains(u)),
            "upstream and downstream overlap"
        );
        for r in [
            &p.upstream_groups.allow,
            &p.upstream_groups.deny,
            &p.downstream_groups.allow,
            &p.downstream_groups.deny,
        ]
        .into_iter()
        .flatten()
        {
            check_range(*r);
        }
        for s in &p.legal_sources {
            check_source(*s);
        }
        // IGMP runs on every downstream.
        for d in &p.downstream {
            let igmp = cfg.interface(d).and_then(|i| i.igmp.as_ref());
            assert!(igmp.is_some(), "proxy downstream {d} without IGMP");
        }
    }
}

fn check_igmp(c: &IgmpIfConfig) {
    let tenth = Duration::from_millis(100);
    let qi = c.query_interval;
    assert!(qi >= Duration::from_secs(1) && qi <= Duration::from_secs(31_744));
    assert_eq!(qi.subsec_nanos(), 0, "query-interval in whole seconds");
    let max_resp = if c.version == IgmpVersion::V2 {
        Duration::from_millis(25_500)
    } else {
        Duration::from_millis(3_174_400)
    };
    for d in [c.query_response_interval, c.last_member_query_interval] {
        assert!(
            d >= tenth && d <= max_resp,
            "max resp {d:?} with {:?}",
            c.version
        );
        assert_eq!(d.as_nanos() % tenth.as_nanos(), 0, "{d:?} not in tenths");
    }
    assert!(c.query_response_interval < qi);
    assert!((1..=7).contains(&c.robustness));
    assert!(c.last_member_query_count >= 1 && c.startup_query_count >= 1);
    let sqi = c.startup_query_interval;
    assert!(sqi >= tenth && sqi <= qi, "startup-query-interval {sqi:?}");
    assert!(c.max_groups != Some(0) && c.max_sources_per_group != Some(0));
    for n in c
        .ssm_range
        .iter()
        .chain(&c.allow_groups)
        .chain(&c.deny_groups)
    {
        assert!(GroupRange::new(*n).is_some(), "not a group range: {n}");
    }
}

fn check_ifname(n: &str) {
    assert!(!n.is_empty() && n.len() <= 15, "ifname {n:?}");
    assert!(n != "." && n != "..");
    assert!(!n.chars().any(|c| c == '/' || c == ':' || c.is_whitespace()));
}

fn check_range(r: GroupRange) {
    assert_eq!(GroupRange::new(r.net()), Some(r));
}

/// A source address or prefix: unicast, not everything.
fn check_source(n: Ipv4Net) {
    let multicast = Ipv4Net::new(Ipv4Addr::new(224, 0, 0, 0), 4).expect("literal");
    assert!(n.prefix_len() > 0);
    assert_eq!(n.trunc(), n, "host bits in {n}");
    assert!(!multicast.contains(&n.addr()) && !n.contains(&multicast));
    if n.prefix_len() == 32 {
        assert!(!n.addr().is_unspecified() && !n.addr().is_broadcast());
    }
}
