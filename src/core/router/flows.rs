//! Flows: a new flow is decided (RPF, asked of the owner of its incoming
//! interface), installed as a forwarding entry or refused with a drop
//! entry, decided again when its interface changes hands or the route
//! towards its source changes, and removed once idle. [`FlowBook`] keeps
//! the book-keeping; the `impl Router` part takes the decisions.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use super::Router;
use super::agenda::Work;
use crate::config::Config;
use crate::core::event::Event;
use crate::core::hash::IntMap;
use crate::core::input::FlowCounters;
use crate::core::mgm::Mgm;
use crate::core::mroute::{Desired, MrouteTable, MrtAction, Reconcile};
use crate::core::protocol::ProtoEvent;
use crate::core::types::{FlowKey, IfIndex, ProtoId};

/// How long the router waits for a protocol's RPF answer. The kernel
/// queues a new flow's first packets for 10 s and asks again afterwards,
/// so a flow whose question timed out is asked about again.
pub const RPF_ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a flow arrived and the unicast route towards its source: what
/// the kernel told us, kept to decide the flow again without another
/// upcall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct FlowOrigin {
    pub arrival: IfIndex,
    pub rpf: Option<IfIndex>,
    pub upstream: Option<Ipv4Addr>,
}

/// Book-keeping for one forwarding or drop entry.
#[derive(Clone, Copy, Debug)]
pub(super) struct FlowInfo {
    pub created: Instant,
    pub last_active: Instant,
    pub counters: FlowCounters,
    pub origin: FlowOrigin,
}

impl FlowInfo {
    fn new(now: Instant, origin: FlowOrigin) -> FlowInfo {
        FlowInfo {
            created: now,
            last_active: now,
            counters: FlowCounters::default(),
            origin,
        }
    }
}

/// A flow waiting for its RPF answer.
#[derive(Clone, Copy, Debug)]
struct Pending {
    origin: FlowOrigin,
    asked: ProtoId,
    deadline: Instant,
    /// The book-keeping of the entry it replaces (decided again).
    carried: Option<FlowInfo>,
}

/// What the router knows about flows besides the manager's entries.
#[derive(Debug, Default)]
pub(super) struct FlowBook {
    /// Book-keeping of the manager's entries (hashed: searched on every
    /// new flow; views walk the manager's ordered table).
    pub flows: IntMap<FlowKey, FlowInfo>,
    /// Flows nobody may forward, installed with no outgoing interface so
    /// the kernel stops asking.
    pub drops: BTreeMap<FlowKey, (IfIndex, FlowInfo)>,
    /// Flows whose RPF question is not answered yet.
    pending: BTreeMap<FlowKey, Pending>,
    /// Flows whose entry may have changed since the last commit (repeats
    /// allowed; sorted out at commit).
    dirty: Vec<FlowKey>,
    /// When the next entry may have been idle long enough.
    idle_deadline: Option<Instant>,
}

impl FlowBook {
    /// Entries whose counters are worth reading, in flow order.
    pub fn installed(&self) -> Vec<FlowKey> {
        let mut flows: Vec<FlowKey> = self
            .flows
            .keys()
            .chain(self.drops.keys())
            .copied()
            .collect();
        flows.sort_unstable();
        flows
    }

