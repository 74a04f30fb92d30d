#!/usr/bin/env bash
# The project's one test command: formatting, lints, unit/integration
# tests, then the network-namespace tests and a two-minute soak (root
# only) while the Debian package is built (as root also installed, checked
# and removed) and every fuzz target runs briefly.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --tests

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== docs: relative links and anchors"
python3 scripts/check-docs.py

echo "== cargo clippy"
cargo clippy --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --locked --all-targets

# The package and the fuzz run need no network namespace and mostly use
# the CPU; the namespace tests mostly wait for protocol timers. So the
# former run in the background, side by side (the package's last step,
# one LTO code generation unit, keeps a single core busy) and at the lowest
# priority, while the latter run; their output follows once all are done.
package_check() {
    echo "== package"
    pkg_start=$SECONDS
    deb=$(scripts/package.sh | tail -n 1)
    echo "built $deb"
    echo "== systemd units: exposure (at most 2.0; the README records it)"
    if command -v systemd-analyze >/dev/null; then
        for unit in dist/systemd/mgmd.service dist/systemd/mgmd@.service; do
            systemd-analyze security --offline=yes --threshold=20 "$unit" | tail -n 1
        done
    fi
    if [ "$(id -u)" = 0 ] && command -v dpkg >/dev/null && command -v systemd-analyze >/dev/null &&
        ! dpkg -s mgmd >/dev/null 2>&1; then
        echo "== install the package, run it from the installed paths, remove it"
        trap 'dpkg --purge mgmd >/dev/null 2>&1 || true' EXIT
        dpkg -i "$deb" >/dev/null
        /usr/sbin/mgmd --version
        /usr/sbin/mgmd --check
        /usr/sbin/mgmctl --version
        man_check=--man=yes
        command -v man >/dev/null || man_check=--man=no
        systemd-analyze verify "$man_check" /usr/lib/systemd/system/mgmd.service
        systemd-analyze verify "$man_check" /usr/lib/systemd/system/mgmd@.service
        for f in /usr/share/man/man8/mgmd.8.gz /usr/share/man/man8/mgmctl.8.gz \
            /usr/share/man/man5/mgmd.toml.5.gz /usr/share/bash-completion/completions/mgmctl \
            /usr/share/zsh/vendor-completions/_mgmctl /usr/share/fish/vendor_completions.d/mgmctl.fish \
            /usr/share/doc/mgmd/README.md /usr/share/doc/mgmd/docs/monitoring.md; do
            [ -s "$f" ] || { echo "missing from the package: $f" >&2; exit 1; }
        done
        dpkg --purge mgmd >/dev/null
        [ ! -e /usr/sbin/mgmd ] || { echo "mgmd left behind after purge" >&2; exit 1; }
        trap - EXIT
    else
        echo "== package not installed (needs root, dpkg, systemd-analyze, and no mgmd package installed)"
    fi
    echo "package: built and checked in $((SECONDS - pkg_start))s"
}

fuzz_run() {
    echo "== fuzz (a short run of each target)"
    fuzz_start=$SECONDS
    scripts/fuzz.sh --ci
    echo "fuzz: $((SECONDS - fuzz_start))s"
}

# The namespace tests run target/debug/mgmd and mgmctl, which `cargo test`
# has just built for the integration tests (a `cargo build` would build
# them again, with the dependencies' features as they are without the
# dev-dependencies, and the background build holds Cargo's lock on
# target/ for minutes).

bg_dir=$(mktemp -d)
for job in package_check fuzz_run; do
    nice -n 19 bash -c "$(declare -f "$job"); set -euo pipefail; $job" >"$bg_dir/$job.log" 2>&1 &
    echo $! >"$bg_dir/$job.pid"
done
stop_background() {
    for f in "$bg_dir"/*.pid; do
        pkill -P "$(cat "$f")" 2>/dev/null || true
        kill "$(cat "$f")" 2>/dev/null || true
    done
    rm -rf "$bg_dir"
}
trap stop_background EXIT

netns_rc=0
if [ -x netns-tests/run.sh ]; then
    echo "== netns tests"
    netns-tests/run.sh || netns_rc=$?
fi

# After the namespace tests, not beside them: they time IGMP exchanges
# to the tenth of a second, and the soak's churn would load the machine.
soak_rc=0
if [ "$(id -u)" = 0 ]; then
    echo "== soak (${SOAK_CI_DURATION:=2m} of churn, then back to the baseline)"
    soak_start=$SECONDS
    scripts/soak.sh "$SOAK_CI_DURATION" || soak_rc=$?
    echo "soak: $((SECONDS - soak_start))s"
else
    echo "== soak skipped (needs root: network namespaces)"
fi

bg_rc=0
for job in package_check fuzz_run; do
    rc=0
    wait "$(cat "$bg_dir/$job.pid")" || rc=$?
    cat "$bg_dir/$job.log"
    [ "$rc" = 0 ] || { echo "$job failed (exit $rc)" >&2; bg_rc=$rc; }
done
trap - EXIT
rm -rf "$bg_dir"
[ "$bg_rc" = 0 ] || exit "$bg_rc"
[ "$netns_rc" = 0 ] || exit "$netns_rc"
exit "$soak_rc"
