# Channels in sysfs and their CPUs (docs/usage.md, "Channels in sysfs"):
# kvmbus_echo.ko opens the channels of kvmbusd's two echo devices (64 KiB
# rings); the cases read /sys/bus/kvmbus/devices/*/channels/<relid>/,
# drive traffic, move interrupts between the guest's two CPUs and take a
# CPU away under them.
# timeout: 90

ECHO_CLASS=fe7f9a81-8463-47a7-af62-b5deede655b6

echo_devices() {
	for d in /sys/bus/kvmbus/devices/*; do
		[ "$(cat "$d/class_id" 2>/dev/null)" = "$ECHO_CLASS" ] && echo "$d"
	done
}

# The channel directory of device $1.
chan_dir() {
	echo "$1/channels/$(cat "$1/relid")"
}

channels() {
	for d in $(echo_devices); do chan_dir "$d"; done
}

has_channel() {
	[ -d "$(chan_dir "$1")" ]
}

setup() {
	modprobe kvmbus || fail "modprobe kvmbus failed"
	modprobe kvmbus_echo || fail "modprobe kvmbus_echo failed"
	n=0
	for d in $(echo_devices); do
		wait_for 10 has_channel "$d" ||
			fail "$(basename "$d"): no channel directory"
		n=$((n + 1))
	done
	assert_eq "$n" 2 "echo devices with a channel"
}

run() {
	if ! echo "$2" >"$1/run" 2>/dev/null; then
		fail "$(basename "$1"): '$2': $(cat "$1/run")"
	fi
}

# Interrupts of irq $1 on CPU $2, from /proc/interrupts.
irq_count() {
	awk -v irq="$1:" -v col="$2" '$1 == irq { print $(col + 2) }' /proc/interrupts
}

# kvmbusd's admin id of the device with relid $1
host_id() {
	hostcall kvmbusctl --json devices |
		sed -n "s/.*\"id\": *\([0-9]*\)[^}]*\"relid\": *$1[,} ].*/\1/p"
}

test_values() {
	setup
	[ "$(cat /sys/devices/system/cpu/online)" = 0-1 ] ||
		skip "needs CPUs 0-1 online, have $(cat /sys/devices/system/cpu/online)"
	for d in $(echo_devices); do
		c=$(chan_dir "$d")
		assert_eq "$(cat "$c/relid")" "$(cat "$d/relid")" "relid"
		assert_eq "$(cat "$c/sub_index")" 0 "sub_index"
		assert_eq "$(cat "$c/state")" open "state"
		v=$(cat "$c/vector")
		[ "$v" -ge 1 ] && [ "$v" -lt 64 ] || fail "vector $v"
		irq=$(cat "$c/irq")
		assert_match "$(grep "^ *$irq:" /proc/interrupts)" \
			"kvmbus-ch$(cat "$c/relid")\$" "irq $irq in /proc/interrupts"
		assert_match "$(cat "$c/cpu")" '^[01]$' "cpu"
		[ "$(cat "$c/gpadl")" -ge 1 ] || fail "gpadl $(cat "$c/gpadl")"
		for r in out in; do
			assert_eq "$(cat "$c/$r/size")" 65536 "$r/size"
			assert_eq "$(cat "$c/$r/features")" 0x1 "$r/features"
			for f in write_index read_index; do
				i=$(cat "$c/$r/$f")
				[ "$i" -lt 65536 ] && [ $((i % 8)) -eq 0 ] ||
					fail "$r/$f $i"
			done
			assert_match "$(cat "$c/$r/used")" '^[0-9]+$' "$r/used"
			assert_eq "$(cat "$c/$r/pending_send_size")" 0 "$r/pending_send_size"
		done
		# Idle: the guest drained what the host sent and takes interrupts.
		assert_eq "$(cat "$c/in/used")" 0 "in/used"
		assert_eq "$(cat "$c/in/interrupt_mask")" 0 "in/interrupt_mask"
	done
}

test_spread() {
	setup
	cpus=$(for c in $(channels); do cat "$c/cpu"; done | sort | tr '\n' ' ')
	assert_eq "$cpus" "0 1 " "CPUs of the two channels"
}

test_traffic_moves_counters() {
	setup
	d=$(echo_devices | head -n 1)
	c=$(chan_dir "$d")
	owr=$(cat "$c/out/write_index")
	ird=$(cat "$c/in/read_index")
	irqs=$(cat "$c/interrupts")
	sigs=$(cat "$c/signals")
	# 100 x 1000 bytes: 104000 ring bytes each way, not a multiple of 64 KiB
	run "$d" "inband 100 1000"
	[ "$(cat "$c/out/write_index")" != "$owr" ] || fail "out/write_index did not move"
	[ "$(cat "$c/in/read_index")" != "$ird" ] || fail "in/read_index did not move"
	assert_eq "$(cat "$c/out/read_index")" "$(cat "$c/out/write_index")" \
		"host read everything we wrote"
	assert_eq "$(cat "$c/in/read_index")" "$(cat "$c/in/write_index")" \
		"we read everything the host wrote"
	[ "$(cat "$c/interrupts")" -gt "$irqs" ] || fail "interrupts stayed at $irqs"
	[ "$(cat "$c/signals")" -gt "$sigs" ] || fail "signals stayed at $sigs"
	# Two packets fill a ring: the guest must have found it full.
	full=$(cat "$c/ring_full")
	run "$d" "inband 50 30000"
	[ "$(cat "$c/ring_full")" -gt "$full" ] || fail "ring_full stayed at $full"
}

