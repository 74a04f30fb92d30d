#!/usr/bin/env bash
# Soak: churn for DURATION seconds while streams flow, then back to the
# baseline, and check that nothing was left behind.
#
#   sudo scripts/soak.sh DURATION          (seconds, or with a unit: 30m, 2m, 90s)
#   sudo MGMD=target/release/mgmd MGMCTL=target/release/mgmctl scripts/soak.sh 30m
#
# Topology (real kernel hosts, IGMPv3):
#
#   [src] eth0 10.0.1.2 ---- up0 [rtr: mgmd] lan1 ---- eth0 [rcv1]
#                                            lan2 ---- eth0 [rcv2]
#                                            lan3 ---- eth0 [rcv3]
#
# IGMP runs on up0, lan1 and lan2; the static protocol owns up0 and lan3
# (one route up0 -> lan3). The sender sends every group used below, all
# the time. Baseline: rcv1 and rcv2 each receive one stream, rcv3 the
# static route's; mgmd has run 10 s. Then, until DURATION is over, one
# action after another (SOAK_SEED picks them; pauses of 0-0.3 s):
#   join     a receiver in rcv1 or rcv2 joins a group of a pool of 16 (or,
#            one time in four, a source-specific 232/8 group)
#   leave    one of those receivers leaves (closes its socket)
#   flap     lan1, lan2 or lan3 goes down for 0.1-0.5 s
#   move     lan2 moves to the static protocol (mgmctl take) or back
#            (mgmctl release)
#   reload   the other of two files (one adds a static route and changes
#            the query interval) is put in place and `mgmctl reload`ed
#   route    a runtime static route is added (mgmctl route add) or
#            deleted (route del); a reload also drops it
# Every 10 s of churn mgmd must be alive and `mgmctl verify` must find the
# kernel's table as mgmd programmed it (within 5 s, churn paused).
# At the end everything is undone (receivers leave, lan2 released, the
# runtime route deleted, the first file reloaded) and, once the leaves
# are through (at most 40 s), the soak checks against the baseline:
#   - mgmd's groups, routes (without counters and timers) and interfaces
#     (`mgmctl --json show groups|routes|interfaces`);
#   - the kernel: `mgmctl verify` exits 0, and the VIFs (by device) and
#     `ip mroute show` (entries with their interfaces by name) are as at
#     the baseline;
#   - mgmd's resident set is within max(SOAK_RSS_SLACK_KIB, 10 %) of the
#     baseline (default 1024 KiB);
#   - the periodic kernel audit found nothing to repair (kernel_drift 0),
#     and no manager error or effect loop was counted;
#   - mgmd never restarted (same pid and start time, one start in its log)
#     and logged no error; the baseline streams still reach rcv1-3.
# Exit 0 when every check passed, 1 with "FAIL: ..." (and mgmd's log)
# otherwise. Namespaces and processes are removed on any exit. With
# SOAK_RECORD=1 mgmd records every step and the recording must replay to
# the same outputs.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
DURATION=${1:?usage: soak.sh DURATION (seconds, or e.g. 30m)}
case $DURATION in
*m) DURATION=$((${DURATION%m} * 60)) ;;
*s) DURATION=${DURATION%s} ;;
esac
[[ $DURATION =~ ^[0-9]+$ ]] || { echo "soak.sh: DURATION must be seconds or minutes (30m)" >&2; exit 2; }
export MGMD_RECORD=${SOAK_RECORD:-0}
SEED=${SOAK_SEED:-$$}
RSS_SLACK_KIB=${SOAK_RSS_SLACK_KIB:-1024}
# On a kernel with multicast routing: the host's, or user-mode Linux
# (scripts/kernel-env.sh), before anything is made here.
if [ -z "${MGMD_KERNEL_ENV_INSIDE:-}" ] && [ "$(id -u)" = 0 ]; then
    exec "$HERE/kernel-env.sh" --need mroute -- "$0" "$@"
