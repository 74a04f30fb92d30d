//! What happened, as data. Every notable step the router takes becomes an
//! [`Event`]: `Display` gives the log line, `Serialize` the record that
//! `mgmctl events --json` streams, [`Event::kind`] and [`Event::severity`]
//! how the daemon files it. Interfaces are named (index and name at the
//! time), protocols by name.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use serde::Serialize;

use crate::core::igmp::{IgmpLog, IgmpVersion, QueryVersion};
use crate::core::mgm::Effect;
use crate::core::mroute::{Drift, MrtAction};
use crate::core::protocol::ProtoNote;
use crate::core::status::ConfigChange;
use crate::core::types::{FlowKey, IfIndex, IfName, Iface};

/// A manager effect with interfaces, components and protocols named.
pub type NamedEffect = Effect<Iface, &'static str, &'static str>;

/// Which way an ownership change goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OwnerOp {
    Take,
    Release,
}

/// How much an event matters to an operator (the daemon maps it to a log
/// level).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Debug,
    Info,
    Warn,
    Error,
}

/// One thing that happened, in the order it happened.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// A configured interface exists (at start, or it appeared).
    InterfaceAppeared {
        interface: Iface,
        up: bool,
    },
    /// A configured interface vanished; its name waits on the pending list.
    InterfaceVanished {
        interface: Iface,
    },
    InterfaceRenamed {
        ifindex: IfIndex,
        old: IfName,
        new: IfName,
    },
    /// A configured interface went up or down.
    InterfaceState {
        interface: Iface,
        up: bool,
    },
    /// A protocol takes or releases an interface: the sequence starts.
    OwnershipStarted {
        interface: Iface,
        protocol: &'static str,
        op: OwnerOp,
    },
    /// The sequence is complete (IGMP re-added its memberships).
    OwnershipComplete {
        interface: Iface,
        protocol: &'static str,
        op: OwnerOp,
    },
    /// A step of the manager: an ownership step, a membership, an alert, a
    /// forwarding entry.
    Effect(NamedEffect),
    /// Something IGMP did on an interface.
    Igmp {
        interface: Iface,
        log: IgmpLog,
    },
    /// Something a routing protocol tells.
    Protocol {
        protocol: &'static str,
        note: ProtoNote<Iface>,
    },
    /// A new flow has no incoming interface of ours: it gets a drop entry.
    FlowRefused {
        flow: FlowKey,
        arrival: Iface,
    },
    /// A forwarding entry carried no traffic for the idle time.
    FlowIdle {
        flow: FlowKey,
        idle: Duration,
    },
    /// The route towards a source changed: its flows are decided again.
    RouteChanged {
        source: IpAddr,
        rpf: Option<Iface>,
        flows: usize,
    },
    /// The protocol asked about a new flow did not answer in time.
    RpfUnanswered {
        flow: FlowKey,
        protocol: &'static str,
    },
    /// The kernel refused a change; it is tried again at the next commit.
    KernelRefused {
        action: MrtAction,
        error: String,
    },
    /// An interface got no VIF: the kernel's per-table limit is reached.
    VifLimit {
        interface: Iface,
        limit: usize,
    },
    /// A manager operation failed (a component acted out of turn).
    ManagerError {
        context: &'static str,
        error: String,
    },
    /// A configuration was applied (a reload, or a runtime edit).
    ConfigApplied {
        /// What applied it: "reload" or "runtime edit".
        how: &'static str,
        changes: Vec<ConfigChange>,
        /// What the new configuration does that does nothing useful.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        warnings: Vec<String>,
    },
    /// A configuration was refused; the running one stays.
    ConfigRefused {
        how: &'static str,
        error: String,
    },
    /// One input caused too many effects; delivery stopped.
    EffectLoop,
    ShuttingDown,
    /// The previous process's state was taken over: `groups` IGMP groups
    /// and `flows` flows, from a snapshot written `age` earlier.
    StateRestored {
        groups: usize,
        flows: usize,
        age: Duration,
    },
    /// The multicast routing socket was handed over: the kernel's `vifs`
    /// VIFs and `entries` entries were taken as they are.
    KernelAdopted {
        vifs: usize,
        entries: usize,
    },
    /// A snapshot that was not taken over, and why.
    SnapshotIgnored {
        reason: String,
    },
    /// The audit found the kernel's table differing from mgmd's here; the
    /// difference is repaired.
    KernelDrift {
        drift: Box<Drift<Iface>>,
    },
    /// The audit found `differences` differences (each logged up to
    /// `logged`) and repaired them.
    KernelAudit {
        differences: usize,
        logged: usize,
    },
}

