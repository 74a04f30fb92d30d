#!/usr/bin/env bash
# A hostile host on an IGMP LAN: 100,000 reports for distinct groups
# (IGMPv3 joins, IGMPv2 reports, IGMPv3 INCLUDE records of random sources)
# sent as fast as it can, mixed with malformed packets (bad checksum,
# truncated, bad lengths, unknown types, a record count overrunning the
# packet, an unknown record type) and reports from random source addresses.
# Meanwhile two real kernel hosts, one on the same LAN and one on another,
# keep receiving a 1 packet/ms stream.
#
#   [src] eth0 ---- up0 [rtr] lan1 ---- br0 [sw] ---- eth0 [rcv1] 10.0.2.2
#                             |                  \--- eth0 [bad]  10.0.2.66
#                             lan2 ---- eth0 [rcv2]
#
# Asserted: the streams' largest gap stays below the query response
# interval (no membership was lost; the figure is reported); each kind of
# malformed packet is counted under its drop reason (`mgmctl show counters
# --json`), exactly as many as were sent when the kernel dropped none
# before mgmd read them; mgmd holds at most max-groups (4,096 by default)
# groups on lan1 and counts the rest as refused; its resident memory stays
# bounded; and it answers mgmctl throughout (the slowest answer is
# reported).
. "$(dirname "$0")/lib.sh"
FAULTS="python3 $HERE/../scripts/faults.py"
COUNT=${COUNT:-100000}
MAX_GROUPS=4096
G=239.1.1.1
# The query response interval write_config sets (1 s): a receiver's report
# is due within it; a gap as long would mean forwarding stopped.
QRI_MS=1000
# The slowest answer to mgmctl accepted during the flood: a loose bound
# (mgmctl itself waits 30 s); a few hundred ms are usual in the debug build.
PING_LIMIT_MS=5000
# In user-mode Linux the flood's sender, mgmd and the receivers share one
# CPU: the fair share of mgmd's control socket is smaller.
[ "${MGMD_KERNEL_ENV_INSIDE:-}" = uml ] && PING_LIMIT_MS=20000
# Resident memory mgmd may reach (the debug build holds ~10 MiB idle).
RSS_LIMIT_KIB=$((64 * 1024))

topo_ns src
topo_ns rtr
topo_ns sw
topo_ns rcv1
topo_ns bad
topo_ns rcv2
topo_link src eth0 10.0.1.2/24 rtr up0 10.0.1.1/24
topo_link rtr lan2 10.0.3.1/24 rcv2 eth0 10.0.3.2/24
topo_exec sw ip link add br0 type bridge mcast_snooping 0
topo_exec sw ip link set br0 up
# bridge_port NS IF ADDR/LEN : a veth from NS (IF) to a port of br0.
bridge_port() {
    local a="v$RANDOM$RANDOM" b="v$RANDOM$RANDOM"
    ip link add "$a" type veth peer name "$b"
    ip link set "$a" netns "$(ns "$1")"
    ip link set "$b" netns "$(ns sw)"
    topo_exec "$1" ip link set "$a" name "$2"
    topo_exec "$1" ip addr add "$3" dev "$2"
    topo_exec "$1" ip link set "$2" up
    topo_exec sw ip link set "$b" master br0
    topo_exec sw ip link set "$b" up
}
bridge_port rtr lan1 10.0.2.1/24
bridge_port rcv1 eth0 10.0.2.2/24
bridge_port bad eth0 10.0.2.66/24
topo_exec src ip route add default via 10.0.1.1
topo_exec rcv1 ip route add default via 10.0.2.1
topo_exec rcv2 ip route add default via 10.0.3.1
topo_router rtr

# A Group Membership Interval longer than the flood (RV 2 x 60 s + 1 s):
# on a slow kernel the flood takes tens of seconds, and groups it made
# early would time out before the table is looked at.
IGMP_EXTRA='query-interval = "60s"' write_config "$TOPO_DIR/mgmd.toml" up0 lan1 lan2
topo_mgmd "$TOPO_DIR/mgmd.toml"
wait_for "mgmd querier on lan1" 5 iface_is lan1 'i["querier"]["is_querier"]'

