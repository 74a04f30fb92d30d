#!/usr/bin/env bash
# Querier election against FRR's pimd (Debian's frr; its IGMP querier) on
# one LAN, FRR with the lower address (RFC 9776 6.6.2, RFC 2236 3): FRR is
# querier in both routers' view and mgmd sends no general query; when FRR
# stops, mgmd takes over after the Other Querier Present Interval.
# Skips where frr cannot be installed.
. "$(dirname "$0")/lib.sh"
. "$HERE/peers.sh"
peer_need frr "$FRR_BIN/pimd"
frr_election 10.0.5.2 10.0.5.1
say "OK: FRR (lower) querier, mgmd quiet, mgmd takes over after OQPI"
