//! Live reconfiguration: a reload (or a runtime edit) applies a new
//! configuration as its difference from the running one, in one input.
//!
//! What changes:
//! - `[global]`: the idle time of forwarding entries takes effect at once,
//!   and so does `log-level` (the daemon changes its filter, unless
//!   `--log-level` or `RUST_LOG` chose it); the table, control socket,
//!   pid file and metrics address only at the next restart (the running
//!   values stay, and the report says so).
//! - Interfaces the configuration starts or stops naming start or stop
//!   (stopping runs the ownership sequence for their owner).
//! - IGMP switched on or off on an interface starts or stops there; changed
//!   IGMP settings reach the interface's IGMP as a new configuration
//!   (learned groups stay, a new version converts them; what new filters
//!   or limits refuse goes, and is logged).
//! - A protocol section that appears is started, one that goes is stopped
//!   (its interfaces released), one that changed is replaced by an instance
//!   built on the new section: the old one releases its interfaces and the
//!   new one takes them back, all inside the input. The kernel sees only the
//!   net result (D5), the merged host memberships only their net change,
//!   so a replaced protocol costs no packet and no upstream leave.
//! - Interfaces whose owner by configuration changed move to their new
//!   owner through the ownership sequence.
//!
//! Everything that did not change is not touched.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;

use super::Router;
use crate::config::{Config, Overrides};
use crate::core::control::Answer;
use crate::core::event::{Event, OwnerOp};
use crate::core::igmp::IgmpEvent;
use crate::core::mgm::MgmError;
use crate::core::protocol::registry::{Edited, ProtocolConfig, Running};
use crate::core::status::{ConfigChange, ConfigView, ReloadReport};
use crate::core::types::{ComponentId, IfIndex, ProtoId};

impl Router {
    /// `mgmctl reload`, SIGHUP: validate `text` completely, then apply it.
    pub(super) fn reload(
        &mut self,
        now: Instant,
        path: &str,
        text: &str,
        overrides: &Overrides,
    ) -> Result<Answer, String> {
        let new = match Config::parse_with(&self.cfg.registry, text, path) {
            Ok(mut c) => {
                overrides.apply(&mut c);
                c
            }
            Err(e) => {
                let error = e.to_string();
                self.counters.reloads_refused += 1;
                self.emit(Event::ConfigRefused {
                    how: "reload",
                    error: error.clone(),
                });
                return Err(error);
            }
        };
        self.runtime_edits.clear();
        let report = self.apply_config(now, new);
        self.emit(Event::ConfigApplied {
            how: "reload",
            changes: report.changes.clone(),
            warnings: report.warnings.clone(),
        });
        Ok(Answer::Reload(report))
    }

    /// `mgmctl route|join|leave`: a runtime edit of one protocol's
    /// section, which that protocol reads and applies.
    pub(super) fn edit_section(
        &mut self,
        now: Instant,
        protocol: &str,
        edit: &Value,
    ) -> Result<Answer, String> {
        let (cfg, edited) = match self.edited_config(protocol, edit) {
            Ok(r) => r,
            Err(error) => {
                self.counters.reloads_refused += 1;
                self.emit(Event::ConfigRefused {
                    how: "runtime edit",
                    error: error.clone(),
                });
                return Err(error);
            }
        };
        let mut report = self.apply_config(now, cfg);
        report.warnings.extend(edited.warnings);
        self.runtime_edits.push(edited.text);
        self.emit(Event::ConfigApplied {
            how: "runtime edit",
            changes: report.changes.clone(),
            warnings: report.warnings.clone(),
        });
        Ok(Answer::Reload(report))
    }

    /// `mgmctl show config`.
    pub(super) fn show_config(&self) -> Answer {
        Answer::Config(Box::new(ConfigView {
            config: serde_json::to_value(&self.cfg).unwrap_or_default(),
            runtime_edits: self.runtime_edits.clone(),
        }))
    }

    /// The running configuration with `edit` applied to `protocol`'s
    /// section.
    fn edited_config(&self, protocol: &str, edit: &Value) -> Result<(Config, Edited), String> {
        let Some(current) = self.cfg.section(protocol) else {
            return Err(match self.cfg.registry.find(protocol) {
                Some(_) => format!(
                    "no [{protocol}] section is configured; runtime edits of {protocol} need one"
                ),
                None => {
                    let known: Vec<&str> =
                        self.cfg.registry.kinds().iter().map(|k| k.name).collect();
                    format!(
                        "no routing protocol named {protocol} (known: {})",
                        known.join(", ")
                    )
                }
            });
        };
        let igmp_on = |name: &str| self.cfg.interface(name).is_some_and(|i| i.igmp.is_some());
        let running = Running { igmp_on: &igmp_on };
        let edited = current.edit(edit, &running)?;
        let mut cfg = self.cfg.clone();
        for p in cfg.protocols.iter_mut() {
            if p.name() == protocol {
                *p = Arc::clone(&edited.config);
            }
        }
        cfg.warnings.clear();
        Ok((cfg, edited))
    }

