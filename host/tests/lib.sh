# SPDX-License-Identifier: GPL-2.0-only
#
# The prologue every host test script shares (bash, sourced):
#
#	NAME=ctl-e2e
#	. "$(dirname "$0")/lib.sh" "$@"
#
# Sets HERE, KVMBUSD and KVMBUSCTL (from $1 and $2, default host/build/),
# QEMU, WRAP ($KVMBUSD_WRAP, e.g. valgrind) and TMP, a private directory
# in /dev/shm; kills $KPID and every pid in QPIDS and removes TMP on exit.
# Defines need_qemu (SKIP without QEMU), fail (with kvmbusd's and QEMU's
# logs), nfds (kvmbusd's open fds), start_kvmbusd, expect_fds and
# stop_kvmbusd.

HERE=$(cd "$(dirname "$0")" && pwd)
KVMBUSD=$(realpath "${1:-$HERE/../build/kvmbusd}")
KVMBUSCTL=$(realpath "${2:-$HERE/../build/kvmbusctl}")
QEMU=${QEMU:-qemu-system-x86_64}
WRAP=${KVMBUSD_WRAP:-}

command -v python3 >/dev/null || { echo "$NAME: FAIL: python3 missing"; exit 1; }

need_qemu() {
	if ! command -v "$QEMU" >/dev/null; then
		echo "$NAME: SKIP: $QEMU not installed (apt-get install qemu-system-x86)"
		exit 0
	fi
}

TMP=$(mktemp -d "/dev/shm/kvmbus-$NAME.XXXXXX")
KPID=
QPIDS=()
cleanup() {
	local p

	for p in "${QPIDS[@]}"; do kill "$p" 2>/dev/null; done
	[ -n "$KPID" ] && kill "$KPID" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
	echo "$NAME: FAIL: $*"
	echo "--- kvmbusd log"; cat "$TMP/kvmbusd.log" 2>/dev/null
	for f in "$TMP"/qemu*.log; do [ -f "$f" ] && { echo "--- $f"; cat "$f"; }; done
	exit 1
}

nfds() { ls "/proc/$KPID/fd" | wc -l; }

# expect_fds N WHEN: wait up to 5 s for kvmbusd to be back at N open fds
# (it closes a finished connection on its next loop turn).
expect_fds() {
	local i fds

	for ((i = 0; i < 50; i++)); do
		fds=$(nfds)
		[ "$fds" -eq "$1" ] && return 0
		sleep 0.1
	done
	ls -l "/proc/$KPID/fd"
	fail "$fds fds $2, expected $1"
}

# start_kvmbusd OPTION...: kvmbusd (under $WRAP) in the foreground with
# guest RAM $TMP/vm.ram, listening on $TMP/kvmbus.sock for QEMU and on
# $TMP/ctl.sock for kvmbusctl, logging to $TMP/kvmbusd.log; sets KPID and
# waits up to 10 s for both sockets and for the log line that ends its
# set-up ("listening on ..."; written after the sockets, so a test that
# reads the log at once could miss it).
start_kvmbusd() {
	local i

	$WRAP "$KVMBUSD" --foreground --socket "$TMP/kvmbus.sock" \
		--ram "$TMP/vm.ram" --control "$TMP/ctl.sock" "$@" \
		>"$TMP/kvmbusd.log" 2>&1 &
	KPID=$!
	for ((i = 0; i < 100; i++)); do
		[ -S "$TMP/kvmbus.sock" ] && [ -S "$TMP/ctl.sock" ] &&
			grep -q "listening on" "$TMP/kvmbusd.log" && return 0
		sleep 0.1
	done
	fail "kvmbusd did not create its sockets"
}

# stop_kvmbusd: SIGTERM; kvmbusd must exit 0 (99: $WRAP found errors).
stop_kvmbusd() {
	local i rc

	kill -TERM "$KPID"
	for ((i = 0; i < 100; i++)); do kill -0 "$KPID" 2>/dev/null || break; sleep 0.1; done
	wait "$KPID"
	rc=$?
	KPID=
	[ "$rc" = 0 ] || fail "kvmbusd exited with $rc on SIGTERM${WRAP:+ (99: $WRAP found errors)}"
}