    /// Every source with the route recorded for it, sorted, each once.
    pub fn sources(&self) -> Vec<(Ipv4Addr, Option<IfIndex>, Option<Ipv4Addr>)> {
        let mut out: Vec<_> = self
            .all()
            .map(|(f, i)| (f.source, i.origin.rpf, i.origin.upstream))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Every entry's book-keeping, forwarding and drop entries alike (in
    /// no particular order).
    fn all(&self) -> impl Iterator<Item = (&FlowKey, &FlowInfo)> {
        self.flows
            .iter()
            .chain(self.drops.iter().map(|(f, (_, i))| (f, i)))
    }

    fn info_mut(&mut self, flow: &FlowKey) -> Option<&mut FlowInfo> {
        match self.flows.get_mut(flow) {
            Some(i) => Some(i),
            None => self.drops.get_mut(flow).map(|(_, i)| i),
        }
    }

    pub fn update_counters(
        &mut self,
        now: Instant,
        list: Vec<(FlowKey, FlowCounters)>,
        cfg: &Config,
    ) {
        for (flow, c) in list {
            let Some(info) = self.info_mut(&flow) else {
                continue;
            };
            if c.packets != info.counters.packets {
                info.last_active = now;
            }
            info.counters = c;
        }
        self.recompute_idle_deadline(cfg);
    }

    pub fn clear(&mut self) {
        self.flows.clear();
        self.drops.clear();
        self.pending.clear();
        self.idle_deadline = None;
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        let pending = self.pending.values().map(|p| p.deadline).min();
        self.idle_deadline.into_iter().chain(pending).min()
    }

    /// A flow became active now: its idle deadline is no earlier than the
    /// one already known. Saturates: an idle time too long to add to
    /// `now` means never.
    fn note_active(&mut self, now: Instant, cfg: &Config) {
        if let Some(d) = now.checked_add(cfg.global.mfe_idle_timeout) {
            self.idle_deadline = Some(self.idle_deadline.map_or(d, |x| x.min(d)));
        }
    }

    /// Questions asked of protocol `id` are dropped (it is gone; the kernel
    /// reports the flows again).
    pub fn forget_questions_to(&mut self, id: ProtoId) {
        self.pending.retain(|_, p| p.asked != id);
    }

    pub fn recompute_idle_deadline(&mut self, cfg: &Config) {
        let idle = cfg.global.mfe_idle_timeout;
        self.idle_deadline = self
            .all()
            .filter_map(|(_, f)| f.last_active.checked_add(idle))
            .min();
    }

    fn is_idle(info: &FlowInfo, now: Instant, idle: Duration) -> bool {
        info.last_active.checked_add(idle).is_some_and(|d| d <= now)
    }

    /// Reconciles the kernel with the entries that changed since the last
    /// commit. Also returns, in debug builds, the first entry that differs
    /// from what the kernel was told (there must be none).
    pub fn reconcile(
        &mut self,
        mroute: &mut MrouteTable,
        mgm: &Mgm,
        pinned: &BTreeSet<IfIndex>,
    ) -> (Reconcile, Option<FlowKey>) {
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.sort_unstable();
        dirty.dedup();
        let desired = DesiredEntries {
            mgm,
            drops: &self.drops,
        };
        let r = mroute.reconcile_flows(&desired, &dirty, pinned);
        let drift = if cfg!(debug_assertions) {
            mroute.first_drift(&desired)
        } else {
            None
        };
        // Keep the allocation for the next commit.
        dirty.clear();
        self.dirty = dirty;
        (r, drift)
    }
}

/// The forwarding entries the kernel should have: the manager's entries
/// and the drop entries, read where they live.
struct DesiredEntries<'a> {
    mgm: &'a Mgm,
    drops: &'a BTreeMap<FlowKey, (IfIndex, FlowInfo)>,
}

impl Desired for DesiredEntries<'_> {
    fn lookup(&self, flow: &FlowKey) -> Option<(IfIndex, impl Iterator<Item = IfIndex> + '_)> {
        match self.mgm.mfe(*flow) {
            Some(m) => Some((m.iif(), m.oifs().iter().copied())),
            None => self
                .drops
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
        for (flow, (iif, _)) in self.drops {
            all.entry(*flow).or_insert((*iif, BTreeSet::new()));
        }
        Cow::Owned(all)
    }
}

// ===== impl Router =====

