# Echo channel benchmark (make bench-echo): throughput, round-trip latency
# and signals/interrupts per packet of one kvmbus channel, guest kernel
# module to kvmbusd's echo provider and back, at 64 B, 1500 B and 64 KiB.
# Streams go out in batches of 16 packets per flush (the echo driver's
# ECHO_BATCH); the counters are the channel's own (kvmbus.ko's sysfs:
# signals = doorbells the guest rang, interrupts = the host's signals).
# Nothing is asserted about the numbers: they are for docs/performance.md.
# timeout: 900

ECHO_CLASS=fe7f9a81-8463-47a7-af62-b5deede655b6

echo_device() {
	for d in /sys/bus/kvmbus/devices/*; do
		if [ "$(cat "$d/class_id" 2>/dev/null)" = "$ECHO_CLASS" ]; then
			echo "$d"
			return
		fi
	done
}

bound() {
	[ -e "$1/run" ] && [ -d "$1/channels/$(cat "$1/relid")" ]
}

# ns DEVICE REQUEST: run it, print the nanoseconds it took
ns() {
	echo "$2" >"$1/run" 2>/dev/null || fail "'$2': $(cat "$1/run")"
	cat "$1/run" | sed -n 's/.* in \([0-9]*\) ns$/\1/p'
}

test_echo_channel() {
	modprobe kvmbus || fail "modprobe kvmbus"
	# 256 KiB rings so that a 64 KiB packet fits with room to pipeline.
	modprobe kvmbus_echo ring_kb=256 subchannels=0 || fail "modprobe kvmbus_echo"
	d=$(echo_device)
	[ -n "$d" ] || fail "no echo device"
	wait_for 20 bound "$d" || fail "echo driver not bound"
	c=$d/channels/$(cat "$d/relid")
	ns "$d" "inband 1000 64" >/dev/null	# warm up
	for spec in 64:20000 1500:10000 65536:1000; do
		size=${spec%%:*}
		n=${spec#*:}
		s0=$(cat "$c/signals")
		i0=$(cat "$c/interrupts")
		t=$(ns "$d" "inband $n $size")
		s1=$(cat "$c/signals")
		i1=$(cat "$c/interrupts")
		rt=$(ns "$d" "pingpong 300 $size")
		log "BENCH: $(awk -v size="$size" -v n="$n" -v t="$t" \
			-v s=$((s1 - s0)) -v i=$((i1 - i0)) -v rt="$rt" 'BEGIN {
			printf "size=%d packets=%d pkts_per_s=%.0f MB_per_s=%.1f " \
			       "signals=%d interrupts=%d pkts_per_signal=%.1f " \
			       "pkts_per_interrupt=%.1f rtt_us=%.1f\n",
			       size, n, n / (t / 1e9), n * size / (t / 1e9) / 1e6,
			       s, i, s ? n / s : n, i ? n / i : n, rt / 300 / 1e3 }')"
	done
}
