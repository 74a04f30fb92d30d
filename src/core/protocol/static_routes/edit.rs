//! Runtime edits of the static routes and joins (`mgmctl route add|del`,
//! `mgmctl join|leave`). The router hands an edit addressed to static over
//! unread ([`StaticConfig`]'s `ProtocolConfig::edit`); it is read here as an
//! [`Edit`], checked by the same validation as the file (it is written as
//! a `[static]` snippet and read back), then applied to the running
//! [`StaticConfig`]. Edits last until the next reload or
//! restart. They never change which interfaces static owns: a route or
//! join applies while static owns the interfaces it names (as with an
//! explicit `interfaces` list; `mgmctl take IFACE static` gives it more).

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::config::{NAME, parse_section};
use super::{StaticConfig, StaticJoin, StaticRoute};
use crate::core::config_check::{Checker, ConfigError, ConfigWarning};
use crate::core::protocol::registry::{Edited, Running};

/// One runtime edit, as `mgmctl` sends it (addresses and names as typed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "edit", rename_all = "kebab-case")]
pub enum Edit {
    /// Add a route: traffic for `group` (from `source`) arriving on
    /// `inbound` goes out of `outbound`; those in `with_members` forward
    /// only while IGMP has members there.
    RouteAdd {
        source: Option<String>,
        group: String,
        inbound: String,
        outbound: Vec<String>,
        #[serde(default)]
        with_members: Vec<String>,
    },
    /// Delete the route for (`source`, `group`).
    RouteDel {
        source: Option<String>,
        group: String,
    },
    /// Join `group` (from `source`) on `interface` as a host.
    Join {
        interface: String,
        group: String,
        source: Option<String>,
    },
    /// Leave what a join (of the file or at runtime) joined.
    Leave {
        interface: String,
        group: String,
        source: Option<String>,
    },
}

impl Edit {
    /// The edit as a TOML snippet of `[static]`, the way it would be
    /// written in the file (for `mgmctl show config`).
    pub fn to_toml(&self) -> String {
        let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
        let source = |s: &Option<String>| {
            s.as_deref()
                .map_or(String::new(), |s| format!("source = {}\n", q(s)))
        };
        match self {
            Edit::RouteAdd {
                source: s,
                group,
                inbound,
                outbound,
                with_members,
            } => {
                let outs: Vec<String> = outbound
                    .iter()
                    .map(|o| q(o))
                    .chain(
                        with_members
                            .iter()
                            .map(|o| format!("{{ name = {}, only-with-members = true }}", q(o))),
                    )
                    .collect();
                format!(
                    "[[static.route]]\n{}group = {}\ninbound = {}\noutbound = [{}]\n",
                    source(s),
                    q(group),
                    q(inbound),
                    outs.join(", ")
                )
            }
            Edit::RouteDel { source: s, group } => {
                format!(
                    "# route deleted: {}group = {}\n",
                    source(s).replace('\n', ", "),
                    q(group)
                )
            }
            Edit::Join {
                interface,
                group,
                source: s,
            } => format!(
                "[[static.join]]\ninterface = {}\ngroup = {}\n{}",
                q(interface),
                q(group),
                source(s)
            ),
            Edit::Leave {
                interface,
                group,
                source: s,
            } => format!(
                "# join left: interface = {}, group = {}{}\n",
                q(interface),
                q(group),
                s.as_deref()
                    .map_or(String::new(), |s| format!(", source = {}", q(s)))
            ),
        }
    }
}

/// A runtime edit as the router hands it to static (an [`Edit`] in JSON),
/// applied to `cfg`, checked against the `running` configuration.
pub(super) fn apply(
    cfg: &StaticConfig,
    edit: &serde_json::Value,
    running: &Running<'_>,
) -> Result<Edited, String> {
    let edit = Edit::deserialize(edit).map_err(|e| format!("malformed edit of static: {e}"))?;
    // An outbound that forwards only with members needs IGMP there.
    if let Edit::RouteAdd { with_members, .. } = &edit {
        let igmp = |n: &String| (running.igmp_on)(n);
        if let Some(name) = with_members.iter().find(|n| !igmp(n)) {
            return Err(format!(
                "outbound interface '{name}' forwards only with members, but IGMP does not run \
                 on it"
            ));
        }
    }
    Ok(Edited {
        config: Arc::new(cfg.edited(&edit)?),
        text: edit.to_toml(),
        warnings: edit.warnings(),
    })
}

