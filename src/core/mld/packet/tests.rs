//! MLD codec: byte vectors built by hand from the formats of RFC 2710 3
//! and RFC 9777 5 and messages captured from Linux, in both directions;
//! truncation, counts and lengths that do not fit; the checksum. The
//! exponential codes are in [`codes`], round trips of random messages in
//! [`props`].

use std::net::Ipv6Addr;
use std::time::Duration;

use super::*;

mod codes;
mod props;

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

fn ip(s: &str) -> Ipv6Addr {
    s.parse().expect("test address")
}

/// `wire` (with its checksum) sent from `src` to `dst` decodes to `pkt`,
/// with and without checking the checksum; `pkt` encodes to `wire`, with
/// the checksum and with the field left zero (hex diff on failure).
fn both_ways(src: &str, dst: &str, wire: &str, pkt: MldPacket) {
    let (src, dst) = (ip(src), ip(dst));
    let bytes = unhex(wire);
    assert_eq!(
        MldPacket::decode_verified(src, dst, &bytes),
        Ok(pkt.clone()),
        "verified decode of {wire}"
    );
    assert_eq!(decode(&bytes), Ok(pkt.clone()), "decode of {wire}");
    assert_eq!(
        hex(&pkt.encode_with_checksum(src, dst)),
        hex(&bytes),
        "encode of {pkt:?}"
    );
    let mut unsummed = bytes.clone();
    unsummed[2..4].fill(0);
    assert_eq!(hex(&pkt.encode()), hex(&unsummed), "encode of {pkt:?}");
}

fn v1_query(code: u16, group: &str) -> MldPacket {
    MldPacket::Query(Query {
        version: QueryVersion::V1,
        max_resp_code: code,
        group: ip(group),
        suppress: false,
        qrv: 0,
        qqic: 0,
        sources: vec![],
    })
}

fn v2_query(code: u16, group: &str, s: bool, qrv: u8, qqic: u8, sources: &[&str]) -> Query {
    Query {
        version: QueryVersion::V2,
        max_resp_code: code,
        group: ip(group),
        suppress: s,
        qrv,
        qqic,
        sources: sources.iter().map(|a| ip(a)).collect(),
    }
}

fn record(t: RecordType, group: &str, sources: &[&str]) -> AddressRecord {
    AddressRecord {
        record_type: t,
        group: ip(group),
        sources: sources.iter().map(|a| ip(a)).collect(),
    }
}

/// `bytes` with its checksum field set right for `src` -> `dst`.
fn summed(src: &str, dst: &str, mut bytes: Vec<u8>) -> Vec<u8> {
    bytes[2..4].fill(0);
    let c = checksum(ip(src), ip(dst), &bytes);
    bytes[2..4].copy_from_slice(&c.to_be_bytes());
    bytes
}

// ===== byte vectors built from the RFC formats =====

#[test]
fn v1_general_query() {
    // RFC 2710 3: Type 130, Code 0, Checksum, Maximum Response Delay
    // 10000 ms (27 10), Reserved, Multicast Address :: (General Query).
    both_ways(
        "fe80::1",
        "ff02::1",
        "82 00 59 17 27 10 00 00 \
         00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
        v1_query(10000, "::"),
    );
}

#[test]
fn v1_multicast_address_specific_query() {
    // Maximum Response Delay 1000 ms (03 e8), for ff05::1:3, sent to it.
    both_ways(
        "fe80::1",
        "ff05::1:3",
        "82 00 7d 2f 03 e8 00 00 \
         ff 05 00 00 00 00 00 00 00 00 00 00 00 01 00 03",
        v1_query(1000, "ff05::1:3"),
    );
}

