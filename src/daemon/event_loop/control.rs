//! Control requests, reloads and metrics scrapes: what the loop answers.
//! The views, edits and `take`/`release` are router inputs like any other;
//! the loop adds what only the I/O layer and the kernel know.

use std::collections::BTreeMap;

use tokio::time::Instant;

use crate::core::control::{Answer, Command};
use crate::core::input::Input;
use crate::core::output::Output;
use crate::core::router::Router;
use crate::core::snapshot::fingerprint;
use crate::ctl::proto::{Reply, Request};
use crate::ctl::reply::{CountersReply, InterfaceCounters, LogReply, PingReply};
use crate::daemon::metrics::Snapshot;
use crate::daemon::notify::{Notifier, ServiceStatus};
use crate::daemon::snapshot::SnapshotFile;

use super::kernel::{io_counters, read_kernel_table, refresh_counters, vif_counters};
use super::{Driver, Io, execute};

/// `verify`: the kernel's table against the router's, repaired on request.
pub(super) async fn verify(router: &mut Driver, io: &mut Io, repair: bool) -> Reply {
    match read_kernel_table(router, io).await {
        Ok(kernel) => {
            let command = Command::Verify {
                kernel: Box::new(kernel),
                repair,
            };
            run_command(router, io, command).await
        }
        Err(e) => Reply::err(e),
    }
}

/// Reload the configuration file (SIGHUP, `mgmctl reload`): read it and
/// hand its text to the router, which applies it or refuses it; the
/// service manager hears `RELOADING=1` and `READY=1` around it.
pub(super) async fn reload(
    router: &mut Driver,
    io: &mut Io,
    notifier: &mut Notifier,
    snapshot: &mut SnapshotFile,
) -> Reply {
    notifier.reloading();
    let path = router.config_path.clone();
    let reply = match std::fs::read_to_string(&path) {
        Err(e) => {
            let error = format!("{}: failed to read configuration: {e}", path.display());
            tracing::warn!("reload refused, the running configuration stays: {error}");
            Reply::err(error)
        }
        Ok(text) => {
            let command = Command::Reload {
                path: path.display().to_string(),
                text: text.clone(),
                overrides: router.overrides.clone(),
            };
            let level = router.router.config().global.log_level;
            let reply = run_command(router, io, command).await;
            if matches!(reply, Reply::Ok { .. }) {
                // The next process reads this file: its state is this
                // configuration's from now on.
                snapshot.set_config(fingerprint(&text));
                router.config_text = text;
                let now = router.router.config().global.log_level;
                if now != level {
                    match crate::cli::logging::follow_config(now) {
                        Some(Ok(filter)) => tracing::info!("log filter set to {filter}"),
                        Some(Err(e)) => tracing::warn!("global.log-level: {e}"),
                        None => tracing::info!(
                            "global.log-level is now {}, but --log-level or RUST_LOG chose the \
                             filter; use mgmctl log to change it",
                            now.as_str()
                        ),
                    }
                }
            }
            reply
        }
    };
    notifier.reloaded(Some(&ServiceStatus::of(&router.router).to_string()));
    reply
}

/// Runs one command through the router and carries out what it caused;
/// its answer as a reply.
pub(super) async fn run_command(router: &mut Driver, io: &mut Io, command: Command) -> Reply {
    match ask(router, io, command).await {
        Ok(answer) => Reply::encode(&answer),
        Err(reply) => reply,
    }
}

