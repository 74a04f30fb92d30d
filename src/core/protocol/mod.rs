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

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Instant;

use crate::core::iface::IfaceTable;
use crate::core::mgm::{MembershipFlags, Mgm};
use crate::core::types::{FlowKey, GroupAddr, IfIndex, MembershipKey, ProtoId};

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

/// Build the routing protocols the config asks for, in a fixed order.
pub fn build(cfg: &crate::config::Config) -> Vec<Box<dyn RoutingProtocol>> {
    let _ = cfg;
    Vec::new()
}
