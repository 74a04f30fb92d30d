//! The control tool's command line and exit codes, and (in `run`) what it
//! does with them.

use std::io;
use std::path::{Path, PathBuf};

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::cli::logging::LEVELS;
use crate::core::protocol::registry::Registry;
use crate::ctl::client::ClientError;

mod run;

pub use run::main;

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
    -c FILE                  the control socket of the mgmd running on FILE
                             (its global.control-socket, or its table's)

EXAMPLES:
    mgmctl show interfaces
    mgmctl -t 10 --json show routes
    mgmctl -c /etc/mgmd/vrf10.toml reload
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
    #[arg(short = 't', long, value_name = "N", conflicts_with = "config")]
    pub table: Option<u32>,
    /// Talk to the mgmd that runs on configuration FILE: its control
    /// socket is the one FILE names (global.control-socket), or its
    /// table's default.
    #[arg(short = 'c', long, value_name = "FILE", conflicts_with = "socket")]
    pub config: Option<PathBuf>,
    /// Print JSON instead of tables (errors as {"error": "..."}).
    #[arg(long, global = true)]
    pub json: bool,
    /// The command, unless it is one a routing protocol adds (then it is
    /// in `edit`).
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
    /// A protocol's command: the runtime edit it asks for, and of whom.
    #[arg(skip)]
    pub edit: Option<ProtocolEdit>,
}

/// A command a routing protocol adds (see
/// [`crate::core::protocol::registry::ProtoCli`]), parsed: the
/// protocol and the edit of its section.
#[derive(Clone, Debug, PartialEq)]
pub struct ProtocolEdit {
    pub protocol: &'static str,
    pub edit: serde_json::Value,
}

/// mgmctl's whole command line: [`Args`] and the commands each registered
/// routing protocol adds (what `--help`, the man page and the completions
/// show).
pub fn command() -> clap::Command {
    Registry::default()
        .kinds()
        .iter()
        .filter_map(|k| k.cli)
        .fold(Args::command(), |c, cli| (cli.augment)(c))
        .subcommand_required(true)
}

impl Args {
    /// Parses a command line (with the protocols' commands).
    pub fn try_parse_from<I, T>(args: I) -> Result<Args, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Self::from_matches(command().try_get_matches_from(args)?)
    }

    /// Parses the process's command line; exits with clap's message (and
    /// status 2) when it does not fit.
    pub fn parse() -> Args {
        Self::from_matches(command().get_matches()).unwrap_or_else(|e| e.exit())
    }

    fn from_matches(matches: clap::ArgMatches) -> Result<Args, clap::Error> {
        let mut args = <Args as FromArgMatches>::from_arg_matches(&matches)?;
        if args.cmd.is_none() {
            for kind in Registry::default().kinds() {
                let Some(edit) = kind.cli.and_then(|cli| (cli.edit)(&matches)) else {
                    continue;
                };
                let edit =
                    edit.map_err(|e| clap::Error::raw(clap::error::ErrorKind::InvalidValue, e))?;
                args.edit = Some(ProtocolEdit {
                    protocol: kind.name,
                    edit,
                });
                break;
            }
        }
        Ok(args)
    }
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

// ===== the control socket =====

/// The control socket `args` name: `-s`, the one of the configuration
/// `-c` names, or the default (of table `-t`). A file mgmd would refuse
/// still names its socket when its `[global]` can be read, so that the
/// daemon is asked (and says why it refuses); a file that is not TOML at
/// all names none: the error is the file's.
pub fn control_socket(args: &Args) -> Result<PathBuf, String> {
    if let Some(s) = &args.socket {
        return Ok(s.clone());
    }
    let Some(path) = &args.config else {
        return Ok(crate::config::default_control_socket(args.table));
    };
    match super::config_file::load(path) {
        Ok(cfg) => Ok(cfg.global.control_socket),
        Err(e) => socket_named_in(path).ok_or_else(|| {
            format!("{e} (mgmd was not asked: the file does not say where its control socket is)")
        }),
    }
}

