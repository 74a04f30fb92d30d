//! Reading the kernel's multicast routing table back, for the audit and
//! for adopting a handed-over table at start (mgmd's one reader of it):
//! the VIFs and the resolved MFC entries of one table, in interface terms
//! ([`KernelTable`]).
//!
//! rtnetlink serves every table: `RTM_GETLINK` of family `RTNL_FAMILY_IPMR`
//! dumps each table's VIFs (`IPMRA_TABLE_*` and `IPMRA_VIFA_*` attributes
//! under `IFLA_AF_SPEC`), `RTM_GETROUTE` of that family dumps the entries
//! (`RTA_IIF`, the outgoing interfaces as `RTA_MULTIPATH` next hops, the
//! table in `RTA_TABLE`; entries waiting for the answer to an upcall carry
//! `RTNH_F_UNRESOLVED`). A kernel without the VIF dump (before Linux 4.13)
//! answers the link request with its ordinary links; its table cannot be
//! read back (`/proc/net/ip_mr_*` would show the default table only, and
//! VIFs without their device unless made by interface index).

use std::net::Ipv4Addr;

use futures::StreamExt;
use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_REQUEST, NetlinkMessage, NetlinkPayload, NlasIterator,
};
use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteFlags, RouteMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::Handle;

use crate::core::mroute::{KernelEntry, KernelTable, KernelVif};
use crate::core::types::{FlowKey, GroupAddr, IfIndex, MAXVIFS, VifIndex};

/// `RTNL_FAMILY_IPMR`.
const RTNL_FAMILY_IPMR: u8 = 128;
/// The id of the default multicast routing table (`RT_TABLE_DEFAULT`).
pub const DEFAULT_TABLE: u32 = 253;

// `IPMRA_TABLE_*` and `IPMRA_VIFA_*` (linux/if_link.h).
const IPMRA_TABLE_ID: u16 = 1;
const IPMRA_TABLE_VIFS: u16 = 6;
const IPMRA_VIFA_IFINDEX: u16 = 1;
const IPMRA_VIFA_VIF_ID: u16 = 2;

#[derive(Debug, thiserror::Error)]
pub enum TableReadError {
    #[error("failed to {op}: {source}")]
    Netlink {
        op: &'static str,
        #[source]
        source: rtnetlink::Error,
    },
    #[error(
        "this kernel does not dump multicast routing VIFs over rtnetlink (Linux 4.13 does): \
         table {0} cannot be read back"
    )]
    Unsupported(u32),
    #[error("the kernel sent a malformed {0}")]
    Malformed(&'static str),
}

/// Reads table `table` (`None`: the default one) back from the kernel.
pub async fn read(handle: &Handle, table: Option<u32>) -> Result<KernelTable, TableReadError> {
    let id = table.unwrap_or(DEFAULT_TABLE);
    let Some(vifs) = dump_vifs(handle, id).await? else {
        return Err(TableReadError::Unsupported(id));
    };
    let entries = dump_entries(handle, id).await?;
    Ok(KernelTable { vifs, entries })
}

/// The VIFs of table `id`; `None` when the kernel has no VIF dump.
async fn dump_vifs(handle: &Handle, id: u32) -> Result<Option<Vec<KernelVif>>, TableReadError> {
    let mut msg = LinkMessage::default();
    msg.header.interface_family = AddressFamily::from(RTNL_FAMILY_IPMR);
    let mut req = NetlinkMessage::from(RouteNetlinkMessage::GetLink(msg));
    req.header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let op = "dump the multicast routing VIFs";
    let mut replies = handle
        .clone()
        .request(req)
        .map_err(|source| TableReadError::Netlink { op, source })?;
    let mut supported = true;
    let mut found = Vec::new();
    while let Some(reply) = replies.next().await {
        match reply.payload {
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(m)) => {
                if u8::from(m.header.interface_family) != RTNL_FAMILY_IPMR {
                    // An ordinary link: the kernel fell back to the link dump.
                    supported = false;
                    continue;
                }
                if let Some((table, vifs)) = table_vifs(&m)? {
                    if table == id {
                        found = vifs;
                    }
                }
            }
            NetlinkPayload::Error(e) => {
                return Err(TableReadError::Netlink {
                    op,
                    source: rtnetlink::Error::NetlinkError(e),
                });
            }
            _ => {}
        }
    }
    Ok(supported.then_some(found))
}