impl StaticConfig {
    /// The configuration with `edit` applied, or why it cannot be.
    pub fn edited(&self, edit: &Edit) -> Result<StaticConfig, String> {
        let mut cfg = self.clone();
        match edit {
            Edit::RouteAdd { .. } => {
                let mut route = parse_route(edit)?;
                route.runtime = true;
                if let Some(old) = cfg.routes.iter().find(|r| same_key(r, &route)) {
                    return Err(format!(
                        "a route for {} already exists ({}); delete it first",
                        key_text(&route),
                        if old.runtime {
                            "added at runtime"
                        } else {
                            "in the configuration file"
                        }
                    ));
                }
                cfg.routes.push(route);
            }
            Edit::RouteDel { source, group } => {
                // The same key as a route with these addresses would have.
                let probe = parse_route(&Edit::RouteAdd {
                    source: source.clone(),
                    group: group.clone(),
                    inbound: "probe-in".into(),
                    outbound: vec!["probe-out".into()],
                    with_members: Vec::new(),
                })?;
                let before = cfg.routes.len();
                cfg.routes.retain(|r| !same_key(r, &probe));
                if cfg.routes.len() == before {
                    return Err(format!("there is no route for {}", key_text(&probe)));
                }
            }
            Edit::Join { .. } => {
                let mut join = parse_join(edit)?;
                join.runtime = true;
                if cfg.joins.iter().any(|j| same_join(j, &join)) {
                    return Err(format!("{} is already joined", join_text(&join)));
                }
                cfg.joins.push(join);
            }
            Edit::Leave {
                interface,
                group,
                source,
            } => {
                let probe = parse_join(&Edit::Join {
                    interface: interface.clone(),
                    group: group.clone(),
                    source: source.clone(),
                })?;
                let before = cfg.joins.len();
                cfg.joins.retain(|j| !same_join(j, &probe));
                if cfg.joins.len() == before {
                    return Err(format!("{} is not joined", join_text(&probe)));
                }
            }
        }
        Ok(cfg)
    }
}

