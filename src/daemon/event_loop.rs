//! The event loop: one task that owns the [`Router`] and every socket,
//! waits on all of them at once, feeds one input at a time to the router
//! and carries out its outputs.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::config::Config;
use crate::core::control::{Answer, Command};
use crate::core::event::{Event, Severity};
use crate::core::input::{FlowCounters, Input};
use crate::core::mroute::KernelTable;
use crate::core::output::Output;
use crate::core::rib::{RouteTable, TableAnswer};
use crate::core::router::Router;
use crate::core::snapshot::{Restore, RouterState, fingerprint};
use crate::core::types::{FlowKey, GroupAddr, IfIndex, VifIndex};
use crate::ctl::proto::{EventRecord, Reply, Request};
use crate::ctl::reply::{
    CountersReply, InterfaceCounters, IoCounters, LogReply, PingReply, VifCounters,
};
use crate::daemon::DaemonError;
use crate::daemon::ctl_server::{CtlRequest, CtlServer};
use crate::daemon::events::EventBus;
use crate::daemon::handover::{self, SelfExec};
use crate::daemon::metrics::{MetricsRequest, MetricsServer, Snapshot};
use crate::daemon::notify::{Notifier, ServiceStatus};
use crate::daemon::snapshot::{self, SnapshotFile};
use crate::io::host::HostMemberships;
use crate::io::mrt::{self, AsyncMrtSocket, MrtRx, MrtSocket, UpcallKind};
use crate::io::mrt_table;
use crate::io::mrt_writer::{MrtWriter, WriterReport};
use crate::io::netlink::{self, NetEvent};
use crate::io::raw_igmp::IgmpTxSocket;
use crate::io::sysctl;
use crate::record::Recorder;

/// How often forwarding-entry counters are read back from the kernel.
const COUNTER_POLL: Duration = Duration::from_secs(5);
/// How long a unicast route lookup for a source is reused. A burst of new
/// flows from one sender (one source, thousands of groups) then costs one
/// lookup; any interface or address change clears the cache.
const RPF_CACHE_TTL: Duration = Duration::from_secs(1);
/// How long route changes may keep coming before the flows' sources are
/// looked up again.
const RPF_RECHECK_DELAY: Duration = Duration::from_millis(200);
/// How often the receive drop counters of the interfaces in use (and the
/// routing socket's) are read: the delay before a recovery query can ask
/// hosts to report again what a burst lost.
const DROP_POLL: Duration = Duration::from_millis(100);
/// How many packets one wake-up drains from the routing socket at most
/// before other sources get a turn.
const RX_BATCH: usize = 1024;

/// The router with what every step needs besides it: the clock it was
/// started at, and the recorder when `--record` asked for one.
struct Driver {
    router: Router,
    start: std::time::Instant,
    recorder: Option<Recorder>,
    /// The configuration file and the text the router runs on (the last
    /// one loaded or reloaded), for reloads and `show config`.
    config_path: PathBuf,
    config_text: String,
    overrides: crate::config::Overrides,
}

impl Driver {
    /// One router step: `inputs` handled together (one commit when there
    /// are several), recorded when recording.
    fn step(&mut self, inputs: Vec<Input>) -> Vec<Output> {
        let now = Instant::now().into_std();
        let batch = inputs.len() > 1;
        let outputs = if batch {
            self.router.handle_batch(now, inputs.clone())
        } else {
            let mut out = Vec::new();
            for input in inputs.iter().cloned() {
                out.extend(self.router.handle(now, input));
            }
            out
        };
        if let Some(r) = self.recorder.as_mut() {
            if let Err(e) = r.step(now, batch, &inputs, &outputs) {
                tracing::error!("failed to record; recording stops: {e}");
                self.recorder = None;
            }
        }
        outputs
    }

