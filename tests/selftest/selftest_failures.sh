# SPDX-License-Identifier: GPL-2.0-only
#
# Harness self-test (tests/run --self-test): every case here must be reported
# exactly as its "# expect:" line says; most of them are meant to fail.
# timeout: 8
# expect: pass PASS
# expect: return_1 FAIL ^returned 1$
# expect: fail_message FAIL ^deliberate failure$
# expect: assert_eq FAIL ^assert_eq: expected 'two', got 'one'$
# expect: assert_match FAIL ^which: 'abc' does not match /\^x/$
# expect: fail_in_subshell FAIL ^from a subshell$
# expect: skip SKIP ^not applicable here$
# expect: warning FAIL ^dmesg: WARNING: kvmbus harness self-test
# expect: warning_after_pass FAIL ^deliberate; dmesg: BUG: kvmbus harness self-test
# expect: hang FAIL ^timed out after 8 s$
# expect: after_hang PASS
# expect: no_companion PASS
# expect: storm_start PASS
# expect: storm_1 PASS
# expect: storm_2 PASS
# expect: storm_3 PASS
# expect: storm_4 PASS
# expect: storm_5 PASS
# expect: storm_6 PASS
# expect: storm_7 PASS
# expect: storm_8 PASS
# expect: storm_9 PASS
# expect: storm_10 PASS
# expect: storm_end PASS

test_pass() {
	log "nothing to see"
}

test_return_1() {
	return 1
}

test_fail_message() {
	fail "deliberate failure"
	echo "not reached"
}

test_assert_eq() {
	assert_eq one two
}

test_assert_match() {
	assert_match abc '^x' which
}

test_fail_in_subshell() {
	(fail "from a subshell")
	return 0
}

test_skip() {
	skip "not applicable here"
}

test_warning() {
	echo "<4>WARNING: kvmbus harness self-test (deliberate)" >/dev/kmsg
}

test_warning_after_pass() {
	echo "<4>BUG: kvmbus harness self-test (deliberate)" >/dev/kmsg
	fail "deliberate"
}

test_hang() {
	# A background child too: the time limit must take the whole case down.
	sleep 1000 &
	echo $! >/tmp/hang.child
	sleep 1000
}

test_after_hang() {
	[ -s /tmp/hang.child ] || fail "the hang case did not record its child"
	! kill -0 "$(cat /tmp/hang.child)" 2>/dev/null ||
		fail "the hang case's child survived its time limit"
}

test_no_companion() {
	out=$(hostcall anything 2>&1)
	assert_eq "$?" 127 "status without a host companion"
	assert_match "$out" "has no host companion" "message"
}

# A storm of SIGCHLD at PID 1 (the runner) while cases start and end:
# every START and RESULT line must still reach the host.  Orphans that
# exit send PID 1 the same signal; before _kt_put retried, busybox ash
# lost a control line to EINTR now and then, and most of them here.
test_storm_start() {
	setsid sh -c 'while :; do kill -s CHLD 1; done' </dev/null >/dev/null 2>&1 &
	echo $! >/tmp/storm.pid
	sleep 1
}

test_storm_1() { :; }
test_storm_2() { :; }
test_storm_3() { :; }
test_storm_4() { :; }
test_storm_5() { :; }
test_storm_6() { :; }
test_storm_7() { :; }
test_storm_8() { :; }
test_storm_9() { :; }
test_storm_10() { :; }

test_storm_end() {
	kill "$(cat /tmp/storm.pid)" || fail "the SIGCHLD storm was not running"
}
