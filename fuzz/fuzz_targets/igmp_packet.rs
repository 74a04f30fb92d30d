//! Fuzz the IGMP decoder, and the router's receive path with it: no
//! input may panic, and whatever decodes must re-encode to a message
//! that decodes the same.
#![no_main]

use std::net::Ipv4Addr;
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use mgmd::core::igmp::packet;
use mgmd::core::igmp::{IgmpEvent, IgmpIfConfig, IgmpRouter};

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = packet::decode(data) {
        let again = packet::decode(&p.encode());
        assert_eq!(again.as_ref(), Ok(&p));
    }
    let now = Instant::now();
    let mut r = IgmpRouter::new(IgmpIfConfig::default(), Some(Ipv4Addr::new(10, 0, 0, 1)), now);
    let dst = data
        .get(4..8)
        .map(|b| Ipv4Addr::new(b[0], b[1], b[2], b[3]))
        .unwrap_or(Ipv4Addr::new(224, 0, 0, 22));
    r.handle(
        now,
        IgmpEvent::Rx {
            src: Ipv4Addr::UNSPECIFIED,
            dst,
            ttl: 1,
            router_alert: true,
            payload: data.to_vec(),
        },
    );
});
