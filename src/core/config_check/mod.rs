//! The configuration checker and what it speaks in: [`Checker`] checks
//! single values (durations, limits, interface names, groups, sources,
//! paths) with their position in the text, [`ConfigError`] and
//! [`ConfigWarning`] say where (`FILE:LINE:COL`), and [`InterfaceUse`] is
//! what a protocol section tells the rest of the file about the interfaces
//! it uses.
//!
//! Both `crate::config` (the built-in sections and the whole file) and
//! every protocol's `config.rs` under `core::protocol` use it, so it is a
//! leaf: it knows neither of them, only `core::types` for the group
//! address. It lives in `core` because it is sans-IO like the rest of the
//! core (it checks text it is given; reading the file is the caller's
//! job, in `cli` and `daemon`) and because the protocols in
//! `core::protocol` parse their sections with it; `crate::config` builds
//! on it and re-exports its types.

use std::cell::RefCell;
use std::net::Ipv4Addr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::Ipv4Net;
use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::core::types::GroupAddr;

mod error;
mod keys;
mod value;

pub use self::error::{ConfigError, ConfigWarning, Position};
pub use self::keys::table_keys;
pub use self::value::{DurationInput, GroupFilter, GroupRange, LimitInput, SpStr};

/// `IFNAMSIZ` in `linux/if.h`, including the terminating NUL.
const IFNAMSIZ: usize = 16;

pub type Result<T> = std::result::Result<T, ConfigError>;

// ===== InterfaceUse =====

/// One interface a protocol section names, as the rest of the validation
/// needs to know it.
#[derive(Clone, Debug)]
pub struct InterfaceUse {
    pub name: String,
    /// What the section uses it for, as a message names it ("upstream",
    /// "route inbound", ...).
    pub role: &'static str,
    /// Where it is named.
    pub span: Range<usize>,
    /// The interface belongs to this protocol: no other protocol may name
    /// it, and it is a configured interface even without an
    /// `[[interface]]` section.
    pub claim: bool,
    /// The protocol owns the interface's multicast (takes it at start).
    pub owned: bool,
    pub igmp: IgmpUse,
}

/// What a protocol needs of IGMP on an interface it uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IgmpUse {
    /// Whatever the configuration says (IGMP is on by default in an
    /// `[[interface]]` section, off on an interface named only here).
    Indifferent,
    /// The protocol acts as a host there (a proxy's upstream, RFC 4605
    /// 2.1): IGMP's router side is off unless asked for.
    Host,
    /// The protocol learns its receivers there through IGMP: IGMP is on,
    /// also without an `[[interface]]` section; `igmp = false` is refused
    /// with `refusal`.
    Serves { refusal: String },
    /// The protocol relies on IGMP there: if IGMP does not run on the
    /// interface, the configuration is refused with `refusal`.
    Needs { refusal: String },
}

// ===== Checker =====

/// Checks values of one configuration text; every error points into it,
/// and so does every warning it collects.
pub struct Checker<'a> {
    pub(crate) path: &'a Path,
    pub(crate) text: &'a str,
    pub(crate) warnings: RefCell<Vec<ConfigWarning>>,
}

impl<'a> Checker<'a> {
    pub fn new(path: &'a Path, text: &'a str) -> Checker<'a> {
        Checker {
            path,
            text,
            warnings: RefCell::new(Vec::new()),
        }
    }
}

impl<'a> Checker<'a> {
    /// An error about the text at `span`.
    pub fn err(&self, span: Range<usize>, message: String) -> ConfigError {
        ConfigError::invalid(self.path, self.text, span, message)
    }

    /// A warning about the text at `span`: allowed, but it does nothing
    /// useful.
    pub fn warn(&self, span: Range<usize>, message: String) {
        self.warnings.borrow_mut().push(ConfigWarning {
            path: self.path.to_path_buf(),
            at: Position::of_offset(self.text, span.start),
            message,
        });
    }

    /// Warns when an allow list and a deny list overlap (deny wins: those
    /// groups never pass).
    pub fn warn_overlap(
        &self,
        allow_key: &str,
        allow: &[Ipv4Net],
        deny_key: &str,
        deny: &[Ipv4Net],
        span: Range<usize>,
    ) {
        for a in allow {
            if let Some(d) = deny.iter().find(|d| d.contains(a) || a.contains(*d)) {
                self.warn(
                    span,
                    format!(
                        "{a} in {allow_key} overlaps {d} in {deny_key}; the deny list wins, so \
                         the groups in both never pass"
                    ),
                );
                return;
            }
        }
    }

