//! The `[static]` section: its raw form, its validation and the validated
//! [`StaticConfig`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::net::Ipv4Addr;
use std::ops::Range;
use std::sync::Arc;

use ipnet::Ipv4Net;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use toml::Spanned;
use toml::de::DeValue;

use crate::core::config_check::{
    Checker, ConfigError, GroupRange, IgmpUse, InterfaceUse, SpStr, table_keys,
};
use crate::core::protocol::RoutingProtocol;
use crate::core::protocol::registry::{
    Edited, HostMemberships, ParsedSection, ProtocolConfig, ProtocolKind, Running, SectionChange,
    TableKeys, list_changes, show_list,
};
use crate::core::types::GroupAddr;

/// The section name and the protocol's name.
pub const NAME: &str = "static";

/// The static protocol in the registry.
pub const KIND: ProtocolKind = ProtocolKind {
    name: NAME,
    parse,
    keys,
    cli: Some(super::cli::CLI),
};

// ===== validated =====

/// `[static]`: the static routing protocol (smcroute-like).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StaticConfig {
    /// The interfaces this protocol owns: the `interfaces` key if given,
    /// else every interface its routes and joins name, in file order.
    pub interfaces: Vec<String>,
    pub routes: Vec<StaticRoute>,
    pub joins: Vec<StaticJoin>,
}

/// `[[static.route]]`: forward traffic for `group` (from `source`) that
/// arrives on `inbound` out of `outbound`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct StaticRoute {
    /// A source address (/32) or prefix; `None` = any source (*,G).
    pub source: Option<Ipv4Net>,
    pub group: GroupRange,
    pub inbound: String,
    /// Never empty, never contains `inbound`, no duplicates.
    pub outbound: Vec<Outbound>,
    /// Added at runtime (`mgmctl route add`), not from the file.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub runtime: bool,
}

/// One outgoing interface of a static route.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Outbound {
    pub name: String,
    /// Forward only while IGMP reports members there (IGMP runs on it).
    pub only_with_members: bool,
}

/// `[[static.join]]`: join `group` (from `source`) on `interface`, so that
/// upstream routers send the traffic.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct StaticJoin {
    pub interface: String,
    pub group: GroupAddr,
    /// `Some` = source-specific join.
    pub source: Option<Ipv4Addr>,
    /// Added at runtime (`mgmctl join`), not from the file.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub runtime: bool,
}

impl ProtocolConfig for StaticConfig {
    fn name(&self) -> &'static str {
        NAME
    }

    fn owned_interfaces(&self) -> &[String] {
        &self.interfaces
    }

    fn build(&self) -> Box<dyn RoutingProtocol> {
        Box::new(super::StaticRoutes::new(self.clone()))
    }

    /// One membership per interface and group: joins of one group on one
    /// interface share a filter, and a join without a source makes it an
    /// exclude filter without sources.
    fn host_memberships(&self) -> HostMemberships {
        let mut filters: BTreeMap<(&str, GroupAddr), Option<usize>> = BTreeMap::new();
        for j in &self.joins {
            let entry = filters
                .entry((j.interface.as_str(), j.group))
                .or_insert(Some(0));
            *entry = match (j.source, *entry) {
                (Some(_), Some(n)) => Some(n + 1),
                _ => None,
            };
        }
        HostMemberships {
            noun: "static join",
            fixed: filters
                .into_iter()
                .map(|((i, g), n)| (i.to_owned(), g, n))
                .collect(),
            following_hosts: None,
        }
    }

    fn edit(&self, edit: &serde_json::Value, running: &Running<'_>) -> Result<Edited, String> {
        super::edit::apply(self, edit, running)
    }
    /// Interfaces, joins and routes that went and came, by key in that
    /// order.
    fn diff(&self, new: &dyn ProtocolConfig) -> Vec<SectionChange> {
        let Some(new) = new.as_any().downcast_ref::<StaticConfig>() else {
            return vec![SectionChange::Changed];
        };
        let mut out = list_changes(
            "interfaces",
            &self.interfaces,
            &new.interfaces,
            String::clone,
        );
        out.extend(list_changes(
            "joins",
            &self.joins,
            &new.joins,
            StaticJoin::brief,
        ));
        out.extend(list_changes(
            "routes",
            &self.routes,
            &new.routes,
            StaticRoute::brief,
        ));
        out
    }
}

impl StaticRoute {
    /// The route as a reload reports it: its keys in name order, those
    /// that are empty or off left out.
    fn brief(&self) -> String {
        let mut s = format!(
            "group={} inbound={} outbound={}",
            self.group.net(),
            self.inbound,
            show_list(&self.outbound, Outbound::brief)
        );
        if self.runtime {
            s.push_str(" runtime=true");
        }
        if let Some(source) = self.source {
            s.push_str(&format!(" source={source}"));
        }
        s
    }
}

