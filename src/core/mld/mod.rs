//! MLD router side (RFC 9777, MLDv2, with RFC 2710, MLDv1, as its
//! compatibility mode), the IPv6 counterpart of [`super::igmp`]. So far
//! the wire: the codec ([`packet`]) decodes and encodes every message a
//! multicast router meets and computes the ICMPv6 checksum over the IPv6
//! pseudo-header; [`check`] holds the checks a router makes on the IPv6
//! header before processing a message (RFC 9777 7.4, 7.6) and tells which
//! multicast addresses it keeps listening state for.

pub mod check;
pub mod packet;

pub use check::{GroupReject, Reject, check_group, check_ip};
pub use packet::{AddressRecord, DecodeError, MldPacket, Query, QueryVersion, RecordType};