rss_kib() { awk "/^$1:/ {print \$2}" "/proc/$MGMD_PID/status"; }
counters() { mgmctl --json show counters >"$1"; }
lan1_groups() {
    mgmctl --json show groups >"$TOPO_DIR/groups.json"
    python3 -c '
import json, sys
print(len([g for g in json.load(open(sys.argv[1])) if g["interface"] == "lan1"]))' "$TOPO_DIR/groups.json"
}

say "receivers on lan1 and lan2, a stream of 1 packet/ms"
start_recv rcv1 $G "$TOPO_DIR/rcv1.json" --times
RCV1=$LAST_PID
start_recv rcv2 $G "$TOPO_DIR/rcv2.json" --times
RCV2=$LAST_PID
start_send $G 1
wait_for "route for $G out of lan1" 5 route_has_oif $G lan1
wait_for "route for $G out of lan2" 5 route_has_oif $G lan2
rx_mark rcv1
rx_mark rcv2
wait_for "stream at rcv1" 5 rx_grows rcv1 200
wait_for "stream at rcv2" 5 rx_grows rcv2 200
counters "$TOPO_DIR/before.json"
rss_before=$(rss_kib VmRSS)

say "the hostile host: $COUNT reports, malformed packets, random sources"
topo_bg bad "$TOPO_DIR/flood.json" $FAULTS flood --iface eth0 --src 10.0.2.66 \
    --count "$COUNT" --base 230.0.0.0
FLOOD=$LAST_PID
# mgmctl throughout: every ping answered, the slowest one reported.
slowest_ms=0 pings=0
while kill -0 "$FLOOD" 2>/dev/null; do
    t0=$(date +%s%N)
    mgmctl ping >/dev/null || fail "mgmd did not answer a ping during the flood"
    ms=$((($(date +%s%N) - t0) / 1000000))
    [ $ms -le $slowest_ms ] || slowest_ms=$ms
    pings=$((pings + 1))
    sleep 0.1
done
wait "$FLOOD" || fail "the flood failed: $(cat "$TOPO_DIR/flood.json")"
cat "$TOPO_DIR/flood.json"
# Until mgmd has read everything the kernel queued for it: lan1's IGMP
# counters stay still for half a second.
lan1_igmp() {
    counters "$1" && python3 -c '
import json, sys
print(json.dumps(next(i for i in json.load(open(sys.argv[1]))["interfaces"] if i["interface"] == "lan1")["igmp"]))' "$1"
}
settled() {
    local a b
    a=$(lan1_igmp "$TOPO_DIR/a.json") && sleep 0.5 && b=$(lan1_igmp "$TOPO_DIR/b.json") && [ "$a" = "$b" ]
}
wait_for "mgmd done with the flood" 30 settled
cp "$TOPO_DIR/b.json" "$TOPO_DIR/after.json"
held=$(lan1_groups)
has_group lan1 $G || fail "the receiver's group $G is no longer held on lan1"
has_group lan2 $G || fail "the receiver's group $G is no longer held on lan2"
# Let the streams run a little after the flood, then stop the receivers.
sleep 1
stop_bg "$RCV1"
stop_bg "$RCV2"

say "the receivers kept their flows"
report=$(python3 - "$TOPO_DIR/rcv1.json" "$TOPO_DIR/rcv2.json" "$G" "$QRI_MS" <<'PY'
import json, sys
g, qri = sys.argv[3], float(sys.argv[4])
out, bad = [], []
for name, path in (("rcv1", sys.argv[1]), ("rcv2", sys.argv[2])):
    d = json.load(open(path))[g]
    t = d["times"]
    gap = max((b - a for a, b in zip(t, t[1:])), default=float("inf")) * 1e3
    out.append("%s_packets=%d %s_missing=%d %s_max_gap_ms=%.1f" % (name, d["count"], name, d["missing"], name, gap))
    if gap >= qri:
        bad.append("%s: a gap of %.1f ms (at most %d ms)" % (name, gap, qri))
print(" ".join(out))
if bad:
    print("; ".join(bad))
    sys.exit(1)
PY
) || fail "$report"
echo "$report"