impl Event {
    /// A short category: "interface", "ownership", "effect", "igmp",
    /// "querier", "protocol", "kernel", "error", "daemon".
    pub fn kind(&self) -> &'static str {
        match self {
            Event::InterfaceAppeared { .. }
            | Event::InterfaceVanished { .. }
            | Event::InterfaceRenamed { .. }
            | Event::InterfaceState { .. } => "interface",
            Event::OwnershipStarted { .. } | Event::OwnershipComplete { .. } => "ownership",
            Event::Effect(e) if e.is_ownership_step() => "ownership",
            Event::Effect(_) => "effect",
            Event::Igmp {
                log: IgmpLog::QuerierUp { .. } | IgmpLog::QuerierDown { .. },
                ..
            } => "querier",
            Event::Igmp { .. } => "igmp",
            Event::Protocol { .. } => "protocol",
            Event::FlowRefused { .. }
            | Event::FlowIdle { .. }
            | Event::RouteChanged { .. }
            | Event::KernelRefused { .. }
            | Event::VifLimit { .. }
            | Event::KernelDrift { .. }
            | Event::KernelAudit { .. } => "kernel",
            Event::RpfUnanswered { .. } | Event::ManagerError { .. } | Event::EffectLoop => "error",
            Event::ConfigApplied { .. } | Event::ConfigRefused { .. } => "config",
            Event::ShuttingDown
            | Event::StateRestored { .. }
            | Event::KernelAdopted { .. }
            | Event::SnapshotIgnored { .. } => "daemon",
        }
    }

    pub fn severity(&self) -> Severity {
        match self {
            Event::Effect(e) if !e.is_ownership_step() => Severity::Debug,
            Event::Igmp { log, .. } => match log {
                IgmpLog::QuerierUp { .. }
                | IgmpLog::QuerierDown { .. }
                | IgmpLog::GroupLimitApplied { .. }
                | IgmpLog::RecoveryQuery { .. } => Severity::Info,
                IgmpLog::OlderVersionQuerier { .. }
                | IgmpLog::NewerVersionQuerier { .. }
                | IgmpLog::GroupRefused { .. } => Severity::Warn,
                _ => Severity::Debug,
            },
            Event::Protocol { note, .. } if note.is_detail() => Severity::Debug,
            Event::KernelRefused { .. }
            | Event::VifLimit { .. }
            | Event::KernelDrift { .. }
            | Event::KernelAudit { .. }
            | Event::RpfUnanswered { .. }
            | Event::SnapshotIgnored { .. }
            | Event::ManagerError { .. }
            | Event::ConfigRefused { .. } => Severity::Warn,
            Event::ConfigApplied { warnings, .. } if !warnings.is_empty() => Severity::Warn,
            Event::EffectLoop => Severity::Error,
            _ => Severity::Info,
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::InterfaceAppeared { interface, up } => write!(
                f,
                "{interface} appeared (ifindex {}, {})",
                interface.ifindex,
                up_down(*up)
            ),
            Event::InterfaceVanished { interface } => write!(
                f,
                "{interface} (ifindex {}) vanished; configured interfaces by that name wait for it",
                interface.ifindex
            ),
            Event::InterfaceRenamed { ifindex, old, new } => {
                write!(f, "{old} (ifindex {ifindex}) renamed to {new}")
            }
            Event::InterfaceState { interface, up } => {
                write!(f, "{interface} is {}", up_down(*up))
            }
            Event::OwnershipStarted {
                interface,
                protocol,
                op,
            } => write!(f, "{protocol} {} {interface}: sequence starts", verb(*op)),
            Event::OwnershipComplete {
                interface,
                protocol,
                op,
            } => write!(f, "{protocol} {} {interface}: sequence complete", verb(*op)),
            Event::Effect(e) => fmt_effect(e, f),
            Event::Igmp { interface, log } => {
                write!(f, "{interface}: ")?;
                fmt_igmp(log, f)
            }
            Event::Protocol { protocol, note } => write!(f, "{protocol}: {note}"),
            Event::FlowRefused { flow, arrival } => write!(
                f,
                "{flow} from {arrival}: no incoming interface of ours towards the source; \
                 dropping it"
            ),
            Event::FlowIdle { flow, idle } => write!(
                f,
                "{flow} idle for {}; removing it",
                humantime::format_duration(*idle)
            ),
            Event::RouteChanged { source, flows, .. } => write!(
                f,
                "route towards {source} changed: deciding {flows} flow(s) again"
            ),
            Event::RpfUnanswered { flow, protocol } => write!(
                f,
                "{protocol} did not answer for the new flow {flow}; it is asked again when the \
                 kernel reports the flow again"
            ),
            Event::KernelRefused { action, error } => {
                write!(f, "kernel refused {action}: {error}")
            }
            Event::VifLimit { interface, limit } => write!(
                f,
                "no VIF for {interface}: the kernel allows {limit} per table; it is not forwarded"
            ),
            Event::ManagerError { context, error } => write!(f, "{context}: {error}"),
            Event::ConfigApplied {
                how,
                changes,
                warnings,
            } => {
                if changes.is_empty() {
                    write!(f, "{how}: the configuration is unchanged")?;
                } else {
                    write!(f, "{how}: {} change(s): ", changes.len())?;
                    for (i, c) in changes.iter().enumerate() {
                        if i > 0 {
                            f.write_str("; ")?;
                        }
                        write!(f, "{}: {}", c.section, c.change)?;
                    }
                }
                for w in warnings {
                    write!(f, "; warning: {w}")?;
                }
                Ok(())
            }
            Event::ConfigRefused { how, error } => {
                write!(f, "{how} refused, the running configuration stays: {error}")
            }
            Event::EffectLoop => {
                f.write_str("too many effects from one input; components may be looping")
            }
            Event::ShuttingDown => f.write_str("shutting down"),
            Event::StateRestored { groups, flows, age } => write!(
                f,
                "took over {groups} IGMP group(s) and {flows} flow(s) from the previous process \
                 (snapshot written {:.1}s ago); the startup queries confirm them",
                age.as_secs_f64()
            ),
            Event::KernelAdopted { vifs, entries } => write!(
                f,
                "took over the multicast routing socket: {vifs} VIF(s) and {entries} forwarding \
                 entries kept in the kernel"
            ),
            Event::SnapshotIgnored { reason } => write!(f, "snapshot ignored: {reason}"),
            Event::KernelDrift { drift } => write!(f, "kernel table drift: {drift}; repaired"),
            Event::KernelAudit {
                differences,
                logged,
            } => {
                write!(
                    f,
                    "kernel table audit: {differences} difference(s) from mgmd's table, repaired"
                )?;
                if logged < differences {
                    write!(f, " (the first {logged} logged)")?;
                }
                Ok(())
            }
        }
    }
}

