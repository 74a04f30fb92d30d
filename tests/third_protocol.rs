//! A third routing protocol that lives here, not in mgmd: `relay`, a
//! minimal proxy. It owns its `[relay] upstream` interface, answers the
//! RPF question for flows arriving there, joins upstream as a host the
//! groups IGMP learned on the interfaces it is given, and tells when it
//! does. It plugs in through the public API only (a registry with its
//! kind, its section parsed by its own code, notes of its own), which is
//! what adding a
//! protocol to mgmd takes besides one registry line.
//!
//! The golden scenario (`tests/third_protocol/input.jsonl`, replayed like
//! the recordings in `tests/scenarios/`): IGMP learns a member on lan1;
//! `take lan1 relay` runs the disable/enable sequence, which hands IGMP's
//! membership to the relay as a local join; a flow arriving on the
//! upstream gets a forwarding entry towards lan1; `release lan1 relay`
//! gives lan1 back to IGMP alone, the entry stays for IGMP's member and
//! the upstream membership is left after the hold time.
//! `UPDATE_GOLDEN=1 cargo test --test third_protocol` writes
//! `expected.jsonl` anew; review its diff.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

mod common;

use mgmd::config::{Checker, ConfigError, IgmpUse, InterfaceUse};
use mgmd::core::filter::HostFilter;
use mgmd::core::protocol::registry::{
    ParsedSection, ProtocolConfig, ProtocolKind, Registry, TableKeys,
};
use mgmd::core::protocol::{
    Cell, NoteValue, ProtoAction, ProtoEvent, ProtoNote, ProtoStatus, ProtoView, RoutingProtocol,
    StatusTable,
};
use mgmd::core::types::{GroupAddr, IfIndex};
use serde::{Deserialize, Serialize};
use toml::Spanned;
use toml::de::DeValue;

// ===== the protocol's configuration =====

const NAME: &str = "relay";

/// The relay in a registry.
const KIND: ProtocolKind = ProtocolKind {
    name: NAME,
    parse,
    keys: || {
        vec![TableKeys {
            table: NAME.into(),
            keys: mgmd::core::config_check::table_keys::<RawRelay>(),
        }]
    },
    cli: None,
};

/// `[relay]`, validated.
#[derive(Clone, Debug, PartialEq, Serialize)]
struct RelayConfig {
    /// The one interface the relay owns by configuration.
    owned: Vec<String>,
}

/// `[relay]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRelay {
    upstream: Spanned<String>,
}

fn parse(c: &Checker<'_>, value: Spanned<DeValue<'_>>) -> Result<ParsedSection, ConfigError> {
    let raw: RawRelay = c.section(value)?;
    let name = raw.upstream.get_ref().trim().to_owned();
    if name.is_empty() {
        return Err(c.err(
            raw.upstream.span(),
            "upstream is empty; name the interface the relay receives from".to_owned(),
        ));
    }
    Ok(ParsedSection {
        uses: vec![InterfaceUse {
            name: name.clone(),
            role: "upstream",
            span: raw.upstream.span(),
            claim: true,
            owned: true,
            igmp: IgmpUse::Indifferent,
        }],
        config: Arc::new(RelayConfig { owned: vec![name] }),
    })
}

impl ProtocolConfig for RelayConfig {
    fn name(&self) -> &'static str {
        NAME
    }

    fn owned_interfaces(&self) -> &[String] {
        &self.owned
    }

    fn build(&self) -> Box<dyn RoutingProtocol> {
        Box::new(Relay {
            upstream: self.owned[0].clone(),
            members: BTreeSet::new(),
            joined: BTreeSet::new(),
        })
    }
}

// ===== the protocol =====

struct Relay {
    upstream: String,
    /// What IGMP learned on the interfaces the relay owns.
    members: BTreeSet<(IfIndex, GroupAddr)>,
    /// The groups joined upstream at the last commit.
    joined: BTreeSet<GroupAddr>,
}

impl RoutingProtocol for Relay {
    fn name(&self) -> &'static str {
        NAME
    }

    fn handle(&mut self, view: &ProtoView<'_>, ev: ProtoEvent) -> Vec<ProtoAction> {
        let upstream = view.owned_named(&self.upstream);
        match ev {
            ProtoEvent::RpfQuery { flow, arrival, rpf } => {
                let iif = if Some(arrival) == upstream {
                    Some(arrival)
                } else {
                    rpf
                };
                vec![ProtoAction::RpfAnswer { flow, iif }]
            }
            ProtoEvent::LocalJoin { key, ifindex } => {
                self.members.insert((ifindex, key.group));
                Vec::new()
            }
            ProtoEvent::LocalLeave { key, ifindex } => {
                self.members.remove(&(ifindex, key.group));
                Vec::new()
            }
            ProtoEvent::InterfaceReleased { ifindex } => {
                self.members.retain(|(i, _)| *i != ifindex);
                Vec::new()
            }
            ProtoEvent::Commit => {
                let Some(up) = upstream else {
                    return Vec::new();
                };
                let wanted: BTreeSet<GroupAddr> = self.members.iter().map(|(_, g)| *g).collect();
                let leave = self.joined.difference(&wanted).map(|&group| (group, false));
                let join = wanted.difference(&self.joined).map(|&group| (group, true));
                let mut actions = Vec::new();
                for (group, on) in leave.chain(join) {
                    let (filter, text) = if on {
                        (
                            HostFilter::Exclude(BTreeSet::new()),
                            "joins {group} on {upstream}",
                        )
                    } else {
                        (HostFilter::none(), "leaves {group} on {upstream}")
                    };
                    actions.push(ProtoAction::HostMembership {
                        ifindex: up,
                        group,
                        filter,
                    });
                    let note = ProtoNote::new("upstream-membership", text)
                        .with("group", NoteValue::Group(group))
                        .with("upstream", NoteValue::Interface(Some(up)));
                    actions.push(ProtoAction::Note(note));
                }
                self.joined = wanted;
                actions
            }
            _ => Vec::new(),
        }
    }

    fn status(&self, _view: &ProtoView<'_>) -> ProtoStatus {
        relay_status(&self.upstream, &self.joined)
    }
}

