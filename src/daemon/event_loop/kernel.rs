//! What comes from the kernel and what is read back from it besides the
//! writer's batches: routing socket reads (IGMP and upcalls), RPF lookups,
//! forwarding counters, receive drops, sysctl checks and the table audit.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use tokio::time::Instant;

use crate::core::input::{FlowCounters, Input};
use crate::core::mroute::KernelTable;
use crate::core::rib::TableAnswer;
use crate::core::router::Router;
use crate::core::types::{FlowKey, GroupAddr, IfIndex, VifIndex};
use crate::ctl::reply::{IoCounters, VifCounters};
use crate::io::mrt::{MrtRx, UpcallKind};
use crate::io::mrt_table;
use crate::io::mrt_writer::WriterReport;
use crate::io::{netlink, sysctl};

use super::{Driver, Io, RPF_CACHE_TTL, drain_writer, execute, feed};

/// When the next periodic audit is due (none before the first full dump
/// or with the audit off).
pub(super) fn audit_after(every: Duration, dumped: bool) -> Option<Instant> {
    (dumped && !every.is_zero()).then(|| Instant::now() + every)
}

/// Reads the kernel's multicast routing table back, once the kernel writer
/// applied everything sent to it (what it refused is then known to the
/// router): the kernel and the router's belief are compared at rest.
pub(super) async fn read_kernel_table(
    router: &mut Driver,
    io: &mut Io,
) -> Result<KernelTable, String> {
    drain_writer(router, io).await;
    let start = Instant::now();
    let kernel = mrt_table::read(&io.rtnl, io.table)
        .await
        .map_err(|e| format!("failed to read the kernel's multicast routing table: {e}"))?;
    tracing::debug!(
        target: "mroute",
        vifs = kernel.vifs.len(),
        entries = kernel.entries.len(),
        ms = start.elapsed().as_secs_f64() * 1e3,
        "read the kernel's table back for the audit"
    );
    Ok(kernel)
}

/// What the kernel writer reports: a refused change goes back to the
/// router, which retries it at its next commit; a new VIF gets the
/// `mc_forwarding` check.
pub(super) async fn writer_report(router: &mut Driver, io: &mut Io, report: WriterReport) {
    match report {
        WriterReport::VifAdded(ifindex) => check_mc_forwarding(&router.router, ifindex),
        WriterReport::Rejected { action, error } => {
            feed(router, io, Input::KernelRejected { action, error }).await;
        }
    }
}

/// Read everything queued on the routing socket (IGMP bursts must all be
/// learned) and feed it to the router.
pub(super) async fn drain_mrt(router: &mut Driver, io: &mut Io, batch: Vec<MrtRx>) {
    let mut inputs = Vec::with_capacity(batch.len());
    for rx in batch {
        let input = match rx {
            MrtRx::Igmp(p) => Input::IgmpRx {
                ifindex: p.ifindex,
                src: p.src,
                dst: p.dst,
                ttl: p.ttl,
                router_alert: p.router_alert,
                payload: p.payload,
            },
            MrtRx::Upcall(u) => {
                let c = &mut io.counters;
                match u.kind {
                    UpcallKind::NoCache => c.upcalls_nocache += 1,
                    _ => c.upcalls_other += 1,
                }
                if u.kind != UpcallKind::NoCache {
                    continue;
                }
                let Ok(group) = GroupAddr::new(u.dst) else {
                    // The kernel reports multicast destinations only.
                    c.rx_malformed += 1;
                    continue;
                };
                let flow = FlowKey::new(u.src, group);
                // Whether the VIF is one of the router's interfaces is the
                // router's to decide (and count): the lookup is made anyway.
                let (rpf, upstream) = rpf_lookup(io, u.src).await.unwrap_or((None, None));
                Input::NewFlow {
                    flow,
                    vif: u.vif,
                    rpf,
                    upstream: upstream.map(IpAddr::V4),
                }
            }
            MrtRx::Malformed(reason) => {
                io.counters.rx_malformed += 1;
                tracing::debug!(target: "packet", "dropped a malformed packet: {reason}");
                continue;
            }
        };
        inputs.push(input);
    }
    if inputs.is_empty() {
        return;
    }
    // One commit for the whole batch: a burst of reports is learned in
    // full and the kernel is programmed once with the result.
    let outputs = router.step(inputs);
    execute(router, io, outputs).await;
}

