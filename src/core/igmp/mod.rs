//! IGMP router side: codec and per-interface state machine (in progress).

pub mod config;
