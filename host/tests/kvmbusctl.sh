#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# kvmbusd and kvmbusctl against each other, no QEMU: start-up options
# (--device), every kvmbusctl command in human and --json form, the
# daemon's refusals (exit 1) and usage / connection errors (exit 2).
#
# Usage: tests/kvmbusctl.sh [kvmbusd] [kvmbusctl]      exit 0 = pass
#	KVMBUSD_WRAP="valgrind --error-exitcode=99 ..." runs kvmbusd under it.
set -u

NAME=kvmbusctl.sh
. "$(dirname "$0")/lib.sh" "$@"
CTL=$KVMBUSCTL
CHECKS=0

fail() {
	echo "kvmbusctl.sh: FAIL: $*"
	echo "--- last output"; cat "$TMP/out" "$TMP/err" 2>/dev/null
	echo "--- kvmbusd log"; cat "$TMP/kvmbusd.log" 2>/dev/null
	exit 1
}

# run RC CMD...: run, keep stdout/stderr in $TMP/out, $TMP/err, check RC.
run() {
	local want=$1 rc
	shift
	"$@" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	[ "$rc" = "$want" ] || fail "'$*' exited $rc, expected $want"
	CHECKS=$((CHECKS + 1))
}
out_has() { grep -qE -- "$1" "$TMP/out" || fail "stdout lacks /$1/"; }
err_has() { grep -qE -- "$1" "$TMP/err" || fail "stderr lacks /$1/"; }
# json EXPR: a python expression over the JSON on stdout (as d) is True.
json() {
	python3 -c "import json,sys; d=json.load(open('$TMP/out')); sys.exit(0 if ($1) else 1)" ||
		fail "JSON check failed: $1"
}

truncate -s 64M "$TMP/vm.ram"

# Start-up: bad --device options fail loudly with exit 2.
run 2 $WRAP "$KVMBUSD" -f -s "$TMP/k.sock" -r "$TMP/vm.ram" --device disk
err_has "--device 'disk': unknown class; known: echo balloon net scsi"
run 2 $WRAP "$KVMBUSD" -f -s "$TMP/k.sock" -r "$TMP/vm.ram" --device echo --vectors 1
err_has "needs --vectors 2 or more"
run 2 $WRAP "$KVMBUSD" -f -s "$TMP/k.sock" -r "$TMP/vm.ram" --vectors 3 --device echo,bogus=1
err_has 'echo: unknown parameter "bogus" \(known: subchannels\)'
run 2 $WRAP "$KVMBUSD" -f -s "$TMP/k.sock" -r "$TMP/vm.ram" --vectors 3 --device echo,subchannels=64
err_has "subchannels must be a number from 0 to 63"
run 2 $WRAP "$KVMBUSD" -f -s "$TMP/k.sock" -r "$TMP/vm.ram" --vectors 3 --device echo,subchannels
err_has "is not key=value"
run 0 "$KVMBUSD" --help
out_has "--device CLASS"

$WRAP "$KVMBUSD" --foreground --socket "$TMP/k.sock" --ram "$TMP/vm.ram" \
	--control "$TMP/c.sock" --vectors 3 --device echo --device echo,subchannels=2 \
	>"$TMP/kvmbusd.log" 2>&1 &
KPID=$!
for ((i = 0; i < 50; i++)); do [ -S "$TMP/c.sock" ] && break; sleep 0.1; done
[ -S "$TMP/c.sock" ] || fail "kvmbusd did not create its control socket"

run 0 "$CTL" -s "$TMP/c.sock" status
out_has "^kvmbusd:  pid $KPID$"
out_has "^QEMU:     not connected"
out_has "^guest:    idle$"
out_has "^devices:  2 of 64$"
out_has "^control:  0 packets in, 0 out; 0 malformed, 0 unsupported"
out_has "^channels: 0 open, 0 broken; 0 GPADLs of 0 pages; 0 opens, 0 refused, 0 closes$"
run 0 "$CTL" -s "$TMP/c.sock" --json status
json "d['ok'] and d['ctl']['state'] == 'idle' and d['ctl']['devices'] == 2 and d['pid'] == $KPID"

run 0 "$CTL" -s "$TMP/c.sock" devices
out_has "^ID +CLASS +RELID +VECTOR +STATE +CHANNEL +INSTANCE$"
out_has "^1 +echo +1 +1 +offered +closed +[0-9a-f-]{36}$"
out_has "^2 +echo +2 +2 +offered +closed +[0-9a-f-]{36}$"

# Two vectors for devices (3 - the control vector): the third shares.
run 0 "$CTL" -s "$TMP/c.sock" add echo
out_has "^device 3 added: echo, relid 3, vector 1, instance [0-9a-f-]{36}$"
run 0 "$CTL" -s "$TMP/c.sock" --json add echo
json "d['ok'] and d['device']['id'] == 4 and d['device']['relid'] == 4 and d['device']['vector'] == 2 and d['device']['state'] == 'offered'"
run 0 "$CTL" -s "$TMP/c.sock" --json devices
json "[x['id'] for x in d['devices']] == [1, 2, 3, 4] and len({x['instance'] for x in d['devices']}) == 4 and all(x['class_id'] == 'fe7f9a81-8463-47a7-af62-b5deede655b6' for x in d['devices'])"
json "all(x['channel']['state'] == 'closed' and x['channel']['counters']['packets_in'] == 0 for x in d['devices'])"

