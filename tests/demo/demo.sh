# make demo: a guest on a stock Debian kernel loads the kvmbus modules,
# finds kvmbusd behind QEMU's ivshmem-doorbell device, and receives the
# devices kvmbusd offers, including one added while the guest runs.
# Later stages grow this into the comparison against emulated devices.
# timeout: 120

show() {	# log each line of stdin, indented
	while IFS= read -r line; do
		log "    $line"
	done
}

nr_devices() {
	ls /sys/bus/kvmbus/devices | wc -l
}

test_kvmbus() {
	log "guest kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) vCPUs"
	for m in kvmbus kvmbus_netvsc kvmbus_storvsc kvmbus_balloon; do
		modprobe "$m" || fail "modprobe $m failed"
	done
	log "loaded: $(grep -o '^kvmbus[a-z_]*' /proc/modules | tr '\n' ' ')"
	log "class drivers on /sys/bus/kvmbus: $(ls /sys/bus/kvmbus/drivers | tr '\n' ' ')"
	log "kernel log:"
	dmesg | grep -E 'kvmbus [0-9a-f:.]+: ' | sed 's/^\[[ 0-9.]*\] //' | show
	wait_for 10 sh -c '[ "$(ls /sys/bus/kvmbus/devices | wc -l)" -ge 2 ]' ||
		fail "kvmbusd's devices did not appear"
	log "devices offered by kvmbusd:"
	for d in /sys/bus/kvmbus/devices/*; do
		echo "relid $(cat "$d/relid")  class $(cat "$d/class_id")  instance $(basename "$d")"
	done | show
	log "hot add from the host: kvmbusctl add echo"
	hostcall kvmbusctl add echo | show
	wait_for 10 sh -c '[ "$(ls /sys/bus/kvmbus/devices | wc -l)" -ge 3 ]' ||
		fail "the hot-added device did not appear"
	log "the guest now has $(nr_devices) kvmbus devices; kvmbusd's view:"
	hostcall kvmbusctl devices | show
	hostcall kvmbusctl status | show
}
