//! Interfaces and IPv4 addresses from rtnetlink, translated at the edge into
//! domain facts ([`NetEvent`]), and unicast RPF lookups.
//!
//! Level-triggered: [`NetlinkWatcher`] subscribes to link and IPv4 address
//! notifications first, then dumps both, so its first event is a
//! [`NetEvent::Snapshot`] of the full state; later events are idempotent
//! upserts (the kernel may repeat one, e.g. two `Link` facts on link up).
//! When the kernel drops notifications (socket overrun, `ENOBUFS`), the
//! watcher discards notifications until the burst is over, dumps again and
//! yields a fresh `Snapshot`: the consumer reconciles against it.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsFd;

use futures::TryStreamExt;
use futures::channel::mpsc::UnboundedReceiver;
use ipnet::Ipv4Net;
use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::AddressFamily;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteType};
use netlink_sys::{AsyncSocket, SocketAddr};
use rtnetlink::{Handle, MulticastGroup};
use tokio::task::JoinHandle;

use crate::core::rib::{RouteTable, TableRoute, TableRouteKind};
use crate::core::types::IfIndex;
use crate::io::sys;

/// Receive buffer for notifications: a burst of thousands of address or
/// link changes fits before the kernel reports an overrun.
const EVENTS_RCVBUF_BYTES: usize = 4 << 20;
/// How long to wait before another re-dump when one failed.
pub const RESYNC_RETRY: std::time::Duration = std::time::Duration::from_millis(100);
/// After an overrun, how often the notification socket's queue is looked
/// at until it is empty.
pub const RESYNC_POLL: std::time::Duration = std::time::Duration::from_millis(10);
/// After an overrun, the longest wait for an empty queue before a dump
/// anyway.
pub const RESYNC_MAX_DELAY: std::time::Duration = std::time::Duration::from_secs(1);

// ===== facts =====

// The facts are the core's own types: netlink is translated at this edge.
pub use crate::core::iface::{AddrFact, LinkFact};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetEvent {
    /// A new interface or a change (state, name, MTU) of a known one.
    Link(LinkFact),
    LinkGone {
        ifindex: IfIndex,
        name: String,
    },
    AddrAdded(AddrFact),
    AddrRemoved(AddrFact),
    /// The full state, after start or after lost notifications: everything
    /// not listed is gone.
    Snapshot {
        links: Vec<LinkFact>,
        addrs: Vec<AddrFact>,
    },
    /// An IPv4 unicast (or unreachable, blackhole, prohibit) route of
    /// routing table `table` was added or removed: RPF answers may have
    /// changed (level-triggered: the consumer looks them up again).
    RoutesChanged {
        table: u32,
    },
}

/// The unicast route towards a multicast source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RpfInfo {
    pub ifindex: IfIndex,
    /// The next hop, or `None` when the source is directly connected.
    pub gateway: Option<Ipv4Addr>,
}

#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("failed to open a netlink socket: {0}")]
    Socket(#[source] std::io::Error),
    #[error("failed to {op}: {source}")]
    Request {
        op: &'static str,
        #[source]
        source: rtnetlink::Error,
    },
}

// ===== NetlinkWatcher =====

/// Follows links and IPv4 addresses. Holds two netlink connections: one for
/// notifications, one for requests (so dumps never interleave with events).
#[derive(Debug)]
pub struct NetlinkWatcher {
    handle: Handle,
    events: UnboundedReceiver<(NetlinkMessage<RouteNetlinkMessage>, SocketAddr)>,
    pending: VecDeque<NetEvent>,
    tasks: Vec<JoinHandle<()>>,
    /// Snapshots taken because notifications were lost.
    resyncs: u64,
    /// Notifications were lost (since then): a dump is owed once the
    /// socket's queue has been emptied.
    owed: Option<tokio::time::Instant>,
    /// The notification socket (a duplicate), to see its queue.
    events_fd: std::os::fd::OwnedFd,
    /// The dump after notifications were lost, until it is delivered.
    resync: Option<JoinHandle<Result<NetEvent, NetlinkError>>>,
}

impl Drop for NetlinkWatcher {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        if let Some(t) = &self.resync {
            t.abort();
        }
    }
}

/// Subscribes, then dumps: the first [`NetlinkWatcher::next`] is a
/// [`NetEvent::Snapshot`]. Must be called inside a tokio runtime.
pub async fn start() -> Result<NetlinkWatcher, NetlinkError> {
    start_with_rcvbuf(EVENTS_RCVBUF_BYTES).await
}

