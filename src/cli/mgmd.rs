//! The daemon's command line and exit codes.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::{DEFAULT_PATH, LogLevel};

/// sysexits.h: the configuration is invalid.
pub const EX_CONFIG: u8 = 78;
/// sysexits.h: an operating system error (e.g. the daemon could not be
/// started in the background).
pub const EX_OSERR: u8 = 71;
/// sysexits.h: the service is unavailable (here: the detached daemon did
/// not report readiness in time).
pub const EX_UNAVAILABLE: u8 = 69;
/// sysexits.h: the command line is wrong (an unknown option or
/// subcommand, a missing argument). Not clap's 2, which `check-system`
/// gives to "only warnings".
pub const EX_USAGE: u8 = 64;

const CHECK_SYSTEM_AFTER_LONG_HELP: &str = "\
STATUSES:
    ok         there, or not needed
    info       missing or unknown, but this configuration does not need it
               (IPv6 multicast routing; several tables when it sets no table)
    warning    mgmd runs, but something will not work as configured
    missing    mgmd cannot start, or cannot do what the configuration asks

EXIT STATUS:
    0     everything mgmd needs is there (info lines are notes)
    1     something mgmd needs is missing: it cannot start, or cannot do
          what the configuration asks
    2     only warnings: mgmd runs, degraded
    64    bad usage (EX_USAGE)

EXAMPLES:
    mgmd check-system
    mgmd check-system -c /etc/mgmd/vrf10.toml --json";

const LONG_ABOUT: &str = "\
mgmd owns the kernel's IPv4 multicast routing socket, runs the router side of \
IGMP (v1/v2/v3, RFC 3376) on the interfaces it is given, and lets routing \
protocols take interfaces over without disturbing IGMP: a static routing \
protocol (routes and joins from the configuration, smcroute-like) and an IGMP \
proxy (RFC 4605, igmpproxy-like).

Everything comes from one TOML file (see -c and mgmd.toml(5)). mgmctl(8) \
talks to the running daemon over its control socket.

Under systemd (Type=notify) mgmd reports readiness once it follows the \
interfaces, owns the multicast routing socket and answers on its control \
socket, sends a one-line status, pings the watchdog when WatchdogSec= is set, \
and logs to the journal with its severities.";

const AFTER_LONG_HELP: &str = "\
FILES:
    /etc/mgmd/mgmd.toml    default configuration file
    /run/mgmd/mgmd.sock    default control socket (global.control-socket);
                           /run/mgmd/mgmd-N.sock with global.table = N
    /run/mgmd/mgmd.pid     default pid file (global.pid-file);
                           /run/mgmd/mgmd-N.pid with global.table = N

