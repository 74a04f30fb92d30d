#!/usr/bin/env bash
# IGMPv3 source filters changed by a real kernel host, one step at a time:
# INCLUDE {S1} -> INCLUDE {S1,S2} -> INCLUDE {S2} -> EXCLUDE {} -> INCLUDE
# {S2} -> nothing. Two sources send to the group; after each step mgmd's
# view of the group (mode and forwarded sources) and the outgoing
# interfaces of both flows follow the host's filter.
. "$(dirname "$0")/lib.sh"
G=239.4.4.4
S1=10.0.1.2
S2=10.0.1.3

topo_standard
topo_exec src ip addr add $S2/24 dev eth0
write_config "$TOPO_DIR/mgmd.toml" up0 lan1 lan2
topo_mgmd "$TOPO_DIR/mgmd.toml"
start_send $G 2 --source $S1
topo_bg src "$TOPO_DIR/send2.log" $MCAST send --iface eth0 --group $G --interval-ms 2 --source $S2

# group_is MODE SOURCES : lan1 shows G in MODE forwarding exactly SOURCES
# (comma-separated, sorted; "-" for none, "gone" when G is not there).
group_is() {
    mgmctl --json show groups | python3 -c '
import json, sys
mode, want = sys.argv[1], sys.argv[2]
g = [g for g in json.load(sys.stdin) if g["interface"] == "lan1" and g["group"] == sys.argv[3]]
if not g:
    sys.exit(0 if mode == "gone" else 1)
fwd = ",".join(sorted(s["source"] for s in g[0]["sources"] if s["forwarding"])) or "-"
sys.exit(0 if (g[0]["mode"], fwd) == (mode, want) else 1)' "$1" "$2" $G
}
# flows_out S1_WANTED S2_WANTED : whether lan1 is an outgoing interface of
# (S1,G) and (S2,G) ("yes"/"no" each; a flow with no entry counts as no).
flows_out() {
    mgmctl --json show routes | python3 -c '
import json, sys
routes = json.load(sys.stdin)
def out(s):
    return "yes" if any(r["source"] == s and r["group"] == sys.argv[3] and "lan1" in r["oifs"] for r in routes) else "no"
sys.exit(0 if (out(sys.argv[4]), out(sys.argv[5])) == (sys.argv[1], sys.argv[2]) else 1)' "$1" "$2" $G $S1 $S2
}
join_src() {
    topo_bg rcv1 "$TOPO_DIR/join-$1.log" $MCAST join --iface eth0 --group $G --source "$1" \
        --ready "$TOPO_DIR/join-$1.ready"
    wait_for "join of ($1,$G) ready" 5 test -f "$TOPO_DIR/join-$1.ready"
}

say "the host includes $S1"
join_src $S1
J1=$LAST_PID
wait_for "INCLUDE {$S1}" 5 group_is include $S1
wait_for "only ($S1,$G) out of lan1" 5 flows_out yes no

say "the host includes $S2 too (ALLOW)"
join_src $S2
J2=$LAST_PID
wait_for "INCLUDE {$S1,$S2}" 5 group_is include "$S1,$S2"
wait_for "both flows out of lan1" 5 flows_out yes yes

say "the host drops $S1 (BLOCK): it goes after the last member queries"
stop_bg "$J1"
wait_for "INCLUDE {$S2}" 5 group_is include $S2
wait_for "only ($S2,$G) out of lan1" 5 flows_out no yes

say "the host joins from any source (TO_EX {})"
topo_bg rcv1 "$TOPO_DIR/join-any.log" $MCAST join --iface eth0 --group $G --ready "$TOPO_DIR/join-any.ready"
JA=$LAST_PID
wait_for "join of (*,$G) ready" 5 test -f "$TOPO_DIR/join-any.ready"
wait_for "EXCLUDE {}" 5 group_is exclude "-"
wait_for "both flows out of lan1 again" 5 flows_out yes yes

say "the host leaves any source, keeps $S2 (TO_IN {$S2})"
stop_bg "$JA"
wait_for "back to INCLUDE {$S2}" 5 group_is include $S2
wait_for "only ($S2,$G) out of lan1 again" 5 flows_out no yes

say "the host leaves (BLOCK {$S2})"
stop_bg "$J2"
wait_for "group gone" 5 group_is gone -
wait_for "no flow out of lan1" 5 flows_out no no
