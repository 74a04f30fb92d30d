//! The kernel writer: applies multicast routing changes (VIFs, MFC entries)
//! on a thread of its own, in the order they were submitted.
//!
//! Installing a forwarding entry is a system call that costs the kernel
//! more than deciding it costs mgmd. With the writer, the event loop
//! decides the next batch of new flows while the kernel installs the last
//! one, so a burst of new flows is installed at close to the rate of a
//! plain loop of `MRT_ADD_MFC` calls. Nothing else changes: the event loop
//! still owns all state and decides everything; the writer only carries
//! out, and reports back what the kernel refused (the router retries it,
//! as it would for a refusal seen at once) and which VIFs it added (for the
//! `mc_forwarding` check). An entry that depends on a VIF change the kernel
//! refused is not attempted ([`VifGate`]) and is reported as refused too.
//!
//! With `--record`, the writer also keeps the kernel trace
//! ([`crate::record::trace`]): every action it handled and how, so that a
//! replay can show the kernel was asked for exactly what the router decided.

use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;

use tokio::sync::{mpsc as tmpsc, oneshot};

use crate::core::mroute::{MrtAction, VifGate};
use crate::core::types::IfIndex;
use crate::io::mrt::MrtSocket;
use crate::record::trace::{Entry, Trace};

/// What the writer tells the event loop.
#[derive(Debug)]
pub enum WriterReport {
    /// The kernel added a VIF for `ifindex`.
    VifAdded(IfIndex),
    /// The kernel refused `action` (the error says why).
    Rejected { action: MrtAction, error: String },
}

enum Job {
    Apply(Vec<MrtAction>),
    /// Answered once everything submitted before it was applied.
    Flush(oneshot::Sender<()>),
}

/// Handle of the writer thread. Dropping it lets the thread finish what
/// was submitted, then waits for it.
pub struct MrtWriter {
    jobs: Option<mpsc::Sender<Job>>,
    reports: tmpsc::UnboundedReceiver<WriterReport>,
    thread: Option<JoinHandle<()>>,
}

impl MrtWriter {
    /// Starts the thread; it applies through `sock`, which must be the
    /// socket that owns the table (`MRT_INIT`), and writes what it did to
    /// `trace` if given.
    pub fn start(sock: Arc<MrtSocket>, trace: Option<Trace>) -> std::io::Result<MrtWriter> {
        let (jobs, rx) = mpsc::channel::<Job>();
        let (report_tx, reports) = tmpsc::unbounded_channel();
        let thread = std::thread::Builder::new()
            .name("mgmd-kernel".into())
            .spawn(move || run(&sock, &rx, &report_tx, trace))?;
        Ok(MrtWriter {
            jobs: Some(jobs),
            reports,
            thread: Some(thread),
        })
    }

    /// Queues `actions` to be applied in order, after everything queued
    /// before. Never blocks.
    pub fn submit(&self, actions: Vec<MrtAction>) {
        if actions.is_empty() {
            return;
        }
        self.send(Job::Apply(actions));
    }

    /// Resolves once everything submitted so far was applied (or refused,
    /// with the report queued). `.await` it, or `blocking_recv()` it
    /// outside a runtime.
    pub fn flush(&self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        self.send(Job::Flush(tx));
        rx
    }

    /// The next report; waits for one (cancel-safe, for `select!`).
    pub async fn report(&mut self) -> Option<WriterReport> {
        self.reports.recv().await
    }

    /// A report if one is queued.
    pub fn try_report(&mut self) -> Option<WriterReport> {
        self.reports.try_recv().ok()
    }

    fn send(&self, job: Job) {
        // The thread only ends when `jobs` is dropped (or it panicked,
        // which the join in `drop` reports).
        if let Some(jobs) = &self.jobs {
            if jobs.send(job).is_err() {
                tracing::error!(target: "mroute", "the kernel writer thread is gone");
            }
        }
    }
}

impl Drop for MrtWriter {
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!(target: "mroute", "the kernel writer thread panicked");
            }
        }
    }
}

fn run(
    sock: &MrtSocket,
    jobs: &mpsc::Receiver<Job>,
    reports: &tmpsc::UnboundedSender<WriterReport>,
    trace: Option<Trace>,
) {
    let mut trace = Tracing(trace);
    let mut gate = VifGate::default();
    while let Ok(job) = jobs.recv() {
        match job {
            Job::Apply(actions) => {
                for action in actions {
                    if let Some(vif) = gate.blocked_by(&action) {
                        let error = format!(
                            "failed to {action}: not attempted, the kernel refused a change of \
                             VIF {vif}"
                        );
                        trace.refusal(Entry::Skipped {
                            action,
                            error: error.clone(),
                        });
                        let _ = reports.send(WriterReport::Rejected { action, error });
                        continue;
                    }
                    let result = sock.apply(&action);
                    gate.record(&action, result.is_ok());
                    let report = match result {
                        Ok(()) => {
                            trace.entry(&Entry::Applied(action));
                            match action {
                                MrtAction::AddVif { ifindex, .. } => {
                                    WriterReport::VifAdded(ifindex)
                                }
                                _ => continue,
                            }
                        }
                        Err(e) => {
                            let error = e.to_string();
                            trace.refusal(Entry::Refused {
                                action,
                                error: error.clone(),
                            });
                            WriterReport::Rejected { action, error }
                        }
                    };
                    // The event loop may be gone at shutdown: nothing to tell.
                    let _ = reports.send(report);
                }
                trace.flush();
            }
            Job::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
    // Everything submitted was handled: the run is complete.
    trace.entry(&Entry::End);
    trace.flush();
}

/// The trace, while it can be written.
struct Tracing(Option<Trace>);

impl Tracing {
    fn entry(&mut self, entry: &Entry) {
        let Some(t) = self.0.as_mut() else { return };
        if let Err(e) = t.entry(entry) {
            tracing::error!(target: "mroute", "failed to write the kernel trace; it stops: {e}");
            self.0 = None;
        }
    }

    /// A refusal is on disk before the router hears of it (and may record
    /// that it did).
    fn refusal(&mut self, entry: Entry) {
        self.entry(&entry);
        self.flush();
    }

    fn flush(&mut self) {
        let Some(t) = self.0.as_mut() else { return };
        if let Err(e) = t.flush() {
            tracing::error!(target: "mroute", "failed to write the kernel trace; it stops: {e}");
            self.0 = None;
        }
    }
}