fn relay_status(upstream: &str, joined: &BTreeSet<GroupAddr>) -> ProtoStatus {
    let joined = joined.iter().fold(StatusTable::new(&["group"]), |t, g| {
        t.row(vec![Cell::Group(*g)])
    });
    ProtoStatus::new()
        .value("upstream", Cell::Interface(upstream.to_owned()))
        .table("joined", joined)
}

// ===== the scenario =====

/// Each step's outputs, one JSON line per step (as `mgmd replay --json`
/// prints them).
fn replay(input: &Path) -> String {
    common::replay_outputs(&Registry::default().with(KIND), input)
}

// Input: a member on lan1, take lan1, a flow on up0, release lan1, timer.
// Output: the sequence hands the member to the relay, which joins upstream;
// the entry up0 -> lan1 is installed; the release leaves it for IGMP, and
// the upstream membership is left after the hold.
#[test]
fn a_protocol_outside_mgmd_takes_forwards_and_releases() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/third_protocol");
    let got = replay(&dir.join("input.jsonl"));
    let expected_path = dir.join("expected.jsonl");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&expected_path, &got).unwrap();
    }
    let expected = std::fs::read_to_string(&expected_path).unwrap();
    for (i, (g, e)) in got.lines().zip(expected.lines()).enumerate() {
        assert_eq!(g, e, "step {} differs from expected.jsonl", i + 1);
    }
    assert_eq!(got.lines().count(), expected.lines().count());

    // What the scenario is about, spelled out.
    let steps: Vec<serde_json::Value> = got
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let has = |step: usize, needle: &str| steps[step]["out"].to_string().contains(needle);
    assert!(
        has(0, r#""new":"relay""#),
        "the relay owns up0 by configuration"
    );
    assert!(has(2, r#""effect":"disable-igmp""#) && has(2, r#""effect":"enable-igmp""#));
    assert!(
        has(2, r#""to":"relay""#),
        "IGMP's member is handed to the relay"
    );
    assert!(
        has(2, r#""host-membership""#) && has(2, r#""mode":"exclude""#),
        "the relay joins upstream"
    );
    assert!(
        has(
            2,
            r#"{"group":"239.1.1.1","note":"upstream-membership","upstream":{"ifindex":2,"name":"up0"}}"#
        ),
        "its note is an event like any protocol's"
    );
    assert!(has(3, r#""add-mfc""#), "the flow is installed");
    assert!(has(4, r#""op":"release""#) && !has(4, r#""del-mfc""#));
    assert!(has(5, r#""host-membership""#) && has(5, r#""mode":"include""#));
}

/// The relay's note reads in the log as it wrote it.
#[test]
fn its_notes_are_logged_in_its_words() {
    use mgmd::core::event::Event;
    use mgmd::core::types::{IfName, Iface};
    let up0 = Iface {
        ifindex: IfIndex(2),
        name: IfName::lossy("up0"),
    };
    let note = ProtoNote::new("upstream-membership", "joins {group} on {upstream}")
        .with("group", NoteValue::Group("239.1.1.1".parse().unwrap()))
        .with("upstream", NoteValue::Interface(Some(up0)));
    let event = Event::Protocol {
        protocol: NAME,
        note,
    };
    assert_eq!(event.to_string(), "relay: joins 239.1.1.1 on up0");
    assert_eq!(event.kind(), "protocol");
}

/// The relay's section is checked by its own code, with the file's
/// positions; a file naming it is refused by mgmd's own registry.
#[test]
fn the_section_is_the_protocol_s_own() {
    let registry = Registry::default().with(KIND);
    let cfg =
        mgmd::config::Config::parse_with(&registry, "[relay]\nupstream = \"up0\"\n", "t").unwrap();
    assert_eq!(cfg.owner_of("up0"), Some(NAME));
    let e = mgmd::config::Config::parse_with(&registry, "[relay]\nupstream = \" \"\n", "t")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("t:2:12: upstream is empty"), "{e}");
    let e = mgmd::config::Config::parse("[relay]\nupstream = \"up0\"\n", "t")
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown key `relay`"), "{e}");
}

/// The relay's status travels and prints like static's or proxy's: mgmctl
/// reads it back from the reply and renders it without knowing the relay.
#[test]
fn its_status_reads_back_and_prints_without_mgmd_knowing_it() {
    use mgmd::core::status::ProtocolView;
    let joined = ["239.1.1.1".parse().unwrap(), "239.1.1.2".parse().unwrap()].into();
    let view = ProtocolView {
        name: NAME.to_owned(),
        interfaces: vec!["up0".into()],
        detail: relay_status("up0", &joined),
    };
    let wire = serde_json::to_value(&view).unwrap();
    assert_eq!(
        wire["detail"],
        serde_json::json!({"upstream": "up0", "joined": [{"group": "239.1.1.1"}, {"group": "239.1.1.2"}]})
    );
    let back: ProtocolView = serde_json::from_value(wire).unwrap();
    assert_eq!(
        back.detail.to_string(),
        "upstream: up0\njoined:\n  GROUP\n  239.1.1.1\n  239.1.1.2\n"
    );
}
