#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Channels end to end, without a guest kernel: kvmbusd with two --device
# echo, a QEMU under the qtest accelerator whose RAM is split around the
# PCI hole (max-ram-below-4g=128M), and tests/chan_e2e.py playing the
# guest's echo driver through qtest: a ring GPADL of scattered pages on
# both sides of the hole, OPEN, in-band echoes, GPA SUM / FILL, refused
# ranges, kvmbusctl echo-send through a full ring, a channel the guest
# breaks while another goes on, CLOSE, GPADL_TEARDOWN, UNLOAD.
# Afterwards kvmbusd still runs, holds the fds it started with, has
# unmapped every ring view (/proc/PID/maps) and exits 0 on SIGTERM.
#
# Usage: tests/chan-e2e.sh [kvmbusd] [kvmbusctl]      exit 0 = pass
#	KVMBUSD_WRAP="valgrind --error-exitcode=99 ..." runs kvmbusd under it.
set -u

NAME=chan-e2e
. "$(dirname "$0")/lib.sh" "$@"
need_qemu
RAM=256M
# Mappings of the RAM file: the one of guest RAM, plus one per open view.
nmaps() { grep -c "$TMP/vm.ram" "/proc/$KPID/maps"; }

truncate -s $RAM "$TMP/vm.ram"
start_kvmbusd --max-ram-below-4g 128M --vectors 64 --device echo --device echo
grep -q "128 MiB at GPA 0, 128 MiB at GPA 4 GiB" "$TMP/kvmbusd.log" ||
	fail "kvmbusd did not split guest RAM at 128 MiB"
FDS0=$(nfds)
MAPS0=$(nmaps)

timeout 300 python3 "$HERE/chan_e2e.py" "$QEMU" "$TMP/vm.ram" $RAM \
	"$TMP/kvmbus.sock" "$TMP/ctl.sock" "$KVMBUSCTL" || fail "guest side"

kill -0 "$KPID" 2>/dev/null || fail "kvmbusd died"
[ "$(nmaps)" -eq "$MAPS0" ] || { grep "$TMP/vm.ram" "/proc/$KPID/maps"; fail "ring views still mapped"; }
for ((i = 0; i < 100; i++)); do
	[ "$("$KVMBUSCTL" -s "$TMP/ctl.sock" --json status |
	     python3 -c 'import json,sys; print(json.load(sys.stdin)["qemu"]["connected"])')" = False ] && break
	sleep 0.1
done
expect_fds "$FDS0" "after QEMU left"
grep -q "channel relid 2 (echo) broken" "$TMP/kvmbusd.log" ||
	fail "no log line for the broken channel"

stop_kvmbusd
echo "chan-e2e: PASS (GPADL of scattered pages across the RAM hole, open, echo, GPA SUM/FILL, echo-send through a full ring, broken channel, close, teardown, unload${WRAP:+; kvmbusd under ${WRAP%% *}})"
