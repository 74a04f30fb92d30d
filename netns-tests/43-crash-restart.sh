#!/usr/bin/env bash
# mgmd is killed (SIGKILL) while forwarding: the kernel drops its whole
# table with the socket. A new mgmd starts on the same configuration and
# takes the snapshot over: the route to lan1 is back with the first
# interface dump. The receiver joined once with a bare report and holds no
# membership in its kernel, so it answers no query: nothing but the
# snapshot can have taught the new process the group. The time from the
# start to the first datagram on the receiver's link is printed. The file
# is edited and reloaded before the kill: the snapshot follows the reload.
. "$(dirname "$0")/lib.sh"
G=239.4.0.43

topo_standard
write_config "$TOPO_DIR/mgmd.toml" up0 lan1 lan2
topo_mgmd "$TOPO_DIR/mgmd.toml"
STATE="$TOPO_DIR/mgmd.state"

start_send $G 1
start_stream_capture rcv1 $G "$TOPO_DIR/cap.json"
silent_join rcv1 $G
wait_for "route for $G with oif lan1" 5 route_has_oif $G lan1
rx_mark rcv1
wait_for "stream at rcv1" 5 rx_grows rcv1 200
snapshot_has_group() {
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if any(g["group"] == sys.argv[2] for i in d["interfaces"] for g in i["groups"]) else 1)' "$STATE" $G
}
wait_for "the snapshot holds $G on lan1" 5 snapshot_has_group

# The file is edited and reloaded: the snapshot becomes the new file's, so
# the restart below (which reads the new file) takes it over.
snapshot_config() {
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["config"])' "$STATE"
}
old_fp=$(snapshot_config)
printf '\n# edited while running\n' >>"$TOPO_DIR/mgmd.toml"
"$MGMCTL" -s "$MGMD_SOCK" reload >/dev/null || fail "reload refused"
snapshot_moved() { [ "$(snapshot_config)" != "$old_fp" ]; }
wait_for "the snapshot written for the reloaded file" 5 snapshot_moved

say "kill -9 mgmd"
kill -KILL "$MGMD_PID"
wait "$MGMD_PID" 2>/dev/null || true
wait_for "the kernel's table flushed" 5 bash -c "[ -z \"\$(ip netns exec $(ns rtr) tail -n +2 /proc/net/ip_mr_cache)\" ]"
n=$(rx_delta rcv1 0.5)
[ "$n" -lt 5 ] || fail "rcv1 received $n packets while no mgmd ran"

say "start mgmd again"
t_start=$(date +%s.%N)
topo_mgmd "$TOPO_DIR/mgmd.toml"
wait_for "route for $G with oif lan1 from the snapshot" 3 route_has_oif $G lan1
has_group lan1 $G || fail "group $G not taken over"
[ "$(lan_counter lan1 rx_v3_report)" = 0 ] || fail "the new mgmd heard reports; the test is void"
grep -q "took over 1 IGMP group" "$TOPO_DIR/mgmd.log" || fail "no take-over in the log"
sleep 1
topo_stop "$CAPTURE_PID"
gap_ms=$(first_after "$TOPO_DIR/cap.json" stream "$t_start")
say "first datagram $gap_ms ms after the start"
echo "crash-restart: first_datagram_after_start_ms=$gap_ms"
[ "$gap_ms" != none ] || fail "nothing arrived after the restart"
