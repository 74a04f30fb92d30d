//! IGMP codec: byte vectors in both directions, the floating-point code
//! tables, and properties (round trip, no panic on any input).

use std::net::Ipv4Addr;
use std::time::Duration;

use mgmd::core::igmp::packet::{
    self, DecodeError, GroupRecord, IgmpPacket, Query, QueryVersion, RecordType, decode_code,
    encode_code,
};
use proptest::prelude::*;

// ===== helpers =====

fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn unhex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|x| u8::from_str_radix(x, 16).expect("test vector is hex"))
        .collect()
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().expect("test address")
}

/// Decode `wire` and compare with `pkt`; encode `pkt` and compare with
/// `wire` (hex diff on failure).
fn both_ways(wire: &str, pkt: IgmpPacket) {
    let bytes = unhex(wire);
    assert_eq!(packet::decode(&bytes), Ok(pkt.clone()), "decode of {wire}");
    let enc = pkt.encode();
    assert_eq!(hex(&enc), hex(&bytes), "encode of {pkt:?}");
}

fn q(version: QueryVersion, code: u8, group: &str) -> Query {
    Query {
        version,
        max_resp_code: code,
        group: ip(group),
        suppress: false,
        qrv: 0,
        qqic: 0,
        sources: vec![],
    }
}

// ===== byte vectors =====

#[test]
fn v1_general_query() {
    both_ways(
        "11 00 ee ff 00 00 00 00",
        IgmpPacket::Query(q(QueryVersion::V1, 0, "0.0.0.0")),
    );
}

#[test]
fn v2_general_query() {
    both_ways(
        "11 64 ee 9b 00 00 00 00",
        IgmpPacket::Query(q(QueryVersion::V2, 100, "0.0.0.0")),
    );
}

#[test]
fn v2_group_specific_query() {
    both_ways(
        "11 0a fe f2 ef 01 01 01",
        IgmpPacket::Query(q(QueryVersion::V2, 10, "239.1.1.1")),
    );
}

#[test]
fn v3_general_query_with_defaults() {
    // What the router sends with RFC defaults: QRI 10 s, QRV 2, QQI 125 s.
    let built = Query::general(
        QueryVersion::V3,
        Duration::from_secs(10),
        2,
        Duration::from_secs(125),
    );
    let mut expect = q(QueryVersion::V3, 100, "0.0.0.0");
    expect.qrv = 2;
    expect.qqic = 125;
    assert_eq!(built, expect);
    both_ways(
        "11 64 ec 1e 00 00 00 00 02 7d 00 00",
        IgmpPacket::Query(expect),
    );
}

#[test]
fn v3_group_and_source_query_with_s_flag() {
    let mut expect = q(QueryVersion::V3, 10, "232.1.1.1");
    expect.suppress = true;
    expect.qrv = 2;
    expect.qqic = 125;
    expect.sources = vec![ip("10.0.0.1"), ip("10.0.0.2")];
    both_ways(
        "11 0a e7 70 e8 01 01 01 0a 7d 00 02 0a 00 00 01 0a 00 00 02",
        IgmpPacket::Query(expect),
    );
}

#[test]
fn v1_v2_reports_and_leave() {
    let group = ip("239.1.1.1");
    both_ways("12 00 fd fc ef 01 01 01", IgmpPacket::V1Report { group });
    both_ways("16 00 f9 fc ef 01 01 01", IgmpPacket::V2Report { group });
    both_ways("17 00 f8 fc ef 01 01 01", IgmpPacket::V2Leave { group });
}

#[test]
fn v3_report_two_records() {
    both_ways(
        "22 00 f3 f5 00 00 00 02 02 00 00 00 ef 01 01 01 05 00 00 01 e8 01 01 01 0a 00 00 01",
        IgmpPacket::V3Report {
            records: vec![
                GroupRecord {
                    record_type: RecordType::ModeIsExclude,
                    group: ip("239.1.1.1"),
                    sources: vec![],
                },
                GroupRecord {
                    record_type: RecordType::AllowNewSources,
                    group: ip("232.1.1.1"),
                    sources: vec![ip("10.0.0.1")],
                },
            ],
        },
    );
}

#[test]
fn v3_report_aux_data_is_skipped_by_its_length() {
    // First record carries one word of auxiliary data (de ad be ef).
    let bytes = unhex(
        "22 00 56 57 00 00 00 02 02 01 00 00 ef 01 01 01 de ad be ef 05 00 00 01 e8 01 01 01 0a 00 00 01",
    );
    let IgmpPacket::V3Report { records } = packet::decode(&bytes).expect("valid report") else {
        panic!("not a v3 report");
    };
    assert_eq!(records.len(), 2);
    assert_eq!(records[1].record_type, RecordType::AllowNewSources);
    assert_eq!(records[1].group, ip("232.1.1.1"));
    assert_eq!(records[1].sources, vec![ip("10.0.0.1")]);
}

