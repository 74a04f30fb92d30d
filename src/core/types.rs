//! Newtypes shared by every module: interface and VIF indices, group
//! addresses, component identities and membership keys.
//!
//! Nothing crosses a module boundary as a bare `u32` or address when it
//! has a meaning of its own: an ifindex is an [`IfIndex`], a multicast group
//! is a [`GroupAddr`] (which cannot hold a unicast address). Groups,
//! sources, memberships and flows are of either [`Family`]: the tables
//! hold both, and only the codecs and the kernel sockets are per family.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

// ===== IfIndex =====

/// A kernel interface index (`ifindex`). Never zero for a real interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IfIndex(pub u32);

impl fmt::Display for IfIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

// ===== IfName / Iface =====

/// An interface name as the kernel allows it: 1 to 15 bytes (`IFNAMSIZ`
/// minus the terminating NUL). Stored inline, so naming an interface in an
/// event costs no allocation.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IfName {
    len: u8,
    bytes: [u8; IfName::MAX],
}

impl IfName {
    /// The longest name the kernel accepts, in bytes.
    pub const MAX: usize = 15;

    /// `None` if `name` is empty or longer than [`IfName::MAX`] bytes.
    pub fn new(name: &str) -> Option<IfName> {
        let b = name.as_bytes();
        if b.is_empty() || b.len() > Self::MAX {
            return None;
        }
        let mut bytes = [0; Self::MAX];
        bytes[..b.len()].copy_from_slice(b);
        Some(IfName {
            len: b.len() as u8,
            bytes,
        })
    }

    /// `name`, cut to [`IfName::MAX`] bytes at a character boundary (the
    /// kernel never reports a longer one).
    pub fn lossy(name: &str) -> IfName {
        let mut end = name.len().min(Self::MAX);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        IfName::new(&name[..end]).unwrap_or(IfName {
            len: 1,
            bytes: *b"?\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
        })
    }

    pub fn as_str(&self) -> &str {
        // Built from a `&str` cut at a character boundary.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("?")
    }
}

impl fmt::Display for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl Serialize for IfName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for IfName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        IfName::new(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "'{s}' is not an interface name (1 to {} bytes)",
                IfName::MAX
            ))
        })
    }
}

/// An interface as events and views name it: its index and its name at the
/// time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Iface {
    pub ifindex: IfIndex,
    pub name: IfName,
}

impl fmt::Display for Iface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.name.fmt(f)
    }
}

// ===== VifIndex =====

/// A multicast routing VIF number (`vifi`), `0..MAXVIFS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VifIndex(pub u16);

/// The kernel's per-table VIF limit (`MAXVIFS` in `linux/mroute.h`).
pub const MAXVIFS: usize = 32;

impl fmt::Display for VifIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A set of VIFs, one bit per index (`MAXVIFS` = 32 fits one word): what
/// an MFC entry sends to, with no allocation.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct VifSet(u32);

impl VifSet {
    pub const EMPTY: VifSet = VifSet(0);

    /// Adds `vif`; false if it was there. A VIF index is below
    /// [`MAXVIFS`] by construction (the kernel has no others).
    pub fn insert(&mut self, vif: VifIndex) -> bool {
        assert!(usize::from(vif.0) < MAXVIFS, "VIF index {vif} out of range");
        let bit = 1 << vif.0;
        let new = self.0 & bit == 0;
        self.0 |= bit;
        new
    }

    pub fn contains(&self, vif: VifIndex) -> bool {
        usize::from(vif.0) < MAXVIFS && self.0 & (1 << vif.0) != 0
    }

    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    pub fn len(&self) -> usize {
        self.0.count_ones() as usize
    }

    /// Members in index order.
    pub fn iter(&self) -> VifSetIter {
        VifSetIter(self.0)
    }
}

/// The members of a [`VifSet`], lowest index first.
#[derive(Clone, Debug)]
pub struct VifSetIter(u32);

impl Iterator for VifSetIter {
    type Item = VifIndex;

