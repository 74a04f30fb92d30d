//! The `[proxy]` section: its raw form, its validation and the validated
//! [`ProxyConfig`].

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use toml::Spanned;
use toml::de::DeValue;

use crate::core::config_check::{
    Checker, ConfigError, GroupFilter, GroupRange, IgmpUse, InterfaceUse, SpStr, table_keys,
};
use crate::core::protocol::RoutingProtocol;
use crate::core::protocol::registry::{
    HostMemberships, ParsedSection, ProtocolConfig, ProtocolKind, SectionChange, TableKeys,
    list_changes, show_list, value_change,
};
use crate::core::types::ipv4_of;

/// The section name and the protocol's name.
pub const NAME: &str = "proxy";

/// The proxy in the registry.
pub const KIND: ProtocolKind = ProtocolKind {
    name: NAME,
    parse,
    keys,
    cli: None,
};

// ===== validated =====

/// `[proxy]`: IGMP proxy (RFC 4605).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProxyConfig {
    /// Upstream interfaces in order of preference (never empty); the proxy
    /// owns them. The first one that is up is used.
    pub upstream: Vec<String>,
    /// Downstream interfaces (never empty); IGMP runs on them.
    pub downstream: Vec<String>,
    /// Groups the proxy may join on the upstream.
    pub upstream_groups: GroupFilter,
    /// Groups whose downstream memberships the proxy acts on.
    pub downstream_groups: GroupFilter,
    /// Only traffic from these sources is forwarded; empty = any source.
    pub legal_sources: Vec<Ipv4Net>,
}

impl ProxyConfig {
    /// Whether traffic from `source` may be forwarded.
    /// Whether the proxy forwards from `source`. The legal sources are
    /// IPv4 prefixes: an IPv6 source is legal only where none are set.
    pub fn is_legal_source(&self, source: IpAddr) -> bool {
        self.legal_sources.is_empty()
            || ipv4_of(source).is_some_and(|s| self.legal_sources.iter().any(|n| n.contains(&s)))
    }
}

impl ProtocolConfig for ProxyConfig {
    fn name(&self) -> &'static str {
        NAME
    }

    fn owned_interfaces(&self) -> &[String] {
        &self.upstream
    }

    fn querier_forwarded_interfaces(&self) -> &[String] {
        &self.downstream
    }

    fn build(&self) -> Box<dyn RoutingProtocol> {
        Box::new(super::Proxy::new(self.clone()))
    }

    fn host_memberships(&self) -> HostMemberships {
        HostMemberships {
            following_hosts: Some("the proxy's upstream joins"),
            ..HostMemberships::default()
        }
    }
    /// Interface and source lists that went and came, group filters old
    /// and new, by key in name order.
    fn diff(&self, new: &dyn ProtocolConfig) -> Vec<SectionChange> {
        let Some(new) = new.as_any().downcast_ref::<ProxyConfig>() else {
            return vec![SectionChange::Changed];
        };
        let mut out = list_changes(
            "downstream",
            &self.downstream,
            &new.downstream,
            String::clone,
        );
        out.extend(value_change(
            "downstream-groups",
            &self.downstream_groups,
            &new.downstream_groups,
            brief_filter,
        ));
        out.extend(list_changes(
            "legal-sources",
            &self.legal_sources,
            &new.legal_sources,
            Ipv4Net::to_string,
        ));
        out.extend(list_changes(
            "upstream",
            &self.upstream,
            &new.upstream,
            String::clone,
        ));
        out.extend(value_change(
            "upstream-groups",
            &self.upstream_groups,
            &new.upstream_groups,
            brief_filter,
        ));
        out
    }
}

