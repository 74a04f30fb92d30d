//! Telling the service manager how the daemon is doing: the `sd_notify`
//! protocol (one datagram of `KEY=VALUE` lines to the socket named by
//! `NOTIFY_SOCKET`; a leading `@` names an abstract socket).
//!
//! Messages: `READY=1` once, when forwarding can work; `STATUS=` with a
//! one-line summary when it changed (looked at every 5 seconds);
//! `WATCHDOG=1` from the event loop at least every half of `WATCHDOG_USEC`
//! (a stuck loop stops pinging and is restarted); `STOPPING=1` at shutdown; `RELOADING=1` with
//! `MONOTONIC_USEC=` and then `READY=1` around a reload.
//!
//! Without `NOTIFY_SOCKET` every call does nothing and [`Notifier::tick`]
//! never completes. A manager that went away (the socket refuses) is
//! forgotten after the first failed send; nothing here stops the daemon.

use std::fmt;
use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

use tokio::time::Instant;

use crate::core::router::Router;

/// How often the status line is refreshed when there is no watchdog, or
/// when the watchdog allows longer.
const STATUS_PERIOD: Duration = Duration::from_secs(5);

/// The shortest ping period honoured (a `WATCHDOG_USEC` of a few
/// microseconds would otherwise spin the loop).
const MIN_PING_PERIOD: Duration = Duration::from_millis(10);

/// The connection to the service manager, if there is one.
pub struct Notifier {
    target: Option<Target>,
    /// Half the watchdog interval, when the manager wants pings from us.
    ping_every: Option<Duration>,
    next_tick: Instant,
    ready_sent: bool,
    last_status: String,
}

struct Target {
    sock: UnixDatagram,
    addr: SocketAddr,
    /// `NOTIFY_SOCKET` as given (for messages carrying descriptors).
    name: String,
}

