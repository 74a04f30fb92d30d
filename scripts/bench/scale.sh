#!/usr/bin/env bash
# Scale: N_GROUPS groups (default 10,000) and N_SOURCES x N_GROUPS (S,G) flows
# (default 10 x 10,000 = 100,000) over 8 interfaces, mgmd against
# smcroute (the flows, as static routes) and igmpproxy (the groups) in the
# same run.
#
#   [src] eth0 (10 source addresses) --- up0 [rtr] lan1 --- [rcv1]
#                                                   ...
#                                                   lan7 --- [rcv7]
#
# The sender cycles over every (S,G) at RATE packets/s (default 50,000),
# so each flow shows up every N_SOURCES x N_GROUPS / RATE seconds (2 s).
# Receiver k (a kernel IGMPv3 host) joins the groups i with i % 7 = k - 1
# (1,429 or 1,428 each; max-groups is set to N_GROUPS). Per
# daemon, measured in the same run:
#   flows   from the daemon's start, with the sender already sending, until
#           the kernel holds an entry for every flow (mgmd installs them
#           from the kernel's upcalls, without outgoing interfaces until a
#           receiver joins; smcroute installs its static routes, which
#           already forward); not for igmpproxy, which installs entries only
#           for groups with members
#   groups  from the receivers' joins (the daemon running, the flows known)
#           until every flow forwards to the LAN whose receiver joined its
#           group (mgmd, igmpproxy; smcroute needs no joins)
#   RSS, peak RSS (VmHWM) and CPU seconds of the daemon since its start,
#   when all flows forward (or at the time-out).
# "all" is followed in the kernel's table by its multicast routing
# notifications (scale.py watch, as `ip monitor mroute`), time-stamped as
# they arrive: reading the table instead takes seconds at 100,000 entries
# (the kernel walks its list from the start for every 4 KiB of
# /proc/net/ip_mr_cache), and a netlink dump may hold the rtnl lock the
# daemons' MRT_ADD_MFC also takes. The watcher's counts
# are checked against one read of /proc at the end of each run. Kernel
# limits that shape the figures: at most 10 unresolved (upcalled, not yet installed) flows per
# table at a time (further new flows are dropped without an upcall until
# the sender sends them again), and 32 VIFs per table.
#
#   sudo scripts/bench/scale.sh                     (RUNS=3; medians)
#   sudo N_GROUPS=2000 N_SOURCES=5 scripts/bench/scale.sh
#   sudo NO_PEER=1 scripts/bench/scale.sh           (mgmd only)
#   TIMEOUT=120 (seconds per phase), RATE=50000
set -euo pipefail
. "$(dirname "$0")/lib.sh"
N_GROUPS=${N_GROUPS:-10000}
N_SOURCES=${N_SOURCES:-10}
RATE=${RATE:-50000}
RUNS=${RUNS:-3}
TIMEOUT=${TIMEOUT:-120}
LANS=7
FLOWS=$((N_GROUPS * N_SOURCES))
BASE=239.40.0.0
SCALE="python3 $BENCH_DIR/scale.py"
# As a router runs it: no recording.
export MGMD_RECORD=0
bench_build
machine_note
command -v smcrouted >/dev/null && echo "smcroute: $(dpkg-query -W -f='${Version}' smcroute 2>/dev/null || echo '?')"
echo "groups $N_GROUPS, sources $N_SOURCES, flows $FLOWS, sender $RATE packets/s, $((LANS + 1)) interfaces"

# ---- topology ----
topo_ns src
topo_ns rtr
topo_link src eth0 10.0.1.2/24 rtr up0 10.0.1.1/24
SRC_ADDRS=()
for s in $(seq 1 "$N_SOURCES"); do
    a=10.0.1.$((9 + s))
    topo_exec src ip addr add "$a/24" dev eth0
    SRC_ADDRS+=(--source "$a")
done
topo_exec src ip route add default via 10.0.1.1
for k in $(seq 1 $LANS); do
    topo_ns "rcv$k"
    topo_link rtr "lan$k" "10.1.$k.1/24" "rcv$k" eth0 "10.1.$k.2/24"
    topo_exec "rcv$k" ip route add default via "10.1.$k.1"
    topo_exec "rcv$k" sysctl -qw net.ipv4.igmp_max_memberships=$((N_GROUPS + 100))
done
topo_router rtr

# max-groups is 4,096 per interface unless set: set to N_GROUPS, so that
# any split of the groups over the LANs is held.
MGMD_CONF='[global]
rp-filter-warning = false

[igmp]
max-groups = '$N_GROUPS'

