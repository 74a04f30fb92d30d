//! The multicast routing socket: the raw IGMP socket on which `MRT_INIT` makes
//! mgmd the owner of the kernel's IPv4 multicast routing table.
//!
//! One socket per (network namespace, table) can own the table; the kernel
//! answers a second `MRT_INIT` with `EADDRINUSE` ([`MrtError::AlreadyInUse`]).
//! The same socket carries the kernel's upcalls (`IGMPMSG_NOCACHE`; mgmd
//! leaves `MRT_ASSERT` off, so no `IGMPMSG_WRONGVIF`) and IGMP packets, including IGMPv2 reports, which
//! reach only this socket and only on interfaces that are VIFs.
//!
//! Closing the socket (dropping [`MrtSocket`]) makes the kernel delete every
//! non-static VIF and MFC entry of the table at once, even after a crash:
//! forwarding stops and `mc_forwarding` drops to 0. Never reopen the socket to
//! reset state; use [`MrtSocket::flush`].

use std::collections::BTreeMap;
use std::io::{self, IoSliceMut};
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrIn, recvmsg, setsockopt, sockopt};
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, Socket, Type};
use tokio::io::unix::AsyncFd;

use crate::core::mroute::MrtAction;
use crate::core::types::{FlowKey, GroupAddr, IfIndex, MAXVIFS, VifIndex, VifSet, ipv4_of};
use crate::io::sys;

/// Receive buffer asked for: room for a burst of several thousand reports.
const RCVBUF_BYTES: usize = 4 << 20;
/// Largest datagram we read (an IP packet cannot be larger).
const RX_BUF_BYTES: usize = 65536;

// ===== MrtError =====

#[derive(Debug, thiserror::Error)]
pub enum MrtError {
    #[error(
        "another multicast routing daemon (e.g. smcroute, pimd, igmpproxy, or another mgmd) already owns the multicast routing table{}",
        table_suffix(*.table)
    )]
    AlreadyInUse { table: Option<u32> },
    #[error("permission denied to {op}: {needs}")]
    Permission {
        op: &'static str,
        needs: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("failed to {op}: {source}")]
    Socket {
        op: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("failed to {action}: {reason}")]
    Action {
        action: MrtAction,
        errno: i32,
        reason: String,
    },
}

impl MrtError {
    /// The errno of the failing call, if there was one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            MrtError::AlreadyInUse { .. } => Some(libc::EADDRINUSE),
            MrtError::Permission { source, .. } | MrtError::Socket { source, .. } => {
                source.raw_os_error()
            }
            MrtError::Action { errno, .. } => Some(*errno),
        }
    }
}

fn table_suffix(table: Option<u32>) -> String {
    match table {
        Some(t) => format!(" {t}"),
        None => String::new(),
    }
}

// ===== received messages =====

/// What one read from the multicast routing socket produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MrtRx {
    Upcall(Upcall),
    Igmp(IgmpRx),
    Malformed(&'static str),
}

/// A kernel upcall (`struct igmpmsg`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Upcall {
    pub kind: UpcallKind,
    /// The VIF the packet arrived on.
    pub vif: VifIndex,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpcallKind {
    /// No MFC entry for (src, dst): the packet is queued until one is added.
    NoCache,
    WholePkt,
    WrVifWhole,
    Other(u8),
}

impl From<u8> for UpcallKind {
    fn from(v: u8) -> Self {
        match v {
            sys::IGMPMSG_NOCACHE => UpcallKind::NoCache,
            sys::IGMPMSG_WHOLEPKT => UpcallKind::WholePkt,
            sys::IGMPMSG_WRVIFWHOLE => UpcallKind::WrVifWhole,
            other => UpcallKind::Other(other),
        }
    }
}

/// A received IGMP packet, IP header parsed off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IgmpRx {
    /// The interface it arrived on (`IP_PKTINFO`).
    pub ifindex: IfIndex,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ttl: u8,
    /// The IP header carried the Router Alert option.
    pub router_alert: bool,
    /// The IGMP message (the IP payload).
    pub payload: Vec<u8>,
}

/// Counters of one (S,G) entry (`SIOCGETSGCNT`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SgCount {
    pub packets: u64,
    pub bytes: u64,
    pub wrong_if: u64,
}