ENVIRONMENT:
    RUST_LOG         a log filter: LEVEL, TARGET or TARGET=LEVEL, separated
                     by commas (e.g. \"info,mgmd::core=debug\"); overrides
                     --log-level and global.log-level when set
    NOTIFY_SOCKET    where readiness, status and stopping are reported
                     (sd_notify protocol; set by systemd for Type=notify)
    WATCHDOG_USEC    the watchdog interval: mgmd sends WATCHDOG=1 from its
                     event loop at least every half of it (WatchdogSec=)
    JOURNAL_STREAM   when it names standard error, logs go to the journal
                     with their severities (set by systemd)
    NO_COLOR         no colour in log lines even on a terminal

EXIT STATUS:
    0     success (--check: the configuration is valid)
    1     --check: the configuration is invalid
    64    bad usage: an unknown option or subcommand, a missing argument
          (EX_USAGE)
    69    the daemon cannot run: another multicast routing daemon owns the
          kernel's multicast routing table, or the control socket or the
          metrics address is in use (EX_UNAVAILABLE); with -d also: no readiness within 90 seconds
    71    an operating system call failed at start-up (EX_OSERR)
    77    missing privileges: CAP_NET_RAW, and CAP_NET_ADMIN for a table
          (EX_NOPERM)
    78    the configuration is invalid or unreadable (EX_CONFIG)
    With -d the status is the daemon's own when it fails to start.
    mgmd check-system has its own: 0 everything is there, 1 something
    mgmd needs is missing, 2 only warnings (see mgmd-check-system(8)).

EXAMPLES:
    mgmd check-system    (does this kernel and this configuration run mgmd?)
    mgmd --check -c /etc/mgmd/mgmd.toml
    mgmd --log-level debug
    mgmd -d -c /etc/mgmd/mgmd.toml
    systemctl start mgmd          (the packaged unit: /etc/mgmd/mgmd.toml)
    systemctl start mgmd@vrf10    (one instance per table: /etc/mgmd/vrf10.toml)
    mgmd --record /var/tmp/mgmd.rec     (then: mgmd replay /var/tmp/mgmd.rec)";

/// `mgmd`'s command line.
#[derive(Debug, Parser)]
#[command(
    name = "mgmd",
    version,
    about = "Multicast group manager: IGMP querier and multicast routing for Linux routers",
    long_about = LONG_ABOUT,
    after_long_help = AFTER_LONG_HELP,
    args_conflicts_with_subcommands = true
)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Sub>,

    /// Read the configuration from FILE.
    ///
    /// Errors are reported as FILE:LINE:COLUMN: message.
    #[arg(short = 'c', long = "config", value_name = "FILE", default_value = DEFAULT_PATH)]
    pub config: PathBuf,

    /// Check the configuration and exit.
    ///
    /// Prints "FILE: configuration OK" and exits 0, or prints the first
    /// problem found and exits 1. A valid file is also checked against this
    /// system as `mgmd check-system` does: what it finds missing or worth a
    /// warning is printed on standard error and leaves the exit status
    /// alone. The running daemon, if any, is not touched.
    #[arg(long)]
    pub check: bool,

    /// Log at LEVEL and above (overrides global.log-level).
    #[arg(short = 'l', long, value_name = "LEVEL", value_enum)]
    pub log_level: Option<LevelArg>,

    /// Write log lines as FORMAT.
    ///
    /// text: one line per event, coloured only when standard error is a
    /// terminal (and NO_COLOR is unset). json: one JSON object per line, for
    /// log shippers. journal: native journald fields (priority, target,
    /// structured fields). Default: journal when JOURNAL_STREAM says standard
    /// error is the journal, text otherwise. With -d lines go to syslog, as
    /// text or JSON.
    #[arg(long, value_name = "FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,

    /// Run in the background, logging to syslog (/dev/log, facility daemon).
    ///
    /// mgmd -d returns once the daemon is ready (it follows the interfaces,
    /// owns the multicast routing socket and answers on its control socket),
    /// with status 0. If the daemon fails to start, its error is printed and
    /// mgmd -d exits with the daemon's status (e.g. 69 when another mgmd owns
    /// the table). Without a syslog daemon listening on /dev/log, later log
    /// lines are lost: mgmd -d says so. By default mgmd stays in the
    /// foreground and logs to standard error, which is what systemd and other
    /// supervisors want.
    #[arg(short = 'd', long, conflicts_with = "foreground")]
    pub detach: bool,

    /// Stay in the foreground (the default; kept for scripts).
    #[arg(short = 'f', long, hide = true)]
    pub foreground: bool,

    /// The background daemon started by `mgmd -d` (not for direct use):
    /// starts a session of its own, logs to syslog and reports readiness
    /// to the waiting `mgmd -d` through NOTIFY_SOCKET.
    #[arg(long, hide = true, requires = "detach")]
    pub detached_child: bool,

    /// Use SOCKET as the control socket (overrides global.control-socket).
    #[arg(long, value_name = "SOCKET")]
    pub control_socket: Option<PathBuf>,

    /// Write the pid to FILE (overrides global.pid-file).
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,

    /// Append every input of the daemon's core, with its time and the
    /// outputs it caused, to FILE (JSON lines), for `mgmd replay`.
    ///
    /// The recording holds the configuration text, the interfaces and
    /// addresses the kernel reported, every IGMP packet received, kernel
    /// upcalls and control requests: keep it private.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
}

/// `mgmd`'s subcommands (without one, mgmd runs the daemon).
#[derive(Debug, Subcommand)]
pub enum Sub {
    /// Check that this system can run mgmd, and say what each missing
    /// piece costs.
    ///
    /// Prints one line per check with its status (ok, info, warning,
    /// missing) and, for each that is not ok, what it costs and how to fix
    /// it: IPv4 multicast routing in the kernel (CONFIG_IP_MROUTE: MRT_INIT
    /// on a raw IGMP socket); several multicast routing tables
    /// (CONFIG_IP_MROUTE_MULTIPLE_TABLES: MRT_TABLE; needed with table = N
    /// in [global]); IPv6 multicast routing (CONFIG_IPV6_MROUTE; a note,
    /// mgmd routes IPv4 only); who owns the multicast routing table
    /// (net.ipv4.conf.all.mc_forwarding and the multicast routing daemons
    /// running: mgmd refuses to start while another process owns its
    /// table); the capabilities this process holds (CAP_NET_ADMIN and
    /// CAP_NET_RAW); each configured interface (present, and its
    /// rp_filter: strict drops multicast from sources routed elsewhere);
    /// net.ipv4.igmp_max_memberships and net.ipv4.igmp_max_msf against
    /// what the configuration makes mgmd join.
    ///
    /// The kernel is probed on a thread of its own in a scratch network
    /// namespace, so a running daemon is never disturbed. Without the
    /// privilege to make one (CAP_SYS_ADMIN) the probes run in this
    /// namespace, where a table another process owns is left alone and a
    /// free one is owned for an instant; the report says which was used.
    /// If the configuration cannot be read, the checks that need none
    /// still run and the others assume the defaults.
    #[command(after_long_help = CHECK_SYSTEM_AFTER_LONG_HELP)]
    CheckSystem {
        /// Read the configuration from FILE: its table, interfaces and
        /// joins decide what is needed.
        #[arg(short = 'c', long = "config", value_name = "FILE", default_value = DEFAULT_PATH)]
        config: PathBuf,
        /// Print the findings, the verdict, the exit status and the facts
        /// they were drawn from as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Run the core on a recording (made with --record) and print what it
    /// does, without sockets or privileges.
    ///
    /// Events are printed as log lines, other outputs as JSON. Exits 0
    /// when the whole recording was replayed (and, with --verify, matched),
    /// 1 otherwise.
    Replay {
        /// The recording.
        file: PathBuf,
        /// Check every step's outputs against the recorded ones; stop at
        /// the first difference.
        #[arg(long)]
        verify: bool,
        /// Print each step as one JSON line ({"t-ns":..,"out":[..]}).
        #[arg(long)]
        json: bool,
        /// Check the kernel writer's trace (FILE.kernel, written next to a
        /// --record FILE) against the recording: per run, the actions the
        /// writer applied, skipped or saw refused are the router's kernel
        /// outputs in order (a prefix if the daemon was killed), and every
        /// recorded kernel refusal is the trace's.
        #[arg(long, value_name = "TRACE")]
        kernel_trace: Option<PathBuf>,
    },
}

/// `--log-level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LevelArg {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl From<LevelArg> for LogLevel {
    fn from(l: LevelArg) -> LogLevel {
        match l {
            LevelArg::Error => LogLevel::Error,
            LevelArg::Warn => LogLevel::Warn,
            LevelArg::Info => LogLevel::Info,
            LevelArg::Debug => LogLevel::Debug,
            LevelArg::Trace => LogLevel::Trace,
        }
    }
}

