#!/usr/bin/env bash
# IGMP reports per second through mgmd's raw socket: a host on lan1 sends
# IGMPv3 reports (one IS_EX({}) record each, cycling over 1,000 groups) at
# a given rate or as fast as it can; reported are what was sent, what mgmd
# counted (rx_v3_report on lan1), its IGMP drop counters, the drops of the
# router's raw IGMP sockets (/proc/net/raw) and the rate mgmd processed.
#
#   sudo scripts/bench/reports.sh [RATE...]   (reports/s, 0 = flat out; default 10000 30000 0)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
RATES=("$@")
[ ${#RATES[@]} -gt 0 ] || RATES=(10000 30000 0)
bench_build
topo_standard
machine_note
start_mgmd '[global]
rp-filter-warning = false

[igmp]
query-interval = "125s"

[[interface]]
name = "up0"

[[interface]]
name = "lan1"

[[interface]]
name = "lan2"'

counters() { # -> "rx_v3_report rx_records drops-summary"
    mgmctl --json show interfaces | python3 -c '
import json, sys
d = json.load(sys.stdin); d = d.get("data", d) if isinstance(d, dict) else d
for i in d:
    if i.get("name") == "lan1":
        c = (i.get("querier") or {}).get("counters", {})
        dr = {k: v for k, v in c.items() if k.startswith("drop_") and v}
        print(c.get("rx_v3_report", 0), c.get("rx_records", 0), ",".join("%s=%d" % kv for kv in dr.items()) or "none")'
}

: >"$TOPO_DIR/rep.res"
for rate in "${RATES[@]}"; do
    if [ "$rate" = 0 ]; then count=60000; else count=$((rate * 3)); fi
    read -r c0 _ _ < <(counters)
    d0=$(raw_igmp_drops)
    cpu0=$(proc_cpu_s "$MGMD_PID")
    topo_exec rcv1 $CAP blast --iface eth0 --count "$count" --rate "$rate" >"$TOPO_DIR/blast.json"
    # Poll until mgmd's counter stops moving; remember when it last moved.
    last=-1 t_done=$(date +%s.%N) still=0
    while [ "$still" -lt 10 ]; do
        read -r c _ drops < <(counters)
        if [ "$c" != "$last" ]; then
            last=$c t_done=$(date +%s.%N) still=0
        else
            still=$((still + 1))
        fi
        [ $((c - c0)) -ge "$count" ] && break
        sleep 0.05
    done
    cpu1=$(proc_cpu_s "$MGMD_PID")
    d1=$(raw_igmp_drops)
    python3 - "$TOPO_DIR/blast.json" "$rate" "$c0" "$last" "$t_done" "$d0" "$d1" "$drops" "$cpu0" "$cpu1" >>"$TOPO_DIR/rep.res" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
rate, c0, c1, t_done, d0, d1, drops, cpu0, cpu1 = sys.argv[2:11]
got = int(c1) - int(c0)
send_rate = b["sent"] / (b["t_end"] - b["t_start"])
proc = got / max(1e-9, float(t_done) - b["t_start"])
print("\t".join([rate if rate != "0" else "max", str(b["sent"]), "%.0f" % send_rate, str(got),
                 str(b["sent"] - got), str(int(d1) - int(d0)), drops, "%.0f" % proc,
                 "%.2f" % (float(cpu1) - float(cpu0))]))
PY
done
echo
echo "IGMPv3 reports through mgmd's raw socket (one record each, 1,000 groups; sender in rcv1)"
printf '%-8s %8s %10s %10s %8s %10s %-12s %12s %6s\n' asked sent sent/s counted missing raw_drops igmp_drops processed/s cpu_s
while IFS=$'\t' read -r a s sr g m rd dr p cpu; do
    printf '%-8s %8s %10s %10s %8s %10s %-12s %12s %6s\n' "$a" "$s" "$sr" "$g" "$m" "$rd" "$dr" "$p" "$cpu"
done <"$TOPO_DIR/rep.res"
echo "mgmd ping: $(mgmctl --json ping | tr -d " \n")"
