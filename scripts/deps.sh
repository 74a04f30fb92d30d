#!/usr/bin/env bash
# Install the system packages the demo (and, with --tests, the tests) need
# (Debian/Ubuntu), when running as root and something is missing. Rust
# itself comes from rustup and is expected to be on PATH.
#
# Where the running kernel lacks multicast routing, the kernel-dependent
# part runs in user-mode Linux (scripts/kernel-env.sh): its packages are
# installed here too, and with --tests (which need several multicast
# routing tables, which Debian's user-mode kernel lacks) what building one
# takes (scripts/uml-kernel.sh). The tests try the user-mode path on every
# host, so --tests always installs user-mode-linux.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
tests=0
[ "${1:-}" = --tests ] && tests=1
need=()
command -v ip >/dev/null || need+=(iproute2)
command -v python3 >/dev/null || need+=(python3)
command -v tcpdump >/dev/null || need+=(tcpdump)
command -v sysctl >/dev/null || need+=(procps)
command -v timeout >/dev/null || need+=(coreutils)
command -v unshare >/dev/null || need+=(util-linux)
# The kernel's answer (a probe in a scratch namespace); without python3 yet,
# assume the worst.
probe() { command -v python3 >/dev/null && [ "$(id -u)" = 0 ] && python3 "$HERE/kernel-probe.py" "$@" >/dev/null 2>&1; }
if [ $tests = 1 ] || ! probe mroute; then
    command -v linux.uml >/dev/null || need+=(user-mode-linux)
    command -v modprobe >/dev/null || need+=(kmod)
fi
if [ $tests = 1 ]; then
    # libFuzzer, which the fuzz targets link, is C++.
    command -v g++ >/dev/null || need+=(g++)
    if ! probe mroute mroute-tables && ! "$HERE/uml-kernel.sh" --cached >/dev/null 2>&1; then
        ls /usr/src/linux-source-*.tar.xz >/dev/null 2>&1 || need+=(linux-source)
        for tool in flex bison bc make gcc; do
            command -v $tool >/dev/null || need+=($tool)
        done
    fi
fi
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    echo "deps: installing ${need[*]}"
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
else
    echo "missing packages: ${need[*]} (install them, or run as root on Debian/Ubuntu)" >&2
    exit 1
fi
