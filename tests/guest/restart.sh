# SPDX-License-Identifier: GPL-2.0-only
#
# kvmbusd dies under a running guest (issue 7, "Backend death"): the
# companion (restart.host) runs kvmbusd --supervise with a NIC, a SCSI
# disk and a balloon; a case SIGKILLs the kvmbusd child during traffic, the supervisor
# tells the guest (new host generation, vector 0) and starts a new child
# 2 s later.  The guest must not oops or hang (the dmesg rule); the NIC
# and the disk are kept (same netdev, same SCSI host and disk: carrier
# off, requests held) and resume on the new child, which offers them
# with the same instance ids; the balloon (no resume) is removed and
# probed again.  Data written and fsync'd reads back intact, a mounted
# ext4 stays mounted.  A new kvmbusd that offers less than a kept device
# was set up with (other offloads, smaller SCSI limits) gets that device
# probed anew instead of resumed.  Cases run in order and share the one
# supervisor (11 restarts at most).
# timeout: 150

PEER=10.99.0.1
MAC=02:4b:56:00:00:07
MIB=1048576
# Kept across a restart: the NIC and the SCSI controller.
NR_KEPT=2

# nic and disk run in wait_for's polls: shell builtins only (a fork and
# an exec cost about 0.3 s on the debug kernel).
nic() {
	for n in /sys/class/net/*; do
		_a=
		read -r _a 2>/dev/null <"$n/address"
		[ "$_a" = $MAC ] &&
			# shellcheck disable=SC3013 # busybox ash has -ef
			[ "$n/device/driver" -ef /sys/bus/kvmbus/drivers/kvmbus_netvsc ] &&
			{ echo "${n##*/}"; return 0; }
	done
	return 1
}

has_nic() { nic >/dev/null; }
no_nic() { ! has_nic; }

