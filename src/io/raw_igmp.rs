//! The IGMP transmit socket: a raw IGMP socket whose every packet carries the
//! Router Alert option (RFC 2113), TTL 1 and TOS 0xc0 (internetwork control),
//! as RFC 3376 section 4 requires of queries.
//!
//! One socket serves every interface: each send selects the interface and
//! source address with `IP_MULTICAST_IF` (`ip_mreqn{ifindex, address}`).
//! Per-interface sockets bound with `SO_BINDTODEVICE` would need opening and
//! closing as interfaces come and go (and re-binding when an interface is
//! re-created with a new ifindex); queries are rare (one per interface per
//! query interval), so one extra `setsockopt` per send costs nothing, and the
//! event loop sends from one task, so the selection cannot race.
//!
//! `IP_OPTIONS` applies to every packet of a socket, which is why this is a
//! separate socket from the multicast routing socket. It receives nothing:
//! IGMP input is read from the multicast routing socket, so a filter drops
//! everything that would otherwise queue up here.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use socket2::{Domain, Protocol, SockAddr, SockFilter, Socket, Type};

use crate::core::types::IfIndex;
use crate::io::sys;

/// Type of service for IGMP: precedence "internetwork control" (0xc0).
const IGMP_TOS: u32 = 0xc0;

/// BPF "ret #0": accept no packet.
const DROP_ALL: [SockFilter; 1] = [SockFilter::new(0x06, 0, 0, 0)];

// ===== IgmpTxSocket =====

#[derive(Debug)]
pub struct IgmpTxSocket {
    sock: Socket,
}

impl IgmpTxSocket {
    /// Opens the socket (needs CAP_NET_RAW). Non-blocking.
    pub fn open() -> io::Result<IgmpTxSocket> {
        let sock = Socket::new(
            Domain::IPV4,
            Type::RAW,
            Some(Protocol::from(libc::IPPROTO_IGMP)),
        )?;
        sock.set_nonblocking(true)?;
        sys::setsockopt(
            sock.as_fd(),
            libc::IPPROTO_IP,
            libc::IP_OPTIONS,
            &sys::ROUTER_ALERT_OPTION,
        )?;
        sock.set_multicast_ttl_v4(1)?;
        sock.set_ttl_v4(1)?;
        sock.set_tos_v4(IGMP_TOS)?;
        sock.set_multicast_loop_v4(false)?;
        sock.set_multicast_all_v4(false)?;
        sock.attach_filter(&DROP_ALL)?;
        Ok(IgmpTxSocket { sock })
    }

    /// Sends one IGMP message (`payload`, checksum included) out of
    /// `ifindex` with source address `src` to `dst`.
    pub fn send(
        &self,
        ifindex: IfIndex,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        payload: &[u8],
    ) -> io::Result<()> {
        let mreqn = sys::ip_mreqn(ifindex.0, src);
        sys::setsockopt(
            self.sock.as_fd(),
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_IF,
            &mreqn,
        )?;
        let to = SockAddr::from(SocketAddrV4::new(dst, 0));
        let sent = self.sock.send_to(payload, &to)?;
        if sent != payload.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("sent {sent} of {} bytes", payload.len()),
            ));
        }
        Ok(())
    }
}

impl AsFd for IgmpTxSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

impl AsRawFd for IgmpTxSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}
