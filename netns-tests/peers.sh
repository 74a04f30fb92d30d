# shellcheck shell=bash
# Helpers for the tests where mgmd shares a LAN with another implementation
# (tests 63-67): FRR's pimd (its IGMP querier) and igmpproxy, from Debian's
# packages. Source it after lib.sh. Run on its own, it installs them:
#
#   netns-tests/peers.sh install [frr] [igmpproxy]
#
# which a host whose namespace tests run in a user-mode kernel needs first
# (run.sh does it): that guest has no network, so a test there cannot
# install a package and skips, saying so.
#
# The peers run in the test's own namespaces, from configuration files in
# TOPO_DIR, in the foreground under topo_bg, and are stopped by PID. Never
# their packaged service: an install goes through peer_apt_install, which
# keeps the maintainer scripts from starting anything.

# peer_apt_install PKG... : apt-get install, no service started. In a
# private mount namespace, invoke-rc.d and deb-systemd-invoke (what the
# maintainer scripts call to start a service) are replaced by `true`, so
# the package's service starts neither where policy-rc.d allows it nor
# where systemd runs; nothing of the host's files is changed for it.
peer_apt_install() {
    local script
    # shellcheck disable=SC2016
    script='
        for f in /usr/sbin/invoke-rc.d /usr/bin/deb-systemd-invoke; do
            [ -e "$f" ] && mount --bind /bin/true "$f"
        done
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -qq "$@" || { apt-get update -qq && apt-get install -y -qq "$@"; }'
    unshare -m --propagation private sh -c "$script" sh "$@"
}

# peer_need PKG PROGRAM : PROGRAM (a path) is there, from PKG, or the test
# skips (exit 77) with the reason as its last line.
peer_need() {
    local pkg=$1 prog=$2 log
    [ -x "$prog" ] && return 0
    if [ "${MGMD_KERNEL_ENV_INSIDE:-}" = uml ]; then
        echo "SKIP: $pkg cannot be installed: not installed, and the user-mode guest has no network" \
            "(run netns-tests/peers.sh install $pkg on the host first)"
        exit 77
    fi
    log=$(peer_apt_install "$pkg" 2>&1) || true
    if [ ! -x "$prog" ]; then
        echo "$log" | tail -n 5
        echo "SKIP: $pkg cannot be installed: $(echo "$log" | grep -E '^(E|W):' | tail -n 1)"
        exit 77
    fi
    peer_none_running
}

# peer_none_running : fail when a peer daemon runs that no test started
# (a packaged service an install started). A test's own run from files in
# its TOPO_DIR (another test's, side by side on a host kernel, too).
peer_none_running() {
    local p pid left=""
    for p in watchfrr zebra pimd staticd igmpproxy smcrouted; do
        for pid in $(pgrep -x "$p" || true); do
            tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -e "/mgmd-topo\." -e "${TOPO_DIR:-/nonexistent}/" &&
                continue
            left+=" $p($pid)"
        done
    done
    [ -z "$left" ] || { echo "FAIL: peer daemons running that this test did not start:$left" >&2; return 1; }
}

# peer_stop PID : stop a receiver or capture started with topo_bg and let it
# write its summary: SIGTERM, then up to 30 s (topo_stop gives 5 s before
# SIGKILL, which a one-CPU user-mode kernel on a busy host can take just
# to schedule it, and the summary would be lost).
peer_stop() {
    local i
    kill -TERM "$1" 2>/dev/null || return 0
    for i in $(seq 1 300); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    topo_stop "$1"
}

FRR_BIN=/usr/lib/frr

# FRR_PRIVATE_TMP CMD... : CMD in a mount namespace of its own with a tmpfs
# on /var/tmp: FRR's daemons keep crash-log state in /var/tmp/frr/DAEMON.PID,
# a fixed path, which is the host's own directory in the user-mode kernel.
# CMD keeps the PID topo_bg noted (unshare and sh exec it), to be stopped by.
# shellcheck disable=SC2016
FRR_PRIVATE_TMP=(unshare -m --propagation private sh -c 'mount -t tmpfs -o mode=1777 tmpfs /var/tmp && exec "$@"' sh)

