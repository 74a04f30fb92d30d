#!/usr/bin/env bash
# The project's one test command: formatting, lints, the docs' links, every
# cargo test, the kernel tests, the network-namespace tests, the demo and a
# one-minute soak (root only) while the Debian package is built (as root
# also installed, checked and removed) and every fuzz target runs briefly.
#
# The kernel-dependent stages run through scripts/kernel-env.sh: on the
# host's kernel when it has multicast routing with several tables, else in
# user-mode Linux (a kernel built once per machine where Debian's lacks an
# option). On a host whose kernel has it all, the demo and one namespace
# test also run in user-mode Linux, so that path is tried on every run.
# Prints each stage's time and, last, one line counting every test run,
# failed and skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ci_start=$SECONDS
logs=$(mktemp -d)
stages=()
# stage NAME CMD... : run CMD, note its time and status; output passes through.
stage() {
    local name=$1 start=$SECONDS rc=0
    shift
    echo "== $name"
    "$@" || rc=$?
    stages+=("$(printf '%-28s %5ss  %s' "$name" $((SECONDS - start)) "$([ $rc = 0 ] && echo ok || echo "FAILED (exit $rc)")")")
    return $rc
}
passed=0 failed=0 skipped=0
# count_cargo LOG : add cargo test's per-binary closing lines to the
# totals; the ignored ones are left in $ignored.
ignored=0
count_cargo() {
    local p f
    read -r p f ignored < <(sed -n 's/^test result: [A-Za-z]*\. \([0-9]*\) passed; \([0-9]*\) failed; \([0-9]*\) ignored.*/\1 \2 \3/p' "$1" |
        awk '{ p += $1; f += $2; i += $3 } END { print p + 0, f + 0, i + 0 }')
    passed=$((passed + p)) failed=$((failed + f))
}
# count_netns LOG : add run.sh's closing line to the totals.
count_netns() {
    local p f s
    read -r p f s < <(sed -n 's/^netns: \([0-9]*\) passed, \([0-9]*\) failed, \([0-9]*\) skipped$/\1 \2 \3/p' "$1" | tail -n 1) || true
    # A run that ended without its totals failed as a whole.
    [ -n "${p:-}" ] || f=1
    passed=$((passed + ${p:-0})) failed=$((failed + ${f:-0})) skipped=$((skipped + ${s:-0}))
}
summary_done=0
summary() {
    summary_done=1
    echo
    echo "== stages (total $((SECONDS - ci_start))s)"
    printf '%s\n' "${stages[@]}"
    echo "ci: $passed passed, $failed failed, $skipped skipped"
}

root=0
[ "$(id -u)" = 0 ] && root=1
stage deps scripts/deps.sh --tests

