//! IGMP wire format (RFC 1112, RFC 2236, RFC 9776 section 4): decode and
//! encode every message a multicast router meets. Works on the IGMP
//! payload only (after the IP header); never panics on any input.

use std::fmt;
use std::net::Ipv4Addr;
use std::time::Duration;

// ===== message types =====

/// Membership Query (all versions).
pub const TYPE_QUERY: u8 = 0x11;
/// Version 1 Membership Report (RFC 1112).
pub const TYPE_V1_REPORT: u8 = 0x12;
/// Version 2 Membership Report (RFC 2236).
pub const TYPE_V2_REPORT: u8 = 0x16;
/// Version 2 Leave Group (RFC 2236).
pub const TYPE_V2_LEAVE: u8 = 0x17;
/// Version 3 Membership Report (RFC 9776, formerly RFC 3376).
pub const TYPE_V3_REPORT: u8 = 0x22;

/// Length of the fixed IGMP header shared by every message type.
const HDR_LEN: usize = 8;
/// Minimum length of an IGMPv3 query (RFC 9776 4.1).
const V3_QUERY_MIN: usize = 12;
/// Fixed part of an IGMPv3 group record.
const RECORD_HDR_LEN: usize = 8;

// ===== types =====

/// Query version as told apart by RFC 9776 7.1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum QueryVersion {
    /// Length 8, Max Resp Code 0.
    V1,
    /// Length 8, Max Resp Code non-zero.
    V2,
    /// Length >= 12.
    V3,
}

/// A Membership Query of any version. For v1/v2 queries `suppress`,
/// `qrv`, `qqic` and `sources` are always false/0/empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    pub version: QueryVersion,
    /// Raw Max Resp Code (v3: floating point, 4.1.1; v2: tenths of a
    /// second; v1: always 0).
    pub max_resp_code: u8,
    /// 0.0.0.0 for a General Query.
    pub group: Ipv4Addr,
    /// S flag, "Suppress Router-Side Processing" (4.1.5).
    pub suppress: bool,
    /// Querier's Robustness Variable (4.1.6), 0..=7.
    pub qrv: u8,
    /// Querier's Query Interval Code (4.1.7).
    pub qqic: u8,
    pub sources: Vec<Ipv4Addr>,
}

/// IGMPv3 group record types (RFC 9776 4.2.13), which are also MLDv2's
/// Multicast Address Record types (RFC 9777 5.2.13: the same six values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum RecordType {
    ModeIsInclude,
    ModeIsExclude,
    ChangeToInclude,
    ChangeToExclude,
    AllowNewSources,
    BlockOldSources,
    /// Unrecognised record types are kept so the router can skip (and
    /// count) them; RFC 9776 4.2.13: "Unrecognized Record Type values MUST
    /// be silently ignored."
    Other(u8),
}

/// One group record of an IGMPv3 report. Auxiliary data is skipped on
/// decode (RFC 9776 4.2.11: "MUST ignore any auxiliary data present in any
/// received Group Record") and never emitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupRecord {
    pub record_type: RecordType,
    pub group: Ipv4Addr,
    pub sources: Vec<Ipv4Addr>,
}

/// A decoded IGMP message. Group fields are raw addresses: the router
/// checks that they are multicast.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IgmpPacket {
    Query(Query),
    V1Report { group: Ipv4Addr },
    V2Report { group: Ipv4Addr },
    V2Leave { group: Ipv4Addr },
    V3Report { records: Vec<GroupRecord> },
}

/// Why a payload could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("message shorter than the 8-byte IGMP header ({0} bytes)")]
    TooShort(usize),
    #[error("bad checksum")]
    BadChecksum,
    #[error("query of invalid length {0} (expected 8 or at least 12)")]
    BadLength(usize),
    #[error("source or record count runs past the end of the message")]
    CountOverrun,
    #[error("unknown message type {0:#04x}")]
    UnknownType(u8),
}

impl DecodeError {
    /// Stable label for drop counters.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::TooShort(_) => "too_short",
            DecodeError::BadChecksum => "bad_checksum",
            DecodeError::BadLength(_) => "bad_length",
            DecodeError::CountOverrun => "count_overrun",
            DecodeError::UnknownType(_) => "unknown_type",
        }
    }
}

