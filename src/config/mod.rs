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
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use ipnet::Ipv4Net;
use serde::Serialize;

use crate::core::igmp::config::IgmpIfConfig;
use crate::core::protocol::registry::{ProtocolConfig, Registry};
use crate::core::types::GroupAddr;

pub mod check;
mod error;
mod igmp;
pub(crate) mod raw;
mod validate;

pub use check::{Checker, IgmpUse, InterfaceUse};
pub use error::{ConfigError, ConfigWarning, Position};

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
    /// Reads and validates the file at `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        Config::load_with_text(path).map(|(c, _)| c)
    }

    /// Reads and validates the file at `path`; also returns its text.
    pub fn load_with_text(path: impl AsRef<Path>) -> Result<(Config, String), ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text, path).map(|c| (c, text))
    }

    /// Validates configuration text with mgmd's protocols; `path` is only
    /// used in messages.
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

// ===== GroupRange =====

/// A multicast group or a prefix of groups, inside 224.0.0.0/4, with no
/// host bits set. A single group is a /32.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct GroupRange(Ipv4Net);

impl GroupRange {
    /// `None` if `net` is not inside 224.0.0.0/4 or has host bits set.
    pub fn new(net: Ipv4Net) -> Option<GroupRange> {
        let multicast = Ipv4Net::new(Ipv4Addr::new(224, 0, 0, 0), 4).expect("valid literal prefix");
        (multicast.contains(&net) && net.trunc() == net).then_some(GroupRange(net))
    }

    /// 224.0.0.0/24, the link-local groups (never forwarded).
    pub fn link_local() -> GroupRange {
        GroupRange(Ipv4Net::new(Ipv4Addr::new(224, 0, 0, 0), 24).expect("valid literal prefix"))
    }

    /// Exactly one group.
    pub fn single(group: GroupAddr) -> GroupRange {
        GroupRange(Ipv4Net::from(group.addr()))
    }

    pub fn net(self) -> Ipv4Net {
        self.0
    }

    /// The group, if this range is exactly one group.
    pub fn as_single(self) -> Option<GroupAddr> {
        if self.0.prefix_len() == 32 {
            GroupAddr::new(self.0.addr()).ok()
        } else {
            None
        }
    }

    pub fn contains(self, group: GroupAddr) -> bool {
        self.0.contains(&group.addr())
    }
}

impl fmt::Display for GroupRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.prefix_len() == 32 {
            self.0.addr().fmt(f)
        } else {
            self.0.fmt(f)
        }
    }
}

// ===== GroupFilter =====

/// An allow/deny list of group ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GroupFilter {
    /// If non-empty, only groups inside these ranges pass.
    pub allow: Vec<GroupRange>,
    /// Groups inside these ranges never pass (checked after `allow`).
    pub deny: Vec<GroupRange>,
}

impl GroupFilter {
    pub fn permits(&self, group: GroupAddr) -> bool {
        (self.allow.is_empty() || self.allow.iter().any(|r| r.contains(group)))
            && !self.deny.iter().any(|r| r.contains(group))
    }
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

    #[test]
    fn group_filter_checks_allow_then_deny() {
        let r = |s: &str| GroupRange::new(s.parse().unwrap()).unwrap();
        let g = |s: &str| s.parse::<GroupAddr>().unwrap();
        let open = GroupFilter::default();
        assert!(open.permits(g("239.1.1.1")));
        let f = GroupFilter {
            allow: vec![r("239.0.0.0/8")],
            deny: vec![r("239.255.0.0/16")],
        };
        assert!(f.permits(g("239.1.1.1")));
        assert!(!f.permits(g("239.255.1.1")));
        assert!(!f.permits(g("238.1.1.1")));
    }
}
