#!/usr/bin/env bash
# Where mgmd's resident memory goes, idle and with N groups forwarding,
# with igmpproxy measured in the same run. mgmd runs on the standard
# topology (up0, lan1, lan2; scripts/topo.sh). Per daemon:
#   idle       3 s after the start
#   N groups   the sender cycles N groups at 10,000 packets/s; the receiver
#              (rcv1, lan1, kernel IGMPv3 host) joins all N (PACE groups
#              every 100 ms, default all at once); measured SETTLE seconds
#              (default 5) after every group has delivered a datagram
#   after show (mgmd) the same once `mgmctl --json show groups` and `show
#              routes` have answered (the answers are built and freed)
# For each: VmRSS and its parts from /proc/PID/smaps: the daemon's own
# binary (file-backed: the code the kernel mapped), shared libraries,
# the heap (brk), other anonymous mappings (large allocations, thread
# arenas and stacks) and the main stack.
#
#   sudo scripts/bench/memory.sh [N]          (default 4000)
#   sudo NO_PEER=1 scripts/bench/memory.sh    (mgmd only)
#   sudo RUNS=3 scripts/bench/memory.sh       (medians over 3 runs)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
N=${1:-4000}
RUNS=${RUNS:-1}
SETTLE=${SETTLE:-5}
PACE=${PACE:-0}
# As a router runs it: no recording.
export MGMD_RECORD=0
bench_build
topo_standard
machine_note
ls -l "$MGMD" | awk '{print "mgmd binary: " $5 " bytes"}'

MGMD_CONF='[global]
rp-filter-warning = false

[[interface]]
name = "up0"

[[interface]]
name = "lan1"

[[interface]]
name = "lan2"'

# mem PID : "rss anon binary libs heap anon_mmap stack" in KiB.
mem() {
    python3 - "$1" "$(readlink -f "/proc/$1/exe")" <<'PY'
import re, sys
pid, exe = sys.argv[1], sys.argv[2]
parts = dict(binary=0, libs=0, heap=0, anon_mmap=0, stack=0)
name = None
for line in open("/proc/%s/smaps" % pid):
    if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
        f = line.split()
        name = f[5] if len(f) > 5 else ""
    elif line.startswith("Rss:"):
        kib = int(line.split()[1])
        if name == exe:
            parts["binary"] += kib
        elif name == "[heap]":
            parts["heap"] += kib
        elif name == "[stack]":
            parts["stack"] += kib
        elif name.startswith("/"):
            parts["libs"] += kib
        else:
            parts["anon_mmap"] += kib
st = {l.split(":")[0]: int(l.split()[1]) for l in open("/proc/%s/status" % pid) if l.startswith(("VmRSS", "RssAnon"))}
print(st["VmRSS"], st["RssAnon"], parts["binary"], parts["libs"], parts["heap"], parts["anon_mmap"], parts["stack"])
PY
}

groups_args() { # BASE N -> "--group G" pairs for mcast.py send
    python3 - "$1" "$2" <<'PY'
import socket, struct, sys
b = struct.unpack("!I", socket.inet_aton(sys.argv[1]))[0]
print(" ".join("--group " + socket.inet_ntoa(struct.pack("!I", b + i)) for i in range(int(sys.argv[2]))))
PY
}

# Entries in the kernel's table that forward somewhere.
forwarding_entries() {
    topo_exec rtr awk 'NR > 1 && NF > 6 {n++} END {print n + 0}' /proc/net/ip_mr_cache
}

# run DAEMON BASE : one run; appends "daemon state numbers..." lines to mem.res
run() {
    local daemon=$1 base=$2 s r i
    case $daemon in
    mgmd) start_mgmd "$MGMD_CONF" ;;
    igmpproxy) start_igmpproxy "$IGMPPROXY_CONF" ;;
    esac
    sleep 3
    echo "$daemon idle $(mem "$DAEMON_PID")" >>"$TOPO_DIR/mem.res"
    topo_exec rcv1 sysctl -qw net.ipv4.igmp_max_memberships=$((N + 100))
    # shellcheck disable=SC2046
    topo_bg src "$TOPO_DIR/send.json" $MCAST send --iface eth0 --interval-ms 0.1 $(groups_args "$base" "$N")
    s=$LAST_PID
    sleep 3
    rm -f "$TOPO_DIR/burst.done"
    topo_bg rcv1 "$TOPO_DIR/burst.json" $CAP burst --iface eth0 --n "$N" --base "$base" --timeout 60 \
        --pace "$PACE" --hold 600 --done "$TOPO_DIR/burst.done"
    r=$LAST_PID
    for i in $(seq 1 700); do
        [ -e "$TOPO_DIR/burst.done" ] && break
        sleep 0.1
    done
    sleep "$SETTLE"
    local got fwd
    got=$(json_get "$TOPO_DIR/burst.json" 'd["got"]' 2>/dev/null || echo 0)
    fwd=$(forwarding_entries)
    echo "$daemon groups $(mem "$DAEMON_PID") $got $fwd" >>"$TOPO_DIR/mem.res"
    if [ "$daemon" = mgmd ]; then
        mgmctl --json show groups >/dev/null
        mgmctl --json show routes >/dev/null
        sleep 1
        echo "$daemon after-show $(mem "$DAEMON_PID") $got $fwd" >>"$TOPO_DIR/mem.res"
    fi
    stop_reap "$r"
    stop_reap "$s"
    stop_daemon
    # The next mgmd starts afresh, not from this one's snapshot.
    rm -f "$TOPO_DIR/mgmd.state"
}

: >"$TOPO_DIR/mem.res"
tag=30
for k in $(seq 1 "$RUNS"); do
    run mgmd "239.$tag.0.0"
    tag=$((tag + 1))
    if [ -z "${NO_PEER:-}" ] && bench_peer_check; then
        run igmpproxy "239.$tag.0.0"
        tag=$((tag + 1))
    fi
done

echo
echo "Resident memory (KiB; medians over $RUNS run(s)); N = $N groups, each with a flow from the sender"
echo "binary = the daemon's executable mapped; libs = shared libraries; heap = brk heap;"
echo "anon_mmap = other anonymous mappings (large allocations, thread stacks and arenas)"
python3 - "$TOPO_DIR/mem.res" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    rows.setdefault((f[0], f[1]), []).append(f[2:])
cols = ["VmRSS", "anon", "binary", "libs", "heap", "anon_mmap", "stack"]
print("%-10s %-10s %8s %8s %8s %8s %8s %9s %6s %s" % ("daemon", "state", *cols, "groups forwarding"))
for (d, state), rs in rows.items():
    med = [int(statistics.median(int(r[i]) for r in rs)) for i in range(7)]
    extra = ""
    if len(rs[0]) > 7:
        extra = "%s got / %s kernel entries" % (rs[-1][7], rs[-1][8])
    print("%-10s %-10s %8d %8d %8d %8d %8d %9d %6d %s" % (d, state, *med, extra))
print("VmRSS in MiB: " + ", ".join("%s %s %.1f" % (d, s, statistics.median(int(r[0]) for r in rs) / 1024) for (d, s), rs in rows.items()))
PY
