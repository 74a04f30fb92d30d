//! Newtypes shared by every module: interface and VIF indices, group
//! addresses, component identities and membership keys.
//!
//! Nothing crosses a module boundary as a bare `u32` or `Ipv4Addr` when it
//! has a meaning of its own: an ifindex is an [`IfIndex`], a multicast group
//! is a [`GroupAddr`] (which cannot hold a unicast address).

use std::fmt;
use std::net::Ipv4Addr;
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

// ===== GroupAddr =====

/// An IPv4 multicast group address (224.0.0.0/4). Construction checks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "Ipv4Addr", into = "Ipv4Addr")]
pub struct GroupAddr(Ipv4Addr);

// Address order, compared as one integer (the tables keyed by group and
// flow are searched on every packet-driven event).
impl Ord for GroupAddr {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.to_bits().cmp(&other.0.to_bits())
    }
}

impl PartialOrd for GroupAddr {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The error for an address that is not in 224.0.0.0/4.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0} is not a multicast address (expected 224.0.0.0/4)")]
pub struct NotMulticast(pub Ipv4Addr);

impl GroupAddr {
    /// 224.0.0.1, all systems on this subnet.
    pub const ALL_SYSTEMS: GroupAddr = GroupAddr(Ipv4Addr::new(224, 0, 0, 1));
    /// 224.0.0.2, all routers on this subnet (IGMPv2 leaves).
    pub const ALL_ROUTERS: GroupAddr = GroupAddr(Ipv4Addr::new(224, 0, 0, 2));
    /// 224.0.0.22, IGMPv3-capable routers (IGMPv3 reports).
    pub const ALL_V3_ROUTERS: GroupAddr = GroupAddr(Ipv4Addr::new(224, 0, 0, 22));

    pub fn new(addr: Ipv4Addr) -> Result<Self, NotMulticast> {
        if addr.is_multicast() {
            Ok(GroupAddr(addr))
        } else {
            Err(NotMulticast(addr))
        }
    }

    pub fn addr(self) -> Ipv4Addr {
        self.0
    }

    /// 224.0.0.0/24: link-local groups never create routing state.
    pub fn is_link_local(self) -> bool {
        let o = self.0.octets();
        o[0] == 224 && o[1] == 0 && o[2] == 0
    }

    /// 232.0.0.0/8, the default source-specific multicast range (RFC 4607).
    pub fn is_default_ssm(self) -> bool {
        self.0.octets()[0] == 232
    }
}

impl TryFrom<Ipv4Addr> for GroupAddr {
    type Error = NotMulticast;
    fn try_from(addr: Ipv4Addr) -> Result<Self, NotMulticast> {
        GroupAddr::new(addr)
    }
}

impl From<GroupAddr> for Ipv4Addr {
    fn from(g: GroupAddr) -> Ipv4Addr {
        g.0
    }
}

impl FromStr for GroupAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let addr: Ipv4Addr = s
            .parse()
            .map_err(|_| format!("'{s}' is not an IPv4 address"))?;
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

/// Which sources of a group a membership entry is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceSel {
    /// (*,G): every source.
    Any,
    /// (S,G): this source only (IGMPv3 INCLUDE / SSM).
    Only(Ipv4Addr),
    /// (S,G) blocked: not this source, although (*,G) is wanted on the same
    /// interface (IGMPv3 EXCLUDE mode). Raises no join/prune alerts; it only
    /// filters forwarding.
    Except(Ipv4Addr),
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

    pub fn only(source: Ipv4Addr, group: GroupAddr) -> Self {
        MembershipKey {
            group,
            source: SourceSel::Only(source),
        }
    }

    pub fn except(source: Ipv4Addr, group: GroupAddr) -> Self {
        MembershipKey {
            group,
            source: SourceSel::Except(source),
        }
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

/// A forwarding flow: one source sending to one group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowKey {
    /// Ordered by group first, then source (`mgmctl show routes` order).
    pub group: GroupAddr,
    pub source: Ipv4Addr,
}

impl FlowKey {
    /// Group and source as one integer, in the key's order.
    fn ordinal(&self) -> u64 {
        (u64::from(self.group.addr().to_bits()) << 32) | u64::from(self.source.to_bits())
    }
}

// One integer write: cheap with the core's integer hasher.
impl std::hash::Hash for FlowKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.ordinal());
    }
}

impl Ord for FlowKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.ordinal().cmp(&other.ordinal())
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
    fn flow_key_orders_by_group_then_source() {
        let g1: GroupAddr = "239.1.1.1".parse().unwrap();
        let g2: GroupAddr = "239.2.2.2".parse().unwrap();
        let a = FlowKey {
            group: g1,
            source: Ipv4Addr::new(10, 0, 0, 9),
        };
        let b = FlowKey {
            group: g2,
            source: Ipv4Addr::new(10, 0, 0, 5),
        };
        assert!(a < b);
    }

    proptest::proptest! {
        #[test]
        fn orders_agree_with_address_order(g1 in 0xe000_0000u32..=0xefff_ffff, g2 in 0xe000_0000u32..=0xefff_ffff, s1: u32, s2: u32) {
            let key = |g: u32, s: u32| FlowKey {
                group: GroupAddr::new(Ipv4Addr::from(g)).unwrap(),
                source: Ipv4Addr::from(s),
            };
            let (a, b) = (key(g1, s1), key(g2, s2));
            let by_addr = (a.group.addr(), a.source).cmp(&(b.group.addr(), b.source));
            proptest::prop_assert_eq!(a.cmp(&b), by_addr);
            proptest::prop_assert_eq!(a.group.cmp(&b.group), a.group.addr().cmp(&b.group.addr()));
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