// ===== helper functions =====

fn up_down(up: bool) -> &'static str {
    if up { "up" } else { "down" }
}

fn verb(op: OwnerOp) -> &'static str {
    match op {
        OwnerOp::Take => "takes",
        OwnerOp::Release => "releases",
    }
}

fn list(ifaces: &[Iface]) -> String {
    if ifaces.is_empty() {
        return "nothing".to_owned();
    }
    let v: Vec<String> = ifaces.iter().map(|i| i.to_string()).collect();
    v.join(",")
}

fn fmt_effect(e: &NamedEffect, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match e {
        Effect::DisableIgmp { ifindex } => write!(f, "disable IGMP on {ifindex}"),
        Effect::EnableIgmp { ifindex } => write!(f, "enable IGMP on {ifindex}"),
        Effect::OwnerChanged { ifindex, old, new } => write!(
            f,
            "owner of {ifindex}: {} -> {}",
            old.unwrap_or("igmp-only"),
            new.unwrap_or("igmp-only")
        ),
        Effect::MembershipAdded {
            key,
            ifindex,
            by,
            component,
        } => write!(
            f,
            "membership {key} on {ifindex} added by {by}, counted for {component}"
        ),
        Effect::MembershipRemoved {
            key,
            ifindex,
            by,
            component,
        } => write!(
            f,
            "membership {key} on {ifindex} of {by} removed, was counted for {component}"
        ),
        Effect::JoinAlert {
            to,
            key,
            member_update,
        } => write!(f, "join alert to {to}: {key}{}", reason(*member_update)),
        Effect::PruneAlert {
            to,
            key,
            ifindex,
            member_delete,
        } => write!(
            f,
            "prune alert to {to}: {key} on {ifindex}{}",
            reason(*member_delete)
        ),
        Effect::LocalJoin { to, key, ifindex } => {
            write!(f, "local join to {to}: {key} on {ifindex}")
        }
        Effect::LocalLeave { to, key, ifindex } => {
            write!(f, "local leave to {to}: {key} on {ifindex}")
        }
        Effect::CreationAlert {
            to,
            flow,
            iif,
            oifs,
        } => write!(
            f,
            "creation alert to {to}: {flow} from {iif} to {}",
            list(oifs)
        ),
        Effect::MfeCreated { flow, iif, oifs } => {
            write!(
                f,
                "forwarding entry {flow} created: {iif} -> {}",
                list(oifs)
            )
        }
        Effect::MfeChanged { flow, iif, oifs } => {
            write!(
                f,
                "forwarding entry {flow} changed: {iif} -> {}",
                list(oifs)
            )
        }
        Effect::MfeDeleted { flow } => write!(f, "forwarding entry {flow} deleted"),
        Effect::UpstreamChanged { flow, upstream } => match upstream {
            Some(u) => write!(f, "forwarding entry {flow}: upstream neighbour now {u}"),
            None => write!(f, "forwarding entry {flow}: no upstream neighbour now"),
        },
    }
}

