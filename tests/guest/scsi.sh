# The synthetic SCSI controller end to end (docs/protocol.md 7.2):
# kvmbus_storvsc.ko against kvmbusd's SCSI provider on raw images in the
# run directory (scsi.host): controller 1 has LUN 0 (64 MiB, thin) and
# LUN 1 (16 MiB, read-only), controller 2 has LUN 0 (32 MiB).  I/O is
# kept short: this runs under TCG.
# timeout: 120

# These helpers run in every poll of wait_for, so they use shell builtins
# only: a fork and an exec cost about 0.3 s each on the debug kernel.

# _hosts: the SCSI host numbers of kvmbus_storvsc, in probe order (lowest
# first), in $HOSTS.
_hosts() {
	_all=
	for _h in /sys/class/scsi_host/host*; do
		_n=
		read -r _n 2>/dev/null <"$_h/proc_name"
		[ "$_n" = kvmbus_storvsc ] && _all="$_all ${_h##*/host}"
	done
	# Numeric order: the glob sorts host10 before host2.
	# shellcheck disable=SC2086
	sort_n $_all
	HOSTS=$SN
}

# hosts: the same, one per line.
hosts() {
	_hosts
	for _x in $HOSTS; do
		echo "$_x"
	done
}

# _disk CTRL LUN: the sd name of LUN on the CTRL-th controller (1-based)
# in $DISK; fails if there is none.
_disk() {
	DISK=
	_hosts
	# shellcheck disable=SC2086
	set -- "$1" "$2" $HOSTS
	_i=$1 _l=$2
	shift 2
	[ "$_i" -le $# ] || return 1
	eval "_h=\${$_i}"
	for _b in "/sys/class/scsi_device/$_h:0:0:$_l/device/block/"*; do
		[ -e "$_b" ] || continue
		DISK=${_b##*/}
		return 0
	done
	return 1
}

# disk CTRL LUN: the same, printed.
disk() {
	_disk "$1" "$2" && echo "$DISK"
}

has_disk() {
	_disk "$1" "$2" && [ -b "/dev/$DISK" ]
}

no_disk() {
	! has_disk "$1" "$2"
}

setup() {
	# Loaded already by an earlier case (modprobe is an exec).
	[ -d /sys/module/kvmbus ] || modprobe kvmbus || fail "modprobe kvmbus failed"
	[ -d /sys/module/kvmbus_storvsc ] || modprobe kvmbus_storvsc ||
		fail "modprobe kvmbus_storvsc failed"
	[ -d /sys/module/sd_mod ] || modprobe sd_mod 2>/dev/null
	[ -d /sys/module/sg ] || modprobe sg 2>/dev/null
	wait_for 20 has_disk 1 0 || fail "controller 1 LUN 0: no disk"
	wait_for 20 has_disk 1 1 || fail "controller 1 LUN 1: no disk"
	wait_for 20 has_disk 2 0 || fail "controller 2 LUN 0: no disk"
	_disk 1 0 && D0=/dev/$DISK
	_disk 1 1 && D1=/dev/$DISK
	_disk 2 0 && E0=/dev/$DISK
}

# kvmbusd still serves its control socket.
host_alive() {
	hostcall alive || fail "kvmbusd is gone"
	hostcall kvmbusctl status >/dev/null || fail "kvmbusd does not answer"
}

test_probe() {
	setup
	assert_eq "$(hosts | wc -l)" 2 "kvmbus_storvsc hosts"
	assert_eq "$(cat "/sys/block/${D0#/dev/}/size")" 131072 "LUN 0 sectors"
	assert_eq "$(cat "/sys/block/${D1#/dev/}/size")" 32768 "LUN 1 sectors"
	assert_eq "$(cat "/sys/block/${E0#/dev/}/size")" 65536 "LUN 0 of controller 2"
	assert_eq "$(cat "/sys/block/${D1#/dev/}/ro")" 1 "read-only LUN"
	assert_eq "$(cat "/sys/block/${D0#/dev/}/queue/rotational")" 0 "non-rotational"
	dmesg | grep -q "kvmbus_storvsc.*SCSI controller:" ||
		fail "no probe message"
}

test_inquiry() {
	setup
	out=$(sg_inq "$D0") || fail "sg_inq failed"
	assert_match "$out" "Vendor identification: KVMBUS"
	assert_match "$out" "Product identification: Virtual Disk"
	assert_match "$out" "Peripheral device type: disk"
	out=$(sg_inq -p 0x00 "$D0") || fail "sg_inq -p 0 failed"
	for p in 0x80 0x83 0xb0 0xb1 0xb2; do
		assert_match "$out" "$p" "VPD page $p listed"
	done
	out=$(sg_inq -p 0x80 "$D0") || fail "VPD 80 failed"
	assert_match "$out" "Unit serial number: KVMBUS0001000"
	out=$(sg_inq -p 0x83 "$D0") || fail "VPD 83 failed"
	assert_match "$out" "NAA 5"
	assert_match "$out" "vendor specific: KVMBUS0001000"
	out=$(sg_vpd -p bl "$D0") || fail "VPD b0 failed"
	assert_match "$out" "Maximum transfer length: 2048"
	assert_match "$out" "Maximum unmap LBA count: [1-9]"
	out=$(sg_vpd -p bdc "$D0") || fail "VPD b1 failed"
	assert_match "$out" "Non-rotating medium"
	out=$(sg_vpd -p lbpv "$D0") || fail "VPD b2 failed"
	assert_match "$out" "Unmap command supported \(LBPU\): 1"
	assert_match "$out" "Write same \(16\) with unmap bit supported \(LBPWS\): 1"
}

test_readcap_luns() {
	setup
	out=$(sg_readcap -l "$D0") || fail "sg_readcap -l failed"
	assert_match "$out" "Last LBA=131071"
	assert_match "$out" "Number of logical blocks=131072"
	assert_match "$out" "Logical block length=512 bytes"
	assert_match "$out" "Logical block provisioning: lbpme=1, lbprz=1"
	out=$(sg_luns "$D0") || fail "sg_luns failed"
	assert_match "$out" "Lun list length = 16"
	out=$(sg_luns "$E0") || fail "sg_luns failed on controller 2"
	assert_match "$out" "Lun list length = 8"
}

test_invalid_cdbs() {
	setup
	# An opcode nobody implements: ILLEGAL REQUEST, invalid opcode.
	out=$(sg_raw "$D0" c0 00 00 00 00 00 2>&1) && fail "opcode c0 accepted"
	assert_match "$out" "Illegal Request"
	assert_match "$out" "Invalid command operation code"
	# READ(10) past the end: LBA out of range.
	out=$(sg_raw -r 512 "$D0" 28 00 00 02 00 00 00 00 01 00 2>&1) &&
		fail "read past the end accepted"
	assert_match "$out" "Logical block address out of range"
	# A reserved bit in INQUIRY: invalid field in CDB.
	out=$(sg_raw -r 96 "$D0" 12 02 00 00 60 00 2>&1) && fail "CmdDt accepted"
	assert_match "$out" "Invalid field in cdb"
	# Writes to the read-only LUN: DATA PROTECT.
	out=$(sg_raw -R -s 512 -i /dev/zero "$D1" 2a 00 00 00 00 00 00 00 01 00 2>&1) &&
		fail "write to a read-only LUN accepted"
	assert_match "$out" "Data [Pp]rotect"
	host_alive
}

test_unmap_write_same_sync() {
	setup
	dd if=/dev/urandom of="$D0" bs=1M count=4 oflag=direct 2>/dev/null ||
		fail "write failed"
	sync
	before=$(hostcall img-alloc d0.img)
	sg_unmap --lba=0 --num=4096 "$D0" || fail "sg_unmap failed"
	sg_sync "$D0" || fail "sg_sync failed"
	after=$(hostcall img-alloc d0.img)
	[ "$after" -le $((before - 2 * 1024 * 1024)) ] ||
		fail "UNMAP left the image at $after bytes (was $before)"
	sg_write_same --16 --unmap --lba=4096 --num=4096 "$D0" ||
		fail "sg_write_same --unmap failed"
	sg_sync "$D0" || fail "sg_sync failed"
	after2=$(hostcall img-alloc d0.img)
	[ "$after2" -le $((after - 1024 * 1024)) ] ||
		fail "WRITE SAME UNMAP left the image at $after2 bytes (was $after)"
	# Holes read back as zeroes.
	assert_eq "$(dd if="$D0" bs=1M count=4 iflag=direct 2>/dev/null | tr -d '\0' | wc -c)" 0 \
		"unmapped blocks read as zeroes"
}

test_ext4() {
	setup
	mkfs.ext4 -q -F "$E0" || fail "mkfs.ext4 failed"
	mkdir -p /mnt/e0
	mount -t ext4 "$E0" /mnt/e0 || fail "mount failed"
	dd if=/dev/urandom of=/tmp/blob bs=1k count=3000 2>/dev/null
	cp /tmp/blob /mnt/e0/blob
	mkdir /mnt/e0/dir && echo hello >/mnt/e0/dir/file
	umount /mnt/e0 || fail "umount failed"
	echo 3 >/proc/sys/vm/drop_caches
	mount -t ext4 "$E0" /mnt/e0 || fail "second mount failed"
	cmp /tmp/blob /mnt/e0/blob || fail "file read back differs"
	assert_eq "$(cat /mnt/e0/dir/file)" hello
	umount /mnt/e0 || fail "umount failed"
	out=$(e2fsck -fn "$E0" 2>&1) || fail "e2fsck: $out"
}

# The limits the guest's block layer took from the host: max_transfer
# (1 MiB, the offer) and 256 GPA ranges per request; VPD b0's 1 GiB per
# UNMAP and per WRITE SAME, so discarding a 40 GiB disk is 40 commands,
# not thousands; VPD b2's LBPWS + LBPRZ, so write zeroes is WRITE SAME(16)
# with UNMAP (a hole punch on the host).
test_limits() {
	setup
	q=/sys/block/$(disk 2 0)/queue
	assert_eq "$(cat $q/max_hw_sectors_kb)" 1024 "max_hw_sectors_kb"
	assert_eq "$(cat $q/max_segments)" 256 "max_segments"
	assert_eq "$(cat $q/discard_max_hw_bytes)" $((1 << 30)) "discard_max_hw_bytes"
	assert_eq "$(cat $q/discard_granularity)" 4096 "discard_granularity"
	# Still on after test_ext4's mkfs.ext4, which zeroes small ranges
	# without unmap: WRITE SAME(10), and sd turns write zeroes off for
	# good when the host refuses it (every later zeroing is then data).
	assert_eq "$(cat $q/write_zeroes_max_bytes)" $((1 << 30)) "write_zeroes_max_bytes"
	sd=$(ls -d /sys/block/$(disk 2 0)/device/scsi_disk/*)
	assert_eq "$(cat "$sd/provisioning_mode")" unmap "provisioning_mode"
	assert_eq "$(cat "$sd/zeroing_mode")" writesame_16_unmap "zeroing_mode"
	# blkdiscard of the whole 32 MiB LUN: one UNMAP.
	u0=$(hostcall scsi-stat 2 unmaps)
	blkdiscard "$E0" || fail "blkdiscard failed"
	assert_eq "$(hostcall scsi-stat 2 unmaps)" $((u0 + 1)) "UNMAPs for one blkdiscard"
}

# Two hardware queues (the guest has two CPUs, controller 1 allows two):
# fio verify, one job per CPU, so both sub-channels carry traffic.
test_fio_verify_multiqueue() {
	setup
	h=$(hosts | sed -n 1p)
	assert_eq "$(cat "/sys/class/scsi_host/host$h/nr_hw_queues")" 2 "hardware queues"
	assert_eq "$(ls "/sys/block/${D0#/dev/}/mq" | wc -l)" 2 "blk-mq queues"
	set -- $(hostcall chan-pkts 1)
	b0=$1 b1=$2
	out=$(fio --name=v --filename="$D0" --direct=1 --ioengine=libaio \
		--rw=randrw --bs=4k --iodepth=32 --size=4M --numjobs=2 \
		--offset_increment=8M --cpus_allowed=0-1 \
		--cpus_allowed_policy=split --verify=crc32c --do_verify=1 \
		--verify_fatal=1 --group_reporting 2>&1) ||
		fail "fio verify failed: $(echo "$out" | tail -n 5)"
	assert_match "$out" "err= 0"
	set -- $(hostcall chan-pkts 1)
	[ "$1" -gt $((b0 + 100)) ] && [ "$2" -gt $((b1 + 100)) ] ||
		fail "not every queue carried I/O: $b0 -> $1, $b1 -> $2 packets"
}

test_fstrim() {
	setup
	mkfs.ext4 -q -F -E nodiscard "$D0" || fail "mkfs.ext4 failed"
	mkdir -p /mnt/d0
	mount -t ext4 "$D0" /mnt/d0 || fail "mount failed"
	dd if=/dev/urandom of=/mnt/d0/big bs=1M count=8 2>/dev/null
	sync
	before=$(hostcall img-alloc d0.img)
	rm /mnt/d0/big
	sync
	fstrim /mnt/d0 || fail "fstrim failed"
	after=$(hostcall img-alloc d0.img)
	umount /mnt/d0
	[ "$after" -le $((before - 6 * 1024 * 1024)) ] ||
		fail "fstrim: image still $after bytes allocated (was $before)"
}

test_hotplug_resize() {
	setup
	hostcall img-new h2.img 8M >/dev/null
	path=$(hostcall img-new h2.img 8M)
	hostcall kvmbusctl set 1 lun=2 image="$path" >/dev/null ||
		fail "kvmbusctl set lun=2 failed"
	wait_for 20 has_disk 1 2 || fail "hot-added LUN 2 did not appear"
	assert_eq "$(cat "/sys/block/$(disk 1 2)/size")" 16384 "new LUN size"
	# Resize LUN 0 under I/O.
	dd if="$D0" of=/dev/null bs=64k count=256 iflag=direct 2>/dev/null &
	hostcall kvmbusctl set 1 lun=0 size=96M >/dev/null ||
		fail "kvmbusctl set size failed"
	grown() { [ "$(cat "/sys/block/${D0#/dev/}/size")" = 196608 ]; }
	wait_for 20 grown || fail "resize not seen: $(cat "/sys/block/${D0#/dev/}/size")"
	wait
	# Remove LUN 2 under I/O.
	N2=/dev/$(disk 1 2)
	dd if="$N2" of=/dev/null bs=4k iflag=direct 2>/dev/null &
	hostcall kvmbusctl set 1 lun=2 remove=1 >/dev/null ||
		fail "kvmbusctl set remove failed"
	wait_for 20 no_disk 1 2 || fail "removed LUN 2 is still there"
	wait
	host_alive
}

test_rmmod() {
	setup
	mkdir -p /mnt/e0
	mkfs.ext4 -q -F "$E0" && mount -t ext4 "$E0" /mnt/e0 ||
		fail "mount failed"
	echo data >/mnt/e0/f
	umount /mnt/e0 || fail "umount failed"
	rmmod kvmbus_storvsc || fail "rmmod kvmbus_storvsc failed"
	[ -z "$(hosts)" ] || fail "SCSI hosts left after rmmod"
	modprobe kvmbus_storvsc || fail "reload failed"
	wait_for 20 has_disk 2 0 || fail "no disk after reload"
	mount -t ext4 "/dev/$(disk 2 0)" /mnt/e0 || fail "mount after reload failed"
	assert_eq "$(cat /mnt/e0/f)" data
	umount /mnt/e0
}

# A LUN opened with O_DIRECT on the host (direct=1): aligned guest
# writes go through the uncached fd and land in the image, read back
# the same through the guest, and the host reports the LUN as direct.
test_direct() {
	setup
	path=$(hostcall img-new x3.img 8M)
	hostcall kvmbusctl set 1 lun=3 image="$path" direct=1 >/dev/null ||
		fail "kvmbusctl set lun=3 direct=1 failed"
	wait_for 20 has_disk 1 3 || fail "direct LUN 3 did not appear"
	assert_eq "$(hostcall lun-json 1 3 direct)" true "LUN 3 direct"
	X3=/dev/$(disk 1 3)
	dd if=/dev/urandom of=/tmp/pat bs=64k count=32 2>/dev/null
	want=$(md5sum </tmp/pat | cut -d' ' -f1)
	dd if=/tmp/pat of="$X3" bs=64k seek=16 oflag=direct conv=fsync \
		2>/dev/null || fail "O_DIRECT write failed"
	assert_eq "$(hostcall img-md5 x3.img $((16 * 65536)) $((32 * 65536)))" \
		"$want" "data in the image"
	assert_eq "$(dd if="$X3" bs=64k skip=16 count=32 iflag=direct \
		2>/dev/null | md5sum | cut -d' ' -f1)" "$want" "data read back"
	out=$(fio --name=d --filename="$X3" --direct=1 --ioengine=libaio \
		--rw=randwrite --bs=4k --iodepth=8 --size=2M --verify=crc32c \
		--do_verify=1 --verify_fatal=1 2>&1) ||
		fail "fio verify failed: $(echo "$out" | tail -n 5)"
	hostcall kvmbusctl set 1 lun=3 remove=1 >/dev/null ||
		fail "kvmbusctl set remove failed"
	wait_for 20 no_disk 1 3 || fail "removed LUN 3 is still there"
	host_alive
}

# host counter NAME of controller 1 is above VALUE
stat_above() {
	[ "$(hostcall scsi-stat 1 "$1")" -gt "$2" ]
}

no_inflight() {
	[ "$(hostcall chan-inflight 1)" = 0 ]
}

# A LUN that stops answering (kvmbusctl set ID lun=N stall=1, fault
# injection): the guest's command timeout goes through the protocol.
# The host refuses the ABORT of a held request (a hung device), the
# guest escalates to RESET_LUN, which answers it ABORTED; the midlayer
# retries.  After stall=0 the read completes or fails cleanly, new I/O
# works, and nothing is left in flight on either side.
test_timeout_reset() {
	setup
	dev=${D0#/dev/}
	tmo=$(cat "/sys/block/$dev/device/timeout")
	echo 3 >"/sys/block/$dev/device/timeout"
	aborts=$(hostcall scsi-stat 1 tmf_aborts)
	refused=$(hostcall scsi-stat 1 aborts_refused)
	resets=$(hostcall scsi-stat 1 tmf_lun_resets)
	aborted=$(hostcall scsi-stat 1 aborted)
	dd if=/dev/urandom of=/tmp/pat bs=4k count=16 2>/dev/null
	dd if=/tmp/pat of="$D0" bs=4k seek=512 oflag=direct 2>/dev/null ||
		fail "write before the stall failed"
	hostcall kvmbusctl set 1 lun=0 stall=1 >/dev/null ||
		fail "kvmbusctl set stall=1 failed"
	assert_eq "$(hostcall lun-json 1 0 stall)" true "LUN 0 stalled"
	dd if="$D0" of=/tmp/back bs=4k skip=512 count=16 iflag=direct \
		2>/dev/null &
	pid=$!
	wait_for 60 stat_above tmf_lun_resets "$resets" ||
		fail "no LUN reset reached the host"
	kill -0 $pid 2>/dev/null || fail "the read ended while the LUN was stalled"
	hostcall kvmbusctl set 1 lun=0 stall=0 >/dev/null ||
		fail "kvmbusctl set stall=0 failed"
	stat_above tmf_aborts "$aborts" || fail "no ABORT reached the host"
	stat_above aborts_refused "$refused" || fail "no ABORT was refused"
	stat_above aborted "$aborted" || fail "the reset aborted nothing"
	if wait $pid; then
		cmp /tmp/pat /tmp/back || fail "the read after the reset differs"
	else
		echo "read failed after the reset (allowed): $?"
	fi
	echo "$tmo" >"/sys/block/$dev/device/timeout"
	# The queue is not hung: new reads and writes work.
	dd if=/tmp/pat of="$D0" bs=4k seek=1024 oflag=direct 2>/dev/null ||
		fail "write after the reset failed"
	assert_eq "$(dd if="$D0" bs=4k skip=1024 count=16 iflag=direct \
		2>/dev/null | md5sum | cut -d' ' -f1)" \
		"$(md5sum </tmp/pat | cut -d' ' -f1)" "read after the reset"
	assert_eq "$(cat "/sys/block/$dev/device/state")" running "device state"
	# Nothing leaked: no request in flight on the host or in the guest.
	wait_for 10 no_inflight || fail "requests left in flight on the host"
	assert_eq "$(cat "/sys/block/$dev/inflight" | tr -s ' ' | sed 's/^ //')" \
		"0 0" "guest requests in flight"
	assert_eq "$(cat "/sys/class/scsi_host/host$(hosts | sed -n 1p)/host_busy")" \
		0 "host_busy"
	# The guest logged the path it took: abort refused, LUN reset.
	log=$(dmesg | grep -E "abort failed|LUN reset")
	assert_match "$log" "abort failed \\(16\\)"
	assert_match "$log" "LUN reset: done"
	host_alive
}

# Last: kvmbusd does not come back.
test_durable_after_kill() {
	setup
	dd if=/dev/urandom of=/tmp/pat bs=4k count=64 2>/dev/null
	dd if=/tmp/pat of="$E0" bs=4k seek=256 conv=fsync 2>/dev/null ||
		fail "write failed"
	want=$(md5sum </tmp/pat | cut -d' ' -f1)
	hostcall kill9 || fail "kill failed"
	assert_eq "$(hostcall img-md5 e0.img $((256 * 4096)) $((64 * 4096)))" "$want" \
		"data in the image after SIGKILL"
}
