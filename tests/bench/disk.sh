# SPDX-License-Identifier: GPL-2.0-only
#
# make bench-disk: the same guest measures every disk of the comparison in
# one boot.  Each disk is a raw 40 GiB sparse image (cache=none and
# discard=unmap, or O_DIRECT and discard=1 in kvmbusd: every disk frees
# what mkfs discards) whose size tells the disks apart: 40 GiB + N MiB.
# fio runs on the first 512 MiB (128 MiB quick), which the host filled with
# data; mkfs.ext4 formats the whole disk last.  The host companion
# (disk.host -> companion) sets the disks up from the plug-ins in disk.d/
# and stores every raw result; the driver (tests/bench/bench) makes the
# table, JSON and chart.  Cases never assert timings.
# memory: 1G
# smp: 2
# timeout: 600
# boot-timeout: 120

# shellcheck disable=SC2154  # bench_*: set by bench_config
. /tests/bench.lib.sh

# disk_of BYTES: the whole disk of exactly that size
disk_of() {
	for d in /sys/block/*; do
		case ${d##*/} in loop*|ram*|zram*) continue ;; esac
		[ "$(($(cat "$d/size") * 512))" = "$1" ] && { echo "${d##*/}"; return 0; }
	done
	return 1
}

# Every test of one device, once (a round); the variables are bench_disk's.
disk_tests() {
	# shellcheck disable=SC2086
	{
		bench_test seq_write_1m "$sysdev" $fio --name=seqw --rw=write --bs=1M --iodepth=8
		bench_test seq_read_1m "$sysdev" $fio --name=seqr --rw=read --bs=1M --iodepth=8
		bench_test rand_write_4k_qd1 "$sysdev" $fio --name=rw1 --rw=randwrite --bs=4k --iodepth=1
		bench_test rand_write_4k_qd32 "$sysdev" $fio --name=rw32 --rw=randwrite --bs=4k --iodepth=32
		bench_test rand_read_4k_qd1 "$sysdev" $fio --name=rr1 --rw=randread --bs=4k --iodepth=1
		bench_test rand_read_4k_qd32 "$sysdev" $fio --name=rr32 --rw=randread --bs=4k --iodepth=32
		bench_test mkfs "$sysdev" mkfs.ext4 -F -q "/dev/$disk"
	}
}

bench_disk() {
	bench_config "$1" || return 1
	wait_for 30 disk_of "$bench_size" >/dev/null ||
		fail "$bench_label: no disk of $bench_size bytes appeared"
	disk=$(disk_of "$bench_size")
	log "$bench_label is /dev/$disk ($(readlink -f "/sys/block/$disk/device" | sed 's|^/sys/devices/||'))"
	hostcall note "$bench_label: /dev/$disk, measuring ($bench_seconds s per test)"
	sysdev=/sys/block/$disk/device
	fio="fio --filename=/dev/$disk --direct=1 --ioengine=libaio --size=$bench_region"
	fio="$fio --time_based --runtime=$bench_seconds --randrepeat=0 --output-format=json"
	bench_run_rounds disk_tests
	bench_done
}

test_ahci() {
	bench_disk ahci
}

test_virtio_blk() {
	bench_disk virtio_blk
}

test_virtio_scsi() {
	bench_disk virtio_scsi
}

test_kvmbus_storvsc() {
	bench_disk kvmbus_storvsc
}