/// [`start`] with a chosen notification receive buffer, in bytes.
pub async fn start_with_rcvbuf(rcvbuf: usize) -> Result<NetlinkWatcher, NetlinkError> {
    let (mut ev_conn, _, events) = rtnetlink::new_multicast_connection(&[
        MulticastGroup::Link,
        MulticastGroup::Ipv4Ifaddr,
        MulticastGroup::Ipv4Route,
    ])
    .map_err(NetlinkError::Socket)?;
    let events_fd = {
        let sock = ev_conn.socket_mut().socket_mut();
        sys::set_rcvbuf(sock.as_fd(), rcvbuf).map_err(NetlinkError::Socket)?;
        sock.as_fd()
            .try_clone_to_owned()
            .map_err(NetlinkError::Socket)?
    };
    let (mut req_conn, handle, _) = rtnetlink::new_connection().map_err(NetlinkError::Socket)?;
    // Strict checking lets a route dump ask for one table (the kernel then
    // sends only that table, not every route it has). Without it (older
    // kernels) dumps are filtered here instead.
    if let Err(e) = req_conn
        .socket_mut()
        .socket_ref()
        .set_netlink_get_strict_chk(true)
    {
        tracing::debug!(target: "iface", "netlink strict checking unavailable: {e}");
    }
    let tasks = vec![tokio::spawn(ev_conn), tokio::spawn(req_conn)];
    let mut w = NetlinkWatcher {
        handle,
        events,
        pending: VecDeque::new(),
        tasks,
        resyncs: 0,
        owed: None,
        events_fd,
        resync: None,
    };
    let snap = w.snapshot().await?;
    w.pending.push_back(snap);
    Ok(w)
}

impl NetlinkWatcher {
    /// The request handle, for [`rpf_lookup`] and other queries.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// How many times notifications were lost and state re-dumped.
    pub fn resyncs(&self) -> u64 {
        self.resyncs
    }

    /// The next fact. `None` when the notification connection ended.
    ///
    /// After an overrun the notifications are read and dropped until the
    /// socket's queue is empty (looked at every [`RESYNC_POLL`], at most
    /// [`RESYNC_MAX_DELAY`]), then links and addresses are dumped: the
    /// kernel reports an overflow once and drops further notifications
    /// silently until the queue has been emptied, so only a dump started
    /// after that holds everything lost (a later loss is reported again).
    /// A dump forced by the maximum delay (the queue never emptied) is
    /// followed by another once it does.
    ///
    /// Cancellation-safe: the event loop waits on it beside other sources
    /// and drops it whenever another is ready first. The dump runs on a
    /// task of its own, which dropping this future does not stop; the next
    /// call waits for it again. A failed dump is tried again after
    /// [`RESYNC_RETRY`].
    pub async fn next(&mut self) -> Option<NetEvent> {
        loop {
            if let Some(ev) = self.pending.pop_front() {
                return Some(ev);
            }
            if let Some(task) = self.resync.as_mut() {
                let result = task.await;
                self.resync = None;
                match result {
                    Ok(Ok(snap)) => return Some(snap),
                    Ok(Err(e)) => {
                        tracing::warn!(target: "iface", error = %e, "netlink re-dump failed; retrying");
                    }
                    Err(e) => {
                        tracing::warn!(target: "iface", error = %e, "netlink re-dump stopped; retrying");
                    }
                }
                self.start_resync(RESYNC_RETRY);
                continue;
            }
            if let Some(since) = self.owed {
                // What was read meanwhile is dropped: the dump supersedes it.
                while self.events.try_recv().is_ok() {}
                let now = tokio::time::Instant::now();
                let emptied = self.socket_emptied();
                if emptied || now >= since + RESYNC_MAX_DELAY {
                    // Forced while the queue is still full: another dump
                    // is owed once it empties.
                    self.owed = (!emptied).then_some(now);
                    self.start_resync(std::time::Duration::ZERO);
                    continue;
                }
                tokio::select! {
                    msg = futures::StreamExt::next(&mut self.events) => {
                        msg?;
                    }
                    _ = tokio::time::sleep(RESYNC_POLL) => {}
                }
                continue;
            }
            let (msg, _) = futures::StreamExt::next(&mut self.events).await?;
            match msg.payload {
                NetlinkPayload::InnerMessage(m) => {
                    if let Some(ev) = translate(m) {
                        return Some(ev);
                    }
                }
                NetlinkPayload::Overrun(_) => {
                    self.resyncs += 1;
                    tracing::info!(
                        target: "iface",
                        resyncs = self.resyncs,
                        "netlink notifications were lost (the socket overflowed); \
                         links and addresses are read again once the burst is over"
                    );
                    self.owed = Some(tokio::time::Instant::now());
                }
                _ => {}
            }
        }
    }

