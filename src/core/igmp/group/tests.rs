use super::*;
use RecordType::*;

const GMI: Duration = Duration::from_secs(260);

fn a(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, n)
}

fn params() -> ApplyParams {
    ApplyParams {
        gmi: GMI,
        max_sources: None,
        track: false,
    }
}

/// INCLUDE(A) with every source timer at t0+100 s.
fn include(t0: Instant, srcs: &[u8]) -> Group {
    let mut g = Group::new(false);
    for s in srcs {
        g.sources
            .insert(a(*s), Source::new(Some(t0 + Duration::from_secs(100))));
    }
    g
}

/// EXCLUDE(X,Y): X timers at t0+100 s, group timer at t0+200 s.
fn exclude(t0: Instant, x: &[u8], y: &[u8]) -> Group {
    let mut g = include(t0, x);
    for s in y {
        g.sources.insert(a(*s), Source::new(None));
    }
    g.mode = FilterMode::Exclude;
    g.timer = Some(t0 + Duration::from_secs(200));
    g
}

/// (source, timer seconds after t0 or None for 0), in source order.
fn srcs(g: &Group, t0: Instant) -> Vec<(u8, Option<u64>)> {
    g.sources
        .iter()
        .map(|(s, src)| (s.octets()[3], src.timer.map(|t| (t - t0).as_secs())))
        .collect()
}

fn run(g: &mut Group, t0: Instant, rt: RecordType, b: &[u8]) -> ApplyOutcome {
    let b: Vec<Ipv4Addr> = b.iter().map(|n| a(*n)).collect();
    g.apply(t0, rt, &b, a(99), &params())
}

fn qs(o: &ApplyOutcome) -> Vec<u8> {
    o.query_sources.iter().map(|s| s.octets()[3]).collect()
}

// ----- 6.4.1 current-state records -----

#[test]
fn include_is_in() {
    // INCLUDE (A) IS_IN (B) -> INCLUDE (A+B); (B)=GMI
    let t0 = Instant::now();
    let mut g = include(t0, &[1, 2]);
    let o = run(&mut g, t0, ModeIsInclude, &[2, 3]);
    assert_eq!(g.mode, FilterMode::Include);
    assert_eq!(
        srcs(&g, t0),
        vec![(1, Some(100)), (2, Some(260)), (3, Some(260))]
    );
    assert!(!o.query_group && o.query_sources.is_empty());
}

#[test]
fn include_is_ex() {
    // INCLUDE (A) IS_EX (B) -> EXCLUDE (A*B, B-A); (B-A)=0; Delete (A-B);
    // Group Timer=GMI
    let t0 = Instant::now();
    let mut g = include(t0, &[1, 2]);
    let o = run(&mut g, t0, ModeIsExclude, &[2, 3]);
    assert_eq!(g.mode, FilterMode::Exclude);
    assert_eq!(srcs(&g, t0), vec![(2, Some(100)), (3, None)]);
    assert_eq!(g.timer, Some(t0 + GMI));
    assert!(!o.query_group && o.query_sources.is_empty());
}

#[test]
fn exclude_is_in() {
    // EXCLUDE (X,Y) IS_IN (A) -> EXCLUDE (X+A, Y-A); (A)=GMI
    let t0 = Instant::now();
    let mut g = exclude(t0, &[1, 2], &[3, 4]);
    let o = run(&mut g, t0, ModeIsInclude, &[2, 3, 5]);
    assert_eq!(
        srcs(&g, t0),
        vec![
            (1, Some(100)),
            (2, Some(260)),
            (3, Some(260)),
            (4, None),
            (5, Some(260))
        ]
    );
    assert_eq!(g.timer, Some(t0 + Duration::from_secs(200)));
    assert!(!o.query_group && o.query_sources.is_empty());
}