/// The unicast route towards `source`: its interface and gateway (both
/// `None` when there is no route), or `Err` when the lookup itself failed
/// (logged).
pub(super) async fn rpf_lookup(
    io: &mut Io,
    source: Ipv4Addr,
) -> Result<(Option<IfIndex>, Option<Ipv4Addr>), ()> {
    let now = Instant::now();
    if let Some((ifindex, gateway, at)) = io.rpf_cache.get(&source) {
        if now.duration_since(*at) < RPF_CACHE_TTL {
            return Ok((*ifindex, *gateway));
        }
    }
    let answer = match table_lookup(io, source).await? {
        TableAnswer::Route { ifindex, gateway } => (Some(ifindex), gateway),
        TableAnswer::NoRoute => (None, None),
        TableAnswer::NotInTable => match netlink::rpf_lookup(&io.rtnl, source, None).await {
            Ok(Some(rpf)) => (Some(rpf.ifindex), rpf.gateway),
            Ok(None) => (None, None),
            Err(e) => {
                tracing::warn!(target: "mroute", %source, "RPF lookup failed: {e}");
                // Not cached: the next upcall asks again.
                return Err(());
            }
        },
    };
    if io.rpf_cache.len() > 4096 {
        io.rpf_cache.clear();
    }
    io.rpf_cache.insert(source, (answer.0, answer.1, now));
    Ok(answer)
}

/// What the configured routing table says about `source`
/// (`NotInTable` without one), reading the table first if needed.
pub(super) async fn table_lookup(io: &mut Io, source: Ipv4Addr) -> Result<TableAnswer, ()> {
    let Some(table) = io.table else {
        return Ok(TableAnswer::NotInTable);
    };
    if io.table_routes.is_none() {
        match netlink::dump_table(&io.rtnl, table).await {
            Ok(routes) => {
                tracing::debug!(target: "mroute", table, routes = routes.len(), "read the routing table");
                io.table_routes = Some(routes);
            }
            Err(e) => {
                tracing::warn!(target: "mroute", %source, table, "RPF lookup failed: {e}");
                return Err(());
            }
        }
    }
    Ok(io
        .table_routes
        .as_ref()
        .map_or(TableAnswer::NotInTable, |t| t.lookup(source)))
}

/// After route changes: look every installed flow's source up again and
/// let the router decide again the flows whose route changed (RPF change).
pub(super) async fn recheck_rpf(router: &mut Driver, io: &mut Io) {
    let recorded = router.router.flow_sources();
    let mut inputs = Vec::new();
    let mut i = 0;
    while i < recorded.len() {
        let source = recorded[i].0;
        // The upcalls come from the IPv4 socket: every flow is an IPv4 one.
        let answer = match source {
            IpAddr::V4(s) => rpf_lookup(io, s)
                .await
                .map(|(rpf, gw)| (rpf, gw.map(IpAddr::V4))),
            IpAddr::V6(_) => Err(()),
        };
        let mut changed = false;
        while i < recorded.len() && recorded[i].0 == source {
            changed |= answer.is_ok_and(|a| a != (recorded[i].1, recorded[i].2));
            i += 1;
        }
        if let (true, Ok((rpf, upstream))) = (changed, answer) {
            inputs.push(Input::RpfChanged {
                source,
                rpf,
                upstream,
            });
        }
    }
    if !inputs.is_empty() {
        let outputs = router.step(inputs);
        execute(router, io, outputs).await;
    }
}