disk() {
	for h in /sys/class/scsi_host/host*; do
		_p=
		read -r _p 2>/dev/null <"$h/proc_name"
		[ "$_p" = kvmbus_storvsc ] || continue
		for _dk in "/sys/class/scsi_device/${h##*host}:0:0:0/device/block/"*; do
			_dk=${_dk##*/}
			[ -b "/dev/$_dk" ] && { echo "$_dk"; return 0; }
		done
	done
	return 1
}

has_disk() { disk >/dev/null; }
no_disk() { ! has_disk; }

resets() { dmesg | grep -c 'kvmbus.*reconnected to kvmbusd'; }
# The kernel log after its first N lines (N from "dmesg | wc -l").
since() { dmesg | tail -n +$(($1 + 1)); }
since_has() { since "$1" | grep -q -- "$2"; }
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

carrier() { cat "/sys/class/net/$1/carrier" 2>/dev/null; }
carrier_off() { [ "$(carrier "$1")" != 1 ]; }
carrier_on() { [ "$(carrier "$1")" = 1 ]; }
ifindex() { cat "/sys/class/net/$1/ifindex"; }
resumed_since() { [ "$(dmesg | grep -c 'kvmbus.*resumed on channel')" -ge "$1" ]; }

# kill_child: SIGKILL kvmbusd's child; the outage must be seen by the
# guest (NIC and disk kept, quiesced) and end (both resumed, a new child
# serving).
kill_child() {
	before=$(resets)
	lost=$(losses)
	resumed=$(dmesg | grep -c 'kvmbus.*resumed on channel')
	old=$(hostcall kill-child) || fail "kill-child: $old"
	# The message comes after every device is quiesced or removed.
	wait_for 20 lost_since "$lost" || fail "the guest did not see kvmbusd go"
	dmesg | grep 'kvmbusd is gone' | tail -n 1 | grep -q ": $NR_KEPT device(s) kept" ||
		fail "NIC and disk not kept: $(dmesg | grep 'kvmbusd is gone' | tail -n 1)"
	hostcall supervisor || fail "the supervisor died"
	new=$(hostcall wait-child "$old") || fail "no new kvmbusd child"
	wait_for 60 resumed_since $((resumed + NR_KEPT)) ||
		fail "NIC and disk not resumed: $(dmesg | grep 'kvmbus' | tail -n 4)"
	has_nic || fail "the NIC did not come back"
	has_disk || fail "the disk did not come back"
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

# SIGKILL during iperf3: the same netdev (name, ifindex) goes
# carrier-off while kvmbusd is away and carrier-on after; the transfer
# in flight ends by itself (TCP rides out the outage, or gives up), and
# new transfers both ways work.
test_kill_during_iperf() {
	setup
	up
	dev=$(nic)
	idx=$(ifindex "$dev")
	hostcall iperf3-server || fail "iperf3 server did not start"
	iperf3 -c "$PEER" -t 15 >/tmp/iperf-tx.out 2>&1 &
	ipid=$!
	sleep 3
	kill -0 $ipid 2>/dev/null || fail "iperf3 ended early: $(tail -n 3 /tmp/iperf-tx.out)"
	# Polls the carrier itself: on the debug kernel the outage lasted
	# 1.9 s, less than one round of grepping dmesg for the loss.
	( wait_for 20 carrier_off "$dev" && echo off >/tmp/carrier ) &
	cpid=$!
	rm -f /tmp/carrier
	kill_child
	wait $cpid
	[ -s /tmp/carrier ] || fail "no carrier-off seen while kvmbusd was gone"
	assert_eq "$(nic)" "$dev" "the NIC's name after the restart"
	assert_eq "$(ifindex "$dev")" "$idx" "the NIC's ifindex after the restart"
	wait_for 10 carrier_on "$dev" || fail "no carrier on $dev after the restart"
	# The transfer in flight must end: within its 15 s and TCP's back-off.
	wait_for 60 sh -c "! kill -0 $ipid 2>/dev/null" ||
		fail "the iperf3 in flight hangs"
	wait $ipid && log "the iperf3 in flight completed" ||
		log "the iperf3 in flight failed: $(tail -n 1 /tmp/iperf-tx.out)"
	up
	ping_ok
	hostcall iperf3-server || fail "iperf3 server did not restart"
	iperf3 -c "$PEER" -t 2 >/tmp/tx.out 2>&1 ||
		fail "iperf3 after the restart: $(tail -n 3 /tmp/tx.out)"
	iperf3 -c "$PEER" -t 2 -R >/tmp/rx.out 2>&1 ||
		fail "iperf3 -R after the restart: $(tail -n 3 /tmp/rx.out)"
}

# SIGKILL while dd writes the disk: the same disk stays; the writes in
# flight are held and complete on the new kvmbusd (none fails); what was
# fsync'd before is intact, in the guest and in the image.
test_kill_during_write() {
	setup
	name=$(disk)
	d=/dev/$name
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
	sleep 2
	touch /tmp/stop
	wait_for 30 sh -c "! kill -0 $wpid 2>/dev/null" ||
		fail "the writer hangs after the restart"
	[ -s /tmp/werr ] && fail "a write failed across the restart"
	assert_eq "$(disk)" "$name" "the disk after the restart"
	got=$(dd if="$d" bs=64k count=64 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
	assert_eq "$got" "$want" "fsync'd data read back"
	assert_eq "$(hostcall img-md5 0 4194304)" "$want" "fsync'd data in the image"
}

# A mounted ext4 survives the kill without a remount: a file synced
# before reads back, a write with fsync in flight at the kill completes,
# one written and fsync'd after the restart reads back (also after a
# remount, from the disk), and e2fsck finds the file system clean.
test_kill_ext4() {
	setup
	d=/dev/$(disk)
	mkfs.ext4 -q -F "$d" || fail "mkfs.ext4 failed"
	mkdir -p /mnt/r
	mount -t ext4 "$d" /mnt/r || fail "mount failed"
	dd if=/dev/urandom of=/mnt/r/f bs=64k count=32 2>/dev/null
	sync
	want=$(md5sum </mnt/r/f | cut -d' ' -f1)
	rm -f /tmp/ferr
	( i=0; while [ $i -lt 40 ]; do
		dd if=/dev/urandom of=/mnt/r/busy bs=64k count=8 conv=fsync \
			2>/dev/null || { echo failed >/tmp/ferr; break; }
		i=$((i + 1))
	done ) &
	fpid=$!
	sleep 1
	kill_child
	wait_for 60 sh -c "! kill -0 $fpid 2>/dev/null" ||
		fail "the fsync'ing writer hangs after the restart"
	[ -s /tmp/ferr ] && fail "an fsync'd write on ext4 failed across the restart"
	grep -q ' /mnt/r ext4 rw' /proc/mounts || fail "ext4 not mounted rw: $(grep /mnt/r /proc/mounts)"
	assert_eq "$(md5sum </mnt/r/f | cut -d' ' -f1)" "$want" "file after the restart"
	dd if=/dev/urandom of=/tmp/g bs=64k count=16 2>/dev/null
	want2=$(md5sum </tmp/g | cut -d' ' -f1)
	dd if=/tmp/g of=/mnt/r/g bs=64k conv=fsync 2>/dev/null ||
		fail "write after the restart failed"
	umount /mnt/r || fail "umount failed"
	e2fsck -f -n "$d" >/tmp/fsck.out 2>&1 || fail "e2fsck: $(tail -n 3 /tmp/fsck.out)"
	mount -t ext4 "$d" /mnt/r || fail "mount again failed"
	assert_eq "$(md5sum </mnt/r/g | cut -d' ' -f1)" "$want2" "file written after the restart"
	assert_eq "$(md5sum </mnt/r/f | cut -d' ' -f1)" "$want" "file written before the kill"
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

# A device added at run time (kvmbusctl add) is offered again by the new
# child with the same admin id and instance id.
test_added_device() {
	setup
	j=$(hostcall kvmbusctl --json add echo) || fail "kvmbusctl add echo: $j"
	inst=$(printf '%s' "$j" | sed -n 's/.*"instance": *"\([0-9a-f-]*\)".*/\1/p')
	[ -n "$inst" ] || fail "no instance id in: $j"
	wait_for 20 test -e "/sys/bus/kvmbus/devices/$inst" ||
		fail "the added device $inst did not appear"
	kill_child
	wait_for 30 test -e "/sys/bus/kvmbus/devices/$inst" ||
		fail "the added device $inst is not back after the restart"
	hostcall kvmbusctl --json devices | grep -q "\"instance\": *\"$inst\"" ||
		fail "the new kvmbusd does not know $inst"
}

# Unloading after a restart is clean (the resumed devices' channels,
# GPADLs and netdev go as usual), and loading again works.
test_rmmod_after_restart() {
	setup
	kill_child
	up
	ping_ok
	rmmod kvmbus_balloon 2>/dev/null
	rmmod kvmbus_netvsc kvmbus_storvsc || fail "class drivers did not unload"
	rmmod kvmbus || fail "kvmbus did not unload"
	setup
	up
	ping_ok
}

# A hostile restart: the new child offers the NIC's instance id as a
# SCSI controller and the disk's as a NIC.  Neither is resumed: each
# kept device is removed when its id comes back under another class,
# and the offers become new devices (a new netdev that passes traffic,
# a new disk).
test_hostile_reoffer() {
	setup
	up
	dev=$(nic)
	idx=$(ifindex "$dev")
	nic_inst=$(basename "$(readlink "/sys/class/net/$dev/device")")
	lost=$(losses)
	before=$(resets)
	old=$(hostcall kill-swap) || fail "kill-swap: $old"
	wait_for 20 lost_since "$lost" || fail "the guest did not see kvmbusd go"
	hostcall wait-child "$old" >/dev/null || fail "no new kvmbusd child"
	wait_for 60 sh -c "[ \$(dmesg | grep -c 'offered again under another class') -ge 2 ]" ||
		fail "kept devices not dropped: $(dmesg | grep kvmbus | tail -n 4)"
	wait_for 60 has_nic || fail "no NIC from the swapped offer"
	wait_for 60 has_disk || fail "no disk from the swapped offer"
	assert_eq "$(resets)" $((before + 1)) "reconnects"
	dev=$(nic)
	[ "$(ifindex "$dev")" != "$idx" ] || fail "the NIC was resumed under another class"
	[ "$(basename "$(readlink "/sys/class/net/$dev/device")")" != "$nic_inst" ] ||
		fail "the NIC kept the id now offered as SCSI"
	up
	ping_ok
}

# The kvmbus device (instance id) of netdev $1.
nic_inst() { basename "$(readlink "/sys/class/net/$1/device")"; }
nr_nics() { for _n in /sys/class/net/*; do [ "$(cat "$_n/address")" = $MAC ] && echo; done | wc -l; }
tso_fixed_off() { ethtool -k "$1" | grep -Eq '^[[:space:]]*tx-tcp-segmentation: off \[fixed\]'; }

# A new kvmbusd that grants the NIC other offloads (no TCP segmentation
# now): netvsc refuses to resume the netdev it set up with TSO, the bus
# removes it and probes the offer as a new NIC, which has no TSO and
# passes traffic.  The disk, offered as before, resumes.
test_refuse_offloads() {
	setup
	up
	dev=$(nic)
	idx=$(ifindex "$dev")
	inst=$(nic_inst "$dev")
	name=$(disk)
	ethtool -k "$dev" | grep -Eq '^[[:space:]]*tx-tcp-segmentation: on$' ||
		fail "no TSO before the restart: $(ethtool -k "$dev" | grep tcp-seg)"
	n0=$(dmesg | wc -l)
	lost=$(losses)
	before=$(resets)
	# 0x7f less TX_TSO4 (0x2) and TX_TSO6 (0x4).
	old=$(hostcall kill-change 1:offloads=0x79) || fail "kill-change: $old"
	wait_for 20 lost_since "$lost" || fail "the guest did not see kvmbusd go"
	hostcall wait-child "$old" >/dev/null || fail "no new kvmbusd child"
	wait_for 60 since_has "$n0" "$inst: not resumed" ||
		fail "the NIC was not refused: $(since "$n0" | grep kvmbus | tail -n 4)"
	since_has "$n0" "$inst .*: the new kvmbusd grants offloads 0x79, not 0x7f" ||
		fail "no reason for the refusal: $(since "$n0" | grep "$inst" | tail -n 3)"
	since_has "$n0" "$inst: not resumed (the driver could not resume it): removed, channel [0-9]* is probed as a new device" ||
		fail "not removed as refused: $(since "$n0" | grep "$inst: not resumed")"
	since_has "$n0" "$inst: resumed on channel" &&
		fail "the NIC was resumed with other offloads"
	wait_for 60 has_nic || fail "no NIC for the new offer"
	dev=$(nic)
	[ "$(ifindex "$dev")" != "$idx" ] ||
		fail "the refused netdev (ifindex $idx) is still the NIC"
	ip -o link | grep -q "^$idx:" && fail "the refused netdev (ifindex $idx) is still there"
	assert_eq "$(nr_nics)" 1 "netdevs with the NIC's MAC"
	assert_eq "$(nic_inst "$dev")" "$inst" "the new NIC's kvmbus device"
	since_has "$n0" "$inst .*: kvmbus NIC, relid [0-9]*, [0-9]* queues, offloads 0x79" ||
		fail "the new NIC was not probed with offloads 0x79: $(since "$n0" | grep 'kvmbus NIC')"
	tso_fixed_off "$dev" ||
		fail "TSO not off [fixed] on the new NIC: $(ethtool -k "$dev" | grep tcp-seg)"
	ethtool -k "$dev" | grep -q '^tx-checksumming: on' ||
		fail "no checksum offload on the new NIC: $(ethtool -k "$dev" | grep checksumming)"
	up
	ping_ok
	assert_eq "$(resets)" $((before + 1)) "reconnects"
	assert_eq "$(since "$n0" | grep -c 'resumed on channel')" 1 "devices resumed (the disk)"
	assert_eq "$(disk)" "$name" "the disk after the restart"
}

# SCSI host number of kvmbus device $1; its LUN 0's disk.
inst_host() {
	for _h in "/sys/bus/kvmbus/devices/$1"/host*; do
		[ -d "$_h" ] && { echo "${_h##*/host}"; return 0; }
	done
	return 1
}
inst_disk() {
	_h=$(inst_host "$1") || return 1
	_dk=$(ls "/sys/class/scsi_device/$_h:0:0:0/device/block" 2>/dev/null | head -n 1)
	[ -n "$_dk" ] && [ -b "/dev/$_dk" ] && echo "$_dk"
}
has_inst_disk() { inst_disk "$1" >/dev/null; }
# The disk's sequence number: never reused, unlike SCSI host numbers
# and sd names.
inst_diskseq() { cat "/sys/block/$(inst_disk "$1")/diskseq"; }
nr_hosts() { grep -l '^kvmbus_storvsc$' /sys/class/scsi_host/host*/proc_name 2>/dev/null | wc -l; }
json_first() { printf '%s' "$1" | tr ',' '\n' | sed -n "s/.*\"$2\": *\"*\([0-9a-f-]*\).*/\1/p" | head -n 1; }

# A new kvmbusd that offers SCSI controllers less than their disks were
# set up with, one limit each on four controllers in one restart: the
# transfer size (the disk from the start), the segments, the LUNs and
# the queues (three controllers added for it).  storvsc refuses each and
# says which limit; the bus removes it (a writer held for the refused
# disk fails, it does not hang) and probes the offer as a new SCSI host
# with the new limits, whose disk reads back what it wrote.  The NIC,
# offered as before, resumes.
test_refuse_scsi_limits() {
	setup
	up
	dev=$(nic)
	idx=$(ifindex "$dev")
	for d in /sys/bus/kvmbus/devices/*; do
		inst_host "${d##*/}" >/dev/null && echo "2 ${d##*/}"
	done >/tmp/ctrls
	assert_eq "$(wc -l </tmp/ctrls)" 1 "SCSI controllers at the start"
	for n in seg luns queues; do
		j=$(hostcall add-scsi "$n") || fail "add-scsi $n: $j"
		id=$(json_first "$j" id)
		inst=$(json_first "$j" instance)
		[ -n "$id" ] && [ -n "$inst" ] || fail "no id or instance in: $j"
		echo "$id $inst" >>/tmp/ctrls
	done
	while read -r id inst; do
		wait_for 30 has_inst_disk "$inst" || fail "controller $id ($inst): no disk"
		echo "$id $inst $(inst_diskseq "$inst")"
	done </tmp/ctrls >/tmp/ctrls.old
	set -- $(cut -d' ' -f1 /tmp/ctrls)
	q=$(ls "/sys/block/$(inst_disk "$(sed -n '4s/^[0-9]* //p' /tmp/ctrls)")/mq" | wc -l)
	[ "$q" -ge 2 ] || fail "the queues case needs 2 queues before, the disk has $q"
	# Writes the first disk until a write fails.
	w=/dev/$(inst_disk "$(sed -n '1s/^[0-9]* //p' /tmp/ctrls)")
	while dd if=/dev/zero of="$w" bs=64k seek=16 count=16 oflag=direct \
		2>/dev/null; do :; done &
	wpid=$!
	n0=$(dmesg | wc -l)
	lost=$(losses)
	before=$(resets)
	old=$(hostcall kill-change "$1:max_transfer=512K" "$2:max_segments=64" \
		"$3:luns=8" "$4:queues=1") || fail "kill-change: $old"
	wait_for 20 lost_since "$lost" || fail "the guest did not see kvmbusd go"
	hostcall wait-child "$old" >/dev/null || fail "no new kvmbusd child"
	# Per controller, in the order of kill-change: why it was refused,
	# and what the new one says it has.
	set -- \
		"offers 512 KiB per request, the disks were set up with 1024" \
		"SCSI controller: [0-9]* LUNs, 512 KiB per request" \
		"offers 64 segments per request, the disks were set up with 256" \
		"SCSI controller: .* KiB per request, 64 segments" \
		"offers 8 LUNs, the SCSI host was set up with 16" \
		"SCSI controller: 8 LUNs" \
		"offers 1 queues, the SCSI host has $q" \
		"SCSI controller: .* segments, 1 queues of"
	while read -r id inst seq; do
		wait_for 60 since_has "$n0" "$inst: not resumed" ||
			fail "controller $id was not refused: $(since "$n0" | grep "$inst" | tail -n 3)"
		since_has "$n0" "$inst: the new kvmbusd $1" ||
			fail "controller $id: no '$1': $(since "$n0" | grep "$inst" | tail -n 3)"
		since_has "$n0" "$inst: not resumed (the driver could not resume it): removed, channel [0-9]* is probed as a new device" ||
			fail "controller $id not removed as refused: $(since "$n0" | grep "$inst: not resumed")"
		since_has "$n0" "$inst: resumed on channel" &&
			fail "controller $id was resumed with less than it had"
		wait_for 60 has_inst_disk "$inst" || fail "controller $id: no disk for the new offer"
		[ "$(inst_diskseq "$inst")" -gt "$seq" ] ||
			fail "controller $id: still the disk of diskseq $seq"
		assert_eq "$(ls -d "/sys/bus/kvmbus/devices/$inst"/host* | wc -l)" 1 \
			"controller $id: SCSI hosts"
		since_has "$n0" "$inst: $2" ||
			fail "controller $id: the new one is not '$2': $(since "$n0" | grep "$inst: SCSI controller")"
		d=/dev/$(inst_disk "$inst")
		dd if=/dev/urandom of=/tmp/w bs=1M count=1 2>/dev/null
		dd if=/tmp/w of="$d" bs=1M oflag=direct conv=fsync 2>/dev/null ||
			fail "controller $id: write to $d failed"
		assert_eq "$(dd if="$d" bs=1M count=1 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)" \
			"$(md5sum </tmp/w | cut -d' ' -f1)" "controller $id: $d read back"
		shift 2
	done </tmp/ctrls.old
	wait_for 30 sh -c "! kill -0 $wpid 2>/dev/null" ||
		fail "a write held for the refused disk hangs"
	d=$(inst_disk "$(sed -n '1s/^[0-9]* //p' /tmp/ctrls)")
	assert_eq "$(cat "/sys/block/$d/queue/max_hw_sectors_kb")" 512 "$d: max_hw_sectors_kb"
	d=$(inst_disk "$(sed -n '2s/^[0-9]* //p' /tmp/ctrls)")
	assert_eq "$(cat "/sys/block/$d/queue/max_segments")" 64 "$d: max_segments"
	d=$(inst_disk "$(sed -n '4s/^[0-9]* //p' /tmp/ctrls)")
	assert_eq "$(ls "/sys/block/$d/mq" | wc -l)" 1 "$d: hardware queues"
	assert_eq "$(nr_hosts)" 4 "kvmbus SCSI hosts"
	assert_eq "$(since "$n0" | grep -c 'resumed on channel')" 1 "devices resumed (the NIC)"
	assert_eq "$(ifindex "$(nic)")" "$idx" "the NIC's ifindex"
	assert_eq "$(resets)" $((before + 1)) "reconnects"
	ping_ok
	# The added controllers go, so that the next case sees one disk.
	sed 1d /tmp/ctrls >/tmp/ctrls.added
	while read -r id inst; do
		hostcall kvmbusctl remove "$id" >/dev/null || fail "kvmbusctl remove $id failed"
		wait_for 30 sh -c "! test -e /sys/bus/kvmbus/devices/$inst" ||
			fail "controller $id was not removed"
	done </tmp/ctrls.added
	assert_eq "$(nr_hosts)" 1 "kvmbus SCSI hosts after the removal"
}

# The supervisor's limit (11 restarts in 1200 s): killing the child again
# and again ends with the supervisor giving up; the guest survives with
# its devices gone, and the modules unload.
test_restart_limit() {
	setup
	# Not 30 s: blocked writers would trip the 20 s hung-task check.
	echo 8 >/sys/module/kvmbus/parameters/host_grace
	# One kill more than the limit, so that the case also gives up when
	# run alone (then no case before it used a restart).
	i=0
	while hostcall supervisor && [ $i -lt 12 ]; do
		old=$(hostcall kill-child) || break
		i=$((i + 1))
		hostcall wait-child "$old" >/dev/null || break
	done
	n=$(hostcall gave-up) || fail "the supervisor did not give up: $n"
	assert_eq "$n" 11 "restarts before giving up"
	# I/O while nobody serves: held, then failed once the grace ends.
	d=/dev/$(disk) && [ "$d" != /dev/ ] && {
		dd if=/dev/zero of="$d" bs=4k count=1 oflag=direct 2>/dev/null &
		dpid=$!
	}
	wait_for 30 no_nic || fail "the NIC stayed without kvmbusd"
	wait_for 30 no_disk || fail "the disk stayed without kvmbusd"
	if [ -n "${dpid:-}" ]; then
		wait_for 20 sh -c "! kill -0 $dpid 2>/dev/null" ||
			fail "a write to the disk of a dead kvmbusd hangs"
		wait $dpid && fail "a write without kvmbusd succeeded"
	fi
	rmmod kvmbus_balloon 2>/dev/null
	rmmod kvmbus_netvsc kvmbus_storvsc || fail "class drivers did not unload"
	rmmod kvmbus || fail "kvmbus did not unload"
}
