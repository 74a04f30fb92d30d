//! MLD wire format (RFC 2710 section 3, RFC 9777 section 5): decode and
//! encode every message a multicast router meets. Works on the ICMPv6
//! payload only (after the IPv6 header and its extension headers); never
//! panics on any input.
//!
//! On Linux the kernel computes the ICMPv6 checksum of what a raw ICMPv6
//! socket sends and verifies it on what such a socket receives (RFC 3542
//! 3.1), so [`MldPacket::decode`] and [`MldPacket::encode`] leave it alone;
//! [`checksum`], [`verify`], [`MldPacket::decode_verified`] and
//! [`MldPacket::encode_with_checksum`] compute it over the IPv6
//! pseudo-header for tests, fuzzing and simulated hosts.

use std::net::Ipv6Addr;
use std::time::Duration;

/// The record types are IGMPv3's (RFC 9777 5.2.13 defines the same six
/// values as RFC 9776 4.2.13), so MLDv2 records feed the per-group state
/// of [`crate::core::igmp::group`] unchanged.
pub use crate::core::igmp::packet::RecordType;
use crate::core::igmp::packet::{float_decode, float_encode, float_encode_up};

// ===== message types =====

/// Multicast Listener Query, both versions (RFC 2710 3.6, RFC 9777 5.1).
pub const TYPE_QUERY: u8 = 130;
/// Version 1 Multicast Listener Report (RFC 2710 3.6).
pub const TYPE_V1_REPORT: u8 = 131;
/// Version 1 Multicast Listener Done (RFC 2710 3.6).
pub const TYPE_V1_DONE: u8 = 132;
/// Version 2 Multicast Listener Report (RFC 9777 5.2).
pub const TYPE_V2_REPORT: u8 = 143;

/// IPv6 Next Header value of ICMPv6, which carries MLD (RFC 9777 5); the
/// last word of the checksum's pseudo-header.
pub const NEXT_HEADER_ICMPV6: u8 = 58;

// ===== addresses =====

/// Link-scope all-nodes address: General Queries go there (RFC 9777
/// 5.1.15); never reported (6).
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// Link-scope all-routers address: MLDv1 Done messages go there (RFC 2710
/// 5, "send done").
pub const ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);
/// "All MLDv2-capable routers": Version 2 Reports go there (RFC 9777
/// 5.2.15); a router listens to it on every MLD interface (7).
pub const ALL_MLDV2_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x16);

// ===== lengths =====

/// Length of an MLDv1 message, and of an MLDv1 Query (RFC 2710 3, RFC
/// 9777 8.1).
const V1_LEN: usize = 24;
/// Minimum length of an MLDv2 Query (RFC 9777 8.1).
const V2_QUERY_MIN: usize = 28;
/// Fixed header of a Version 2 Report (RFC 9777 5.2).
const V2_REPORT_HDR: usize = 8;
/// Fixed part of a Multicast Address Record (RFC 9777 5.2).
const RECORD_HDR_LEN: usize = 20;
/// An IPv6 address on the wire.
const ADDR_LEN: usize = 16;

// ===== types =====

/// Query version as told apart by RFC 9777 8.1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum QueryVersion {
    /// Length 24 (RFC 2710).
    V1,
    /// Length >= 28 (RFC 9777).
    V2,
}

/// A Multicast Listener Query of either version. For v1 queries
/// `suppress`, `qrv`, `qqic` and `sources` are always false/0/empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    pub version: QueryVersion,
    /// v1: the Maximum Response Delay in milliseconds (RFC 2710 3.4);
    /// v2: the Maximum Response Code, whose values from 32768 up are
    /// floating point (RFC 9777 5.1.3, [`decode_mrc`]).
    pub max_resp_code: u16,
    /// :: for a General Query (RFC 9777 5.1.5).
    pub group: Ipv6Addr,
    /// S flag, "Suppress Router-Side Processing" (RFC 9777 5.1.7).
    pub suppress: bool,
    /// Querier's Robustness Variable (RFC 9777 5.1.8), 0..=7.
    pub qrv: u8,
    /// Querier's Query Interval Code (RFC 9777 5.1.9, [`decode_qqic`]).
    pub qqic: u8,
    pub sources: Vec<Ipv6Addr>,
}

