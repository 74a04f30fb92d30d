#!/usr/bin/env bash
# Nothing lost: link flaps and restarts, mgmd against igmpproxy and
# smcroute in the same run. A receiver (rcv1, lan1, a kernel IGMPv3 host)
# is joined to one group; the sender sends it 1 packet/ms through the
# router. Per daemon, TRIALS times each:
#   flap     50 down/up cycles of lan1: time from the last up to the first
#            datagram at the receiver
#   crash    kill -9, then start the daemon again: time from the start to
#            the first datagram
#   restart  a planned restart: mgmd `mgmctl restart` (onto the binary at
#            its path), the peers stop (SIGTERM) and start again: datagrams
#            lost, and the longest silence at the receiver
# The daemons run with their defaults (mgmd: query interval 125 s, query
# response interval 10 s; igmpproxy: the same; smcroute: a (*,G) route
# up0 -> lan1, no IGMP).
#
#   sudo scripts/bench/resilience.sh            (TRIALS=3 FLAPS=50)
#   sudo NO_PEER=1 scripts/bench/resilience.sh  (mgmd only)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
TRIALS=${TRIALS:-3}
FLAPS=${FLAPS:-50}
G=239.7.7.7
bench_build
topo_standard
machine_note
command -v smcrouted >/dev/null && echo "smcroute: $(dpkg-query -W -f='${Version}' smcroute 2>/dev/null || echo '?')"

MGMD_CONF='[global]
rp-filter-warning = false

[[interface]]
name = "up0"

[[interface]]
name = "lan1"

[[interface]]
name = "lan2"'

SMCROUTE_CONF="phyint up0 enable
phyint lan1 enable
mroute from up0 group $G to lan1"

start_smcroute() {
    printf '%s\n' "$1" >"$TOPO_DIR/smcroute.conf"
    topo_bg rtr "$TOPO_DIR/smcroute.log" smcrouted -n -f "$TOPO_DIR/smcroute.conf" \
        -u "$TOPO_DIR/smcroute.sock" -P "$TOPO_DIR/smcroute.pid" -l notice
    DAEMON=smcroute
    DAEMON_PID=$LAST_PID
    local i
    for i in $(seq 1 50); do
        [ "$(topo_exec rtr cat /proc/sys/net/ipv4/conf/all/mc_forwarding)" = 1 ] && { sleep 0.3; return 0; }
        sleep 0.1
    done
    echo "smcroute did not start" >&2
    cat "$TOPO_DIR/smcroute.log" >&2
    return 1
}

start_daemon() {
    case $1 in
    mgmd) start_mgmd "$MGMD_CONF" ;;
    igmpproxy) start_igmpproxy "$IGMPPROXY_CONF" ;;
    smcroute) start_smcroute "$SMCROUTE_CONF" ;;
    esac
}

# The kernel forwards G to lan1.
forwarding() {
    topo_exec rtr ip mroute show | grep -q "($G\|, $G).*lan1" ||
        topo_exec rtr cat /proc/net/ip_mr_cache | awk 'NR > 1' | grep -qi "$(python3 -c "import socket,struct,sys; print('%08X' % struct.unpack('<I', socket.inet_aton(sys.argv[1]))[0])" $G)"
}

# recv_start: a receiver with arrival times; recv_stop prints its file.
recv_start() {
    rm -f "$TOPO_DIR/rcv.json" "$TOPO_DIR/rcv.json.ready"
    topo_bg rcv1 "$TOPO_DIR/rcv.json" $MCAST recv --iface eth0 --group $G --times --ready "$TOPO_DIR/rcv.json.ready"
    RECV=$LAST_PID
    wait_file "$TOPO_DIR/rcv.json.ready"
}
recv_stop() { stop_reap "$RECV"; }

# wait_stream SECONDS: until the receiver's link counts packets again.
wait_stream() {
    local a i
    a=$(topo_exec rcv1 cat /sys/class/net/eth0/statistics/rx_packets)
    for i in $(seq 1 $(($1 * 20))); do
        sleep 0.05
        [ $(($(topo_exec rcv1 cat /sys/class/net/eth0/statistics/rx_packets) - a)) -ge 100 ] && return 0
    done
    return 1
}

