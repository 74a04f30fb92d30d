#!/usr/bin/env bash
# Live reconfiguration with streams running: receivers behind an IGMP
# interface (lan1), a static outbound (lan2) and a proxy downstream (lan3)
# get sequence-numbered streams at 1 packet/ms while mgmd reloads ten times
# (the same file, new timers, a route added and removed, an unrelated
# interface added and removed, a bad file, SIGHUP). No packet of the
# unchanged flows may be lost; the added route forwards, the removed one
# stops; the state after each reload equals the state before, apart from
# the intended change; a bad file is refused with its position and changes
# nothing.
. "$(dirname "$0")/lib.sh"
G1=239.1.1.1 G2=239.2.2.2 G3=239.3.3.3 G4=239.4.4.4

topo_standard
topo_ns rcv3
topo_link src eth1 10.0.6.2/24 rtr up1 10.0.6.1/24
topo_link rtr lan3 10.0.7.1/24 rcv3 eth0 10.0.7.2/24
topo_exec rcv3 ip route add default via 10.0.7.1
topo_link rtr lan4 10.0.8.1/24 rcv3 eth1 10.0.8.2/24
topo_router rtr

cfg="$TOPO_DIR/mgmd.toml"
base() {
    cat <<CFG
[global]
mfe-idle-timeout = "60s"

[igmp]
query-interval = "${QI:-10s}"
query-response-interval = "1s"
last-member-query-interval = "0.2s"

[[interface]]
name = "up0"
[[interface]]
name = "lan1"
${LAN4:-}

[static]
interfaces = ["up0", "lan2"]

[[static.route]]
group = "$G2"
inbound = "up0"
outbound = ["lan2"]
${ROUTE:-}

[proxy]
upstream = ["up1"]
downstream = ["lan3"]
CFG
}
base >"$cfg"
topo_mgmd "$cfg"

say "receivers join; src sends $G1 and $G2 on eth0, $G3 on eth1, 1 packet/ms each"
start_recv rcv1 $G1 "$TOPO_DIR/r1.json"
R1=$LAST_PID
start_recv rcv2 $G2 "$TOPO_DIR/r2.json" --group $G4
R2=$LAST_PID
start_recv rcv3 $G3 "$TOPO_DIR/r3.json"
R3=$LAST_PID
wait_for "$G1 learned on lan1" 10 has_group lan1 $G1
wait_for "$G3 learned on lan3" 10 has_group lan3 $G3
start_send $G1 0.333 --group $G2 --group $G4 --per-group-seq
S1=$SEND_PID
topo_bg src "$TOPO_DIR/send3.log" $MCAST send --iface eth1 --group $G3 --interval-ms 1
S3=$LAST_PID
wait_for "$G1 forwarded to lan1" 10 route_has_oif $G1 lan1
wait_for "$G2 forwarded to lan2" 10 route_has_oif $G2 lan2
wait_for "$G3 forwarded to lan3" 10 route_has_oif $G3 lan3
sleep 1
date +%s.%N >"$TOPO_DIR/t_reloads"

# The state that must not change: groups, routes (without counters and
# timers) and interfaces, as one JSON document.
state() {
    python3 - "$MGMCTL" "$MGMD_SOCK" <<'PY'
import json, subprocess, sys
def show(what):
    return json.loads(subprocess.check_output([sys.argv[1], "-s", sys.argv[2], "--json", "show", what]))
groups = sorted((g["interface"], g["group"], g["mode"],
                 sorted((s["source"], s["forwarding"]) for s in g["sources"])) for g in show("groups"))
routes = sorted((r["source"], r["group"], r["iif"], r["oifs"], r["iif_owner"], r["refused"])
                for r in show("routes"))
ifaces = sorted((i["name"], i["state"], i["owner"], i["igmp"], i["vif"],
                 (i["querier"] or {}).get("querier_addr")) for i in show("interfaces"))
print(json.dumps({"groups": groups, "routes": routes, "interfaces": ifaces}, sort_keys=True))
PY
}

n=0
# reload HOW WHAT : rewrite the file as the environment says, reload, and
# check the state. HOW is "mgmctl" or "hup"; WHAT names the expected
# change: "none", or a python expression over (before, after).
reload() {
    local how=$1 what=$2 before after
    n=$((n + 1))
    before=$(state)
    base >"$cfg"
    if [ "$how" = hup ]; then
        kill -HUP "$MGMD_PID"
        sleep 0.5
        kill -0 "$MGMD_PID" || fail "reload $n: SIGHUP ended mgmd"
    else
        mgmctl reload >"$TOPO_DIR/reload-$n.out" || fail "reload $n refused: $(cat "$TOPO_DIR/reload-$n.out")"
    fi
    sleep 0.3
    after=$(state)
    python3 - "$before" "$after" "$what" <<'PY' || fail "reload $n ($how, $what): unexpected state change"
import json, sys
before, after, what = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
if what == "none":
    ok = before == after
else:
    ok = eval(what)
if not ok:
    for k in before:
        if before[k] != after[k]:
            print(k, "before:", before[k], "\n", k, "after: ", after[k])
sys.exit(0 if ok else 1)
PY
    say "reload $n ($how): $what"
}