impl Notifier {
    /// From the environment: `NOTIFY_SOCKET`, `WATCHDOG_USEC` and
    /// `WATCHDOG_PID` (the watchdog applies only when that is our pid, or
    /// unset).
    pub fn from_env() -> Notifier {
        let var = |k| std::env::var(k).ok();
        let socket = var("NOTIFY_SOCKET");
        let target = socket.as_deref().and_then(|s| match Target::new(s) {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::warn!("NOTIFY_SOCKET={s} cannot be used: {e}");
                None
            }
        });
        let ping_every = watchdog_period(
            var("WATCHDOG_USEC").as_deref(),
            var("WATCHDOG_PID").as_deref(),
            std::process::id(),
        );
        Notifier::with_target(target, ping_every)
    }

    /// Notify `socket` (a path, or `@name` for an abstract socket), with
    /// the watchdog pinged every `ping_every` if given.
    pub fn to(socket: &str, ping_every: Option<Duration>) -> io::Result<Notifier> {
        Ok(Notifier::with_target(
            Some(Target::new(socket)?),
            ping_every,
        ))
    }

    /// A notifier that sends nothing.
    pub fn disabled() -> Notifier {
        Notifier::with_target(None, None)
    }

    fn with_target(target: Option<Target>, ping_every: Option<Duration>) -> Notifier {
        let mut n = Notifier {
            target,
            ping_every: ping_every.map(|d| d.max(MIN_PING_PERIOD)),
            next_tick: Instant::now(),
            ready_sent: false,
            last_status: String::new(),
        };
        n.next_tick = Instant::now() + n.period();
        n
    }

    /// Whether anyone listens (the status line is computed only then).
    pub fn is_enabled(&self) -> bool {
        self.target.is_some()
    }

    /// The watchdog ping period (half of `WATCHDOG_USEC`), if any.
    pub fn watchdog_period(&self) -> Option<Duration> {
        self.ping_every
    }

    /// `READY=1`, the first time only: the daemon follows the interfaces,
    /// owns the multicast routing socket and answers on its control socket.
    pub fn ready(&mut self) {
        if !self.ready_sent {
            self.ready_sent = true;
            self.send("READY=1");
        }
    }

    /// `STATUS=line`, when it differs from the last one sent.
    pub fn status(&mut self, line: &str) {
        if self.target.is_some() && line != self.last_status {
            self.send(&format!("STATUS={}", one_line(line)));
            self.last_status = line.to_owned();
        }
    }

    /// `FDSTORE=1` with `FDNAME=name`: asks the manager to keep `fd` for
    /// the next process of the unit (it must allow it with
    /// `FileDescriptorStoreMax=`; it keeps one copy of a descriptor sent
    /// twice). Whether the manager accepted it cannot be known; `true` when
    /// the message was sent.
    pub fn store_fd(&mut self, fd: std::os::fd::BorrowedFd<'_>, name: &str) -> bool {
        use nix::sys::socket::{ControlMessage, MsgFlags, UnixAddr, sendmsg};
        use std::os::fd::AsRawFd;
        let Some(t) = &self.target else {
            return false;
        };
        let addr = match t.name.strip_prefix('@') {
            Some(n) => UnixAddr::new_abstract(n.as_bytes()),
            None => UnixAddr::new(t.name.as_str()),
        };
        let msg = format!("FDSTORE=1\nFDNAME={name}");
        let fds = [fd.as_raw_fd()];
        let result = addr.and_then(|addr| {
            sendmsg(
                t.sock.as_raw_fd(),
                &[std::io::IoSlice::new(msg.as_bytes())],
                &[ControlMessage::ScmRights(&fds)],
                MsgFlags::empty(),
                Some(&addr),
            )
        });
        match result {
            Ok(_) => true,
            Err(e) => {
                tracing::debug!("failed to hand the routing socket to the service manager: {e}");
                false
            }
        }
    }

    /// `STOPPING=1`: the daemon is shutting down.
    pub fn stopping(&mut self) {
        self.send("STOPPING=1");
    }

    /// `RELOADING=1` with the current `CLOCK_MONOTONIC` time, as
    /// `Type=notify-reload` requires; [`Notifier::reloaded`] ends it.
    pub fn reloading(&mut self) {
        self.send(&reloading_message(monotonic_usec()));
    }

    /// `READY=1` after a reload, with the status line if given.
    pub fn reloaded(&mut self, status: Option<&str>) {
        match status {
            Some(s) => {
                self.send(&format!("READY=1\nSTATUS={}", one_line(s)));
                self.last_status = s.to_owned();
            }
            None => self.send("READY=1"),
        }
    }

    /// Completes at the next watchdog ping or status refresh; never
    /// without a manager. Cancel-safe (for `select!`).
    pub async fn tick(&self) {
        if self.target.is_none() {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep_until(self.next_tick).await;
    }

    /// After [`Notifier::tick`], once ready: ping the watchdog and refresh
    /// the status (computed by `status` only then, and only with a
    /// manager).
    pub fn on_tick(&mut self, status: impl FnOnce() -> String) {
        self.next_tick = Instant::now() + self.period();
        // Before READY=1 the manager's start timeout applies, not the
        // watchdog: READY=1 comes first.
        if !self.ready_sent {
            return;
        }
        if self.ping_every.is_some() {
            self.send("WATCHDOG=1");
        }
        if self.target.is_some() {
            self.status(&status());
        }
    }

    fn period(&self) -> Duration {
        self.ping_every
            .map_or(STATUS_PERIOD, |p| p.min(STATUS_PERIOD))
    }

    fn send(&mut self, msg: &str) {
        let Some(t) = &self.target else {
            return;
        };
        if let Err(e) = t.sock.send_to_addr(msg.as_bytes(), &t.addr) {
            // The manager is gone (e.g. `mgmd -d` returned after READY=1):
            // nobody listens any more.
            tracing::debug!("failed to notify the service manager: {e}; not notifying any more");
            self.target = None;
        }
    }
}

impl Target {
    fn new(socket: &str) -> io::Result<Target> {
        let addr = match socket.strip_prefix('@') {
            Some(name) => SocketAddr::from_abstract_name(name.as_bytes())?,
            None if socket.starts_with('/') => SocketAddr::from_pathname(socket)?,
            None => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "neither an absolute path nor an abstract name (@...)",
                ));
            }
        };
        let sock = UnixDatagram::unbound()?;
        sock.set_nonblocking(true)?;
        Ok(Target {
            sock,
            addr,
            name: socket.to_owned(),
        })
    }
}