impl Router {
    /// The kernel reported a flow it has no entry for.
    pub(super) fn new_flow(
        &mut self,
        now: Instant,
        flow: FlowKey,
        arrival: IfIndex,
        rpf: Option<IfIndex>,
        upstream: Option<Ipv4Addr>,
    ) {
        self.counters.new_flows += 1;
        if self.flows.flows.contains_key(&flow) || self.flows.drops.contains_key(&flow) {
            // The kernel lost an entry we have (flushed by someone else,
            // say): install it again.
            self.reinstall(flow);
            return;
        }
        if self.flows.pending.contains_key(&flow) {
            // Asked already; the answer comes.
            return;
        }
        let origin = FlowOrigin {
            arrival,
            rpf,
            upstream,
        };
        self.decide_flow(now, flow, origin, None);
    }

    /// Asks for the incoming interface of `flow`: the owner of its RPF
    /// interface, else of the interface it arrived on, else the kernel's
    /// unicast answer decides. The entry point of an operation.
    pub(super) fn decide_flow(
        &mut self,
        now: Instant,
        flow: FlowKey,
        origin: FlowOrigin,
        carried: Option<FlowInfo>,
    ) {
        self.carry_out(
            now,
            [Work::Decide {
                flow,
                origin,
                carried,
            }],
        );
    }

    /// [`Work::Decide`]: the question planned, or the flow installed.
    pub(super) fn decide(
        &mut self,
        now: Instant,
        flow: FlowKey,
        origin: FlowOrigin,
        carried: Option<FlowInfo>,
    ) {
        let rpf = origin.rpf.filter(|i| self.mgm.interface(*i).is_some());
        let asked = rpf
            .and_then(|i| self.routing_owner(i))
            .or_else(|| self.routing_owner(origin.arrival))
            .filter(|id| self.slot(*id).is_some());
        let Some(asked) = asked else {
            self.install(now, flow, rpf, origin, carried);
            return;
        };
        self.flows.pending.insert(
            flow,
            Pending {
                origin,
                asked,
                deadline: now + RPF_ANSWER_TIMEOUT,
                carried,
            },
        );
        self.plan([Work::Deliver {
            to: asked,
            ev: ProtoEvent::RpfQuery {
                flow,
                arrival: origin.arrival,
                rpf,
            },
        }]);
    }

    /// A protocol answered the RPF question for `flow`.
    pub(super) fn rpf_answered(
        &mut self,
        now: Instant,
        from: ProtoId,
        flow: FlowKey,
        iif: Option<IfIndex>,
    ) {
        match self.flows.pending.get(&flow) {
            Some(p) if p.asked == from => {
                let p = *p;
                self.flows.pending.remove(&flow);
                self.install(now, flow, iif, p.origin, p.carried);
            }
            // Not asked of this protocol, or asked again since: ignored.
            _ => {}
        }
    }

    /// [`Work::Install`]: installs `flow` coming in on `iif` (`None`:
    /// refused, a drop entry); the manager's effects and the protocols'
    /// news are planned.
    pub(super) fn install(
        &mut self,
        now: Instant,
        flow: FlowKey,
        iif: Option<IfIndex>,
        origin: FlowOrigin,
        carried: Option<FlowInfo>,
    ) {
        let info = match carried {
            Some(c) => FlowInfo { origin, ..c },
            None => FlowInfo::new(now, origin),
        };
        let iif = iif.filter(|i| self.mgm.interface(*i).is_some() && !flow.group.is_link_local());
        match iif.map(|iif| (iif, self.mgm.create_mfe(flow, iif, origin.upstream))) {
            Some((iif, Ok(effects))) => {
                self.flows.flows.insert(flow, info);
                self.flows.dirty.push(flow);
                self.flows.note_active(now, &self.cfg);
                let effects = effects.into_iter().map(Work::Effect);
                let work: Vec<Work> = effects.chain([Work::Installed { flow, iif }]).collect();
                self.plan(work);
            }
            Some((_, Err(e))) => self.mgm_error("new flow", e),
            None => {
                self.counters.flows_refused += 1;
                let arrival = self.iface_ref(origin.arrival);
                self.emit(Event::FlowRefused { flow, arrival });
                self.flows.drops.insert(flow, (origin.arrival, info));
                self.flows.dirty.push(flow);
                self.flows.note_active(now, &self.cfg);
            }
        }
    }