impl Outbound {
    /// `eth3`, or `name=eth3 only-with-members=true`.
    fn brief(&self) -> String {
        if self.only_with_members {
            format!("name={} only-with-members=true", self.name)
        } else {
            self.name.clone()
        }
    }
}

impl StaticJoin {
    /// The join as a reload reports it (as [`StaticRoute::brief`]).
    fn brief(&self) -> String {
        let mut s = format!("group={} interface={}", self.group, self.interface);
        if self.runtime {
            s.push_str(" runtime=true");
        }
        if let Some(source) = self.source {
            s.push_str(&format!(" source={source}"));
        }
        s
    }
}

// ===== raw =====

/// `[static]`
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
struct RawStatic {
    interfaces: Option<Spanned<Vec<SpStr>>>,
    route: Vec<Spanned<RawRoute>>,
    join: Vec<Spanned<RawJoin>>,
}

/// `[[static.route]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawRoute {
    #[serde(default)]
    source: Option<SpStr>,
    group: SpStr,
    inbound: SpStr,
    outbound: Spanned<Vec<Spanned<OutboundInput>>>,
}

/// `[[static.join]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawJoin {
    interface: SpStr,
    group: SpStr,
    #[serde(default)]
    source: Option<SpStr>,
}

/// One entry of a static route's `outbound` list: an interface name, or
/// `{ name = "eth3", only-with-members = true }`.
#[derive(Clone, Debug, PartialEq)]
struct OutboundInput {
    name: String,
    only_with_members: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct OutboundTable {
    name: String,
    #[serde(default)]
    only_with_members: bool,
}

impl<'de> Deserialize<'de> for OutboundInput {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OutboundInput;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "an interface name, or a table { name = \"eth3\", only-with-members = true }",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OutboundInput, E> {
                Ok(OutboundInput {
                    name: v.to_owned(),
                    only_with_members: false,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<OutboundInput, A::Error> {
                let t = OutboundTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(OutboundInput {
                    name: t.name,
                    only_with_members: t.only_with_members,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// The tables of `[static]` and their keys.
fn keys() -> Vec<TableKeys> {
    let table = |name: &str, keys| TableKeys {
        table: name.to_owned(),
        keys,
    };
    vec![
        table(NAME, table_keys::<RawStatic>()),
        table(&format!("{NAME}.route"), table_keys::<RawRoute>()),
        table(
            &format!("{NAME}.route.outbound"),
            table_keys::<OutboundTable>(),
        ),
        table(&format!("{NAME}.join"), table_keys::<RawJoin>()),
    ]
}

// ===== validation =====

fn parse(c: &Checker<'_>, value: Spanned<DeValue<'_>>) -> Result<ParsedSection, ConfigError> {
    let (config, uses) = parse_section(c, value)?;
    Ok(ParsedSection {
        config: Arc::new(config),
        uses,
    })
}

/// The section and the interfaces it names.
pub(super) fn parse_section(
    c: &Checker<'_>,
    value: Spanned<DeValue<'_>>,
) -> Result<(StaticConfig, Vec<InterfaceUse>), ConfigError> {
    let raw: RawStatic = c.section(value)?;
    let mut uses = Vec::new();
    let config = validate(c, &raw, &mut uses)?;
    Ok((config, uses))
}

fn validate(
    c: &Checker<'_>,
    raw: &RawStatic,
    uses: &mut Vec<InterfaceUse>,
) -> Result<StaticConfig, ConfigError> {
    let mut explicit: Option<Vec<String>> = None;
    if let Some(list) = &raw.interfaces {
        let mut names: Vec<String> = Vec::new();
        for n in list.get_ref() {
            let name = c.validate_ifname("interfaces", n)?;
            if names.contains(&name) {
                return Err(c.err(
                    n.span(),
                    format!("interface '{name}' is listed twice in [static] interfaces"),
                ));
            }
            uses.push(use_of(
                &name,
                "listed in interfaces",
                n.span(),
                true,
                IgmpUse::Indifferent,
            ));
            names.push(name);
        }
        explicit = Some(names);
    }
    // With an explicit list, routes and joins may also name interfaces
    // outside it: they apply while static owns them (`mgmctl take IFACE
    // static`). Without one, static owns every interface they name.
    let implicit = explicit.is_none();

    let mut routes: Vec<StaticRoute> = Vec::new();
    // The line of each (source, group) defined so far.
    let mut defined: HashMap<(Option<Ipv4Net>, GroupRange), Range<usize>> = HashMap::new();
    for r in &raw.route {
        let r = r.get_ref();
        let group = c.validate_group_range("group", &r.group)?;
        let source = match &r.source {
            Some(s) => Some(c.validate_source_prefix("source", s)?),
            None => None,
        };
        if group.net().prefix_len() >= 24 && GroupRange::link_local().net().contains(&group.net()) {
            c.warn(
                r.group.span(),
                format!(
                    "group {group} is link-local (224.0.0.0/24): such traffic is never \
                     forwarded, so this route does nothing"
                ),
            );
        }
        let inbound = c.validate_ifname("inbound", &r.inbound)?;
        if implicit {
            uses.push(use_of(
                &inbound,
                "route inbound",
                r.inbound.span(),
                true,
                IgmpUse::Indifferent,
            ));
        }
        if r.outbound.get_ref().is_empty() {
            return Err(c.err(
                r.outbound.span(),
                "outbound is empty; a route needs at least one outbound interface".to_owned(),
            ));
        }
        let mut outbound: Vec<Outbound> = Vec::new();
        for o in r.outbound.get_ref() {
            let oi: &OutboundInput = o.get_ref();
            let name = c.validate_ifname_str("outbound", &oi.name, o.span())?;
            if name == inbound {
                return Err(c.err(
                    o.span(),
                    format!(
                        "interface '{name}' is both the inbound interface and an outbound \
                         interface of this route; traffic is never sent back out of the \
                         interface it arrived on: remove it from outbound"
                    ),
                ));
            }
            if outbound.iter().any(|x| x.name == name) {
                return Err(c.err(
                    o.span(),
                    format!("interface '{name}' is listed twice in this route's outbound"),
                ));
            }
            let igmp = if oi.only_with_members {
                IgmpUse::Needs {
                    refusal: format!(
                        "outbound interface '{name}' has only-with-members = true but IGMP does \
                         not run on it; add an [[interface]] section with name = \"{name}\" \
                         (IGMP is on by default there) or drop only-with-members"
                    ),
                }
            } else {
                IgmpUse::Indifferent
            };
            // A use that neither claims the interface nor needs anything of
            // it tells the rest of the file nothing.
            if implicit || igmp != IgmpUse::Indifferent {
                uses.push(use_of(&name, "route outbound", o.span(), implicit, igmp));
            }
            outbound.push(Outbound {
                name,
                only_with_members: oi.only_with_members,
            });
        }
        if let Some(first) = defined.get(&(source, group)) {
            let what = match source {
                Some(s) => format!("({s}, {group})"),
                None => format!("(*, {group})"),
            };
            return Err(c.err(
                r.group.span(),
                format!(
                    "a route for {what} is already defined at line {}; give each \
                     source/group one route and list all its outbound interfaces there",
                    c.line_of(first)
                ),
            ));
        }
        defined.insert((source, group), r.group.span());
        routes.push(StaticRoute {
            source,
            group,
            inbound,
            outbound,
            runtime: false,
        });
    }

    let mut joins: Vec<StaticJoin> = Vec::new();
    let mut seen: HashSet<StaticJoin> = HashSet::new();
    for j in &raw.join {
        let j = j.get_ref();
        let interface = c.validate_ifname("interface", &j.interface)?;
        let group = c.validate_group_addr("group", &j.group)?;
        if group.is_link_local() {
            c.warn(
                j.group.span(),
                format!(
                    "group {group} is link-local (224.0.0.0/24): routers never forward it, \
                     so this join pulls nothing"
                ),
            );
        }
        let source = match &j.source {
            Some(s) => Some(c.validate_source_addr("source", s)?),
            None => None,
        };
        let join = StaticJoin {
            interface: interface.clone(),
            group,
            source,
            runtime: false,
        };
        if !seen.insert(join.clone()) {
            return Err(c.err(
                j.group.span(),
                format!("this join of {group} on '{interface}' is listed twice"),
            ));
        }
        if implicit {
            uses.push(use_of(
                &interface,
                "join",
                j.interface.span(),
                true,
                IgmpUse::Indifferent,
            ));
        }
        joins.push(join);
    }

    let interfaces = match explicit {
        Some(names) => names,
        None => {
            let mut names: Vec<String> = Vec::new();
            let mut known: HashSet<&str> = HashSet::new();
            for u in uses.iter() {
                if known.insert(u.name.as_str()) {
                    names.push(u.name.clone());
                }
            }
            names
        }
    };

    Ok(StaticConfig {
        interfaces,
        routes,
        joins,
    })
}

/// One interface named by the section; a claimed one is also owned.
fn use_of(
    name: &str,
    role: &'static str,
    span: Range<usize>,
    claim: bool,
    igmp: IgmpUse,
) -> InterfaceUse {
    InterfaceUse {
        name: name.to_owned(),
        role,
        span,
        claim,
        owned: claim,
        igmp,
    }
}