// ===== the status line =====

/// What `STATUS=` says: "forwarding N flows, M groups on K interfaces".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceStatus {
    /// Forwarding entries with at least one outgoing interface.
    pub flows: usize,
    /// Distinct groups some interface has members for.
    pub groups: usize,
    /// Interfaces mgmd uses that are up.
    pub interfaces: usize,
}

impl ServiceStatus {
    /// Counts the router's state (linear in flows and memberships; called
    /// at most every few seconds, and only under a service manager).
    pub fn of(router: &Router) -> ServiceStatus {
        let s = router.summary();
        ServiceStatus {
            flows: s.flows_forwarding,
            groups: s.groups,
            interfaces: s.interfaces_up,
        }
    }
}

impl fmt::Display for ServiceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = |count: usize, what: &str| {
            format!("{count} {what}{}", if count == 1 { "" } else { "s" })
        };
        write!(
            f,
            "forwarding {}, {} on {}",
            n(self.flows, "flow"),
            n(self.groups, "group"),
            n(self.interfaces, "interface")
        )
    }
}

// ===== helper functions =====

/// The ping period for `WATCHDOG_USEC`/`WATCHDOG_PID`: half the interval,
/// or `None` when there is no valid interval or it is meant for another
/// process.
pub fn watchdog_period(usec: Option<&str>, pid: Option<&str>, own_pid: u32) -> Option<Duration> {
    if let Some(pid) = pid {
        if pid.trim().parse::<u32>().ok() != Some(own_pid) {
            return None;
        }
    }
    let usec: u64 = usec?.trim().parse().ok().filter(|&u| u > 0)?;
    Some(Duration::from_micros(usec) / 2)
}

/// `RELOADING=1` with the time it started.
pub fn reloading_message(monotonic_usec: u64) -> String {
    format!("RELOADING=1\nMONOTONIC_USEC={monotonic_usec}")
}

/// `CLOCK_MONOTONIC` in microseconds, the clock the service manager uses.
pub fn monotonic_usec() -> u64 {
    match nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC) {
        Ok(t) => {
            u64::try_from(t.tv_sec()).unwrap_or(0) * 1_000_000
                + u64::try_from(t.tv_nsec()).unwrap_or(0) / 1_000
        }
        Err(_) => 0,
    }
}

/// A value cannot span lines: a newline would start another assignment.
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

