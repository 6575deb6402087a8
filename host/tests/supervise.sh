#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# kvmbusd --supervise without QEMU: the child answers the control socket
# and says it is supervised; SIGKILLed, it is restarted and sees the next
# host generation and the same devices (run-time adds and removes too); SIGTERM to the parent stops both and removes the
# sockets; the restart limit makes the parent give up (exit 1); a child
# given a bad KVMBUSD_FDS refuses to start (exit 2).
#
# Usage: tests/supervise.sh [kvmbusd] [kvmbusctl]      exit 0 = pass
set -u

NAME=supervise.sh
. "$(dirname "$0")/lib.sh" "$@"

fail() {
	echo "supervise.sh: FAIL: $*"
	echo "--- log"; cat "$TMP/sv.log" 2>/dev/null
	exit 1
}

status() { "$KVMBUSCTL" -s "$TMP/c.sock" --json status 2>/dev/null; }
field() { status | python3 -c "import json,sys; print(json.load(sys.stdin)$1)" 2>/dev/null; }

# wait_child OLD: the pid of a child other than OLD, within 10 s.
wait_child() {
	local i pid
	for i in $(seq 200); do
		pid=$(field '["pid"]') && [ -n "$pid" ] && [ "$pid" != "$1" ] &&
			{ echo "$pid"; return 0; }
		sleep 0.05
	done
	return 1
}

start() {
	"$KVMBUSD" --supervise --foreground --socket "$TMP/k.sock" \
		--ram "$TMP/vm.ram" --control "$TMP/c.sock" --vectors 4 \
		--device echo "$@" >"$TMP/sv.log" 2>&1 &
	KPID=$!
}

truncate -s 64M "$TMP/vm.ram"

start --restart-max 3 --restart-delay 50
c1=$(wait_child 0) || fail "no child answers"
[ "$(field '["supervised"]')" = True ] || fail "the child does not say it is supervised"
[ -S "$TMP/k.sock" ] || fail "no ivshmem socket"
g1=$(field '["bar"]["generation"]')
[ "$c1" != "$KPID" ] || fail "the control socket is the parent's"

# The device table survives the child: a device added at run time, a
# setting changed, one removed; the next child offers the same ones
# with the same admin ids, relids and instance ids.
devs() {
	"$KVMBUSCTL" -s "$TMP/c.sock" --json devices 2>/dev/null |
		python3 -c 'import json,sys
for d in json.load(sys.stdin)["devices"]:
    print(d["id"], d["class"], d["relid"], d["vector"], d["instance"], d.get("delay_us", ""))'
}
"$KVMBUSCTL" -s "$TMP/c.sock" add echo >/dev/null || fail "add echo"
"$KVMBUSCTL" -s "$TMP/c.sock" add echo >/dev/null || fail "add echo (2)"
"$KVMBUSCTL" -s "$TMP/c.sock" remove 2 >/dev/null || fail "remove 2"
d1=$(devs)
[ "$(echo "$d1" | wc -l)" = 2 ] || fail "not 2 devices before the kill: $d1"

kill -KILL "$c1"
c2=$(wait_child "$c1") || fail "the child was not restarted"
d2=$(devs)
[ "$d2" = "$d1" ] || fail "devices changed across the restart: '$d1' -> '$d2'"
grep -q "2 device(s) restored" "$TMP/sv.log" || fail "no restore logged"
"$KVMBUSCTL" -s "$TMP/c.sock" --json add echo | grep -q '"id": *4' ||
	fail "admin ids reused after the restart"
g2=$(field '["bar"]["generation"]')
[ "$g2" = $((g1 + 1)) ] || fail "host generation $g1 -> $g2, not +1"
grep -q "child $c1 killed by signal 9" "$TMP/sv.log" || fail "the death is not logged"
grep -q "restart 1 of kvmbusd" "$TMP/sv.log" || fail "the restart is not logged"
kill -0 "$KPID" || fail "the supervisor died"

kill -TERM "$KPID"
wait "$KPID"
rc=$?
KPID=
[ "$rc" = 0 ] || fail "the supervisor exited $rc on SIGTERM"
kill -0 "$c2" 2>/dev/null && fail "the child outlived the supervisor"
[ -e "$TMP/k.sock" ] && fail "the ivshmem socket was left"
[ -e "$TMP/c.sock" ] && fail "the control socket was left"

# At most one restart in the window: the second death ends it.
start --restart-max 1 --restart-delay 50
c1=$(wait_child 0) || fail "no child answers (limit run)"
kill -KILL "$c1"
c2=$(wait_child "$c1") || fail "the child was not restarted (limit run)"
kill -KILL "$c2"
for i in $(seq 200); do kill -0 "$KPID" 2>/dev/null || break; sleep 0.05; done
wait "$KPID"
rc=$?
KPID=
[ "$rc" = 1 ] || fail "the supervisor exited $rc after its limit, not 1"
grep -q "giving up" "$TMP/sv.log" || fail "no 'giving up' in the log"

# A child with descriptors that do not fit: a clear refusal.
KVMBUSD_FDS=5,6,7 "$KVMBUSD" -f -s "$TMP/x.sock" -r "$TMP/vm.ram" --vectors 4 \
	>"$TMP/sv.log" 2>&1
rc=$?
[ "$rc" = 2 ] || fail "a bad KVMBUSD_FDS exited $rc, not 2"
grep -q "KVMBUSD_FDS: fewer fds" "$TMP/sv.log" || fail "no reason for the refusal"
KVMBUSD_FDS=5,6,7,8,9,10,11,12,13 "$KVMBUSD" -f -s "$TMP/x.sock" -r "$TMP/vm.ram" \
	--vectors 4 >"$TMP/sv.log" 2>&1
rc=$?
[ "$rc" = 2 ] || fail "closed fds in KVMBUSD_FDS exited $rc, not 2"

echo "supervise.sh: PASS (child restarted with the next host generation, SIGTERM forwarded, restart limit, bad fds refused)"
