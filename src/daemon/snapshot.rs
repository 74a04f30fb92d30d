//! The snapshot file: the router's learned state
//! ([`crate::core::snapshot::RouterState`]) under the runtime directory,
//! beside the pid file (`mgmd.pid` -> `mgmd.state`), for the next process.
//!
//! Written atomically (a temporary file renamed over it), at most once a
//! second when the state changed, and at shutdown; read once at start. A
//! file that cannot be read or parsed is reported and left alone; whether
//! a readable one is taken over is the router's decision (it must be of
//! this configuration and recent enough).

use std::hash::{DefaultHasher, Hasher};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::core::router::Router;
use crate::core::snapshot::RouterState;

/// How often the state is compared with the last one written.
pub const WRITE_PERIOD: Duration = Duration::from_secs(1);

/// The wall clock in milliseconds since the Unix epoch.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Where the snapshot of a daemon with this pid file lives.
pub fn path_for(pid_file: &Path) -> PathBuf {
    pid_file.with_extension("state")
}

/// The snapshot at `path`: `Ok(None)` when there is none, `Err` (a
/// sentence) when it cannot be read or is not a snapshot.
pub fn read(path: &Path) -> Result<Option<RouterState>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| format!("{}: corrupt: {e}", path.display()))
}

/// Writes `state` to `path` atomically.
pub fn write(path: &Path, state: &RouterState) -> io::Result<()> {
    let text = serde_json::to_vec(state).map_err(io::Error::other)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// Keeps the snapshot file in step with the router.
pub struct SnapshotFile {
    path: PathBuf,
    /// The configuration's fingerprint, written into every snapshot.
    config: String,
    /// A digest of the state last written, with its time cleared (to tell
    /// a change without keeping a copy of the state).
    last: Option<u64>,
    failed: bool,
}

impl SnapshotFile {
    pub fn new(path: PathBuf, config: String) -> SnapshotFile {
        SnapshotFile {
            path,
            config,
            last: None,
            failed: false,
        }
    }

    /// A reload applied another configuration: the snapshots written from
    /// now on are that configuration's (the next process reads the file).
    pub fn set_config(&mut self, config: String) {
        if config != self.config {
            self.config = config;
            self.last = None;
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the router's state if it changed since the last write
    /// (`kernel`: with the kernel's table, for a handover: always).
    pub fn update(&mut self, router: &Router, now: std::time::Instant, kernel: bool) {
        let unix = unix_ms();
        let mut state = router.state(now, unix, &self.config, kernel);
        state.written = 0;
        let digest = digest(&state);
        if !kernel && digest.is_some() && self.last == digest {
            return;
        }
        self.last = digest;
        state.written = unix;
        match write(&self.path, &state) {
            Ok(()) => self.failed = false,
            Err(e) => {
                // Said once, until a write works again.
                if !self.failed {
                    tracing::warn!(path = %self.path.display(), "failed to write the snapshot: {e}");
                }
                self.failed = true;
            }
        }
    }
}

/// A digest of `state` as it would be written (SipHash with fixed keys
/// over its JSON text, streamed: nothing is allocated); `None` if it
/// cannot be encoded (then it is not written either, and says why).
fn digest(state: &RouterState) -> Option<u64> {
    struct HashWriter(DefaultHasher);
    impl io::Write for HashWriter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.write(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut w = HashWriter(DefaultHasher::new());
    serde_json::to_writer(&mut w, state).ok()?;
    Some(w.0.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_snapshot_sits_beside_the_pid_file() {
        assert_eq!(
            path_for(Path::new("/run/mgmd/mgmd-10.pid")),
            PathBuf::from("/run/mgmd/mgmd-10.state")
        );
    }

    #[test]
    fn the_digest_tells_states_apart_and_equal_ones_alike() {
        let state = |config: &str, written| RouterState {
            format: crate::core::snapshot::FORMAT,
            config: config.into(),
            written,
            interfaces: Vec::new(),
            flows: Vec::new(),
            kernel: None,
        };
        assert!(digest(&state("abc", 0)).is_some());
        assert_eq!(digest(&state("abc", 0)), digest(&state("abc", 0)));
        assert_ne!(digest(&state("abc", 0)), digest(&state("abd", 0)));
        assert_ne!(digest(&state("abc", 0)), digest(&state("abc", 1)));
    }

    #[test]
    fn written_atomically_and_read_back_or_refused_when_corrupt() {
        let dir = std::env::temp_dir().join(format!("mgmd-snap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("mgmd.state");
        assert_eq!(read(&path), Ok(None));
        let state = RouterState {
            format: crate::core::snapshot::FORMAT,
            config: "abc".into(),
            written: 7,
            interfaces: Vec::new(),
            flows: Vec::new(),
            kernel: None,
        };
        write(&path, &state).unwrap();
        assert_eq!(read(&path), Ok(Some(state)));
        assert!(!dir.join("mgmd.state.tmp").exists());
        std::fs::write(&path, "{\"format\":1,").unwrap();
        let e = read(&path).unwrap_err();
        assert!(e.contains("corrupt"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
