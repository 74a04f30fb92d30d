#!/usr/bin/env bash
# Run a command on a kernel that has what mgmd's kernel-dependent work
# needs: the host's own when it has it, otherwise a user-mode Linux kernel
# (a kernel that runs as an ordinary process: no KVM, no host module).
#
#   scripts/kernel-env.sh [--host | --uml] [--need FEATURE[,FEATURE...]]... [--] CMD [ARG...]
#
# FEATURE is one of scripts/kernel-probe.py's: mroute (the default),
# mroute-tables, mroute6, mroute6-tables, veth, netns. The host's kernel is
# asked (a probe MRT_INIT and friends in a scratch namespace), not its
# version. --uml (or MGMD_KERNEL_ENV=uml) forces the user-mode kernel on any
# host, --host (MGMD_KERNEL_ENV=host) the host's whatever it lacks.
#
# The user-mode kernel is Debian's user-mode-linux package when it has
# every feature needed (it lacks mroute-tables and mroute6), else the one
# scripts/uml-kernel.sh builds once per machine from Debian's kernel
# source (a kernel built that way is preferred whenever it is cached;
# MGMD_UML_KERNEL=PATH names another). The guest's root file system is the
# host's (hostfs), with its own /proc, /sys, /dev and /run; the
# environment, the working directory, the output and the exit status of
# CMD pass through. The guest has one CPU, MGMD_UML_MEM of memory (default
# 3G) and its own CLOCK_MONOTONIC, which starts again at each boot.
#
# CMD sees MGMD_KERNEL_ENV_INSIDE=host|uml and MGMD_KERNEL_FEATURES (the
# features the chosen kernel has, space-separated); a nested call runs its
# command directly. Exit status: CMD's, or 125 when no suitable kernel could
# be had or the guest died before CMD ended.
set -euo pipefail
# The whole script is one compound command, read before it runs: a
# long run is not thrown off by an edit of this file.
{
HERE=$(cd "$(dirname "$0")" && pwd)
mode=${MGMD_KERNEL_ENV:-auto}
need=()
while [ $# -gt 0 ]; do
    case $1 in
    --host) mode=host ;;
    --uml) mode=uml ;;
    --auto) mode=auto ;;
    --need)
        IFS=, read -r -a more <<<"$2"
        need+=("${more[@]}")
        shift
        ;;
    --need=*)
        IFS=, read -r -a more <<<"${1#--need=}"
        need+=("${more[@]}")
        ;;
    --) shift; break ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    -*) echo "kernel-env: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) break ;;
    esac
    shift
