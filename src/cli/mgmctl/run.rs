//! What mgmctl does: sends one request and prints the answer. Tables for
//! people, `--json` for scripts.

use std::collections::BTreeMap;
use std::process::ExitCode;

use super::{Args, Cmd, Failure, Show};
use crate::core::mroute::{Drift, Forwarding};
use crate::core::status::{
    AuditView, GroupView, IgmpCountersView, InterfaceView, ProtocolView, ReloadReport, RouteView,
};
use crate::core::types::Iface;
use crate::ctl::client::ClientError;
use crate::ctl::reply::{CountersReply, LogReply, PingReply, VifCounters};
use crate::ctl::{Client, Request};

/// Why a command failed: what to print and the exit status.
struct Error {
    failure: Failure,
    message: String,
}

impl From<ClientError> for Error {
    fn from(e: ClientError) -> Error {
        Error {
            failure: Failure::of(&e),
            message: e.to_string(),
        }
    }
}

impl Error {
    fn other(message: String) -> Error {
        Error {
            failure: Failure::Other,
            message,
        }
    }
}

/// mgmctl's `main`: parses the command line, runs the command.
pub fn main() -> ExitCode {
    // Usage errors exit with clap's status 2 (Failure::Usage).
    let args = Args::parse();
    match run(&args) {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Drift) => ExitCode::from(Failure::Drift.code()),
        Err(e) => {
            if args.json {
                println!("{}", serde_json::json!({ "error": e.message }));
            } else {
                eprintln!("mgmctl: {}", e.message);
            }
            ExitCode::from(e.failure.code())
        }
    }
}

/// How a command that got its answer ends.
enum Outcome {
    Done,
    /// `verify` found differences (listed already).
    Drift,
}

fn run(args: &Args) -> Result<Outcome, Error> {
    let socket = super::control_socket(args).map_err(|message| Error {
        failure: Failure::Refused,
        message,
    })?;
    let mut client = Client::connect(&socket)?;
    let Some(cmd) = &args.cmd else {
        // A command a routing protocol adds: a runtime edit of its section.
        let Some(e) = &args.edit else {
            return Err(Error::other("no command given".into()));
        };
        let data = client.request(Request::Edit {
            protocol: e.protocol.to_owned(),
            edit: e.edit.clone(),
        })?;
        if args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&data).unwrap_or_default()
            );
        } else {
            let report = serde_json::from_value::<ReloadReport>(data)
                .map_err(|e| Error::other(format!("mgmd sent an unexpected reply: {e}")))?;
            print_report(&report);
        }
        return Ok(Outcome::Done);
    };
    let request = match cmd {
        Cmd::Show { what } => match what {
            Show::Interfaces => Request::ShowInterfaces,
            Show::Groups => Request::ShowGroups,
            Show::Routes => Request::ShowRoutes,
            Show::Protocols => Request::ShowProtocols,
            Show::Config => Request::ShowConfig,
            Show::Counters { interface } => Request::ShowCounters {
                interface: interface.clone(),
            },
        },
        Cmd::Reload => Request::Reload,
        Cmd::Take {
            interface,
            protocol,
        } => Request::Take {
            interface: interface.clone(),
            protocol: protocol.clone(),
        },
        Cmd::Release {
            interface,
            protocol,
        } => Request::Release {
            interface: interface.clone(),
            protocol: protocol.clone(),
        },
        Cmd::Events => {
            let json = args.json;
            client
                .events(|ev| {
                    if json {
                        println!("{}", serde_json::to_string(&ev).unwrap_or_default());
                    } else {
                        println!(
                            "{:>10.3} {:<9} {}",
                            ev.t_ms as f64 / 1000.0,
                            ev.kind,
                            ev.text
                        );
                    }
                    true
                })
                .map_err(Error::from)?;
            return Ok(Outcome::Done);
        }
        Cmd::Ping => Request::Ping,
        Cmd::Log { level, target } => Request::Log {
            level: level.clone(),
            target: target.clone(),
        },
        Cmd::Restart => Request::Restart,
        Cmd::Verify { repair } => Request::Verify { repair: *repair },
    };
    let data = client.request(request)?;
    let decode = |e: serde_json::Error| Error::other(format!("mgmd sent an unexpected reply: {e}"));
    // Exit status 6 with differences, whether printed as JSON or not.
    let outcome = match cmd {
        Cmd::Verify { .. } => {
            let view = serde_json::from_value::<AuditView>(data.clone()).map_err(decode)?;
            if !args.json {
                print_audit(&view);
            }
            if view.differences.is_empty() {
                Outcome::Done
            } else {
                Outcome::Drift
            }
        }
        _ => Outcome::Done,
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&data).unwrap_or_default()
        );
        return Ok(outcome);
    }
    match cmd {
        Cmd::Show { what } => match what {
            Show::Interfaces => print_interfaces(
                &serde_json::from_value::<Vec<InterfaceView>>(data).map_err(decode)?,
            ),
            Show::Groups => {
                print_groups(&serde_json::from_value::<Vec<GroupView>>(data).map_err(decode)?)
            }
            Show::Routes => {
                print_routes(&serde_json::from_value::<Vec<RouteView>>(data).map_err(decode)?)
            }
            Show::Protocols => {
                print_protocols(&serde_json::from_value::<Vec<ProtocolView>>(data).map_err(decode)?)
            }
            Show::Config => print_config(&data),
            Show::Counters { interface } => print_counters(
                &serde_json::from_value::<CountersReply>(data).map_err(decode)?,
                interface.is_none(),
            ),
        },
        Cmd::Reload => print_report(&serde_json::from_value::<ReloadReport>(data).map_err(decode)?),
        Cmd::Take {
            interface,
            protocol,
        } => println!("{interface}: now owned by {protocol}"),
        Cmd::Release { interface, .. } => println!("{interface}: released"),
        Cmd::Ping => print_ping(&serde_json::from_value::<PingReply>(data).map_err(decode)?),
        Cmd::Log { .. } => println!(
            "log filter: {}",
            serde_json::from_value::<LogReply>(data)
                .map_err(decode)?
                .filter
        ),
        Cmd::Events | Cmd::Verify { .. } => {}
        Cmd::Restart => println!(
            "mgmd restarts onto {}",
            data.get("exe")
                .and_then(|e| e.as_str())
                .unwrap_or("its binary")
        ),
    }
    Ok(outcome)
}

