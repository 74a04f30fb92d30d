#!/usr/bin/env bash
# Counters and metrics. A receiver on lan1 gets a stream; mgmctl show
# routes gives the kernel's packet counters at the time of the request
# (equal to /proc/net/ip_mr_cache, not the last 5-second poll); show
# counters lists every key with zeros and counts one bad-checksum report
# and two ownership moves exactly; the Prometheus endpoint (metrics-listen)
# exports the same values as mgmctl --json show, in both text formats,
# answers HTTP errors properly, and a scraper that never sends its request
# does not hold up the daemon; a second mgmd cannot take the metrics
# address; mgmctl log changes the log level at run time.
. "$(dirname "$0")/lib.sh"
# The second mgmd, started to collide on the metrics address, uses table 7.
need_kernel mroute-tables
G=239.3.3.3
GHEX=ef030303
METRICS=127.0.0.1:9477

topo_standard
cfg="$TOPO_DIR/mgmd.toml"
write_config "$cfg" up0 lan1 lan2
sed -i "/^\[global\]/a metrics-listen = \"$METRICS\"" "$cfg"
printf '\n[static]\ninterfaces = []\n' >>"$cfg"
topo_mgmd "$cfg"
wait_for "mgmd querier on lan1" 5 iface_is lan1 'i["querier"]["is_querier"]'

# scrape [ACCEPT] : GET /metrics in rtr; prints "status content-type" and the body.
scrape() {
    topo_exec rtr python3 - "$METRICS" "${1:-}" <<'PY'
import sys, urllib.request
req = urllib.request.Request("http://%s/metrics" % sys.argv[1])
if sys.argv[2]:
    req.add_header("Accept", sys.argv[2])
with urllib.request.urlopen(req, timeout=5) as r:
    print(r.status, r.headers["Content-Type"])
    sys.stdout.write(r.read().decode())
PY
}

# http METHOD PATH : the status line of a raw request to the endpoint.
http() {
    topo_exec rtr python3 - "$METRICS" "$1" "$2" <<'PY'
import socket, sys
host, port = sys.argv[1].split(":")
s = socket.create_connection((host, int(port)), timeout=5)
s.sendall(("%s %s HTTP/1.1\r\nHost: x\r\n\r\n" % (sys.argv[2], sys.argv[3])).encode())
data = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    data += b
print(data.split(b"\r\n")[0].decode())
PY
}

say "a stream to rcv1 on lan1"
start_recv rcv1 $G "$TOPO_DIR/rcv1.json"
wait_for "group $G on lan1" 5 has_group lan1 $G
topo_exec src $MCAST send --iface eth0 --group $G --count 5 --interval-ms 1 >/dev/null
wait_for "route for $G with oif lan1" 5 route_has_oif $G lan1

say "show routes: the kernel's counters at the time of the request"
# packets_now : mgmctl's packet count for the flow, then the kernel's.
packets_now() {
    mgmctl --json show routes >"$TOPO_DIR/routes.json"
    json_get "$TOPO_DIR/routes.json" "[r['packets'] for r in d if r['group'] == '$G'][0]"
    topo_exec rtr awk -v g="$(printf '%08X' 0x${GHEX} | sed 's/\(..\)\(..\)\(..\)\(..\)/\4\3\2\1/')" \
        'NR > 1 && $1 == g { print $4 }' /proc/net/ip_mr_cache
}
before=$(packets_now | sed -n 1p)
rx_mark rcv1
topo_exec src $MCAST send --iface eth0 --group $G --count 200 --interval-ms 0.2 >/dev/null
wait_for "200 more packets at rcv1" 5 rx_grows rcv1 200
read -r -d '' shown kernel < <(packets_now; printf '\0') || true
[ "$shown" -eq "$kernel" ] || fail "show routes says $shown packets, the kernel $kernel"
[ "$shown" -eq $((before + 200)) ] || fail "show routes says $shown packets, want $before + 200"

say "show counters: every key, zeros too, one bad checksum, two ownership moves"
topo_exec rcv1 $MCAST igmp --iface eth0 --router-alert --dst 224.0.0.22 \
    --hex "2200dead00000001 02000000 $GHEX"
