//! Southbound I/O: the only code that touches the kernel.
//!
//! - [`mrt`]: the multicast routing socket (`MRT_INIT`, VIFs, MFC entries,
//!   upcalls and IGMP receive).
//! - [`mrt_table`]: the kernel's multicast routing table read back (VIFs
//!   and entries of one table), for the audit.
//! - [`raw_igmp`]: the IGMP transmit socket (Router Alert, TTL 1).
//! - [`netlink`]: interfaces and addresses from rtnetlink, translated to
//!   domain facts; unicast RPF lookups.
//! - [`sysctl`]: reads of `/proc/sys` settings worth a warning.
//! - [`system`]: what `mgmd check-system` learns of the system (probes of
//!   the multicast routing API in a scratch namespace, reads of `/proc`).
//! - [`sys`]: the kernel API constants and structures libc lacks; the one
//!   module with `unsafe`.

pub mod host;
pub mod mrt;
pub mod mrt_table;
pub mod mrt_writer;
pub mod netlink;
pub mod raw_igmp;
pub mod sys;
pub mod sysctl;
pub mod system;
