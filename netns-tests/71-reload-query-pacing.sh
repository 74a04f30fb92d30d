#!/usr/bin/env bash
# A reload that shortens the query interval, as the hosts see it (RFC 9776
# 8.2: the Query Interval is "the interval between General Queries sent by
# the Querier"): mgmd queries lan1 every 10 s; 2 s after a periodic query
# the file says 7 s and mgmd reloads. The next general query comes 7 s after
# the previous one, and the two after it 7 s apart: the new pace from the
# first query after the reload on, not one more at the old 10 s.
. "$(dirname "$0")/lib.sh"

topo_standard
cfg="$TOPO_DIR/mgmd.toml"
config() {
    cat <<CFG
[igmp]
query-interval = "$1"
query-response-interval = "1s"

[[interface]]
name = "lan1"
CFG
}
config 10s >"$cfg"

# queries : the times of mgmd's general queries seen on lan1, one a line.
queries() {
    python3 - "$TOPO_DIR/lan1.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    if not line.endswith("\n"):
        break
    r = json.loads(line)
    if r["src"] == "10.0.2.1" and r["kind"] == "query" and r["group"] == "0.0.0.0":
        print("%.3f" % r["t"])
PY
}
at_least() { [ "$(queries | wc -l)" -ge "$1" ]; }

topo_bg rcv1 "$TOPO_DIR/lan1.jsonl" $MCAST igmp-capture --iface eth0 --lines --ready "$TOPO_DIR/lan1.ready"
CAP=$LAST_PID
wait_for "IGMP capture on lan1 ready" 5 test -f "$TOPO_DIR/lan1.ready"
topo_mgmd "$cfg"

say "startup queries (2, 2.5 s apart), then one periodic query 10 s later"
wait_for "three general queries" 20 at_least 3
last=$(queries | tail -n 1)
# Reload 2 s after that query (timed from it, not from a fixed sleep).
wait_for "2 s after the last query" 5 python3 -c 'import sys, time; sys.exit(0 if time.time() >= float(sys.argv[1]) + 2 else 1)' "$last"
say "reload: query-interval 10s -> 7s"
config 7s >"$cfg"
mgmctl reload >/dev/null || fail "reload refused"
wait_for "three more general queries" 30 at_least 6
topo_stop "$CAP"
queries | python3 -c '
import sys
t = [float(x) for x in sys.stdin.read().split()]
gaps = [round(b - a, 2) for a, b in zip(t[2:], t[3:])]
print("  gaps from the last query before the reload on:", gaps)
# 7 s each (the capture sees the packets, not the timers: 0.5 s of slack).
sys.exit(0 if len(gaps) >= 3 and all(abs(g - 7) < 0.5 for g in gaps[:3]) else 1)
' || fail "the queries after the reload are not 7 s apart from the first one on"
say "OK: the new interval from the first query after the reload"