// ===== impl RecordType =====

impl RecordType {
    pub fn from_u8(v: u8) -> RecordType {
        match v {
            1 => RecordType::ModeIsInclude,
            2 => RecordType::ModeIsExclude,
            3 => RecordType::ChangeToInclude,
            4 => RecordType::ChangeToExclude,
            5 => RecordType::AllowNewSources,
            6 => RecordType::BlockOldSources,
            other => RecordType::Other(other),
        }
    }

    pub fn to_u8(self) -> u8 {
        match self {
            RecordType::ModeIsInclude => 1,
            RecordType::ModeIsExclude => 2,
            RecordType::ChangeToInclude => 3,
            RecordType::ChangeToExclude => 4,
            RecordType::AllowNewSources => 5,
            RecordType::BlockOldSources => 6,
            RecordType::Other(v) => v,
        }
    }

    /// One of the six types; a router skips the others.
    pub fn is_known(self) -> bool {
        !matches!(self, RecordType::Other(_))
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordType::ModeIsInclude => f.write_str("IS_IN"),
            RecordType::ModeIsExclude => f.write_str("IS_EX"),
            RecordType::ChangeToInclude => f.write_str("TO_IN"),
            RecordType::ChangeToExclude => f.write_str("TO_EX"),
            RecordType::AllowNewSources => f.write_str("ALLOW"),
            RecordType::BlockOldSources => f.write_str("BLOCK"),
            RecordType::Other(v) => write!(f, "type-{v}"),
        }
    }
}

// ===== impl Query =====

impl Query {
    /// A General Query of the given version.
    pub fn general(version: QueryVersion, max_resp: Duration, qrv: u8, qqi: Duration) -> Query {
        Query::specific(
            version,
            max_resp,
            Ipv4Addr::UNSPECIFIED,
            false,
            qrv,
            qqi,
            Vec::new(),
        )
    }

    /// A group(-and-source)-specific query; `suppress`, `qrv`, `qqi` and
    /// `sources` are only carried by v3.
    pub fn specific(
        version: QueryVersion,
        max_resp: Duration,
        group: Ipv4Addr,
        suppress: bool,
        qrv: u8,
        qqi: Duration,
        sources: Vec<Ipv4Addr>,
    ) -> Query {
        let tenths = duration_to_tenths(max_resp);
        match version {
            QueryVersion::V1 => Query {
                version,
                max_resp_code: 0,
                group,
                suppress: false,
                qrv: 0,
                qqic: 0,
                sources: Vec::new(),
            },
            QueryVersion::V2 => Query {
                version,
                // A v2 query with code 0 would read as v1: use at least 1.
                max_resp_code: tenths.clamp(1, 255) as u8,
                group,
                suppress: false,
                qrv: 0,
                qqic: 0,
                sources: Vec::new(),
            },
            QueryVersion::V3 => Query {
                version,
                max_resp_code: encode_code(tenths),
                group,
                suppress,
                qrv: if qrv <= 7 { qrv } else { 0 },
                qqic: encode_code_up(qqi.as_secs().min(u64::from(u32::MAX)) as u32),
                sources,
            },
        }
    }

    /// Max Response Time (4.1.1; v2 tenths; v1 none, which RFC 2236
    /// reads as 10 s).
    pub fn max_resp_time(&self) -> Duration {
        match self.version {
            QueryVersion::V1 => Duration::from_secs(10),
            QueryVersion::V2 => Duration::from_millis(u64::from(self.max_resp_code) * 100),
            QueryVersion::V3 => {
                Duration::from_millis(u64::from(decode_code(self.max_resp_code)) * 100)
            }
        }
    }

    /// Querier's Query Interval (4.1.7); zero when absent.
    pub fn qqi(&self) -> Duration {
        Duration::from_secs(u64::from(decode_code(self.qqic)))
    }

    pub fn is_general(&self) -> bool {
        self.group.is_unspecified()
    }
}

// ===== Max Resp Code / QQIC =====