# effective_affinity_list of irq $1 is $2
affine() {
	[ "$(cat "/proc/irq/$1/effective_affinity_list")" = "$2" ]
}

test_cpu_write_moves_interrupt() {
	setup
	d=$(echo_devices | head -n 1)
	c=$(chan_dir "$d")
	irq=$(cat "$c/irq")
	for cpu in 1 0 1; do
		echo "$cpu" >"$c/cpu" || fail "writing $cpu to cpu failed"
		assert_eq "$(cat "$c/cpu")" "$cpu" "cpu after writing $cpu"
		assert_eq "$(cat "/proc/irq/$irq/smp_affinity_list")" "$cpu" \
			"smp_affinity_list"
		before=$(irq_count "$irq" "$cpu")
		run "$d" "inband 200 100"
		wait_for 5 affine "$irq" "$cpu" ||
			fail "effective affinity $(cat "/proc/irq/$irq/effective_affinity_list"), want $cpu"
		run "$d" "inband 200 100"
		after=$(irq_count "$irq" "$cpu")
		[ "$after" -gt "$before" ] ||
			fail "no interrupts on CPU $cpu ($before -> $after)"
	done
}

test_bad_writes_refused() {
	setup
	c=$(channels | head -n 1)
	was=$(cat "$c/cpu")
	for bad in 2 64 4096 -1 abc "" "1 2" 0x1x 99999999999; do
		if echo "$bad" >"$c/cpu" 2>/dev/null; then
			fail "writing '$bad' to cpu was accepted"
		fi
		assert_eq "$(cat "$c/cpu")" "$was" "cpu after writing '$bad'"
	done
	for f in relid vector irq interrupts signals out/size in/write_index; do
		if echo 1 >"$c/$f" 2>/dev/null; then
			fail "$f is writable"
		fi
	done
}

test_cpu_hotplug() {
	online=/sys/devices/system/cpu/cpu1/online
	[ -w "$online" ] || skip "CPU 1 cannot be taken offline"
	setup
	d=$(echo_devices | head -n 1)
	c=$(chan_dir "$d")
	irq=$(cat "$c/irq")
	echo 1 >"$c/cpu" || fail "writing 1 to cpu failed"
	echo 0 >"$online" || fail "CPU 1 did not go offline"
	assert_eq "$(cat "$c/cpu")" 0 "cpu while CPU 1 is offline"
	if echo 1 >"$c/cpu" 2>/dev/null; then
		echo 1 >"$online"
		fail "an offline CPU was accepted"
	fi
	run "$d" "inband 200 100"
	wait_for 5 affine "$irq" 0 || fail "interrupt not on CPU 0"
	echo 1 >"$online" || fail "CPU 1 did not come back"
	assert_eq "$(cat "$c/cpu")" 1 "cpu once CPU 1 is back"
	run "$d" "inband 200 100"
	wait_for 5 affine "$irq" 1 || fail "interrupt did not come back to CPU 1"
}

# Read every file of every channel in a loop.
reader() {
	while :; do
		cat /sys/bus/kvmbus/devices/*/channels/*/* \
		    /sys/bus/kvmbus/devices/*/channels/*/*/* >/dev/null 2>&1
	done
}

test_close_while_reading() {
	setup
	reader &
	rpid=$!
	reader &
	rpid2=$!
	sleep 1
	for i in 1 2 3; do
		rmmod kvmbus_echo || fail "rmmod kvmbus_echo failed"
		for d in $(echo_devices); do
			[ -e "$d/channels" ] && fail "$(basename "$d"): channels/ left after close"
		done
		modprobe kvmbus_echo || fail "modprobe kvmbus_echo failed"
		for d in $(echo_devices); do
			wait_for 10 has_channel "$d" || fail "$(basename "$d"): channel not back"
		done
	done
	kill "$rpid" "$rpid2"
	wait
}

test_rescind_removes_channel() {
	setup
	d=$(echo_devices | head -n 1)
	c=$(chan_dir "$d")
	id=$(host_id "$(cat "$d/relid")")
	[ -n "$id" ] || fail "kvmbusd does not list relid $(cat "$d/relid")"
	reader &
	rpid=$!
	hostcall kvmbusctl remove "$id" || fail "kvmbusctl remove failed"
	wait_for 30 sh -c "[ ! -e $c ]" || fail "channel of a removed device still present"
	kill "$rpid"
	wait
	rmmod kvmbus_echo || fail "rmmod kvmbus_echo failed"
	rmmod kvmbus || fail "rmmod kvmbus failed"
}
