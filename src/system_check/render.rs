//! The report as a person reads it in a terminal: a header, one line per
//! finding (with what it costs and how to fix it below each that is not
//! `ok`), and the verdict.

use std::fmt::Write;

use super::facts::ProbeNamespace;
use super::{Report, Status};

/// The whole report as text, ending with a newline.
pub fn table(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", header(report));
    out.push('\n');
    let labels: Vec<String> = report.findings.iter().map(|f| f.label()).collect();
    let width = labels
        .iter()
        .map(String::len)
        .chain(std::iter::once("CHECK".len()))
        .max()
        .unwrap_or(0);
    let status_width = "missing".len();
    let _ = writeln!(
        out,
        "{:width$}  {:status_width$}  FINDING",
        "CHECK", "STATUS"
    );
    let indent = " ".repeat(width + 2 + status_width + 2);
    for (f, label) in report.findings.iter().zip(&labels) {
        let _ = writeln!(
            out,
            "{label:width$}  {:status_width$}  {}",
            f.status.as_str(),
            f.summary
        );
        if let Some(cost) = &f.cost {
            let _ = writeln!(out, "{indent}cost: {cost}");
        }
        if let Some(fix) = &f.fix {
            let _ = writeln!(out, "{indent}fix:  {fix}");
        }
    }
    out.push('\n');
    let _ = writeln!(out, "{}", verdict(report));
    out
}

/// The kernel and where the probes ran.
fn header(report: &Report) -> String {
    let facts = &report.facts;
    let kernel = facts.kernel_release.as_deref().unwrap_or("unknown");
    let probes = match facts.probe_namespace {
        ProbeNamespace::Scratch => "probes ran in a scratch network namespace".to_owned(),
        ProbeNamespace::Current { unshare } => format!(
            "probes ran in this network namespace (no scratch namespace: unshare: {unshare}), \
             where a free table is taken for an instant and an owned one is left alone"
        ),
    };
    format!("kernel {kernel}; {probes}")
}

/// The last line: the worst status, what it means and the exit status.
fn verdict(report: &Report) -> String {
    let count = |s: Status| report.findings.iter().filter(|f| f.status == s).count();
    let meaning = match report.verdict {
        Status::Ok | Status::Info => {
            let notes = count(Status::Info);
            if notes == 0 {
                "everything mgmd needs is there".to_owned()
            } else {
                format!(
                    "everything mgmd needs is there ({notes} note{})",
                    if notes == 1 { "" } else { "s" }
                )
            }
        }
        Status::Warning => {
            let n = count(Status::Warning);
            format!(
                "mgmd runs, degraded ({n} warning{})",
                if n == 1 { "" } else { "s" }
            )
        }
        Status::Missing => {
            "mgmd cannot start here, or cannot do what the configuration asks".to_owned()
        }
    };
    let word = match report.verdict {
        Status::Info => Status::Ok,
        other => other,
    };
    format!("{word}: {meaning} (exit {})", report.exit_code())
}