/// Counters of one VIF (`SIOCGETVIFCNT`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VifCount {
    pub in_packets: u64,
    pub out_packets: u64,
    pub in_bytes: u64,
    pub out_bytes: u64,
}

// ===== MrtSocket =====

/// The owning multicast routing socket. Non-blocking; wrap it in
/// [`AsyncMrtSocket`] (or `tokio::io::unix::AsyncFd`) to wait for input.
#[derive(Debug)]
pub struct MrtSocket {
    sock: Socket,
    table: Option<u32>,
    /// Packets the kernel dropped because the receive queue was full, as last
    /// reported by `SO_RXQ_OVFL`.
    drops: AtomicU32,
    /// Per interface, the socket holding the memberships IGMP needs there
    /// ([`MrtSocket::join_group`]).
    listeners: Mutex<BTreeMap<IfIndex, Listener>>,
}

/// The memberships of one interface.
#[derive(Debug)]
struct Listener {
    socket: Socket,
    groups: Vec<GroupAddr>,
}

impl MrtSocket {
    /// Opens the raw IGMP socket, selects `table` (`MRT_TABLE`, needs
    /// CAP_NET_ADMIN) and takes ownership of it (`MRT_INIT`).
    pub fn open(table: Option<u32>) -> Result<MrtSocket, MrtError> {
        let sock = Socket::new(
            Domain::IPV4,
            Type::RAW,
            Some(Protocol::from(libc::IPPROTO_IGMP)),
        )
        .map_err(|e| match e.raw_os_error() {
            Some(libc::EPERM | libc::EACCES) => MrtError::Permission {
                op: "open a raw IGMP socket",
                needs: "mgmd needs CAP_NET_RAW (run as root or grant the capability)",
                source: e,
            },
            _ => MrtError::Socket {
                op: "open a raw IGMP socket",
                source: e,
            },
        })?;
        let fd = sock.as_fd();
        if let Some(t) = table {
            sys::setsockopt(fd, libc::IPPROTO_IP, sys::MRT_TABLE, &t).map_err(|e| {
                match e.raw_os_error() {
                    Some(libc::EPERM | libc::EACCES) => MrtError::Permission {
                        op: "select the multicast routing table (MRT_TABLE)",
                        needs: "a multicast routing table other than the default needs CAP_NET_ADMIN",
                        source: e,
                    },
                    _ => MrtError::Socket {
                        op: "select the multicast routing table (MRT_TABLE; is CONFIG_IP_MROUTE_MULTIPLE_TABLES enabled?)",
                        source: e,
                    },
                }
            })?;
        }
        sys::setsockopt(fd, libc::IPPROTO_IP, sys::MRT_INIT, &1i32).map_err(|e| {
            match e.raw_os_error() {
                Some(libc::EADDRINUSE) => MrtError::AlreadyInUse { table },
                Some(libc::EPERM | libc::EACCES) => MrtError::Permission {
                    op: "become the multicast router (MRT_INIT)",
                    needs: "mgmd needs CAP_NET_RAW, and CAP_NET_ADMIN for a non-default table",
                    source: e,
                },
                Some(libc::ENOPROTOOPT) => MrtError::Socket {
                    op: "become the multicast router (MRT_INIT; is CONFIG_IP_MROUTE enabled?)",
                    source: e,
                },
                _ => MrtError::Socket {
                    op: "become the multicast router (MRT_INIT)",
                    source: e,
                },
            }
        })?;
        let s = MrtSocket {
            sock,
            table,
            drops: AtomicU32::new(0),
            listeners: Mutex::default(),
        };
        s.configure_rx()
            .map_err(|(op, source)| MrtError::Socket { op, source })?;
        Ok(s)
    }

    /// Takes over the socket a previous mgmd owned the table with (handed
    /// over across `execve`, or kept by the service manager): it still owns
    /// `table`, and the kernel kept every VIF and entry. No `MRT_INIT` (the
    /// kernel would refuse it: the table is owned, by this very socket).
    pub fn adopt(fd: std::os::fd::OwnedFd, table: Option<u32>) -> Result<MrtSocket, MrtError> {
        let sock = Socket::from(fd);
        let is_igmp = sock.r#type().is_ok_and(|t| t == Type::RAW)
            && sock
                .protocol()
                .is_ok_and(|p| p == Some(Protocol::from(libc::IPPROTO_IGMP)));
        if !is_igmp {
            return Err(MrtError::Socket {
                op: "take over the multicast routing socket handed over",
                source: io::Error::new(io::ErrorKind::InvalidInput, "not a raw IGMP socket"),
            });
        }
        let s = MrtSocket {
            sock,
            table,
            drops: AtomicU32::new(0),
            listeners: Mutex::default(),
        };
        s.configure_rx()
            .map_err(|(op, source)| MrtError::Socket { op, source })?;
        Ok(s)
    }

