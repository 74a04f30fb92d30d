#!/usr/bin/env bash
# Fuzz mgmd's parsers with libFuzzer (cargo-fuzz), on the stable toolchain.
#
#   scripts/fuzz.sh [TARGET...]        each target (default: all) for
#                                      FUZZ_RUNS executions (default 10 M)
#   scripts/fuzz.sh -runs=N [TARGET...]
#   scripts/fuzz.sh --ci               a short run of every target (about
#                                      FUZZ_CI_SECONDS=8 s each), from the
#                                      checked-in seeds only; fails on any
#                                      crash
#   scripts/fuzz.sh --list             the targets
#
# Targets live in fuzz/fuzz_targets/; fuzz/README.md says what each checks.
# Each run starts from the checked-in seeds (fuzz/seeds/TARGET) plus the
# corpus of earlier runs (fuzz/corpus/TARGET, not in git), keeps what it
# finds in that corpus, and writes any crashing input to
# fuzz/artifacts/TARGET/. Build flags: cargo-fuzz's (SanitizerCoverage,
# debug assertions and overflow checks) without a sanitizer (`-s none`),
# which needs no nightly toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

TARGETS=(igmp_packet igmp_router mld_packet config ctl netlink)
runs=${FUZZ_RUNS:-10000000}
ci=0
chosen=()
for a in "$@"; do
    case $a in
    --ci) ci=1 ;;
    -runs=*) runs=${a#-runs=} ;;
    --list)
        printf '%s\n' "${TARGETS[@]}"
        exit 0
        ;;
    -h | --help)
        sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    -*)
        echo "unknown option $a (see --help)" >&2
        exit 2
        ;;
    *)
        [[ " ${TARGETS[*]} " == *" $a "* ]] || {
            echo "unknown target $a; targets: ${TARGETS[*]}" >&2
            exit 2
        }
        chosen+=("$a")
        ;;
    esac
done
[ ${#chosen[@]} -gt 0 ] || chosen=("${TARGETS[@]}")

# Longest input each target tries: configuration files and netlink dump
# replies are longer than libFuzzer's default of 4096 bytes.
max_len() {
    case $1 in
    config | netlink) echo 16384 ;;
    *) echo 4096 ;;
    esac
}

# ===== cargo-fuzz =====

CARGO_FUZZ_VERSION=0.13.2
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION"
    command -v c++ >/dev/null || {
        echo "libFuzzer is C++: install a C++ compiler (Debian: apt-get install g++)" >&2
        exit 1
    }
    cargo install --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi

# A short CI run spends more time compiling than fuzzing: it builds with
# less optimisation and in parallel codegen units (about half the wall
# time on two cores; the targets then run at about 70 % of the speed), in
# a directory of its own so that the full build stays cached.
build_opts=(-s none)
replay_env=
if [ $ci = 1 ]; then
    export CARGO_PROFILE_RELEASE_OPT_LEVEL=1
    replay_env="CARGO_PROFILE_RELEASE_OPT_LEVEL=1 "
    build_opts+=(--codegen-units 16 --target-dir "$ROOT/fuzz/target/ci")
fi

echo "== building fuzz targets: ${chosen[*]}"
build_start=$SECONDS
if [ ${#chosen[@]} -eq ${#TARGETS[@]} ]; then
    (cd fuzz && cargo fuzz build "${build_opts[@]}")
else
    for t in "${chosen[@]}"; do
        (cd fuzz && cargo fuzz build "${build_opts[@]}" "$t")
    done
fi
echo "   built in $((SECONDS - build_start)) s"

# ===== runs =====

WORK=$(mktemp -d /tmp/mgmd-fuzz.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
failed=()
summary=()
for t in "${chosen[@]}"; do
    seeds=$ROOT/fuzz/seeds/$t
    if [ $ci = 1 ]; then
        # A fresh corpus: CI starts from the seeds alone.
        corpus=$WORK/corpus-$t
        limit=(-max_total_time="${FUZZ_CI_SECONDS:-8}")
    else
        corpus=$ROOT/fuzz/corpus/$t
        limit=(-runs="$runs")
    fi
    artifacts=$ROOT/fuzz/artifacts/$t
    mkdir -p "$corpus" "$artifacts"
    log=$WORK/$t.log
    echo "== fuzzing $t (${limit[*]}; seeds $(find "$seeds" -type f | wc -l))"
    start=$SECONDS
    rc=0
    (cd fuzz && cargo fuzz run "${build_opts[@]}" "$t" "$corpus" "$seeds" -- \
        "${limit[@]}" -max_len="$(max_len "$t")" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$artifacts/") >"$log" 2>&1 || rc=$?
    secs=$((SECONDS - start))
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true)
    execs=$(sed -n 's/^stat::number_of_executed_units: //p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: //p' "$log" | tail -n 1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$done_line")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$done_line")
    files=$(find "$corpus" -type f | wc -l)
    crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    if [ $rc -ne 0 ] || [ -n "$crash" ]; then
        echo "!! $t FAILED (exit $rc) after ${execs:-?} executions"
        grep -E "panicked at|assertion|^  left|^ right|ERROR: libFuzzer|SUMMARY" "$log" | head -n 12 || true
        if [ -n "$crash" ]; then
            echo "   reproducer: $crash"
            echo "   replay: (cd fuzz && ${replay_env}cargo fuzz run ${build_opts[*]} $t $crash)"
        else
            tail -n 20 "$log"
        fi
        failed+=("$t")
        summary+=("$(printf '%-12s %12s %9s %6s %7s %7s %6ss  FAILED' "$t" "${execs:-?}" "${rate:-?}" \
            "${cov:-?}" "${ft:-?}" "$files" "$secs")")
    else
        summary+=("$(printf '%-12s %12s %9s %6s %7s %7s %6ss  ok' "$t" "$execs" "$rate" \
            "${cov:-?}" "${ft:-?}" "$files" "$secs")")
    fi
done

echo
printf '%-12s %12s %9s %6s %7s %7s %7s  %s\n' target executions exec/s cov ft corpus time result
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzzing found crashes in: ${failed[*]}" >&2
    exit 1
fi
