//! The agenda: everything one operation causes, done in order by one loop
//! ([`Router::carry_out`]) instead of calls that recurse. A piece of work that
//! causes more work puts it on top of the agenda, so what it causes is
//! done before the work after it (depth first): a protocol's actions are
//! carried out in the order it gave them, each with everything it causes;
//! an ownership sequence's effects are delivered, and its protocol told,
//! before the sequence is reported complete and its flows decided again.
//!
//! Work items only ever add work; only the entry points of an operation
//! (an input, a command, the commit) run the agenda, and it is empty when
//! they return.

use std::time::Instant;

use super::Router;
use super::flow_book::{FlowInfo, FlowOrigin};
use crate::core::event::{Event, OwnerOp};
use crate::core::mgm::Effect;
use crate::core::protocol::{ProtoAction, ProtoEvent};
use crate::core::types::{FlowKey, IfIndex, Iface, ProtoId};

/// The number of work items one operation may do before the router
/// assumes two components answer each other forever, stops, and says so:
/// a protocol's bug must not hang the daemon.
const WORK_LIMIT: usize = 1_000_000;

/// One piece of work.
#[derive(Debug)]
pub(super) enum Work {
    /// A manager effect: told as an event, handed to its component.
    Effect(Effect),
    /// Manager effects in order, each done as [`Work::Effect`] (what one
    /// causes before the next): an operation's effects planned at once,
    /// without copying each onto the stack.
    Effects(std::vec::IntoIter<Effect>),
    /// An event for a protocol; its actions follow it.
    Deliver { to: ProtoId, ev: ProtoEvent },
    /// One action a protocol returned.
    Action { from: ProtoId, action: ProtoAction },
    /// The end of an ownership sequence (its effects delivered and its
    /// protocol told): counted and reported.
    OwnerComplete {
        interface: Iface,
        protocol: &'static str,
        op: OwnerOp,
    },
    /// A flow decided again: its entry forgotten, then decided. (The
    /// flow's book-keeping is boxed, here and in `Decide`, to keep a piece
    /// of work small: the stack moves one per membership in a sequence.)
    Redecide { flow: FlowKey, info: Box<FlowInfo> },
    /// A flow's incoming interface asked of its protocol, or decided.
    Decide {
        flow: FlowKey,
        origin: FlowOrigin,
        carried: Option<Box<FlowInfo>>,
    },
    /// A new entry's protocols told: its owner first, then the others.
    Installed { flow: FlowKey, iif: IfIndex },
}

/// The work still to do, the next on top.
#[derive(Default)]
pub(super) struct Agenda {
    stack: Vec<Work>,
    running: bool,
}

impl Router {
    /// Puts `work` on top of the agenda, to be done in the order given.
    pub(super) fn plan<I>(&mut self, work: I)
    where
        I: IntoIterator<Item = Work>,
        I::IntoIter: DoubleEndedIterator,
    {
        self.agenda.stack.extend(work.into_iter().rev());
    }

    /// Puts manager effects on top of the agenda, in their order.
    pub(super) fn plan_effects(&mut self, effects: Vec<Effect>) {
        if !effects.is_empty() {
            self.agenda.stack.push(Work::Effects(effects.into_iter()));
        }
    }

    /// Does `work` and everything it causes: the entry point of an
    /// operation. Never called while the agenda runs (work only plans).
    pub(super) fn carry_out<I>(&mut self, now: Instant, work: I)
    where
        I: IntoIterator<Item = Work>,
        I::IntoIter: DoubleEndedIterator,
    {
        assert!(
            !self.agenda.running,
            "the agenda is run from inside a piece of work"
        );
        self.plan(work);
        self.agenda.running = true;
        let mut done = 0;
        while let Some(w) = self.agenda.stack.pop() {
            done += 1;
            if done > WORK_LIMIT {
                self.agenda.stack.clear();
                self.counters.effect_loops += 1;
                self.emit(Event::EffectLoop);
                break;
            }
            self.work_on(now, w);
        }
        self.agenda.running = false;
    }

    fn work_on(&mut self, now: Instant, work: Work) {
        match work {
            Work::Effect(effect) => self.effect(effect),
            Work::Effects(mut rest) => {
                if let Some(effect) = rest.next() {
                    // The rest waits under what this one causes.
                    if rest.len() > 0 {
                        self.agenda.stack.push(Work::Effects(rest));
                    }
                    self.effect(effect);
                }
            }
            Work::Deliver { to, ev } => self.deliver_one(now, to, ev),
            Work::Action { from, action } => self.action(now, from, action),
            Work::OwnerComplete {
                interface,
                protocol,
                op,
            } => {
                if !self.handover {
                    self.counters.ownership_moves += 1;
                    self.emit(Event::OwnershipComplete {
                        interface,
                        protocol,
                        op,
                    });
                }
            }
            Work::Redecide { flow, info } => self.redecide_one(flow, *info),
            Work::Decide {
                flow,
                origin,
                carried,
            } => self.decide(now, flow, origin, carried.map(|c| *c)),
            Work::Installed { flow, iif } => self.installed(flow, iif),
        }
    }
}

#[cfg(test)]
mod tests {
    /// A piece of work stays within two cache lines, copied inline: the
    /// agenda moves one per membership in an ownership sequence.
    #[test]
    fn a_piece_of_work_is_small() {
        assert!(
            std::mem::size_of::<super::Work>() <= 96,
            "{}",
            std::mem::size_of::<super::Work>()
        );
    }
}
