# SPDX-License-Identifier: GPL-2.0-only
#
# kvmbusd dies under a running guest (issue 7, "Backend death"): the
# companion (restart.host) runs kvmbusd --supervise with a NIC, a SCSI
# disk and a balloon; a case SIGKILLs the kvmbusd child during traffic, the supervisor
# tells the guest (new host generation, vector 0) and starts a new child
# 2 s later.  The guest must not oops or hang (the dmesg rule), remove
# the devices, reconnect, and get them back: the NIC passes traffic
# again, data written and fsync'd before the kill reads back intact.
# Cases run in order and share the one supervisor (8 restarts at most).
# timeout: 150

PEER=10.99.0.1
MAC=02:4b:56:00:00:07
MIB=1048576
NR_DEVICES=3

nic() {
	for n in /sys/class/net/*; do
		[ "$(cat "$n/address" 2>/dev/null)" = $MAC ] &&
			[ "$(basename "$(readlink "$n/device/driver" 2>/dev/null)")" = \
				kvmbus_netvsc ] && { basename "$n"; return 0; }
	done
	return 1
}

has_nic() { nic >/dev/null; }
no_nic() { ! has_nic; }

disk() {
	for h in /sys/class/scsi_host/host*; do
		[ "$(cat "$h/proc_name" 2>/dev/null)" = kvmbus_storvsc ] || continue
		d=$(ls "/sys/class/scsi_device/${h##*host}:0:0:0/device/block" 2>/dev/null | head -n 1)
		[ -n "$d" ] && [ -b "/dev/$d" ] && { echo "$d"; return 0; }
	done
	return 1
}

has_disk() { disk >/dev/null; }
no_disk() { ! has_disk; }

resets() { dmesg | grep -c 'kvmbus.*reconnected to kvmbusd'; }
losses() { dmesg | grep -c 'kvmbus.*kvmbusd is gone'; }
lost_since() { [ "$(losses)" -gt "$1" ]; }

setup() {
	modprobe kvmbus || fail "modprobe kvmbus failed"
	modprobe kvmbus_netvsc || fail "modprobe kvmbus_netvsc failed"
	modprobe kvmbus_storvsc || fail "modprobe kvmbus_storvsc failed"
	modprobe sd_mod 2>/dev/null
	wait_for 30 has_nic || fail "no NIC"
	wait_for 30 has_disk || fail "no disk"
}

up() {
	wait_for 30 has_nic || fail "no NIC"
	dev=$(nic)
	ip link set "$dev" up
	ip addr show dev "$dev" | grep -q 10.99.0.2 ||
		ip addr add 10.99.0.2/24 dev "$dev"
	wait_for 10 grep -q 1 "/sys/class/net/$dev/carrier" || fail "no carrier on $dev"
}

# kill_child: SIGKILL kvmbusd's child; the outage must be seen by the
# guest (devices gone) and end (devices back, a new child serving).
kill_child() {
	before=$(resets)
	lost=$(losses)
	old=$(hostcall kill-child) || fail "kill-child: $old"
	# The message comes after every device is removed.
	wait_for 20 lost_since "$lost" || fail "the guest did not see kvmbusd go"
	dmesg | grep 'kvmbusd is gone' | tail -n 1 | grep -q ": $NR_DEVICES device(s) removed" ||
		fail "not every device removed: $(dmesg | grep 'kvmbusd is gone' | tail -n 1)"
	hostcall supervisor || fail "the supervisor died"
	new=$(hostcall wait-child "$old") || fail "no new kvmbusd child"
	wait_for 60 has_nic || fail "the NIC did not come back"
	wait_for 60 has_disk || fail "the disk did not come back"
	assert_eq "$(resets)" $((before + 1)) "reconnects"
	log "kvmbusd $old killed, $new serves; the guest reconnected"
}

ping_ok() {
	ping -c 2 -W 5 "$PEER" >/tmp/ping.out 2>&1 ||
		fail "ping $PEER: $(tail -n 2 /tmp/ping.out)"
}

test_probe() {
	setup
	up
	ping_ok
	dmesg | grep -q 'kvmbus.*connected to kvmbusd' || fail "no connect message"
}

# SIGKILL during iperf3 in both directions: the guest survives, the
# iperf3 clients end (or are ended), and a new transfer works.
test_kill_during_iperf() {
	setup
	up
	hostcall iperf3-server || fail "iperf3 server did not start"
	iperf3 -c "$PEER" -t 30 >/tmp/iperf-tx.out 2>&1 &
	ipid=$!
	sleep 3
	kill -0 $ipid 2>/dev/null || fail "iperf3 ended early: $(tail -n 3 /tmp/iperf-tx.out)"
	kill_child
	# A connection over a removed NIC may wait for TCP to give up: end it.
	kill $ipid 2>/dev/null
	wait $ipid
	up
	ping_ok
	hostcall iperf3-server || fail "iperf3 server did not restart"
	iperf3 -c "$PEER" -t 2 >/tmp/tx.out 2>&1 ||
		fail "iperf3 after the restart: $(tail -n 3 /tmp/tx.out)"
	iperf3 -c "$PEER" -t 2 -R >/tmp/rx.out 2>&1 ||
		fail "iperf3 -R after the restart: $(tail -n 3 /tmp/rx.out)"
}

# SIGKILL while dd writes the disk: what was fsync'd before is intact,
# in the guest (read back through the new disk) and in the image; the
# writer in flight fails instead of hanging.
test_kill_during_write() {
	setup
	d=/dev/$(disk)
	dd if=/dev/urandom of=/tmp/data bs=64k count=64 2>/dev/null
	want=$(md5sum </tmp/data | cut -d' ' -f1)
	dd if=/tmp/data of="$d" bs=64k oflag=direct conv=fsync 2>/dev/null ||
		fail "the first write failed"
	rm -f /tmp/stop /tmp/werr
	# Rewrites 8 MiB after the data until told to stop; a failed write
	# (the disk went away under it) is noted and ends it.
	while [ ! -e /tmp/stop ]; do
		dd if=/dev/zero of="$d" bs=64k seek=128 count=128 oflag=direct \
			2>/dev/null || { echo failed >/tmp/werr; break; }
	done &
	wpid=$!
	sleep 2
	kill -0 $wpid 2>/dev/null || fail "the writer ended early"
	kill_child
	touch /tmp/stop
	wait_for 30 sh -c "! kill -0 $wpid 2>/dev/null" ||
		fail "the writer hangs on the removed disk"
	[ -s /tmp/werr ] || fail "no write failed while kvmbusd was down"
	d=/dev/$(disk)
	got=$(dd if="$d" bs=64k count=64 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
	assert_eq "$got" "$want" "fsync'd data read back"
	assert_eq "$(hostcall img-md5 0 4194304)" "$want" "fsync'd data in the image"
}

# An ext4 file system: written and synced, the host killed, mounted again.
test_kill_ext4() {
	setup
	d=/dev/$(disk)
	mkfs.ext4 -q -F "$d" || fail "mkfs.ext4 failed"
	mkdir -p /mnt/r
	mount -t ext4 "$d" /mnt/r || fail "mount failed"
	dd if=/dev/urandom of=/mnt/r/f bs=64k count=32 2>/dev/null
	sync
	want=$(md5sum </mnt/r/f | cut -d' ' -f1)
	kill_child
	umount /mnt/r 2>/dev/null || umount -l /mnt/r
	d=/dev/$(disk)
	mount -t ext4 "$d" /mnt/r || fail "mount after the restart failed"
	assert_eq "$(md5sum </mnt/r/f | cut -d' ' -f1)" "$want" "file after the restart"
	umount /mnt/r || fail "umount failed"
}

balloon_dev() {
	for d in /sys/bus/kvmbus/devices/*; do
		[ -e "$d/balloon" ] && { echo "$d"; return 0; }
	done
	return 1
}

balloon_bound() { balloon_dev >/dev/null; }
guest_balloon() { cat "$(balloon_dev)/balloon"; }
balloon_holds() { [ "$(guest_balloon)" -ge "$1" ]; }
host_has_report() { hostcall kvmbusctl --json balloon 3 | grep -q '"guest"'; }
mem_total() { sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo; }

# The balloon holds memory when kvmbusd dies: every page goes back to
# the guest's kernel; the new kvmbusd's balloon binds, gets reports, and
# (no target set) leaves it empty.
test_kill_balloon() {
	setup
	modprobe kvmbus_balloon || fail "modprobe kvmbus_balloon failed"
	wait_for 20 balloon_bound || fail "balloon driver not bound"
	wait_for 30 host_has_report || fail "no status report reached the host"
	total0=$(mem_total)
	ram=$(hostcall ram-size) || fail "ram-size: $ram"
	hostcall kvmbusctl balloon 3 $((ram - 64 * MIB)) >/dev/null ||
		fail "kvmbusctl balloon 3 failed"
	wait_for 120 balloon_holds $((64 * MIB)) ||
		fail "the balloon holds $(guest_balloon) bytes, not 64 MiB"
	[ "$(mem_total)" -lt "$total0" ] || fail "MemTotal did not shrink"
	kill_child
	dmesg | grep -q 'balloon: 64 MiB returned to the kernel' ||
		fail "the balloon's pages were not returned: $(dmesg | grep 'balloon:' | tail -n 2)"
	assert_eq "$(mem_total)" "$total0" "MemTotal after the restart"
	wait_for 30 balloon_bound || fail "balloon driver not bound again"
	wait_for 30 host_has_report || fail "no report reached the new kvmbusd"
	assert_eq "$(guest_balloon)" 0 "balloon after the restart"
}

# Several rounds: each time the devices come back and work.
test_rounds() {
	setup
	for r in 1 2; do
		kill_child
		up
		ping_ok
	done
}

# The supervisor's limit (8 restarts in 600 s): killing the child again
# and again ends with the supervisor giving up; the guest survives with
# its devices gone, and the modules unload.
test_restart_limit() {
	setup
	i=0
	while hostcall supervisor && [ $i -lt 10 ]; do
		old=$(hostcall kill-child) || break
		i=$((i + 1))
		hostcall wait-child "$old" >/dev/null || break
	done
	n=$(hostcall gave-up) || fail "the supervisor did not give up: $n"
	assert_eq "$n" 8 "restarts before giving up"
	wait_for 20 no_nic || fail "the NIC stayed without kvmbusd"
	wait_for 20 no_disk || fail "the disk stayed without kvmbusd"
	rmmod kvmbus_balloon 2>/dev/null
	rmmod kvmbus_netvsc kvmbus_storvsc || fail "class drivers did not unload"
	rmmod kvmbus || fail "kvmbus did not unload"
}