/// One Multicast Address Record of a Version 2 Report (RFC 9777 5.2.5).
/// Auxiliary data is skipped on decode (5.2.11: receivers "MUST ignore any
/// such data present in any received Multicast Address Record") and never
/// emitted (senders "MUST set the Aux Data Len field to zero").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressRecord {
    pub record_type: RecordType,
    /// Raw address: [`super::check::check_group`] tells whether the
    /// router may learn it.
    pub group: Ipv6Addr,
    pub sources: Vec<Ipv6Addr>,
}

/// A decoded MLD message. Multicast Address fields are raw addresses: the
/// router checks them with [`super::check::check_group`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MldPacket {
    Query(Query),
    V1Report { group: Ipv6Addr },
    V1Done { group: Ipv6Addr },
    V2Report { records: Vec<AddressRecord> },
}

/// Why a payload could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Another ICMPv6 message (echo, neighbour discovery, ...): a raw
    /// ICMPv6 socket receives them all. Not malformed, only not ours (RFC
    /// 9777 5: "Unrecognized message types MUST be silently ignored").
    #[error("ICMPv6 type {0} is not an MLD message")]
    NotMld(u8),
    #[error("MLD message too short ({0} bytes)")]
    TooShort(usize),
    #[error("bad checksum")]
    BadChecksum,
    #[error("query of invalid length {0} (expected 24 or at least 28)")]
    BadLength(usize),
    #[error("source or record count runs past the end of the message")]
    CountOverrun,
}

impl DecodeError {
    /// Stable label for drop counters.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::NotMld(_) => "not_mld",
            DecodeError::TooShort(_) => "too_short",
            DecodeError::BadChecksum => "bad_checksum",
            DecodeError::BadLength(_) => "bad_length",
            DecodeError::CountOverrun => "count_overrun",
        }
    }

    /// False for [`DecodeError::NotMld`], which the caller ignores without
    /// counting a malformed message; true for every other error.
    pub fn is_malformed(&self) -> bool {
        !matches!(self, DecodeError::NotMld(_))
    }
}

// ===== impl Query =====

impl Query {
    /// A General Query of the given version.
    pub fn general(version: QueryVersion, max_resp: Duration, qrv: u8, qqi: Duration) -> Query {
        Query::specific(
            version,
            max_resp,
            Ipv6Addr::UNSPECIFIED,
            false,
            qrv,
            qqi,
            Vec::new(),
        )
    }

    /// A Multicast Address (and Source) Specific Query; `suppress`, `qrv`,
    /// `qqi` and `sources` are only carried by v2.
    pub fn specific(
        version: QueryVersion,
        max_resp: Duration,
        group: Ipv6Addr,
        suppress: bool,
        qrv: u8,
        qqi: Duration,
        sources: Vec<Ipv6Addr>,
    ) -> Query {
        let ms = duration_to_ms(max_resp);
        match version {
            QueryVersion::V1 => Query {
                version,
                // RFC 2710 3.4: plain milliseconds, 65.535 s at most.
                max_resp_code: ms.min(u32::from(u16::MAX)) as u16,
                group,
                suppress: false,
                qrv: 0,
                qqic: 0,
                sources: Vec::new(),
            },
            QueryVersion::V2 => Query {
                version,
                max_resp_code: encode_mrc(ms),
                group,
                suppress,
                // 5.1.8: "If the Querier's [Robustness Variable] exceeds 7
                // (the maximum value of the QRV field), the QRV field is
                // set to zero."
                qrv: if qrv <= 7 { qrv } else { 0 },
                qqic: encode_qqic_up(qqi.as_secs().min(u64::from(u32::MAX)) as u32),
                sources,
            },
        }
    }

    /// Maximum Response Delay (v1: RFC 2710 3.4; v2: RFC 9777 5.1.3).
    pub fn max_resp_delay(&self) -> Duration {
        match self.version {
            QueryVersion::V1 => Duration::from_millis(u64::from(self.max_resp_code)),
            QueryVersion::V2 => Duration::from_millis(u64::from(decode_mrc(self.max_resp_code))),
        }
    }

    /// Querier's Query Interval (RFC 9777 5.1.9); zero when absent.
    pub fn qqi(&self) -> Duration {
        Duration::from_secs(u64::from(decode_qqic(self.qqic)))
    }

    /// A General Query: Multicast Address field zero (RFC 9777 5.1.5).
    pub fn is_general(&self) -> bool {
        self.group.is_unspecified()
    }
}

// ===== Maximum Response Code / QQIC =====

/// Maximum Response Delay in milliseconds of an MLDv2 Maximum Response
/// Code (RFC 9777 5.1.3): below 32768 the code itself, else
/// `(mant | 0x1000) << (exp + 3)`, at most 8 387 584 ms (about 2 h 20 min).
pub fn decode_mrc(code: u16) -> u32 {
    float_decode(u32::from(code), 12)
}

