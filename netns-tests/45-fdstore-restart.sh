#!/usr/bin/env bash
# The unit restarts under a service manager that keeps file descriptors
# (a stand-in for systemd's FileDescriptorStoreMax=, scripts/fdstore.py):
# mgmd gives its multicast routing socket to the store (FDSTORE=1,
# FDNAME=mgmd-mrt), leaves the kernel's table as it is on SIGTERM, and the
# next process gets the socket back (LISTEN_FDS) and adopts the table.
# Then mgmd is killed (SIGKILL) and started again, as Restart=on-failure
# does: the store still holds the socket, the new process reads the
# kernel's table back and takes the last snapshot over.
# Asserted: the stream to a receiver that answers no query (a bare join)
# loses not one datagram across either; each new process took the socket
# over; once the store is closed the kernel's table is empty.
. "$(dirname "$0")/lib.sh"
G=239.4.0.45

topo_standard
write_config "$TOPO_DIR/mgmd.toml" up0 lan1 lan2
MGMD_SOCK="$TOPO_DIR/mgmd.sock"
topo_bg rtr "$TOPO_DIR/mgmd.log" env RUST_LOG=info python3 "$TOPO_ROOT/scripts/fdstore.py" \
    --log "$TOPO_DIR/notify.log" --ready "$TOPO_DIR/ready" -- \
    "$MGMD" -c "$TOPO_DIR/mgmd.toml" --control-socket "$MGMD_SOCK" --pid-file "$TOPO_DIR/mgmd.pid" \
    --record "$TOPO_DIR/mgmd.rec"
STORE_PID=$LAST_PID
wait_for "mgmd ready" 5 test -f "$TOPO_DIR/ready-1"
wait_for "the socket in the store" 5 grep -q "FDSTORE=1 FDNAME=mgmd-mrt fds=1" "$TOPO_DIR/notify.log"

start_send $G 1
start_stream_capture rcv1 $G "$TOPO_DIR/cap.json"
silent_join rcv1 $G
wait_for "route for $G with oif lan1" 5 route_has_oif $G lan1
rx_mark rcv1
wait_for "stream at rcv1" 5 rx_grows rcv1 200

say "the unit restarts"
kill -USR1 "$STORE_PID"
wait_for "mgmd ready again" 10 test -f "$TOPO_DIR/ready-2"
grep -q "stopped with 0" "$TOPO_DIR/notify.log" || fail "mgmd did not stop cleanly: $(cat "$TOPO_DIR/notify.log")"
grep -q "took over the multicast routing socket" "$TOPO_DIR/mgmd.log" || fail "no socket take-over in the log"
wait_for "mgmd answers again" 5 mgmctl ping
route_has_oif $G lan1 || fail "route for $G lost lan1 over the restart"
[ "$(lan_counter lan1 rx_v3_report)" = 0 ] || fail "the new mgmd heard reports; the test is void"
rx_mark rcv1
wait_for "stream at rcv1 after the restart" 5 rx_grows rcv1 500

say "mgmd crashes and is started again"
snapshot_has_group() {
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if any(g["group"] == sys.argv[2] for i in d["interfaces"] for g in i["groups"]) else 1)' "$TOPO_DIR/mgmd.state" $G
}
wait_for "the snapshot holds $G on lan1" 5 snapshot_has_group
kill -USR2 "$STORE_PID"
wait_for "mgmd ready a third time" 10 test -f "$TOPO_DIR/ready-3"
grep -q "stopped with -9" "$TOPO_DIR/notify.log" || fail "mgmd was not killed: $(cat "$TOPO_DIR/notify.log")"
[ "$(grep -c "took over the multicast routing socket" "$TOPO_DIR/mgmd.log")" = 2 ] || fail "no socket take-over after the crash"
wait_for "mgmd answers again" 5 mgmctl ping
route_has_oif $G lan1 || fail "route for $G lost lan1 over the crash"
rx_mark rcv1
wait_for "stream at rcv1 after the crash" 5 rx_grows rcv1 500
topo_stop "$CAPTURE_PID"
missing=$(json_get "$TOPO_DIR/cap.json" "d['stream']['missing']")
received=$(json_get "$TOPO_DIR/cap.json" "d['stream']['count']")
say "received $received, missing $missing"
echo "fdstore-restart: received=$received missing=$missing"
[ "$missing" = 0 ] || fail "$missing datagrams lost over the restart and the crash"

say "the unit stops: the store closes, the kernel empties the table"
topo_stop "$STORE_PID"
wait_for "no VIF left" 5 bash -c "[ -z \"\$(ip netns exec $(ns rtr) tail -n +2 /proc/net/ip_mr_vif)\" ]"