    fn next(&mut self) -> Option<VifIndex> {
        if self.0 == 0 {
            return None;
        }
        let i = self.0.trailing_zeros();
        self.0 &= self.0 - 1;
        // Below 32, so it fits.
        Some(VifIndex(i as u16))
    }
}

impl IntoIterator for VifSet {
    type Item = VifIndex;
    type IntoIter = VifSetIter;

    fn into_iter(self) -> VifSetIter {
        self.iter()
    }
}

impl IntoIterator for &VifSet {
    type Item = VifIndex;
    type IntoIter = VifSetIter;

    fn into_iter(self) -> VifSetIter {
        self.iter()
    }
}

impl FromIterator<VifIndex> for VifSet {
    fn from_iter<I: IntoIterator<Item = VifIndex>>(iter: I) -> Self {
        let mut set = VifSet::EMPTY;
        for v in iter {
            set.insert(v);
        }
        set
    }
}

impl<const N: usize> From<[VifIndex; N]> for VifSet {
    fn from(vifs: [VifIndex; N]) -> Self {
        vifs.into_iter().collect()
    }
}

impl Serialize for VifSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for VifSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let vifs = Vec::<VifIndex>::deserialize(d)?;
        let mut set = VifSet::EMPTY;
        for v in vifs {
            if usize::from(v.0) >= MAXVIFS {
                return Err(serde::de::Error::custom(format!(
                    "VIF index {v} out of range (the kernel has {MAXVIFS})"
                )));
            }
            set.insert(v);
        }
        Ok(set)
    }
}

impl fmt::Debug for VifSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter().map(|v| v.0)).finish()
    }
}

// ===== Family =====

/// An address family: what a group, a source, an interface address or a
/// flow belongs to. The kernel keeps one multicast routing table per family
/// (IPv4's `MRT_*`, IPv6's `MRT6_*`), with its own interface numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    /// The family of `addr`.
    pub fn of(addr: IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        }
    }

    /// The family's multicast range, as error messages name it.
    pub fn multicast_range(self) -> &'static str {
        match self {
            Family::Ipv4 => "224.0.0.0/4",
            Family::Ipv6 => "ff00::/8",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Ipv4 => "ipv4",
            Family::Ipv6 => "ipv6",
        })
    }
}

/// `a` if it is an IPv4 address: where only IPv4 is meant (IPv4 prefixes,
/// the IPv4 sockets), an IPv6 one matches nothing.
pub fn ipv4_of(a: IpAddr) -> Option<Ipv4Addr> {
    match a {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(_) => None,
    }
}

// ===== GroupAddr =====

/// A multicast group address of either family: IPv4 224.0.0.0/4 or IPv6
/// ff00::/8. Construction checks it. IPv4 groups order before IPv6 ones;
/// within a family, addresses order as integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "IpAddr", into = "IpAddr")]
pub struct GroupAddr(IpAddr);

// One integer write per group: cheap with the core's integer hasher (the
// tables keyed by group are searched on every packet-driven event).
impl std::hash::Hash for GroupAddr {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match self.0 {
            IpAddr::V4(a) => state.write_u32(a.to_bits()),
            IpAddr::V6(a) => state.write_u128(a.to_bits()),
        }
    }
}

// Address order, compared as integers; IPv4 first.
impl Ord for GroupAddr {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        match (self.0, other.0) {
            (IpAddr::V4(a), IpAddr::V4(b)) => a.to_bits().cmp(&b.to_bits()),
            (IpAddr::V6(a), IpAddr::V6(b)) => a.to_bits().cmp(&b.to_bits()),
            (IpAddr::V4(_), IpAddr::V6(_)) => std::cmp::Ordering::Less,
            (IpAddr::V6(_), IpAddr::V4(_)) => std::cmp::Ordering::Greater,
        }
    }
}

