//! The IGMP messages sent to the link-local groups (224.0.0.1 all systems:
//! other queriers' queries; 224.0.0.2 all routers: IGMPv2 leaves;
//! 224.0.0.22 all IGMPv3 routers: IGMPv3 reports), read from one raw IGMP
//! socket per interface IGMP listens on.
//!
//! The host delivers a packet to such a group to a raw socket only if the
//! socket itself joined the group on that interface (`IP_MULTICAST_ALL` is
//! off: the groups other sockets joined stay theirs). A socket holds at
//! most `net.ipv4.igmp_max_memberships` memberships (20 by default, often
//! not writable under a service manager), and three per interface on the
//! multicast routing socket would stop at six interfaces; a socket per
//! interface needs three whatever the number of interfaces (up to the 32
//! VIFs of a table). IGMP sent to other groups (IGMPv1/v2 reports, to the
//! group reported) still reaches the multicast routing socket
//! ([`crate::io::mrt`]), which the kernel gives every IGMP message it
//! would otherwise not deliver.
//!
//! A socket keeps only multicast destinations (a BPF filter): unicast IGMP
//! to the router's address reaches every raw IGMP socket and is read from
//! the multicast routing socket alone.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::Ordering;

use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockFilter, Socket, Type};
use tokio::io::unix::AsyncFd;

use crate::core::types::{GroupAddr, IfIndex};
use crate::io::mrt::{self, MrtRx};
use crate::io::sys;

/// The groups joined on every interface IGMP listens on.
pub const GROUPS: [GroupAddr; 3] = [
    GroupAddr::ALL_V3_ROUTERS,
    GroupAddr::ALL_ROUTERS,
    GroupAddr::ALL_SYSTEMS,
];

/// BPF over the IP header: accept a packet whose destination (offset 16)
/// is in 224.0.0.0/4, drop any other.
const MULTICAST_ONLY: [SockFilter; 4] = [
    // ld [16]
    SockFilter::new(0x20, 0, 0, 16),
    // jge #0xe0000000 (jt: next, jf: drop)
    SockFilter::new(0x35, 0, 1, 0xe000_0000),
    // ret #65535 (the whole packet)
    SockFilter::new(0x06, 0, 0, 0xffff),
    // ret #0
    SockFilter::new(0x06, 0, 0, 0),
];

// ===== Listener =====

/// One interface's socket.
#[derive(Debug)]
pub(crate) struct Listener {
    sock: Socket,
    /// Overflows the kernel reported on it (`SO_RXQ_OVFL`).
    drops: std::sync::atomic::AtomicU32,
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

impl AsRawFd for Listener {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

impl Listener {
    fn open(ifindex: IfIndex) -> io::Result<Listener> {
        let sock = Socket::new(
            Domain::IPV4,
            Type::RAW,
            Some(Protocol::from(libc::IPPROTO_IGMP)),
        )?;
        sock.set_nonblocking(true)?;
        sock.set_multicast_all_v4(false)?;
        sock.set_multicast_loop_v4(false)?;
        sock.attach_filter(&MULTICAST_ONLY)?;
        mrt::configure_igmp_rx(sock.as_fd())?;
        for group in GROUPS {
            sock.join_multicast_v4_n(&group.addr(), &InterfaceIndexOrAddress::Index(ifindex.0))?;
        }
        Ok(Listener {
            sock,
            drops: std::sync::atomic::AtomicU32::new(0),
        })
    }
}

// ===== IgmpListeners =====

/// The sockets of the interfaces IGMP listens on.
#[derive(Default)]
pub struct IgmpListeners {
    socks: BTreeMap<IfIndex, AsyncFd<Listener>>,
    /// Overflows counted by sockets since closed (the total never goes back).
    retired_drops: u64,
}

impl IgmpListeners {
    pub fn new() -> IgmpListeners {
        IgmpListeners::default()
    }

    /// Starts (`on`) or stops receiving the link-local groups on
    /// `ifindex`. Starting twice is not an error. Must be called inside a
    /// tokio runtime.
    pub fn listen(&mut self, ifindex: IfIndex, on: bool) -> io::Result<()> {
        if !on {
            if let Some(l) = self.socks.remove(&ifindex) {
                // Closing the socket leaves its groups.
                self.retired_drops += u64::from(l.get_ref().drops.load(Ordering::Relaxed));
            }
            return Ok(());
        }
        if self.socks.contains_key(&ifindex) {
            return Ok(());
        }
        let l = sys::async_fd(Listener::open(ifindex)?)?;
        self.socks.insert(ifindex, l);
        Ok(())
    }

    /// The interfaces listened on.
    pub fn interfaces(&self) -> impl Iterator<Item = IfIndex> + '_ {
        self.socks.keys().copied()
    }

    /// Messages the kernel dropped because a socket's queue was full, over
    /// every socket this set ever had.
    pub fn drops(&self) -> u64 {
        self.retired_drops
            + self
                .socks
                .values()
                .map(|l| u64::from(l.get_ref().drops.load(Ordering::Relaxed)))
                .sum::<u64>()
    }

    /// Waits until one of the sockets has input, then drains up to `max`
    /// messages from the sockets that have some. Never returns an empty
    /// batch; waits forever while no interface is listened on.
    /// Cancel-safe: nothing is read before the wait is over.
    pub async fn recv_batch(&self, max: usize) -> io::Result<Vec<MrtRx>> {
        if self.socks.is_empty() {
            return std::future::pending().await;
        }
        let mut buf = vec![0u8; mrt::RX_BUF_BYTES];
        loop {
            let ready = self.socks.values().map(|l| Box::pin(l.readable()));
            let (guard, _, _) = futures::future::select_all(ready).await;
            let mut guard = guard?;
            let mut out = Vec::new();
            // The socket that woke us, then any other with input waiting.
            let first = guard.get_inner();
            let drained = drain(first, &mut buf, max, &mut out)?;
            if drained {
                guard.clear_ready();
            }
            for l in self.socks.values() {
                if out.len() >= max {
                    break;
                }
                if std::ptr::eq(l.get_ref(), first) {
                    continue;
                }
                drain(l.get_ref(), &mut buf, max, &mut out)?;
            }
            if !out.is_empty() {
                return Ok(out);
            }
        }
    }
}

/// Reads `l` until its queue is empty (returns true) or `out` holds `max`
/// messages (false). Messages whose arrival interface or destination is
/// not one the socket joined are dropped (the filter lets any multicast
/// destination through: a group another socket of the host joined).
fn drain(l: &Listener, buf: &mut [u8], max: usize, out: &mut Vec<MrtRx>) -> io::Result<bool> {
    while out.len() < max {
        match mrt::recv_igmp(l.sock.as_fd(), buf, &l.drops) {
            Ok(MrtRx::Igmp(p)) if !GROUPS.iter().any(|g| g.addr() == p.dst) => {}
            Ok(rx) => out.push(rx),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if out.is_empty() => return Err(e),
            Err(_) => return Ok(true),
        }
    }
    Ok(false)
}