/// " (membership)" or " (forwarding entry)": why an alert was owed.
fn reason(member: bool) -> &'static str {
    if member {
        " (membership)"
    } else {
        " (forwarding entry)"
    }
}

fn fmt_igmp(log: &IgmpLog, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match log {
        IgmpLog::QuerierUp { address } => write!(f, "querier is now this router ({address})"),
        IgmpLog::QuerierDown { other: Some(o) } => {
            write!(f, "no longer querier: {o} has a lower address")
        }
        IgmpLog::QuerierDown { other: None } => f.write_str("no longer querier"),
        IgmpLog::QuerierChangeDeferred { other } => write!(
            f,
            "{other} has a lower address; this router stays querier until its last member \
             queries are sent (RFC 2236 3)"
        ),
        IgmpLog::OlderVersionQuerier {
            source,
            version,
            configured,
            suppressed,
        } => {
            write!(
                f,
                "heard an IGMP{} query from {source} on an IGMPv{} interface: configure every \
                 router of the link for the oldest version present (RFC 9776 7.3.1)",
                query_version(*version),
                version_number(*configured)
            )?;
            fmt_suppressed(*suppressed, f)
        }
        IgmpLog::NewerVersionQuerier {
            source,
            version,
            configured,
            suppressed,
        } => {
            write!(
                f,
                "heard an IGMP{} query from {source} on an IGMPv{} interface: configure every \
                 router of the link for the same version (RFC 9776 7.3.1)",
                query_version(*version),
                version_number(*configured)
            )?;
            fmt_suppressed(*suppressed, f)
        }
        IgmpLog::GroupRefused {
            group,
            limit,
            suppressed,
        } => {
            write!(
                f,
                "refused to learn group {group}: the interface holds max-groups = {limit} \
                 groups (counted as refused_groups; raise max-groups if they are wanted)"
            )?;
            fmt_suppressed(*suppressed, f)
        }
        IgmpLog::GroupLimitApplied { removed, limit } => write!(
            f,
            "max-groups is now {limit}: {removed} group(s) with the highest addresses dropped"
        ),
        IgmpLog::RecoveryQuery { drops, max_resp } => write!(
            f,
            "the interface dropped {drops} input message(s): recovery query (Max Resp Time {}s) \
             asks the hosts to report again",
            max_resp.as_secs_f64()
        ),
        IgmpLog::GroupCreated { group } => write!(f, "group {group} learned"),
        IgmpLog::GroupDeleted { group } => write!(f, "group {group} expired"),
        IgmpLog::ModeChanged { group, mode } => {
            write!(f, "group {group} now in {mode:?} mode")
        }
        IgmpLog::CompatChanged { group, compat } => write!(
            f,
            "group {group} now in IGMPv{} compatibility mode",
            version_number(*compat)
        ),
    }
}

fn version_number(v: IgmpVersion) -> u8 {
    match v {
        IgmpVersion::V1 => 1,
        IgmpVersion::V2 => 2,
        IgmpVersion::V3 => 3,
    }
}

fn query_version(v: QueryVersion) -> &'static str {
    match v {
        QueryVersion::V1 => "v1",
        QueryVersion::V2 => "v2",
        QueryVersion::V3 => "v3",
    }
}

/// "; 3 more since the last warning" when warnings were held back.
fn fmt_suppressed(n: u64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if n > 0 {
        write!(f, "; {n} more since the last warning")?;
    }
    Ok(())
}