impl PartialOrd for GroupAddr {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The error for an address outside its family's multicast range.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0} is not a multicast address (expected {range})", range = Family::of(*.0).multicast_range())]
pub struct NotMulticast(pub IpAddr);

impl GroupAddr {
    /// 224.0.0.1, all systems on this subnet.
    pub const ALL_SYSTEMS: GroupAddr = GroupAddr(IpAddr::V4(Ipv4Addr::new(224, 0, 0, 1)));
    /// 224.0.0.2, all routers on this subnet (IGMPv2 leaves).
    pub const ALL_ROUTERS: GroupAddr = GroupAddr(IpAddr::V4(Ipv4Addr::new(224, 0, 0, 2)));
    /// 224.0.0.22, IGMPv3-capable routers (IGMPv3 reports).
    pub const ALL_V3_ROUTERS: GroupAddr = GroupAddr(IpAddr::V4(Ipv4Addr::new(224, 0, 0, 22)));
    /// ff02::1, all nodes on the link (MLD general queries).
    pub const ALL_NODES: GroupAddr =
        GroupAddr(IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1)));
    /// ff02::16, MLDv2-capable routers (MLDv2 reports).
    pub const ALL_MLDV2_ROUTERS: GroupAddr =
        GroupAddr(IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x16)));

    pub fn new(addr: impl Into<IpAddr>) -> Result<Self, NotMulticast> {
        let addr = addr.into();
        if addr.is_multicast() {
            Ok(GroupAddr(addr))
        } else {
            Err(NotMulticast(addr))
        }
    }

    pub fn addr(self) -> IpAddr {
        self.0
    }

    pub fn family(self) -> Family {
        Family::of(self.0)
    }

    /// The address if the group is an IPv4 one.
    pub fn v4(self) -> Option<Ipv4Addr> {
        ipv4_of(self.0)
    }

    /// The address if the group is an IPv6 one.
    pub fn v6(self) -> Option<Ipv6Addr> {
        match self.0 {
            IpAddr::V4(_) => None,
            IpAddr::V6(a) => Some(a),
        }
    }

    /// Groups that never create routing state: 224.0.0.0/24 (RFC 5771),
    /// IPv6 interface-local and link-local scopes (ff01::/16, ff02::/16 and
    /// the reserved scopes 0 and 1, RFC 7346).
    pub fn is_link_local(self) -> bool {
        match self.0 {
            IpAddr::V4(a) => {
                let o = a.octets();
                o[0] == 224 && o[1] == 0 && o[2] == 0
            }
            IpAddr::V6(a) => a.octets()[1] & 0x0f <= 2,
        }
    }

    /// The default source-specific multicast ranges (RFC 4607 section 1):
    /// 232.0.0.0/8 and ff3x::/32.
    pub fn is_default_ssm(self) -> bool {
        match self.0 {
            IpAddr::V4(a) => a.octets()[0] == 232,
            IpAddr::V6(a) => {
                let s = a.segments();
                s[0] & 0xfff0 == 0xff30 && s[1] == 0
            }
        }
    }
}

impl TryFrom<IpAddr> for GroupAddr {
    type Error = NotMulticast;
    fn try_from(addr: IpAddr) -> Result<Self, NotMulticast> {
        GroupAddr::new(addr)
    }
}

impl TryFrom<Ipv4Addr> for GroupAddr {
    type Error = NotMulticast;
    fn try_from(addr: Ipv4Addr) -> Result<Self, NotMulticast> {
        GroupAddr::new(addr)
    }
}

impl From<GroupAddr> for IpAddr {
    fn from(g: GroupAddr) -> IpAddr {
        g.0
    }
}

impl FromStr for GroupAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let addr: IpAddr = s
            .parse()
            .map_err(|_| format!("'{s}' is not an IP address"))?;
        GroupAddr::new(addr).map_err(|e| e.to_string())
    }
}

impl fmt::Display for GroupAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

// ===== ProtoId / ComponentId =====

/// The handle of a registered routing protocol instance (not IGMP).
/// Handles are never reused within one manager's lifetime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProtoId(pub u32);

