//! The interface table: what the kernel says about links and IPv4
//! addresses, as domain facts, and the changes each fact makes.
//!
//! Level-triggered (smcroute's rule, "being woken up is the only signal we
//! need"): a fact is an upsert, a snapshot replaces everything, and the
//! table reports only what really changed, so duplicated or replayed
//! netlink messages are harmless.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net};
use serde::{Deserialize, Serialize};

use crate::core::types::{IfIndex, ipv4_of};

// ===== facts =====

/// A link as the kernel describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkFact {
    pub ifindex: IfIndex,
    pub name: String,
    /// Administratively up (IFF_UP).
    pub up: bool,
    /// Carrier present (IFF_RUNNING / IFF_LOWER_UP).
    pub running: bool,
    pub multicast: bool,
    pub loopback: bool,
    pub mtu: Option<u32>,
}

impl LinkFact {
    /// An Ethernet-like link that is up with carrier (multicast-capable,
    /// MTU 1500), as tests and benchmarks describe one.
    pub fn up(ifindex: IfIndex, name: &str) -> LinkFact {
        LinkFact {
            ifindex,
            name: name.into(),
            up: true,
            running: true,
            multicast: true,
            loopback: false,
            mtu: Some(1500),
        }
    }
}

/// One address on a link, of either family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AddrFact {
    pub ifindex: IfIndex,
    pub addr: IpAddr,
    pub prefix_len: u8,
    /// The far end of a point-to-point address (`IFA_ADDRESS` when it
    /// differs from `IFA_LOCAL`: PPP, GRE, `ip addr add A peer B`); the
    /// prefix length then belongs to the peer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<IpAddr>,
}

impl AddrFact {
    /// An address with its prefix (no peer).
    pub fn new(ifindex: IfIndex, addr: impl Into<IpAddr>, prefix_len: u8) -> AddrFact {
        AddrFact {
            ifindex,
            addr: addr.into(),
            prefix_len,
            peer: None,
        }
    }

    /// `None` for a prefix too long for the family, or a peer of the
    /// other family.
    fn link_addr(&self) -> Option<LinkAddr> {
        let net = IpNet::new(self.addr, self.prefix_len).ok()?;
        let peer = self.peer.filter(|p| *p != self.addr);
        if peer.is_some_and(|p| p.is_ipv4() != self.addr.is_ipv4()) {
            return None;
        }
        Some(LinkAddr { net, peer })
    }
}

// ===== table =====

/// An address of a link: ours with its prefix, and on a point-to-point
/// link the peer's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct LinkAddr {
    pub net: IpNet,
    pub peer: Option<IpAddr>,
}

impl LinkAddr {
    pub fn addr(&self) -> IpAddr {
        self.net.addr()
    }

    /// The addresses this one makes directly reachable: our own subnet,
    /// and on a point-to-point link the peer's (its address with the
    /// prefix length, as the kernel's connected route has it).
    pub fn subnets(&self) -> impl Iterator<Item = IpNet> {
        let peer = self
            .peer
            .and_then(|p| IpNet::new(p, self.net.prefix_len()).ok())
            .map(|n| n.trunc());
        std::iter::once(self.net.trunc()).chain(peer)
    }
}

impl std::fmt::Display for LinkAddr {
    /// As `ip addr` shows it: `10.6.0.1 peer 10.6.0.2/32`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.peer {
            None => write!(f, "{}", self.net),
            Some(p) => write!(
                f,
                "{} peer {}/{}",
                self.net.addr(),
                p,
                self.net.prefix_len()
            ),
        }
    }
}

/// A link with its addresses, in the order they were added (the first is
/// the primary address, as the kernel treats it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Link {
    pub ifindex: IfIndex,
    pub name: String,
    pub up: bool,
    pub running: bool,
    pub multicast: bool,
    pub loopback: bool,
    /// The link's MTU, if the kernel told it.
    pub mtu: Option<u32>,
    pub addrs: Vec<LinkAddr>,
}

impl Link {
    /// Usable for multicast: administratively up and with carrier.
    pub fn oper_up(&self) -> bool {
        self.up && self.running
    }

    /// The primary IPv4 address (the first one added, as the kernel
    /// treats it), the source of our IGMP messages.
    pub fn primary_v4(&self) -> Option<Ipv4Addr> {
        self.addrs.iter().find_map(|n| ipv4_of(n.addr()))
    }

    /// The first IPv6 link-local address (fe80::/10), the source of MLD
    /// messages (RFC 9777 section 5).
    pub fn link_local_v6(&self) -> Option<Ipv6Addr> {
        self.addrs.iter().find_map(|n| match n.addr() {
            IpAddr::V6(a) if a.is_unicast_link_local() => Some(a),
            _ => None,
        })
    }

