//! Where the daemon's log lines go, and in what form.
//!
//! [`select`] decides from the command line and what standard error is
//! (a terminal, the journal, anything else); [`init`] installs the
//! subscriber. Colour only on a terminal; native journald fields when
//! `JOURNAL_STREAM` names standard error (so the journal keeps each line's
//! severity); JSON lines on request; syslog for `mgmd -d`, falling back to
//! standard error when no syslog daemon listens. [`set_level`] changes the
//! filter at run time (`mgmctl log`).

use std::io::{self, IsTerminal, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::sync::{Mutex, OnceLock};

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::{self, MakeWriter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Registry, reload};

use crate::cli::mgmd::LogFormat;
use crate::config::LogLevel;

/// The local syslog socket.
pub const SYSLOG_SOCKET: &str = "/dev/log";

/// Where log lines go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogOutput {
    /// Plain lines on standard error, coloured or not.
    Text { ansi: bool },
    /// One JSON object per line on standard error.
    Json,
    /// journald's native protocol (priority, target, fields).
    Journal,
    /// The local syslog socket (`mgmd -d`), text or JSON messages.
    Syslog { json: bool },
}

/// What standard error is connected to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stderr {
    pub terminal: bool,
    /// `JOURNAL_STREAM` names it: systemd connected it to the journal.
    pub journal: bool,
    /// `NO_COLOR` is set (to anything but the empty string).
    pub no_color: bool,
}

impl Stderr {
    /// Looks at the process's real standard error and environment.
    pub fn probe() -> Stderr {
        let stream = std::env::var("JOURNAL_STREAM").ok();
        let journal =
            stderr_dev_ino().is_some_and(|(dev, ino)| names_stream(stream.as_deref(), dev, ino));
        Stderr {
            terminal: io::stderr().is_terminal(),
            journal,
            no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
        }
    }
}

/// Chooses the output: `-d` logs to syslog; an explicit `--log-format`
/// wins otherwise; by default the journal when standard error is the
/// journal, else text, coloured only on a terminal without `NO_COLOR`.
pub fn select(format: Option<LogFormat>, detached: bool, stderr: Stderr) -> LogOutput {
    if detached {
        return LogOutput::Syslog {
            json: format == Some(LogFormat::Json),
        };
    }
    match format {
        Some(LogFormat::Json) => LogOutput::Json,
        Some(LogFormat::Journal) => LogOutput::Journal,
        Some(LogFormat::Text) => LogOutput::Text {
            ansi: stderr.terminal && !stderr.no_color,
        },
        None if stderr.journal => LogOutput::Journal,
        None => LogOutput::Text {
            ansi: stderr.terminal && !stderr.no_color,
        },
    }
}

/// Does `JOURNAL_STREAM` (`DEVICE:INODE`, decimal) name the file with
/// this device and inode?
pub fn names_stream(journal_stream: Option<&str>, dev: u64, ino: u64) -> bool {
    let Some((d, i)) = journal_stream.and_then(|s| s.trim().split_once(':')) else {
        return false;
    };
    d.parse::<u64>().ok() == Some(dev) && i.parse::<u64>().ok() == Some(ino)
}