#[test]
fn exclude_is_ex() {
    // EXCLUDE (X,Y) IS_EX (A) -> EXCLUDE (A-Y, Y*A); (A-X-Y)=GMI;
    // Delete (X-A); Delete (Y-A); Group Timer=GMI
    let t0 = Instant::now();
    let mut g = exclude(t0, &[1, 2], &[3, 4]);
    let o = run(&mut g, t0, ModeIsExclude, &[2, 3, 5]);
    assert_eq!(
        srcs(&g, t0),
        vec![(2, Some(100)), (3, None), (5, Some(260))]
    );
    assert_eq!(g.timer, Some(t0 + GMI));
    assert!(!o.query_group && o.query_sources.is_empty());
}

// ----- 6.4.2 filter-mode-change and source-list-change records -----

#[test]
fn include_allow() {
    // INCLUDE (A) ALLOW (B) -> INCLUDE (A+B); (B)=GMI
    let t0 = Instant::now();
    let mut g = include(t0, &[1, 2]);
    let o = run(&mut g, t0, AllowNewSources, &[2, 3]);
    assert_eq!(
        srcs(&g, t0),
        vec![(1, Some(100)), (2, Some(260)), (3, Some(260))]
    );
    assert!(!o.query_group && o.query_sources.is_empty());
}

#[test]
fn include_block() {
    // INCLUDE (A) BLOCK (B) -> INCLUDE (A); Send Q(G,A*B)
    let t0 = Instant::now();
    let mut g = include(t0, &[1, 2]);
    let o = run(&mut g, t0, BlockOldSources, &[2, 3]);
    assert_eq!(srcs(&g, t0), vec![(1, Some(100)), (2, Some(100))]);
    assert_eq!(qs(&o), vec![2]);
    assert!(!o.query_group);
}

#[test]
fn include_to_ex() {
    // INCLUDE (A) TO_EX (B) -> EXCLUDE (A*B, B-A); (B-A)=0; Delete (A-B);
    // Send Q(G,A*B); Group Timer=GMI
    let t0 = Instant::now();
    let mut g = include(t0, &[1, 2]);
    let o = run(&mut g, t0, ChangeToExclude, &[2, 3]);
    assert_eq!(g.mode, FilterMode::Exclude);
    assert_eq!(srcs(&g, t0), vec![(2, Some(100)), (3, None)]);
    assert_eq!(g.timer, Some(t0 + GMI));
    assert_eq!(qs(&o), vec![2]);
    assert!(!o.query_group);
}

#[test]
fn include_to_in() {
    // INCLUDE (A) TO_IN (B) -> INCLUDE (A+B); (B)=GMI; Send Q(G,A-B)
    let t0 = Instant::now();
    let mut g = include(t0, &[1, 2]);
    let o = run(&mut g, t0, ChangeToInclude, &[2, 3]);
    assert_eq!(
        srcs(&g, t0),
        vec![(1, Some(100)), (2, Some(260)), (3, Some(260))]
    );
    assert_eq!(qs(&o), vec![1]);
    assert!(!o.query_group);
}

#[test]
fn exclude_allow() {
    // EXCLUDE (X,Y) ALLOW (A) -> EXCLUDE (X+A, Y-A); (A)=GMI
    let t0 = Instant::now();
    let mut g = exclude(t0, &[1, 2], &[3, 4]);
    let o = run(&mut g, t0, AllowNewSources, &[2, 3, 5]);
    assert_eq!(
        srcs(&g, t0),
        vec![
            (1, Some(100)),
            (2, Some(260)),
            (3, Some(260)),
            (4, None),
            (5, Some(260))
        ]
    );
    assert!(!o.query_group && o.query_sources.is_empty());
}

#[test]
fn exclude_block() {
    // EXCLUDE (X,Y) BLOCK (A) -> EXCLUDE (X+(A-Y), Y); (A-X-Y)=Group Timer;
    // Send Q(G,A-Y)
    let t0 = Instant::now();
    let mut g = exclude(t0, &[1, 2], &[3, 4]);
    let o = run(&mut g, t0, BlockOldSources, &[2, 3, 5]);
    assert_eq!(
        srcs(&g, t0),
        vec![
            (1, Some(100)),
            (2, Some(100)),
            (3, None),
            (4, None),
            (5, Some(200))
        ]
    );
    assert_eq!(qs(&o), vec![2, 5]);
    assert!(!o.query_group);
    assert_eq!(g.timer, Some(t0 + Duration::from_secs(200)));
}