// ===== rendering =====

/// What a reload or a runtime edit changed.
fn print_report(r: &ReloadReport) {
    for w in &r.warnings {
        eprintln!("{w}");
    }
    if r.changes.is_empty() {
        println!("no change");
    }
    for c in &r.changes {
        println!("{}: {}", c.section, c.change);
    }
}

/// `verify`: every difference, or that there is none.
fn print_audit(v: &AuditView) {
    let tables = format!(
        "mgmd: {} VIF(s), {} entries; kernel: {} VIF(s), {} entries",
        v.vifs, v.entries, v.kernel_vifs, v.kernel_entries
    );
    if v.differences.is_empty() {
        println!("the kernel's multicast routing table matches mgmd's ({tables})");
        return;
    }
    let fwd = |f: &Forwarding<Iface>| f.to_string();
    let rows = v
        .differences
        .iter()
        .map(|d| {
            let (what, ours, kernel) = match d {
                Drift::VifMissing { vif, interface } => {
                    (format!("vif {vif}"), interface.to_string(), "-".into())
                }
                Drift::VifChanged { vif, ours, kernel } => {
                    (format!("vif {vif}"), ours.to_string(), kernel.to_string())
                }
                Drift::VifForeign { vif, interface } => {
                    (format!("vif {vif}"), "-".into(), interface.to_string())
                }
                Drift::EntryMissing { flow, ours } => (flow.to_string(), fwd(ours), "-".into()),
                Drift::EntryChanged { flow, ours, kernel } => {
                    (flow.to_string(), fwd(ours), fwd(kernel))
                }
                Drift::EntryForeign { flow, kernel } => (flow.to_string(), "-".into(), fwd(kernel)),
            };
            vec![d.kind().to_owned(), what, ours, kernel]
        })
        .collect();
    table(&["DIFFERENCE", "WHAT", "MGMD", "KERNEL"], rows);
    println!();
    println!(
        "{} difference(s) between the kernel's table and mgmd's ({tables}){}",
        v.differences.len(),
        if v.repaired {
            "; repaired"
        } else {
            "; mgmctl verify --repair repairs them (mgmd's periodic audit does too)"
        }
    );
}

