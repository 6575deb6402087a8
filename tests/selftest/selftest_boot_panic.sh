# SPDX-License-Identifier: GPL-2.0-only
#
# Harness self-test: a guest that never reaches the first case (here: no
# init) fails the first case with the reason and the others as not run.
# append: rdinit=/no/such/init
# expect: first FAIL ^guest died during boot: Kernel panic - not syncing: 
# expect: second FAIL ^not run: guest died during boot$

test_first() {
	true
}

test_second() {
	true
}
