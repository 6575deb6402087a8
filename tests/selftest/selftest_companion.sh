# SPDX-License-Identifier: GPL-2.0-only
#
# Harness self-test: a host companion whose "start" fails fails every case
# without booting; "stop" still runs, and its failure is reported too.
# expect: never_runs FAIL ^host companion start exited with status 3: deliberate start failure$
# expect: host_stop FAIL ^selftest_companion\.host stop exited with status 4: stop ran$

test_never_runs() {
	true
}
