//! mgmd, the multicast group manager daemon: parses the command line,
//! loads the configuration, sets up logging and runs the daemon.

use std::io::{self, Write};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use mgmd::config::{Config, DEFAULT_PATH, LogLevel};

/// sysexits.h: the configuration is invalid.
const EX_CONFIG: u8 = 78;
/// sysexits.h: an operating system error (e.g. fork failed).
const EX_OSERR: u8 = 71;

const LONG_ABOUT: &str = "\
mgmd owns the kernel's IPv4 multicast routing socket, runs the router side of \
IGMP (v1/v2/v3, RFC 3376) on the interfaces it is given, and lets routing \
protocols take interfaces over without disturbing IGMP: a static routing \
protocol (routes and joins from the configuration, smcroute-like) and an IGMP \
proxy (RFC 4605, igmpproxy-like).

Everything comes from one TOML file (see -c). mgmctl talks to the running \
daemon over its control socket.";

const AFTER_LONG_HELP: &str = "\
FILES:
    /etc/mgmd/mgmd.toml    default configuration file
    /run/mgmd/mgmd.sock    default control socket (global.control-socket);
                           /run/mgmd/mgmd-N.sock with global.table = N
    /run/mgmd/mgmd.pid     default pid file (global.pid-file);
                           /run/mgmd/mgmd-N.pid with global.table = N

ENVIRONMENT:
    RUST_LOG    a tracing filter (e.g. \"info,mgmd::core=debug\"); overrides
                --log-level and global.log-level when set

EXIT STATUS:
    0     success (--check: the configuration is valid)
    1     --check: the configuration is invalid
    69    the daemon cannot run: another multicast routing daemon owns the
          kernel's multicast routing table, or the control socket is in use
          (EX_UNAVAILABLE)
    71    an operating system call failed at start-up (EX_OSERR)
    77    missing privileges: CAP_NET_RAW, and CAP_NET_ADMIN for a table
          (EX_NOPERM)
    78    the configuration is invalid or unreadable (EX_CONFIG)

EXAMPLES:
    mgmd --check -c /etc/mgmd/mgmd.toml
    mgmd --log-level debug
    mgmd -d -c /etc/mgmd/mgmd.toml
    mgmd --record /var/tmp/mgmd.rec     # then: mgmd replay /var/tmp/mgmd.rec";

/// Command line.
#[derive(Debug, Parser)]
#[command(
    name = "mgmd",
    version,
    about = "Multicast group manager: IGMP querier and multicast routing for Linux routers",
    long_about = LONG_ABOUT,
    after_long_help = AFTER_LONG_HELP,
    args_conflicts_with_subcommands = true
)]
struct Args {
    #[command(subcommand)]
    command: Option<Sub>,

    /// Read the configuration from FILE.
    ///
    /// Errors are reported as FILE:LINE:COLUMN: message.
    #[arg(short = 'c', long = "config", value_name = "FILE", default_value = DEFAULT_PATH)]
    config: PathBuf,

    /// Check the configuration and exit.
    ///
    /// Prints "FILE: configuration OK" and exits 0, or prints the first
    /// problem found and exits 1. Nothing else is done: no socket is opened
    /// and the running daemon, if any, is not touched.
    #[arg(long)]
    check: bool,

    /// Log at LEVEL and above (overrides global.log-level).
    #[arg(short = 'l', long, value_name = "LEVEL", value_enum)]
    log_level: Option<LevelArg>,

    /// Detach from the terminal and log to syslog (/dev/log, facility
    /// daemon).
    ///
    /// By default mgmd stays in the foreground and logs to standard error,
    /// which is what systemd (Type=simple) and other supervisors want, and
    /// start-up failures (e.g. another multicast router owns the kernel's
    /// table) show in the exit status.
    #[arg(short = 'd', long, conflicts_with = "foreground")]
    detach: bool,

    /// Stay in the foreground (the default; kept for scripts).
    #[arg(short = 'f', long, hide = true)]
    foreground: bool,

    /// Use SOCKET as the control socket (overrides global.control-socket).
    #[arg(long, value_name = "SOCKET")]
    control_socket: Option<PathBuf>,

    /// Write the pid to FILE (overrides global.pid-file).
    #[arg(long, value_name = "FILE")]
    pid_file: Option<PathBuf>,

    /// Append every input of the daemon's core, with its time and the
    /// outputs it caused, to FILE (JSON lines), for `mgmd replay`.
    ///
    /// The recording holds the configuration text, the interfaces and
    /// addresses the kernel reported, every IGMP packet received, kernel
    /// upcalls and control requests: keep it private.
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Sub {
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
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LevelArg {
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

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(Sub::Replay { file, verify, json }) = &args.command {
        return replay(file, *verify, *json);
    }

    let (mut config, config_text) = match Config::load_with_text(&args.config) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(if args.check { 1 } else { EX_CONFIG });
        }
    };
    if args.check {
        println!("{}: configuration OK", args.config.display());
        return ExitCode::SUCCESS;
    }

