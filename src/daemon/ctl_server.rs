//! The control socket: accepts connections, reads one JSON request per
//! line and forwards it to the event loop, which owns all state and
//! answers. `events` subscribers get every event record as a JSON line.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};

use crate::ctl::proto::{PROTOCOL_VERSION, Reply, Request, RequestMsg};
use crate::daemon::events::{EventBus, EventStream};

/// A request waiting for the event loop's answer.
pub struct CtlRequest {
    pub request: Request,
    pub reply: oneshot::Sender<Reply>,
}

/// The listening control socket.
pub struct CtlServer {
    listener: UnixListener,
    path: PathBuf,
}

impl CtlServer {
    /// Bind the socket (mode 0600), creating its directory. A stale socket
    /// file nobody listens on is replaced; a live one is an error.
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
        let listener = UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        Ok(CtlServer {
            listener,
            path: path.to_path_buf(),
        })
    }

    /// Accept connections forever, one task each.
    pub async fn serve(self, requests: mpsc::Sender<CtlRequest>, events: EventBus) {
        loop {
            match self.listener.accept().await {
                Ok((stream, _)) => {
                    let requests = requests.clone();
                    let events = events.clone();
                    tokio::spawn(async move {
                        if let Err(e) = connection(stream, requests, events).await {
                            tracing::debug!(target: "ctl", "control connection ended: {e}");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(target: "ctl", "failed to accept a control connection: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

async fn connection(
    stream: UnixStream,
    requests: mpsc::Sender<CtlRequest>,
    events: EventBus,
) -> io::Result<()> {
    let (rd, mut wr) = stream.into_split();
    let mut lines = BufReader::new(rd).lines();
    while let Some(line) = lines.next_line().await? {
        if line.trim().is_empty() {
            continue;
        }
        let reply = match serde_json::from_str::<RequestMsg>(&line) {
            Err(e) => Reply::err(format!("malformed request: {e}")),
            Ok(msg) if msg.version != PROTOCOL_VERSION => Reply::err(format!(
                "unsupported control protocol version {} (this mgmd speaks {PROTOCOL_VERSION})",
                msg.version
            )),
            Ok(RequestMsg {
                request: Request::Events,
                ..
            }) => {
                let rx = events.subscribe();
                write_line(&mut wr, &Reply::ok(serde_json::Value::Null)).await?;
                return stream_events(wr, rx).await;
            }
            Ok(msg) => {
                let (tx, rx) = oneshot::channel();
                let req = CtlRequest {
                    request: msg.request,
                    reply: tx,
                };
                if requests.send(req).await.is_err() {
                    Reply::err("mgmd is shutting down")
                } else {
                    rx.await
                        .unwrap_or_else(|_| Reply::err("mgmd is shutting down"))
                }
            }
        };
        write_line(&mut wr, &reply).await?;
    }
    Ok(())
}

/// Writes the subscriber's records until the daemon stops or the client
/// goes away. A slow reader loses records (module
/// [`crate::daemon::events`]); the sequence numbers show the gap.
async fn stream_events(
    mut wr: tokio::net::unix::OwnedWriteHalf,
    mut rx: EventStream,
) -> io::Result<()> {
    while let Some(line) = rx.next().await {
        wr.write_all(&line).await?;
    }
    Ok(())
}

async fn write_line<T: serde::Serialize>(
    wr: &mut tokio::net::unix::OwnedWriteHalf,
    value: &T,
) -> io::Result<()> {
    let mut line = serde_json::to_vec(value).map_err(io::Error::other)?;
    line.push(b'\n');
    wr.write_all(&line).await
}