// ===== tests =====

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;

    /// A listening socket standing in for the service manager.
    fn manager() -> (tempfile::TempDir, UnixDatagram, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let sock = UnixDatagram::bind(&path).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        (dir, sock, path.to_str().unwrap().to_owned())
    }

    fn recv(sock: &UnixDatagram) -> String {
        let mut buf = [0u8; 4096];
        let n = sock.recv(&mut buf).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    fn nothing_queued(sock: &UnixDatagram) -> bool {
        sock.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 64];
        let empty = sock.recv(&mut buf).is_err();
        sock.set_nonblocking(false).unwrap();
        empty
    }

    #[test]
    fn ready_is_sent_once_and_status_only_when_changed() {
        let (_dir, sock, path) = manager();
        let mut n = Notifier::to(&path, None).unwrap();
        n.ready();
        n.ready();
        n.status("forwarding 1 flow, 1 group on 2 interfaces");
        n.status("forwarding 1 flow, 1 group on 2 interfaces");
        n.status("two\nlines");
        n.stopping();
        assert_eq!(recv(&sock), "READY=1");
        assert_eq!(
            recv(&sock),
            "STATUS=forwarding 1 flow, 1 group on 2 interfaces"
        );
        assert_eq!(recv(&sock), "STATUS=two lines");
        assert_eq!(recv(&sock), "STOPPING=1");
        assert!(nothing_queued(&sock));
    }

    #[test]
    fn reload_messages_carry_the_monotonic_clock() {
        let (_dir, sock, path) = manager();
        let mut n = Notifier::to(&path, None).unwrap();
        let before = monotonic_usec();
        n.reloading();
        let after = monotonic_usec();
        let msg = recv(&sock);
        let mut lines = msg.lines();
        assert_eq!(lines.next(), Some("RELOADING=1"));
        let usec: u64 = lines
            .next()
            .and_then(|l| l.strip_prefix("MONOTONIC_USEC="))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no MONOTONIC_USEC in {msg:?}"));
        assert!(
            (before..=after).contains(&usec),
            "{before} <= {usec} <= {after}"
        );
        assert_eq!(lines.next(), None);
        n.reloaded(Some("forwarding 0 flows, 0 groups on 0 interfaces"));
        assert_eq!(
            recv(&sock),
            "READY=1\nSTATUS=forwarding 0 flows, 0 groups on 0 interfaces"
        );
        n.reloaded(None);
        assert_eq!(recv(&sock), "READY=1");
        assert_eq!(reloading_message(42), "RELOADING=1\nMONOTONIC_USEC=42");
    }

    #[test]
    fn abstract_sockets_are_reached() {
        let name = format!("mgmd-notify-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let sock = UnixDatagram::bind_addr(&addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut n = Notifier::to(&format!("@{name}"), None).unwrap();
        n.ready();
        assert_eq!(recv(&sock), "READY=1");
    }

    #[test]
    fn relative_paths_are_refused_and_nothing_is_sent_without_a_socket() {
        assert!(Notifier::to("notify.sock", None).is_err());
        let mut n = Notifier::disabled();
        assert!(!n.is_enabled());
        n.ready();
        n.stopping();
    }

    #[test]
    fn a_vanished_manager_is_forgotten() {
        let (dir, sock, path) = manager();
        let mut n = Notifier::to(&path, None).unwrap();
        drop(sock);
        drop(dir);
        n.ready();
        assert!(!n.is_enabled());
    }

    #[test]
    fn the_watchdog_is_pinged_at_half_the_interval_for_our_pid_only() {
        let half = Some(Duration::from_millis(1500));
        assert_eq!(watchdog_period(Some("3000000"), None, 7), half);
        assert_eq!(watchdog_period(Some("3000000"), Some("7"), 7), half);
        assert_eq!(watchdog_period(Some("3000000"), Some("8"), 7), None);
        assert_eq!(watchdog_period(Some("0"), None, 7), None);
        assert_eq!(watchdog_period(Some("soon"), None, 7), None);
        assert_eq!(watchdog_period(None, Some("7"), 7), None);
    }

    #[test]
    fn ticks_ping_the_watchdog_and_refresh_the_status_once_ready() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            let (_dir, sock, path) = manager();
            let mut n = Notifier::to(&path, Some(Duration::from_millis(20))).unwrap();
            assert_eq!(n.period(), Duration::from_millis(20));
            n.tick().await;
            n.on_tick(|| unreachable!("no status before READY=1"));
            assert!(nothing_queued(&sock), "nothing before READY=1");
            n.ready();
            assert_eq!(recv(&sock), "READY=1");
            n.tick().await;
            n.on_tick(|| "forwarding 0 flows, 0 groups on 1 interface".into());
            assert_eq!(recv(&sock), "WATCHDOG=1");
            assert_eq!(
                recv(&sock),
                "STATUS=forwarding 0 flows, 0 groups on 1 interface"
            );
            assert!(nothing_queued(&sock));
        });
        // Without a watchdog, or with a slow one, the status is refreshed
        // every STATUS_PERIOD.
        let (_dir, _sock, path) = manager();
        assert_eq!(Notifier::to(&path, None).unwrap().period(), STATUS_PERIOD);
        let slow = Notifier::to(&path, Some(Duration::from_secs(60))).unwrap();
        assert_eq!(slow.period(), STATUS_PERIOD);
    }

    #[test]
    fn the_status_line_counts_in_words() {
        let s = ServiceStatus {
            flows: 1,
            groups: 2,
            interfaces: 3,
        };
        assert_eq!(s.to_string(), "forwarding 1 flow, 2 groups on 3 interfaces");
    }
}
