# make demo: boot a guest on a stock Debian kernel, load the kvmbus modules
# and show what they registered.  Later stages grow this into the
# comparison against emulated devices.
# timeout: 120

test_kvmbus_modules() {
	log "guest kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) vCPUs"
	for m in kvmbus_netvsc kvmbus_storvsc kvmbus_balloon; do
		modprobe "$m" || fail "modprobe $m failed"
	done
	log "loaded kvmbus modules:"
	grep '^kvmbus' /proc/modules | while read -r name size refs users _; do
		log "  $name  $size bytes  used by: ${users%,}"
	done
	[ -d /sys/bus/kvmbus ] || fail "no kvmbus bus in sysfs"
	log "drivers registered on /sys/bus/kvmbus: $(ls /sys/bus/kvmbus/drivers | tr '\n' ' ')"
	log "$(modinfo kvmbus | grep -E '^(description|version|vermagic)')"
	log "class aliases: $(modinfo kvmbus_netvsc kvmbus_storvsc kvmbus_balloon | sed -n 's/^alias: *//p' | tr '\n' ' ')"
}
