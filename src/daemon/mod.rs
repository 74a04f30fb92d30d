//! The daemon: the event loop that drives the sans-IO router, the
//! control socket server, the metrics endpoint, the service manager
//! notifications, the snapshot file, and handing the multicast routing
//! socket to the next process.

pub mod ctl_server;
pub mod event_loop;
pub mod events;
pub mod handover;
pub mod metrics;
pub mod notify;
pub mod snapshot;

pub use event_loop::Options;

use crate::config::Config;
use crate::io::mrt::MrtError;
use crate::io::netlink::NetlinkError;

/// Why the daemon could not start (or had to stop).
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("{0}")]
    Mrt(#[source] MrtError),
    #[error("failed to follow interfaces over rtnetlink: {0}")]
    Netlink(#[source] NetlinkError),
    #[error("{0}: {1}")]
    Io(&'static str, #[source] std::io::Error),
}

impl DaemonError {
    /// The sysexits code for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            DaemonError::Mrt(MrtError::AlreadyInUse { .. }) => 69, // EX_UNAVAILABLE
            DaemonError::Mrt(MrtError::Permission { .. }) => 77,   // EX_NOPERM
            DaemonError::Io(_, e) if e.kind() == std::io::ErrorKind::PermissionDenied => 77,
            DaemonError::Io(_, e) if e.kind() == std::io::ErrorKind::AddrInUse => 69,
            _ => 71, // EX_OSERR
        }
    }
}

/// Run the daemon on a single-threaded runtime until SIGTERM/SIGINT.
pub fn run(cfg: Config, opts: Options) -> Result<(), DaemonError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| DaemonError::Io("failed to start the runtime", e))?;
    rt.block_on(event_loop::run(cfg, opts))
}
