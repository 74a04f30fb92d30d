//! What a protocol's actions cause is done in the order it gave them, each
//! with everything it causes, and a protocol that never stops answering
//! cannot hang the router.

use std::sync::Arc;
use std::time::Instant;

mod common;

use common::{events, join};
use mgmd::config::{Checker, Config, ConfigError};
use mgmd::core::event::{Event, NamedEffect, OwnerOp};
use mgmd::core::mgm::MembershipFlags;
use mgmd::core::protocol::registry::{
    ParsedSection, ProtocolConfig, ProtocolKind, Registry, TableKeys,
};
use mgmd::core::protocol::{ProtoAction, ProtoEvent, ProtoStatus, ProtoView, RoutingProtocol};
use mgmd::core::router::Router;
use mgmd::core::types::IfIndex;

const UP0: IfIndex = IfIndex(2);
const LAN1: IfIndex = IfIndex(3);
const LAN2: IfIndex = IfIndex(4);

/// What the test protocol does.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Mode {
    /// At the first join alert: takes lan2, then adds the alerted group
    /// there (which needs the ownership the first action asked for).
    TakeThenJoin,
    /// Takes lan2 at the first join alert, releases it when told it has
    /// it, takes it again when told it lost it: forever.
    Flap,
}

struct Grabber {
    mode: Mode,
    started: bool,
}

impl RoutingProtocol for Grabber {
    fn name(&self) -> &'static str {
        "grabber"
    }
    fn handle(&mut self, _view: &ProtoView<'_>, ev: ProtoEvent) -> Vec<ProtoAction> {
        match (self.mode, ev) {
            (_, ProtoEvent::JoinAlert { key, .. }) if !self.started => {
                self.started = true;
                let mut actions = vec![ProtoAction::TakeInterface { ifindex: LAN2 }];
                if self.mode == Mode::TakeThenJoin {
                    actions.push(ProtoAction::AddMembership {
                        key,
                        ifindex: LAN2,
                        flags: MembershipFlags::JOIN,
                    });
                }
                actions
            }
            (Mode::Flap, ProtoEvent::InterfaceTaken { ifindex }) => {
                vec![ProtoAction::ReleaseInterface { ifindex }]
            }
            (Mode::Flap, ProtoEvent::InterfaceReleased { ifindex }) => {
                vec![ProtoAction::TakeInterface { ifindex }]
            }
            _ => Vec::new(),
        }
    }
    fn status(&self, _view: &ProtoView<'_>) -> ProtoStatus {
        ProtoStatus::new()
    }
}

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct GrabberConfig {
    mode: Mode,
}

impl ProtocolConfig for GrabberConfig {
    fn name(&self) -> &'static str {
        "grabber"
    }
    fn owned_interfaces(&self) -> &[String] {
        &[]
    }
    fn build(&self) -> Box<dyn RoutingProtocol> {
        Box::new(Grabber {
            mode: self.mode,
            started: false,
        })
    }
}

fn parse_grabber(
    c: &Checker<'_>,
    value: toml::Spanned<toml::de::DeValue<'_>>,
) -> Result<ParsedSection, ConfigError> {
    let config: GrabberConfig = c.section(value)?;
    Ok(ParsedSection {
        config: Arc::new(config),
        uses: Vec::new(),
    })
}

const GRABBER: ProtocolKind = ProtocolKind {
    name: "grabber",
    parse: parse_grabber,
    keys: || {
        vec![TableKeys {
            table: "grabber".into(),
            keys: mgmd::core::config_check::table_keys::<GrabberConfig>(),
        }]
    },
    cli: None,
};

/// A router with the test protocol, its interfaces known; then a member
/// on lan1, whose join alert sets the protocol going.
fn run(mode: &str) -> Vec<Event> {
    let text = format!(
        "[[interface]]\nname = \"up0\"\n[[interface]]\nname = \"lan1\"\n[[interface]]\n\
         name = \"lan2\"\n[grabber]\nmode = \"{mode}\"\n"
    );
    let cfg = Config::parse_with(&Registry::default().with(GRABBER), &text, "test.toml").unwrap();
    let t0 = Instant::now();
    let mut r = Router::new(cfg, t0);
    r.step(
        t0,
        [common::snapshot(&[
            (UP0, "up0", "10.0.1.1"),
            (LAN1, "lan1", "10.0.2.1"),
            (LAN2, "lan2", "10.0.3.1"),
        ])],
    );
    let out = r.step(t0, [join(LAN1)]);
    // The router still serves after whatever the protocol did.
    assert!(!r.memberships_on(LAN1).is_empty());
    events(&out)
}

#[test]
fn an_action_after_a_take_runs_once_the_whole_sequence_is_done() {
    let ev = run("take-then-join");
    let pos = |pred: &dyn Fn(&Event) -> bool| ev.iter().position(pred);
    let started = pos(&|e| {
        matches!(e, Event::OwnershipStarted { interface, op: OwnerOp::Take, protocol: "grabber" } if interface.ifindex == LAN2)
    })
    .expect("the take starts");
    let complete = pos(&|e| {
        matches!(e, Event::OwnershipComplete { interface, op: OwnerOp::Take, protocol: "grabber" } if interface.ifindex == LAN2)
    })
    .expect("the take completes");
    let added = pos(&|e| {
        matches!(e, Event::Effect(NamedEffect::MembershipAdded { ifindex, by: "grabber", .. }) if ifindex.ifindex == LAN2)
    })
    .expect("the membership the second action asked for is added");
    assert!(started < complete && complete < added, "{ev:#?}");
    assert!(
        !ev.iter().any(|e| matches!(e, Event::ManagerError { .. })),
        "{ev:#?}"
    );
}

#[test]
fn a_protocol_that_never_stops_answering_is_stopped_and_said() {
    let ev = run("flap");
    assert!(
        ev.iter().any(|e| matches!(e, Event::EffectLoop)),
        "the loop is cut and reported"
    );
}