    /// The line of a position (for "first defined at line N").
    pub fn line_of(&self, span: &Range<usize>) -> usize {
        Position::of_offset(self.text, span.start).line
    }

    /// Reads a section of the file into its raw form (unknown keys and
    /// wrong types are refused with the parser's position).
    pub fn section<T: DeserializeOwned>(&self, value: Spanned<DeValue<'_>>) -> Result<T> {
        T::deserialize(toml::de::ValueDeserializer::from(value))
            .map_err(|e| ConfigError::from_toml(self.path, self.text, &e))
    }

    /// The text's top-level tables and keys, in file order (so that the
    /// first problem reported is the first one written).
    pub fn entries(&self) -> Result<Vec<(Spanned<String>, Spanned<DeValue<'a>>)>> {
        let doc = DeTable::parse(self.text)
            .map_err(|e| ConfigError::from_toml(self.path, self.text, &e))?;
        let mut entries: Vec<(Spanned<String>, Spanned<DeValue<'a>>)> = doc
            .into_inner()
            .into_iter()
            .map(|(k, v)| (Spanned::new(k.span(), k.into_inner().into_owned()), v))
            .collect();
        entries.sort_by_key(|(k, _)| k.span().start);
        Ok(entries)
    }

    /// The warnings collected so far, in file order; the checker keeps none.
    pub fn take_warnings(&self) -> Vec<ConfigWarning> {
        let mut w = std::mem::take(&mut *self.warnings.borrow_mut());
        w.sort_by_key(|w| (w.at.line, w.at.column));
        w
    }

    pub fn validate_abs_path(&self, key: &str, v: &SpStr) -> Result<PathBuf> {
        let p = Path::new(v.get_ref());
        if !p.is_absolute() {
            return Err(self.err(
                v.span(),
                format!(
                    "{key} = \"{}\" is not an absolute path; give a path starting with '/'",
                    v.get_ref()
                ),
            ));
        }
        Ok(p.to_path_buf())
    }

    pub fn validate_duration(&self, key: &str, v: &Spanned<DurationInput>) -> Result<Duration> {
        match v.get_ref() {
            DurationInput::Text(s) => humantime::parse_duration(s.trim()).map_err(|e| {
                self.err(
                    v.span(),
                    format!(
                        "{key} = \"{s}\" is not a duration ({e}); write a number and a unit, \
                         e.g. \"125s\", \"1m30s\", \"500ms\""
                    ),
                )
            }),
            DurationInput::Number(n) => Err(self.err(
                v.span(),
                format!(
                    "{key} = {n} has no unit; durations are strings with a unit, e.g. \
                     \"{n}s\", \"2m\", \"500ms\""
                ),
            )),
        }
    }

    pub fn validate_limit(&self, key: &str, v: &Spanned<LimitInput>) -> Result<Option<u32>> {
        match v.get_ref() {
            LimitInput::Text(t) if t == "unlimited" => Ok(None),
            LimitInput::Count(n) if *n >= 1 && *n <= i64::from(u32::MAX) => Ok(Some(*n as u32)),
            other => {
                let shown = match other {
                    LimitInput::Count(n) => n.to_string(),
                    LimitInput::Text(t) => format!("\"{t}\""),
                };
                Err(self.err(
                    v.span(),
                    format!(
                        "{key} = {shown} is not a valid limit; use 1..={} or \"unlimited\"",
                        u32::MAX
                    ),
                ))
            }
        }
    }

    /// Interface names as the kernel accepts them (`dev_valid_name()`).
    pub fn validate_ifname(&self, key: &str, v: &SpStr) -> Result<String> {
        self.validate_ifname_str(key, v.get_ref(), v.span())
    }

    pub fn validate_ifname_str(&self, key: &str, name: &str, span: Range<usize>) -> Result<String> {
        let problem = if name.is_empty() {
            Some("is empty".to_owned())
        } else if name.len() >= IFNAMSIZ {
            Some(format!(
                "is {} bytes long; Linux interface names have at most {} bytes (IFNAMSIZ)",
                name.len(),
                IFNAMSIZ - 1
            ))
        } else if name == "." || name == ".." {
            Some("is not allowed".to_owned())
        } else {
            name.chars()
                .find(|c| *c == '/' || *c == ':' || c.is_whitespace())
                .map(|c| {
                    format!(
                        "contains {c:?}; interface names may not contain '/', ':' or whitespace"
                    )
                })
        };
        match problem {
            Some(p) => Err(self.err(span, format!("{key}: interface name \"{name}\" {p}"))),
            None => Ok(name.to_owned()),
        }
    }

    /// A group or a prefix of groups.
    pub fn validate_group_range(&self, key: &str, v: &SpStr) -> Result<GroupRange> {
        let s = v.get_ref().trim();
        let net = self.parse_addr_or_prefix(
            key,
            v,
            "a group such as \"239.1.1.1\" or a prefix such as \"239.1.0.0/16\"",
        )?;
        GroupRange::new(net).ok_or_else(|| {
            self.err(
                v.span(),
                format!(
                    "{key}: \"{s}\" is not a multicast group; groups are inside 224.0.0.0/4, \
                     e.g. \"239.1.1.1\" or \"239.1.0.0/16\""
                ),
            )
        })
    }

    /// Exactly one group.
    pub fn validate_group_addr(&self, key: &str, v: &SpStr) -> Result<GroupAddr> {
        let range = self.validate_group_range(key, v)?;
        range.as_single().ok_or_else(|| {
            self.err(
                v.span(),
                format!(
                    "{key}: \"{}\" is a prefix; a join is for one group address",
                    v.get_ref()
                ),
            )
        })
    }

    /// A sender: a unicast address or prefix.
    pub fn validate_source_prefix(&self, key: &str, v: &SpStr) -> Result<Ipv4Net> {
        let s = v.get_ref().trim();
        let net = self.parse_addr_or_prefix(
            key,
            v,
            "a unicast address such as \"10.0.0.5\" or a prefix such as \"10.0.0.0/24\"",
        )?;
        let multicast = Ipv4Net::new(Ipv4Addr::new(224, 0, 0, 0), 4).expect("valid literal prefix");
        let problem = if net.prefix_len() == 0 {
            Some("covers every address; omit it to match any source")
        } else if net.prefix_len() == 32 && net.addr().is_unspecified() {
            Some("is the unspecified address; a source is the address of a sender")
        } else if net.prefix_len() == 32 && net.addr().is_broadcast() {
            Some("is the broadcast address; a source is the unicast address of a sender")
        } else if multicast.contains(&net.addr()) {
            Some("is a multicast address; a source is the unicast address (or prefix) of a sender")
        } else if net.contains(&multicast) {
            Some("covers the multicast range 224.0.0.0/4; a source prefix must be unicast")
        } else {
            None
        };
        match problem {
            Some(p) => Err(self.err(v.span(), format!("{key}: \"{s}\" {p}"))),
            None => Ok(net),
        }
    }

    /// Exactly one sender address.
    pub fn validate_source_addr(&self, key: &str, v: &SpStr) -> Result<Ipv4Addr> {
        let net = self.validate_source_prefix(key, v)?;
        if net.prefix_len() != 32 {
            return Err(self.err(
                v.span(),
                format!(
                    "{key}: \"{}\" is a prefix; a source-specific join names one source address",
                    v.get_ref()
                ),
            ));
        }
        Ok(net.addr())
    }

    /// "a.b.c.d" (as a /32) or "a.b.c.d/len" with no host bits set.
    pub fn parse_addr_or_prefix(&self, key: &str, v: &SpStr, expected: &str) -> Result<Ipv4Net> {
        let s = v.get_ref().trim();
        if s.contains('/') {
            let net: Ipv4Net = s.parse().map_err(|_| {
                self.err(
                    v.span(),
                    format!("{key}: \"{s}\" is not an IPv4 prefix; expected {expected}"),
                )
            })?;
            if net.trunc() != net {
                return Err(self.err(
                    v.span(),
                    format!(
                        "{key}: \"{s}\" has host bits set; did you mean \"{}\"?",
                        net.trunc()
                    ),
                ));
            }
            Ok(net)
        } else {
            let addr: Ipv4Addr = s.parse().map_err(|_| {
                self.err(
                    v.span(),
                    format!("{key}: \"{s}\" is not an IPv4 address; expected {expected}"),
                )
            })?;
            Ok(Ipv4Net::from(addr))
        }
    }
}

// ===== helper functions =====

/// "125s", "25.5s", "0.1s": seconds, as short as exact.
pub fn fmt_dur(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}
