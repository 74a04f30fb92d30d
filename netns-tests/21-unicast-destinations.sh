#!/usr/bin/env bash
# Queries and reports sent to any address of the interface are processed
# (RFC 9776 4.1.12 and 4.2.15: "a system MUST accept and process any Query
# [any v1 or v2 Report] whose IP Destination Address field contains any of
# the addresses (unicast or multicast) assigned to the interface"). A host
# sends a v2 report to mgmd's address, a v1 report to a secondary address of
# lan1, a v2 report to 224.0.0.1 and a v3 report to mgmd's address: each
# group is learned. A report for one group sent to another group is still
# dropped (drop_bad_destination = 1). A general query from a lower address,
# sent to mgmd's unicast address, wins the election.
. "$(dirname "$0")/lib.sh"

topo_ns rtr
topo_ns h
topo_link rtr lan1 10.0.7.5/24 h eth0 10.0.7.20/24
topo_exec rtr ip addr add 10.0.7.9/24 dev lan1
topo_exec h ip addr add 10.0.7.2/24 dev eth0
write_config "$TOPO_DIR/mgmd.toml" lan1
topo_mgmd "$TOPO_DIR/mgmd.toml"
wait_for "mgmd querier on lan1" 5 iface_is lan1 'i["querier"]["is_querier"]'

igmp() { topo_exec h $MCAST igmp --iface eth0 --router-alert --fix-checksum --bind 10.0.7.20 "$@"; }
ctr() { iface_json lan1 "i['querier']['counters'].get('$1', 0)"; }

say "v2 report to mgmd's address"
igmp --dst 10.0.7.5 --hex "16000000 ef150101"
wait_for "group 239.21.1.1 on lan1" 5 has_group lan1 239.21.1.1
say "v1 report to a secondary address of lan1"
igmp --dst 10.0.7.9 --hex "12000000 ef150202"
wait_for "group 239.21.2.2 on lan1" 5 has_group lan1 239.21.2.2
say "v2 report to 224.0.0.1"
igmp --dst 224.0.0.1 --hex "16000000 ef150303"
wait_for "group 239.21.3.3 on lan1" 5 has_group lan1 239.21.3.3
say "v3 report (IS_EX {}) to mgmd's address"
igmp --dst 10.0.7.5 --hex "22000000 0000 0001 02000000 ef150404"
wait_for "group 239.21.4.4 on lan1" 5 has_group lan1 239.21.4.4

say "a report for one group sent to another group is dropped"
igmp --dst 239.21.9.9 --hex "16000000 ef150505"
dropped() { [ "$(ctr drop_bad_destination)" -ge 1 ]; }
wait_for "drop_bad_destination" 5 dropped
has_group lan1 239.21.5.5 && fail "group learned from a report sent to another group"

say "lower general query to mgmd's address wins the election"
topo_exec h $MCAST igmp --iface eth0 --router-alert --fix-checksum --bind 10.0.7.2 \
    --dst 10.0.7.5 --hex "110a0000 00000000 0202 0000"
wait_for "mgmd non-querier, 10.0.7.2 querier" 5 iface_is lan1 \
    'not i["querier"]["is_querier"] and i["querier"]["querier_addr"] == "10.0.7.2"'
[ "$(ctr drop_bad_destination)" -eq 1 ] || fail "drop_bad_destination is $(ctr drop_bad_destination), want 1"
[ "$(ctr rx_v3_query)" -ge 1 ] || fail "the unicast query was not counted"
