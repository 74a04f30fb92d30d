//! What a router accepts before processing an MLD message: the checks
//! on its IPv6 header (RFC 9777 7.4 and 7.6), and the multicast addresses
//! it keeps listening state for (RFC 9777 6, RFC 2710 5). Sans-IO: the
//! caller passes what the socket told (source, Hop Limit, whether a
//! Router Alert option came) and what [`super::packet`] decoded.

use std::net::Ipv6Addr;

use super::packet::{ALL_NODES, MldPacket};

// ===== IP-level checks =====

/// Why a router drops an MLD message on what its IPv6 header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    /// Source ::. RFC 9777 5.2.14: a host may send a Report from :: while
    /// its interface has no link-local address yet (Duplicate Address
    /// Detection), but "A Report sent with the unspecified address is also
    /// discarded by the router"; 5.1.14: a Query from :: MUST be silently
    /// discarded. Counted apart from [`Reject::SourceNotLinkLocal`]: from
    /// a host joining solicited-node groups it is expected traffic.
    #[error("sent from the unspecified address")]
    UnspecifiedSource,
    /// Source outside fe80::/10. RFC 9777 5.1.14 (queries: "MUST silently
    /// discard the message and SHOULD log a warning"), 5.2.14 (reports:
    /// "routers MUST silently discard a message that is not sent with a
    /// valid link-local address"), 7.4 and 7.6; RFC 2710 5 and 6 ("MUST
    /// come from a link-local IPv6 Source Address").
    #[error("source address is not link-local")]
    SourceNotLinkLocal,
    /// Hop Limit other than 1 (RFC 9777 7.4, 7.6: "If any of these checks
    /// fail, the packet is dropped").
    #[error("hop limit {0} (expected 1)")]
    BadHopLimit(u8),
    /// No Router Alert option in a Hop-by-Hop Options header (RFC 9777
    /// 7.4, 7.6, as for the hop limit).
    #[error("no router alert option")]
    NoRouterAlert,
}

impl Reject {
    /// Stable label for drop counters.
    pub fn reason(&self) -> &'static str {
        match self {
            Reject::UnspecifiedSource => "unspecified_source",
            Reject::SourceNotLinkLocal => "source_not_link_local",
            Reject::BadHopLimit(_) => "bad_hop_limit",
            Reject::NoRouterAlert => "no_router_alert",
        }
    }

    /// Whether RFC 9777 asks for a logged warning: a Query from a source
    /// that is not a valid link-local address, :: included (5.1.14: "SHOULD
    /// log a warning"). It asks none for reports: one from :: is what a
    /// host sends during Duplicate Address Detection (5.2.14).
    pub fn warrants_warning(&self, packet: &MldPacket) -> bool {
        matches!(packet, MldPacket::Query(_))
            && matches!(self, Reject::UnspecifiedSource | Reject::SourceNotLinkLocal)
    }
}

/// The checks a router makes on the IPv6 header of a decoded MLD message
/// before processing it, in the order of RFC 9777 7.4 (reports) and 7.6
/// (queries): "the router checks if the source address of the message is
/// a valid link-local address, if the Hop Limit is set to 1, and if the
/// Router Alert option is present in the Hop-by-Hop Options header of the
/// IPv6 packet. If any of these checks fail, the packet is dropped."
///
/// The same rules apply to every message kind: 5.1.14 for queries, 5.2.14
/// for reports (:: included, see [`Reject::UnspecifiedSource`]), RFC 2710
/// 5 and 6 for MLDv1 queries, reports and Done messages. A Done is held to
/// the rules of a Report since a router takes it for one (RFC 9777 8.3.2,
/// Table 10: Done is TO_IN({})). Since no rule depends on the kind, the
/// check needs only the header; [`Reject::warrants_warning`] tells, for
/// the decoded message, whether to log the drop.
pub fn check_ip(src: Ipv6Addr, hop_limit: u8, router_alert: bool) -> Result<(), Reject> {
    if src.is_unspecified() {
        return Err(Reject::UnspecifiedSource);
    }
    if !is_link_local(src) {
        return Err(Reject::SourceNotLinkLocal);
    }
    if hop_limit != 1 {
        return Err(Reject::BadHopLimit(hop_limit));
    }
    if !router_alert {
        return Err(Reject::NoRouterAlert);
    }
    Ok(())
}

