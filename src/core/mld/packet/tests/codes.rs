//! The exponential Maximum Response Code (RFC 9777 5.1.3) and QQIC
//! (5.1.9) over their whole ranges, and the query constructors built on
//! them.

use super::*;

/// Largest Maximum Response Delay: (0xfff | 0x1000) << (7 + 3) ms.
const MRC_MAX: u32 = 8_387_584;
/// Largest QQI: (0xf | 0x10) << (7 + 3) s.
const QQIC_MAX: u32 = 31_744;

#[test]
fn mrc_table() {
    // (code, milliseconds): below 32768 linear, then
    // (mant | 0x1000) << (exp + 3) with exp in bits 14..12, mant 11..0.
    for (code, value) in [
        (0x0000u16, 0u32),
        (0x0001, 1),
        (0x03e8, 1000),
        (0x2710, 10000),
        (0x7fff, 32767),
        (0x8000, 32768),     // exp 0, mant 0: 0x1000 << 3
        (0x8001, 32776),     // 0x1001 << 3
        (0x8fff, 65528),     // 0x1fff << 3
        (0x9000, 65536),     // exp 1: 0x1000 << 4
        (0x8d4c, 60000),     // 0x1d4c << 3
        (0xf000, 4_194_304), // exp 7: 0x1000 << 10
        (0xffff, MRC_MAX),   // 0x1fff << 10
    ] {
        assert_eq!(decode_mrc(code), value, "decode {code:#06x}");
        assert_eq!(encode_mrc(value), code, "encode {value}");
        assert_eq!(encode_mrc_up(value), code, "encode up {value}");
    }
    // Saturation.
    assert_eq!(encode_mrc(MRC_MAX + 1), 0xffff);
    assert_eq!(encode_mrc(u32::MAX), 0xffff);
    assert_eq!(encode_mrc_up(u32::MAX), 0xffff);
}

#[test]
fn mrc_round_trip_for_all_codes() {
    let mut last = None;
    for code in 0..=u16::MAX {
        let v = decode_mrc(code);
        assert_eq!(encode_mrc(v), code, "code {code:#06x}");
        assert_eq!(encode_mrc_up(v), code, "code {code:#06x}");
        // Codes and values rise together: the next code is the next value.
        assert!(last.is_none_or(|l| v > l), "code {code:#06x}");
        last = Some(v);
    }
}

/// Every delay up to the largest and past it: rounding down gives the
/// largest representable value not above it (RFC 9777 9.8), rounding up
/// the smallest not below it.
#[test]
fn mrc_rounds_down_and_up_between_representable_values() {
    for v in (0..=MRC_MAX + 5000)
        .step_by(7)
        .chain([MRC_MAX - 1, MRC_MAX])
    {
        let down = encode_mrc(v);
        assert!(decode_mrc(down) <= v.min(MRC_MAX), "{v} down");
        if down < 0xffff {
            assert!(decode_mrc(down + 1) > v, "{v} down");
        }
        let up = encode_mrc_up(v);
        if v <= MRC_MAX {
            assert!(decode_mrc(up) >= v, "{v} up");
            if up > 0 {
                assert!(decode_mrc(up - 1) < v, "{v} up");
            }
        } else {
            assert_eq!(up, 0xffff);
        }
    }
    // 60001 ms is between 0x8d4c (60000) and 0x8d4d (60008).
    assert_eq!(encode_mrc(60001), 0x8d4c);
    assert_eq!(encode_mrc_up(60001), 0x8d4d);
    // A carry from an all-ones mantissa into the exponent: 65529 ms is
    // above 0x8fff (65528); the next code 0x9000 is 65536.
    assert_eq!(encode_mrc_up(65529), 0x9000);
    assert_eq!(encode_mrc(65535), 0x8fff);
}

#[test]
fn qqic_table() {
    for (code, value) in [
        (0x00u8, 0u32),
        (0x7d, 125),
        (0x7f, 127),
        (0x80, 128),
        (0x81, 136),
        (0x8f, 248),
        (0x90, 256),
        (0x93, 304),
        (0xf0, 16384),
        (0xff, QQIC_MAX),
    ] {
        assert_eq!(decode_qqic(code), value, "decode {code:#04x}");
        assert_eq!(encode_qqic(value), code, "encode {value}");
        assert_eq!(encode_qqic_up(value), code, "encode up {value}");
    }
    assert_eq!(encode_qqic(QQIC_MAX + 1), 0xff);
    assert_eq!(encode_qqic_up(u32::MAX), 0xff);
}