    /// Applies `new` as its difference from the running configuration.
    fn apply_config(&mut self, now: Instant, mut new: Config) -> ReloadReport {
        let mut report = ReloadReport {
            changes: Vec::new(),
            warnings: new.warnings.iter().map(|w| w.to_string()).collect(),
        };
        let mut change = |section: &str, change: String| {
            report.changes.push(ConfigChange {
                section: section.to_owned(),
                change,
            })
        };

        // Keys only a restart can change keep their running values.
        let g = (&self.cfg.global, &mut new.global);
        for (key, differs) in [
            ("table", g.0.table != g.1.table),
            ("control-socket", g.0.control_socket != g.1.control_socket),
            ("pid-file", g.0.pid_file != g.1.pid_file),
            ("metrics-listen", g.0.metrics_listen != g.1.metrics_listen),
        ] {
            if differs {
                change(
                    "global",
                    format!("{key} changes at the next restart; the running value stays"),
                );
            }
        }
        new.global.table = self.cfg.global.table;
        new.global.control_socket = self.cfg.global.control_socket.clone();
        new.global.pid_file = self.cfg.global.pid_file.clone();
        new.global.metrics_listen = self.cfg.global.metrics_listen;
        for c in json_changes(&to_json(&self.cfg.global), &to_json(&new.global)) {
            change("global", c);
        }
        let idle_changed = self.cfg.global.mfe_idle_timeout != new.global.mfe_idle_timeout;

        let old = std::mem::replace(&mut self.cfg, new);
        if idle_changed {
            self.flows
                .recompute_idle_deadline(self.cfg.global.mfe_idle_timeout);
        }

        // Protocols: gone, replaced, new. A replaced one hands its
        // interfaces to its successor quietly; what really changed owner
        // is told once the successors took theirs back.
        let owners_before = self.owners_by_name();
        let mut replaced: BTreeSet<&'static str> = BTreeSet::new();
        let mut taken_back: Vec<(ProtoId, Vec<IfIndex>)> = Vec::new();
        for kind in old.registry.kinds() {
            let (o, n) = (
                old.section(kind.name).cloned(),
                self.cfg.section(kind.name).cloned(),
            );
            match (o, n) {
                (None, None) => {}
                (Some(o), Some(n)) if o.same_as(n.as_ref()) => {}
                (Some(o), n) => {
                    self.handover = n.is_some();
                    if self.handover {
                        replaced.insert(kind.name);
                    }
                    let owned = self.stop_protocol(now, kind.name);
                    match n {
                        None => change(kind.name, "removed".to_owned()),
                        Some(n) => {
                            for c in o.diff(n.as_ref()) {
                                change(kind.name, c.to_string());
                            }
                            // Interfaces it owned come back to it, but for
                            // those the configuration no longer gives it.
                            let dropped: BTreeSet<&String> = o
                                .owned_interfaces()
                                .iter()
                                .filter(|i| !n.owned_interfaces().contains(i))
                                .collect();
                            let back = owned
                                .into_iter()
                                .filter(|i| {
                                    self.ifaces
                                        .get(*i)
                                        .is_some_and(|l| !dropped.contains(&l.name))
                                })
                                .collect();
                            if let Some(id) = self.start_protocol(now, n.as_ref()) {
                                taken_back.push((id, back));
                            }
                        }
                    }
                    self.handover = false;
                }
                (None, Some(n)) => {
                    change(kind.name, "added".to_owned());
                    self.start_protocol(now, n.as_ref());
                }
            }
        }
        self.handover = true;
        for (id, ifaces) in taken_back {
            for ifindex in ifaces {
                if self.routing_owner(ifindex).is_none() {
                    self.owner_op(now, ifindex, OwnerOp::Take, id);
                }
            }
        }
        self.handover = false;
        self.tell_handovers(&owners_before, &replaced);

        // Interfaces: started, stopped, IGMP on, off, changed.
        let mut names: BTreeSet<String> = BTreeSet::new();
        for c in [&old, &self.cfg] {
            names.extend(c.interfaces.iter().map(|i| i.name.clone()));
        }
        for name in names {
            let was = old.interface(&name).is_some() || old.owner_of(&name).is_some();
            let is = self.is_configured(&name);
            let ifindex = self.ifaces.by_name(&name).map(|l| l.ifindex);
            let known = ifindex.is_some_and(|i| self.mgm.interface(i).is_some());
            let section = format!("interface {name}");
            match (was, is) {
                (true, false) => {
                    change(&section, "no longer configured".to_owned());
                    if let (Some(i), true) = (ifindex, known) {
                        self.iface_stop(now, i);
                    }
                    continue;
                }
                (false, true) => {
                    change(&section, "added".to_owned());
                    if let (Some(i), false) = (ifindex, known) {
                        self.iface_start(now, i, &name);
                    }
                    continue;
                }
                _ => {}
            }
            let old_igmp = old.interface(&name).and_then(|i| i.igmp.clone());
            let new_igmp = self.igmp_cfg(&name);
            let Some(ifindex) = ifindex.filter(|_| known) else {
                if old_igmp != new_igmp {
                    change(
                        &section,
                        "IGMP settings changed (it is not present)".to_owned(),
                    );
                }
                continue;
            };
            match (old_igmp, new_igmp) {
                (Some(_), None) => {
                    change(&section, "IGMP off".to_owned());
                    self.igmp_stop(now, ifindex);
                    match self.mgm.release_ownership(ComponentId::Igmp, ifindex) {
                        Ok(effects) => self.process_effects(now, effects),
                        Err(e) => self.mgm_error("stopping IGMP", e),
                    }
                }
                (None, Some(_)) => {
                    change(&section, "IGMP on".to_owned());
                    match self.mgm.take_ownership(ComponentId::Igmp, ifindex) {
                        Ok(effects) => self.process_effects(now, effects),
                        Err(e) => self.mgm_error("starting IGMP", e),
                    }
                    if self.mgm.interface(ifindex).is_some_and(|i| i.up) {
                        self.igmp_start(now, ifindex);
                    }
                }
                (Some(a), Some(b)) if a != b => {
                    for c in json_changes(&to_json(&a), &to_json(&b)) {
                        change(&format!("igmp {name}"), c);
                    }
                    if let Some(r) = self.igmp.get_mut(&ifindex) {
                        let actions = r.handle(now, IgmpEvent::ConfigChanged(b));
                        self.igmp_actions(now, ifindex, actions);
                    }
                }
                _ => {}
            }
        }

        // Owners by configuration.
        let known: Vec<(IfIndex, String)> = self
            .mgm
            .interfaces()
            .map(|(i, m)| (i, m.name.clone()))
            .collect();
        for (ifindex, name) in known {
            let (was, is) = (old.owner_of(&name), self.cfg.owner_of(&name));
            if was == is {
                continue;
            }
            let current = self.routing_owner(ifindex);
            if let Some(cur) = current.filter(|c| Some(self.proto_name(*c)) == was) {
                change(
                    &format!("interface {name}"),
                    format!("released by {}", self.proto_name(cur)),
                );
                self.owner_op(now, ifindex, OwnerOp::Release, cur);
            }
            if let Some(id) = is.and_then(|p| self.proto_id(p)) {
                if self.routing_owner(ifindex).is_none() {
                    change(
                        &format!("interface {name}"),
                        format!("taken by {}", self.proto_name(id)),
                    );
                    self.owner_op(now, ifindex, OwnerOp::Take, id);
                }
            }
        }

        self.counters.reloads += 1;
        report
    }

