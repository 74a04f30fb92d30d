//! Report loss recovery: the kernel's receive drop counters enter as
//! [`crate::core::input::Input::InputDrops`]; the router turns their growth into
//! [`IgmpEvent::InputLost`] for the interfaces concerned, and each
//! interface's IGMP decides whether to send a recovery query (a general
//! query with a short Max Resp Time, rate-limited).
//!
//! An interface's own counters name the interface. An overflow of the
//! routing socket's queue (`SO_RXQ_OVFL`) names none: every interface
//! running IGMP hears of it.

use std::collections::BTreeMap;
use std::time::Instant;

use super::Router;
use crate::core::igmp::IgmpEvent;
use crate::core::types::IfIndex;

/// The counters last seen: the first reading of each is the baseline.
#[derive(Clone, Debug, Default)]
pub(super) struct DropCounters {
    interfaces: BTreeMap<IfIndex, u64>,
    socket: Option<u64>,
}

impl Router {
    /// New counter readings: `interfaces` are (interface, sum of its
    /// receive drop counters), `socket` the routing socket's overflow
    /// count.
    pub(super) fn input_drops(
        &mut self,
        now: Instant,
        interfaces: Vec<(IfIndex, u64)>,
        socket: u64,
    ) {
        let mut lost: BTreeMap<IfIndex, u64> = BTreeMap::new();
        for (ifindex, count) in interfaces {
            // A counter that went back (a new device under the same
            // index) is a new baseline.
            if let Some(before) = self.drop_counters.interfaces.insert(ifindex, count)
                && count > before
            {
                *lost.entry(ifindex).or_default() += count - before;
            }
        }
        self.drop_counters
            .interfaces
            .retain(|i, _| self.ifaces.get(*i).is_some());
        if let Some(before) = self.drop_counters.socket.replace(socket)
            && socket > before
        {
            for ifindex in self.igmp.keys() {
                *lost.entry(*ifindex).or_default() += socket - before;
            }
        }
        for (ifindex, drops) in lost {
            if let Some(r) = self.igmp.get_mut(&ifindex) {
                let actions = r.handle(now, IgmpEvent::InputLost { drops });
                self.igmp_actions(now, ifindex, actions);
            }
        }
    }
}
