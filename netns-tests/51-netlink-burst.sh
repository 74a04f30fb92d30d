#!/usr/bin/env bash
# A netlink burst: thousands of links and addresses created and deleted in
# the router in about two seconds, more notifications than mgmd's netlink
# socket holds. The kernel drops some (ENOBUFS); mgmd notices, reads links
# and addresses again (netlink_resyncs goes up) and its view of every
# configured interface ends equal to the kernel's (`mgmctl --json show
# interfaces` against `ip -j link` and `ip -j addr`): the ones deleted in
# the burst pending, the ones made in it up with their address, lan1's
# addresses as left, lan2 down. Reported: resyncs, and how long after the
# burst the view matched.
#
# To make the overflow certain on any machine, mgmd is stopped (SIGSTOP)
# for the first half of the burst, as a daemon busy elsewhere would be
# (NO_STOP=1: not stopped; on a 2-core machine the burst alone overflows
# the socket too). The second half and the deletions come while it runs.
. "$(dirname "$0")/lib.sh"
LINKS=${LINKS:-1000}
ADDRS=${ADDRS:-5000}

topo_standard
topo_ns junk
topo_ns keep
names=(up0 lan1 lan2)
for i in $(seq 0 9); do names+=("b$i" "k$i"); done
write_config "$TOPO_DIR/mgmd.toml" "${names[@]}"
topo_mgmd "$TOPO_DIR/mgmd.toml"

resyncs() { mgmctl --json ping | python3 -c 'import json,sys; print(json.load(sys.stdin)["counters"]["netlink_resyncs"])'; }
before=$(resyncs)

# view_matches : mgmd's view of every configured interface equals the
# kernel's (prints the first difference otherwise).
view_matches() {
    mgmctl --json show interfaces >"$TOPO_DIR/view.json" || return 2
    topo_exec rtr ip -j link show >"$TOPO_DIR/links.json"
    topo_exec rtr ip -j -4 addr show >"$TOPO_DIR/addrs.json"
    python3 - "$TOPO_DIR" <<'PY'
import json, sys
d = sys.argv[1]
view = json.load(open(d + "/view.json"))
links = {l["ifname"]: l for l in json.load(open(d + "/links.json"))}
addrs = {a["ifname"]: sorted("%s/%d" % (x["local"], x["prefixlen"]) for x in a.get("addr_info", []))
         for a in json.load(open(d + "/addrs.json"))}
for v in view:
    k = links.get(v["name"])
    if k is None:
        want = {"ifindex": None, "state": "pending", "addrs": []}
    else:
        up = "UP" in k["flags"] and "LOWER_UP" in k["flags"]
        want = {"ifindex": k["ifindex"], "state": "up" if up else "down",
                "addrs": addrs.get(v["name"], [])}
    got = {"ifindex": v["ifindex"], "state": v["state"], "addrs": sorted(v["addrs"])}
    if got != want:
        print("%s: mgmd %s, kernel %s" % (v["name"], got, want))
        sys.exit(1)
PY
}
wait_for "view matches before the burst" 5 view_matches

