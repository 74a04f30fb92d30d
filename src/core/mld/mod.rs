//! MLD router side (RFC 9777, MLDv2, with RFC 2710, MLDv1, as its
//! compatibility mode), the IPv6 counterpart of [`super::igmp`]. So far
//! the wire: the codec ([`packet`]) decodes and encodes every message a
//! multicast router meets and computes the ICMPv6 checksum over the IPv6
//! pseudo-header.

pub mod packet;

pub use packet::{AddressRecord, DecodeError, MldPacket, Query, QueryVersion, RecordType};
