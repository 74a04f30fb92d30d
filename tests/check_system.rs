//! `mgmd check-system` and `mgmd --check` run for real on this machine:
//! the verdict on IPv4 multicast routing agrees with the kernel's own sign
//! of it (`/proc/net/ip_mr_vif`, which exists exactly when the kernel has
//! `CONFIG_IP_MROUTE`), and the exit status agrees with the verdict.
//! Correct on either kind of host, as root or not: without CAP_NET_RAW the
//! probe cannot open its socket, and the finding must say so.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

// ===== helpers =====

fn mgmd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mgmd"))
        .args(args)
        .output()
        .expect("run mgmd")
}

/// A valid configuration naming only `lo`, which every namespace has.
fn config() -> tempfile::NamedTempFile {
    let f = tempfile::Builder::new()
        .suffix(".toml")
        .tempfile()
        .expect("temporary file");
    std::fs::write(f.path(), "[[interface]]\nname = \"lo\"\n").expect("write the configuration");
    f
}

fn check_system_json(config: &Path) -> (Value, i32) {
    let out = mgmd(&["check-system", "-c", config.to_str().unwrap(), "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (report, out.status.code().expect("an exit status"))
}

fn finding<'a>(report: &'a Value, check: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["check"] == check)
        .unwrap_or_else(|| panic!("no {check} finding in {report:#}"))
}

fn has_multicast_routing() -> bool {
    Path::new("/proc/net/ip_mr_vif").exists()
}

/// The exit status the verdict calls for.
fn status_for(verdict: &str) -> i32 {
    match verdict {
        "ok" | "info" => 0,
        "warning" => 2,
        "missing" => 1,
        other => panic!("unknown verdict {other}"),
    }
}

// ===== tests =====

#[test]
fn the_ipv4_verdict_agrees_with_the_kernel() {
    let cfg = config();
    let (report, code) = check_system_json(cfg.path());
    let ipv4 = finding(&report, "ipv4-multicast-routing");
    let summary = ipv4["summary"].as_str().unwrap();
    if has_multicast_routing() {
        assert_eq!(ipv4["status"], "ok", "{ipv4:#}");
    } else {
        assert_eq!(ipv4["status"], "missing", "{ipv4:#}");
        assert!(summary.contains("CONFIG_IP_MROUTE"), "{summary}");
        assert!(ipv4["cost"].as_str().unwrap().contains("mgmd cannot start"));
        assert_eq!(report["verdict"], "missing");
        assert_eq!(code, 1, "{report:#}");
    }
    // The probe itself: run, refused for want of privileges (and said
    // so), or met a table another process owns.
    let probe = &report["facts"]["ipv4"];
    match probe["failed"]["errno"].as_str() {
        None => assert_eq!(probe, "ok"),
        Some("EPERM" | "EACCES") => {
            assert!(summary.contains("permission denied"), "{summary}");
            assert!(summary.contains("ip_mr_vif"), "{summary}");
        }
        Some("ENOPROTOOPT") => assert!(!has_multicast_routing()),
        Some("EADDRINUSE") => assert!(has_multicast_routing()),
        Some(other) => panic!("unexpected errno {other} in {report:#}"),
    }
    assert_eq!(report["facts"]["ip-mr-vif"], has_multicast_routing());
    // The exit status is the verdict's.
    assert_eq!(report["exit-status"], code);
    assert_eq!(code, status_for(report["verdict"].as_str().unwrap()));
    // `lo` is there; its rp_filter was read.
    let lo = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "interface" && f["subject"] == "lo")
        .expect("a finding for lo");
    assert_ne!(
        lo["summary"],
        "configured but not present in this network namespace"
    );
}

#[test]
fn the_table_says_the_same_as_the_json() {
    let cfg = config();
    let (report, code) = check_system_json(cfg.path());
    let out = mgmd(&["check-system", "-c", cfg.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(code));
    let text = String::from_utf8(out.stdout).unwrap();
    let status = finding(&report, "ipv4-multicast-routing")["status"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        text.lines()
            .any(|l| l.starts_with("IPv4 multicast routing") && l.contains(&format!(" {status} "))),
        "{text}"
    );
    let last = text.lines().last().unwrap();
    assert!(last.ends_with(&format!("(exit {code})")), "{last}");
}

#[test]
fn an_unreadable_configuration_still_checks_the_system() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent.toml");
    let (report, code) = check_system_json(&missing);
    let cfg = finding(&report, "configuration");
    assert_eq!(cfg["status"], "warning");
    assert!(
        cfg["summary"]
            .as_str()
            .unwrap()
            .contains("failed to read configuration")
    );
    let ipv4 = finding(&report, "ipv4-multicast-routing");
    assert_eq!(ipv4["status"] == "missing", !has_multicast_routing());
    assert_eq!(code, status_for(report["verdict"].as_str().unwrap()));
    assert_ne!(
        code, 0,
        "a configuration that cannot be read is at least a warning"
    );
}

#[test]
fn the_config_check_reports_the_system_but_keeps_its_status() {
    let cfg = config();
    let out = mgmd(&["--check", "-c", cfg.path().to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).ends_with(": configuration OK\n"));
    if !has_multicast_routing() {
        assert!(
            stderr.contains("mgmd: system: IPv4 multicast routing: missing:"),
            "{stderr}"
        );
        assert!(stderr.contains("mgmd check-system -c"), "{stderr}");
    }
    // An invalid file is still 1, system or not.
    std::fs::write(cfg.path(), "[global]\ntable = 0\n").unwrap();
    let out = mgmd(&["--check", "-c", cfg.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("mgmd: system:"));
}

#[test]
fn bad_usage_is_not_mistaken_for_warnings() {
    for args in [
        &["check-system", "--no-such-option"][..],
        &["check-sytsem"][..],
        &["--no-such-option"][..],
    ] {
        let out = mgmd(args);
        assert_eq!(out.status.code(), Some(64), "mgmd {}", args.join(" "));
    }
    let out = mgmd(&["check-system", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.contains("EXIT STATUS"), "{help}");
}
