//! The router: one sans-IO object that owns every piece of state (the
//! interface table, the manager, IGMP per interface, the routing
//! protocols, the kernel's forwarding table as we believe it is) and turns
//! each [`Input`] into ordered [`Output`]s. Same inputs at the same times,
//! same outputs: nothing here depends on hash order or the clock.
//!
//! Everything enters through [`Router::step`]: the inputs that arrived
//! together, applied in order. Every step ends with one *commit*: protocols see
//! [`ProtoEvent::Commit`] and act on the net result, host memberships are
//! merged, and the kernel's VIFs and MFC entries are reconciled with the
//! manager's forwarding entries. The kernel is therefore always programmed
//! with the net result of a whole ownership sequence (flush and re-add
//! included), never with its intermediate steps.
//!
//! The rooms:
//! - `iface`: links and addresses from the kernel, configured interfaces
//!   appearing, vanishing, going up and down.
//! - `agenda`: the one loop that does what an operation causes, in order
//!   (effects, protocols' events and actions, ownership sequences, flows
//!   decided), without calls that recurse.
//! - `ownership`: the one path for every change of ownership, and what
//!   the manager's effects cause.
//! - `dispatch`: delivering events to protocols and carrying out their
//!   actions (one view constructor).
//! - `igmp`: IGMP per interface, its packets and memberships.
//! - `flow_book`: the flows' book-keeping (entries, drop entries, RPF
//!   questions, idle time), its data private, tested alone.
//! - `flows`: the decisions: new flows, RPF, drop entries, idle expiry,
//!   route changes.
//! - `host`: the box's own host memberships (proxy upstream, static joins).
//! - `recovery`: the kernel's receive drop counters, turned into IGMP's
//!   recovery queries.
//! - `restore`: taking over the previous process's state (snapshot,
//!   adopted kernel table) and handing it over.
//! - `control`: the operator's commands.
//! - `audit`: the kernel's table read back against the router's belief;
//!   drift logged and repaired.
//! - `status`: the views `mgmctl show` prints.

mod agenda;
mod audit;
mod control;
mod dispatch;
mod flow_book;
mod flows;
mod host;
mod iface;
mod igmp;
mod ownership;
mod reconfig;
mod recovery;
mod restore;
mod status;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Instant;

use self::dispatch::ProtoSlot;
use self::flow_book::FlowBook;
use self::host::HostTable;
use crate::config::Config;
use crate::core::event::Event;
use crate::core::iface::IfaceTable;
use crate::core::igmp::IgmpRouter;
use crate::core::input::Input;
use crate::core::mgm::Mgm;
use crate::core::mroute::{MrouteTable, MrtAction};
use crate::core::output::Output;
use crate::core::protocol::ProtoEvent;
use crate::core::status::CounterView;
use crate::core::types::{FlowKey, IfIndex, IfName, Iface, MembershipKey, VifIndex};

pub use self::host::HOST_LEAVE_HOLD;

/// The whole daemon state, sans-IO.
pub struct Router {
    cfg: Config,
    ifaces: IfaceTable,
    mgm: Mgm,
    igmp: BTreeMap<IfIndex, IgmpRouter>,
    protocols: Vec<ProtoSlot>,
    mroute: MrouteTable,
    flows: FlowBook,
    hosts: HostTable,
    /// Interfaces whose kernel VIF could not be allocated (32-VIF limit).
    vif_exhausted: BTreeSet<IfIndex>,
    drop_counters: recovery::DropCounters,
    /// A snapshot waiting for the interfaces, with when it came.
    restore: Option<(crate::core::snapshot::Restore, Instant)>,
    counters: CounterView,
    /// Runtime edits since the last reload, as the file would say them
    /// (for `show config`).
    runtime_edits: Vec<String>,
    /// A protocol instance is handing its interfaces to its successor (a
    /// reload replaced it): the sequences it runs are not told step by
    /// step nor counted; the reload tells what changed (D13).
    handover: bool,
    /// What the kernel refused since the last step with other news.
    refused: Vec<MrtAction>,
    /// Kernel actions an audit's repair queued for the next commit, before
    /// its reconciliation.
    kernel_first: Vec<MrtAction>,
    /// What the current operation still has to do.
    agenda: agenda::Agenda,
    out: Vec<Output>,
}

// ===== impl Router =====

impl Router {
    /// Build the router and register the protocols the configuration
    /// names. Their start-up outputs come with the first input's.
    pub fn new(cfg: Config, now: Instant) -> Router {
        let protocols: Vec<_> = cfg.protocols.iter().map(|p| p.build()).collect();
        let mut router = Router {
            cfg,
            ifaces: IfaceTable::new(),
            mgm: Mgm::new(),
            igmp: BTreeMap::new(),
            protocols: Vec::new(),
            mroute: MrouteTable::new(),
            flows: FlowBook::default(),
            hosts: HostTable::default(),
            vif_exhausted: BTreeSet::new(),
            drop_counters: recovery::DropCounters::default(),
            restore: None,
            counters: CounterView::default(),
            runtime_edits: Vec::new(),
            handover: false,
            refused: Vec::new(),
            kernel_first: Vec::new(),
            agenda: agenda::Agenda::default(),
            out: Vec::new(),
        };
        for proto in protocols {
            router.register(now, proto);
        }
        router
    }

