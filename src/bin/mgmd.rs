//! mgmd, the multicast group manager daemon: parses the command line,
//! loads the configuration, sets up logging and runs the daemon. Invoked
//! as `mgmctl` (the package's link to it), it is the control tool.

use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;

use clap::Parser;

use mgmd::cli::logging::{self, Stderr};
use mgmd::cli::mgmd::{Args, EX_CONFIG, EX_USAGE, Sub};
use mgmd::cli::{detach, mgmd::EX_OSERR};
use mgmd::config::{Config, LogLevel};

fn main() -> ExitCode {
    // The package installs mgmctl as a link to this program.
    if mgmd::cli::invoked_as("mgmctl") {
        return mgmd::cli::mgmctl::main();
    }
    // First, while this is the only thread: a routing socket handed over
    // by the previous mgmd (its variables leave the environment).
    let inherited_mrt = match mgmd::daemon::handover::inherited_socket() {
        Ok(fd) => fd,
        Err(e) => {
            eprintln!("mgmd: ignoring a handed-over socket: {e}");
            None
        }
    };
    let self_exec = mgmd::daemon::handover::SelfExec::current();
    // Large buffers (replies, batches) go back to the kernel when freed.
    mgmd::io::sys::tune_heap();
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) => {
            // --help and --version are not errors.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EX_USAGE } else { 0 });
        }
    };
    match &args.command {
        Some(Sub::Replay {
            file,
            verify,
            json,
            kernel_trace,
        }) => return replay(file, *verify, *json, kernel_trace.as_deref()),
        Some(Sub::CheckSystem { config, json }) => {
            return ExitCode::from(mgmd::cli::check_system::run(config, *json));
        }
        None => {}
    }

    let (mut config, config_text) = match mgmd::cli::config_file::load_with_text(&args.config) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(if args.check { 1 } else { EX_CONFIG });
        }
    };
    if args.check {
        for w in &config.warnings {
            eprintln!("{w}");
        }
        // What this system lacks does not make the file invalid: said, and
        // the status stays the file's.
        for line in mgmd::cli::check_system::check_warnings(&args.config, &config) {
            eprintln!("{line}");
        }
        println!("{}: configuration OK", args.config.display());
        return ExitCode::SUCCESS;
    }
    if args.detach && !args.detached_child {
        return ExitCode::from(detach::start_in_background(std::env::args_os().skip(1)));
    }
    let config_path = match std::path::absolute(&args.config) {
        Ok(path) => path,
        Err(e) => {
            eprintln!("mgmd: {}: {e}", args.config.display());
            return ExitCode::from(EX_CONFIG);
        }
    };
    // Before a detached daemon leaves the working directory.
    let record = match args.record.as_deref().map(std::path::absolute).transpose() {
        Ok(path) => path,
        Err(e) => {
            eprintln!("mgmd: --record: {e}");
            return ExitCode::from(EX_CONFIG);
        }
    };
    if args.detached_child {
        // Leave the caller's session and working directory behind.
        if let Err(e) = nix::unistd::setsid().and_then(|_| nix::unistd::chdir("/")) {
            eprintln!("mgmd: failed to detach: {e}");
            return ExitCode::from(EX_OSERR);
        }
    }

    let overrides = mgmd::config::Overrides {
        control_socket: args.control_socket.clone(),
        pid_file: args.pid_file.clone(),
    };
    overrides.apply(&mut config);
    let level = args
        .log_level
        .map_or(config.global.log_level, LogLevel::from);
    logging::init(
        level,
        logging::select(args.log_format, args.detach, Stderr::probe()),
        args.log_level.is_none(),
    );
    for w in &config.warnings {
        tracing::warn!("{w}");
    }

    // Under systemd (which names each invocation; version 254 and later
    // also announce the store's size), not in the background.
    let env = |k| std::env::var(k).ok();
    let fd_store = !args.detached_child
        && (env("FDSTORE").is_some_and(|n| n.parse::<u32>().is_ok_and(|n| n > 0))
            || env("INVOCATION_ID").is_some());
    let opts = mgmd::daemon::Options {
        config_path,
        config_text,
        overrides,
        record,
        inherited_mrt,
        self_exec,
        fd_store,
    };
    run(config, opts)
}

