#!/usr/bin/env bash
# SSM: a receiver joins (10.0.1.2, 232.1.1.1) source-specifically. Two
# sources on the sender's LAN send to 232.1.1.1: only the joined source's
# stream reaches the receiver's link; the other's forwarding entry does
# not go out of lan1.
. "$(dirname "$0")/lib.sh"
G=232.1.1.1
S1=10.0.1.2
S2=10.0.1.3

topo_standard
topo_exec src ip addr add $S2/24 dev eth0
write_config "$TOPO_DIR/mgmd.toml" up0 lan1 lan2
topo_mgmd "$TOPO_DIR/mgmd.toml"

start_capture rcv1 "$TOPO_DIR/cap.json"
CAP=$CAPTURE_PID
start_send $G 2 --source $S1
topo_bg src "$TOPO_DIR/send2.log" $MCAST send --iface eth0 --group $G --interval-ms 2 --source $S2
start_recv rcv1 $G "$TOPO_DIR/rcv1.json" --source $S1
R1=$LAST_PID

route_of() {
    mgmctl --json show routes | python3 -c '
import json, sys
s, g, oif = sys.argv[1:4]
r = [r for r in json.load(sys.stdin) if r["source"] == s and r["group"] == g]
sys.exit(0 if r and (oif in r[0]["oifs"]) == (sys.argv[4] == "with") else 1)' "$@"
}
sources_of() {
    mgmctl --json show groups | python3 -c '
import json, sys
g = [g for g in json.load(sys.stdin) if g["interface"] == "lan1" and g["group"] == sys.argv[1]]
print(g[0]["mode"] if g else "none", ",".join(s["source"] for s in g[0]["sources"]) if g else "")' $G
}

say "($S1,$G) joined: include mode with that source only"
wait_for "group $G on lan1" 5 has_group lan1 $G
read -r mode srcs <<<"$(sources_of)"
[ "$mode" = include ] && [ "$srcs" = $S1 ] || fail "group $G on lan1: mode $mode sources '$srcs', want include $S1"
wait_for "route ($S1,$G) out of lan1" 5 route_of $S1 $G lan1 with
wait_for "route ($S2,$G) exists without lan1" 5 route_of $S2 $G lan1 without
rx_mark rcv1
wait_for "stream at rcv1" 5 rx_grows rcv1 200
route_of $S2 $G lan1 without || fail "($S2,$G) goes out of lan1"
stop_bg "$R1"
stop_bg "$CAP"
n1=$(json_get "$TOPO_DIR/cap.json" "d['udp'].get('$S1>$G', 0)")
n2=$(json_get "$TOPO_DIR/cap.json" "d['udp'].get('$S2>$G', 0)")
say "on rcv1's link: $n1 packets from $S1, $n2 from $S2"
[ "$n1" -gt 100 ] || fail "only $n1 packets from the joined source $S1"
[ "$n2" -eq 0 ] || fail "$n2 packets from the source $S2 that nobody joined"
got=$(json_get "$TOPO_DIR/rcv1.json" "d['$G']['count']")
[ "$got" -gt 0 ] || fail "the receiver's socket got nothing"
