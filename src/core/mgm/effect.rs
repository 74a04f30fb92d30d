//! What the manager's operations return: the ordered [`Effect`]s they
//! caused, the [`MgmError`] that says why one changed nothing, and the
//! membership flags and rows of its API.

use std::net::IpAddr;

use serde::Serialize;

use crate::core::types::{ComponentId, FlowKey, IfIndex, MembershipKey, ProtoId};

// ===== Effect =====

/// One thing an operation caused, in the order it happened.
///
/// Generic over how interfaces (`I`), components (`C`) and protocols (`P`)
/// are named: the manager works with indices and handles (the defaults);
/// events carry the same effect with names ([`Effect::map`]), so the two
/// never drift apart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "effect", rename_all = "kebab-case")]
pub enum Effect<I = IfIndex, C = ComponentId, P = ProtoId> {
    /// Callback to IGMP: stop adding/deleting memberships on the interface.
    DisableIgmp {
        #[serde(rename = "interface")]
        ifindex: I,
    },
    /// The routing owner of the interface changed (`None`: IGMP alone).
    OwnerChanged {
        #[serde(rename = "interface")]
        ifindex: I,
        old: Option<P>,
        new: Option<P>,
    },
    /// Callback to IGMP: ownership change complete, re-add memberships.
    EnableIgmp {
        #[serde(rename = "interface")]
        ifindex: I,
    },
    /// A membership entry now exists, attributed to `component`
    /// (the interface's owner at that moment); `by` is who added it.
    MembershipAdded {
        key: MembershipKey,
        #[serde(rename = "interface")]
        ifindex: I,
        by: C,
        component: C,
    },
    /// A membership entry went away.
    MembershipRemoved {
        key: MembershipKey,
        #[serde(rename = "interface")]
        ifindex: I,
        by: C,
        component: C,
    },
    JoinAlert {
        to: C,
        key: MembershipKey,
        member_update: bool,
    },
    PruneAlert {
        to: C,
        key: MembershipKey,
        #[serde(rename = "interface")]
        ifindex: I,
        member_delete: bool,
    },
    LocalJoin {
        to: P,
        key: MembershipKey,
        #[serde(rename = "interface")]
        ifindex: I,
    },
    LocalLeave {
        to: P,
        key: MembershipKey,
        #[serde(rename = "interface")]
        ifindex: I,
    },
    CreationAlert {
        to: C,
        flow: FlowKey,
        iif: I,
        oifs: Vec<I>,
    },
    MfeCreated {
        flow: FlowKey,
        iif: I,
        oifs: Vec<I>,
    },
    MfeChanged {
        flow: FlowKey,
        iif: I,
        oifs: Vec<I>,
    },
    MfeDeleted {
        flow: FlowKey,
    },
    /// The upstream neighbour of an entry changed (the route towards its
    /// source has a new gateway through the same interface).
    UpstreamChanged {
        flow: FlowKey,
        upstream: Option<IpAddr>,
    },
}

impl<I, C, P> Effect<I, C, P> {
    /// The same effect with interfaces, components and protocols renamed.
    pub fn map<I2, C2, P2>(
        self,
        fi: impl Fn(I) -> I2,
        fc: impl Fn(C) -> C2,
        fp: impl Fn(P) -> P2,
    ) -> Effect<I2, C2, P2> {
        match self {
            Effect::DisableIgmp { ifindex } => Effect::DisableIgmp {
                ifindex: fi(ifindex),
            },
            Effect::OwnerChanged { ifindex, old, new } => Effect::OwnerChanged {
                ifindex: fi(ifindex),
                old: old.map(&fp),
                new: new.map(&fp),
            },
            Effect::EnableIgmp { ifindex } => Effect::EnableIgmp {
                ifindex: fi(ifindex),
            },
            Effect::MembershipAdded {
                key,
                ifindex,
                by,
                component,
            } => Effect::MembershipAdded {
                key,
                ifindex: fi(ifindex),
                by: fc(by),
                component: fc(component),
            },
            Effect::MembershipRemoved {
                key,
                ifindex,
                by,
                component,
            } => Effect::MembershipRemoved {
                key,
                ifindex: fi(ifindex),
                by: fc(by),
                component: fc(component),
            },
            Effect::JoinAlert {
                to,
                key,
                member_update,
            } => Effect::JoinAlert {
                to: fc(to),
                key,
                member_update,
            },
            Effect::PruneAlert {
                to,
                key,
                ifindex,
                member_delete,
            } => Effect::PruneAlert {
                to: fc(to),
                key,
                ifindex: fi(ifindex),
                member_delete,
            },
            Effect::LocalJoin { to, key, ifindex } => Effect::LocalJoin {
                to: fp(to),
                key,
                ifindex: fi(ifindex),
            },
            Effect::LocalLeave { to, key, ifindex } => Effect::LocalLeave {
                to: fp(to),
                key,
                ifindex: fi(ifindex),
            },
            Effect::CreationAlert {
                to,
                flow,
                iif,
                oifs,
            } => Effect::CreationAlert {
                to: fc(to),
                flow,
                iif: fi(iif),
                oifs: oifs.into_iter().map(&fi).collect(),
            },
            Effect::MfeCreated { flow, iif, oifs } => Effect::MfeCreated {
                flow,
                iif: fi(iif),
                oifs: oifs.into_iter().map(&fi).collect(),
            },
            Effect::MfeChanged { flow, iif, oifs } => Effect::MfeChanged {
                flow,
                iif: fi(iif),
                oifs: oifs.into_iter().map(&fi).collect(),
            },
            Effect::MfeDeleted { flow } => Effect::MfeDeleted { flow },
            Effect::UpstreamChanged { flow, upstream } => {
                Effect::UpstreamChanged { flow, upstream }
            }
        }
    }

