//! IGMP router side (RFC 9776, with RFC 2236 and RFC 1112 as its
//! compatibility modes): the wire codec ([`packet`]), the per-group state
//! of RFC 9776 section 6 ([`group`]), the per-interface router with querier
//! election and compatibility ([`router`]), the derived timers of section 8
//! ([`timers`]), its counters and status ([`stats`]), and its groups as
//! handed to the next process ([`saved`]). The conformance
//! table is `docs/conformance.md`.

pub mod config;
pub mod group;
pub mod packet;
pub mod router;
pub mod saved;
pub mod stats;
pub mod timers;

pub use config::{IgmpIfConfig, IgmpVersion};
pub use group::FilterMode;
pub use packet::{DecodeError, GroupRecord, IgmpPacket, Query, QueryVersion, RecordType};
pub use router::{IgmpAction, IgmpEvent, IgmpRouter};
pub use saved::{SavedGroup, WallClock};
pub use stats::{GroupStatus, IgmpIfStatus, IgmpLog, IgmpStats, MsgCounters, SourceStatus};
