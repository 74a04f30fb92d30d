//! Golden scenarios: `tests/scenarios/<name>/input.jsonl` is a recording of
//! mgmd's core in a real namespace run (made with `scripts/record-scenario.sh`:
//! the configuration, then every input with its time); the test runs the real
//! router on it and compares every step's outputs with
//! `tests/scenarios/<name>/expected.jsonl`, byte for byte. After a change
//! that is meant to change outputs, `UPDATE_GOLDEN=1 cargo test --test
//! scenarios` writes the new expectations; review their diff.
//!
//! The same recordings prove the core deterministic: `mgmd replay` run
//! twice, in two processes (two hash seeds), prints the same bytes.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use mgmd::core::protocol::registry::Registry;

fn scenarios() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("input.jsonl").is_file())
        .collect();
    v.sort();
    v
}

/// Each step's outputs, one JSON line per step (`mgmd replay --json`).
fn replay(input: &Path) -> String {
    common::replay_outputs(&Registry::default(), input)
}

#[test]
fn every_scenario_gives_its_expected_outputs() {
    let all = scenarios();
    assert!(all.len() >= 6, "scenarios missing: {all:?}");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for dir in all {
        let got = replay(&dir.join("input.jsonl"));
        let expected_path = dir.join("expected.jsonl");
        if update {
            std::fs::write(&expected_path, &got).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (write it with UPDATE_GOLDEN=1 cargo test --test scenarios)",
                expected_path.display()
            )
        });
        for (i, (g, e)) in got.lines().zip(expected.lines()).enumerate() {
            assert_eq!(
                g,
                e,
                "{}: step {} differs from expected.jsonl",
                dir.display(),
                i + 1
            );
        }
        assert_eq!(
            got.lines().count(),
            expected.lines().count(),
            "{}: number of steps",
            dir.display()
        );
    }
}

#[test]
fn replays_in_two_processes_are_identical() {
    let mgmd = env!("CARGO_BIN_EXE_mgmd");
    for dir in scenarios() {
        let input = dir.join("input.jsonl");
        let run = || {
            let out = Command::new(mgmd)
                .args(["replay", "--json"])
                .arg(&input)
                .output()
                .expect("run mgmd replay");
            assert!(
                out.status.success(),
                "{}: {}",
                input.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            out.stdout
        };
        let (a, b) = (run(), run());
        assert!(!a.is_empty(), "{}: nothing replayed", input.display());
        assert!(a == b, "{}: two replays differ", input.display());
        // And both are what this process computes.
        assert_eq!(
            String::from_utf8_lossy(&a),
            replay(&input),
            "{}",
            input.display()
        );
    }
}
