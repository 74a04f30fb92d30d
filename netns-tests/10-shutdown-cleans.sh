#!/usr/bin/env bash
# SIGTERM while forwarding: mgmd exits 0, the router namespace's VIF and
# forwarding-cache tables are empty, the control socket and the pid file
# are gone, and the receiver gets nothing more.
. "$(dirname "$0")/lib.sh"
G=239.10.1.1

topo_standard
write_config "$TOPO_DIR/mgmd.toml" up0 lan1 lan2
topo_mgmd "$TOPO_DIR/mgmd.toml"
start_send $G 2
start_recv rcv1 $G "$TOPO_DIR/rcv1.json"
wait_for "route for $G with oif lan1" 5 route_has_oif $G lan1
rx_mark rcv1
wait_for "stream at rcv1" 5 rx_grows rcv1 200

entries() { topo_exec rtr awk 'NR > 1' "/proc/net/$1" | grep -c . || true; }
[ "$(entries ip_mr_vif)" -eq 3 ] || fail "want 3 VIFs before stopping: $(topo_exec rtr cat /proc/net/ip_mr_vif)"
[ "$(entries ip_mr_cache)" -ge 1 ] || fail "no forwarding entry before stopping"
[ -f "$TOPO_DIR/mgmd.pid" ] || fail "no pid file"

say "SIGTERM"
kill -TERM "$MGMD_PID"
rc=0
wait "$MGMD_PID" || rc=$?
[ $rc -eq 0 ] || fail "mgmd exited $rc after SIGTERM"
grep -q "stopping" "$TOPO_DIR/mgmd.log" || fail "no stopping message in the log"
[ "$(entries ip_mr_vif)" -eq 0 ] || fail "VIFs left: $(topo_exec rtr cat /proc/net/ip_mr_vif)"
[ "$(entries ip_mr_cache)" -eq 0 ] || fail "forwarding entries left: $(topo_exec rtr cat /proc/net/ip_mr_cache)"
[ ! -e "$MGMD_SOCK" ] || fail "control socket $MGMD_SOCK left behind"
[ ! -e "$TOPO_DIR/mgmd.pid" ] || fail "pid file left behind"
[ "$(topo_exec rtr cat /proc/sys/net/ipv4/conf/all/mc_forwarding)" = 0 ] || fail "mc_forwarding still on"
sleep 0.3 # packets already queued on the veth
n=$(rx_delta rcv1 1)
[ "$n" -lt 5 ] || fail "rcv1 still received $n packets in 1s after mgmd stopped"
