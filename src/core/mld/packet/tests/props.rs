//! Properties: any message round-trips through the wire, with and without
//! its checksum; no input panics the decoder.

use proptest::prelude::*;

use super::*;

fn arb_addr() -> impl Strategy<Value = Ipv6Addr> {
    any::<u128>().prop_map(Ipv6Addr::from)
}

fn arb_packet() -> impl Strategy<Value = MldPacket> {
    let v1q = (any::<u16>(), arb_addr()).prop_map(|(c, g)| {
        MldPacket::Query(Query {
            version: QueryVersion::V1,
            max_resp_code: c,
            group: g,
            suppress: false,
            qrv: 0,
            qqic: 0,
            sources: vec![],
        })
    });
    let v2q = (
        any::<u16>(),
        arb_addr(),
        any::<bool>(),
        0u8..8,
        any::<u8>(),
        prop::collection::vec(arb_addr(), 0..12),
    )
        .prop_map(|(c, g, s, qrv, qqic, sources)| {
            MldPacket::Query(Query {
                version: QueryVersion::V2,
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
        prop::collection::vec(arb_addr(), 0..6),
    )
        .prop_map(|(t, group, sources)| AddressRecord {
            record_type: RecordType::from_u8(t),
            group,
            sources,
        });
    prop_oneof![
        v1q,
        v2q,
        arb_addr().prop_map(|group| MldPacket::V1Report { group }),
        arb_addr().prop_map(|group| MldPacket::V1Done { group }),
        prop::collection::vec(rec, 0..8).prop_map(|records| MldPacket::V2Report { records }),
    ]
}

proptest! {
    #[test]
    fn round_trip(pkt in arb_packet(), src in arb_addr(), dst in arb_addr()) {
        let bytes = pkt.encode();
        prop_assert_eq!(decode(&bytes), Ok(pkt.clone()));
        let wire = pkt.encode_with_checksum(src, dst);
        prop_assert!(verify(src, dst, &wire));
        prop_assert_eq!(MldPacket::decode_verified(src, dst, &wire), Ok(pkt));
    }

    #[test]
    fn decode_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode(&bytes);
        let _ = MldPacket::decode_verified(Ipv6Addr::UNSPECIFIED, ALL_NODES, &bytes);
    }

    /// Bytes of an MLD type with a valid checksum get past the checksum
    /// and exercise the parsers; whatever decodes re-encodes to something
    /// that decodes the same.
    #[test]
    fn decode_never_panics_with_valid_checksum(
        ty in prop::sample::select(vec![TYPE_QUERY, TYPE_V1_REPORT, TYPE_V1_DONE, TYPE_V2_REPORT]),
        mut bytes in prop::collection::vec(any::<u8>(), 4..300),
        src in arb_addr(),
        dst in arb_addr(),
    ) {
        bytes[0] = ty;
        bytes[2..4].fill(0);
        let c = checksum(src, dst, &bytes);
        bytes[2..4].copy_from_slice(&c.to_be_bytes());
        if let Ok(p) = MldPacket::decode_verified(src, dst, &bytes) {
            prop_assert_eq!(decode(&bytes), Ok(p.clone()));
            prop_assert_eq!(decode(&p.encode()), Ok(p));
        }
    }
}
