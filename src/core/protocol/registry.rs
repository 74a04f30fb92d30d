//! The routing protocols mgmd knows, by the name of their configuration
//! section, and what the rest of mgmd needs of a protocol's configuration.
//! Adding a protocol adds one line to [`PROTOCOLS`].

use std::any::Any;
use std::fmt;

use toml::Spanned;
use toml::de::DeValue;

use super::RoutingProtocol;
use crate::config::{Checker, ConfigError, InterfaceUse};

/// Every routing protocol, in the order they are built and shown.
pub static PROTOCOLS: &[ProtocolKind] = &[super::static_routes::KIND, super::proxy::KIND];

/// A routing protocol as the configuration knows it.
pub struct ProtocolKind {
    /// The section name, which is also the protocol's name.
    pub name: &'static str,
    /// Validates the section (its raw TOML value, with positions).
    pub parse: fn(&Checker<'_>, Spanned<DeValue<'_>>) -> Result<ParsedSection, ConfigError>,
}

/// A validated protocol section and what it says about interfaces.
pub struct ParsedSection {
    pub config: std::sync::Arc<dyn ProtocolConfig>,
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

/// The protocol whose section is called `name`.
pub fn find(name: &str) -> Option<&'static ProtocolKind> {
    PROTOCOLS.iter().find(|k| k.name == name)
}

/// Where `name` is in [`PROTOCOLS`] (unknown names last).
pub fn position(name: &str) -> usize {
    PROTOCOLS
        .iter()
        .position(|k| k.name == name)
        .unwrap_or(PROTOCOLS.len())
}
