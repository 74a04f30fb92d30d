#!/usr/bin/env bash
# A GRE tunnel as downstream (`ip link add gre1 type gre local A remote B`,
# point-to-point addresses inside), with a kernel host at the far end, mgmd
# with default IGMP checks: the host's join over the tunnel is learned (the
# tunnel's peer address is the link's subnet, RFC 9776 9.2) and the stream
# reaches the host through the tunnel. Skipped where the kernel has no GRE.
. "$(dirname "$0")/lib.sh"
G=239.1.6.2

topo_ns src
topo_ns rtr
topo_ns rcv1
topo_link src eth0 10.0.1.2/24 rtr up0 10.0.1.1/24
topo_link rtr lan1 10.0.2.1/24 rcv1 eth0 10.0.2.2/24
topo_exec src ip route add default via 10.0.1.1
modprobe ip_gre 2>/dev/null || true
if ! topo_exec rtr ip link add gre1 type gre local 10.0.2.1 remote 10.0.2.2 2>/dev/null; then
    echo "SKIP: the kernel ($(uname -r)) has no GRE tunnels (CONFIG_NET_IPGRE)"
    exit 77
fi
topo_exec rcv1 ip link add gre1 type gre local 10.0.2.2 remote 10.0.2.1
for n in rtr rcv1; do
    # A point-to-point GRE device is created without IFF_MULTICAST.
    topo_exec $n ip link set gre1 multicast on
    topo_exec $n ip link set gre1 up
done
topo_exec rtr ip addr add 10.6.1.1 peer 10.6.1.2 dev gre1
topo_exec rcv1 ip addr add 10.6.1.2 peer 10.6.1.1 dev gre1
topo_router rtr

write_config "$TOPO_DIR/mgmd.toml" up0 gre1
topo_mgmd "$TOPO_DIR/mgmd.toml"
wait_for "gre1 shows its peer" 10 iface_is gre1 '"10.6.1.1 peer 10.6.1.2/32" in i["addrs"]'

say "the host at the far end of the tunnel joins $G"
start_send $G 2
topo_bg rcv1 "$TOPO_DIR/rcv1.json" $MCAST recv --iface gre1 --group $G --ready "$TOPO_DIR/rcv1.json.ready"
wait_for "receiver ready" 5 test -f "$TOPO_DIR/rcv1.json.ready"
wait_for "group $G on gre1" 10 has_group gre1 $G
wait_for "route for $G with oif gre1" 10 route_has_oif $G gre1
rx_mark_gre() { GRE_MARK=$(rx_packets rcv1 gre1); }
rx_grows_gre() { [ $(($(rx_packets rcv1 gre1) - GRE_MARK)) -ge "$1" ]; }
rx_mark_gre
wait_for "stream through the tunnel" 10 rx_grows_gre 100
kill -0 "$MGMD_PID" || fail "mgmd died"
