//! The event loop: one task that owns the [`Router`] and every socket,
//! waits on all of them at once, gives the router what arrived together as
//! one step ([`Router::step`]) and carries out its outputs.
//!
//! - `mod.rs`: the loop itself (`run`), feeding inputs and carrying out
//!   outputs;
//! - [`start`]: the routing socket and snapshot at start, `mgmctl restart`;
//! - [`kernel`]: what comes from and goes to the kernel besides the
//!   writer's batches (upcalls, RPF lookups, counters, drops, the audit);
//! - [`control`]: control requests, reloads and metrics scrapes.

mod control;
mod kernel;
mod start;

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::config::Config;
use crate::core::event::{Event, Severity};
use crate::core::input::Input;
use crate::core::output::Output;
use crate::core::rib::RouteTable;
use crate::core::router::Router;
use crate::core::snapshot::{Restore, fingerprint};
use crate::core::types::{GroupAddr, IfIndex};
use crate::ctl::proto::{EventRecord, Request};
use crate::ctl::reply::IoCounters;
use crate::daemon::DaemonError;
use crate::daemon::ctl_server::{CtlRequest, CtlServer};
use crate::daemon::events::EventBus;
use crate::daemon::handover::{self, SelfExec};
use crate::daemon::metrics::{MetricsRequest, MetricsServer};
use crate::daemon::notify::{Notifier, ServiceStatus};
use crate::daemon::snapshot::{self, SnapshotFile};
use crate::io::host::HostMemberships;
use crate::io::mrt::AsyncMrtSocket;
use crate::io::mrt_writer::MrtWriter;
use crate::io::netlink::{self, NetEvent};
use crate::io::raw_igmp::IgmpTxSocket;
use crate::record::{Recorder, trace};
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
    /// One router step: `inputs` that arrived together, one commit;
    /// recorded when recording (the inputs are copied only then).
    fn step(&mut self, inputs: Vec<Input>) -> Vec<Output> {
        let now = Instant::now().into_std();
        let Some(recorder) = self.recorder.as_mut() else {
            return self.router.step(now, inputs);
        };
        let outputs = self.router.step(now, inputs.iter().cloned());
        if let Err(e) = recorder.step(now, &inputs, &outputs) {
            tracing::error!("failed to record; recording stops: {e}");
            self.recorder = None;
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
    let mut watcher = netlink::start().await.map_err(DaemonError::Netlink)?;
    let rtnl = watcher.handle().clone();
    let (mrt, saved, adopted) = start::routing_socket(
        opts.inherited_mrt.take(),
        &rtnl,
        table,
        &snapshot_path,
        &config_fp,
    )
    .await?;
    let mrt = AsyncMrtSocket::new(mrt)
        .map_err(|e| DaemonError::Io("failed to register the multicast routing socket", e))?;
    let tx = IgmpTxSocket::open()
        .map_err(|e| DaemonError::Io("failed to open the IGMP send socket", e))?;
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
    start::write_pid_file(&pid_file);

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

    // The recording and the kernel writer's trace start together, so their
    // runs pair up.
    let start = Instant::now();
    let (recorder, trace) = match &opts.record {
        Some(path) => {
            let recorder = Recorder::create(
                path,
                &opts.config_path,
                &opts.config_text,
                &opts.overrides,
                start.into_std(),
            )
            .map_err(|e| DaemonError::Io("failed to open the recording", e))?;
            let trace = trace::Trace::create(&trace::path_for(path))
                .map_err(|e| DaemonError::Io("failed to open the kernel trace", e))?;
            (Some(recorder), Some(trace))
        }
        None => (None, None),
    };
    let writer = MrtWriter::start(mrt.shared(), trace)
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
            next_audit = kernel::audit_after(audit_every, dumped);
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
                kernel::check_rp_filter(&router.router, &mut io);
                // The first event is the full dump: now forwarding can work.
                notifier.ready();
                if !dumped {
                    next_audit = kernel::audit_after(audit_every, true);
                }
                dumped = true;
            }
            _ = tokio::time::sleep_until(rpf_recheck.unwrap_or(deadline)), if rpf_recheck.is_some() => {
                rpf_recheck = None;
                kernel::recheck_rpf(&mut router, &mut io).await;
            }
            r = io.mrt.recv_batch(RX_BATCH) => {
                match r {
                    Ok(batch) => kernel::drain_mrt(&mut router, &mut io, batch).await,
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
                kernel::writer_report(&mut router, &mut io, report).await;
            }
            Some(req) = req_rx.recv() => {
                if req.request == Request::Restart {
                    start::restart(&mut router, &mut io, &mut snapshot, opts.self_exec.as_ref(), req.reply).await;
                    continue;
                }
                let reply = if req.request == Request::Reload {
                    control::reload(&mut router, &mut io, &mut notifier, &mut snapshot).await
                } else {
                    control::answer(&mut router, &mut io, req.request).await
                };
                let _ = req.reply.send(reply);
            }
            _ = sighup.recv() => {
                // The outcome is logged (as an event) either way.
                control::reload(&mut router, &mut io, &mut notifier, &mut snapshot).await;
            }
            Some(req) = metrics_rx.recv(), if metrics.is_some() => {
                let _ = req.reply.send(control::metrics_snapshot(&router.router, &mut io));
            }
            _ = snapshot_tick.tick(), if dumped => {
                snapshot.update(&router.router, Instant::now().into_std(), false);
            }
            _ = tokio::time::sleep_until(deadline) => {
                feed(&mut router, &mut io, Input::Timer).await;
            }
            _ = tokio::time::sleep_until(next_audit.unwrap_or(deadline)), if next_audit.is_some() => {
                match kernel::read_kernel_table(&mut router, &mut io).await {
                    Ok(kernel) => feed(&mut router, &mut io, Input::KernelAudit(Box::new(kernel))).await,
                    Err(e) => tracing::warn!(target: "mroute", "kernel table audit skipped: {e}"),
                }
                next_audit = kernel::audit_after(audit_every, dumped);
            }
            _ = poll.tick() => kernel::refresh_counters(&mut router, &mut io).await,
            _ = drop_poll.tick() => kernel::read_drops(&mut router, &mut io).await,
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
        kernel::writer_report(router, io, report).await;
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
                local,
            } => {
                if let Err(e) = io.host.set(ifindex, local, group, &filter) {
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
