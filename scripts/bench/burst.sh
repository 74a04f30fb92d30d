#!/usr/bin/env bash
# N-group burst, mgmd against igmpproxy in the same run: the sender cycles
# through N groups at 10,000 packets/s; one IGMPv3 receiver (rcv1, lan1)
# then joins all N groups at once. Reported: the time from the receiver's
# first report on the wire (captured in its namespace) to the moment every
# group has delivered at least one datagram there; for mgmd also how many
# groups it learned, its IGMP drop counters, the raw socket's drops, its
# resident set and CPU time. The receiver holds 1,000 memberships per
# socket (net.ipv4.igmp_max_memberships is raised in its namespace).
#
#   sudo scripts/bench/burst.sh [N...]        (default 1000 4000)
#   sudo HOST_VERSION=2 scripts/bench/burst.sh 4000
#   sudo NO_PEER=1 scripts/bench/burst.sh 4000  (mgmd only)
#
# HOST_VERSION=2 forces the receiver to IGMPv2 (force_igmp_version=2 on
# its eth0): one report per group, each repeated once after up to 10 s.
# The reports the router's input backlog drops show in lan1's rx_dropped;
# mgmd answers them with a recovery query (Max Resp Time 1 s by default),
# counted as "recovery" with the drops it saw ("input_drops").
# For mgmd the groups are listed twice: right after the last group
# forwards, and again SETTLE seconds later (default 3), to tell groups
# not learned yet from groups learned and then lost.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(1000 4000)
RATE_MS=0.1   # 10,000 packets/s
HOST_VERSION=${HOST_VERSION:-0}
SETTLE=${SETTLE:-3}
case $HOST_VERSION in 0|3) HOST_VERSION=0 ;; 2) ;; *) echo "HOST_VERSION must be 2 or 3" >&2; exit 2 ;; esac
bench_build
topo_standard
topo_exec rcv1 sysctl -qw net.ipv4.conf.eth0.force_igmp_version=$HOST_VERSION
machine_note
echo "receiver: force_igmp_version=$HOST_VERSION ($( [ "$HOST_VERSION" = 2 ] && echo IGMPv2 host || echo IGMPv3 host))"

MGMD_BURST_CONF='[global]
rp-filter-warning = false

[igmp]
query-interval = "125s"

[[interface]]
name = "up0"

[[interface]]
name = "lan1"

[[interface]]
name = "lan2"'

groups_args() { # BASE N -> "--group G" pairs for mcast.py send
    python3 - "$1" "$2" <<'PY'
import socket, struct, sys
b = struct.unpack("!I", socket.inet_aton(sys.argv[1]))[0]
print(" ".join("--group " + socket.inet_ntoa(struct.pack("!I", b + i)) for i in range(int(sys.argv[2]))))
PY
}


lan1_groups() {
    mgmctl --json show groups | python3 -c '
import json, sys
d = json.load(sys.stdin); d = d.get("data", d) if isinstance(d, dict) else d
print(sum(1 for g in d if g["interface"] == "lan1"))'
}

# Packets dropped at the kernel's per-CPU input backlog (netdev_max_backlog),
# summed over the CPUs: second column of /proc/net/softnet_stat (hex).
softnet_drops() {
    python3 -c 'print(sum(int(l.split()[1], 16) for l in open("/proc/net/softnet_stat")))'
}

json_len() { python3 -c 'import json,sys; d=json.load(sys.stdin); d=d.get("data", d) if isinstance(d, dict) else d; print(len(d))'; }

