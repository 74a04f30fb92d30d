#!/usr/bin/env bash
# Build the Debian package: target/debian/mgmd_<version>-1_<arch>.deb with
# the binary (mgmd, and mgmctl as a link to it), the systemd units
# (dist/systemd), man pages and shell completions (generated from the clap
# definitions by examples/gen-dist.rs, plus dist/man/mgmd.toml.5), the commented example configuration as the
# conffile /etc/mgmd/mgmd.toml, and a postinst that checks every
# configuration (dist/debian/postinst). Prints the package's path last.
#
# Installs cargo-deb (from crates.io, into ~/.cargo/bin) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO_DEB_VERSION=3.8.0

if ! cargo deb --version >/dev/null 2>&1; then
    echo "== cargo install cargo-deb $CARGO_DEB_VERSION" >&2
    cargo install --locked --quiet cargo-deb --version "$CARGO_DEB_VERSION"
fi

echo "== build (profile dist: release, stripped, without debug info)" >&2
# One binary: the package installs mgmctl as a link to mgmd, which runs
# the control tool when invoked by that name.
cargo build --profile dist --locked --bin mgmd

echo "== man pages and completions" >&2
# The debug profile: the test build has already compiled what it needs.
cargo run --locked --quiet --example gen-dist -- target/assets

echo "== package" >&2
cargo deb --profile dist --no-build --locked