/// A link-local unicast address, fe80::/10 (RFC 4291 2.5.6): what "a
/// valid link-local address" of RFC 9777 7.4 and 7.6 is. Queriers send
/// from fe80::/64 (7.6.2); a receiver accepts the whole prefix.
pub fn is_link_local(a: Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

// ===== multicast addresses =====

/// A multicast address, ff00::/8 (RFC 4291 2.7).
pub fn is_multicast(a: Ipv6Addr) -> bool {
    a.octets()[0] == 0xff
}

/// The scop field of a multicast address (RFC 4291 2.7: 1 interface-local,
/// 2 link-local, 5 site-local, 0xe global, ...); `None` for other
/// addresses.
pub fn multicast_scope(a: Ipv6Addr) -> Option<u8> {
    is_multicast(a).then(|| a.octets()[1] & 0x0f)
}

/// Whether a source address in a query or record is a unicast address, as
/// RFC 9777 5.1.11 and 5.2.10 say they are ("a vector of n unicast
/// addresses"): neither multicast nor ::.
pub fn is_unicast(a: Ipv6Addr) -> bool {
    !is_multicast(a) && !a.is_unspecified()
}

/// Why the router learns nothing for the Multicast Address field of a
/// report, Done message, record or specific query.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GroupReject {
    /// Not in ff00::/8. No rule in RFC 9777 for a record that names one
    /// (5.2.9: the field "contains the multicast address"); RFC 2710 5
    /// wants "either zero (a General Query) or a valid multicast address".
    /// A router skips that record alone, as it skips one of an unknown type
    /// (5.2.13: "with the rest of the report being processed").
    #[error("not a multicast address")]
    NotMulticast,
    /// ff02::1: every node listens to it, permanently (RFC 9777 6), and
    /// "No MLD messages are ever sent regarding" it.
    #[error("the all-nodes address is never reported")]
    AllNodes,
    /// Scope 0 (reserved) or 1 (interface-local, "node-local" in RFC 9777
    /// 6): never reported ("Multicast listeners MUST send MLD messages for
    /// all multicast addresses except for the link-scope all-nodes
    /// multicast address and any multicast addresses of scope less than
    /// 2"), and nothing of those scopes leaves a node.
    #[error("multicast scope {0} is below link scope")]
    BelowLinkScope(u8),
}

impl GroupReject {
    /// Stable label for drop counters.
    pub fn reason(&self) -> &'static str {
        match self {
            GroupReject::NotMulticast => "bad_group",
            GroupReject::AllNodes => "all_nodes_group",
            GroupReject::BelowLinkScope(_) => "below_link_scope_group",
        }
    }
}

/// Whether a router keeps listening state for `group`, named by a report,
/// Done message, record or specific query: a multicast address of link
/// scope or wider other than ff02::1. Link-scope groups (ff02::/16, e.g.
/// solicited-node addresses) are reported (RFC 2710 5: "MLD messages ARE
/// sent for multicast addresses whose scope is 2 (link-local)") and pass;
/// that such traffic is never forwarded off the link is the router's
/// concern, not the codec's.
pub fn check_group(group: Ipv6Addr) -> Result<(), GroupReject> {
    match multicast_scope(group) {
        None => Err(GroupReject::NotMulticast),
        Some(_) if group == ALL_NODES => Err(GroupReject::AllNodes),
        Some(s) if s < 2 => Err(GroupReject::BelowLinkScope(s)),
        Some(_) => Ok(()),
    }
}

// ===== tests =====

#[cfg(test)]
mod tests;
