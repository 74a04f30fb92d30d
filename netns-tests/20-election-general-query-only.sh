#!/usr/bin/env bash
# Querier election by general queries only (RFC 9776 6.6.2: "When a router
# receives a General Query with a lower IP address ... [it] ceases to send
# general queries"). A host with a lower address than mgmd's sends
# group-specific and group-and-source-specific queries: mgmd processes them
# (counted, no drop) and stays querier, its general queries keep coming on
# the wire. Then the host sends one general query: mgmd yields (no general
# query of its own on the wire), and takes the role back once the Other
# Querier Present Interval has passed without another.
. "$(dirname "$0")/lib.sh"
G=239.20.0.1
GHEX=ef140001
S=10.9.9.9
SHEX=0a090909

topo_ns rtr
topo_ns h
topo_link rtr lan1 10.0.7.5/24 h eth0 10.0.7.20/24
# The lower "router" address the host sends its queries from.
topo_exec h ip addr add 10.0.7.2/24 dev eth0
# Other Querier Present Interval = 2 x 2s + 1s / 2 = 4.5s.
IGMP_EXTRA='query-interval = "2s"
startup-query-interval = "0.5s"' write_config "$TOPO_DIR/mgmd.toml" lan1
start_capture h "$TOPO_DIR/cap.json"
CAP=$CAPTURE_PID
topo_mgmd "$TOPO_DIR/mgmd.toml"
wait_for "mgmd querier on lan1" 5 iface_is lan1 'i["querier"]["is_querier"]'

q() { topo_exec h $MCAST igmp --iface eth0 --router-alert --fix-checksum --bind 10.0.7.2 "$@"; }
ctr() { iface_json lan1 "i['querier']['counters'].get('$1', 0)"; }

say "lower-address group-specific and group-and-source-specific queries"
t_specific=$(date +%s.%N)
for _ in 1 2 3; do
    # v3 group-specific query for $G (S clear, QRV 2, QQIC 2).
    q --dst $G --hex "110a0000 $GHEX 0202 0000"
    # v3 group-and-source-specific query for ($S, $G).
    q --dst $G --hex "110a0000 $GHEX 0202 0001 $SHEX"
    # v2 group-specific query for $G.
    q --dst $G --hex "110a0000 $GHEX"
    sleep 0.5
done
rx_v3() { [ "$(ctr rx_v3_query)" -ge 6 ] && [ "$(ctr rx_v2_query)" -ge 3 ]; }
wait_for "the specific queries counted by mgmd" 5 rx_v3
[ "$(ctr drop_bad_destination)" -eq 0 ] || fail "specific queries dropped: $(iface_json lan1 'i["querier"]["counters"]')"
# Well within the Other Querier Present Interval of the last of them.
iface_is lan1 'i["querier"]["is_querier"] and i["querier"]["querier_addr"] == "10.0.7.5"' ||
    fail "mgmd yielded to a specific query: $(iface_json lan1 'i["querier"]')"
gq0=$(ctr tx_general_queries)
more_gq() { [ "$(ctr tx_general_queries)" -ge $((gq0 + 2)) ]; }
wait_for "two more general queries of mgmd" 8 more_gq
iface_is lan1 'i["querier"]["is_querier"] and i["querier"]["querier_addr"] == "10.0.7.5"' ||
    fail "mgmd yielded to a specific query: $(iface_json lan1 'i["querier"]')"

say "lower-address general query: mgmd yields"
t_general=$(date +%s.%N)
q --dst 224.0.0.1 --hex "110a0000 00000000 0202 0000"
wait_for "mgmd non-querier, 10.0.7.2 querier" 3 iface_is lan1 \
    'not i["querier"]["is_querier"] and i["querier"]["querier_addr"] == "10.0.7.2"'
say "the role comes back after the Other Querier Present Interval"
wait_for "mgmd querier again" 8 iface_is lan1 'i["querier"]["is_querier"]'
t_back=$(date +%s.%N)
sleep 0.3
stop_bg "$CAP"

python3 - "$TOPO_DIR/cap.json" "$t_specific" "$t_general" "$t_back" <<'PY' || fail "general queries on the wire are wrong"
import json, sys
cap = json.load(open(sys.argv[1]))
t_spec, t_gen, t_back = map(float, sys.argv[2:5])
gq = [m["t"] for m in cap["igmp"]
      if m["src"] == "10.0.7.5" and m["type"] == 0x11 and m["group"] == "0.0.0.0"]
# The lower general query's time on the wire, not when the command that
# sends it started (that takes up to a second on a slow kernel).
lower = [m["t"] for m in cap["igmp"]
         if m["src"] == "10.0.7.2" and m["type"] == 0x11 and m["group"] == "0.0.0.0" and m["t"] > t_gen]
if lower:
    t_gen = lower[0]
during = [t for t in gq if t_spec < t < t_gen]
# Every query interval (2s) while the specific queries came and after.
window = [t for t in gq if t_spec - 2.5 < t < t_gen]
gaps = [round(b - a, 2) for a, b in zip(window, window[1:])]
silent = [t for t in gq if t_gen + 0.2 < t < t_gen + 4.0]
after = [t for t in gq if t_gen + 4.0 <= t <= t_back + 0.3]
print(f"gaps between mgmd's general queries before the lower general query: {gaps}")
print(f"general queries of mgmd: {len(during)} while specific queries came, "
      f"{len(silent)} in the 4s after the lower general query, {len(after)} after the role came back")
ok = bool(lower) and len(during) >= 2 and all(g <= 2.6 for g in gaps) and not silent and after
if not ok:
    for m in cap["igmp"]:
        print(m)
sys.exit(0 if ok else 1)
PY
