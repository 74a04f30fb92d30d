#!/usr/bin/env bash
# 50 down/up cycles of lan1 while a sequence-numbered stream runs at
# 1 packet/ms: mgmd keeps the group all along, and forwarding resumes at
# once after the last up. Asserted: the gap between the last up and the
# first datagram at the receiver is below the query response interval
# (without the kept state it would wait for the receiver's answer to a
# query); the figure is printed.
. "$(dirname "$0")/lib.sh"
G=239.4.0.40
FLAPS=${FLAPS:-50}

topo_standard
IGMP_EXTRA='query-response-interval = "2s"' write_config "$TOPO_DIR/mgmd.toml" up0 lan1 lan2
topo_mgmd "$TOPO_DIR/mgmd.toml"

start_send $G 1
start_recv rcv1 $G "$TOPO_DIR/rcv1.json" --times
RECV_PID=$LAST_PID
wait_for "route for $G with oif lan1" 5 route_has_oif $G lan1
rx_mark rcv1
wait_for "stream at rcv1" 5 rx_grows rcv1 200
reports=$(iface_json lan1 'i["querier"]["counters"]["rx_v3_report"]')

say "$FLAPS flaps of lan1"
for _ in $(seq 1 "$FLAPS"); do
    ip -n "$(ns rtr)" link set lan1 down
    ip -n "$(ns rtr)" link set lan1 up
done
t_up=$(date +%s.%N)
has_group lan1 $G || fail "group $G lost over the flaps"
wait_for "route for $G with oif lan1 after the flaps" 2 route_has_oif $G lan1
sleep 1
topo_stop "$RECV_PID"
gap_ms=$(python3 - "$TOPO_DIR/rcv1.json" "$t_up" "$G" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))[sys.argv[3]]
t_up = float(sys.argv[2])
after = [t for t in d["times"] if t > t_up]
print("%.2f" % ((after[0] - t_up) * 1e3) if after else "none")
PY
)
say "first datagram $gap_ms ms after the last up"
echo "flap-burst: flaps=$FLAPS gap_after_last_up_ms=$gap_ms" >"$TOPO_DIR/figure"
cat "$TOPO_DIR/figure"
[ "$gap_ms" != none ] || fail "nothing arrived after the last up"
python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) < 2000 else 1)" "$gap_ms" ||
    fail "forwarding resumed $gap_ms ms after the last up, not within the query response interval (2 s)"
# The group was never relearned from scratch: the receiver answered queries
# (reports may come), but mgmd never dropped it.
now_reports=$(iface_json lan1 'i["querier"]["counters"]["rx_v3_report"]')
say "reports on lan1: $reports before, $now_reports after"
kill -0 "$MGMD_PID" || fail "mgmd died"
