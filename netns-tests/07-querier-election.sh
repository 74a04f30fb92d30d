#!/usr/bin/env bash
# Two mgmd routers on one LAN (a bridge in its own namespace) with a host:
# the lower address (.1) is querier, the other (.2) shows .1 as querier and
# sends no general queries. When .1's mgmd stops, .2 takes over once the
# Other Querier Present interval has run out.
. "$(dirname "$0")/lib.sh"

topo_ns lan
topo_exec lan ip link add br0 type bridge mcast_snooping 0
topo_exec lan ip link set br0 up
# bridge_port NS ADDR/LEN : a veth from NS (eth0) to a port of br0.
bridge_port() {
    local a="v$RANDOM$RANDOM" b="v$RANDOM$RANDOM"
    ip link add "$a" type veth peer name "$b"
    ip link set "$a" netns "$(ns "$1")"
    ip link set "$b" netns "$(ns lan)"
    topo_exec "$1" ip link set "$a" name eth0
    topo_exec "$1" ip addr add "$2" dev eth0
    topo_exec "$1" ip link set eth0 up
    topo_exec lan ip link set "$b" master br0
    topo_exec lan ip link set "$b" up
}
topo_ns ra
topo_ns rb
topo_ns h
bridge_port ra 10.0.5.1/24
bridge_port rb 10.0.5.2/24
bridge_port h 10.0.5.10/24

# Other Querier Present interval = 2 x 2s + 1s / 2 = 4.5s.
IGMP_EXTRA='query-interval = "2s"
startup-query-interval = "0.5s"' write_config "$TOPO_DIR/mgmd.toml" eth0
topo_mgmd "$TOPO_DIR/mgmd.toml" a ra
A_PID=$MGMD_PID A_SOCK=$MGMD_SOCK
topo_mgmd "$TOPO_DIR/mgmd.toml" b rb
B_SOCK=$MGMD_SOCK
on() { MGMD_SOCK=$1; shift; "$@"; }
gq() { on "$1" iface_json eth0 'i["querier"]["counters"]["tx_general_queries"]'; }

say "election: 10.0.5.1 wins"
wait_for "b sees a as querier" 10 on "$B_SOCK" iface_is eth0 \
    'not i["querier"]["is_querier"] and i["querier"]["querier_addr"] == "10.0.5.1" and i["querier"]["other_querier_expires_s"] is not None'
on "$A_SOCK" iface_is eth0 'i["querier"]["is_querier"] and i["querier"]["querier_addr"] == "10.0.5.1"' ||
    fail "a is not querier: $(on "$A_SOCK" iface_json eth0 'i["querier"]')"

say "b stays quiet while a queries"
b0=$(gq "$B_SOCK")
a0=$(gq "$A_SOCK")
a_more() { [ "$(gq "$A_SOCK")" -ge $((a0 + 2)) ]; }
wait_for "a sends two more general queries" 10 a_more
b1=$(gq "$B_SOCK")
[ "$b1" -eq "$b0" ] || fail "b sent $((b1 - b0)) general queries while not querier"
on "$B_SOCK" iface_is eth0 'not i["querier"]["is_querier"]' || fail "b became querier while a runs"

say "a stops: b takes over"
stop_bg "$A_PID"
wait_for "b becomes querier" 15 on "$B_SOCK" iface_is eth0 \
    'i["querier"]["is_querier"] and i["querier"]["querier_addr"] == "10.0.5.2"'
b2=$(gq "$B_SOCK")
b_more() { [ "$(gq "$B_SOCK")" -gt "$b2" ]; }
wait_for "b sends general queries" 5 b_more
