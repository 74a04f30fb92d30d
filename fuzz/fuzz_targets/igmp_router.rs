//! One interface's IGMP router fed a sequence of received messages, with
//! time passing and timers firing in between.
//!
//! Input (see `fuzz/README.md`): one settings byte, then records of
//! `[how] [wait] [len] [len bytes of IGMP payload]`:
//!
//! - settings: bits 0-1 version (0 = 3), bit 2 not querier, bit 3
//!   immediate leave, bit 4 require Router Alert, bit 5 no source-subnet
//!   check, bit 6 caps of 3 groups and 3 sources per group;
//! - `how`: bits 0-1 destination (224.0.0.22, 224.0.0.1, 224.0.0.2, or
//!   the payload's group field), bits 2-4 sender (0.0.0.0, 10.0.0.1..=5
//!   where .5 is the router itself and .1 wins the election, 10.0.0.200,
//!   192.0.2.1 off the subnet), bit 5 TTL 2 instead of 1, bit 6 no Router
//!   Alert, bit 7 keep the checksum as it is (else it is made valid);
//! - `wait`: tenths of a second of time passing before the message, during
//!   which every due timer fires.
//!
//! Checked after every step: the membership Up/Down actions are exactly
//! the changes of `memberships()` (the group manager only sees the
//! deltas), and after the timers due at `now` ran, the next deadline lies
//! in the future (else the daemon's loop would spin).
#![no_main]

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use mgmd::core::igmp::packet;
use mgmd::core::igmp::{IgmpAction, IgmpEvent, IgmpIfConfig, IgmpRouter, IgmpVersion};
use mgmd::core::types::MembershipKey;

const ME: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 5);

struct Harness {
    r: IgmpRouter,
    now: Instant,
    view: BTreeSet<MembershipKey>,
}

impl Harness {
    fn step(&mut self, ev: IgmpEvent) {
        for a in self.r.handle(self.now, ev) {
            match a {
                IgmpAction::MembershipUp(k) => {
                    assert!(self.view.insert(k), "Up for a key already up: {k:?}");
                }
                IgmpAction::MembershipDown(k) => {
                    assert!(self.view.remove(&k), "Down for a key not up: {k:?}");
                }
                IgmpAction::Send { payload, .. } => {
                    packet::decode(&payload).expect("the router sends what it can decode");
                }
                IgmpAction::Log(_) => {}
            }
        }
        let model: BTreeSet<MembershipKey> = self.r.memberships().into_iter().collect();
        assert_eq!(self.view, model, "Up/Down deltas differ from memberships()");
    }

    /// Let `d` pass, firing every timer that falls due on the way, as the
    /// daemon's loop does.
    fn wait(&mut self, d: Duration) {
        let until = self.now + d;
        // Each round moves time forward or ends the wait; the cap only
        // catches a deadline that never moves.
        for _ in 0..100_000 {
            match self.r.next_deadline() {
                Some(t) if t <= until => {
                    self.now = self.now.max(t);
                    self.step(IgmpEvent::Timer);
                    if let Some(next) = self.r.next_deadline() {
                        assert!(next > self.now, "deadline did not move after Timer");
                    }
                }
                _ => {
                    self.now = until;
                    return;
                }
            }
        }
        panic!("timers keep firing without time passing");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&settings, mut rest)) = data.split_first() else {
        return;
    };
    let t0 = Instant::now();
    let mut h = Harness {
        r: IgmpRouter::new(config(settings), Some(ME), t0),
        now: t0,
        view: BTreeSet::new(),
    };
    h.step(IgmpEvent::SubnetsChanged(vec![
        "10.0.0.0/24".parse().expect("literal"),
    ]));
    while let [how, wait, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (payload, next) = tail.split_at(n);
        rest = next;
        h.wait(Duration::from_millis(100 * u64::from(*wait)));
        let mut payload = payload.to_vec();
        if how & 0x80 == 0 && payload.len() >= 4 {
            payload[2..4].fill(0);
            let ck = packet::checksum(&payload);
            payload[2..4].copy_from_slice(&ck.to_be_bytes());
        }
        let dst = match how & 0x03 {
            0 => Ipv4Addr::new(224, 0, 0, 22),
            1 => Ipv4Addr::new(224, 0, 0, 1),
            2 => Ipv4Addr::new(224, 0, 0, 2),
            _ => payload.get(4..8).map_or(Ipv4Addr::UNSPECIFIED, |b| {
                Ipv4Addr::new(b[0], b[1], b[2], b[3])
            }),
        };
        let src = match (how >> 2) & 0x07 {
            0 => Ipv4Addr::UNSPECIFIED,
            n @ 1..=5 => Ipv4Addr::new(10, 0, 0, n),
            6 => Ipv4Addr::new(10, 0, 0, 200),
            _ => Ipv4Addr::new(192, 0, 2, 1),
        };
        h.step(IgmpEvent::Rx {
            src,
            dst,
            ttl: if how & 0x20 != 0 { 2 } else { 1 },
            router_alert: how & 0x40 == 0,
            payload,
        });
    }
    // Ten minutes more: the group, host-compatibility and querier timers
    // of the settings used run out.
    h.wait(Duration::from_secs(600));
    let _ = h.r.status(h.now);
    h.step(IgmpEvent::Stop);
    assert!(
        h.view.is_empty(),
        "memberships left after Stop: {:?}",
        h.view
    );
});

fn config(settings: u8) -> IgmpIfConfig {
    let mut c = IgmpIfConfig {
        version: match settings & 0x03 {
            1 => IgmpVersion::V1,
            2 => IgmpVersion::V2,
            _ => IgmpVersion::V3,
        },
        querier: settings & 0x04 == 0,
        immediate_leave: settings & 0x08 != 0,
        require_router_alert: settings & 0x10 != 0,
        check_source_subnet: settings & 0x20 == 0,
        ..IgmpIfConfig::default()
    };
    if settings & 0x40 != 0 {
        c.max_groups = Some(3);
        c.max_sources_per_group = Some(3);
    }
    // Short timers, so that a few seconds of waiting reach them.
    c.query_interval = Duration::from_secs(10);
    c.query_response_interval = Duration::from_secs(2);
    c.startup_query_interval = Duration::from_secs(2);
    c.last_member_query_interval = Duration::from_millis(500);
    c
}
