#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# The control plane end to end, without a guest kernel: kvmbusd with two
# --device echo, a QEMU under the qtest accelerator, and tests/ctl_e2e.py
# playing the guest through qtest (rings in guest RAM in the wire format,
# the BAR2 mailbox, doorbells, MSI-X of vector 0 aimed at guest RAM):
#   mailbox CONNECT -> ONLINE, VERSION_REQ -> VERSION_RESP,
#   REQUEST_OFFERS -> 2 OFFERs + ALL_OFFERS_DONE, kvmbusctl add -> OFFER,
#   kvmbusctl remove -> RESCIND (-> RELID_RELEASED), bad messages counted,
#   UNLOAD, RESET -> IDLE, rings outside RAM -> ERROR, a broken ring.
# Afterwards kvmbusd still runs, holds the fds it started with and exits 0
# on SIGTERM.
#
# Usage: tests/ctl-e2e.sh [kvmbusd] [kvmbusctl]      exit 0 = pass
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
KVMBUSD=$(realpath "${1:-$HERE/../build/kvmbusd}")
KVMBUSCTL=$(realpath "${2:-$HERE/../build/kvmbusctl}")
QEMU=${QEMU:-qemu-system-x86_64}
RAM=256M

if ! command -v "$QEMU" >/dev/null; then
	echo "ctl-e2e: SKIP: $QEMU not installed (apt-get install qemu-system-x86)"
	exit 0
fi
command -v python3 >/dev/null || { echo "ctl-e2e: FAIL: python3 missing"; exit 1; }

TMP=$(mktemp -d /dev/shm/kvmbus-e2e.XXXXXX)
KPID=
cleanup() {
	[ -n "$KPID" ] && kill "$KPID" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
	echo "ctl-e2e: FAIL: $*"
	echo "--- kvmbusd log"; cat "$TMP/kvmbusd.log" 2>/dev/null
	for f in "$TMP"/qemu*.log; do [ -f "$f" ] && { echo "--- $f"; cat "$f"; }; done
	exit 1
}

nfds() { ls "/proc/$KPID/fd" | wc -l; }

truncate -s $RAM "$TMP/vm.ram"
"$KVMBUSD" --foreground --socket "$TMP/kvmbus.sock" --ram "$TMP/vm.ram" \
	--control "$TMP/ctl.sock" --vectors 64 --device echo --device echo \
	>"$TMP/kvmbusd.log" 2>&1 &
KPID=$!
for ((i = 0; i < 50; i++)); do
	[ -S "$TMP/kvmbus.sock" ] && [ -S "$TMP/ctl.sock" ] && break
	sleep 0.1
done
[ -S "$TMP/ctl.sock" ] || fail "kvmbusd did not create its sockets"
FDS0=$(nfds)

timeout 300 python3 "$HERE/ctl_e2e.py" "$QEMU" "$TMP/vm.ram" $RAM \
	"$TMP/kvmbus.sock" "$TMP/ctl.sock" "$KVMBUSCTL" || fail "guest side"

kill -0 "$KPID" 2>/dev/null || fail "kvmbusd died"
for ((i = 0; i < 100; i++)); do
	[ "$("$KVMBUSCTL" -s "$TMP/ctl.sock" --json status |
	     python3 -c 'import json,sys; print(json.load(sys.stdin)["qemu"]["connected"])')" = False ] && break
	sleep 0.1
done
"$KVMBUSCTL" -s "$TMP/ctl.sock" status | grep -q '^guest:    idle' ||
	fail "QEMU gone, but the control plane did not go idle"
# kvmbusd closes a kvmbusctl connection on its next loop turn: poll.
for ((i = 0; i < 50; i++)); do
	fds=$(nfds)
	[ "$fds" -eq "$FDS0" ] && break
	sleep 0.1
done
[ "$fds" -eq "$FDS0" ] || { ls -l "/proc/$KPID/fd"; fail "$fds fds after QEMU left, expected $FDS0"; }
grep -q "guest control connection (generation 3) broken" "$TMP/kvmbusd.log" ||
	fail "no log line for the broken connection"

kill -TERM "$KPID"
for ((i = 0; i < 100; i++)); do kill -0 "$KPID" 2>/dev/null || break; sleep 0.1; done
wait "$KPID"
RC=$?
KPID=
[ "$RC" = 0 ] || fail "kvmbusd exited with $RC on SIGTERM"
echo "ctl-e2e: PASS (connect, version, offers, hot add, hot remove, unload, reset, refusal, broken ring, kvmbusctl)"
