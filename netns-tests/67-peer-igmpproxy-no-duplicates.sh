#!/usr/bin/env bash
# Two IGMP proxies on one downstream LAN, both fed the same stream on one
# upstream LAN: mgmd and igmpproxy (Debian's igmpproxy). igmpproxy has the
# lower address on the downstream LAN, so it is the querier there and mgmd
# leaves that LAN out of its routes (RFC 4605 4.2: a proxy forwards on a
# downstream interface where it is the querier) while still counting its
# members upstream. The receiver gets every datagram once: no duplicate
# sequence number, at its socket and on its link. When igmpproxy stops,
# mgmd becomes querier after its Other Querier Present Interval and
# forwards the stream itself, again without duplicates.
# Skips where igmpproxy cannot be installed.
#
#   [src] 10.0.7.2 ---br1--- up0 10.0.7.11 [ra: mgmd] eth0 10.0.6.2 ---br0--- 10.0.6.10 [h]
#                       \--- up0 10.0.7.12 [rb: igmpproxy] eth0 10.0.6.1 --/
. "$(dirname "$0")/lib.sh"
. "$HERE/peers.sh"
peer_need igmpproxy /usr/sbin/igmpproxy
G=239.67.0.1

lan_bridge
topo_exec lan ip link add br1 type bridge mcast_snooping 0
topo_exec lan ip link set br1 up
topo_ns src
topo_ns ra
topo_ns rb
topo_ns h
lan_port src eth0 10.0.7.2/24 br1
lan_port ra up0 10.0.7.11/24 br1
lan_port rb up0 10.0.7.12/24 br1
lan_port ra eth0 10.0.6.2/24
lan_port rb eth0 10.0.6.1/24
lan_port h eth0 10.0.6.10/24
topo_router ra
topo_router rb

# igmpproxy queries (IGMPv2, no QQIC) at its start, 31 s later (its
# startup query interval, a quarter of its fixed 125 s query interval),
# then every 125 s. A v2 query carries no interval, so mgmd's Other
# Querier Present Interval is its own: query interval 20 s gives
# 2 x 20 s + 1 s / 2 = 40.5 s, past igmpproxy's second query.
cat >"$TOPO_DIR/mgmd.toml" <<CFG
[igmp]
query-interval = "20s"
query-response-interval = "1s"
last-member-query-interval = "0.5s"
startup-query-interval = "1s"

[proxy]
upstream = ["up0"]
downstream = ["eth0"]
CFG
topo_mgmd "$TOPO_DIR/mgmd.toml" mgmd ra
# Read before writing this: Debian's /etc/igmpproxy.conf names eth0
# upstream, eth1 downstream, eth2 disabled, quickleave; this one names the
# test's interfaces only (rb has no others but lo).
igmpproxy_start rb 'phyint up0 upstream ratelimit 0 threshold 1
phyint eth0 downstream ratelimit 0 threshold 1'

say "igmpproxy (10.0.6.1, the lower) is querier on the downstream LAN"
wait_for "mgmd sees 10.0.6.1 as querier" 15 iface_is eth0 \
    'not i["querier"]["is_querier"] and i["querier"]["querier_addr"] == "10.0.6.1"'
t_yield=$(date +%s)

say "h joins $G, src sends: one copy of each datagram reaches h"
start_stream_capture h $G "$TOPO_DIR/cap1.json"
CAP=$CAPTURE_PID
start_recv h $G "$TOPO_DIR/r1.json"
R1=$LAST_PID
wait_for "mgmd counts h's membership" 10 has_group eth0 $G
proxy_has() {
    mgmctl --json show protocols | python3 -c '
import json, sys
p = next(p for p in json.load(sys.stdin) if p["name"] == "proxy")
sys.exit(0 if sys.argv[1] in p["detail"]["membership"] else 1)' "$1"
}
wait_for "mgmd reports $G upstream" 10 proxy_has $G
start_send $G 10
S=$SEND_PID
rx_mark h
wait_for "the stream at h (igmpproxy forwards)" 20 rx_grows h 200
# Some seconds of both proxies holding the stream from upstream.
wait_for "mgmd has a route for $G" 10 eval "[ \"\$(route_iif $G 10.0.7.2)\" = up0 ]"
sleep 5
route_has_oif $G eth0 && fail "mgmd forwards $G onto the LAN where igmpproxy is querier"
topo_stop "$S"
sleep 0.5
peer_stop "$R1"
peer_stop "$CAP"
# still within mgmd's Other Querier Present Interval of igmpproxy's queries
iface_is eth0 'not i["querier"]["is_querier"]' || fail "mgmd querier again too early"

check_once() {
    python3 - "$1" "$2" "$G" "$3" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))[sys.argv[3]]
c = json.load(open(sys.argv[2]))["stream"]
print(f"  {sys.argv[4]}: socket {r['count']} datagrams, {r['duplicates']} duplicates, {r['missing']} missing;"
      f" link {c['count']} datagrams, {c['duplicates']} duplicates")
ok = r["count"] >= 200 and r["duplicates"] == 0 and c["duplicates"] == 0
# Once the stream flows, nothing lost either (the first datagrams wait
# for the forwarder's route).
ok = ok and all(lo <= 10 for lo, hi in r["gap_at"])
sys.exit(0 if ok else 1)
PY
}
check_once "$TOPO_DIR/r1.json" "$TOPO_DIR/cap1.json" "igmpproxy querier" ||
    fail "h did not get the stream exactly once while igmpproxy was querier"

say "igmpproxy stops: mgmd becomes querier and forwards, once"
topo_stop "$IGMPPROXY_PID"
start_stream_capture h $G "$TOPO_DIR/cap2.json"
CAP=$CAPTURE_PID
start_recv h $G "$TOPO_DIR/r2.json"
R2=$LAST_PID
start_send $G 10
S=$SEND_PID
# igmpproxy's last query came at most 31 s after mgmd yielded; mgmd is
# querier an Other Querier Present Interval (40.5 s) after it, and a margin.
left=$((31 + 41 + 10 - ($(date +%s) - t_yield)))
wait_for "mgmd querier" $((left > 10 ? left : 10)) iface_is eth0 'i["querier"]["is_querier"]'
wait_for "mgmd forwards $G onto the LAN" 10 route_has_oif $G eth0
rx_mark h
wait_for "the stream at h through mgmd" 10 rx_grows h 200
topo_stop "$S"
sleep 0.5
peer_stop "$R2"
peer_stop "$CAP"
check_once "$TOPO_DIR/r2.json" "$TOPO_DIR/cap2.json" "mgmd querier" ||
    fail "h did not get the stream exactly once from mgmd"
say "OK: one forwarder at a time on the shared downstream LAN, no duplicates"
