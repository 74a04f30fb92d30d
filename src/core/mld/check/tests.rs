//! The IP-level checks of RFC 9777 7.4 and 7.6 and the addresses a router
//! keeps state for.

use std::net::Ipv6Addr;

use super::*;
use crate::core::mld::packet::{
    ALL_MLDV2_ROUTERS, ALL_ROUTERS, NEXT_HEADER_ICMPV6, Query, QueryVersion, TYPE_QUERY,
    TYPE_V1_DONE, TYPE_V1_REPORT, TYPE_V2_REPORT,
};

fn ip(s: &str) -> Ipv6Addr {
    s.parse().expect("test address")
}

fn report() -> MldPacket {
    MldPacket::V1Report {
        group: ip("ff05::1:3"),
    }
}

fn query() -> MldPacket {
    MldPacket::Query(Query::general(
        QueryVersion::V2,
        std::time::Duration::from_secs(10),
        2,
        std::time::Duration::from_secs(125),
    ))
}

// ===== check_ip =====

#[test]
fn link_local_source_hop_limit_1_and_router_alert_pass() {
    for src in ["fe80::1", "fe80::3423:e9ff:fe2b:cf94", "febf:ffff::1"] {
        assert_eq!(check_ip(ip(src), 1, true), Ok(()), "{src}");
    }
}

#[test]
fn each_failed_check_has_its_reason() {
    let ll = ip("fe80::1");
    for (src, hop, ra, reject, reason) in [
        (
            "::",
            1,
            true,
            Reject::UnspecifiedSource,
            "unspecified_source",
        ),
        (
            "2001:db8::1",
            1,
            true,
            Reject::SourceNotLinkLocal,
            "source_not_link_local",
        ),
        (
            "fe80::1",
            255,
            true,
            Reject::BadHopLimit(255),
            "bad_hop_limit",
        ),
        ("fe80::1", 0, true, Reject::BadHopLimit(0), "bad_hop_limit"),
        (
            "fe80::1",
            1,
            false,
            Reject::NoRouterAlert,
            "no_router_alert",
        ),
    ] {
        assert_eq!(check_ip(ip(src), hop, ra), Err(reject), "{src} {hop} {ra}");
        assert_eq!(reject.reason(), reason);
    }
    // In the order of 7.4: source, then Hop Limit, then Router Alert.
    assert_eq!(
        check_ip(Ipv6Addr::UNSPECIFIED, 2, false),
        Err(Reject::UnspecifiedSource)
    );
    assert_eq!(
        check_ip(ip("2001:db8::1"), 2, false),
        Err(Reject::SourceNotLinkLocal)
    );
    assert_eq!(check_ip(ll, 2, false), Err(Reject::BadHopLimit(2)));
}

