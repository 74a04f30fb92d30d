//! Configuration text -> validated [`Config`]. The file is read once into a
//! spanned document; `[global]`, `[igmp]` and `[[interface]]` are checked
//! here, each routing protocol's section by that protocol (see
//! [`crate::core::protocol::registry`]); then what the sections say about
//! each interface is checked against each other. The first problem found
//! is returned as one [`ConfigError`] pointing at the value to change.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;
use toml::de::DeValue;

use super::igmp::{IgmpSettings, Level};
use super::raw::{RawGlobal, RawIgmp, RawInterface, SpStr};
use super::{Config, GlobalConfig, InterfaceConfig, LogLevel};
use crate::core::config_check::{Checker, IgmpUse, InterfaceUse, Result, fmt_dur};
use crate::core::protocol::registry::{ParsedSection, ProtocolKind, Registry};

// ===== limits =====

/// `sizeof(sockaddr_un.sun_path)` minus the terminating NUL.
const SUN_PATH_MAX: usize = 107;
/// `ipmr.c` rejects `MRT_TABLE` ids from this value on (the `pimreg<id>`
/// device name must fit `IFNAMSIZ`).
const MRT_TABLE_LIMIT: u32 = 1_000_000_000;
const MIN_MFE_IDLE_TIMEOUT: Duration = Duration::from_secs(1);
/// A year: longer means "never" in practice, and keeps every deadline far
/// from what a clock can hold.
const MAX_MFE_IDLE_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);
const MIN_KERNEL_AUDIT_INTERVAL: Duration = Duration::from_secs(1);
const MAX_KERNEL_AUDIT_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// The sections every file may have besides the protocols'.
const BUILTIN_SECTIONS: [&str; 3] = ["global", "igmp", "interface"];

