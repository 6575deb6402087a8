# SPDX-License-Identifier: GPL-2.0-only
#
# Harness self-test: slab_check (tests/guest/lib.sh), the unload suite's
# leak check, passes a module that leaks nothing and fails one that leaks
# 8 objects per load, over as many rounds as tests/guest/unload.sh counts.
# Needs the test modules (make guest-modules).  Not for the debug kernel,
# where slab_check defers to kmemleak (KASAN's quarantine).
# timeout: 300
# append: slub_debug=U,kmalloc-*
# expect: clean PASS
# expect: leak FAIL ^the slab grew by [0-9]+ bytes over 49 rounds

rounds() {
	modprobe kvmbus_buggy "$@" || fail "modprobe kvmbus_buggy $* failed (make guest-modules?)"
	rmmod kvmbus_buggy
	sleep 1
	slab_snapshot /tmp/slab.before
	i=2
	while [ $i -le 50 ]; do
		modprobe kvmbus_buggy "$@" || fail "modprobe kvmbus_buggy $* failed"
		rmmod kvmbus_buggy || fail "rmmod kvmbus_buggy failed"
		i=$((i + 1))
	done
	sleep 1
	slab_snapshot /tmp/slab.after
	slab_check /tmp/slab.before /tmp/slab.after 49
}

test_clean() {
	rounds bug=none
}

test_leak() {
	# (On the debug kernel the runner's kmemleak scan adds its own
	# report of these objects to the reason, after this one.)
	rounds bug=leak count=8
}
