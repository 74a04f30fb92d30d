//! The data of the replies the daemon composes itself, beside the router's
//! views ([`crate::core::status`]): what only the I/O layer counts, the
//! kernel's interface counters, `ping` and `log`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::core::status::{CounterView, InterfaceCountersView};

/// What the daemon's I/O layer counts (the router never sees these).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IoCounters {
    /// Packets the kernel dropped because the routing socket's receive
    /// queue was full (`SO_RXQ_OVFL`).
    pub kernel_rx_drops: u64,
    /// Times netlink notifications were lost and interfaces re-read.
    pub netlink_resyncs: u64,
    /// Kernel upcalls: a flow without a forwarding entry (`NOCACHE`).
    pub upcalls_nocache: u64,
    /// Kernel upcalls of other kinds (ignored).
    pub upcalls_other: u64,
    /// Datagrams on the routing socket that could not be read (truncated,
    /// not IPv4 or IGMP, an upcall for a destination that is no group).
    pub rx_malformed: u64,
    /// IGMP messages the kernel refused to send.
    pub igmp_tx_errors: u64,
}

impl IoCounters {
    /// Name and value of each counter, in declaration order.
    pub fn entries(&self) -> [(&'static str, u64); 6] {
        [
            ("kernel_rx_drops", self.kernel_rx_drops),
            ("netlink_resyncs", self.netlink_resyncs),
            ("upcalls_nocache", self.upcalls_nocache),
            ("upcalls_other", self.upcalls_other),
            ("rx_malformed", self.rx_malformed),
            ("igmp_tx_errors", self.igmp_tx_errors),
        ]
    }
}

/// The kernel's counters of one VIF (`SIOCGETVIFCNT`): packets of flows
/// that arrived on it through a forwarding entry, and packets forwarded
/// out of it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VifCounters {
    pub in_packets: u64,
    pub in_bytes: u64,
    pub out_packets: u64,
    pub out_bytes: u64,
}

impl VifCounters {
    /// Name and value of each counter, in declaration order.
    pub fn entries(&self) -> [(&'static str, u64); 4] {
        [
            ("in_packets", self.in_packets),
            ("in_bytes", self.in_bytes),
            ("out_packets", self.out_packets),
            ("out_bytes", self.out_bytes),
        ]
    }
}

/// One interface in `show counters`: the router's view plus its VIF's
/// kernel counters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceCounters {
    #[serde(flatten)]
    pub view: InterfaceCountersView,
    /// `None` without a VIF (or when the kernel could not be asked).
    pub forwarded: Option<VifCounters>,
}

/// The reply to `show-counters`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountersReply {
    pub router: CounterView,
    pub io: IoCounters,
    pub interfaces: Vec<InterfaceCounters>,
}

/// The reply to `ping`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PingReply {
    pub version: String,
    pub pid: u32,
    /// The router's counters and the I/O layer's, by name.
    pub counters: BTreeMap<String, u64>,
}

/// The reply to `log`: the log filter now in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogReply {
    /// As `RUST_LOG` would write it, e.g. `info,mgmd::core=debug`.
    pub filter: String,
}