done
[ $# -gt 0 ] || { echo "usage: $0 [--host | --uml] [--need FEATURE,...] [--] CMD [ARG...]" >&2; exit 2; }
[ ${#need[@]} -gt 0 ] || need=(mroute)
case $mode in auto | host | uml) ;; *) echo "kernel-env: MGMD_KERNEL_ENV=$mode: not auto, host or uml" >&2; exit 2 ;; esac

say() { echo "kernel-env: $*" >&2; }

# Already on the chosen kernel (a script that routes itself through here,
# called by another that did): nothing to choose.
if [ -n "${MGMD_KERNEL_ENV_INSIDE:-}" ]; then
    exec "$@"
fi

if [ "$(id -u)" != 0 ]; then
    say "needs root (network namespaces, the multicast routing socket, a user-mode kernel)"
    exit 125
fi

# features_of PROBE_OUTPUT: the names that answered yes.
features_of() { awk '$2 == "yes" { printf "%s%s", sep, $1; sep = " " }' <<<"$1"; }
# lacking FEATURES...: the needed features not in FEATURES.
lacking() {
    local have=" $* " n out=()
    for n in "${need[@]}"; do [[ "$have" == *" $n "* ]] || out+=("$n"); done
    echo "${out[*]}"
}

host_probe=$(python3 "$HERE/kernel-probe.py" 2>&1 || true)
host_has=$(features_of "$host_probe")
host_lacks=$(lacking $host_has)

if [ "$mode" = host ] || { [ "$mode" = auto ] && [ -z "$host_lacks" ]; }; then
    if [ -n "$host_lacks" ]; then
        say "on the host's kernel as asked, which lacks: $host_lacks"
    else
        say "on the host's kernel $(uname -r) (it has ${need[*]})"
    fi
    export MGMD_KERNEL_ENV_INSIDE=host MGMD_KERNEL_FEATURES="$host_has"
    exec "$@"
fi

if [ "$mode" = uml ]; then
    why="as asked (--uml or MGMD_KERNEL_ENV=uml)"
else
    why="the host's kernel $(uname -r) lacks: $host_lacks ($(grep -m1 ' no ' <<<"$host_probe" | cut -d' ' -f3-))"
fi

# --- the user-mode kernel --------------------------------------------------

install_uml() {
    command -v linux.uml >/dev/null && command -v modprobe >/dev/null && return 0
    command -v apt-get >/dev/null || { say "needs Debian's user-mode-linux and kmod packages"; return 1; }
    say "installing user-mode-linux and kmod"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -qq user-mode-linux kmod >/dev/null 2>&1; then
        apt-get update -qq
        apt-get install -y -qq user-mode-linux kmod >/dev/null
    fi
}

# What a user-mode kernel has, from the configuration it reports of itself
# (`--showconfig`); the guest's probe confirms it once booted.
config_features() {
    local config f opt out=()
    config=$("$1" --showconfig 2>/dev/null) || return 0
    for f in netns veth mroute mroute-tables mroute6 mroute6-tables; do
        case $f in
        netns) opt=CONFIG_NET_NS ;;
        veth) opt=CONFIG_VETH ;;
        mroute) opt=CONFIG_IP_MROUTE ;;
        mroute-tables) opt=CONFIG_IP_MROUTE_MULTIPLE_TABLES ;;
        mroute6) opt=CONFIG_IPV6_MROUTE ;;
        mroute6-tables) opt=CONFIG_IPV6_MROUTE_MULTIPLE_TABLES ;;
        esac
        grep -qE "^$opt=(y|m)$" <<<"$config" && out+=("$f")
    done
    echo "${out[*]}"
}

kernel=${MGMD_UML_KERNEL:-}
if [ -z "$kernel" ]; then
    kernel=$("$HERE/uml-kernel.sh" --cached 2>/dev/null || true)
fi
if [ -z "$kernel" ]; then
    install_uml || exit 125
    packaged=$(command -v linux.uml)
    if [ -z "$(lacking $(config_features "$packaged"))" ]; then
        kernel=$packaged
    else
        say "Debian's user-mode kernel lacks: $(lacking $(config_features "$packaged")); building one"
        kernel=$("$HERE/uml-kernel.sh") || { say "no user-mode kernel with ${need[*]} could be built"; exit 125; }
    fi
fi
[ -x "$kernel" ] || { say "$kernel: not an executable kernel"; exit 125; }
uml_lacks=$(lacking $(config_features "$kernel"))
[ -z "$uml_lacks" ] || say "warning: $kernel lacks $uml_lacks; what needs it will be skipped or fail"
say "in user-mode Linux ($kernel): $why"

# Modules: Debian's kernel has veth, bridge, IPv6 and others as modules in
# /usr/lib/uml/modules/VERSION, which the guest loads from there.
moddir=""
kver=$("$kernel" --version 2>/dev/null | awk 'NF { print $NF; exit }' || true)
if [ -n "$kver" ] && [ -d "/usr/lib/uml/modules/$kver" ] && [ "$kernel" = "$(command -v linux.uml 2>/dev/null)" ]; then
    moddir=/usr/lib/uml/modules/$kver
fi

