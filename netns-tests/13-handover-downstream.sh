#!/usr/bin/env bash
# A receiver LAN changes owner while its receivers are being served:
# lan1 moves IGMP alone -> static -> IGMP alone, twice. The receivers must
# not miss a single packet (1 packet/ms per group), mgmd must show exactly
# the receivers' groups on lan1 after every move, attributed to the new
# owner, and the event stream must show the ownership steps in order.
. "$(dirname "$0")/lib.sh"

G1=239.1.1.1 G2=239.1.1.2 G3=239.1.1.3
topo_standard
cfg="$TOPO_DIR/mgmd.toml"
cat >"$cfg" <<CFG
[igmp]
query-interval = "10s"
query-response-interval = "2s"

[[interface]]
name = "up0"

[[interface]]
name = "lan1"

[[interface]]
name = "lan2"

# static starts with lan2 only; lan1 is IGMP's until "mgmctl take".
[static]
interfaces = ["lan2"]
CFG
topo_mgmd "$cfg"
ev="$TOPO_DIR/events.jsonl"
start_events "$ev"

say "rcv1 joins $G1 and $G2; src sends $G1 $G2 $G3 at 1 packet/ms each"
start_recv rcv1 $G1 "$TOPO_DIR/r12.json" --group $G2
R12=$LAST_PID
wait_for "$G1 learned on lan1" 10 has_group lan1 $G1
wait_for "$G2 learned on lan1" 10 has_group lan1 $G2
start_send $G1 0.333 --group $G2 --group $G3 --per-group-seq
wait_for "$G1 forwarded to lan1" 10 route_has_oif $G1 lan1
wait_for "$G2 forwarded to lan1" 10 route_has_oif $G2 lan1
sleep 1

# expect_lan1 "GROUP COMPONENT" lines: mgmd's view of lan1, exactly.
expect_lan1() {
    local want got
    want=$(printf '%s\n' "$@" | sort)
    got=$(lan_groups lan1)
    [ "$got" = "$want" ] || fail "groups on lan1 after $STEP: got [$got], want [$want]"
}

# move CMD : run one ownership move and check that it was complete.
moves=0
move() {
    moves=$((moves + 1))
    STEP="mgmctl $*"
    say "$STEP"
    mgmctl "$@" >/dev/null || fail "$STEP failed"
}

# Losses are counted from here on: a new flow may lose a few packets while
# mgmd answers the kernel's first upcall (4 are queued), which is not a move.
date +%s.%N >"$TOPO_DIR/t_moves"
move take lan1 static
expect_lan1 "$G1 static" "$G2 static"
sleep 1

say "rcv1b joins $G3 while static owns lan1"
start_recv rcv1 $G3 "$TOPO_DIR/r3.json"
R3=$LAST_PID
wait_for "$G3 learned on lan1" 10 has_group lan1 $G3
wait_for "$G3 forwarded to lan1" 10 route_has_oif $G3 lan1
STEP="the join of $G3"
expect_lan1 "$G1 static" "$G2 static" "$G3 static"
sleep 1

move release lan1 static
expect_lan1 "$G1 igmp" "$G2 igmp" "$G3 igmp"
sleep 1
move take lan1 static
expect_lan1 "$G1 static" "$G2 static" "$G3 static"
sleep 1
move release lan1 static
expect_lan1 "$G1 igmp" "$G2 igmp" "$G3 igmp"
sleep 1

say "stop the sender, then the receivers"
topo_stop "$SEND_PID"
sent=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sent"])' "$TOPO_DIR/send.log")
sleep 0.5
topo_stop "$R12"
topo_stop "$R3"
topo_stop "$EVENTS_PID"

# Every group got a gapless run of sequence numbers up to the last one sent.
python3 - "$sent" "$TOPO_DIR/r12.json" "$TOPO_DIR/r3.json" <<'PY' || fail "receivers missed packets across the moves"
import json, sys, time
sent = int(sys.argv[1])
tdir = sys.argv[2].rsplit("/", 1)[0]
start_t = json.load(open(tdir + "/send.log"))["start_t"]
t_moves = float(open(tdir + "/t_moves").read())
N_GROUPS, INTERVAL_S = 3, 0.000333
groups = ["239.1.1.1", "239.1.1.2", "239.1.1.3"]
got = {}
for f in sys.argv[2:]:
    got.update(json.load(open(f)))
bad = False
for i, g in enumerate(groups):
    last_sent = (sent - 1 - i) // 3   # per-group sequence of the last packet of g
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

# The event stream shows each move's steps in order.
python3 - "$ev" "$moves" <<'PY' || fail "ownership events out of order or missing"
import json, sys
events = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
texts = [e["text"] for e in sorted(events, key=lambda e: e["seq"]) if e.get("kind") == "ownership"]
ops = [("takes", "igmp-only -> static"), ("releases", "static -> igmp-only")]
want = []
for i in range(int(sys.argv[2])):
    verb, change = ops[i % 2]
    want += [f"static {verb} lan1: sequence starts", "disable IGMP on lan1",
             f"owner of lan1: {change}", "enable IGMP on lan1",
             f"static {verb} lan1: sequence complete"]
lan1 = [t for t in texts if "lan1" in t]
for t in lan1:
    print("  " + t)
sys.exit(0 if lan1 == want else 1)
PY
say "OK: $moves moves, no packet missed, memberships and events as expected"