#[test]
fn v1_report_and_done() {
    let group = ip("ff05::1:3");
    // Type 131, the rest zero but the checksum and the address; sent to
    // the group itself (RFC 2710 5, "send report").
    both_ways(
        "fe80::2",
        "ff05::1:3",
        "83 00 80 16 00 00 00 00 \
         ff 05 00 00 00 00 00 00 00 00 00 00 00 01 00 03",
        MldPacket::V1Report { group },
    );
    // Type 132, sent to all routers ff02::2 (RFC 2710 5, "send done").
    both_ways(
        "fe80::2",
        "ff02::2",
        "84 00 7f 1b 00 00 00 00 \
         ff 05 00 00 00 00 00 00 00 00 00 00 00 01 00 03",
        MldPacket::V1Done { group },
    );
}

#[test]
fn v2_general_query_with_defaults() {
    // What a querier sends with RFC 9777 9 defaults: Query Response
    // Interval 10 s (Maximum Response Code 10000 = 27 10, linear below
    // 32768), QRV 2, QQI 125 s (QQIC 7d, linear below 128), no source.
    let built = Query::general(
        QueryVersion::V2,
        Duration::from_secs(10),
        2,
        Duration::from_secs(125),
    );
    let expect = v2_query(10000, "::", false, 2, 125, &[]);
    assert_eq!(built, expect);
    // 24 octets as in v1, then Resv|S|QRV = 02, QQIC, Number of Sources.
    both_ways(
        "fe80::1",
        "ff02::1",
        "82 00 56 96 27 10 00 00 \
         00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 \
         02 7d 00 00",
        MldPacket::Query(expect),
    );
}

#[test]
fn v2_address_and_source_specific_query_with_s_flag() {
    // Maximum Response Code 1000 (LLQI 1 s), ff3e::1234, flags 0a (S set,
    // QRV 2), QQIC 125, two sources, sent to the group.
    let expect = v2_query(
        1000,
        "ff3e::1234",
        true,
        2,
        125,
        &["2001:db8::1", "2001:db8::2"],
    );
    let built = Query::specific(
        QueryVersion::V2,
        Duration::from_secs(1),
        ip("ff3e::1234"),
        true,
        2,
        Duration::from_secs(125),
        vec![ip("2001:db8::1"), ip("2001:db8::2")],
    );
    assert_eq!(built, expect);
    assert!(!built.is_general());
    both_ways(
        "fe80::1",
        "ff3e::1234",
        "82 00 f2 44 03 e8 00 00 \
         ff 3e 00 00 00 00 00 00 00 00 00 00 00 00 12 34 \
         0a 7d 00 02 \
         20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01 \
         20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 02",
        MldPacket::Query(expect),
    );
}

#[test]
fn v2_query_with_exponential_codes() {
    // 60 s does not fit the linear range: (0xd4c | 0x1000) << 3 = 60000,
    // code 1 000 1101 0100 1100 = 8d 4c. QQI 300 s: (3 | 16) << 4 = 304
    // (rounded up), QQIC 1 001 0011 = 93.
    let q = Query::general(
        QueryVersion::V2,
        Duration::from_secs(60),
        3,
        Duration::from_secs(300),
    );
    assert_eq!((q.max_resp_code, q.qqic), (0x8d4c, 0x93));
    assert_eq!(q.max_resp_delay(), Duration::from_secs(60));
    assert_eq!(q.qqi(), Duration::from_secs(304));
    let bytes = MldPacket::Query(q.clone()).encode();
    assert_eq!(
        hex(&bytes),
        "82 00 00 00 8d 4c 00 00 00 00 00 00 00 00 00 00 \
         00 00 00 00 00 00 00 00 03 93 00 00"
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    );
    assert_eq!(decode(&bytes), Ok(MldPacket::Query(q)));
}

#[test]
fn v2_report_two_records() {
    // Type 143, Reserved, Checksum, Reserved, Nr of Mcast Address Records
    // 2; IS_EX (2) ff05::1:3 with no source; ALLOW (5) ff3e::1234 with
    // one source. Sent to ff02::16 (RFC 9777 5.2.15).
    both_ways(
        "fe80::2",
        "ff02::16",
        "8f 00 2d af 00 00 00 02 \
         02 00 00 00 ff 05 00 00 00 00 00 00 00 00 00 00 00 01 00 03 \
         05 00 00 01 ff 3e 00 00 00 00 00 00 00 00 00 00 00 00 12 34 \
         20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01",
        MldPacket::V2Report {
            records: vec![
                record(RecordType::ModeIsExclude, "ff05::1:3", &[]),
                record(RecordType::AllowNewSources, "ff3e::1234", &["2001:db8::1"]),
            ],
        },
    );
}