impl fmt::Display for ProtoId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "proto#{}", self.0)
    }
}

/// A client of the manager: IGMP, or one registered routing protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ComponentId {
    Igmp,
    Protocol(ProtoId),
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ComponentId::Igmp => f.write_str("igmp"),
            ComponentId::Protocol(p) => p.fmt(f),
        }
    }
}

// ===== Membership keys =====

/// Which sources of a group a membership entry is about. Ordered by kind
/// (any, only, except), then address (IPv4 first, as integers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceSel {
    /// (*,G): every source.
    Any,
    /// (S,G): this source only (IGMPv3 INCLUDE / SSM).
    Only(IpAddr),
    /// (S,G) blocked: not this source, although (*,G) is wanted on the same
    /// interface (IGMPv3 EXCLUDE mode). Raises no join/prune alerts; it only
    /// filters forwarding.
    Except(IpAddr),
}

impl SourceSel {
    /// Kind, family and address as integers: what order and hash use
    /// (a few integer operations, where the derived ones compare and
    /// hash the addresses byte by byte).
    fn ordinal(&self) -> (u8, u8, u128) {
        let addr = |a: &IpAddr| match a {
            IpAddr::V4(a) => (0, u128::from(a.to_bits())),
            IpAddr::V6(a) => (1, a.to_bits()),
        };
        match self {
            SourceSel::Any => (0, 0, 0),
            SourceSel::Only(a) => {
                let (f, b) = addr(a);
                (1, f, b)
            }
            SourceSel::Except(a) => {
                let (f, b) = addr(a);
                (2, f, b)
            }
        }
    }
}

impl Ord for SourceSel {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.ordinal().cmp(&other.ordinal())
    }
}

impl PartialOrd for SourceSel {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::hash::Hash for SourceSel {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let (kind, family, bits) = self.ordinal();
        state.write_u8(kind | family << 2);
        if family == 0 {
            state.write_u32(bits as u32);
        } else {
            state.write_u128(bits);
        }
    }
}

/// A group membership: (*,G), (S,G) or an EXCLUDE-mode (S,G) block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MembershipKey {
    pub group: GroupAddr,
    pub source: SourceSel,
}

impl MembershipKey {
    pub fn any(group: GroupAddr) -> Self {
        MembershipKey {
            group,
            source: SourceSel::Any,
        }
    }

    /// (S,G). `source` is of the group's family.
    pub fn only(source: impl Into<IpAddr>, group: GroupAddr) -> Self {
        let source = source.into();
        debug_assert_eq!(Family::of(source), group.family(), "({source},{group})");
        MembershipKey {
            group,
            source: SourceSel::Only(source),
        }
    }

    /// An EXCLUDE-mode block of `source` (of the group's family).
    pub fn except(source: impl Into<IpAddr>, group: GroupAddr) -> Self {
        let source = source.into();
        debug_assert_eq!(Family::of(source), group.family(), "(!{source},{group})");
        MembershipKey {
            group,
            source: SourceSel::Except(source),
        }
    }

    pub fn family(&self) -> Family {
        self.group.family()
    }
}

impl fmt::Display for MembershipKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.source {
            SourceSel::Any => write!(f, "(*,{})", self.group),
            SourceSel::Only(s) => write!(f, "({},{})", s, self.group),
            SourceSel::Except(s) => write!(f, "(!{},{})", s, self.group),
        }
    }
}

/// A forwarding flow: one source sending to one group, both of one family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowKey {
    /// Ordered by group first, then source (`mgmctl show routes` order).
    pub group: GroupAddr,
    pub source: IpAddr,
}

impl FlowKey {
    pub fn new(source: impl Into<IpAddr>, group: GroupAddr) -> FlowKey {
        let source = source.into();
        debug_assert_eq!(Family::of(source), group.family(), "({source},{group})");
        FlowKey { group, source }
    }

    pub fn family(&self) -> Family {
        self.group.family()
    }

