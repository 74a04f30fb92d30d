//! The routing protocols mgmd knows, by the name of their configuration
//! section, and what the rest of mgmd needs of a protocol's configuration:
//! its validation, its keys (for the documentation), how two versions of
//! it differ (for a reload's report), its runtime edits and the host
//! memberships it holds. Adding a protocol to mgmd adds one line to
//! [`PROTOCOLS`]; a program that embeds mgmd's core (a test, say) may run
//! its own protocols beside them with a [`Registry`] of its own.

use std::any::Any;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use toml::Spanned;
use toml::de::DeValue;

use super::RoutingProtocol;
use crate::core::config_check::{Checker, ConfigError, InterfaceUse};
use crate::core::types::GroupAddr;

/// Every routing protocol, in the order they are built and shown.
pub static PROTOCOLS: &[ProtocolKind] = &[super::static_routes::KIND, super::proxy::KIND];

/// A routing protocol as the configuration knows it.
#[derive(Clone, Copy, Debug)]
pub struct ProtocolKind {
    /// The section name, which is also the protocol's name.
    pub name: &'static str,
    /// Validates the section (its raw TOML value, with positions).
    pub parse: fn(&Checker<'_>, Spanned<DeValue<'_>>) -> Result<ParsedSection, ConfigError>,
    /// Every table of the section and the keys it accepts, read from the
    /// types the section is parsed with (see
    /// [`crate::core::config_check::table_keys`]).
    pub keys: fn() -> Vec<TableKeys>,
    /// The commands the protocol adds to `mgmctl`, if any.
    pub cli: Option<ProtoCli>,
}

/// Commands a protocol adds to `mgmctl`, each asking for a runtime edit
/// of its section (a control request `edit` addressed to the protocol,
/// which [`ProtocolConfig::edit`] checks and applies).
#[derive(Clone, Copy, Debug)]
pub struct ProtoCli {
    /// Adds the protocol's subcommands to mgmctl's command line.
    pub augment: fn(clap::Command) -> clap::Command,
    /// The edit mgmctl's parsed command line asks for: `None` when its
    /// command is not one of this protocol's; `Err` with clap's message
    /// when the arguments do not fit.
    pub edit: fn(&clap::ArgMatches) -> Option<Result<serde_json::Value, String>>,
}

/// The keys one table of a protocol's section accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableKeys {
    /// The table as the file names it: `static`, `static.route`, ...
    pub table: String,
    pub keys: &'static [&'static str],
}

/// A validated protocol section and what it says about interfaces.
pub struct ParsedSection {
    pub config: Arc<dyn ProtocolConfig>,
    /// Every interface the section names, in file order.
    pub uses: Vec<InterfaceUse>,
}

/// The validated configuration of one protocol. What every configuration
/// does alike (compare, print, downcast) comes with [`ConfigData`].
pub trait ProtocolConfig: fmt::Debug + Send + Sync + ConfigData {
    /// The protocol's (and the section's) name.
    fn name(&self) -> &'static str;

    /// Interfaces the protocol owns by configuration (taken when they
    /// appear).
    fn owned_interfaces(&self) -> &[String];

    /// Interfaces where what IGMP learns is forwarded only while no other
    /// router is the IGMP querier there (a proxy's downstreams, RFC 4605
    /// 4.2: the querier election leaves one forwarder per link).
    fn querier_forwarded_interfaces(&self) -> &[String] {
        &[]
    }

    /// A protocol instance running this configuration.
    fn build(&self) -> Box<dyn RoutingProtocol>;

    /// What changed from this section to `new`, a section of the same
    /// protocol: one entry per line of the reload's report, none if they
    /// are the same. A protocol that does not say reports "changed".
    fn diff(&self, new: &dyn ProtocolConfig) -> Vec<SectionChange> {
        if self.same_as(new) {
            Vec::new()
        } else {
            vec![SectionChange::Changed]
        }
    }
    /// The host memberships this configuration makes mgmd hold (`mgmd
    /// check-system` counts them against the kernel's limits).
    fn host_memberships(&self) -> HostMemberships {
        HostMemberships::default()
    }