say "malformed packets counted, by kind"
python3 - "$TOPO_DIR/flood.json" "$TOPO_DIR/before.json" "$TOPO_DIR/after.json" <<'PY' || fail "drop counters"
import json, sys
sent = json.load(open(sys.argv[1]))
def lan1(path):
    d = json.load(open(path))
    i = next(i for i in d["interfaces"] if i["interface"] == "lan1")
    return d, i["igmp"]
b, bi = lan1(sys.argv[2])
a, ai = lan1(sys.argv[3])
lost = a["io"]["kernel_rx_drops"] - b["io"]["kernel_rx_drops"]
reasons = {"short": "too_short", "bad-checksum": "bad_checksum", "unknown-type": "unknown_type",
           "bad-length": "bad_length", "truncated-record": "count_overrun",
           "bad-record-type": "unknown_record_type"}
expect = {r: sent["malformed"][k] for k, r in reasons.items()}
expect["source_not_on_subnet"] = sent["random_source"]
ok = True
for reason, n in expect.items():
    got = ai["drops"][reason] - bi["drops"][reason]
    # Every kind is counted; all of them unless the kernel dropped
    # packets before mgmd could read them.
    fine = got == n if lost == 0 else 1 <= got <= n
    print("  %-22s sent %6d counted %6d%s" % (reason, n, got, "" if fine else "  <-- wrong"))
    ok &= fine
print("  kernel_rx_drops %d" % lost)
sys.exit(0 if ok else 1)
PY

say "at most $MAX_GROUPS groups held on lan1, the rest refused"
refused=$(python3 - "$TOPO_DIR/before.json" "$TOPO_DIR/after.json" <<'PY'
import json, sys
v = [next(i for i in json.load(open(p))["interfaces"] if i["interface"] == "lan1")["igmp"]["refused_groups"]
     for p in sys.argv[1:]]
print(v[1] - v[0])
PY
)
echo "held=$held refused=$refused"
[ "$held" -le $MAX_GROUPS ] || fail "$held groups held on lan1, more than $MAX_GROUPS"
[ "$held" -eq $MAX_GROUPS ] || fail "$held groups held on lan1: the flood did not fill the table"
[ "$refused" -gt 0 ] || fail "no group counted as refused"
grep -q "max-groups" "$TOPO_DIR/mgmd.log" || fail "the refusal was not logged"
[ "$(grep -c "max-groups" "$TOPO_DIR/mgmd.log")" -le 2 ] ||
    fail "the refusal was logged $(grep -c "max-groups" "$TOPO_DIR/mgmd.log") times (at most once per 10 minutes)"

say "memory bounded"
rss_after=$(rss_kib VmRSS)
hwm=$(rss_kib VmHWM)
echo "rss_kib before=$rss_before after=$rss_after peak=$hwm"
[ "$hwm" -lt $RSS_LIMIT_KIB ] || fail "mgmd's resident memory peaked at $hwm KiB (limit $RSS_LIMIT_KIB)"

[ "$slowest_ms" -lt $PING_LIMIT_MS ] || fail "a ping took $slowest_ms ms during the flood"
kill -0 "$MGMD_PID" || fail "mgmd died"
echo "hostile-host: reports=$COUNT $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("flood_s=%s malformed=%d random_source=%d" % (d["seconds"], sum(d["malformed"].values()), d["random_source"]))' "$TOPO_DIR/flood.json") $report held=$held refused=$refused peak_rss_kib=$hwm pings=$pings slowest_ping_ms=$slowest_ms" |
    tee "$TOPO_DIR/figure"
