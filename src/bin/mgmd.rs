//! mgmd, the multicast group manager daemon: parses the command line,
//! loads the configuration, sets up logging and runs the daemon.

use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;

use clap::Parser;

use mgmd::cli::logging::{self, Stderr};
use mgmd::cli::mgmd::{Args, EX_CONFIG};
use mgmd::cli::{detach, mgmd::EX_OSERR};
use mgmd::config::{Config, LogLevel};

fn main() -> ExitCode {
    let args = Args::parse();

    let mut config = match Config::load(&args.config) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(if args.check { 1 } else { EX_CONFIG });
        }
    };
    if args.check {
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
    if args.detached_child {
        // Leave the caller's session and working directory behind.
        if let Err(e) = nix::unistd::setsid().and_then(|_| nix::unistd::chdir("/")) {
            eprintln!("mgmd: failed to detach: {e}");
            return ExitCode::from(EX_OSERR);
        }
    }

    if let Some(path) = &args.control_socket {
        config.global.control_socket = path.clone();
    }
    if let Some(path) = &args.pid_file {
        config.global.pid_file = path.clone();
    }
    let level = args
        .log_level
        .map_or(config.global.log_level, LogLevel::from);
    logging::init(
        level,
        logging::select(args.log_format, args.detach, Stderr::probe()),
    );

    run(config, &config_path)
}

/// Runs the daemon until it is told to stop.
fn run(config: Config, config_path: &Path) -> ExitCode {
    match mgmd::daemon::run(config, config_path.to_path_buf()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            // With -d nobody may read this any more; that is fine.
            let _ = writeln!(io::stderr(), "mgmd: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
