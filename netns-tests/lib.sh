# shellcheck shell=bash
# Common helpers for the namespace tests. Each test sources this file,
# builds its topology, and exits 0 (OK), 77 (SKIP) or anything else (FAIL).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The tests use the debug build that `cargo test` already made, unless told.
: "${MGMD:=$HERE/../target/debug/mgmd}"
: "${MGMCTL:=$HERE/../target/debug/mgmctl}"
export MGMD MGMCTL
# shellcheck source=../scripts/topo.sh
. "$HERE/../scripts/topo.sh"

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
[ -x "$MGMD" ] || { echo "SKIP: $MGMD not built (cargo build)"; exit 77; }

# need_kernel FEATURE... : skip (exit 77) with the reason unless the kernel
# has every FEATURE (scripts/kernel-probe.py's names). run.sh reads these
# calls to choose a kernel that has them (scripts/kernel-env.sh), which
# passes what it found in MGMD_KERNEL_FEATURES; a test run on its own asks
# the kernel itself.
need_kernel() {
    local have f
    have=${MGMD_KERNEL_FEATURES-$(python3 "$HERE/../scripts/kernel-probe.py" 2>/dev/null |
        awk '$2 == "yes" { printf "%s ", $1 }')}
    for f in "$@"; do
        if [[ " $have " != *" $f "* ]]; then
            echo "SKIP: the kernel ($(uname -r)) lacks $f ($(kernel_option "$f"))"
            exit 77
        fi
    done
}
kernel_option() {
    case $1 in
    mroute) echo CONFIG_IP_MROUTE ;;
    mroute-tables) echo CONFIG_IP_MROUTE_MULTIPLE_TABLES ;;
    mroute6) echo CONFIG_IPV6_MROUTE ;;
    mroute6-tables) echo CONFIG_IPV6_MROUTE_MULTIPLE_TABLES ;;
    veth) echo CONFIG_VETH ;;
    netns) echo CONFIG_NET_NS ;;
    *) echo "?" ;;
    esac
}
# Every test needs these; a test that needs more says so after sourcing.
need_kernel netns veth mroute