#[test]
fn v2_report_aux_data_is_skipped_by_its_length() {
    // As above, the first record with Aux Data Len 1 (one 32-bit word,
    // de ad be ef, after its sources): RFC 9777 5.2.7 and 5.2.11.
    let bytes = unhex(
        "8f 00 90 0c 00 00 00 02 \
         02 01 00 00 ff 05 00 00 00 00 00 00 00 00 00 00 00 01 00 03 de ad be ef \
         05 00 00 01 ff 3e 00 00 00 00 00 00 00 00 00 00 00 00 12 34 \
         20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01",
    );
    let expect = MldPacket::V2Report {
        records: vec![
            record(RecordType::ModeIsExclude, "ff05::1:3", &[]),
            record(RecordType::AllowNewSources, "ff3e::1234", &["2001:db8::1"]),
        ],
    };
    assert_eq!(
        MldPacket::decode_verified(ip("fe80::2"), ip("ff02::16"), &bytes),
        Ok(expect.clone())
    );
    // Never sent: the encoding has Aux Data Len 0 and is 4 bytes shorter.
    assert_eq!(expect.encode().len(), bytes.len() - 4);
    // Aux data past the end of the message.
    let mut short = bytes[..28].to_vec();
    short[7] = 1;
    assert_eq!(decode(&short), Err(DecodeError::CountOverrun));
}

#[test]
fn unknown_record_type_is_kept_for_the_router_to_skip() {
    // A record of type 9 (with a source) before an IS_EX record: RFC 9777
    // 5.2.13, "silently ignored, with the rest of the report being
    // processed". Decoding goes on past it by its Number of Sources.
    let bytes = unhex(
        "8f 00 00 00 00 00 00 02 \
         09 00 00 01 ff 05 00 00 00 00 00 00 00 00 00 00 00 00 00 09 \
         20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 09 \
         02 00 00 00 ff 05 00 00 00 00 00 00 00 00 00 00 00 01 00 03",
    );
    let Ok(MldPacket::V2Report { records }) = decode(&bytes) else {
        panic!("not a v2 report");
    };
    assert_eq!(records[0].record_type, RecordType::Other(9));
    assert!(!records[0].record_type.is_known());
    assert_eq!(records[0].record_type.to_string(), "type-9");
    let known: Vec<_> = records
        .iter()
        .filter(|r| r.record_type.is_known())
        .collect();
    assert_eq!(
        known,
        vec![&record(RecordType::ModeIsExclude, "ff05::1:3", &[])]
    );
}

#[test]
fn all_six_record_types_and_unknown() {
    for (v, t, name) in [
        (1, RecordType::ModeIsInclude, "IS_IN"),
        (2, RecordType::ModeIsExclude, "IS_EX"),
        (3, RecordType::ChangeToInclude, "TO_IN"),
        (4, RecordType::ChangeToExclude, "TO_EX"),
        (5, RecordType::AllowNewSources, "ALLOW"),
        (6, RecordType::BlockOldSources, "BLOCK"),
        (0, RecordType::Other(0), "type-0"),
        (7, RecordType::Other(7), "type-7"),
    ] {
        assert_eq!(RecordType::from_u8(v), t);
        assert_eq!(t.to_u8(), v);
        assert_eq!(t.to_string(), name);
        assert_eq!(t.is_known(), (1..=6).contains(&v));
        let pkt = MldPacket::V2Report {
            records: vec![record(t, "ff0e::9", &["2001:db8::9"])],
        };
        assert_eq!(decode(&pkt.encode()), Ok(pkt));
    }
}

