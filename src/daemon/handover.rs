//! Handing the multicast routing socket to the next mgmd, so that the
//! kernel never flushes its table (it does when the socket closes).
//!
//! Two ways, both ending in the new process adopting the socket
//! ([`crate::io::mrt::MrtSocket::adopt`]) and the kernel's table (read back
//! over rtnetlink with [`crate::io::mrt_table::read`], as the audit reads
//! it; as the snapshot recorded it if that fails):
//! - `mgmctl restart`: mgmd re-executes the binary now at its path
//!   (`execve`, same pid); the socket survives the exec and its number is
//!   in `MGMD_MRT_FD`.
//! - the service manager's file descriptor store: mgmd gives the socket to
//!   systemd (`FDSTORE=1`, `FDNAME=mgmd-mrt`; the unit allows it with
//!   `FileDescriptorStoreMax=`), which keeps it across a restart of the
//!   unit, also after a crash, and passes it back (`LISTEN_FDS`,
//!   `LISTEN_FDNAMES`).

use std::ffi::{CString, OsString};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::io::sys;

/// The variable naming the inherited socket across `execve`.
pub const MRT_FD_VAR: &str = "MGMD_MRT_FD";
/// The name of the socket in the service manager's store.
pub const FD_NAME: &str = "mgmd-mrt";

/// How the daemon can run itself again.
#[derive(Clone, Debug)]
pub struct SelfExec {
    /// The binary's path as started (a new binary installed there is what
    /// runs next).
    pub exe: PathBuf,
    pub args: Vec<OsString>,
}

impl SelfExec {
    /// From the running process.
    pub fn current() -> Option<SelfExec> {
        let exe = std::env::current_exe().ok()?;
        Some(SelfExec {
            exe,
            args: std::env::args_os().collect(),
        })
    }

    /// Replaces this process with the binary at `exe`, the routing socket
    /// `fd` inherited. Returns only on failure.
    pub fn exec(&self, fd: i32) -> std::io::Error {
        let path = self.exe.to_string_lossy().into_owned();
        // The kernel appends " (deleted)" to a replaced binary's path.
        let path = path.strip_suffix(" (deleted)").unwrap_or(&path).to_owned();
        let Ok(exe) = CString::new(path) else {
            return std::io::Error::other("the binary's path holds a NUL byte");
        };
        let Ok(args) = self
            .args
            .iter()
            .map(|a| CString::new(a.as_bytes()))
            .collect::<Result<Vec<_>, _>>()
        else {
            return std::io::Error::other("an argument holds a NUL byte");
        };
        // The environment as it is, plus the socket's number (given to
        // execve: this process's own environment is not changed).
        let mut env: Vec<CString> = std::env::vars_os()
            .filter(|(k, _)| k != MRT_FD_VAR)
            .filter_map(|(k, v)| {
                let mut kv = k.as_bytes().to_vec();
                kv.push(b'=');
                kv.extend_from_slice(v.as_bytes());
                CString::new(kv).ok()
            })
            .collect();
        if let Ok(v) = CString::new(format!("{MRT_FD_VAR}={fd}")) {
            env.push(v);
        }
        match nix::unistd::execve(&exe, &args, &env) {
            Ok(never) => match never {},
            Err(e) => std::io::Error::from(e),
        }
    }
}

/// The multicast routing socket a previous mgmd handed over, if any:
/// `MGMD_MRT_FD` after a re-exec, or the service manager's `mgmd-mrt`
/// descriptor. The variables are removed, so nothing takes it twice. Call
/// it first thing in `main`, before any other thread exists.
pub fn inherited_socket() -> Result<Option<OwnedFd>, String> {
    if let Ok(v) = std::env::var(MRT_FD_VAR) {
        sys::remove_env_at_start(MRT_FD_VAR);
        let raw: i32 = v
            .parse()
            .map_err(|_| format!("{MRT_FD_VAR}={v} is not a descriptor number"))?;
        return sys::take_inherited_fd(raw)
            .map(Some)
            .map_err(|e| format!("{MRT_FD_VAR}={v}: {e}"));
    }
    let pid = std::env::var("LISTEN_PID").ok();
    let count = std::env::var("LISTEN_FDS").ok();
    let names = std::env::var("LISTEN_FDNAMES").unwrap_or_default();
    for k in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        sys::remove_env_at_start(k);
    }
    let (Some(pid), Some(count)) = (pid, count) else {
        return Ok(None);
    };
    if pid.parse::<u32>().ok() != Some(std::process::id()) {
        return Ok(None);
    }
    let count: i32 = count.parse().unwrap_or(0);
    // SD_LISTEN_FDS_START = 3; names in the same order, ':'-separated.
    match names.split(':').position(|n| n == FD_NAME) {
        Some(i) if (i as i32) < count => sys::take_inherited_fd(3 + i as i32)
            .map(Some)
            .map_err(|e| format!("the service manager's {FD_NAME}: {e}")),
        _ => Ok(None),
    }
}
