#!/usr/bin/env bash
# The control socket abused, against the real daemon, while it forwards a
# 1 packet/ms stream: a client sends 100 MB without a newline (mgmd answers
# with an error and closes the connection after reading no more than its
# limit: the client gets rid of far less than it tried), a client sends
# thousands of requests and never reads the replies, an events subscriber
# never reads while a host joins thousands of groups (both are dropped once
# a write has stalled for the write timeout, 10 s), 1,000 clients connect
# at once (every one is answered), and an unprivileged user is refused with
# a clear message and mgmctl's exit status 5, both by the socket file's
# mode and, with the mode loosened, by mgmd itself. Throughout, the stream
# keeps flowing (largest gap below the query response interval), mgmd's
# resident memory stays bounded and a fresh mgmctl is answered. Reported:
# how long the 1,000 clients took to be answered.
. "$(dirname "$0")/lib.sh"
FAULTS="python3 $HERE/../scripts/faults.py"
G=239.3.3.3
QRI_MS=1000
WRITE_TIMEOUT_S=10
RSS_LIMIT_KIB=$((64 * 1024))

topo_standard
write_config "$TOPO_DIR/mgmd.toml" up0 lan1 lan2
topo_mgmd "$TOPO_DIR/mgmd.toml"
rss_kib() { awk "/^$1:/ {print \$2}" "/proc/$MGMD_PID/status"; }

say "a stream of 1 packet/ms to rcv1"
start_recv rcv1 $G "$TOPO_DIR/rcv1.json" --times
RCV1=$LAST_PID
start_send $G 1
wait_for "route for $G out of lan1" 5 route_has_oif $G lan1
rx_mark rcv1
wait_for "stream at rcv1" 5 rx_grows rcv1 200
rss_before=$(rss_kib VmRSS)

say "clients that never read: thousands of requests, and an events subscriber"
python3 $HERE/../scripts/faults.py ctl-stall --socket "$MGMD_SOCK" --request show-interfaces \
    --requests 5000 --timeout 40 --ready "$TOPO_DIR/stall.ready" >"$TOPO_DIR/stall.json" 2>&1 &
STALL=$!
TOPO_PIDS+=($STALL)
python3 $HERE/../scripts/faults.py ctl-stall --socket "$MGMD_SOCK" --events \
    --timeout 40 --ready "$TOPO_DIR/stall-events.ready" >"$TOPO_DIR/stall-events.json" 2>&1 &
STALL_EVENTS=$!
TOPO_PIDS+=($STALL_EVENTS)
wait_for "stalled clients ready" 10 test -f "$TOPO_DIR/stall.ready" -a -f "$TOPO_DIR/stall-events.ready"
# Events to fill the subscriber's socket: a host on lan2 joins 3,000 groups.
topo_exec rcv2 $FAULTS flood --iface eth0 --src 10.0.3.2 --count 3000 --base 236.0.0.0 \
    --malformed-every 0 --random-every 0 >"$TOPO_DIR/joins.json"

say "100 MB without a newline"
python3 $HERE/../scripts/faults.py ctl-flood --socket "$MGMD_SOCK" --bytes $((100 << 20)) \
    --timeout 20 >"$TOPO_DIR/flood.json"
cat "$TOPO_DIR/flood.json"
python3 - "$TOPO_DIR/flood.json" <<'PY' || fail "the endless request was not cut off"
import json, sys
d = json.load(open(sys.argv[1]))
reply = json.loads(d["reply"])
assert reply.get("ok") is False and "request too long" in reply["error"], reply
# mgmd reads 64 KiB and one byte; the socket buffers take a few hundred
# KiB more. Having read it all, mgmd would have taken the 100 MB.
assert d["sent"] < (8 << 20), "the client got rid of %d bytes" % d["sent"]
PY
grep -q "control client dropped: it sent 65536 bytes without a newline" "$TOPO_DIR/mgmd.log" ||
    fail "the cut-off client was not logged"
mgmctl ping >/dev/null || fail "mgmd does not answer after the endless request"

say "1,000 clients at once"
python3 $HERE/../scripts/faults.py ctl-many --socket "$MGMD_SOCK" --count 1000 --timeout 30 \
    >"$TOPO_DIR/many.json"