/// `allow=239.0.0.0/8 deny=239.255.0.0/16`, the empty lists left out.
fn brief_filter(f: &GroupFilter) -> String {
    [("allow", &f.allow), ("deny", &f.deny)]
        .into_iter()
        .filter(|(_, l)| !l.is_empty())
        .map(|(k, l)| format!("{k}={}", show_list(l, |r| r.net().to_string())))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The one table of `[proxy]` and its keys.
fn keys() -> Vec<TableKeys> {
    vec![TableKeys {
        table: NAME.to_owned(),
        keys: table_keys::<RawProxy>(),
    }]
}

// ===== raw =====

/// `[proxy]`
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
struct RawProxy {
    upstream: Vec<SpStr>,
    downstream: Vec<SpStr>,
    upstream_allow_groups: Vec<SpStr>,
    upstream_deny_groups: Vec<SpStr>,
    downstream_allow_groups: Vec<SpStr>,
    downstream_deny_groups: Vec<SpStr>,
    legal_sources: Vec<SpStr>,
}

// ===== validation =====

fn parse(c: &Checker<'_>, value: Spanned<DeValue<'_>>) -> Result<ParsedSection, ConfigError> {
    let span = value.span();
    let raw: RawProxy = c.section(value)?;
    let mut uses = Vec::new();
    let config = validate(c, &raw, span, &mut uses)?;
    Ok(ParsedSection {
        config: Arc::new(config),
        uses,
    })
}

fn validate(
    c: &Checker<'_>,
    raw: &RawProxy,
    span: std::ops::Range<usize>,
    uses: &mut Vec<InterfaceUse>,
) -> Result<ProxyConfig, ConfigError> {
    if raw.upstream.is_empty() {
        return Err(c.err(
            span,
            "[proxy] has no upstream interface; add upstream = [\"wan0\"] (several are \
                 tried in order)"
                .to_owned(),
        ));
    }
    if raw.downstream.is_empty() {
        return Err(c.err(
            span,
            "[proxy] has no downstream interface; add downstream = [\"lan0\", ...], the \
                 interfaces whose receivers the proxy serves"
                .to_owned(),
        ));
    }
    let mut upstream: Vec<String> = Vec::new();
    for n in &raw.upstream {
        let name = c.validate_ifname("upstream", n)?;
        if upstream.contains(&name) {
            return Err(c.err(
                n.span(),
                format!("interface '{name}' is listed twice in upstream"),
            ));
        }
        // A proxy acts as a host on its upstream (RFC 4605 2.1).
        uses.push(InterfaceUse {
            name: name.clone(),
            role: "upstream",
            span: n.span(),
            claim: true,
            owned: true,
            igmp: IgmpUse::Host,
        });
        upstream.push(name);
    }
    let mut downstream: Vec<String> = Vec::new();
    for n in &raw.downstream {
        let name = c.validate_ifname("downstream", n)?;
        if upstream.contains(&name) {
            return Err(c.err(
                n.span(),
                format!(
                    "interface '{name}' is both a proxy upstream and a proxy downstream; an \
                         interface is one or the other"
                ),
            ));
        }
        if downstream.contains(&name) {
            return Err(c.err(
                n.span(),
                format!("interface '{name}' is listed twice in downstream"),
            ));
        }
        uses.push(InterfaceUse {
            name: name.clone(),
            role: "downstream",
            span: n.span(),
            claim: true,
            owned: false,
            igmp: IgmpUse::Serves {
                refusal: format!(
                    "interface '{name}' is a proxy downstream but has igmp = false; the \
                         proxy learns its receivers through IGMP there: remove igmp = false"
                ),
            },
        });
        downstream.push(name);
    }
    let filter = |allow_key: &str, allow: &[SpStr], deny_key: &str, deny: &[SpStr]| {
        Ok::<_, ConfigError>(GroupFilter {
            allow: allow
                .iter()
                .map(|g| c.validate_group_range(allow_key, g))
                .collect::<Result<_, ConfigError>>()?,
            deny: deny
                .iter()
                .map(|g| c.validate_group_range(deny_key, g))
                .collect::<Result<_, ConfigError>>()?,
        })
    };
    let upstream_groups = filter(
        "upstream-allow-groups",
        &raw.upstream_allow_groups,
        "upstream-deny-groups",
        &raw.upstream_deny_groups,
    )?;
    let downstream_groups = filter(
        "downstream-allow-groups",
        &raw.downstream_allow_groups,
        "downstream-deny-groups",
        &raw.downstream_deny_groups,
    )?;
    for (which, f, deny) in [
        ("upstream", &upstream_groups, &raw.upstream_deny_groups),
        (
            "downstream",
            &downstream_groups,
            &raw.downstream_deny_groups,
        ),
    ] {
        let nets = |v: &[GroupRange]| v.iter().map(|r| r.net()).collect::<Vec<_>>();
        if let Some(first) = deny.first() {
            c.warn_overlap(
                &format!("{which}-allow-groups"),
                &nets(&f.allow),
                &format!("{which}-deny-groups"),
                &nets(&f.deny),
                first.span(),
            );
        }
    }
    Ok(ProxyConfig {
        upstream,
        downstream,
        upstream_groups,
        downstream_groups,
        legal_sources: raw
            .legal_sources
            .iter()
            .map(|s| c.validate_source_prefix("legal-sources", s))
            .collect::<Result<_, ConfigError>>()?,
    })
}