/// The file as mgmd read it, then the runtime edits.
fn print_config(data: &serde_json::Value) {
    let path = data["path"].as_str().unwrap_or("?");
    println!("# {path}");
    print!("{}", data["text"].as_str().unwrap_or(""));
    let edits = data["runtime_edits"]
        .as_array()
        .map_or(&[][..], |v| v.as_slice());
    if !edits.is_empty() {
        println!("\n# runtime edits (mgmctl), lost at the next reload or restart:");
        for e in edits {
            print!("{}", e.as_str().unwrap_or(""));
        }
    }
}

/// Print rows as left-aligned columns.
fn table(header: &[&str], rows: Vec<Vec<String>>) {
    let mut width: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            width[i] = width[i].max(c.len());
        }
    }
    let line = |cells: Vec<&str>| {
        let s: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = width[i]))
            .collect();
        println!("{}", s.join("  ").trim_end());
    };
    line(header.to_vec());
    for r in &rows {
        line(r.iter().map(String::as_str).collect());
    }
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(T::to_string).unwrap_or_else(|| "-".into())
}

fn secs(v: Option<f64>) -> String {
    v.map(|s| format!("{s:.1}s")).unwrap_or_else(|| "-".into())
}

fn print_interfaces(list: &[InterfaceView]) {
    let rows = list
        .iter()
        .map(|i| {
            let q = i.querier.as_ref();
            vec![
                i.name.clone(),
                opt(&i.ifindex),
                i.state.clone(),
                i.owner.clone().unwrap_or_else(|| "-".into()),
                i.igmp.clone(),
                opt(&i.vif),
                i.addrs.first().cloned().unwrap_or_else(|| "-".into()),
                q.map(|q| format!("v{}", q.version))
                    .unwrap_or_else(|| "-".into()),
                q.map(|q| {
                    if q.is_querier {
                        "self".to_string()
                    } else if !q.querier_enabled {
                        format!("never ({})", opt(&q.querier_addr))
                    } else {
                        opt(&q.querier_addr)
                    }
                })
                .unwrap_or_else(|| "-".into()),
                q.map(|q| secs(q.next_query_s.or(q.other_querier_expires_s)))
                    .unwrap_or_else(|| "-".into()),
                q.map(|q| q.groups.to_string())
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    table(
        &[
            "INTERFACE",
            "IFINDEX",
            "STATE",
            "OWNER",
            "IGMP",
            "VIF",
            "ADDRESS",
            "VER",
            "QUERIER",
            "TIMER",
            "GROUPS",
        ],
        rows,
    );
}

fn print_groups(list: &[GroupView]) {
    let mut rows = Vec::new();
    for g in list {
        let owner = g
            .attributed
            .first()
            .map(|a| a.component.clone())
            .unwrap_or_else(|| "-".into());
        rows.push(vec![
            g.interface.clone(),
            g.group.to_string(),
            g.mode.clone(),
            secs(g.expires_s),
            "*".into(),
            owner,
        ]);
        for s in &g.sources {
            rows.push(vec![
                String::new(),
                String::new(),
                if s.forwarding { "forward" } else { "block" }.into(),
                secs(s.expires_s),
                s.source.to_string(),
                String::new(),
            ]);
        }
    }
    table(
        &[
            "INTERFACE",
            "GROUP",
            "MODE",
            "EXPIRES",
            "SOURCE",
            "COMPONENT",
        ],
        rows,
    );
}

fn print_routes(list: &[RouteView]) {
    let rows = list
        .iter()
        .map(|r| {
            vec![
                r.source.to_string(),
                r.group.to_string(),
                r.iif.clone(),
                if r.oifs.is_empty() {
                    "(drop)".into()
                } else {
                    r.oifs.join(",")
                },
                r.iif_owner.clone().unwrap_or_else(|| "-".into()),
                r.packets.to_string(),
                r.bytes.to_string(),
                format!("{:.0}s", r.idle_s),
                if r.installed { "yes" } else { "NO" }.into(),
            ]
        })
        .collect();
    table(
        &[
            "SOURCE",
            "GROUP",
            "IIF",
            "OIFS",
            "IIF-OWNER",
            "PACKETS",
            "BYTES",
            "IDLE",
            "KERNEL",
        ],
        rows,
    );
}

fn print_ping(p: &PingReply) {
    table(
        &["VERSION", "PID"],
        vec![vec![p.version.clone(), p.pid.to_string()]],
    );
    println!();
    let rows = p
        .counters
        .iter()
        .map(|(k, v)| vec![k.clone(), v.to_string()])
        .collect();
    table(&["COUNTER", "VALUE"], rows);
}

/// The protocols and their interfaces, then a block per protocol with
/// what it shows of itself, whatever the protocol.
fn print_protocols(list: &[ProtocolView]) {
    let rows = list
        .iter()
        .map(|p| vec![p.name.clone(), p.interfaces.join(",")])
        .collect();
    table(&["PROTOCOL", "INTERFACES"], rows);
    for p in list.iter().filter(|p| !p.detail.sections.is_empty()) {
        println!("\n{}", p.name);
        for line in p.detail.to_string().lines() {
            println!("  {line}");
        }
    }
}

/// `show counters`: the daemon's counters (without IFACE), then one
/// column per interface for IGMP and for the kernel's VIF counters.
fn print_counters(c: &CountersReply, with_global: bool) {
    if with_global {
        let mut all: BTreeMap<String, u64> = serde_json::to_value(c.router)
            .and_then(serde_json::from_value)
            .unwrap_or_default();
        all.extend(c.io.entries().into_iter().map(|(k, v)| (k.to_owned(), v)));
        let rows = all
            .into_iter()
            .map(|(k, v)| vec![k, v.to_string()])
            .collect();
        table(&["COUNTER", "VALUE"], rows);
        println!();
    }
    let names: Vec<&str> = c
        .interfaces
        .iter()
        .map(|i| i.view.interface.as_str())
        .collect();
    // IGMP: every counter of any interface, in a fixed order.
    let igmp: Vec<Option<Vec<(String, u64)>>> = c
        .interfaces
        .iter()
        .map(|i| i.view.igmp.as_ref().map(igmp_rows))
        .collect();
    let keys: Vec<String> = igmp
        .iter()
        .flatten()
        .next()
        .map(|rows| rows.iter().map(|(k, _)| k.clone()).collect())
        .unwrap_or_default();
    let rows = keys
        .iter()
        .map(|k| {
            let mut row = vec![k.clone()];
            row.extend(igmp.iter().map(|rows| {
                match rows {
                    Some(rows) => rows
                        .iter()
                        .find(|(name, _)| name == k)
                        .map_or_else(|| "0".to_owned(), |(_, v)| v.to_string()),
                    None => "-".to_owned(),
                }
            }));
            row
        })
        .collect();
    let mut header = vec!["IGMP"];
    header.extend(&names);
    table(&header, rows);
    println!();
    let fwd: Vec<Option<VifCounters>> = c.interfaces.iter().map(|i| i.forwarded).collect();
    let rows = (0..4)
        .map(|n| {
            let mut row = vec![VifCounters::default().entries()[n].0.to_owned()];
            row.extend(fwd.iter().map(|f| {
                f.as_ref()
                    .map_or_else(|| "-".to_owned(), |v| v.entries()[n].1.to_string())
            }));
            row
        })
        .collect();
    let mut header = vec!["FORWARDED"];
    header.extend(&names);
    table(&header, rows);
}

/// One interface's IGMP counters as rows, named as in `show interfaces`.
fn igmp_rows(c: &IgmpCountersView) -> Vec<(String, u64)> {
    let mut rows = Vec::new();
    for (dir, by_type) in [("rx", &c.rx), ("tx", &c.tx)] {
        rows.extend(by_type.iter().map(|(t, v)| (format!("{dir}_{t}"), *v)));
    }
    rows.extend(
        c.queries_sent
            .iter()
            .map(|(kind, v)| (format!("tx_{kind}_queries"), *v)),
    );
    rows.push(("rx_records".into(), c.rx_records));
    rows.extend(c.drops.iter().map(|(r, v)| (format!("drop_{r}"), *v)));
    rows.push(("refused_groups".into(), c.refused_groups));
    rows.push(("refused_sources".into(), c.refused_sources));
    rows.push(("older_version_queries".into(), c.older_version_queries));
    rows.push(("newer_version_queries".into(), c.newer_version_queries));
    rows
}
