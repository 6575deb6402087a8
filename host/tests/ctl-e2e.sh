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

NAME=ctl-e2e
. "$(dirname "$0")/lib.sh" "$@"
need_qemu
RAM=256M

truncate -s $RAM "$TMP/vm.ram"
start_kvmbusd --vectors 64 --device echo --device echo
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

expect_fds "$FDS0" "after QEMU left"
grep -q "guest control connection (generation 3) broken" "$TMP/kvmbusd.log" ||
	fail "no log line for the broken connection"

stop_kvmbusd
echo "ctl-e2e: PASS (connect, version, offers, hot add, hot remove, unload, reset, refusal, broken ring, kvmbusctl)"
