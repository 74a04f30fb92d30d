//! The control tool's command line and exit codes.

use std::io;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::cli::logging::LEVELS;
use crate::ctl::client::ClientError;

const AFTER_LONG_HELP: &str = "\
EXIT STATUS:
    0    success
    1    any other failure: the conversation with mgmd broke off, or its
         reply could not be read
    2    bad usage (unknown command or option, missing argument)
    3    mgmd refused the request (e.g. unknown interface or protocol, an
         interface already owned by another protocol)
    4    mgmd is not running: the control socket is missing, or nobody
         listens on it
    5    permission denied on the control socket (it is root's, mode 0600;
         mgmd serves root and its own user only)
    6    verify: the kernel's multicast routing table differs from what mgmd
         programmed (the differences are listed; with --repair, repaired)

FILES:
    /run/mgmd/mgmd.sock      the default control socket
    /run/mgmd/mgmd-N.sock    the control socket of the mgmd on table N (-t N)

EXAMPLES:
    mgmctl show interfaces
    mgmctl -t 10 --json show routes
    mgmctl show counters lan1
    mgmctl take eth1 static
    mgmctl reload
    mgmctl route add 239.1.0.0/16 eth0 eth1 eth2 --source 10.0.0.0/24
    mgmctl route del 239.1.0.0/16 --source 10.0.0.0/24
    mgmctl join eth0 239.5.5.5 --source 10.0.0.9
    mgmctl show config
    mgmctl verify || mgmctl verify --repair
    mgmctl log debug mgmd::core      (then: mgmctl log info)
    mgmctl ping || echo \"mgmd is down (status $?)\"";

/// `mgmctl`'s command line.
#[derive(Parser, Debug)]
#[command(
    name = "mgmctl",
    version,
    about = "Control and inspect a running mgmd",
    long_about = "Control and inspect a running mgmd over its control socket: tables for \
                  people, --json for scripts. Each failure has its own exit status (see \
                  EXIT STATUS below), so scripts can tell a stopped daemon from a refused \
                  request.",
    after_long_help = AFTER_LONG_HELP
)]
pub struct Args {
    /// The daemon's control socket [default: /run/mgmd/mgmd.sock, or
    /// /run/mgmd/mgmd-N.sock with --table N].
    #[arg(short = 's', long, conflicts_with = "table")]
    pub socket: Option<PathBuf>,
    /// Talk to the mgmd running on multicast routing table N (its default
    /// control socket).
    #[arg(short = 't', long, value_name = "N")]
    pub table: Option<u32>,
    /// Print JSON instead of tables (errors as {"error": "..."}).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub cmd: Cmd,
}

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Show mgmd's state.
    Show {
        #[command(subcommand)]
        what: Show,
    },
    /// Give an interface's multicast to a routing protocol (runs the
    /// IGMP disable/enable sequence).
    Take { interface: String, protocol: String },
    /// Give an interface back to IGMP alone (runs the sequence).
    Release { interface: String, protocol: String },
    /// Stream ownership steps, membership and forwarding changes live.
    Events,
    /// Check that mgmd answers; prints its version, pid and counters.
    Ping,
    /// Read the configuration file again and apply what changed (as
    /// SIGHUP does). Prints what changed; a bad file changes nothing and
    /// is refused with FILE:LINE:COLUMN and the reason (exit status 3).
    Reload,
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
    /// Change the log level at run time: of everything, or of TARGET only
    /// (e.g. mgmd::core, packet, mroute); prints the filter now in force.
    Log {
        #[arg(value_parser = clap::builder::PossibleValuesParser::new(LEVELS))]
        level: String,
        target: Option<String>,
    },
    /// Restart mgmd onto the binary now at its path (an upgrade), handing
    /// over the multicast routing socket and what it learned: the kernel
    /// keeps forwarding meanwhile.
    Restart,
    /// Compare the kernel's multicast routing table (VIFs and forwarding
    /// entries) with what mgmd programmed and list every difference; exit
    /// status 6 when there is one. mgmd also does this by itself every
    /// global.kernel-audit-interval and repairs what it finds.
    Verify {
        /// Repair the differences now (restore mgmd's entries and VIFs,
        /// remove those it did not make).
        #[arg(long)]
        repair: bool,
    },
}