/// Parses and validates configuration text.
pub(super) fn parse(registry: &Registry, text: &str, path: &Path) -> Result<Config> {
    let c = Checker::new(path, text);
    let entries = c.entries()?;

    let mut global = RawGlobal::default();
    let mut igmp = RawIgmp::default();
    let mut interfaces: Vec<RawInterface> = Vec::new();
    let mut sections: Vec<(&ProtocolKind, Spanned<DeValue<'_>>)> = Vec::new();
    for (key, value) in entries {
        match key.get_ref().as_str() {
            "global" => global = c.section(value)?,
            "igmp" => igmp = c.section(value)?,
            "interface" => {
                if value.get_ref().is_table() {
                    return Err(c.err(
                        key.span(),
                        "[interface] is written [[interface]]: one section per interface, \
                         each with its own name = \"...\""
                            .to_owned(),
                    ));
                }
                interfaces = c.section(value)?;
            }
            name => match registry.find(name) {
                Some(kind) => sections.push((kind, value)),
                None => {
                    let allowed: Vec<String> = BUILTIN_SECTIONS
                        .iter()
                        .copied()
                        .chain(registry.kinds().iter().map(|k| k.name))
                        .map(|n| format!("`{n}`"))
                        .collect();
                    return Err(c.err(
                        key.span(),
                        format!("unknown key `{name}`; allowed keys: {}", allowed.join(", ")),
                    ));
                }
            },
        }
    }
    // Protocols in registry order, whatever the order of the file.
    sections.sort_by_key(|(kind, _)| registry.position(kind.name));
    let protocols = sections
        .into_iter()
        .map(|(kind, value)| (kind.parse)(&c, value))
        .collect::<Result<Vec<ParsedSection>>>()?;
    c.config(&global, &igmp, &interfaces, protocols, registry)
}

// ===== impl Checker =====

impl Checker<'_> {
    fn config(
        &self,
        raw_global: &RawGlobal,
        raw_igmp: &RawIgmp,
        raw_interfaces: &[RawInterface],
        protocols: Vec<ParsedSection>,
        registry: &Registry,
    ) -> Result<Config> {
        let global = self.validate_global(raw_global)?;
        let global_igmp = self.validate_igmp(raw_igmp, Level::Global)?;
        let igmp_defaults = self.resolve_igmp(&IgmpSettings::default(), &global_igmp, None)?;

        let mut seen: HashMap<String, Range<usize>> = HashMap::new();
        let mut sections = Vec::new();
        for ri in raw_interfaces {
            let name = self.validate_ifname("name", &ri.name)?;
            if let Some(first) = seen.get(&name) {
                return Err(self.err(
                    ri.name.span(),
                    format!(
                        "duplicate [[interface]] section for '{name}' (the first is at line {}); \
                         each interface has one section: merge them",
                        self.line_of(first)
                    ),
                ));
            }
            seen.insert(name.clone(), ri.name.span());
            sections.push((name, ri));
        }

        let uses: Vec<(&'static str, &InterfaceUse)> = protocols
            .iter()
            .flat_map(|p| p.uses.iter().map(move |u| (p.config.name(), u)))
            .collect();
        self.check_claims(&uses)?;
        let mut by_name: HashMap<&str, Vec<(&'static str, &InterfaceUse)>> = HashMap::new();
        for &(proto, u) in &uses {
            by_name.entry(u.name.as_str()).or_default().push((proto, u));
        }
        let no_uses = Vec::new();

        let mut interfaces = Vec::new();
        for (name, ri) in sections {
            let here = by_name.get(name.as_str()).unwrap_or(&no_uses);
            let igmp = self.interface_igmp(&name, ri, &global_igmp, here)?;
            interfaces.push(InterfaceConfig { name, igmp });
        }
        // Interfaces a protocol claims without an [[interface]] section:
        // IGMP runs there only if the protocol serves receivers there.
        for &(_, u) in uses.iter().filter(|(_, u)| u.claim) {
            if seen.contains_key(&u.name) || interfaces.iter().any(|i| i.name == u.name) {
                continue;
            }
            let serves = by_name[u.name.as_str()]
                .iter()
                .any(|(_, u)| matches!(u.igmp, IgmpUse::Serves { .. }));
            interfaces.push(InterfaceConfig {
                name: u.name.clone(),
                igmp: serves.then(|| igmp_defaults.clone()),
            });
        }

        let igmp_on: HashMap<&str, bool> = interfaces
            .iter()
            .map(|i| (i.name.as_str(), i.igmp.is_some()))
            .collect();
        for &(_, u) in &uses {
            if let IgmpUse::Needs { refusal } = &u.igmp {
                if !igmp_on.get(u.name.as_str()).copied().unwrap_or(false) {
                    return Err(self.err(u.span.clone(), refusal.clone()));
                }
            }
        }

        if interfaces.is_empty() {
            self.warn(
                0..0,
                "no interface is configured: mgmd runs but does nothing; add [[interface]] \
                 sections (IGMP) or a protocol section"
                    .to_owned(),
            );
        }
        Ok(Config {
            global,
            igmp_defaults,
            interfaces,
            protocols: protocols.into_iter().map(|p| p.config).collect(),
            registry: registry.clone(),
            warnings: self.take_warnings(),
        })
    }

    // ===== [global] =====

    fn validate_global(&self, raw: &RawGlobal) -> Result<GlobalConfig> {
        let mut g = GlobalConfig::default();
        if let Some(v) = &raw.control_socket {
            g.control_socket = self.validate_abs_path("control-socket", v)?;
            let len = v.get_ref().len();
            if len > SUN_PATH_MAX {
                return Err(self.err(
                    v.span(),
                    format!(
                        "control-socket is {len} bytes long; a Unix socket path has at most \
                         {SUN_PATH_MAX} bytes (sun_path)"
                    ),
                ));
            }
        }
        if let Some(v) = &raw.pid_file {
            g.pid_file = self.validate_abs_path("pid-file", v)?;
        }
        if let Some(v) = &raw.table {
            let t = *v.get_ref();
            if t < 1 || t >= i64::from(MRT_TABLE_LIMIT) {
                return Err(self.err(
                    v.span(),
                    format!(
                        "table = {t} is out of range; a multicast routing table id is \
                         1..={} (omit table for the default table)",
                        MRT_TABLE_LIMIT - 1
                    ),
                ));
            }
            g.table = Some(t as u32);
            // One instance per table: its own socket and pid file unless
            // named.
            if raw.control_socket.is_none() {
                g.control_socket = super::default_control_socket(g.table);
            }
            if raw.pid_file.is_none() {
                g.pid_file = super::default_pid_file(g.table);
            }
        }
        if let Some(v) = &raw.mfe_idle_timeout {
            let d = self.validate_duration("mfe-idle-timeout", v)?;
            if !(MIN_MFE_IDLE_TIMEOUT..=MAX_MFE_IDLE_TIMEOUT).contains(&d) {
                return Err(self.err(
                    v.span(),
                    format!(
                        "mfe-idle-timeout = {} is out of range; use {}..={} (365 days; default \
                         900s)",
                        fmt_dur(d),
                        fmt_dur(MIN_MFE_IDLE_TIMEOUT),
                        fmt_dur(MAX_MFE_IDLE_TIMEOUT)
                    ),
                ));
            }
            g.mfe_idle_timeout = d;
        }
        if let Some(v) = &raw.log_level {
            g.log_level = v
                .get_ref()
                .parse::<LogLevel>()
                .map_err(|e| self.err(v.span(), e))?;
        }
        if let Some(v) = raw.rp_filter_warning {
            g.rp_filter_warning = v;
        }
        if let Some(v) = &raw.metrics_listen {
            g.metrics_listen = Some(self.validate_listen_addr("metrics-listen", v)?);
        }
        if let Some(v) = &raw.kernel_audit_interval {
            let d = self.validate_duration("kernel-audit-interval", v)?;
            if !d.is_zero() && !(MIN_KERNEL_AUDIT_INTERVAL..=MAX_KERNEL_AUDIT_INTERVAL).contains(&d)
            {
                return Err(self.err(
                    v.span(),
                    format!(
                        "kernel-audit-interval = {} is out of range; use {}..={} (a day; default \
                         60s), or \"0s\" for no periodic audit",
                        fmt_dur(d),
                        fmt_dur(MIN_KERNEL_AUDIT_INTERVAL),
                        fmt_dur(MAX_KERNEL_AUDIT_INTERVAL)
                    ),
                ));
            }
            g.kernel_audit_interval = d;
        }
        Ok(g)
    }

    /// An IP address and a port to listen on (`127.0.0.1:9477`,
    /// `[::1]:9477`).
    fn validate_listen_addr(&self, key: &str, v: &SpStr) -> Result<SocketAddr> {
        let text = v.get_ref().trim();
        let addr: SocketAddr = text.parse().map_err(|_| {
            self.err(
                v.span(),
                format!(
                    "{key} = \"{text}\" is not an address and port; write e.g. \
                     \"127.0.0.1:9477\", or \"[::1]:9477\" for IPv6"
                ),
            )
        })?;
        if addr.port() == 0 {
            return Err(self.err(
                v.span(),
                format!("{key} = \"{text}\" has port 0; name the port scrapers use"),
            ));
        }
        Ok(addr)
    }

    // ===== interfaces named by protocols =====

    /// An interface belongs to at most one routing protocol.
    fn check_claims(&self, uses: &[(&'static str, &InterfaceUse)]) -> Result<()> {
        let mut first_claim: HashMap<&str, (&'static str, &InterfaceUse)> = HashMap::new();
        for &(proto, u) in uses.iter().filter(|(_, u)| u.claim) {
            let Some(&(other, b)) = first_claim.get(u.name.as_str()) else {
                first_claim.insert(u.name.as_str(), (proto, u));
                continue;
            };
            if other == proto {
                continue;
            }
            let ((p1, first), (p2, second)) = if b.span.start <= u.span.start {
                ((other, b), (proto, u))
            } else {
                ((proto, u), (other, b))
            };
            return Err(self.err(
                second.span.clone(),
                format!(
                    "interface '{}' is claimed by two protocols: {p1} ({}, line {}) and {p2} \
                     ({}, line {}); an interface belongs to at most one routing protocol",
                    u.name,
                    first.role,
                    self.line_of(&first.span),
                    second.role,
                    self.line_of(&second.span),
                ),
            ));
        }
        Ok(())
    }
}