# echo-send needs an open channel: there is no guest.
run 1 "$CTL" -s "$TMP/c.sock" echo-send 1 10 64
err_has "^kvmbusctl: kvmbusd: device 1 has no open channel$"
run 1 "$CTL" -s "$TMP/c.sock" echo-send 99 10 64
err_has "no device 99"
run 2 "$CTL" -s "$TMP/c.sock" echo-send 1 10
err_has "takes a device id, a count and a size"
run 2 "$CTL" -s "$TMP/c.sock" echo-send 1 0 64
err_has "count '0'"
run 2 "$CTL" -s "$TMP/c.sock" echo-send 1 1 2000000
err_has "size '2000000'"

# No guest: removal is immediate, and the relid is free again.
run 0 "$CTL" -s "$TMP/c.sock" remove 2
out_has "^device 2 removed$"
run 1 "$CTL" -s "$TMP/c.sock" remove 2
err_has "^kvmbusctl: kvmbusd: no device 2$"
run 1 "$CTL" -s "$TMP/c.sock" --json remove 2
json "not d['ok'] and d['error'] == 'no device 2'"
run 0 "$CTL" -s "$TMP/c.sock" add echo
out_has "^device 5 added: echo, relid 2, vector 2"
run 1 "$CTL" -s "$TMP/c.sock" add disk
err_has "unknown device class \"disk\""
KVMBUS_CONTROL="$TMP/c.sock" run 0 "$CTL" devices
out_has "^5 +echo +2 +2 +offered +closed"

# Usage and connection errors: exit 2 with a reason.
run 2 "$CTL" -s "$TMP/c.sock"
err_has "no command"
run 2 "$CTL" status
err_has "no control socket"
run 2 "$CTL" -s "$TMP/c.sock" frobnicate
err_has "unknown command 'frobnicate'"
run 2 "$CTL" -s "$TMP/c.sock" remove
run 2 "$CTL" -s "$TMP/c.sock" remove abc
err_has "not a number"
run 2 "$CTL" -s "$TMP/c.sock" remove -1
run 2 "$CTL" -s "$TMP/c.sock" remove 0
run 2 "$CTL" -s "$TMP/c.sock" add
run 2 "$CTL" -s "$TMP/c.sock" status extra
run 2 "$CTL" -s "$TMP/c.sock" --bogus status
run 2 "$CTL" -s "$TMP/missing.sock" status
err_has "cannot connect to .*missing.sock: No such file or directory"
run 0 "$CTL" --help
out_has "^Usage: kvmbusctl"

# Class parameters: add with them, unknown ones refused; set.
run 0 "$CTL" -s "$TMP/c.sock" --json add echo subchannels=5
json "d['device']['max_subchannels'] == 5 and d['device']['params'] == {'subchannels': 5} and d['device']['offer_data_len'] == 8"
run 1 "$CTL" -s "$TMP/c.sock" add echo queues=4
err_has 'echo: unknown parameter "queues"'
run 2 "$CTL" -s "$TMP/c.sock" add echo subchannels
err_has "is not key=value"
run 2 "$CTL" -s "$TMP/c.sock" add echo a=1 a=2
err_has "given twice"
run 1 "$CTL" -s "$TMP/c.sock" set 1 subchannels=1
err_has "class echo has no run-time settings"
run 2 "$CTL" -s "$TMP/c.sock" set 1
run 1 "$CTL" -s "$TMP/c.sock" set 999 a=b
err_has "no device 999"
# The device list shows each device's channels.
run 0 "$CTL" -s "$TMP/c.sock" --json devices
json "all(len(x['channels']) == 1 + x['subchannels'] and x['channels'][0]['sub_index'] == 0 and x['channels'][0]['relid'] == x['relid'] for x in d['devices'])"
run 0 "$CTL" -s "$TMP/c.sock" devices
out_has "^ +sub 0 +relid 1 +vector 1 "
run 1 "$CTL" -s "$TMP/c.sock" echo-send 1 1 1 3
err_has "has no sub-channel 3"

# Many devices: the 64th fits, the 65th is refused with a reason.
for ((i = 0; i < 59; i++)); do "$CTL" -s "$TMP/c.sock" add echo >/dev/null || fail "add $i"; done
run 1 "$CTL" -s "$TMP/c.sock" add echo
err_has "no room: 64 devices"
run 0 "$CTL" -s "$TMP/c.sock" status
out_has "^devices:  64 of 64$"

stop_kvmbusd
run 2 "$CTL" -s "$TMP/c.sock" status
err_has "cannot connect"
echo "kvmbusctl.sh: PASS ($CHECKS commands checked${WRAP:+, kvmbusd under ${WRAP%% *}})"