    /// Lets the socket survive `execve` (or stops it from), for handing it
    /// to the next mgmd.
    pub fn set_inherit(&self, on: bool) -> io::Result<()> {
        use nix::fcntl::{FcntlArg, FdFlag, fcntl};
        let flags = if on {
            FdFlag::empty()
        } else {
            FdFlag::FD_CLOEXEC
        };
        fcntl(self.sock.as_fd(), FcntlArg::F_SETFD(flags))
            .map(|_| ())
            .map_err(io::Error::from)
    }

    fn configure_rx(&self) -> Result<(), (&'static str, io::Error)> {
        let fd = self.sock.as_fd();
        self.sock
            .set_nonblocking(true)
            .map_err(|e| ("make the multicast routing socket non-blocking", e))?;
        setsockopt(&fd, sockopt::Ipv4PacketInfo, &true)
            .map_err(|e| ("enable IP_PKTINFO", e.into()))?;
        setsockopt(&fd, sockopt::RxqOvfl, &1).map_err(|e| ("enable SO_RXQ_OVFL", e.into()))?;
        // IGMP to any group the host is a member of reaches this socket:
        // the memberships IGMP needs (224.0.0.22, 224.0.0.2, 224.0.0.1) are
        // held by other sockets (`join_group`).
        self.sock
            .set_multicast_all_v4(true)
            .map_err(|e| ("set IP_MULTICAST_ALL", e))?;
        self.sock
            .set_multicast_loop_v4(false)
            .map_err(|e| ("clear IP_MULTICAST_LOOP", e))?;
        sys::set_rcvbuf(fd, RCVBUF_BYTES).map_err(|e| ("set the receive buffer size", e))?;
        Ok(())
    }

    pub fn table(&self) -> Option<u32> {
        self.table
    }

    /// The receive buffer the kernel granted, in bytes.
    pub fn recv_buffer_size(&self) -> io::Result<usize> {
        self.sock.recv_buffer_size()
    }

    /// Packets dropped by the kernel because the receive queue was full,
    /// since the socket was opened. The kernel stamps this count on packets
    /// queued after a drop, so it is up to date once such a packet was read.
    pub fn drops(&self) -> u32 {
        self.drops.load(Ordering::Relaxed)
    }

    // ----- VIFs and MFC entries -----

    pub fn add_vif(&self, vif: VifIndex, ifindex: IfIndex) -> io::Result<()> {
        let ctl = sys::VifCtl {
            vifi: vif.0,
            flags: sys::VIFF_USE_IFINDEX,
            threshold: 1,
            rate_limit: 0,
            lcl: ifindex.0,
            rmt_addr: 0,
        };
        sys::setsockopt(self.sock.as_fd(), libc::IPPROTO_IP, sys::MRT_ADD_VIF, &ctl)
    }

    pub fn del_vif(&self, vif: VifIndex) -> io::Result<()> {
        let ctl = sys::VifCtl {
            vifi: vif.0,
            ..Default::default()
        };
        sys::setsockopt(self.sock.as_fd(), libc::IPPROTO_IP, sys::MRT_DEL_VIF, &ctl)
    }

    /// Adds or replaces the (S,G) entry: traffic from `flow.source` to
    /// `flow.group` arriving on `iif` is sent out of every VIF in `oifs`.
    pub fn add_mfc(&self, flow: FlowKey, iif: VifIndex, oifs: VifSet) -> io::Result<()> {
        let mut ctl = mfcctl(flow, iif)?;
        for oif in oifs {
            let slot = ctl
                .ttls
                .get_mut(usize::from(oif.0))
                .ok_or_else(vif_out_of_range)?;
            *slot = 1;
        }
        sys::setsockopt(self.sock.as_fd(), libc::IPPROTO_IP, sys::MRT_ADD_MFC, &ctl)
    }

