//! What the router is told: every [`Input`] it acts on, as data. The
//! daemon turns sockets, timers and control requests into inputs;
//! `mgmd --record` writes them down and `mgmd replay` feeds them again.

use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

use crate::core::control::Command;
use crate::core::iface::{AddrFact, LinkFact};
use crate::core::mroute::{KernelTable, MrtAction};
use crate::core::snapshot::Restore;
use crate::core::types::{FlowKey, IfIndex, VifIndex, hex_bytes};

/// Packet and byte counters of one kernel forwarding entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowCounters {
    pub packets: u64,
    pub bytes: u64,
    pub wrong_if: u64,
}

/// What the I/O layer and the operator tell the router.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Input {
    /// A link was added or changed.
    Link(LinkFact),
    /// A link was deleted.
    LinkGone {
        ifindex: IfIndex,
    },
    AddrAdded(AddrFact),
    AddrRemoved(AddrFact),
    /// A full dump (start-up, or after the netlink socket overflowed).
    Snapshot {
        links: Vec<LinkFact>,
        addrs: Vec<AddrFact>,
    },
    /// An IGMP message received on `ifindex`.
    IgmpRx {
        ifindex: IfIndex,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        ttl: u8,
        router_alert: bool,
        #[serde(with = "hex_bytes")]
        payload: Vec<u8>,
    },
    /// The kernel has no entry for a flow (NOCACHE upcall) that arrived
    /// on VIF `vif`, with the unicast route towards the source as the I/O
    /// layer answered it (a fresh lookup or one it cached: what the router
    /// acts on is what is recorded). The router finds the interface of the
    /// VIF; an upcall for a VIF it has no interface for (deleted while the
    /// packet was queued) is counted and ignored.
    NewFlow {
        flow: FlowKey,
        vif: VifIndex,
        rpf: Option<IfIndex>,
        upstream: Option<IpAddr>,
    },
    /// The unicast route towards `source` changed (a new lookup after a
    /// route change): its flows are decided again at once.
    RpfChanged {
        source: IpAddr,
        rpf: Option<IfIndex>,
        upstream: Option<IpAddr>,
    },
    /// Counters read back from the kernel.
    Counters(Vec<(FlowKey, FlowCounters)>),
    /// The kernel refused an action: it is forgotten, so the next commit
    /// tries again. Commits nothing itself, so a refusal that repeats
    /// cannot loop.
    KernelRejected {
        action: MrtAction,
        error: String,
    },
    /// A request of the operator (`mgmctl`), answered by an
    /// [`crate::core::output::Output::Reply`].
    Command(Command),
    /// `now` reached [`crate::core::router::Router::next_deadline`].
    Timer,
    /// Remove everything installed in the kernel: the daemon stops.
    Shutdown,
    /// Receive drop counters read from the kernel (sent when one changed):
    /// per interface the sum of its counters of input it dropped
    /// (`rx_dropped`, `rx_missed_errors`, `rx_fifo_errors`,
    /// `rx_over_errors`), and the routing socket's overflow count
    /// (`SO_RXQ_OVFL`). Growth means IGMP reports may have been lost.
    InputDrops {
        interfaces: Vec<(IfIndex, u64)>,
        socket: u64,
    },
    /// The kernel's multicast routing table as read back (the periodic
    /// audit, with the kernel writer drained first): every difference from
    /// what the router believes it programmed is logged and repaired.
    KernelAudit(Box<KernelTable>),
    /// The state a previous process handed over (read at start, before
    /// the first full dump of the interfaces): groups and flows are taken
    /// over once the interfaces are known, the kernel's table at once.
    Restore(Box<Restore>),
}
