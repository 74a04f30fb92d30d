#!/usr/bin/env bash
# lan1 is renamed lan9 (down, rename, up: the kernel renames only links
# that are down) while a stream runs; the configuration describes lan9 as
# it describes lan1. mgmd keeps everything: the same ifindex and VIF, the
# group, the route's outgoing interface (now named lan9), and forwarding
# resumes at once after the up, without a report.
. "$(dirname "$0")/lib.sh"
G=239.4.0.41

topo_standard
write_config "$TOPO_DIR/mgmd.toml" up0 lan1 lan2 lan9
topo_mgmd "$TOPO_DIR/mgmd.toml"

start_send $G 1
start_recv rcv1 $G "$TOPO_DIR/rcv1.json" --times
RECV_PID=$LAST_PID
wait_for "route for $G with oif lan1" 5 route_has_oif $G lan1
rx_mark rcv1
wait_for "stream at rcv1" 5 rx_grows rcv1 200
ifindex=$(iface_json lan1 'i["ifindex"]')
vif=$(iface_json lan1 'i["vif"]')

say "rename lan1 -> lan9"
topo_exec rtr ip link set lan1 down
topo_exec rtr ip link set lan1 name lan9
topo_exec rtr ip link set lan9 up
t_up=$(date +%s.%N)
wait_for "route for $G with oif lan9" 2 route_has_oif $G lan9
iface_is lan9 "i['ifindex'] == $ifindex and i['vif'] == $vif and i['state'] == 'up'" ||
    fail "lan9 is not the renamed lan1: $(mgmctl --json show interfaces)"
has_group lan9 $G || fail "group $G lost over the rename"
iface_is lan1 'i["state"] == "pending"' || fail "lan1 not shown pending after the rename"
sleep 1
topo_stop "$RECV_PID"
gap_ms=$(python3 - "$TOPO_DIR/rcv1.json" "$t_up" "$G" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))[sys.argv[3]]
after = [t for t in d["times"] if t > float(sys.argv[2])]
print("%.2f" % ((after[0] - float(sys.argv[2])) * 1e3) if after else "none")
PY
)
say "first datagram $gap_ms ms after the up"
[ "$gap_ms" != none ] || fail "nothing arrived after the rename"
python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) < 1000 else 1)" "$gap_ms" ||
    fail "forwarding resumed $gap_ms ms after the up, not within the query response interval (1 s)"
kill -0 "$MGMD_PID" || fail "mgmd died"
