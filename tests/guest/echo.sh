# Channels end to end through the echo device (docs/protocol.md 7.1):
# kvmbus_echo.ko opens each echo device's channel (64 KiB rings) and
# kvmbusd's echo provider answers.  Every byte that comes back is checked
# by the driver; the host side (kvmbusd.host) offers two echo devices.
# timeout: 120

ECHO_CLASS=fe7f9a81-8463-47a7-af62-b5deede655b6

echo_devices() {
	for d in /sys/bus/kvmbus/devices/*; do
		[ "$(cat "$d/class_id" 2>/dev/null)" = "$ECHO_CLASS" ] && echo "$d"
	done
}

# run DEVICE REQUEST: one run on one device; fails the case on failure.
run() {
	if ! echo "$2" >"$1/run" 2>/dev/null; then
		fail "$(basename "$1"): '$2': $(cat "$1/run")"
	fi
}

# kvmbusd's admin id of the device with relid $1
host_id() {
	hostcall kvmbusctl --json devices |
		sed -n "s/.*\"id\": *\([0-9]*\)[^}]*\"relid\": *$1[,} ].*/\1/p"
}

bound() {
	[ -e "$1/run" ]
}

test_open() {
	modprobe kvmbus || fail "modprobe kvmbus failed"
	modprobe kvmbus_echo || fail "modprobe kvmbus_echo failed"
	n=0
	for d in $(echo_devices); do
		wait_for 10 bound "$d" || fail "$(basename "$d"): echo driver not bound"
		n=$((n + 1))
	done
	assert_eq "$n" 2 "echo devices bound"
}

test_every_size_class() {
	# Around every 8-byte boundary, page sizes, and the largest packet a
	# 64 KiB ring takes (65536 - 8 gap - 24 descriptor - 8 trailer).
	for d in $(echo_devices); do
		for size in 0 1 2 7 8 9 15 16 17 23 24 25 63 64 65 255 256 1499 \
			    1500 4095 4096 4097 9000 16384 32768 65000 65496; do
			run "$d" "inband 4 $size"
		done
	done
}

test_too_big_is_refused() {
	d=$(echo_devices | head -n 1)
	if echo "inband 1 65497" >"$d/run" 2>/dev/null; then
		fail "a packet larger than the ring was accepted"
	fi
	run "$d" "inband 1 64"
}

test_wrap_and_batching() {
	for d in $(echo_devices); do
		run "$d" "inband 20000 64"
		run "$d" "inband 3000 1500"
	done
}

test_ring_full() {
	# Two packets fill a ring: the guest waits for room again and again.
	run "$(echo_devices | head -n 1)" "inband 500 30000"
}

test_gpa_in_place() {
	d=$(echo_devices | head -n 1)
	run "$d" "sum 4096"
	run "$d" "sum 1048576"
	run "$d" "fill 4096 1"
	run "$d" "fill 1048576 200"
	assert_match "$(cat "$d/run")" "^ok fill 1048576 bytes in 256 ranges"
}

test_host_initiated() {
	d=$(echo_devices | head -n 1)
	before=$(cut -d' ' -f1 "$d/rx")
	id=$(host_id "$(cat "$d/relid")")
	[ -n "$id" ] || fail "kvmbusd does not list relid $(cat "$d/relid")"
	hostcall kvmbusctl echo-send "$id" 2000 1500 || fail "echo-send failed"
	wait_for 30 sh -c "[ \$(cut -d' ' -f1 $d/rx) -ge $((before + 2000)) ]" ||
		fail "received $(cat "$d/rx"), expected $((before + 2000)) packets"
	assert_eq "$(cut -d' ' -f3 "$d/rx")" 0 "corrupted host packets"
}

test_hot_remove_under_load() {
	d=$(echo_devices | head -n 1)
	relid=$(cat "$d/relid")
	id=$(host_id "$relid")
	( echo "inband 200000 256" >"$d/run" ) 2>/dev/null &
	sleep 1
	hostcall kvmbusctl remove "$id" || fail "kvmbusctl remove failed"
	wait_for 60 sh -c "[ ! -e $d ]" || fail "removed device still present"
	wait
	assert_eq "$(echo_devices | wc -l)" 1 "echo devices left"
}

test_rmmod_under_load() {
	# rmmod waits for the running write to end, so keep the run short.
	d=$(echo_devices | head -n 1)
	( echo "inband 20000 256" >"$d/run" ) 2>/dev/null &
	sleep 1
	rmmod kvmbus_echo || fail "rmmod kvmbus_echo failed"
	wait
	dmesg | grep -q 'leaking' && fail "memory leaked on purpose: the host did not answer"
	rmmod kvmbus || fail "rmmod kvmbus failed"
}
