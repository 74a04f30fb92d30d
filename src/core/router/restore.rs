//! Taking over from the previous process ([`crate::core::snapshot`]).
//!
//! [`Input::Restore`](crate::core::input::Input::Restore) comes first,
//! before the first full dump of the interfaces. When the multicast
//! routing socket was handed over, the kernel's VIFs and entries are
//! adopted at once, and nothing is written to the kernel until the
//! interfaces are known (a commit before that would see no interface and
//! remove everything). The groups and flows wait for the dump: then each
//! interface that is still there under the same index and name, and runs
//! IGMP, gets its groups back with the timers they had (the startup
//! queries confirm them or let them run out), and every flow is decided
//! again from what the kernel told about it, as after a route change. The
//! commit that ends the dump programs the kernel with the result: after a
//! crash, forwarding is back in that one step; after a handover, the
//! kernel already holds it and sees at most the difference.

use std::time::{Duration, Instant};

use super::Router;
use super::flow_book::FlowOrigin;
use crate::core::event::Event;
use crate::core::igmp::{IgmpAction, IgmpLog, WallClock};
use crate::core::snapshot::{FORMAT, Restore, RouterState, SavedFlow, SavedInterface, SavedKernel};

/// How far in the future a snapshot's time may lie (clocks of two
/// processes on one machine agree; this only absorbs a small step).
const CLOCK_SLACK: Duration = Duration::from_secs(60);

impl Router {
    /// The state to hand over: groups per interface, flows, and with
    /// `kernel` the kernel's table as this router last programmed it.
    /// `config` is the fingerprint of the configuration text, `unix_ms`
    /// the wall clock at `now`.
    pub fn state(&self, now: Instant, unix_ms: u64, config: &str, kernel: bool) -> RouterState {
        let clock = WallClock { now, unix_ms };
        let interfaces = self
            .igmp
            .iter()
            .filter_map(|(ifindex, r)| {
                let name = self.ifaces.get(*ifindex)?.name.clone();
                Some(SavedInterface {
                    ifindex: *ifindex,
                    name,
                    groups: r.saved_groups(clock),
                })
            })
            .filter(|i| !i.groups.is_empty())
            .collect();
        let mut flows: Vec<SavedFlow> = self
            .flows
            .all()
            .map(|(flow, info)| SavedFlow {
                flow: *flow,
                arrival: info.origin.arrival,
                rpf: info.origin.rpf,
                upstream: info.origin.upstream,
            })
            .collect();
        flows.sort_unstable_by_key(|f| f.flow);
        let kernel = kernel.then(|| SavedKernel {
            vifs: self.mroute.vifs().collect(),
            entries: self
                .mroute
                .entries()
                .into_iter()
                .map(|(f, e)| (f, e.iif, e.oifs))
                .collect(),
        });
        RouterState {
            format: FORMAT,
            config: config.to_owned(),
            written: unix_ms,
            interfaces,
            flows,
            kernel,
        }
    }

    /// Whether the kernel must not be written to yet (an adopted table
    /// waits for the interfaces).
    pub(super) fn holding_kernel(&self) -> bool {
        self.restore.as_ref().is_some_and(|(r, _)| r.adopted)
    }

    /// [`Input::Restore`](crate::core::input::Input::Restore).
    pub(super) fn restore_input(&mut self, now: Instant, r: Restore) {
        if r.adopted {
            let kernel = r.state.kernel.clone().unwrap_or_default();
            self.mroute
                .adopt(kernel.vifs.iter().copied(), kernel.entries.iter().copied());
            self.emit(Event::KernelAdopted {
                vifs: kernel.vifs.len(),
                entries: kernel.entries.len(),
            });
        }
        if let Some(reason) = self.refusal(&r) {
            self.emit(Event::SnapshotIgnored { reason });
            if !r.adopted {
                return;
            }
            // The adopted table still waits for the interfaces; nothing
            // else is taken over.
            let mut r = r;
            r.state.interfaces.clear();
            r.state.flows.clear();
            self.restore = Some((r, now));
        } else {
            self.restore = Some((r, now));
        }
        if self.ifaces.iter().next().is_some() {
            self.finish_restore(now);
        }
    }

    /// Why a snapshot cannot be taken over, if it cannot.
    fn refusal(&self, r: &Restore) -> Option<String> {
        let s = &r.state;
        if s.format != FORMAT {
            return Some(format!("format {} (this mgmd reads {FORMAT})", s.format));
        }
        if s.config != r.config {
            return Some("written for another configuration".into());
        }
        if s.written > r.now.saturating_add(CLOCK_SLACK.as_millis() as u64) {
            return Some("written in the future (the clock went back)".into());
        }
        let age = Duration::from_millis(r.now.saturating_sub(s.written));
        let longest = self
            .cfg
            .interfaces
            .iter()
            .filter_map(|i| i.igmp.as_ref())
            .chain([&self.cfg.igmp_defaults])
            .map(|c| {
                crate::core::igmp::timers::Timers {
                    robustness: c.robustness,
                    query_interval: c.query_interval,
                    query_response_interval: c.query_response_interval,
                    last_member_query_interval: c.last_member_query_interval,
                    last_member_query_count: c.last_member_query_count,
                }
                .group_membership_interval()
            })
            .max()
            .unwrap_or_default();
        (age > longest).then(|| {
            format!(
                "stale: written {:.0}s ago, longer than anything in it lasts ({:.0}s)",
                age.as_secs_f64(),
                longest.as_secs_f64()
            )
        })
    }

    /// After the interfaces are known: groups back to their interfaces,
    /// flows decided again.
    pub(super) fn finish_restore(&mut self, now: Instant) {
        let Some((r, at)) = self.restore.take() else {
            return;
        };
        // The wall clock now: the input's, plus what passed since.
        let unix_ms =
            r.now + u64::try_from(now.saturating_duration_since(at).as_millis()).unwrap_or(0);
        let clock = WallClock { now, unix_ms };
        let mut groups = 0;
        for i in &r.state.interfaces {
            if self.ifaces.get(i.ifindex).is_none_or(|l| l.name != i.name) {
                continue;
            }
            let Some(igmp) = self.igmp.get_mut(&i.ifindex) else {
                continue;
            };
            let actions = igmp.restore_groups(clock, &i.groups);
            groups += actions
                .iter()
                .filter(|a| matches!(a, IgmpAction::Log(IgmpLog::GroupCreated { .. })))
                .count();
            self.igmp_actions(now, i.ifindex, actions);
        }
        let mut flows = 0;
        for f in &r.state.flows {
            // Known already, or arriving on an interface that is gone or
            // down: the kernel reports it again when its data comes.
            let skip = self.flows.has_entry(&f.flow)
                || !self.ifaces.get(f.arrival).is_some_and(|l| l.oper_up());
            if skip {
                continue;
            }
            flows += 1;
            let origin = FlowOrigin {
                arrival: f.arrival,
                rpf: f.rpf,
                upstream: f.upstream,
            };
            self.decide_flow(now, f.flow, origin, None);
        }
        if groups > 0 || flows > 0 {
            let age = Duration::from_millis(r.now.saturating_sub(r.state.written));
            self.emit(Event::StateRestored { groups, flows, age });
        }
    }
}