    pub fn del_mfc(&self, flow: FlowKey, iif: VifIndex) -> io::Result<()> {
        let ctl = mfcctl(flow, iif)?;
        sys::setsockopt(self.sock.as_fd(), libc::IPPROTO_IP, sys::MRT_DEL_MFC, &ctl)
    }

    /// Deletes every non-static MFC entry and VIF of the table in place
    /// (`MRT_FLUSH`), keeping ownership.
    pub fn flush(&self) -> io::Result<()> {
        sys::setsockopt(
            self.sock.as_fd(),
            libc::IPPROTO_IP,
            sys::MRT_FLUSH,
            &(sys::MRT_FLUSH_MFC | sys::MRT_FLUSH_VIFS),
        )
    }

    #[allow(clippy::useless_conversion)] // c_ulong is u32 on 32-bit targets
    pub fn sg_count(&self, flow: FlowKey) -> io::Result<SgCount> {
        let (source, group) = v4_flow(flow)?;
        let mut req = sys::SiocSgReq {
            src: u32::from_ne_bytes(source.octets()),
            grp: u32::from_ne_bytes(group.octets()),
            ..Default::default()
        };
        sys::ioctl_get_sg_count(self.sock.as_fd(), &mut req)?;
        Ok(SgCount {
            packets: u64::from(req.pktcnt),
            bytes: u64::from(req.bytecnt),
            wrong_if: u64::from(req.wrong_if),
        })
    }

    #[allow(clippy::useless_conversion)] // c_ulong is u32 on 32-bit targets
    pub fn vif_count(&self, vif: VifIndex) -> io::Result<VifCount> {
        let mut req = sys::SiocVifReq {
            vifi: vif.0,
            ..Default::default()
        };
        sys::ioctl_get_vif_count(self.sock.as_fd(), &mut req)?;
        Ok(VifCount {
            in_packets: u64::from(req.icount),
            out_packets: u64::from(req.ocount),
            in_bytes: u64::from(req.ibytes),
            out_bytes: u64::from(req.obytes),
        })
    }

