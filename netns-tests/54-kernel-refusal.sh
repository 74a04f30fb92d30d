#!/usr/bin/env bash
# The kernel refuses a change: another root socket took, behind mgmd's
# back, the VIF number mgmd gives the next interface (the kernel lets any
# CAP_NET_ADMIN socket of the namespace add one, as in 50-kernel-audit).
# When a reload adds that interface, the kernel refuses mgmd's VIF: mgmd
# counts and logs the refusal, forwards nothing there and asks again with
# each later step; once the foreign VIF is gone, its own is added and the
# stream reaches the receiver behind the interface. The recording holds
# the refusals (its golden scenario is tests/scenarios/kernel-refusal).
. "$(dirname "$0")/lib.sh"
G=239.5.4.54
FAULTS="python3 $HERE/../scripts/faults.py"

topo_standard
cfg="$TOPO_DIR/mgmd.toml"
write_config "$cfg" up0 lan1
# No audit: the foreign VIF stays until the test removes it.
sed -i 's/^\[global\]$/[global]\nkernel-audit-interval = "0s"/' "$cfg"
topo_mgmd "$cfg"
vif_of() { topo_exec rtr awk -v d="$1" '$2 == d { print $1 }' /proc/net/ip_mr_vif; }
# has_vif DEV VIF : DEV's VIFs are VIF (for wait_for)
has_vif() { [ "$(vif_of "$1")" = "$2" ]; }
wait_for "VIFs on up0 and lan1" 5 has_vif lan1 1
[ "$(vif_of up0) $(vif_of lan1)" = "0 1" ] || fail "mgmd's VIFs are not 0 and 1: $(topo_exec rtr cat /proc/net/ip_mr_vif)"
counter() { mgmctl --json ping | python3 -c 'import json,sys; print(json.load(sys.stdin)["counters"][sys.argv[1]])' "$1"; }
refusals_counted() { [ "$(counter kernel_errors)" -gt 0 ]; }
[ "$(counter kernel_errors)" = 0 ] || fail "kernel errors before the test"

say "VIF 2 taken behind mgmd's back, then lan2 configured: the kernel refuses mgmd's VIF"
topo_exec rtr $FAULTS vif-add --vif 2 --dev lan1
start_send $G 2
start_recv rcv2 $G "$TOPO_DIR/rcv2.json"
printf '\n[[interface]]\nname = "lan2"\n' >>"$cfg"
mgmctl reload >/dev/null || fail "reload refused"
refused() { grep -q "kernel refused add vif 2 .*already in use" "$TOPO_DIR/mgmd.log"; }
wait_for "the refusal logged" 5 refused
wait_for "the refusal counted" 5 refusals_counted
sleep 1
[ "$(vif_of lan2)" = "" ] || fail "lan2 has a VIF though the kernel refused it"
# mgmd's route has lan2; the kernel's entry, if any, cannot.
ip -n "$(ns rtr)" mroute show | grep "$G" | grep -q lan2 && fail "the kernel forwards $G out of lan2 without mgmd's VIF"

say "the foreign VIF removed: mgmd's own is added and the stream reaches rcv2"
topo_exec rtr $FAULTS vif-del --vif 2
wait_for "lan2's VIF" 10 has_vif lan2 2
wait_for "route for $G with oif lan2" 10 route_has_oif $G lan2
rx_mark rcv2
wait_for "stream at rcv2" 10 rx_grows rcv2 100
errors=$(counter kernel_errors)
stop_bg "$MGMD_PID"
grep -q "kernel refused" "$TOPO_DIR/mgmd.log" || fail "no refusal in the log"
say "OK ($errors kernel refusals before the VIF was free)"