run=$(mktemp -d /var/tmp/mgmd-kernel-env.XXXXXX)
uml_pid=""
cleanup() {
    if [ -n "$uml_pid" ] && kill -0 "$uml_pid" 2>/dev/null; then
        # The kernel and its helper processes form one process group.
        kill -TERM -- "-$uml_pid" 2>/dev/null || true
        sleep 0.5
        kill -KILL -- "-$uml_pid" 2>/dev/null || true
    fi
    rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

export -p >"$run/env"
printf '%q ' "$@" >"$run/cmd"
{
    echo '#!/bin/bash'
    echo "RUN=$(printf %q "$run")"
    echo "CWD=$(printf %q "$PWD")"
    echo "MODDIR=$(printf %q "$moddir")"
    echo "PROBE=$(printf %q "$HERE/kernel-probe.py")"
    echo "HOST_TTY=$([ -t 1 ] && echo 1)"
    cat <<'INIT'
# PID 1 of the guest: its own /proc, /sys, /dev and /run over the
# host's file system, loopback up, then the command, then power off.
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null || true
# What udev would add: bash's process substitution needs /dev/fd.
ln -sfn /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
# /tmp stays the host's: the work tree or its binaries may live there.
[ -d /sys/fs/cgroup ] && mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
dmesg -n 1 2>/dev/null
stty -F /dev/console -onlcr 2>/dev/null
hostname mgmd-uml
ip link set lo up
if [ -n "$MODDIR" ]; then
    mkdir -p "/run/kmod/lib/modules/$(uname -r)"
    for f in "$MODDIR"/*; do ln -s "$f" "/run/kmod/lib/modules/$(uname -r)/"; done
    for m in veth bridge ipv6 dummy tun ip_gre vrf; do modprobe -d /run/kmod "$m" 2>/dev/null; done
fi
# Tunnel drivers built in or loaded add fallback devices (gre0, ...) to
# every new namespace; the topologies want only the interfaces they make.
sysctl -qw net.core.fb_tunnels_only_for_init_net=2 2>/dev/null
set -a
. "$RUN/env"
set +a
# Version-manager shims (pyenv's python3, say) are shell scripts that fork
# several processes per call, which costs a user-mode kernel tenths of a
# second each time: the guest calls the programs they stand for.
PATH=$(tr ':' '\n' <<<"$PATH" | grep -v '/shims$' | paste -sd:)
export MGMD_KERNEL_ENV_INSIDE=uml
MGMD_KERNEL_FEATURES=$(python3 "$PROBE" 2>/dev/null | awk '$2 == "yes" { printf "%s%s", sep, $1; sep = " " }')
export MGMD_KERNEL_FEATURES
echo "$MGMD_KERNEL_FEATURES" >"$RUN/features"
cd "$CWD" || { echo "kernel-env: the guest cannot enter $CWD" >&2; echo 125 >"$RUN/rc"; poweroff -f; }
echo "@@guest-ready@@"
rc=0
if [ -n "$HOST_TTY" ]; then
    eval "$(cat "$RUN/cmd")" </dev/null || rc=$?
else
    # The guest's console is a terminal; the host's output is not: the
    # command must not think it writes to one (colours, progress bars).
    eval "$(cat "$RUN/cmd")" </dev/null 2>&1 | cat
    rc=${PIPESTATUS[0]}
fi
echo "$rc" >"$RUN/rc"
echo "@@guest-done@@"
sync
poweroff -f
INIT
} >"$run/init"
chmod +x "$run/init"

# The kernel's boot messages are kept aside and shown only if the guest
# never reached the command; the command's output passes through as it comes.
start=$SECONDS
setsid "$kernel" mem="${MGMD_UML_MEM:-3G}" root=/dev/root rootfstype=hostfs rootflags=/ rw \
    quiet init="$run/init" con=null con0=null,fd:1 >"$run/console" 2>&1 </dev/null &
uml_pid=$!
shown=0
while :; do
    if [ $shown = 0 ] && grep -q '^@@guest-ready@@' "$run/console" 2>/dev/null; then
        shown=1
        break
    fi
    kill -0 "$uml_pid" 2>/dev/null || break
    sleep 0.1
done
if [ $shown = 1 ]; then
    say "guest up in $((SECONDS - start)) s (it has: $(cat "$run/features" 2>/dev/null))"
    # Everything after the marker, as it comes, until the kernel stops; in
    # the background, so that a signal is acted on at once (bash acts on
    # one only between foreground commands, and `wait` is one it cuts short).
    tail -n +1 --pid="$uml_pid" -f "$run/console" | sed -u -n '/^@@guest-ready@@/,/^@@guest-done@@/{//!p}' &
    wait $! || true
fi
wait "$uml_pid" 2>/dev/null || true
uml_pid=""
if [ $shown = 0 ]; then
    say "the guest never reached the command; its console:"
    tail -n 60 "$run/console" >&2
    exit 125
fi
if [ -s "$run/rc" ]; then
    rc=$(cat "$run/rc")
    exit "$rc"
fi
say "the guest stopped before the command ended; its console:"
tail -n 60 "$run/console" >&2
exit 125
}