    /// Builds and registers a protocol on its section; its interfaces are
    /// taken as they are configured.
    fn start_protocol(&mut self, now: Instant, cfg: &dyn ProtocolConfig) -> Option<ProtoId> {
        self.register(now, cfg.build());
        let id = self.proto_id(cfg.name())?;
        let mine: Vec<IfIndex> = cfg
            .owned_interfaces()
            .iter()
            .filter_map(|n| self.ifaces.by_name(n).map(|l| l.ifindex))
            .filter(|i| self.mgm.interface(*i).is_some() && self.routing_owner(*i).is_none())
            .collect();
        for ifindex in mine {
            self.owner_op(now, ifindex, OwnerOp::Take, id);
        }
        Some(id)
    }

    /// Stops the protocol called `name`: it releases every interface it
    /// owns (the ownership sequence), its host memberships are withdrawn
    /// (held, as any withdrawal) and it leaves the manager. Returns the
    /// interfaces it owned.
    fn stop_protocol(&mut self, now: Instant, name: &str) -> Vec<IfIndex> {
        let Some(id) = self.proto_id(name) else {
            return Vec::new();
        };
        let owned: Vec<IfIndex> = self
            .mgm
            .interfaces()
            .filter(|(_, i)| i.owner == Some(id))
            .map(|(i, _)| i)
            .collect();
        for &ifindex in &owned {
            self.owner_op(now, ifindex, OwnerOp::Release, id);
        }
        self.hosts.withdraw_all(id);
        self.flows.forget_questions_to(id);
        if let Err(e) = self.mgm.deregister(id) {
            self.mgm_error("stopping a protocol", e);
        }
        self.protocols.retain(|p| p.id != id);
        owned
    }

