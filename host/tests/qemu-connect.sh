#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# kvmbusd against a real QEMU (TCG, no guest kernel needed):
#   1. kvmbusd listens first, QEMU's ivshmem-doorbell connects; QMP proves
#      BAR2 has kvmbusd's size and mailbox and the device has N MSI-X
#      vectors; QEMU quits.
#   2. A second QEMU connects to the same kvmbusd (reconnection), and a
#      third one started meanwhile is refused without disturbing it.
#   3. A third QEMU (TCG, CPUs stopped, the qtest protocol playing the
#      guest) rings doorbells: kvmbusd counts them per vector and reads and
#      validates the BAR2 mailbox; kvmbusd raises an MSI-X vector and the
#      MSI-X message lands in guest RAM.
#   4. After every disconnect kvmbusd holds exactly the fds it started
#      with; SIGTERM makes it exit 0 and remove its sockets.
#
# Usage: tests/qemu-connect.sh [path/to/kvmbusd]      exit 0 = pass
set -u

NAME=qemu-connect
. "$(dirname "$0")/lib.sh" "$@"
need_qemu
VECTORS=64
BAR=65536
RAM=256M
status() { python3 "$HERE/qemu_probe.py" status "$TMP/ctl.sock"; }
field() { status | python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# Wait up to $2 seconds for python expression $1 over the status to be True.
wait_status() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		[ "$(field "$1")" = True ] && return 0
		sleep 0.1
	done
	return 1
}

start_qemu() {	# $1: name; QMP socket $TMP/$1.qmp
	"$QEMU" -accel tcg -M q35,memory-backend=ram -m $RAM \
		-object memory-backend-file,id=ram,size=$RAM,mem-path="$TMP/vm.ram",share=on \
		-chardev socket,id=kvmbus,path="$TMP/kvmbus.sock" \
		-device ivshmem-doorbell,chardev=kvmbus,vectors=$VECTORS \
		-display none -nodefaults -monitor none \
		-qmp unix:"$TMP/$1.qmp",server=on,wait=off \
		>"$TMP/qemu-$1.log" 2>&1 &
	QPID=$!
	QPIDS+=("$QPID")
}

wait_exit() {	# $1: pid (a child), $2: seconds; sets RC to its status
	local i
	RC=timeout
	for ((i = 0; i < $2 * 10; i++)); do
		if ! kill -0 "$1" 2>/dev/null; then
			wait "$1"
			RC=$?
			return 0
		fi
		sleep 0.1
	done
}

truncate -s $RAM "$TMP/vm.ram"
start_kvmbusd --vectors $VECTORS --bar-size $BAR
FDS0=$(nfds)
echo "qemu-connect: kvmbusd pid $KPID listening, $FDS0 fds open"

for round in 1 2; do
	start_qemu "vm$round"
	qpid=$QPID
	wait_status "d['qemu']['setup_done']" 30 ||
		fail "round $round: QEMU never completed the ivshmem setup"
	fds=$(nfds)
	# One socket and 2 x vectors eventfds for the client, nothing else.
	[ "$fds" -eq $((FDS0 + 1 + 2 * VECTORS)) ] ||
		fail "round $round: $fds fds while connected, expected $((FDS0 + 1 + 2 * VECTORS))"
	echo "qemu-connect: round $round: QEMU pid $qpid connected, kvmbusd has $fds fds"

	if [ $round = 2 ]; then
		# A second QEMU while one is connected: refused, no harm done.
		start_qemu extra
		wait_exit "$QPID" 30
		[ "$RC" != 0 ] && [ "$RC" != timeout ] ||
			fail "a concurrent QEMU was not refused (exit $RC)"
		[ "$(field "d['qemu']['refused']")" = 1 ] || fail "refusal not counted"
		[ "$(field "d['qemu']['connected']")" = True ] ||
			fail "the refused QEMU disturbed the connected one"
		echo "qemu-connect: concurrent QEMU refused (exit $RC: $(grep -m1 ivshmem "$TMP/qemu-extra.log")), first one still connected"
	fi

	python3 "$HERE/qemu_probe.py" qmp-check "$TMP/vm$round.qmp" $BAR $VECTORS ||
		fail "round $round: device check"
	wait_exit "$qpid" 30
	[ "$RC" = 0 ] || fail "round $round: QEMU exited with $RC"
	wait_status "not d['qemu']['connected']" 10 ||
		fail "round $round: kvmbusd did not notice QEMU leaving"
	fds=$(nfds)
	[ "$fds" -eq "$FDS0" ] || { ls -l "/proc/$KPID/fd"; fail "round $round: $fds fds after disconnect, expected $FDS0"; }
	echo "qemu-connect: round $round: QEMU gone, kvmbusd back to $fds fds"
done

timeout 120 python3 "$HERE/qemu_probe.py" qtest "$QEMU" "$TMP/vm.ram" $RAM \
	"$TMP/kvmbus.sock" "$TMP/ctl.sock" || fail "doorbell / MSI-X round trip"
wait_status "not d['qemu']['connected']" 10 ||
	fail "kvmbusd did not notice the qtest QEMU leaving"
fds=$(nfds)
[ "$fds" -eq "$FDS0" ] || fail "$fds fds after the qtest QEMU, expected $FDS0"
echo "qemu-connect: round 3: doorbells and MSI-X work, kvmbusd back to $fds fds"

[ "$(field "d['qemu']['connects']")" = 3 ] || fail "expected 3 connects"
[ "$(field "d['bar']['generation']")" = 4 ] || fail "BAR2 not re-initialised per QEMU"

kill -TERM "$KPID"
wait_exit "$KPID" 10
KPID=
[ "$RC" = 0 ] || fail "kvmbusd exited with $RC on SIGTERM"
[ -e "$TMP/kvmbus.sock" ] && fail "kvmbusd left its ivshmem socket behind"
[ -e "$TMP/ctl.sock" ] && fail "kvmbusd left its control socket behind"
grep -q "signal 15: shutting down" "$TMP/kvmbusd.log" || fail "no shutdown message"
# Daemon mode: the parent returns once the sockets listen; the daemon
# still shuts down cleanly on SIGTERM.
"$KVMBUSD" --socket "$TMP/d.sock" --ram "$TMP/vm.ram" --control "$TMP/d.ctl" ||
	fail "daemon mode: start-up failed"
[ -S "$TMP/d.sock" ] && [ -S "$TMP/d.ctl" ] || fail "daemon mode: sockets not ready when the parent returned"
DPID=$(python3 "$HERE/qemu_probe.py" status "$TMP/d.ctl" |
       python3 -c "import json,sys; print(json.load(sys.stdin)['pid'])")
kill -TERM "$DPID"
for ((i = 0; i < 50; i++)); do
	[ -e "$TMP/d.sock" ] || [ -e "$TMP/d.ctl" ] || break
	sleep 0.1
done
[ -e "$TMP/d.sock" ] || [ -e "$TMP/d.ctl" ] && { kill -KILL "$DPID"; fail "daemon mode: SIGTERM ignored"; }
echo "qemu-connect: daemon mode: pid $DPID started in the background and stopped on SIGTERM"

echo "qemu-connect: PASS (connect, reconnect, refusal, doorbells, MSI-X, no fd leak, clean SIGTERM exit, daemon mode)"
