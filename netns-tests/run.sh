#!/usr/bin/env bash
# Run every namespace test serially, each bounded in time. Prints one line
# per test and a closing "N passed, N failed, N skipped" line.
#
#   netns-tests/run.sh [PATTERN]    (only the tests whose file name has PATTERN)
#
# As root, the tests run on a kernel that has what the selected tests need
# (their need_kernel lines): the host's, or user-mode Linux where the
# host's lacks it (scripts/kernel-env.sh; MGMD_KERNEL_ENV=uml forces it).
set -uo pipefail
shopt -s nullglob
cd "$(dirname "$0")"
tests=()
for t in [0-9][0-9]-*.sh; do
    [ -n "${1:-}" ] && [[ "$t" != *"$1"* ]] && continue
    tests+=("$t")
done
if [ -z "${MGMD_KERNEL_ENV_INSIDE:-}" ] && [ "$(id -u)" = 0 ] && [ ${#tests[@]} -gt 0 ]; then
    need=$(sed -n 's/^need_kernel //p' lib.sh "${tests[@]}" | tr ' ' '\n' | sort -u | paste -sd,)
    exec ../scripts/kernel-env.sh --need "$need" -- "./$(basename "$0")" "$@"
fi
# A user-mode kernel runs everything on one CPU, slower than the host.
default_timeout=60
[ "${MGMD_KERNEL_ENV_INSIDE:-}" = uml ] && default_timeout=150
TIMEOUT=${NETNS_TEST_TIMEOUT:-$default_timeout}
pass=0 failed=0 skipped=0 failures=()
for t in "${tests[@]}"; do
    start=$SECONDS
    # Each test's namespaces carry this prefix, so that whatever a killed
    # test left behind can be removed here.
    export TOPO_ID="mgt$$-${t%%-*}"
    out=$(timeout --kill-after=10 "$TIMEOUT" bash "$t" 2>&1)
    rc=$?
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
