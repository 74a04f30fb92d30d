//! The control socket's limits, against the real server with a stand-in
//! for the event loop: a client that sends a request without end, clients
//! that never read their replies or their events, and a thousand clients
//! at once. Each time the server keeps serving everyone else.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mgmd::ctl::proto::{EventRecord, Reply, Request};
use mgmd::daemon::ctl_server::{CtlRequest, CtlServer, Limits};
use mgmd::daemon::events::EventBus;
use tokio::sync::mpsc;

// ===== harness =====

/// A server on a temporary socket, run on its own runtime thread, with a
/// stand-in loop answering every request: `show-routes` with `big_reply`
/// bytes of data, anything else with `"pong"`.
struct Server {
    _dir: tempfile::TempDir,
    path: PathBuf,
    events: EventBus,
    runtime: tokio::runtime::Runtime,
}

impl Server {
    fn start(limits: Limits, big_reply: usize) -> Server {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("ctl.sock");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let events = EventBus::new();
        let (req_tx, mut req_rx) = mpsc::channel::<CtlRequest>(64);
        let server = {
            let _guard = runtime.enter();
            CtlServer::bind(&path).expect("bind").with_limits(limits)
        };
        runtime.spawn(server.serve(req_tx, events.clone()));
        runtime.spawn(async move {
            let big = serde_json::Value::String("r".repeat(big_reply));
            while let Some(req) = req_rx.recv().await {
                let data = match req.request {
                    Request::ShowRoutes => big.clone(),
                    _ => serde_json::Value::String("pong".into()),
                };
                let _ = req.reply.send(Reply::ok(data));
            }
        });
        Server {
            _dir: dir,
            path,
            events,
            runtime,
        }
    }

    fn connect(&self) -> UnixStream {
        let s = UnixStream::connect(&self.path).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        s
    }

    /// A fresh client's ping is answered.
    fn answers(&self) -> bool {
        ping(&self.path).is_ok()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Tasks blocked on clients must not hold the test up.
        let rt = std::mem::replace(
            &mut self.runtime,
            tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("runtime"),
        );
        rt.shutdown_background();
    }
}

fn ping(path: &Path) -> Result<String, String> {
    let mut s = UnixStream::connect(path).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .map_err(|e| e.to_string())?;
    s.write_all(b"{\"version\":1,\"cmd\":\"ping\"}\n")
        .map_err(|e| e.to_string())?;
    let mut line = String::new();
    BufReader::new(s)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    Ok(line)
}

fn limits() -> Limits {
    Limits {
        max_request_bytes: 64 * 1024,
        max_connections: 64,
        max_subscribers: 4,
        write_timeout: Duration::from_millis(300),
        request_timeout: Duration::from_secs(5),
    }
}

/// Polls `f` for up to `secs` seconds.
fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

// ===== tests =====

/// 100 MB without a newline: the server reads no more than the limit,
/// answers with an error that says so and closes; the sender finds the
/// connection closed long before it is done.
#[test]
fn a_request_without_end_is_cut_off_with_an_error() {
    let server = Server::start(limits(), 0);
    let mut s = server.connect();
    let reader = s.try_clone().expect("clone");
    let reply = std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(reader).read_line(&mut line);
        line
    });
    let chunk = vec![b'x'; 1 << 20];
    let mut sent = 0usize;
    while sent < 100 << 20 {
        match s.write(&chunk) {
            Ok(n) => sent += n,
            Err(_) => break,
        }
    }
    let line = reply.join().expect("reader");
    assert!(
        line.contains("request too long: more than 65536 bytes without a newline"),
        "{line}"
    );
    // What the kernel buffers on the way besides the limit, not 100 MB.
    assert!(sent < 16 << 20, "the server took {sent} bytes");
    assert!(server.answers());
}

/// A client that asks for big replies and never reads them is dropped
/// once a write stalled for the write timeout; others are served all the
/// while.
#[test]
fn a_client_that_never_reads_its_replies_is_dropped() {
    let server = Server::start(limits(), 1 << 20);
    let mut s = server.connect();
    s.set_write_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    // Pipelined requests: the first replies fill the socket's buffers.
    for _ in 0..8 {
        s.write_all(b"{\"version\":1,\"cmd\":\"show-routes\"}\n")
            .expect("write");
    }
    let t = Instant::now();
    assert!(server.answers(), "others are served meanwhile");
    // Once dropped, the server's end is closed: writes fail.
    let dropped = eventually(10, || {
        s.write_all(b"{\"version\":1,\"cmd\":\"ping\"}\n").is_err()
    });
    assert!(dropped, "the client was not dropped");
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert!(server.answers());
}