/// Encode a Maximum Response Delay (milliseconds) into a Maximum Response
/// Code, rounding down (RFC 9777 9.8: "use the exact value if possible, or
/// the next lower value if the requested value is not exactly
/// representable"); values above 8 387 584 saturate at 0xffff.
pub fn encode_mrc(ms: u32) -> u16 {
    float_encode(ms, 12) as u16
}

/// Encode a Maximum Response Delay (milliseconds), rounding *up* when not
/// exactly representable; saturates at 0xffff.
pub fn encode_mrc_up(ms: u32) -> u16 {
    float_encode_up(ms, 12) as u16
}

/// The QQIC (RFC 9777 5.1.9) has IGMPv3's format (RFC 9776 4.1.7): below
/// 128 the code itself, else `(mant | 0x10) << (exp + 3)`, at most 31744
/// seconds; encoded rounding down, or up (see
/// [`crate::core::igmp::packet::encode_code_up`] for why the querier
/// advertises its interval rounded up).
pub use crate::core::igmp::packet::{
    decode_code as decode_qqic, encode_code as encode_qqic, encode_code_up as encode_qqic_up,
};

fn duration_to_ms(d: Duration) -> u32 {
    d.as_millis().min(u128::from(u32::MAX)) as u32
}

// ===== checksum =====

/// The ICMPv6 checksum (RFC 4443 2.3) of `payload` sent from `src` to
/// `dst`: the one's complement of the one's-complement sum of the IPv6
/// pseudo-header (RFC 8200 8.1: source, destination, upper-layer packet
/// length, three zero bytes and Next Header 58) and of `payload`, padded
/// with a zero byte to an even length. With the Checksum field zero this
/// is the value to put there; over a message carrying a correct checksum
/// it is 0.
pub fn checksum(src: Ipv6Addr, dst: Ipv6Addr, payload: &[u8]) -> u16 {
    // 64 bits cannot overflow: that takes 2^48 words.
    let mut sum: u64 = words_sum(&src.octets()) + words_sum(&dst.octets());
    let len = payload.len() as u64 & 0xffff_ffff;
    sum += (len >> 16) + (len & 0xffff);
    sum += u64::from(NEXT_HEADER_ICMPV6);
    sum += words_sum(payload);
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Whether `payload`, with its Checksum field as received, carries the
/// right checksum for `src` and `dst` (RFC 9777 5.1.2 and 5.2.2: "the
/// checksum MUST be verified before processing it").
pub fn verify(src: Ipv6Addr, dst: Ipv6Addr, payload: &[u8]) -> bool {
    checksum(src, dst, payload) == 0
}

fn words_sum(bytes: &[u8]) -> u64 {
    let mut sum = 0u64;
    let mut chunks = bytes.chunks_exact(2);
    for w in &mut chunks {
        sum += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u64::from(*last) << 8;
    }
    sum
}

// ===== decode =====

/// Decode an MLD payload; see [`MldPacket::decode`].
pub fn decode(bytes: &[u8]) -> Result<MldPacket, DecodeError> {
    MldPacket::decode(bytes)
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::CountOverrun)?;
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or(DecodeError::CountOverrun)?;
        self.pos = end;
        Ok(s)
    }

    fn addrs(&mut self, n: usize) -> Result<Vec<Ipv6Addr>, DecodeError> {
        // Check the whole list fits before allocating for it.
        let bytes = self.take(n.checked_mul(ADDR_LEN).ok_or(DecodeError::CountOverrun)?)?;
        Ok(bytes.chunks_exact(ADDR_LEN).map(addr).collect())
    }
}

/// The address in the first 16 bytes of `b` (callers check the length).
fn addr(b: &[u8]) -> Ipv6Addr {
    let mut o = [0u8; ADDR_LEN];
    o.copy_from_slice(&b[..ADDR_LEN]);
    Ipv6Addr::from(o)
}

/// The message's type, if it is an MLD message at least as long as its
/// type's fixed part.
fn mld_type(bytes: &[u8]) -> Result<u8, DecodeError> {
    let Some(&ty) = bytes.first() else {
        return Err(DecodeError::TooShort(0));
    };
    if !is_mld_type(ty) {
        return Err(DecodeError::NotMld(ty));
    }
    if bytes.len() < min_len(ty) {
        return Err(DecodeError::TooShort(bytes.len()));
    }
    Ok(ty)
}