    /// Whether the notification socket's queue is empty (then the kernel
    /// reports the next loss again). Where the kernel cannot tell, as if it
    /// were.
    fn socket_emptied(&self) -> bool {
        use std::os::fd::AsFd;
        sys::recv_mem(self.events_fd.as_fd()).map_or(true, |m| m.queued == 0)
    }

    /// Starts a dump after `delay`. What is queued now predates it and is
    /// dropped; what comes from here on is complete, and is applied after
    /// the dump.
    fn start_resync(&mut self, delay: std::time::Duration) {
        while self.events.try_recv().is_ok() {}
        let handle = self.handle.clone();
        self.resync = Some(tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            dump(&handle).await
        }));
    }

    async fn snapshot(&self) -> Result<NetEvent, NetlinkError> {
        dump(&self.handle).await
    }
}

/// Dumps all links and IPv4 addresses.
pub async fn dump(handle: &Handle) -> Result<NetEvent, NetlinkError> {
    let links: Vec<LinkMessage> =
        handle
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(|source| NetlinkError::Request {
                op: "dump links",
                source,
            })?;
    let addrs: Vec<AddressMessage> = handle
        .address()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(|source| NetlinkError::Request {
            op: "dump addresses",
            source,
        })?;
    Ok(NetEvent::Snapshot {
        links: links.iter().map(link_fact).collect(),
        addrs: addrs.iter().filter_map(addr_fact).collect(),
    })
}

/// The input a link dropped so far: the sum of its receive drop counters
/// (`rx_dropped`, `rx_missed_errors`, `rx_fifo_errors`, `rx_over_errors`
/// of `IFLA_STATS64`). `Ok(None)` when the link is gone or reports no
/// statistics.
pub async fn rx_drops(handle: &Handle, ifindex: IfIndex) -> Result<Option<u64>, NetlinkError> {
    let result: Result<Vec<LinkMessage>, _> = handle
        .link()
        .get()
        .match_index(ifindex.0)
        .execute()
        .try_collect()
        .await;
    let links = match result {
        Ok(l) => l,
        Err(rtnetlink::Error::NetlinkError(e)) if -e.raw_code() == libc::ENODEV => {
            return Ok(None);
        }
        Err(source) => {
            return Err(NetlinkError::Request {
                op: "read a link's counters",
                source,
            });
        }
    };
    Ok(links.iter().find_map(|m| {
        m.attributes.iter().find_map(|a| match a {
            LinkAttribute::Stats64(s) => Some(
                s.rx_dropped
                    .saturating_add(s.rx_missed_errors)
                    .saturating_add(s.rx_fifo_errors)
                    .saturating_add(s.rx_over_errors),
            ),
            _ => None,
        })
    }))
}

/// Looks up the unicast route to `source` (an output route lookup, as
/// `ip route get <source>` does). `vrf` restricts it to a VRF by giving the
/// VRF device as output interface (the kernel's RTM_GETROUTE has no table
/// selector). `Ok(None)` when there is no route.
pub async fn rpf_lookup(
    handle: &Handle,
    source: Ipv4Addr,
    vrf: Option<IfIndex>,
) -> Result<Option<RpfInfo>, NetlinkError> {
    let mut msg = RouteMessage::default();
    msg.header.address_family = AddressFamily::Inet;
    msg.header.destination_prefix_length = 32;
    msg.attributes
        .push(RouteAttribute::Destination(RouteAddress::Inet(source)));
    if let Some(v) = vrf {
        msg.attributes.push(RouteAttribute::Oif(v.0));
    }
    let result: Result<Vec<RouteMessage>, _> =
        handle.route().get(msg).execute().try_collect().await;
    let routes = match result {
        Ok(r) => r,
        Err(rtnetlink::Error::NetlinkError(e))
            if matches!(
                -e.raw_code(),
                libc::ENETUNREACH | libc::EHOSTUNREACH | libc::ENOENT | libc::ESRCH
            ) =>
        {
            return Ok(None);
        }
        Err(source) => {
            return Err(NetlinkError::Request {
                op: "look up the route to a source",
                source,
            });
        }
    };
    Ok(routes.iter().find_map(rpf_info))
}