    /// Each interface's routing owner, by protocol name.
    fn owners_by_name(&self) -> Vec<(IfIndex, Option<&'static str>)> {
        self.mgm
            .interfaces()
            .map(|(i, info)| (i, info.owner.map(|p| self.proto_name(p))))
            .collect()
    }

    /// After replaced protocols handed their interfaces over quietly: the
    /// interfaces that did change owner (one a new section no longer
    /// gives its protocol, say) are told and counted as any move.
    fn tell_handovers(
        &mut self,
        before: &[(IfIndex, Option<&'static str>)],
        replaced: &BTreeSet<&'static str>,
    ) {
        if replaced.is_empty() {
            return;
        }
        let after = self.owners_by_name();
        for (ifindex, old) in before {
            let new = after
                .iter()
                .find(|(i, _)| i == ifindex)
                .and_then(|(_, o)| *o);
            let concerned = |o: Option<&str>| o.is_some_and(|n| replaced.contains(n));
            if *old == new || !(concerned(*old) || concerned(new)) {
                continue;
            }
            let interface = self.iface_ref(*ifindex);
            for (op, name) in [(OwnerOp::Release, *old), (OwnerOp::Take, new)] {
                if let Some(protocol) = name {
                    self.counters.ownership_moves += 1;
                    self.emit(Event::OwnershipComplete {
                        interface,
                        protocol,
                        op,
                    });
                }
            }
        }
    }

    /// An ownership change asked for by the configuration.
    fn owner_op(&mut self, now: Instant, ifindex: IfIndex, op: OwnerOp, id: ProtoId) {
        if let Err(e) = self.change_owner(now, ifindex, op, id) {
            let context = match e {
                MgmError::AlreadyOwned { .. } => "taking an interface by configuration",
                _ => "an ownership change by configuration",
            };
            self.mgm_error(context, e);
        }
    }

    /// The running protocol called `name`.
    pub(super) fn proto_id(&self, name: &str) -> Option<ProtoId> {
        self.protocols
            .iter()
            .find(|p| p.proto.name() == name)
            .map(|p| p.id)
    }
}

// ===== helper functions =====

fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or_default()
}

/// The differences between two JSON objects, key by key, in words: a
/// list says how many entries came and went, anything else old and new.
fn json_changes(old: &Value, new: &Value) -> Vec<String> {
    let (Some(o), Some(n)) = (old.as_object(), new.as_object()) else {
        return if old == new {
            Vec::new()
        } else {
            vec![format!("{} -> {}", brief(old), brief(new))]
        };
    };
    let keys: BTreeSet<&String> = o.keys().chain(n.keys()).collect();
    let mut out = Vec::new();
    for k in keys {
        let (a, b) = (
            o.get(k).unwrap_or(&Value::Null),
            n.get(k).unwrap_or(&Value::Null),
        );
        if a == b {
            continue;
        }
        let key = k.replace('_', "-");
        match (a.as_array(), b.as_array()) {
            (Some(x), Some(y)) if !x.is_empty() || !y.is_empty() => {
                let added: Vec<&Value> = y.iter().filter(|e| !x.contains(e)).collect();
                let removed: Vec<&Value> = x.iter().filter(|e| !y.contains(e)).collect();
                if added.is_empty() && removed.is_empty() {
                    out.push(format!("{key}: reordered"));
                }
                // Each element while they are few; a count beyond.
                for (what, list) in [("removed", removed), ("added", added)] {
                    if list.len() > LISTED {
                        out.push(format!("{key}: {} {what}", list.len()));
                    } else {
                        out.extend(list.iter().map(|e| format!("{key} {what}: {}", brief(e))));
                    }
                }
            }
            _ => out.push(format!("{key}: {} -> {}", brief(a), brief(b))),
        }
    }
    out
}

/// Up to this many added or removed list elements are named one by one.
const LISTED: usize = 8;

/// A value as an operator reads it: strings bare, lists comma-separated,
/// objects as `key=value` without their empty fields.
fn brief(v: &Value) -> String {
    match v {
        Value::Null => "none".to_owned(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a
            .iter()
            .map(|e| {
                let b = brief(e);
                if b.contains(' ') { format!("({b})") } else { b }
            })
            .collect::<Vec<_>>()
            .join(","),
        Value::Object(m) => {
            let fields: Vec<(&String, &Value)> = m
                .iter()
                .filter(|(_, v)| {
                    !(v.is_null()
                        || v == &&Value::Bool(false)
                        || v.as_array().is_some_and(|a| a.is_empty()))
                })
                .collect();
            match fields[..] {
                // `{ name = "eth3" }` reads as eth3.
                [(_, v)] if !v.is_object() && !v.is_array() => brief(v),
                _ => fields
                    .iter()
                    .map(|(k, v)| format!("{}={}", k.replace('_', "-"), brief(v)))
                    .collect::<Vec<_>>()
                    .join(" "),
            }
        }
        other => other.to_string(),
    }
}

// ===== tests =====

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changes_are_told_key_by_key() {
        let old = json!({"query_interval": "10s", "routes": [1, 2], "upstream": ["a"], "x": 1});
        let new = json!({"query_interval": "20s", "routes": [2, 3, 4], "upstream": ["a"], "x": 1});
        assert_eq!(
            json_changes(&old, &new),
            [
                "query-interval: 10s -> 20s",
                "routes removed: 1",
                "routes added: 3",
                "routes added: 4",
            ]
        );
        assert!(json_changes(&old, &old).is_empty());
        let many: Vec<u32> = (0..20).collect();
        assert_eq!(
            json_changes(&json!({"routes": []}), &json!({ "routes": many })),
            ["routes: 20 added"]
        );
    }

    /// A protocol's own diff reads as the key-by-key comparison of its
    /// section printed as data.
    #[test]
    fn sections_diff_as_their_data_compares() {
        let head = "[[interface]]\nname = \"lan1\"\n";
        let files = [
            "[static]\n",
            "[static]\ninterfaces = [\"up0\", \"lan1\"]\n[[static.route]]\nsource = \
             \"10.0.0.0/24\"\ngroup = \"239.1.0.0/16\"\ninbound = \"up0\"\noutbound = \
             [\"lan2\", { name = \"lan1\", only-with-members = true }]\n[[static.join]]\n\
             interface = \"up0\"\ngroup = \"239.7.7.7\"\nsource = \"10.0.0.1\"\n",
            "[static]\ninterfaces = [\"lan1\", \"up0\"]\n[[static.join]]\n\
             interface = \"up0\"\ngroup = \"239.7.7.7\"\n",
            "[proxy]\nupstream = [\"up0\"]\ndownstream = [\"lan1\"]\n",
            "[proxy]\nupstream = [\"up0\", \"up1\"]\ndownstream = [\"lan1\"]\n\
             upstream-allow-groups = [\"239.0.0.0/8\"]\nupstream-deny-groups = \
             [\"239.255.0.0/16\"]\nlegal-sources = [\"10.0.0.0/8\", \"10.1.1.1\"]\n",
            "[proxy]\nupstream = [\"up1\"]\ndownstream = [\"lan1\", \"lan2\"]\n\
             downstream-deny-groups = [\"239.9.0.0/16\"]\nlegal-sources = [\"10.1.1.1\"]\n",
        ];
        let sections: Vec<Arc<dyn ProtocolConfig>> = files
            .iter()
            .map(|f| {
                let cfg = Config::parse(&format!("{head}{f}"), "t.toml").unwrap();
                cfg.protocols[0].clone()
            })
            .collect();
        for a in &sections {
            for b in sections.iter().filter(|b| b.name() == a.name()) {
                let typed: Vec<String> = a.diff(b.as_ref()).iter().map(|c| c.to_string()).collect();
                assert_eq!(
                    typed,
                    json_changes(&a.to_json(), &b.to_json()),
                    "{a:?} -> {b:?}"
                );
            }
        }
    }

    #[test]
    fn values_read_as_written() {
        let route = json!({"source": null, "group": "239.1.0.0/16", "inbound": "up0",
            "outbound": [{"name": "lan1"}, {"name": "lan2"}], "with_members": [], "runtime": false});
        assert_eq!(
            brief(&route),
            "group=239.1.0.0/16 inbound=up0 outbound=lan1,lan2"
        );
        let outbound = json!({"outbound": [{"name": "lan1", "only_with_members": false},
            {"name": "lan2", "only_with_members": true}]});
        assert_eq!(
            brief(&outbound),
            "outbound=lan1,(name=lan2 only-with-members=true)"
        );
        assert_eq!(brief(&json!(null)), "none");
        assert_eq!(brief(&json!(7)), "7");
    }
}