/// Value of an exponential code with `mant_bits` bits of mantissa: below
/// `1 << (mant_bits + 3)` the code itself, else
/// `(mant | 1 << mant_bits) << (exp + 3)` with a 3-bit exponent above the
/// mantissa and the top bit set. IGMPv3's Max Resp Code and QQIC (RFC 9776
/// 4.1.1, 4.1.7) and MLDv2's QQIC have 4 bits of mantissa, MLDv2's Maximum
/// Response Code 12 (RFC 9777 5.1.3).
pub(crate) fn float_decode(code: u32, mant_bits: u32) -> u32 {
    if code < 1 << (mant_bits + 3) {
        code
    } else {
        let exp = (code >> mant_bits) & 0x07;
        let mant = code & ((1 << mant_bits) - 1);
        (mant | 1 << mant_bits) << (exp + 3)
    }
}

/// The code of `value` in the format of [`float_decode`], rounded down
/// when not representable; saturates at the all-ones code.
pub(crate) fn float_encode(value: u32, mant_bits: u32) -> u32 {
    let linear_end = 1 << (mant_bits + 3);
    let max_code = (1 << (mant_bits + 4)) - 1;
    if value < linear_end {
        return value;
    }
    if value >= float_decode(max_code, mant_bits) {
        return max_code;
    }
    // value in linear_end..max: find exp so that value >> (exp + 3) has
    // exactly mant_bits + 1 bits (its top bit is the implied one).
    let mut exp = 0u32;
    while (value >> (exp + 3)) >= 2 << mant_bits {
        exp += 1;
    }
    let mant = (value >> (exp + 3)) & ((1 << mant_bits) - 1);
    linear_end | exp << mant_bits | mant
}

/// [`float_encode`], rounded *up* when not exactly representable.
pub(crate) fn float_encode_up(value: u32, mant_bits: u32) -> u32 {
    let code = float_encode(value, mant_bits);
    let max_code = (1 << (mant_bits + 4)) - 1;
    if code == max_code || float_decode(code, mant_bits) >= value {
        code
    } else {
        // The next code is the next larger value, also across a change
        // of exponent (mantissa all ones + 1 carries into it).
        code + 1
    }
}

/// Decode the floating-point code of RFC 9776 4.1.1 / 4.1.7: below 128 the
/// value itself, else `(mant | 0x10) << (exp + 3)`.
pub fn decode_code(code: u8) -> u32 {
    float_decode(u32::from(code), 4)
}

/// Encode a value (tenths of a second, or seconds for QQIC) into the
/// floating-point code, rounding down (RFC 9776 8.8: "use the exact value,
/// if possible, or the next lower value if the requested value is not
/// exactly representable"); values above 31744 saturate at 0xff.
pub fn encode_code(value: u32) -> u8 {
    float_encode(value, 4) as u8
}

/// Encode a Querier's Query Interval (seconds) into QQIC, rounding *up*
/// when it is not exactly representable (RFC 9776 4.1.7 gives no rule).
/// Non-queriers adopt the QQI (4.1.7) and time the querier out after
/// their Other Querier Present Interval, [Robustness Variable] x QQI +
/// QRI/2 (8.5); a QQI below the interval the querier really keeps (130 s
/// sent as 128 s) would make them take over early after a single lost
/// query. A higher one only keeps them waiting, and their memberships,
/// a little longer. Values above 31744 saturate at 0xff.
pub fn encode_code_up(value: u32) -> u8 {
    float_encode_up(value, 4) as u8
}

fn duration_to_tenths(d: Duration) -> u32 {
    (d.as_millis() / 100).min(u128::from(u32::MAX)) as u32
}

// ===== checksum =====

