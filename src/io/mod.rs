//! Southbound I/O: the only code that touches the kernel.
//!
//! - [`mrt`]: the multicast routing socket (`MRT_INIT`, VIFs, MFC entries,
//!   upcalls and IGMP receive).
//! - [`igmp_listen`]: IGMP to the link-local groups (queries, IGMPv2
//!   leaves, IGMPv3 reports), one receive socket per interface.
//! - [`raw_igmp`]: the IGMP transmit socket (Router Alert, TTL 1).
//! - [`netlink`]: interfaces and addresses from rtnetlink, translated to
//!   domain facts; unicast RPF lookups.
//! - [`sysctl`]: reads of `/proc/sys` settings worth a warning.
//! - [`sys`]: the kernel API constants and structures libc lacks; the one
//!   module with `unsafe`.

pub mod host;
pub mod igmp_listen;
pub mod mrt;
pub mod mrt_writer;
pub mod netlink;
pub mod raw_igmp;
pub mod sys;
pub mod sysctl;
