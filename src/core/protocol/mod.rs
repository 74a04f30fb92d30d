//! Routing protocols as components of the manager.
//!
//! A protocol is a sans-IO state machine behind [`RoutingProtocol`]. The
//! router delivers the manager's callbacks to it as [`ProtoEvent`]s and
//! carries out the [`ProtoAction`]s it returns; it never calls into the
//! manager itself, so no callback can re-enter the manager. While it
//! handles an event a protocol sees a narrow read-only [`ProtoView`] of the
//! router's state, nothing else. The router does not know protocols by
//! name: it builds them from their configuration sections through the
//! [`registry`] and otherwise sees only this trait.
//!
//! Questions the manager asks a protocol are events too, answered by
//! actions: the RPF callback ([`ProtoEvent::RpfQuery`], answered by
//! [`ProtoAction::RpfAnswer`]) and the creation alert
//! ([`ProtoEvent::CreationAlert`], optionally answered by
//! [`ProtoAction::DisableOifs`]). A protocol may answer at once or later
//! (when it has asked a neighbour, say): the router installs a new flow
//! once the owner of its incoming interface has answered.
//!
//! Ownership is decided by configuration (which protocol owns which
//! interface names) and by `mgmctl take/release`; every change goes
//! through the router's one ownership path, which runs the disable/enable
//! sequence and then tells the protocol with [`ProtoEvent::InterfaceTaken`]
//! or [`ProtoEvent::InterfaceReleased`].
//!
//! **Hitless.** Alerts are delivered one by one, in the order the manager
//! raised them (a flush's prune alerts, then the re-add's join alerts), but
//! anything a protocol sends out of the box (reports upstream, host joins)
//! must be derived from its state at [`ProtoEvent::Commit`], which comes
//! once at the end of every top-level operation. A prune followed by the
//! matching join within one ownership change then sends nothing.
//!
//! # Adding a protocol
//!
//! A protocol is one folder, `src/core/protocol/<name>/`, with the same
//! rooms as `static_routes/` and `proxy/`:
//!
//! 1. `config.rs`: the section's raw form (serde, `deny_unknown_fields`,
//!    values `Spanned`), its validation into a config type (`Serialize`,
//!    `PartialEq`: comparing and printing it come with that) implementing
//!    [`registry::ProtocolConfig`] (errors through
//!    [`crate::core::config_check::Checker`], so they carry the file, line
//!    and column; its `diff` says what a reload changed), the
//!    [`crate::core::config_check::InterfaceUse`]s it reports (which
//!    interfaces it claims and owns, and what it needs of IGMP there), and
//!    a `pub const KIND: ProtocolKind` (its name, its parser, its tables'
//!    keys, the commands it adds to `mgmctl`, if any).
//! 2. `mod.rs`: the state machine implementing [`RoutingProtocol`].
//! 3. `status.rs`: what `mgmctl show protocols` shows of it, as a
//!    [`ProtoStatus`] of its own sections (values, blocks and tables of
//!    typed cells), which `mgmctl` prints as JSON and as text.
//! 4. If it has runtime edits people type: `cli.rs`, its `mgmctl`
//!    commands ([`registry::ProtoCli`]: clap subcommands and the edit each
//!    asks for; static's `route`, `join`, `leave` are the example). mgmctl
//!    adds them to its command line, help, man page and completions.
//! 5. One line in [`registry::PROTOCOLS`] and the `mod` line below.
//!
//! Nothing else changes: the configuration parser hands the section named
//! after the protocol to its `KIND.parse`, the router builds and drives it
//! through the trait, `mgmctl take/release` and the status view find it by
//! name, runtime edits addressed to it reach its config's
//! [`registry::ProtocolConfig::edit`], its notes are [`ProtoNote`]s of its
//! own kinds, and `mgmd check-system` asks its config for its
//! [`registry::ProtocolConfig::host_memberships`].
//!
//! A protocol outside mgmd (a test's) needs no line at all: a
//! [`registry::Registry`] with its kind goes to
//! [`crate::config::Config::parse_with`]; `tests/third_protocol.rs` does
//! that.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Instant;

use serde::Serialize;

use crate::core::filter::HostFilter;
use crate::core::mgm::MembershipFlags;
use crate::core::types::{FlowKey, GroupAddr, IfIndex, MembershipKey};

pub mod proxy;
pub mod registry;
pub mod static_routes;
pub mod status;
mod view;

