#!/usr/bin/env bash
# Log lines: plain text without colour when standard error is a file; one
# JSON object per line with --log-format json; native journald fields
# with the right priorities when JOURNAL_STREAM names standard error (a
# stand-in journal socket in a mount namespace of the test's own).
. "$(dirname "$0")/lib.sh"

topo_standard
write_config "$TOPO_DIR/mgmd.toml" up0 lan1 lan2
# Strict reverse-path filtering on lan1: mgmd warns about it at start-up.
topo_exec rtr sysctl -qw net.ipv4.conf.lan1.rp_filter=1

say "standard error is a file: text without colour"
topo_mgmd "$TOPO_DIR/mgmd.toml"
wait_for "the rp_filter warning" 5 grep -q "rp_filter" "$TOPO_DIR/mgmd.log"
grep -q "mgmd started" "$TOPO_DIR/mgmd.log" || fail "no start line: $(cat "$TOPO_DIR/mgmd.log")"
! grep -q $'\e\\[' "$TOPO_DIR/mgmd.log" || fail "colour codes in a log file: $(head -n 3 "$TOPO_DIR/mgmd.log" | cat -v)"
topo_stop "$MGMD_PID"

say "--log-format json"
topo_bg rtr "$TOPO_DIR/json.log" "$MGMD" -c "$TOPO_DIR/mgmd.toml" --log-format json \
    --control-socket "$TOPO_DIR/json.sock" --pid-file "$TOPO_DIR/json.pid"
JSON_PID=$LAST_PID
wait_for "the rp_filter warning" 5 grep -q "rp_filter" "$TOPO_DIR/json.log"
topo_stop "$JSON_PID"
python3 - "$TOPO_DIR/json.log" <<'PY' || fail "bad JSON log: $(head -n 5 "$TOPO_DIR/json.log")"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert lines, "no lines"
assert all("timestamp" in l and "level" in l and "fields" in l for l in lines), lines
started = [l for l in lines if l["fields"].get("message") == "mgmd started"]
assert started and started[0]["level"] == "INFO", lines
assert started[0]["fields"].get("control", "").endswith("json.sock"), started
assert any(l["level"] == "WARN" and "rp_filter" in l["fields"]["message"] for l in lines), lines
PY

say "JOURNAL_STREAM names standard error: native journald fields"
cat >"$TOPO_DIR/journal.py" <<'PY'
# A stand-in journald: every datagram on the socket, one repr() per line.
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a") as out:
    while True:
        out.write(repr(s.recv(65536)) + "\n")
        out.flush()
PY
cat >"$TOPO_DIR/journal.sh" <<'SH'
# In a mount namespace of its own: a tmpfs on /run holds the stand-in
# journal socket; mgmd's standard error is a file that JOURNAL_STREAM names.
set -eu
dir=$1
mount -t tmpfs tmpfs /run
mkdir -p /run/systemd/journal
python3 "$dir/journal.py" /run/systemd/journal/socket "$dir/journal.out" &
listener=$!
while [ ! -S /run/systemd/journal/socket ]; do sleep 0.05; done
: >"$dir/journal.err"
JOURNAL_STREAM=$(stat -c %d:%i "$dir/journal.err") "$MGMD" -c "$dir/mgmd.toml" \
    --control-socket "$dir/journal.sock" --pid-file "$dir/journal.pid" 2>>"$dir/journal.err" &
mgmd=$!
for _ in $(seq 1 100); do
    grep -q rp_filter "$dir/journal.out" 2>/dev/null && break
    sleep 0.1
done
kill -TERM $mgmd
wait $mgmd || echo "mgmd exited $?" >>"$dir/journal.err"
kill $listener
SH
ip netns exec "$(ns rtr)" unshare -m bash "$TOPO_DIR/journal.sh" "$TOPO_DIR"
python3 - "$TOPO_DIR/journal.out" <<'PY' || fail "journal: $(head -c 3000 "$TOPO_DIR/journal.out")"
import ast, struct, sys

def fields(d):
    """journald's native protocol: KEY=VALUE lines, or KEY, a 64-bit
    little-endian length and the value."""
    out, i = {}, 0
    while i < len(d):
        nl = d.index(b"\n", i)
        eq = d.find(b"=", i, nl)
        if eq >= 0:
            out[d[i:eq].decode()] = d[eq + 1:nl]
            i = nl + 1
        else:
            n = struct.unpack("<Q", d[nl + 1:nl + 9])[0]
            out[d[i:nl].decode()] = d[nl + 9:nl + 9 + n]
            i = nl + 9 + n + 1
    return out

# An empty datagram is the client checking that the socket is there.
entries = [fields(d) for d in (ast.literal_eval(l) for l in open(sys.argv[1])) if d]
def find(prio, text):
    return [e for e in entries if e.get("PRIORITY") == prio and text in e.get("MESSAGE", b"")]
started = find(b"6", b"mgmd started")
assert started, "info at priority 6"
assert started[0].get("TARGET") == b"mgmd::daemon::event_loop", started
assert started[0].get("MGMD_CONTROL", b"").endswith(b"journal.sock"), started
warned = find(b"4", b"rp_filter")
assert warned and warned[0].get("MGMD_INTERFACE") == b"lan1", "warning at priority 4 naming lan1"
assert all(e.get("SYSLOG_IDENTIFIER") == b"mgmd" for e in entries)
PY
[ ! -s "$TOPO_DIR/journal.err" ] || fail "lines on standard error although it is the journal: $(cat "$TOPO_DIR/journal.err")"
