//! Host-side group memberships of this box (the proxy's upstream
//! membership, static joins). The kernel's own host IGMP does the rest:
//! it reports to the upstream router, answers its queries in the version
//! that router speaks, and sends leaves.
//!
//! One UDP socket per (interface, group) holds the membership; its source
//! filter is replaced atomically with `MCAST_MSFILTER`, so changing
//! between INCLUDE and EXCLUDE never passes through "not a member" and
//! sends no leave upstream. One socket per group avoids the kernel's
//! per-socket membership limit (`net.ipv4.igmp_max_memberships`).

use std::collections::BTreeMap;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::AsFd;

use socket2::{Domain, InterfaceIndexOrAddress, Protocol, Socket, Type};

use crate::core::filter::HostFilter;
use crate::core::types::{GroupAddr, IfIndex, ipv4_of};
use crate::io::sys;

struct Membership {
    socket: Socket,
    /// `None` after the kernel refused a filter: the next `set` retries.
    filter: Option<HostFilter>,
}

/// The set of host memberships this process holds.
#[derive(Default)]
pub struct HostMemberships {
    joined: BTreeMap<(IfIndex, GroupAddr), Membership>,
}

impl HostMemberships {
    pub fn new() -> Self {
        Self::default()
    }

    /// Set the membership of `group` on `ifindex` to `filter`
    /// (`Include` of nothing = leave).
    pub fn set(
        &mut self,
        ifindex: IfIndex,
        addr: Option<Ipv4Addr>,
        group: GroupAddr,
        filter: &HostFilter,
    ) -> io::Result<()> {
        let key = (ifindex, group);
        let group_v4 = crate::io::mrt::v4_group(group)?;
        if matches!(filter, HostFilter::Include(s) if s.is_empty()) {
            // Closing the socket leaves the group.
            self.joined.remove(&key);
            return Ok(());
        }
        if let Some(m) = self.joined.get(&key) {
            if m.filter.as_ref() == Some(filter) {
                return Ok(());
            }
        }
        let socket = match self.joined.remove(&key) {
            Some(m) => m.socket,
            None => {
                let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
                // Never read: keep the queue tiny so joined traffic costs little.
                s.set_recv_buffer_size(1)?;
                match (filter, addr) {
                    // Start source-specific, so that upstream never sees an
                    // any-source join for an INCLUDE membership.
                    (HostFilter::Include(set), Some(local)) => {
                        let first = set
                            .iter()
                            .find_map(|a| ipv4_of(*a))
                            .unwrap_or(Ipv4Addr::UNSPECIFIED);
                        s.join_ssm_v4(&first, &group_v4, &local)?;
                    }
                    _ => s.join_multicast_v4_n(
                        &group_v4,
                        &InterfaceIndexOrAddress::Index(ifindex.0),
                    )?,
                }
                s
            }
        };
        let (include, sources) = match filter {
            HostFilter::Include(s) => (
                true,
                s.iter().filter_map(|a| ipv4_of(*a)).collect::<Vec<_>>(),
            ),
            HostFilter::Exclude(s) => (
                false,
                s.iter().filter_map(|a| ipv4_of(*a)).collect::<Vec<_>>(),
            ),
        };
        let result = sys::set_source_filter(socket.as_fd(), ifindex.0, group_v4, include, &sources);
        self.joined.insert(
            key,
            Membership {
                socket,
                filter: result.is_ok().then(|| filter.clone()),
            },
        );
        result
    }

    /// Forget every membership on an interface (it vanished).
    pub fn interface_gone(&mut self, ifindex: IfIndex) {
        self.joined.retain(|(i, _), _| *i != ifindex);
    }

    /// Leave everything.
    pub fn clear(&mut self) {
        self.joined.clear();
    }

    pub fn len(&self) -> usize {
        self.joined.len()
    }

    pub fn is_empty(&self) -> bool {
        self.joined.is_empty()
    }
}
