//! The control protocol: versioned JSON lines over a Unix socket, and a
//! blocking client for `mgmctl` and the tests.

pub mod client;
pub mod proto;
pub mod reply;

pub use client::Client;
pub use proto::{EventRecord, PROTOCOL_VERSION, Reply, Request, RequestMsg};
