#!/usr/bin/env bash
# IGMP proxy with upstreams up0 (preferred) and up1, downstreams lan1 and
# lan2. A receiver on lan1 joins G: the box reports G upstream and the
# stream from src reaches lan1 and not lan2. A source outside legal-sources
# is not forwarded. When the receiver leaves, forwarding stops and, after
# the last-member time (and mgmd's host-leave hold), the box leaves G
# upstream. When up0 goes down, up1 takes over: G is reported there and the
# stream arriving on up1 is forwarded.
. "$(dirname "$0")/lib.sh"

G=239.1.1.1 GILL=239.1.1.9
topo_standard
topo_link src eth1 10.0.4.2/24 rtr up1 10.0.4.1/24
topo_router rtr
topo_exec src ip addr add 192.0.2.2/32 dev eth0
cfg="$TOPO_DIR/mgmd.toml"
cat >"$cfg" <<CFG
[igmp]
query-interval = "10s"
query-response-interval = "2s"
last-member-query-interval = "200ms"

[proxy]
upstream = ["up0", "up1"]
downstream = ["lan1", "lan2"]
legal-sources = ["10.0.0.0/8"]
CFG

proxy_status() {
    mgmctl --json show protocols | python3 -c '
import json, sys
p = next(p for p in json.load(sys.stdin) if p["name"] == "proxy")
print(eval(sys.argv[1], {}, {"d": p["detail"]}))' "$1"
}
# route_iif GROUP IIF : some entry for GROUP comes in on IIF and goes to lan1.
route_iif() {
    mgmctl --json show routes | python3 -c '
import json, sys
sys.exit(0 if any(r["group"] == sys.argv[1] and r["iif"] == sys.argv[2] and "lan1" in r["oifs"]
                  for r in json.load(sys.stdin)) else 1)' "$1" "$2"
}
not_forwarded() { ! route_has_oif "$@"; }
# proxy_is EXPR VALUE : the proxy's status expression EXPR prints VALUE.
proxy_is() { [ "$(proxy_status "$1")" = "$2" ]; }

start_igmp_capture src eth0 "$TOPO_DIR/up0.json"
CAP0=$CAPTURE_PID
start_igmp_capture src eth1 "$TOPO_DIR/up1.json"
CAP1=$CAPTURE_PID
topo_mgmd "$cfg"
wait_for "proxy uses up0" 10 proxy_is 'd["upstream"]' up0

say "rcv1 joins $G and $GILL: $G is reported on up0"
topo_bg src "$TOPO_DIR/report.json" $MCAST wait-report --iface eth0 --group $G --timeout 10 \
    --ready "$TOPO_DIR/report.ready"
REPORT_PID=$LAST_PID
wait_for "upstream report capture ready" 5 test -f "$TOPO_DIR/report.ready"
start_recv rcv1 $G "$TOPO_DIR/r1.json" --group $GILL
R1=$LAST_PID
wait "$REPORT_PID" || true
json_get "$TOPO_DIR/report.json" 'd["t"]' | grep -qv None || fail "no report for $G on up0"
wait_for "$G learned on lan1" 10 has_group lan1 $G

say "src sends $G (legal) and $GILL from 192.0.2.2 (not a legal source)"
start_send $G 1 --per-group-seq
S1=$SEND_PID
start_send $GILL 1 --bind 192.0.2.2
S2=$SEND_PID
wait_for "$G forwarded to lan1" 10 route_has_oif $G lan1
wait_for "the illegal source refused" 10 proxy_is 'd["counters"]["refused_illegal_source"] > 0' True
n=$(count_udp rcv2 eth0 $G 1)
[ "$n" -eq 0 ] || fail "$n packets of $G reached lan2, which has no receiver"
n=$(count_udp rcv1 eth0 $GILL 1)
[ "$n" -eq 0 ] || fail "$n packets from the illegal source reached lan1"
topo_stop "$S2"

say "rcv1 leaves: forwarding stops, then the box leaves $G upstream"
topo_stop "$R1"
python3 - "$TOPO_DIR/r1.json" <<PY || fail "rcv1 did not get the legal stream without loss"
import json, sys
d = json.load(open(sys.argv[1]))
print(f"  $G: {d['$G']['count']} packets, missing {d['$G']['missing']}; $GILL: {d['$GILL']['count']}")
# No loss once the flow is set up (a set-up gap starts at sequence 4: the
# kernel queues 4 packets while mgmd answers its first upcall).
setup_only = all(lo <= 4 for lo, hi in d["$G"]["gap_at"])
sys.exit(0 if d["$G"]["count"] > 0 and setup_only and d["$GILL"]["count"] == 0 else 1)
PY
wait_for "$G no longer forwarded to lan1" 10 not_forwarded $G lan1
n=$(count_udp rcv1 eth0 $G 1)
[ "$n" -eq 0 ] || fail "$n packets of $G reached lan1 after its receiver left"
# Last-member queries (2 x 200ms) have run; the host membership is held
# for a few seconds more (an ownership move would take it back).
wait_for "proxy no longer reports $G" 10 proxy_is "'$G' in d['membership']" False
sleep 4.5
topo_stop "$CAP0"
python3 - "$TOPO_DIR/up0.json" <<PY || fail "no leave for $G on up0 after the receiver left"
import json, sys
recs = [r for r in json.load(open(sys.argv[1])) if r["src"] == "10.0.1.1" and r["group"] == "$G"]
for r in recs:
    print(f"  up0: {r['kind']} {r['group']} {r['sources']}")
kinds = [r["kind"] if r["sources"] or r["kind"] != "TO_IN" else "TO_IN{}" for r in recs]
join = next((i for i, k in enumerate(kinds) if k in ("TO_EX", "IS_EX", "v2_report")), None)
leave = next((i for i, k in enumerate(kinds) if k in ("TO_IN{}", "v2_leave")), None)
sys.exit(0 if join is not None and leave is not None and join < leave else 1)
PY
topo_stop "$S1"

say "up0 goes down: up1 takes over"
start_recv rcv1 $G "$TOPO_DIR/r1b.json"
R1=$LAST_PID
wait_for "$G learned on lan1 again" 10 has_group lan1 $G
topo_exec rtr ip link set up0 down
wait_for "proxy uses up1" 10 proxy_is 'd["upstream"]' up1
start_send $G 1 --iface eth1
wait_for "$G from up1 forwarded to lan1" 10 route_iif $G up1
sleep 1
topo_stop "$SEND_PID"
sleep 0.3
topo_stop "$R1"
topo_stop "$CAP1"
got=$(json_get "$TOPO_DIR/r1b.json" "d['$G']['count']")
[ "$got" -gt 0 ] || fail "nothing arrived at rcv1 through up1"
python3 - "$TOPO_DIR/up1.json" <<PY || fail "no report for $G on up1"
import json, sys
recs = [r for r in json.load(open(sys.argv[1])) if r["src"] == "10.0.4.1" and r["group"] == "$G"]
print("  up1:", [r["kind"] for r in recs])
sys.exit(0 if any(r["kind"] in ("TO_EX", "IS_EX", "v2_report") for r in recs) else 1)
PY
say "OK: report, forwarding, illegal source, leave, upstream failover"
