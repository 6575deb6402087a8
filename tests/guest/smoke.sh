# SPDX-License-Identifier: GPL-2.0-only
#
# Smoke test of the guest environment the harness builds: the right kernel
# booted, the command line arrived, stock and project modules load, and the
# host tools copied into the initramfs run (their libraries are all there).
# timeout: 60

test_boot() {
	assert_eq "$(uname -r)" "$KVMTEST_KVER" "booted kernel"
	[ -d "/lib/modules/$KVMTEST_KVER" ] || fail "no /lib/modules/$KVMTEST_KVER"
	for fs in proc sysfs devtmpfs debugfs; do
		grep -q " $fs " /proc/mounts || fail "$fs is not mounted"
	done
	ip -o link show lo | grep -q 'UP' || fail "loopback is down"
	log "kernel $(uname -r), $(nproc) CPUs, $(grep MemTotal /proc/meminfo)"
}

test_cmdline() {
	cmdline=$(cat /proc/cmdline)
	assert_match "$cmdline" "(^| )console=ttyS0" "console"
	assert_match "$cmdline" "(^| )panic=-1( |$)" "panic"
	assert_match "$cmdline" "(^| )kvmtest.suite=smoke( |$)" "suite"
	assert_match "$cmdline" "(^| )kvmtest.cases=[a-z0-9_,]*cmdline" "cases"
	assert_eq "$(cat /proc/sys/kernel/hung_task_timeout_secs)" 20 "hung task timeout"
}

test_stock_module() {
	# The debug kernel builds every driver in: no stock module to load.
	grep -q '/e1000\.ko' "/lib/modules/$KVMTEST_KVER/modules.builtin" 2>/dev/null &&
		skip "e1000 is built into $KVMTEST_KVER: it has no stock modules"
	modprobe e1000 || fail "modprobe e1000 failed"
	grep -q '^e1000 ' /proc/modules || fail "e1000 not in /proc/modules"
	vermagic=$(modinfo -F vermagic e1000) || fail "modinfo e1000 failed"
	assert_match "$vermagic" "^$(re_escape "$KVMTEST_KVER") " "e1000 vermagic"
	rmmod e1000 || fail "rmmod e1000 failed"
	# Built in on some kernels, a module on others: modprobe succeeds either way.
	modprobe virtio_net || fail "modprobe virtio_net failed"
	# Dependencies resolve (8021q needs garp, mrp, stp, llc).
	modprobe 8021q || fail "modprobe 8021q failed"
	grep -q '^garp ' /proc/modules || fail "8021q's dependency garp not loaded"
	modprobe -r 8021q || fail "modprobe -r 8021q failed"
}

test_project_modules() {
	extra=/lib/modules/$KVMTEST_KVER/extra
	set -- "$extra"/*.ko
	[ -e "$1" ] || skip "booted without the project modules (--no-modules)"
	for ko in "$@"; do
		name=$(basename "$ko" .ko)
		vermagic=$(modinfo -F vermagic "$name") || fail "modinfo $name failed"
		assert_match "$vermagic" "^$(re_escape "$KVMTEST_KVER") " "$name vermagic"
	done
	log "project modules: $(cd "$extra" && echo *.ko)"
}

test_tools() {
	for cmd in "iperf3 --version" "fio --version" "ethtool --version" \
		"mkfs.ext4 -V" "e2fsck -V" "stress-ng --version" "ip -V" \
		"sg_inq --version" "modinfo --version" "busybox true"; do
		$cmd >/dev/null 2>&1 || fail "'$cmd' does not run: $($cmd 2>&1 | head -n 1)"
	done
}

test_ext4_on_loop() {
	modprobe loop 2>/dev/null
	truncate -s 64M /tmp/ext4.img
	mkfs.ext4 -q -F /tmp/ext4.img || fail "mkfs.ext4 failed"
	mkdir -p /mnt/ext4
	mount -o loop -t ext4 /tmp/ext4.img /mnt/ext4 || fail "mount ext4 failed"
	echo kvmbus >/mnt/ext4/file
	umount /mnt/ext4 || fail "umount failed"
	e2fsck -f -n /tmp/ext4.img >/dev/null 2>&1 || fail "e2fsck found errors"
	rm -f /tmp/ext4.img
}

test_iperf3_loopback() {
	iperf3 -s -1 -B 127.0.0.1 -p 5201 >/dev/null 2>&1 &
	wait_for 10 sh -c 'netstat -ltn 2>/dev/null | grep -q ":5201 "' ||
		fail "iperf3 server did not start"
	out=$(iperf3 -c 127.0.0.1 -p 5201 -t 1 -f m 2>&1) || fail "iperf3 client failed: $out"
	log "$(echo "$out" | grep receiver)"
}