mgmctl take lan2 static >/dev/null
mgmctl release lan2 static >/dev/null
lan1_drop() { mgmctl --json show counters lan1 | python3 -c \
    'import json,sys; print(json.load(sys.stdin)["interfaces"][0]["igmp"]["drops"]["bad_checksum"])'; }
bad_checksum_counted() { [ "$(lan1_drop)" = 1 ]; }
wait_for "the bad checksum counted" 5 bad_checksum_counted
mgmctl --json show counters >"$TOPO_DIR/counters.json"
python3 - "$TOPO_DIR/counters.json" <<'PY' || fail "show counters: $(cat "$TOPO_DIR/counters.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["router"]["ownership_moves"] == 2, d["router"]
assert d["router"]["kernel_errors"] == 0, d["router"]
assert d["io"]["upcalls_nocache"] >= 1, d["io"]
for k in ("kernel_rx_drops", "netlink_resyncs", "upcalls_other", "rx_malformed"):
    assert d["io"][k] == 0, (k, d["io"])
ifs = {i["interface"]: i for i in d["interfaces"]}
assert sorted(ifs) == ["lan1", "lan2", "up0"], sorted(ifs)
lan1, lan2 = ifs["lan1"]["igmp"], ifs["lan2"]["igmp"]
# Every reason is listed on every interface, counted or not.
assert len(lan1["drops"]) >= 20 and lan1["drops"].keys() == lan2["drops"].keys()
assert [r for r, n in lan1["drops"].items() if n] == ["bad_checksum"], lan1["drops"]
assert sum(lan2["drops"].values()) == 0
assert set(lan1["rx"]) == {"v1_query", "v2_query", "v3_query", "v1_report", "v2_report", "v2_leave", "v3_report"}
assert lan1["rx"]["v3_report"] >= 1 and lan1["tx"]["v3_query"] >= 1, lan1
# The stream came in on up0 and went out of lan1 only.
assert ifs["up0"]["forwarded"]["in_packets"] >= 200, ifs["up0"]
assert ifs["lan1"]["forwarded"]["out_packets"] == ifs["up0"]["forwarded"]["in_packets"], ifs
assert ifs["lan2"]["forwarded"]["out_packets"] == 0, ifs["lan2"]
PY
mgmctl show counters >"$TOPO_DIR/counters.txt"
grep -q '^ownership_moves  *2$' "$TOPO_DIR/counters.txt" || fail "no ownership_moves row: $(cat "$TOPO_DIR/counters.txt")"
grep -q '^upcalls_other  *0$' "$TOPO_DIR/counters.txt" || fail "a zero is missing: $(cat "$TOPO_DIR/counters.txt")"
grep -Eq '^drop_bad_checksum +1 +0 +0$' "$TOPO_DIR/counters.txt" || fail "drop row: $(cat "$TOPO_DIR/counters.txt")"
mgmctl show counters lan1 >"$TOPO_DIR/lan1.txt"
head -n 1 "$TOPO_DIR/lan1.txt" | grep -Eq '^IGMP +lan1$' || fail "show counters lan1: $(cat "$TOPO_DIR/lan1.txt")"
grep -q ownership_moves "$TOPO_DIR/lan1.txt" && fail "show counters lan1 shows the daemon's counters"
rc=0
mgmctl show counters nosuch >/dev/null 2>&1 || rc=$?
[ $rc -eq 3 ] || fail "show counters nosuch exited $rc, want 3"

