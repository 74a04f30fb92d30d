//! The router: one sans-IO object that owns every piece of state (the
//! interface table, the manager, IGMP per interface, the routing
//! protocols, the kernel's forwarding table as we believe it is) and turns
//! each [`Input`] into ordered [`Output`]s.
//!
//! The daemon's event loop feeds it one input at a time. Every top-level
//! input ends with a *commit*: protocols see [`ProtoEvent::Commit`] and act
//! on the net result, and the kernel's VIFs and MFC entries are reconciled
//! with the manager's forwarding entries. The kernel is therefore always
//! programmed with the net result of a whole ownership sequence (flush and
//! re-add included), never with its intermediate steps.
//!
//! Every change of interface ownership, whatever its cause (config at
//! start, `mgmctl take/release`, an interface that vanishes), goes through
//! [`Router::change_owner`], which runs the manager's disable/enable
//! sequence and delivers IGMP's re-adds before anything else happens.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::config::Config;
use crate::core::hash::IntMap;
use crate::core::iface::{AddrFact, IfaceChange, IfaceTable, LinkFact};
use crate::core::igmp::{
    GroupStatus, IgmpAction, IgmpEvent, IgmpLog, IgmpRouter, IgmpStats, IgmpVersion,
};
use crate::core::mgm::{Effect, MembershipFlags, Mgm, MgmError};
use crate::core::mroute::{Desired, MrouteTable, MrtAction};
use crate::core::protocol::{self, HostFilter, ProtoAction, ProtoCtx, ProtoEvent, RoutingProtocol};
use crate::core::status::{
    AttributionView, GroupView, InterfaceView, ProtocolView, QuerierView, RouteView,
};
use crate::core::types::{
    ComponentId, FlowKey, GroupAddr, IfIndex, MembershipKey, ProtoId, VifIndex,
};
use crate::ctl::proto::EventRecord;

/// Packet and byte counters of one kernel forwarding entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowCounters {
    pub packets: u64,
    pub bytes: u64,
    pub wrong_if: u64,
}

/// What the I/O layer tells the router.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    Link(LinkFact),
    LinkGone(IfIndex),
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
        payload: Vec<u8>,
    },
    /// The kernel has no entry for a flow (NOCACHE upcall), with the
    /// unicast route towards the source.
    NewFlow {
        flow: FlowKey,
        arrival: IfIndex,
        rpf: Option<IfIndex>,
        upstream: Option<Ipv4Addr>,
    },
    /// Data of a flow arrived on an interface that is not its incoming one.
    WrongInterface {
        flow: FlowKey,
        arrival: IfIndex,
    },
    /// The unicast route towards `source` changed (a new lookup after a
    /// route change): its flows are decided again at once.
    RpfChanged {
        source: Ipv4Addr,
        rpf: Option<IfIndex>,
        upstream: Option<Ipv4Addr>,
    },
    /// Counters read back from the kernel.
    Counters(Vec<(FlowKey, FlowCounters)>),
    /// The kernel refused an action; forget it so it is retried.
    KernelRejected {
        action: MrtAction,
        error: String,
    },
    /// `now` reached [`Router::next_deadline`].
    Timer,
}

/// What the router asks the I/O layer to do, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    Mrt(MrtAction),
    /// Send an IGMP message (payload only: the I/O adds the IP header with
    /// TTL 1 and Router Alert).
    SendIgmp {
        ifindex: IfIndex,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        payload: Vec<u8>,
    },
    /// Start/stop receiving IGMP on an interface (join 224.0.0.22,
    /// 224.0.0.2 and 224.0.0.1 on the receive socket).
    ListenIgmp {
        ifindex: IfIndex,
        on: bool,
    },
    /// Host-side membership of this box (proxy upstream, static joins).
    HostMembership {
        ifindex: IfIndex,
        group: GroupAddr,
        filter: HostFilter,
    },
    Event(EventRecord),
}

/// Why an ownership change was asked for (logged with every step).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnerOp {
    Take(ProtoId),
    Release(ProtoId),
}

/// A registered routing protocol.
struct ProtoSlot {
    id: ProtoId,
    proto: Box<dyn RoutingProtocol>,
}

/// Book-keeping for one forwarding entry.
#[derive(Clone, Debug)]
struct FlowInfo {
    created: Instant,
    last_active: Instant,
    counters: FlowCounters,
    /// What the kernel told us when the flow first arrived, to decide it
    /// again without waiting for another upcall.
    origin: Option<FlowOrigin>,
}

impl FlowInfo {
    fn new(now: Instant) -> FlowInfo {
        FlowInfo {
            created: now,
            last_active: now,
            counters: FlowCounters::default(),
            origin: None,
        }
    }
}

/// Where a flow arrived and the unicast route towards its source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FlowOrigin {
    arrival: IfIndex,
    rpf: Option<IfIndex>,
    upstream: Option<Ipv4Addr>,
}

/// How long a host membership nobody wishes any more is kept before the
/// kernel is told to leave: an interface moving between protocols (two
/// control requests) then sends no leave upstream.
pub const HOST_LEAVE_HOLD: Duration = Duration::from_secs(3);

/// Merge several wishes for one group: sources anyone includes are
/// received; any EXCLUDE wish makes the result EXCLUDE of the sources
/// every EXCLUDE wish excludes and nobody includes (RFC 3376 3.2 merging).
fn merge_host_filters<'a>(wishes: impl Iterator<Item = &'a HostFilter>) -> Option<HostFilter> {
    let mut include: BTreeSet<Ipv4Addr> = BTreeSet::new();
    let mut exclude: Option<BTreeSet<Ipv4Addr>> = None;
    for w in wishes {
        match w {
            HostFilter::Include(set) => include.extend(set),
            HostFilter::Exclude(set) => {
                exclude = Some(match exclude {
                    None => set.clone(),
                    Some(e) => e.intersection(set).copied().collect(),
                });
            }
        }
    }
    match exclude {
        Some(e) => Some(HostFilter::Exclude(
            e.difference(&include).copied().collect(),
        )),
        None if include.is_empty() => None,
        None => Some(HostFilter::Include(include)),
    }
}

/// The number of effects one input may cause before the router assumes a
/// loop between components and stops delivering (logged).
const EFFECT_BUDGET: usize = 1_000_000;

/// The forwarding entries the kernel should have: the manager's entries
/// and the drop entries, read where they live.
struct DesiredEntries<'a> {
    mgm: &'a Mgm,
    drop_flows: &'a BTreeMap<FlowKey, (IfIndex, FlowInfo)>,
}

impl Desired for DesiredEntries<'_> {
    fn lookup(&self, flow: &FlowKey) -> Option<(IfIndex, impl Iterator<Item = IfIndex> + '_)> {
        match self.mgm.mfe(*flow) {
            Some(m) => Some((m.iif(), m.oifs().iter().copied())),
            None => self
                .drop_flows
                .get(flow)
                .map(|(iif, _)| (*iif, [].iter().copied())),
        }
    }

    fn all(&self) -> Cow<'_, BTreeMap<FlowKey, (IfIndex, BTreeSet<IfIndex>)>> {
        let mut all: BTreeMap<FlowKey, (IfIndex, BTreeSet<IfIndex>)> = self
            .mgm
            .mfes()
            .map(|(flow, m)| (*flow, (m.iif(), m.oifs().iter().copied().collect())))
            .collect();
        for (flow, (iif, _)) in self.drop_flows {
            all.entry(*flow).or_insert((*iif, BTreeSet::new()));
        }
        Cow::Owned(all)
    }
}

