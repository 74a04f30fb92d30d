//! The configuration file: TOML in, a validated [`Config`] out.
//!
//! `raw` mirrors the file (serde, positions kept), `validate` checks every
//! value and the values against each other and builds [`Config`], the only
//! type that leaves this module. Every rejection is a [`ConfigError`] that
//! reads `FILE:LINE:COL: what is wrong; what is allowed`.
//!
//! Default path: [`DEFAULT_PATH`]. The keys are documented in
//! `docs/configuration.md`, in `mgmd.toml(5)` and in `examples/full.toml`.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::core::igmp::config::IgmpIfConfig;
use crate::core::protocol::registry::{ProtocolConfig, Registry};

mod igmp;
pub(crate) mod raw;
mod validate;

pub use crate::core::config_check::{
    Checker, ConfigError, ConfigWarning, GroupFilter, GroupRange, IgmpUse, InterfaceUse, Position,
};

/// Where mgmd looks for its configuration unless told otherwise.
pub const DEFAULT_PATH: &str = "/etc/mgmd/mgmd.toml";

// ===== Config =====

/// A validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub global: GlobalConfig,
    /// The `[igmp]` defaults on their own (what an interface without
    /// overrides runs).
    pub igmp_defaults: IgmpIfConfig,
    /// Every interface mgmd uses: the `[[interface]]` sections in file
    /// order, then interfaces named only by a protocol section.
    pub interfaces: Vec<InterfaceConfig>,
    /// The routing protocol sections present, in registry order.
    pub protocols: Vec<Arc<dyn ProtocolConfig>>,
    /// The protocols this configuration was read with (a reload reads the
    /// new text with the same).
    pub registry: Registry,
    /// What the file does that is allowed but does nothing useful.
    pub warnings: Vec<ConfigWarning>,
}

impl Config {
    /// Validates configuration text with mgmd's protocols; `path` is only
    /// used in messages. Reading the file is the caller's
    /// (`crate::cli::config_file`).
    pub fn parse(text: &str, path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        Config::parse_with(&Registry::default(), text, path)
    }

    /// Validates configuration text whose protocol sections are those of
    /// `registry`.
    pub fn parse_with(
        registry: &Registry,
        text: &str,
        path: impl AsRef<Path>,
    ) -> Result<Config, ConfigError> {
        validate::parse(registry, text, path.as_ref())
    }

    /// Which routing protocol owns `ifname` according to the configuration
    /// (by its section name), or `None` (IGMP only, or unknown).
    pub fn owner_of(&self, ifname: &str) -> Option<&'static str> {
        self.protocols
            .iter()
            .find(|p| p.owned_interfaces().iter().any(|i| i == ifname))
            .map(|p| p.name())
    }

    /// The settings of interface `ifname`, if the configuration names it.
    pub fn interface(&self, ifname: &str) -> Option<&InterfaceConfig> {
        self.interfaces.iter().find(|i| i.name == ifname)
    }

    /// The section of protocol type `T`, if present.
    pub fn protocol<T: ProtocolConfig>(&self) -> Option<&T> {
        self.protocols
            .iter()
            .find_map(|p| p.as_any().downcast_ref::<T>())
    }

    /// The section of the protocol called `name`, if present.
    pub fn section(&self, name: &str) -> Option<&Arc<dyn ProtocolConfig>> {
        self.protocols.iter().find(|p| p.name() == name)
    }
}

impl PartialEq for Config {
    fn eq(&self, other: &Config) -> bool {
        self.global == other.global
            && self.igmp_defaults == other.igmp_defaults
            && self.interfaces == other.interfaces
            && self.protocols.len() == other.protocols.len()
            && self
                .protocols
                .iter()
                .zip(&other.protocols)
                .all(|(a, b)| a.same_as(b.as_ref()))
    }
}

impl Serialize for Config {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("global", &self.global)?;
        m.serialize_entry("igmp", &self.igmp_defaults)?;
        m.serialize_entry("interfaces", &self.interfaces)?;
        for p in &self.protocols {
            m.serialize_entry(p.name(), &p.to_json())?;
        }
        m.end()
    }
}

