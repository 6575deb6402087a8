# SPDX-License-Identifier: GPL-2.0-only
#
# make bench-net: the same guest measures every NIC of the comparison in
# one boot.  Each NIC sits on its own TAP in the run's network namespace,
# with its own /24 (10.200.N.0), an iperf3 and a sockperf server on the
# host's end.  The host companion (net.host -> companion) sets the devices
# up from the plug-ins in net.d/ and stores every raw result; the driver
# (tests/bench/bench) turns them into the table, JSON and chart.  Cases
# never assert timings: a case fails only when a measurement could not be
# made at all.
# netns: yes
# memory: 1G
# smp: 2
# timeout: 600
# boot-timeout: 120

# shellcheck disable=SC2154  # bench_*: set by bench_config
. /tests/bench.lib.sh

# nic_of MAC DRIVER: the interface with that address, or else the one
# bound to that driver (a backend that chooses the MAC itself)
nic_of() {
	for d in /sys/class/net/*; do
		[ "$(cat "$d/address" 2>/dev/null)" = "$1" ] && { echo "${d##*/}"; return 0; }
	done
	[ -n "$2" ] || return 1
	for d in /sys/class/net/*; do
		[ "$(basename "$(readlink "$d/device/driver")")" = "$2" ] &&
			{ echo "${d##*/}"; return 0; }
	done
	return 1
}

# Every test of one device, once (a round); the variables are bench_nic's.
net_tests() {
	# shellcheck disable=SC2086
	{
		bench_test tcp_tx_1 "$sysdev" $ip3
		bench_test tcp_tx_4 "$sysdev" $ip3 -P 4
		bench_test tcp_rx_1 "$sysdev" $ip3 -R
		bench_test tcp_rx_4 "$sysdev" $ip3 -R -P 4
		bench_test udp_tx_64 "$sysdev" $ip3 -u -l 64 -b 0
		bench_test udp_rx_64 "$sysdev" $ip3 -u -l 64 -b 0 -R
		bench_test latency "$sysdev" sockperf ping-pong -i "$bench_host_ip" \
			-p "$bench_sockperf_port" -t "$t"
	}
}

bench_nic() {
	bench_config "$1" || return 1
	ifc=
	wait_for 20 nic_of "$bench_mac" "$bench_driver" >/dev/null ||
		fail "$bench_label: no interface with MAC $bench_mac${bench_driver:+ or driver $bench_driver} appeared"
	ifc=$(nic_of "$bench_mac" "$bench_driver")
	ip addr add "$bench_guest_ip/24" dev "$ifc" && ip link set "$ifc" up ||
		fail "$bench_label: could not configure $ifc"
	wait_for 30 ping -c 1 -W 1 "$bench_host_ip" >/dev/null ||
		fail "$bench_label: $bench_host_ip does not answer on $ifc"
	log "$bench_label is $ifc ($(ethtool -i "$ifc" 2>/dev/null | sed -n 's/^driver: //p')), host at $bench_host_ip"
	hostcall note "$bench_label: $ifc up, measuring ($bench_seconds s per test)"
	t=$bench_seconds
	omit=1
	[ "$bench_quick" = 1 ] && omit=0
	sysdev=/sys/class/net/$ifc/device
	ip3="iperf3 -c $bench_host_ip -p $bench_iperf_port -t $t -O $omit -i 0 -J"
	bench_run_rounds net_tests
	ip link set "$ifc" down
	bench_done
}

test_e1000() {
	bench_nic e1000
}

test_virtio_net() {
	bench_nic virtio_net
}

test_kvmbus_netvsc() {
	bench_nic kvmbus_netvsc
}
