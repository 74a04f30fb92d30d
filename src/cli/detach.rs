//! `mgmd -d`: start the daemon in the background and return only once it
//! is ready, or with its own exit status and error when it fails to start.
//!
//! The waiting process plays the service manager: it starts this program
//! again (same arguments plus the hidden `--detached-child`) with
//! `NOTIFY_SOCKET` pointing at a private abstract socket, relays the
//! child's standard error, and returns when the child sends `READY=1` (the
//! same message systemd waits for) or exits. The child starts a session of
//! its own and logs to syslog.

use std::ffi::OsString;
use std::io::{self, BufRead, BufReader, Write};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::cli::logging::{SYSLOG_SOCKET, syslog_available};
use crate::cli::mgmd::{EX_OSERR, EX_UNAVAILABLE};

/// How long the daemon may take to become ready (systemd's default start
/// timeout).
pub const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// The argument that marks the background child.
pub const CHILD_FLAG: &str = "--detached-child";

/// Starts the daemon in the background with `args` (the command line
/// without the program name) and waits for it. Returns the exit status
/// for `mgmd -d`: 0 once the daemon is ready, else the daemon's own.
pub fn start_in_background(args: impl IntoIterator<Item = OsString>) -> u8 {
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(io::stderr(), "mgmd: failed to start in the background: {e}");
            EX_OSERR
        }
    }
}

fn run(args: impl IntoIterator<Item = OsString>) -> io::Result<u8> {
    let name = format!(
        "mgmd-detach-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    let sock = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes())?)?;
    sock.set_read_timeout(Some(Duration::from_millis(100)))?;

    let mut child = Command::new(std::env::current_exe()?)
        .args(args)
        .arg(CHILD_FLAG)
        .env("NOTIFY_SOCKET", format!("@{name}"))
        .env_remove("WATCHDOG_USEC")
        .env_remove("WATCHDOG_PID")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    // Everything the daemon says before it is ready reaches our caller.
    let relay = child.stderr.take().map(|stderr| {
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = writeln!(io::stderr(), "{line}");
            }
        })
    });

    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match sock.recv(&mut buf) {
            Ok(n) if is_ready(&buf[..n]) => {
                if !syslog_available() {
                    let _ = writeln!(
                        io::stderr(),
                        "mgmd: warning: no syslog daemon listens on {SYSLOG_SOCKET}: the \
                         background mgmd's log lines are lost from now on (start a syslog \
                         daemon, or run mgmd in the foreground under a supervisor such as \
                         systemd)"
                    );
                }
                return Ok(0);
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e),
        }
        if let Some(status) = child.try_wait()? {
            if let Some(relay) = relay {
                let _ = relay.join();
            }
            let (code, why) = failed(status);
            if let Some(why) = why {
                let _ = writeln!(io::stderr(), "mgmd: {why}");
            }
            return Ok(code);
        }
        if started.elapsed() > READY_TIMEOUT {
            return Ok(timed_out(&mut child));
        }
    }
}

/// Does a notification say `READY=1`?
pub fn is_ready(msg: &[u8]) -> bool {
    msg.split(|&b| b == b'\n').any(|line| line == b"READY=1")
}

/// The exit status for a daemon that ended before it was ready, and what
/// to add to the daemon's own words.
fn failed(status: ExitStatus) -> (u8, Option<String>) {
    match (status.code(), status.signal()) {
        (Some(0), _) => (
            EX_UNAVAILABLE,
            Some("the daemon stopped before it was ready".into()),
        ),
        (Some(code), _) => (u8::try_from(code).unwrap_or(EX_OSERR), None),
        (None, Some(sig)) => (
            EX_OSERR,
            Some(format!(
                "the daemon was killed by signal {sig} before it was ready"
            )),
        ),
        (None, None) => (EX_OSERR, None),
    }
}

fn timed_out(child: &mut Child) -> u8 {
    let pid = child.id();
    let _ = writeln!(
        io::stderr(),
        "mgmd: the daemon (pid {pid}) did not report readiness within {}s; stopping it",
        READY_TIMEOUT.as_secs()
    );
    if let Ok(pid) = i32::try_from(pid) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    let _ = child.wait();
    EX_UNAVAILABLE
}

// ===== tests =====

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_is_a_whole_line() {
        assert!(is_ready(b"READY=1"));
        assert!(is_ready(b"STATUS=starting\nREADY=1"));
        assert!(!is_ready(b"READY=0"));
        assert!(!is_ready(b"NOTREADY=1"));
        assert!(!is_ready(b"STATUS=READY=1 soon"));
    }

    #[test]
    fn the_daemons_status_is_passed_on() {
        assert_eq!(failed(ExitStatus::from_raw(69 << 8)), (69, None));
        assert_eq!(failed(ExitStatus::from_raw(78 << 8)), (78, None));
        // A clean exit before readiness is still a failure to start.
        assert_eq!(failed(ExitStatus::from_raw(0)).0, EX_UNAVAILABLE);
        // Killed by SIGKILL.
        let (code, why) = failed(ExitStatus::from_raw(9));
        assert_eq!(code, EX_OSERR);
        assert!(
            why.is_some_and(|w| w.contains("signal 9")),
            "names the signal"
        );
    }
}
