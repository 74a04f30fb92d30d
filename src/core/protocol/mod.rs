//! Routing protocols as components of the manager.
//!
//! A protocol is a sans-IO state machine behind [`RoutingProtocol`]. The
//! router delivers the manager's callbacks to it as [`ProtoEvent`]s and
//! carries out the [`ProtoAction`]s it returns; it never calls into the
//! manager itself, so no callback can re-enter the manager. The router does
//! not know protocols by name: it builds them from config through
//! [`build`] and otherwise sees only this trait.
//!
//! Ownership is decided by config (which protocol owns which interface
//! names) and by `mgmctl take/release`; every change goes through the
//! router's one ownership path, which runs the disable/enable sequence and
//! then tells the protocol with [`ProtoEvent::InterfaceTaken`] or
//! [`ProtoEvent::InterfaceReleased`].
//!
//! **Hitless.** Alerts are delivered one by one, in the order the manager
//! raised them (a flush's prune alerts, then the re-add's join alerts), but
//! anything a protocol sends out of the box (reports upstream, host joins)
//! must be derived from its state at [`ProtoEvent::Commit`], which comes
//! once at the end of every top-level operation. A prune followed by the
//! matching join within one ownership change then sends nothing.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::Instant;

use serde::Serialize;

use crate::core::iface::IfaceTable;
use crate::core::mgm::{MembershipFlags, Mgm};
use crate::core::types::{FlowKey, GroupAddr, IfIndex, MembershipKey, ProtoId};

pub mod proxy;
pub mod static_routes;

pub use self::proxy::Proxy;
pub use self::static_routes::StaticRoutes;

/// What a protocol can see while it handles an event (read-only).
pub struct ProtoCtx<'a> {
    pub now: Instant,
    pub me: ProtoId,
    pub ifaces: &'a IfaceTable,
    pub mgm: &'a Mgm,
}

/// Callbacks and inputs delivered to a protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProtoEvent {
    /// The protocol was registered with the manager.
    Started,
    /// The protocol now owns `ifindex`; the ownership sequence is complete.
    InterfaceTaken { ifindex: IfIndex },
    /// The protocol no longer owns `ifindex` (released, or it vanished).
    InterfaceReleased { ifindex: IfIndex },
    /// An owned interface went up/down or was renumbered.
    InterfaceChanged { ifindex: IfIndex },
    /// Some other component has members for `key` now (RFC 2715 rules).
    JoinAlert {
        key: MembershipKey,
        member_update: bool,
    },
    /// No other component has members for `key` any more.
    PruneAlert {
        key: MembershipKey,
        ifindex: IfIndex,
        member_delete: bool,
    },
    /// IGMP learned `key` on an interface this protocol owns.
    LocalJoin {
        key: MembershipKey,
        ifindex: IfIndex,
    },
    /// IGMP lost `key` on an interface this protocol owns.
    LocalLeave {
        key: MembershipKey,
        ifindex: IfIndex,
    },
    /// The forwarding entry of `flow` was created with an incoming
    /// interface this protocol owns (after its [`RoutingProtocol::rpf`]
    /// answer). A protocol adds its outgoing interfaces for the flow here
    /// with [`MembershipFlags::FORWARD`] (e.g. static prefix routes).
    FlowCreated { flow: FlowKey, iif: IfIndex },
    /// A forwarding entry was created for `flow` with an incoming interface
    /// this protocol does not own (the proxy forwards what downstream
    /// senders send to its upstream, RFC 4605 4.2).
    FlowSeen { flow: FlowKey, iif: IfIndex },
    /// An IGMP message arrived on an interface this protocol owns.
    IgmpRx {
        ifindex: IfIndex,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        payload: Vec<u8>,
    },
    /// `now` reached the protocol's [`RoutingProtocol::next_deadline`].
    Timer,
    /// End of one top-level operation: act on the net result.
    Commit,
}

/// A host-side group filter (what a host would ask its upstream router).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostFilter {
    /// Receive only from these sources (empty = leave the group).
    Include(BTreeSet<Ipv4Addr>),
    /// Receive from every source but these.
    Exclude(BTreeSet<Ipv4Addr>),
}

