//! `mgmd check-system`: whether the running system has what mgmd needs.
//!
//! Sans-IO, like the core: [`crate::io::system`] gathers the
//! [`SystemFacts`] (probes of the kernel's multicast routing API, reads of
//! `/proc`) as plain data.

mod facts;

pub use facts::{
    Errno, InterfaceFacts, Probe, ProbeNamespace, ProbeStep, RouterProcess, SystemFacts,
};
