#!/usr/bin/env bash
# Join latency, mgmd against igmpproxy in the same run: from a receiver's
# membership report on the wire to the first forwarded datagram at the
# receiver, with the sender already sending at 1 packet/ms. Both moments are
# kernel timestamps (SO_TIMESTAMPNS) of one AF_PACKET capture on the
# receiver's interface: the report going out, the datagram coming in.
# IGMPv2 host (rcv1, lan1) and IGMPv3 host (rcv2, lan2); a fresh group per
# trial. Two figures: the first datagram at all, and the first datagram
# *sent* after the report (the kernel holds up to 3 packets of a flow with
# no entry and releases them when an entry is installed; a router that
# installs an entry only at the join delivers those at once).
#
#   sudo scripts/bench/join-latency.sh [TRIALS]      (default 20)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
TRIALS=${1:-20}
bench_build
bench_topo
machine_note

# trial DAEMON-TAG VERSION N : prints "first fresh" latencies in ms (or "miss").
trial() {
    local tag=$1 ver=$2 n=$3 rcv grp
    if [ "$ver" = 2 ]; then rcv=rcv1; else rcv=rcv2; fi
    grp="239.$tag.$ver.$n"
    topo_bg src "$TOPO_DIR/s.log" $MCAST send --iface eth0 --group "$grp" --interval-ms 1
    local s=$LAST_PID
    sleep 0.4   # the flow is known to the router before the join
    topo_exec "$rcv" $CAP join --iface eth0 --group "$grp" --timeout 5 >"$TOPO_DIR/j.json"
    stop_reap "$s"
    python3 - "$TOPO_DIR/j.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
if j["t_report"] is None or j["t_first"] is None or j["t_fresh"] is None:
    print("miss")
else:
    print("%.3f %.3f" % ((j["t_first"] - j["t_report"]) * 1e3, (j["t_fresh"] - j["t_report"]) * 1e3))
PY
}

series() { # DAEMON-TAG VERSION -> file with one latency per line
    local tag=$1 ver=$2 out="$TOPO_DIR/lat.$1.$2" i v
    : >"$out"
    for i in $(seq 1 "$TRIALS"); do
        v=$(trial "$tag" "$ver" "$i")
        echo "$v" >>"$out"
        sleep 0.1
    done
    echo "$out"
}

declare -A RES
run_daemon() { # NAME TAG
    local v f
    for v in 2 3; do
        f=$(series "$2" "$v")
        RES[$1.$v]="$(grep -v miss "$f" | awk '{print $1}' | stats) $(grep -v miss "$f" | awk '{print $2}' | stats | cut -d' ' -f1,2) $(grep -c miss "$f" || true)"
    done
}

start_mgmd "$MGMD_LATENCY_CONF"
run_daemon mgmd 1
stop_daemon
if bench_peer_check; then
    start_igmpproxy "$IGMPPROXY_CONF"
    # igmpproxy is an IGMPv2 querier: its first queries may put the v3 host
    # into v2 compatibility mode; the report type is what the host sends.
    run_daemon igmpproxy 2
    stop_daemon
fi

echo
echo "Join latency (report on the wire -> first forwarded packet at the receiver), ms; sender 1 packet/ms; $TRIALS trials"
echo "(fresh = first packet sent after the report)"
printf '%-10s %-6s %8s %8s %8s %8s %4s %12s %9s %5s\n' daemon host median p95 min max n fresh-median fresh-p95 miss
for k in mgmd.2 mgmd.3 igmpproxy.2 igmpproxy.3; do
    [ -n "${RES[$k]:-}" ] || continue
    # shellcheck disable=SC2086
    set -- ${RES[$k]}
    printf '%-10s %-6s %8s %8s %8s %8s %4s %12s %9s %5s\n' "${k%.*}" "v${k#*.}" "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$8"
done
