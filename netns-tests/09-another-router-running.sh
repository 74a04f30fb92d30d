#!/usr/bin/env bash
# A second mgmd started in the same namespace (own control socket and pid
# file) cannot own the kernel's multicast routing table: it exits 69
# (EX_UNAVAILABLE) saying another multicast routing daemon owns it. The
# first keeps its VIFs, routes and control socket and goes on forwarding.
. "$(dirname "$0")/lib.sh"
G=239.9.1.1

topo_standard
write_config "$TOPO_DIR/mgmd.toml" up0 lan1 lan2
topo_mgmd "$TOPO_DIR/mgmd.toml"
start_send $G 2
start_recv rcv1 $G "$TOPO_DIR/rcv1.json"
wait_for "route for $G with oif lan1" 5 route_has_oif $G lan1
# VIF number, interface, flags, local address (not the counters).
vif_table() { topo_exec rtr awk 'NR > 1 {print $1, $2, $7, $8}' /proc/net/ip_mr_vif; }
vifs=$(vif_table)
[ "$(wc -l <<<"$vifs")" -eq 3 ] || fail "want 3 VIFs: $vifs"

say "second mgmd in the same namespace"
rc=0
timeout 20 ip netns exec "$(ns rtr)" "$MGMD" -c "$TOPO_DIR/mgmd.toml" \
    --control-socket "$TOPO_DIR/second.sock" --pid-file "$TOPO_DIR/second.pid" \
    >"$TOPO_DIR/second.out" 2>&1 || rc=$?
cat "$TOPO_DIR/second.out"
[ $rc -eq 69 ] || fail "second mgmd exited $rc, want 69"
grep -q "another multicast routing daemon" "$TOPO_DIR/second.out" ||
    fail "the second mgmd's message does not name the cause"
[ ! -e "$TOPO_DIR/second.sock" ] || fail "the second mgmd left its control socket behind"
[ ! -e "$TOPO_DIR/second.pid" ] || fail "the second mgmd wrote a pid file"

say "the first one is unaffected"
kill -0 "$MGMD_PID" || fail "the first mgmd died"
[ -S "$MGMD_SOCK" ] || fail "the first mgmd's control socket is gone"
[ "$(vif_table)" = "$vifs" ] || fail "VIFs changed: $(vif_table)"
route_has_oif $G lan1 || fail "route for $G lost lan1"
rx_mark rcv1
wait_for "stream at rcv1" 5 rx_grows rcv1 200
