# Balloon comparison (make bench-balloon): kvmbus_balloon against QEMU's
# virtio-balloon in the same 1 GiB guest, one after the other.  For each:
# touch 600 MiB of guest RAM (so the host's RAM file holds it), inflate to
# a 512 MiB guest, then deflate back; the host companion times each step
# and measures what the RAM file gives back.  Nothing is asserted about
# the numbers: they are for people (docs/performance.md).
# memory: 1G
# timeout: 600
# qemu: -device virtio-balloon-pci,id=vb0

touch_ram() {
	mkdir -p /run/touch
	mount -t tmpfs -o size=900M touch /run/touch || fail "mount tmpfs"
	dd if=/dev/zero of=/run/touch/fill bs=1M count="$1" 2>/dev/null
	ret=$?
	umount /run/touch
	[ $ret = 0 ] || fail "could not fill $1 MiB of tmpfs"
}

kvmbus_bound() {
	for d in /sys/bus/kvmbus/devices/*; do
		[ -e "$d/balloon" ] && return 0
	done
	return 1
}

test_compare() {
	modprobe kvmbus || fail "modprobe kvmbus"
	# One free page reporter at most, and none while measuring.
	modprobe kvmbus_balloon free_page_reporting=0 || fail "modprobe kvmbus_balloon"
	modprobe virtio_balloon 2>/dev/null
	wait_for 20 kvmbus_bound || fail "kvmbus balloon not bound"
	[ -d /sys/bus/virtio/drivers/virtio_balloon ] || fail "no virtio_balloon driver"
	sleep 3		# the first status report
	for dev in kvmbus virtio; do
		for round in 1 2; do
			touch_ram 600
			out=$(hostcall bench "$dev" inflate 512M) || fail "$dev inflate: $out"
			log "BENCH: $out"
			out=$(hostcall bench "$dev" deflate 1G) || fail "$dev deflate: $out"
			log "BENCH: $out"
		done
	done
}
