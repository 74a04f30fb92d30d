//! The MLD decoder and the receive checks.
//!
//! Input: one MLD payload (what follows the IPv6 header and its extension
//! headers), as captured. No input may panic; whatever decodes re-encodes
//! to bytes that decode to the same message, and with its checksum to
//! bytes that pass the check. Each input is tried as it is (the kernel has
//! checked the checksum on a raw ICMPv6 socket) and against the checksum
//! for the addresses it travels between, once as sent and once with the
//! checksum made valid: random mutation rarely gets it right.
#![no_main]

use std::net::Ipv6Addr;

use libfuzzer_sys::fuzz_target;
use mgmd::core::mld::check::{self, Reject};
use mgmd::core::mld::packet::{self, DecodeError, MldPacket};

/// A host's link-local address, where every message comes from.
const HOST: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);

fuzz_target!(|data: &[u8]| {
    let plain = decode_round_trip(data);
    let dst = plain
        .as_ref()
        .map_or(packet::ALL_MLDV2_ROUTERS, destination);
    let verified = MldPacket::decode_verified(HOST, dst, data);
    if let Ok(p) = &verified {
        // A checksum that verifies changes nothing of the decoding.
        assert_eq!(plain.as_ref(), Some(p), "verified decode differs");
    }
    if let Err(e) = &verified {
        note_error(e);
    }
    if data.len() < 4 {
        return;
    }
    let mut fixed = data.to_vec();
    fixed[2..4].fill(0);
    let ck = packet::checksum(HOST, dst, &fixed);
    fixed[2..4].copy_from_slice(&ck.to_be_bytes());
    match MldPacket::decode_verified(HOST, dst, &fixed) {
        Ok(p) => {
            // The checksum field is not part of the message's value.
            assert_eq!(plain.as_ref(), Some(&p), "fixed checksum decode differs");
            receive(&p);
        }
        Err(e) => {
            // Only the checksum was wrong: now it is right.
            assert_ne!(e, DecodeError::BadChecksum, "checksum made valid");
            note_error(&e);
        }
    }
});

fn decode_round_trip(data: &[u8]) -> Option<MldPacket> {
    match packet::decode(data) {
        Ok(p) => {
            let bytes = p.encode();
            assert_eq!(packet::decode(&bytes).as_ref(), Ok(&p), "round trip");
            let dst = destination(&p);
            let wire = p.encode_with_checksum(HOST, dst);
            assert!(packet::verify(HOST, dst, &wire), "encoded checksum: {p:?}");
            assert_eq!(
                MldPacket::decode_verified(HOST, dst, &wire).as_ref(),
                Ok(&p),
                "verified round trip"
            );
            let _ = p.kind();
            if let MldPacket::Query(q) = &p {
                let _ = (q.max_resp_delay(), q.qqi(), q.is_general());
            }
            Some(p)
        }
        Err(e) => {
            note_error(&e);
            None
        }
    }
}

fn note_error(e: &DecodeError) {
    let _ = (e.reason(), e.is_malformed(), e.to_string());
}

/// Where the message's kind is sent (RFC 9777 5.1.15, 5.2.15; RFC 2710 5).
fn destination(p: &MldPacket) -> Ipv6Addr {
    match p {
        MldPacket::Query(q) if q.is_general() => packet::ALL_NODES,
        MldPacket::Query(q) => q.group,
        MldPacket::V1Report { group } => *group,
        MldPacket::V1Done { .. } => packet::ALL_ROUTERS,
        MldPacket::V2Report { .. } => packet::ALL_MLDV2_ROUTERS,
    }
}

/// What a router asks of the decoded message: the header checks with a
/// good header and a few bad ones, and the group checks on every
/// Multicast Address field.
fn receive(p: &MldPacket) {
    assert_eq!(check::check_ip(HOST, 1, true), Ok(()));
    for (src, hop, ra) in [
        (Ipv6Addr::UNSPECIFIED, 1, true),
        (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2), 1, true),
        (HOST, 255, true),
        (HOST, 1, false),
    ] {
        let r: Reject = check::check_ip(src, hop, ra).expect_err("a check fails");
        let _ = (r.reason(), r.warrants_warning(p), r.to_string());
    }
    let groups: Vec<Ipv6Addr> = match p {
        MldPacket::Query(q) => vec![q.group],
        MldPacket::V1Report { group } | MldPacket::V1Done { group } => vec![*group],
        MldPacket::V2Report { records } => records.iter().map(|r| r.group).collect(),
    };
    for g in groups {
        match check::check_group(g) {
            Ok(()) => assert!(check::is_multicast(g) && g != packet::ALL_NODES),
            Err(e) => {
                let _ = (e.reason(), e.to_string());
            }
        }
    }
    if let MldPacket::V2Report { records } = p {
        for r in records {
            let _ = (r.record_type.is_known(), r.record_type.to_string());
            let _ = r.sources.iter().filter(|s| check::is_unicast(**s)).count();
        }
    }
}
