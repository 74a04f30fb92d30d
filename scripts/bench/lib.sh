# shellcheck shell=bash
# Shared set-up for the side-by-side benchmarks in scripts/bench/: the
# standard topology (scripts/topo.sh), mgmd or igmpproxy in the router
# namespace, and small helpers for reading mgmd's state. Source it after
# `set -euo pipefail`; it installs the clean-up trap.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/../.." && pwd)
cd "$ROOT"
[ "$(id -u)" = 0 ] || { echo "$(basename "$0") needs root (network namespaces): sudo $0" >&2; exit 77; }
# Built here, then run on a kernel with multicast routing: the host's, or
# user-mode Linux (scripts/kernel-env.sh; one CPU there, so compare only
# figures taken in the same run).
if [ -z "${MGMD_KERNEL_ENV_INSIDE:-}" ]; then
    [ -n "${BENCH_NO_BUILD:-}" ] || cargo build --release --bins --quiet
    BENCH_NO_BUILD=1 exec "$ROOT/scripts/kernel-env.sh" --need mroute -- "$BENCH_DIR/$(basename "$0")" "$@"
fi

# shellcheck source=../topo.sh
. "$ROOT/scripts/topo.sh"
trap topo_cleanup EXIT
CAP="python3 $BENCH_DIR/cap.py"

bench_build() {
    if [ -z "${BENCH_NO_BUILD:-}" ]; then
        cargo build --release --bins --quiet
    fi
    [ -x "$MGMD" ] && [ -x "$MGMCTL" ] || { echo "no release build at $MGMD" >&2; exit 1; }
}

bench_peer_check() {
    command -v igmpproxy >/dev/null || {
        echo "igmpproxy is not installed (apt-get install igmpproxy); the peer column is skipped" >&2
        return 1
    }
}

machine_note() {
    echo "date: $(date -Is)"
    echo "kernel: $(uname -r); cpus: $(nproc); load: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "mgmd: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?') (release build)"
    command -v igmpproxy >/dev/null && echo "igmpproxy: $(dpkg-query -W -f='${Version}' igmpproxy 2>/dev/null || echo '?')"
    return 0
}

# Which daemon is running in rtr (mgmd|igmpproxy), and its PID.
DAEMON=""
DAEMON_PID=""

# start_mgmd CONFIG-TEXT
start_mgmd() {
    local cfg="$TOPO_DIR/mgmd.toml"
    printf '%s\n' "$1" >"$cfg"
    RUST_LOG=${RUST_LOG:-warn} topo_mgmd "$cfg"
    DAEMON=mgmd
    DAEMON_PID=$MGMD_PID
}

# start_igmpproxy CONFIG-TEXT
start_igmpproxy() {
    local cfg="$TOPO_DIR/igmpproxy.conf"
    printf '%s\n' "$1" >"$cfg"
    topo_bg rtr "$TOPO_DIR/igmpproxy.log" igmpproxy -n "$cfg"
    DAEMON=igmpproxy
    DAEMON_PID=$LAST_PID
    local i
    for i in $(seq 1 50); do
        [ "$(topo_exec rtr cat /proc/sys/net/ipv4/conf/all/mc_forwarding)" = 1 ] && { sleep 0.3; return 0; }
        kill -0 "$DAEMON_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "igmpproxy did not start:" >&2
    cat "$TOPO_DIR/igmpproxy.log" >&2
    return 1
}

stop_daemon() {
    [ -n "$DAEMON_PID" ] && topo_stop "$DAEMON_PID"
    DAEMON=""
    DAEMON_PID=""
    sleep 0.3
}

# igmpproxy with up0 upstream (towards the sender) and both LANs downstream.
IGMPPROXY_CONF='phyint up0 upstream ratelimit 0 threshold 1
    altnet 10.0.0.0/8
phyint lan1 downstream ratelimit 0 threshold 1
phyint lan2 downstream ratelimit 0 threshold 1'

# VmRSS in KiB and utime+stime in seconds of a PID.
proc_rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
proc_cpu_s() {
    local tck
    tck=$(getconf CLK_TCK)
    # Fields after the ")" of the command name: utime is the 12th, stime the 13th.
    sed 's/.*) //' "/proc/$1/stat" | awk -v t="$tck" '{printf "%.2f", ($12 + $13) / t}'
}

# Drops on the router's raw IGMP sockets (/proc/net/raw, protocol 2).
raw_igmp_drops() {
    topo_exec rtr awk 'NR > 1 && $2 ~ /:0002$/ {d += $NF} END {print d + 0}' /proc/net/raw
}

# stats FILE... : "median p95 min max n" of the numbers (one per line) on stdin.
stats() {
    python3 -c '
import sys
v = sorted(float(x) for x in sys.stdin.read().split())
if not v:
    print("- - - - 0"); sys.exit()
def q(p):
    k = (len(v) - 1) * p
    f = int(k); c = min(f + 1, len(v) - 1)
    return v[f] + (v[c] - v[f]) * (k - f)
print("%.3f %.3f %.3f %.3f %d" % (q(0.5), q(0.95), v[0], v[-1], len(v)))
'
}

# json_get FILE EXPR : evaluate a Python expression on the JSON in FILE (as d).
json_get() {
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# wait_reap PID : wait for a background process and forget it (so the
# clean-up never signals a PID that may since have been reused).
wait_reap() {
    local pid=$1 p keep=()
    wait "$pid" 2>/dev/null || true
    for p in "${TOPO_PIDS[@]}"; do
        [ "$p" = "$pid" ] || keep+=("$p")
    done
    TOPO_PIDS=("${keep[@]}")
}

# stop_reap PID : stop a background process we started, then forget it.
stop_reap() {
    topo_stop "$1"
    wait_reap "$1"
}

wait_file() {
    local i
    for i in $(seq 1 100); do
        [ -s "$1" ] && return 0
        sleep 0.05
    done
    echo "timed out waiting for $1" >&2
    return 1
}

# The join/leave topology: rcv1 (behind lan1) is an IGMPv2 host, rcv2
# (behind lan2) an IGMPv3 host.
bench_topo() {
    topo_standard
    topo_exec rcv1 sysctl -qw net.ipv4.conf.all.force_igmp_version=2 net.ipv4.conf.eth0.force_igmp_version=2
    topo_exec rcv2 sysctl -qw net.ipv4.conf.all.force_igmp_version=0 net.ipv4.conf.eth0.force_igmp_version=0
}

# mgmd for the join/leave runs: lan1 IGMPv2 with the default last-member
# queries (1s x 2), lan2 IGMPv3 with explicit tracking (immediate-leave).
MGMD_LATENCY_CONF='[global]
rp-filter-warning = false

[igmp]
query-interval = "125s"
last-member-query-interval = "1s"
last-member-query-count = 2

[[interface]]
name = "up0"

[[interface]]
name = "lan1"
version = 2

[[interface]]
name = "lan2"
version = 3
immediate-leave = true'
