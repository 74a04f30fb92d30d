#!/usr/bin/env bash
# The upstream interface changes protocol while receivers are served:
# up0 moves proxy -> static -> proxy, twice, each move being a release and
# a take (two control requests). Static has a route in from up0 and joins
# the receivers' groups there, so both protocols want the same upstream
# membership. The receivers must not miss a packet, and the upstream
# capture must show that the box never left a group (no v2 leave, no v3
# TO_IN{} or BLOCK record for the groups) during the moves.
. "$(dirname "$0")/lib.sh"

G1=239.1.1.1 G2=239.1.1.2
topo_standard
cfg="$TOPO_DIR/mgmd.toml"
cat >"$cfg" <<CFG
[igmp]
query-interval = "10s"
query-response-interval = "2s"

[[interface]]
name = "lan1"

[[interface]]
name = "lan2"

[proxy]
upstream = ["up0"]
downstream = ["lan1", "lan2"]

# static owns nothing at start: up0 is the proxy's until "mgmctl take".
[static]
interfaces = []

[[static.route]]
group = "239.1.0.0/16"
inbound = "up0"
outbound = ["lan1"]

[[static.join]]
interface = "up0"
group = "$G1"

[[static.join]]
interface = "up0"
group = "$G2"
CFG

cap="$TOPO_DIR/upstream-igmp.json"
start_igmp_capture src eth0 "$cap"
topo_mgmd "$cfg"

owner_of() {
    mgmctl --json show interfaces | python3 -c '
import json, sys
print(next((i["owner"] or "-") for i in json.load(sys.stdin) if i["name"] == sys.argv[1]))' "$1"
}
[ "$(owner_of up0)" = proxy ] || fail "up0 is not the proxy's at start: $(owner_of up0)"

say "rcv1 joins $G1 and $G2; src sends both at 1 packet/ms each"
start_recv rcv1 $G1 "$TOPO_DIR/r.json" --group $G2
R=$LAST_PID
wait_for "$G1 learned on lan1" 10 has_group lan1 $G1
wait_for "$G2 learned on lan1" 10 has_group lan1 $G2
start_send $G1 0.5 --group $G2 --per-group-seq
wait_for "$G1 forwarded to lan1" 10 route_has_oif $G1 lan1
wait_for "$G2 forwarded to lan1" 10 route_has_oif $G2 lan1
sleep 1

# Losses are counted from here on: a new flow may lose a few packets while
# mgmd answers the kernel's first upcall (4 are queued), which is not a move.
date +%s.%N >"$TOPO_DIR/t_moves"
moves=0
move() {
    moves=$((moves + 1))
    say "mgmctl $*"
    mgmctl "$@" >/dev/null || fail "mgmctl $* failed"
}
for round in 1 2; do
    move release up0 proxy
    move take up0 static
    [ "$(owner_of up0)" = static ] || fail "round $round: up0 owned by $(owner_of up0), not static"
    sleep 1
    move release up0 static
    move take up0 proxy
    [ "$(owner_of up0)" = proxy ] || fail "round $round: up0 owned by $(owner_of up0), not proxy"
    sleep 1
done
# Past the host-membership hold time, so that a late leave would show.
sleep 4

say "stop the sender, then the receiver and the capture"
topo_stop "$SEND_PID"
sent=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sent"])' "$TOPO_DIR/send.log")
sleep 0.5
topo_stop "$R"
topo_stop "$CAPTURE_PID"

python3 - "$sent" "$TOPO_DIR/r.json" <<'PY' || fail "the receiver missed packets across the moves"
import json, sys, time
sent = int(sys.argv[1])
tdir = sys.argv[2].rsplit("/", 1)[0]
start_t = json.load(open(tdir + "/send.log"))["start_t"]
t_moves = float(open(tdir + "/t_moves").read())
N_GROUPS, INTERVAL_S = 2, 0.0005
got = json.load(open(sys.argv[2]))
bad = False
for i, g in enumerate(["239.1.1.1", "239.1.1.2"]):
    last_sent = (sent - 1 - i) // 2
    r = got[g]
    print(f"{g}: count={r['count']} seq {r['first_seq']}..{r['last_seq']} (last sent {last_sent}) "
          f"missing={r['missing']} gaps={r['gaps']}")
    if r["count"] == 0 or r["last_seq"] != last_sent or r["gaps"] > len(r["gap_at"]):
        bad = True
    # Sequence numbers scheduled 0.5 s before the first move (the sender may
    # lag its schedule a little, never run ahead of it) were sent before it.
    before = int((t_moves - 0.5 - start_t) / (N_GROUPS * INTERVAL_S))
    for lo, hi in r["gap_at"]:
        # When the sender sent the first missing packet (to match with the logs).
        t = start_t + (lo * N_GROUPS + i) * INTERVAL_S
        at = time.strftime("%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"
        if hi < before:
            print(f"  {g}: missing {lo}..{hi} at flow set-up (about {at}), before the moves")
        else:
            print(f"  {g}: MISSING {lo}..{hi}, sent from about {at}")
            bad = True
sys.exit(1 if bad else 0)
PY

python3 - "$cap" <<'PY' || fail "the box left a group upstream during the moves"
import json, sys
recs = [r for r in json.load(open(sys.argv[1]))
        if r["src"] == "10.0.1.1" and r["group"] in ("239.1.1.1", "239.1.1.2")]
for r in recs:
    print(f"  {r['t']:.3f} {r['kind']} {r['group']} {r['sources']}")
joined = {r["group"] for r in recs if r["kind"] in ("v2_report", "IS_EX", "TO_EX")}
leaves = [r for r in recs if r["kind"] in ("v2_leave", "BLOCK")
          or (r["kind"] == "TO_IN" and not r["sources"])]
if joined != {"239.1.1.1", "239.1.1.2"}:
    print("no upstream report seen for", {"239.1.1.1", "239.1.1.2"} - joined)
    sys.exit(1)
sys.exit(1 if leaves else 0)
PY
say "OK: $moves moves, no packet missed, no leave upstream"
