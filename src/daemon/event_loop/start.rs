//! Starting and restarting: the routing socket (new, or adopted from the
//! previous process with its snapshot), the pid file, and `mgmctl
//! restart`, which hands both over to the binary now at mgmd's path.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use tokio::time::Instant;

use crate::core::snapshot::{RouterState, SavedKernel};
use crate::ctl::proto::Reply;
use crate::daemon::DaemonError;
use crate::daemon::handover::SelfExec;
use crate::daemon::snapshot::{self, SnapshotFile};
use crate::io::mrt::MrtSocket;
use crate::io::mrt_table;

use super::{Driver, Io, drain_writer};

/// The multicast routing socket: the one a previous mgmd handed over
/// (adopted, with the kernel's table as it is) or a new one; and the
/// snapshot to restore from, if one was left (with the adopted table's
/// contents in it).
pub(super) async fn routing_socket(
    inherited: Option<OwnedFd>,
    rtnl: &rtnetlink::Handle,
    table: Option<u32>,
    snapshot_path: &Path,
    config_fp: &str,
) -> Result<(MrtSocket, Option<RouterState>, bool), DaemonError> {
    let (mrt, mut adopted) = match inherited {
        Some(fd) => (MrtSocket::adopt(fd, table).map_err(DaemonError::Mrt)?, true),
        None => (MrtSocket::open(table).map_err(DaemonError::Mrt)?, false),
    };
    let mut saved = match snapshot::read(snapshot_path) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("snapshot ignored: {e}");
            None
        }
    };
    if adopted {
        // What the kernel holds: read back (the reader the audit uses),
        // else as the previous process recorded it when it handed the
        // socket over.
        let recorded = saved.as_ref().and_then(|s| s.kernel.clone());
        let kernel = match mrt_table::read(rtnl, table).await {
            Ok(k) => Some(SavedKernel::from_table(&k)),
            Err(e) => {
                tracing::warn!("failed to read the kernel's multicast routing table: {e}");
                recorded
            }
        };
        match kernel {
            Some(k) => {
                let state = saved.get_or_insert_with(|| RouterState {
                    format: crate::core::snapshot::FORMAT,
                    config: config_fp.to_owned(),
                    written: snapshot::unix_ms(),
                    interfaces: Vec::new(),
                    flows: Vec::new(),
                    kernel: None,
                });
                state.kernel = Some(k);
            }
            None => {
                // A table nobody can account for: start afresh.
                tracing::warn!(
                    path = %snapshot_path.display(),
                    "the multicast routing socket was handed over, but the kernel's table \
                     could not be read back and was not recorded; flushing it, forwarding \
                     is rebuilt"
                );
                if let Err(e) = mrt.flush() {
                    tracing::warn!("failed to flush the multicast routing table: {e}");
                }
                adopted = false;
            }
        }
    }
    Ok((mrt, saved, adopted))
}

/// `mgmctl restart`: the kernel's table and the learned state go into the
/// snapshot, the routing socket survives `execve`, and the binary now at
/// mgmd's path takes over (same pid). Answered before the exec; on
/// failure the daemon carries on as it was.
pub(super) async fn restart(
    router: &mut Driver,
    io: &mut Io,
    snapshot: &mut SnapshotFile,
    self_exec: Option<&SelfExec>,
    reply: tokio::sync::oneshot::Sender<Reply>,
) {
    let Some(exec) = self_exec else {
        let _ = reply.send(Reply::err("mgmd does not know its own binary's path"));
        return;
    };
    drain_writer(router, io).await;
    snapshot.update(&router.router, Instant::now().into_std(), true);
    if let Err(e) = io.mrt.get_ref().set_inherit(true) {
        let _ = reply.send(Reply::err(format!(
            "failed to hand the multicast routing socket over: {e}"
        )));
        return;
    }
    tracing::info!(exe = %exec.exe.display(), "restarting: the multicast routing socket and the state are handed over");
    let _ = reply.send(Reply::ok(serde_json::json!({
        "exe": exec.exe.display().to_string(),
        "snapshot": snapshot.path().display().to_string(),
    })));
    // Let the connection task write the answer out.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let e = exec.exec(io.mrt.get_ref().as_raw_fd());
    tracing::error!(exe = %exec.exe.display(), "failed to restart: {e}; carrying on");
    if let Err(e) = io.mrt.get_ref().set_inherit(false) {
        tracing::warn!("{e}");
    }
}

pub(super) fn write_pid_file(path: &Path) {
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Err(e) = std::fs::write(path, format!("{}\n", std::process::id())) {
        tracing::warn!(path = %path.display(), "failed to write the pid file: {e}");
    }
}