# FRR's files live on /run, a tmpfs on the host and in the user-mode guest
# alike: the daemons talk over Unix sockets there, and in the guest a
# socket on the host's file system (hostfs, where TOPO_DIR is) is not
# found again by a process of another mount namespace, as FRR's are. The
# directory goes with the topology.
frr_dir() {
    if [ -z "${FRR_RUN_DIR:-}" ]; then
        FRR_RUN_DIR=$(mktemp -d /run/mgmd-frr.XXXXXX)
        chmod 755 "$FRR_RUN_DIR"
        eval "peer_saved_$(declare -f topo_cleanup)"
        topo_cleanup() {
            peer_saved_topo_cleanup "$@"
            rm -rf "$FRR_RUN_DIR"
        }
    fi
    echo "$FRR_RUN_DIR/$1"
}

# frr_start NS NAME CONFIG_TEXT : zebra and pimd in NS, their files in
# $(frr_dir NAME) (they run as user frr and chown what they make),
# CONFIG_TEXT as pimd's configuration. Sets FRR_ZEBRA_PID and
# FRR_PIMD_PID; frr_stop stops them.
frr_start() {
    local n=$1 name=$2 conf=$3 dir
    frr_dir "$name" >/dev/null
    dir=$(frr_dir "$name")
    mkdir -p "$dir"
    printf 'hostname %s\n!\n' "$name" >"$dir/zebra.conf"
    printf 'hostname %s\nlog file %s/pimd.debug.log debugging\n%s\n' "$name" "$dir" "$conf" >"$dir/pimd.conf"
    chown -R frr:frr "$dir"
    frr_daemon "$n" "$dir" zebra zserv.api
    FRR_ZEBRA_PID=$LAST_PID
    frr_daemon "$n" "$dir" pimd pimd.vty
    FRR_PIMD_PID=$LAST_PID
}

# frr_daemon NS DIR DAEMON SOCKET : start FRR's DAEMON in NS with its files
# in DIR, and wait until it made DIR/SOCKET (LAST_PID is the daemon's).
frr_daemon() {
    local n=$1 dir=$2 d=$3 sock=$2/$4 i
    # -P 0: no vty TCP port; -A: vty bound to loopback (of NS) anyway.
    topo_bg "$n" "$dir/$d.log" "${FRR_PRIVATE_TMP[@]}" "$FRR_BIN/$d" -u frr -g frr -f "$dir/$d.conf" -i "$dir/$d.pid" \
        -z "$dir/zserv.api" --vty_socket "$dir" -A 127.0.0.1 -P 0 --log stdout --log-level info
    for i in $(seq 1 100); do
        [ -S "$sock" ] && break
        kill -0 "$LAST_PID" 2>/dev/null || break
        sleep 0.1
    done
    [ -S "$sock" ] || { cat "$dir/$d.log" >&2; fail "$d did not start in $n"; }
}

# frr_vtysh NS NAME CMD... : a vtysh command to the daemons of frr_start.
frr_vtysh() {
    local n=$1 name=$2
    shift 2
    local args=() c
    for c in "$@"; do args+=(-c "$c"); done
    topo_exec "$n" vtysh --vty_socket "$(frr_dir "$name")" "${args[@]}"
}

frr_stop() {
    topo_stop "$FRR_PIMD_PID"
    topo_stop "$FRR_ZEBRA_PID"
}

# ---- one LAN of routers and hosts (a bridge in namespace lan) ----

# lan_bridge : the bridge (no snooping: every port sees every group).
lan_bridge() {
    topo_ns lan
    topo_exec lan ip link add br0 type bridge mcast_snooping 0
    topo_exec lan ip link set br0 up
}
# lan_port NS IFACE ADDR/LEN [BRIDGE] : a veth from NS (IFACE) to a port of
# BRIDGE (br0) in namespace lan.
lan_port() {
    local a="v$RANDOM$RANDOM" b="v$RANDOM$RANDOM"
    ip link add "$a" type veth peer name "$b"
    ip link set "$a" netns "$(ns "$1")"
    ip link set "$b" netns "$(ns lan)"
    topo_exec "$1" ip link set "$a" name "$2"
    topo_exec "$1" ip addr add "$3" dev "$2"
    topo_exec "$1" ip link set "$2" up
    topo_exec lan ip link set "$b" master "${4:-br0}"
    topo_exec lan ip link set "$b" up
}