impl Edit {
    /// What the edit does that does nothing useful (a route or join for a
    /// link-local group), as `--check` would warn of it in the file.
    pub fn warnings(&self) -> Vec<String> {
        if matches!(self, Edit::RouteDel { .. } | Edit::Leave { .. }) {
            return Vec::new();
        }
        let text = format!("{SNIPPET_HEAD}{}", self.to_toml());
        match read_snippet(&text) {
            // The head's own lines are not the edit's.
            Ok((_, warnings)) => warnings
                .into_iter()
                .filter(|w| w.at.line > SNIPPET_HEAD.lines().count())
                .map(|w| w.message)
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}

/// What an edit is read after: an empty `[static]`.
const SNIPPET_HEAD: &str = "[static]\ninterfaces = []\n";

// ===== helper functions =====

/// Reads a snippet holding a `[static]` section as the file's validation
/// reads that section. Whether IGMP runs where the section needs it is not
/// the snippet's to say: [`apply`] checks that against the running
/// configuration.
fn read_snippet(text: &str) -> Result<(Option<StaticConfig>, Vec<ConfigWarning>), ConfigError> {
    let c = Checker::new(Path::new("edit"), text);
    let mut section = None;
    for (key, value) in c.entries()? {
        if key.get_ref() == NAME {
            section = Some(parse_section(&c, value)?.0);
        }
    }
    Ok((section, c.take_warnings()))
}

/// Reads the edit back through the file's validation. Errors lose their
/// position in the snippet: the edit is the position.
fn parse_snippet(edit: &Edit) -> Result<StaticConfig, String> {
    let text = format!("{SNIPPET_HEAD}{}", edit.to_toml());
    read_snippet(&text)
        .map_err(|e| e.message())?
        .0
        .ok_or_else(|| "the edit holds no [static] entry".to_owned())
}

fn parse_route(edit: &Edit) -> Result<StaticRoute, String> {
    parse_snippet(edit)?
        .routes
        .into_iter()
        .next()
        .ok_or_else(|| "the edit holds no route".to_owned())
}

fn parse_join(edit: &Edit) -> Result<StaticJoin, String> {
    parse_snippet(edit)?
        .joins
        .into_iter()
        .next()
        .ok_or_else(|| "the edit holds no join".to_owned())
}

fn same_key(a: &StaticRoute, b: &StaticRoute) -> bool {
    a.source == b.source && a.group == b.group
}

fn same_join(a: &StaticJoin, b: &StaticJoin) -> bool {
    a.interface == b.interface && a.group == b.group && a.source == b.source
}

fn key_text(r: &StaticRoute) -> String {
    match r.source {
        Some(s) => format!("({s}, {})", r.group),
        None => format!("(*, {})", r.group),
    }
}

fn join_text(j: &StaticJoin) -> String {
    match j.source {
        Some(s) => format!("({s}, {}) on {}", j.group, j.interface),
        None => format!("{} on {}", j.group, j.interface),
    }
}

// ===== tests =====

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> StaticConfig {
        read_snippet(
            "[static]\ninterfaces = [\"eth0\", \"eth1\"]\n[[static.route]]\ngroup = \
             \"239.1.1.0/24\"\ninbound = \"eth0\"\noutbound = [\"eth1\"]\n",
        )
        .unwrap()
        .0
        .unwrap()
    }

    fn add(source: Option<&str>, group: &str) -> Edit {
        Edit::RouteAdd {
            source: source.map(String::from),
            group: group.into(),
            inbound: "eth0".into(),
            outbound: vec!["eth1".into()],
            with_members: Vec::new(),
        }
    }

    #[test]
    fn routes_are_added_and_deleted_by_source_and_group() {
        let cfg = base().edited(&add(Some("10.0.0.5"), "239.2.2.2")).unwrap();
        assert_eq!(cfg.routes.len(), 2);
        assert!(cfg.routes[1].runtime && !cfg.routes[0].runtime);
        assert_eq!(
            cfg.interfaces,
            base().interfaces,
            "ownership does not change"
        );
        let e = cfg.edited(&add(Some("10.0.0.5"), "239.2.2.2")).unwrap_err();
        assert!(e.contains("already exists (added at runtime)"), "{e}");
        let e = base().edited(&add(None, "239.1.1.0/24")).unwrap_err();
        assert!(e.contains("in the configuration file"), "{e}");
        // A file route may be deleted too.
        let del = |s: Option<&str>, g: &str| Edit::RouteDel {
            source: s.map(String::from),
            group: g.into(),
        };
        let cfg = cfg.edited(&del(None, "239.1.1.0/24")).unwrap();
        assert_eq!(cfg.routes.len(), 1);
        let e = cfg.edited(&del(None, "239.9.9.9")).unwrap_err();
        assert_eq!(e, "there is no route for (*, 239.9.9.9)");
    }

    #[test]
    fn edits_are_checked_like_the_file() {
        let e = base().edited(&add(None, "10.1.1.1")).unwrap_err();
        assert!(e.contains("is not a multicast group"), "{e}");
        let e = base()
            .edited(&add(Some("239.0.0.1"), "239.1.1.1"))
            .unwrap_err();
        assert!(e.contains("multicast address"), "{e}");
        let bad = Edit::RouteAdd {
            source: None,
            group: "239.3.3.3".into(),
            inbound: "eth0".into(),
            outbound: vec!["eth0".into()],
            with_members: Vec::new(),
        };
        let e = base().edited(&bad).unwrap_err();
        assert!(
            e.contains("both the inbound interface and an outbound"),
            "{e}"
        );
        // Quotes in names cannot break out of the snippet.
        let sneaky = Edit::Join {
            interface: "a\"\n[global]\ntable = 5\n#".into(),
            group: "239.1.1.1".into(),
            source: None,
        };
        assert!(base().edited(&sneaky).is_err());
    }

    #[test]
    fn joins_and_leaves() {
        let join = Edit::Join {
            interface: "eth0".into(),
            group: "239.5.5.5".into(),
            source: Some("10.0.0.9".into()),
        };
        let cfg = base().edited(&join).unwrap();
        assert_eq!(cfg.joins.len(), 1);
        assert!(cfg.edited(&join).unwrap_err().contains("already joined"));
        let leave = Edit::Leave {
            interface: "eth0".into(),
            group: "239.5.5.5".into(),
            source: Some("10.0.0.9".into()),
        };
        assert!(cfg.edited(&leave).unwrap().joins.is_empty());
        assert!(base().edited(&leave).unwrap_err().contains("is not joined"));
        assert!(join.to_toml().starts_with("[[static.join]]\n"));
    }
}