/// An `events` subscriber that never reads is dropped once its socket is
/// full and a write stalled; the subscription ends with it.
#[test]
fn an_event_subscriber_that_never_reads_is_dropped() {
    let server = Server::start(limits(), 0);
    let mut s = server.connect();
    s.write_all(b"{\"version\":1,\"cmd\":\"events\"}\n")
        .expect("write");
    assert!(eventually(5, || server.events.subscribers() == 1));
    let record = EventRecord {
        t_ms: 0,
        seq: 0,
        kind: "test".into(),
        text: "x".repeat(1000),
        data: serde_json::Value::Null,
    };
    let gone = eventually(10, || {
        for _ in 0..100 {
            server.events.send(&record);
        }
        server.events.subscribers() == 0
    });
    assert!(gone, "the subscriber was not dropped");
    assert!(server.answers());
}

/// Subscribers beyond the limit are refused with a reason; requests go on.
#[test]
fn event_subscribers_are_bounded() {
    let server = Server::start(limits(), 0);
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut s = server.connect();
        s.write_all(b"{\"version\":1,\"cmd\":\"events\"}\n")
            .expect("write");
        let mut line = String::new();
        BufReader::new(s.try_clone().expect("clone"))
            .read_line(&mut line)
            .expect("read");
        assert!(line.contains("\"ok\":true"), "{line}");
        held.push(s);
    }
    let mut s = server.connect();
    s.write_all(b"{\"version\":1,\"cmd\":\"events\"}\n")
        .expect("write");
    let mut r = BufReader::new(s.try_clone().expect("clone"));
    let mut line = String::new();
    r.read_line(&mut line).expect("read");
    assert!(
        line.contains("too many event subscribers (4 at once)"),
        "{line}"
    );
    // The refused connection stays usable for requests.
    s.write_all(b"{\"version\":1,\"cmd\":\"ping\"}\n")
        .expect("write");
    line.clear();
    r.read_line(&mut line).expect("read");
    assert!(line.contains("pong"), "{line}");
    // A subscriber that leaves makes room.
    drop(held.pop());
    assert!(eventually(5, || server.events.subscribers() == 3));
}

/// A thousand clients at once, more than the server serves together: all
/// are answered (the others wait to be accepted).
#[test]
fn a_thousand_clients_at_once_are_all_answered() {
    raise_fd_limit(4096);
    let server = Server::start(limits(), 0);
    let mut clients = Vec::new();
    for _ in 0..1000 {
        let mut s = server.connect();
        s.write_all(b"{\"version\":1,\"cmd\":\"ping\"}\n")
            .expect("write");
        clients.push(s);
    }
    for s in clients {
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line).expect("read");
        assert!(line.contains("pong"), "{line}");
    }
}

/// Clients that keep their connections open once answered do not lock the
/// others out until the request timeout: while a client waits for a slot,
/// connections idle between requests for a while are closed to make room;
/// one halfway through a request is not.
#[test]
fn idle_connections_make_room_for_a_waiting_client() {
    let mut l = limits();
    l.max_connections = 4;
    l.request_timeout = Duration::from_secs(120);
    let server = Server::start(l, 0);
    let mut idle = Vec::new();
    for _ in 0..3 {
        let mut s = server.connect();
        s.write_all(b"{\"version\":1,\"cmd\":\"ping\"}\n")
            .expect("write");
        let mut line = String::new();
        BufReader::new(&s).read_line(&mut line).expect("read");
        assert!(line.contains("pong"), "{line}");
        idle.push(s);
    }
    let mut partial = server.connect();
    partial
        .write_all(b"{\"version\":1,")
        .expect("write the first half");
    // The fourth slot is taken: this client waits, then is served long
    // before the request timeout (ping gives up after 20 s).
    let reply = ping(&server.path).expect("the waiting client is answered");
    assert!(reply.contains("pong"), "{reply}");
    for mut s in idle {
        let mut buf = [0u8; 16];
        assert_eq!(
            s.read(&mut buf).expect("read"),
            0,
            "an idle client was closed"
        );
    }
    partial
        .write_all(b"\"cmd\":\"ping\"}\n")
        .expect("write the second half");
    let mut line = String::new();
    BufReader::new(&partial)
        .read_line(&mut line)
        .expect("the client halfway through its request is answered");
    assert!(line.contains("pong"), "{line}");
}

/// A connection that sends nothing is closed after the request timeout.
#[test]
fn an_idle_connection_is_closed() {
    let mut l = limits();
    l.request_timeout = Duration::from_millis(300);
    let server = Server::start(l, 0);
    let mut s = server.connect();
    let t = Instant::now();
    let mut buf = [0u8; 16];
    assert_eq!(s.read(&mut buf).expect("read"), 0, "closed, nothing sent");
    assert!(t.elapsed() >= Duration::from_millis(300));
}

fn raise_fd_limit(want: u64) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    if soft < want {
        setrlimit(Resource::RLIMIT_NOFILE, want.min(hard), hard).expect("setrlimit");
    }
}
