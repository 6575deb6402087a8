# SPDX-License-Identifier: GPL-2.0-only
#
# The hostcall channel and the host companion, end to end: arguments with
# spaces and newlines, multi-line and binary output, exit status and stderr,
# the companion's environment, its QEMU arguments, and QMP.
# timeout: 60

# shellcheck disable=SC2016
test_args_with_spaces() {
	nl='
'
	out=$(hostcall echo "a b" "" "  leading" "tab	in" 'q"uote' "new${nl}line" '$HOME*') ||
		fail "hostcall echo failed"
	expect=$(printf '[%s]\n' "a b" "" "  leading" "tab	in" 'q"uote' "new${nl}line" '$HOME*')
	assert_eq "$out" "$expect" "arguments"
}

test_multiline_output() {
	hostcall multiline >/tmp/multiline.out || fail "hostcall multiline failed"
	printf 'line one\nline two\n\nline four, after an empty one\n' >/tmp/multiline.want
	cmp /tmp/multiline.out /tmp/multiline.want ||
		fail "output differs: $(od -c /tmp/multiline.out | head -n 5)"
}

test_binary_output() {
	got=$(hostcall binary | od -An -tx1 | tr -s ' \n' '  ')
	assert_eq "$got" " 00 01 02 0a 0d ff 65 6e 64 " "bytes"
}

test_exit_status() {
	out=$(hostcall exit 3 2>/tmp/exit.err)
	rc=$?
	assert_eq "$rc" 3 "exit status"
	assert_eq "$out" "exiting with 3" "stdout"
	assert_eq "$(cat /tmp/exit.err)" "a line on stderr" "stderr"
	hostcall exit 0 >/dev/null 2>&1 || fail "exit 0 came back as $?"
}

test_large_output() {
	want=$(seq 1 5000 | md5sum)
	got=$(hostcall seq 5000 | md5sum)
	assert_eq "$got" "$want" "md5 of 5000 lines"
}

test_command_form() {
	# /usr/bin/hostcall, for callers that are not the suite's shell.
	out=$(timeout 60 hostcall echo via-command) || fail "hostcall command failed"
	assert_eq "$out" "[via-command]"
}

test_companion_env() {
	out=$(hostcall env) || fail "hostcall env failed"
	assert_match "$out" "^kver=$(re_escape "$(uname -r)")\$" "KVMBUS_KVER"
	assert_match "$out" "^suite=hostcall_selftest\$" "KVMBUS_SUITE"
	assert_match "$out" "^ram=[0-9]+ bytes\$" "KVMBUS_RAM"
	assert_match "$out" "^started=yes\$" "start ran first"
}

test_companion_qemu_args() {
	# The companion's "start" printed "-smbios type=1,serial=...".
	assert_eq "$(cat /sys/class/dmi/id/product_serial)" "kvmbus-hostcall-selftest"
}

test_qmp() {
	out=$(hostcall qmp query-status) || fail "query-status failed: $out"
	assert_match "$out" '"status": "running"'
}