/// `[global]`'s control socket (or its table's default) read from a file
/// without checking the rest.
fn socket_named_in(path: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(path).ok()?;
    let doc: toml::Table = toml::from_str(&text).ok()?;
    let global = doc.get("global").and_then(|g| g.as_table());
    if let Some(s) = global.and_then(|g| g.get("control-socket")) {
        return s.as_str().map(PathBuf::from);
    }
    let table = match global.and_then(|g| g.get("table")) {
        None => None,
        Some(t) => Some(u32::try_from(t.as_integer()?).ok()?),
    };
    Some(crate::config::default_control_socket(table))
}

// ===== tests =====

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_definition_is_consistent() {
        command().debug_assert();
        let about = command().render_help().to_string();
        assert!(
            about.starts_with("Control and inspect a running mgmd"),
            "{about}"
        );
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
    fn the_socket_of_a_configuration_file() {
        let dir = std::env::temp_dir().join(format!("mgmctl-c-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let socket = |text: &str| {
            let path = dir.join("m.toml");
            std::fs::write(&path, text).unwrap();
            let a =
                Args::try_parse_from(["mgmctl", "-c", path.to_str().unwrap(), "reload"]).unwrap();
            control_socket(&a)
        };
        assert_eq!(socket(""), Ok(PathBuf::from("/run/mgmd/mgmd.sock")));
        assert_eq!(
            socket("[global]\ntable = 10\n"),
            Ok(PathBuf::from("/run/mgmd/mgmd-10.sock"))
        );
        assert_eq!(
            socket("[global]\ncontrol-socket = \"/run/x.sock\"\n"),
            Ok(PathBuf::from("/run/x.sock"))
        );
        // Refused by mgmd, but its socket is still known: mgmd is asked.
        assert_eq!(
            socket("[global]\ntable = 10\n[igmp]\nrobustness = 9\n"),
            Ok(PathBuf::from("/run/mgmd/mgmd-10.sock"))
        );
        // Not TOML: the file's error, with its position.
        let e = socket("[global\ntable = 10\n").unwrap_err();
        assert!(
            e.contains("m.toml:1:") && e.contains("was not asked"),
            "{e}"
        );
        assert!(Args::try_parse_from(["mgmctl", "-c", "x", "-t", "1", "ping"]).is_err());
        assert!(Args::try_parse_from(["mgmctl", "-c", "x", "-s", "y", "ping"]).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn counters_and_log_parse() {
        let a = Args::try_parse_from(["mgmctl", "show", "counters", "lan1"]).unwrap();
        assert!(
            matches!(a.cmd, Some(Cmd::Show { what: Show::Counters { interface: Some(i) } }) if i == "lan1")
        );
        let a = Args::try_parse_from(["mgmctl", "show", "counters"]).unwrap();
        assert!(matches!(
            a.cmd,
            Some(Cmd::Show {
                what: Show::Counters { interface: None }
            })
        ));
        let a = Args::try_parse_from(["mgmctl", "log", "debug", "mgmd::core"]).unwrap();
        assert!(
            matches!(a.cmd, Some(Cmd::Log { level, target: Some(t) }) if level == "debug" && t == "mgmd::core")
        );
        let e = Args::try_parse_from(["mgmctl", "log", "loud"]).unwrap_err();
        assert_eq!(e.exit_code(), i32::from(Failure::Usage.code()));
        assert!(Args::try_parse_from(["mgmctl", "log"]).is_err());
    }

    #[test]
    fn a_protocol_s_commands_parse_into_an_edit_of_its_section() {
        let a = Args::try_parse_from(["mgmctl", "--json", "join", "eth0", "239.5.5.5"]).unwrap();
        assert!(a.cmd.is_none() && a.json);
        let e = a.edit.unwrap();
        assert_eq!(e.protocol, "static");
        assert_eq!(e.edit["edit"], "join");
        assert_eq!(e.edit["group"], "239.5.5.5");
        // Usage errors in them are usage errors (status 2), and no command
        // at all is one too.
        let e = Args::try_parse_from(["mgmctl", "route", "add", "239.1.1.1", "eth0"]).unwrap_err();
        assert_eq!(e.exit_code(), i32::from(Failure::Usage.code()));
        let e = Args::try_parse_from(["mgmctl"]).unwrap_err();
        assert_eq!(e.exit_code(), i32::from(Failure::Usage.code()));
        // The help lists them with the daemon's own commands.
        let help = command().render_long_help().to_string();
        for c in ["route", "join", "leave", "show", "take"] {
            assert!(help.contains(c), "{c} missing from:\n{help}");
        }
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
