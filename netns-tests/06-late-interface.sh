#!/usr/bin/env bash
# The configuration names lan3, which does not exist when mgmd starts: it
# is shown pending. Once it is created (with a receiver behind it) it is
# up, runs IGMP (mgmd queries on it) and the stream is forwarded there.
. "$(dirname "$0")/lib.sh"
G=239.6.6.6

topo_standard
write_config "$TOPO_DIR/mgmd.toml" up0 lan1 lan2 lan3
topo_mgmd "$TOPO_DIR/mgmd.toml"

say "lan3 pending"
iface_is lan3 'i["state"] == "pending" and i["ifindex"] is None and i["querier"] is None' ||
    fail "lan3 is not pending: $(iface_json lan3 i)"
start_send $G 2

say "create lan3 with a receiver behind it"
topo_ns rcv3
topo_link rtr lan3 10.0.4.1/24 rcv3 eth0 10.0.4.2/24
topo_exec rcv3 ip route add default via 10.0.4.1
wait_for "lan3 up with IGMP" 5 iface_is lan3 'i["state"] == "up" and i["querier"] is not None and i["vif"] is not None'
iface_is lan3 'i["querier"]["is_querier"]' || fail "mgmd is not querier on lan3"
wait_for "a general query sent on lan3" 5 iface_is lan3 'i["querier"]["counters"]["tx_general_queries"] > 0'
start_recv rcv3 $G "$TOPO_DIR/rcv3.json"
wait_for "group $G on lan3" 5 has_group lan3 $G
wait_for "route for $G with oif lan3" 5 route_has_oif $G lan3
rx_mark rcv3
wait_for "stream at rcv3" 5 rx_grows rcv3 200
