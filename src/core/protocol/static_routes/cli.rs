//! The commands the static protocol adds to `mgmctl`: `route add|del`,
//! `join` and `leave`, each a runtime edit of the `[static]` section
//! ([`Edit`]), lost at the next reload or restart.

use clap::{ArgMatches, FromArgMatches, Subcommand};

use super::edit::Edit;
use crate::core::protocol::registry::ProtoCli;

/// `mgmctl route|join|leave`.
pub const CLI: ProtoCli = ProtoCli {
    augment: |c| Commands::augment_subcommands(c),
    edit,
};

// The commands. (A doc comment here would become the help text of the
// whole of mgmctl: `augment_subcommands` takes it as the command's about.)
#[derive(Subcommand, Debug, PartialEq)]
enum Commands {
    /// Add or delete a static route at runtime (until the next reload or
    /// restart). Needs a [static] section; the route uses the interfaces
    /// static owns.
    Route {
        #[command(subcommand)]
        op: RouteOp,
    },
    /// Join GROUP (from SOURCE) on INTERFACE at runtime, as a static join
    /// (until the next reload or restart).
    Join {
        interface: String,
        group: String,
        /// Join from this source only (source-specific).
        #[arg(long)]
        source: Option<String>,
    },
    /// Leave what `join` (or a [[static.join]] of the file) joined.
    Leave {
        interface: String,
        group: String,
        #[arg(long)]
        source: Option<String>,
    },
}

// `route add|del`.
#[derive(Subcommand, Debug, PartialEq)]
enum RouteOp {
    /// Forward GROUP (a group or prefix) arriving on INBOUND out of each
    /// OUTBOUND.
    Add {
        group: String,
        inbound: String,
        #[arg(required = true)]
        outbound: Vec<String>,
        /// Only from this source (an address or prefix).
        #[arg(long)]
        source: Option<String>,
        /// An outbound interface that forwards only while IGMP has members
        /// there (repeat for several).
        #[arg(long = "with-members", value_name = "IFACE")]
        with_members: Vec<String>,
    },
    /// Delete the route for GROUP (and SOURCE), from the file or added at
    /// runtime.
    Del {
        group: String,
        #[arg(long)]
        source: Option<String>,
    },
}

/// The edit `matches` (mgmctl's) ask for, if their command is one of
/// these.
fn edit(matches: &ArgMatches) -> Option<Result<serde_json::Value, String>> {
    let name = matches.subcommand_name()?;
    if !Commands::has_subcommand(name) {
        return None;
    }
    let edit = match Commands::from_arg_matches(matches) {
        Ok(c) => to_edit(c),
        Err(e) => return Some(Err(e.to_string())),
    };
    Some(serde_json::to_value(edit).map_err(|e| e.to_string()))
}

fn to_edit(c: Commands) -> Edit {
    match c {
        Commands::Route {
            op:
                RouteOp::Add {
                    group,
                    inbound,
                    outbound,
                    source,
                    with_members,
                },
        } => Edit::RouteAdd {
            source,
            group,
            inbound,
            outbound: outbound
                .into_iter()
                .filter(|o| !with_members.contains(o))
                .collect(),
            with_members,
        },
        Commands::Route {
            op: RouteOp::Del { group, source },
        } => Edit::RouteDel { source, group },
        Commands::Join {
            interface,
            group,
            source,
        } => Edit::Join {
            interface,
            group,
            source,
        },
        Commands::Leave {
            interface,
            group,
            source,
        } => Edit::Leave {
            interface,
            group,
            source,
        },
    }
}

// ===== tests =====

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Command;

    fn parse(args: &[&str]) -> Option<Result<serde_json::Value, String>> {
        let c = (CLI.augment)(Command::new("mgmctl").subcommand(Command::new("ping")));
        let m = c.try_get_matches_from(args).unwrap();
        (CLI.edit)(&m)
    }

    fn edit_of(args: &[&str]) -> Edit {
        serde_json::from_value(parse(args).unwrap().unwrap()).unwrap()
    }

    #[test]
    fn commands_become_the_edits_of_the_section() {
        assert_eq!(
            edit_of(&[
                "mgmctl",
                "route",
                "add",
                "239.1.0.0/16",
                "eth0",
                "eth1",
                "eth2",
                "--source",
                "10.0.0.0/24",
                "--with-members",
                "eth2"
            ]),
            Edit::RouteAdd {
                source: Some("10.0.0.0/24".into()),
                group: "239.1.0.0/16".into(),
                inbound: "eth0".into(),
                outbound: vec!["eth1".into()],
                with_members: vec!["eth2".into()],
            }
        );
        assert_eq!(
            edit_of(&["mgmctl", "route", "del", "239.1.0.0/16"]),
            Edit::RouteDel {
                source: None,
                group: "239.1.0.0/16".into(),
            }
        );
        assert_eq!(
            edit_of(&[
                "mgmctl",
                "join",
                "eth0",
                "239.5.5.5",
                "--source",
                "10.0.0.9"
            ]),
            Edit::Join {
                interface: "eth0".into(),
                group: "239.5.5.5".into(),
                source: Some("10.0.0.9".into()),
            }
        );
        assert_eq!(
            edit_of(&["mgmctl", "leave", "eth0", "239.5.5.5"]),
            Edit::Leave {
                interface: "eth0".into(),
                group: "239.5.5.5".into(),
                source: None,
            }
        );
    }

    #[test]
    fn other_commands_are_not_these() {
        assert!(parse(&["mgmctl", "ping"]).is_none());
    }
}
