# SPDX-License-Identifier: GPL-2.0-only
#
# Harness self-test: a guest that dies before its init starts (here QEMU
# refuses the first boot's command line, as an emulator flake would end
# it) is booted once more, and a second boot that works reports the
# cases' own results: one early death fails nothing.

test_second_boot_runs() {
	hostcall booted-twice || fail "the companion did not see a first boot"
}