    /// [`Work::Installed`]: the owner of the incoming interface hears of
    /// the new entry first, then every other protocol.
    pub(super) fn installed(&mut self, flow: FlowKey, iif: IfIndex) {
        let owner = self.routing_owner(iif);
        let told = owner.map(|id| Work::Deliver {
            to: id,
            ev: ProtoEvent::FlowCreated { flow, iif },
        });
        let others: Vec<Work> = self
            .protocols
            .iter()
            .map(|p| p.id)
            .filter(|id| Some(*id) != owner)
            .map(|id| Work::Deliver {
                to: id,
                ev: ProtoEvent::FlowSeen { flow, iif },
            })
            .collect();
        let work: Vec<Work> = told.into_iter().chain(others).collect();
        self.plan(work);
    }

    /// The kernel asked about a flow we have an entry for: it lost the
    /// entry. Reinstall it at commit.
    fn reinstall(&mut self, flow: FlowKey) {
        if let Some(e) = self.mroute.mfc_entry(&flow).copied() {
            self.mroute.mark_failed(&MrtAction::AddMfc {
                flow,
                iif_vif: e.iif,
                oifs: e.oifs,
            });
        }
    }

    /// The entries (and drop entries) coming in on `ifindex`, with their
    /// book-keeping, in flow order.
    pub(super) fn flows_in_on(&self, ifindex: IfIndex) -> Vec<(FlowKey, FlowInfo)> {
        let mut v: Vec<(FlowKey, FlowInfo)> = self
            .mgm
            .mfes()
            .filter(|(_, m)| m.iif() == ifindex)
            .filter_map(|(f, _)| self.flows.flows.get(f).map(|i| (*f, *i)))
            .chain(
                self.flows
                    .drops
                    .iter()
                    .filter(|(_, (iif, _))| *iif == ifindex)
                    .map(|(f, (_, i))| (*f, *i)),
            )
            .collect();
        v.sort_unstable_by_key(|(f, _)| *f);
        v
    }

    /// Decides flows again from what the kernel told us when they arrived
    /// (after their incoming interface changed hands, or the route towards
    /// their source changed). A flow still holding an entry is first
    /// forgotten; age and counters carry over. The kernel sees one
    /// replacement at commit, or nothing when the decision is the same.
    pub(super) fn redecide(&mut self, now: Instant, flows: Vec<(FlowKey, FlowInfo)>) {
        let work: Vec<Work> = flows
            .into_iter()
            .map(|(flow, info)| Work::Redecide { flow, info })
            .collect();
        self.carry_out(now, work);
    }

    /// [`Work::Redecide`]: the flow's entry forgotten (its effects
    /// planned), then the flow decided.
    pub(super) fn redecide_one(&mut self, flow: FlowKey, info: FlowInfo) {
        if self.flows.drops.remove(&flow).is_some() {
            self.flows.dirty.push(flow);
        }
        let mut effects = Vec::new();
        if self.mgm.mfe(flow).is_some() {
            self.flows.flows.remove(&flow);
            match self.mgm.delete_mfe(flow) {
                Ok(e) => effects = e,
                Err(e) => self.mgm_error("re-deciding a flow", e),
            }
        }
        self.flows.pending.remove(&flow);
        let decide = Work::Decide {
            flow,
            origin: info.origin,
            carried: Some(info),
        };
        let work: Vec<Work> = effects
            .into_iter()
            .map(Work::Effect)
            .chain([decide])
            .collect();
        self.plan(work);
    }

