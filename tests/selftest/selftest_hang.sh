# SPDX-License-Identifier: GPL-2.0-only
#
# Harness self-test: a guest that stops answering is caught by the host-side
# time limit; QEMU is killed and the cases without a result fail.
# timeout: 5
# expect: freeze FAIL ^timed out during selftest_hang\.freeze: no result
# expect: after FAIL ^not run: timed out during selftest_hang\.freeze$

test_freeze() {
	# Stop every other process, the case's watchdog included; PID 1 waits
	# for this case forever.
	kill -s STOP -1
	sleep 1000
}

test_after() {
	true
}