fn is_mld_type(t: u8) -> bool {
    matches!(
        t,
        TYPE_QUERY | TYPE_V1_REPORT | TYPE_V1_DONE | TYPE_V2_REPORT
    )
}

/// Shortest message of an MLD type: 24 octets for the MLDv1 layout (RFC
/// 2710 5 and 6: "be at least 24 octets long"), 8 for a Version 2 Report
/// with no record (RFC 9777 5.2).
fn min_len(t: u8) -> usize {
    if t == TYPE_V2_REPORT {
        V2_REPORT_HDR
    } else {
        V1_LEN
    }
}

impl MldPacket {
    /// Decode an MLD payload whose checksum the kernel has verified (RFC
    /// 9777 8.1 tells query versions apart). Other ICMPv6 types give
    /// [`DecodeError::NotMld`].
    pub fn decode(bytes: &[u8]) -> Result<MldPacket, DecodeError> {
        let ty = mld_type(bytes)?;
        Self::decode_fields(ty, bytes)
    }

    /// The fields of a message of MLD type `ty`, long enough for it.
    fn decode_fields(ty: u8, bytes: &[u8]) -> Result<MldPacket, DecodeError> {
        match ty {
            TYPE_QUERY => decode_query(bytes),
            // RFC 2710 3: receivers "MUST ignore anything past the first 24
            // octets"; the Maximum Response Delay (3.4) and Code and
            // Reserved fields of reports and Done messages are ignored.
            TYPE_V1_REPORT => Ok(MldPacket::V1Report {
                group: addr(&bytes[8..]),
            }),
            TYPE_V1_DONE => Ok(MldPacket::V1Done {
                group: addr(&bytes[8..]),
            }),
            _ => decode_v2_report(bytes),
        }
    }

    /// [`MldPacket::decode`] after checking the checksum for the IPv6
    /// source and destination the payload came with, over the whole
    /// payload (RFC 9777 5.1.12 and 5.2.12: octets past the last field
    /// count). Non-MLD types are [`DecodeError::NotMld`] whatever their
    /// checksum.
    pub fn decode_verified(
        src: Ipv6Addr,
        dst: Ipv6Addr,
        bytes: &[u8],
    ) -> Result<MldPacket, DecodeError> {
        let ty = mld_type(bytes)?;
        if !verify(src, dst, bytes) {
            return Err(DecodeError::BadChecksum);
        }
        Self::decode_fields(ty, bytes)
    }

    /// Encode to wire bytes with the Checksum field zero, for a raw ICMPv6
    /// socket (the kernel fills it in). Code, Reserved and Aux Data Len
    /// fields are zero, and nothing follows the last field (RFC 2710 3;
    /// RFC 9777 5.1.12, 5.2.11 and 5.2.12: senders "MUST NOT include
    /// additional octets"). Lists longer than a 16-bit count can tell are
    /// cut at 65535 entries.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        match self {
            MldPacket::Query(q) => {
                out.extend_from_slice(&[TYPE_QUERY, 0, 0, 0]);
                out.extend_from_slice(&q.max_resp_code.to_be_bytes());
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(&q.group.octets());
                if q.version == QueryVersion::V2 {
                    out.push((u8::from(q.suppress) << 3) | (q.qrv & 0x07));
                    out.push(q.qqic);
                    let n = q.sources.len().min(usize::from(u16::MAX));
                    out.extend_from_slice(&(n as u16).to_be_bytes());
                    for s in &q.sources[..n] {
                        out.extend_from_slice(&s.octets());
                    }
                }
            }
            MldPacket::V1Report { group } => v1_message(&mut out, TYPE_V1_REPORT, *group),
            MldPacket::V1Done { group } => v1_message(&mut out, TYPE_V1_DONE, *group),
            MldPacket::V2Report { records } => {
                let n = records.len().min(usize::from(u16::MAX));
                out.extend_from_slice(&[TYPE_V2_REPORT, 0, 0, 0, 0, 0]);
                out.extend_from_slice(&(n as u16).to_be_bytes());
                for r in &records[..n] {
                    let ns = r.sources.len().min(usize::from(u16::MAX));
                    out.push(r.record_type.to_u8());
                    out.push(0); // Aux Data Len
                    out.extend_from_slice(&(ns as u16).to_be_bytes());
                    out.extend_from_slice(&r.group.octets());
                    for s in &r.sources[..ns] {
                        out.extend_from_slice(&s.octets());
                    }
                }
            }
        }
        out
    }

    /// [`MldPacket::encode`] with the checksum for `src` and `dst` filled
    /// in, as it appears on the wire.
    pub fn encode_with_checksum(&self, src: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
        let mut out = self.encode();
        let ck = checksum(src, dst, &out);
        out[2..4].copy_from_slice(&ck.to_be_bytes());
        out
    }

    fn encoded_len(&self) -> usize {
        match self {
            MldPacket::Query(q) if q.version == QueryVersion::V2 => {
                V2_QUERY_MIN + ADDR_LEN * q.sources.len()
            }
            MldPacket::V2Report { records } => {
                V2_REPORT_HDR
                    + records
                        .iter()
                        .map(|r| RECORD_HDR_LEN + ADDR_LEN * r.sources.len())
                        .sum::<usize>()
            }
            _ => V1_LEN,
        }
    }

    /// Short name of the message kind, for logs and counters.
    pub fn kind(&self) -> &'static str {
        match self {
            MldPacket::Query(q) => match q.version {
                QueryVersion::V1 => "v1_query",
                QueryVersion::V2 => "v2_query",
            },
            MldPacket::V1Report { .. } => "v1_report",
            MldPacket::V1Done { .. } => "v1_done",
            MldPacket::V2Report { .. } => "v2_report",
        }
    }
}