/// What a protocol asks the router to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProtoAction {
    /// Take routing ownership of an interface (runs the sequence).
    TakeInterface { ifindex: IfIndex },
    /// Give an interface back to IGMP alone (runs the sequence).
    ReleaseInterface { ifindex: IfIndex },
    AddMembership {
        key: MembershipKey,
        ifindex: IfIndex,
        flags: MembershipFlags,
    },
    DeleteMembership {
        key: MembershipKey,
        ifindex: IfIndex,
        flags: MembershipFlags,
    },
    /// This protocol's wish for the box's host-side membership of `group`
    /// on `ifindex` (`Include` of nothing = no wish). The kernel's host
    /// IGMP reports it upstream and answers the upstream router's queries
    /// in the version that router speaks. The router merges every
    /// protocol's wishes and applies only the net change at commit; a
    /// membership nobody wishes any more is kept for a short hold time, so
    /// an interface moving between protocols sends no leave upstream.
    HostMembership {
        ifindex: IfIndex,
        group: GroupAddr,
        filter: HostFilter,
    },
    /// Forget a flow's forwarding entry so it is decided again (e.g. after
    /// an upstream switch).
    FlushFlows { iif: IfIndex },
}

/// A routing protocol component.
pub trait RoutingProtocol: Send {
    /// The name used in config, logs and `mgmctl` ("static", "proxy").
    fn name(&self) -> &'static str;

    /// Interface names this protocol owns according to its config.
    fn configured_interfaces(&self) -> BTreeSet<String>;