    /// The one way in: `inputs` that arrived together (one netlink
    /// message, a burst of IGMP reports, a control request, a timer) are
    /// applied in order and end in exactly one commit, so the kernel and
    /// the protocols see the net result of the whole step. Every output
    /// leaves here, kernel actions only from the commit.
    ///
    /// A kernel refusal ([`Input::KernelRejected`]) is reported at once but
    /// retried only by the next step that brings anything else: a refusal
    /// that repeats cannot loop.
    pub fn step(&mut self, now: Instant, inputs: impl IntoIterator<Item = Input>) -> Vec<Output> {
        let mut shutdown = false;
        for input in inputs {
            match input {
                Input::KernelRejected { action, error } => self.kernel_rejected(action, error),
                Input::Shutdown => shutdown = true,
                input => {
                    self.retry_refused();
                    match input {
                        Input::Command(c) => {
                            let reply = self.command(now, c);
                            self.out.push(Output::Reply(reply));
                        }
                        input => self.apply(now, input),
                    }
                }
            }
        }
        if shutdown {
            self.shutdown();
        } else {
            self.commit(now);
        }
        std::mem::take(&mut self.out)
    }

    /// The earliest time something is due.
    pub fn next_deadline(&self) -> Option<Instant> {
        let igmp = self.igmp.values().filter_map(|r| r.next_deadline());
        let protos = self
            .protocols
            .iter()
            .filter_map(|p| p.proto.next_deadline());
        igmp.chain(protos)
            .chain(self.flows.next_deadline())
            .chain(self.hosts.next_deadline())
            .min()
    }

    // ----- what the daemon may read -----

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn ifaces(&self) -> &IfaceTable {
        &self.ifaces
    }