/// The table id and VIFs one `RTM_NEWLINK` of family IPMR describes.
fn table_vifs(m: &LinkMessage) -> Result<Option<(u32, Vec<KernelVif>)>, TableReadError> {
    let Some(spec) = m.attributes.iter().find_map(|a| match a {
        LinkAttribute::AfSpecUnknown(bytes) => Some(bytes),
        _ => None,
    }) else {
        return Ok(None);
    };
    let bad = || TableReadError::Malformed("multicast routing table description");
    let mut table = None;
    let mut vifs = Vec::new();
    for nla in NlasIterator::new(spec.as_slice()) {
        let nla = nla.map_err(|_| bad())?;
        match nla.kind() {
            IPMRA_TABLE_ID => table = Some(u32_of(nla.value()).ok_or_else(bad)?),
            IPMRA_TABLE_VIFS => {
                for vif in NlasIterator::new(nla.value()) {
                    let vif = vif.map_err(|_| bad())?;
                    let (mut index, mut ifindex) = (None, None);
                    for a in NlasIterator::new(vif.value()) {
                        let a = a.map_err(|_| bad())?;
                        match a.kind() {
                            IPMRA_VIFA_IFINDEX => ifindex = u32_of(a.value()),
                            IPMRA_VIFA_VIF_ID => index = u32_of(a.value()),
                            _ => {}
                        }
                    }
                    let (Some(index), Some(ifindex)) = (index, ifindex) else {
                        return Err(bad());
                    };
                    if let Some(vif) = u16::try_from(index)
                        .ok()
                        .filter(|v| usize::from(*v) < MAXVIFS)
                    {
                        vifs.push(KernelVif {
                            vif: VifIndex(vif),
                            ifindex: IfIndex(ifindex),
                        });
                    }
                }
            }
            _ => {}
        }
    }
    Ok(table.map(|t| (t, vifs)))
}

/// The resolved entries of table `id`.
async fn dump_entries(handle: &Handle, id: u32) -> Result<Vec<KernelEntry>, TableReadError> {
    let mut msg = RouteMessage::default();
    msg.header.address_family = AddressFamily::from(RTNL_FAMILY_IPMR);
    // The table filter (honoured with strict checking, else filtered here).
    match u8::try_from(id) {
        Ok(t) => msg.header.table = t,
        Err(_) => msg.attributes.push(RouteAttribute::Table(id)),
    }
    let mut req = NetlinkMessage::from(RouteNetlinkMessage::GetRoute(msg));
    req.header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let op = "dump the multicast forwarding entries";
    let mut replies = handle
        .clone()
        .request(req)
        .map_err(|source| TableReadError::Netlink { op, source })?;
    let mut entries = Vec::new();
    while let Some(reply) = replies.next().await {
        match reply.payload {
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewRoute(m)) => {
                if let Some(e) = kernel_entry(&m, id) {
                    entries.push(e);
                }
            }
            NetlinkPayload::Error(e) => {
                return Err(TableReadError::Netlink {
                    op,
                    source: rtnetlink::Error::NetlinkError(e),
                });
            }
            _ => {}
        }
    }
    Ok(entries)
}

/// The entry one `RTM_NEWROUTE` of family IPMR describes, if it is a
/// resolved (S,G) entry of table `id`.
fn kernel_entry(m: &RouteMessage, id: u32) -> Option<KernelEntry> {
    if u8::from(m.header.address_family) != RTNL_FAMILY_IPMR
        || m.header.flags.contains(RouteFlags::Unresolved)
    {
        return None;
    }
    let mut table = u32::from(m.header.table);
    let (mut source, mut group, mut iif) = (None, None, None);
    let mut oifs = Vec::new();
    for a in &m.attributes {
        match a {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Source(addr) => source = ipv4_of(addr),
            RouteAttribute::Destination(addr) => group = ipv4_of(addr),
            RouteAttribute::Iif(i) => iif = Some(IfIndex(*i)),
            RouteAttribute::MultiPath(hops) => {
                oifs.extend(hops.iter().map(|h| IfIndex(h.interface_index)));
            }
            _ => {}
        }
    }
    if table != id {
        return None;
    }
    Some(KernelEntry {
        flow: FlowKey::new(
            source.unwrap_or(Ipv4Addr::UNSPECIFIED),
            GroupAddr::new(group?).ok()?,
        ),
        iif,
        oifs,
    })
}

// ===== helper functions =====