    /// Handle one callback or input.
    fn handle(&mut self, ctx: &ProtoCtx<'_>, ev: ProtoEvent) -> Vec<ProtoAction>;

    /// RPF callback for a new flow arriving on `arrival`, asked of the
    /// owner of the RPF interface (or of the arrival interface when the
    /// unicast RPF interface is not one of ours). `rpf` is the kernel's
    /// unicast answer. Return the incoming interface to use, or `None` to
    /// refuse the flow (it is then installed as a drop entry).
    fn rpf(
        &self,
        ctx: &ProtoCtx<'_>,
        flow: FlowKey,
        arrival: IfIndex,
        rpf: Option<IfIndex>,
    ) -> Option<IfIndex>;

    /// Creation alert: `oifs` are this protocol's interfaces in the new
    /// entry. Return those that must NOT forward this flow.
    fn creation_alert(
        &self,
        _ctx: &ProtoCtx<'_>,
        _flow: FlowKey,
        _iif: IfIndex,
        _oifs: &[IfIndex],
    ) -> Vec<IfIndex> {
        Vec::new()
    }

    /// When the protocol next wants a [`ProtoEvent::Timer`].
    fn next_deadline(&self) -> Option<Instant> {
        None
    }

    /// State for `mgmctl show protocols`.
    fn status(&self, ctx: &ProtoCtx<'_>) -> serde_json::Value;
}

/// Build the routing protocols the config asks for, in a fixed order:
/// `static` first, then `proxy`.
pub fn build(cfg: &crate::config::Config) -> Vec<Box<dyn RoutingProtocol>> {
    let mut protocols: Vec<Box<dyn RoutingProtocol>> = Vec::new();
    if let Some(s) = &cfg.static_routes {
        protocols.push(Box::new(StaticRoutes::new(s.clone())));
    }
    if let Some(p) = &cfg.proxy {
        protocols.push(Box::new(Proxy::new(p.clone())));
    }
    protocols
}

// ===== helper functions =====

/// Host-side wishes by (interface, group); absent = no wish.
pub(crate) type HostWishes = BTreeMap<(IfIndex, GroupAddr), HostFilter>;

/// The [`ProtoAction::HostMembership`] actions that turn the wishes `old`
/// (sent at the previous commit) into `new`: withdrawals (`Include` of
/// nothing) first, then every wish that is new or changed. Unchanged
/// wishes send nothing.
pub(crate) fn host_wish_changes(old: &HostWishes, new: &HostWishes) -> Vec<ProtoAction> {
    let withdraw = old
        .keys()
        .filter(|k| !new.contains_key(k))
        .map(|&(ifindex, group)| ProtoAction::HostMembership {
            ifindex,
            group,
            filter: HostFilter::Include(BTreeSet::new()),
        });
    let wish = new
        .iter()
        .filter(|(k, f)| old.get(k) != Some(f))
        .map(|(&(ifindex, group), f)| ProtoAction::HostMembership {
            ifindex,
            group,
            filter: f.clone(),
        });
    withdraw.chain(wish).collect()
}

/// The interface called `name`, if it exists and `ctx.me` owns it.
pub(crate) fn owned_ifindex(ctx: &ProtoCtx<'_>, name: &str) -> Option<IfIndex> {
    let ifindex = ctx.ifaces.by_name(name)?.ifindex;
    is_owned(ctx, ifindex).then_some(ifindex)
}

/// Whether `ctx.me` is the routing owner of `ifindex`.
pub(crate) fn is_owned(ctx: &ProtoCtx<'_>, ifindex: IfIndex) -> bool {
    ctx.mgm
        .interface(ifindex)
        .is_some_and(|i| i.owner == Some(ctx.me))
}

/// Renders a host filter for status output.
pub(crate) fn filter_json(filter: &HostFilter) -> serde_json::Value {
    let (mode, sources) = match filter {
        HostFilter::Include(s) => ("include", s),
        HostFilter::Exclude(s) => ("exclude", s),
    };
    serde_json::json!({ "mode": mode, "sources": sources })
}

/// Adds one to a counter kept behind `&self` (the RPF callback).
pub(crate) fn bump(c: &Cell<u64>) {
    c.set(c.get() + 1);
}

/// One configured interface name as a protocol sees it now.
#[derive(Serialize)]
pub(crate) struct IfaceStatus {
    pub name: String,
    pub ifindex: Option<IfIndex>,
    pub present: bool,
    pub up: bool,
    pub owned: bool,
}

impl IfaceStatus {
    pub(crate) fn of(ctx: &ProtoCtx<'_>, name: &str) -> IfaceStatus {
        let link = ctx.ifaces.by_name(name);
        IfaceStatus {
            name: name.to_owned(),
            ifindex: link.map(|l| l.ifindex),
            present: link.is_some(),
            up: link.is_some_and(|l| l.oper_up()),
            owned: link.is_some_and(|l| is_owned(ctx, l.ifindex)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(s: &str) -> GroupAddr {
        s.parse().unwrap()
    }

    #[test]
    fn wish_changes_are_net() {
        let a = Ipv4Addr::new(10, 0, 0, 1);
        let old: HostWishes = [
            (
                (IfIndex(1), g("239.1.1.1")),
                HostFilter::Exclude(BTreeSet::new()),
            ),
            (
                (IfIndex(1), g("239.1.1.2")),
                HostFilter::Include([a].into()),
            ),
            (
                (IfIndex(1), g("239.1.1.3")),
                HostFilter::Include([a].into()),
            ),
        ]
        .into();
        let new: HostWishes = [
            (
                (IfIndex(1), g("239.1.1.1")),
                HostFilter::Exclude(BTreeSet::new()),
            ),
            (
                (IfIndex(1), g("239.1.1.3")),
                HostFilter::Exclude([a].into()),
            ),
            (
                (IfIndex(2), g("239.1.1.1")),
                HostFilter::Exclude(BTreeSet::new()),
            ),
        ]
        .into();
        assert_eq!(
            host_wish_changes(&old, &new),
            vec![
                ProtoAction::HostMembership {
                    ifindex: IfIndex(1),
                    group: g("239.1.1.2"),
                    filter: HostFilter::Include(BTreeSet::new()),
                },
                ProtoAction::HostMembership {
                    ifindex: IfIndex(1),
                    group: g("239.1.1.3"),
                    filter: HostFilter::Exclude([a].into()),
                },
                ProtoAction::HostMembership {
                    ifindex: IfIndex(2),
                    group: g("239.1.1.1"),
                    filter: HostFilter::Exclude(BTreeSet::new()),
                },
            ]
        );
        assert!(host_wish_changes(&new, &new).is_empty());
    }
}
