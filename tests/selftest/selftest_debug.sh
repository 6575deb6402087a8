# SPDX-License-Identifier: GPL-2.0-only
#
# Harness self-test on the debug kernel (scripts/debug-kernel.sh): a
# deliberate bug of each kind in a test module (tests/kmod/buggy.c) fails
# the case with the checker's report, and a clean load passes (it is the
# first case, so it also proves the debug kernel's boot messages do not
# trip the dmesg rule).  The leak is the last case: the runner's final
# kmemleak scan, which waits for young objects, must find it after rmmod.
# Needs the test modules (make guest-modules).
# kernels: debug
# timeout: 60
# expect: clean PASS
# expect: lock FAIL ^dmesg: WARNING: possible circular locking dependency detected
# expect: sleep FAIL ^dmesg: BUG: sleeping function called from invalid context
# expect: odebug FAIL ^dmesg: ODEBUG: free active .*object type: timer_list
# expect: uaf FAIL ^dmesg: BUG: KASAN: [a-z-]*use-after-free in buggy_read
# expect: leak FAIL ^kmemleak: unreferenced object 0x[0-9a-f]+ \(size [0-9]+\), allocated by 0xffffffff

buggy() {
	modprobe kvmbus_buggy "$@" || fail "modprobe kvmbus_buggy $* failed (make guest-modules?)"
	rmmod kvmbus_buggy || fail "rmmod kvmbus_buggy failed"
}

test_clean() {
	buggy bug=none
}

test_lock() {
	buggy bug=lock
}

test_sleep() {
	buggy bug=sleep
}

test_odebug() {
	buggy bug=odebug
}

# After lock, sleep and odebug: a KASAN report turns lockdep off.
test_uaf() {
	buggy bug=uaf
}

test_leak() {
	buggy bug=leak count=2
}
