#!/usr/bin/env bash
# mgmctl tells failures apart by exit status: 0 success, 2 bad usage,
# 3 request refused by mgmd, 4 mgmd not running (socket missing or nobody
# listening), 5 permission denied; and `ping` prints tables unless --json.
. "$(dirname "$0")/lib.sh"

topo_standard
write_config "$TOPO_DIR/mgmd.toml" up0 lan1 lan2
topo_mgmd "$TOPO_DIR/mgmd.toml"

# expect STATUS CMD... : run CMD, check its exit status.
expect() {
    local want=$1 rc=0
    shift
    "$@" >"$TOPO_DIR/out" 2>&1 || rc=$?
    [ $rc -eq "$want" ] || fail "$* exited $rc, want $want: $(cat "$TOPO_DIR/out")"
}

say "ping: a table, or JSON with --json"
expect 0 mgmctl ping
head -n 1 "$TOPO_DIR/out" | grep -q '^VERSION *PID$' || fail "ping is not a table: $(cat "$TOPO_DIR/out")"
grep -q '^COUNTER *VALUE$' "$TOPO_DIR/out" || fail "no counter table: $(cat "$TOPO_DIR/out")"
grep -q "^netlink_resyncs *0$" "$TOPO_DIR/out" || fail "counter rows missing: $(cat "$TOPO_DIR/out")"
expect 0 mgmctl --json ping
json_get "$TOPO_DIR/out" 'd["pid"]' | grep -qx "$MGMD_PID" || fail "--json ping: $(cat "$TOPO_DIR/out")"

say "bad usage: 2"
expect 2 mgmctl frobnicate
expect 2 mgmctl take lan1

say "refused by mgmd: 3"
expect 3 mgmctl take lan1 nosuchprotocol
grep -q "nosuchprotocol" "$TOPO_DIR/out" || fail "the refusal does not name the protocol: $(cat "$TOPO_DIR/out")"
expect 3 mgmctl --json take lan1 nosuchprotocol
json_get "$TOPO_DIR/out" 'd["error"]' | grep -q . || fail "no {\"error\": ...} with --json"

say "-c FILE: the socket the file names; a refused file is mgmd's answer, 3"
grep -q '^\[global\]' "$TOPO_DIR/mgmd.toml" || fail "the test's file has no [global]"
sed "s|^\[global\]|[global]\ncontrol-socket = \"$MGMD_SOCK\"|" "$TOPO_DIR/mgmd.toml" >"$TOPO_DIR/named.toml"
expect 0 "$MGMCTL" -c "$TOPO_DIR/named.toml" ping
# mgmd reloads the file it runs on: break both.
cp "$TOPO_DIR/mgmd.toml" "$TOPO_DIR/good.toml"
for f in named mgmd; do
    printf '[[interface]]\nname = "an-interface-name-too-long"\n' >>"$TOPO_DIR/$f.toml"
done
expect 3 "$MGMCTL" -c "$TOPO_DIR/named.toml" reload
grep -q "mgmd.toml:[0-9]*:[0-9]*: name: interface name" "$TOPO_DIR/out" || fail "no position from mgmd: $(cat "$TOPO_DIR/out")"
grep -q "reload refused.*mgmd.toml" "$TOPO_DIR/mgmd.log" || fail "mgmd did not log the refused reload"
cp "$TOPO_DIR/good.toml" "$TOPO_DIR/mgmd.toml"
printf '[global\n' >"$TOPO_DIR/broken.toml"
expect 3 "$MGMCTL" -c "$TOPO_DIR/broken.toml" reload
grep -q "was not asked" "$TOPO_DIR/out" || fail "$(cat "$TOPO_DIR/out")"

say "not running: 4 (no socket; a socket nobody listens on)"
expect 4 "$MGMCTL" -s "$TOPO_DIR/none.sock" ping
python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$TOPO_DIR/stale.sock"
expect 4 "$MGMCTL" -s "$TOPO_DIR/stale.sock" ping
expect 4 "$MGMCTL" -t 4242 ping

say "permission denied: 5"
chmod 755 "$TOPO_DIR"
expect 5 setpriv --reuid=65534 --regid=65534 --clear-groups "$MGMCTL" -s "$MGMD_SOCK" ping
grep -q "root" "$TOPO_DIR/out" || fail "the message does not say the socket is root's: $(cat "$TOPO_DIR/out")"
