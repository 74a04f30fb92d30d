#!/usr/bin/env bash
# Install the system packages the demo (and, with --tests, the tests) need
# (Debian/Ubuntu), when running as root and something is missing. Rust
# itself comes from rustup and is expected to be on PATH.
set -euo pipefail
need=()
command -v ip >/dev/null || need+=(iproute2)
command -v python3 >/dev/null || need+=(python3)
command -v tcpdump >/dev/null || need+=(tcpdump)
command -v sysctl >/dev/null || need+=(procps)
command -v timeout >/dev/null || need+=(coreutils)
# With --tests (scripts/ci.sh): libFuzzer, which the fuzz targets link, is C++.
if [ "${1:-}" = --tests ]; then
    command -v g++ >/dev/null || need+=(g++)
fi
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
else
    echo "missing packages: ${need[*]} (install them, or run as root on Debian/Ubuntu)" >&2
    exit 1
fi
