//! Sans-IO core: everything here is deterministic and testable without
//! privileges. Time is always passed in.

mod hash;
pub mod iface;
pub mod igmp;
pub mod mgm;
pub mod mroute;
pub mod protocol;
pub mod rib;
pub mod router;
pub mod status;
pub mod types;
