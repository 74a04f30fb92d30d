#!/usr/bin/env bash
# Ownership-move benchmark: a receiver on lan1 has joined N groups (1,000 by
# default), the sender cycles through them at RATE packets/s in total (one
# sequence-numbered stream per group), and lan1 moves IGMP -> static ->
# IGMP ... MOVES times (alternating `mgmctl take lan1 static` and
# `mgmctl release lan1 static`, one second apart). Reports, per move, the
# wall time of the mgmctl command and the daemon's own "sequence starts" ->
# "sequence complete" time (event timestamps), their medians, and the
# packets lost across all moves (missing sequence numbers, summed over the
# groups, including any lost after the last one received).
#
#   sudo scripts/bench/ownership-move.sh            # N=1000 RATE=10000 MOVES=10
#   sudo N=200 RATE=2000 scripts/bench/ownership-move.sh
#
# Uses target/release binaries if built, else target/debug (MGMD/MGMCTL
# override). Everything it creates is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)" >&2; exit 77; }
N=${N:-1000}
RATE=${RATE:-10000}
MOVES=${MOVES:-10}
profile=release
[ -x target/release/mgmd ] || profile=debug
: "${MGMD:=$PWD/target/$profile/mgmd}"
: "${MGMCTL:=$PWD/target/$profile/mgmctl}"
export MGMD MGMCTL
# shellcheck source=../topo.sh
. scripts/topo.sh
trap topo_cleanup EXIT

wait_until() {
    local what=$1 t=$2
    shift 2
    local end=$((SECONDS + t))
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $end ] || { echo "timed out waiting for: $what" >&2; tail -n 30 "$TOPO_DIR/mgmd.log" >&2; exit 1; }
        sleep 0.2
    done
}

topo_standard
topo_exec rcv1 sysctl -qw net.ipv4.igmp_max_memberships=$((N + 100))
cfg="$TOPO_DIR/mgmd.toml"
cat >"$cfg" <<CFG
[global]
log-level = "warn"

[[interface]]
name = "up0"

[[interface]]
name = "lan1"

[[interface]]
name = "lan2"

[static]
interfaces = ["lan2"]
CFG
topo_mgmd "$cfg"
"$MGMCTL" -s "$MGMD_SOCK" events --json >"$TOPO_DIR/events.jsonl" 2>&1 &
TOPO_PIDS+=($!)

