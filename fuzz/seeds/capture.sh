#!/usr/bin/env bash
# Regenerate the fuzz seeds from real traffic (root; network namespaces,
# torn down on exit). Adds only seeds not already there.
#
# - igmp_packet, igmp_router: mgmd (target/debug, built if missing) is the
#   querier on lan1 (IGMPv3), lan2 (v2) and lan3 (v1); a Linux host on each
#   joins, leaves and answers queries with the kernel's own IGMP (forced to
#   the LAN's version). tcpdump captures every message on the router's
#   side; capture.py keeps each payload and each LAN's sequence.
# - ctl: the requests mgmctl sends (and some mgmd refuses), mgmd's replies
#   and the event records it streams meanwhile.
# - netlink: in a namespace of its own, the notifications an rtnetlink
#   socket receives while links, addresses and routes are added, changed,
#   renamed and deleted, and the replies to dumps and a route lookup.
# - mld_packet: in a namespace of its own, a Linux bridge querying with
#   MLDv1, then MLDv2, and a host on one of its ports joining and leaving
#   any-source and source-specific groups with the kernel's own MLD;
#   every message on the host's link.
# - config: the files in examples/.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)" >&2; exit 1; }
command -v tcpdump >/dev/null || { echo "needs tcpdump" >&2; exit 1; }
export MGMD=${MGMD:-$ROOT/target/debug/mgmd} MGMCTL=${MGMCTL:-$ROOT/target/debug/mgmctl}
[ -x "$MGMD" ] && [ -x "$MGMCTL" ] || (cd "$ROOT" && cargo build --locked --bins)
# shellcheck source=../../scripts/topo.sh
. "$ROOT/scripts/topo.sh"
trap topo_cleanup EXIT
PY="python3 $HERE/capture.py"

echo "== config: examples"
for f in "$ROOT"/examples/*.toml; do
    install -D -m 644 "$f" "$HERE/config/example-$(basename "$f" .toml)"
done

echo "== netlink"
topo_ns nl
topo_exec nl $PY netlink "$HERE/netlink"

echo "== MLD"
topo_ns mld
topo_exec mld $PY mld "$HERE/mld_packet"

echo "== IGMP and the control protocol"
topo_standard
topo_ns rcv3
topo_link rtr lan3 10.0.4.1/24 rcv3 eth0 10.0.4.2/24
topo_exec rcv2 sysctl -qw net.ipv4.conf.eth0.force_igmp_version=2
topo_exec rcv3 sysctl -qw net.ipv4.conf.eth0.force_igmp_version=1
cat >"$TOPO_DIR/mgmd.toml" <<'EOF'
[igmp]
query-interval = "3s"
query-response-interval = "1s"
last-member-query-interval = "0.3s"

[[interface]]
name = "up0"
[[interface]]
name = "lan1"
[[interface]]
name = "lan2"
version = 2
[[interface]]
name = "lan3"
version = 1

# Owns nothing at start: `take lan2 static` gives it lan2.
[static]
interfaces = []
EOF
DUMPS=()
for i in lan1 lan2 lan3; do
    topo_bg rtr "$TOPO_DIR/tcpdump-$i.log" tcpdump -i "$i" -U -n -w "$TOPO_DIR/$i.pcap" igmp
    DUMPS+=("$LAST_PID")
done
sleep 1
topo_mgmd "$TOPO_DIR/mgmd.toml"
join() { # NS GROUP [SOURCE]
    topo_bg "$1" /dev/null $MCAST join --iface eth0 --group "$2" ${3:+--source "$3"}
}
join rcv1 239.1.1.1
J1=$LAST_PID
join rcv1 232.1.1.1 10.0.1.2
J2=$LAST_PID
join rcv1 232.1.1.1 10.0.1.3
J3=$LAST_PID
join rcv2 239.2.2.2
J4=$LAST_PID
join rcv3 239.3.3.3
J5=$LAST_PID
# General queries every 3 s: the hosts answer with current-state reports.
sleep 7
$PY ctl "$MGMD_SOCK" "$HERE/ctl"
for pid in $J3 $J2 $J1 $J4 $J5; do
    topo_stop "$pid"
    sleep 1.5
done
sleep 4
for pid in "${DUMPS[@]}"; do
    topo_stop "$pid"
done
IGMP_SETTINGS='{"lan1": 0, "lan2": 2, "lan3": 1}' IGMP_ROUTERS="10.0.2.1 10.0.3.1 10.0.4.1" \
    $PY igmp "$HERE" "$TOPO_DIR"/lan1.pcap "$TOPO_DIR"/lan2.pcap "$TOPO_DIR"/lan3.pcap

for t in igmp_packet igmp_router mld_packet config ctl netlink; do
    printf '%-12s %4d files %7d bytes\n' "$t" "$(find "$HERE/$t" -type f | wc -l)" \
        "$(cat "$HERE/$t"/* | wc -c)"
done