/// Dumps the IPv4 routes of routing table `table` (for RPF lookups of a
/// table of our own; see [`crate::core::rib`]).
pub async fn dump_table(handle: &Handle, table: u32) -> Result<RouteTable, NetlinkError> {
    let mut msg = RouteMessage::default();
    msg.header.address_family = AddressFamily::Inet;
    // The table filter (honoured with strict checking).
    match u8::try_from(table) {
        Ok(t) => msg.header.table = t,
        Err(_) => msg.attributes.push(RouteAttribute::Table(table)),
    }
    let result: Result<Vec<RouteMessage>, _> =
        handle.route().get(msg).execute().try_collect().await;
    let routes = match result {
        Ok(r) => r,
        // A table nobody has put a route in does not exist yet.
        Err(rtnetlink::Error::NetlinkError(e)) if -e.raw_code() == libc::ENOENT => Vec::new(),
        Err(source) => {
            return Err(NetlinkError::Request {
                op: "dump the routes of the routing table",
                source,
            });
        }
    };
    Ok(RouteTable::new(
        routes.iter().filter_map(|m| table_route(m, table)),
    ))
}

// ===== helper functions =====

/// The route `m` describes if it is an IPv4 route of `table` that a
/// lookup can match (unicast, or one that ends the lookup). Pure: what
/// [`dump_table`] does with each route it receives.
pub fn table_route(m: &RouteMessage, table: u32) -> Option<TableRoute> {
    if m.header.address_family != AddressFamily::Inet {
        return None;
    }
    if route_table(m) != table {
        return None;
    }
    let mut dst = Ipv4Addr::UNSPECIFIED;
    let mut metric = 0;
    for a in &m.attributes {
        match a {
            RouteAttribute::Destination(RouteAddress::Inet(d)) => dst = *d,
            RouteAttribute::Priority(p) => metric = *p,
            _ => {}
        }
    }
    let kind = match m.header.kind {
        RouteType::Unicast => {
            let (ifindex, gateway) = next_hop(m)?;
            TableRouteKind::Unicast { ifindex, gateway }
        }
        RouteType::Unreachable | RouteType::BlackHole | RouteType::Prohibit => {
            TableRouteKind::NoRoute
        }
        _ => return None,
    };
    Some(TableRoute {
        dst: Ipv4Net::new(dst, m.header.destination_prefix_length).ok()?,
        metric,
        kind,
    })
}

/// Translates one notification; `None` for messages that carry no fact we
/// follow (IPv6 addresses, other message kinds). Pure: what
/// [`NetlinkWatcher::next`] does with each message it receives.
pub fn translate(msg: RouteNetlinkMessage) -> Option<NetEvent> {
    match msg {
        RouteNetlinkMessage::NewLink(m) => Some(NetEvent::Link(link_fact(&m))),
        RouteNetlinkMessage::DelLink(m) => {
            let f = link_fact(&m);
            Some(NetEvent::LinkGone {
                ifindex: f.ifindex,
                name: f.name,
            })
        }
        RouteNetlinkMessage::NewAddress(m) => addr_fact(&m).map(NetEvent::AddrAdded),
        RouteNetlinkMessage::DelAddress(m) => addr_fact(&m).map(NetEvent::AddrRemoved),
        RouteNetlinkMessage::NewRoute(m) | RouteNetlinkMessage::DelRoute(m)
            if m.header.address_family == AddressFamily::Inet
                && matches!(
                    m.header.kind,
                    RouteType::Unicast
                        | RouteType::Unreachable
                        | RouteType::BlackHole
                        | RouteType::Prohibit
                ) =>
        {
            Some(NetEvent::RoutesChanged {
                table: route_table(&m),
            })
        }
        _ => None,
    }
}