/// The Internet checksum (RFC 1071) of `bytes`: one's-complement of the
/// one's-complement sum of 16-bit words.
pub fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = bytes.chunks_exact(2);
    for w in &mut chunks {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

// ===== decode =====

/// Decode an IGMP payload; see [`IgmpPacket::decode`].
pub fn decode(bytes: &[u8]) -> Result<IgmpPacket, DecodeError> {
    IgmpPacket::decode(bytes)
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

    fn addrs(&mut self, n: usize) -> Result<Vec<Ipv4Addr>, DecodeError> {
        // Check the whole list fits before allocating for it.
        let bytes = self.take(n.checked_mul(4).ok_or(DecodeError::CountOverrun)?)?;
        Ok(bytes
            .chunks_exact(4)
            .map(|b| Ipv4Addr::new(b[0], b[1], b[2], b[3]))
            .collect())
    }
}

fn addr_at(b: &[u8], off: usize) -> Ipv4Addr {
    Ipv4Addr::new(b[off], b[off + 1], b[off + 2], b[off + 3])
}

impl IgmpPacket {
    /// Decode an IGMP payload (RFC 9776 7.1 tells query versions apart).
    pub fn decode(bytes: &[u8]) -> Result<IgmpPacket, DecodeError> {
        if bytes.len() < HDR_LEN {
            return Err(DecodeError::TooShort(bytes.len()));
        }
        if checksum(bytes) != 0 {
            return Err(DecodeError::BadChecksum);
        }
        let group = addr_at(bytes, 4);
        match bytes[0] {
            TYPE_QUERY => decode_query(bytes),
            // RFC 2236 2.5: longer v1/v2 messages are accepted, the extra
            // bytes ignored.
            TYPE_V1_REPORT => Ok(IgmpPacket::V1Report { group }),
            TYPE_V2_REPORT => Ok(IgmpPacket::V2Report { group }),
            TYPE_V2_LEAVE => Ok(IgmpPacket::V2Leave { group }),
            TYPE_V3_REPORT => decode_v3_report(bytes),
            other => Err(DecodeError::UnknownType(other)),
        }
    }

    /// Encode to wire bytes with the checksum filled in.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        match self {
            IgmpPacket::Query(q) => {
                out.extend_from_slice(&[TYPE_QUERY, q.max_resp_code, 0, 0]);
                out.extend_from_slice(&q.group.octets());
                if q.version == QueryVersion::V3 {
                    out.push((u8::from(q.suppress) << 3) | (q.qrv & 0x07));
                    out.push(q.qqic);
                    let n = q.sources.len().min(usize::from(u16::MAX));
                    out.extend_from_slice(&(n as u16).to_be_bytes());
                    for s in &q.sources[..n] {
                        out.extend_from_slice(&s.octets());
                    }
                }
            }
            IgmpPacket::V1Report { group } => simple(&mut out, TYPE_V1_REPORT, *group),
            IgmpPacket::V2Report { group } => simple(&mut out, TYPE_V2_REPORT, *group),
            IgmpPacket::V2Leave { group } => simple(&mut out, TYPE_V2_LEAVE, *group),
            IgmpPacket::V3Report { records } => {
                let n = records.len().min(usize::from(u16::MAX));
                out.extend_from_slice(&[TYPE_V3_REPORT, 0, 0, 0, 0, 0]);
                out.extend_from_slice(&(n as u16).to_be_bytes());
                for r in &records[..n] {
                    let ns = r.sources.len().min(usize::from(u16::MAX));
                    out.push(r.record_type.to_u8());
                    out.push(0); // aux data len
                    out.extend_from_slice(&(ns as u16).to_be_bytes());
                    out.extend_from_slice(&r.group.octets());
                    for s in &r.sources[..ns] {
                        out.extend_from_slice(&s.octets());
                    }
                }
            }
        }
        let ck = checksum(&out);
        out[2..4].copy_from_slice(&ck.to_be_bytes());
        out
    }

    fn encoded_len(&self) -> usize {
        match self {
            IgmpPacket::Query(q) if q.version == QueryVersion::V3 => {
                V3_QUERY_MIN + 4 * q.sources.len()
            }
            IgmpPacket::V3Report { records } => {
                HDR_LEN
                    + records
                        .iter()
                        .map(|r| RECORD_HDR_LEN + 4 * r.sources.len())
                        .sum::<usize>()
            }
            _ => HDR_LEN,
        }
    }

    /// Short name of the message kind, for logs and counters.
    pub fn kind(&self) -> &'static str {
        match self {
            IgmpPacket::Query(q) => match q.version {
                QueryVersion::V1 => "v1_query",
                QueryVersion::V2 => "v2_query",
                QueryVersion::V3 => "v3_query",
            },
            IgmpPacket::V1Report { .. } => "v1_report",
            IgmpPacket::V2Report { .. } => "v2_report",
            IgmpPacket::V2Leave { .. } => "v2_leave",
            IgmpPacket::V3Report { .. } => "v3_report",
        }
    }
}