/// The whole daemon state, sans-IO.
pub struct Router {
    cfg: Config,
    start: Instant,
    ifaces: IfaceTable,
    mgm: Mgm,
    igmp: BTreeMap<IfIndex, IgmpRouter>,
    protocols: Vec<ProtoSlot>,
    mroute: MrouteTable,
    /// Book-keeping of the manager's entries (hashed: searched on every
    /// new flow; show commands walk the manager's ordered table).
    flows: IntMap<FlowKey, FlowInfo>,
    /// Flows nobody may forward, installed with no outgoing interface so
    /// the kernel stops asking.
    drop_flows: BTreeMap<FlowKey, (IfIndex, FlowInfo)>,
    /// Flows whose entry may have changed since the last commit (repeats
    /// allowed; sorted out at commit).
    dirty: Vec<FlowKey>,
    /// When the next forwarding entry may have been idle long enough.
    idle_deadline: Option<Instant>,
    /// Interfaces whose kernel VIF could not be allocated (32-VIF limit).
    vif_exhausted: BTreeSet<IfIndex>,
    /// Host memberships each protocol wishes, per (interface, group).
    host_wishes: BTreeMap<(IfIndex, GroupAddr), BTreeMap<ProtoId, HostFilter>>,
    /// Host memberships the kernel holds for us.
    host_applied: BTreeMap<(IfIndex, GroupAddr), HostFilter>,
    /// Memberships nobody wishes any more, left at the deadline.
    host_hold: BTreeMap<(IfIndex, GroupAddr), Instant>,
    /// Host memberships whose wishes (or interface) changed since the last
    /// commit: the only ones a commit looks at, with the due holds.
    host_dirty: BTreeSet<(IfIndex, GroupAddr)>,
    /// Record every manager effect as an event, not only ownership steps.
    effect_events: bool,
    /// Top-level counters for `mgmctl`.
    counters: BTreeMap<&'static str, u64>,
    out: Vec<Output>,
    seq: u64,
}

// ===== impl Router =====

impl Router {
    /// Build the router and register the configured protocols.
    pub fn new(cfg: Config, now: Instant) -> Router {
        let protocols = protocol::build(&cfg);
        Router::with_protocols(cfg, now, protocols)
    }

    /// Build the router with the given protocols instead of the ones the
    /// config names (tests, and protocols built outside the config).
    pub fn with_protocols(
        cfg: Config,
        now: Instant,
        protocols: Vec<Box<dyn RoutingProtocol>>,
    ) -> Router {
        let mut router = Router {
            cfg,
            start: now,
            ifaces: IfaceTable::new(),
            mgm: Mgm::new(),
            igmp: BTreeMap::new(),
            protocols: Vec::new(),
            mroute: MrouteTable::new(),
            flows: IntMap::default(),
            drop_flows: BTreeMap::new(),
            dirty: Vec::new(),
            idle_deadline: None,
            vif_exhausted: BTreeSet::new(),
            host_wishes: BTreeMap::new(),
            host_applied: BTreeMap::new(),
            host_hold: BTreeMap::new(),
            host_dirty: BTreeSet::new(),
            effect_events: true,
            counters: BTreeMap::new(),
            out: Vec::new(),
            seq: 0,
        };
        for proto in protocols {
            match router.mgm.register(proto.name()) {
                Ok(id) => {
                    router.protocols.push(ProtoSlot { id, proto });
                    router.deliver(now, id, ProtoEvent::Started);
                }
                Err(e) => router.event(now, "protocol", format!("{e}"), json!({})),
            }
        }
        router
    }

