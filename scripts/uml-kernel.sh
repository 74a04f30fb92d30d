#!/usr/bin/env bash
# Build (once per machine) the user-mode Linux kernel that the
# kernel-dependent tests run in when the host's kernel lacks what they need,
# and print its path.
#
#   scripts/uml-kernel.sh          build if missing, print the kernel's path
#   scripts/uml-kernel.sh --path   print the path it has or would have
#   scripts/uml-kernel.sh --cached print the path if built, else exit 1
#
# The kernel comes from Debian's linux-source package, configured with
# `make ARCH=um defconfig` and the options in scripts/uml/kernel.config
# (multicast routing with several tables, IPv6 multicast routing, veth,
# bridges, hostfs; no modules). It is cached outside the work tree in
# $MGMD_UML_CACHE (default /var/cache/mgmd-uml), keyed by that file, the
# source package's version and the compiler's, so any checkout on the
# machine (a CI run after a session, say) reuses it. The build's time is
# written beside the kernel (build-seconds) and printed.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
FRAGMENT=$HERE/uml/kernel.config
CACHE=${MGMD_UML_CACHE:-/var/cache/mgmd-uml}
mode=${1:-build}

log() { echo "uml-kernel: $*" >&2; }

source_tarball() {
    # The newest linux-source-X.Y tarball installed.
    find /usr/src -maxdepth 1 -name 'linux-source-*.tar.xz' 2>/dev/null | sort -V | tail -n 1
}

install_source() {
    [ -n "$(source_tarball)" ] && command -v flex >/dev/null && command -v bison >/dev/null &&
        command -v bc >/dev/null && command -v make >/dev/null && command -v gcc >/dev/null && return 0
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        log "needs Debian's linux-source package, flex, bison, bc, make and gcc (install them, or run as root on Debian)"
        return 1
    fi
    log "installing the kernel source and its build tools (linux-source, flex, bison, bc)"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -qq linux-source flex bison bc make gcc xz-utils >/dev/null 2>&1; then
        apt-get update -qq
        apt-get install -y -qq linux-source flex bison bc make gcc xz-utils >/dev/null
    fi
}

cache_key() {
    local tarball=$1 srcver
    srcver=$(dpkg-query -W -f='${Version}' "$(basename "$tarball" .tar.xz)" 2>/dev/null || stat -c %s-%Y "$tarball")
    {
        cat "$FRAGMENT"
        echo "$(basename "$tarball") $srcver"
        gcc -dumpfullversion 2>/dev/null || gcc -dumpversion
    } | sha256sum | cut -c1-16
}

# The kernel's path for the installed source; empty when no source is there.
kernel_path() {
    local tarball
    tarball=$(source_tarball)
    [ -n "$tarball" ] || return 0
    echo "$CACHE/$(cache_key "$tarball")/linux"
}

case $mode in
--path)
    p=$(kernel_path)
    [ -n "$p" ] || { log "no linux-source package installed"; exit 1; }
    echo "$p"
    exit 0
    ;;
--cached)
    p=$(kernel_path)
    [ -n "$p" ] && [ -x "$p" ] || exit 1
    echo "$p"
    exit 0
    ;;
build) ;;
*)
    echo "usage: $0 [--path | --cached]" >&2
    exit 2
    ;;
esac

install_source
tarball=$(source_tarball)
dir=$CACHE/$(cache_key "$tarball")
if [ -x "$dir/linux" ]; then
    echo "$dir/linux"
    exit 0
fi
mkdir -p "$CACHE"
# One build at a time per machine; a second caller waits and reuses it.
exec 9>"$CACHE/.lock"
flock 9
if [ -x "$dir/linux" ]; then
    echo "$dir/linux"
    exit 0
fi

start=$SECONDS
work=$(mktemp -d "$CACHE/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
log "building a user-mode kernel from $(basename "$tarball") in $work (once per machine; several minutes)"
tar -xJf "$tarball" -C "$work"
src=$(find "$work" -mindepth 1 -maxdepth 1 -type d | head -n 1)
jobs=$(nproc)
make -s -C "$src" ARCH=um defconfig >/dev/null
# The fragment's lines override defconfig's; olddefconfig settles the rest.
grep -E '^(CONFIG_|# CONFIG_)' "$FRAGMENT" >>"$src/.config"
make -s -C "$src" ARCH=um olddefconfig >"$work/config.log" 2>&1
# Every option asked for must have survived (an unmet dependency drops it).
missing=()
while read -r opt; do
    grep -qx "$opt" "$src/.config" || missing+=("$opt")
done < <(grep -E '^CONFIG_[A-Z0-9_]+=y$' "$FRAGMENT")
if [ ${#missing[@]} -gt 0 ]; then
    log "options dropped by the kernel's configuration: ${missing[*]}"
    exit 1
fi
if ! make -C "$src" ARCH=um -j"$jobs" linux >"$work/build.log" 2>&1; then
    tail -n 40 "$work/build.log" >&2
    log "kernel build failed"
    exit 1
fi
mkdir -p "$dir.tmp"
cp "$src/linux" "$dir.tmp/linux"
cp "$src/.config" "$dir.tmp/config"
echo $((SECONDS - start)) >"$dir.tmp/build-seconds"
rm -rf "$dir"
mv "$dir.tmp" "$dir"
log "built in $((SECONDS - start)) s: $dir/linux"
echo "$dir/linux"
