#!/usr/bin/env bash
# A lower-address querier heard while mgmd sends last-member queries does
# not cut them short (RFC 2236 3: "Any Querier to non-Querier transition is
# ignored during this time; the same router keeps sending the
# Group-Specific Queries"; RFC 9776 6.6.3.1 schedules [Last Member Query
# Count] - 1 retransmissions). A host leaves a group; right after mgmd's
# first group-specific query, a general query arrives from a lower
# address. The capture shows all Last Member Query Count (3) group-specific
# queries, the group is removed after the Last Member Query Time, and then
# mgmd is non-querier: the lower address is shown as querier and mgmd sends
# no general query.
. "$(dirname "$0")/lib.sh"
G=239.23.0.1
GHEX=ef170001
LMQC=3

topo_ns rtr
topo_ns h
topo_link rtr lan1 10.0.7.5/24 h eth0 10.0.7.20/24
topo_exec h ip addr add 10.0.7.2/24 dev eth0
IGMP_EXTRA="last-member-query-interval = \"0.5s\"
last-member-query-count = $LMQC" write_config "$TOPO_DIR/mgmd.toml" lan1
topo_mgmd "$TOPO_DIR/mgmd.toml"
wait_for "mgmd querier on lan1" 5 iface_is lan1 'i["querier"]["is_querier"]'
start_capture h "$TOPO_DIR/cap.json"
CAP=$CAPTURE_PID

igmp() { topo_exec h $MCAST igmp --iface eth0 --router-alert --fix-checksum "$@"; }

say "v2 report for $G"
igmp --bind 10.0.7.20 --dst $G --hex "16000000 $GHEX"
wait_for "group $G on lan1" 5 has_group lan1 $G

say "v2 leave, then a general query from 10.0.7.2 between mgmd's first two group-specific queries"
t_leave=$(date +%s.%N)
# One process sends both, half the Last Member Query Interval (0.5 s)
# apart: a second process would take its start-up time on a slow kernel.
igmp --bind 10.0.7.20 --dst 224.0.0.2 --hex "17000000 $GHEX" \
    --then-after 0.25 --then "10.0.7.2,224.0.0.1,11640000 00000000"
wait_for_not "group $G gone from lan1" 5 has_group lan1 $G
wait_for "mgmd non-querier, 10.0.7.2 querier" 3 iface_is lan1 \
    'not i["querier"]["is_querier"] and i["querier"]["querier_addr"] == "10.0.7.2"'
sleep 2
stop_bg "$CAP"

python3 - "$TOPO_DIR/cap.json" "$G" "$LMQC" "$t_leave" <<'PY' || fail "queries on the wire are wrong"
import json, sys
cap, g, n, t_leave = json.load(open(sys.argv[1])), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
mine = [m for m in cap["igmp"] if m["src"] == "10.0.7.5" and m["type"] == 0x11 and m["t"] > t_leave]
gsq = [m for m in mine if m["group"] == g]
# Once the last of them is sent, mgmd is no longer querier.
general = [m for m in mine if m["group"] == "0.0.0.0" and gsq and m["t"] > gsq[-1]["t"]]
other = [m for m in cap["igmp"] if m["src"] == "10.0.7.2" and m["type"] == 0x11]
print(f"after the leave: {len(gsq)} group-specific queries of mgmd "
      f"(at {[round(m['t'] - t_leave, 2) for m in gsq]}), {len(general)} general queries of mgmd after them; "
      f"lower querier's general query at {[round(m['t'] - t_leave, 2) for m in other]}")
ok = len(gsq) == n and not general and other and gsq[0]["t"] < other[0]["t"] < gsq[-1]["t"]
if not ok:
    for m in cap["igmp"]:
        print(m)
sys.exit(0 if ok else 1)
PY
