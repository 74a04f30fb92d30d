#!/usr/bin/env bash
# A leave on a LAN shared with FRR's pimd (Debian's frr), mgmd querier (the
# lower address) and the only router forwarding onto the LAN: mgmd sends
# the group-specific queries, FRR none, and the stream stops at the
# receiver's link within the Last Member Query Time plus a margin
# (netns-tests/peers.sh). Skips where frr cannot be installed.
. "$(dirname "$0")/lib.sh"
. "$HERE/peers.sh"
peer_need frr "$FRR_BIN/pimd"
frr_leave 10.0.5.1 10.0.5.2
say "OK: mgmd queried, the stream stopped within LMQT"