    /// The interfaces mgmd uses now, in ifindex order.
    pub fn used_interfaces(&self) -> impl Iterator<Item = Iface> + '_ {
        self.mgm.interfaces().map(|(ifindex, i)| Iface {
            ifindex,
            name: IfName::lossy(&i.name),
        })
    }

    /// The interface behind a kernel VIF number (for upcalls).
    pub fn ifindex_of_vif(&self, vif: VifIndex) -> Option<IfIndex> {
        self.mroute.ifindex_of(vif)
    }

    /// Flows installed in the kernel (whose counters are worth reading),
    /// in flow order.
    pub fn installed_flows(&self) -> Vec<FlowKey> {
        self.flows.installed()
    }

    /// Each source of an installed flow with the route recorded for it (for
    /// the daemon's re-lookup after route changes), in source order.
    pub fn flow_sources(&self) -> Vec<(IpAddr, Option<IfIndex>, Option<IpAddr>)> {
        self.flows.sources()
    }

    /// The memberships the manager holds on an interface, in key order.
    pub fn memberships_on(&self, ifindex: IfIndex) -> Vec<MembershipKey> {
        self.mgm.memberships_on(ifindex).map(|m| m.key).collect()
    }

    // ===== one input =====

    /// One input, without the commit.
    fn apply(&mut self, now: Instant, input: Input) {
        match input {
            Input::Link(fact) => {
                let changes = self.ifaces.upsert_link(fact);
                self.apply_iface_changes(now, changes);
            }
            Input::LinkGone { ifindex } => {
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
                let listed: std::collections::BTreeSet<IfIndex> =
                    links.iter().map(|l| l.ifindex).collect();
                let changes = self.ifaces.snapshot(links, addrs);
                for c in &changes {
                    // Only a device missing from the dump is gone, its VIF
                    // with it. One the table drops because a non-atomic dump
                    // listed its name twice still has its VIF.
                    if let crate::core::iface::IfaceChange::Removed { ifindex, .. } = c
                        && !listed.contains(ifindex)
                    {
                        self.mroute.interface_gone(*ifindex);
                    }
                }
                self.apply_iface_changes(now, changes);
                self.finish_restore(now);
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
                vif,
                rpf,
                upstream,
            } => match self.mroute.ifindex_of(vif) {
                Some(arrival) => self.new_flow(now, flow, arrival, rpf, upstream),
                None => self.counters.upcalls_unknown += 1,
            },
            Input::Counters(list) => {
                let idle = self.cfg.global.mfe_idle_timeout;
                self.flows.update_counters(now, list, idle);
            }
            Input::RpfChanged {
                source,
                rpf,
                upstream,
            } => self.rpf_changed(now, source, rpf, upstream),
            Input::Timer => self.timers(now),
            Input::InputDrops { interfaces, socket } => self.input_drops(now, interfaces, socket),
            Input::Restore(r) => self.restore_input(now, *r),
            Input::KernelAudit(kernel) => {
                // Nothing to compare while a taken-over table is held.
                let _ = self.audit_kernel(&kernel, true);
            }
            Input::KernelRejected { .. } | Input::Command(_) | Input::Shutdown => {
                unreachable!("handled by step")
            }
        }
    }

    /// A refusal is reported now and forgotten by the table at the next
    /// step with other news (see [`Router::step`]).
    fn kernel_rejected(&mut self, action: MrtAction, error: String) {
        self.counters.kernel_errors += 1;
        self.refused.push(action);
        self.emit(Event::KernelRefused { action, error });
    }

    /// The table forgets what the kernel refused, so that this step's
    /// commit programs it again.
    fn retry_refused(&mut self) {
        for action in std::mem::take(&mut self.refused) {
            self.mroute.mark_failed(&action);
        }
    }

    /// The commit of the last step: everything this router installed in
    /// the kernel is removed, and IGMP stops listening.
    fn shutdown(&mut self) {
        self.flows.clear();
        self.kernel_first.clear();
        let r = self.mroute.reconcile(&BTreeMap::new(), &BTreeSet::new());
        self.out.extend(r.actions.into_iter().map(Output::Mrt));
        let listening: Vec<IfIndex> = self.igmp.keys().copied().collect();
        for ifindex in listening {
            self.out.push(Output::ListenIgmp { ifindex, on: false });
        }
        self.emit(Event::ShuttingDown);
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
                let actions = r.handle(now, crate::core::igmp::IgmpEvent::Timer);
                self.igmp_actions(now, ifindex, actions);
            }
        }
        let due: Vec<_> = self
            .protocols
            .iter()
            .filter(|p| p.proto.next_deadline().is_some_and(|d| d <= now))
            .map(|p| p.id)
            .collect();
        for id in due {
            self.deliver(now, id, ProtoEvent::Timer);
        }
        self.flow_timers(now);
    }

    // ===== commit =====

    /// The end of every step: protocols act on the net result, the host
    /// memberships are merged, then the kernel is reconciled with the
    /// forwarding entries.
    fn commit(&mut self, now: Instant) {
        let ids: Vec<_> = self.protocols.iter().map(|p| p.id).collect();
        for id in ids {
            self.deliver(now, id, ProtoEvent::Commit);
        }
        self.mgm.clear_changed_groups();
        let hosts = self.hosts.commit(now, &self.ifaces);
        self.out.extend(hosts);
        self.commit_kernel();
    }

    /// Reconciles the kernel's VIFs and MFC entries with the forwarding
    /// entries that changed. Every interface in use keeps its VIF, also
    /// while it is down, so that coming back up changes only entries.
    fn commit_kernel(&mut self) {
        if self.holding_kernel() {
            return;
        }
        let pinned: BTreeSet<IfIndex> = self
            .mgm
            .interfaces()
            .map(|(ifindex, _)| ifindex)
            .filter(|i| self.ifaces.get(*i).is_some())
            .collect();
        // What an audit's repair must undo before the table is programmed
        // again (kernel state mgmd did not put there).
        let first = std::mem::take(&mut self.kernel_first);
        self.out.extend(first.into_iter().map(Output::Mrt));
        let (r, drifted) = self.flows.reconcile(&mut self.mroute, &self.mgm, &pinned);
        debug_assert_eq!(
            drifted, None,
            "a changed forwarding entry was not reconciled"
        );
        for ifindex in r.vif_exhausted {
            if self.vif_exhausted.insert(ifindex) {
                self.counters.vif_limit_reached += 1;
                let interface = self.iface_ref(ifindex);
                self.emit(Event::VifLimit {
                    interface,
                    limit: crate::core::types::MAXVIFS,
                });
            }
        }
        self.vif_exhausted
            .retain(|i| pinned.contains(i) && self.mroute.vif_of(*i).is_none());
        self.out.extend(r.actions.into_iter().map(Output::Mrt));
    }

    // ===== helpers =====

    fn emit(&mut self, event: Event) {
        self.out.push(Output::Event(event));
    }

    fn mgm_error(&mut self, context: &'static str, e: crate::core::mgm::MgmError) {
        self.counters.manager_errors += 1;
        let error = self.describe_mgm_error(&e);
        self.emit(Event::ManagerError { context, error });
    }

    /// The interface as events name it (its name now, or "?" once gone).
    fn iface_ref(&self, ifindex: IfIndex) -> Iface {
        let name = match self.ifaces.get(ifindex) {
            Some(l) => IfName::lossy(&l.name),
            None => match self.mgm.interface(ifindex) {
                Some(i) => IfName::lossy(&i.name),
                None => IfName::lossy("?"),
            },
        };
        Iface { ifindex, name }
    }

    /// The interface's name for messages and views.
    fn ifname(&self, ifindex: IfIndex) -> String {
        self.ifaces
            .get(ifindex)
            .map(|l| l.name.clone())
            .unwrap_or_else(|| format!("ifindex {ifindex}"))
    }
}