reload mgmctl none
QI=12s reload mgmctl none
export QI=12s
ROUTE="[[static.route]]
group = \"$G4\"
inbound = \"up0\"
outbound = [\"lan2\"]"
export ROUTE
reload mgmctl "any(r[1] == '$G4' and 'lan2' in r[3] for r in after['routes']) and before['groups'] == after['groups']"
wait_for "$G4 forwarded to lan2" 5 route_has_oif $G4 lan2
rx_mark rcv2
wait_for "$G4 reaches rcv2" 5 rx_grows rcv2 1500
LAN4='[[interface]]
name = "lan4"'
export LAN4
reload mgmctl "[i for i in after['interfaces'] if i[0] != 'lan4'] == before['interfaces'] and any(i[0] == 'lan4' and i[3] == 'enabled' for i in after['interfaces']) and before['routes'] == after['routes'] and before['groups'] == after['groups']"
unset LAN4
reload mgmctl "after['interfaces'] == [i for i in before['interfaces'] if i[0] != 'lan4'] and before['routes'] == after['routes'] and before['groups'] == after['groups']"

say "a bad file: refused with its position, nothing changes"
before=$(state)
base | sed 's/query-interval = "12s"/query-interval = 12/' >"$cfg"
rc=0
mgmctl reload >"$TOPO_DIR/bad.out" 2>&1 || rc=$?
[ $rc -eq 3 ] || fail "a bad file: mgmctl reload exited $rc, not 3 (refused)"
grep -q "mgmd.toml:[0-9]*:[0-9]*: query-interval = 12 has no unit" "$TOPO_DIR/bad.out" ||
    fail "a bad file: no position and reason in: $(cat "$TOPO_DIR/bad.out")"
[ "$(state)" = "$before" ] || fail "a bad file changed the state"
n=$((n + 1))
kill -HUP "$MGMD_PID"
sleep 0.5
kill -0 "$MGMD_PID" || fail "SIGHUP with a bad file ended mgmd"
grep -q "reload refused" "$TOPO_DIR/mgmd.log" || fail "the refused reload was not logged"
n=$((n + 1))

reload hup none
unset QI
reload hup none
unset ROUTE
reload mgmctl "not any(r[1] == '$G4' and 'lan2' in r[3] for r in after['routes']) and before['groups'] == after['groups']"
wait_for_not "$G4 still forwarded to lan2" 5 route_has_oif $G4 lan2
# The kernel's entry no longer sends it out of lan2 either; and (below) no
# datagram of it sent after this moment reached rcv2 (a count of packets
# in a window would depend on how fast this machine is).
g4_to_lan2() { topo_exec rtr ip mroute show | grep "(10.0.1.2,$G4)" | grep -q "lan2"; }
wait_for_not "the kernel's entry for $G4 still sends out of lan2" 5 g4_to_lan2
date +%s.%N >"$TOPO_DIR/t_g4_gone"
sleep 1
[ $n -ge 10 ] || fail "only $n reloads"

say "stop the senders and the receivers"
topo_stop "$S1"
topo_stop "$S3"
sleep 0.5
topo_stop "$R1"
topo_stop "$R2"
topo_stop "$R3"

python3 - "$TOPO_DIR" <<'PY' || fail "packets of unchanged flows were lost across the reloads, or $G4 arrived after its route went"
import json, sys
d = sys.argv[1]
t_reloads = float(open(d + "/t_reloads").read())
bad = False
for f, groups, send, per in [("r1.json", ["239.1.1.1"], "send.log", (3, 0)),
                             ("r2.json", ["239.2.2.2"], "send.log", (3, 1)),
                             ("r3.json", ["239.3.3.3"], "send3.log", (1, 0))]:
    got = json.load(open(f"{d}/{f}"))
    s = json.load(open(f"{d}/{send}"))
    n_groups, i = per
    interval = 0.000333 if n_groups == 3 else 0.001
    for g in groups:
        r = got[g]
        print(f"{g}: count={r['count']} seq {r['first_seq']}..{r['last_seq']} missing={r['missing']}")
        before = int((t_reloads - 0.5 - s["start_t"]) / (n_groups * interval))
        for lo, hi in r["gap_at"]:
            if hi >= before:
                print(f"  {g}: MISSING {lo}..{hi}")
                bad = True
        if r["count"] == 0:
            bad = True
# 239.4.4.4 after its route went: the sender is never ahead of its
# schedule, so a sequence number above the schedule's at that moment was
# sent after it.
t_gone = float(open(d + "/t_g4_gone").read())
s = json.load(open(f"{d}/send.log"))
g4 = json.load(open(f"{d}/r2.json"))["239.4.4.4"]
limit = int((t_gone - s["start_t"]) / (3 * 0.000333))
print(f"239.4.4.4 at rcv2: last seq {g4['last_seq']}, sent by the time its route went: at most {limit}")
if g4["last_seq"] is None or g4["last_seq"] > limit:
    print("  239.4.4.4 reached rcv2 after its route was removed (or never)")
    bad = True
sys.exit(1 if bad else 0)
PY
say "OK: $n reloads, nothing lost"
