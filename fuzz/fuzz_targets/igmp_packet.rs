//! The IGMP decoder, and one message through a router's receive path.
//!
//! Input: one IGMP payload (what follows the IP header), as captured.
//! No input may panic; whatever decodes re-encodes to bytes that decode
//! to the same message. Each input is tried as it is and with its
//! checksum made valid: the checksum guards every deeper path and random
//! mutation rarely gets it right.
#![no_main]

use std::net::Ipv4Addr;
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use mgmd::core::igmp::packet::{self, IgmpPacket};
use mgmd::core::igmp::{IgmpEvent, IgmpIfConfig, IgmpRouter};

fuzz_target!(|data: &[u8]| {
    decode_round_trip(data);
    if data.len() < 4 {
        return;
    }
    let mut fixed = data.to_vec();
    fixed[2..4].fill(0);
    let ck = packet::checksum(&fixed);
    fixed[2..4].copy_from_slice(&ck.to_be_bytes());
    if let Some(p) = decode_round_trip(&fixed) {
        receive(&fixed, &p);
    }
});

fn decode_round_trip(data: &[u8]) -> Option<IgmpPacket> {
    match packet::decode(data) {
        Ok(p) => {
            let bytes = p.encode();
            assert_eq!(
                packet::checksum(&bytes),
                0,
                "encoded checksum invalid: {p:?}"
            );
            assert_eq!(packet::decode(&bytes).as_ref(), Ok(&p), "round trip");
            let _ = p.kind();
            if let IgmpPacket::Query(q) = &p {
                let _ = (q.max_resp_time(), q.qqi(), q.is_general());
            }
            Some(p)
        }
        Err(e) => {
            let _ = e.reason();
            None
        }
    }
}

/// The decoded message as a router on 10.0.0.1/24 receives it, from a
/// host on its subnet, sent to where the message's kind goes.
fn receive(payload: &[u8], p: &IgmpPacket) {
    let now = Instant::now();
    let me = Ipv4Addr::new(10, 0, 0, 1);
    let mut r = IgmpRouter::new(IgmpIfConfig::default(), Some(me), now);
    r.handle(
        now,
        IgmpEvent::SubnetsChanged(vec!["10.0.0.0/24".parse().expect("literal")]),
    );
    let dst = match p {
        IgmpPacket::Query(q) if q.is_general() => Ipv4Addr::new(224, 0, 0, 1),
        IgmpPacket::Query(q) => q.group,
        IgmpPacket::V1Report { group } | IgmpPacket::V2Report { group } => *group,
        IgmpPacket::V2Leave { .. } => Ipv4Addr::new(224, 0, 0, 2),
        IgmpPacket::V3Report { .. } => Ipv4Addr::new(224, 0, 0, 22),
    };
    r.handle(
        now,
        IgmpEvent::Rx {
            src: Ipv4Addr::new(10, 0, 0, 2),
            dst,
            ttl: 1,
            router_alert: true,
            payload: payload.to_vec(),
        },
    );
    let _ = r.status(now);
}
