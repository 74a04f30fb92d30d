#!/usr/bin/env bash
# The unicast route towards a source moves from up0 to up1 while its flow
# is forwarded: mgmd follows the route change, decides the flow again with
# up1 as incoming interface, and the receiver gets the stream that now
# arrives on up1 (without the change the entry would keep expecting up0
# until it idled out).
#
#   [src] eth0 10.0.1.2 ---- up0 [rtr] lan1 ---- [rcv1]
#         eth1 10.0.5.2 ---- up1
#   source 10.0.9.9 (on src's lo), routed by rtr via up0, then via up1
. "$(dirname "$0")/lib.sh"
G=239.1.5.5
S=10.0.9.9

topo_standard
topo_link src eth1 10.0.5.2/24 rtr up1 10.0.5.1/24
topo_exec src ip addr add $S/32 dev lo
topo_exec rtr ip route add 10.0.9.0/24 via 10.0.1.2 dev up0
topo_router rtr
write_config "$TOPO_DIR/mgmd.toml" up0 up1 lan1 lan2
topo_mgmd "$TOPO_DIR/mgmd.toml"

iif_is() { [ "$(route_iif $G $S)" = "$1" ]; }

start_recv rcv1 $G "$TOPO_DIR/rcv1.json"
topo_bg src "$TOPO_DIR/send0.log" $MCAST send --iface eth0 --bind $S --group $G --interval-ms 2
S0=$LAST_PID

say "flow from $S forwarded from up0"
wait_for "group $G on lan1" 5 has_group lan1 $G
wait_for "route ($S,$G) in on up0" 5 iif_is up0
rx_mark rcv1
wait_for "stream at rcv1" 5 rx_grows rcv1 100

say "route towards $S moves to up1; the sender follows it"
stop_bg "$S0"
topo_exec rtr ip route replace 10.0.9.0/24 via 10.0.5.2 dev up1
topo_bg src "$TOPO_DIR/send1.log" $MCAST send --iface eth1 --bind $S --group $G --interval-ms 2
wait_for "route ($S,$G) in on up1" 5 iif_is up1
rx_mark rcv1
wait_for "stream from up1 at rcv1" 5 rx_grows rcv1 100
n=$(mgmctl --json ping | python3 -c 'import json,sys; print(json.load(sys.stdin)["counters"].get("rpf_changes", 0))')
[ "$n" -ge 1 ] || fail "no RPF change counted"
kill -0 "$MGMD_PID" || fail "mgmd died"