say "metrics: the same values as mgmctl --json show"
# One consistent view: a scrape, the mgmctl answers, and a second scrape
# equal to the first (IGMP keeps running between them).
compare() {
    scrape >"$TOPO_DIR/m1.txt" || return 1
    mgmctl --json show counters >"$TOPO_DIR/c.json" || return 1
    mgmctl --json show interfaces >"$TOPO_DIR/i.json" || return 1
    mgmctl --json show routes >"$TOPO_DIR/r.json" || return 1
    scrape >"$TOPO_DIR/m2.txt" || return 1
    cmp -s "$TOPO_DIR/m1.txt" "$TOPO_DIR/m2.txt" || return 1
    python3 - "$TOPO_DIR" <<'PY'
import json, re, sys
d = sys.argv[1]
lines = open(d + "/m1.txt").read().splitlines()
assert lines[0].startswith("200 text/plain; version=0.0.4"), lines[0]
m = {}
for line in lines[1:]:
    if line.startswith("#") or not line:
        continue
    name, value = line.rsplit(" ", 1)
    m[name] = float(value)
def get(name, **labels):
    if labels:
        name += "{" + ",".join('%s="%s"' % kv for kv in labels.items()) + "}"
    if name not in m:
        raise AssertionError("no sample " + name)
    return m[name]
c = json.load(open(d + "/c.json"))
ifaces = json.load(open(d + "/i.json"))
routes = json.load(open(d + "/r.json"))
for k, v in c["router"].items():
    assert get("mgmd_%s_total" % k) == v, k
assert get("mgmd_ownership_moves_total") == 2
assert get("mgmd_kernel_errors_total") == 0
assert get("mgmd_kernel_upcalls_total", kind="nocache") == c["io"]["upcalls_nocache"]
assert get("mgmd_netlink_resyncs_total") == c["io"]["netlink_resyncs"]
fwd = sum(1 for r in routes if r["oifs"])
assert get("mgmd_forwarding_entries", kind="forwarding") == fwd == 1
assert get("mgmd_forwarding_entries", kind="drop") == len(routes) - fwd
flow = [r for r in routes if r["group"] == "239.3.3.3"][0]
for i in c["interfaces"]:
    name = i["interface"]
    for dirn in ("in", "out"):
        assert get("mgmd_forwarded_packets_total", interface=name, direction=dirn) == i["forwarded"][dirn + "_packets"]
        assert get("mgmd_forwarded_bytes_total", interface=name, direction=dirn) == i["forwarded"][dirn + "_bytes"]
    g = i["igmp"]
    for dirn in ("rx", "tx"):
        for t, v in g[dirn].items():
            assert get("mgmd_igmp_messages_total", interface=name, direction=dirn, type=t) == v, (name, dirn, t)
    for reason, v in g["drops"].items():
        assert get("mgmd_igmp_drops_total", interface=name, reason=reason) == v, (name, reason)
    for kind, v in g["queries_sent"].items():
        assert get("mgmd_igmp_queries_sent_total", interface=name, kind=kind) == v
assert get("mgmd_igmp_drops_total", interface="lan1", reason="bad_checksum") == 1
# The flow's packets, as the kernel counts them per entry and per VIF.
assert get("mgmd_forwarded_packets_total", interface="up0", direction="in") == flow["packets"]
assert get("mgmd_forwarded_packets_total", interface="lan1", direction="out") == flow["packets"]
assert get("mgmd_forwarded_bytes_total", interface="up0", direction="in") == flow["bytes"]
for i in ifaces:
    name, q = i["name"], i["querier"]
    assert get("mgmd_interface_up", interface=name) == (i["state"] == "up")
    assert get("mgmd_interface_info", interface=name, owner=i["owner"] or "none", igmp=i["igmp"]) == 1
    assert get("mgmd_igmp_groups", interface=name) == q["groups"], name
    assert get("mgmd_igmp_querier", interface=name) == q["is_querier"], name
    assert get("mgmd_igmp_version", interface=name) == q["version"], name
assert get("mgmd_igmp_groups", interface="lan1") == 1
assert get("mgmd_igmp_sources", interface="lan1", state="forwarding") == 0
PY
}
ok=0
for _ in 1 2 3 4 5; do
    if compare 2>"$TOPO_DIR/compare.err"; then ok=1; break; fi
    sleep 0.5
done
[ $ok = 1 ] || fail "metrics and mgmctl differ: $(cat "$TOPO_DIR/compare.err")"