    /// The connected IPv4 subnets, a point-to-point peer's included (for
    /// the RFC 9776 9.2 source check).
    pub fn subnets_v4(&self) -> Vec<Ipv4Net> {
        let mut nets: Vec<Ipv4Net> = self
            .addrs
            .iter()
            .flat_map(|a| a.subnets())
            .filter_map(|n| match n {
                IpNet::V4(n) => Some(n),
                IpNet::V6(_) => None,
            })
            .collect();
        nets.dedup();
        nets
    }
}

/// A change to the table, as seen by its consumers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "kebab-case")]
pub enum IfaceChange {
    Added {
        ifindex: IfIndex,
        name: String,
    },
    Renamed {
        ifindex: IfIndex,
        old: String,
        new: String,
    },
    OperChanged {
        ifindex: IfIndex,
        up: bool,
    },
    AddrsChanged {
        ifindex: IfIndex,
    },
    MtuChanged {
        ifindex: IfIndex,
        mtu: Option<u32>,
    },
    Removed {
        ifindex: IfIndex,
        name: String,
    },
}

/// All links the kernel reported, by ifindex.
#[derive(Clone, Debug, Default)]
pub struct IfaceTable {
    links: BTreeMap<IfIndex, Link>,
}

impl IfaceTable {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self, ifindex: IfIndex) -> Option<&Link> {
        self.links.get(&ifindex)
    }

    pub fn by_name(&self, name: &str) -> Option<&Link> {
        self.links.values().find(|l| l.name == name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Link> {
        self.links.values()
    }

    /// Whether `addr` is one of our own addresses, on any link.
    pub fn is_local_addr(&self, addr: IpAddr) -> bool {
        self.links
            .values()
            .any(|l| l.addrs.iter().any(|n| n.addr() == addr))
    }

    /// A link appeared or changed.
    pub fn upsert_link(&mut self, fact: LinkFact) -> Vec<IfaceChange> {
        let mut changes = Vec::new();
        // A name now used by another ifindex means the old one is gone
        // (its delete notification may still be on its way).
        let stale: Vec<IfIndex> = self
            .links
            .values()
            .filter(|l| l.name == fact.name && l.ifindex != fact.ifindex)
            .map(|l| l.ifindex)
            .collect();
        for ifindex in stale {
            changes.extend(self.remove_link(ifindex));
        }
        match self.links.get_mut(&fact.ifindex) {
            None => {
                let link = Link {
                    ifindex: fact.ifindex,
                    name: fact.name.clone(),
                    up: fact.up,
                    running: fact.running,
                    multicast: fact.multicast,
                    loopback: fact.loopback,
                    mtu: fact.mtu,
                    addrs: Vec::new(),
                };
                self.links.insert(fact.ifindex, link);
                changes.push(IfaceChange::Added {
                    ifindex: fact.ifindex,
                    name: fact.name,
                });
            }
            Some(link) => {
                let was_up = link.oper_up();
                if link.name != fact.name {
                    let old = std::mem::replace(&mut link.name, fact.name.clone());
                    changes.push(IfaceChange::Renamed {
                        ifindex: fact.ifindex,
                        old,
                        new: fact.name,
                    });
                }
                link.up = fact.up;
                link.running = fact.running;
                link.multicast = fact.multicast;
                link.loopback = fact.loopback;
                if link.mtu != fact.mtu {
                    link.mtu = fact.mtu;
                    changes.push(IfaceChange::MtuChanged {
                        ifindex: fact.ifindex,
                        mtu: fact.mtu,
                    });
                }
                if link.oper_up() != was_up {
                    changes.push(IfaceChange::OperChanged {
                        ifindex: fact.ifindex,
                        up: link.oper_up(),
                    });
                }
            }
        }
        changes
    }

    /// A link was deleted.
    pub fn remove_link(&mut self, ifindex: IfIndex) -> Option<IfaceChange> {
        self.links.remove(&ifindex).map(|l| IfaceChange::Removed {
            ifindex,
            name: l.name,
        })
    }

    /// An address was added (idempotent).
    pub fn add_addr(&mut self, fact: AddrFact) -> Option<IfaceChange> {
        let link = self.links.get_mut(&fact.ifindex)?;
        let net = fact.link_addr()?;
        if link.addrs.contains(&net) {
            return None;
        }
        link.addrs.push(net);
        Some(IfaceChange::AddrsChanged {
            ifindex: fact.ifindex,
        })
    }

    /// An address was removed (idempotent).
    pub fn remove_addr(&mut self, fact: AddrFact) -> Option<IfaceChange> {
        let link = self.links.get_mut(&fact.ifindex)?;
        let before = link.addrs.len();
        link.addrs
            .retain(|n| !(n.addr() == fact.addr && n.net.prefix_len() == fact.prefix_len));
        (link.addrs.len() != before).then_some(IfaceChange::AddrsChanged {
            ifindex: fact.ifindex,
        })
    }

    /// Replace everything with a full dump and report the difference.
    /// Removals come first, so a name that moved to a new ifindex is seen
    /// leaving before it arrives again.
    pub fn snapshot(&mut self, links: Vec<LinkFact>, addrs: Vec<AddrFact>) -> Vec<IfaceChange> {
        let mut changes = Vec::new();
        let gone: Vec<IfIndex> = self
            .links
            .keys()
            .filter(|i| !links.iter().any(|l| l.ifindex == **i))
            .copied()
            .collect();
        for ifindex in gone {
            changes.extend(self.remove_link(ifindex));
        }
        for fact in links {
            changes.extend(self.upsert_link(fact));
        }
        for link in self.links.values_mut() {
            let new: Vec<LinkAddr> = addrs
                .iter()
                .filter(|a| a.ifindex == link.ifindex)
                .filter_map(|a| a.link_addr())
                .collect();
            // Keep the existing order for addresses that stay.
            let mut merged: Vec<LinkAddr> = link
                .addrs
                .iter()
                .filter(|n| new.contains(n))
                .copied()
                .collect();
            merged.extend(new.iter().filter(|n| !link.addrs.contains(n)));
            if merged != link.addrs {
                link.addrs = merged;
                changes.push(IfaceChange::AddrsChanged {
                    ifindex: link.ifindex,
                });
            }
        }
        changes
    }
}

// ===== tests =====

#[cfg(test)]
mod tests {
    use super::*;

    fn link(ifindex: u32, name: &str, up: bool) -> LinkFact {
        LinkFact {
            ifindex: IfIndex(ifindex),
            name: name.into(),
            up,
            running: up,
            multicast: true,
            loopback: false,
            mtu: Some(1500),
        }
    }

    fn addr(ifindex: u32, a: &str, len: u8) -> AddrFact {
        AddrFact::new(IfIndex(ifindex), a.parse::<IpAddr>().unwrap(), len)
    }

    #[test]
    fn duplicate_link_facts_change_nothing() {
        let mut t = IfaceTable::new();
        assert_eq!(t.upsert_link(link(2, "eth0", true)).len(), 1);
        assert!(t.upsert_link(link(2, "eth0", true)).is_empty());
        assert_eq!(
            t.upsert_link(link(2, "eth0", false)),
            vec![IfaceChange::OperChanged {
                ifindex: IfIndex(2),
                up: false
            }]
        );
    }

    #[test]
    fn mtu_changes_are_reported() {
        let mut t = IfaceTable::new();
        t.upsert_link(link(2, "ppp0", true));
        assert_eq!(t.get(IfIndex(2)).unwrap().mtu, Some(1500));
        let mut f = link(2, "ppp0", true);
        f.mtu = Some(1492);
        assert_eq!(
            t.upsert_link(f.clone()),
            vec![IfaceChange::MtuChanged {
                ifindex: IfIndex(2),
                mtu: Some(1492)
            }]
        );
        assert!(t.upsert_link(f).is_empty());
    }

    #[test]
    fn carrier_loss_is_oper_down() {
        let mut t = IfaceTable::new();
        t.upsert_link(link(2, "eth0", true));
        let mut f = link(2, "eth0", true);
        f.running = false;
        assert_eq!(
            t.upsert_link(f),
            vec![IfaceChange::OperChanged {
                ifindex: IfIndex(2),
                up: false
            }]
        );
    }

    #[test]
    fn rename_is_reported() {
        let mut t = IfaceTable::new();
        t.upsert_link(link(2, "eth0", true));
        assert_eq!(
            t.upsert_link(link(2, "wan", true)),
            vec![IfaceChange::Renamed {
                ifindex: IfIndex(2),
                old: "eth0".into(),
                new: "wan".into()
            }]
        );
        assert!(t.by_name("eth0").is_none());
        assert_eq!(t.by_name("wan").unwrap().ifindex, IfIndex(2));
    }

    #[test]
    fn name_on_new_ifindex_replaces_the_old_link() {
        let mut t = IfaceTable::new();
        t.upsert_link(link(2, "ppp0", true));
        let changes = t.upsert_link(link(7, "ppp0", true));
        assert_eq!(
            changes,
            vec![
                IfaceChange::Removed {
                    ifindex: IfIndex(2),
                    name: "ppp0".into()
                },
                IfaceChange::Added {
                    ifindex: IfIndex(7),
                    name: "ppp0".into()
                },
            ]
        );
    }

    #[test]
    fn addresses_keep_primary_first_and_are_idempotent() {
        let mut t = IfaceTable::new();
        t.upsert_link(link(2, "eth0", true));
        assert!(t.add_addr(addr(2, "10.0.0.1", 24)).is_some());
        assert!(t.add_addr(addr(2, "10.0.1.1", 24)).is_some());
        assert!(t.add_addr(addr(2, "10.0.0.1", 24)).is_none());
        let l = t.get(IfIndex(2)).unwrap();
        assert_eq!(l.primary_v4(), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(l.subnets_v4()[1], "10.0.1.0/24".parse::<Ipv4Net>().unwrap());
        assert!(t.is_local_addr("10.0.1.1".parse().unwrap()));
        assert!(t.remove_addr(addr(2, "10.0.0.1", 24)).is_some());
        assert!(t.remove_addr(addr(2, "10.0.0.1", 24)).is_none());
        assert_eq!(
            t.get(IfIndex(2)).unwrap().primary_v4(),
            Some("10.0.1.1".parse().unwrap())
        );
        // Addresses for unknown links are ignored.
        assert!(t.add_addr(addr(9, "10.9.0.1", 24)).is_none());
    }

    /// RFC 9776 9.2 asks for the source of a report to belong "to a subnet
    /// assigned to the interface"; on a point-to-point link (PPP, GRE,
    /// `ip addr add 10.6.0.1 peer 10.6.0.2`) the only other system is the
    /// peer, outside our own /32.
    #[test]
    fn point_to_point_peer_is_a_subnet_of_the_link() {
        let mut t = IfaceTable::new();
        t.upsert_link(link(5, "ppp0", true));
        let mut a = addr(5, "10.6.0.1", 32);
        a.peer = Some("10.6.0.2".parse().unwrap());
        assert!(t.add_addr(a).is_some());
        assert!(t.add_addr(a).is_none());
        let l = t.get(IfIndex(5)).unwrap();
        assert_eq!(l.primary_v4(), Some("10.6.0.1".parse().unwrap()));
        assert_eq!(
            l.subnets_v4(),
            vec![
                "10.6.0.1/32".parse::<Ipv4Net>().unwrap(),
                "10.6.0.2/32".parse().unwrap()
            ]
        );
        assert_eq!(l.addrs[0].to_string(), "10.6.0.1 peer 10.6.0.2/32");
        assert!(!t.is_local_addr("10.6.0.2".parse().unwrap()));
        // A peer given with a prefix (`peer 10.7.0.0/30`) is that subnet.
        let mut b = addr(5, "10.7.0.1", 30);
        b.peer = Some("10.7.0.0".parse().unwrap());
        t.add_addr(b);
        let l = t.get(IfIndex(5)).unwrap();
        assert!(l.subnets_v4().contains(&"10.7.0.0/30".parse().unwrap()));
        // A peer equal to the local address is no peer.
        let mut c = addr(5, "10.8.0.1", 24);
        c.peer = Some("10.8.0.1".parse().unwrap());
        t.add_addr(c);
        let l = t.get(IfIndex(5)).unwrap();
        assert_eq!(l.addrs[2].peer, None);
        assert!(t.remove_addr(a).is_some());
        assert_eq!(t.get(IfIndex(5)).unwrap().addrs.len(), 2);
    }

    #[test]
    fn snapshot_reports_only_the_difference() {
        let mut t = IfaceTable::new();
        t.upsert_link(link(2, "eth0", true));
        t.upsert_link(link(3, "eth1", true));
        t.add_addr(addr(2, "10.0.0.1", 24));
        let changes = t.snapshot(
            vec![link(2, "eth0", true), link(4, "eth2", true)],
            vec![addr(2, "10.0.0.1", 24), addr(4, "10.0.4.1", 24)],
        );
        assert_eq!(
            changes,
            vec![
                IfaceChange::Removed {
                    ifindex: IfIndex(3),
                    name: "eth1".into()
                },
                IfaceChange::Added {
                    ifindex: IfIndex(4),
                    name: "eth2".into()
                },
                IfaceChange::AddrsChanged {
                    ifindex: IfIndex(4)
                },
            ]
        );
        let again = t.snapshot(
            vec![link(2, "eth0", true), link(4, "eth2", true)],
            vec![addr(2, "10.0.0.1", 24), addr(4, "10.0.4.1", 24)],
        );
        assert!(again.is_empty());
    }
}