#[test]
fn extra_octets_count_in_the_checksum_and_are_otherwise_ignored() {
    // RFC 9777 5.1.12 (queries) and 5.2.12 (reports): "MUST include those
    // octets in the computation to verify the received MLD Checksum but
    // MUST otherwise ignore those additional octets". RFC 2710 3: "MUST
    // ignore anything past the first 24 octets" of an MLDv1 message.
    let (src, grp) = ("fe80::1", "ff3e::1234");
    let mut q = MldPacket::Query(v2_query(1000, grp, false, 2, 125, &["2001:db8::1"]))
        .encode_with_checksum(ip(src), ip(grp));
    q.extend_from_slice(&[0xca, 0xfe]);
    let q = summed(src, grp, q);
    let expect = MldPacket::Query(v2_query(1000, grp, false, 2, 125, &["2001:db8::1"]));
    assert_eq!(MldPacket::decode_verified(ip(src), ip(grp), &q), Ok(expect));
    let mut bad = q.clone();
    *bad.last_mut().expect("not empty") ^= 0xff;
    assert_eq!(
        MldPacket::decode_verified(ip(src), ip(grp), &bad),
        Err(DecodeError::BadChecksum)
    );
    // Reserved fields, Code and the Resv bits of the flags are ignored on
    // reception (RFC 9777 5.1.1, 5.1.4, 5.2.1; RFC 2710 3.2, 3.5).
    let mut noisy = MldPacket::Query(v2_query(1000, grp, true, 2, 125, &[])).encode();
    noisy[1] = 0x55;
    noisy[6..8].copy_from_slice(&[0xab, 0xcd]);
    noisy[24] |= 0xf0;
    assert_eq!(
        decode(&noisy),
        Ok(MldPacket::Query(v2_query(1000, grp, true, 2, 125, &[])))
    );
    // A report with its Reserved fields set and octets after its record.
    let report = unhex(
        "8f 7f 00 00 12 34 00 01 \
         01 00 00 01 ff 05 00 00 00 00 00 00 00 00 00 00 00 01 00 03 \
         20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01 00 11 22 33",
    );
    assert_eq!(
        decode(&report),
        Ok(MldPacket::V2Report {
            records: vec![record(
                RecordType::ModeIsInclude,
                "ff05::1:3",
                &["2001:db8::1"]
            )],
        })
    );
    // An MLDv1 report and Done of 28 octets, Maximum Response Delay set.
    for (ty, pkt) in [
        (TYPE_V1_REPORT, MldPacket::V1Report { group: ip(grp) }),
        (TYPE_V1_DONE, MldPacket::V1Done { group: ip(grp) }),
    ] {
        let mut b = vec![ty, 0x01, 0, 0, 0x03, 0xe8, 0x77, 0x77];
        b.extend_from_slice(&ip(grp).octets());
        b.extend_from_slice(&[1, 2, 3, 4]);
        assert_eq!(decode(&b), Ok(pkt));
    }
}

// ===== messages captured from Linux =====

/// Captured on a veth in a network namespace (Linux 6, Python sockets):
/// a host joining ff05::1:3 and (ff3e::1234, 2001:db8::1) and leaving
/// them, with MLDv2 and with `force_mld_version = 1`; and a Linux bridge
/// with `mcast_querier 1` querying in both versions. Every one is sent
/// with Hop Limit 1 and Router Alert. The checksums are the kernel's.
const CAPTURED: &[(&str, &str, &str)] = &[
    // During Duplicate Address Detection: TO_EX({}) for the solicited-node
    // group, from :: (RFC 9777 5.2.14).
    (
        "::",
        "ff02::16",
        "8f009fca0000000104000000ff0200000000000000000001ff2bcf94",
    ),
    (
        "fe80::3423:e9ff:fe2b:cf94",
        "ff02::16",
        "8f0084200000000104000000ff050000000000000000000000010003",
    ),
    (
        "fe80::3423:e9ff:fe2b:cf94",
        "ff02::16",
        "8f0042ec0000000105000001ff3e000000000000000000000000123420010db8000000000000000000000001",
    ),
    (
        "fe80::3423:e9ff:fe2b:cf94",
        "ff02::16",
        "8f0041ec0000000106000001ff3e000000000000000000000000123420010db8000000000000000000000001",
    ),
    (
        "fe80::3423:e9ff:fe2b:cf94",
        "ff02::16",
        "8f0085200000000103000000ff050000000000000000000000010003",
    ),
    (
        "::",
        "ff02::1:ffcb:4349",
        "8300f87a00000000ff0200000000000000000001ffcb4349",
    ),
    (
        "fe80::e85a:71ff:fecb:4349",
        "ff05::1:3",
        "8300e3a800000000ff050000000000000000000000010003",
    ),
    (
        "fe80::e85a:71ff:fecb:4349",
        "ff02::2",
        "8400e2ad00000000ff050000000000000000000000010003",
    ),
    (
        "fe80::4877:9bff:fee5:2d01",
        "ff02::1",
        "820048ba2710000000000000000000000000000000000000",
    ),
    (
        "fe80::e869:c0ff:fe99:5d16",
        "ff02::1",
        "820051f7271000000000000000000000000000000000000002030000",
    ),
];

