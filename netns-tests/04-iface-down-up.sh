#!/usr/bin/env bash
# lan1 goes down while forwarding: mgmctl shows it down, lan1 leaves the
# route and nothing more reaches the receiver. It comes up again: mgmd's
# start-up queries make the receiver report again and forwarding resumes,
# with the same mgmd process.
. "$(dirname "$0")/lib.sh"
G=239.4.4.4

topo_standard
write_config "$TOPO_DIR/mgmd.toml" up0 lan1 lan2
topo_mgmd "$TOPO_DIR/mgmd.toml"

start_send $G 2
start_recv rcv1 $G "$TOPO_DIR/rcv1.json"
wait_for "route for $G with oif lan1" 5 route_has_oif $G lan1
rx_mark rcv1
wait_for "stream at rcv1" 5 rx_grows rcv1 200

say "lan1 down"
topo_exec rtr ip link set lan1 down
wait_for "lan1 shown down" 5 iface_is lan1 'i["state"] == "down"'
wait_for_not "route for $G without lan1" 5 route_has_oif $G lan1
has_group lan1 $G && fail "group $G still listed on the down lan1"
iface_is lan1 'i["vif"] is None' || fail "lan1 keeps a VIF while down: $(iface_json lan1 'i["vif"]')"
sleep 0.3 # packets already queued on the veth
n=$(rx_delta rcv1 1)
[ "$n" -lt 5 ] || fail "rcv1 received $n packets in 1s while lan1 is down"

say "lan1 up: the receiver reports again, forwarding resumes"
topo_exec rtr ip link set lan1 up
wait_for "lan1 shown up" 5 iface_is lan1 'i["state"] == "up" and i["querier"] is not None'
wait_for "group $G on lan1 again" 10 has_group lan1 $G
wait_for "route for $G with oif lan1 again" 5 route_has_oif $G lan1
rx_mark rcv1
wait_for "stream at rcv1 again" 5 rx_grows rcv1 200
[ "$(mgmctl ping | grep -c .)" -gt 0 ] || fail "mgmd does not answer"
kill -0 "$MGMD_PID" || fail "mgmd is not the same process"