    if let Some(path) = &args.control_socket {
        config.global.control_socket = path.clone();
    }
    if let Some(path) = &args.pid_file {
        config.global.pid_file = path.clone();
    }
    let foreground = !args.detach;
    if !foreground {
        if let Err(e) = nix::unistd::daemon(false, false) {
            eprintln!("mgmd: failed to detach from the terminal: {e}");
            return ExitCode::from(EX_OSERR);
        }
    }
    let level = args
        .log_level
        .map_or(config.global.log_level, LogLevel::from);
    init_logging(level, foreground);

    let opts = mgmd::daemon::Options {
        config_path: args.config.clone(),
        config_text,
        record: args.record.clone(),
    };
    run(config, opts)
}

/// Runs the daemon until it is told to stop.
fn run(config: Config, opts: mgmd::daemon::Options) -> ExitCode {
    match mgmd::daemon::run(config, opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("mgmd: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

// ===== replay =====

/// `mgmd replay FILE`: prints every step's outputs, or checks them.
fn replay(path: &Path, verify: bool, json: bool) -> ExitCode {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("mgmd: {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let result = mgmd::record::replay(path, io::BufReader::new(file), |step| {
        if verify {
            if let Some(difference) = mgmd::record::difference(step) {
                return Err(mgmd::record::RecordError::Differs {
                    path: path.display().to_string(),
                    line: step.line,
                    step: step.step,
                    difference,
                });
            }
        }
        print_step(&mut out, step, json).map_err(|source| mgmd::record::RecordError::Io {
            path: "stdout".into(),
            source,
        })
    });
    let _ = out.flush();
    match result {
        Ok(summary) => {
            if verify {
                eprintln!(
                    "{}: {} steps replayed, every output as recorded",
                    path.display(),
                    summary.steps
                );
            }
            if summary.cut_short {
                eprintln!(
                    "{}: the last line is cut short (written in part); it was left out",
                    path.display()
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mgmd: {e}");
            ExitCode::FAILURE
        }
    }
}

fn print_step(out: &mut impl Write, step: &mgmd::record::Replayed, json: bool) -> io::Result<()> {
    use mgmd::core::output::Output;
    if json {
        let line = serde_json::json!({ "t-ns": step.t_ns, "out": step.outputs });
        return writeln!(out, "{line}");
    }
    let t = step.t_ns as f64 / 1e9;
    for o in &step.outputs {
        match o {
            Output::Event(e) => writeln!(out, "{t:12.6} {:<9} {e}", e.kind())?,
            other => writeln!(
                out,
                "{t:12.6} {:<9} {}",
                "output",
                serde_json::to_string(other).unwrap_or_default()
            )?,
        }
    }
    Ok(())
}

// ===== logging =====

fn init_logging(level: LogLevel, foreground: bool) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level.as_str()));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if foreground {
        builder.with_writer(io::stderr).init();
    } else {
        builder
            .without_time()
            .with_ansi(false)
            .with_writer(Syslog)
            .init();
    }
}

/// Sends each log event as one datagram to the local syslog socket
/// (RFC 3164 framing, facility daemon). Events are dropped when no syslog
/// daemon listens.
struct Syslog;

/// One event being formatted; sent when dropped.
struct SyslogLine {
    severity: u8,
    buf: Vec<u8>,
}

impl<'a> MakeWriter<'a> for Syslog {
    type Writer = SyslogLine;

    fn make_writer(&'a self) -> SyslogLine {
        SyslogLine {
            severity: 6,
            buf: Vec::new(),
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> SyslogLine {
        let severity = match *meta.level() {
            tracing::Level::ERROR => 3,
            tracing::Level::WARN => 4,
            tracing::Level::INFO => 6,
            tracing::Level::DEBUG | tracing::Level::TRACE => 7,
        };
        SyslogLine {
            severity,
            buf: Vec::new(),
        }
    }
}

impl Write for SyslogLine {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for SyslogLine {
    fn drop(&mut self) {
        const LOG_DAEMON: u8 = 3 << 3;
        let msg = String::from_utf8_lossy(&self.buf);
        let line = format!(
            "<{}>mgmd[{}]: {}",
            LOG_DAEMON | self.severity,
            std::process::id(),
            msg.trim_end()
        );
        if let Ok(sock) = UnixDatagram::unbound() {
            // Logging must never stop the daemon: a missing syslog socket
            // loses the message, nothing else.
            let _ = sock.send_to(line.as_bytes(), "/dev/log");
        }
    }
}
