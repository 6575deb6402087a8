# SPDX-License-Identifier: GPL-2.0-only
#
# Harness self-test: a guest that never reaches the first case (here: no
# init) fails the first case with the reason and the others as not run.
# A guest that dies before its init starts is booted a second time (an
# emulator's early-boot flake must not fail a suite), and the reason says
# what the first boot died of.
# append: rdinit=/no/such/init
# expect: first FAIL ^guest died during boot: Kernel panic - not syncing: .*\(booted twice; the first boot: guest died during boot: Kernel panic - not syncing: 
# expect: second FAIL ^not run: guest died during boot$

test_first() {
	true
}

test_second() {
	true
}
