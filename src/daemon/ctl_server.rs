//! The control socket: accepts connections, reads one JSON request per
//! line and forwards it to the event loop, which owns all state and
//! answers. `events` subscribers get every event record as a JSON line.
//!
//! Every resource a client can make the daemon hold is bounded
//! ([`Limits`]): a request line has a maximum length (a longer one is
//! answered with an error and the connection closed, after reading no more
//! than the limit), a connection that sends no complete request for a
//! while is closed, a client that stops reading its replies or events is
//! dropped once a write has stalled for the write timeout, at most so many
//! connections are served at once (more wait in the listen queue, and are
//! served as others finish; while they wait, a connection idle between
//! requests for [`IDLE_GRACE`] is closed to make room, so that clients
//! that keep their connections open cannot lock others out until the
//! request timeout) and at most so many of them may subscribe to events.
//! Only root and the daemon's own user may talk to it: the socket is
//! created mode 0600, and the peer's credentials are checked again on every
//! connection, should the file's mode have been loosened. The event
//! loop never waits for a client: answers travel through a one-shot
//! channel, events through a bounded queue per subscriber
//! ([`crate::daemon::events`]) that a slow subscriber loses records from.

use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::time::Instant;

use crate::ctl::proto::{
    OLDEST_VERSION, PERMISSION_DENIED, PROTOCOL_VERSION, Reply, Request, RequestMsg,
};
use crate::daemon::events::{EventBus, EventStream};

/// A request waiting for the event loop's answer.
pub struct CtlRequest {
    pub request: Request,
    pub reply: oneshot::Sender<Reply>,
}

/// How long a connection must have been idle between requests before it
/// may be closed to make room for one waiting to be served (a client
/// between connecting and writing its request is not idle for long).
pub const IDLE_GRACE: Duration = Duration::from_secs(1);

/// How long a refused peer's first request is waited for before the
/// refusal is written anyway.
const DENIED_READ_TIMEOUT: Duration = Duration::from_secs(2);

// ===== Limits =====

/// What one client, or many, may make the daemon hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The longest request line, newline excluded. Requests are small
    /// (the largest, a runtime route edit, takes a few hundred bytes).
    pub max_request_bytes: usize,
    /// Connections served at once; further ones wait to be served, and
    /// meanwhile connections idle for [`IDLE_GRACE`] are closed.
    pub max_connections: usize,
    /// Connections streaming events at once; a further `events` request
    /// is refused.
    pub max_subscribers: usize,
    /// How long one write to a client may stall before it is dropped.
    pub write_timeout: Duration,
    /// How long a connection may take to send a complete request (also
    /// the longest a connection may stay idle between requests).
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_bytes: 64 * 1024,
            max_connections: 256,
            max_subscribers: 32,
            write_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
        }
    }
}

// ===== CtlServer =====

/// The listening control socket.
pub struct CtlServer {
    listener: UnixListener,
    path: PathBuf,
    limits: Limits,
}

