//! The operator's requests as the router sees them ([`Command`]) and its
//! answers ([`Answer`]). The control socket's wire protocol
//! ([`crate::ctl::proto`]) maps onto these; the core knows nothing of it.

use serde::{Deserialize, Serialize};

use crate::core::status::{
    CounterView, CountersView, GroupView, InterfaceView, OwnerView, ProtocolView, RouteView,
};

/// A request that enters the router as an input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case")]
pub enum Command {
    ShowInterfaces,
    ShowGroups,
    ShowRoutes,
    ShowProtocols,
    ShowCounters,
    /// Give `interface` to routing protocol `protocol` (runs the sequence).
    Take {
        interface: String,
        protocol: String,
    },
    /// `protocol` gives `interface` back to IGMP alone (runs the sequence).
    Release {
        interface: String,
        protocol: String,
    },
    /// The router's counters and every interface's IGMP counters, or only
    /// those of `interface` (`mgmctl show counters [IFACE]`).
    ShowAllCounters {
        interface: Option<String>,
    },
}

/// What a command returns (its data, as the control socket sends it).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Answer {
    Interfaces(Vec<InterfaceView>),
    Groups(Vec<GroupView>),
    Routes(Vec<RouteView>),
    Protocols(Vec<ProtocolView>),
    Counters(CounterView),
    Owner(OwnerView),
    AllCounters(CountersView),
}