    /// The steps of the ownership sequence, which are always worth
    /// telling; the rest is detail.
    pub fn is_ownership_step(&self) -> bool {
        matches!(
            self,
            Effect::DisableIgmp { .. } | Effect::EnableIgmp { .. } | Effect::OwnerChanged { .. }
        )
    }
}

// ===== MgmError =====

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MgmError {
    #[error("failed to register protocol: the name '{0}' is already registered")]
    AlreadyRegistered(String),
    #[error("failed to find protocol {0}: it is not registered")]
    UnknownProtocol(ProtoId),
    #[error("failed to deregister {proto}: it still owns interfaces {}", list(.ifaces))]
    StillOwnsInterfaces {
        proto: ProtoId,
        ifaces: Vec<IfIndex>,
    },
    #[error("interface {ifindex} is already owned by {owner}")]
    AlreadyOwned {
        ifindex: IfIndex,
        owner: ComponentId,
    },
    #[error("failed to act on interface {ifindex}: {component} does not own it")]
    NotOwner {
        ifindex: IfIndex,
        component: ComponentId,
    },
    #[error("failed to find interface {0}: it is not known to the group manager")]
    UnknownInterface(IfIndex),
    #[error("failed to change memberships on interface {0}: IGMP is disabled there")]
    IgmpDisabled(IfIndex),
    #[error("failed to enable IGMP on interface {0}: it is not disabled")]
    IgmpNotDisabled(IfIndex),
    #[error("failed to find forwarding entry {0}")]
    NotFound(FlowKey),
    #[error("failed to create a forwarding entry coming in on interface {0}: it is down")]
    InterfaceDown(IfIndex),
    #[error("failed to create forwarding entry {0}: it already exists")]
    MfeExists(FlowKey),
    #[error("failed to change membership: neither the join nor the forward flag is set")]
    NoFlags,
}

fn list(ifaces: &[IfIndex]) -> String {
    let v: Vec<String> = ifaces.iter().map(|i| i.to_string()).collect();
    v.join(", ")
}

// ===== MembershipFlags / Membership =====

/// `MGM_JOIN_STATE_FLAG` / `MGM_FORWARD_STATE_FLAG`: JOIN changes the
/// membership table (and every matching forwarding entry, with alerts);
/// FORWARD only adds or removes the interface in the forwarding entry of
/// that exact (S,G), if it exists (a no-op for (*,G) or a missing entry).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MembershipFlags {
    pub join: bool,
    pub forward: bool,
}

impl MembershipFlags {
    pub const JOIN: MembershipFlags = MembershipFlags {
        join: true,
        forward: false,
    };
    pub const FORWARD: MembershipFlags = MembershipFlags {
        join: false,
        forward: true,
    };
    pub const BOTH: MembershipFlags = MembershipFlags {
        join: true,
        forward: true,
    };
}

/// One row of the membership table: `by` added `key` on `ifindex`; it
/// counts for `component`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Membership {
    pub key: MembershipKey,
    pub ifindex: IfIndex,
    pub by: ComponentId,
    pub component: ComponentId,
}

// ===== tests =====

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_are_lower_case() {
        let e = MgmError::StillOwnsInterfaces {
            proto: ProtoId(2),
            ifaces: vec![IfIndex(3), IfIndex(4)],
        };
        assert_eq!(
            e.to_string(),
            "failed to deregister proto#2: it still owns interfaces 3, 4"
        );
        let e = MgmError::AlreadyOwned {
            ifindex: IfIndex(3),
            owner: ComponentId::Igmp,
        };
        assert_eq!(e.to_string(), "interface 3 is already owned by igmp");
    }

    #[test]
    fn map_renames_every_interface_and_component() {
        let e: Effect = Effect::CreationAlert {
            to: ComponentId::Protocol(ProtoId(1)),
            flow: FlowKey {
                group: "239.1.1.1".parse().unwrap(),
                source: std::net::Ipv4Addr::new(10, 0, 0, 1).into(),
            },
            iif: IfIndex(2),
            oifs: vec![IfIndex(3), IfIndex(4)],
        };
        let named = e.map(|i| format!("eth{}", i.0), |c| c.to_string(), |p| p.0);
        let j = serde_json::to_value(&named).unwrap();
        assert_eq!(j["effect"], "creation-alert");
        assert_eq!(j["to"], "proto#1");
        assert_eq!(j["iif"], "eth2");
        assert_eq!(j["oifs"], serde_json::json!(["eth3", "eth4"]));
    }
}