# The IGMP timers both routers use in tests 63-65: query interval 2 s,
# query response interval 1 s, robustness 2, last member query interval
# 0.5 s (count 2). Other Querier Present Interval = 2 x 2 s + 1 s / 2 =
# 4.5 s (RFC 9776 8.5); Last Member Query Time = 2 x 0.5 s = 1 s (8.9).
PEER_QI=2 PEER_OQPI=4.5 PEER_LMQT=1
peer_mgmd_config() {
    IGMP_EXTRA='query-interval = "2s"
query-response-interval = "1s"
last-member-query-interval = "0.5s"
startup-query-interval = "0.5s"' write_config "$@"
}
# FRR pimd's IGMP on IFACE with the same timers (response and last member
# intervals in tenths of a second; the response time first: FRR refuses a
# query interval not above it).
frr_igmp_config() {
    printf 'interface %s\n ip igmp\n ip igmp version 3\n ip igmp query-max-response-time 10\n' "$1"
    printf ' ip igmp query-interval 2\n ip igmp last-member-query-interval 5\n ip igmp last-member-query-count 2\n'
}
# frr_querier_ip NS NAME IFACE : the querier FRR's pimd sees on IFACE.
frr_querier_ip() {
    frr_vtysh "$1" "$2" 'show ip igmp interface json' | python3 -c '
import json, sys
print(json.load(sys.stdin).get(sys.argv[1], {}).get("querierIp", "-"))' "$3"
}
frr_querier_is() { [ "$(frr_querier_ip "$1" "$2" "$3")" = "$4" ]; }

# frr_election MGMD_ADDR FRR_ADDR : tests 63 and 64. mgmd (namespace ra)
# and FRR's pimd (rb) on one LAN with a host (h) that captures. The lower
# address is querier on both routers' view and the other sends no general
# query; once the querier is stopped, the other sends general queries again
# after the Other Querier Present Interval, counted from the last general
# query the stopped one sent.
frr_election() {
    local ma=$1 fa=$2 winner loser t0 t1 t_stop
    lan_bridge
    topo_ns ra
    topo_ns rb
    topo_ns h
    lan_port ra eth0 "$ma/24"
    lan_port rb eth0 "$fa/24"
    lan_port h eth0 10.0.5.10/24
    start_capture h "$TOPO_DIR/cap.json"
    CAP=$CAPTURE_PID
    peer_mgmd_config "$TOPO_DIR/mgmd.toml" eth0
    topo_mgmd "$TOPO_DIR/mgmd.toml" mgmd ra
    frr_start rb frr "$(frr_igmp_config eth0)"
    if [ "$(python3 -c 'import ipaddress,sys; print(int(ipaddress.ip_address(sys.argv[1]) < ipaddress.ip_address(sys.argv[2])))' "$ma" "$fa")" = 1 ]; then
        winner=$ma loser=$fa
    else
        winner=$fa loser=$ma
    fi
    say "election: $winner (the lower) is querier for mgmd ($ma) and FRR ($fa)"
    wait_for "mgmd sees $winner as querier" 15 iface_is eth0 \
        "i['querier']['querier_addr'] == '$winner' and i['querier']['is_querier'] == ('$winner' == '$ma')"
    wait_for "FRR sees $winner as querier" 15 frr_querier_is rb frr eth0 "$winner"
    t0=$(date +%s.%N)
    # Three query intervals of the winner: the loser stays quiet.
    sleep $((3 * PEER_QI))
    iface_is eth0 "i['querier']['querier_addr'] == '$winner'" ||
        fail "mgmd's querier changed: $(iface_json eth0 'i["querier"]')"
    frr_querier_is rb frr eth0 "$winner" || fail "FRR's querier changed: $(frr_querier_ip rb frr eth0)"
    t1=$(date +%s.%N)

    say "the querier ($winner) stops: $loser takes over"
    t_stop=$(date +%s.%N)
    if [ "$winner" = "$ma" ]; then
        topo_stop "$MGMD_PID"
        wait_for "FRR querier itself" 20 frr_querier_is rb frr eth0 "$fa"
    else
        frr_stop
        wait_for "mgmd querier" 20 iface_is eth0 "i['querier']['is_querier'] and i['querier']['querier_addr'] == '$ma'"
    fi
    # Two general queries of the new querier on the wire.
    sleep $((2 * PEER_QI + 1))
    peer_stop "$CAP"
    python3 - "$TOPO_DIR/cap.json" "$winner" "$loser" "$t0" "$t1" "$t_stop" "$PEER_QI" "$PEER_OQPI" <<'PY' ||
import json, sys
cap = json.load(open(sys.argv[1]))
winner, loser = sys.argv[2], sys.argv[3]
t0, t1, t_stop, qi, oqpi = map(float, sys.argv[4:9])
gq = lambda a: [m["t"] for m in cap["igmp"] if m["src"] == a and m["type"] == 0x11 and m["group"] == "0.0.0.0"]
w, l = gq(winner), gq(loser)
w_during = [t for t in w if t0 <= t <= t1]
l_during = [t for t in l if t0 <= t <= t1]
w_last = max((t for t in w if t <= t_stop + 0.5), default=None)
l_after = [t for t in l if t > t_stop]
print(f"  {winner}: {len(w_during)} general queries in the {t1 - t0:.1f}s window, last at stop{w_last - t_stop:+.2f}s")
print(f"  {loser}: {len(l_during)} general queries in that window; after the stop: "
      + ", ".join(f"{t - t_stop:+.2f}s" for t in l_after))
ok = True
# The winner queries every query interval (a margin of one interval for a
# slow single-CPU kernel); the loser not at all.
if len(w_during) < int((t1 - t0) / qi) - 1:
    print("  FAIL: the winner did not query every query interval"); ok = False
if l_during:
    print("  FAIL: the loser sent general queries while the winner was querier"); ok = False
if not l_after:
    print("  FAIL: the loser never took over"); ok = False
else:
    took = l_after[0] - w_last
    print(f"  the loser's first general query {took:.2f}s after the winner's last (OQPI {oqpi}s)")
    # Not before the Other Querier Present Interval has run from the last
    # query heard (less 0.3s of capture and timer jitter), and within it
    # plus 2s: the time for a one-CPU user-mode kernel to run the expired
    # timer and send (a query interval would be a lost query instead).
    if not (oqpi - 0.3 <= took <= oqpi + 2):
        print("  FAIL: the takeover is outside [OQPI - 0.3s, OQPI + 2s]"); ok = False
sys.exit(0 if ok else 1)
PY
        fail "general queries on the wire are wrong (above)"
}