#[test]
fn exclude_to_ex() {
    // EXCLUDE (X,Y) TO_EX (A) -> EXCLUDE (A-Y, Y*A); (A-X-Y)=Group Timer;
    // Delete (X-A); Delete (Y-A); Send Q(G,A-Y); Group Timer=GMI
    let t0 = Instant::now();
    let mut g = exclude(t0, &[1, 2], &[3, 4]);
    let o = run(&mut g, t0, ChangeToExclude, &[2, 3, 5]);
    assert_eq!(
        srcs(&g, t0),
        vec![(2, Some(100)), (3, None), (5, Some(200))]
    );
    assert_eq!(qs(&o), vec![2, 5]);
    assert_eq!(g.timer, Some(t0 + GMI));
    assert!(!o.query_group);
}

#[test]
fn exclude_to_in() {
    // EXCLUDE (X,Y) TO_IN (A) -> EXCLUDE (X+A, Y-A); (A)=GMI;
    // Send Q(G,X-A); Send Q(G)
    let t0 = Instant::now();
    let mut g = exclude(t0, &[1, 2], &[3, 4]);
    let o = run(&mut g, t0, ChangeToInclude, &[2, 3, 5]);
    assert_eq!(
        srcs(&g, t0),
        vec![
            (1, Some(100)),
            (2, Some(260)),
            (3, Some(260)),
            (4, None),
            (5, Some(260))
        ]
    );
    assert_eq!(qs(&o), vec![1]);
    assert!(o.query_group);
}

// ----- timers and queries -----

fn lmq() -> Lmq {
    Lmq {
        time: Duration::from_secs(2),
        interval: Duration::from_secs(1),
        count: 2,
    }
}

#[test]
fn group_query_lowers_timer_and_schedules_retransmission() {
    // 6.6.3.1: group timer to LMQT, one query now, LMQC-1 more.
    let t0 = Instant::now();
    let mut g = exclude(t0, &[], &[]);
    assert!(g.start_group_query(t0, lmq()));
    assert_eq!(g.timer, Some(t0 + Duration::from_secs(2)));
    assert_eq!(g.lmq_next, Some(t0 + Duration::from_secs(1)));
    // Already at or below LMQT: nothing more.
    assert!(!g.start_group_query(t0, lmq()));
    let r = g.retransmit(t0 + Duration::from_secs(1), lmq());
    assert_eq!(r.group, Some(false), "timer <= LMQT: S clear");
    assert_eq!(g.lmq_next, None);
}

#[test]
fn group_query_s_flag_set_when_timer_refreshed() {
    let t0 = Instant::now();
    let mut g = exclude(t0, &[], &[]);
    g.start_group_query(t0, lmq());
    // A report arrives and refreshes the group timer.
    run(&mut g, t0, ModeIsExclude, &[]);
    let r = g.retransmit(t0 + Duration::from_secs(1), lmq());
    assert_eq!(r.group, Some(true));
}

#[test]
fn source_query_splits_by_timer_for_the_s_flag() {
    // 6.6.3.2: only sources above LMQT are queried; retransmissions
    // carry S set for refreshed sources, S clear for the others.
    let t0 = Instant::now();
    let mut g = include(t0, &[1, 2, 3]);
    g.sources.get_mut(&a(3)).unwrap().timer = Some(t0 + Duration::from_secs(1));
    let now_q = g.start_source_query(t0, lmq(), &[a(1), a(2), a(3)]);
    assert_eq!(now_q, vec![a(1), a(2)], "source 3 is already below LMQT");
    assert_eq!(srcs(&g, t0), vec![(1, Some(2)), (2, Some(2)), (3, Some(1))]);
    run(&mut g, t0, AllowNewSources, &[1]);
    let r = g.retransmit(t0 + Duration::from_secs(1), lmq());
    assert_eq!(r.group, None);
    assert_eq!(r.suppressed, vec![a(1)]);
    assert_eq!(r.plain, vec![a(2)]);
    assert_eq!(g.lmq_next, None, "LMQC = 2 transmissions in all");
}