cat "$TOPO_DIR/many.json"
[ "$(json_get "$TOPO_DIR/many.json" 'd["answered"]')" -eq 1000 ] ||
    fail "not all of 1,000 clients were answered: $(cat "$TOPO_DIR/many.json")"

say "an unprivileged user: refused by the socket's mode, then by mgmd"
chmod 755 "$TOPO_DIR"
# expect_denied PATTERN : nobody's mgmctl ping exits 5 and says PATTERN.
expect_denied() {
    local rc=0
    setpriv --reuid=65534 --regid=65534 --clear-groups "$MGMCTL" -s "$MGMD_SOCK" ping \
        >"$TOPO_DIR/denied" 2>&1 || rc=$?
    [ $rc -eq 5 ] || fail "nobody's mgmctl exited $rc, want 5: $(cat "$TOPO_DIR/denied")"
    grep -q "$1" "$TOPO_DIR/denied" || fail "unclear refusal: $(cat "$TOPO_DIR/denied")"
    cat "$TOPO_DIR/denied"
}
expect_denied "the control socket is root's"
chmod 666 "$MGMD_SOCK"
expect_denied "permission denied: uid 65534 may not use mgmd's control socket"
chmod 600 "$MGMD_SOCK"
grep -q "control client dropped: permission denied: uid 65534" "$TOPO_DIR/mgmd.log" ||
    fail "the refused user was not logged"

say "the clients that never read are dropped after the write timeout"
wait "$STALL" || fail "ctl-stall failed: $(cat "$TOPO_DIR/stall.json")"
wait "$STALL_EVENTS" || fail "ctl-stall --events failed: $(cat "$TOPO_DIR/stall-events.json")"
cat "$TOPO_DIR/stall.json" "$TOPO_DIR/stall-events.json"
for f in stall stall-events; do
    python3 - "$TOPO_DIR/$f.json" "$WRITE_TIMEOUT_S" <<'PY' || fail "$f: $(cat "$TOPO_DIR/$f.json")"
import json, sys
closed = json.load(open(sys.argv[1]))["closed_after_s"]
# Closed, and not before a write had stalled for the write timeout.
assert closed is not None and closed >= float(sys.argv[2]), closed
PY
done
n=$(grep -c "control client dropped: it did not read for ${WRITE_TIMEOUT_S}s" "$TOPO_DIR/mgmd.log" || true)
[ "$n" -eq 2 ] || fail "$n stalled clients logged as dropped, want 2"

say "forwarding went on; mgmd answers; memory bounded"
mgmctl ping >/dev/null || fail "mgmd does not answer"
has_group lan1 $G || fail "the receiver's group is gone"
sleep 0.5
stop_bg "$RCV1"
gap=$(python3 -c '
import json, sys
t = json.load(open(sys.argv[1]))[sys.argv[2]]["times"]
print("%.1f" % (max(b - a for a, b in zip(t, t[1:])) * 1e3))' "$TOPO_DIR/rcv1.json" $G)
rss_after=$(rss_kib VmRSS)
hwm=$(rss_kib VmHWM)
python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) < float(sys.argv[2]) else 1)' "$gap" $QRI_MS ||
    fail "the stream stopped for $gap ms"
[ "$hwm" -lt $RSS_LIMIT_KIB ] || fail "mgmd's resident memory peaked at $hwm KiB (limit $RSS_LIMIT_KIB)"
kill -0 "$MGMD_PID" || fail "mgmd died"
echo "ctl-abuse: flood_bytes_taken=$(json_get "$TOPO_DIR/flood.json" 'd["sent"]') clients=1000 answered_in_s=$(json_get "$TOPO_DIR/many.json" 'd["seconds"]') stalled_closed_after_s=$(json_get "$TOPO_DIR/stall.json" 'd["closed_after_s"]'),$(json_get "$TOPO_DIR/stall-events.json" 'd["closed_after_s"]') max_gap_ms=$gap rss_kib before=$rss_before after=$rss_after peak=$hwm" |
    tee "$TOPO_DIR/figure"
