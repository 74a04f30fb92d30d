#!/usr/bin/env bash
# IGMP on more interfaces than one socket may join the link-local groups
# on (net.ipv4.igmp_max_memberships, 20 by default; three groups per
# interface): up0 and eight LANs. A receiver behind every LAN joins a group
# of its own (lan1-lan7 IGMPv3 hosts, reporting to 224.0.0.22; lan8 an
# IGMPv2 host, leaving through 224.0.0.2); mgmd learns every group, the
# last LAN's stream reaches its receiver, and its leave is heard at once.
. "$(dirname "$0")/lib.sh"
N=8

topo_ns src
topo_ns rtr
topo_link src eth0 10.0.1.2/24 rtr up0 10.0.1.1/24
topo_exec src ip route add default via 10.0.1.1
ifs=(up0)
for k in $(seq 1 $N); do
    topo_ns "rcv$k"
    topo_link rtr "lan$k" "10.2.$k.1/24" "rcv$k" eth0 "10.2.$k.2/24"
    topo_exec "rcv$k" ip route add default via "10.2.$k.1"
    ifs+=("lan$k")
done
topo_router rtr
topo_exec "rcv$N" sysctl -qw net.ipv4.conf.eth0.force_igmp_version=2
max=$(topo_exec rtr cat /proc/sys/net/ipv4/igmp_max_memberships)
[ "$max" -lt $((3 * (N + 1))) ] || echo "note: igmp_max_memberships is $max here: one socket could hold them all"

write_config "$TOPO_DIR/mgmd.toml" "${ifs[@]}"
topo_mgmd "$TOPO_DIR/mgmd.toml"
grep -q "failed to" "$TOPO_DIR/mgmd.log" && fail "mgmd failed at start: $(grep "failed to" "$TOPO_DIR/mgmd.log")"

say "a receiver on each of the $N LANs joins its group"
RECV=()
for k in $(seq 1 $N); do
    start_recv "rcv$k" "239.25.0.$k" "$TOPO_DIR/rcv$k.json"
    RECV+=("$LAST_PID")
done
for k in $(seq 1 $N); do
    wait_for "group 239.25.0.$k on lan$k" 10 has_group "lan$k" "239.25.0.$k"
done
[ "$(lan_counter "lan$N" rx_v2_report)" -ge 1 ] || fail "no IGMPv2 report counted on lan$N"

say "the last LAN forwards"
start_send "239.25.0.$N" 2
wait_for "route for 239.25.0.$N with oif lan$N" 5 route_has_oif "239.25.0.$N" "lan$N"
rx_mark "rcv$N"
wait_for "stream at rcv$N" 5 rx_grows "rcv$N" 100

say "the IGMPv2 receiver leaves (to 224.0.0.2): the group goes after the last-member queries"
stop_bg "${RECV[$((N - 1))]}"
wait_for_not "group 239.25.0.$N gone from lan$N" 5 has_group "lan$N" "239.25.0.$N"
[ "$(lan_counter "lan$N" rx_v2_leave)" -ge 1 ] || fail "the leave was not counted on lan$N"
for k in $(seq 1 $((N - 1))); do
    has_group "lan$k" "239.25.0.$k" || fail "group 239.25.0.$k lost on lan$k"
done
grep -q "failed to receive IGMP" "$TOPO_DIR/mgmd.log" && fail "$(grep "failed to receive IGMP" "$TOPO_DIR/mgmd.log")"
kill -0 "$MGMD_PID" || fail "mgmd died"
