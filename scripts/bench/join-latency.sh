#!/usr/bin/env bash
# Join latency, mgmd against igmpproxy in the same run: from a receiver's
# membership report on the wire (captured with AF_PACKET on the router's
# side of the link) to the first forwarded datagram at the receiver, with
# the sender already sending at 1 packet/ms. IGMPv2 host (rcv1, lan1) and
# IGMPv3 host (rcv2, lan2); a fresh group per trial.
#
#   sudo scripts/bench/join-latency.sh [TRIALS]      (default 20)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
TRIALS=${1:-20}
bench_build
bench_topo
machine_note

# trial DAEMON-TAG VERSION N : prints the latency in ms (or "miss").
trial() {
    local tag=$1 ver=$2 n=$3 rcv lan grp
    if [ "$ver" = 2 ]; then rcv=rcv1 lan=lan1; else rcv=rcv2 lan=lan2; fi
    grp="239.$tag.$ver.$n"
    rm -f "$TOPO_DIR"/w.* "$TOPO_DIR"/r.json
    topo_bg src "$TOPO_DIR/s.log" $MCAST send --iface eth0 --group "$grp" --interval-ms 1
    local s=$LAST_PID
    sleep 0.4   # the flow is known to the router before the join
    topo_bg rtr "$TOPO_DIR/w.json" $MCAST wait-report --iface "$lan" --group "$grp" --timeout 5 --ready "$TOPO_DIR/w.ready"
    local w=$LAST_PID
    wait_file "$TOPO_DIR/w.ready"
    topo_bg "$rcv" "$TOPO_DIR/r.json" $MCAST recv --iface eth0 --group "$grp" --timeout 5 --until-all
    local r=$LAST_PID
    wait_reap "$r"
    wait_reap "$w"
    stop_reap "$s"
    python3 - "$TOPO_DIR/w.json" "$TOPO_DIR/r.json" "$grp" <<'PY'
import json, sys
w = json.load(open(sys.argv[1])); r = json.load(open(sys.argv[2]))[sys.argv[3]]
if w["t"] is None or r["first_t"] is None:
    print("miss")
else:
    print("%.3f" % ((r["first_t"] - w["t"]) * 1e3))
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
        RES[$1.$v]="$(grep -v miss "$f" | stats) $(grep -c miss "$f" || true)"
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
echo "Join latency (report on the wire -> first forwarded packet), ms; sender 1 packet/ms; $TRIALS trials"
printf '%-10s %-6s %8s %8s %8s %8s %4s %5s\n' daemon host median p95 min max n miss
for k in mgmd.2 mgmd.3 igmpproxy.2 igmpproxy.3; do
    [ -n "${RES[$k]:-}" ] || continue
    # shellcheck disable=SC2086
    set -- ${RES[$k]}
    printf '%-10s %-6s %8s %8s %8s %8s %4s %5s\n' "${k%.*}" "v${k#*.}" "$1" "$2" "$3" "$4" "$5" "$6"
done