# What the kernel-dependent stages need, and whether the host has it.
KERNEL_NEEDS=mroute,mroute-tables
host_kernel=0
if [ $root = 1 ] && python3 scripts/kernel-probe.py ${KERNEL_NEEDS//,/ } >/dev/null 2>&1; then
    host_kernel=1
fi

# Background jobs: they need no network namespace and mostly use the CPU,
# while the kernel-dependent stages mostly wait for protocol timers. They
# run at the lowest priority; their output follows once all are done.
bg_dir=$(mktemp -d)
background() { # background NAME FUNCTION [NICENESS]
    nice -n "${3:-19}" bash -c "$(declare -f "$2"); set -euo pipefail; $2" >"$bg_dir/$1.log" 2>&1 &
    echo $! >"$bg_dir/$1.pid"
}
stop_background() {
    for f in "$bg_dir"/*.pid; do
        [ -e "$f" ] || continue
        pkill -P "$(cat "$f")" 2>/dev/null || true
        kill "$(cat "$f")" 2>/dev/null || true
    done
    rm -rf "$bg_dir" "$logs"
    # A stage that stopped the run still gets the table of stages.
    [ $summary_done = 1 ] || summary
}
trap stop_background EXIT

# A host whose kernel lacks what the kernel tests need: the user-mode
# kernel that has it is built now (once per machine; cached), beside the
# Rust build, instead of when the first kernel test asks for it (at the
# same priority: the kernel tests wait for both).
uml_kernel_build() {
    start=$SECONDS
    if path=$(scripts/uml-kernel.sh --cached); then
        echo "user-mode kernel: cached, $path"
    else
        path=$(scripts/uml-kernel.sh)
        echo "user-mode kernel: built in $((SECONDS - start))s, $path"
    fi
}
if [ $root = 1 ] && [ $host_kernel = 0 ]; then
    background uml-kernel uml_kernel_build 0
fi

stage "cargo fmt --check" cargo fmt --all -- --check
stage "docs links" python3 scripts/check-docs.py
stage "cargo clippy" cargo clippy --all-targets --locked -- -D warnings
# Everything but the kernel tests (ignored here: they need root and a
# kernel with multicast routing, and run below on one).
stage "cargo test" bash -c 'set -o pipefail; cargo test --locked --all-targets 2>&1 | tee "$1"' _ "$logs/cargo.log"
count_cargo "$logs/cargo.log"
host_ignored=$ignored

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

# The package and the fuzz run start once the test build is done (Cargo's
# lock on target/ would hold them back anyway).
background package package_check
background fuzz fuzz_run

kernel_rc=0 netns_rc=0 demo_rc=0 soak_rc=0
if [ $root = 1 ]; then
    # The kernel stages run target/debug/mgmd and mgmctl, which `cargo
    # test` has just built for the integration tests.
    export MGMD=$ROOT/target/debug/mgmd MGMCTL=$ROOT/target/debug/mgmctl
    stage "kernel tests" bash -c 'set -o pipefail; scripts/kernel-env.sh --need "$1" -- \
        cargo test --locked --test io_netns --test notify -- --ignored 2>&1 | tee "$2"' _ \
        "$KERNEL_NEEDS" "$logs/kernel.log" || kernel_rc=$?
    # The kernel tests, counted as ignored above, ran here (with
    # --ignored, only they): what is still ignored was skipped.
    before=$((passed + failed))
    count_cargo "$logs/kernel.log"
    skipped=$((skipped + host_ignored - (passed + failed - before)))

    stage "mfc_install smoke run" scripts/kernel-env.sh --need mroute -- cargo test --locked --bench mfc_install &&
        passed=$((passed + 1)) || { kernel_rc=1; failed=$((failed + 1)); }

    # In user-mode Linux, three kernels side by side (each has one CPU and
    # the tests mostly wait); on the host's kernel one after another.
    [ $host_kernel = 1 ] && jobs=1 || jobs=3
    stage "netns tests" bash -c 'set -o pipefail; netns-tests/run.sh -j "$2" 2>&1 | tee "$1"' _ "$logs/netns.log" \
        "${NETNS_JOBS:-$jobs}" || netns_rc=$?
    count_netns "$logs/netns.log"

    if [ $host_kernel = 1 ]; then
        # The user-mode path, tried on every run: the demo and one test.
        stage "netns test in user-mode Linux" bash -c 'set -o pipefail; MGMD_KERNEL_ENV=uml netns-tests/run.sh 01-forward 2>&1 |
            tee "$1"' _ "$logs/netns-uml.log" || netns_rc=$?
        count_netns "$logs/netns-uml.log"
        stage "demo in user-mode Linux" env MGMD_KERNEL_ENV=uml scripts/demo.sh --no-build || demo_rc=$?
    else
        stage "demo" scripts/demo.sh --no-build || demo_rc=$?
    fi
    [ $demo_rc = 0 ] && passed=$((passed + 1)) || failed=$((failed + 1))

    # After the namespace tests, not beside them: they time IGMP exchanges
    # to the tenth of a second, and the soak's churn would load the machine.
    stage "soak (${SOAK_CI_DURATION:=1m})" scripts/soak.sh "$SOAK_CI_DURATION" || soak_rc=$?
    [ $soak_rc = 0 ] && passed=$((passed + 1)) || failed=$((failed + 1))
else
    echo "== kernel tests, namespace tests, demo and soak skipped (they need root: network namespaces)"
    skipped=$((skipped + host_ignored + 3))
fi

bg_rc=0
for job in uml-kernel package fuzz; do
    [ -e "$bg_dir/$job.pid" ] || continue
    rc=0
    wait "$(cat "$bg_dir/$job.pid")" || rc=$?
    cat "$bg_dir/$job.log"
    stages+=("$(printf '%-28s %6s  %s' "$job (background)" "" "$([ $rc = 0 ] && echo ok || echo "FAILED (exit $rc)")")")
    [ "$rc" = 0 ] || { echo "$job failed (exit $rc)" >&2; bg_rc=$rc; }
done
trap - EXIT
rm -rf "$bg_dir" "$logs"
summary
for rc in $bg_rc $kernel_rc $netns_rc $demo_rc $soak_rc; do
    [ "$rc" = 0 ] || exit "$rc"
done
exit 0
