#!/usr/bin/env bash
# mgmd demo: build, create a small namespace topology, run mgmd on its
# default config (IGMP querier + forwarder), join a group from a real
# kernel host, send a stream, and show what mgmd sees and what arrives.
# Everything it creates is removed on exit, also on failure.
#
#   [src] 10.0.1.2 ---- up0 [rtr: mgmd] lan1 ---- [rcv1]  joins 239.1.2.3
#                                       lan2 ---- [rcv2]  joins nothing
#
# Where the host's kernel has no multicast routing (CONFIG_IP_MROUTE), the
# part after the build runs inside user-mode Linux (scripts/kernel-env.sh),
# as does everything with MGMD_KERNEL_ENV=uml. --no-build uses the binaries
# in MGMD and MGMCTL (default target/release) as they are.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo.sh needs root (network namespaces): sudo $0" >&2; exit 77; }
if [ "${1:-}" != --no-build ]; then
    scripts/deps.sh
    echo "== building mgmd (release)"
    cargo build --release --bins --quiet
fi
# On a kernel with multicast routing: the host's, or user-mode Linux.
if [ -z "${MGMD_KERNEL_ENV_INSIDE:-}" ]; then
    exec scripts/kernel-env.sh --need mroute -- "$0" --no-build
fi

# shellcheck source=topo.sh
. scripts/topo.sh
trap topo_cleanup EXIT

echo "== creating the topology (namespaces $TOPO_ID-*)"
topo_standard

cfg="$TOPO_DIR/mgmd.toml"
cat >"$cfg" <<CFG
# IGMPv3 querier on the LANs, upstream interface towards the sender.
[igmp]
query-interval = "20s"
query-response-interval = "2s"

[[interface]]
name = "up0"

[[interface]]
name = "lan1"

[[interface]]
name = "lan2"
CFG
echo "== config"
cat "$cfg"

echo "== starting mgmd in $(ns rtr)"
topo_mgmd "$cfg"

echo "== rcv1 joins 239.1.2.3; src sends 2000 packets at 1 per ms"
topo_bg rcv1 "$TOPO_DIR/rcv1.json" $MCAST recv --iface eth0 --group 239.1.2.3 --timeout 4 --ready "$TOPO_DIR/rcv1.ready"
R1=$LAST_PID
topo_bg rcv2 "$TOPO_DIR/rcv2.json" $MCAST recv --iface eth0 --group 239.9.9.9 --timeout 4 --ready "$TOPO_DIR/rcv2.ready"
R2=$LAST_PID
sleep 1
topo_bg src "$TOPO_DIR/send.log" $MCAST send --iface eth0 --group 239.1.2.3 --count 2000 --interval-ms 1
S=$LAST_PID
sleep 1.5

echo
echo "== mgmctl show interfaces"
mgmctl show interfaces
echo
echo "== mgmctl show groups"
mgmctl show groups
echo
echo "== mgmctl show routes"
mgmctl show routes
echo
wait "$S" 2>/dev/null || true
wait "$R1" 2>/dev/null || true
wait "$R2" 2>/dev/null || true
echo "== what arrived"
echo "rcv1 (joined 239.1.2.3):     $(cat "$TOPO_DIR/rcv1.json")"
echo "rcv2 (joined another group): $(cat "$TOPO_DIR/rcv2.json")"
got=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["239.1.2.3"]["count"])' "$TOPO_DIR/rcv1.json")
if [ "$got" -gt 0 ]; then
    echo "== OK: $got packets forwarded to rcv1, none to rcv2"
else
    echo "== nothing arrived at rcv1; mgmd log:"
    cat "$TOPO_DIR/mgmd.log"
    exit 1
fi