fn unhex_packed(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("test vector is hex"))
        .collect()
}

#[test]
fn captured_messages_decode_and_reencode_byte_exact() {
    let kinds: Vec<_> = CAPTURED
        .iter()
        .map(|&(src, dst, wire)| {
            let bytes = unhex_packed(wire);
            let p = MldPacket::decode_verified(ip(src), ip(dst), &bytes)
                .unwrap_or_else(|e| panic!("{wire}: {e}"));
            assert_eq!(hex(&p.encode_with_checksum(ip(src), ip(dst))), hex(&bytes));
            p
        })
        .collect();
    let names: Vec<_> = kinds.iter().map(MldPacket::kind).collect();
    assert_eq!(
        names,
        [
            "v2_report",
            "v2_report",
            "v2_report",
            "v2_report",
            "v2_report",
            "v1_report",
            "v1_report",
            "v1_done",
            "v1_query",
            "v2_query"
        ]
    );
    assert_eq!(
        kinds[2],
        MldPacket::V2Report {
            records: vec![record(
                RecordType::AllowNewSources,
                "ff3e::1234",
                &["2001:db8::1"]
            )],
        }
    );
    assert_eq!(
        kinds[4],
        MldPacket::V2Report {
            records: vec![record(RecordType::ChangeToInclude, "ff05::1:3", &[])],
        }
    );
    // The bridge: QRV 2, a query interval of 3 s.
    assert_eq!(
        kinds[9],
        MldPacket::Query(v2_query(10000, "::", false, 2, 3, &[]))
    );
}

// ===== errors =====

#[test]
fn other_icmpv6_types_are_not_mld_and_not_malformed() {
    // Echo Request/Reply, Router Solicitation, Neighbour Solicitation, a
    // Destination Unreachable, MLDv2 Report's neighbour 144: all NotMld,
    // whatever their length or checksum.
    for ty in [128u8, 129, 133, 135, 1, 144, 0, 255] {
        for len in [1, 4, 24, 40] {
            let mut b = vec![0u8; len];
            b[0] = ty;
            let e = decode(&b).expect_err("not MLD");
            assert_eq!(e, DecodeError::NotMld(ty));
            assert!(!e.is_malformed());
            assert_eq!(e.reason(), "not_mld");
            assert_eq!(
                MldPacket::decode_verified(ip("fe80::1"), ip("ff02::1"), &b),
                Err(DecodeError::NotMld(ty))
            );
        }
    }
    assert_eq!(decode(&[]), Err(DecodeError::TooShort(0)));
    assert!(DecodeError::TooShort(0).is_malformed());
}