#[test]
fn extra_octets_count_in_the_checksum_and_are_otherwise_ignored() {
    // RFC 9776 4.1.10 (queries) and 4.2.12 (reports): implementations "MUST
    // include those octets in the computation to verify the received IGMP
    // Checksum but MUST otherwise ignore those additional octets". 4.2.1:
    // the Reserved fields of a report are "ignored on reception".
    let with_sum = |s: &str| {
        let mut b = unhex(s);
        b[2..4].copy_from_slice(&[0, 0]);
        let c = packet::checksum(&b);
        b[2..4].copy_from_slice(&c.to_be_bytes());
        b
    };
    let query = with_sum("11 0a 00 00 e8 01 01 01 0a 7d 00 01 0a 00 00 01 ca fe");
    let Ok(IgmpPacket::Query(q)) = packet::decode(&query) else {
        panic!("query with extra octets rejected");
    };
    assert_eq!(q.sources, vec![ip("10.0.0.1")]);
    assert_eq!(q.group, ip("232.1.1.1"));
    // A wrong checksum over the extra octets is a bad checksum.
    let mut bad = query.clone();
    *bad.last_mut().unwrap() ^= 0xff;
    assert_eq!(packet::decode(&bad), Err(DecodeError::BadChecksum));
    // A report with reserved octets set and octets after its last record.
    let report = with_sum("22 7f 00 00 12 34 00 01 02 00 00 00 ef 01 01 01 00 11 22 33");
    assert_eq!(
        packet::decode(&report),
        Ok(IgmpPacket::V3Report {
            records: vec![GroupRecord {
                record_type: RecordType::ModeIsExclude,
                group: ip("239.1.1.1"),
                sources: vec![],
            }],
        })
    );
    // What we send has no extra octets: a v3 query is 12 octets plus 4 per
    // source (4.1.10: "MUST NOT include additional octets").
    let q = Query::specific(
        QueryVersion::V3,
        Duration::from_secs(1),
        ip("232.1.1.1"),
        false,
        2,
        Duration::from_secs(125),
        vec![ip("10.0.0.1"), ip("10.0.0.2")],
    );
    assert_eq!(IgmpPacket::Query(q).encode().len(), 20);
}

#[test]
fn all_six_record_types_and_unknown() {
    for (v, t) in [
        (1, RecordType::ModeIsInclude),
        (2, RecordType::ModeIsExclude),
        (3, RecordType::ChangeToInclude),
        (4, RecordType::ChangeToExclude),
        (5, RecordType::AllowNewSources),
        (6, RecordType::BlockOldSources),
        (9, RecordType::Other(9)),
    ] {
        assert_eq!(RecordType::from_u8(v), t);
        assert_eq!(t.to_u8(), v);
        let pkt = IgmpPacket::V3Report {
            records: vec![GroupRecord {
                record_type: t,
                group: ip("239.9.9.9"),
                sources: vec![ip("10.1.1.1")],
            }],
        };
        assert_eq!(packet::decode(&pkt.encode()), Ok(pkt));
    }
}

// ===== errors =====

#[test]
fn decode_errors() {
    assert_eq!(packet::decode(&[]), Err(DecodeError::TooShort(0)));
    assert_eq!(
        packet::decode(&unhex("11 64 ee 9b 00 00 00")),
        Err(DecodeError::TooShort(7))
    );
    assert_eq!(
        packet::decode(&unhex("11 64 ee 9c 00 00 00 00")),
        Err(DecodeError::BadChecksum)
    );
    // A 10-byte query is neither v1/v2 (8) nor v3 (>= 12): RFC 3376 7.1.
    let mut ten = unhex("11 64 00 00 00 00 00 00 00 00");
    let c = packet::checksum(&ten);
    ten[2..4].copy_from_slice(&c.to_be_bytes());
    assert_eq!(packet::decode(&ten), Err(DecodeError::BadLength(10)));
    // v3 query claiming 2 sources but carrying 1.
    let mut short = unhex("11 0a 00 00 e8 01 01 01 0a 7d 00 02 0a 00 00 01");
    let c = packet::checksum(&short);
    short[2..4].copy_from_slice(&c.to_be_bytes());
    assert_eq!(packet::decode(&short), Err(DecodeError::CountOverrun));
    // v3 report claiming 3 records.
    let mut rep = unhex("22 00 00 00 00 00 00 03 02 00 00 00 ef 01 01 01");
    let c = packet::checksum(&rep);
    rep[2..4].copy_from_slice(&c.to_be_bytes());
    assert_eq!(packet::decode(&rep), Err(DecodeError::CountOverrun));
    // Aux data length past the end.
    let mut aux = unhex("22 00 00 00 00 00 00 01 02 05 00 00 ef 01 01 01");
    let c = packet::checksum(&aux);
    aux[2..4].copy_from_slice(&c.to_be_bytes());
    assert_eq!(packet::decode(&aux), Err(DecodeError::CountOverrun));
    // Unknown type (DVMRP 0x13).
    let mut dv = unhex("13 00 00 00 00 00 00 00");
    let c = packet::checksum(&dv);
    dv[2..4].copy_from_slice(&c.to_be_bytes());
    assert_eq!(packet::decode(&dv), Err(DecodeError::UnknownType(0x13)));
    assert_eq!(DecodeError::UnknownType(0x13).reason(), "unknown_type");
    assert_eq!(DecodeError::BadChecksum.reason(), "bad_checksum");
}

