//! The daemon and the service manager: the real `mgmd` binary, started in a
//! fresh network namespace (`unshare -n`) with `NOTIFY_SOCKET` pointing at a
//! socket of this test, must say `READY=1` first and only once it answers
//! on its control socket, then ping the watchdog and report its status, and
//! say `STOPPING=1` after SIGTERM; a daemon that cannot own the multicast
//! routing table never says `READY=1`.
//!
//! They need root and a kernel with multicast routing, so a plain `cargo
//! test` lists them as ignored; `scripts/kernel-env.sh -- cargo test --test
//! notify -- --ignored` runs them on such a kernel (as `scripts/ci.sh` does).

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mgmd::ctl::{Client, Request};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

// ===== harness =====

/// Asked to run (`--ignored`) without what it needs: fail, saying why,
/// rather than pass without having run.
fn require_privileges() {
    let ok = nix::unistd::geteuid().is_root()
        && Command::new("unshare")
            .args(["-n", "true"])
            .status()
            .is_ok_and(|s| s.success());
    assert!(ok, "needs root and unshare(1) (network namespaces)");
}

/// The service manager's end: a datagram socket in a temporary directory.
struct Manager {
    dir: tempfile::TempDir,
    sock: UnixDatagram,
}

impl Manager {
    fn new() -> Manager {
        let dir = tempfile::tempdir().expect("temporary directory");
        let sock = UnixDatagram::bind(dir.path().join("notify")).expect("bind the notify socket");
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        Manager { dir, sock }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("notify")
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The next message; panics after 10 s of silence.
    fn recv(&self) -> String {
        let mut buf = [0u8; 4096];
        let n = self
            .sock
            .recv(&mut buf)
            .expect("a notification within 10 s");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    /// Whatever is queued, without waiting.
    fn drain(&self) -> Vec<String> {
        self.sock.set_nonblocking(true).expect("nonblocking");
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = self.sock.recv(&mut buf) {
            out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        self.sock.set_nonblocking(false).expect("blocking");
        out
    }
}

/// A daemon process, killed if the test ends early.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Daemon {
    fn pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.0.id()).expect("pid"))
    }

    /// Waits up to 10 s for the exit status.
    fn wait(&mut self) -> std::process::ExitStatus {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.0.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < end, "mgmd did not exit within 10 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn write_config(m: &Manager) -> PathBuf {
    let path = m.file("mgmd.toml");
    std::fs::write(&path, "[[interface]]\nname = \"d0\"\n").expect("write the config");
    path
}

/// `mgmd` in a new network namespace with one up interface `d0` (a veth
/// pair with `d1`).
fn start_in_new_netns(m: &Manager, config: &Path, watchdog_usec: Option<u64>) -> Daemon {
    let script = format!(
        "ip link add d0 type veth peer name d1 && ip link set d1 up && ip link set d0 up && \
         ip addr add 10.9.0.1/24 dev d0 && exec \"$0\" -c {} --control-socket {} --pid-file {}",
        config.display(),
        m.file("mgmd.sock").display(),
        m.file("mgmd.pid").display()
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["-n", "sh", "-c", &script, env!("CARGO_BIN_EXE_mgmd")])
        .env("NOTIFY_SOCKET", m.path())
        .env_remove("WATCHDOG_PID")
        // Not the file descriptor store's test (netns test 45).
        .env_remove("INVOCATION_ID")
        .env_remove("FDSTORE")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    match watchdog_usec {
        Some(u) => cmd.env("WATCHDOG_USEC", u.to_string()),
        None => cmd.env_remove("WATCHDOG_USEC"),
    };
    Daemon(cmd.spawn().expect("start mgmd"))
}

// ===== tests =====

#[test]
#[ignore = "needs root and a kernel with multicast routing: scripts/kernel-env.sh"]
fn ready_first_then_watchdog_and_status_then_stopping() {
    require_privileges();
    let m = Manager::new();
    let config = write_config(&m);
    let mut daemon = start_in_new_netns(&m, &config, Some(300_000));

    // READY=1 comes first, and by then the control socket answers.
    assert_eq!(m.recv(), "READY=1");
    let mut client = Client::connect(&m.file("mgmd.sock")).expect("control socket up at READY=1");
    client.request(Request::Ping).expect("ping answered");

    // Then watchdog pings (every 150 ms) and the status line.
    let mut pings = 0;
    let mut status = None;
    while pings < 3 || status.is_none() {
        let msg = m.recv();
        match msg.as_str() {
            "WATCHDOG=1" => pings += 1,
            s if s.starts_with("STATUS=") => status = Some(s.to_owned()),
            other => panic!("unexpected notification while running: {other:?}"),
        }
    }
    assert_eq!(
        status.as_deref(),
        Some("STATUS=forwarding 0 flows, 0 groups on 1 interface")
    );

    kill(daemon.pid(), Signal::SIGTERM).expect("SIGTERM");
    let exit = daemon.wait();
    assert!(exit.success(), "mgmd exited with {exit}");
    let after: Vec<String> = m
        .drain()
        .into_iter()
        .filter(|s| s != "WATCHDOG=1" && !s.starts_with("STATUS="))
        .collect();
    assert_eq!(after, ["STOPPING=1"], "after SIGTERM");
}

#[test]
#[ignore = "needs root and a kernel with multicast routing: scripts/kernel-env.sh"]
fn no_readiness_when_another_daemon_owns_the_table() {
    require_privileges();
    let m = Manager::new();
    let config = write_config(&m);
    let mut first = start_in_new_netns(&m, &config, None);
    assert_eq!(m.recv(), "READY=1");

    // A second mgmd in the same namespace, with a manager of its own.
    let m2 = Manager::new();
    let out = Command::new("nsenter")
        .args([
            "-t",
            &first.pid().to_string(),
            "-n",
            env!("CARGO_BIN_EXE_mgmd"),
        ])
        .arg("-c")
        .arg(&config)
        .arg("--control-socket")
        .arg(m2.file("mgmd.sock"))
        .arg("--pid-file")
        .arg(m2.file("mgmd.pid"))
        .env("NOTIFY_SOCKET", m2.path())
        .env_remove("INVOCATION_ID")
        .env_remove("FDSTORE")
        .stdin(Stdio::null())
        .output()
        .expect("run the second mgmd");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(69), "{stderr}");
    assert!(
        stderr.contains("another multicast routing daemon"),
        "{stderr}"
    );
    assert_eq!(m2.drain(), Vec::<String>::new(), "the second one notified");

    kill(first.pid(), Signal::SIGTERM).expect("SIGTERM");
    assert!(first.wait().success());
}