# burst DAEMON BASE N : one measurement; appends a result line to $TOPO_DIR/burst.res
burst() {
    local daemon=$1 base=$2 n=$3 i routes t_warm cpu0 cpu1 rss
    topo_exec rcv1 sysctl -qw net.ipv4.igmp_max_memberships=$((n + 100))
    # shellcheck disable=SC2046
    topo_bg src "$TOPO_DIR/send.json" $MCAST send --iface eth0 --interval-ms "$RATE_MS" $(groups_args "$base" "$n")
    local s=$LAST_PID
    # Let the router see every flow first (mgmd installs an entry per flow
    # from the kernel's upcalls; igmpproxy only notes the sources).
    t_warm=$(date +%s.%N)
    if [ "$daemon" = mgmd ]; then
        for i in $(seq 1 300); do
            routes=$(mgmctl --json show routes | json_len)
            [ "$routes" -ge "$n" ] && break
            sleep 0.1
        done
        t_warm=$(python3 -c "import time; print('%.2f' % (time.time() - $t_warm))")
        sleep 1
    else
        routes="-"
        t_warm="-"
        sleep 3
    fi
    cpu0=$(proc_cpu_s "$DAEMON_PID")
    local lan1_rx0 rcv_tx0 backlog0
    lan1_rx0=$(topo_exec rtr cat /sys/class/net/lan1/statistics/rx_dropped)
    rcv_tx0=$(topo_exec rcv1 cat /sys/class/net/eth0/statistics/tx_dropped)
    backlog0=$(softnet_drops)
    rm -f "$TOPO_DIR/burst.done"
    # The receiver stays joined while the router is read (closing its
    # sockets would leave every group).
    topo_bg rcv1 "$TOPO_DIR/burst.json" $CAP burst --iface eth0 --n "$n" --base "$base" --timeout 30 \
        --hold $((SETTLE + 30)) --done "$TOPO_DIR/burst.done"
    local r=$LAST_PID
    for i in $(seq 1 400); do
        [ -e "$TOPO_DIR/burst.done" ] && break
        kill -0 "$r" 2>/dev/null || break
        sleep 0.1
    done
    cpu1=$(proc_cpu_s "$DAEMON_PID")
    local lost
    lost="$(($(topo_exec rcv1 cat /sys/class/net/eth0/statistics/tx_dropped) - rcv_tx0))/$(($(topo_exec rtr cat /sys/class/net/lan1/statistics/rx_dropped) - lan1_rx0))/$(($(softnet_drops) - backlog0))"
    rss=$(proc_rss_kib "$DAEMON_PID")
    local learned="-" learned2="-" drops="-" records="-" reports="-" krx="-"
    if [ "$daemon" = mgmd ]; then
        learned=$(lan1_groups)
        mgmctl --json show interfaces >"$TOPO_DIR/ifaces.json"
        read -r reports records drops < <(python3 - "$TOPO_DIR/ifaces.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); d = d.get("data", d) if isinstance(d, dict) else d
for i in d:
    if i.get("name") == "lan1":
        c = (i.get("querier") or {}).get("counters", {})
        dr = {k: v for k, v in c.items() if k.startswith("drop_") and v}
        # The recovery queries mgmd sent after lan1 dropped input, and the
        # drops it saw.
        dr["recovery"] = c.get("tx_recovery_queries", 0)
        dr["input_drops"] = c.get("input_drops", 0)
        print("%d+%d" % (c.get("rx_v3_report", 0), c.get("rx_v2_report", 0)), c.get("rx_records", 0), ",".join("%s=%d" % kv for kv in dr.items()))
PY
)
        mgmctl --json ping >"$TOPO_DIR/ping.json"
        krx=$(json_get "$TOPO_DIR/ping.json" '(d.get("data", d))["counters"].get("kernel_rx_drops", "-")')
        sleep "$SETTLE"
        learned2=$(lan1_groups)
    fi
    stop_reap "$r"
    stop_reap "$s"
    python3 - "$TOPO_DIR/burst.json" "$TOPO_DIR/send.json" "$daemon" "$n" "$routes" "$t_warm" "$learned" \
        "$reports" "$records" "$drops" "$(raw_igmp_drops)" "$rss" "$cpu0" "$cpu1" "$learned2" "$krx" "$lost" >>"$TOPO_DIR/burst.res" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
(daemon, n, routes, warm, learned, reports, records, drops, rawdrops, rss, cpu0, cpu1, learned2, krx, lost) = sys.argv[3:18]
def ms(t):
    return "%.0f" % ((t - b["t_first_report"]) * 1e3) if t and b["t_first_report"] else "-"
print("\t".join([daemon, n, "%d/%s(%d<1s)" % (b["got"], n, b["within_1s"]), ms(b["t_all"]),
                 "%.0f" % ((b["t_joined"] - b["t_join"]) * 1e3), str(b["reports_sent"]), routes, warm,
                 "%s/%s" % (learned, learned2), reports, records, drops, "%s/%s" % (rawdrops, krx), "%.1f" % (int(rss) / 1024) if rss.isdigit() else "-",
                 "%.2f" % (float(cpu1) - float(cpu0)), str(b["capture_drops"]), lost]))
PY
}

: >"$TOPO_DIR/burst.res"
# Every mgmd run first: once igmpproxy's IGMPv2 queries were heard, the
# receiver's kernel keeps answering in IGMPv2 for minutes.
tag=20
for n in "${SIZES[@]}"; do
    start_mgmd "$MGMD_BURST_CONF"
    burst mgmd "239.$tag.0.0" "$n"
    echo "mgmd ping after N=$n: $(tr -d ' \n' <"$TOPO_DIR/ping.json")"
    stop_daemon
    tag=$((tag + 1))
done
if [ -z "${NO_PEER:-}" ] && bench_peer_check; then
    for n in "${SIZES[@]}"; do
        start_igmpproxy "$IGMPPROXY_CONF"
        burst igmpproxy "239.$tag.0.0" "$n"
        stop_daemon
        tag=$((tag + 1))
    done
fi

echo
echo "N-group burst: sender cycles N groups at 10,000 packets/s; one $( [ "$HOST_VERSION" = 2 ] && echo IGMPv2 || echo IGMPv3) receiver joins all N at once"
echo "t_all = first report on the wire -> every group has delivered a datagram (ms); joins = time the host took to join"
echo "learned = mgmd's lan1 groups right after / ${SETTLE} s later (receiver still joined); raw drops = /proc/net/raw / mgmd kernel_rx_drops"
echo "lost = receiver eth0 tx_dropped / router lan1 rx_dropped / softnet backlog drops (all CPUs) during the burst"
printf '%-10s %5s %16s %8s %8s %8s %8s %8s %8s %8s %8s %s\n' daemon N got t_all_ms joins_ms rep_out \
    routes warm_s learned rx_v3+v2 rx_recs "drops(igmp/raw/krx) rss_MiB cpu_s capdrops lost(tx/rx/backlog)"
while IFS=$'\t' read -r d n got tall joins rep routes warm learned reports records drops raw rss cpu capd lost; do
    printf '%-10s %5s %16s %8s %8s %8s %8s %8s %8s %8s %8s %s/%s %s %s %s %s\n' "$d" "$n" "$got" "$tall" "$joins" "$rep" \
        "$routes" "$warm" "$learned" "$reports" "$records" "$drops" "$raw" "$rss" "$cpu" "$capd" "$lost"
done <"$TOPO_DIR/burst.res"
