#!/usr/bin/env bash
# `mgmctl restart` onto a new binary (the file at mgmd's path replaced,
# as an upgrade does) while a sequence-numbered stream runs at 1 packet/ms:
# mgmd re-executes itself (same pid) handing over the multicast routing
# socket, so the kernel keeps its table and forwards throughout; the new
# process adopts the table and the snapshot. Asserted: not one datagram
# missing on the receiver's link, the running binary is the new file, the
# route and the group are there without any report (the receiver joined
# once with a bare report and answers no query), and the new process says
# it took the socket over.
. "$(dirname "$0")/lib.sh"
G=239.4.0.44

topo_standard
write_config "$TOPO_DIR/mgmd.toml" up0 lan1 lan2
mkdir -p "$TOPO_DIR/bin"
cp "$MGMD" "$TOPO_DIR/bin/mgmd"
ORIG_MGMD=$MGMD
MGMD="$TOPO_DIR/bin/mgmd" topo_mgmd "$TOPO_DIR/mgmd.toml"

start_send $G 1
start_stream_capture rcv1 $G "$TOPO_DIR/cap.json"
silent_join rcv1 $G
wait_for "route for $G with oif lan1" 5 route_has_oif $G lan1
rx_mark rcv1
wait_for "stream at rcv1" 5 rx_grows rcv1 200

say "install a new binary and restart"
cp "$ORIG_MGMD" "$TOPO_DIR/bin/mgmd.new"
mv -f "$TOPO_DIR/bin/mgmd.new" "$TOPO_DIR/bin/mgmd"
case "$(readlink "/proc/$MGMD_PID/exe")" in
*"(deleted)") ;;
*) fail "the running binary was not replaced: $(readlink "/proc/$MGMD_PID/exe")" ;;
esac
mgmctl restart
wait_for "the new binary runs" 5 bash -c "[ \"\$(readlink /proc/$MGMD_PID/exe)\" = '$TOPO_DIR/bin/mgmd' ]"
wait_for "mgmd answers again" 5 mgmctl ping
route_has_oif $G lan1 || fail "route for $G lost lan1 over the restart"
has_group lan1 $G || fail "group $G lost over the restart"
grep -q "took over the multicast routing socket" "$TOPO_DIR/mgmd.log" || fail "no socket take-over in the log"
[ "$(lan_counter lan1 rx_v3_report)" = 0 ] || fail "the new mgmd heard reports; the test is void"
rx_mark rcv1
wait_for "stream at rcv1 after the restart" 5 rx_grows rcv1 500
topo_stop "$CAPTURE_PID"
missing=$(json_get "$TOPO_DIR/cap.json" "d['stream']['missing']")
received=$(json_get "$TOPO_DIR/cap.json" "d['stream']['count']")
say "received $received, missing $missing"
echo "planned-restart: received=$received missing=$missing"
[ "$missing" = 0 ] || fail "$missing datagrams lost over the restart"

kill -0 "$MGMD_PID" || fail "mgmd is gone"