    /// Applies one action. Deleting something the kernel no longer has
    /// counts as success. Errors name the action and explain the errno.
    pub fn apply(&self, action: &MrtAction) -> Result<(), MrtError> {
        let result = match action {
            MrtAction::AddVif { vif, ifindex } => self.add_vif(*vif, *ifindex),
            MrtAction::DelVif { vif, .. } => match self.del_vif(*vif) {
                Err(e) if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) => Ok(()),
                r => r,
            },
            MrtAction::AddMfc {
                flow,
                iif_vif,
                oifs,
            } => self.add_mfc(*flow, *iif_vif, *oifs),
            MrtAction::DelMfc { flow, iif_vif } => match self.del_mfc(*flow, *iif_vif) {
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
                r => r,
            },
        };
        result.map_err(|e| {
            let errno = e.raw_os_error().unwrap_or(0);
            MrtError::Action {
                reason: explain(action, errno, &e),
                action: *action,
                errno,
            }
        })
    }

    // ----- group membership -----

    /// Makes `ifindex` a member of `group`, so that IGMP sent to it there
    /// reaches this socket. The membership is held by a UDP socket of the
    /// interface's own (which receives nothing): a socket may hold only
    /// `net.ipv4.igmp_max_memberships` memberships (20 by default), fewer
    /// than the three groups each interface needs on a router with more
    /// than six. Joining twice is not an error.
    pub fn join_group(&self, ifindex: IfIndex, group: GroupAddr) -> io::Result<()> {
        let mut listeners = self.listeners.lock().unwrap_or_else(|e| e.into_inner());
        let listener = match listeners.entry(ifindex) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => e.insert(Listener {
                socket: Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?,
                groups: Vec::new(),
            }),
        };
        match listener.socket.join_multicast_v4_n(
            &v4_group(group)?,
            &InterfaceIndexOrAddress::Index(ifindex.0),
        ) {
            Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) => {}
            Err(e) => {
                if listener.groups.is_empty() {
                    listeners.remove(&ifindex);
                }
                return Err(e);
            }
            Ok(()) => {}
        }
        if !listener.groups.contains(&group) {
            listener.groups.push(group);
        }
        Ok(())
    }

    /// Ends what [`Self::join_group`] did. Leaving a group not joined (or
    /// on a vanished interface) is not an error.
    pub fn leave_group(&self, ifindex: IfIndex, group: GroupAddr) -> io::Result<()> {
        let mut listeners = self.listeners.lock().unwrap_or_else(|e| e.into_inner());
        let Some(listener) = listeners.get_mut(&ifindex) else {
            return Ok(());
        };
        listener.groups.retain(|g| *g != group);
        if listener.groups.is_empty() {
            // Closing the socket leaves what it joined.
            listeners.remove(&ifindex);
            return Ok(());
        }
        match listener.socket.leave_multicast_v4_n(
            &v4_group(group)?,
            &InterfaceIndexOrAddress::Index(ifindex.0),
        ) {
            Err(e) if matches!(e.raw_os_error(), Some(libc::EADDRNOTAVAIL | libc::ENODEV)) => {
                Ok(())
            }
            r => r,
        }
    }

    // ----- receive -----

    /// Reads one message (non-blocking: `WouldBlock` when the queue is
    /// empty). `buf` should hold 64 KiB.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<MrtRx> {
        let mut cmsg = nix::cmsg_space!(libc::in_pktinfo, u32);
        let (len, truncated, ifindex) = {
            let mut iov = [IoSliceMut::new(buf)];
            let msg = recvmsg::<SockaddrIn>(
                self.sock.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_DONTWAIT,
            )?;
            let mut ifindex = None;
            for c in msg.cmsgs()? {
                match c {
                    ControlMessageOwned::Ipv4PacketInfo(pi) => {
                        ifindex = u32::try_from(pi.ipi_ifindex).ok();
                    }
                    ControlMessageOwned::RxqOvfl(n) => self.drops.store(n, Ordering::Relaxed),
                    _ => {}
                }
            }
            (msg.bytes, msg.flags.contains(MsgFlags::MSG_TRUNC), ifindex)
        };
        if truncated {
            return Ok(MrtRx::Malformed("truncated datagram"));
        }
        Ok(parse_rx(&buf[..len], ifindex.map(IfIndex)))
    }

    /// Reads until the queue is empty or `max` messages were read. An error
    /// other than `WouldBlock` is returned only if nothing was read (it will
    /// recur on the next call otherwise).
    pub fn recv_batch(&self, max: usize) -> io::Result<Vec<MrtRx>> {
        let mut buf = vec![0u8; RX_BUF_BYTES];
        let mut out = Vec::new();
        while out.len() < max {
            match self.recv(&mut buf) {
                Ok(rx) => out.push(rx),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if out.is_empty() => return Err(e),
                Err(_) => break,
            }
        }
        Ok(out)
    }
}

impl AsFd for MrtSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

impl AsRawFd for MrtSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

// ===== AsyncMrtSocket =====

/// [`MrtSocket`] registered with the tokio reactor. The socket is shared
/// with the kernel writer ([`crate::io::mrt_writer`]), which applies
/// changes through it; it closes when both are done with it.
#[derive(Debug)]
pub struct AsyncMrtSocket {
    inner: AsyncFd<Arc<MrtSocket>>,
}

impl AsyncMrtSocket {
    /// Must be called inside a tokio runtime.
    pub fn new(sock: MrtSocket) -> io::Result<Self> {
        Ok(AsyncMrtSocket {
            inner: sys::async_fd(Arc::new(sock))?,
        })
    }

    /// The socket, for group joins and counters.
    pub fn get_ref(&self) -> &MrtSocket {
        self.inner.get_ref()
    }

    /// The socket itself, for the kernel writer.
    pub fn shared(&self) -> Arc<MrtSocket> {
        Arc::clone(self.inner.get_ref())
    }

    /// Waits until input is available, then drains up to `max` messages.
    /// Never returns an empty batch.
    pub async fn recv_batch(&self, max: usize) -> io::Result<Vec<MrtRx>> {
        loop {
            let mut guard = self.inner.readable().await?;
            let batch = self.inner.get_ref().recv_batch(max)?;
            if batch.len() < max {
                // Drained to WouldBlock: wait for the next edge.
                guard.clear_ready();
            }
            if !batch.is_empty() {
                return Ok(batch);
            }
        }
    }
}

// ===== helper functions =====

fn mfcctl(flow: FlowKey, iif: VifIndex) -> io::Result<sys::MfcCtl> {
    if usize::from(iif.0) >= MAXVIFS {
        return Err(vif_out_of_range());
    }
    let (source, group) = v4_flow(flow)?;
    Ok(sys::MfcCtl {
        origin: u32::from_ne_bytes(source.octets()),
        mcastgrp: u32::from_ne_bytes(group.octets()),
        parent: iif.0,
        ..Default::default()
    })
}