fi
# Its own namespace prefix and directory (removed on exit).
export TOPO_ID=${TOPO_ID:-soak$$}
export TOPO_DIR=${TOPO_DIR:-$(mktemp -d /tmp/mgmd-soak.XXXXXX)}
# The namespace tests' helpers: topology, mgmd, receivers, waits, clean-up.
# shellcheck source=../netns-tests/lib.sh
. "$HERE/../netns-tests/lib.sh"

B1=239.60.0.1 B2=239.60.0.2 ST=239.60.0.3 ST2=239.60.0.4 RT=239.61.0.1 SRC=10.0.1.2
POOL=()
for i in $(seq 0 15); do POOL+=("239.60.1.$i"); done
SSM=(232.60.1.0 232.60.1.1 232.60.1.2 232.60.1.3)

topo_standard
topo_ns rcv3
topo_link rtr lan3 10.0.4.1/24 rcv3 eth0 10.0.4.2/24
topo_exec rcv3 ip route add default via 10.0.4.1
topo_router rtr

config() { # config a|b
    cat <<CFG
[global]
rp-filter-warning = false

[igmp]
query-interval = "$([ "$1" = a ] && echo 10s || echo 12s)"
query-response-interval = "1s"
last-member-query-interval = "0.2s"
startup-query-interval = "1s"

[[interface]]
name = "up0"
[[interface]]
name = "lan1"
[[interface]]
name = "lan2"

[static]
interfaces = ["up0", "lan3"]

[[static.route]]
group = "$ST"
inbound = "up0"
outbound = ["lan3"]
CFG
    if [ "$1" = b ]; then
        printf '\n[[static.route]]\ngroup = "%s"\ninbound = "up0"\noutbound = ["lan3"]\n' "$ST2"
    fi
}
CFG=$TOPO_DIR/mgmd.toml
config a >"$CFG"
"$MGMD" --check -c "$CFG" >/dev/null
topo_mgmd "$CFG"
PID=$MGMD_PID
echo "soak: ${DURATION}s, seed $SEED, mgmd $MGMD (pid $PID), recording $([ "$MGMD_RECORD" = 1 ] && echo on || echo off)"

# Every group in use, sent all the time (1 packet per group every 10 ms).
groups=("$B1" "$B2" "$ST" "$ST2" "$RT" "${POOL[@]}")
send_args=()
for g in "${groups[@]}"; do send_args+=(--group "$g"); done
topo_bg src "$TOPO_DIR/send.json" $MCAST send --iface eth0 \
    --interval-ms "$(awk -v n=${#groups[@]} 'BEGIN { printf "%.3f", 10 / n }')" "${send_args[@]}"
SEND_PID=$LAST_PID
topo_bg src "$TOPO_DIR/send-ssm.json" $MCAST send --iface eth0 --interval-ms 2.5 --group "${SSM[0]}" \
    --group "${SSM[1]}" --group "${SSM[2]}" --group "${SSM[3]}"
SEND_SSM_PID=$LAST_PID

BASE_RECV=()
start_recv rcv1 "$B1" "$TOPO_DIR/base1.json"
BASE_RECV+=("$LAST_PID")
start_recv rcv2 "$B2" "$TOPO_DIR/base2.json"
BASE_RECV+=("$LAST_PID")
start_recv rcv3 "$ST" "$TOPO_DIR/base3.json"
BASE_RECV+=("$LAST_PID")
wait_for "$B1 forwarded to lan1" 10 route_has_oif "$B1" lan1
wait_for "$B2 forwarded to lan2" 10 route_has_oif "$B2" lan2
wait_for "$ST forwarded to lan3" 10 route_has_oif "$ST" lan3