fn link_fact(m: &LinkMessage) -> LinkFact {
    let flags = m.header.flags;
    let mut name = String::new();
    let mut mtu = None;
    for a in &m.attributes {
        match a {
            LinkAttribute::IfName(n) => name.clone_from(n),
            LinkAttribute::Mtu(v) => mtu = Some(*v),
            _ => {}
        }
    }
    LinkFact {
        ifindex: IfIndex(m.header.index),
        name,
        up: flags.contains(LinkFlags::Up),
        running: flags.contains(LinkFlags::Running),
        multicast: flags.contains(LinkFlags::Multicast),
        loopback: flags.contains(LinkFlags::Loopback),
        mtu,
    }
}

/// IPv4 only. `IFA_LOCAL` is the interface's own address, so it wins when
/// present; on point-to-point links `IFA_ADDRESS` differs from it and is
/// the peer (with the prefix length), which the source check of IGMP needs.
fn addr_fact(m: &AddressMessage) -> Option<AddrFact> {
    if m.header.family != AddressFamily::Inet {
        return None;
    }
    let mut local = None;
    let mut address = None;
    for a in &m.attributes {
        match a {
            AddressAttribute::Local(IpAddr::V4(v)) => local = Some(*v),
            AddressAttribute::Address(IpAddr::V4(v)) => address = Some(*v),
            _ => {}
        }
    }
    let addr = local.or(address)?;
    Some(AddrFact {
        ifindex: IfIndex(m.header.index),
        addr: addr.into(),
        prefix_len: m.header.prefix_len,
        peer: address
            .filter(|a| local.is_some() && *a != addr)
            .map(IpAddr::V4),
    })
}

/// The RPF answer in a route lookup's reply (what [`rpf_lookup`] does with
/// it); `None` without an output interface.
pub fn rpf_info(m: &RouteMessage) -> Option<RpfInfo> {
    let (ifindex, gateway) = next_hop(m)?;
    Some(RpfInfo { ifindex, gateway })
}

/// The routing table a route message is about (ids above 255 come as an
/// attribute; the header then says 252).
fn route_table(m: &RouteMessage) -> u32 {
    m.attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(m.header.table))
}

/// Where a route sends traffic: its output interface and gateway, or for
/// a multipath route its first next hop. `None` without an interface.
fn next_hop(m: &RouteMessage) -> Option<(IfIndex, Option<Ipv4Addr>)> {
    let gateway_of = |attrs: &[RouteAttribute]| {
        attrs.iter().find_map(|a| match a {
            RouteAttribute::Gateway(RouteAddress::Inet(g)) => Some(*g),
            _ => None,
        })
    };
    let oif = m.attributes.iter().find_map(|a| match a {
        RouteAttribute::Oif(i) => Some(IfIndex(*i)),
        _ => None,
    });
    if let Some(oif) = oif {
        return Some((oif, gateway_of(&m.attributes)));
    }
    m.attributes.iter().find_map(|a| match a {
        RouteAttribute::MultiPath(hops) => hops
            .first()
            .map(|h| (IfIndex(h.interface_index), gateway_of(&h.attributes))),
        _ => None,
    })
}