/// Installs the global subscriber. `RUST_LOG`, when set, replaces `level`.
/// If the journal cannot be reached, logs go to standard error as text
/// (and say so). The filter can be changed later with [`set_level`].
/// `level_from_config`: `level` is the configuration's `global.log-level`
/// (no `--log-level`), so a reload that changes it changes the filter too
/// (see [`follow_config`]), unless `RUST_LOG` set the filter.
pub fn init(level: LogLevel, output: LogOutput, level_from_config: bool) {
    let rust_log = std::env::var("RUST_LOG").ok();
    let directives = initial_directives(level, rust_log.as_deref());
    let follows_config = level_from_config && directives == [level.as_str()];
    let filter = parse_filter(&directives.join(","))
        .unwrap_or_else(|_| Targets::new().with_default(level_filter(level)));
    let (filter, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    match output {
        LogOutput::Text { ansi } => registry
            .with(fmt::layer().with_ansi(ansi).with_writer(io::stderr))
            .init(),
        LogOutput::Json => registry
            .with(fmt::layer().json().with_writer(io::stderr))
            .init(),
        LogOutput::Journal => match tracing_journald::layer() {
            Ok(journal) => registry
                .with(
                    journal
                        .with_priority_mappings(journal_priorities())
                        .with_field_prefix(Some(JOURNAL_FIELD_PREFIX.into())),
                )
                .init(),
            Err(e) => {
                registry
                    .with(fmt::layer().with_ansi(false).with_writer(io::stderr))
                    .init();
                tracing::warn!("failed to reach the journal ({e}); logging to standard error");
            }
        },
        LogOutput::Syslog { json: false } => registry
            .with(
                fmt::layer()
                    .without_time()
                    .with_ansi(false)
                    .with_writer(Syslog),
            )
            .init(),
        LogOutput::Syslog { json: true } => registry
            .with(fmt::layer().json().without_time().with_writer(Syslog))
            .init(),
    }
    let _ = RUNTIME_FILTER.set(Mutex::new(RuntimeFilter {
        handle,
        directives,
        follows_config,
    }));
}

// ===== the level at run time =====

/// The levels `mgmctl log` accepts, quietest first.
pub const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// Why the log filter could not be changed.
#[derive(Debug, thiserror::Error)]
pub enum LogFilterError {
    #[error("unknown log level '{0}'; use one of off, error, warn, info, debug, trace")]
    Level(String),
    #[error(
        "'{0}' is not a log target; a target is a module path such as mgmd::core, or a \
         category such as packet or mroute (letters, digits, _ - . and ::)"
    )]
    Target(String),
    #[error("the log level cannot be changed: logging was not set up by mgmd")]
    NotSetUp,
    #[error("failed to change the log filter: {0}")]
    Reload(String),
}

/// The filter in force, as directives, with the handle that replaces it.
struct RuntimeFilter {
    handle: reload::Handle<Targets, Registry>,
    directives: Vec<String>,
    /// The level came from `global.log-level`; a reload that changes it
    /// sets the filter to the new level.
    follows_config: bool,
}

/// A reload changed `global.log-level` to `level`: unless `--log-level` or
/// `RUST_LOG` chose the filter at start-up, it becomes `level` alone (as
/// `mgmctl log LEVEL` would make it). Returns the filter now in force if
/// it changed.
pub fn follow_config(level: LogLevel) -> Option<Result<String, LogFilterError>> {
    let follows = RUNTIME_FILTER
        .get()?
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .follows_config;
    follows.then(|| set_level(level.as_str(), None))
}

static RUNTIME_FILTER: OnceLock<Mutex<RuntimeFilter>> = OnceLock::new();

/// Sets the level of everything (`target` = `None`: the filter becomes
/// `level` alone, per-target levels are dropped) or of one target (its
/// directive is added or replaced, the others stay). Returns the filter
/// now in force, as `RUST_LOG` would write it.
pub fn set_level(level: &str, target: Option<&str>) -> Result<String, LogFilterError> {
    let cell = RUNTIME_FILTER.get().ok_or(LogFilterError::NotSetUp)?;
    // A panic elsewhere while holding the lock left consistent data.
    let mut current = cell.lock().unwrap_or_else(|e| e.into_inner());
    let directives = edit_directives(&current.directives, level, target)?;
    let joined = directives.join(",");
    let filter = parse_filter(&joined).map_err(|e| LogFilterError::Reload(e.to_string()))?;
    current
        .handle
        .reload(filter)
        .map_err(|e| LogFilterError::Reload(e.to_string()))?;
    current.directives = directives;
    Ok(joined)
}

/// The directives at start-up: `RUST_LOG` when set to a valid filter,
/// else the configured level.
fn initial_directives(level: LogLevel, rust_log: Option<&str>) -> Vec<String> {
    match rust_log.map(str::trim) {
        Some(s) if !s.is_empty() && parse_filter(s).is_ok() => s
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(str::to_owned)
            .collect(),
        _ => vec![level.as_str().to_owned()],
    }
}

/// Why a filter (`RUST_LOG`) was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FilterSyntaxError {
    #[error("'{0}' is not a filter directive; use LEVEL, TARGET or TARGET=LEVEL")]
    Directive(String),
    #[error("'{0}' is not a log level; use one of off, error, warn, info, debug, trace")]
    Level(String),
    #[error("'{0}' filters on spans or fields, which mgmd does not have; use TARGET=LEVEL")]
    Span(String),
}

