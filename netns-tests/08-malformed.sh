#!/usr/bin/env bash
# Malformed and hostile IGMP from a host on lan1: bad checksum, truncated,
# a v3 report whose record count overruns the packet, a report with TTL 2,
# a report from outside lan1's subnet, a general query from 0.0.0.0. mgmd
# keeps running, counts each under its drop reason, learns no group from
# them, stays querier, and a valid join afterwards still works.
. "$(dirname "$0")/lib.sh"
G=239.8.8.8
GHEX=ef080808

topo_standard
topo_exec rcv1 ip addr add 192.168.99.5/32 dev eth0
write_config "$TOPO_DIR/mgmd.toml" up0 lan1 lan2
topo_mgmd "$TOPO_DIR/mgmd.toml"
wait_for "mgmd querier on lan1" 5 iface_is lan1 'i["querier"]["is_querier"]'

igmp() { topo_exec rcv1 $MCAST igmp --iface eth0 --router-alert "$@"; }
drops() { iface_json lan1 "i['querier']['counters'].get('drop_$1', 0)"; }
dropped() { [ "$(drops "$1")" -ge 1 ]; }
# A valid IGMPv3 report: one record, EXCLUDE {} (a join) for $G.
REPORT="22000000 0000 0001 02000000 $GHEX"

say "bad checksum"
igmp --dst 224.0.0.22 --hex "2200dead00000001 02000000 $GHEX"
wait_for "drop_bad_checksum" 5 dropped bad_checksum
say "truncated"
igmp --dst 224.0.0.22 --hex "220000"
wait_for "drop_too_short" 5 dropped too_short
say "record count overruns the packet"
igmp --dst 224.0.0.22 --fix-checksum --hex "22000000 0000 0003 02000000 $GHEX"
wait_for "drop_count_overrun" 5 dropped count_overrun
say "TTL 2"
igmp --dst 224.0.0.22 --fix-checksum --ttl 2 --hex "$REPORT"
wait_for "drop_bad_ttl" 5 dropped bad_ttl
say "source outside the subnet"
igmp --dst 224.0.0.22 --fix-checksum --src 192.168.99.5 --hex "$REPORT"
wait_for "drop_source_not_on_subnet" 5 dropped source_not_on_subnet
say "general query from 0.0.0.0"
igmp --dst 224.0.0.1 --fix-checksum --src 0.0.0.0 --hex "11640000 00000000 020a0000"
wait_for "drop_query_from_unspecified" 5 dropped query_from_unspecified

say "mgmd still up, no group learned, still querier"
kill -0 "$MGMD_PID" || fail "mgmd died"
mgmctl ping >/dev/null || fail "mgmd does not answer"
n=$(mgmctl --json show groups | python3 -c 'import json,sys; print(len([g for g in json.load(sys.stdin) if g["interface"] == "lan1"]))')
[ "$n" -eq 0 ] || fail "groups learned on lan1 from malformed packets: $(mgmctl show groups)"
iface_is lan1 'i["querier"]["is_querier"] and i["querier"]["querier_addr"] == "10.0.2.1"' ||
    fail "querier state changed: $(iface_json lan1 'i["querier"]')"
for r in bad_checksum too_short count_overrun bad_ttl source_not_on_subnet query_from_unspecified; do
    [ "$(drops $r)" -eq 1 ] || fail "drop_$r is $(drops $r), want 1"
done

say "a valid join still works"
start_send $G 2
start_recv rcv1 $G "$TOPO_DIR/rcv1.json"
wait_for "group $G on lan1" 5 has_group lan1 $G
wait_for "route for $G with oif lan1" 5 route_has_oif $G lan1
rx_mark rcv1
wait_for "stream at rcv1" 5 rx_grows rcv1 200