say "OpenMetrics on request; HTTP errors"
scrape "application/openmetrics-text; version=1.0.0" >"$TOPO_DIR/om.txt"
head -n 1 "$TOPO_DIR/om.txt" | grep -q '^200 application/openmetrics-text' || fail "openmetrics: $(head -n 1 "$TOPO_DIR/om.txt")"
[ "$(tail -n 1 "$TOPO_DIR/om.txt")" = "# EOF" ] || fail "openmetrics does not end with # EOF"
[ "$(http GET /nope)" = "HTTP/1.1 404 Not Found" ] || fail "GET /nope: $(http GET /nope)"
[ "$(http POST /metrics)" = "HTTP/1.1 405 Method Not Allowed" ] || fail "POST: $(http POST /metrics)"
[ "$(http HEAD /metrics)" = "HTTP/1.1 200 OK" ] || fail "HEAD: $(http HEAD /metrics)"

say "a scraper that sends nothing holds up nobody"
topo_bg rtr "$TOPO_DIR/idle.log" python3 -c '
import socket, sys, time
host, port = sys.argv[1].split(":")
conns = [socket.create_connection((host, int(port))) for _ in range(3)]
time.sleep(30)' "$METRICS"
IDLE=$LAST_PID
sleep 0.5
mgmctl ping >/dev/null || fail "mgmd does not answer while scrapers idle"
scrape >/dev/null || fail "no scrape while other scrapers idle"
stop_bg "$IDLE"

say "a metrics address in use: exit 69, naming it, nothing left behind"
cat >"$TOPO_DIR/other.toml" <<CFG
[global]
table = 7
metrics-listen = "$METRICS"
CFG
rc=0
topo_exec rtr "$MGMD" -c "$TOPO_DIR/other.toml" --control-socket "$TOPO_DIR/other.sock" \
    --pid-file "$TOPO_DIR/other.pid" >"$TOPO_DIR/other.out" 2>&1 || rc=$?
[ $rc -eq 69 ] || fail "a second mgmd on the same metrics address exited $rc, want 69: $(cat "$TOPO_DIR/other.out")"
grep -q "failed to listen for metrics scrapes: $METRICS" "$TOPO_DIR/other.out" ||
    fail "the error does not name the address: $(cat "$TOPO_DIR/other.out")"
[ ! -e "$TOPO_DIR/other.sock" ] && [ ! -e "$TOPO_DIR/other.pid" ] || fail "socket or pid file left behind"
scrape >/dev/null || fail "the first mgmd stopped serving metrics"

say "mgmctl log: debug lines on request, and gone again"
# A new group on lan1 is a debug event of target mgmd.
joins() { grep -c "DEBUG.*$1" "$TOPO_DIR/mgmd.log" || true; }
debug_about() { [ "$(joins "$1")" -gt 0 ]; }
topo_bg rcv1 "$TOPO_DIR/join-239.3.3.4.log" $MCAST join --iface eth0 --group 239.3.3.4
wait_for "239.3.3.4 on lan1" 5 has_group lan1 239.3.3.4
[ "$(joins 239.3.3.4)" = 0 ] || fail "debug lines at level info"
[ "$(mgmctl log debug mgmd)" = "log filter: info,mgmd=debug" ] || fail "mgmctl log debug mgmd: $(mgmctl log debug mgmd)"
topo_bg rcv1 "$TOPO_DIR/join-239.3.3.5.log" $MCAST join --iface eth0 --group 239.3.3.5
wait_for "a debug line about 239.3.3.5" 5 debug_about 239.3.3.5
[ "$(mgmctl --json log info | json_get /dev/stdin 'd["filter"]')" = info ] || fail "mgmctl --json log info"
topo_bg rcv1 "$TOPO_DIR/join-239.3.3.6.log" $MCAST join --iface eth0 --group 239.3.3.6
wait_for "239.3.3.6 on lan1" 5 has_group lan1 239.3.3.6
[ "$(joins 239.3.3.6)" = 0 ] || fail "debug lines after going back to info"
rc=0
mgmctl log loud >/dev/null 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "mgmctl log loud exited $rc, want 2"
rc=0
mgmctl log debug 'a=b' >/dev/null 2>&1 || rc=$?
[ $rc -eq 3 ] || fail "mgmctl log debug a=b exited $rc, want 3"
kill -0 "$MGMD_PID" || fail "mgmd died"
