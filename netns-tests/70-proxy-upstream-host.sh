#!/usr/bin/env bash
# The proxy's upstream side on the wire (RFC 4605 4.1: "the proxy device
# performs the host portion of the IGMP/MLD protocol on the upstream
# interface"), as seen from src, the upstream router: receivers on lan1 and
# lan2 join G and G2; the box reports each group upstream with its State-
# Change Report sent [Robustness Variable] times (RFC 9776 5.1: "retransmitted
# [Robustness Variable] - 1 more times"; 2 by default). It answers the
# upstream router's IGMPv3 general query and group-specific query with
# Current-State Records (IS_EX), and, when the last receiver of G leaves,
# reports TO_IN({}) [Robustness Variable] times. An IGMPv2 general query
# makes it answer with v2 reports, as a host does with an older querier
# (RFC 9776 7.2.1).
. "$(dirname "$0")/lib.sh"
G=239.70.0.1 G2=239.70.0.2

topo_standard
cfg="$TOPO_DIR/mgmd.toml"
cat >"$cfg" <<CFG
[igmp]
query-interval = "10s"
query-response-interval = "1s"
last-member-query-interval = "200ms"

[proxy]
upstream = ["up0"]
downstream = ["lan1", "lan2"]
CFG

ghex() { python3 -c 'import socket,sys; print(socket.inet_aton(sys.argv[1]).hex())' "$1"; }
# query DST HEX : the upstream router (src, 10.0.1.2) sends an IGMP query.
query() { topo_exec src $MCAST igmp --iface eth0 --router-alert --fix-checksum --bind 10.0.1.2 --dst "$1" --hex "$2"; }
# records KIND GROUP : how many records of KIND for GROUP the box (10.0.1.1)
# sent on up0 so far.
records() {
    python3 - "$TOPO_DIR/up0.jsonl" "$1" "$2" <<'PY'
import json, sys
path, kind, group = sys.argv[1:4]
n = 0
for line in open(path):
    if not line.endswith("\n"):
        break
    r = json.loads(line)
    if r["src"] == "10.0.1.1" and r["kind"] == kind and r["group"] == group and (kind != "TO_IN" or not r["sources"]):
        n += 1
print(n)
PY
}
at_least() { [ "$(records "$2" "$3")" -ge "$1" ]; }

topo_bg src "$TOPO_DIR/up0.jsonl" $MCAST igmp-capture --iface eth0 --lines --ready "$TOPO_DIR/up0.ready"
CAP=$LAST_PID
wait_for "IGMP capture on up0's link ready" 5 test -f "$TOPO_DIR/up0.ready"
topo_mgmd "$cfg"
wait_for "lan1 querier" 5 iface_is lan1 'i["querier"]["is_querier"]'

say "rcv1 joins $G: the join goes upstream [Robustness Variable] (2) times"
start_recv rcv1 $G "$TOPO_DIR/r1.json"
R1=$LAST_PID
start_recv rcv2 $G2 "$TOPO_DIR/r2.json"
R2=$LAST_PID
wait_for "two TO_EX({}) records for $G on up0" 10 at_least 2 TO_EX $G
wait_for "two TO_EX({}) records for $G2 on up0" 10 at_least 2 TO_EX $G2

say "the upstream router's IGMPv3 general query is answered with IS_EX for both groups"
n1=$(records IS_EX $G) n2=$(records IS_EX $G2)
# Max Resp Code 10 (1 s), QRV 2, QQIC 10.
query 224.0.0.1 "110a0000 00000000 020a 0000"
wait_for "IS_EX for $G answering the general query" 5 at_least $((n1 + 1)) IS_EX $G
wait_for "IS_EX for $G2 answering the general query" 5 at_least $((n2 + 1)) IS_EX $G2
# The retransmissions (at most an Unsolicited Report Interval, 1 s, apart)
# are over: exactly [Robustness Variable] of them, no more.
[ "$(records TO_EX $G)" -eq 2 ] || fail "$(records TO_EX $G) TO_EX records for $G, not 2"
[ "$(records TO_EX $G2)" -eq 2 ] || fail "$(records TO_EX $G2) TO_EX records for $G2, not 2"

say "its group-specific query for $G is answered with IS_EX for $G"
n1=$(records IS_EX $G) n2=$(records IS_EX $G2)
query $G "110a0000 $(ghex $G) 020a 0000"
wait_for "IS_EX for $G answering the group-specific query" 5 at_least $((n1 + 1)) IS_EX $G
after2=$(records IS_EX $G2)
[ "$after2" -eq "$n2" ] || fail "a query for $G was answered for $G2 too"

say "rcv1 leaves: after the last-member queries and the host-leave hold, TO_IN({}) twice"
topo_stop "$R1"
wait_for "two TO_IN({}) records for $G on up0" 15 at_least 2 TO_IN $G
[ "$(records TO_IN $G2)" -eq 0 ] || fail "$G2 was left upstream while rcv2 is still joined"

say "an IGMPv2 general query is answered with a v2 report for $G2"
query 224.0.0.1 "110a0000 00000000"
wait_for "v2 report for $G2" 5 at_least 1 v2_report $G2
[ "$(records TO_IN $G)" -eq 2 ] || fail "$(records TO_IN $G) TO_IN({}) records for $G, not 2"
topo_stop "$R2"
topo_stop "$CAP"
say "OK: joins reported twice, queries answered, leave reported twice, v2 querier answered"