    /// A runtime edit of this section (`mgmctl route add`, say), in the
    /// protocol's own form: the section with it applied, or why it cannot
    /// be. `running` tells what the edit may check against outside its
    /// section. The router applies the result like a reload of
    /// the section; the edit lasts until the next reload or restart.
    fn edit(&self, edit: &serde_json::Value, running: &Running<'_>) -> Result<Edited, String> {
        let _ = (edit, running);
        Err(format!("{} takes no runtime edits", self.name()))
    }
}

/// What a runtime edit may check against in the running configuration
/// besides its own section.
pub struct Running<'a> {
    /// Whether IGMP runs on the interface of this name.
    pub igmp_on: &'a dyn Fn(&str) -> bool,
}

/// The host memberships a protocol's configuration makes mgmd hold, each
/// on a socket of its own.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostMemberships {
    /// How messages name one of those the configuration fixes ("static
    /// join").
    pub noun: &'static str,
    /// Those the configuration fixes, one per interface and group, with
    /// the number of sources its filter lists (`None`: any source, an
    /// exclude filter without sources).
    pub fixed: Vec<(String, GroupAddr, Option<usize>)>,
    /// How messages name those that follow what hosts report and cannot
    /// be counted in advance ("the proxy's upstream joins"), if any.
    pub following_hosts: Option<&'static str>,
}

/// A section with a runtime edit applied.
pub struct Edited {
    pub config: Arc<dyn ProtocolConfig>,
    /// The edit as the file would say it (`mgmctl show config` lists it).
    pub text: String,
    /// What the edit does that does nothing useful, as `--check` would
    /// warn of it in the file.
    pub warnings: Vec<String>,
}

/// What a protocol configuration is as data; implemented for every
/// `Serialize + PartialEq` type, so a protocol writes none of it.
pub trait ConfigData: Any {
    /// Whether `other` is the same configuration.
    fn same_as(&self, other: &dyn ProtocolConfig) -> bool;

    /// The configuration as `mgmctl show config` prints it.
    fn to_json(&self) -> serde_json::Value;

    fn as_any(&self) -> &dyn Any;
}

impl<T: serde::Serialize + PartialEq + Any> ConfigData for T {
    fn same_as(&self, other: &dyn ProtocolConfig) -> bool {
        other.as_any().downcast_ref::<T>() == Some(self)
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

// ===== Registry =====

/// The protocols one configuration may name: the sections the parser
/// hands to a protocol, in the order protocols are built and shown. The
/// default is mgmd's own, [`PROTOCOLS`]. A [`crate::config::Config`]
/// remembers the registry it was parsed with, so that a reload reads the
/// new file with the same protocols.
#[derive(Clone, Debug)]
pub struct Registry {
    kinds: Vec<ProtocolKind>,
}

impl Default for Registry {
    fn default() -> Registry {
        Registry {
            kinds: PROTOCOLS.to_vec(),
        }
    }
}

impl Registry {
    /// A registry with no protocol at all.
    pub fn empty() -> Registry {
        Registry { kinds: Vec::new() }
    }

    /// This registry with `kind` added after the others. A name that is
    /// already registered is replaced in its place.
    pub fn with(mut self, kind: ProtocolKind) -> Registry {
        match self.kinds.iter_mut().find(|k| k.name == kind.name) {
            Some(k) => *k = kind,
            None => self.kinds.push(kind),
        }
        self
    }

    /// Every protocol, in order.
    pub fn kinds(&self) -> &[ProtocolKind] {
        &self.kinds
    }

    /// The protocol whose section is called `name`.
    pub fn find(&self, name: &str) -> Option<&ProtocolKind> {
        self.kinds.iter().find(|k| k.name == name)
    }

    /// Where `name` is in the registry (unknown names last).
    pub fn position(&self, name: &str) -> usize {
        self.kinds
            .iter()
            .position(|k| k.name == name)
            .unwrap_or(self.kinds.len())
    }
}

// ===== SectionChange =====

/// One difference between two versions of a protocol's section, as a
/// reload reports it. Values are shown as an operator reads them (a list
/// comma-separated, a table as `key=value` without its empty fields).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SectionChange {
    /// `key: old -> new`
    Value {
        key: &'static str,
        old: String,
        new: String,
    },
    /// One entry of the list `key` went or came: `key removed: entry`.
    Entry {
        key: &'static str,
        op: ListOp,
        entry: String,
    },
    /// More entries than are named one by one: `key: 1000 added`.
    Entries {
        key: &'static str,
        op: ListOp,
        count: usize,
    },
    /// The same entries in another order: `key: reordered`.
    Reordered { key: &'static str },
    /// The section changed in a way its protocol does not tell.
    Changed,
}

/// Whether list entries went or came.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListOp {
    Removed,
    Added,
}

impl fmt::Display for ListOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ListOp::Removed => "removed",
            ListOp::Added => "added",
        })
    }
}

