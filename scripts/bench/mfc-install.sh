#!/usr/bin/env bash
# Time to install forwarding entries: a raw MRT_ADD_MFC loop against mgmd's
# path (router + kernel writer thread) on a real multicast routing socket
# (benches/mfc_install.rs, in a network namespace of its own).
#
#   sudo scripts/bench/mfc-install.sh [FLOWS [ROUNDS]]   (default 10000 3)
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "$(basename "$0") needs root: sudo $0" >&2; exit 77; }
echo "date: $(date -Is)"
echo "kernel: $(uname -r); cpus: $(nproc); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "mgmd: $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
# Built here, run on a kernel with multicast routing (scripts/kernel-env.sh).
cargo bench --quiet --bench mfc_install --no-run
exec scripts/kernel-env.sh --need mroute -- cargo bench --quiet --bench mfc_install -- "${1:-10000}" "${2:-3}"