/// What decoding the first `len` bytes of a message of `full` bytes must
/// give; a v2 query cut to 24 bytes is a v1 query (RFC 9777 8.1).
fn expect_truncated(ty: u8, len: usize, full: &[u8]) -> Result<MldPacket, DecodeError> {
    match (ty, len) {
        (TYPE_V2_REPORT, 0..=7) | (TYPE_QUERY | TYPE_V1_REPORT | TYPE_V1_DONE, 0..=23) => {
            Err(DecodeError::TooShort(len))
        }
        (TYPE_QUERY, 24) => Ok(v1_query(
            u16::from_be_bytes([full[4], full[5]]),
            &Ipv6Addr::from(<[u8; 16]>::try_from(&full[8..24]).expect("16 bytes")).to_string(),
        )),
        (TYPE_QUERY, 25..=27) => Err(DecodeError::BadLength(len)),
        _ => Err(DecodeError::CountOverrun),
    }
}

#[test]
fn truncated_at_every_length() {
    let messages = [
        MldPacket::Query(v2_query(
            1000,
            "ff3e::1234",
            true,
            2,
            125,
            &["2001:db8::1", "2001:db8::2"],
        )),
        MldPacket::V2Report {
            records: vec![
                record(RecordType::ModeIsExclude, "ff05::1:3", &[]),
                record(RecordType::AllowNewSources, "ff3e::1234", &["2001:db8::1"]),
            ],
        },
        MldPacket::V1Report {
            group: ip("ff05::1:3"),
        },
        MldPacket::V1Done {
            group: ip("ff05::1:3"),
        },
        v1_query(1000, "ff05::1:3"),
    ];
    for m in messages {
        let full = m.encode_with_checksum(ip("fe80::1"), ip("ff02::16"));
        for len in 0..full.len() {
            let cut = &full[..len];
            assert_eq!(
                decode(cut),
                expect_truncated(full[0], len, &full),
                "{} cut to {len}",
                m.kind()
            );
            // The checksum covers the whole message: no cut one passes.
            assert!(MldPacket::decode_verified(ip("fe80::1"), ip("ff02::16"), cut).is_err());
        }
        assert_eq!(decode(&full), Ok(m));
    }
}

#[test]
fn counts_that_run_past_the_end() {
    // A v2 query claiming 3 sources and carrying 2.
    let mut q = MldPacket::Query(v2_query(
        1000,
        "ff3e::1234",
        false,
        2,
        125,
        &["2001:db8::1", "2001:db8::2"],
    ))
    .encode();
    q[27] = 3;
    assert_eq!(decode(&q), Err(DecodeError::CountOverrun));
    // ... or 65535: refused before anything is allocated for them.
    q[26..28].copy_from_slice(&[0xff, 0xff]);
    assert_eq!(decode(&q), Err(DecodeError::CountOverrun));
    // A record claiming 2 sources and carrying 1.
    let mut r = MldPacket::V2Report {
        records: vec![record(
            RecordType::AllowNewSources,
            "ff3e::1234",
            &["2001:db8::1"],
        )],
    }
    .encode();
    r[11] = 2;
    assert_eq!(decode(&r), Err(DecodeError::CountOverrun));
    // A report claiming 3 records and carrying 1, or 65535 of them.
    r[11] = 1;
    r[7] = 3;
    assert_eq!(decode(&r), Err(DecodeError::CountOverrun));
    r[6..8].copy_from_slice(&[0xff, 0xff]);
    assert_eq!(decode(&r), Err(DecodeError::CountOverrun));
    // A report of 8 bytes that claims no record is an empty report.
    assert_eq!(
        decode(&unhex("8f 00 00 00 00 00 00 00")),
        Ok(MldPacket::V2Report { records: vec![] })
    );
    assert_eq!(DecodeError::CountOverrun.reason(), "count_overrun");
}

#[test]
fn queries_of_25_to_27_octets_are_ignored() {
    // RFC 9777 8.1: "Query Messages that do not match any of the above
    // conditions (e.g., a Query of length 26 octets) MUST be silently
    // ignored."
    for len in 25..28 {
        let mut b = vec![0u8; len];
        b[0] = TYPE_QUERY;
        let b = summed("fe80::1", "ff02::1", b);
        assert_eq!(decode(&b), Err(DecodeError::BadLength(len)));
        assert_eq!(
            MldPacket::decode_verified(ip("fe80::1"), ip("ff02::1"), &b),
            Err(DecodeError::BadLength(len))
        );
    }
    assert_eq!(DecodeError::BadLength(26).reason(), "bad_length");
    assert_eq!(DecodeError::TooShort(3).reason(), "too_short");
}

