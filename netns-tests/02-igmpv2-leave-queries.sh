#!/usr/bin/env bash
# A receiver forced to IGMPv2 joins (the group is in v2 compatibility
# mode) and is forwarded to. It leaves with a v2 Leave: mgmd sends exactly
# Last Member Query Count group-specific queries to the group, spaced by
# the Last Member Query Interval and carrying it as Max Resp Time, then
# removes the group and stops forwarding.
. "$(dirname "$0")/lib.sh"
G=239.2.2.2
LMQC=3

topo_standard
topo_exec rcv1 sysctl -qw net.ipv4.conf.eth0.force_igmp_version=2
IGMP_EXTRA="last-member-query-interval = \"0.5s\"
last-member-query-count = $LMQC" write_config "$TOPO_DIR/mgmd.toml" up0 lan1 lan2
topo_mgmd "$TOPO_DIR/mgmd.toml"

start_capture rcv1 "$TOPO_DIR/cap.json"
CAP=$CAPTURE_PID
start_send $G 2
start_recv rcv1 $G "$TOPO_DIR/rcv1.json"
R1=$LAST_PID

say "v2 join: group in v2 compatibility mode, forwarded"
wait_for "group $G on lan1" 5 has_group lan1 $G
mode=$(mgmctl --json show groups | python3 -c 'import json,sys; print([g["mode"] for g in json.load(sys.stdin) if g["group"]==sys.argv[1]][0])' $G)
[ "$mode" = v2 ] || fail "group mode is $mode, want v2"
wait_for "route for $G with oif lan1" 5 route_has_oif $G lan1
rx_mark rcv1
wait_for "stream at rcv1" 5 rx_grows rcv1 200

say "v2 leave: $LMQC group-specific queries, then the group is removed"
stop_bg "$R1"
wait_for_not "group $G gone from lan1" 8 has_group lan1 $G
wait_for_not "route for $G without lan1" 2 route_has_oif $G lan1
sleep 0.5 # a late extra query would show up in the capture
stop_bg "$CAP"
python3 - "$TOPO_DIR/cap.json" "$G" "$LMQC" <<'PY' || fail "last-member queries wrong"
import json, sys
cap, g, n = json.load(open(sys.argv[1])), sys.argv[2], int(sys.argv[3])
leaves = [m for m in cap["igmp"] if m["out"] and m["type"] == 0x17 and m["group"] == g]
qs = [m for m in cap["igmp"] if not m["out"] and m["type"] == 0x11 and m["dst"] == g]
print("leaves sent:", len(leaves), "group-specific queries:", [(round(m["t"] - leaves[-1]["t"], 3), m["max_resp"]) for m in qs] if leaves else qs)
ok = True
if not leaves:
    print("the receiver sent no v2 leave"); ok = False
if len(qs) != n:
    print(f"want {n} group-specific queries, got {len(qs)}"); ok = False
for m in qs:
    if m["group"] != g or m["max_resp"] != 5 or m["src"] != "10.0.2.1" or m["ttl"] != 1:
        print("bad query:", m); ok = False
    if leaves and m["t"] < leaves[-1]["t"]:
        print("query before the leave:", m); ok = False
for a, b in zip(qs, qs[1:]):
    gap = b["t"] - a["t"]
    # Not earlier than the interval (small capture jitter allowed); the
    # upper bound only catches a lost schedule.
    if not 0.45 <= gap <= 3.0:
        print(f"queries {gap:.3f}s apart, want the 0.5s interval"); ok = False
if not ok:
    for m in cap["igmp"]:
        print(m)
sys.exit(0 if ok else 1)
PY
