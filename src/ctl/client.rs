//! A blocking control-socket client (no runtime needed in `mgmctl`).

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use crate::ctl::proto::{EventRecord, PERMISSION_DENIED, Reply, Request, RequestMsg};

/// Errors talking to the daemon.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("failed to connect to {path}: {source}{}", connect_hint(source))]
    Connect { path: String, source: io::Error },
    #[error("failed to talk to mgmd: {0}")]
    Io(#[from] io::Error),
    #[error("mgmd sent a malformed reply: {0}")]
    Malformed(String),
    #[error("{0}")]
    Daemon(String),
    /// The daemon does not serve this user.
    #[error("{0}")]
    Denied(String),
}

/// What a failed connection most likely means.
fn connect_hint(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => " (is mgmd running?)",
        io::ErrorKind::PermissionDenied => " (the control socket is root's: run as root)",
        _ => "",
    }
}

/// A connection to the daemon's control socket.
pub struct Client {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Client {
    pub fn connect(path: &Path) -> Result<Client, ClientError> {
        let stream = UnixStream::connect(path).map_err(|source| ClientError::Connect {
            path: path.display().to_string(),
            source,
        })?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let writer = stream.try_clone()?;
        Ok(Client {
            reader: BufReader::new(stream),
            writer,
        })
    }

    fn send(&mut self, request: Request) -> Result<(), ClientError> {
        let mut line = serde_json::to_string(&RequestMsg::new(request))
            .map_err(|e| ClientError::Malformed(e.to_string()))?;
        line.push('\n');
        self.writer.write_all(line.as_bytes())?;
        Ok(())
    }

    fn read_line(&mut self) -> Result<String, ClientError> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(ClientError::Malformed("connection closed".into()));
        }
        Ok(line)
    }

    /// Send one request and wait for its reply.
    pub fn request(&mut self, request: Request) -> Result<serde_json::Value, ClientError> {
        match self.send(request) {
            Ok(()) => {}
            // mgmd may answer (a refusal) and close before the request is
            // written: its answer is still there to read.
            Err(ClientError::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            Err(e) => return Err(e),
        }
        let line = self.read_line()?;
        let reply: Reply =
            serde_json::from_str(&line).map_err(|e| ClientError::Malformed(e.to_string()))?;
        reply.into_result().map_err(|e| {
            if e.starts_with(PERMISSION_DENIED) {
                ClientError::Denied(e)
            } else {
                ClientError::Daemon(e)
            }
        })
    }

    /// Subscribe to the event stream; `f` is called per event until it
    /// returns false or the daemon closes the connection.
    pub fn events(mut self, mut f: impl FnMut(EventRecord) -> bool) -> Result<(), ClientError> {
        self.request(Request::Events)?;
        self.reader.get_ref().set_read_timeout(None)?;
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let ev: EventRecord =
                serde_json::from_str(&line).map_err(|e| ClientError::Malformed(e.to_string()))?;
            if !f(ev) {
                return Ok(());
            }
        }
    }
}
