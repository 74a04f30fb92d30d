//! What the router asks of the world: every [`Output`], in order. The
//! daemon carries them out; `mgmd replay` prints them.

use std::net::Ipv4Addr;

use serde::Serialize;

use crate::core::control::Answer;
use crate::core::event::Event;
use crate::core::filter::HostFilter;
use crate::core::mroute::MrtAction;
use crate::core::types::{GroupAddr, IfIndex, hex_bytes};

/// What the router asks the I/O layer to do, in order.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Output {
    /// Change the kernel's multicast routing table.
    Mrt(MrtAction),
    /// Send an IGMP message (payload only: the I/O adds the IP header with
    /// TTL 1 and Router Alert).
    SendIgmp {
        ifindex: IfIndex,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        #[serde(with = "hex_bytes")]
        payload: Vec<u8>,
    },
    /// Start/stop receiving IGMP on an interface (join 224.0.0.22,
    /// 224.0.0.2 and 224.0.0.1 on the receive socket).
    ListenIgmp { ifindex: IfIndex, on: bool },
    /// Host-side membership of this box (proxy upstream, static joins),
    /// made from `local`, the interface's primary address when it has
    /// one (a source-specific join names it).
    HostMembership {
        ifindex: IfIndex,
        group: GroupAddr,
        filter: HostFilter,
        local: Option<Ipv4Addr>,
    },
    /// Something happened (logged, streamed to `mgmctl events`).
    Event(Event),
    /// The answer to an [`crate::core::input::Input::Command`].
    Reply(Result<Answer, String>),
}