# analyse T: "first-datagram-after-T(ms) missing longest-silence(ms)"
analyse() {
    python3 - "$TOPO_DIR/rcv.json" "$G" "$1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))[sys.argv[2]]
t = float(sys.argv[3])
ts = d["times"]
after = [x for x in ts if x > t]
first = "%.2f" % ((after[0] - t) * 1e3) if after else "none"
gap = max((b - a for a, b in zip(ts, ts[1:])), default=0) * 1e3
print(first, d["missing"], "%.1f" % gap)
PY
}

: >"$TOPO_DIR/res"
topo_bg src "$TOPO_DIR/send.log" $MCAST send --iface eth0 --group $G --interval-ms 1
daemons=(mgmd)
[ -n "${NO_PEER:-}" ] || {
    command -v igmpproxy >/dev/null && daemons+=(igmpproxy)
    command -v smcrouted >/dev/null && daemons+=(smcroute)
}
for d in "${daemons[@]}"; do
    if [ "$d" = mgmd ]; then
        # Restarts go onto the binary at its path: a copy, so that the
        # build can be installed over it.
        mkdir -p "$TOPO_DIR/bin"
        cp "$ROOT/target/release/mgmd" "$TOPO_DIR/bin/mgmd"
        MGMD="$TOPO_DIR/bin/mgmd"
    fi
    start_daemon "$d"
    for trial in $(seq 1 "$TRIALS"); do
        recv_start
        wait_stream 15 || { echo "$d: no stream before the flaps" >&2; }
        for _ in $(seq 1 "$FLAPS"); do
            ip -n "$(ns rtr)" link set lan1 down
            ip -n "$(ns rtr)" link set lan1 up
        done
        t=$(date +%s.%N)
        wait_stream 15 || true
        sleep 0.5
        recv_stop
        echo "$d flap $(analyse "$t")" >>"$TOPO_DIR/res"

        recv_start
        wait_stream 15 || true
        kill -KILL "$DAEMON_PID"
        wait_reap "$DAEMON_PID"
        # The kernel empties the table when the socket closes.
        sleep 0.5
        t=$(date +%s.%N)
        start_daemon "$d"
        wait_stream 15 || true
        sleep 0.5
        recv_stop
        echo "$d crash $(analyse "$t")" >>"$TOPO_DIR/res"

        recv_start
        wait_stream 15 || true
        t=$(date +%s.%N)
        if [ "$d" = mgmd ]; then
            cp "$ROOT/target/release/mgmd" "$TOPO_DIR/bin/mgmd.new"
            mv -f "$TOPO_DIR/bin/mgmd.new" "$TOPO_DIR/bin/mgmd"
            mgmctl restart >/dev/null
            sleep 1
        else
            stop_reap "$DAEMON_PID"
            start_daemon "$d"
        fi
        wait_stream 15 || true
        sleep 0.5
        recv_stop
        echo "$d restart $(analyse "$t")" >>"$TOPO_DIR/res"
    done
    stop_daemon
    sleep 0.5
done

echo
echo "flap: first datagram after the last of $FLAPS down/up cycles (ms); crash: first datagram after the"
echo "start that follows kill -9 (ms); restart: datagrams lost and longest silence (ms) over a planned restart"
echo "(mgmd: mgmctl restart onto a new binary; peers: SIGTERM and start). 1 packet/ms; $TRIALS trials each."
python3 - "$TOPO_DIR/res" <<'PY'
import sys, statistics
rows = {}
for line in open(sys.argv[1]):
    d, what, first, missing, gap = line.split()
    rows.setdefault((d, what), []).append((first, int(missing), float(gap)))
def med(xs):
    xs = [float(x) for x in xs if x != "none"]
    return "%.2f" % statistics.median(xs) if xs else "none"
print("%-10s %-8s %14s %22s %10s %18s" % ("daemon", "case", "first_ms(med)", "first_ms(all)", "lost", "longest_gap_ms"))
for (d, what), v in rows.items():
    print("%-10s %-8s %14s %22s %10s %18s" % (d, what, med([x[0] for x in v]), ",".join(x[0] for x in v),
          ",".join(str(x[1]) for x in v), ",".join("%.0f" % x[2] for x in v)))
PY
