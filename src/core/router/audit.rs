//! The audit of the kernel's multicast routing table: the periodic one
//! ([`Input::KernelAudit`](crate::core::input::Input::KernelAudit)), which
//! logs and repairs every difference, and `mgmctl verify`, which lists
//! them (and repairs them when asked). The comparison and the repair are
//! the table's ([`crate::core::mroute::MrouteTable::audit`]); the repair is
//! written by the commit that follows, like any other change.

use super::Router;
use crate::core::event::Event;
use crate::core::mroute::KernelTable;
use crate::core::status::AuditView;

/// Differences logged one by one per audit; the rest are counted.
pub const AUDIT_LOG_LIMIT: usize = 32;

impl Router {
    /// Compares `kernel` with what the router believes it programmed; with
    /// `repair`, logs every difference (up to [`AUDIT_LOG_LIMIT`]) and
    /// makes the next commit restore mgmd's state. Refused while a table
    /// taken over at a restart is held unwritten.
    pub(super) fn audit_kernel(
        &mut self,
        kernel: &KernelTable,
        repair: bool,
    ) -> Result<AuditView, String> {
        if self.holding_kernel() {
            return Err(
                "the kernel's table taken over at the restart is kept as it is until \
                        the interfaces are known; there is nothing to compare yet"
                    .into(),
            );
        }
        self.counters.kernel_audits += 1;
        let mut view = AuditView {
            vifs: self.mroute.vifs().count(),
            entries: self.mroute.entry_count(),
            kernel_vifs: kernel.vifs.len(),
            kernel_entries: kernel.entries.len(),
            differences: Vec::new(),
            repaired: false,
        };
        let drift = self.mroute.audit(kernel);
        view.differences = drift
            .iter()
            .map(|d| d.clone().map(|ifindex| self.iface_ref(ifindex)))
            .collect();
        if repair && !drift.is_empty() {
            view.repaired = true;
            self.counters.kernel_drift += drift.len() as u64;
            let first = self.mroute.repair(kernel, &drift);
            let logged = view.differences.len().min(AUDIT_LOG_LIMIT);
            for d in &view.differences[..logged] {
                self.emit(Event::KernelDrift {
                    drift: Box::new(d.clone()),
                });
            }
            self.emit(Event::KernelAudit {
                differences: drift.len(),
                logged,
            });
            self.kernel_first.extend(first);
        }
        Ok(view)
    }
}