/// Source and group of a flow this (IPv4) socket can hold.
fn v4_flow(flow: FlowKey) -> io::Result<(Ipv4Addr, Ipv4Addr)> {
    match (ipv4_of(flow.source), flow.group.v4()) {
        (Some(s), Some(g)) => Ok((s, g)),
        _ => Err(not_ipv4()),
    }
}

/// A group this (IPv4) socket can join.
pub(crate) fn v4_group(group: GroupAddr) -> io::Result<Ipv4Addr> {
    group.v4().ok_or_else(not_ipv4)
}

/// What an IPv4 socket answers for an IPv6 address.
fn not_ipv4() -> io::Error {
    io::Error::from_raw_os_error(libc::EAFNOSUPPORT)
}

/// The kernel's own answer for `vifi >= MAXVIFS`.
fn vif_out_of_range() -> io::Error {
    io::Error::from_raw_os_error(libc::ENFILE)
}

/// A sentence for an errno of a VIF/MFC change.
fn explain(action: &MrtAction, errno: i32, err: &io::Error) -> String {
    let is_vif = matches!(action, MrtAction::AddVif { .. } | MrtAction::DelVif { .. });
    match errno {
        libc::ENFILE => format!(
            "VIF index out of range: the kernel allows at most {MAXVIFS} VIFs per multicast routing table (errno ENFILE)"
        ),
        libc::EADDRINUSE if is_vif => "the VIF index is already in use in the kernel".to_string(),
        libc::EADDRNOTAVAIL if is_vif => "the kernel has no such VIF".to_string(),
        libc::ENODEV => "the interface does not exist (any more)".to_string(),
        libc::ENOENT => "the kernel has no such entry".to_string(),
        libc::EACCES | libc::EPERM => {
            "permission denied (is this socket still the owner of the table?)".to_string()
        }
        _ => err.to_string(),
    }
}

/// Decodes one datagram read from the multicast routing socket: a kernel
/// upcall (`igmpmsg`, byte 9 is 0) or an IGMP packet with its IP header.
pub fn parse_rx(data: &[u8], ifindex: Option<IfIndex>) -> MrtRx {
    if data.len() < 20 {
        return MrtRx::Malformed("shorter than an IP header");
    }
    let addr = |o: usize| Ipv4Addr::new(data[o], data[o + 1], data[o + 2], data[o + 3]);
    if data[9] == 0 {
        return MrtRx::Upcall(Upcall {
            kind: UpcallKind::from(data[8]),
            vif: VifIndex(u16::from(data[10]) | (u16::from(data[11]) << 8)),
            src: addr(12),
            dst: addr(16),
        });
    }
    if data[0] >> 4 != 4 {
        return MrtRx::Malformed("not IPv4");
    }
    let ihl = usize::from(data[0] & 0x0f) * 4;
    if ihl < 20 || data.len() < ihl {
        return MrtRx::Malformed("bad IP header length");
    }
    if data[9] != libc::IPPROTO_IGMP as u8 {
        return MrtRx::Malformed("not IGMP");
    }
    let total = usize::from(u16::from_be_bytes([data[2], data[3]]));
    let end = if (ihl..=data.len()).contains(&total) {
        total
    } else {
        data.len()
    };
    let Some(ifindex) = ifindex else {
        return MrtRx::Malformed("no IP_PKTINFO");
    };
    MrtRx::Igmp(IgmpRx {
        ifindex,
        src: addr(12),
        dst: addr(16),
        ttl: data[8],
        router_alert: has_router_alert(&data[20..ihl]),
        payload: data[ihl..end].to_vec(),
    })
}

/// Whether the IP options contain Router Alert (type 0x94, RFC 2113).
fn has_router_alert(mut opts: &[u8]) -> bool {
    while let Some(&kind) = opts.first() {
        match kind {
            0 => return false,
            1 => opts = &opts[1..],
            0x94 => return true,
            _ => {
                let len = opts.get(1).copied().map_or(0, usize::from);
                if len < 2 || len > opts.len() {
                    return false;
                }
                opts = &opts[len..];
            }
        }
    }
    false
}

// ===== tests =====

#[cfg(test)]
mod tests;