// ===== tests =====

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_route::address::AddressHeaderFlags;
    use netlink_packet_route::route::RouteNextHop;

    #[test]
    fn link_message_becomes_fact() {
        let mut m = LinkMessage::default();
        m.header.index = 4;
        m.header.flags = LinkFlags::Up | LinkFlags::Multicast | LinkFlags::Running;
        m.attributes.push(LinkAttribute::IfName("eth1".into()));
        m.attributes.push(LinkAttribute::Mtu(1500));
        let ev = translate(RouteNetlinkMessage::NewLink(m.clone()));
        assert_eq!(
            ev,
            Some(NetEvent::Link(LinkFact {
                ifindex: IfIndex(4),
                name: "eth1".into(),
                up: true,
                running: true,
                multicast: true,
                loopback: false,
                mtu: Some(1500),
            }))
        );
        assert_eq!(
            translate(RouteNetlinkMessage::DelLink(m)),
            Some(NetEvent::LinkGone {
                ifindex: IfIndex(4),
                name: "eth1".into()
            })
        );
    }

    #[test]
    fn address_prefers_local_keeps_the_peer_and_ignores_ipv6() {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet;
        m.header.index = 9;
        m.header.prefix_len = 32;
        m.header.flags = AddressHeaderFlags::Permanent;
        m.attributes
            .push(AddressAttribute::Address(IpAddr::V4(Ipv4Addr::new(
                10, 9, 9, 2,
            ))));
        m.attributes
            .push(AddressAttribute::Local(IpAddr::V4(Ipv4Addr::new(
                10, 9, 9, 1,
            ))));
        assert_eq!(
            translate(RouteNetlinkMessage::NewAddress(m.clone())),
            Some(NetEvent::AddrAdded(AddrFact {
                ifindex: IfIndex(9),
                addr: Ipv4Addr::new(10, 9, 9, 1).into(),
                prefix_len: 32,
                peer: Some(Ipv4Addr::new(10, 9, 9, 2).into()),
            }))
        );
        // An Ethernet address: IFA_LOCAL = IFA_ADDRESS, no peer.
        let mut e = m.clone();
        e.attributes = vec![
            AddressAttribute::Address(IpAddr::V4(Ipv4Addr::new(10, 9, 9, 1))),
            AddressAttribute::Local(IpAddr::V4(Ipv4Addr::new(10, 9, 9, 1))),
        ];
        assert!(matches!(
            translate(RouteNetlinkMessage::NewAddress(e)),
            Some(NetEvent::AddrAdded(AddrFact { peer: None, .. }))
        ));
        m.header.family = AddressFamily::Inet6;
        assert_eq!(translate(RouteNetlinkMessage::DelAddress(m)), None);
    }

    #[test]
    fn route_gives_rpf() {
        let mut m = RouteMessage::default();
        m.attributes.push(RouteAttribute::Oif(3));
        assert_eq!(
            rpf_info(&m),
            Some(RpfInfo {
                ifindex: IfIndex(3),
                gateway: None
            })
        );
        m.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(Ipv4Addr::new(
                10, 0, 0, 1,
            ))));
        assert_eq!(
            rpf_info(&m).unwrap().gateway,
            Some(Ipv4Addr::new(10, 0, 0, 1))
        );
        assert_eq!(rpf_info(&RouteMessage::default()), None);
    }

    fn route(table: u8, kind: RouteType, dst: [u8; 4], len: u8) -> RouteMessage {
        let mut m = RouteMessage::default();
        m.header.address_family = AddressFamily::Inet;
        m.header.table = table;
        m.header.kind = kind;
        m.header.destination_prefix_length = len;
        m.attributes
            .push(RouteAttribute::Destination(RouteAddress::Inet(dst.into())));
        m
    }

    #[test]
    fn routes_of_the_table_become_lookup_entries() {
        let mut m = route(10, RouteType::Unicast, [10, 1, 0, 0], 24);
        m.attributes.push(RouteAttribute::Oif(3));
        m.attributes.push(RouteAttribute::Priority(20));
        assert_eq!(
            table_route(&m, 10),
            Some(TableRoute {
                dst: "10.1.0.0/24".parse().unwrap(),
                metric: 20,
                kind: TableRouteKind::Unicast {
                    ifindex: IfIndex(3),
                    gateway: None
                },
            })
        );
        // Other tables, local routes and routes without an interface are
        // not ours to match.
        assert_eq!(table_route(&m, 254), None);
        let local = route(10, RouteType::Local, [10, 1, 0, 1], 32);
        assert_eq!(table_route(&local, 10), None);
        let bare = route(10, RouteType::Unicast, [10, 2, 0, 0], 16);
        assert_eq!(table_route(&bare, 10), None);
    }

    #[test]
    fn large_table_ids_multipath_and_unreachable_routes() {
        // Table ids above 255 come as an attribute (header says 252).
        let mut m = route(252, RouteType::Unicast, [10, 9, 0, 0], 16);
        m.attributes.push(RouteAttribute::Table(1000));
        let mut hop = RouteNextHop::default();
        hop.interface_index = 7;
        hop.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(
                [10, 0, 0, 9].into(),
            )));
        m.attributes.push(RouteAttribute::MultiPath(vec![hop]));
        assert_eq!(
            table_route(&m, 1000).map(|r| r.kind),
            Some(TableRouteKind::Unicast {
                ifindex: IfIndex(7),
                gateway: Some(Ipv4Addr::new(10, 0, 0, 9))
            })
        );
        assert_eq!(table_route(&m, 252), None);
        let unreachable = route(10, RouteType::Unreachable, [0, 0, 0, 0], 0);
        assert_eq!(
            table_route(&unreachable, 10).map(|r| r.kind),
            Some(TableRouteKind::NoRoute)
        );
    }
}