fn u32_of(v: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(v.get(..4)?.try_into().ok()?))
}

fn ipv4_of(addr: &RouteAddress) -> Option<Ipv4Addr> {
    match addr {
        RouteAddress::Inet(a) => Some(*a),
        RouteAddress::Other(bytes) => <[u8; 4]>::try_from(bytes.as_slice())
            .ok()
            .map(Ipv4Addr::from),
        _ => None,
    }
}

// ===== tests =====

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_route::route::RouteNextHop;

    /// One netlink attribute: length, type, value, padding.
    fn nla(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend(u16::try_from(4 + value.len()).unwrap().to_ne_bytes());
        v.extend(kind.to_ne_bytes());
        v.extend(value);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    fn ipmr_link(table: u32, vifs: &[(u32, u32)]) -> LinkMessage {
        let mut list = Vec::new();
        for (vif, ifindex) in vifs {
            let mut attrs = nla(IPMRA_VIFA_IFINDEX, &ifindex.to_ne_bytes());
            attrs.extend(nla(IPMRA_VIFA_VIF_ID, &vif.to_ne_bytes()));
            attrs.extend(nla(3, &8u16.to_ne_bytes()));
            list.extend(nla(1, &attrs));
        }
        let mut spec = nla(IPMRA_TABLE_ID, &table.to_ne_bytes());
        spec.extend(nla(4, &[0]));
        spec.extend(nla(IPMRA_TABLE_VIFS, &list));
        let mut m = LinkMessage::default();
        m.header.interface_family = AddressFamily::from(RTNL_FAMILY_IPMR);
        m.attributes.push(LinkAttribute::AfSpecUnknown(spec));
        m
    }

    #[test]
    fn vifs_of_a_table() {
        let (table, vifs) = table_vifs(&ipmr_link(253, &[(0, 3), (4, 5), (40, 6)]))
            .unwrap()
            .unwrap();
        assert_eq!(table, 253);
        // An index the kernel cannot have is left out.
        assert_eq!(
            vifs,
            vec![
                KernelVif {
                    vif: VifIndex(0),
                    ifindex: IfIndex(3)
                },
                KernelVif {
                    vif: VifIndex(4),
                    ifindex: IfIndex(5)
                },
            ]
        );
        let mut broken = ipmr_link(7, &[(1, 2)]);
        if let LinkAttribute::AfSpecUnknown(b) = &mut broken.attributes[0] {
            b.truncate(b.len() - 6);
        }
        assert!(table_vifs(&broken).is_err());
    }

    fn mroute(table: u8, flags: RouteFlags) -> RouteMessage {
        let mut m = RouteMessage::default();
        m.header.address_family = AddressFamily::from(RTNL_FAMILY_IPMR);
        m.header.table = table;
        m.header.flags = flags;
        m.attributes
            .push(RouteAttribute::Source(RouteAddress::Other(vec![
                10, 0, 1, 2,
            ])));
        m.attributes
            .push(RouteAttribute::Destination(RouteAddress::Other(vec![
                239, 1, 2, 3,
            ])));
        m
    }

    #[test]
    fn entries_of_a_table() {
        let mut m = mroute(253, RouteFlags::empty());
        m.attributes.push(RouteAttribute::Iif(3));
        let hops = [5u32, 4]
            .into_iter()
            .map(|i| {
                let mut h = RouteNextHop::default();
                h.interface_index = i;
                h
            })
            .collect();
        m.attributes.push(RouteAttribute::MultiPath(hops));
        let e = kernel_entry(&m, 253).unwrap();
        assert_eq!(e.flow.to_string(), "(10.0.1.2,239.1.2.3)");
        assert_eq!(e.iif, Some(IfIndex(3)));
        assert_eq!(e.oifs, vec![IfIndex(5), IfIndex(4)]);
        // Another table, or unresolved: not an entry of ours.
        assert_eq!(kernel_entry(&m, 7), None);
        m.header.flags = RouteFlags::Unresolved;
        assert_eq!(kernel_entry(&m, 253), None);
        // Table ids above 255 come as an attribute; no RTA_IIF: the
        // incoming VIF is gone.
        let mut m = mroute(252, RouteFlags::empty());
        m.attributes.push(RouteAttribute::Table(1000));
        let e = kernel_entry(&m, 1000).unwrap();
        assert_eq!((e.iif, e.oifs), (None, vec![]));
    }
}