# The state that must come back: groups, routes without counters and
# timers, interfaces (owner, IGMP, VIF, querier), and the kernel's table
# without counters.
state() {
    python3 - "$MGMCTL" "$MGMD_SOCK" <<'PY'
import json, subprocess, sys
def show(what):
    return json.loads(subprocess.check_output([sys.argv[1], "-s", sys.argv[2], "--json", "show", what]))
groups = sorted((g["interface"], g["group"], g["mode"],
                 sorted((s["source"], s["forwarding"]) for s in g["sources"]),
                 sorted({a["component"] for a in g["attributed"]})) for g in show("groups"))
routes = sorted((r["source"], r["group"], r["iif"], r["oifs"], r["iif_owner"], r["refused"])
                for r in show("routes"))
ifaces = sorted((i["name"], i["state"], i["owner"], i["igmp"], i["vif"],
                 (i["querier"] or {}).get("querier_addr")) for i in show("interfaces"))
print(json.dumps({"groups": groups, "routes": routes, "interfaces": ifaces}, sort_keys=True))
PY
}
kernel() {
    # The VIFs by device (index and counters left out: a flapped link may
    # come back on another index), then `ip mroute show`: every entry with
    # its incoming and outgoing interfaces by name.
    topo_exec rtr awk 'NR > 1 { print $2, $7, $8, $9 }' /proc/net/ip_mr_vif | sort
    echo --
    topo_exec rtr ip mroute show | sed 's/[[:space:]]\+/ /g; s/ $//' | sort
}
# verify_ok : `mgmctl verify` finds the kernel's table as mgmd programmed it.
verify_ok() { mgmctl verify >"$TOPO_DIR/verify.out" 2>&1; }
# verify_settled : verify_ok, or again within 5 s with no churn meanwhile
# (a change may be on its way to the kernel when verify reads it).
verify_settled() {
    local i
    for i in $(seq 1 10); do
        verify_ok && return 0
        sleep 0.5
    done
    return 1
}
# counter NAME : one of mgmd's router counters (`mgmctl --json show counters`).
counter() {
    mgmctl --json show counters | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(d["router"][sys.argv[1]])' "$1"
}
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$PID/status"; }
# Fields after the ")" of the command name: utime is the 12th, stime the
# 13th, starttime the 20th.
starttime() { sed 's/.*) //' "/proc/$PID/stat" | awk '{print $20}'; }
cpu_s() { sed 's/.*) //' "/proc/$PID/stat" | awk -v t="$(getconf CLK_TCK)" '{printf "%.1f", ($12 + $13) / t}'; }

sleep 10
verify_settled || fail "mgmctl verify at the baseline: $(cat "$TOPO_DIR/verify.out")"
BASE_STATE=$(state)
BASE_KERNEL=$(kernel)
BASE_RSS=$(rss)
BASE_START=$(starttime)
BASE_CPU=$(cpu_s)
sizes() { python3 -c 'import json, sys; d = json.loads(sys.argv[1]); print(", ".join("%d %s" % (len(v), k) for k, v in sorted(d.items())))' "$1"; }
echo "baseline: $(sizes "$BASE_STATE"); RSS $BASE_RSS KiB"