pub use self::status::{Cell, ProtoStatus, StatusTable};
pub use self::view::ProtoView;

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
    /// The RPF callback: data of `flow`, which has no forwarding entry, arrived
    /// on `arrival`; `rpf` is the kernel's unicast answer (the interface
    /// towards the source, if it is one of ours). Asked of the owner of the
    /// RPF interface, else of the owner of the arrival interface. Answer
    /// with [`ProtoAction::RpfAnswer`], now or later.
    RpfQuery {
        flow: FlowKey,
        arrival: IfIndex,
        rpf: Option<IfIndex>,
    },
    /// The creation alert: the new entry of `flow` coming in on `iif` sends
    /// out of `oifs`, this protocol's interfaces. Answer with
    /// [`ProtoAction::DisableOifs`] for those that must not forward it;
    /// no answer keeps them all.
    CreationAlert {
        flow: FlowKey,
        iif: IfIndex,
        oifs: Vec<IfIndex>,
    },
    /// The forwarding entry of `flow` was created with an incoming
    /// interface this protocol owns (after its RPF answer). A protocol adds
    /// its outgoing interfaces for the flow here with
    /// [`MembershipFlags::FORWARD`] (e.g. static prefix routes).
    FlowCreated { flow: FlowKey, iif: IfIndex },
    /// A forwarding entry was created for `flow` with an incoming interface
    /// this protocol does not own (the proxy forwards what downstream
    /// senders send to its upstream, RFC 4605 4.2).
    FlowSeen { flow: FlowKey, iif: IfIndex },
    /// An IGMP message arrived on an interface this protocol owns.
    IgmpRx {
        ifindex: IfIndex,
        src: std::net::Ipv4Addr,
        dst: std::net::Ipv4Addr,
        payload: Vec<u8>,
    },
    /// `now` reached the protocol's [`RoutingProtocol::next_deadline`].
    Timer,
    /// End of one top-level operation: act on the net result.
    Commit,
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
    /// Forget the forwarding entries coming in on `iif` so that they are
    /// decided again (e.g. after an upstream switch).
    FlushFlows { iif: IfIndex },
    /// The answer to [`ProtoEvent::RpfQuery`]: the incoming interface of
    /// `flow`, or `None` to refuse it (it is then installed as a drop entry).
    RpfAnswer { flow: FlowKey, iif: Option<IfIndex> },
    /// The answer to [`ProtoEvent::CreationAlert`]: these of the
    /// protocol's interfaces do not forward `flow`.
    DisableOifs { flow: FlowKey, oifs: Vec<IfIndex> },
    /// Something worth telling the operator (logged, streamed by
    /// `mgmctl events`).
    Note(ProtoNote),
}

/// What a protocol tells about itself: a note of its own kind with typed
/// fields, which the router logs and `mgmctl events` streams. Interfaces
/// are named by the router. Any protocol may define its notes; nothing
/// outside it needs to know them:
///
/// ```
/// # use mgmd::core::protocol::{NoteValue, ProtoNote};
/// # use mgmd::core::types::IfIndex;
/// let note = ProtoNote::new("upstream-changed", "upstream {old} -> {new}")
///     .with("old", NoteValue::Interface(None))
///     .with("new", NoteValue::Interface(Some(IfIndex(3))));
/// assert_eq!(note.to_string(), "upstream none -> 3");
/// ```
///
/// In events it reads `{"note":"upstream-changed","old":null,"new":...}`:
/// the kind, then the fields in the order given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtoNote<I = IfIndex> {
    /// What kind of note this is, in kebab-case.
    pub kind: &'static str,
    /// The log line, with `{field}` where a field's value goes.
    pub text: &'static str,
    /// Routine detail (logged at debug) rather than a change of state.
    pub detail: bool,
    pub fields: Vec<(&'static str, NoteValue<I>)>,
}

/// One field of a [`ProtoNote`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum NoteValue<I = IfIndex> {
    /// An interface, or none (written "none").
    Interface(Option<I>),
    Flow(FlowKey),
    Group(GroupAddr),
    Address(std::net::IpAddr),
    Count(u64),
    Text(String),
}

impl<I> ProtoNote<I> {
    /// A note of `kind` that the log writes as `text`.
    pub fn new(kind: &'static str, text: &'static str) -> ProtoNote<I> {
        ProtoNote {
            kind,
            text,
            detail: false,
            fields: Vec::new(),
        }
    }

    /// The note with the field `name` added.
    pub fn with(mut self, name: &'static str, value: NoteValue<I>) -> ProtoNote<I> {
        self.fields.push((name, value));
        self
    }

