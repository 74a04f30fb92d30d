//! mgmctl: the control tool for mgmd. Tables for people, `--json` for
//! scripts.

use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::Parser;
use mgmd::cli::mgmctl::{Args, Cmd, Failure, Show};
use mgmd::core::status::{GroupView, InterfaceView, ProtocolView, RouteView};
use mgmd::ctl::client::ClientError;
use mgmd::ctl::{Client, Request};

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

fn main() -> ExitCode {
    // Usage errors exit with clap's status 2 (Failure::Usage).
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
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

fn run(args: &Args) -> Result<(), Error> {
    let socket = args
        .socket
        .clone()
        .unwrap_or_else(|| mgmd::config::default_control_socket(args.table));
    let mut client = Client::connect(&socket)?;
    let request = match &args.cmd {
        Cmd::Show { what } => match what {
            Show::Interfaces => Request::ShowInterfaces,
            Show::Groups => Request::ShowGroups,
            Show::Routes => Request::ShowRoutes,
            Show::Protocols => Request::ShowProtocols,
        },
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
            return client
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
                .map_err(Error::from);
        }
        Cmd::Ping => Request::Ping,
        Cmd::Restart => Request::Restart,
    };
    let data = client.request(request)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&data).unwrap_or_default()
        );
        return Ok(());
    }
    let decode = |e: serde_json::Error| Error::other(format!("mgmd sent an unexpected reply: {e}"));
    match &args.cmd {
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
        },
        Cmd::Take {
            interface,
            protocol,
        } => println!("{interface}: now owned by {protocol}"),
        Cmd::Release { interface, .. } => println!("{interface}: released"),
        Cmd::Ping => print_ping(&serde_json::from_value::<PingView>(data).map_err(decode)?),
        Cmd::Events => {}
        Cmd::Restart => println!(
            "mgmd restarts onto {}",
            data.get("exe")
                .and_then(|e| e.as_str())
                .unwrap_or("its binary")
        ),
    }
    Ok(())
}

// ===== rendering =====

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

/// The daemon's answer to `ping`.
#[derive(serde::Deserialize)]
struct PingView {
    version: String,
    pid: u32,
    counters: BTreeMap<String, u64>,
}

fn print_ping(p: &PingView) {
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

fn print_protocols(list: &[ProtocolView]) {
    let rows = list
        .iter()
        .map(|p| vec![p.name.clone(), p.interfaces.join(",")])
        .collect();
    table(&["PROTOCOL", "INTERFACES"], rows);
}