fn simple(out: &mut Vec<u8>, ty: u8, group: Ipv4Addr) {
    out.extend_from_slice(&[ty, 0, 0, 0]);
    out.extend_from_slice(&group.octets());
}

fn decode_query(bytes: &[u8]) -> Result<IgmpPacket, DecodeError> {
    let max_resp_code = bytes[1];
    let group = addr_at(bytes, 4);
    match bytes.len() {
        HDR_LEN => Ok(IgmpPacket::Query(Query {
            version: if max_resp_code == 0 {
                QueryVersion::V1
            } else {
                QueryVersion::V2
            },
            max_resp_code,
            group,
            suppress: false,
            qrv: 0,
            qqic: 0,
            sources: Vec::new(),
        })),
        n if n < V3_QUERY_MIN => Err(DecodeError::BadLength(n)),
        _ => {
            let flags = bytes[8];
            let qqic = bytes[9];
            let n = usize::from(u16::from_be_bytes([bytes[10], bytes[11]]));
            let mut r = Reader {
                buf: bytes,
                pos: V3_QUERY_MIN,
            };
            let sources = r.addrs(n)?;
            Ok(IgmpPacket::Query(Query {
                version: QueryVersion::V3,
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

fn decode_v3_report(bytes: &[u8]) -> Result<IgmpPacket, DecodeError> {
    let n = usize::from(u16::from_be_bytes([bytes[6], bytes[7]]));
    let mut r = Reader {
        buf: bytes,
        pos: HDR_LEN,
    };
    // Each record needs at least 8 bytes: bound the allocation by what
    // the message can hold.
    let mut records = Vec::with_capacity(n.min((bytes.len() - HDR_LEN) / RECORD_HDR_LEN));
    for _ in 0..n {
        let hdr = r.take(RECORD_HDR_LEN)?;
        let record_type = RecordType::from_u8(hdr[0]);
        let aux_words = usize::from(hdr[1]);
        let nsrc = usize::from(u16::from_be_bytes([hdr[2], hdr[3]]));
        let group = addr_at(hdr, 4);
        let sources = r.addrs(nsrc)?;
        r.take(aux_words * 4)?;
        records.push(GroupRecord {
            record_type,
            group,
            sources,
        });
    }
    Ok(IgmpPacket::V3Report { records })
}

// ===== tests =====

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_rfc1071_example() {
        // RFC 1071 4.1: words 0001 f203 f4f5 f6f7 sum to ddf2 (complement 220d).
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0x220d
        );
        // Odd length pads with a zero byte.
        assert_eq!(checksum(&[0x01]), !0x0100);
    }

    #[test]
    fn code_round_trip_for_all_codes() {
        for code in 0..=255u8 {
            assert_eq!(encode_code(decode_code(code)), code, "code {code:#x}");
        }
    }

    /// QQIC rounds up (4.1.7 and 8.5: no non-querier may time the querier
    /// out early): 130 s goes out as 136 s, 1000 s as 1024 s; exact values
    /// stay; a mantissa carry moves to the next exponent.
    #[test]
    fn qqic_rounds_up_between_representable_values() {
        assert_eq!(decode_code(encode_code_up(130)), 136);
        assert_eq!(decode_code(encode_code_up(1000)), 1024);
        assert_eq!(decode_code(encode_code_up(125)), 125);
        assert_eq!(decode_code(encode_code_up(128)), 128);
        assert_eq!(decode_code(encode_code_up(249)), 256);
        assert_eq!(encode_code_up(31744), 0xff);
        for v in 0..=31744u32 {
            let d = decode_code(encode_code_up(v));
            assert!(d >= v, "{v} encoded as {d}");
            assert!(encode_code(d) == encode_code_up(v));
        }
        let q = Query::general(
            QueryVersion::V3,
            Duration::from_secs(10),
            2,
            Duration::from_secs(130),
        );
        assert_eq!(q.qqi(), Duration::from_secs(136));
    }

    #[test]
    fn encode_rounds_down_between_representable_values() {
        // 129..135 all map to 128 (0x80); 136 is 0x81.
        assert_eq!(encode_code(135), 0x80);
        assert_eq!(encode_code(136), 0x81);
        assert_eq!(encode_code(u32::MAX), 0xff);
    }
}
