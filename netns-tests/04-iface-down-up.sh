#!/usr/bin/env bash
# lan1 goes down while forwarding: mgmctl shows it down, lan1 leaves the
# route and nothing more reaches the receiver, but mgmd keeps the group and
# lan1's VIF. It comes up again: the route has lan1 again at once (no
# report needed), forwarding resumes with the same mgmd process, and the
# start-up queries go out again.
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
vif=$(iface_json lan1 'i["vif"]')
queries=$(iface_json lan1 'i["querier"]["counters"]["tx_general_queries"]')

say "lan1 down"
topo_exec rtr ip link set lan1 down
wait_for "lan1 shown down" 5 iface_is lan1 'i["state"] == "down"'
wait_for_not "route for $G without lan1" 5 route_has_oif $G lan1
has_group lan1 $G || fail "group $G dropped while lan1 is down"
[ "$(iface_json lan1 'i["vif"]')" = "$vif" ] || fail "lan1 lost its VIF $vif while down: $(iface_json lan1 'i["vif"]')"
sleep 0.3 # packets already queued on the veth
n=$(rx_delta rcv1 1)
[ "$n" -lt 5 ] || fail "rcv1 received $n packets in 1s while lan1 is down"

say "lan1 up: the route has lan1 again at once, forwarding resumes"
topo_exec rtr ip link set lan1 up
wait_for "route for $G with oif lan1 again" 2 route_has_oif $G lan1
wait_for "lan1 shown up and querier" 5 iface_is lan1 'i["state"] == "up" and i["querier"]["is_querier"]'
rx_mark rcv1
wait_for "stream at rcv1 again" 5 rx_grows rcv1 200
wait_for "a start-up query after the up" 5 iface_is lan1 "i['querier']['counters']['tx_general_queries'] > $queries"
[ "$(mgmctl ping | grep -c .)" -gt 0 ] || fail "mgmd does not answer"
kill -0 "$MGMD_PID" || fail "mgmd is not the same process"