    /// The route towards `source` changed: its flows are decided again.
    pub(super) fn rpf_changed(
        &mut self,
        now: Instant,
        source: Ipv4Addr,
        rpf: Option<IfIndex>,
        upstream: Option<Ipv4Addr>,
    ) {
        // Only the gateway changed (same interface): the decision stands,
        // the entries get their new upstream neighbour.
        let mut regateway: Vec<FlowKey> = self
            .flows
            .flows
            .iter()
            .filter(|(f, i)| {
                f.source == source && i.origin.rpf == rpf && i.origin.upstream != upstream
            })
            .map(|(f, _)| *f)
            .collect();
        regateway.sort_unstable();
        for flow in regateway {
            if let Some(i) = self.flows.flows.get_mut(&flow) {
                i.origin.upstream = upstream;
            }
            match self.mgm.set_upstream(flow, upstream) {
                Ok(effects) => self.process_effects(now, effects),
                Err(e) => self.mgm_error("changing an upstream neighbour", e),
            }
        }
        for (f, (_, i)) in self.flows.drops.iter_mut() {
            if f.source == source && i.origin.rpf == rpf {
                i.origin.upstream = upstream;
            }
        }
        let mut flows: Vec<(FlowKey, FlowInfo)> = self
            .flows
            .all()
            .filter(|(f, i)| f.source == source && i.origin.rpf != rpf)
            .map(|(f, i)| {
                let mut i = *i;
                i.origin.rpf = rpf;
                i.origin.upstream = upstream;
                (*f, i)
            })
            .collect();
        if flows.is_empty() {
            return;
        }
        // Hash order must not show.
        flows.sort_unstable_by_key(|(f, _)| *f);
        self.counters.rpf_changes += 1;
        let rpf_iface = rpf.map(|i| self.iface_ref(i));
        self.emit(Event::RouteChanged {
            source,
            rpf: rpf_iface,
            flows: flows.len(),
        });
        self.redecide(now, flows);
    }

    /// Removes the drop entries whose incoming interface fails `keep`.
    pub(super) fn drops_retain(&mut self, keep: impl Fn(IfIndex) -> bool) {
        let dirty = &mut self.flows.dirty;
        self.flows.drops.retain(|flow, (iif, _)| {
            let k = keep(*iif);
            if !k {
                dirty.push(*flow);
            }
            k
        });
    }

    /// Marks a manager entry as changed (for the next commit).
    pub(super) fn flow_changed(&mut self, flow: FlowKey) {
        self.flows.dirty.push(flow);
    }

    /// A manager entry is gone.
    pub(super) fn flow_deleted(&mut self, flow: FlowKey) {
        self.flows.flows.remove(&flow);
        self.flows.dirty.push(flow);
    }

    /// Idle entries and unanswered RPF questions.
    pub(super) fn flow_timers(&mut self, now: Instant) {
        let expired: Vec<(FlowKey, ProtoId)> = self
            .flows
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(f, p)| (*f, p.asked))
            .collect();
        for (flow, asked) in expired {
            self.flows.pending.remove(&flow);
            self.counters.rpf_unanswered += 1;
            let protocol = self.proto_name(asked);
            self.emit(Event::RpfUnanswered { flow, protocol });
        }
        if self.flows.idle_deadline.is_some_and(|d| d <= now) {
            self.expire_idle_flows(now);
        }
    }

    /// Removes the entries that carried no traffic for the idle time.
    fn expire_idle_flows(&mut self, now: Instant) {
        let idle = self.cfg.global.mfe_idle_timeout;
        let mut expired: Vec<FlowKey> = self
            .flows
            .flows
            .iter()
            .filter(|(_, f)| FlowBook::is_idle(f, now, idle))
            .map(|(k, _)| *k)
            .collect();
        expired.sort_unstable();
        for flow in expired {
            self.emit(Event::FlowIdle { flow, idle });
            match self.mgm.delete_mfe(flow) {
                Ok(effects) => self.process_effects(now, effects),
                Err(e) => self.mgm_error("idle flow", e),
            }
            self.flows.flows.remove(&flow);
        }
        let dirty = &mut self.flows.dirty;
        self.flows.drops.retain(|flow, (_, f)| {
            let keep = !FlowBook::is_idle(f, now, idle);
            if !keep {
                dirty.push(*flow);
            }
            keep
        });
        self.flows.recompute_idle_deadline(&self.cfg);
    }
}