fn v1_message(out: &mut Vec<u8>, ty: u8, group: Ipv6Addr) {
    // Type, Code, Checksum, Maximum Response Delay (zero outside queries,
    // RFC 2710 3.4), Reserved, Multicast Address.
    out.extend_from_slice(&[ty, 0, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&group.octets());
}

fn decode_query(bytes: &[u8]) -> Result<MldPacket, DecodeError> {
    let max_resp_code = u16::from_be_bytes([bytes[4], bytes[5]]);
    let group = addr(&bytes[8..]);
    match bytes.len() {
        V1_LEN => Ok(MldPacket::Query(Query {
            version: QueryVersion::V1,
            max_resp_code,
            group,
            suppress: false,
            qrv: 0,
            qqic: 0,
            sources: Vec::new(),
        })),
        // 8.1: "Query Messages that do not match any of the above
        // conditions (e.g., a Query of length 26 octets) MUST be silently
        // ignored."
        n if n < V2_QUERY_MIN => Err(DecodeError::BadLength(n)),
        _ => {
            // Resv (4 bits) | S | QRV (3 bits); the reserved bits are
            // ignored on reception (5.1.6 leaves them to RFC 9778).
            let flags = bytes[24];
            let qqic = bytes[25];
            let n = usize::from(u16::from_be_bytes([bytes[26], bytes[27]]));
            let mut r = Reader {
                buf: bytes,
                pos: V2_QUERY_MIN,
            };
            let sources = r.addrs(n)?;
            // 5.1.12: octets after the sources are ignored.
            Ok(MldPacket::Query(Query {
                version: QueryVersion::V2,
                max_resp_code,
                group,
                suppress: flags & 0x08 != 0,
                qrv: flags & 0x07,
                qqic,
                sources,
            }))
        }
    }
}

fn decode_v2_report(bytes: &[u8]) -> Result<MldPacket, DecodeError> {
    // Type, Reserved, Checksum, Reserved (or flags, RFC 9778), Nr of Mcast
    // Address Records (5.2.1 to 5.2.4).
    let n = usize::from(u16::from_be_bytes([bytes[6], bytes[7]]));
    let mut r = Reader {
        buf: bytes,
        pos: V2_REPORT_HDR,
    };
    // Each record takes at least 20 bytes: bound the allocation by what
    // the message can hold.
    let mut records = Vec::with_capacity(n.min((bytes.len() - V2_REPORT_HDR) / RECORD_HDR_LEN));
    for _ in 0..n {
        let hdr = r.take(RECORD_HDR_LEN)?;
        let record_type = RecordType::from_u8(hdr[0]);
        let aux_words = usize::from(hdr[1]);
        let nsrc = usize::from(u16::from_be_bytes([hdr[2], hdr[3]]));
        let group = addr(&hdr[4..]);
        let sources = r.addrs(nsrc)?;
        // 5.2.7: Aux Data Len counts 32-bit words; the data is skipped.
        r.take(aux_words * 4)?;
        records.push(AddressRecord {
            record_type,
            group,
            sources,
        });
    }
    // 5.2.12: octets after the last record are ignored.
    Ok(MldPacket::V2Report { records })
}

// ===== tests =====

#[cfg(test)]
mod tests;