    /// The lowest and the highest flow of `group` (every source of its
    /// family lies between them).
    pub fn group_range(group: GroupAddr) -> (FlowKey, FlowKey) {
        let (lo, hi): (IpAddr, IpAddr) = match group.family() {
            Family::Ipv4 => (Ipv4Addr::UNSPECIFIED.into(), Ipv4Addr::BROADCAST.into()),
            Family::Ipv6 => (
                Ipv6Addr::UNSPECIFIED.into(),
                Ipv6Addr::from_bits(u128::MAX).into(),
            ),
        };
        (FlowKey { group, source: lo }, FlowKey { group, source: hi })
    }

    /// An IPv4 flow's group and source as one integer, in the key's order.
    fn ordinal_v4(&self) -> Option<u64> {
        match (self.group.addr(), self.source) {
            (IpAddr::V4(g), IpAddr::V4(s)) => {
                Some((u64::from(g.to_bits()) << 32) | u64::from(s.to_bits()))
            }
            _ => None,
        }
    }
}

// An IPv4 flow is one integer write: cheap with the core's integer hasher.
impl std::hash::Hash for FlowKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match self.ordinal_v4() {
            Some(o) => state.write_u64(o),
            None => {
                self.group.hash(state);
                self.source.hash(state);
            }
        }
    }
}

impl Ord for FlowKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        match (self.ordinal_v4(), other.ordinal_v4()) {
            (Some(a), Some(b)) => a.cmp(&b),
            _ => (self.group, self.source).cmp(&(other.group, other.source)),
        }
    }
}

impl PartialOrd for FlowKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for FlowKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({},{})", self.source, self.group)
    }
}

// ===== duration_text =====

/// Serde for durations as a configuration writes them ("125s", "1m 30s",
/// "500ms"), for views of the configuration.
pub mod duration_text {
    use std::time::Duration;

    use serde::Serializer;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_duration(*d))
    }
}

// ===== hex_bytes =====

/// Serde for byte strings as lower-case hex (packets in recordings).
pub mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        let mut out = String::with_capacity(bytes.len() * 2);
        for b in bytes {
            out.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
            out.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
        }
        s.serialize_str(&out)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let digit = |c: u8| {
            (c as char).to_digit(16).ok_or_else(|| {
                serde::de::Error::custom(format!("'{}' is not a hex digit", c as char))
            })
        };
        let b = s.as_bytes();
        if b.len() % 2 != 0 {
            return Err(serde::de::Error::custom("odd number of hex digits"));
        }
        b.chunks(2)
            .map(|p| Ok((digit(p[0])? << 4 | digit(p[1])?) as u8))
            .collect()
    }
}