#[test]
fn bad_checksum() {
    let src = ip("fe80::2");
    let good = unhex("83 00 80 16 00 00 00 00 ff 05 00 00 00 00 00 00 00 00 00 00 00 01 00 03");
    assert!(MldPacket::decode_verified(src, ip("ff05::1:3"), &good).is_ok());
    // The same bytes from another source or to another destination: the
    // pseudo-header is part of the sum (RFC 9777 5.1.2, 5.2.2).
    for (s, d) in [(ip("fe80::3"), ip("ff05::1:3")), (src, ip("ff02::16"))] {
        assert_eq!(
            MldPacket::decode_verified(s, d, &good),
            Err(DecodeError::BadChecksum)
        );
    }
    // One bit flipped anywhere past the type (flipped there, it is
    // another ICMPv6 type: 0x93 is not MLD).
    for i in 1..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x10;
        assert_eq!(
            MldPacket::decode_verified(src, ip("ff05::1:3"), &bad),
            Err(DecodeError::BadChecksum),
            "byte {i}"
        );
    }
    assert_eq!(DecodeError::BadChecksum.reason(), "bad_checksum");
}

// ===== checksum =====

#[test]
fn checksum_computed_by_hand() {
    // A Version 2 Report from fe80::1 to ff02::16 with one record,
    // IS_EX({}) for ff05::1 (28 octets):
    //   8f 00 [cksum] 00 00 00 01 02 00 00 00 ff 05 0...0 00 01
    // Sum of 16-bit words, pseudo-header first (RFC 8200 8.1):
    //   source       fe80 + 0001                      = fe81
    //   destination  ff02 + 0016                      -> 1fd99
    //   length       0000 + 001c (28)                 -> 1fdb5
    //   next header  0000 + 003a (58)                 -> 1fdef
    //   message      8f00 + 0000 + 0000 + 0001 + 0200
    //                + 0000 + ff05 + 0001             = 19007
    //   total        1fdef + 19007 = 38df6; folded 8df6 + 3 = 8df9
    //   checksum     ~8df9 = 7206
    let src = ip("fe80::1");
    let dst = ip("ff02::16");
    let unsummed = unhex(
        "8f 00 00 00 00 00 00 01 02 00 00 00 ff 05 00 00 00 00 00 00 00 00 00 00 00 00 00 01",
    );
    assert_eq!(checksum(src, dst, &unsummed), 0x7206);
    let pkt = MldPacket::V2Report {
        records: vec![record(RecordType::ModeIsExclude, "ff05::1", &[])],
    };
    let wire = pkt.encode_with_checksum(src, dst);
    assert_eq!(wire[2..4], [0x72, 0x06]);
    assert!(verify(src, dst, &wire));
    assert_eq!(checksum(src, dst, &wire), 0);
}

#[test]
fn checksum_pads_an_odd_length_with_a_zero_byte() {
    let (a, b) = (Ipv6Addr::UNSPECIFIED, Ipv6Addr::UNSPECIFIED);
    // Pseudo-header of :: -> :: and length 1: 0001 + 003a; data 0100.
    assert_eq!(checksum(a, b, &[0x01]), !(0x0001 + 0x003a + 0x0100));
    // Same words as the two-byte payload 01 00 but one length apart.
    assert_eq!(
        checksum(a, b, &[0x01]).wrapping_sub(1),
        checksum(a, b, &[0x01, 0x00])
    );
    // An empty payload has only the pseudo-header. ffff words are the
    // one's-complement zero: sixteen of them add nothing (the carries
    // fold back in).
    assert_eq!(checksum(a, b, &[]), !0x003a);
    let ones = Ipv6Addr::from([0xff; 16]);
    assert_eq!(checksum(ones, ones, &[]), !0x003a);
}
