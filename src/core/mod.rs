//! Sans-IO core: everything here is deterministic and testable without
//! privileges. Time is always passed in; no output depends on hash order.
//! The router takes [`input::Input`]s and returns [`output::Output`]s;
//! what happened is told as [`event::Event`]s.

pub mod config_check;
pub mod control;
pub mod event;
pub mod filter;
mod hash;
pub mod iface;
pub mod igmp;
pub mod input;
pub mod mgm;
pub mod mld;
pub mod mroute;
pub mod output;
pub mod protocol;
pub mod rib;
pub mod router;
pub mod snapshot;
pub mod status;
pub mod types;