/// `route add|del`.
#[derive(Subcommand, Debug)]
pub enum RouteOp {
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

/// What `show` shows.
#[derive(Subcommand, Debug)]
pub enum Show {
    /// Interfaces, owners, IGMP and querier state.
    Interfaces,
    /// Groups and sources learned by IGMP, per interface.
    Groups,
    /// Forwarding entries with their counters.
    Routes,
    /// Routing protocols and the interfaces they own.
    Protocols,
    /// The running configuration: the file as read, then the runtime
    /// edits since the last reload (with --json: what mgmd runs on).
    Config,
    /// Every counter, zeros too: IGMP messages by type and direction and
    /// drops by reason per interface, the kernel's VIF counters, upcalls,
    /// kernel errors, netlink resyncs, ownership moves. With IFACE: only
    /// that interface's.
    Counters { interface: Option<String> },
}

// ===== exit codes =====

/// Why `mgmctl` failed; each has its own exit status (documented in
/// `mgmctl --help`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Anything else: the conversation broke off, a reply was unreadable.
    Other = 1,
    /// Bad usage: clap's own status.
    Usage = 2,
    /// mgmd answered with an error.
    Refused = 3,
    /// No mgmd: the socket is missing or nobody listens on it.
    NotRunning = 4,
    /// The control socket exists but may not be used by this user.
    PermissionDenied = 5,
    /// `verify`: the kernel's table differs from mgmd's.
    Drift = 6,
}

impl Failure {
    /// Which failure a client error is.
    pub fn of(e: &ClientError) -> Failure {
        match e {
            ClientError::Connect { source, .. } => match source.kind() {
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => Failure::NotRunning,
                io::ErrorKind::PermissionDenied => Failure::PermissionDenied,
                _ => Failure::Other,
            },
            ClientError::Daemon(_) => Failure::Refused,
            ClientError::Denied(_) => Failure::PermissionDenied,
            ClientError::Io(_) | ClientError::Malformed(_) => Failure::Other,
        }
    }

    pub fn code(self) -> u8 {
        self as u8
    }
}

// ===== tests =====

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_definition_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn the_socket_follows_the_table_unless_named() {
        let a = Args::try_parse_from(["mgmctl", "-t", "10", "ping"]).unwrap();
        assert_eq!((a.socket, a.table), (None, Some(10)));
        let a = Args::try_parse_from(["mgmctl", "-s", "/run/x.sock", "ping"]).unwrap();
        assert_eq!(a.socket, Some(PathBuf::from("/run/x.sock")));
        assert!(Args::try_parse_from(["mgmctl", "-s", "/run/x.sock", "-t", "10", "ping"]).is_err());
    }

    #[test]
    fn counters_and_log_parse() {
        let a = Args::try_parse_from(["mgmctl", "show", "counters", "lan1"]).unwrap();
        assert!(
            matches!(a.cmd, Cmd::Show { what: Show::Counters { interface: Some(i) } } if i == "lan1")
        );
        let a = Args::try_parse_from(["mgmctl", "show", "counters"]).unwrap();
        assert!(matches!(
            a.cmd,
            Cmd::Show {
                what: Show::Counters { interface: None }
            }
        ));
        let a = Args::try_parse_from(["mgmctl", "log", "debug", "mgmd::core"]).unwrap();
        assert!(
            matches!(a.cmd, Cmd::Log { level, target: Some(t) } if level == "debug" && t == "mgmd::core")
        );
        let e = Args::try_parse_from(["mgmctl", "log", "loud"]).unwrap_err();
        assert_eq!(e.exit_code(), i32::from(Failure::Usage.code()));
        assert!(Args::try_parse_from(["mgmctl", "log"]).is_err());
    }

    #[test]
    fn bad_usage_is_clap_status_two() {
        let e = Args::try_parse_from(["mgmctl", "frobnicate"]).unwrap_err();
        assert_eq!(e.exit_code(), i32::from(Failure::Usage.code()));
    }

    #[test]
    fn failures_are_told_apart() {
        let connect = |kind| ClientError::Connect {
            path: "/run/mgmd/mgmd.sock".into(),
            source: io::Error::from(kind),
        };
        let cases = [
            (connect(io::ErrorKind::NotFound), Failure::NotRunning),
            (
                connect(io::ErrorKind::ConnectionRefused),
                Failure::NotRunning,
            ),
            (
                connect(io::ErrorKind::PermissionDenied),
                Failure::PermissionDenied,
            ),
            (connect(io::ErrorKind::InvalidInput), Failure::Other),
            (
                ClientError::Daemon("no such interface".into()),
                Failure::Refused,
            ),
            (
                ClientError::Denied("permission denied: uid 65534 may not".into()),
                Failure::PermissionDenied,
            ),
            (
                ClientError::Malformed("connection closed".into()),
                Failure::Other,
            ),
            (
                ClientError::Io(io::Error::from(io::ErrorKind::BrokenPipe)),
                Failure::Other,
            ),
        ];
        for (e, want) in cases {
            assert_eq!(Failure::of(&e), want, "{e}");
        }
        let codes: std::collections::BTreeSet<u8> = [
            Failure::Other,
            Failure::Usage,
            Failure::Refused,
            Failure::NotRunning,
            Failure::PermissionDenied,
            Failure::Drift,
        ]
        .iter()
        .map(|f| f.code())
        .collect();
        assert_eq!(codes.len(), 6);
        assert!(!codes.contains(&0));
    }
}
