#!/usr/bin/env bash
# Static routes forward without IGMP receivers: an (S,G) route and a
# (*,G/prefix) route from up0 to lan1 deliver to a receiver on lan1 (lan1
# runs no IGMP, so mgmd learns nothing there); a flow no route covers is
# not sent to lan1; a static join on up0 makes the box report the group
# upstream; an only-with-members outbound (lan2) forwards only while an
# IGMP receiver is joined there.
. "$(dirname "$0")/lib.sh"

GSG=239.1.1.1 GPFX=239.2.3.4 GNONE=239.3.3.3 GJOIN=239.5.5.5
topo_standard
cfg="$TOPO_DIR/mgmd.toml"
cat >"$cfg" <<CFG
[igmp]
query-interval = "10s"
query-response-interval = "2s"
last-member-query-interval = "200ms"

# IGMP runs on lan2 only (for only-with-members); up0 and lan1 are static's alone.
[[interface]]
name = "lan2"

[[static.route]]
source = "10.0.1.2"
group = "$GSG"
inbound = "up0"
outbound = ["lan1"]

[[static.route]]
group = "239.2.0.0/16"
inbound = "up0"
outbound = ["lan1", { name = "lan2", only-with-members = true }]

[[static.join]]
interface = "up0"
group = "$GJOIN"
CFG

say "the static join of $GJOIN on up0 is reported upstream"
topo_bg src "$TOPO_DIR/report.json" $MCAST wait-report --iface eth0 --group $GJOIN --timeout 10 \
    --ready "$TOPO_DIR/report.ready"
REPORT_PID=$LAST_PID
wait_for "upstream capture ready" 5 test -f "$TOPO_DIR/report.ready"
topo_mgmd "$cfg"
wait "$REPORT_PID" || true
python3 -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))["t"] else 1)' "$TOPO_DIR/report.json" ||
    fail "no report for $GJOIN seen upstream: $(cat "$TOPO_DIR/report.json")"

say "rcv1 listens to $GSG $GPFX $GNONE (lan1 runs no IGMP); src sends all three"
start_recv rcv1 $GSG "$TOPO_DIR/r1.json" --group $GPFX --group $GNONE
R1=$LAST_PID
start_send $GSG 0.5 --group $GPFX --group $GNONE --per-group-seq
wait_for "$GSG forwarded to lan1" 10 route_has_oif $GSG lan1
wait_for "$GPFX forwarded to lan1" 10 route_has_oif $GPFX lan1
[ -z "$(lan_groups lan1)" ] || fail "mgmd learned groups on lan1, which runs no IGMP: $(lan_groups lan1)"

say "only-with-members: nothing on lan2 without a member"
route_has_oif $GPFX lan2 && fail "$GPFX forwarded to lan2 without members"
n=$(count_udp rcv2 eth0 $GPFX 1.5)
[ "$n" -eq 0 ] || fail "$n packets of $GPFX reached lan2 without members"

say "rcv2 joins $GPFX: lan2 gets it"
start_recv rcv2 $GPFX "$TOPO_DIR/r2.json"
R2=$LAST_PID
wait_for "$GPFX learned on lan2" 10 has_group lan2 $GPFX
wait_for "$GPFX forwarded to lan2" 10 route_has_oif $GPFX lan2
sleep 1
topo_stop "$R2"
got2=$(json_get "$TOPO_DIR/r2.json" "d['$GPFX']['count']")
[ "$got2" -gt 0 ] || fail "rcv2 joined $GPFX but got nothing"

say "rcv2 left: lan2 stops after the last-member time"
not_forwarded() { ! route_has_oif "$@"; }
wait_for "$GPFX no longer forwarded to lan2" 10 not_forwarded $GPFX lan2
n=$(count_udp rcv2 eth0 $GPFX 1.5)
[ "$n" -eq 0 ] || fail "$n packets of $GPFX reached lan2 after its last member left"

topo_stop "$SEND_PID"
sleep 0.3
topo_stop "$R1"
python3 - "$TOPO_DIR/r1.json" <<PY || fail "wrong forwarding to lan1"
import json, sys
d = json.load(open(sys.argv[1]))
for g in d:
    print(f"  {g}: {d[g]['count']} packets, missing {d[g]['missing']}")
ok = d["$GSG"]["count"] > 0 and d["$GPFX"]["count"] > 0 and d["$GNONE"]["count"] == 0
# No loss once a flow is set up (while mgmd answers the kernel's first
# upcall, only 4 packets are queued: a set-up gap starts at sequence 4).
ok = ok and all(lo <= 4 for g in ("$GSG", "$GPFX") for lo, hi in d[g]["gap_at"])
sys.exit(0 if ok else 1)
PY
say "OK: (S,G) and prefix routes forward, unrouted flow not, join reported, only-with-members follows IGMP"