# The burst: LINKS veth pairs (b* and k* among them: configured), each up
# with an address; ADDRS addresses added to lan1 and all but one deleted;
# lan2 down. Then every pair whose peer is in `junk` goes at once (the
# namespace is deleted), the configured b* with them.
python3 - "$LINKS" "$ADDRS" "$(ns junk)" "$(ns keep)" >"$TOPO_DIR/burst" <<'PY'
import sys
links, addrs, junk, keep = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
for i in range(links):
    name = "k%d" % i if i < 10 else "b%d" % (i - 10)
    print("link add %s type veth peer name p%d netns %s" % (name, i, keep if i < 10 else junk))
    print("link set %s up" % name)
    print("addr add 10.%d.%d.%d/32 dev %s" % (200 + i // 62500, i // 250 % 250, i % 250 + 1, name))
for i in range(addrs):
    print("addr add 10.150.%d.%d/32 dev lan1" % (i // 250, i % 250 + 1))
for i in range(1, addrs):
    print("addr del 10.150.%d.%d/32 dev lan1" % (i // 250, i % 250 + 1))
print("link set lan2 down")
PY
for i in $(seq 0 9); do echo "link set p$i up"; done >"$TOPO_DIR/keep-up"

say "burst: $LINKS links and $((2 * ADDRS)) address changes"
half=$(($(wc -l <"$TOPO_DIR/burst") / 2))
head -n "$half" "$TOPO_DIR/burst" >"$TOPO_DIR/burst1"
tail -n "+$((half + 1))" "$TOPO_DIR/burst" >"$TOPO_DIR/burst2"
t0=$(date +%s.%N)
[ -n "${NO_STOP:-}" ] || kill -STOP "$MGMD_PID"
topo_exec rtr ip -batch "$TOPO_DIR/burst1"
[ -n "${NO_STOP:-}" ] || kill -CONT "$MGMD_PID"
topo_exec rtr ip -batch "$TOPO_DIR/burst2"
topo_exec keep ip -batch "$TOPO_DIR/keep-up"
ip netns del "$(ns junk)"
# The peers' deletion takes the b* links with it; wait until it is done.
wait_for "the junk links gone" 20 sh -c "! ip -n $(ns rtr) link show b0 >/dev/null 2>&1 && \
    [ \$(ip -n $(ns rtr) -o link show | wc -l) -le $((4 + 10)) ]"
t1=$(date +%s.%N)
wait_for "view matches after the burst" 20 view_matches
t2=$(date +%s.%N)
view_matches >/dev/null || fail "$(view_matches)"

after=$(resyncs)
say "netlink resyncs: $before before, $after after"
[ "$after" -gt "$before" ] || fail "no resync: the burst did not overflow mgmd's netlink socket"
grep -q "netlink notifications were lost" "$TOPO_DIR/mgmd.log" || fail "the resync was not logged"
# The kept links are up with their address, lan2 down, lan1 with one
# address more than before.
python3 - "$TOPO_DIR/view.json" <<'PY' || fail "unexpected final view: $(cat "$TOPO_DIR/view.json")"
import json, sys
v = {i["name"]: i for i in json.load(open(sys.argv[1]))}
assert all(v["b%d" % i]["state"] == "pending" for i in range(10)), "b*"
assert all(v["k%d" % i]["state"] == "up" and len(v["k%d" % i]["addrs"]) == 1 for i in range(10)), "k*"
assert v["lan2"]["state"] == "down", "lan2"
assert sorted(v["lan1"]["addrs"]) == ["10.0.2.1/24", "10.150.0.1/32"], v["lan1"]["addrs"]
PY

say "IGMP on the last of the 23 interfaces (more than one socket's 20 memberships)"
topo_exec rtr ip addr add 10.210.0.1/24 dev k9
topo_exec keep ip addr add 10.210.0.2/24 dev p9
topo_bg keep "$TOPO_DIR/join.log" $MCAST join --iface p9 --group 239.77.0.9
wait_for "group 239.77.0.9 learned on k9" 5 has_group k9 239.77.0.9
grep -q "failed to join" "$TOPO_DIR/mgmd.log" && fail "mgmd could not join IGMP's groups on every interface"

ms() { python3 -c "import sys; print('%.0f' % ((float(sys.argv[2]) - float(sys.argv[1])) * 1e3))" "$1" "$2"; }
echo "netlink-burst: links=$LINKS address_changes=$((2 * ADDRS)) burst_ms=$(ms "$t0" "$t1") resyncs=$((after - before)) view_matched_ms_after_burst=$(ms "$t1" "$t2")" |
    tee "$TOPO_DIR/figure"
kill -0 "$MGMD_PID" || fail "mgmd died"