# Every recording a passing test leaves must replay to the same outputs:
# the daemon's core is deterministic (another process, another hash seed).
# And the kernel writer's trace next to it (FILE.kernel) must hold, per
# run, exactly the kernel changes the router asked for, in order (only a
# run cut off by a kill may stop short), and every refusal the recording
# holds.
verify_recordings() {
    local f
    for f in "$TOPO_DIR"/*.rec; do
        [ -f "$f" ] || continue
        if [ ! -f "$f.kernel" ]; then
            echo "FAIL: $(basename "$f") has no kernel trace ($(basename "$f").kernel)" >&2
            return 1
        fi
        if ! "$MGMD" replay --verify --kernel-trace "$f.kernel" "$f" >/dev/null 2>"$f.verify"; then
            echo "FAIL: $(basename "$f") does not replay as recorded, or its kernel trace differs:" >&2
            cat "$f.verify" >&2
            return 1
        fi
    done
}

on_exit() {
    local rc=$?
    # Only the shell that built the topology takes it down. A process
    # started with `&` (topo_bg) is a copy of this shell until it runs its
    # command; stopped in that instant (a receiver started and stopped at
    # once), it runs this trap, and must not remove the namespaces and the
    # directory while the test goes on.
    [ "$BASHPID" = "$$" ] || return $rc
    # A closed stdout (e.g. `| head`) must not stop the cleanup.
    trap '' PIPE
    if [ $rc -eq 0 ]; then
        verify_recordings || rc=1
    fi
    if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
        echo "---- mgmd logs ($TOPO_DIR) ----"
        for f in "$TOPO_DIR"/*.log; do
            [ -f "$f" ] || continue
            echo "== $f"
            tail -n 60 "$f"
        done
    fi
    topo_cleanup
    exit $rc
}
trap on_exit EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
say() { echo "-- $*"; }

# How much longer a wait may take than on the host's kernel: a user-mode
# kernel has one CPU and starts processes several times slower. Only the
# bounds of waits for something to happen are scaled; what a test asserts
# about protocol timing it measures from captures and logs.
WAIT_SCALE=${WAIT_SCALE:-$([ "${MGMD_KERNEL_ENV_INSIDE:-}" = uml ] && echo 3 || echo 1)}

# wait_for DESCRIPTION TIMEOUT_S CMD... : poll until CMD succeeds.
wait_for() {
    local what=$1 t=$(($2 * WAIT_SCALE))
    shift 2
    local end=$((SECONDS + t))
    while ! "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $end ] || fail "timed out after ${t}s waiting for: $what"
        sleep 0.1
    done
}

# wait_for_not DESCRIPTION TIMEOUT_S CMD... : poll until CMD answers no
# (exit 1; other failures, e.g. mgmd not answering, keep polling).
wait_for_not() {
    local what=$1 t=$(($2 * WAIT_SCALE)) rc
    shift 2
    local end=$((SECONDS + t))
    while :; do
        rc=0
        "$@" >/dev/null 2>&1 || rc=$?
        [ $rc -eq 1 ] && return 0
        [ $SECONDS -lt $end ] || fail "timed out after ${t}s waiting for: $what"
        sleep 0.1
    done
}

# Does mgmd hold a membership for GROUP on INTERFACE (via mgmctl JSON)?
# Exit 1 = no, 2 = mgmctl failed.
has_group() {
    local j
    j=$(mgmctl --json show groups) || return 2
    python3 -c '
import json, sys
iface, group = sys.argv[1], sys.argv[2]
data = json.load(sys.stdin)
sys.exit(0 if any(g["interface"] == iface and g["group"] == group for g in data) else 1)' "$1" "$2" <<<"$j"
}

# route_iif GROUP SOURCE : the incoming interface of mgmd's route for
# (SOURCE,GROUP), or "-" when there is none.
route_iif() {
    mgmctl --json show routes | python3 -c '
import json, sys
g, s = sys.argv[1], sys.argv[2]
print(next((r["iif"] for r in json.load(sys.stdin) if r["group"] == g and r["source"] == s), "-"))' "$1" "$2"
}

# Is GROUP forwarded out of INTERFACE by some route?
route_has_oif() {
    local j
    j=$(mgmctl --json show routes) || return 2
    python3 -c '
import json, sys
group, oif = sys.argv[1], sys.argv[2]
data = json.load(sys.stdin)
sys.exit(0 if any(r["group"] == group and oif in r["oifs"] for r in data) else 1)' "$1" "$2" <<<"$j"
}

# json_get FILE EXPR : evaluate a python expression over the JSON in FILE (as d).
json_get() {
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# Start a receiver in NS joined to GROUP on eth0; its JSON summary lands in FILE.
start_recv() {
    local n=$1 group=$2 out=$3
    shift 3
    topo_bg "$n" "$out" $MCAST recv --iface eth0 --group "$group" --ready "$out.ready" "$@"
    wait_for "receiver in $n ready" 5 test -f "$out.ready"
}

# Start the sender in src: GROUP at 1 packet per INTERVAL ms.
start_send() {
    local group=$1 interval=${2:-1}
    shift 2 || true
    topo_bg src "$TOPO_DIR/send.log" $MCAST send --iface eth0 --group "$group" --interval-ms "$interval" "$@"
    SEND_PID=$LAST_PID
}

# Stop a background process started with topo_bg (SIGTERM, wait).
stop_bg() { topo_stop "$1"; }

# mgmd_json WHAT : `mgmctl --json show WHAT` (interfaces, groups, routes).
mgmd_json() { mgmctl --json show "$1"; }

# write_config FILE INTERFACE... : IGMPv3 querier on each interface with
# short timers. IGMP_EXTRA (TOML lines) is added to the [igmp] section;
# the caller may append sections.
write_config() {
    local f=$1 i kv
    shift
    printf '[global]\nmfe-idle-timeout = "60s"\n\n[igmp]\n' >"$f"
    for kv in 'query-interval = "10s"' 'query-response-interval = "1s"' \
        'last-member-query-interval = "0.2s"' 'startup-query-interval = "1s"'; do
        # A key given in IGMP_EXTRA replaces the default.
        grep -q "^${kv%% *} " <<<"${IGMP_EXTRA:-}" || echo "$kv" >>"$f"
    done
    echo "${IGMP_EXTRA:-}" >>"$f"
    for i in "$@"; do
        printf '\n[[interface]]\nname = "%s"\n' "$i" >>"$f"
    done
}

# rx_packets NS [IFACE] : the interface's received-packet counter in NS.
rx_packets() {
    topo_exec "$1" cat "/sys/class/net/${2:-eth0}/statistics/rx_packets"
}

# rx_grows NS N : has NS's eth0 received N packets since the mark set by
# rx_mark NS? (for wait_for)
declare -A RX_MARK=()
rx_mark() { RX_MARK[$1]=$(rx_packets "$1"); }
rx_grows() { [ $(($(rx_packets "$1") - ${RX_MARK[$1]})) -ge "$2" ]; }

# rx_delta NS SECONDS : packets received by NS's eth0 within a window.
rx_delta() {
    local a b
    a=$(rx_packets "$1")
    sleep "$2"
    b=$(rx_packets "$1")
    echo $((b - a))
}

# iface_json NAME EXPR : EXPR over interface NAME's `show interfaces` JSON (as i).
iface_json() {
    mgmctl --json show interfaces | python3 -c '
import json, sys
name, expr = sys.argv[1], sys.argv[2]
i = next((x for x in json.load(sys.stdin) if x["name"] == name), None)
print(eval(expr))' "$1" "$2"
}

# iface_is NAME EXPR : succeeds when EXPR (over i) is true (for wait_for).
iface_is() { [ "$(iface_json "$1" "bool($2)")" = True ]; }

# start_capture NS OUT : capture on NS's eth0 (mcast.py capture) until stopped.
start_capture() {
    topo_bg "$1" "$2" $MCAST capture --iface eth0 --ready "$2.ready"
    CAPTURE_PID=$LAST_PID
    wait_for "capture in $1 ready" 5 test -f "$2.ready"
}

# ---- ownership-move helpers (tests 11-19) ----

# start_events FILE : stream mgmd's events (JSON lines) into FILE.
start_events() {
    "$MGMCTL" -s "$MGMD_SOCK" events --json >"$1" 2>&1 &
    TOPO_PIDS+=($!)
    EVENTS_PID=$!
}

# start_igmp_capture NS IFACE FILE : capture every IGMP record on IFACE in
# NS; stop it with topo_stop "$CAPTURE_PID", then FILE holds a JSON list.
start_igmp_capture() {
    topo_bg "$1" "$3" $MCAST igmp-capture --iface "$2" --ready "$3.ready"
    CAPTURE_PID=$LAST_PID
    wait_for "IGMP capture in $1 ready" 5 test -f "$3.ready"
}

# lan_groups IFACE : "GROUP COMPONENT[,COMPONENT...]" per group mgmd shows
# on IFACE (components the memberships are attributed to), sorted.
lan_groups() {
    mgmctl --json show groups | python3 -c '
import json, sys
iface = sys.argv[1]
for g in sorted(json.load(sys.stdin), key=lambda g: g["group"]):
    if g["interface"] == iface:
        comps = sorted({a["component"] for a in g["attributed"]})
        print(g["group"], ",".join(comps) or "-")' "$1"
}

# route_packets GROUP : packets the kernel forwarded for GROUP's entries.
route_packets() {
    mgmctl --json show routes | python3 -c '
import json, sys
print(sum(r["packets"] for r in json.load(sys.stdin) if r["group"] == sys.argv[1]))' "$1"
}

# count_udp NS IFACE GROUP SECONDS : UDP packets to GROUP seen on IFACE in
# NS during SECONDS (at the link, whether or not a socket joined).
count_udp() {
    # (tcpdump prints an empty line when it is stopped: count packet lines only.)
    { topo_exec "$1" timeout "$4" tcpdump -l -n -q -i "$2" "udp and dst host $3" 2>/dev/null || true; } |
        awk 'NF { n++ } END { print n + 0 }'
}

# ---- restart helpers (tests 43-45) ----

# silent_join NS GROUP : NS sends one IGMPv3 report joining GROUP (any
# source) from a raw socket. The host's kernel holds no membership, so it
# answers no query afterwards: only what mgmd keeps keeps the group.
silent_join() {
    local hex
    hex=$(python3 -c 'import socket,sys; print("22000000" "00000001" "04000000" + socket.inet_aton(sys.argv[1]).hex())' "$2")
    topo_exec "$1" $MCAST igmp --iface eth0 --dst 224.0.0.22 --hex "$hex" --fix-checksum --router-alert
}

# start_stream_capture NS GROUP OUT : count GROUP's stream on NS's eth0 at
# the link (sequence numbers and times) until stopped with
# topo_stop "$CAPTURE_PID"; OUT then holds the summary ("stream").
start_stream_capture() {
    topo_bg "$1" "$3" $MCAST capture --iface eth0 --udp-group "$2" --ready "$3.ready"
    CAPTURE_PID=$LAST_PID
    wait_for "capture in $1 ready" 5 test -f "$3.ready"
}

# first_after FILE GROUP T : milliseconds from the wall-clock time T to the
# first datagram of GROUP a `recv --times` summary (or, with GROUP
# "stream", a stream capture) in FILE lists after it ("none" if none).
first_after() {
    python3 - "$1" "$2" "$3" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))[sys.argv[2]]
t = float(sys.argv[3])
after = [x for x in d["times"] if x > t]
print("%.2f" % ((after[0] - t) * 1e3) if after else "none")
PY
}

# lan_counter IFACE NAME : one of mgmd's IGMP counters on IFACE.
lan_counter() { iface_json "$1" "i['querier']['counters']['$2']"; }
