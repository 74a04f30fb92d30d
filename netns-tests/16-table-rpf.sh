#!/usr/bin/env bash
# mgmd on routing table 10 (`table = 10`): RPF answers come from that
# table, not from the main one. The main table routes the source towards
# lan1 (wrong); table 10 routes it via up0, where it arrives. The flow is
# forwarded from up0 (with the main table's answer it would come in on
# lan1 and go nowhere). Then table 10 marks the source unreachable: the
# flow is refused and the receiver gets nothing more.
#
#   [src] eth0 10.0.1.2 ---- up0 [rtr] lan1 ---- [rcv1]
#   source 10.0.9.9 (on src's lo)
#   rtr main table:  10.0.9.0/24 via 10.0.2.2 dev lan1
#   rtr table 10:    10.0.9.0/24 via 10.0.1.2 dev up0
#   rtr mrules:      iif up0|lan1|lan2 lookup 10
. "$(dirname "$0")/lib.sh"
need_kernel mroute-tables
G=239.1.6.6
S=10.0.9.9

topo_standard
topo_exec src ip addr add $S/32 dev lo
topo_exec rtr ip route add 10.0.9.0/24 via 10.0.2.2 dev lan1
topo_exec rtr ip route add 10.0.9.0/24 via 10.0.1.2 dev up0 table 10
# Multicast arriving on these interfaces is routed by multicast table 10
# (a VRF device adds such rules itself).
for i in up0 lan1 lan2; do topo_exec rtr ip mrule add iif $i lookup 10; done
topo_router rtr
write_config "$TOPO_DIR/mgmd.toml" up0 lan1 lan2
sed -i 's/^\[global\]$/[global]\ntable = 10/' "$TOPO_DIR/mgmd.toml"
topo_mgmd "$TOPO_DIR/mgmd.toml"

iif_is() { [ "$(route_iif $G $S)" = "$1" ]; }
# Forwarded nowhere: the route is a drop entry (no outgoing interface).
refused() {
    mgmctl --json show routes | python3 -c '
import json, sys
g, s = sys.argv[1], sys.argv[2]
r = [r for r in json.load(sys.stdin) if r["group"] == g and r["source"] == s]
sys.exit(0 if r and not r[0]["oifs"] else 1)' $G $S
}
mroute_has() { topo_exec rtr ip mroute show table 10 | grep -q "($S,$G)"; }

start_recv rcv1 $G "$TOPO_DIR/rcv1.json"
topo_bg src "$TOPO_DIR/send.log" $MCAST send --iface eth0 --bind $S --group $G --interval-ms 2

say "the flow from $S comes in on up0, as table 10 says"
wait_for "group $G on lan1" 5 has_group lan1 $G
wait_for "route ($S,$G) in on up0" 5 iif_is up0
wait_for "entry in the kernel's multicast table 10" 5 mroute_has
rx_mark rcv1
wait_for "stream at rcv1" 5 rx_grows rcv1 100

say "table 10 makes the source unreachable: the flow is refused"
topo_exec rtr ip route replace unreachable 10.0.9.0/24 table 10
wait_for "route ($S,$G) refused" 5 refused
stopped() {
    local a b
    a=$(rx_packets rcv1)
    sleep 0.5
    b=$(rx_packets rcv1)
    [ "$a" = "$b" ]
}
wait_for "stream stopped at rcv1" 5 stopped
kill -0 "$MGMD_PID" || fail "mgmd died"
