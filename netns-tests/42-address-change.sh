#!/usr/bin/env bash
# lan1's address changes (10.0.2.1 -> 10.0.2.9: the new one added, the old
# primary removed, the new one promoted) while a stream runs. mgmd keeps
# the group and the route, so not one datagram is missing, and the querier
# election runs again from the new address: a general query from 10.0.2.9
# reaches the receiver and mgmctl shows 10.0.2.9 as querier.
. "$(dirname "$0")/lib.sh"
G=239.4.0.42

topo_standard
write_config "$TOPO_DIR/mgmd.toml" up0 lan1 lan2
topo_mgmd "$TOPO_DIR/mgmd.toml"

start_send $G 1
start_recv rcv1 $G "$TOPO_DIR/rcv1.json"
RECV_PID=$LAST_PID
wait_for "route for $G with oif lan1" 5 route_has_oif $G lan1
rx_mark rcv1
wait_for "stream at rcv1" 5 rx_grows rcv1 200
start_capture rcv1 "$TOPO_DIR/cap.json"

say "lan1: 10.0.2.1 -> 10.0.2.9"
topo_exec rtr sysctl -qw net.ipv4.conf.lan1.promote_secondaries=1
topo_exec rtr ip addr add 10.0.2.9/24 dev lan1
topo_exec rtr ip addr del 10.0.2.1/24 dev lan1
wait_for "querier 10.0.2.9" 5 iface_is lan1 'i["querier"]["querier_addr"] == "10.0.2.9" and i["querier"]["is_querier"]'
has_group lan1 $G || fail "group $G lost over the address change"
route_has_oif $G lan1 || fail "route for $G lost lan1"
sleep 0.5
topo_stop "$CAPTURE_PID"
python3 - "$TOPO_DIR/cap.json" <<'PY' || fail "no general query from 10.0.2.9 on the wire: $(cat "$TOPO_DIR/cap.json")"
import json, sys
d = json.load(open(sys.argv[1]))
q = [m for m in d["igmp"] if m.get("src") == "10.0.2.9" and m.get("type") == 0x11 and m.get("group") == "0.0.0.0"]
sys.exit(0 if q else 1)
PY
sleep 0.5
topo_stop "$RECV_PID"
# The change came after at least 200 datagrams had arrived: a gap below
# sequence number 100 is the flow's set-up (the kernel queues only four
# datagrams of a flow while its entry is being installed), not the change.
missing=$(python3 - "$TOPO_DIR/rcv1.json" "$G" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))[sys.argv[2]]
setup = [g for g in r["gap_at"] if g[1] < 100]
for lo, hi in setup:
    print(f"missing {lo}..{hi} at flow set-up, before the change", file=sys.stderr)
print(r["missing"] - sum(hi - lo + 1 for lo, hi in setup))
PY
)
say "missing over the change: $missing"
[ "$missing" = 0 ] || fail "$missing datagrams missing over the address change: $(cat "$TOPO_DIR/rcv1.json")"
kill -0 "$MGMD_PID" || fail "mgmd died"