/// Runs the daemon until it is told to stop.
fn run(config: Config, opts: mgmd::daemon::Options) -> ExitCode {
    match mgmd::daemon::run(config, opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            // With -d nobody may read this any more; that is fine.
            let _ = writeln!(io::stderr(), "mgmd: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

// ===== replay =====

/// `mgmd replay FILE`: prints every step's outputs, or checks them.
fn replay(path: &Path, verify: bool, json: bool, kernel_trace: Option<&Path>) -> ExitCode {
    let open = |path: &Path| {
        std::fs::File::open(path)
            .map(io::BufReader::new)
            .map_err(|e| eprintln!("mgmd: {}: {e}", path.display()))
    };
    let Ok(file) = open(path) else {
        return ExitCode::FAILURE;
    };
    let mut check = match kernel_trace {
        None => None,
        Some(t) => {
            let Ok(reader) = open(t) else {
                return ExitCode::FAILURE;
            };
            match mgmd::record::trace::read(t, reader) {
                Ok(runs) => Some(mgmd::record::trace::Check::new(t, runs)),
                Err(e) => {
                    eprintln!("mgmd: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let result = mgmd::record::replay(path, file, |step| {
        if let Some(check) = check.as_mut() {
            check.step(step)?;
        }
        if verify {
            if let Some(difference) = mgmd::record::difference(step) {
                return Err(mgmd::record::RecordError::Differs {
                    path: path.display().to_string(),
                    line: step.line,
                    step: step.step,
                    difference,
                });
            }
        }
        print_step(&mut out, step, json).map_err(|source| mgmd::record::RecordError::Io {
            path: "stdout".into(),
            source,
        })
    });
    let _ = out.flush();
    let result = result.and_then(|summary| {
        let Some(check) = check else {
            return Ok((summary, None));
        };
        check.finish(summary.runs).map(|c| (summary, Some(c)))
    });
    match result {
        Ok((summary, checked)) => {
            if verify {
                eprintln!(
                    "{}: {} steps replayed, every output as recorded",
                    path.display(),
                    summary.steps
                );
            }
            if let (Some(t), Some(c)) = (kernel_trace, checked) {
                eprintln!(
                    "{}: {} run(s), {} kernel action(s) ({} refused or skipped) as the router \
                     asked for them{}{}",
                    t.display(),
                    c.runs,
                    c.actions,
                    c.refusals,
                    if c.cut_off > 0 {
                        format!(
                            "; {} run(s) cut off, {} action(s) never reached the writer",
                            c.cut_off, c.not_reached
                        )
                    } else {
                        String::new()
                    },
                    if c.unheard > 0 {
                        format!(
                            "; {} refusal(s) came after the daemon stopped listening",
                            c.unheard
                        )
                    } else {
                        String::new()
                    }
                );
            }
            if summary.cut_short {
                eprintln!(
                    "{}: the last line is cut short (written in part); it was left out",
                    path.display()
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mgmd: {e}");
            ExitCode::FAILURE
        }
    }
}

fn print_step(out: &mut impl Write, step: &mgmd::record::Replayed, json: bool) -> io::Result<()> {
    use mgmd::core::output::Output;
    if json {
        let line = serde_json::json!({ "t-ns": step.t_ns, "out": step.outputs });
        return writeln!(out, "{line}");
    }
    let t = step.t_ns as f64 / 1e9;
    for o in &step.outputs {
        match o {
            Output::Event(e) => writeln!(out, "{t:12.6} {:<9} {e}", e.kind())?,
            other => writeln!(
                out,
                "{t:12.6} {:<9} {}",
                "output",
                serde_json::to_string(other).unwrap_or_default()
            )?,
        }
    }
    Ok(())
}