/// `--log-format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Plain lines (coloured on a terminal).
    Text,
    /// One JSON object per line.
    Json,
    /// Native journald fields.
    Journal,
}

// ===== tests =====

#[cfg(test)]
mod tests {
    use std::path::Path;

    use clap::CommandFactory;

    use super::*;
    use crate::system_check::{EXIT_MISSING, EXIT_OK, EXIT_WARNINGS};

    #[test]
    fn the_definition_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn the_child_flag_needs_detach() {
        assert!(Args::try_parse_from(["mgmd", "--detached-child"]).is_err());
        let a = Args::try_parse_from(["mgmd", "-d", "--detached-child"]).unwrap();
        assert!(a.detach && a.detached_child);
    }

    #[test]
    fn replay_takes_a_file_and_no_daemon_options() {
        let a = Args::try_parse_from(["mgmd", "replay", "--verify", "x.rec"]).unwrap();
        assert!(matches!(
            a.command,
            Some(Sub::Replay {
                verify: true,
                json: false,
                kernel_trace: None,
                ..
            })
        ));
        assert!(Args::try_parse_from(["mgmd", "-c", "a.toml", "replay", "x.rec"]).is_err());
        let a = Args::try_parse_from(["mgmd", "--record", "/tmp/r"]).unwrap();
        assert_eq!(a.record, Some(PathBuf::from("/tmp/r")));
    }

    #[test]
    fn check_system_takes_its_own_config_and_json() {
        let a = Args::try_parse_from(["mgmd", "check-system"]).unwrap();
        assert!(matches!(
            a.command,
            Some(Sub::CheckSystem { ref config, json: false }) if config == Path::new(DEFAULT_PATH)
        ));
        let a = Args::try_parse_from(["mgmd", "check-system", "-c", "a.toml", "--json"]).unwrap();
        assert!(matches!(
            a.command,
            Some(Sub::CheckSystem { ref config, json: true }) if config == Path::new("a.toml")
        ));
        // The daemon's options do not apply to it.
        assert!(Args::try_parse_from(["mgmd", "-c", "a.toml", "check-system"]).is_err());
        assert!(Args::try_parse_from(["mgmd", "check-system", "--check"]).is_err());
    }

    #[test]
    fn check_system_documents_its_exit_statuses() {
        let mut cmd = Args::command();
        let sub = cmd.find_subcommand_mut("check-system").unwrap();
        let help = sub.render_long_help().to_string();
        for (code, meaning) in [
            (EXIT_OK, "everything mgmd needs is there"),
            (EXIT_MISSING, "something mgmd needs is missing"),
            (EXIT_WARNINGS, "only warnings"),
            (EX_USAGE, "bad usage"),
        ] {
            assert!(
                help.lines()
                    .any(|l| l.trim_start().starts_with(&code.to_string()) && l.contains(meaning)),
                "exit status {code} ({meaning}) is not in:\n{help}"
            );
        }
    }

    #[test]
    fn log_formats_parse() {
        let a = Args::try_parse_from(["mgmd", "--log-format", "json"]).unwrap();
        assert_eq!(a.log_format, Some(LogFormat::Json));
        assert!(Args::try_parse_from(["mgmd", "--log-format", "xml"]).is_err());
        assert_eq!(Args::try_parse_from(["mgmd"]).unwrap().log_format, None);
    }
}
