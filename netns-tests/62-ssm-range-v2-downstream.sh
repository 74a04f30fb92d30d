#!/usr/bin/env bash
# An IGMP proxy whose downstream lan1 runs IGMPv2, with a kernel host
# forced to IGMPv2 joining 232.1.1.1 (SSM range) and 239.1.6.3. RFC 4604
# 2.2.1 and RFC 9776 6.4: an SSM-aware router ignores v1/v2 reports for the
# SSM range and establishes no forwarding state from them. The join for
# 232.1.1.1 is counted (ssm_asm_report) and leaves no group, no route and
# no join upstream, and the stream of (10.0.1.2, 232.1.1.1) is not
# forwarded to lan1; 239.1.6.3 is learned and joined upstream as usual.
. "$(dirname "$0")/lib.sh"
SSM=232.1.1.1 ASM=239.1.6.3

topo_standard
topo_exec rcv1 sysctl -qw net.ipv4.conf.eth0.force_igmp_version=2
cfg="$TOPO_DIR/mgmd.toml"
cat >"$cfg" <<CFG
[igmp]
version = 2
query-interval = "10s"
query-response-interval = "1s"
last-member-query-interval = "200ms"
startup-query-interval = "1s"

[proxy]
upstream = ["up0"]
downstream = ["lan1", "lan2"]
CFG
start_igmp_capture src eth0 "$TOPO_DIR/up0.json"
CAP0=$CAPTURE_PID
topo_mgmd "$cfg"

say "rcv1 (IGMPv2) joins $SSM and $ASM"
start_send $SSM 2
start_recv rcv1 $SSM "$TOPO_DIR/r1.json" --group $ASM
wait_for "$ASM learned on lan1" 10 has_group lan1 $ASM
wait_for "the v2 report for $SSM counted as ssm_asm_report" 10 \
    iface_is lan1 'i["querier"]["counters"].get("drop_ssm_asm_report", 0) >= 1'
has_group lan1 $SSM && fail "$SSM learned on lan1 from a v2 report"
# Let the stream of the SSM group reach the box and be decided.
ssm_route() { [ "$(route_iif $SSM 10.0.1.2)" != - ]; }
wait_for "the box sees the stream of $SSM" 10 ssm_route
route_has_oif $SSM lan1 && fail "$SSM is forwarded to lan1"
n=$(count_udp rcv1 eth0 $SSM 1)
[ "$n" -eq 0 ] || fail "$n packets of $SSM reached lan1"
# The host repeats its report; the upstream capture has seen the joins.
sleep 1
topo_stop "$CAP0"
python3 - "$TOPO_DIR/up0.json" <<PY || fail "upstream joins wrong"
import json, sys
recs = [r for r in json.load(open(sys.argv[1])) if r["src"] == "10.0.1.1"]
for r in recs:
    print(f"  up0: {r['kind']} {r['group']} {r['sources']}")
groups = {r["group"] for r in recs}
sys.exit(0 if "$ASM" in groups and "$SSM" not in groups else 1)
PY
kill -0 "$MGMD_PID" || fail "mgmd died"
