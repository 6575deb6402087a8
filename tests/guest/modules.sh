# The project's modules on this kernel: they describe themselves truthfully,
# load with their dependency, register the kvmbus bus and its drivers, are
# found by modalias, and unload without a trace, repeatedly.
# timeout: 90

CLASS_DRIVERS="kvmbus_netvsc kvmbus_storvsc kvmbus_balloon"

# Class ids from include/kvmbus/protocol.h: the contract with the host.
alias_of() {
	case $1 in
	kvmbus_netvsc)	echo kvmbus:a43b08b3d5754c869d80cadfd8b870c2 ;;
	kvmbus_storvsc)	echo kvmbus:e4eb1f9ca1f5478c929c85f587df87f7 ;;
	kvmbus_balloon)	echo kvmbus:3f70ca2473e346349b5a779d1cebe767 ;;
	esac
}

loaded() {
	grep -q "^$1 " /proc/modules
}

unload_all() {
	for m in $CLASS_DRIVERS kvmbus; do
		if loaded "$m"; then
			rmmod "$m" || fail "rmmod $m failed"
		fi
	done
}

test_modinfo() {
	# The release is matched literally: 6.12's contains a '+'.
	kver_re=$(uname -r | sed 's/[].[^$*+?(){}|\\]/\\&/g')
	for m in kvmbus $CLASS_DRIVERS; do
		info=$(modinfo "$m") || fail "modinfo $m failed"
		assert_match "$info" "vermagic: +$kver_re " "$m: vermagic"
		assert_match "$info" "license: +GPL" "$m: license"
		assert_match "$info" "description: +kvmbus: [a-z]" "$m: description"
		assert_match "$info" "version: +[0-9]+\.[0-9]+\.[0-9]+" "$m: version"
	done
	for m in $CLASS_DRIVERS; do
		info=$(modinfo "$m")
		assert_match "$info" "^depends: +([^ ]*,)?kvmbus(,[^ ]*)?$" "$m: depends on kvmbus"
		assert_match "$info" "alias: +$(alias_of "$m")" "$m: class alias"
	done
}

test_load_unload() {
	modprobe kvmbus_netvsc || fail "modprobe kvmbus_netvsc failed"
	loaded kvmbus || fail "kvmbus was not loaded as a dependency"
	[ -d /sys/bus/kvmbus ] || fail "no /sys/bus/kvmbus with kvmbus loaded"
	for m in kvmbus_storvsc kvmbus_balloon; do
		modprobe "$m" || fail "modprobe $m failed"
	done
	for m in $CLASS_DRIVERS; do
		[ -d "/sys/bus/kvmbus/drivers/$m" ] ||
			fail "driver $m not registered on the kvmbus bus"
	done
	unload_all
	[ ! -e /sys/bus/kvmbus ] || fail "/sys/bus/kvmbus left after rmmod"
	for m in kvmbus $CLASS_DRIVERS; do
		! loaded "$m" || fail "$m still loaded"
	done
}

test_bus_pinned_by_drivers() {
	modprobe kvmbus_balloon || fail "modprobe kvmbus_balloon failed"
	if rmmod kvmbus 2>/dev/null; then
		fail "kvmbus unloaded while a class driver uses it"
	fi
	unload_all
}

test_modalias_autoload() {
	for m in $CLASS_DRIVERS; do
		modprobe "$(alias_of "$m")" ||
			fail "modprobe $(alias_of "$m") failed"
		loaded "$m" || fail "alias $(alias_of "$m") did not load $m"
		unload_all
	done
}

test_reload_cycles() {
	i=0
	while [ $i -lt 20 ]; do
		for m in $CLASS_DRIVERS; do
			modprobe "$m" || fail "round $i: modprobe $m failed"
		done
		unload_all
		i=$((i + 1))
	done
	[ ! -e /sys/bus/kvmbus ] || fail "/sys/bus/kvmbus left after 20 rounds"
}