# ---- churn ----
RANDOM=$SEED
declare -A JOINED=()     # "host group" -> pid
declare -A COUNT=()
current=a
# The runtime route is there (a reload drops it: it was not in the file).
route_on=0
max_rss=$BASE_RSS
# pick WORD... : one of the words, in PICK (not echoed: a $(...) subshell
# would draw from a reseeded RANDOM and the seed would not replay).
pick() { local a=("$@"); PICK=${a[RANDOM % ${#a[@]}]}; }
pause() { sleep "0.$((RANDOM % 4))"; }
ctl() { mgmctl "$@" >"$TOPO_DIR/ctl.out" 2>&1 || fail "mgmctl $*: $(cat "$TOPO_DIR/ctl.out")"; }
owner_of() { iface_json "$1" "i['owner'] or '-'"; }
# stop_join PID: stop a receiver and forget its pid (a long soak starts
# thousands; the clean-up must not signal pids since reused).
stop_join() {
    local p keep=()
    stop_bg "$1"
    for p in "${TOPO_PIDS[@]}"; do
        [ "$p" = "$1" ] || keep+=("$p")
    done
    TOPO_PIDS=("${keep[@]}")
}

act_join() {
    local host g key src=()
    pick rcv1 rcv2
    host=$PICK
    if [ $((RANDOM % 4)) = 0 ]; then
        pick "${SSM[@]}"
        src=(--source "$SRC")
    else
        pick "${POOL[@]}"
    fi
    g=$PICK
    key="$host $g"
    [ -z "${JOINED[$key]:-}" ] || return 0
    topo_bg "$host" /dev/null $MCAST join --iface eth0 --group "$g" "${src[@]}"
    JOINED[$key]=$LAST_PID
    COUNT[join]=$((${COUNT[join]:-0} + 1))
}
act_leave() {
    [ ${#JOINED[@]} -gt 0 ] || return 0
    local keys=("${!JOINED[@]}") key
    pick "${keys[@]}"
    key=$PICK
    stop_join "${JOINED[$key]}"
    unset "JOINED[$key]"
    COUNT[leave]=$((${COUNT[leave]:-0} + 1))
}
act_flap() {
    local i
    pick lan1 lan2 lan3
    i=$PICK
    topo_exec rtr ip link set "$i" down
    sleep "0.$((1 + RANDOM % 5))"
    topo_exec rtr ip link set "$i" up
    COUNT[flap]=$((${COUNT[flap]:-0} + 1))
}
act_move() {
    if [ "$(owner_of lan2)" = static ]; then
        ctl release lan2 static
    else
        ctl take lan2 static
    fi
    COUNT[move]=$((${COUNT[move]:-0} + 1))
}
act_reload() {
    current=$([ "$current" = a ] && echo b || echo a)
    config "$current" >"$CFG"
    ctl reload
    route_on=0
    COUNT[reload]=$((${COUNT[reload]:-0} + 1))
}
act_route() {
    if [ $route_on = 1 ]; then
        ctl route del "$RT" --source "$SRC"
        route_on=0
    else
        ctl route add "$RT" up0 lan3 --source "$SRC"
        route_on=1
    fi
    COUNT[route]=$((${COUNT[route]:-0} + 1))
}

# Every 10 s: mgmd is alive, its resident set (sampled), and the kernel's
# table as mgmd programmed it (checked with no churn running); a progress
# line every 5 minutes.
actions() { local k n=0; for k in "${!COUNT[@]}"; do n=$((n + COUNT[$k])); done; echo $n; }
t_churn=$SECONDS
end=$((SECONDS + DURATION))
next_sample=$((SECONDS + 10))
next_report=$((SECONDS + 300))
verifies=0
while [ $SECONDS -lt $end ]; do
    case $((RANDOM % 20)) in
    0 | 1 | 2 | 3 | 4 | 5 | 6) act_join ;;
    7 | 8 | 9 | 10 | 11 | 12) act_leave ;;
    13 | 14) act_flap ;;
    15 | 16) act_move ;;
    17) act_reload ;;
    18 | 19) act_route ;;
    esac
    pause
    if [ $SECONDS -ge $next_sample ]; then
        kill -0 "$PID" 2>/dev/null || fail "mgmd is gone"
        r=$(rss)
        [ "$r" -le "$max_rss" ] || max_rss=$r
        verify_settled || fail "mgmctl verify after $((SECONDS - t_churn)) s of churn: $(cat "$TOPO_DIR/verify.out")"
        verifies=$((verifies + 1))
        next_sample=$((SECONDS + 10))
    fi
    if [ $SECONDS -ge $next_report ]; then
        echo "  $((SECONDS - t_churn)) s: $(actions) actions, RSS $(rss) KiB, mgmd CPU $(cpu_s) s, ${#JOINED[@]} receivers joined"
        next_report=$((SECONDS + 300))
    fi