[[interface]]
name = "up0"'
IGMPPROXY_SCALE_CONF='phyint up0 upstream ratelimit 0 threshold 1
    altnet 10.0.0.0/8'
for k in $(seq 1 $LANS); do
    MGMD_CONF+=$'\n\n[[interface]]\nname = "lan'$k'"'
    IGMPPROXY_SCALE_CONF+=$'\nphyint lan'$k' downstream ratelimit 0 threshold 1'
done

# smcroute: every flow as a static route to its receiver's LAN.
python3 - "$BASE" "$N_GROUPS" "$N_SOURCES" "$LANS" >"$TOPO_DIR/smcroute.conf" <<'PY'
import socket, struct, sys
base, groups, sources, lans = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
b = struct.unpack("!I", socket.inet_aton(base))[0]
print("phyint up0 enable")
for k in range(1, lans + 1):
    print("phyint lan%d enable" % k)
for i in range(groups):
    g = socket.inet_ntoa(struct.pack("!I", b + i))
    for s in range(1, sources + 1):
        print("mroute from up0 source 10.0.1.%d group %s to lan%d" % (9 + s, g, i % lans + 1))
PY

start_smcroute() {
    topo_bg rtr "$TOPO_DIR/smcroute.log" smcrouted -n -f "$TOPO_DIR/smcroute.conf" \
        -u "$TOPO_DIR/smcroute.sock" -P "$TOPO_DIR/smcroute.pid" -l notice
    DAEMON=smcroute
    DAEMON_PID=$LAST_PID
}

# check : {"entries", "forwarding", "right"} from one read of /proc.
check() {
    topo_exec rtr $SCALE check --base "$BASE" --groups "$N_GROUPS" --lans "$LANS"
}

# start_watch : follow the kernel's table (scale.py watch) in rtr.
start_watch() {
    rm -f "$TOPO_DIR/watch.json" "$TOPO_DIR/watch.ready"
    topo_bg rtr "$TOPO_DIR/watch.log" $SCALE watch --base "$BASE" --groups "$N_GROUPS" --lans "$LANS" \
        --flows "$FLOWS" --status "$TOPO_DIR/watch.json" --ready "$TOPO_DIR/watch.ready"
    WATCH_PID=$LAST_PID
    wait_file "$TOPO_DIR/watch.ready" || true
    [ -e "$TOPO_DIR/watch.ready" ] || { cat "$TOPO_DIR/watch.log" >&2; exit 1; }
}

# watch_get EXPR : EXPR over the watcher's status (as d).
watch_get() { json_get "$TOPO_DIR/watch.json" "$1"; }

# wait_until FIELD T0 : poll the watcher's status every 0.2 s until
# FIELD_at is set (all FLOWS reached) or TIMEOUT passes; prints
# "seconds-since-T0 count" (seconds "-" on a time-out, with the count
# reached).
wait_until() {
    local field=$1 t0=$2 at
    while :; do
        if [ -s "$TOPO_DIR/watch.json" ]; then
            at=$(watch_get "d['${field}_at'] or ''")
            if [ -n "$at" ]; then
                echo "$(python3 -c "print('%.2f' % ($at - $t0))") $(watch_get "d['$field']")"
                return
            fi
        fi
        if python3 -c "import sys, time; sys.exit(0 if time.time() - $t0 > $TIMEOUT else 1)"; then
            echo "- $(watch_get "d['$field']" 2>/dev/null || echo 0)"
            return
        fi
        kill -0 "$DAEMON_PID" 2>/dev/null || { echo "- $(watch_get "d['$field']")"; return; }
        sleep 0.2
    done
}

now() { python3 -c 'import time; print(time.time())'; }

# mgmd's IGMP intake: v3 reports and records received, raw-socket drops,
# the routing socket's drops.
igmp_intake() {
    mgmctl --json show counters | python3 -c '
import json, sys
d = json.load(sys.stdin)
rep = sum(i["igmp"]["rx"]["v3_report"] + i["igmp"]["rx"]["v2_report"] for i in d["interfaces"])
rec = sum(i["igmp"]["rx_records"] for i in d["interfaces"])
refused = sum(i["igmp"]["refused_groups"] for i in d["interfaces"])
print("reports %d records %d refused %d kernel_rx_drops %d" % (rep, rec, refused, d["io"]["kernel_rx_drops"]))'
}