// ===== tests =====

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_addr_rejects_unicast() {
        assert!(GroupAddr::new(Ipv4Addr::new(10, 0, 0, 1)).is_err());
        assert!(GroupAddr::new(Ipv4Addr::new(239, 1, 1, 1)).is_ok());
        assert!("224.0.0.5".parse::<GroupAddr>().unwrap().is_link_local());
        assert!(!"224.0.1.5".parse::<GroupAddr>().unwrap().is_link_local());
        assert!("232.1.1.1".parse::<GroupAddr>().unwrap().is_default_ssm());
        assert!("10.1.1.1".parse::<GroupAddr>().is_err());
    }

    #[test]
    fn ipv6_groups_are_checked_scoped_and_ordered_after_ipv4() {
        let g = |s: &str| s.parse::<GroupAddr>();
        assert_eq!(g("ff3e::1").unwrap().family(), Family::Ipv6);
        assert!(g("2001:db8::1").is_err());
        assert_eq!(
            g("2001:db8::1").unwrap_err(),
            "2001:db8::1 is not a multicast address (expected ff00::/8)"
        );
        assert_eq!(
            g("10.0.0.1").unwrap_err(),
            "10.0.0.1 is not a multicast address (expected 224.0.0.0/4)"
        );
        // Interface-local and link-local scopes never create routing state.
        assert!(g("ff01::1").unwrap().is_link_local());
        assert!(g("ff02::1:ff00:1").unwrap().is_link_local());
        assert!(!g("ff05::1:3").unwrap().is_link_local());
        assert!(!g("ff0e::1").unwrap().is_link_local());
        // SSM: ff3x::/32 only.
        assert!(g("ff3e::8000:1").unwrap().is_default_ssm());
        assert!(!g("ff3e:40:2001:db8::1").unwrap().is_default_ssm());
        assert!(!g("ff1e::1").unwrap().is_default_ssm());
        assert!(g("239.1.1.1").unwrap() < g("ff02::1").unwrap());
        assert_eq!(GroupAddr::ALL_NODES, g("ff02::1").unwrap());
        assert_eq!(GroupAddr::ALL_MLDV2_ROUTERS, g("ff02::16").unwrap());
        assert_eq!(g("ff3e::1").unwrap().v4(), None);
        assert_eq!(GroupAddr::ALL_SYSTEMS.v6(), None);
        // Serialized as the address text, as IPv4 groups are.
        let j = serde_json::to_string(&g("ff3e::1").unwrap()).unwrap();
        assert_eq!(j, "\"ff3e::1\"");
        assert_eq!(
            serde_json::from_str::<GroupAddr>(&j).unwrap(),
            g("ff3e::1").unwrap()
        );
        assert!(serde_json::from_str::<GroupAddr>("\"fe80::1\"").is_err());
    }

    #[test]
    fn flow_keys_of_both_families_order_and_range_by_group() {
        let g4: GroupAddr = "239.1.1.1".parse().unwrap();
        let g6: GroupAddr = "ff3e::1".parse().unwrap();
        let f4 = FlowKey::new(Ipv4Addr::new(10, 0, 0, 1), g4);
        let f6a = FlowKey::new("2001:db8::1".parse::<Ipv6Addr>().unwrap(), g6);
        let f6b = FlowKey::new("2001:db8::2".parse::<Ipv6Addr>().unwrap(), g6);
        assert!(f4 < f6a && f6a < f6b);
        let (lo, hi) = FlowKey::group_range(g6);
        assert!(lo <= f6a && f6b <= hi);
        assert!(f4 < lo);
        let (lo4, hi4) = FlowKey::group_range(g4);
        assert!(lo4 <= f4 && f4 <= hi4 && hi4 < lo);
        let set: std::collections::HashSet<FlowKey> = [f4, f6a, f6b, f6a].into();
        assert_eq!(set.len(), 3);
        assert_eq!(f6a.family(), Family::Ipv6);
        assert_eq!(f6a.to_string(), "(2001:db8::1,ff3e::1)");
    }

    #[test]
    fn flow_key_orders_by_group_then_source() {
        let g1: GroupAddr = "239.1.1.1".parse().unwrap();
        let g2: GroupAddr = "239.2.2.2".parse().unwrap();
        let a = FlowKey {
            group: g1,
            source: Ipv4Addr::new(10, 0, 0, 9).into(),
        };
        let b = FlowKey {
            group: g2,
            source: Ipv4Addr::new(10, 0, 0, 5).into(),
        };
        assert!(a < b);
    }

    proptest::proptest! {
        #[test]
        fn orders_agree_with_address_order(g1 in 0xe000_0000u32..=0xefff_ffff, g2 in 0xe000_0000u32..=0xefff_ffff, s1: u32, s2: u32) {
            let key = |g: u32, s: u32| FlowKey {
                group: GroupAddr::new(Ipv4Addr::from(g)).unwrap(),
                source: Ipv4Addr::from(s).into(),
            };
            let (a, b) = (key(g1, s1), key(g2, s2));
            let by_addr = (a.group.addr(), a.source).cmp(&(b.group.addr(), b.source));
            proptest::prop_assert_eq!(a.cmp(&b), by_addr);
            proptest::prop_assert_eq!(a.group.cmp(&b.group), a.group.addr().cmp(&b.group.addr()));
        }

        #[test]
        fn source_order_is_kind_then_address_order(k1 in 0u8..3, k2 in 0u8..3, v6a: bool, v6b: bool, x: u128, y: u128) {
            let addr = |v6: bool, n: u128| -> IpAddr {
                if v6 { Ipv6Addr::from_bits(n).into() } else { Ipv4Addr::from_bits(n as u32).into() }
            };
            let sel = |k: u8, a: IpAddr| match k {
                0 => SourceSel::Any,
                1 => SourceSel::Only(a),
                _ => SourceSel::Except(a),
            };
            let (a, b) = (addr(v6a, x), addr(v6b, y));
            let (sa, sb) = (sel(k1, a), sel(k2, b));
            let want = match (k1, k2) {
                (0, 0) => std::cmp::Ordering::Equal,
                _ if k1 != k2 => k1.cmp(&k2),
                _ => a.cmp(&b),
            };
            proptest::prop_assert_eq!(sa.cmp(&sb), want);
            proptest::prop_assert_eq!(sa == sb, want == std::cmp::Ordering::Equal);
            if sa == sb {
                use std::hash::BuildHasher;
                let rs = std::collections::hash_map::RandomState::new();
                proptest::prop_assert_eq!(rs.hash_one(sa), rs.hash_one(sb));
            }
        }
    }

    #[test]
    fn bytes_go_through_hex() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct P(#[serde(with = "hex_bytes")] Vec<u8>);
        let j = serde_json::to_string(&P(vec![0x11, 0x64, 0xee, 0x9b])).unwrap();
        assert_eq!(j, "\"1164ee9b\"");
        assert_eq!(
            serde_json::from_str::<P>(&j).unwrap(),
            P(vec![0x11, 0x64, 0xee, 0x9b])
        );
        assert!(serde_json::from_str::<P>("\"123\"").is_err());
        assert!(serde_json::from_str::<P>("\"zz\"").is_err());
    }

    #[test]
    fn interface_names_fit_the_kernel_limit() {
        assert_eq!(IfName::new("lan1").unwrap().as_str(), "lan1");
        assert!(IfName::new("").is_none());
        assert!(IfName::new("sixteen-bytes-xx").is_none());
        assert_eq!(
            IfName::new("fifteen-bytes-x").unwrap().as_str(),
            "fifteen-bytes-x"
        );
        assert_eq!(
            IfName::lossy("sixteen-bytes-xx").as_str(),
            "sixteen-bytes-x"
        );
        // Cut at a character boundary, never inside one.
        assert_eq!(IfName::lossy("abcdefghijklmné").as_str(), "abcdefghijklmn");
        assert_eq!(IfName::lossy("").as_str(), "?");
        let j = serde_json::to_string(&IfName::new("eth0").unwrap()).unwrap();
        assert_eq!(j, "\"eth0\"");
        assert_eq!(serde_json::from_str::<IfName>(&j).unwrap().as_str(), "eth0");
        assert!(serde_json::from_str::<IfName>("\"much-too-long-a-name\"").is_err());
    }

    #[test]
    fn vif_set_holds_every_index_once_in_order() {
        let mut s = VifSet::EMPTY;
        assert!(s.is_empty());
        assert!(s.insert(VifIndex(31)));
        assert!(s.insert(VifIndex(0)));
        assert!(s.insert(VifIndex(7)));
        assert!(!s.insert(VifIndex(7)));
        assert_eq!(s.len(), 3);
        assert!(s.contains(VifIndex(31)) && !s.contains(VifIndex(8)));
        assert!(!s.contains(VifIndex(40)));
        let v: Vec<u16> = s.iter().map(|v| v.0).collect();
        assert_eq!(v, [0, 7, 31]);
        assert_eq!(s.iter().collect::<VifSet>(), s);
        assert_eq!(format!("{s:?}"), "{0, 7, 31}");
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn vif_set_refuses_an_index_the_kernel_cannot_have() {
        let mut s = VifSet::EMPTY;
        s.insert(VifIndex(32));
    }
}