groups=$(python3 -c "
n = $N
print(' '.join('--group 239.10.%d.%d' % (i // 250, i % 250 + 1) for i in range(n)))")
first=239.10.0.1
echo "== $N groups, $RATE packets/s in total, $MOVES moves ($profile build)"
# shellcheck disable=SC2086
topo_bg rcv1 "$TOPO_DIR/recv.json" bash -c "ulimit -n $((N + 256)); exec $MCAST recv --iface eth0 $groups --ready $TOPO_DIR/recv.ready"
RECV=$LAST_PID
wait_until "receiver ready" 60 test -f "$TOPO_DIR/recv.ready"

lan1_groups() {
    "$MGMCTL" -s "$MGMD_SOCK" --json show interfaces | python3 -c '
import json, sys
print(next(i["querier"]["groups"] for i in json.load(sys.stdin) if i["name"] == "lan1"))'
}
lan1_routes() {
    "$MGMCTL" -s "$MGMD_SOCK" --json show routes | python3 -c '
import json, sys
print(sum(1 for r in json.load(sys.stdin) if "lan1" in r["oifs"]))'
}
enough_groups() { [ "$(lan1_groups)" -ge "$N" ]; }
enough_routes() { [ "$(lan1_routes)" -ge "$N" ]; }
wait_until "$N groups learned on lan1" 120 enough_groups
interval=$(python3 -c "print(1000.0 / $RATE)")
# shellcheck disable=SC2086
topo_bg src "$TOPO_DIR/send.json" $MCAST send --iface eth0 $groups --interval-ms "$interval" --per-group-seq
SEND=$LAST_PID
wait_until "$N flows forwarded to lan1" 120 enough_routes
sleep 2

: >"$TOPO_DIR/walls"
date +%s.%N >"$TOPO_DIR/t_moves"
# MOVES=0 measures the same time span without any move (the baseline).
[ "$MOVES" -gt 0 ] || sleep 10
for i in $(seq 1 "$MOVES"); do
    if [ $((i % 2)) = 1 ]; then op=take; else op=release; fi
    t0=$(date +%s%N)
    "$MGMCTL" -s "$MGMD_SOCK" "$op" lan1 static >/dev/null
    t1=$(date +%s%N)
    echo "$op $(((t1 - t0) / 1000))" >>"$TOPO_DIR/walls"
    sleep 1
done
sleep 1
kill -TERM "$SEND"
wait "$SEND" || true
sleep 1
echo "receiver-side drops (rcv1): $(topo_exec rcv1 nstat -az UdpRcvbufErrors UdpInErrors UdpNoPorts | awk 'NR > 1 { printf "%s=%s ", $1, $2 }')"
echo "router-side drops (rtr): $(topo_exec rtr nstat -az IpInDiscards IpOutDiscards IpExtInNoRoutes | awk 'NR > 1 { printf "%s=%s ", $1, $2 }')"
kill -TERM "$RECV"
wait "$RECV" || true

python3 - "$TOPO_DIR" "$N" "$RATE" <<'PY'
import json, statistics, sys
d, n = sys.argv[1], int(sys.argv[2])
sent = json.load(open(f"{d}/send.json"))["sent"]
got = json.load(open(f"{d}/recv.json"))
walls = [(l.split()[0], int(l.split()[1]) / 1000.0) for l in open(f"{d}/walls")]
events = [json.loads(l) for l in open(f"{d}/events.jsonl") if l.startswith("{")]
# A slow subscriber loses events (the seq numbers show it): pair only the
# starts and completes that both arrived.
start, seqs = None, []
events.sort(key=lambda e: e["seq"])
lost_events = sum(b["seq"] - a["seq"] - 1 for a, b in zip(events, events[1:]))
for e in events:
    t = e["text"]
    if "lan1: sequence starts" in t:
        start = e["t_ms"]
    elif "lan1: sequence complete" in t and start is not None:
        seqs.append(e["t_ms"] - start)
        start = None
names = sorted(got)
# Count only what is missing from the first move on: new flows lose a few
# packets while 1,000 of them are set up at once (the kernel queues 4 per
# unresolved entry), which has nothing to do with the moves.
send = json.load(open(f"{d}/send.json"))
rate_per_group = float(sys.argv[3]) / n
from_seq = int((float(open(f"{d}/t_moves").read()) - send["start_t"]) * rate_per_group) - 1
missing = gaps = setup_missing = 0
for g in names:
    if got[g]["gaps"] > len(got[g]["gap_at"]):
        print(f"warning: {g} has more gaps than recorded")
    for a, b in got[g]["gap_at"]:
        if b >= from_seq:
            gaps += 1
            missing += b - max(a, from_seq) + 1
        setup_missing += max(0, min(b, from_seq - 1) - a + 1)
# Packets after the last one a group received (lost at the end).
tail = 0
for i, g in enumerate(sorted(got, key=lambda g: tuple(int(x) for x in g.split(".")))):
    last_sent = (sent - 1 - i) // n
    tail += max(0, last_sent - (got[g]["last_seq"] if got[g]["last_seq"] is not None else -1))
received = sum(got[g]["count"] for g in names)
print(f"sent {sent} packets, received {received}")
for op, w in walls:
    print(f"  {op:8s} mgmctl {w:8.2f} ms")
print(f"daemon sequences (starts -> complete) seen: {seqs} ms; events lost by the subscriber: {lost_events}")
if walls:
    print(f"median mgmctl wall time: {statistics.median(w for _, w in walls):.2f} ms")
if seqs:
    print(f"median daemon sequence (starts -> complete, 1 ms resolution): {statistics.median(seqs)} ms")
print(f"missing before the first move (flow set-up): {setup_missing}")
print(f"lost from the first move on: {missing} missing sequence numbers in {gaps} gaps, {tail} lost at the end")
PY
