//! The flow book: what the router knows about flows besides the manager's
//! entries — each entry's book-keeping (where it arrived, the route towards
//! its source, age, counters), the drop entries, the RPF questions waiting
//! for an answer, the entries changed since the last commit and the next
//! idle deadline. Its data is its own; the router's decisions (`flows.rs`)
//! go through the methods below, and its unit tests build it alone.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::core::hash::IntMap;
use crate::core::input::FlowCounters;
use crate::core::mgm::Mgm;
use crate::core::mroute::{Desired, MrouteTable, Reconcile};
use crate::core::types::{FlowKey, IfIndex, ProtoId};

/// Where a flow arrived and the unicast route towards its source: what
/// the kernel told us, kept to decide the flow again without another
/// upcall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct FlowOrigin {
    pub arrival: IfIndex,
    pub rpf: Option<IfIndex>,
    pub upstream: Option<IpAddr>,
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
    pub fn new(now: Instant, origin: FlowOrigin) -> FlowInfo {
        FlowInfo {
            created: now,
            last_active: now,
            counters: FlowCounters::default(),
            origin,
        }
    }

    fn is_idle(&self, now: Instant, idle: Duration) -> bool {
        self.last_active.checked_add(idle).is_some_and(|d| d <= now)
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
    flows: IntMap<FlowKey, FlowInfo>,
    /// Flows nobody may forward, installed with no outgoing interface so
    /// the kernel stops asking.
    drops: BTreeMap<FlowKey, (IfIndex, FlowInfo)>,
    /// Flows whose RPF question is not answered yet.
    pending: BTreeMap<FlowKey, Pending>,
    /// Flows whose entry may have changed since the last commit (repeats
    /// allowed; sorted out at commit).
    dirty: Vec<FlowKey>,
    /// When the next entry may have been idle long enough.
    idle_deadline: Option<Instant>,
}

impl FlowBook {
    // ----- what is known -----

    /// Whether the flow has an entry, forwarding or drop.
    pub fn has_entry(&self, flow: &FlowKey) -> bool {
        self.flows.contains_key(flow) || self.drops.contains_key(flow)
    }

    /// Whether the flow's RPF question is waiting for its answer.
    pub fn is_asked(&self, flow: &FlowKey) -> bool {
        self.pending.contains_key(flow)
    }

    /// The book-keeping of a forwarding entry.
    pub fn info(&self, flow: &FlowKey) -> Option<&FlowInfo> {
        self.flows.get(flow)
    }

    /// The drop entries, in flow order, with their incoming interface.
    pub fn drops(&self) -> impl Iterator<Item = (&FlowKey, IfIndex, &FlowInfo)> {
        self.drops.iter().map(|(f, (iif, i))| (f, *iif, i))
    }

    pub fn drop_count(&self) -> usize {
        self.drops.len()
    }

    /// Every entry's book-keeping, forwarding and drop entries alike (in
    /// no particular order).
    pub fn all(&self) -> impl Iterator<Item = (&FlowKey, &FlowInfo)> {
        self.flows
            .iter()
            .chain(self.drops.iter().map(|(f, (_, i))| (f, i)))
    }

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
    pub fn sources(&self) -> Vec<(IpAddr, Option<IfIndex>, Option<IpAddr>)> {
        let mut out: Vec<_> = self
            .all()
            .map(|(f, i)| (f.source, i.origin.rpf, i.origin.upstream))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The drop entries coming in on `ifindex`, in flow order.
    pub fn drops_in_on(&self, ifindex: IfIndex) -> impl Iterator<Item = (FlowKey, FlowInfo)> + '_ {
        self.drops
            .iter()
            .filter(move |(_, (iif, _))| *iif == ifindex)
            .map(|(f, (_, i))| (*f, *i))
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        let pending = self.pending.values().map(|p| p.deadline).min();
        self.idle_deadline.into_iter().chain(pending).min()
    }

    // ----- RPF questions -----

    /// The flow's incoming interface was asked of protocol `asked`.
    pub fn ask(
        &mut self,
        flow: FlowKey,
        origin: FlowOrigin,
        asked: ProtoId,
        deadline: Instant,
        carried: Option<FlowInfo>,
    ) {
        let p = Pending {
            origin,
            asked,
            deadline,
            carried,
        };
        self.pending.insert(flow, p);
    }

    /// Protocol `from` answered for `flow`: the question is closed and
    /// what it was asked with is returned. `None` (and nothing changes)
    /// when the question was not asked of `from`, or not asked at all.
    pub fn answer(
        &mut self,
        flow: &FlowKey,
        from: ProtoId,
    ) -> Option<(FlowOrigin, Option<FlowInfo>)> {
        let p = self.pending.get(flow).filter(|p| p.asked == from)?;
        let answer = (p.origin, p.carried);
        self.pending.remove(flow);
        Some(answer)
    }