impl CtlServer {
    /// Bind the socket (mode 0600 from the start: no other user can
    /// connect in between), creating its directory. A stale socket file
    /// nobody listens on is replaced; a live one is an error.
    pub fn bind(path: &Path) -> io::Result<CtlServer> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        if path.exists() {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("{} is in use: is another mgmd running?", path.display()),
                ));
            }
            std::fs::remove_file(path)?;
        }
        let listener = UnixListener::from_std(bind_private(path)?)?;
        Ok(CtlServer {
            listener,
            path: path.to_path_buf(),
            limits: Limits::default(),
        })
    }

    /// The same server with other limits.
    pub fn with_limits(mut self, limits: Limits) -> CtlServer {
        self.limits = limits;
        self
    }

    /// Accept connections forever, one task each, at most
    /// [`Limits::max_connections`] at once.
    pub async fn serve(self, requests: mpsc::Sender<CtlRequest>, events: EventBus) {
        let limits = self.limits;
        let connections = Arc::new(Semaphore::new(limits.max_connections));
        let subscribers = Arc::new(Semaphore::new(limits.max_subscribers));
        // Told to idle connections while others wait for a slot.
        let make_room = Arc::new(Notify::new());
        let mut full_logged = false;
        loop {
            let stream = match self.listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // EMFILE and the like: wait rather than spin.
                    tracing::warn!(target: "ctl", "failed to accept a control connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            // One accepted connection at most waits here for a slot; the
            // others wait in the listen queue.
            let permit = match Arc::clone(&connections).try_acquire_owned() {
                Ok(p) => {
                    full_logged = false;
                    p
                }
                Err(_) => {
                    if !full_logged {
                        full_logged = true;
                        tracing::info!(
                            target: "ctl",
                            limit = limits.max_connections,
                            "serving the most control connections at once; further ones wait"
                        );
                    }
                    match wait_for_slot(&connections, &make_room).await {
                        Some(p) => p,
                        None => return,
                    }
                }
            };
            let client = Client {
                requests: requests.clone(),
                events: events.clone(),
                subscribers: Arc::clone(&subscribers),
                make_room: Arc::clone(&make_room),
                limits,
            };
            tokio::spawn(async move {
                let peer = stream
                    .peer_cred()
                    .map(|c| format!("pid {}", c.pid().unwrap_or(0)))
                    .unwrap_or_else(|_| "?".into());
                match client.serve(stream, permit).await {
                    Ok(()) => {}
                    Err(e @ (Ended::TooLong(_) | Ended::Stalled(_) | Ended::Denied(_))) => {
                        tracing::warn!(target: "ctl", %peer, "control client dropped: {e}")
                    }
                    Err(e) => {
                        tracing::debug!(target: "ctl", %peer, "control connection ended: {e}")
                    }
                }
            });
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Waits for a free connection slot; meanwhile, every [`IDLE_GRACE`],
/// asks the connections idle between requests to close. `None` when the
/// semaphore is closed.
async fn wait_for_slot(
    connections: &Arc<Semaphore>,
    make_room: &Notify,
) -> Option<OwnedSemaphorePermit> {
    loop {
        make_room.notify_waiters();
        tokio::select! {
            p = Arc::clone(connections).acquire_owned() => return p.ok(),
            _ = tokio::time::sleep(IDLE_GRACE) => {}
        }
    }
}

/// Binds a listening Unix stream socket at `path`, mode 0600 from the
/// start, and sets the mode again afterwards (for file systems where the
/// socket's own mode does not carry over).
fn bind_private(path: &Path) -> io::Result<std::os::unix::net::UnixListener> {
    use std::os::unix::fs::PermissionsExt;

    let sock = bind_0600(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    sock.listen(1024)?;
    sock.set_nonblocking(true)?;
    Ok(sock.into())
}

/// A Unix stream socket bound at `path`, whose file is created mode 0600:
/// Linux gives the new file the socket's own mode (less the umask), so
/// the socket is made 0600 before it is bound and no other user can
/// connect before the mode is set.
fn bind_0600(path: &Path) -> io::Result<socket2::Socket> {
    use nix::sys::stat::{Mode, fchmod};
    use socket2::{Domain, SockAddr, Socket, Type};

    let sock = Socket::new(Domain::UNIX, Type::STREAM.cloexec(), None)?;
    fchmod(sock.as_fd(), Mode::from_bits_truncate(0o600)).map_err(io::Error::from)?;
    sock.bind(&SockAddr::unix(path)?)?;
    Ok(sock)
}

// ===== one connection =====

/// Why a connection ended early.
#[derive(Debug, thiserror::Error)]
enum Ended {
    #[error("it sent {0} bytes without a newline (at most that many are read)")]
    TooLong(usize),
    #[error("it did not read for {0:?}")]
    Stalled(Duration),
    #[error("it sent no complete request for {0:?}")]
    Idle(Duration),
    #[error("it was idle while other clients waited to be served")]
    MadeRoom,
    #[error("{0}")]
    Denied(String),
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// What a connection task needs.
struct Client {
    requests: mpsc::Sender<CtlRequest>,
    events: EventBus,
    subscribers: Arc<Semaphore>,
    make_room: Arc<Notify>,
    limits: Limits,
}

/// One read of a request line.
enum Line {
    /// A line (without its newline) is in the buffer.
    Complete,
    /// More than the limit came without a newline.
    TooLong,
    /// The client closed the connection.
    Closed,
}

impl Client {
    async fn serve(self, stream: UnixStream, permit: OwnedSemaphorePermit) -> Result<(), Ended> {
        let denied = check_peer(&stream);
        let (rd, mut wr) = stream.into_split();
        let mut rd = BufReader::new(rd);
        let mut buf = Vec::new();
        if let Err(why) = denied {
            // The refusal answers the first request: a client that writes
            // before it reads gets it instead of a broken pipe. Bounded
            // like any request, and waited for briefly.
            let read = read_line(&mut rd, &mut buf, self.limits.max_request_bytes);
            let _ = tokio::time::timeout(DENIED_READ_TIMEOUT, read).await;
            self.write(&mut wr, &Reply::err(why.clone())).await?;
            return Err(Ended::Denied(why));
        }
        loop {
            let deadline = Instant::now() + self.limits.request_timeout;
            if !self.wait_for_request(&mut rd, deadline).await? {
                return Ok(());
            }
            let read = read_line(&mut rd, &mut buf, self.limits.max_request_bytes);
            let line = tokio::time::timeout_at(deadline, read)
                .await
                .map_err(|_| Ended::Idle(self.limits.request_timeout))??;
            match line {
                Line::Closed => return Ok(()),
                Line::TooLong => {
                    let limit = self.limits.max_request_bytes;
                    let reply = Reply::err(format!(
                        "request too long: more than {limit} bytes without a newline; \
                         the connection is closed"
                    ));
                    // The client may not be reading either: best effort.
                    let _ = self.write(&mut wr, &reply).await;
                    return Err(Ended::TooLong(limit));
                }
                Line::Complete => {}
            }
            if buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let reply = match serde_json::from_slice::<RequestMsg>(&buf) {
                Err(e) => Reply::err(format!("malformed request: {e}")),
                Ok(msg) if !(OLDEST_VERSION..=PROTOCOL_VERSION).contains(&msg.version) => {
                    Reply::err(format!(
                        "unsupported control protocol version {} (this mgmd speaks {PROTOCOL_VERSION})",
                        msg.version
                    ))
                }
                Ok(RequestMsg {
                    request: Request::Events,
                    ..
                }) => match Arc::clone(&self.subscribers).try_acquire_owned() {
                    Ok(subscription) => {
                        let rx = self.events.subscribe();
                        self.write(&mut wr, &Reply::ok(serde_json::Value::Null))
                            .await?;
                        // A subscriber counts against its own limit only.
                        drop(permit);
                        return self.stream_events(rd, wr, rx, subscription).await;
                    }
                    Err(_) => Reply::err(format!(
                        "too many event subscribers ({} at once); try again later",
                        self.limits.max_subscribers
                    )),
                },
                Ok(msg) => {
                    let (tx, rx) = oneshot::channel();
                    let req = CtlRequest {
                        request: msg.request,
                        reply: tx,
                    };
                    if self.requests.send(req).await.is_err() {
                        Reply::err("mgmd is shutting down")
                    } else {
                        rx.await
                            .unwrap_or_else(|_| Reply::err("mgmd is shutting down"))
                    }
                }
            };
            self.write(&mut wr, &reply).await?;
            // What answering took (the answer, its encoding, what a
            // command such as an ownership move freed) goes back to the
            // kernel: commands are rare, and a resident heap that kept the
            // peak of the largest answer would stay that size.
            drop(reply);
            crate::io::sys::trim_heap();
        }
    }

    /// Waits until the next request begins to arrive (`false`: the client
    /// closed the connection), until `deadline`. While it waits, other
    /// clients may be waiting for a connection slot: once idle for
    /// [`IDLE_GRACE`], this one then gives its slot up.
    async fn wait_for_request(
        &self,
        rd: &mut BufReader<tokio::net::unix::OwnedReadHalf>,
        deadline: Instant,
    ) -> Result<bool, Ended> {
        let idle_since = Instant::now();
        loop {
            tokio::select! {
                biased;
                r = rd.fill_buf() => return Ok(!r?.is_empty()),
                _ = tokio::time::sleep_until(deadline) => {
                    return Err(Ended::Idle(self.limits.request_timeout));
                }
                _ = self.make_room.notified() => {
                    if idle_since.elapsed() >= IDLE_GRACE {
                        return Err(Ended::MadeRoom);
                    }
                }
            }
        }
    }

    /// Writes every event until the client goes away (noticed at once,
    /// not at the next event) or stops reading.
    async fn stream_events(
        &self,
        mut rd: BufReader<tokio::net::unix::OwnedReadHalf>,
        mut wr: tokio::net::unix::OwnedWriteHalf,
        mut rx: EventStream,
        _subscription: OwnedSemaphorePermit,
    ) -> Result<(), Ended> {
        let mut ignored = [0u8; 512];
        loop {
            tokio::select! {
                // A slow reader loses events (module
                // [`crate::daemon::events`]); the sequence numbers show the gap.
                line = rx.next() => match line {
                    Some(line) => self.write_bytes(&mut wr, &line).await?,
                    None => return Ok(()),
                },
                // Whatever a subscriber sends is ignored; its end closes it.
                n = rd.read(&mut ignored) => {
                    if n? == 0 {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Writes one JSON line; a client that takes no part of it for the
    /// write timeout is dropped.
    async fn write<T: serde::Serialize>(
        &self,
        wr: &mut tokio::net::unix::OwnedWriteHalf,
        value: &T,
    ) -> Result<(), Ended> {
        let mut line = serde_json::to_vec(value).map_err(io::Error::other)?;
        line.push(b'\n');
        self.write_bytes(wr, &line).await
    }

    /// Writes `line`; a client that takes no part of it for the write
    /// timeout is dropped.
    async fn write_bytes(
        &self,
        wr: &mut tokio::net::unix::OwnedWriteHalf,
        line: &[u8],
    ) -> Result<(), Ended> {
        let timeout = self.limits.write_timeout;
        let mut rest = line;
        while !rest.is_empty() {
            let n = tokio::time::timeout(timeout, wr.write(rest))
                .await
                .map_err(|_| Ended::Stalled(timeout))??;
            if n == 0 {
                return Err(io::Error::from(io::ErrorKind::WriteZero).into());
            }
            rest = &rest[n..];
        }
        Ok(())
    }
}

/// Reads one line into `buf` (newline removed), reading at most `limit`
/// bytes and one more of it.
async fn read_line<R: AsyncBufRead + Unpin>(
    rd: &mut R,
    buf: &mut Vec<u8>,
    limit: usize,
) -> io::Result<Line> {
    buf.clear();
    let max = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let n = (&mut *rd).take(max).read_until(b'\n', buf).await?;
    if n == 0 {
        return Ok(Line::Closed);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        return Ok(Line::Complete);
    }
    if buf.len() > limit {
        return Ok(Line::TooLong);
    }
    // The last request of a client that closed without a newline.
    Ok(Line::Complete)
}

/// Only root and the daemon's own user may talk to it.
fn check_peer(stream: &UnixStream) -> Result<(), String> {
    let euid = nix::unistd::geteuid().as_raw();
    match stream.peer_cred() {
        Ok(c) if c.uid() == 0 || c.uid() == euid => Ok(()),
        Ok(c) => Err(format!(
            "{PERMISSION_DENIED}: uid {} may not use mgmd's control socket (root and uid {euid} may)",
            c.uid()
        )),
        Err(e) => Err(format!(
            "{PERMISSION_DENIED}: the peer's credentials could not be read: {e}"
        )),
    }
}

// ===== tests =====

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[tokio::test]
    async fn lines_are_bounded() {
        let data: &[u8] = b"{\"a\":1}\n\nxyz";
        let mut rd = BufReader::new(data);
        let mut buf = Vec::new();
        assert!(matches!(
            read_line(&mut rd, &mut buf, 16).await.unwrap(),
            Line::Complete
        ));
        assert_eq!(buf, b"{\"a\":1}");
        assert!(matches!(
            read_line(&mut rd, &mut buf, 16).await.unwrap(),
            Line::Complete
        ));
        assert!(buf.is_empty());
        assert!(matches!(
            read_line(&mut rd, &mut buf, 16).await.unwrap(),
            Line::Complete
        ));
        assert_eq!(buf, b"xyz");
        assert!(matches!(
            read_line(&mut rd, &mut buf, 16).await.unwrap(),
            Line::Closed
        ));
        // A line of exactly the limit passes; one byte more does not, and
        // no more than the limit and one byte is read.
        let long = [b'x'; 40];
        let mut rd = BufReader::new(&long[..]);
        assert!(matches!(
            read_line(&mut rd, &mut buf, 16).await.unwrap(),
            Line::TooLong
        ));
        assert_eq!(buf.len(), 17);
        let mut exact = vec![b'y'; 16];
        exact.push(b'\n');
        let mut rd = BufReader::new(&exact[..]);
        assert!(matches!(
            read_line(&mut rd, &mut buf, 16).await.unwrap(),
            Line::Complete
        ));
        assert_eq!(buf.len(), 16);
    }

    #[test]
    fn the_socket_file_is_private_from_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctl.sock");
        let _sock = bind_0600(&path).unwrap();
        // Without the socket's own mode, the umask (022 at most, as tests
        // run) would leave 0755.
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
