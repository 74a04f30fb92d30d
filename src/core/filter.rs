//! Source filters as a host states them ([`HostFilter`]: INCLUDE or
//! EXCLUDE a set of sources), and their merge (RFC 3376 3.2). One merge
//! serves both places that need it: the router merging the host
//! memberships several protocols wish on one interface, and the proxy
//! merging its downstream interfaces into what it reports upstream
//! (RFC 4605 4.1).

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// A host-side group filter (what a host would ask its upstream router).
/// Its sources are of the group's family.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", content = "sources", rename_all = "kebab-case")]
pub enum HostFilter {
    /// Receive only from these sources (empty = not a member).
    Include(BTreeSet<IpAddr>),
    /// Receive from every source but these.
    Exclude(BTreeSet<IpAddr>),
}

impl HostFilter {
    /// Not a member: `Include` of nothing.
    pub fn none() -> HostFilter {
        HostFilter::Include(BTreeSet::new())
    }

    pub fn is_none(&self) -> bool {
        matches!(self, HostFilter::Include(s) if s.is_empty())
    }
}

/// Merges the filters several members of one group state into the one
/// the group needs (RFC 3376 3.2): if any is EXCLUDE, the result is EXCLUDE
/// of the sources every EXCLUDE filter excludes and no INCLUDE filter
/// includes; otherwise INCLUDE of every included source. `None`: nobody
/// wants anything.
pub fn merge<'a>(filters: impl IntoIterator<Item = &'a HostFilter>) -> Option<HostFilter> {
    let mut include: BTreeSet<IpAddr> = BTreeSet::new();
    let mut exclude: Option<BTreeSet<IpAddr>> = None;
    for f in filters {
        match f {
            HostFilter::Include(set) => include.extend(set),
            HostFilter::Exclude(set) => {
                exclude = Some(match exclude {
                    None => set.clone(),
                    Some(e) => e.intersection(set).copied().collect(),
                });
            }
        }
    }
    match exclude {
        Some(e) => Some(HostFilter::Exclude(
            e.difference(&include).copied().collect(),
        )),
        None if include.is_empty() => None,
        None => Some(HostFilter::Include(include)),
    }
}

// ===== tests =====

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn a(last: u8) -> IpAddr {
        Ipv4Addr::new(10, 0, 0, last).into()
    }

    fn set(l: &[u8]) -> BTreeSet<IpAddr> {
        l.iter().map(|&l| a(l)).collect()
    }

    fn inc(l: &[u8]) -> HostFilter {
        HostFilter::Include(set(l))
    }

    fn exc(l: &[u8]) -> HostFilter {
        HostFilter::Exclude(set(l))
    }

    #[test]
    fn include_and_include_is_the_union() {
        assert_eq!(merge(&[inc(&[1, 2]), inc(&[2, 3])]), Some(inc(&[1, 2, 3])));
    }

    #[test]
    fn exclude_and_include_removes_included_sources() {
        assert_eq!(merge(&[exc(&[1, 2, 3]), inc(&[2])]), Some(exc(&[1, 3])));
    }

    #[test]
    fn exclude_and_exclude_is_the_intersection() {
        assert_eq!(
            merge(&[exc(&[1, 2, 3]), exc(&[2, 3, 4]), inc(&[3])]),
            Some(exc(&[2]))
        );
        assert_eq!(merge(&[exc(&[1]), exc(&[])]), Some(exc(&[])));
    }

    #[test]
    fn nothing_wanted_is_none() {
        assert_eq!(merge(&[inc(&[])]), None);
        assert_eq!(merge(&[]), None);
        assert!(HostFilter::none().is_none());
        assert!(!exc(&[]).is_none());
    }

    #[test]
    fn serialized_as_mode_and_sources() {
        let j = serde_json::to_string(&inc(&[1])).unwrap();
        assert_eq!(j, r#"{"mode":"include","sources":["10.0.0.1"]}"#);
        assert_eq!(serde_json::from_str::<HostFilter>(&j).unwrap(), inc(&[1]));
    }
}
