#!/usr/bin/env bash
# mgmd -d returns only once the background daemon is ready: its control
# socket answers at once, and it runs in a session of its own. When the
# daemon cannot start (another mgmd owns the table; a bad configuration),
# mgmd -d exits with the daemon's status and prints its reason, leaving
# nothing behind. Without a syslog daemon on /dev/log it says that the
# background daemon's log lines are lost.
. "$(dirname "$0")/lib.sh"

topo_standard
write_config "$TOPO_DIR/mgmd.toml" up0 lan1 lan2
syslog_listens() { python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.connect("/dev/log")' 2>/dev/null; }

say "mgmd -d starts a daemon that is ready when it returns"
rc=0
timeout 30 ip netns exec "$(ns rtr)" "$MGMD" -d -c "$TOPO_DIR/mgmd.toml" \
    --control-socket "$TOPO_DIR/bg.sock" --pid-file "$TOPO_DIR/bg.pid" \
    >"$TOPO_DIR/bg.out" 2>&1 || rc=$?
cat "$TOPO_DIR/bg.out"
[ $rc -eq 0 ] || fail "mgmd -d exited $rc"
[ -f "$TOPO_DIR/bg.pid" ] || fail "no pid file when mgmd -d returned"
BG_PID=$(cat "$TOPO_DIR/bg.pid")
TOPO_PIDS+=("$BG_PID")
# No waiting: ready means the control socket answers.
"$MGMCTL" -s "$TOPO_DIR/bg.sock" ping >/dev/null || fail "control socket not answering when mgmd -d returned"
[ "$(ps -o sid= -p "$BG_PID" | tr -d ' ')" = "$BG_PID" ] || fail "the daemon is not in a session of its own"
if syslog_listens; then
    ! grep -q "no syslog daemon" "$TOPO_DIR/bg.out" || fail "warned about syslog although /dev/log listens"
else
    grep -q "no syslog daemon listens on /dev/log" "$TOPO_DIR/bg.out" ||
        fail "no warning that the background daemon's log lines are lost"
fi

say "a second mgmd -d on the same table fails with the daemon's status and reason"
rc=0
timeout 30 ip netns exec "$(ns rtr)" "$MGMD" -d -c "$TOPO_DIR/mgmd.toml" \
    --control-socket "$TOPO_DIR/second.sock" --pid-file "$TOPO_DIR/second.pid" \
    >"$TOPO_DIR/second.out" 2>&1 || rc=$?
cat "$TOPO_DIR/second.out"
[ $rc -eq 69 ] || fail "second mgmd -d exited $rc, want 69"
grep -q "another multicast routing daemon" "$TOPO_DIR/second.out" ||
    fail "mgmd -d does not say why the daemon failed"
[ ! -e "$TOPO_DIR/second.sock" ] || fail "the failed daemon left its control socket"
[ ! -e "$TOPO_DIR/second.pid" ] || fail "the failed daemon left a pid file"
kill -0 "$BG_PID" || fail "the first daemon died"

say "a bad configuration: status 78 and the position of the error"
printf '[igmp]\nrobustness = 0\n' >"$TOPO_DIR/bad.toml"
rc=0
ip netns exec "$(ns rtr)" "$MGMD" -d -c "$TOPO_DIR/bad.toml" >"$TOPO_DIR/bad.out" 2>&1 || rc=$?
cat "$TOPO_DIR/bad.out"
[ $rc -eq 78 ] || fail "mgmd -d with a bad configuration exited $rc, want 78"
grep -q "bad.toml:2:" "$TOPO_DIR/bad.out" || fail "no FILE:LINE in the message"

say "the background daemon stops cleanly on SIGTERM"
kill -TERM "$BG_PID"
wait_for "the daemon to exit" 10 bash -c "! kill -0 $BG_PID"
[ ! -e "$TOPO_DIR/bg.sock" ] || fail "control socket left behind"
[ "$(topo_exec rtr awk 'NR > 1' /proc/net/ip_mr_vif | grep -c . || true)" -eq 0 ] || fail "VIFs left"
