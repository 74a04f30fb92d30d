#!/usr/bin/env bash
# An IGMPv3 receiver joins: mgmd learns the group on lan1, installs a route
# with lan1 as outgoing interface and the stream reaches the receiver but
# not the non-member on lan2. The receiver leaves: within the last-member
# time (well before the group membership interval) the group is gone, the
# route loses lan1 and nothing more reaches the receiver.
. "$(dirname "$0")/lib.sh"
G=239.1.2.3

topo_standard
write_config "$TOPO_DIR/mgmd.toml" up0 lan1 lan2
topo_mgmd "$TOPO_DIR/mgmd.toml"

start_send $G 2
start_recv rcv1 $G "$TOPO_DIR/rcv1.json"
R1=$LAST_PID

say "join: group and route on lan1"
wait_for "group $G on lan1" 5 has_group lan1 $G
wait_for "route for $G with oif lan1" 5 route_has_oif $G lan1
has_group lan2 $G && fail "group $G learned on lan2 without a member"
rx_mark rcv1
wait_for "stream at rcv1" 5 rx_grows rcv1 200
route_has_oif $G lan2 && fail "route for $G goes out of lan2"
n=$(rx_delta rcv2 1)
[ "$n" -lt 20 ] || fail "rcv2 (no member) received $n packets in 1s"

say "leave: group gone well before the membership interval (21s)"
stop_bg "$R1"
got=$(json_get "$TOPO_DIR/rcv1.json" "d['$G']['count']")
[ "$got" -gt 0 ] || fail "receiver counted no packets"
wait_for_not "group $G gone from lan1" 5 has_group lan1 $G
wait_for_not "route for $G without lan1" 2 route_has_oif $G lan1
sleep 0.3 # packets already queued on the veth
n=$(rx_delta rcv1 1)
[ "$n" -lt 20 ] || fail "rcv1 still received $n packets in 1s after leaving"
kill -0 "$MGMD_PID" || fail "mgmd died"
