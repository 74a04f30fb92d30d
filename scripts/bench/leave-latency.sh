#!/usr/bin/env bash
# Leave latency, mgmd against igmpproxy in the same run: from the leave on
# the wire (captured in the receiver's namespace as it goes out) to the last
# datagram of the group arriving at the receiver's interface, sender at
# 1 packet/ms. mgmd: IGMPv2 host on lan1 with the standard last-member
# queries (interval 1s, count 2: expected ~2 s), IGMPv3 host on lan2 with
# immediate-leave = true (explicit tracking: expected ~0). igmpproxy runs
# its own last-member queries on both.
#
# igmpproxy has no configurable last-member query interval and stops
# forwarding only after tens of seconds, so it gets fewer trials with a
# 30 s observation window.
#
#   sudo scripts/bench/leave-latency.sh [TRIALS [PEER-TRIALS]]   (default 10, 3)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
TRIALS=${1:-10}
PEER_TRIALS=${2:-3}
bench_build
bench_topo
machine_note

# trial DAEMON-TAG VERSION N QUIET : prints the leave latency in ms.
trial() {
    local tag=$1 ver=$2 n=$3 quiet=$4 rcv grp
    if [ "$ver" = 2 ]; then rcv=rcv1; else rcv=rcv2; fi
    grp="239.$tag.$ver.$n"
    rm -f "$TOPO_DIR"/c.* "$TOPO_DIR"/j.ready
    topo_bg "$rcv" "$TOPO_DIR/c.json" $CAP leave --iface eth0 --group "$grp" --quiet "$quiet" --ready "$TOPO_DIR/c.ready"
    local c=$LAST_PID
    wait_file "$TOPO_DIR/c.ready"
    topo_bg "$rcv" "$TOPO_DIR/j.log" $MCAST join --iface eth0 --group "$grp" --ready "$TOPO_DIR/j.ready"
    local j=$LAST_PID
    wait_file "$TOPO_DIR/j.ready"
    topo_bg src "$TOPO_DIR/s.log" $MCAST send --iface eth0 --group "$grp" --interval-ms 1
    local s=$LAST_PID
    sleep 0.8          # forwarding established
    stop_reap "$j"     # the socket closes: the host's kernel sends the leave
    wait_reap "$c"
    stop_reap "$s"
    python3 - "$TOPO_DIR/c.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
if c["t_leave"] is None or c["t_last"] is None:
    print("miss")
else:
    print("%.1f %d" % (max(0.0, c["t_last"] - c["t_leave"]) * 1e3, c["after_leave"]))
PY
}

declare -A RES
run_daemon() { # NAME TAG QUIET-V2 QUIET-V3 TRIALS
    local v i out q
    for v in 2 3; do
        out="$TOPO_DIR/leave.$1.$v"
        : >"$out"
        if [ "$v" = 2 ]; then q=$3; else q=$4; fi
        for i in $(seq 1 "$5"); do
            trial "$2" "$v" "$i" "$q" >>"$out"
        done
        RES[$1.$v]="$(grep -v miss "$out" | awk '{print $1}' | stats) $(grep -v miss "$out" | awk '{print $2}' | stats | cut -d' ' -f1) $(grep -c miss "$out" || true)"
    done
}

start_mgmd "$MGMD_LATENCY_CONF"
run_daemon mgmd 1 4 1.5 "$TRIALS"
stop_daemon
if bench_peer_check; then
    start_igmpproxy "$IGMPPROXY_CONF"
    run_daemon igmpproxy 2 30 30 "$PEER_TRIALS"
    stop_daemon
fi

echo
echo "Leave latency (leave on the wire -> last packet at the receiver), ms; sender 1 packet/ms; $TRIALS trials (igmpproxy $PEER_TRIALS)"
echo "(mgmd: v2 = last-member queries 1s x 2; v3 = immediate-leave, explicit tracking;"
echo " observation window after the leave: mgmd 4 s / 1.5 s, igmpproxy 30 s; 'pkts after' = median datagrams received after the leave)"
printf '%-10s %-6s %9s %9s %9s %9s %4s %12s %5s\n' daemon host median p95 min max n "pkts after" miss
for k in mgmd.2 mgmd.3 igmpproxy.2 igmpproxy.3; do
    [ -n "${RES[$k]:-}" ] || continue
    # shellcheck disable=SC2086
    set -- ${RES[$k]}
    printf '%-10s %-6s %9s %9s %9s %9s %4s %12s %5s\n' "${k%.*}" "v${k#*.}" "$1" "$2" "$3" "$4" "$5" "$6" "$7"
done
