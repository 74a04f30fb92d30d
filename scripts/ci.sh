#!/usr/bin/env bash
# The project's one test command: formatting, lints, unit/integration
# tests, then the network-namespace tests (root only).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --locked --all-targets

echo "== fuzz (a short run of each target)"
scripts/fuzz.sh --ci

if [ -x netns-tests/run.sh ]; then
    echo "== netns tests"
    cargo build --locked --bins
    netns-tests/run.sh
fi
