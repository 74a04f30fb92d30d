//! The routing protocols mgmd knows, by the name of their configuration
//! section, and what the rest of mgmd needs of a protocol's configuration.
//! Adding a protocol to mgmd adds one line to [`PROTOCOLS`]; a program
//! that embeds mgmd's core (a test, say) may run its own protocols beside
//! them with a [`Registry`] of its own.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use toml::Spanned;
use toml::de::DeValue;

use super::RoutingProtocol;
use crate::config::{Checker, Config, ConfigError, InterfaceUse};
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

    /// The host memberships this configuration makes mgmd hold (`mgmd
    /// check-system` counts them against the kernel's limits).
    fn host_memberships(&self) -> HostMemberships {
        HostMemberships::default()
    }

    /// A runtime edit of this section (`mgmctl route add`, say), in the
    /// protocol's own form: the section with it applied, or why it cannot
    /// be. `running` is the whole running configuration, to check what the
    /// edit names against. The router applies the result like a reload of
    /// the section; the edit lasts until the next reload or restart.
    fn edit(&self, edit: &serde_json::Value, running: &Config) -> Result<Edited, String> {
        let _ = (edit, running);
        Err(format!("{} takes no runtime edits", self.name()))
    }
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
