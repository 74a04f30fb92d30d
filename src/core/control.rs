//! The operator's requests as the router sees them ([`Command`]) and its
//! answers ([`Answer`]). The control socket's wire protocol
//! ([`crate::ctl::proto`]) maps onto these; the core knows nothing of it.

use serde::{Deserialize, Serialize};

use crate::core::mroute::KernelTable;
use crate::core::status::{
    AuditView, ConfigView, CounterView, CountersView, GroupView, InterfaceView, OwnerView,
    ProtocolView, ReloadReport, RouteView,
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
    /// Run on the configuration `text` (read from `path`, which names it in
    /// messages): a bad one changes nothing; a good one is applied as its
    /// difference from the running configuration.
    Reload {
        path: String,
        text: String,
        /// What the command line sets over the file.
        #[serde(default)]
        overrides: crate::config::Overrides,
    },
    /// A runtime edit of `protocol`'s section, in that protocol's own form
    /// (the router hands it over unread); applied like a reload of the
    /// section, it lasts until the next reload or restart.
    Edit {
        protocol: String,
        edit: serde_json::Value,
    },
    /// The running configuration, runtime edits included.
    ShowConfig,
    /// The router's counters and every interface's IGMP counters, or only
    /// those of `interface` (`mgmctl show counters [IFACE]`).
    ShowAllCounters {
        interface: Option<String>,
    },
    /// `mgmctl verify`: the kernel's table as read back, against the
    /// router's; with `repair`, the differences are repaired (as the
    /// periodic audit does).
    Verify {
        kernel: Box<KernelTable>,
        #[serde(default)]
        repair: bool,
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
    // Boxed: the largest answers would make every output as large.
    Counters(Box<CounterView>),
    Owner(OwnerView),
    Reload(ReloadReport),
    Config(Box<ConfigView>),
    AllCounters(Box<CountersView>),
    Audit(Box<AuditView>),
}