/// Reads a filter as `RUST_LOG` writes it: directives separated by commas,
/// each `LEVEL` (the default), `TARGET` (every level of the target and
/// those below it) or `TARGET=LEVEL`; blank directives are skipped, a
/// level is a name in any case or 0..=5, `TARGET=` is every level. This is
/// tracing's `EnvFilter` syntax without its span and field filters, which
/// would match nothing here: mgmd logs events, never spans.
pub fn parse_filter(s: &str) -> Result<Targets, FilterSyntaxError> {
    let mut filter = Targets::new();
    for d in s.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let starts_well = d
            .chars()
            .next()
            .is_some_and(|c| c.is_alphanumeric() || matches!(c, '-' | ':' | '_'));
        if !starts_well {
            return Err(FilterSyntaxError::Directive(d.to_owned()));
        }
        if d.contains('[') {
            return Err(FilterSyntaxError::Span(d.to_owned()));
        }
        let parse_level = |l: &str| {
            l.parse::<LevelFilter>()
                .map_err(|_| FilterSyntaxError::Level(l.to_owned()))
        };
        filter = match d.split_once('=') {
            Some((target, "")) => filter.with_target(target, LevelFilter::TRACE),
            Some((target, level)) => filter.with_target(target, parse_level(level)?),
            None => match parse_level(d) {
                Ok(level) => filter.with_default(level),
                Err(_) => filter.with_target(d, LevelFilter::TRACE),
            },
        };
    }
    Ok(filter)
}

fn level_filter(level: LogLevel) -> LevelFilter {
    match level {
        LogLevel::Error => LevelFilter::ERROR,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Trace => LevelFilter::TRACE,
    }
}

/// `current` with `level` set for `target`, or replaced by `level` alone.
fn edit_directives(
    current: &[String],
    level: &str,
    target: Option<&str>,
) -> Result<Vec<String>, LogFilterError> {
    if !LEVELS.contains(&level) {
        return Err(LogFilterError::Level(level.to_owned()));
    }
    let Some(target) = target else {
        return Ok(vec![level.to_owned()]);
    };
    let valid = !target.is_empty()
        && target
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'));
    if !valid {
        return Err(LogFilterError::Target(target.to_owned()));
    }
    let mut out: Vec<String> = current
        .iter()
        .filter(|d| d.split_once('=').map(|(t, _)| t) != Some(target))
        .cloned()
        .collect();
    out.push(format!("{target}={level}"));
    Ok(out)
}

/// Structured fields go to the journal as `MGMD_<FIELD>` (e.g.
/// `journalctl MGMD_INTERFACE=lan1`), clear of journald's own fields.
pub const JOURNAL_FIELD_PREFIX: &str = "MGMD";

/// Journal priorities as in syslog: info is 6 and debug 7, not one
/// higher as tracing-journald's defaults have it.
fn journal_priorities() -> tracing_journald::PriorityMappings {
    use tracing_journald::Priority;
    tracing_journald::PriorityMappings {
        error: Priority::Error,
        warn: Priority::Warning,
        info: Priority::Informational,
        debug: Priority::Debug,
        trace: Priority::Debug,
    }
}

/// Whether a syslog daemon listens on [`SYSLOG_SOCKET`].
pub fn syslog_available() -> bool {
    UnixDatagram::unbound().is_ok_and(|s| s.connect(SYSLOG_SOCKET).is_ok())
}

fn stderr_dev_ino() -> Option<(u64, u64)> {
    let fd = io::stderr().as_fd().try_clone_to_owned().ok()?;
    let meta = std::fs::File::from(fd).metadata().ok()?;
    Some((meta.dev(), meta.ino()))
}

// ===== syslog =====

/// Sends each log event as one datagram to the local syslog socket
/// (RFC 3164 framing, facility daemon). When nobody listens there, the
/// line goes to standard error instead, which `mgmd -d` shows until the
/// daemon is ready (and warns about afterwards).
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
        SyslogLine {
            severity: severity(*meta.level()),
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
        let msg = String::from_utf8_lossy(&self.buf);
        let line = syslog_line(self.severity, std::process::id(), msg.trim_end());
        let sent = UnixDatagram::unbound()
            .and_then(|sock| sock.send_to(line.as_bytes(), SYSLOG_SOCKET))
            .is_ok();
        if !sent {
            // Logging never stops the daemon; a write error here (nobody
            // reads standard error any more) loses the line.
            let _ = writeln!(io::stderr(), "mgmd: {}", msg.trim_end());
        }
    }
}

