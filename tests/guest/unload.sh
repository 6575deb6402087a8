# Unload: 50 rounds of load, traffic and unload of all four modules against
# a kvmbusd offering a NIC, a SCSI disk and a balloon (unload.host).  Each
# round loads kvmbus, kvmbus_netvsc, kvmbus_storvsc and kvmbus_balloon,
# pings the host through the NIC from a network namespace of the guest's,
# writes and reads back 64 KiB of the disk, inflates and deflates the
# balloon by 8 MiB, and unloads all four.  Afterwards the slab caches hold
# no more than after a warm-up round (slab_check in lib.sh; the kmalloc
# caches are debugged, so their counts are exact), and on
# a kernel with kmemleak (the debug kernel) nothing of ours leaked.
# On a slow kernel (the debug kernel, KVMTEST_SCALE above 1; about 28 s
# a round there) it runs 7 rounds: there the slab check is off and
# kmemleak judges, which finds a leak of one round as well as of fifty.
# docs/testing.md, "Unload".
# timeout: 1800
# netns: yes
# append: slub_debug=U,kmalloc-*

ROUNDS=50
[ "${KVMTEST_SCALE:-1}" -le 1 ] || ROUNDS=7
MAC=02:4b:56:00:00:07
PEER=10.99.0.1
NS=unload
MIB=1048576
MODULES="kvmbus_netvsc kvmbus_storvsc kvmbus_balloon"

# The helpers wait_for polls use shell builtins only: a fork and an exec
# cost about 0.3 s on the debug kernel.
nic() {
	for n in /sys/class/net/*; do
		_a=
		read -r _a 2>/dev/null <"$n/address"
		[ "$_a" = "$MAC" ] && { echo "${n##*/}"; return 0; }
	done
	return 1
}

has_nic() {
	nic >/dev/null
}

disk() {
	for h in /sys/class/scsi_host/host*; do
		_p=
		read -r _p 2>/dev/null <"$h/proc_name"
		[ "$_p" = kvmbus_storvsc ] || continue
		for _b in "/sys/class/scsi_device/${h##*host}:0:0:0/device/block/"*; do
			[ -e "$_b" ] && echo "${_b##*/}"
			return 0
		done
	done
	return 1
}

has_disk() {
	d=$(disk) && [ -n "$d" ] && [ -b "/dev/$d" ]
}

balloon_dev() {
	for d in /sys/bus/kvmbus/devices/*; do
		[ -e "$d/balloon" ] && { echo "$d"; return 0; }
	done
	return 1
}

balloon_is() {
	for _d in /sys/bus/kvmbus/devices/*; do
		[ -e "$_d/balloon" ] || continue
		_v=
		read -r _v 2>/dev/null <"$_d/balloon"
		[ "$_v" = "$1" ]
		return
	done
	return 1
}

host_has_report() {
	hostcall kvmbusctl --json balloon 3 | grep -q '"guest"'
}

ping_peer() {
	ip netns exec "$NS" ping -c 1 -W 2 "$PEER" >/dev/null 2>&1
}

loaded_any() {
	for m in $MODULES kvmbus; do
		[ -e "/sys/module/$m" ] && return 0
	done
	return 1
}

# The first rounds log how long each phase took.
phase() {
	[ "$r" -le 2 ] && log "round $r: $1 done"
}

# round N: one load / traffic / unload cycle.
round() {
	r=$1
	for m in $MODULES; do
		modprobe "$m" || fail "round $r: modprobe $m failed"
	done

	wait_for 20 has_nic || fail "round $r: no netdev for the NIC"
	dev=$(nic)
	ip link set "$dev" netns "$NS" || fail "round $r: cannot move $dev to netns $NS"
	ip -n "$NS" addr add 10.99.0.2/24 dev "$dev"
	ip -n "$NS" link set "$dev" up
	wait_for 20 ping_peer || fail "round $r: no ping reply from $PEER"

	phase "ping"
	wait_for 20 has_disk || fail "round $r: no disk"
	d=$(disk)
	head -c 65536 /dev/urandom >/tmp/pattern
	dd if=/tmp/pattern of="/dev/$d" bs=4096 seek=$((r * 16)) oflag=direct \
		conv=fsync status=none || fail "round $r: write to /dev/$d failed"
	sum=$(dd if="/dev/$d" bs=4096 skip=$((r * 16)) count=16 iflag=direct \
		status=none | md5sum)
	assert_eq "$sum" "$(md5sum </tmp/pattern)" "round $r: disk read back"

	phase "disk"
	wait_for 30 host_has_report || fail "round $r: no balloon report reached the host"
	phase "balloon report"
	hostcall kvmbusctl balloon 3 1016M >/dev/null ||
		fail "round $r: kvmbusctl balloon 3 1016M failed"
	wait_for 60 balloon_is $((8 * MIB)) ||
		fail "round $r: balloon holds $(cat "$(balloon_dev)/balloon") bytes, not 8 MiB"
	phase "inflate"
	hostcall kvmbusctl balloon 3 1G >/dev/null ||
		fail "round $r: kvmbusctl balloon 3 1G failed"
	wait_for 60 balloon_is 0 ||
		fail "round $r: balloon holds $(cat "$(balloon_dev)/balloon") bytes after deflating"

	phase "deflate"
	rmmod $MODULES kvmbus || fail "round $r: rmmod failed: $(lsmod | grep kvmbus)"
	! loaded_any || fail "round $r: a module is still loaded"
	[ ! -e /sys/bus/kvmbus ] || fail "round $r: /sys/bus/kvmbus left after rmmod"
}

test_rounds() {
	modprobe sd_mod 2>/dev/null	# a module on the stock kernels
	ip netns add "$NS" || fail "ip netns add $NS failed"
	ip -n "$NS" link set lo up
	# Round 1 warms up everything that is allocated once and kept (sysfs,
	# the netns's neighbour tables, the block layer's caches).
	round 1
	sleep 1
	slab_snapshot /tmp/slab.before
	i=2
	while [ $i -le $ROUNDS ]; do
		round $i
		i=$((i + 1))
	done
	sleep 1
	slab_snapshot /tmp/slab.after
	slab_check /tmp/slab.before /tmp/slab.after $((ROUNDS - 1))
	leaks=$(kmemleak_leaks wait)
	[ -z "$leaks" ] || fail "kmemleak: $(echo "$leaks" | head -n 3)"
	ip netns delete "$NS"
}