#[test]
fn qqic_round_trip_and_rounding_over_the_whole_range() {
    for code in 0..=u8::MAX {
        assert_eq!(encode_qqic(decode_qqic(code)), code, "code {code:#04x}");
        assert_eq!(encode_qqic_up(decode_qqic(code)), code, "code {code:#04x}");
    }
    for v in 0..=QQIC_MAX + 100 {
        let down = encode_qqic(v);
        assert!(decode_qqic(down) <= v.min(QQIC_MAX), "{v} down");
        if down < 0xff {
            assert!(decode_qqic(down + 1) > v, "{v} down");
        }
        let up = encode_qqic_up(v);
        if v <= QQIC_MAX {
            assert!(decode_qqic(up) >= v, "{v} up");
            if up > 0 {
                assert!(decode_qqic(up - 1) < v, "{v} up");
            }
        }
    }
    // As IGMP's QQIC: 130 s goes out as 136 s, 1000 s as 1024 s.
    assert_eq!(decode_qqic(encode_qqic_up(130)), 136);
    assert_eq!(decode_qqic(encode_qqic_up(1000)), 1024);
    assert_eq!(decode_qqic(encode_qqic(130)), 128);
}

// ===== query constructors and accessors =====

#[test]
fn v1_queries_carry_milliseconds_and_nothing_of_v2() {
    let q = Query::specific(
        QueryVersion::V1,
        Duration::from_millis(1500),
        ip("ff05::1:3"),
        true,
        2,
        Duration::from_secs(125),
        vec![ip("2001:db8::1")],
    );
    assert_eq!(q.max_resp_code, 1500);
    assert_eq!(q.max_resp_delay(), Duration::from_millis(1500));
    // RFC 2710 has no S flag, QRV, QQIC or sources.
    assert!(!q.suppress && q.qrv == 0 && q.qqic == 0 && q.sources.is_empty());
    assert_eq!(q.qqi(), Duration::ZERO);
    assert_eq!(MldPacket::Query(q).encode().len(), 24);
    // The field is 16 bits of milliseconds: 65.535 s at most.
    let long = Query::general(
        QueryVersion::V1,
        Duration::from_secs(100),
        2,
        Duration::ZERO,
    );
    assert_eq!(long.max_resp_code, u16::MAX);
    assert!(long.is_general());
}

#[test]
fn v2_query_fields_from_durations() {
    // QRV above 7 goes out as 0 (RFC 9777 5.1.8).
    let q = Query::general(
        QueryVersion::V2,
        Duration::from_millis(10_500),
        8,
        Duration::from_secs(125),
    );
    assert_eq!((q.max_resp_code, q.qrv, q.qqic), (10_500, 0, 125));
    // A delay past the largest code saturates; sub-millisecond parts are
    // dropped.
    let q = Query::general(
        QueryVersion::V2,
        Duration::from_secs(3 * 3600),
        7,
        Duration::from_secs(100_000),
    );
    assert_eq!((q.max_resp_code, q.qrv, q.qqic), (0xffff, 7, 0xff));
    assert_eq!(
        q.max_resp_delay(),
        Duration::from_millis(u64::from(MRC_MAX))
    );
    assert_eq!(q.qqi(), Duration::from_secs(u64::from(QQIC_MAX)));
    let q = Query::general(
        QueryVersion::V2,
        Duration::from_micros(999),
        2,
        Duration::from_millis(125_999),
    );
    assert_eq!((q.max_resp_code, q.qqic), (0, 125));
    // A query's S flag and QRV survive encoding; QRV 7 fills its bits.
    let q = v2_query(0x8000, "ff05::1", true, 7, 0xff, &[]);
    let b = MldPacket::Query(q.clone()).encode();
    assert_eq!(b[24], 0x0f);
    assert_eq!(decode(&b), Ok(MldPacket::Query(q)));
}
