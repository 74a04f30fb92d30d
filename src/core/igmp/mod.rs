//! IGMP router side: the wire codec ([`packet`]), the per-group state of
//! RFC 3376 section 6 ([`group`]), the per-interface router with querier
//! election and compatibility ([`router`]), and its counters and status
//! ([`stats`]).

pub mod config;
pub mod group;
pub mod packet;
pub mod router;
pub mod stats;

pub use config::{IgmpIfConfig, IgmpVersion};
pub use group::FilterMode;
pub use packet::{DecodeError, GroupRecord, IgmpPacket, Query, QueryVersion, RecordType};
pub use router::{IgmpAction, IgmpEvent, IgmpRouter};
pub use stats::{GroupStatus, IgmpIfStatus, IgmpLog, IgmpStats, MsgCounters, SourceStatus};