#[test]
fn sources_outside_fe80_10_are_not_link_local() {
    // fe80::/10 ends at febf:ffff:...; fec0::/10 is the deprecated
    // site-local prefix; ff02::1 is multicast; ::1 is loopback.
    for src in [
        "fec0::1",
        "fe00::1",
        "fe7f:ffff::1",
        "ff02::1",
        "::1",
        "::ffff:10.0.0.1",
        "fd00::1",
    ] {
        assert!(!is_link_local(ip(src)), "{src}");
        assert_eq!(
            check_ip(ip(src), 1, true),
            Err(Reject::SourceNotLinkLocal),
            "{src}"
        );
    }
    assert!(is_link_local(ip("fe80::")));
    assert!(is_link_local(ip("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
}

#[test]
fn reports_from_the_unspecified_address_are_discarded_without_warning() {
    // RFC 9777 5.2.14: a host sends reports from :: before it has a
    // link-local address, and "A Report sent with the unspecified address
    // is also discarded by the router". Linux, during Duplicate Address
    // Detection: TO_EX({}) for its solicited-node group, from :: to
    // ff02::16, Hop Limit 1, Router Alert (captured on a veth).
    let wire = [
        0x8f, 0x00, 0x9f, 0xca, 0x00, 0x00, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0xff, 0x02, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xff, 0x2b, 0xcf, 0x94,
    ];
    let p = MldPacket::decode_verified(Ipv6Addr::UNSPECIFIED, ALL_MLDV2_ROUTERS, &wire)
        .expect("captured report");
    assert_eq!(
        check_ip(Ipv6Addr::UNSPECIFIED, 1, true),
        Err(Reject::UnspecifiedSource)
    );
    assert!(!Reject::UnspecifiedSource.warrants_warning(&p));
    assert!(!Reject::SourceNotLinkLocal.warrants_warning(&report()));
    assert!(
        !Reject::UnspecifiedSource.warrants_warning(&MldPacket::V1Done {
            group: ip("ff05::1:3"),
        })
    );
}

#[test]
fn queries_from_a_bad_source_call_for_a_warning() {
    // RFC 9777 5.1.14: "MUST silently discard the message and SHOULD log
    // a warning", for :: and "any other address that is not a valid IPv6
    // link-local address".
    assert!(Reject::UnspecifiedSource.warrants_warning(&query()));
    assert!(Reject::SourceNotLinkLocal.warrants_warning(&query()));
    // Hop Limit and Router Alert drops ask for none.
    assert!(!Reject::BadHopLimit(64).warrants_warning(&query()));
    assert!(!Reject::NoRouterAlert.warrants_warning(&query()));
}

// ===== multicast addresses =====

#[test]
fn groups_a_router_keeps_state_for() {
    for g in [
        "ff05::1:3",
        "ff0e::1",
        "ff3e::1234",
        "ff02::2",
        "ff02::16",
        "ff02::1:ff2b:cf94", // solicited-node, link scope: reported
        "ff12::1",           // transient flag, link scope
        "ff08::1",
    ] {
        assert_eq!(check_group(ip(g)), Ok(()), "{g}");
    }
}

#[test]
fn groups_never_reported_or_not_multicast() {
    for (g, reject, reason) in [
        ("2001:db8::1", GroupReject::NotMulticast, "bad_group"),
        ("::", GroupReject::NotMulticast, "bad_group"),
        ("fe80::1", GroupReject::NotMulticast, "bad_group"),
        ("ff02::1", GroupReject::AllNodes, "all_nodes_group"),
        (
            "ff01::1",
            GroupReject::BelowLinkScope(1),
            "below_link_scope_group",
        ),
        (
            "ff00::1234",
            GroupReject::BelowLinkScope(0),
            "below_link_scope_group",
        ),
        (
            "ff11::2",
            GroupReject::BelowLinkScope(1),
            "below_link_scope_group",
        ),
    ] {
        assert_eq!(check_group(ip(g)), Err(reject), "{g}");
        assert_eq!(reject.reason(), reason);
    }
}

#[test]
fn address_helpers() {
    assert_eq!(multicast_scope(ip("ff02::16")), Some(2));
    assert_eq!(multicast_scope(ip("ff3e::1234")), Some(0xe));
    assert_eq!(multicast_scope(ip("ff15::1")), Some(5));
    assert_eq!(multicast_scope(ip("fe80::1")), None);
    assert!(is_multicast(ip("ff00::")) && !is_multicast(ip("fe80::1")));
    for (a, unicast) in [
        ("2001:db8::1", true),
        ("fe80::1", true),
        ("::1", true),
        ("::", false),
        ("ff02::1", false),
    ] {
        assert_eq!(is_unicast(ip(a)), unicast, "{a}");
    }
    // The well-known addresses and numbers.
    assert_eq!(ALL_NODES, ip("ff02::1"));
    assert_eq!(ALL_ROUTERS, ip("ff02::2"));
    assert_eq!(ALL_MLDV2_ROUTERS, ip("ff02::16"));
    assert_eq!(
        [
            TYPE_QUERY,
            TYPE_V1_REPORT,
            TYPE_V1_DONE,
            TYPE_V2_REPORT,
            NEXT_HEADER_ICMPV6
        ],
        [130, 131, 132, 143, 58]
    );
}
