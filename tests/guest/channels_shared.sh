# Channels sharing one vector (docs/usage.md, "Shared vectors"): kvmbusd
# serves two vectors, so both echo devices get vector 1, and the CPU
# binding belongs to the vector.
# timeout: 60

ECHO_CLASS=fe7f9a81-8463-47a7-af62-b5deede655b6

channels() {
	for d in /sys/bus/kvmbus/devices/*; do
		[ "$(cat "$d/class_id" 2>/dev/null)" = "$ECHO_CLASS" ] &&
			echo "$d/channels/$(cat "$d/relid")"
	done
}

open_channels() {
	[ "$(channels | while read -r c; do [ -d "$c" ] && echo "$c"; done | wc -l)" = 2 ]
}

test_shared_vector_moves_together() {
	modprobe kvmbus || fail "modprobe kvmbus failed"
	modprobe kvmbus_echo || fail "modprobe kvmbus_echo failed"
	wait_for 10 open_channels || fail "the two echo channels did not open"
	a=$(channels | head -n 1)
	b=$(channels | tail -n 1)
	assert_eq "$(cat "$a/vector")" 1 "vector of the first channel"
	assert_eq "$(cat "$b/vector")" 1 "vector of the second channel"
	assert_eq "$(cat "$a/irq")" "$(cat "$b/irq")" "one interrupt"
	assert_match "$(grep "^ *$(cat "$a/irq"):" /proc/interrupts)" \
		"kvmbus-ch[0-9]+, kvmbus-ch[0-9]+\$" "both handlers on the irq"
	assert_eq "$(cat "$a/cpu")" "$(cat "$b/cpu")" "one CPU"
	for cpu in 1 0; do
		echo "$cpu" >"$a/cpu" || fail "writing $cpu failed"
		assert_eq "$(cat "$b/cpu")" "$cpu" "the other channel moved along"
		assert_eq "$(cat "/proc/irq/$(cat "$a/irq")/smp_affinity_list")" \
			"$cpu" "smp_affinity_list"
	done
	# Traffic on both still flows, each handler looking at its ring.
	for d in /sys/bus/kvmbus/devices/*; do
		[ -e "$d/run" ] || continue
		echo "inband 500 200" >"$d/run" || fail "$(basename "$d"): $(cat "$d/run")"
	done
}

test_close_one_keeps_other() {
	modprobe kvmbus || fail "modprobe kvmbus failed"
	modprobe kvmbus_echo || fail "modprobe kvmbus_echo failed"
	wait_for 10 open_channels || fail "the two echo channels did not open"
	a=$(channels | head -n 1)
	b=$(channels | tail -n 1)
	echo 1 >"$a/cpu" || fail "writing 1 failed"
	# Unbind the first device's driver: its channel closes, the vector
	# stays bound for the other.
	dev=$(basename "$(dirname "$(dirname "$a")")")
	echo "$dev" >/sys/bus/kvmbus/drivers/kvmbus_echo/unbind ||
		fail "unbind failed"
	[ -e "$a" ] && fail "closed channel still in sysfs"
	assert_eq "$(cat "$b/cpu")" 1 "cpu of the remaining channel"
	echo "$dev" >/sys/bus/kvmbus/drivers/kvmbus_echo/bind || fail "bind failed"
	wait_for 10 open_channels || fail "channel did not reopen"
	assert_match "$(cat "$a/cpu")" '^[01]$' "cpu of the reopened channel"
	assert_eq "$(cat "$a/cpu")" "$(cat "$b/cpu")" "still one CPU for the vector"
}
