#!/usr/bin/env bash
# A point-to-point downstream (as PPP or a tunnel presents it: a /32 local
# address and a peer address, `ip addr add 10.6.0.1 peer 10.6.0.2`) with a
# kernel host at the far end, mgmd with default IGMP checks: the host's
# join passes the source-subnet check (RFC 9776 9.2: the peer is the
# link's subnet), the group is learned and the stream reaches the host.
# A report from an address that is neither ours nor the peer's is still
# dropped (source_not_on_subnet).
. "$(dirname "$0")/lib.sh"
G=239.1.6.1

topo_ns src
topo_ns rtr
topo_ns rcv1
topo_link src eth0 10.0.1.2/24 rtr up0 10.0.1.1/24
# topo_link takes one prefix per end: the peer addresses replace them.
topo_link rtr pp0 10.6.0.1/32 rcv1 eth0 10.6.0.2/32
topo_exec rtr ip addr del 10.6.0.1/32 dev pp0
topo_exec rcv1 ip addr del 10.6.0.2/32 dev eth0
topo_exec rtr ip addr add 10.6.0.1 peer 10.6.0.2 dev pp0
topo_exec rcv1 ip addr add 10.6.0.2 peer 10.6.0.1 dev eth0
topo_exec src ip route add default via 10.0.1.1
topo_exec rcv1 ip route add default via 10.6.0.1
topo_router rtr

write_config "$TOPO_DIR/mgmd.toml" up0 pp0
topo_mgmd "$TOPO_DIR/mgmd.toml"
wait_for "pp0 shows its peer" 10 iface_is pp0 '"10.6.0.1 peer 10.6.0.2/32" in i["addrs"]'

say "a report from an address off the link is dropped"
hex=$(python3 -c 'import socket; print("22000000" "00000001" "04000000" + socket.inet_aton("239.1.6.9").hex())')
topo_exec rcv1 $MCAST igmp --iface eth0 --src 10.9.9.9 --dst 224.0.0.22 --hex "$hex" --fix-checksum --router-alert
wait_for "source_not_on_subnet counted" 10 iface_is pp0 'i["querier"]["counters"].get("drop_source_not_on_subnet", 0) >= 1'
has_group pp0 239.1.6.9 && fail "a report from 10.9.9.9 was learned on pp0"

say "the peer joins $G: group, route and stream on pp0"
start_send $G 2
start_recv rcv1 $G "$TOPO_DIR/rcv1.json"
wait_for "group $G on pp0" 10 has_group pp0 $G
wait_for "route for $G with oif pp0" 10 route_has_oif $G pp0
rx_mark rcv1
wait_for "stream at rcv1" 10 rx_grows rcv1 100
kill -0 "$MGMD_PID" || fail "mgmd died"
