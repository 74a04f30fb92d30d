//! The Multicast Group Manager: who owns each interface, which memberships
//! exist where, and which forwarding entries (MFEs) follow from them.
//!
//! Sans-IO. Every operation returns the ordered [`Effect`]s it caused
//! (callbacks owed to components, memberships attributed, forwarding entries
//! created/changed/deleted); the caller delivers callbacks and programs the
//! kernel. Misuse returns an [`MgmError`] and changes nothing.
//!
//! (API contract; implementation in progress.)

use std::net::Ipv4Addr;

use serde::Serialize;

use crate::core::types::{ComponentId, FlowKey, IfIndex, MembershipKey, ProtoId};

/// One thing an operation caused, in the order it happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "effect", rename_all = "kebab-case")]
pub enum Effect {
    /// Callback to IGMP: stop adding/deleting memberships on `ifindex`.
    DisableIgmp {
        ifindex: IfIndex,
    },
    /// The routing owner of `ifindex` changed.
    OwnerChanged {
        ifindex: IfIndex,
        old: Option<ProtoId>,
        new: Option<ProtoId>,
    },
    /// Callback to IGMP: ownership change complete, re-add memberships.
    EnableIgmp {
        ifindex: IfIndex,
    },
    /// A membership entry now exists, attributed to `component`
    /// (the interface's owner at that moment); `by` is who added it.
    MembershipAdded {
        key: MembershipKey,
        ifindex: IfIndex,
        by: ComponentId,
        component: ComponentId,
    },
    /// A membership entry went away.
    MembershipRemoved {
        key: MembershipKey,
        ifindex: IfIndex,
        by: ComponentId,
        component: ComponentId,
    },
    JoinAlert {
        to: ComponentId,
        key: MembershipKey,
        member_update: bool,
    },
    PruneAlert {
        to: ComponentId,
        key: MembershipKey,
        ifindex: IfIndex,
        member_delete: bool,
    },
    LocalJoin {
        to: ProtoId,
        key: MembershipKey,
        ifindex: IfIndex,
    },
    LocalLeave {
        to: ProtoId,
        key: MembershipKey,
        ifindex: IfIndex,
    },
    CreationAlert {
        to: ComponentId,
        flow: FlowKey,
        iif: IfIndex,
        oifs: Vec<IfIndex>,
    },
    MfeCreated {
        flow: FlowKey,
        iif: IfIndex,
        oifs: Vec<IfIndex>,
    },
    MfeChanged {
        flow: FlowKey,
        iif: IfIndex,
        oifs: Vec<IfIndex>,
    },
    MfeDeleted {
        flow: FlowKey,
    },
    UpstreamChanged {
        flow: FlowKey,
        upstream: Option<Ipv4Addr>,
    },
}