// ===== Overrides =====

/// Settings the command line gives over the file's (`--control-socket`,
/// `--pid-file`). They hold for every configuration the daemon runs on,
/// reloads included.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Overrides {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_socket: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_file: Option<PathBuf>,
}

impl Overrides {
    pub fn apply(&self, cfg: &mut Config) {
        if let Some(p) = &self.control_socket {
            cfg.global.control_socket = p.clone();
        }
        if let Some(p) = &self.pid_file {
            cfg.global.pid_file = p.clone();
        }
    }
}

// ===== GlobalConfig =====

/// `[global]`
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GlobalConfig {
    /// Unix socket of the control protocol (`mgmctl`).
    pub control_socket: PathBuf,
    /// File holding the daemon's process id.
    pub pid_file: PathBuf,
    /// Multicast routing table (`MRT_TABLE`); `None` = the default table.
    pub table: Option<u32>,
    /// A forwarding entry that carried no traffic for this long is removed.
    #[serde(serialize_with = "crate::core::types::duration_text::serialize")]
    pub mfe_idle_timeout: Duration,
    pub log_level: LogLevel,
    /// Warn at start-up about interfaces whose strict reverse-path filter
    /// (`rp_filter = 1`) would drop multicast arriving on them.
    pub rp_filter_warning: bool,
    /// Where the Prometheus metrics endpoint listens; `None` = no endpoint.
    pub metrics_listen: Option<SocketAddr>,
    /// How often the kernel's multicast routing table is audited against
    /// mgmd's (drift repaired and logged); zero = never.
    #[serde(serialize_with = "crate::core::types::duration_text::serialize")]
    pub kernel_audit_interval: Duration,
}

/// The control socket when the configuration names none:
/// `/run/mgmd/mgmd.sock`, or `/run/mgmd/mgmd-N.sock` for `table = N` (so
/// that one instance per table runs without further settings).
pub fn default_control_socket(table: Option<u32>) -> PathBuf {
    match table {
        None => PathBuf::from("/run/mgmd/mgmd.sock"),
        Some(t) => PathBuf::from(format!("/run/mgmd/mgmd-{t}.sock")),
    }
}

/// The pid file when the configuration names none: `/run/mgmd/mgmd.pid`,
/// or `/run/mgmd/mgmd-N.pid` for `table = N`.
pub fn default_pid_file(table: Option<u32>) -> PathBuf {
    match table {
        None => PathBuf::from("/run/mgmd/mgmd.pid"),
        Some(t) => PathBuf::from(format!("/run/mgmd/mgmd-{t}.pid")),
    }
}

impl Default for GlobalConfig {
    fn default() -> Self {
        GlobalConfig {
            control_socket: default_control_socket(None),
            pid_file: default_pid_file(None),
            table: None,
            mfe_idle_timeout: Duration::from_secs(900),
            log_level: LogLevel::Info,
            rp_filter_warning: true,
            metrics_listen: None,
            kernel_audit_interval: Duration::from_secs(60),
        }
    }
}

/// Log verbosity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogLevel {
    Error,
    Warn,
    #[default]
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    /// Every level, quietest first.
    pub const ALL: [LogLevel; 5] = [
        LogLevel::Error,
        LogLevel::Warn,
        LogLevel::Info,
        LogLevel::Debug,
        LogLevel::Trace,
    ];

    /// The name used in the file, on the command line and by `tracing`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LogLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        LogLevel::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| {
                format!("unknown log level '{s}'; use one of error, warn, info, debug, trace")
            })
    }
}

// ===== InterfaceConfig =====

/// One interface mgmd uses (it may not exist yet when mgmd starts).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InterfaceConfig {
    pub name: String,
    /// IGMP settings (the `[igmp]` defaults merged with this interface's
    /// overrides); `None` = IGMP does not run here.
    pub igmp: Option<IgmpIfConfig>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_levels_round_trip_through_their_names() {
        for l in LogLevel::ALL {
            assert_eq!(l.as_str().parse::<LogLevel>(), Ok(l));
        }
        assert!("verbose".parse::<LogLevel>().is_err());
    }
}
