# SPDX-License-Identifier: GPL-2.0-only
#
# Harness self-test: '# netns: yes' runs QEMU in a network namespace of the
# run's own (KVMBUS_NETNS), so the TAP QEMU opens lives there and nowhere
# else; the guest reaches an address inside it and the harness deletes the
# namespace afterwards (the self-test checks nothing is left behind).
# netns: yes
# qemu: -netdev tap,id=n0,ifname=kst0,script=no,downscript=no
# qemu: -device e1000,netdev=n0,mac=52:54:00:4b:53:01

test_tap_in_netns() {
	hostcall where || fail "the TAP is not where it should be"
	modprobe e1000 || fail "modprobe e1000 failed"
	wait_for 10 sh -c 'grep -qx 52:54:00:4b:53:01 /sys/class/net/*/address' ||
		fail "no NIC with the MAC given to QEMU"
	for d in /sys/class/net/*; do
		[ "$(cat "$d/address")" = 52:54:00:4b:53:01 ] && ifc=${d##*/}
	done
	ip addr add 10.211.0.2/24 dev "$ifc" && ip link set "$ifc" up ||
		fail "could not configure $ifc"
	wait_for 20 ping -c 1 -W 1 10.211.0.1 >/dev/null ||
		fail "10.211.0.1 (kst0 in the namespace) does not answer"
}
