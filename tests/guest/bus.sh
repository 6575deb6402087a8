# The bus end to end: kvmbus.ko finds kvmbusd behind QEMU's ivshmem-doorbell
# device, negotiates, and turns the host's offers into devices; devices come
# and go while the guest runs; unloading and reloading reconnects cleanly.
# The host side (bus.host) starts kvmbusd with two echo devices.
# timeout: 60

ECHO_CLASS=fe7f9a81-8463-47a7-af62-b5deede655b6

nr_devices() {
	n=0
	for d in /sys/bus/kvmbus/devices/*; do
		[ -e "$d/class_id" ] || continue
		[ "$(cat "$d/class_id")" = "$ECHO_CLASS" ] && n=$((n + 1))
	done
	echo $n
}

has_devices() {
	[ "$(nr_devices)" = "$1" ]
}

test_connect() {
	modprobe kvmbus || fail "modprobe kvmbus failed"
	wait_for 10 has_devices 2 ||
		fail "expected 2 echo devices, found $(nr_devices)"
	dmesg | grep -q 'connected to kvmbusd' ||
		fail "no 'connected to kvmbusd' in dmesg"
	dmesg | grep -q 'protocol 1.0, 2 device(s) offered' ||
		fail "negotiation not reported in dmesg"
	status=$(hostcall kvmbusctl status) || fail "kvmbusctl status failed"
	assert_match "$status" "online" "kvmbusd sees the guest online"
}

test_device_sysfs() {
	ids=""
	for d in /sys/bus/kvmbus/devices/*; do
		relid=$(cat "$d/relid")
		[ "$relid" -gt 0 ] || fail "$d: relid $relid"
		assert_eq "$(cat "$d/modalias")" \
			"kvmbus:fe7f9a81846347a7af62b5deede655b6" "$d: modalias"
		inst=$(cat "$d/instance_id")
		assert_eq "$(basename "$d")" "$inst" "device named by instance"
		case " $ids " in *" $inst "*) fail "instance $inst twice" ;; esac
		ids="$ids $inst"
	done
}

test_hot_add() {
	hostcall kvmbusctl add echo || fail "kvmbusctl add echo failed"
	wait_for 10 has_devices 3 ||
		fail "hot-added device did not appear ($(nr_devices) devices)"
}

test_hot_remove() {
	d=$(ls -d /sys/bus/kvmbus/devices/* | head -n 1)
	relid=$(cat "$d/relid")
	id=$(hostcall kvmbusctl --json devices |
		sed -n "s/.*\"id\": *\([0-9]*\)[^}]*\"relid\": *$relid[,} ].*/\1/p")
	[ -n "$id" ] || fail "kvmbusd does not list relid $relid"
	hostcall kvmbusctl remove "$id" || fail "kvmbusctl remove $id failed"
	wait_for 10 has_devices 2 ||
		fail "removed device still present ($(nr_devices) devices)"
	[ ! -e "$d" ] || fail "$d still in sysfs"
	# The guest released the relid: kvmbusd no longer lists it.
	wait_for 10 sh -c "! hostcall kvmbusctl devices | grep -q releasing" ||
		fail "kvmbusd still waits for the relid to be released"
}

test_unload_reload() {
	rmmod kvmbus || fail "rmmod kvmbus failed"
	[ ! -e /sys/bus/kvmbus ] || fail "bus still registered after rmmod"
	dmesg | grep -q 'leaking' && fail "control ring leaked on unload"
	wait_for 10 sh -c "hostcall kvmbusctl status | grep -q idle" ||
		fail "kvmbusd did not see the guest let go"
	modprobe kvmbus || fail "modprobe kvmbus failed the second time"
	wait_for 10 has_devices 2 ||
		fail "after reload expected 2 devices, found $(nr_devices)"
	rmmod kvmbus || fail "second rmmod failed"
}

test_shutdown_withdraws() {
	# Left loaded on purpose: the harness powers the guest off after this
	# case, and kvmbus.ko's shutdown hook must hand the control rings
	# back first, or kvmbusd would write into pages the next boot reuses.
	# bus.host checks kvmbusd saw the withdrawal before QEMU went away.
	modprobe kvmbus || fail "modprobe kvmbus failed"
	wait_for 10 has_devices 2 ||
		fail "expected 2 devices, found $(nr_devices)"
}
