# shellcheck shell=bash
# Network-namespace topology helper shared by netns-tests/ and demo.sh.
# Source it; every namespace it creates carries this run's prefix, and
# topo_cleanup (install it with `trap topo_cleanup EXIT`) kills the
# processes it started, by PID, and deletes those namespaces.
#
# Standard topology (topo_standard):
#
#   [src] eth0 10.0.1.2 ---- 10.0.1.1 up0 [rtr] lan1 10.0.2.1 ---- 10.0.2.2 eth0 [rcv1]
#                                             lan2 10.0.3.1 ---- 10.0.3.2 eth0 [rcv2]
#
# mgmd runs in rtr; src sends; rcv1/rcv2 are receivers (real kernel hosts).

TOPO_ID=${TOPO_ID:-mg$$}
TOPO_PIDS=()
TOPO_DIR=${TOPO_DIR:-$(mktemp -d "/tmp/mgmd-topo.XXXXXX")}
TOPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MCAST="python3 $TOPO_ROOT/scripts/mcast.py"
MGMD=${MGMD:-$TOPO_ROOT/target/release/mgmd}
MGMCTL=${MGMCTL:-$TOPO_ROOT/target/release/mgmctl}

ns() { echo "$TOPO_ID-$1"; }

topo_exec() {
    local n=$1
    shift
    ip netns exec "$(ns "$n")" "$@"
}

topo_ns() {
    ip netns add "$(ns "$1")"
    topo_exec "$1" ip link set lo up
    topo_exec "$1" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
}

# topo_link NS1 IF1 ADDR1/LEN NS2 IF2 ADDR2/LEN
topo_link() {
    local tmp1="v$RANDOM$RANDOM" tmp2="v$RANDOM$RANDOM"
    ip link add "$tmp1" type veth peer name "$tmp2"
    ip link set "$tmp1" netns "$(ns "$1")"
    ip link set "$tmp2" netns "$(ns "$4")"
    topo_exec "$1" ip link set "$tmp1" name "$2"
    topo_exec "$4" ip link set "$tmp2" name "$5"
    topo_exec "$1" ip addr add "$3" dev "$2"
    topo_exec "$4" ip addr add "$6" dev "$5"
    topo_exec "$1" ip link set "$2" up
    topo_exec "$4" ip link set "$5" up
}

topo_router() {
    topo_exec "$1" sysctl -qw net.ipv4.ip_forward=1
    for i in $(topo_exec "$1" ls /proc/sys/net/ipv4/conf); do
        topo_exec "$1" sysctl -qw "net.ipv4.conf.$i.rp_filter=0" 2>/dev/null || true
    done
}

# Build the standard topology.
topo_standard() {
    topo_ns src
    topo_ns rtr
    topo_ns rcv1
    topo_ns rcv2
    topo_link src eth0 10.0.1.2/24 rtr up0 10.0.1.1/24
    topo_link rtr lan1 10.0.2.1/24 rcv1 eth0 10.0.2.2/24
    topo_link rtr lan2 10.0.3.1/24 rcv2 eth0 10.0.3.2/24
    topo_exec src ip route add default via 10.0.1.1
    topo_exec rcv1 ip route add default via 10.0.2.1
    topo_exec rcv2 ip route add default via 10.0.3.1
    topo_router rtr
}

# topo_bg NS LOGFILE CMD... : run in the background, remember the PID.
topo_bg() {
    local n=$1 log=$2
    shift 2
    ip netns exec "$(ns "$n")" "$@" >"$log" 2>&1 &
    TOPO_PIDS+=($!)
    LAST_PID=$!
}

# topo_mgmd CONFIG [NAME [NS]] : start mgmd in rtr with its control socket
# in TOPO_DIR. It records what its core does in TOPO_DIR/NAME.rec (unless
# MGMD_RECORD=0), for `mgmd replay`.
topo_mgmd() {
    local cfg=$1 name=${2:-mgmd} record=()
    MGMD_SOCK="$TOPO_DIR/$name.sock"
    [ "${MGMD_RECORD:-1}" = 0 ] || record=(--record "$TOPO_DIR/$name.rec")
    topo_bg "${3:-rtr}" "$TOPO_DIR/$name.log" env RUST_LOG="${RUST_LOG:-info}" "$MGMD" -c "$cfg" \
        --control-socket "$MGMD_SOCK" --pid-file "$TOPO_DIR/$name.pid" "${record[@]}"
    MGMD_PID=$LAST_PID
    local i
    for i in $(seq 1 100); do
        [ -S "$MGMD_SOCK" ] && "$MGMCTL" -s "$MGMD_SOCK" ping >/dev/null 2>&1 && return 0
        kill -0 "$MGMD_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "mgmd did not start:" >&2
    cat "$TOPO_DIR/$name.log" >&2
    return 1
}

mgmctl() { "$MGMCTL" -s "$MGMD_SOCK" "$@"; }

# Stop one background process by PID (SIGTERM, then SIGKILL).
topo_stop() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || true
}

topo_cleanup() {
    local pid n
    # Only in the shell that built the topology: a process started with `&`
    # is a copy of it until it runs its command, and one stopped in that
    # instant runs the EXIT trap.
    [ "$BASHPID" = "$$" ] || return 0
    for pid in "${TOPO_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    sleep 0.2
    for pid in "${TOPO_PIDS[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    for n in $(ip netns list | awk '{print $1}' | grep "^$TOPO_ID-" || true); do
        ip netns del "$n" 2>/dev/null || true
    done
    [ -n "${KEEP_TOPO_DIR:-}" ] || rm -rf "$TOPO_DIR"
}