/// The syslog severity of a tracing level.
fn severity(level: tracing::Level) -> u8 {
    match level {
        tracing::Level::ERROR => 3,
        tracing::Level::WARN => 4,
        tracing::Level::INFO => 6,
        tracing::Level::DEBUG | tracing::Level::TRACE => 7,
    }
}

/// One RFC 3164 message from the daemon facility.
fn syslog_line(severity: u8, pid: u32, msg: &str) -> String {
    const LOG_DAEMON: u8 = 3 << 3;
    format!("<{}>mgmd[{pid}]: {msg}", LOG_DAEMON | severity)
}

// ===== tests =====

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: Stderr = Stderr {
        terminal: false,
        journal: false,
        no_color: false,
    };
    const TTY: Stderr = Stderr {
        terminal: true,
        ..FILE
    };
    const JOURNAL: Stderr = Stderr {
        journal: true,
        ..FILE
    };

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert_eq!(select(None, false, FILE), LogOutput::Text { ansi: false });
        assert_eq!(select(None, false, TTY), LogOutput::Text { ansi: true });
        let no_color = Stderr {
            no_color: true,
            ..TTY
        };
        assert_eq!(
            select(None, false, no_color),
            LogOutput::Text { ansi: false }
        );
        assert_eq!(
            select(Some(LogFormat::Text), false, FILE),
            LogOutput::Text { ansi: false }
        );
    }

    #[test]
    fn the_journal_by_default_when_stderr_is_the_journal() {
        assert_eq!(select(None, false, JOURNAL), LogOutput::Journal);
        // An explicit format wins.
        assert_eq!(
            select(Some(LogFormat::Text), false, JOURNAL),
            LogOutput::Text { ansi: false }
        );
        assert_eq!(
            select(Some(LogFormat::Json), false, JOURNAL),
            LogOutput::Json
        );
        assert_eq!(
            select(Some(LogFormat::Journal), false, TTY),
            LogOutput::Journal
        );
    }

    #[test]
    fn detached_logs_go_to_syslog() {
        assert_eq!(
            select(None, true, JOURNAL),
            LogOutput::Syslog { json: false }
        );
        assert_eq!(
            select(Some(LogFormat::Json), true, TTY),
            LogOutput::Syslog { json: true }
        );
    }

    #[test]
    fn journal_stream_must_name_this_file() {
        assert!(names_stream(Some("8:12345"), 8, 12345));
        assert!(!names_stream(Some("8:12345"), 8, 12346));
        assert!(!names_stream(Some("9:12345"), 8, 12345));
        assert!(!names_stream(Some("8"), 8, 12345));
        assert!(!names_stream(Some("x:y"), 8, 12345));
        assert!(!names_stream(None, 8, 12345));
    }

    #[test]
    fn journal_stream_is_checked_against_the_real_stderr() {
        // Whatever stderr is here, it is a file with a device and inode,
        // and a JOURNAL_STREAM naming another file does not match it.
        let (dev, ino) = stderr_dev_ino().expect("stderr has a device and inode");
        assert!(names_stream(Some(&format!("{dev}:{ino}")), dev, ino));
        assert!(!names_stream(Some(&format!("{dev}:{}", ino + 1)), dev, ino));
    }

    #[test]
    fn journal_and_syslog_priorities_agree() {
        let j = journal_priorities();
        for (level, prio) in [
            (tracing::Level::ERROR, j.error),
            (tracing::Level::WARN, j.warn),
            (tracing::Level::INFO, j.info),
            (tracing::Level::DEBUG, j.debug),
            (tracing::Level::TRACE, j.trace),
        ] {
            // A Priority is the ASCII digit journald expects.
            assert_eq!(prio as u8 - b'0', severity(level), "{level}");
        }
    }

    #[test]
    fn a_level_without_target_replaces_the_filter() {
        let current = vec!["info".to_owned(), "packet=debug".to_owned()];
        assert_eq!(edit_directives(&current, "warn", None).unwrap(), ["warn"]);
        assert_eq!(edit_directives(&current, "off", None).unwrap(), ["off"]);
    }

    #[test]
    fn a_level_for_a_target_replaces_only_its_directive() {
        let current = vec![
            "info".to_owned(),
            "packet=debug".to_owned(),
            "mgmd::core=trace".to_owned(),
        ];
        assert_eq!(
            edit_directives(&current, "warn", Some("packet")).unwrap(),
            ["info", "mgmd::core=trace", "packet=warn"]
        );
        assert_eq!(
            edit_directives(&current, "debug", Some("mroute")).unwrap(),
            ["info", "packet=debug", "mgmd::core=trace", "mroute=debug"]
        );
        // Every result is a filter tracing accepts.
        for level in LEVELS {
            let d = edit_directives(&current, level, Some("mgmd::daemon")).unwrap();
            assert!(parse_filter(&d.join(",")).is_ok(), "{d:?}");
        }
    }

    #[test]
    fn bad_levels_and_targets_are_refused() {
        let current = vec!["info".to_owned()];
        assert!(matches!(
            edit_directives(&current, "loud", None),
            Err(LogFilterError::Level(l)) if l == "loud"
        ));
        for target in ["", "a=b", "a,b", "a b", "x[span]"] {
            assert!(
                matches!(
                    edit_directives(&current, "debug", Some(target)),
                    Err(LogFilterError::Target(_))
                ),
                "{target:?}"
            );
        }
    }

    #[test]
    fn rust_log_is_the_start_unless_invalid() {
        assert_eq!(
            initial_directives(LogLevel::Warn, Some("info,mgmd::core=debug")),
            ["info", "mgmd::core=debug"]
        );
        assert_eq!(initial_directives(LogLevel::Warn, None), ["warn"]);
        assert_eq!(initial_directives(LogLevel::Warn, Some("")), ["warn"]);
        assert_eq!(
            initial_directives(LogLevel::Debug, Some("=nonsense=")),
            ["debug"]
        );
    }

    /// What `RUST_LOG` may say, and what each filter lets through.
    #[test]
    fn filters_read_as_rust_log_writes_them() {
        use tracing::Level;
        let f = parse_filter("info, mgmd::core=debug,,packet=TRACE,mroute=").unwrap();
        assert!(f.would_enable("mgmd::daemon", &Level::INFO));
        assert!(!f.would_enable("mgmd::daemon", &Level::DEBUG));
        assert!(f.would_enable("mgmd::core::igmp", &Level::DEBUG));
        assert!(!f.would_enable("mgmd::core", &Level::TRACE));
        assert!(f.would_enable("packet", &Level::TRACE));
        assert!(f.would_enable("mroute", &Level::TRACE));
        // A bare target: all its levels; nothing else without a default.
        let f = parse_filter("ctl").unwrap();
        assert!(f.would_enable("ctl", &Level::TRACE));
        assert!(!f.would_enable("mgmd", &Level::ERROR));
        // Levels by number, and off.
        let f = parse_filter("2,iface=0").unwrap();
        assert!(f.would_enable("mgmd", &Level::WARN));
        assert!(!f.would_enable("mgmd", &Level::INFO));
        assert!(!f.would_enable("iface", &Level::ERROR));
        assert!(parse_filter("").is_ok());
    }

    #[test]
    fn filters_that_are_refused() {
        use FilterSyntaxError::*;
        assert_eq!(
            parse_filter("=nonsense=").unwrap_err(),
            Directive("=nonsense=".into())
        );
        assert_eq!(
            parse_filter("info,mgmd=loud").unwrap_err(),
            Level("loud".into())
        );
        assert_eq!(parse_filter("a=b=c").unwrap_err(), Level("b=c".into()));
        assert_eq!(
            parse_filter("mgmd[iface]=debug").unwrap_err(),
            Span("mgmd[iface]=debug".into())
        );
        assert_eq!(
            parse_filter("[{group}]=trace").unwrap_err(),
            Directive("[{group}]=trace".into())
        );
    }

    #[test]
    fn a_configured_level_is_the_filter_of_its_name() {
        for level in LogLevel::ALL {
            let named = level.as_str().parse::<LevelFilter>().ok();
            assert_eq!(named, Some(level_filter(level)), "{level:?}");
        }
    }

    #[test]
    fn syslog_lines_carry_facility_severity_and_pid() {
        assert_eq!(severity(tracing::Level::ERROR), 3);
        assert_eq!(severity(tracing::Level::WARN), 4);
        assert_eq!(severity(tracing::Level::DEBUG), 7);
        assert_eq!(syslog_line(3, 42, "boom"), "<27>mgmd[42]: boom");
        assert_eq!(syslog_line(6, 42, "started"), "<30>mgmd[42]: started");
    }
}
