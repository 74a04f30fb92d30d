//! What the package ships beside the binaries stays true to the code:
//! `mgmd.toml(5)` describes every configuration key the parser accepts and
//! no other; the units start the installed binaries; mgmctl is mgmd by
//! another name.

use std::collections::BTreeSet;

use mgmd::config::Config;
use mgmd::core::protocol::registry::PROTOCOLS;

const MAN_PAGE: &str = include_str!("../dist/man/mgmd.toml.5");

/// Each built-in table of the file, as a snippet that reaches it, plus a
/// key it does not accept: the parser's refusal lists the keys it does
/// accept. (The protocols' tables come from their own definitions.)
const PROBES: &[(&str, &str)] = &[
    ("top level", "zz-unknown = 1\n"),
    ("[global]", "[global]\nzz-unknown = 1\n"),
    ("[igmp]", "[igmp]\nzz-unknown = 1\n"),
    (
        "[[interface]]",
        "[[interface]]\nname = \"eth0\"\nzz-unknown = 1\n",
    ),
];

/// The keys the parser accepts in one table.
fn accepted_keys(what: &str, snippet: &str) -> Vec<String> {
    let e = Config::parse(snippet, "probe.toml")
        .err()
        .unwrap_or_else(|| panic!("{what}: an unknown key was accepted"));
    let msg = e.to_string();
    let list = msg
        .split_once("allowed keys: ")
        .or_else(|| msg.split_once("allowed key: "))
        .unwrap_or_else(|| panic!("{what}: no list of keys in {msg:?}"))
        .1;
    list.split(", ")
        .map(|k| k.trim().trim_matches('`').to_owned())
        .collect()
}

/// Keys as the page sets them in bold (`\fBkey\fR`, with `\-` for `-`).
fn bold_words(page: &str) -> BTreeSet<String> {
    page.split("\\fB")
        .skip(1)
        .filter_map(|s| s.split_once("\\fR").map(|(w, _)| w.replace("\\-", "-")))
        .collect()
}

/// The keys the page describes: the first word of each `.TP` entry.
fn described_keys(page: &str) -> BTreeSet<String> {
    let lines: Vec<&str> = page.lines().collect();
    lines
        .windows(2)
        .filter(|w| w[0] == ".TP")
        .filter_map(|w| w[1].strip_prefix("\\fB"))
        .filter_map(|s| s.split_once("\\fR").map(|(w, _)| w.replace("\\-", "-")))
        .collect()
}

#[test]
fn the_config_man_page_describes_every_key() {
    let bold = bold_words(MAN_PAGE);
    let mut all = BTreeSet::new();
    for (what, snippet) in PROBES {
        let keys = accepted_keys(what, snippet);
        assert!(!keys.is_empty(), "{what}: no keys");
        for key in keys {
            let as_table = [format!("[{key}]"), format!("[[{key}]]")];
            assert!(
                bold.contains(&key) || as_table.iter().any(|t| MAN_PAGE.contains(t.as_str())),
                "{what}: key `{key}` is missing from dist/man/mgmd.toml.5"
            );
            all.insert(key);
        }
    }
    // Every table of every registered protocol, as the protocol defines it.
    for kind in PROTOCOLS {
        for t in (kind.keys)() {
            for &key in t.keys {
                let table = &t.table;
                let as_table = [format!("[{table}.{key}]"), format!("[[{table}.{key}]]")];
                assert!(
                    bold.contains(key) || as_table.iter().any(|t| MAN_PAGE.contains(t.as_str())),
                    "[{table}]: key `{key}` is missing from dist/man/mgmd.toml.5"
                );
                all.insert(key.to_owned());
            }
        }
    }
    // And nothing the parser would refuse is described as a key.
    for key in described_keys(MAN_PAGE) {
        assert!(
            all.contains(&key),
            "dist/man/mgmd.toml.5 describes `{key}`, which no table accepts"
        );
    }
    // The probes reached the tables they meant to.
    for key in ["control-socket", "robustness", "name", "immediate-leave"] {
        assert!(all.contains(key), "{key} not probed");
    }
}

#[test]
fn the_man_page_example_is_a_valid_configuration() {
    let example = MAN_PAGE
        .split_once(".SH EXAMPLE\n.nf\n")
        .and_then(|(_, rest)| rest.split_once(".fi\n"))
        .expect("an EXAMPLE section in .nf/.fi")
        .0
        .replace("\\-", "-");
    if let Err(e) = Config::parse(&example, "mgmd.toml.5") {
        panic!("the example in mgmd.toml(5) does not validate: {e}");
    }
}

#[test]
fn the_units_start_the_packaged_binary_with_the_packaged_config() {
    let cargo = include_str!("../Cargo.toml");
    assert!(
        cargo.contains("\"usr/sbin/\""),
        "the package installs the binaries in /usr/sbin"
    );
    assert!(cargo.contains("\"etc/mgmd/mgmd.toml\""));
    for (unit, config) in [
        (
            include_str!("../dist/systemd/mgmd.service"),
            "/etc/mgmd/mgmd.toml",
        ),
        (
            include_str!("../dist/systemd/mgmd@.service"),
            "/etc/mgmd/%i.toml",
        ),
    ] {
        let exec = unit
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart="))
            .expect("an ExecStart= line");
        assert!(exec.starts_with("/usr/sbin/mgmd "), "{exec}");
        assert!(exec.contains(&format!("-c {config}")), "{exec}");
        assert!(unit.contains("\nType=notify\n"));
        // systemctl reload waits for the outcome, on the same file.
        assert!(unit.contains(&format!(
            "\nExecReload=/usr/sbin/mgmctl -c {config} reload\n"
        )));
    }
}

/// The package ships one program: `mgmctl` is a link to `mgmd`, which is
/// the control tool when invoked by that name, the same as the
/// development binary `mgmctl`.
#[test]
fn mgmd_invoked_as_mgmctl_is_mgmctl() {
    let cargo = include_str!("../Cargo.toml");
    assert!(cargo.contains(r#"{ dest = "usr/sbin/mgmctl", link_name = "mgmd" }"#));
    let dir = tempfile::tempdir().expect("a scratch directory");
    let link = dir.path().join("mgmctl");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_mgmd"), &link).expect("a symlink");
    let socket = dir.path().join("none.sock");
    let socket = socket.to_str().expect("a UTF-8 path");
    for args in [
        &["--version"][..],
        &["--help"],
        &["-s", socket, "ping"],
        &["--json", "-s", socket, "show", "groups"],
        &["show", "nothing"],
    ] {
        let run = |program: &std::path::Path| {
            std::process::Command::new(program)
                .args(args)
                .output()
                .expect("runs")
        };
        let linked = run(&link);
        let built = run(env!("CARGO_BIN_EXE_mgmctl").as_ref());
        assert_eq!(linked.status.code(), built.status.code(), "{args:?}");
        assert_eq!(linked.stdout, built.stdout, "{args:?}");
        assert_eq!(linked.stderr, built.stderr, "{args:?}");
    }
    let version = std::process::Command::new(&link)
        .arg("--version")
        .output()
        .expect("runs");
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("mgmctl "));
}
