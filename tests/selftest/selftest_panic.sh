# SPDX-License-Identifier: GPL-2.0-only
#
# Harness self-test: a hung task is caught by the dmesg rule; a kernel panic
# ends the boot at once (panic=-1, -no-reboot), the case that ran fails with
# the panic message, the cases after it fail as not run.
# timeout: 30
# expect: before PASS
# expect: hung_task FAIL ^dmesg: INFO: task .* blocked for more than
# expect: panic FAIL ^guest died during selftest_panic\.panic: Kernel panic - not syncing: sysrq triggered crash
# expect: after FAIL ^not run: guest died during selftest_panic\.panic$

test_before() {
	true
}

test_hung_task() {
	# A task in D state for longer than the hung task timeout: a writer on
	# a frozen ext4.  The timeout is lowered for this case only.
	old=$(cat /proc/sys/kernel/hung_task_timeout_secs)
	echo 1 >/proc/sys/kernel/hung_task_check_interval_secs
	echo 2 >/proc/sys/kernel/hung_task_timeout_secs
	modprobe loop
	modprobe ext4
	truncate -s 32M /tmp/frozen.img
	mkfs.ext4 -q -F /tmp/frozen.img
	mkdir -p /mnt/frozen
	mount -t ext4 -o loop /tmp/frozen.img /mnt/frozen || fail "mount failed"
	fsfreeze --freeze /mnt/frozen || fail "fsfreeze failed"
	echo data >/mnt/frozen/file &
	wait_for 20 sh -c 'dmesg | grep -q "blocked for more than"'
	fsfreeze --unfreeze /mnt/frozen
	wait
	umount /mnt/frozen
	echo "$old" >/proc/sys/kernel/hung_task_timeout_secs
	echo 5 >/proc/sys/kernel/hung_task_check_interval_secs
}

test_panic() {
	echo 1 >/proc/sys/kernel/sysrq
	echo c >/proc/sysrq-trigger
	sleep 30
}

test_after() {
	true
}
