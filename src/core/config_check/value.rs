//! Values as the checker reads and returns them: strings with their
//! position, loosely typed inputs (so that a refusal can say exactly what
//! is wrong), and group ranges and filters.

use std::fmt;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::core::types::GroupAddr;

/// A string with its position.
pub type SpStr = Spanned<String>;

// ===== loosely typed values =====

/// A duration as written: a string (to be parsed with `humantime`) or a
/// bare number (always rejected, with a hint to add a unit).
#[derive(Clone, Debug, PartialEq)]
pub enum DurationInput {
    Text(String),
    Number(String),
}

impl<'de> Deserialize<'de> for DurationInput {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = DurationInput;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string such as \"125s\", \"1m\" or \"500ms\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DurationInput, E> {
                Ok(DurationInput::Text(v.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<DurationInput, E> {
                Ok(DurationInput::Number(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<DurationInput, E> {
                Ok(DurationInput::Number(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<DurationInput, E> {
                Ok(DurationInput::Number(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A cap such as `max-groups`: a positive integer or `"unlimited"`.
#[derive(Clone, Debug, PartialEq)]
pub enum LimitInput {
    Count(i64),
    Text(String),
}

impl<'de> Deserialize<'de> for LimitInput {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = LimitInput;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a positive integer or \"unlimited\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LimitInput, E> {
                Ok(LimitInput::Text(v.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LimitInput, E> {
                Ok(LimitInput::Count(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LimitInput, E> {
                Ok(LimitInput::Count(i64::try_from(v).unwrap_or(i64::MAX)))
            }
        }
        d.deserialize_any(V)
    }
}

// ===== GroupRange =====

/// A multicast group or a prefix of groups, inside 224.0.0.0/4, with no
/// host bits set. A single group is a /32.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct GroupRange(Ipv4Net);

impl GroupRange {
    /// `None` if `net` is not inside 224.0.0.0/4 or has host bits set.
    pub fn new(net: Ipv4Net) -> Option<GroupRange> {
        let multicast = Ipv4Net::new(Ipv4Addr::new(224, 0, 0, 0), 4).expect("valid literal prefix");
        (multicast.contains(&net) && net.trunc() == net).then_some(GroupRange(net))
    }

    /// 224.0.0.0/24, the link-local groups (never forwarded).
    pub fn link_local() -> GroupRange {
        GroupRange(Ipv4Net::new(Ipv4Addr::new(224, 0, 0, 0), 24).expect("valid literal prefix"))
    }

    /// Exactly one group; `None` for an IPv6 group (ranges are IPv4).
    pub fn single(group: GroupAddr) -> Option<GroupRange> {
        group.v4().map(|a| GroupRange(Ipv4Net::from(a)))
    }

    pub fn net(self) -> Ipv4Net {
        self.0
    }

    /// The group, if this range is exactly one group.
    pub fn as_single(self) -> Option<GroupAddr> {
        if self.0.prefix_len() == 32 {
            GroupAddr::new(self.0.addr()).ok()
        } else {
            None
        }
    }

    /// Whether `group` lies in the range (never for an IPv6 group).
    pub fn contains(self, group: GroupAddr) -> bool {
        group.v4().is_some_and(|a| self.0.contains(&a))
    }
}

impl fmt::Display for GroupRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.prefix_len() == 32 {
            self.0.addr().fmt(f)
        } else {
            self.0.fmt(f)
        }
    }
}

// ===== GroupFilter =====

/// An allow/deny list of group ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GroupFilter {
    /// If non-empty, only groups inside these ranges pass.
    pub allow: Vec<GroupRange>,
    /// Groups inside these ranges never pass (checked after `allow`).
    pub deny: Vec<GroupRange>,
}

impl GroupFilter {
    pub fn permits(&self, group: GroupAddr) -> bool {
        (self.allow.is_empty() || self.allow.iter().any(|r| r.contains(group)))
            && !self.deny.iter().any(|r| r.contains(group))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_filter_checks_allow_then_deny() {
        let r = |s: &str| GroupRange::new(s.parse().unwrap()).unwrap();
        let g = |s: &str| s.parse::<GroupAddr>().unwrap();
        let open = GroupFilter::default();
        assert!(open.permits(g("239.1.1.1")));
        let f = GroupFilter {
            allow: vec![r("239.0.0.0/8")],
            deny: vec![r("239.255.0.0/16")],
        };
        assert!(f.permits(g("239.1.1.1")));
        assert!(!f.permits(g("239.255.1.1")));
        assert!(!f.permits(g("238.1.1.1")));
    }
}