# run DAEMON : one measurement; appends a line to scale.res
run() {
    local d=$1 t0 flows_t flows_n groups_t groups_n k holds=() sender
    topo_bg src "$TOPO_DIR/send.json" $SCALE send "${SRC_ADDRS[@]}" --base "$BASE" --groups "$N_GROUPS" --rate "$RATE"
    sender=$LAST_PID
    sleep 2
    start_watch
    t0=$(now)
    case $d in
    mgmd) start_mgmd "$MGMD_CONF" ;;
    smcroute) start_smcroute ;;
    igmpproxy) start_igmpproxy "$IGMPPROXY_SCALE_CONF" ;;
    esac
    flows_t=- flows_n=-
    if [ "$d" != igmpproxy ]; then
        read -r flows_t flows_n < <(wait_until entries "$t0")
    else
        sleep 3
    fi
    groups_t=- groups_n=-
    if [ "$d" != smcroute ]; then
        t0=$(now)
        for k in $(seq 1 $LANS); do
            rm -f "$TOPO_DIR/hold$k.ready"
            topo_bg "rcv$k" "$TOPO_DIR/hold$k.log" $SCALE hold --iface eth0 --base "$BASE" \
                --groups "$N_GROUPS" --offset $((k - 1)) --step $LANS --ready "$TOPO_DIR/hold$k.ready"
            holds+=("$LAST_PID")
        done
        read -r groups_t groups_n < <(wait_until right "$t0")
        if [ "$d" = mgmd ]; then
            echo "mgmd: $(igmp_intake); raw IGMP drops $(raw_igmp_drops)"
        fi
    else
        read -r groups_t groups_n < <(wait_until right "$t0")
        groups_t=-
    fi
    local rss hwm cpu learned="-" proc
    # The watcher's counts against one read of the table.
    proc=$(check)
    echo "$d: watcher $(watch_get "'entries %d forwarding %d right %d, overruns %d' % (d['entries'], d['forwarding'], d['right'], d['overruns'])"); /proc $proc"
    stop_reap "$WATCH_PID"
    rss=$(proc_rss_kib "$DAEMON_PID")
    hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$DAEMON_PID/status")
    cpu=$(proc_cpu_s "$DAEMON_PID")
    if [ "$d" = mgmd ]; then
        learned=$(mgmctl --json show groups | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
    fi
    echo "$d $flows_t $flows_n $groups_t $groups_n $rss $hwm $cpu $learned" >>"$TOPO_DIR/scale.res"
    echo "run: $d flows ${flows_t}s ($flows_n) groups ${groups_t}s ($groups_n right) rss ${rss}KiB hwm ${hwm}KiB cpu ${cpu}s learned $learned"
    for k in "${holds[@]}"; do stop_reap "$k"; done
    stop_daemon
    stop_reap "$sender"
    rm -f "$TOPO_DIR/mgmd.state"
    # Let the kernel forget the receivers' memberships' reports and the
    # table before the next daemon.
    sleep 2
}

: >"$TOPO_DIR/scale.res"
# igmpproxy's runs come last: its IGMPv2 queries put the receivers into
# v2 compatibility for minutes (force_igmp_version=3 does not prevent it),
# and mgmd's runs after them would face IGMPv2 hosts.
for r in $(seq 1 "$RUNS"); do
    run mgmd
    [ -n "${NO_PEER:-}" ] || ! command -v smcrouted >/dev/null || run smcroute
done
if [ -z "${NO_PEER:-}" ] && bench_peer_check; then
    for r in $(seq 1 "$RUNS"); do run igmpproxy; done
fi

echo
echo "Scale: $N_GROUPS groups, $FLOWS flows ($N_SOURCES sources), $((LANS + 1)) interfaces, sender $RATE packets/s; medians of $RUNS run(s)"
echo "flows = daemon start -> an entry for every flow; groups = joins -> every flow forwards to its receiver's LAN"
echo "(\"-\" = not this daemon's job, or not reached within ${TIMEOUT} s: the count reached is shown)"
python3 - "$TOPO_DIR/scale.res" "$FLOWS" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    rows.setdefault(f[0], []).append(f[1:])
def med(vals):
    nums = [float(v) for v in vals if v != "-"]
    if not nums:
        return "-"
    m = statistics.median(nums)
    return ("%.1f" % m) + ("" if len(nums) == len(vals) else " (%d of %d runs)" % (len(nums), len(vals)))
print("%-10s %-22s %-10s %-22s %-10s %9s %9s %7s %s" % ("daemon", "flows_s", "entries", "groups_s", "right", "rss_KiB", "hwm_KiB", "cpu_s", "groups learned"))
for d, rs in rows.items():
    col = lambda i: [r[i] for r in rs]
    print("%-10s %-22s %-10s %-22s %-10s %9s %9s %7s %s" % (
        d, med(col(0)), "/".join(col(1)), med(col(2)), "/".join(col(3)),
        med(col(4)), med(col(5)), med(col(6)), "/".join(col(7))))
PY