    /// The questions unanswered at `now`, closed, in flow order with the
    /// protocol each was asked of.
    pub fn expire_questions(&mut self, now: Instant) -> Vec<(FlowKey, ProtoId)> {
        let expired: Vec<(FlowKey, ProtoId)> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(f, p)| (*f, p.asked))
            .collect();
        for (flow, _) in &expired {
            self.pending.remove(flow);
        }
        expired
    }

    /// Questions asked of protocol `id` are dropped (it is gone; the kernel
    /// reports the flows again).
    pub fn forget_questions_to(&mut self, id: ProtoId) {
        self.pending.retain(|_, p| p.asked != id);
    }

    // ----- entries -----

    /// A forwarding entry was made for `flow`.
    pub fn forwarding(&mut self, now: Instant, flow: FlowKey, info: FlowInfo, idle: Duration) {
        self.flows.insert(flow, info);
        self.dirty.push(flow);
        self.note_active(now, idle);
    }

    /// `flow` arriving on `arrival` is refused: a drop entry.
    pub fn dropping(
        &mut self,
        now: Instant,
        flow: FlowKey,
        arrival: IfIndex,
        info: FlowInfo,
        idle: Duration,
    ) {
        self.drops.insert(flow, (arrival, info));
        self.dirty.push(flow);
        self.note_active(now, idle);
    }

    /// The flow is to be decided again: its drop entry, its forwarding
    /// entry's book-keeping and its question are forgotten (the manager's
    /// entry is the router's to delete).
    pub fn unbook(&mut self, flow: &FlowKey) {
        if self.drops.remove(flow).is_some() {
            self.dirty.push(*flow);
        }
        self.flows.remove(flow);
        self.pending.remove(flow);
    }

    /// The manager's entry for `flow` changed (for the next commit).
    pub fn changed(&mut self, flow: FlowKey) {
        self.dirty.push(flow);
    }

    /// The manager's entry for `flow` is gone.
    pub fn deleted(&mut self, flow: FlowKey) {
        self.flows.remove(&flow);
        self.dirty.push(flow);
    }

    /// Removes the drop entries whose incoming interface fails `keep`.
    pub fn retain_drops(&mut self, keep: impl Fn(IfIndex) -> bool) {
        let dirty = &mut self.dirty;
        self.drops.retain(|flow, (iif, _)| {
            let k = keep(*iif);
            if !k {
                dirty.push(*flow);
            }
            k
        });
    }

    /// Only the gateway towards `source` changed (the RPF interface is the
    /// same): the entries of its flows get the new upstream neighbour.
    /// Returns the forwarding entries changed, in flow order (the manager's
    /// entries are the router's to change).
    pub fn regateway(
        &mut self,
        source: IpAddr,
        rpf: Option<IfIndex>,
        upstream: Option<IpAddr>,
    ) -> Vec<FlowKey> {
        let mut changed = Vec::new();
        for (f, i) in self.flows.iter_mut() {
            if f.source == source && i.origin.rpf == rpf && i.origin.upstream != upstream {
                i.origin.upstream = upstream;
                changed.push(*f);
            }
        }
        changed.sort_unstable();
        for (f, (_, i)) in self.drops.iter_mut() {
            if f.source == source && i.origin.rpf == rpf {
                i.origin.upstream = upstream;
            }
        }
        changed
    }

    /// The flows from `source` whose recorded RPF interface is not `rpf`,
    /// with their book-keeping as it would be with the new route, in flow
    /// order.
    pub fn rerouted(
        &self,
        source: IpAddr,
        rpf: Option<IfIndex>,
        upstream: Option<IpAddr>,
    ) -> Vec<(FlowKey, FlowInfo)> {
        let mut flows: Vec<(FlowKey, FlowInfo)> = self
            .all()
            .filter(|(f, i)| f.source == source && i.origin.rpf != rpf)
            .map(|(f, i)| {
                let mut i = *i;
                i.origin.rpf = rpf;
                i.origin.upstream = upstream;
                (*f, i)
            })
            .collect();
        // Hash order must not show.
        flows.sort_unstable_by_key(|(f, _)| *f);
        flows
    }

    pub fn update_counters(
        &mut self,
        now: Instant,
        list: Vec<(FlowKey, FlowCounters)>,
        idle: Duration,
    ) {
        for (flow, c) in list {
            let info = match self.flows.get_mut(&flow) {
                Some(i) => i,
                None => match self.drops.get_mut(&flow) {
                    Some((_, i)) => i,
                    None => continue,
                },
            };
            if c.packets != info.counters.packets {
                info.last_active = now;
            }
            info.counters = c;
        }
        self.recompute_idle_deadline(idle);
    }

    pub fn clear(&mut self) {
        self.flows.clear();
        self.drops.clear();
        self.pending.clear();
        self.idle_deadline = None;
    }

    // ----- idle entries -----

    /// Whether an entry may have been idle long enough at `now`.
    pub fn idle_due(&self, now: Instant) -> bool {
        self.idle_deadline.is_some_and(|d| d <= now)
    }

    /// The forwarding entries idle for `idle` at `now`, in flow order
    /// (the router deletes the manager's entries); idle drop entries are
    /// removed here.
    pub fn expire_idle(&mut self, now: Instant, idle: Duration) -> Vec<FlowKey> {
        let mut expired: Vec<FlowKey> = self
            .flows
            .iter()
            .filter(|(_, f)| f.is_idle(now, idle))
            .map(|(k, _)| *k)
            .collect();
        expired.sort_unstable();
        let dirty = &mut self.dirty;
        self.drops.retain(|flow, (_, f)| {
            let keep = !f.is_idle(now, idle);
            if !keep {
                dirty.push(*flow);
            }
            keep
        });
        expired
    }

    /// A flow became active now: its idle deadline is no earlier than the
    /// one already known. Saturates: an idle time too long to add to
    /// `now` means never.
    fn note_active(&mut self, now: Instant, idle: Duration) {
        if let Some(d) = now.checked_add(idle) {
            self.idle_deadline = Some(self.idle_deadline.map_or(d, |x| x.min(d)));
        }
    }

    pub fn recompute_idle_deadline(&mut self, idle: Duration) {
        self.idle_deadline = self
            .all()
            .filter_map(|(_, f)| f.last_active.checked_add(idle))
            .min();
    }

    // ----- commit -----

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

#[cfg(test)]
mod tests;
