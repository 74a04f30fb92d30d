#!/usr/bin/env bash
# What mgmd's queries look like on the wire (RFC 9776 4, 4.1, 7.3.1, 8.6,
# 8.7), on a v3 interface (lan1) and a v2 interface (lan2): every query has
# IP TTL 1, TOS 0xc0 (Internetwork Control) and Router Alert; general
# queries go to 224.0.0.1, the first Startup Query Count (2) of them
# Startup Query Interval (1s) apart. On lan1 they are 12-octet v3 queries
# with QRV 2, QQIC 10 (the query interval) and Max Resp Code 10 (1s); on
# lan2 8-octet v2 queries with the Max Response Time in tenths (10). A leave
# on lan1 brings a group-specific query to the group with Max Resp Code 2
# (the 0.2s Last Member Query Interval). The router reports its own
# membership of 224.0.0.22 on lan1 (RFC 9776 6: it "MUST enable reception
# of multicast address 224.0.0.22 ... (and MUST perform the group member
# part of IGMPv3 for that address on that interface)").
. "$(dirname "$0")/lib.sh"
G=239.24.0.1

topo_standard
write_config "$TOPO_DIR/mgmd.toml" up0 lan1
printf '\n[[interface]]\nname = "lan2"\nversion = 2\n' >>"$TOPO_DIR/mgmd.toml"
start_capture rcv1 "$TOPO_DIR/cap1.json"
CAP1=$CAPTURE_PID
start_capture rcv2 "$TOPO_DIR/cap2.json"
CAP2=$CAPTURE_PID
topo_mgmd "$TOPO_DIR/mgmd.toml"
wait_for "mgmd querier on lan1" 5 iface_is lan1 'i["querier"]["is_querier"]'
gq() { [ "$(iface_json "$1" 'i["querier"]["counters"]["tx_general_queries"]')" -ge 2 ]; }
wait_for "two general queries on lan1" 5 gq lan1
wait_for "two general queries on lan2" 5 gq lan2

say "a join and a leave on lan1 (IGMPv3 host)"
start_recv rcv1 $G "$TOPO_DIR/rcv1.json"
R1=$LAST_PID
wait_for "group $G on lan1" 5 has_group lan1 $G
stop_bg "$R1"
wait_for_not "group $G gone from lan1" 5 has_group lan1 $G
sleep 0.3
stop_bg "$CAP1"
stop_bg "$CAP2"

python3 - "$TOPO_DIR/cap1.json" "$TOPO_DIR/cap2.json" "$G" <<'PY' || fail "query format on the wire is wrong"
import json, sys
c1, c2, g = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3]
ok = True
def check(name, cond, msgs):
    global ok
    if not cond:
        ok = False
        print("FAILED:", name)
        for m in msgs:
            print("   ", m)
def queries(cap, src):
    return [m for m in cap["igmp"] if m["type"] == 0x11 and m["src"] == src]
q1, q2 = queries(c1, "10.0.2.1"), queries(c2, "10.0.3.1")
for name, qs in (("lan1", q1), ("lan2", q2)):
    check(f"{name}: queries seen", qs, [])
    bad = [m for m in qs if m["ttl"] != 1 or m["tos"] != 0xC0 or not m["ra"]]
    check(f"{name}: TTL 1, TOS 0xc0, Router Alert", not bad, bad)
    gen = [m for m in qs if m["group"] == "0.0.0.0"]
    check(f"{name}: general queries to 224.0.0.1", gen and all(m["dst"] == "224.0.0.1" for m in gen), gen)
    if len(gen) >= 2:
        gap = gen[1]["t"] - gen[0]["t"]
        print(f"{name}: first general queries {gap:.2f}s apart")
        check(f"{name}: startup queries 1s apart", 0.8 <= gap <= 1.5, gen[:2])
gen1 = [m for m in q1 if m["group"] == "0.0.0.0"]
bad = [m for m in gen1 if m["len"] != 12 or m.get("qrv") != 2 or m.get("qqic") != 10 or m["max_resp"] != 10]
check("lan1: v3 general queries (12 octets, QRV 2, QQIC 10, Max Resp Code 10)", not bad, bad)
gen2 = [m for m in q2 if m["group"] == "0.0.0.0"]
bad = [m for m in gen2 if m["len"] != 8 or m["max_resp"] != 10]
check("lan2: v2 general queries (8 octets, Max Resp Time 10)", not bad, bad)
gsq = [m for m in q1 if m["group"] == g]
check("lan1: group-specific queries to the group, Max Resp Code 2",
      gsq and all(m["dst"] == g and m["max_resp"] == 2 and m["len"] == 12 for m in gsq), gsq)
own = [r for m in c1["igmp"] if m["type"] == 0x22 and m["src"] == "10.0.2.1" for r in m.get("records", [])]
check("lan1: the router reports 224.0.0.22", any(r["group"] == "224.0.0.22" for r in own), own)
sys.exit(0 if ok else 1)
PY
