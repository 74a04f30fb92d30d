#!/usr/bin/env bash
# The kernel's table audited against mgmd's. Another root socket changes the
# table behind mgmd's back (the kernel lets any CAP_NET_ADMIN socket of the
# namespace do so; `ip mroute` cannot): `mgmctl verify` lists each
# difference and exits 6, `verify --repair` repairs them, and with
# global.kernel-audit-interval set the daemon finds and repairs drift by
# itself and logs it: a deleted entry and a deleted VIF come back (and the
# receivers' streams with them), a foreign entry goes.
. "$(dirname "$0")/lib.sh"
G1=239.5.0.1
G2=239.5.0.2
S=10.0.1.2
FAULTS="python3 $HERE/../scripts/faults.py"

topo_standard
cfg="$TOPO_DIR/mgmd.toml"
write_config "$cfg" up0 lan1 lan2
# No periodic audit at first: what verify sees stays as it is.
sed -i 's/^\[global\]$/[global]\nkernel-audit-interval = "0s"/' "$cfg"
topo_mgmd "$cfg"

start_sender() {
    topo_bg src "$TOPO_DIR/send.log" $MCAST send --iface eth0 --group $G1 --group $G2 --interval-ms 1 --per-group-seq
    SENDER=$LAST_PID
}
start_sender
start_recv rcv1 $G1 "$TOPO_DIR/rcv1.json"
start_recv rcv2 $G2 "$TOPO_DIR/rcv2.json"
wait_for "route for $G1 out of lan1" 5 route_has_oif $G1 lan1
wait_for "route for $G2 out of lan2" 5 route_has_oif $G2 lan2

mroute() { ip -n "$(ns rtr)" mroute show; }
has_entry() { mroute | grep -q "($S,$1)"; }
has_foreign() { mroute | grep -q "(10.9.9.9,239.9.9.9)"; }
# forwards GROUP OIF : the kernel's entry for (S,GROUP) sends out of OIF.
forwards() { mroute | grep "($S,$1)" | grep -q "Oifs: .*$2"; }
# verify_status ARGS... : mgmctl's exit status (its output in TOPO_DIR/verify).
verify_status() {
    local rc=0
    mgmctl verify "$@" >"$TOPO_DIR/verify" 2>&1 || rc=$?
    echo $rc
}
counter() { mgmctl --json ping | python3 -c 'import json,sys; print(json.load(sys.stdin)["counters"][sys.argv[1]])' "$1"; }
logged() { grep -qF "$1" "$TOPO_DIR/mgmd.log" || fail "not logged: $1"; }

say "in step: verify exits 0"
rc=$(verify_status)
[ "$rc" = 0 ] || fail "verify exited $rc: $(cat "$TOPO_DIR/verify")"
grep -q "matches mgmd's" "$TOPO_DIR/verify" || fail "verify: $(cat "$TOPO_DIR/verify")"

say "an entry rewritten and a foreign one added behind mgmd's back: the stream stops"
# The kernel asks nothing about an entry it has: without an audit this
# stays broken.
topo_exec rtr $FAULTS mfc-add --source $S --group $G1 --iif up0
forwards $G1 lan1 && fail "the rewrite did not take"
topo_exec rtr $FAULTS mfc-add --source 10.9.9.9 --group 239.9.9.9 --iif up0 --oif lan2
has_foreign || fail "the foreign entry was not added"
sleep 0.2
[ "$(rx_delta rcv1 0.5)" -lt 5 ] || fail "rcv1 still receives through the rewritten entry"
rc=$(verify_status)
[ "$rc" = 6 ] || fail "verify exited $rc with drift, want 6: $(cat "$TOPO_DIR/verify")"
cat "$TOPO_DIR/verify"
grep -q "^entry-changed  *($S,$G1)  *iif up0 oifs lan1  *iif up0 (drop)$" "$TOPO_DIR/verify" ||
    fail "the changed entry is not listed"
grep -q "^entry-foreign  *(10.9.9.9,239.9.9.9)  *-  *iif up0 oifs lan2$" "$TOPO_DIR/verify" ||
    fail "the foreign entry is not listed"
rc=$(verify_status --json)
[ "$rc" = 6 ] || fail "verify --json exited $rc, want 6"
json_get "$TOPO_DIR/verify" '[d["drift"] for d in d["differences"]]' |
    grep -qx "\['entry-changed', 'entry-foreign'\]" || fail "verify --json: $(cat "$TOPO_DIR/verify")"
forwards $G1 lan1 && fail "verify without --repair repaired"