impl fmt::Display for SectionChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SectionChange::Value { key, old, new } => write!(f, "{key}: {old} -> {new}"),
            SectionChange::Entry { key, op, entry } => write!(f, "{key} {op}: {entry}"),
            SectionChange::Entries { key, op, count } => write!(f, "{key}: {count} {op}"),
            SectionChange::Reordered { key } => write!(f, "{key}: reordered"),
            SectionChange::Changed => f.write_str("changed"),
        }
    }
}

/// Up to this many added or removed list entries are named one by one; a
/// count beyond.
pub const LISTED: usize = 8;

/// `key: old -> new` if the values differ.
pub fn value_change<T: PartialEq>(
    key: &'static str,
    old: &T,
    new: &T,
    show: impl Fn(&T) -> String,
) -> Option<SectionChange> {
    (old != new).then(|| SectionChange::Value {
        key,
        old: show(old),
        new: show(new),
    })
}

/// The entries of list `key` that went (in their old order), then those
/// that came (in their new order), or `reordered`. Sorted sets: O(n log n)
/// for lists of n entries, and only the entries named are shown.
pub fn list_changes<T: Ord>(
    key: &'static str,
    old: &[T],
    new: &[T],
    show: impl Fn(&T) -> String,
) -> Vec<SectionChange> {
    if old == new {
        return Vec::new();
    }
    let (in_old, in_new): (BTreeSet<&T>, BTreeSet<&T>) =
        (old.iter().collect(), new.iter().collect());
    let removed: Vec<&T> = old.iter().filter(|e| !in_new.contains(e)).collect();
    let added: Vec<&T> = new.iter().filter(|e| !in_old.contains(e)).collect();
    if removed.is_empty() && added.is_empty() {
        return vec![SectionChange::Reordered { key }];
    }
    let mut out = Vec::new();
    for (op, list) in [(ListOp::Removed, removed), (ListOp::Added, added)] {
        if list.len() > LISTED {
            out.push(SectionChange::Entries {
                key,
                op,
                count: list.len(),
            });
        } else {
            out.extend(list.into_iter().map(|e| SectionChange::Entry {
                key,
                op,
                entry: show(e),
            }));
        }
    }
    out
}

/// A list as a value: its entries comma-separated, an entry with a space
/// in parentheses.
pub fn show_list<T>(list: &[T], show: impl Fn(&T) -> String) -> String {
    list.iter()
        .map(|e| {
            let s = show(e);
            if s.contains(' ') { format!("({s})") } else { s }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(changes: &[SectionChange]) -> Vec<String> {
        changes.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn lists_tell_what_went_and_came() {
        let show = |n: &u32| n.to_string();
        assert_eq!(
            lines(&list_changes("routes", &[1, 2], &[2, 3, 4], show)),
            ["routes removed: 1", "routes added: 3", "routes added: 4"]
        );
        assert!(list_changes("routes", &[1, 2], &[1, 2], show).is_empty());
        assert_eq!(
            lines(&list_changes("routes", &[1, 2], &[2, 1], show)),
            ["routes: reordered"]
        );
        let many: Vec<u32> = (0..20).collect();
        assert_eq!(
            lines(&list_changes("routes", &[], &many, show)),
            ["routes: 20 added"]
        );
    }

    #[test]
    fn values_tell_old_and_new() {
        let show = |s: &&str| s.to_string();
        assert_eq!(
            value_change("upstream-groups", &"", &"allow=239.0.0.0/8", show).map(|c| c.to_string()),
            Some("upstream-groups:  -> allow=239.0.0.0/8".to_owned())
        );
        assert_eq!(value_change("x", &"a", &"a", show), None);
        assert_eq!(show_list(&["a", "b c"], show), "a,(b c)");
    }
}