#[test]
fn new_queries_merge_with_pending_retransmissions() {
    // 6.4.2: "If while scheduling new queries there are already pending
    // queries to be retransmitted for the same group, the new and
    // pending queries have to be merged." One schedule for the group:
    // source 2, queried half-way, rides on the round already due.
    let t0 = Instant::now();
    let half = t0 + Duration::from_millis(500);
    let mut g = include(t0, &[1, 2]);
    assert_eq!(g.start_source_query(t0, lmq(), &[a(1)]), vec![a(1)]);
    assert_eq!(g.lmq_next, Some(t0 + Duration::from_secs(1)));
    assert_eq!(g.start_source_query(half, lmq(), &[a(2)]), vec![a(2)]);
    assert_eq!(
        g.lmq_next,
        Some(t0 + Duration::from_secs(1)),
        "not rescheduled"
    );
    let r = g.retransmit(t0 + Duration::from_secs(1), lmq());
    assert_eq!(r.plain, vec![a(1), a(2)]);
    assert_eq!(g.lmq_next, None, "LMQC transmissions each, in one schedule");
}

#[test]
fn expiry_include_removes_sources() {
    // 6.3: INCLUDE, source timer 0: remove it; no sources: group gone.
    let t0 = Instant::now();
    let mut g = include(t0, &[1]);
    g.expire(t0 + Duration::from_secs(100));
    assert!(g.is_empty());
}

#[test]
fn expiry_exclude_blocks_source_then_group_switches_to_include() {
    let t0 = Instant::now();
    let mut g = exclude(t0, &[1, 2], &[3]);
    g.sources.get_mut(&a(2)).unwrap().timer = Some(t0 + Duration::from_secs(300));
    // Source 1 expires: kept, blocked (6.3).
    g.expire(t0 + Duration::from_secs(100));
    assert_eq!(srcs(&g, t0), vec![(1, None), (2, Some(300)), (3, None)]);
    // Group timer expires: running sources go to INCLUDE (6.5).
    let e = g.expire(t0 + Duration::from_secs(200));
    assert!(e.mode_changed);
    assert_eq!(g.mode, FilterMode::Include);
    assert_eq!(srcs(&g, t0), vec![(2, Some(300))]);
}

#[test]
fn views() {
    let t0 = Instant::now();
    let grp: GroupAddr = "239.1.1.1".parse().unwrap();
    let mut v = Vec::new();
    include(t0, &[2, 1]).view(grp, &mut v);
    assert_eq!(
        v,
        vec![
            MembershipKey::only(a(1), grp),
            MembershipKey::only(a(2), grp)
        ]
    );
    v.clear();
    exclude(t0, &[1], &[3]).view(grp, &mut v);
    assert_eq!(
        v,
        vec![MembershipKey::any(grp), MembershipKey::except(a(3), grp)]
    );
}

#[test]
fn source_cap_refuses_and_counts() {
    let t0 = Instant::now();
    let mut g = include(t0, &[1]);
    let p = ApplyParams {
        gmi: GMI,
        max_sources: Some(2),
        track: false,
    };
    let o = g.apply(t0, AllowNewSources, &[a(2), a(3), a(4)], a(99), &p);
    assert_eq!(o.refused_sources, 2);
    assert_eq!(g.sources.len(), 2);
}

#[test]
fn host_set_tracks_and_gives_up() {
    let mut h = HostSet::default();
    h.insert(a(1));
    h.insert(a(1));
    assert_eq!(h.hosts(), &[a(1)]);
    h.remove(a(1));
    assert!(h.is_known_empty());
    h.insert(Ipv4Addr::UNSPECIFIED);
    assert!(!h.is_known_empty(), "0.0.0.0 reporters cannot be tracked");
    let mut big = HostSet::default();
    for i in 0..=MAX_TRACKED_HOSTS as u32 {
        big.insert(Ipv4Addr::from(0x0a00_0000 + i + 1));
    }
    assert!(!big.is_known_empty());
}

