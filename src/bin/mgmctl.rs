//! mgmctl: the control tool for mgmd. Tables for people, `--json` for
//! scripts.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mgmd::core::status::{GroupView, InterfaceView, ProtocolView, RouteView};
use mgmd::ctl::{Client, Request};

/// Control and inspect a running mgmd.
#[derive(Parser, Debug)]
#[command(name = "mgmctl", version, about, long_about = None)]
struct Args {
    /// The daemon's control socket [default: /run/mgmd/mgmd.sock, or
    /// /run/mgmd/mgmd-N.sock with --table N].
    #[arg(short = 's', long, conflicts_with = "table")]
    socket: Option<PathBuf>,
    /// Talk to the mgmd running on multicast routing table N (its default
    /// control socket).
    #[arg(short = 't', long, value_name = "N")]
    table: Option<u32>,
    /// Print JSON instead of tables (errors as {"error": "..."}).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Show mgmd's state.
    Show {
        #[command(subcommand)]
        what: Show,
    },
    /// Give an interface's multicast to a routing protocol (runs the
    /// IGMP disable/enable sequence).
    Take { interface: String, protocol: String },
    /// Give an interface back to IGMP alone (runs the sequence).
    Release { interface: String, protocol: String },
    /// Stream ownership steps, membership and forwarding changes live.
    Events,
    /// Check that mgmd answers; prints its version and counters.
    Ping,
}

#[derive(Subcommand, Debug)]
enum Show {
    /// Interfaces, owners, IGMP and querier state.
    Interfaces,
    /// Groups and sources learned by IGMP, per interface.
    Groups,
    /// Forwarding entries with their counters.
    Routes,
    /// Routing protocols and the interfaces they own.
    Protocols,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if args.json {
                println!("{}", serde_json::json!({ "error": e }));
            } else {
                eprintln!("mgmctl: {e}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let socket = args
        .socket
        .clone()
        .unwrap_or_else(|| mgmd::config::default_control_socket(args.table));
    let mut client = Client::connect(&socket).map_err(|e| e.to_string())?;
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
                .map_err(|e| e.to_string());
        }
        Cmd::Ping => Request::Ping,
    };
    let data = client.request(request).map_err(|e| e.to_string())?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&data).unwrap_or_default()
        );
        return Ok(());
    }
    let decode = |e: serde_json::Error| format!("mgmd sent an unexpected reply: {e}");
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
        _ => println!(
            "{}",
            serde_json::to_string_pretty(&data).unwrap_or_default()
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

fn print_protocols(list: &[ProtocolView]) {
    let rows = list
        .iter()
        .map(|p| vec![p.name.clone(), p.interfaces.join(",")])
        .collect();
    table(&["PROTOCOL", "INTERFACES"], rows);
}

// ===== tests =====

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_follows_the_table_unless_named() {
        let a = Args::try_parse_from(["mgmctl", "-t", "10", "ping"]).unwrap();
        assert_eq!((a.socket, a.table), (None, Some(10)));
        let a = Args::try_parse_from(["mgmctl", "-s", "/run/x.sock", "ping"]).unwrap();
        assert_eq!(a.socket, Some(PathBuf::from("/run/x.sock")));
        assert!(Args::try_parse_from(["mgmctl", "-s", "/run/x.sock", "-t", "10", "ping"]).is_err());
    }
}
