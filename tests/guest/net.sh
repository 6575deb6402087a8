# SPDX-License-Identifier: GPL-2.0-only
#
# The synthetic NIC end to end (docs/protocol.md 7.2): kvmbus_netvsc.ko in
# the guest, kvmbusd's network provider on a multiqueue vnet-hdr TAP in a
# network namespace the companion (net.host) creates; the TAP's side is
# 10.99.0.1, the guest 10.99.0.2.  Transfers are short: TCG is slow, and
# nothing here measures speed.
# timeout: 120

NET_CLASS=a43b08b3-d575-4c86-9d80-cadfd8b870c2
PEER=10.99.0.1

# The netdev kvmbus_netvsc made, if any.
nic() {
	for n in /sys/class/net/*; do
		[ "$(basename "$(readlink "$n/device/driver" 2>/dev/null)")" = \
			kvmbus_netvsc ] && { basename "$n"; return 0; }
	done
	return 1
}

has_nic() {
	nic >/dev/null
}

# Load the drivers (cases also run alone) and wait for the netdev.
load() {
	modprobe kvmbus || fail "modprobe kvmbus failed"
	modprobe kvmbus_netvsc || fail "modprobe kvmbus_netvsc failed"
	wait_for 20 has_nic || fail "no netdev for the NIC offer"
}

up() {
	load
	dev=$(nic)
	ip link set "$dev" up
	ip addr show dev "$dev" | grep -q 10.99.0.2 ||
		ip addr add 10.99.0.2/24 dev "$dev"
}

stat_of() {
	ethtool -S "$(nic)" | sed -n "s/^ *$1: *//p"
}

test_probe() {
	load
	dev=$(nic)
	assert_eq "$(ethtool -i "$dev" | sed -n 's/^driver: //p')" kvmbus_netvsc "driver"
	ip link set "$dev" up
	wait_for 5 grep -q 1 "/sys/class/net/$dev/carrier" || fail "no carrier"
}

test_ping() {
	up
	ping -c 3 -W 5 "$PEER" >/tmp/ping.out 2>&1 ||
		fail "ping $PEER: $(tail -n 2 /tmp/ping.out)"
}

test_ping_jumbo() {
	up
	dev=$(nic)
	ip link set "$dev" mtu 9000 || fail "MTU 9000 refused"
	hostcall ns ip link set kvmbus0 mtu 9000 || fail "host MTU"
	ping -c 3 -W 5 -s 8972 "$PEER" >/tmp/ping.out 2>&1 ||
		fail "9000-byte ping: $(tail -n 2 /tmp/ping.out)"
	ip link set "$dev" mtu 1500
	hostcall ns ip link set kvmbus0 mtu 1500
	ping -c 1 -W 5 "$PEER" >/dev/null 2>&1 || fail "ping after MTU 1500"
}

test_mtu_limits() {
	load
	dev=$(nic)
	ip link set "$dev" mtu 67 2>/dev/null && fail "MTU 67 accepted"
	ip link set "$dev" mtu 65522 2>/dev/null && fail "MTU 65522 accepted"
	ip link set "$dev" mtu 68 || fail "MTU 68 refused"
	ip link set "$dev" mtu 65521 || fail "MTU 65521 refused"
	ip link set "$dev" mtu 1500
}

# iperf3's receiver line: "... N Mbits/sec ... receiver"
rate() {
	sed -n 's/.* \([0-9.]* [KMG]bits\/sec\).*receiver$/\1/p' "$1" | tail -n 1
}

test_tcp_both_ways() {
	up
	hostcall iperf3-server || fail "iperf3 server did not start"
	iperf3 -c "$PEER" -t 3 >/tmp/tx.out 2>&1 ||
		fail "iperf3 guest->host: $(tail -n 3 /tmp/tx.out)"
	iperf3 -c "$PEER" -t 3 -R >/tmp/rx.out 2>&1 ||
		fail "iperf3 host->guest: $(tail -n 3 /tmp/rx.out)"
	[ -n "$(rate /tmp/tx.out)" ] || fail "no TX result: $(tail -n 3 /tmp/tx.out)"
	[ -n "$(rate /tmp/rx.out)" ] || fail "no RX result: $(tail -n 3 /tmp/rx.out)"
	log "guest->host $(rate /tmp/tx.out), host->guest $(rate /tmp/rx.out) (TCG: not a benchmark)"
	[ "$(stat_of tx_queue_0_gpa)" -gt 0 ] || fail "no frame went in place (TSO)"
	[ "$(stat_of rx_queue_0_gso)" -gt 0 ] || fail "no segment larger than the MTU arrived"
}

test_udp() {
	up
	hostcall iperf3-server || fail "iperf3 server did not start"
	iperf3 -c "$PEER" -u -b 20M -t 2 -J >/tmp/udp.json 2>&1 ||
		fail "iperf3 UDP: $(tail -n 3 /tmp/udp.json)"
}

test_mac_change() {
	up
	dev=$(nic)
	ip link set "$dev" address 02:11:22:33:44:55 || fail "MAC change refused"
	ping -c 2 -W 5 "$PEER" >/dev/null 2>&1 || fail "ping after MAC change"
	hostcall ns ip neigh show 10.99.0.2 | grep -q 02:11:22:33:44:55 ||
		fail "the host does not see the new MAC"
}

test_ethtool() {
	up
	ping -c 1 -W 5 "$PEER" >/dev/null 2>&1 || fail "ping"
	dev=$(nic)
	ethtool -l "$dev" | grep -q 'Combined:' || fail "ethtool -l"
	ethtool -g "$dev" | grep -q 'RX:' || fail "ethtool -g"
	ethtool "$dev" | grep -q 'Link detected: yes' || fail "ethtool link"
	[ "$(stat_of rx_queue_0_packets)" -gt 0 ] || fail "no per-queue RX count"
	[ "$(stat_of tx_queue_0_packets)" -gt 0 ] || fail "no per-queue TX count"
}

test_rmmod_under_load() {
	up
	hostcall iperf3-server || fail "iperf3 server did not start"
	iperf3 -c "$PEER" -t 20 >/dev/null 2>&1 &
	load=$!
	sleep 3
	rmmod kvmbus_netvsc || fail "rmmod under load failed"
	# Its connection lost its route: the client would wait for minutes.
	kill $load 2>/dev/null
	wait $load
	has_nic && fail "netdev still there after rmmod"
	modprobe kvmbus_netvsc || fail "reload failed"
	wait_for 20 has_nic || fail "no netdev after reload"
	up
	ping -c 2 -W 5 "$PEER" >/dev/null 2>&1 || fail "ping after reload"
}