done
echo "churn: $(for k in join leave flap move reload route; do printf '%s %s, ' "$k" "${COUNT[$k]:-0}"; done)${#JOINED[@]} receivers still joined"

# ---- back to the baseline ----
for key in "${!JOINED[@]}"; do stop_join "${JOINED[$key]}"; done
JOINED=()
[ "$(owner_of lan2)" != static ] || ctl release lan2 static
[ $route_on = 0 ] || ctl route del "$RT" --source "$SRC"
config a >"$CFG"
ctl reload
# The leaves take the last-member queries; a leave the host's kernel sent
# while its link was down is only noticed at the group's timeout (21 s).
t_back=$SECONDS
while [ $((SECONDS - t_back)) -lt 40 ]; do
    [ "$(state)" = "$BASE_STATE" ] && [ "$(kernel)" = "$BASE_KERNEL" ] && break
    sleep 0.5
done
echo "back to the baseline after $((SECONDS - t_back)) s"
END_RSS=$(rss)

python3 - "$BASE_STATE" "$(state)" <<'PY' || fail "mgmd's state differs from the baseline"
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for k in a:
    if a[k] != b[k]:
        print("%s baseline: %s\n%s now:      %s" % (k, a[k], k, b[k]))
sys.exit(a != b)
PY
[ "$(kernel)" = "$BASE_KERNEL" ] || fail "the kernel's table differs from the baseline:
$(diff <(echo "$BASE_KERNEL") <(kernel))"
verify_settled || fail "mgmctl verify after the soak: $(cat "$TOPO_DIR/verify.out")"
# The periodic audit repairs what it finds: what it found is counted.
for c in kernel_drift manager_errors effect_loops; do
    [ "$(counter "$c")" = 0 ] || fail "mgmd counted $c: $(counter "$c")"
done
[ "$(starttime)" = "$BASE_START" ] || fail "mgmd restarted"
[ "$(grep -c 'mgmd started' "$TOPO_DIR/mgmd.log")" = 1 ] || fail "mgmd started more than once"
if grep -E '^\S+ +ERROR|"level":"ERROR"' "$TOPO_DIR/mgmd.log" >"$TOPO_DIR/errors"; then
    fail "mgmd logged errors:
$(head -n 20 "$TOPO_DIR/errors")"
fi
slack=$((BASE_RSS / 10))
[ "$slack" -ge "$RSS_SLACK_KIB" ] || slack=$RSS_SLACK_KIB
[ "$END_RSS" -le $((BASE_RSS + slack)) ] ||
    fail "resident set $END_RSS KiB after the soak, baseline $BASE_RSS KiB (allowed +$slack KiB)"
for r in rcv1 rcv2 rcv3; do
    rx_mark "$r"
done
for r in rcv1 rcv2 rcv3; do
    wait_for "streams still reach $r" 5 rx_grows "$r" 50
done
kill -0 "$PID" || fail "mgmd died"
END_CPU=$(cpu_s)
for p in "$SEND_PID" "$SEND_SSM_PID" "${BASE_RECV[@]}"; do stop_join "$p"; done
echo "soak passed: ${DURATION} s of churn, $(actions) actions, seed $SEED"
echo "  RSS: baseline $BASE_RSS KiB, highest sampled $max_rss KiB, end $END_RSS KiB (allowed +$slack KiB)"
echo "  mgmd CPU: $(awk -v a="$BASE_CPU" -v b="$END_CPU" 'BEGIN { printf "%.1f", b - a }') s during the soak"
echo "  state (groups, routes, interfaces), VIFs and ip mroute show as at the baseline; mgmctl verify clean $((verifies + 2)) times"
echo "  kernel_errors $(counter kernel_errors), netlink resyncs $(mgmctl --json show counters | python3 -c 'import json, sys; print(json.load(sys.stdin)["io"]["netlink_resyncs"])'), warnings logged $(grep -c WARN "$TOPO_DIR/mgmd.log" || true)"
