#!/usr/bin/env bash
# Run every namespace test serially, each bounded in time. Prints one line
# per test and a closing "N passed, N failed, N skipped" line.
set -uo pipefail
shopt -s nullglob
cd "$(dirname "$0")"
TIMEOUT=${NETNS_TEST_TIMEOUT:-120}
pass=0 failed=0 skipped=0 failures=()
for t in [0-9][0-9]-*.sh; do
    [ -n "${1:-}" ] && [[ "$t" != *"$1"* ]] && continue
    start=$SECONDS
    out=$(timeout --kill-after=10 "$TIMEOUT" bash "$t" 2>&1)
    rc=$?
    dur=$((SECONDS - start))
    case $rc in
    0) pass=$((pass + 1)); echo "ok    $t (${dur}s)" ;;
    77) skipped=$((skipped + 1)); echo "skip  $t: $(echo "$out" | tail -n 1)" ;;
    *) failed=$((failed + 1)); failures+=("$t"); echo "FAIL  $t (rc=$rc, ${dur}s)"; echo "$out" | sed 's/^/    /' ;;
    esac
done
echo "netns: $pass passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