    /// The note as routine detail (logged at debug).
    pub fn detail(mut self) -> ProtoNote<I> {
        self.detail = true;
        self
    }

    /// Routine detail (logged at debug) rather than a change of state.
    pub fn is_detail(&self) -> bool {
        self.detail
    }

    /// The same note with interfaces renamed.
    pub fn map<I2>(self, f: impl Fn(I) -> I2) -> ProtoNote<I2> {
        let fields = self
            .fields
            .into_iter()
            .map(|(name, v)| {
                let v = match v {
                    NoteValue::Interface(i) => NoteValue::Interface(i.map(&f)),
                    NoteValue::Flow(x) => NoteValue::Flow(x),
                    NoteValue::Group(x) => NoteValue::Group(x),
                    NoteValue::Address(x) => NoteValue::Address(x),
                    NoteValue::Count(x) => NoteValue::Count(x),
                    NoteValue::Text(x) => NoteValue::Text(x),
                };
                (name, v)
            })
            .collect();
        ProtoNote {
            kind: self.kind,
            text: self.text,
            detail: self.detail,
            fields,
        }
    }
}

impl<I: Serialize> Serialize for ProtoNote<I> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.fields.len() + 1))?;
        m.serialize_entry("note", self.kind)?;
        for (name, value) in &self.fields {
            m.serialize_entry(name, value)?;
        }
        m.end()
    }
}

impl<I: fmt::Display> fmt::Display for NoteValue<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoteValue::Interface(None) => f.write_str("none"),
            NoteValue::Interface(Some(i)) => i.fmt(f),
            NoteValue::Flow(x) => x.fmt(f),
            NoteValue::Group(x) => x.fmt(f),
            NoteValue::Address(x) => x.fmt(f),
            NoteValue::Count(x) => x.fmt(f),
            NoteValue::Text(x) => f.write_str(x),
        }
    }
}

/// The note's text with each `{field}` replaced by its value (a name no
/// field has stays as written).
impl<I: fmt::Display> fmt::Display for ProtoNote<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.text;
        while let Some(open) = rest.find('{') {
            let Some(len) = rest[open..].find('}') else {
                break;
            };
            let name = &rest[open + 1..open + len];
            f.write_str(&rest[..open])?;
            match self.fields.iter().find(|(n, _)| *n == name) {
                Some((_, v)) => v.fmt(f)?,
                None => f.write_str(&rest[open..=open + len])?,
            }
            rest = &rest[open + len + 1..];
        }
        f.write_str(rest)
    }
}

/// A routing protocol component.
pub trait RoutingProtocol: Send {
    /// The name used in configuration, logs and `mgmctl` ("static", "proxy").
    fn name(&self) -> &'static str;

    /// Handle one callback or input.
    fn handle(&mut self, view: &ProtoView<'_>, ev: ProtoEvent) -> Vec<ProtoAction>;

    /// When the protocol next wants a [`ProtoEvent::Timer`].
    fn next_deadline(&self) -> Option<Instant> {
        None
    }

    /// What `mgmctl show protocols` shows of the protocol, in sections of
    /// its own ([`ProtoStatus::new`] for nothing).
    fn status(&self, view: &ProtoView<'_>) -> ProtoStatus;
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
            filter: HostFilter::none(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::net::{IpAddr, Ipv4Addr};

    fn g(s: &str) -> GroupAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_note_reads_as_its_text_and_serializes_kind_first() {
        let note = ProtoNote::new("route-matched", "a route matched {flow} on {iif} ({x})")
            .with(
                "flow",
                NoteValue::Flow(FlowKey {
                    group: g("239.1.1.1"),
                    source: Ipv4Addr::new(10, 0, 0, 1).into(),
                }),
            )
            .with("iif", NoteValue::Interface(Some(IfIndex(3))))
            .detail();
        assert_eq!(
            note.to_string(),
            "a route matched (10.0.0.1,239.1.1.1) on 3 ({x})"
        );
        assert!(note.is_detail());
        assert_eq!(
            serde_json::to_string(&note.map(|i| i.0 + 1)).unwrap(),
            r#"{"note":"route-matched","flow":{"group":"239.1.1.1","source":"10.0.0.1"},"iif":4}"#
        );
    }

    #[test]
    fn wish_changes_are_net() {
        let a: IpAddr = Ipv4Addr::new(10, 0, 0, 1).into();
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
