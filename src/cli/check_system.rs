//! `mgmd check-system`, and the system checks `mgmd --check` adds to its
//! own: read the configuration, gather the facts, evaluate, print.

use std::io::{self, Write};
use std::path::Path;

use crate::config::{Config, default_pid_file};
use crate::system_check::{self, Report, render};

/// The report for the configuration at `path`, as read (or why it could
/// not be: the checks that depend on it then assume the defaults).
pub fn report(path: &Path, config: Result<&Config, &str>) -> Report {
    let (table, interfaces, pid_file) = match config {
        Ok(c) => (
            c.global.table,
            c.interfaces.iter().map(|i| i.name.clone()).collect(),
            c.global.pid_file.clone(),
        ),
        Err(_) => (None, Vec::new(), default_pid_file(None)),
    };
    let facts = crate::io::system::collect(table, &interfaces, &pid_file);
    let findings = system_check::evaluate(&facts, path, config);
    Report::new(findings, facts)
}

/// `mgmd check-system`: prints the report (a table, or JSON) and returns
/// the exit status.
pub fn run(path: &Path, json: bool) -> u8 {
    let loaded = super::config_file::load(path);
    let error = loaded.as_ref().err().map(ToString::to_string);
    let config = match (&loaded, &error) {
        (Ok(c), _) => Ok(c),
        (Err(_), e) => Err(e.as_deref().unwrap_or_default()),
    };
    let report = report(path, config);
    let text = if json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => s + "\n",
            Err(e) => format!("{}\n", serde_json::json!({ "error": e.to_string() })),
        }
    } else {
        render::table(&report)
    };
    // A closed pipe (`| head`) is not the system's fault.
    let _ = io::stdout().lock().write_all(text.as_bytes());
    report.exit_code()
}

/// The lines `mgmd --check` adds to standard error: one per finding that
/// is a warning or missing, and where to read more. Empty when there is
/// none.
pub fn check_warnings(path: &Path, config: &Config) -> Vec<String> {
    let report = report(path, Ok(config));
    let mut lines: Vec<String> = report
        .problems()
        .map(|f| format!("mgmd: system: {}", f.one_line()))
        .collect();
    if !lines.is_empty() {
        lines.push(format!(
            "mgmd: `mgmd check-system -c {}` says how to fix these (they do not make the \
             configuration invalid)",
            path.display()
        ));
    }
    lines
}