// ===== Max Resp Code / QQIC =====

#[test]
fn code_table() {
    // (code, value) pairs from RFC 3376 4.1.1: below 128 linear, then
    // (mant | 0x10) << (exp + 3).
    for (code, value) in [
        (0x00u8, 0u32),
        (0x01, 1),
        (0x64, 100),
        (0x7f, 127),
        (0x80, 128),
        (0x81, 136),
        (0x8f, 248),
        (0x90, 256),
        (0xa0, 512),
        (0xf0, 16384),
        (0xff, 31744),
    ] {
        assert_eq!(decode_code(code), value, "decode {code:#04x}");
        assert_eq!(encode_code(value), code, "encode {value}");
    }
    // Saturation and rounding down.
    assert_eq!(encode_code(31745), 0xff);
    assert_eq!(encode_code(100_000), 0xff);
    assert_eq!(encode_code(255), 0x8f);
}

#[test]
fn max_resp_and_qqi_accessors() {
    let q = Query::general(
        QueryVersion::V3,
        Duration::from_secs(20),
        2,
        Duration::from_secs(300),
    );
    assert_eq!(q.max_resp_code, 0x89); // 200 tenths: (9|16)<<3 = 200
    assert_eq!(q.max_resp_time(), Duration::from_secs(20));
    // 300 s: QQIC rounds up (4.1.7, 8.5: no neighbour may time the
    // querier out early): (3|16)<<4 = 304, not 288.
    assert_eq!(q.qqic, 0x93);
    assert_eq!(q.qqi(), Duration::from_secs(304));
    let v2 = Query::general(
        QueryVersion::V2,
        Duration::from_secs(100),
        0,
        Duration::ZERO,
    );
    assert_eq!(v2.max_resp_code, 255, "v2 saturates at 25.5 s");
}

// ===== properties =====

fn arb_addr() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

fn arb_packet() -> impl Strategy<Value = IgmpPacket> {
    let v1q = arb_addr().prop_map(|g| IgmpPacket::Query(q_with(QueryVersion::V1, 0, g)));
    let v2q = (1u8..=255, arb_addr())
        .prop_map(|(c, g)| IgmpPacket::Query(q_with(QueryVersion::V2, c, g)));
    let v3q = (
        any::<u8>(),
        arb_addr(),
        any::<bool>(),
        0u8..8,
        any::<u8>(),
        prop::collection::vec(arb_addr(), 0..20),
    )
        .prop_map(|(c, g, s, qrv, qqic, sources)| {
            IgmpPacket::Query(Query {
                version: QueryVersion::V3,
                max_resp_code: c,
                group: g,
                suppress: s,
                qrv,
                qqic,
                sources,
            })
        });
    let rec = (
        any::<u8>(),
        arb_addr(),
        prop::collection::vec(arb_addr(), 0..10),
    )
        .prop_map(|(t, group, sources)| GroupRecord {
            record_type: RecordType::from_u8(t),
            group,
            sources,
        });
    prop_oneof![
        v1q,
        v2q,
        v3q,
        arb_addr().prop_map(|group| IgmpPacket::V1Report { group }),
        arb_addr().prop_map(|group| IgmpPacket::V2Report { group }),
        arb_addr().prop_map(|group| IgmpPacket::V2Leave { group }),
        prop::collection::vec(rec, 0..10).prop_map(|records| IgmpPacket::V3Report { records }),
    ]
}

fn q_with(version: QueryVersion, code: u8, group: Ipv4Addr) -> Query {
    Query {
        version,
        max_resp_code: code,
        group,
        suppress: false,
        qrv: 0,
        qqic: 0,
        sources: vec![],
    }
}

proptest! {
    #[test]
    fn round_trip(pkt in arb_packet()) {
        let bytes = pkt.encode();
        prop_assert_eq!(packet::checksum(&bytes), 0);
        prop_assert_eq!(packet::decode(&bytes), Ok(pkt));
    }

    #[test]
    fn decode_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = packet::decode(&bytes);
    }

    /// Arbitrary bytes with a valid checksum get past the checksum check
    /// and exercise the parsers.
    #[test]
    fn decode_never_panics_with_valid_checksum(
        ty in prop::sample::select(vec![0x11u8, 0x12, 0x16, 0x17, 0x22]),
        mut bytes in prop::collection::vec(any::<u8>(), 8..200),
    ) {
        bytes[0] = ty;
        bytes[2] = 0;
        bytes[3] = 0;
        let c = packet::checksum(&bytes);
        bytes[2..4].copy_from_slice(&c.to_be_bytes());
        if let Ok(p) = packet::decode(&bytes) {
            // Whatever decodes re-encodes to something that decodes the same.
            prop_assert_eq!(packet::decode(&p.encode()), Ok(p));
        }
    }

    #[test]
    fn code_encoding_is_monotonic_and_rounds_down(v in 0u32..40000) {
        let c = encode_code(v);
        prop_assert!(decode_code(c) <= v.min(31744));
        if c < 0xff {
            prop_assert!(decode_code(c + 1) > v);
        }
    }
}
