#!/usr/bin/env bash
# Two mgmd side by side in one router, one per multicast routing table:
# A owns the default table (up0, lan1), B owns table 10 (up1, lan2; `ip
# mrule` rules send those interfaces' multicast to table 10). Each learns
# its own receiver, installs its flow in its own table and forwards it;
# neither sees the other's. Stopping B leaves A forwarding.
#
#   [src] eth0 10.0.1.2 ---- up0 [rtr: A] lan1 ---- [rcv1]   G1 (default table)
#         eth1 10.0.5.2 ---- up1 [rtr: B] lan2 ---- [rcv2]   G2 (table 10)
. "$(dirname "$0")/lib.sh"
need_kernel mroute-tables
G1=239.1.7.1
G2=239.1.7.2

topo_standard
topo_link src eth1 10.0.5.2/24 rtr up1 10.0.5.1/24
for i in up1 lan2; do topo_exec rtr ip mrule add iif $i lookup 10; done
topo_exec rtr ip route add 10.0.5.0/24 dev up1 table 10

write_config "$TOPO_DIR/a.toml" up0 lan1
topo_mgmd "$TOPO_DIR/a.toml" a
SOCK_A=$MGMD_SOCK
PID_A=$MGMD_PID
write_config "$TOPO_DIR/b.toml" up1 lan2
sed -i 's/^\[global\]$/[global]\ntable = 10/' "$TOPO_DIR/b.toml"
topo_mgmd "$TOPO_DIR/b.toml" b
SOCK_B=$MGMD_SOCK
PID_B=$MGMD_PID

# routes_of SOCK : "source,group" of every route the instance shows.
routes_of() {
    "$MGMCTL" -s "$1" --json show routes | python3 -c '
import json, sys
print(" ".join(sorted(r["source"] + "," + r["group"] for r in json.load(sys.stdin))))'
}
routes_are() { [ "$(routes_of "$1")" = "$2" ]; }
in_table() { topo_exec rtr ip mroute show ${2:+table $2} | grep -q "$1"; }

start_recv rcv1 $G1 "$TOPO_DIR/rcv1.json"
start_recv rcv2 $G2 "$TOPO_DIR/rcv2.json"
topo_bg src "$TOPO_DIR/send1.log" $MCAST send --iface eth0 --group $G1 --interval-ms 2
topo_bg src "$TOPO_DIR/send2.log" $MCAST send --iface eth1 --group $G2 --interval-ms 2

say "each instance forwards its own flow from its own table"
wait_for "A forwards (10.0.1.2,$G1) only" 5 routes_are "$SOCK_A" "10.0.1.2,$G1"
wait_for "B forwards (10.0.5.2,$G2) only" 5 routes_are "$SOCK_B" "10.0.5.2,$G2"
wait_for "$G1 in the default table" 5 in_table "(10.0.1.2,$G1)"
wait_for "$G2 in table 10" 5 in_table "(10.0.5.2,$G2)" 10
in_table "(10.0.5.2,$G2)" && fail "$G2 installed in the default table"
in_table "(10.0.1.2,$G1)" 10 && fail "$G1 installed in table 10"
rx_mark rcv1
rx_mark rcv2
wait_for "stream at rcv1" 5 rx_grows rcv1 100
wait_for "stream at rcv2" 5 rx_grows rcv2 100

say "each instance audits its own table (read back over rtnetlink)"
"$MGMCTL" -s "$SOCK_A" verify >"$TOPO_DIR/verify" || fail "A: $(cat "$TOPO_DIR/verify")"
"$MGMCTL" -s "$SOCK_B" verify >"$TOPO_DIR/verify" || fail "B: $(cat "$TOPO_DIR/verify")"
grep -q "kernel: 2 VIF(s), 1 entries" "$TOPO_DIR/verify" || fail "B: $(cat "$TOPO_DIR/verify")"
# B's entry rewritten to drop behind its back (by VIF number: /proc shows
# only the default table).
vif_up1=$("$MGMCTL" -s "$SOCK_B" --json show interfaces |
    python3 -c 'import json,sys; print(next(i["vif"] for i in json.load(sys.stdin) if i["name"] == "up1"))')
topo_exec rtr python3 "$HERE/../scripts/faults.py" mfc-add --table 10 --source 10.0.5.2 --group $G2 --iif "$vif_up1"
rc=0
"$MGMCTL" -s "$SOCK_B" verify >"$TOPO_DIR/verify" || rc=$?
[ $rc = 6 ] || fail "B: verify exited $rc after the rewrite: $(cat "$TOPO_DIR/verify")"
grep -q "^entry-changed  *(10.0.5.2,$G2)  *iif up1 oifs lan2  *iif up1 (drop)$" "$TOPO_DIR/verify" ||
    fail "B: $(cat "$TOPO_DIR/verify")"
"$MGMCTL" -s "$SOCK_A" verify >"$TOPO_DIR/verify" || fail "A sees B's drift: $(cat "$TOPO_DIR/verify")"
rc=0
"$MGMCTL" -s "$SOCK_B" verify --repair >/dev/null || rc=$?
[ $rc = 6 ] || fail "B: verify --repair exited $rc"
rx_mark rcv2
wait_for "stream at rcv2 after the repair" 5 rx_grows rcv2 100
"$MGMCTL" -s "$SOCK_B" verify >"$TOPO_DIR/verify" || fail "B: $(cat "$TOPO_DIR/verify")"

say "B stops; A keeps forwarding"
topo_stop "$PID_B"
wait_for "table 10 empty" 5 bash -c "! ip netns exec $(ns rtr) ip mroute show table 10 | grep -q ."
rx_mark rcv1
wait_for "stream still at rcv1" 5 rx_grows rcv1 100
kill -0 "$PID_A" || fail "A died"
