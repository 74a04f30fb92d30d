//! `mgmd check-system`: whether the running system has what mgmd needs,
//! and what each missing piece costs.
//!
//! Sans-IO, like the core: [`crate::io::system`] gathers the
//! [`SystemFacts`] (probes of the kernel's multicast routing API, reads of
//! `/proc`); [`evaluate`] turns them and the configuration into
//! [`Finding`]s, one per check, each with a [`Status`] and, unless it is
//! `ok`, what it costs and how to fix it; [`render`] lays them out for a
//! terminal. The verdict is the worst status, and the exit status follows
//! from it ([`Report::exit_code`]).

use std::fmt;

use serde::Serialize;

mod evaluate;
mod facts;
pub mod render;

pub use evaluate::{MembershipNeed, evaluate};
pub use facts::{
    Errno, InterfaceFacts, Probe, ProbeNamespace, ProbeStep, RouterProcess, SystemFacts,
};

/// Exit status: everything mgmd needs is there (notes allowed).
pub const EXIT_OK: u8 = 0;
/// Exit status: something mgmd needs is missing: it cannot start, or
/// cannot do what the configuration asks.
pub const EXIT_MISSING: u8 = 1;
/// Exit status: only warnings: mgmd runs, degraded.
pub const EXIT_WARNINGS: u8 = 2;

// ===== Status =====

/// How one check came out, from best to worst.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// There, or not needed.
    Ok,
    /// Missing or unknown, but costs this configuration nothing today.
    Info,
    /// mgmd runs, but something will not work as configured.
    Warning,
    /// mgmd cannot start, or cannot do what the configuration asks.
    Missing,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Info => "info",
            Status::Warning => "warning",
            Status::Missing => "missing",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// ===== Check =====

/// What a finding is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// The configuration file could be read and is valid.
    Configuration,
    /// `CONFIG_IP_MROUTE`.
    Ipv4MulticastRouting,
    /// `CONFIG_IP_MROUTE_MULTIPLE_TABLES`.
    MulticastRoutingTables,
    /// `CONFIG_IPV6_MROUTE`.
    Ipv6MulticastRouting,
    /// Who owns the multicast routing table (`mc_forwarding`).
    TableOwner,
    /// `CAP_NET_ADMIN`, `CAP_NET_RAW`.
    Capabilities,
    /// A configured interface: present, and its `rp_filter`.
    Interface,
    /// `net.ipv4.igmp_max_memberships`.
    IgmpMaxMemberships,
    /// `net.ipv4.igmp_max_msf`.
    IgmpMaxMsf,
}

impl Check {
    /// The name in the table's first column.
    pub fn label(self) -> &'static str {
        match self {
            Check::Configuration => "configuration",
            Check::Ipv4MulticastRouting => "IPv4 multicast routing",
            Check::MulticastRoutingTables => "several routing tables",
            Check::Ipv6MulticastRouting => "IPv6 multicast routing",
            Check::TableOwner => "table owner",
            Check::Capabilities => "capabilities",
            Check::Interface => "interface",
            Check::IgmpMaxMemberships => "igmp_max_memberships",
            Check::IgmpMaxMsf => "igmp_max_msf",
        }
    }
}

// ===== Finding =====

/// The outcome of one check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Finding {
    pub check: Check,
    /// What the check looked at when there is one per thing (the
    /// interface's name).
    pub subject: Option<String>,
    pub status: Status,
    /// What was found.
    pub summary: String,
    /// What it costs (unless `ok`).
    pub cost: Option<String>,
    /// How to fix it (unless `ok`).
    pub fix: Option<String>,
}

impl Finding {
    /// The first column: the check, and its subject.
    pub fn label(&self) -> String {
        match &self.subject {
            Some(s) => format!("{} {s}", self.check.label()),
            None => self.check.label().to_owned(),
        }
    }

    /// One line: `LABEL: STATUS: SUMMARY; COST`.
    pub fn one_line(&self) -> String {
        let mut line = format!("{}: {}: {}", self.label(), self.status, self.summary);
        if let Some(cost) = &self.cost {
            line.push_str("; ");
            line.push_str(cost);
        }
        line
    }
}

// ===== Report =====

/// Every finding, with what they were drawn from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Report {
    pub findings: Vec<Finding>,
    /// The worst status.
    pub verdict: Status,
    pub exit_status: u8,
    pub facts: SystemFacts,
}

impl Report {
    pub fn new(findings: Vec<Finding>, facts: SystemFacts) -> Report {
        let verdict = findings
            .iter()
            .map(|f| f.status)
            .max()
            .unwrap_or(Status::Ok);
        Report {
            exit_status: exit_code(verdict),
            findings,
            verdict,
            facts,
        }
    }

    /// [`EXIT_OK`], [`EXIT_MISSING`] or [`EXIT_WARNINGS`].
    pub fn exit_code(&self) -> u8 {
        self.exit_status
    }

    /// The findings that are neither `ok` nor `info`.
    pub fn problems(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.status >= Status::Warning)
    }
}

/// The exit status for a verdict: informational notes do not count.
pub fn exit_code(verdict: Status) -> u8 {
    match verdict {
        Status::Ok | Status::Info => EXIT_OK,
        Status::Warning => EXIT_WARNINGS,
        Status::Missing => EXIT_MISSING,
    }
}