# frr_leave MGMD_ADDR FRR_ADDR : tests 65 and 66. mgmd (ra) routes src's
# stream from up0 onto the LAN it shares with FRR's pimd (rb, IGMP only,
# no upstream: mgmd is the only forwarder) and a receiver (h). The
# receiver leaves (an IGMPv3 TO_IN({}) from its kernel): the querier (the
# lower address) sends group-specific queries, mgmd none when it is not
# querier (RFC 9776 6.6.1), and the stream stops
# on the LAN within the Last Member Query Time of the leave, plus a margin
# (PEER_LEAVE_MARGIN, below).
#
# The margin: LMQT runs from the querier's first group-specific query,
# sent when the querier has read the leave; mgmd, non-querier, lowers its
# group timer on reading that query (RFC 9776 6.6.1); the stream stops when
# mgmd has removed the LAN from the kernel's route. Each of these steps is
# a daemon being scheduled on a one-CPU user-mode kernel with four other
# processes busy (the sender at 100 datagrams/s, the capture, the other
# daemon): 1 s covers them; it is well under the 5 s Group Membership
# Interval that a group left to time out would take instead.
PEER_LEAVE_MARGIN=1
frr_leave() {
    local ma=$1 fa=$2 winner G=239.65.0.1 t_leave
    topo_ns src
    lan_bridge
    topo_ns ra
    topo_ns rb
    topo_ns h
    topo_link src eth0 10.0.1.2/24 ra up0 10.0.1.1/24
    topo_exec src ip route add default via 10.0.1.1
    topo_router ra
    lan_port ra eth0 "$ma/24"
    lan_port rb eth0 "$fa/24"
    lan_port h eth0 10.0.5.10/24
    topo_exec h ip route add default via "$ma"
    winner=$(python3 -c 'import ipaddress,sys; print(min(sys.argv[1:], key=ipaddress.ip_address))' "$ma" "$fa")
    peer_mgmd_config "$TOPO_DIR/mgmd.toml" up0 eth0
    topo_mgmd "$TOPO_DIR/mgmd.toml" mgmd ra
    frr_start rb frr "$(frr_igmp_config eth0)"
    wait_for "mgmd sees $winner as querier" 15 iface_is eth0 "i['querier']['querier_addr'] == '$winner'"
    wait_for "FRR sees $winner as querier" 15 frr_querier_is rb frr eth0 "$winner"

    say "h joins $G, src sends: mgmd forwards onto the LAN"
    start_stream_capture h $G "$TOPO_DIR/cap.json"
    CAP=$CAPTURE_PID
    start_send $G 10
    start_recv h $G "$TOPO_DIR/recv.json"
    R=$LAST_PID
    wait_for "$G forwarded onto the LAN" 15 route_has_oif $G eth0
    rx_mark h
    wait_for "the stream at h" 10 rx_grows h 100
    wait_for "FRR has $G" 10 frr_has_group rb frr eth0 $G

    say "h leaves: the querier ($winner) asks, the stream stops"
    t_leave=$(date +%s.%N)
    peer_stop "$R"
    wait_for_not "$G no longer forwarded onto the LAN" 15 route_has_oif $G eth0
    # The tail of the stream, if any were still forwarded, shows up here.
    sleep 1
    topo_stop "$SEND_PID"
    peer_stop "$CAP"
    python3 - "$TOPO_DIR/cap.json" "$G" "$winner" "$t_leave" "$PEER_LMQT" "$PEER_LEAVE_MARGIN" "$ma" <<'PY' ||
import json, sys
cap = json.load(open(sys.argv[1]))
g, winner, mgmd = sys.argv[2], sys.argv[3], sys.argv[7]
t_mark, lmqt, margin = map(float, sys.argv[4:7])
# The leave: h's first report after the mark with TO_IN({}) for G.
leaves = [m["t"] for m in cap["igmp"] if m["out"] and m["t"] >= t_mark and m["type"] == 0x22
          and any(r["group"] == g and r["type"] == 3 and not r["sources"] for r in m.get("records", []))]
gsq = [m for m in cap["igmp"] if not m["out"] and m["type"] == 0x11 and m["dst"] == g]
stream = cap["stream"]
ok = True
if not leaves:
    print("  FAIL: h sent no TO_IN({}) for", g); sys.exit(1)
t_leave = leaves[0]
print(f"  stream on the LAN: {stream['count']} datagrams, {stream['duplicates']} duplicates")
print("  group-specific queries after the leave: "
      + ", ".join(f"{m['src']} {m['t'] - t_leave:+.2f}s" for m in gsq if m["t"] >= t_leave))
after = [t for t in stream["times"] if t > t_leave]
last = max(after) - t_leave if after else 0.0
print(f"  last datagram {last:.2f}s after the leave (LMQT {lmqt}s + margin {margin}s)")
if stream["count"] < 100:
    print("  FAIL: the stream hardly reached the LAN"); ok = False
if not any(m["src"] == winner and m["t"] >= t_leave for m in gsq):
    print(f"  FAIL: the querier {winner} sent no group-specific query"); ok = False
# mgmd sends none when not querier. (FRR's pimd 8.4, not querier, answers
# the leave with group-specific queries of its own: noted, not failed.)
if mgmd != winner and any(m["src"] == mgmd for m in gsq):
    print("  FAIL: group-specific queries from mgmd, not querier"); ok = False
if any(m["src"] not in (winner, mgmd) for m in gsq):
    print("  note: the non-querier FRR sent group-specific queries too")
if last > lmqt + margin:
    print("  FAIL: the stream went on past LMQT + margin"); ok = False
sys.exit(0 if ok else 1)
PY
        fail "the leave was not handled within the Last Member Query Time (above)"
}
# frr_has_group NS NAME IFACE GROUP : FRR's pimd holds GROUP on IFACE.
frr_has_group() {
    frr_vtysh "$1" "$2" 'show ip igmp groups json' | python3 -c '
import json, sys
d = json.load(sys.stdin).get(sys.argv[1], {})
sys.exit(0 if any(g.get("group") == sys.argv[2] for g in d.get("groups", [])) else 1)' "$3" "$4"
}

# igmpproxy_start NS CONFIG_TEXT : igmpproxy in NS, in the foreground
# (-d: its log on stderr, in TOPO_DIR/igmpproxy.log). Sets IGMPPROXY_PID.
igmpproxy_start() {
    echo "$2" >"$TOPO_DIR/igmpproxy.conf"
    topo_bg "$1" "$TOPO_DIR/igmpproxy.log" igmpproxy -d -v "$TOPO_DIR/igmpproxy.conf"
    IGMPPROXY_PID=$LAST_PID
    sleep 0.5
    kill -0 "$IGMPPROXY_PID" 2>/dev/null || { cat "$TOPO_DIR/igmpproxy.log" >&2; fail "igmpproxy did not start in $1"; }
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    [ "${1:-}" = install ] || { echo "usage: $0 install [frr] [igmpproxy]" >&2; exit 2; }
    shift
    [ $# -gt 0 ] || set -- frr igmpproxy
    peer_apt_install "$@"
    peer_none_running
fi
