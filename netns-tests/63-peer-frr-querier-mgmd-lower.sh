#!/usr/bin/env bash
# Querier election against FRR's pimd (Debian's frr; its IGMP querier) on
# one LAN, mgmd with the lower address (RFC 9776 6.6.2, RFC 2236 3): mgmd
# is querier in both routers' view and FRR sends no general query; when
# mgmd stops, FRR takes over after the Other Querier Present Interval.
# Skips where frr cannot be installed.
. "$(dirname "$0")/lib.sh"
. "$HERE/peers.sh"
peer_need frr "$FRR_BIN/pimd"
frr_election 10.0.5.1 10.0.5.2
say "OK: mgmd (lower) querier, FRR quiet, FRR takes over after OQPI"