    /// Whether every manager effect (memberships, alerts, forwarding
    /// changes) becomes an event record, or only the ownership steps. The
    /// daemon turns it on while someone listens; it costs time per change.
    pub fn set_effect_events(&mut self, on: bool) {
        self.effect_events = on;
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn mgm(&self) -> &Mgm {
        &self.mgm
    }

    pub fn ifaces(&self) -> &IfaceTable {
        &self.ifaces
    }

    /// The interface behind a kernel VIF number (for upcalls).
    pub fn ifindex_of_vif(&self, vif: VifIndex) -> Option<IfIndex> {
        self.mroute.ifindex_of(vif)
    }

    /// Flows installed in the kernel (whose counters are worth reading).
    pub fn installed_flows(&self) -> Vec<FlowKey> {
        let mut flows: Vec<FlowKey> = self
            .flows
            .keys()
            .chain(self.drop_flows.keys())
            .copied()
            .collect();
        flows.sort_unstable();
        flows
    }

    /// Process one input to completion.
    pub fn handle(&mut self, now: Instant, input: Input) -> Vec<Output> {
        self.apply(now, input);
        self.commit(now);
        std::mem::take(&mut self.out)
    }

    /// The kernel refused `action`: count it and forget it, so the next
    /// commit tries again. Unlike [`Input::KernelRejected`] this commits
    /// nothing, so a refusal that repeats cannot loop; the returned outputs
    /// are the event records only.
    pub fn kernel_rejected(
        &mut self,
        now: Instant,
        action: MrtAction,
        error: String,
    ) -> Vec<Output> {
        self.note_rejected(now, action, error);
        std::mem::take(&mut self.out)
    }

    fn note_rejected(&mut self, now: Instant, action: MrtAction, error: String) {
        self.count("kernel_errors");
        self.mroute.mark_failed(&action);
        self.event(
            now,
            "kernel",
            format!("kernel refused {action}: {error}"),
            json!({"error": error}),
        );
    }

    /// Process several inputs that arrived together (a burst of IGMP
    /// reports, say) and commit once: the kernel and the protocols see the
    /// net result of the whole batch.
    pub fn handle_batch(
        &mut self,
        now: Instant,
        inputs: impl IntoIterator<Item = Input>,
    ) -> Vec<Output> {
        for input in inputs {
            self.apply(now, input);
        }
        self.commit(now);
        std::mem::take(&mut self.out)
    }

    /// One input, without the commit.
    fn apply(&mut self, now: Instant, input: Input) {
        match input {
            Input::Link(fact) => {
                let changes = self.ifaces.upsert_link(fact);
                self.apply_iface_changes(now, changes);
            }
            Input::LinkGone(ifindex) => {
                let changes: Vec<_> = self.ifaces.remove_link(ifindex).into_iter().collect();
                self.mroute.interface_gone(ifindex);
                self.apply_iface_changes(now, changes);
            }
            Input::AddrAdded(fact) => {
                let changes: Vec<_> = self.ifaces.add_addr(fact).into_iter().collect();
                self.apply_iface_changes(now, changes);
            }
            Input::AddrRemoved(fact) => {
                let changes: Vec<_> = self.ifaces.remove_addr(fact).into_iter().collect();
                self.apply_iface_changes(now, changes);
            }
            Input::Snapshot { links, addrs } => {
                let listed: BTreeSet<IfIndex> = links.iter().map(|l| l.ifindex).collect();
                let changes = self.ifaces.snapshot(links, addrs);
                for c in &changes {
                    // Only a device missing from the dump is gone, its VIF
                    // with it. One the table drops because a non-atomic dump
                    // listed its name twice still has its VIF.
                    if let IfaceChange::Removed { ifindex, .. } = c
                        && !listed.contains(ifindex)
                    {
                        self.mroute.interface_gone(*ifindex);
                    }
                }
                self.apply_iface_changes(now, changes);
            }
            Input::IgmpRx {
                ifindex,
                src,
                dst,
                ttl,
                router_alert,
                payload,
            } => self.igmp_rx(now, ifindex, src, dst, ttl, router_alert, payload),
            Input::NewFlow {
                flow,
                arrival,
                rpf,
                upstream,
            } => self.new_flow(now, flow, arrival, rpf, upstream),
            Input::WrongInterface { flow, arrival } => {
                self.count("wrong_interface");
                let name = self.ifname(arrival);
                self.event(
                    now,
                    "wrong-if",
                    format!("{flow} arrived on {name}, not its incoming interface"),
                    json!({"flow": flow, "arrival": arrival}),
                );
            }
            Input::Counters(list) => self.update_counters(now, list),
            Input::RpfChanged {
                source,
                rpf,
                upstream,
            } => self.rpf_changed(now, source, rpf, upstream),
            Input::KernelRejected { action, error } => self.note_rejected(now, action, error),
            Input::Timer => self.timers(now),
        }
    }

    /// `mgmctl take IFACE PROTO`.
    pub fn take(&mut self, now: Instant, ifname: &str, proto: &str) -> Result<Vec<Output>, String> {
        let (ifindex, id) = self.resolve(ifname, proto)?;
        self.change_owner(now, ifindex, OwnerOp::Take(id))
            .map_err(|e| e.to_string())?;
        self.commit(now);
        Ok(std::mem::take(&mut self.out))
    }

    /// `mgmctl release IFACE PROTO`.
    pub fn release(
        &mut self,
        now: Instant,
        ifname: &str,
        proto: &str,
    ) -> Result<Vec<Output>, String> {
        let (ifindex, id) = self.resolve(ifname, proto)?;
        self.change_owner(now, ifindex, OwnerOp::Release(id))
            .map_err(|e| e.to_string())?;
        self.commit(now);
        Ok(std::mem::take(&mut self.out))
    }

    /// Remove everything this router installed in the kernel.
    pub fn shutdown(&mut self, now: Instant) -> Vec<Output> {
        self.flows.clear();
        self.drop_flows.clear();
        let r = self.mroute.reconcile(&BTreeMap::new(), &BTreeSet::new());
        self.out.extend(r.actions.into_iter().map(Output::Mrt));
        let listening: Vec<IfIndex> = self.igmp.keys().copied().collect();
        for ifindex in listening {
            self.out.push(Output::ListenIgmp { ifindex, on: false });
        }
        self.event(now, "daemon", "shutting down".into(), json!({}));
        std::mem::take(&mut self.out)
    }

    /// The earliest time something is due.
    pub fn next_deadline(&self) -> Option<Instant> {
        let igmp = self.igmp.values().filter_map(|r| r.next_deadline());
        let protos = self
            .protocols
            .iter()
            .filter_map(|p| p.proto.next_deadline());
        let holds = self.host_hold.values().copied().min();
        igmp.chain(protos)
            .chain(self.idle_deadline)
            .chain(holds)
            .min()
    }

    // ===== interfaces =====

    fn resolve(&self, ifname: &str, proto: &str) -> Result<(IfIndex, ProtoId), String> {
        let ifindex = self.mgm_ifindex(ifname).ok_or_else(|| {
            format!("interface {ifname} is not known to mgmd (configured and present)")
        })?;
        let id = self
            .protocols
            .iter()
            .find(|p| p.proto.name() == proto)
            .map(|p| p.id)
            .ok_or_else(|| {
                let known: Vec<&str> = self.protocols.iter().map(|p| p.proto.name()).collect();
                format!(
                    "no routing protocol named {proto} is running (running: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                )
            })?;
        Ok((ifindex, id))
    }

    fn mgm_ifindex(&self, ifname: &str) -> Option<IfIndex> {
        let link = self.ifaces.by_name(ifname)?;
        self.mgm.interface(link.ifindex).map(|_| link.ifindex)
    }

    /// The IGMP settings for an interface name, if IGMP runs there.
    fn igmp_cfg(&self, name: &str) -> Option<crate::core::igmp::config::IgmpIfConfig> {
        self.cfg
            .interfaces
            .iter()
            .find(|i| i.name == name)
            .and_then(|i| i.igmp.clone())
    }

    /// Whether mgmd uses this interface at all.
    fn is_configured(&self, name: &str) -> bool {
        self.cfg.interfaces.iter().any(|i| i.name == name) || self.config_owner(name).is_some()
    }

    /// The protocol that owns an interface name according to config.
    fn config_owner(&self, name: &str) -> Option<ProtoId> {
        self.protocols
            .iter()
            .find(|p| p.proto.configured_interfaces().contains(name))
            .map(|p| p.id)
    }

    fn apply_iface_changes(&mut self, now: Instant, changes: Vec<IfaceChange>) {
        for change in changes {
            match change {
                IfaceChange::Added { ifindex, name } => self.iface_added(now, ifindex, &name),
                IfaceChange::Removed { ifindex, name } => {
                    // Host memberships there are gone with the link.
                    let on_it: Vec<_> = self
                        .host_wishes
                        .keys()
                        .chain(self.host_applied.keys())
                        .filter(|(i, _)| *i == ifindex)
                        .copied()
                        .collect();
                    self.host_dirty.extend(on_it);
                    self.iface_removed(now, ifindex, &name)
                }
                IfaceChange::Renamed { ifindex, old, new } => {
                    self.event(
                        now,
                        "interface",
                        format!("{old} (ifindex {ifindex}) renamed to {new}"),
                        json!({"ifindex": ifindex, "old": old, "new": new}),
                    );
                    if self.mgm.interface(ifindex).is_some() {
                        self.iface_removed(now, ifindex, &old);
                    }
                    self.iface_added(now, ifindex, &new);
                }
                IfaceChange::OperChanged { ifindex, up } => self.iface_oper(now, ifindex, up),
                IfaceChange::AddrsChanged { ifindex } => self.iface_addrs(now, ifindex),
            }
        }
    }

    fn iface_added(&mut self, now: Instant, ifindex: IfIndex, name: &str) {
        if !self.is_configured(name) {
            return;
        }
        let Some(link) = self.ifaces.get(ifindex) else {
            return;
        };
        let up = link.oper_up();
        self.event(
            now,
            "interface",
            format!(
                "{name} appeared (ifindex {ifindex}, {})",
                if up { "up" } else { "down" }
            ),
            json!({"ifindex": ifindex, "name": name, "up": up}),
        );
        let effects = self.mgm.interface_add(ifindex, name, up);
        self.process_effects(now, effects);
        if self.igmp_cfg(name).is_some() {
            match self.mgm.take_ownership(ComponentId::Igmp, ifindex) {
                Ok(effects) => self.process_effects(now, effects),
                Err(e) => self.mgm_error(now, "igmp take", e),
            }
            if up {
                self.igmp_start(now, ifindex);
            }
        }
        if let Some(id) = self.config_owner(name) {
            if let Err(e) = self.change_owner(now, ifindex, OwnerOp::Take(id)) {
                self.mgm_error(now, "take", e);
            }
        }
    }

    fn iface_removed(&mut self, now: Instant, ifindex: IfIndex, name: &str) {
        if self.mgm.interface(ifindex).is_none() {
            return;
        }
        self.event(
            now,
            "interface",
            format!("{name} (ifindex {ifindex}) vanished; configured interfaces by that name wait for it"),
            json!({"ifindex": ifindex, "name": name}),
        );
        // IGMP state dies with the link: nothing is re-added at enable.
        self.igmp_stop(now, ifindex, false);
        let owner = self.routing_owner(ifindex);
        match self.mgm.interface_remove(ifindex) {
            Ok(effects) => self.process_effects(now, effects),
            Err(e) => self.mgm_error(now, "interface remove", e),
        }
        if let Some(id) = owner {
            self.deliver(now, id, ProtoEvent::InterfaceReleased { ifindex });
        }
        self.drop_flows_retain(|iif| iif != ifindex);
    }

    fn iface_oper(&mut self, now: Instant, ifindex: IfIndex, up: bool) {
        if self.mgm.interface(ifindex).is_none() {
            return;
        }
        let name = self.ifname(ifindex);
        self.event(
            now,
            "interface",
            format!("{name} is {}", if up { "up" } else { "down" }),
            json!({"ifindex": ifindex, "up": up}),
        );
        if !up {
            self.igmp_stop(now, ifindex, true);
        }
        match self.mgm.interface_set_up(ifindex, up) {
            Ok(effects) => self.process_effects(now, effects),
            Err(e) => self.mgm_error(now, "interface state", e),
        }
        if up && self.igmp_cfg(&name).is_some() {
            self.igmp_start(now, ifindex);
        }
        if let Some(id) = self.routing_owner(ifindex) {
            self.deliver(now, id, ProtoEvent::InterfaceChanged { ifindex });
        }
    }

    fn iface_addrs(&mut self, now: Instant, ifindex: IfIndex) {
        let Some(link) = self.ifaces.get(ifindex) else {
            return;
        };
        let (addr, subnets) = (link.primary_addr(), link.subnets());
        if let Some(r) = self.igmp.get_mut(&ifindex) {
            let mut actions = r.handle(now, IgmpEvent::AddressChanged(addr));
            actions.extend(r.handle(now, IgmpEvent::SubnetsChanged(subnets)));
            self.igmp_actions(now, ifindex, actions);
        }
        if let Some(id) = self.routing_owner(ifindex) {
            self.deliver(now, id, ProtoEvent::InterfaceChanged { ifindex });
        }
    }

    fn ifname(&self, ifindex: IfIndex) -> String {
        self.ifaces
            .get(ifindex)
            .map(|l| l.name.clone())
            .unwrap_or_else(|| format!("ifindex {ifindex}"))
    }

    fn routing_owner(&self, ifindex: IfIndex) -> Option<ProtoId> {
        match self.mgm.owner(ifindex) {
            Ok(Some(ComponentId::Protocol(p))) => Some(p),
            _ => None,
        }
    }

    // ===== ownership =====

    /// The one path for every change of ownership: the manager runs the
    /// disable/enable sequence; IGMP's re-adds are delivered as its answer
    /// to the enable; the protocol is told once the sequence is complete.
    pub fn change_owner(
        &mut self,
        now: Instant,
        ifindex: IfIndex,
        op: OwnerOp,
    ) -> Result<(), MgmError> {
        let name = self.ifname(ifindex);
        let (verb, id) = match op {
            OwnerOp::Take(id) => ("takes", id),
            OwnerOp::Release(id) => ("releases", id),
        };
        let pname = self.mgm.protocol_name(id).unwrap_or("?").to_string();
        // Flows coming in on this interface are decided again by the new
        // owner right after the sequence, from what the kernel told us when
        // they arrived: no upcall round trip, and no kernel change at all
        // when the decision comes out the same.
        let redecide: Vec<(FlowKey, FlowInfo)> = self
            .mgm
            .mfes()
            .filter(|(_, m)| m.iif() == ifindex)
            .filter_map(|(f, _)| self.flows.get(f).map(|i| (*f, i.clone())))
            .chain(
                self.drop_flows
                    .iter()
                    .filter(|(_, (iif, _))| *iif == ifindex)
                    .map(|(f, (_, i))| (*f, i.clone())),
            )
            .collect();
        let effects = match op {
            OwnerOp::Take(id) => self
                .mgm
                .take_ownership(ComponentId::Protocol(id), ifindex)?,
            OwnerOp::Release(id) => self
                .mgm
                .release_ownership(ComponentId::Protocol(id), ifindex)?,
        };
        self.event(
            now,
            "ownership",
            format!("{pname} {verb} {name}: sequence starts"),
            json!({"ifindex": ifindex, "interface": name, "protocol": pname, "op": verb}),
        );
        self.process_effects(now, effects);
        let ev = match op {
            OwnerOp::Take(_) => ProtoEvent::InterfaceTaken { ifindex },
            OwnerOp::Release(_) => ProtoEvent::InterfaceReleased { ifindex },
        };
        self.deliver(now, id, ev);
        self.redecide(now, redecide);
        self.event(
            now,
            "ownership",
            format!("{pname} {verb} {name}: sequence complete"),
            json!({"ifindex": ifindex, "interface": name, "protocol": pname, "op": verb}),
        );
        Ok(())
    }

    // ===== effects =====

    /// Deliver the manager's effects, in order, with everything they cause
    /// (IGMP re-adds after an enable, protocol answers to alerts).
    fn process_effects(&mut self, now: Instant, effects: Vec<Effect>) {
        let mut queue: VecDeque<Effect> = effects.into();
        let mut budget = EFFECT_BUDGET;
        while let Some(effect) = queue.pop_front() {
            budget -= 1;
            if budget == 0 {
                self.count("effect_loops");
                self.event(
                    now,
                    "error",
                    "too many effects from one input; components may be looping".into(),
                    json!({}),
                );
                return;
            }
            self.log_effect(now, &effect);
            let more = match effect {
                Effect::EnableIgmp { ifindex } => self.igmp_readd(ifindex),
                Effect::JoinAlert {
                    to: ComponentId::Protocol(p),
                    key,
                    member_update,
                } => self.deliver_collect(now, p, ProtoEvent::JoinAlert { key, member_update }),
                Effect::PruneAlert {
                    to: ComponentId::Protocol(p),
                    key,
                    ifindex,
                    member_delete,
                } => self.deliver_collect(
                    now,
                    p,
                    ProtoEvent::PruneAlert {
                        key,
                        ifindex,
                        member_delete,
                    },
                ),
                Effect::LocalJoin { to, key, ifindex } => {
                    self.deliver_collect(now, to, ProtoEvent::LocalJoin { key, ifindex })
                }
                Effect::LocalLeave { to, key, ifindex } => {
                    self.deliver_collect(now, to, ProtoEvent::LocalLeave { key, ifindex })
                }
                Effect::CreationAlert {
                    to: ComponentId::Protocol(p),
                    flow,
                    iif,
                    oifs,
                } => self.creation_alert(now, p, flow, iif, &oifs),
                Effect::MfeCreated { flow, .. } => {
                    // `new_flow` records the flow with where it came from.
                    self.dirty.push(flow);
                    self.note_active(now);
                    Vec::new()
                }
                Effect::MfeChanged { flow, .. } => {
                    self.dirty.push(flow);
                    Vec::new()
                }
                Effect::MfeDeleted { flow } => {
                    self.flows.remove(&flow);
                    self.dirty.push(flow);
                    Vec::new()
                }
                _ => Vec::new(),
            };
            if !more.is_empty() {
                queue.extend(more);
            }
        }
    }

    /// IGMP's answer to ENABLE: re-add every membership it holds there.
    fn igmp_readd(&mut self, ifindex: IfIndex) -> Vec<Effect> {
        let Some(r) = self.igmp.get(&ifindex) else {
            return Vec::new();
        };
        let mut effects = Vec::new();
        for key in r.memberships() {
            match self
                .mgm
                .add_membership(ComponentId::Igmp, key, ifindex, MembershipFlags::JOIN)
            {
                Ok(e) => effects.extend(e),
                Err(e) => {
                    self.count("igmp_readd_errors");
                    tracing::warn!(target: "mgm", %ifindex, %key, "failed to re-add membership: {e}");
                }
            }
        }
        effects
    }

    fn log_effect(&mut self, now: Instant, effect: &Effect) {
        let ownership = matches!(
            effect,
            Effect::DisableIgmp { .. } | Effect::EnableIgmp { .. } | Effect::OwnerChanged { .. }
        );
        // Ownership steps are always recorded; the rest only when someone
        // reads them (an events subscriber, debug logging).
        if !ownership && !self.effect_events {
            return;
        }
        let text = match effect {
            Effect::DisableIgmp { ifindex } => {
                format!("disable IGMP on {}", self.ifname(*ifindex))
            }
            Effect::EnableIgmp { ifindex } => format!("enable IGMP on {}", self.ifname(*ifindex)),
            Effect::OwnerChanged { ifindex, old, new } => format!(
                "owner of {}: {} -> {}",
                self.ifname(*ifindex),
                self.proto_label(*old),
                self.proto_label(*new)
            ),
            other => format!("{other:?}"),
        };
        let kind = match effect {
            Effect::DisableIgmp { .. }
            | Effect::EnableIgmp { .. }
            | Effect::OwnerChanged { .. } => "ownership",
            _ => "effect",
        };
        let data = serde_json::to_value(effect).unwrap_or_default();
        self.event(now, kind, text, data);
    }

    fn proto_label(&self, p: Option<ProtoId>) -> String {
        match p {
            None => "igmp-only".to_string(),
            Some(p) => self.mgm.protocol_name(p).unwrap_or("?").to_string(),
        }
    }

    // ===== protocols =====

    fn slot(&mut self, id: ProtoId) -> Option<usize> {
        self.protocols.iter().position(|p| p.id == id)
    }

    fn deliver(&mut self, now: Instant, id: ProtoId, ev: ProtoEvent) {
        let effects = self.deliver_collect(now, id, ev);
        self.process_effects(now, effects);
    }

    /// Deliver one event to a protocol and carry out its actions; returns
    /// the manager effects those actions caused (not yet processed).
    fn deliver_collect(&mut self, now: Instant, id: ProtoId, ev: ProtoEvent) -> Vec<Effect> {
        let Some(i) = self.slot(id) else {
            return Vec::new();
        };
        let ctx = ProtoCtx {
            now,
            me: id,
            ifaces: &self.ifaces,
            mgm: &self.mgm,
        };
        let actions = self.protocols[i].proto.handle(&ctx, ev);
        self.proto_actions(now, id, actions)
    }

    fn proto_actions(
        &mut self,
        now: Instant,
        id: ProtoId,
        actions: Vec<ProtoAction>,
    ) -> Vec<Effect> {
        let mut effects = Vec::new();
        let c = ComponentId::Protocol(id);
        for action in actions {
            let result = match action {
                ProtoAction::TakeInterface { ifindex } => self
                    .change_owner(now, ifindex, OwnerOp::Take(id))
                    .map(|_| Vec::new()),
                ProtoAction::ReleaseInterface { ifindex } => self
                    .change_owner(now, ifindex, OwnerOp::Release(id))
                    .map(|_| Vec::new()),
                ProtoAction::AddMembership {
                    key,
                    ifindex,
                    flags,
                } => self.mgm.add_membership(c, key, ifindex, flags),
                ProtoAction::DeleteMembership {
                    key,
                    ifindex,
                    flags,
                } => self.mgm.delete_membership(c, key, ifindex, flags),
                ProtoAction::HostMembership {
                    ifindex,
                    group,
                    filter,
                } => {
                    self.host_dirty.insert((ifindex, group));
                    let wishes = self.host_wishes.entry((ifindex, group)).or_default();
                    if matches!(&filter, HostFilter::Include(s) if s.is_empty()) {
                        wishes.remove(&id);
                    } else {
                        wishes.insert(id, filter);
                    }
                    if wishes.is_empty() {
                        self.host_wishes.remove(&(ifindex, group));
                    }
                    Ok(Vec::new())
                }
                ProtoAction::FlushFlows { iif } => {
                    let flows: Vec<FlowKey> = self
                        .mgm
                        .mfes()
                        .filter(|(_, m)| m.iif() == iif)
                        .map(|(f, _)| *f)
                        .collect();
                    let mut e = Vec::new();
                    for flow in flows {
                        if let Ok(more) = self.mgm.delete_mfe(flow) {
                            e.extend(more);
                        }
                    }
                    self.drop_flows_retain(|i| i != iif);
                    Ok(e)
                }
            };
            match result {
                Ok(e) => effects.extend(e),
                Err(e) => self.mgm_error(now, "protocol action", e),
            }
        }
        effects
    }

    fn creation_alert(
        &mut self,
        now: Instant,
        id: ProtoId,
        flow: FlowKey,
        iif: IfIndex,
        oifs: &[IfIndex],
    ) -> Vec<Effect> {
        let Some(i) = self.slot(id) else {
            return Vec::new();
        };
        let ctx = ProtoCtx {
            now,
            me: id,
            ifaces: &self.ifaces,
            mgm: &self.mgm,
        };
        let disabled = self.protocols[i]
            .proto
            .creation_alert(&ctx, flow, iif, oifs);
        let mut effects = Vec::new();
        for oif in disabled {
            match self.mgm.set_oif_enabled(flow, oif, false) {
                Ok(e) => effects.extend(e),
                Err(e) => self.mgm_error(now, "creation alert", e),
            }
        }
        effects
    }

    // ===== IGMP =====

    fn igmp_start(&mut self, now: Instant, ifindex: IfIndex) {
        if self.igmp.contains_key(&ifindex) {
            return;
        }
        let Some(link) = self.ifaces.get(ifindex) else {
            return;
        };
        let Some(cfg) = self.igmp_cfg(&link.name) else {
            return;
        };
        let (addr, subnets) = (link.primary_addr(), link.subnets());
        let mut r = IgmpRouter::new(cfg, addr, now);
        let mut actions = r.handle(now, IgmpEvent::SubnetsChanged(subnets));
        actions.extend(r.handle(now, IgmpEvent::Timer));
        self.igmp.insert(ifindex, r);
        self.out.push(Output::ListenIgmp { ifindex, on: true });
        self.igmp_actions(now, ifindex, actions);
    }

    /// Stop IGMP on an interface. `withdraw`: delete its memberships from
    /// the manager (link down); otherwise the caller removes the interface.
    fn igmp_stop(&mut self, now: Instant, ifindex: IfIndex, withdraw: bool) {
        let Some(mut r) = self.igmp.remove(&ifindex) else {
            return;
        };
        let actions = r.handle(now, IgmpEvent::Stop);
        self.out.push(Output::ListenIgmp { ifindex, on: false });
        if withdraw {
            self.igmp_actions(now, ifindex, actions);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn igmp_rx(
        &mut self,
        now: Instant,
        ifindex: IfIndex,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        ttl: u8,
        router_alert: bool,
        payload: Vec<u8>,
    ) {
        if self.ifaces.is_local_addr(src) {
            self.count("igmp_rx_own");
            return;
        }
        if let Some(id) = self.routing_owner(ifindex) {
            self.deliver(
                now,
                id,
                ProtoEvent::IgmpRx {
                    ifindex,
                    src,
                    dst,
                    payload: payload.clone(),
                },
            );
        }
        let Some(r) = self.igmp.get_mut(&ifindex) else {
            self.count("igmp_rx_not_enabled");
            return;
        };
        let actions = r.handle(
            now,
            IgmpEvent::Rx {
                src,
                dst,
                ttl,
                router_alert,
                payload,
            },
        );
        self.igmp_actions(now, ifindex, actions);
    }

    fn igmp_actions(&mut self, now: Instant, ifindex: IfIndex, actions: Vec<IgmpAction>) {
        for action in actions {
            let result = match action {
                IgmpAction::Send { dst, payload } => {
                    match self.ifaces.get(ifindex).and_then(|l| l.primary_addr()) {
                        Some(src) => self.out.push(Output::SendIgmp {
                            ifindex,
                            src,
                            dst,
                            payload,
                        }),
                        None => self.count("igmp_tx_no_address"),
                    }
                    continue;
                }
                IgmpAction::MembershipUp(key) => {
                    self.mgm
                        .add_membership(ComponentId::Igmp, key, ifindex, MembershipFlags::JOIN)
                }
                IgmpAction::MembershipDown(key) => self.mgm.delete_membership(
                    ComponentId::Igmp,
                    key,
                    ifindex,
                    MembershipFlags::JOIN,
                ),
                IgmpAction::Log(log) => {
                    let text = format!("{}: {log:?}", self.ifname(ifindex));
                    let data = serde_json::to_value(&log).unwrap_or_default();
                    // Querier changes matter to operators; group churn is debug.
                    let kind = match log {
                        IgmpLog::QuerierUp { .. } | IgmpLog::QuerierDown { .. } => "querier",
                        _ => "igmp",
                    };
                    self.event(now, kind, text, json!({"ifindex": ifindex, "log": data}));
                    continue;
                }
            };
            match result {
                Ok(effects) => self.process_effects(now, effects),
                // Disabled: IGMP keeps the state and re-adds at enable.
                Err(MgmError::IgmpDisabled(_)) => self.count("igmp_changes_while_disabled"),
                Err(e) => self.mgm_error(now, "igmp membership", e),
            }
        }
    }

    // ===== flows =====

    fn new_flow(
        &mut self,
        now: Instant,
        flow: FlowKey,
        arrival: IfIndex,
        rpf: Option<IfIndex>,
        upstream: Option<Ipv4Addr>,
    ) {
        self.count("new_flows");
        // A flow the manager has an entry for is found out by `create_mfe`
        // (one search of its table instead of two).
        if self.drop_flows.contains_key(&flow) {
            self.reinstall(flow);
            return;
        }
        let rpf = rpf.filter(|i| self.mgm.interface(*i).is_some());
        // The RPF callback goes to the protocol owning the RPF interface,
        // else to the one owning the interface the data arrived on.
        let asked = rpf
            .and_then(|i| self.routing_owner(i))
            .or_else(|| self.routing_owner(arrival));
        let iif = match asked {
            Some(id) => match self.slot(id) {
                Some(i) => {
                    let ctx = ProtoCtx {
                        now,
                        me: id,
                        ifaces: &self.ifaces,
                        mgm: &self.mgm,
                    };
                    self.protocols[i].proto.rpf(&ctx, flow, arrival, rpf)
                }
                None => rpf,
            },
            None => rpf,
        };
        let iif = iif.filter(|i| self.mgm.interface(*i).is_some() && !flow.group.is_link_local());
        match iif {
            Some(iif) => match self.mgm.create_mfe(flow, iif, upstream) {
                Ok(effects) => {
                    let mut info = FlowInfo::new(now);
                    info.origin = Some(FlowOrigin {
                        arrival,
                        rpf,
                        upstream,
                    });
                    self.flows.insert(flow, info);
                    self.process_effects(now, effects);
                    let owner = self.routing_owner(iif);
                    if let Some(id) = owner {
                        self.deliver(now, id, ProtoEvent::FlowCreated { flow, iif });
                    }
                    let others: Vec<ProtoId> = self
                        .protocols
                        .iter()
                        .map(|p| p.id)
                        .filter(|id| Some(*id) != owner)
                        .collect();
                    for id in others {
                        self.deliver(now, id, ProtoEvent::FlowSeen { flow, iif });
                    }
                }
                Err(_) if self.mgm.mfe(flow).is_some() => self.reinstall(flow),
                Err(e) => self.mgm_error(now, "new flow", e),
            },
            None if self.mgm.mfe(flow).is_some() => self.reinstall(flow),
            None => {
                self.count("flows_refused");
                self.event(
                    now,
                    "kernel",
                    format!(
                        "{flow} from {}: no incoming interface of ours towards the source; dropping it",
                        self.ifname(arrival)
                    ),
                    json!({"flow": flow, "arrival": arrival}),
                );
                let mut info = FlowInfo::new(now);
                info.origin = Some(FlowOrigin {
                    arrival,
                    rpf,
                    upstream,
                });
                self.drop_flows.insert(flow, (arrival, info));
                self.dirty.push(flow);
                self.note_active(now);
            }
        }
    }

    /// The kernel asked about a flow we have an entry for: it lost the
    /// entry (flushed by someone else, say). Reinstall it at commit.
    fn reinstall(&mut self, flow: FlowKey) {
        if let Some(e) = self.mroute.mfc_entry(&flow).copied() {
            self.mroute.mark_failed(&MrtAction::AddMfc {
                flow,
                iif_vif: e.iif,
                oifs: e.oifs,
            });
        }
    }

    /// Decide flows again from what the kernel told us when they arrived
    /// (after their incoming interface changed hands, or the route towards
    /// their source changed). A flow still holding an entry is first
    /// forgotten; age and counters carry over. The kernel sees one
    /// replacement at commit, or nothing when the decision is the same.
    fn redecide(&mut self, now: Instant, flows: Vec<(FlowKey, FlowInfo)>) {
        for (flow, info) in flows {
            if self.drop_flows.remove(&flow).is_some() {
                self.dirty.push(flow);
            }
            if self.mgm.mfe(flow).is_some() {
                match self.mgm.delete_mfe(flow) {
                    Ok(effects) => self.process_effects(now, effects),
                    Err(e) => self.mgm_error(now, "re-deciding a flow", e),
                }
            }
            let Some(o) = info.origin else { continue };
            self.new_flow(now, flow, o.arrival, o.rpf, o.upstream);
            // The same flow: keep its age and counters.
            let again = match self.flows.get_mut(&flow) {
                Some(i) => Some(i),
                None => self.drop_flows.get_mut(&flow).map(|(_, i)| i),
            };
            if let Some(i) = again {
                i.created = info.created;
                i.last_active = info.last_active;
                i.counters = info.counters;
            }
        }
    }

    /// The route towards `source` changed: its flows are decided again.
    fn rpf_changed(
        &mut self,
        now: Instant,
        source: Ipv4Addr,
        rpf: Option<IfIndex>,
        upstream: Option<Ipv4Addr>,
    ) {
        let flows: Vec<(FlowKey, FlowInfo)> = self
            .flows
            .iter()
            .chain(self.drop_flows.iter().map(|(f, (_, i))| (f, i)))
            .filter(|(f, i)| {
                f.source == source
                    && i.origin
                        .is_some_and(|o| o.rpf != rpf || o.upstream != upstream)
            })
            .map(|(f, i)| {
                let mut i = i.clone();
                if let Some(o) = i.origin.as_mut() {
                    o.rpf = rpf;
                    o.upstream = upstream;
                }
                (*f, i)
            })
            .collect();
        if flows.is_empty() {
            return;
        }
        self.count("rpf_changes");
        self.event(
            now,
            "kernel",
            format!(
                "route towards {source} changed: deciding {} flow(s) again",
                flows.len()
            ),
            json!({"source": source, "rpf": rpf, "flows": flows.len()}),
        );
        self.redecide(now, flows);
    }

    /// Each source of an installed flow with the route recorded for it (for
    /// the daemon's re-lookup after route changes).
    pub fn flow_sources(&self) -> Vec<(Ipv4Addr, Option<IfIndex>, Option<Ipv4Addr>)> {
        let mut out: Vec<_> = self
            .flows
            .iter()
            .chain(self.drop_flows.iter().map(|(f, (_, i))| (f, i)))
            .filter_map(|(f, i)| i.origin.map(|o| (f.source, o.rpf, o.upstream)))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    fn update_counters(&mut self, now: Instant, list: Vec<(FlowKey, FlowCounters)>) {
        for (flow, c) in list {
            let info = match self.flows.get_mut(&flow) {
                Some(info) => info,
                None => match self.drop_flows.get_mut(&flow) {
                    Some((_, info)) => info,
                    None => continue,
                },
            };
            if c.packets != info.counters.packets {
                info.last_active = now;
            }
            info.counters = c;
        }
        self.recompute_idle_deadline();
    }

    fn timers(&mut self, now: Instant) {
        let due: Vec<IfIndex> = self
            .igmp
            .iter()
            .filter(|(_, r)| r.next_deadline().is_some_and(|d| d <= now))
            .map(|(i, _)| *i)
            .collect();
        for ifindex in due {
            if let Some(r) = self.igmp.get_mut(&ifindex) {
                let actions = r.handle(now, IgmpEvent::Timer);
                self.igmp_actions(now, ifindex, actions);
            }
        }
        let due: Vec<ProtoId> = self
            .protocols
            .iter()
            .filter(|p| p.proto.next_deadline().is_some_and(|d| d <= now))
            .map(|p| p.id)
            .collect();
        for id in due {
            self.deliver(now, id, ProtoEvent::Timer);
        }
        if self.idle_deadline.is_some_and(|d| d <= now) {
            self.expire_idle_flows(now);
        }
    }

    /// Remove forwarding entries that carried no traffic for the idle time.
    fn expire_idle_flows(&mut self, now: Instant) {
        let idle = self.cfg.global.mfe_idle_timeout;
        let mut expired: Vec<FlowKey> = self
            .flows
            .iter()
            .filter(|(_, f)| f.last_active + idle <= now)
            .map(|(k, _)| *k)
            .collect();
        expired.sort_unstable();
        for flow in expired {
            self.event(
                now,
                "kernel",
                format!(
                    "{flow} idle for {}; removing it",
                    humantime::format_duration(idle)
                ),
                json!({"flow": flow}),
            );
            match self.mgm.delete_mfe(flow) {
                Ok(effects) => self.process_effects(now, effects),
                Err(e) => self.mgm_error(now, "idle flow", e),
            }
            self.flows.remove(&flow);
        }
        let dirty = &mut self.dirty;
        self.drop_flows.retain(|flow, (_, f)| {
            let keep = f.last_active + idle > now;
            if !keep {
                dirty.push(*flow);
            }
            keep
        });
        self.recompute_idle_deadline();
    }

    // ===== commit =====

    /// End of a top-level operation: protocols act on the net result, then
    /// the kernel is reconciled with the forwarding entries.
    fn commit(&mut self, now: Instant) {
        let ids: Vec<ProtoId> = self.protocols.iter().map(|p| p.id).collect();
        for id in ids {
            self.deliver(now, id, ProtoEvent::Commit);
        }
        self.commit_host(now);
        let pinned: BTreeSet<IfIndex> = self
            .mgm
            .interfaces()
            .filter(|(_, i)| i.up)
            .map(|(ifindex, _)| ifindex)
            .filter(|i| self.ifaces.get(*i).is_some())
            .collect();
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.sort_unstable();
        dirty.dedup();
        let desired = DesiredEntries {
            mgm: &self.mgm,
            drop_flows: &self.drop_flows,
        };
        let r = self.mroute.reconcile_flows(&desired, &dirty, &pinned);
        debug_assert_eq!(
            self.mroute.first_drift(&desired),
            None,
            "a changed forwarding entry was not reconciled"
        );
        // Keep the allocation for the next commit.
        dirty.clear();
        self.dirty = dirty;
        for ifindex in r.vif_exhausted {
            if self.vif_exhausted.insert(ifindex) {
                self.count("vif_limit_reached");
                let name = self.ifname(ifindex);
                self.event(
                    now,
                    "kernel",
                    format!(
                        "no VIF for {name}: the kernel allows {} per table; it is not forwarded",
                        crate::core::types::MAXVIFS
                    ),
                    json!({"ifindex": ifindex, "interface": name}),
                );
            }
        }
        self.vif_exhausted
            .retain(|i| pinned.contains(i) && self.mroute.vif_of(*i).is_none());
        self.out.extend(r.actions.into_iter().map(Output::Mrt));
    }

    /// Apply the net change of the merged host-membership wishes. A
    /// membership nobody wishes is held for [`HOST_LEAVE_HOLD`] first.
    /// Only memberships whose wishes or interface changed, and those whose
    /// hold is due, are looked at: the cost follows the changes, not the
    /// number of memberships.
    fn commit_host(&mut self, now: Instant) {
        let mut keys = std::mem::take(&mut self.host_dirty);
        keys.extend(
            self.host_hold
                .iter()
                .filter(|(_, d)| **d <= now)
                .map(|(k, _)| *k),
        );
        for key in keys {
            let (ifindex, group) = key;
            let (gone, merged) = self.host_target(&key);
            match merged {
                Some(filter) => {
                    self.host_hold.remove(&key);
                    if self.host_applied.get(&key) != Some(&filter) {
                        self.host_applied.insert(key, filter.clone());
                        self.out.push(Output::HostMembership {
                            ifindex,
                            group,
                            filter,
                        });
                    }
                }
                None if self.host_applied.contains_key(&key) => {
                    let deadline = if gone {
                        now
                    } else {
                        *self.host_hold.entry(key).or_insert(now + HOST_LEAVE_HOLD)
                    };
                    if deadline <= now {
                        self.host_hold.remove(&key);
                        self.host_applied.remove(&key);
                        self.out.push(Output::HostMembership {
                            ifindex,
                            group,
                            filter: HostFilter::Include(BTreeSet::new()),
                        });
                    }
                }
                None => {}
            }
            if gone {
                self.host_wishes.remove(&key);
            }
        }
        debug_assert!(
            self.host_settled(now),
            "a changed host membership was not looked at"
        );
    }

    /// What the kernel should hold for a host membership: whether its
    /// interface is gone, and the merged wishes (`None`: nobody wishes it).
    fn host_target(&self, key: &(IfIndex, GroupAddr)) -> (bool, Option<HostFilter>) {
        let gone = self.ifaces.get(key.0).is_none();
        let merged = if gone {
            None
        } else {
            self.host_wishes
                .get(key)
                .and_then(|w| merge_host_filters(w.values()))
        };
        (gone, merged)
    }

    /// Every host membership as the wishes say, or held (the check that
    /// every change marked its membership).
    fn host_settled(&self, now: Instant) -> bool {
        let keys: BTreeSet<&(IfIndex, GroupAddr)> = self
            .host_wishes
            .keys()
            .chain(self.host_applied.keys())
            .collect();
        keys.into_iter().all(|key| {
            let (gone, merged) = self.host_target(key);
            match merged {
                Some(f) => {
                    self.host_applied.get(key) == Some(&f) && !self.host_hold.contains_key(key)
                }
                None => {
                    !gone
                        && self.host_applied.contains_key(key)
                        && self.host_hold.get(key).is_some_and(|d| *d > now)
                        || !self.host_applied.contains_key(key)
                }
            }
        })
    }

    /// Remove the drop entries whose incoming interface fails `keep`.
    fn drop_flows_retain(&mut self, keep: impl Fn(IfIndex) -> bool) {
        let dirty = &mut self.dirty;
        self.drop_flows.retain(|flow, (iif, _)| {
            let k = keep(*iif);
            if !k {
                dirty.push(*flow);
            }
            k
        });
    }

    /// A flow became active now: its idle deadline is no earlier than the
    /// one already known.
    fn note_active(&mut self, now: Instant) {
        let d = now + self.cfg.global.mfe_idle_timeout;
        self.idle_deadline = Some(self.idle_deadline.map_or(d, |x| x.min(d)));
    }

    /// Recompute when the next entry may be idle for long enough.
    fn recompute_idle_deadline(&mut self) {
        let idle = self.cfg.global.mfe_idle_timeout;
        self.idle_deadline = self
            .flows
            .values()
            .chain(self.drop_flows.values().map(|(_, f)| f))
            .map(|f| f.last_active + idle)
            .min();
    }

    // ===== helpers =====

    fn count(&mut self, what: &'static str) {
        *self.counters.entry(what).or_default() += 1;
    }

    fn mgm_error(&mut self, now: Instant, context: &str, e: MgmError) {
        self.count("manager_errors");
        self.event(now, "error", format!("{context}: {e}"), json!({}));
    }

    fn event(&mut self, now: Instant, kind: &str, text: String, data: serde_json::Value) {
        self.seq += 1;
        self.out.push(Output::Event(EventRecord {
            t_ms: now.saturating_duration_since(self.start).as_millis() as u64,
            seq: self.seq,
            kind: kind.to_string(),
            text,
            data,
        }));
    }

    // ===== views =====

    pub fn show_interfaces(&self, now: Instant) -> Vec<InterfaceView> {
        let mut names: BTreeSet<String> =
            self.cfg.interfaces.iter().map(|i| i.name.clone()).collect();
        for p in &self.protocols {
            names.extend(p.proto.configured_interfaces());
        }
        for (_, i) in self.mgm.interfaces() {
            names.insert(i.name.clone());
        }
        names
            .into_iter()
            .map(|name| {
                let link = self.ifaces.by_name(&name);
                let ifindex = link.map(|l| l.ifindex);
                let mgm_if = ifindex.and_then(|i| self.mgm.interface(i));
                let owner = ifindex
                    .and_then(|i| self.routing_owner(i))
                    .map(|p| self.proto_label(Some(p)));
                InterfaceView {
                    state: match link {
                        None => "pending".into(),
                        Some(l) if l.oper_up() => "up".into(),
                        Some(_) => "down".into(),
                    },
                    owner,
                    igmp: mgm_if
                        .map(|m| format!("{:?}", m.igmp).to_lowercase())
                        .unwrap_or_else(|| "off".into()),
                    vif: ifindex.and_then(|i| self.mroute.vif_of(i)),
                    addrs: link
                        .map(|l| l.addrs.iter().map(|a| a.to_string()).collect())
                        .unwrap_or_default(),
                    querier: ifindex
                        .and_then(|i| self.igmp.get(&i))
                        .map(|r| querier_view(r, now)),
                    ifindex,
                    name,
                }
            })
            .collect()
    }

    pub fn show_groups(&self, now: Instant) -> Vec<GroupView> {
        let mut out = Vec::new();
        for (ifindex, r) in &self.igmp {
            let name = self.ifname(*ifindex);
            // One listing per interface, grouped by group address.
            let mut by_group: BTreeMap<GroupAddr, Vec<AttributionView>> = BTreeMap::new();
            for m in self.mgm.memberships_on(*ifindex) {
                by_group
                    .entry(m.key.group)
                    .or_default()
                    .push(AttributionView {
                        key: m.key,
                        added_by: self.component_label(m.by),
                        component: self.component_label(m.component),
                    });
            }
            for g in r.status(now).groups {
                let attributed = by_group.remove(&g.group).unwrap_or_default();
                out.push(GroupView {
                    interface: name.clone(),
                    ifindex: *ifindex,
                    group: g.group.addr(),
                    mode: group_mode(&g),
                    expires_s: g.expires.map(|d| d.as_secs_f64()),
                    sources: g
                        .sources
                        .iter()
                        .map(|s| crate::core::status::SourceView {
                            source: s.source,
                            expires_s: s.expires.map(|d| d.as_secs_f64()),
                            forwarding: s.forwarding,
                        })
                        .collect(),
                    attributed,
                });
            }
        }
        out
    }

    fn component_label(&self, c: ComponentId) -> String {
        match c {
            ComponentId::Igmp => "igmp".into(),
            ComponentId::Protocol(p) => self.proto_label(Some(p)),
        }
    }

    pub fn show_routes(&self, now: Instant) -> Vec<RouteView> {
        let mut out: Vec<RouteView> = self
            .mgm
            .mfes()
            .map(|(flow, m)| {
                let info = self.flows.get(flow);
                let c = info.map(|i| i.counters).unwrap_or_default();
                RouteView {
                    source: flow.source,
                    group: flow.group.addr(),
                    iif: self.ifname(m.iif()),
                    oifs: m.oifs().iter().map(|i| self.ifname(*i)).collect(),
                    iif_owner: self
                        .routing_owner(m.iif())
                        .map(|p| self.proto_label(Some(p))),
                    upstream: m.upstream(),
                    packets: c.packets,
                    bytes: c.bytes,
                    wrong_if: c.wrong_if,
                    age_s: info.map(|i| (now - i.created).as_secs_f64()).unwrap_or(0.0),
                    idle_s: info
                        .map(|i| (now - i.last_active).as_secs_f64())
                        .unwrap_or(0.0),
                    installed: self.mroute.mfc_entry(flow).is_some(),
                }
            })
            .collect();
        for (flow, (iif, info)) in &self.drop_flows {
            out.push(RouteView {
                source: flow.source,
                group: flow.group.addr(),
                iif: self.ifname(*iif),
                oifs: Vec::new(),
                iif_owner: None,
                upstream: None,
                packets: info.counters.packets,
                bytes: info.counters.bytes,
                wrong_if: info.counters.wrong_if,
                age_s: (now - info.created).as_secs_f64(),
                idle_s: (now - info.last_active).as_secs_f64(),
                installed: self.mroute.mfc_entry(flow).is_some(),
            });
        }
        out.sort_by_key(|r| (r.group, r.source));
        out
    }

    pub fn show_protocols(&self, now: Instant) -> Vec<ProtocolView> {
        self.protocols
            .iter()
            .map(|p| {
                let ctx = ProtoCtx {
                    now,
                    me: p.id,
                    ifaces: &self.ifaces,
                    mgm: &self.mgm,
                };
                ProtocolView {
                    name: p.proto.name().to_string(),
                    interfaces: self
                        .mgm
                        .interfaces()
                        .filter(|(_, i)| i.owner == Some(p.id))
                        .map(|(_, i)| i.name.clone())
                        .collect(),
                    detail: p.proto.status(&ctx),
                }
            })
            .collect()
    }

    pub fn counters(&self) -> &BTreeMap<&'static str, u64> {
        &self.counters
    }

    /// The memberships the manager attributes on an interface (for tests).
    pub fn memberships_on(&self, ifindex: IfIndex) -> Vec<MembershipKey> {
        self.mgm.memberships_on(ifindex).map(|m| m.key).collect()
    }
}

// ===== helper functions =====

fn querier_view(r: &IgmpRouter, now: Instant) -> QuerierView {
    let s = r.status(now);
    QuerierView {
        version: version_number(s.version),
        querier_enabled: r.config().querier,
        is_querier: s.is_querier,
        querier_addr: s.querier,
        next_query_s: s.next_general_query.map(|d| d.as_secs_f64()),
        other_querier_expires_s: s.other_querier_expires.map(|d| d.as_secs_f64()),
        groups: s.groups.len(),
        counters: igmp_counters(r.stats()),
    }
}

fn version_number(v: IgmpVersion) -> u8 {
    match v {
        IgmpVersion::V1 => 1,
        IgmpVersion::V2 => 2,
        IgmpVersion::V3 => 3,
    }
}

/// "include"/"exclude" for IGMPv3 groups, "v1"/"v2" for groups in an
/// older compatibility mode.
fn group_mode(g: &GroupStatus) -> String {
    match g.compat {
        IgmpVersion::V3 => format!("{:?}", g.mode).to_lowercase(),
        v => format!("v{}", version_number(v)),
    }
}

/// Flatten the IGMP counters into "rx_v2_report" style names.
fn igmp_counters(s: &IgmpStats) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for (dir, c) in [("rx", &s.rx), ("tx", &s.tx)] {
        for (name, v) in [
            ("v1_query", c.v1_query),
            ("v2_query", c.v2_query),
            ("v3_query", c.v3_query),
            ("v1_report", c.v1_report),
            ("v2_report", c.v2_report),
            ("v2_leave", c.v2_leave),
            ("v3_report", c.v3_report),
        ] {
            m.insert(format!("{dir}_{name}"), v);
        }
    }
    m.insert("rx_records".into(), s.rx_records);
    m.insert("tx_general_queries".into(), s.tx_general_queries);
    m.insert("tx_group_queries".into(), s.tx_group_queries);
    m.insert("tx_group_source_queries".into(), s.tx_group_source_queries);
    m.insert("refused_groups".into(), s.refused_groups);
    m.insert("refused_sources".into(), s.refused_sources);
    m.insert("older_version_queries".into(), s.older_version_queries);
    for (reason, v) in &s.drops {
        m.insert(format!("drop_{reason}"), *v);
    }
    m
}
