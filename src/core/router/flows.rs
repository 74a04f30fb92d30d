//! Flows: a new flow is decided (RPF, asked of the owner of its incoming
//! interface), installed as a forwarding entry or refused with a drop
//! entry, decided again when its interface changes hands or the route
//! towards its source changes, and removed once idle. The book-keeping is
//! the flow book's (`flow_book.rs`); here the router takes the decisions.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::Router;
use super::agenda::Work;
use super::flow_book::{FlowInfo, FlowOrigin};
use crate::core::event::Event;
use crate::core::mroute::MrtAction;
use crate::core::protocol::ProtoEvent;
use crate::core::types::{FlowKey, IfIndex, ProtoId};

/// How long the router waits for a protocol's RPF answer. The kernel
/// queues a new flow's first packets for 10 s and asks again afterwards,
/// so a flow whose question timed out is asked about again.
pub const RPF_ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

// ===== impl Router =====

impl Router {
    /// The kernel reported a flow it has no entry for.
    pub(super) fn new_flow(
        &mut self,
        now: Instant,
        flow: FlowKey,
        arrival: IfIndex,
        rpf: Option<IfIndex>,
        upstream: Option<IpAddr>,
    ) {
        self.counters.new_flows += 1;
        if self.flows.has_entry(&flow) {
            // The kernel lost an entry we have (flushed by someone else,
            // say): install it again.
            self.reinstall(flow);
            return;
        }
        if self.flows.is_asked(&flow) {
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
                carried: carried.map(Box::new),
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
        self.flows
            .ask(flow, origin, asked, now + RPF_ANSWER_TIMEOUT, carried);
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
        // Not asked of this protocol, or asked again since: ignored.
        if let Some((origin, carried)) = self.flows.answer(&flow, from) {
            self.install(now, flow, iif, origin, carried);
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
                let idle = self.cfg.global.mfe_idle_timeout;
                self.flows.forwarding(now, flow, info, idle);
                self.plan([
                    Work::Effects(effects.into_iter()),
                    Work::Installed { flow, iif },
                ]);
            }
            Some((_, Err(e))) => self.mgm_error("new flow", e),
            None => {
                self.counters.flows_refused += 1;
                let arrival = self.iface_ref(origin.arrival);
                self.emit(Event::FlowRefused { flow, arrival });
                let idle = self.cfg.global.mfe_idle_timeout;
                self.flows.dropping(now, flow, origin.arrival, info, idle);
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
            .filter_map(|(f, _)| self.flows.info(f).map(|i| (*f, *i)))
            .chain(self.flows.drops_in_on(ifindex))
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
            .map(|(flow, info)| Work::Redecide {
                flow,
                info: Box::new(info),
            })
            .collect();
        self.carry_out(now, work);
    }

    /// [`Work::Redecide`]: the flow's entry forgotten (its effects
    /// planned), then the flow decided.
    pub(super) fn redecide_one(&mut self, flow: FlowKey, info: FlowInfo) {
        self.flows.unbook(&flow);
        let mut effects = Vec::new();
        if self.mgm.mfe(flow).is_some() {
            match self.mgm.delete_mfe(flow) {
                Ok(e) => effects = e,
                Err(e) => self.mgm_error("re-deciding a flow", e),
            }
        }
        let decide = Work::Decide {
            flow,
            origin: info.origin,
            carried: Some(Box::new(info)),
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
        source: IpAddr,
        rpf: Option<IfIndex>,
        upstream: Option<IpAddr>,
    ) {
        // Only the gateway changed (same interface): the decision stands,
        // the entries get their new upstream neighbour.
        for flow in self.flows.regateway(source, rpf, upstream) {
            match self.mgm.set_upstream(flow, upstream) {
                Ok(effects) => self.process_effects(now, effects),
                Err(e) => self.mgm_error("changing an upstream neighbour", e),
            }
        }
        let flows = self.flows.rerouted(source, rpf, upstream);
        if flows.is_empty() {
            return;
        }
        self.counters.rpf_changes += 1;
        let rpf_iface = rpf.map(|i| self.iface_ref(i));
        self.emit(Event::RouteChanged {
            source,
            rpf: rpf_iface,
            flows: flows.len(),
        });
        self.redecide(now, flows);
    }

    /// Every entry coming in on `iif` is deleted (its effects planned) and
    /// every drop entry there removed: the kernel asks again for what
    /// still flows.
    pub(super) fn flush_flows(&mut self, iif: IfIndex) {
        let flows: Vec<FlowKey> = self
            .mgm
            .mfes()
            .filter(|(_, m)| m.iif() == iif)
            .map(|(f, _)| *f)
            .collect();
        let mut effects = Vec::new();
        for flow in flows {
            if let Ok(more) = self.mgm.delete_mfe(flow) {
                effects.extend(more);
            }
        }
        self.drops_retain(|i| i != iif);
        self.plan_effects(effects);
    }

    /// Removes the drop entries whose incoming interface fails `keep`.
    pub(super) fn drops_retain(&mut self, keep: impl Fn(IfIndex) -> bool) {
        self.flows.retain_drops(keep);
    }

    /// Marks a manager entry as changed (for the next commit).
    pub(super) fn flow_changed(&mut self, flow: FlowKey) {
        self.flows.changed(flow);
    }

    /// A manager entry is gone.
    pub(super) fn flow_deleted(&mut self, flow: FlowKey) {
        self.flows.deleted(flow);
    }

    /// Idle entries and unanswered RPF questions.
    pub(super) fn flow_timers(&mut self, now: Instant) {
        for (flow, asked) in self.flows.expire_questions(now) {
            self.counters.rpf_unanswered += 1;
            let protocol = self.proto_name(asked);
            self.emit(Event::RpfUnanswered { flow, protocol });
        }
        if self.flows.idle_due(now) {
            self.expire_idle_flows(now);
        }
    }

    /// Removes the entries that carried no traffic for the idle time.
    fn expire_idle_flows(&mut self, now: Instant) {
        let idle = self.cfg.global.mfe_idle_timeout;
        for flow in self.flows.expire_idle(now, idle) {
            self.emit(Event::FlowIdle { flow, idle });
            match self.mgm.delete_mfe(flow) {
                Ok(effects) => self.process_effects(now, effects),
                Err(e) => self.mgm_error("idle flow", e),
            }
            self.flows.deleted(flow);
        }
        self.flows.recompute_idle_deadline(idle);
    }
}