pub(super) fn read_counters(router: &Router, io: &Io) -> Vec<(FlowKey, FlowCounters)> {
    router
        .installed_flows()
        .into_iter()
        .filter_map(|flow| {
            io.mrt.get_ref().sg_count(flow).ok().map(|c| {
                (
                    flow,
                    FlowCounters {
                        packets: c.packets,
                        bytes: c.bytes,
                        wrong_if: c.wrong_if,
                    },
                )
            })
        })
        .collect()
}

/// Reads the receive drop counters of the interfaces in use and of the
/// routing socket, and gives them to the router when one changed.
pub(super) async fn read_drops(router: &mut Driver, io: &mut Io) {
    let mut interfaces = Vec::new();
    for i in router.router.used_interfaces().collect::<Vec<_>>() {
        match netlink::rx_drops(&io.rtnl, i.ifindex).await {
            Ok(Some(n)) => interfaces.push((i.ifindex, n)),
            Ok(None) => {}
            Err(e) => tracing::debug!(interface = %i.name, "{e}"),
        }
    }
    let socket = receive_drops(io);
    let reading = (interfaces, socket);
    if io.drops_fed.as_ref() == Some(&reading) {
        return;
    }
    io.drops_fed = Some(reading.clone());
    let (interfaces, socket) = reading;
    feed(router, io, Input::InputDrops { interfaces, socket }).await;
}

/// Messages the kernel dropped because the routing socket's receive queue
/// was full.
pub(super) fn receive_drops(io: &Io) -> u64 {
    u64::from(io.mrt.get_ref().drops())
}

/// Warn once per interface about settings that silently stop forwarding.
pub(super) fn check_rp_filter(router: &Router, io: &mut Io) {
    if !router.config().global.rp_filter_warning {
        return;
    }
    for i in router.used_interfaces() {
        if !io.rp_checked.insert(i.ifindex) {
            continue;
        }
        if let Some(v) = sysctl::sysctl_rp_filter(i.name.as_str()) {
            // 1 is strict; 2 (loose) accepts any source with some route.
            if v == 1 {
                tracing::warn!(
                    interface = %i.name,
                    "net.ipv4.conf.{}.rp_filter (or conf.all) is {v}: multicast arriving on it may be dropped \
                     before it is forwarded; set net.ipv4.conf.{{all,{}}}.rp_filter to 0 or 2 on inbound interfaces",
                    i.name,
                    i.name
                );
            }
        }
    }
}

/// A VIF without multicast forwarding on its device forwards nothing.
pub(super) fn check_mc_forwarding(router: &Router, ifindex: IfIndex) {
    let Some(link) = router.ifaces().get(ifindex) else {
        return;
    };
    if sysctl::mc_forwarding(&link.name) == Some(0) {
        tracing::warn!(
            interface = %link.name,
            "net.ipv4.conf.{}.mc_forwarding is 0 although the interface is a VIF: \
             the kernel will not forward multicast through it",
            link.name
        );
    }
}

/// Reads every installed entry's counters from the kernel and gives them
/// to the router.
pub(super) async fn refresh_counters(router: &mut Driver, io: &mut Io) {
    let counters = read_counters(&router.router, io);
    if !counters.is_empty() {
        feed(router, io, Input::Counters(counters)).await;
    }
}

/// The I/O layer's counters, up to date.
pub(super) fn io_counters(io: &mut Io) -> IoCounters {
    io.counters.kernel_rx_drops = receive_drops(io);
    io.counters
}

/// The kernel's counters of a VIF (`None` if it cannot be asked).
pub(super) fn vif_counters(io: &Io, vif: VifIndex) -> Option<VifCounters> {
    io.mrt.get_ref().vif_count(vif).ok().map(|c| VifCounters {
        in_packets: c.in_packets,
        in_bytes: c.in_bytes,
        out_packets: c.out_packets,
        out_bytes: c.out_bytes,
    })
}
