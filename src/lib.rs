//! mgmd: a multicast group manager for Linux routers.
//!
//! One daemon owns the kernel's IPv4 multicast routing socket, runs the
//! router side of IGMP on every enabled interface, and lets routing
//! protocols own interfaces without stepping on IGMP: every change of
//! ownership runs the disable/enable sequence of the Multicast Group
//! Manager model. ARCHITECTURE.md describes the model, the decisions mgmd
//! took and what each module may touch.
//!
//! # Layout
//!
//! - [`core`]: sans-IO logic. No sockets, no tokio, no clock reads: state
//!   machines take events and the current time and return actions.
//!   - [`core::types`]: newtypes (`IfIndex`, `IfName`, `GroupAddr`,
//!     `FlowKey`...); [`core::filter`]: host source filters and their merge.
//!   - [`core::input`], [`core::output`], [`core::event`],
//!     [`core::control`], [`core::status`]: the router's inputs, outputs,
//!     events, commands and views, as data.
//!   - [`core::mgm`]: the Multicast Group Manager (ownership, memberships,
//!     forwarding entries, alerts).
//!   - [`core::igmp`]: IGMP codec and the per-interface router state machine.
//!   - [`core::iface`]: the interface table built from kernel facts.
//!   - [`core::mroute`]: desired VIF/MFC state and the diff to the kernel.
//!   - [`core::rib`]: one routing table's unicast routes, for RPF lookups
//!     when mgmd runs on a table of its own.
//!   - [`core::protocol`]: the routing-protocol trait, the registry, and one
//!     folder per protocol.
//!   - [`core::config_check`]: the configuration checker and its errors,
//!     shared by [`config`] and the protocols' sections (a leaf: it knows
//!     neither).
//!   - [`core::router`]: ties the above together; the one `handle()` the
//!     daemon drives, ending every input with a commit.
//! - [`config`]: TOML config types, parsing with positions, validation
//!   (protocol sections are validated by their protocol); the file is read
//!   by [`cli::config_file`] and the daemon.
//! - [`io`]: the only code that touches the kernel (rtnetlink, the multicast
//!   routing socket and its writer thread, raw IGMP sockets).
//! - [`daemon`]: the event loop, the control socket server and the service
//!   manager notifications (`sd_notify`).
//! - [`ctl`]: the control protocol (requests, responses, client).
//! - [`cli`]: the command lines of `mgmd` and `mgmctl`, logging set-up and
//!   `mgmd -d` (shared with the man page and completion generator).
//! - [`record`]: recording the router's steps and replaying them.
//! - [`system_check`]: `mgmd check-system`: the system's facts (gathered
//!   by [`io::system`]) and the configuration in, findings out (sans-IO).

pub mod cli;
pub mod config;
pub mod core;
pub mod ctl;
pub mod daemon;
pub mod io;
pub mod record;
pub mod system_check;