/// MLDv2's tables (RFC 9777 7.4.1, 7.4.2) are IGMPv3's: the same state
/// with IPv6 sources gives the same result, row by row, for every start
/// state, record type, source list and reporter, timers and queries
/// included.
#[test]
fn ipv6_sources_follow_the_same_tables() {
    fn v6(n: u8) -> Ipv6Addr {
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(n))
    }
    fn start<A: SourceAddr>(t0: Instant, exclude: bool, a: impl Fn(u8) -> A) -> Group<A> {
        let mut g = Group::new(false);
        for s in [1, 2] {
            g.sources
                .insert(a(s), Source::new(Some(t0 + Duration::from_secs(100))));
        }
        if exclude {
            g.sources.insert(a(3), Source::new(None));
            g.mode = FilterMode::Exclude;
            g.timer = Some(t0 + Duration::from_secs(200));
        }
        g
    }
    type Seen = (
        FilterMode,
        Option<Instant>,
        Vec<(u8, Option<Instant>)>,
        bool,
        Vec<u8>,
        Vec<u8>,
    );
    fn seen<A: SourceAddr>(g: &Group<A>, o: &ApplyOutcome<A>, last: impl Fn(A) -> u8) -> Seen {
        (
            g.mode,
            g.timer,
            g.sources
                .iter()
                .map(|(s, src)| (last(*s), src.timer))
                .collect(),
            o.query_group,
            o.query_sources.iter().map(|s| last(*s)).collect(),
            g.hosts.hosts().iter().map(|s| last(*s)).collect(),
        )
    }
    let t0 = Instant::now();
    let p = ApplyParams {
        gmi: GMI,
        max_sources: Some(4),
        track: true,
    };
    let lists: [&[u8]; 4] = [&[], &[2], &[2, 3, 4], &[4, 5, 6, 7]];
    let types = [
        ModeIsInclude,
        ModeIsExclude,
        ChangeToInclude,
        ChangeToExclude,
        AllowNewSources,
        BlockOldSources,
    ];
    for exclude in [false, true] {
        for rt in types {
            for b in lists {
                for host in [0, 9] {
                    let mut g4 = start(t0, exclude, a);
                    let mut g6 = start(t0, exclude, v6);
                    let b4: Vec<Ipv4Addr> = b.iter().map(|&n| a(n)).collect();
                    let b6: Vec<Ipv6Addr> = b.iter().map(|&n| v6(n)).collect();
                    let h4 = if host == 0 {
                        Ipv4Addr::UNSPECIFIED
                    } else {
                        a(host)
                    };
                    let h6 = if host == 0 {
                        Ipv6Addr::UNSPECIFIED
                    } else {
                        v6(host)
                    };
                    let o4 = g4.apply(t0, rt, &b4, h4, &p);
                    let o6 = g6.apply(t0, rt, &b6, h6, &p);
                    assert_eq!(
                        seen(&g4, &o4, |s| s.octets()[3]),
                        seen(&g6, &o6, |s| s.octets()[15]),
                        "{rt:?} {b:?} from {host} in exclude={exclude}"
                    );
                    let lmq = lmq();
                    let x4: Vec<Ipv4Addr> = [1, 2, 4].map(a).to_vec();
                    let x6: Vec<Ipv6Addr> = [1, 2, 4].map(v6).to_vec();
                    assert_eq!(
                        g4.start_source_query(t0, lmq, &x4)
                            .iter()
                            .map(|s| s.octets()[3])
                            .collect::<Vec<_>>(),
                        g6.start_source_query(t0, lmq, &x6)
                            .iter()
                            .map(|s| s.octets()[15])
                            .collect::<Vec<_>>()
                    );
                    let later = t0 + Duration::from_secs(150);
                    g4.expire(later);
                    g6.expire(later);
                    assert_eq!(
                        seen(&g4, &ApplyOutcome::default(), |s| s.octets()[3]),
                        seen(&g6, &ApplyOutcome::default(), |s| s.octets()[15])
                    );
                }
            }
        }
    }
}