/// Answer one control request. The views and `take`/`release` are
/// router inputs like any other; `ping` and `show counters` add what the
/// I/O layer counts; `log` changes the log filter, in the daemon alone.
pub(super) async fn answer(router: &mut Driver, io: &mut Io, request: Request) -> Reply {
    let command = match request {
        Request::Ping => return ping(router, io).await,
        Request::ShowCounters { interface } => return show_counters(router, io, interface).await,
        Request::Log { level, target } => return set_log_level(&level, target.as_deref()),
        Request::ShowInterfaces => Command::ShowInterfaces,
        Request::ShowGroups => Command::ShowGroups,
        Request::ShowRoutes => {
            // The kernel's counters as they are now, not as last polled:
            // an input of their own, so a replay shows the same.
            refresh_counters(router, io).await;
            Command::ShowRoutes
        }
        Request::ShowProtocols => Command::ShowProtocols,
        Request::Verify { repair } => return verify(router, io, repair).await,
        Request::Take {
            interface,
            protocol,
        } => Command::Take {
            interface,
            protocol,
        },
        Request::Release {
            interface,
            protocol,
        } => Command::Release {
            interface,
            protocol,
        },
        Request::Edit { protocol, edit } => Command::Edit { protocol, edit },
        Request::ShowConfig => {
            return match ask(router, io, Command::ShowConfig).await {
                Ok(answer) => match serde_json::to_value(&answer) {
                    Ok(mut data) => {
                        // With the file as it was read: the router runs on it.
                        if let Some(m) = data.as_object_mut() {
                            m.insert(
                                "path".into(),
                                router.config_path.display().to_string().into(),
                            );
                            m.insert("text".into(), router.config_text.clone().into());
                        }
                        Reply::ok(data)
                    }
                    Err(e) => Reply::err(format!("failed to encode the reply: {e}")),
                },
                Err(reply) => reply,
            };
        }
        // Handled by the event loop and the connection task.
        Request::Reload => return Reply::err("reload is handled by the event loop"),
        Request::Events => return Reply::err("events is a streaming request"),
        // Handled by the loop (it ends this process).
        Request::Restart => return Reply::err("restart is handled by the event loop"),
    };
    run_command(router, io, command).await
}

/// One command through the router; its answer, or the error reply.
pub(super) async fn ask(
    router: &mut Driver,
    io: &mut Io,
    command: Command,
) -> Result<Answer, Reply> {
    let mut outputs = router.step(vec![Input::Command(command)]);
    let answer = outputs.iter().rposition(|o| matches!(o, Output::Reply(_)));
    let answer = answer.map(|i| outputs.remove(i));
    execute(router, io, outputs).await;
    match answer {
        Some(Output::Reply(Ok(a))) => Ok(a),
        Some(Output::Reply(Err(e))) => Err(Reply::err(e)),
        _ => Err(Reply::err("mgmd did not answer the request")),
    }
}

/// `ping`: version, pid, and the router's and the I/O layer's counters.
pub(super) async fn ping(router: &mut Driver, io: &mut Io) -> Reply {
    let counters = match ask(router, io, Command::ShowCounters).await {
        Ok(Answer::Counters(c)) => *c,
        Ok(_) => return Reply::err("mgmd answered ping with something else"),
        Err(reply) => return reply,
    };
    let mut map: BTreeMap<String, u64> =
        match serde_json::to_value(counters).and_then(serde_json::from_value) {
            Ok(m) => m,
            Err(e) => return Reply::err(format!("failed to encode the reply: {e}")),
        };
    map.extend(
        io_counters(io)
            .entries()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v)),
    );
    Reply::encode(&PingReply {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        pid: std::process::id(),
        counters: map,
    })
}

/// `show counters [IFACE]`: the router's view with the I/O layer's
/// counters and each VIF's kernel counters.
pub(super) async fn show_counters(
    router: &mut Driver,
    io: &mut Io,
    interface: Option<String>,
) -> Reply {
    let view = match ask(router, io, Command::ShowAllCounters { interface }).await {
        Ok(Answer::AllCounters(v)) => *v,
        Ok(_) => return Reply::err("mgmd answered show counters with something else"),
        Err(reply) => return reply,
    };
    let interfaces = view
        .interfaces
        .into_iter()
        .map(|view| InterfaceCounters {
            forwarded: view.vif.and_then(|v| vif_counters(io, v)),
            view,
        })
        .collect();
    Reply::encode(&CountersReply {
        router: view.router,
        io: io_counters(io),
        interfaces,
    })
}

/// `log LEVEL [TARGET]`: the daemon's own business, not the router's.
pub(super) fn set_log_level(level: &str, target: Option<&str>) -> Reply {
    match crate::cli::logging::set_level(level, target) {
        Ok(filter) => {
            tracing::info!("log filter set to {filter}");
            Reply::encode(&LogReply { filter })
        }
        Err(e) => Reply::err(e.to_string()),
    }
}

/// What one scrape exports: the router's view (read, not an input) and
/// what the I/O layer and the kernel count.
pub(super) fn metrics_snapshot(router: &Router, io: &mut Io) -> Snapshot {
    let view = router.metrics(Instant::now().into_std());
    let forwarded = view
        .counters
        .interfaces
        .iter()
        .filter_map(|i| {
            let c = vif_counters(io, i.vif?)?;
            Some((i.interface.clone(), c))
        })
        .collect();
    Snapshot {
        router: view,
        io: io_counters(io),
        forwarded,
    }
}