say "verify --repair restores mgmd's entry and removes the foreign one"
rc=$(verify_status --repair)
[ "$rc" = 6 ] || fail "verify --repair exited $rc, want 6"
grep -q "; repaired$" "$TOPO_DIR/verify" || fail "verify --repair: $(cat "$TOPO_DIR/verify")"
wait_for "($S,$G1) out of lan1 again" 5 forwards $G1 lan1
wait_for_not "foreign entry removed" 5 has_foreign
rx_mark rcv1
wait_for "stream at rcv1 again" 5 rx_grows rcv1 100
rc=$(verify_status)
[ "$rc" = 0 ] || fail "after the repair verify exited $rc: $(cat "$TOPO_DIR/verify")"
logged "kernel table drift: the kernel's entry ($S,$G1) is iif up0 (drop), mgmd installed iif up0 oifs lan1; repaired"
logged "kernel table audit: 2 difference(s) from mgmd's table, repaired"

say "no traffic: an entry deleted stays deleted until the periodic audit (every second) restores it"
stop_bg "$SENDER"
topo_exec rtr $FAULTS mfc-del --source $S --group $G1
sleep 0.5
has_entry $G1 && fail "the deletion did not take"
rc=$(verify_status)
[ "$rc" = 6 ] || fail "verify exited $rc, want 6"
grep -q "^entry-missing  *($S,$G1)  *iif up0 oifs lan1  *-$" "$TOPO_DIR/verify" ||
    fail "the missing entry is not listed: $(cat "$TOPO_DIR/verify")"
sed -i 's/^kernel-audit-interval = "0s"$/kernel-audit-interval = "1s"/' "$cfg"
mgmctl reload >/dev/null || fail "reload refused"
t0=$(date +%s.%N)
wait_for "($S,$G1) restored by the periodic audit" 5 forwards $G1 lan1
t1=$(date +%s.%N)
restore_ms=$(python3 -c "import sys; print('%.0f' % ((float(sys.argv[2]) - float(sys.argv[1])) * 1e3))" "$t0" "$t1")
logged "kernel table drift: entry ($S,$G1) (iif up0 oifs lan1) is missing from the kernel; repaired"
start_sender

say "a VIF deleted: back with the entries that use it, and the stream"
rx_mark rcv2
wait_for "stream at rcv2" 5 rx_grows rcv2 10
topo_exec rtr $FAULTS vif-del --vif lan2
wait_for "lan2's VIF restored" 5 topo_exec rtr grep -q ' lan2 ' /proc/net/ip_mr_vif
wait_for "($S,$G2) out of lan2 again" 5 forwards $G2 lan2
rx_mark rcv2
wait_for "stream at rcv2 again" 5 rx_grows rcv2 100
grep -q "kernel table drift: VIF [0-9]* (lan2) is missing from the kernel; repaired" "$TOPO_DIR/mgmd.log" ||
    fail "the VIF's repair was not logged"

say "a foreign entry: removed"
# The audit may remove it before a look at the table would see it (a
# slow host, one CPU): what counts is that mgmd found and removed it.
foreign_removed() {
    grep -qF "kernel table drift: the kernel has entry (10.9.9.9,239.9.9.9) (iif up0 oifs lan1), which mgmd did not install; repaired" \
        "$TOPO_DIR/mgmd.log"
}
foreign_removed && fail "a foreign entry through lan1 was repaired before it was added"
topo_exec rtr $FAULTS mfc-add --source 10.9.9.9 --group 239.9.9.9 --iif up0 --oif lan1
wait_for "the periodic audit removing the foreign entry" 5 foreign_removed
wait_for_not "foreign entry gone" 5 has_foreign

say "an entry rewritten with traffic: the stream resumes within the audit interval"
rx_mark rcv1
wait_for "stream at rcv1" 5 rx_grows rcv1 10
t0=$(date +%s.%N)
topo_exec rtr $FAULTS mfc-add --source $S --group $G1 --iif up0
wait_for "($S,$G1) out of lan1 again" 5 forwards $G1 lan1
rx_mark rcv1
wait_for "stream at rcv1 again" 5 rx_grows rcv1 10
t1=$(date +%s.%N)
resume_ms=$(python3 -c "import sys; print('%.0f' % ((float(sys.argv[2]) - float(sys.argv[1])) * 1e3))" "$t0" "$t1")

rc=$(verify_status)
[ "$rc" = 0 ] || fail "verify exited $rc at the end: $(cat "$TOPO_DIR/verify")"
drift=$(counter kernel_drift)
# 2 by --repair; then the deleted entry, the VIF and lan2's entry through
# it, the foreign entry, the rewritten entry.
[ "$drift" -ge 6 ] || fail "kernel_drift is $drift"
echo "kernel-audit: deleted_entry_restored_ms=$restore_ms rewritten_entry_stream_back_ms=$resume_ms (audit every 1 s) kernel_drift=$drift" |
    tee "$TOPO_DIR/figure"
kill -0 "$MGMD_PID" || fail "mgmd died"
