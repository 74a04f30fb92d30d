#!/usr/bin/env bash
# The lan1 veth is deleted while mgmd runs (the receiver's end goes with
# it) and re-created with the same name: mgmd picks up the new ifindex,
# runs IGMP there and forwards to the receiver again.
. "$(dirname "$0")/lib.sh"
G=239.5.5.5

topo_standard
write_config "$TOPO_DIR/mgmd.toml" up0 lan1 lan2
topo_mgmd "$TOPO_DIR/mgmd.toml"

start_send $G 2
start_recv rcv1 $G "$TOPO_DIR/rcv1.json"
R1=$LAST_PID
wait_for "route for $G with oif lan1" 5 route_has_oif $G lan1
old=$(iface_json lan1 'i["ifindex"]')

say "delete lan1 (ifindex $old)"
stop_bg "$R1"
topo_exec rtr ip link del lan1
wait_for "lan1 shown pending" 5 iface_is lan1 'i["state"] == "pending" and i["ifindex"] is None'
wait_for_not "route for $G without lan1" 5 route_has_oif $G lan1
has_group lan1 $G && fail "group $G still listed on the deleted lan1"

say "re-create lan1"
topo_link rtr lan1 10.0.2.1/24 rcv1 eth0 10.0.2.2/24
topo_exec rcv1 ip route add default via 10.0.2.1
wait_for "lan1 up with a new ifindex" 5 iface_is lan1 "i['state'] == 'up' and i['ifindex'] not in (None, $old) and i['vif'] is not None"
say "lan1 is ifindex $(iface_json lan1 'i["ifindex"]') now"
start_recv rcv1 $G "$TOPO_DIR/rcv1b.json"
wait_for "group $G on lan1" 10 has_group lan1 $G
wait_for "route for $G with oif lan1" 5 route_has_oif $G lan1
rx_mark rcv1
wait_for "stream at rcv1" 5 rx_grows rcv1 200
kill -0 "$MGMD_PID" || fail "mgmd died"