    /// Milliseconds since start, for event records.
    fn t_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// Everything the loop owns besides the router.
struct Io {
    mrt: AsyncMrtSocket,
    /// Applies VIF and MFC changes on its own thread, in order.
    writer: MrtWriter,
    tx: IgmpTxSocket,
    host: HostMemberships,
    events: EventBus,
    /// Sequence number of the last event record.
    event_seq: u64,
    rtnl: rtnetlink::Handle,
    /// Interfaces already checked for rp_filter.
    rp_checked: BTreeSet<IfIndex>,
    /// What only the I/O layer counts (`show counters`, metrics).
    counters: IoCounters,
    /// Recent route lookups: source -> (RPF interface, gateway, when).
    rpf_cache: HashMap<Ipv4Addr, (Option<IfIndex>, Option<Ipv4Addr>, Instant)>,
    /// `global.table`: RPF lookups consult that routing table first.
    table: Option<u32>,
    /// Its routes; `None` until read, and again after it changed (read on
    /// the next lookup, so a burst of route changes costs one dump).
    table_routes: Option<RouteTable>,
    /// The receive drop counters last given to the router.
    drops_fed: Option<(Vec<(IfIndex, u64)>, u64)>,
}

/// How the daemon was started besides its configuration.
pub struct Options {
    /// The configuration file (for messages and recordings).
    pub config_path: PathBuf,
    /// Its text, as validated (recorded with `record`).
    pub config_text: String,
    /// What the command line sets over the file (every reload too).
    pub overrides: crate::config::Overrides,
    /// `--record FILE`: append every router step there.
    pub record: Option<PathBuf>,
    /// The multicast routing socket a previous mgmd handed over
    /// ([`crate::daemon::handover::inherited_socket`]).
    pub inherited_mrt: Option<std::os::fd::OwnedFd>,
    /// How to run this binary again (`mgmctl restart`).
    pub self_exec: Option<SelfExec>,
    /// Give the routing socket to the service manager's file descriptor
    /// store (under systemd, not with `-d`).
    pub fd_store: bool,
}

/// Run until SIGTERM/SIGINT. Returns after removing what was installed,
/// or, when the routing socket is in the service manager's store, after
/// writing the snapshot the next process takes over (module
/// [`crate::daemon::handover`]).
pub async fn run(cfg: Config, mut opts: Options) -> Result<(), DaemonError> {
    let config_path = opts.config_path.clone();
    let table = cfg.global.table;
    let config_fp = fingerprint(&opts.config_text);
    let snapshot_path = snapshot::path_for(&cfg.global.pid_file);
    let (mrt, mut adopted) = match opts.inherited_mrt.take() {
        Some(fd) => (MrtSocket::adopt(fd, table).map_err(DaemonError::Mrt)?, true),
        None => (MrtSocket::open(table).map_err(DaemonError::Mrt)?, false),
    };
    let mut saved = match snapshot::read(&snapshot_path) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("snapshot ignored: {e}");
            None
        }
    };
    if adopted {
        // What the kernel holds: read back (the default table), else as
        // the previous process recorded it when it handed the socket over.
        let recorded = saved.as_ref().and_then(|s| s.kernel.clone());
        let kernel = match mrt::kernel_table(table) {
            Ok(Some(k)) => Some(k),
            Ok(None) => recorded,
            Err(e) => {
                tracing::warn!("failed to read the kernel's multicast routing table: {e}");
                recorded
            }
        };
        match kernel {
            Some(k) => {
                let state = saved.get_or_insert_with(|| RouterState {
                    format: crate::core::snapshot::FORMAT,
                    config: config_fp.clone(),
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
                     (another table than the default) was not recorded; flushing it, \
                     forwarding is rebuilt"
                );
                if let Err(e) = mrt.flush() {
                    tracing::warn!("failed to flush the multicast routing table: {e}");
                }
                adopted = false;
            }
        }
    }
    let mrt = AsyncMrtSocket::new(mrt)
        .map_err(|e| DaemonError::Io("failed to register the multicast routing socket", e))?;
    let tx = IgmpTxSocket::open()
        .map_err(|e| DaemonError::Io("failed to open the IGMP send socket", e))?;
    let mut watcher = netlink::start().await.map_err(DaemonError::Netlink)?;
    let rtnl = watcher.handle().clone();
    // Before the control socket and the pid file, which a failure here
    // would leave behind.
    let metrics_listener = match cfg.global.metrics_listen {
        Some(addr) => {
            let listener = MetricsServer::bind(addr)
                .await
                .map_err(|e| DaemonError::Io("failed to listen for metrics scrapes", e))?;
            tracing::info!(target: "metrics", "serving metrics at http://{addr}/metrics");
            Some(listener)
        }
        None => None,
    };
    let ctl = CtlServer::bind(&cfg.global.control_socket)
        .map_err(|e| DaemonError::Io("failed to bind the control socket", e))?;
    let ctl_path = ctl.path().to_path_buf();
    let pid_file = cfg.global.pid_file.clone();
    write_pid_file(&pid_file);

    let events_tx = EventBus::new();
    let (req_tx, mut req_rx) = mpsc::channel::<CtlRequest>(64);
    let server = tokio::spawn(ctl.serve(req_tx, events_tx.clone()));
    // Scrapes come to the loop like control requests.
    let (metrics_tx, mut metrics_rx) = mpsc::channel::<MetricsRequest>(8);
    let metrics = metrics_listener.map(|listener| tokio::spawn(listener.serve(metrics_tx)));

    let mut sigterm = signal(SignalKind::terminate()).map_err(|e| DaemonError::Io("signal", e))?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(|e| DaemonError::Io("signal", e))?;
    let mut sighup = signal(SignalKind::hangup()).map_err(|e| DaemonError::Io("signal", e))?;
    let mut notifier = Notifier::from_env();
    let fd_stored = opts.fd_store
        && notifier.is_enabled()
        && notifier.store_fd(mrt.get_ref().as_fd(), handover::FD_NAME);

    tracing::info!(
        config = %config_path.display(),
        control = %ctl_path.display(),
        table = ?table,
        "mgmd started"
    );

    let writer = MrtWriter::start(mrt.shared())
        .map_err(|e| DaemonError::Io("failed to start the kernel writer thread", e))?;
    let mut io = Io {
        mrt,
        writer,
        tx,
        host: HostMemberships::new(),
        events: events_tx,
        event_seq: 0,
        rtnl,
        rp_checked: BTreeSet::new(),
        rpf_cache: HashMap::new(),
        counters: IoCounters::default(),
        table,
        table_routes: None,
        drops_fed: None,
    };
    if let Some(t) = table {
        tracing::info!(
            target: "mroute",
            table = t,
            "RPF lookups use the routes of routing table {t} first, then the kernel's own lookup"
        );
    }
    let start = Instant::now();
    let recorder = match &opts.record {
        Some(path) => Some(
            Recorder::create(
                path,
                &opts.config_path,
                &opts.config_text,
                &opts.overrides,
                start.into_std(),
            )
            .map_err(|e| DaemonError::Io("failed to open the recording", e))?,
        ),
        None => None,
    };
    let mut router = Driver {
        router: Router::new(cfg, start.into_std()),
        start: start.into_std(),
        recorder,
        config_path: opts.config_path.clone(),
        config_text: opts.config_text.clone(),
        overrides: opts.overrides.clone(),
    };
    if let Some(state) = saved {
        let restore = Restore {
            state,
            config: config_fp.clone(),
            now: snapshot::unix_ms(),
            adopted,
        };
        feed(&mut router, &mut io, Input::Restore(Box::new(restore))).await;
    }
    let mut snapshot = SnapshotFile::new(snapshot_path, config_fp);
    let mut snapshot_tick = tokio::time::interval(snapshot::WRITE_PERIOD);
    snapshot_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Nothing is written before the first full dump: until then the
    // router may hold a snapshot it has not taken over yet.
    let mut dumped = false;
    let mut poll = tokio::time::interval(COUNTER_POLL);
    // When to look the installed flows' sources up again after a route change.
    let mut rpf_recheck: Option<Instant> = None;
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut drop_poll = tokio::time::interval(DROP_POLL);
    drop_poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The periodic audit of the kernel's table, from the first full dump on
    // (`global.kernel-audit-interval`, followed across reloads).
    let mut audit_every = router.router.config().global.kernel_audit_interval;
    let mut next_audit: Option<Instant> = None;

    loop {
        let every = router.router.config().global.kernel_audit_interval;
        if every != audit_every {
            audit_every = every;
            next_audit = audit_after(audit_every, dumped);
        }
        let deadline = router
            .router
            .next_deadline()
            .map(Instant::from_std)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            ev = watcher.next() => {
                let Some(ev) = ev else {
                    tracing::error!("netlink event stream ended; stopping");
                    break;
                };
                io.rpf_cache.clear();
                io.counters.netlink_resyncs = watcher.resyncs();
                let input = match ev {
                    NetEvent::Link(l) => Input::Link(l),
                    NetEvent::LinkGone { ifindex, .. } => Input::LinkGone { ifindex },
                    NetEvent::AddrAdded(a) => Input::AddrAdded(a),
                    NetEvent::AddrRemoved(a) => Input::AddrRemoved(a),
                    NetEvent::Snapshot { links, addrs } => {
                        // Route notifications may have been lost too.
                        io.table_routes = None;
                        rpf_recheck.get_or_insert(Instant::now() + RPF_RECHECK_DELAY);
                        Input::Snapshot { links, addrs }
                    }
                    NetEvent::RoutesChanged { table } => {
                        if io.table == Some(table) {
                            io.table_routes = None;
                        }
                        // Routes change in bursts: look up once it settles.
                        rpf_recheck.get_or_insert(Instant::now() + RPF_RECHECK_DELAY);
                        continue;
                    }
                };
                feed(&mut router, &mut io, input).await;
                check_rp_filter(&router.router, &mut io);
                // The first event is the full dump: now forwarding can work.
                notifier.ready();
                if !dumped {
                    next_audit = audit_after(audit_every, true);
                }
                dumped = true;
            }
            _ = tokio::time::sleep_until(rpf_recheck.unwrap_or(deadline)), if rpf_recheck.is_some() => {
                rpf_recheck = None;
                recheck_rpf(&mut router, &mut io).await;
            }
            r = io.mrt.recv_batch(RX_BATCH) => {
                match r {
                    Ok(batch) => drain_mrt(&mut router, &mut io, batch).await,
                    Err(e) => {
                        tracing::error!("failed to read the multicast routing socket: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
            report = io.writer.report() => {
                let Some(report) = report else {
                    // Only if the thread died: the kernel would no longer
                    // follow us. Stop (and say so) rather than run half-working.
                    tracing::error!(target: "mroute", "the kernel writer thread stopped; stopping");
                    break;
                };
                writer_report(&mut router, &mut io, report).await;
            }
            Some(req) = req_rx.recv() => {
                if req.request == Request::Restart {
                    restart(&mut router, &mut io, &mut snapshot, opts.self_exec.as_ref(), req.reply).await;
                    continue;
                }
                let reply = if req.request == Request::Reload {
                    reload(&mut router, &mut io, &mut notifier, &mut snapshot).await
                } else {
                    control(&mut router, &mut io, req.request).await
                };
                let _ = req.reply.send(reply);
            }
            _ = sighup.recv() => {
                // The outcome is logged (as an event) either way.
                reload(&mut router, &mut io, &mut notifier, &mut snapshot).await;
            }
            Some(req) = metrics_rx.recv(), if metrics.is_some() => {
                let _ = req.reply.send(metrics_snapshot(&router.router, &mut io));
            }
            _ = snapshot_tick.tick(), if dumped => {
                snapshot.update(&router.router, Instant::now().into_std(), false);
            }
            _ = tokio::time::sleep_until(deadline) => {
                feed(&mut router, &mut io, Input::Timer).await;
            }
            _ = tokio::time::sleep_until(next_audit.unwrap_or(deadline)), if next_audit.is_some() => {
                match read_kernel_table(&mut router, &mut io).await {
                    Ok(kernel) => feed(&mut router, &mut io, Input::KernelAudit(Box::new(kernel))).await,
                    Err(e) => tracing::warn!(target: "mroute", "kernel table audit skipped: {e}"),
                }
                next_audit = audit_after(audit_every, dumped);
            }
            _ = poll.tick() => refresh_counters(&mut router, &mut io).await,
            _ = drop_poll.tick() => read_drops(&mut router, &mut io).await,
            _ = notifier.tick() => notifier.on_tick(|| ServiceStatus::of(&router.router).to_string()),
            _ = sigterm.recv() => break,
            _ = sigint.recv() => break,
        }
    }

    notifier.stopping();

    if fd_stored {
        // The service manager keeps the routing socket: the next process
        // of the unit adopts the table as it is; if none comes, the
        // manager closes the socket and the kernel removes it all.
        tracing::info!("stopping: the service manager keeps the multicast routing socket");
        drain_writer(&mut router, &mut io).await;
        snapshot.update(&router.router, Instant::now().into_std(), true);
        io.host.clear();
        server.abort();
        let _ = std::fs::remove_file(&ctl_path);
        let _ = std::fs::remove_file(&pid_file);
        return Ok(());
    }
    if dumped {
        snapshot.update(&router.router, Instant::now().into_std(), false);
    }
    tracing::info!("stopping: removing forwarding entries and VIFs");
    feed(&mut router, &mut io, Input::Shutdown).await;
    // Everything removed before we exit (and say why if something was not).
    drain_writer(&mut router, &mut io).await;
    io.host.clear();
    server.abort();
    if let Some(m) = metrics {
        m.abort();
    }
    let _ = std::fs::remove_file(&ctl_path);
    let _ = std::fs::remove_file(&pid_file);
    Ok(())
}

/// Waits until the kernel writer applied everything submitted, and gives
/// the router what it refused.
async fn drain_writer(router: &mut Driver, io: &mut Io) {
    let _ = io.writer.flush().await;
    while let Some(report) = io.writer.try_report() {
        writer_report(router, io, report).await;
    }
}

/// `mgmctl restart`: the kernel's table and the learned state go into the
/// snapshot, the routing socket survives `execve`, and the binary now at
/// mgmd's path takes over (same pid). Answered before the exec; on
/// failure the daemon carries on as it was.
async fn restart(
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

/// When the next periodic audit is due (none before the first full dump
/// or with the audit off).
fn audit_after(every: Duration, dumped: bool) -> Option<Instant> {
    (dumped && !every.is_zero()).then(|| Instant::now() + every)
}

/// Reads the kernel's multicast routing table back, once the kernel writer
/// applied everything sent to it (what it refused is then known to the
/// router): the kernel and the router's belief are compared at rest.
async fn read_kernel_table(router: &mut Driver, io: &mut Io) -> Result<KernelTable, String> {
    drain_writer(router, io).await;
    let start = Instant::now();
    let kernel = mrt_table::read(&io.rtnl, io.table)
        .await
        .map_err(|e| format!("failed to read the kernel's multicast routing table: {e}"))?;
    tracing::debug!(
        target: "mroute",
        vifs = kernel.vifs.len(),
        entries = kernel.entries.len(),
        ms = start.elapsed().as_secs_f64() * 1e3,
        "read the kernel's table back for the audit"
    );
    Ok(kernel)
}

/// `verify`: the kernel's table against the router's, repaired on request.
async fn verify(router: &mut Driver, io: &mut Io, repair: bool) -> Reply {
    match read_kernel_table(router, io).await {
        Ok(kernel) => {
            let command = Command::Verify {
                kernel: Box::new(kernel),
                repair,
            };
            run_command(router, io, command).await
        }
        Err(e) => Reply::err(e),
    }
}

/// Feed one input and carry out what it causes.
async fn feed(router: &mut Driver, io: &mut Io, input: Input) {
    let outputs = router.step(vec![input]);
    execute(router, io, outputs).await;
}

/// Carry out outputs in order. Kernel changes go to the writer thread as
/// one batch, in their order; what it reports comes back through
/// [`writer_report`].
async fn execute(router: &mut Driver, io: &mut Io, outputs: Vec<Output>) {
    let mut kernel = Vec::new();
    for out in outputs {
        match out {
            Output::Mrt(action) => kernel.push(action),
            Output::SendIgmp {
                ifindex,
                src,
                dst,
                payload,
            } => {
                if let Err(e) = io.tx.send(ifindex, src, dst, &payload) {
                    io.counters.igmp_tx_errors += 1;
                    tracing::warn!(target: "packet", %ifindex, %dst, "failed to send IGMP: {e}");
                }
            }
            Output::ListenIgmp { ifindex, on } => {
                // 224.0.0.22 (IGMPv3 reports), 224.0.0.2 (IGMPv2 leaves) and
                // 224.0.0.1 (other routers' general queries, or the querier
                // election never sees them), each held by the interface's
                // own socket (`MrtSocket::join_group`).
                for group in [
                    GroupAddr::ALL_V3_ROUTERS,
                    GroupAddr::ALL_ROUTERS,
                    GroupAddr::ALL_SYSTEMS,
                ] {
                    let r = if on {
                        io.mrt.get_ref().join_group(ifindex, group)
                    } else {
                        io.mrt.get_ref().leave_group(ifindex, group)
                    };
                    if let Err(e) = r {
                        // Leaving on a vanished interface fails; that is fine.
                        if on {
                            tracing::warn!(target: "packet", %ifindex, %group, "failed to join: {e}");
                        }
                    }
                }
            }
            Output::HostMembership {
                ifindex,
                group,
                filter,
            } => {
                let addr = router
                    .router
                    .ifaces()
                    .get(ifindex)
                    .and_then(|l| l.primary_addr());
                if let Err(e) = io.host.set(ifindex, addr, group, &filter) {
                    tracing::warn!(target: "mroute", %ifindex, %group, "failed to set host membership: {e}");
                }
            }
            Output::Event(ev) => publish(router, io, &ev),
            // Answers are taken out by the one asking.
            Output::Reply(_) => {}
        }
    }
    io.writer.submit(kernel);
}

/// Logs an event and sends it to the `events` subscribers.
fn publish(router: &Driver, io: &mut Io, ev: &Event) {
    match ev.severity() {
        Severity::Error => tracing::error!(target: "mgmd", kind = ev.kind(), "{ev}"),
        Severity::Warn => tracing::warn!(target: "mgmd", kind = ev.kind(), "{ev}"),
        Severity::Info => tracing::info!(target: "mgmd", kind = ev.kind(), "{ev}"),
        Severity::Debug => tracing::debug!(target: "mgmd", kind = ev.kind(), "{ev}"),
    }
    io.event_seq += 1;
    // Worded and encoded only while someone listens.
    if io.events.has_subscribers() {
        io.events.send(&EventRecord {
            t_ms: router.t_ms(),
            seq: io.event_seq,
            kind: ev.kind().to_owned(),
            text: ev.to_string(),
            data: serde_json::to_value(ev).unwrap_or_default(),
        });
    }
}

/// What the kernel writer reports: a refused change goes back to the
/// router, which retries it at its next commit; a new VIF gets the
/// `mc_forwarding` check.
async fn writer_report(router: &mut Driver, io: &mut Io, report: WriterReport) {
    match report {
        WriterReport::VifAdded(ifindex) => check_mc_forwarding(&router.router, ifindex),
        WriterReport::Rejected { action, error } => {
            feed(router, io, Input::KernelRejected { action, error }).await;
        }
    }
}

/// Read everything queued on the routing socket (IGMP bursts must all be
/// learned) and feed it to the router.
async fn drain_mrt(router: &mut Driver, io: &mut Io, batch: Vec<MrtRx>) {
    let mut inputs = Vec::with_capacity(batch.len());
    for rx in batch {
        let input = match rx {
            MrtRx::Igmp(p) => Input::IgmpRx {
                ifindex: p.ifindex,
                src: p.src,
                dst: p.dst,
                ttl: p.ttl,
                router_alert: p.router_alert,
                payload: p.payload,
            },
            MrtRx::Upcall(u) => {
                let c = &mut io.counters;
                match u.kind {
                    UpcallKind::NoCache => c.upcalls_nocache += 1,
                    UpcallKind::WrongVif => c.upcalls_wrongvif += 1,
                    _ => c.upcalls_other += 1,
                }
                let known = router.router.ifindex_of_vif(u.vif);
                let (Some(arrival), Ok(group)) = (known, GroupAddr::new(u.dst)) else {
                    if matches!(u.kind, UpcallKind::NoCache | UpcallKind::WrongVif) {
                        c.upcalls_unknown += 1;
                    }
                    continue;
                };
                let flow = FlowKey {
                    group,
                    source: u.src,
                };
                match u.kind {
                    UpcallKind::NoCache => {
                        let (rpf, upstream) = rpf_lookup(io, u.src).await.unwrap_or((None, None));
                        Input::NewFlow {
                            flow,
                            arrival,
                            rpf,
                            upstream,
                        }
                    }
                    UpcallKind::WrongVif => Input::WrongInterface { flow, arrival },
                    _ => continue,
                }
            }
            MrtRx::Malformed(reason) => {
                io.counters.rx_malformed += 1;
                tracing::debug!(target: "packet", "dropped a malformed packet: {reason}");
                continue;
            }
        };
        inputs.push(input);
    }
    if inputs.is_empty() {
        return;
    }
    // One commit for the whole batch: a burst of reports is learned in
    // full and the kernel is programmed once with the result.
    let outputs = router.step(inputs);
    execute(router, io, outputs).await;
}

/// The unicast route towards `source`: its interface and gateway (both
/// `None` when there is no route), or `Err` when the lookup itself failed
/// (logged).
async fn rpf_lookup(
    io: &mut Io,
    source: Ipv4Addr,
) -> Result<(Option<IfIndex>, Option<Ipv4Addr>), ()> {
    let now = Instant::now();
    if let Some((ifindex, gateway, at)) = io.rpf_cache.get(&source) {
        if now.duration_since(*at) < RPF_CACHE_TTL {
            return Ok((*ifindex, *gateway));
        }
    }
    let answer = match table_lookup(io, source).await? {
        TableAnswer::Route { ifindex, gateway } => (Some(ifindex), gateway),
        TableAnswer::NoRoute => (None, None),
        TableAnswer::NotInTable => match netlink::rpf_lookup(&io.rtnl, source, None).await {
            Ok(Some(rpf)) => (Some(rpf.ifindex), rpf.gateway),
            Ok(None) => (None, None),
            Err(e) => {
                tracing::warn!(target: "mroute", %source, "RPF lookup failed: {e}");
                // Not cached: the next upcall asks again.
                return Err(());
            }
        },
    };
    if io.rpf_cache.len() > 4096 {
        io.rpf_cache.clear();
    }
    io.rpf_cache.insert(source, (answer.0, answer.1, now));
    Ok(answer)
}

/// What the configured routing table says about `source`
/// (`NotInTable` without one), reading the table first if needed.
async fn table_lookup(io: &mut Io, source: Ipv4Addr) -> Result<TableAnswer, ()> {
    let Some(table) = io.table else {
        return Ok(TableAnswer::NotInTable);
    };
    if io.table_routes.is_none() {
        match netlink::dump_table(&io.rtnl, table).await {
            Ok(routes) => {
                tracing::debug!(target: "mroute", table, routes = routes.len(), "read the routing table");
                io.table_routes = Some(routes);
            }
            Err(e) => {
                tracing::warn!(target: "mroute", %source, table, "RPF lookup failed: {e}");
                return Err(());
            }
        }
    }
    Ok(io
        .table_routes
        .as_ref()
        .map_or(TableAnswer::NotInTable, |t| t.lookup(source)))
}

/// After route changes: look every installed flow's source up again and
/// let the router decide again the flows whose route changed (RPF change).
async fn recheck_rpf(router: &mut Driver, io: &mut Io) {
    let recorded = router.router.flow_sources();
    let mut inputs = Vec::new();
    let mut i = 0;
    while i < recorded.len() {
        let source = recorded[i].0;
        let answer = rpf_lookup(io, source).await;
        let mut changed = false;
        while i < recorded.len() && recorded[i].0 == source {
            changed |= answer.is_ok_and(|a| a != (recorded[i].1, recorded[i].2));
            i += 1;
        }
        if let (true, Ok((rpf, upstream))) = (changed, answer) {
            inputs.push(Input::RpfChanged {
                source,
                rpf,
                upstream,
            });
        }
    }
    if !inputs.is_empty() {
        let outputs = router.step(inputs);
        execute(router, io, outputs).await;
    }
}

fn read_counters(router: &Router, io: &Io) -> Vec<(FlowKey, FlowCounters)> {
    router
        .installed_flows()
        .into_iter()
        .filter_map(|flow| {
            io.mrt.get_ref().sg_count(flow).ok().map(|c| {
                (
                    flow,
                    FlowCounters {
                        packets: c.packets,
                        bytes: c.bytes,
                        wrong_if: c.wrong_if,
                    },
                )
            })
        })
        .collect()
}

/// Reads the receive drop counters of the interfaces in use and of the
/// routing socket, and gives them to the router when one changed.
async fn read_drops(router: &mut Driver, io: &mut Io) {
    let mut interfaces = Vec::new();
    for i in router.router.used_interfaces().collect::<Vec<_>>() {
        match netlink::rx_drops(&io.rtnl, i.ifindex).await {
            Ok(Some(n)) => interfaces.push((i.ifindex, n)),
            Ok(None) => {}
            Err(e) => tracing::debug!(interface = %i.name, "{e}"),
        }
    }
    let socket = receive_drops(io);
    let reading = (interfaces, socket);
    if io.drops_fed.as_ref() == Some(&reading) {
        return;
    }
    io.drops_fed = Some(reading.clone());
    let (interfaces, socket) = reading;
    feed(router, io, Input::InputDrops { interfaces, socket }).await;
}

/// Messages the kernel dropped because the routing socket's receive queue
/// was full.
fn receive_drops(io: &Io) -> u64 {
    u64::from(io.mrt.get_ref().drops())
}

/// Warn once per interface about settings that silently stop forwarding.
fn check_rp_filter(router: &Router, io: &mut Io) {
    if !router.config().global.rp_filter_warning {
        return;
    }
    for i in router.used_interfaces() {
        if !io.rp_checked.insert(i.ifindex) {
            continue;
        }
        if let Some(v) = sysctl::sysctl_rp_filter(i.name.as_str()) {
            // 1 is strict; 2 (loose) accepts any source with some route.
            if v == 1 {
                tracing::warn!(
                    interface = %i.name,
                    "net.ipv4.conf.{}.rp_filter (or conf.all) is {v}: multicast arriving on it may be dropped \
                     before it is forwarded; set net.ipv4.conf.{{all,{}}}.rp_filter to 0 or 2 on inbound interfaces",
                    i.name,
                    i.name
                );
            }
        }
    }
}

/// A VIF without multicast forwarding on its device forwards nothing.
fn check_mc_forwarding(router: &Router, ifindex: IfIndex) {
    let Some(link) = router.ifaces().get(ifindex) else {
        return;
    };
    if sysctl::mc_forwarding(&link.name) == Some(0) {
        tracing::warn!(
            interface = %link.name,
            "net.ipv4.conf.{}.mc_forwarding is 0 although the interface is a VIF: \
             the kernel will not forward multicast through it",
            link.name
        );
    }
}

/// Reload the configuration file (SIGHUP, `mgmctl reload`): read it and
/// hand its text to the router, which applies it or refuses it; the
/// service manager hears `RELOADING=1` and `READY=1` around it.
async fn reload(
    router: &mut Driver,
    io: &mut Io,
    notifier: &mut Notifier,
    snapshot: &mut SnapshotFile,
) -> Reply {
    notifier.reloading();
    let path = router.config_path.clone();
    let reply = match std::fs::read_to_string(&path) {
        Err(e) => {
            let error = format!("{}: failed to read configuration: {e}", path.display());
            tracing::warn!("reload refused, the running configuration stays: {error}");
            Reply::err(error)
        }
        Ok(text) => {
            let command = Command::Reload {
                path: path.display().to_string(),
                text: text.clone(),
                overrides: router.overrides.clone(),
            };
            let level = router.router.config().global.log_level;
            let reply = run_command(router, io, command).await;
            if matches!(reply, Reply::Ok { .. }) {
                // The next process reads this file: its state is this
                // configuration's from now on.
                snapshot.set_config(fingerprint(&text));
                router.config_text = text;
                let now = router.router.config().global.log_level;
                if now != level {
                    match crate::cli::logging::follow_config(now) {
                        Some(Ok(filter)) => tracing::info!("log filter set to {filter}"),
                        Some(Err(e)) => tracing::warn!("global.log-level: {e}"),
                        None => tracing::info!(
                            "global.log-level is now {}, but --log-level or RUST_LOG chose the \
                             filter; use mgmctl log to change it",
                            now.as_str()
                        ),
                    }
                }
            }
            reply
        }
    };
    notifier.reloaded(Some(&ServiceStatus::of(&router.router).to_string()));
    reply
}

/// Runs one command through the router and carries out what it caused;
/// its answer as a reply.
async fn run_command(router: &mut Driver, io: &mut Io, command: Command) -> Reply {
    match ask(router, io, command).await {
        Ok(answer) => Reply::encode(&answer),
        Err(reply) => reply,
    }
}

/// Answer one control request. The views and `take`/`release` are
/// router inputs like any other; `ping` and `show counters` add what the
/// I/O layer counts; `log` changes the log filter, in the daemon alone.
async fn control(router: &mut Driver, io: &mut Io, request: Request) -> Reply {
    let command = match request {
        Request::Ping => return ping(router, io).await,
        Request::ShowCounters { interface } => return show_counters(router, io, interface).await,
        Request::Log { level, target } => return set_log_level(&level, target.as_deref()),
        Request::ShowInterfaces => Command::ShowInterfaces,
        Request::ShowGroups => Command::ShowGroups,
        Request::ShowRoutes => {
            // The kernel's counters as they are now, not as last polled:
            // an input of their own, so a replay shows the same.
            refresh_counters(router, io).await;
            Command::ShowRoutes
        }
        Request::ShowProtocols => Command::ShowProtocols,
        Request::Verify { repair } => return verify(router, io, repair).await,
        Request::Take {
            interface,
            protocol,
        } => Command::Take {
            interface,
            protocol,
        },
        Request::Release {
            interface,
            protocol,
        } => Command::Release {
            interface,
            protocol,
        },
        Request::StaticEdit { edit } => Command::EditStatic { edit },
        Request::ShowConfig => {
            return match ask(router, io, Command::ShowConfig).await {
                Ok(answer) => match serde_json::to_value(&answer) {
                    Ok(mut data) => {
                        // With the file as it was read: the router runs on it.
                        if let Some(m) = data.as_object_mut() {
                            m.insert(
                                "path".into(),
                                router.config_path.display().to_string().into(),
                            );
                            m.insert("text".into(), router.config_text.clone().into());
                        }
                        Reply::ok(data)
                    }
                    Err(e) => Reply::err(format!("failed to encode the reply: {e}")),
                },
                Err(reply) => reply,
            };
        }
        // Handled by the event loop and the connection task.
        Request::Reload => return Reply::err("reload is handled by the event loop"),
        Request::Events => return Reply::err("events is a streaming request"),
        // Handled by the loop (it ends this process).
        Request::Restart => return Reply::err("restart is handled by the event loop"),
    };
    run_command(router, io, command).await
}

/// One command through the router; its answer, or the error reply.
async fn ask(router: &mut Driver, io: &mut Io, command: Command) -> Result<Answer, Reply> {
    let mut outputs = router.step(vec![Input::Command(command)]);
    let answer = outputs.iter().rposition(|o| matches!(o, Output::Reply(_)));
    let answer = answer.map(|i| outputs.remove(i));
    execute(router, io, outputs).await;
    match answer {
        Some(Output::Reply(Ok(a))) => Ok(a),
        Some(Output::Reply(Err(e))) => Err(Reply::err(e)),
        _ => Err(Reply::err("mgmd did not answer the request")),
    }
}

/// Reads every installed entry's counters from the kernel and gives them
/// to the router.
async fn refresh_counters(router: &mut Driver, io: &mut Io) {
    let counters = read_counters(&router.router, io);
    if !counters.is_empty() {
        feed(router, io, Input::Counters(counters)).await;
    }
}

/// The I/O layer's counters, up to date.
fn io_counters(io: &mut Io) -> IoCounters {
    io.counters.kernel_rx_drops = receive_drops(io);
    io.counters
}

/// The kernel's counters of a VIF (`None` if it cannot be asked).
fn vif_counters(io: &Io, vif: VifIndex) -> Option<VifCounters> {
    io.mrt.get_ref().vif_count(vif).ok().map(|c| VifCounters {
        in_packets: c.in_packets,
        in_bytes: c.in_bytes,
        out_packets: c.out_packets,
        out_bytes: c.out_bytes,
    })
}

/// `ping`: version, pid, and the router's and the I/O layer's counters.
async fn ping(router: &mut Driver, io: &mut Io) -> Reply {
    let counters = match ask(router, io, Command::ShowCounters).await {
        Ok(Answer::Counters(c)) => *c,
        Ok(_) => return Reply::err("mgmd answered ping with something else"),
        Err(reply) => return reply,
    };
    let mut map: BTreeMap<String, u64> =
        match serde_json::to_value(counters).and_then(serde_json::from_value) {
            Ok(m) => m,
            Err(e) => return Reply::err(format!("failed to encode the reply: {e}")),
        };
    map.extend(
        io_counters(io)
            .entries()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v)),
    );
    Reply::encode(&PingReply {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        pid: std::process::id(),
        counters: map,
    })
}

/// `show counters [IFACE]`: the router's view with the I/O layer's
/// counters and each VIF's kernel counters.
async fn show_counters(router: &mut Driver, io: &mut Io, interface: Option<String>) -> Reply {
    let view = match ask(router, io, Command::ShowAllCounters { interface }).await {
        Ok(Answer::AllCounters(v)) => *v,
        Ok(_) => return Reply::err("mgmd answered show counters with something else"),
        Err(reply) => return reply,
    };
    let interfaces = view
        .interfaces
        .into_iter()
        .map(|view| InterfaceCounters {
            forwarded: view.vif.and_then(|v| vif_counters(io, v)),
            view,
        })
        .collect();
    Reply::encode(&CountersReply {
        router: view.router,
        io: io_counters(io),
        interfaces,
    })
}

/// `log LEVEL [TARGET]`: the daemon's own business, not the router's.
fn set_log_level(level: &str, target: Option<&str>) -> Reply {
    match crate::cli::logging::set_level(level, target) {
        Ok(filter) => {
            tracing::info!("log filter set to {filter}");
            Reply::encode(&LogReply { filter })
        }
        Err(e) => Reply::err(e.to_string()),
    }
}

/// What one scrape exports: the router's view (read, not an input) and
/// what the I/O layer and the kernel count.
fn metrics_snapshot(router: &Router, io: &mut Io) -> Snapshot {
    let view = router.metrics(Instant::now().into_std());
    let forwarded = view
        .counters
        .interfaces
        .iter()
        .filter_map(|i| {
            let c = vif_counters(io, i.vif?)?;
            Some((i.interface.clone(), c))
        })
        .collect();
    Snapshot {
        router: view,
        io: io_counters(io),
        forwarded,
    }
}

fn write_pid_file(path: &Path) {
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Err(e) = std::fs::write(path, format!("{}\n", std::process::id())) {
        tracing::warn!(path = %path.display(), "failed to write the pid file: {e}");
    }
}
