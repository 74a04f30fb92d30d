#!/usr/bin/env bash
# Run every namespace test serially, each bounded in time. Prints one line
# per test and a closing "N passed, N failed, N skipped" line.
#
#   netns-tests/run.sh [-j N] [PATTERN...]
#
# PATTERN selects the tests whose file name contains it (default: all).
# As root, the tests run on a kernel that has what the selected tests need
# (their need_kernel lines): the host's, or user-mode Linux where the
# host's lacks it (scripts/kernel-env.sh; MGMD_KERNEL_ENV=uml forces it).
# -j N (or NETNS_JOBS=N) splits them over N such runs side by side, each
# in a kernel of its own when that is user-mode Linux: the tests mostly
# wait for protocol timers, and a user-mode kernel has one CPU.
set -uo pipefail
shopt -s nullglob
cd "$(dirname "$0")"
jobs=${NETNS_JOBS:-1}
patterns=()
while [ $# -gt 0 ]; do
    case $1 in
    -j) jobs=$2; shift ;;
    -j*) jobs=${1#-j} ;;
    *) patterns+=("$1") ;;
    esac
    shift
done
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: -j wants a number of runs, not '$jobs'" >&2; exit 2; }
tests=()
for t in [0-9][0-9]-*.sh; do
    if [ ${#patterns[@]} -gt 0 ]; then
        match=0
        for p in "${patterns[@]}"; do [[ "$t" == *"$p"* ]] && match=1; done
        [ $match = 1 ] || continue
    fi
    tests+=("$t")
done
if [ -z "${MGMD_KERNEL_ENV_INSIDE:-}" ] && [ "$(id -u)" = 0 ] && [ ${#tests[@]} -gt 0 ]; then
    need=$(sed -n 's/^need_kernel //p' lib.sh "${tests[@]}" | tr ' ' '\n' | sort -u | paste -sd,)
    # The tests with another router on the LAN (peers.sh) need its package,
    # which a user-mode guest cannot install: installed here, on the host,
    # if missing (no service started). If that fails they skip, saying why.
    if grep -l 'peers\.sh' "${tests[@]}" >/dev/null 2>&1 &&
        { [ ! -x /usr/lib/frr/pimd ] || ! command -v igmpproxy >/dev/null; }; then
        echo "run.sh: installing the peers (frr, igmpproxy) for the tests that need them"
        ./peers.sh install >/dev/null 2>&1 || echo "run.sh: the peers could not be installed; their tests will skip"
    fi
    [ "$jobs" -le ${#tests[@]} ] || jobs=${#tests[@]}
    if [ "$jobs" = 1 ]; then
        exec ../scripts/kernel-env.sh --need "$need" -- "./$(basename "$0")" "${tests[@]}"
    fi
    # The runs take the tests from one queue (a directory on the host's
    # file system, which every guest sees): each run claims the next test
    # no other run has claimed (mkdir is atomic), so a long test does not
    # hold the others back. Each run's lines follow once all are done,
    # then the totals.
    # One kernel for all, found (installed, built) once before they start.
    ../scripts/kernel-env.sh --need "$need" -- true || exit
    out=$(mktemp -d)
    export NETNS_QUEUE=$out/queue
    mkdir "$NETNS_QUEUE"
    trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$out"' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    pids=()
    for ((i = 0; i < jobs; i++)); do
        ../scripts/kernel-env.sh --need "$need" -- "./$(basename "$0")" "${tests[@]}" >"$out/$i.log" 2>&1 &
        pids+=($!)
    done
    pass=0 failed=0 skipped=0 rc=0
    for ((i = 0; i < jobs; i++)); do
        wait "${pids[i]}" || rc=1
        grep -v '^netns: ' "$out/$i.log"
        read -r p f s < <(sed -n 's/^netns: \([0-9]*\) passed, \([0-9]*\) failed, \([0-9]*\) skipped$/\1 \2 \3/p' "$out/$i.log")
        [ -n "${p:-}" ] || { echo "run.sh: run $i ended without its totals"; failed=$((failed + 1)); }
        pass=$((pass + ${p:-0})) failed=$((failed + ${f:-0})) skipped=$((skipped + ${s:-0}))
    done
    echo "netns: $pass passed, $failed failed, $skipped skipped"
    [ $failed -eq 0 ] && [ $rc = 0 ]
    exit
fi
# A user-mode kernel runs everything on one CPU, slower than the host.
default_timeout=60
[ "${MGMD_KERNEL_ENV_INSIDE:-}" = uml ] && default_timeout=300
TIMEOUT=${NETNS_TEST_TIMEOUT:-$default_timeout}
# A failed test runs once more in user-mode Linux (NETNS_RETRIES overrides).
default_retries=0
[ "${MGMD_KERNEL_ENV_INSIDE:-}" = uml ] && default_retries=1
RETRIES=${NETNS_RETRIES:-$default_retries}
pass=0 failed=0 skipped=0 failures=()
for t in "${tests[@]}"; do
    # Side by side with other runs: only the tests this run claims.
    [ -z "${NETNS_QUEUE:-}" ] || mkdir "$NETNS_QUEUE/$t" 2>/dev/null || continue
    start=$SECONDS
    # Each test's namespaces carry this prefix, so that whatever a killed
    # test left behind can be removed here.
    export TOPO_ID="mgt$$-${t%%-*}"
    out=$(timeout --kill-after=10 "$TIMEOUT" bash "$t" 2>&1)
    rc=$?
    if [ $rc != 0 ] && [ $rc != 77 ] && [ "$RETRIES" -gt 0 ]; then
        # Once more, the first run's output kept: in a user-mode kernel a
        # busy host can stretch one moment past what a test allows. The
        # line says so, and a test that fails twice fails.
        first=$out first_rc=$rc
        out=$(timeout --kill-after=10 "$TIMEOUT" bash "$t" 2>&1)
        rc=$?
        if [ $rc = 0 ]; then
            echo "retry $t: passed on its second run; the first (rc=$first_rc):"
            echo "$first" | grep -v ' INFO \| DEBUG ' | tail -n 15 | sed 's/^/    /'
        fi
    fi
    for n in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$TOPO_ID-" || true); do
        out+=$'\n'"run.sh: removing namespace $n left behind"
        for pid in $(ip netns pids "$n" 2>/dev/null); do
            kill -KILL "$pid" 2>/dev/null || true
        done
        ip netns del "$n" 2>/dev/null || true
    done
    dur=$((SECONDS - start))
    case $rc in
    0) pass=$((pass + 1)); echo "ok    $t (${dur}s)" ;;
    77) skipped=$((skipped + 1)); echo "skip  $t: $(echo "$out" | tail -n 1)" ;;
    *) failed=$((failed + 1)); failures+=("$t"); echo "FAIL  $t (rc=$rc, ${dur}s)"; echo "$out" | sed 's/^/    /' ;;
    esac
done
echo "netns: $pass passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
