#!/usr/bin/env bash
# A group with an IGMPv1 host ignores IGMPv3 TO_IN records (RFC 9776 7.3.2:
# in IGMPv1 Group Compatibility Mode "IGMPv2 Leave messages and IGMPv3
# TO_IN() messages are also ignored"). A v1 report joins group A, then a
# TO_IN({}) for A arrives: mgmd sends no group-specific query for A (the
# capture shows none), counts the record (drop_to_in_in_v1_compat = 1) and
# keeps A well past the Last Member Query Time. The same TO_IN({}) for a
# group B joined by a v2 report (IGMPv2 compatibility) is acted on: a
# group-specific query for B appears on the wire and B is removed, which
# shows the capture would have seen a query for A.
. "$(dirname "$0")/lib.sh"
A=239.22.0.1
AHEX=ef160001
B=239.22.0.2
BHEX=ef160002

topo_ns rtr
topo_ns h
topo_link rtr lan1 10.0.7.5/24 h eth0 10.0.7.20/24
# Last Member Query Time = 2 x 0.2s.
write_config "$TOPO_DIR/mgmd.toml" lan1
topo_mgmd "$TOPO_DIR/mgmd.toml"
wait_for "mgmd querier on lan1" 5 iface_is lan1 'i["querier"]["is_querier"]'
start_capture h "$TOPO_DIR/cap.json"
CAP=$CAPTURE_PID

igmp() { topo_exec h $MCAST igmp --iface eth0 --router-alert --fix-checksum "$@"; }
ctr() { iface_json lan1 "i['querier']['counters'].get('$1', 0)"; }
mode_of() {
    mgmctl --json show groups | python3 -c '
import json, sys
print(next((g["mode"] for g in json.load(sys.stdin) if g["group"] == sys.argv[1]), "-"))' "$1"
}

say "v1 report for $A, v2 report for $B"
igmp --dst $A --hex "12000000 $AHEX"
igmp --dst $B --hex "16000000 $BHEX"
wait_for "group $A on lan1" 5 has_group lan1 $A
wait_for "group $B on lan1" 5 has_group lan1 $B
[ "$(mode_of $A)" = v1 ] || fail "group $A is in mode $(mode_of $A), want v1"
[ "$(mode_of $B)" = v2 ] || fail "group $B is in mode $(mode_of $B), want v2"

say "TO_IN({}) for $A: ignored"
t_a=$(date +%s.%N)
igmp --dst 224.0.0.22 --hex "22000000 0000 0001 03000000 $AHEX"
counted() { [ "$(ctr drop_to_in_in_v1_compat)" -ge 1 ]; }
wait_for "drop_to_in_in_v1_compat" 5 counted
sleep 1.5
has_group lan1 $A || fail "group $A removed after a TO_IN in v1 compatibility"

say "TO_IN({}) for $B: group-specific queries, then $B is gone"
t_b=$(date +%s.%N)
igmp --dst 224.0.0.22 --hex "22000000 0000 0001 03000000 $BHEX"
wait_for_not "group $B gone from lan1" 5 has_group lan1 $B
has_group lan1 $A || fail "group $A removed"
[ "$(ctr drop_to_in_in_v1_compat)" -eq 1 ] || fail "drop_to_in_in_v1_compat is $(ctr drop_to_in_in_v1_compat), want 1"
sleep 0.3
stop_bg "$CAP"

python3 - "$TOPO_DIR/cap.json" "$A" "$B" "$t_a" "$t_b" <<'PY' || fail "group-specific queries on the wire are wrong"
import json, sys
cap = json.load(open(sys.argv[1]))
a, b, t_a, t_b = sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
def gsq(g):
    return [m["t"] for m in cap["igmp"]
            if m["src"] == "10.0.7.5" and m["type"] == 0x11 and m["group"] == g and m["dst"] == g]
qa, qb = gsq(a), gsq(b)
print(f"group-specific queries: {len(qa)} for {a} (after its TO_IN), {len(qb)} for {b} (after its TO_IN)")
ok = not [t for t in qa if t > t_a] and len([t for t in qb if t > t_b]) == 2
if not ok:
    for m in cap["igmp"]:
        print(m)
sys.exit(0 if ok else 1)
PY
