#!/usr/bin/env bash
# A leave on a LAN shared with FRR's pimd (Debian's frr), FRR querier (the
# lower address), mgmd the only router forwarding onto the LAN: FRR sends
# the group-specific queries, mgmd (non-querier) lowers its group timer on
# them (RFC 9776 6.6.1) and the stream stops at the receiver's link within
# the Last Member Query Time plus a margin (netns-tests/peers.sh).
# Skips where frr cannot be installed.
. "$(dirname "$0")/lib.sh"
. "$HERE/peers.sh"
peer_need frr "$FRR_BIN/pimd"
frr_leave 10.0.5.2 10.0.5.1
say "OK: FRR queried, the stream stopped within LMQT"
