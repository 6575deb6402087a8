# A hostile guest (issues #3 and #7): kvmbus_evil.ko takes one of the two
# echo devices and breaks the protocol on its channel in every way the
# framing allows, sends well-framed nonsense, duplicate trans_ids and
# floods.  kvmbusd must stay up, mark only that channel broken (or drop
# and count the packet, as docs/protocol.md says), log at a bounded rate,
# keep serving the other echo device (kvmbus_echo.ko checks every byte),
# and keep its memory and threads bounded.  docs/reliability.md lists each
# fault with its outcome.  The host side (hostile.host) is kvmbusd with two
# echo devices, each channel on a worker thread of its own.
# timeout: 300

ECHO_CLASS=fe7f9a81-8463-47a7-af62-b5deede655b6

echo_devices() {
	for d in /sys/bus/kvmbus/devices/*; do
		[ "$(cat "$d/class_id" 2>/dev/null)" = "$ECHO_CLASS" ] && echo "$d"
	done
}

evil_dev() {
	for d in $(echo_devices); do
		[ -e "$d/evil" ] && echo "$d"
	done
}

good_dev() {
	for d in $(echo_devices); do
		[ -e "$d/run" ] && echo "$d"
	done
}

# The other device still echoes, every byte checked by kvmbus_echo.ko.
good_traffic() {
	g=$(good_dev)
	echo "inband 200 512" >"$g/run" 2>/dev/null ||
		fail "the other echo device failed: $(cat "$g/run")"
}

# evil CASE [N]: run one case; fails the test if the module says so.
evil() {
	echo "$*" >"$(evil_dev)/evil" 2>/dev/null ||
		fail "evil '$*': $(cat "$(evil_dev)/evil")"
}

evil_relid() {
	cat "$(evil_dev)/relid"
}

# The evil channel as kvmbusd sees it: state malformed doorbells in threaded
chan() {
	hostcall chan "$(evil_relid)" || fail "kvmbusd does not list relid $(evil_relid)"
}

chan_state_is() {
	[ "$(chan | cut -d' ' -f1)" = "$1" ]
}

alive() {
	hostcall kvmbusctl status >/dev/null || fail "kvmbusd is not answering"
}

# broken CASE: the case breaks the evil channel and nothing else.
broken() {
	evil "$1"
	wait_for 20 chan_state_is broken ||
		fail "$1: the channel is '$(chan)', not broken"
	alive
	good_traffic
	# A broken channel ignores the guest: doorbells are counted only.
	evil doorbells 200
	alive
	evil reopen
	chan_state_is open || fail "$1: reopened channel is '$(chan)'"
	evil dup_tid
}

test_setup() {
	modprobe kvmbus || fail "modprobe kvmbus failed"
	wait_for 10 sh -c "[ \$(ls /sys/bus/kvmbus/devices | wc -l) -ge 2 ]" ||
		fail "kvmbusd's two echo devices did not appear"
	relid=$(cat "$(echo_devices | head -n 1)/relid")
	modprobe kvmbus_evil relid="$relid" || fail "modprobe kvmbus_evil failed"
	modprobe kvmbus_echo || fail "modprobe kvmbus_echo failed"
	wait_for 10 sh -c "[ -n \"\$(ls /sys/bus/kvmbus/devices/*/run 2>/dev/null)\" ]" ||
		fail "kvmbus_echo did not bind the other device"
	[ -n "$(evil_dev)" ] || fail "kvmbus_evil did not bind relid $relid"
	wait_for 10 chan_state_is open || fail "evil channel: '$(chan)'"
	good_traffic
	# Both echo channels run on worker threads: main + 2.
	set -- $(hostcall proc)
	echo "$1" >/tmp/rss0
	echo "$2" >/tmp/threads0
	assert_eq "$2" 3 "kvmbusd threads with two open echo channels"
	assert_eq "$(chan | cut -d' ' -f5)" true "evil channel on a worker"
}

test_write_index_unaligned() {
	broken wr_unaligned
}

test_write_index_past_ring() {
	broken wr_past
}

test_length_past_ring() {
	broken len_past
}

test_bad_data_offset() {
	broken bad_offset
}

test_unknown_packet_type() {
	broken bad_type
}

test_lying_trailer() {
	broken bad_trailer
}

test_gpa_outside_ram() {
	# Answered EFAULT; nothing outside guest RAM is touched.
	evil gpa_outside
	evil gpa_wrap
	chan_state_is open || fail "channel '$(chan)' after refused GPA ranges"
	good_traffic
}

test_gpa_range_count() {
	evil gpa_count
	chan_state_is open || fail "channel '$(chan)' after a bad range count"
}

test_unasked_completion() {
	before=$(chan | cut -d' ' -f2)
	evil comp
	after=$(chan | cut -d' ' -f2)
	assert_eq "$after" "$((before + 1))" "malformed count"
	chan_state_is open || fail "channel '$(chan)' after a stray completion"
}

test_duplicate_trans_ids() {
	evil dup_tid
	evil dup_tid
	chan_state_is open || fail "channel '$(chan)' after duplicate ids"
}

test_flood() {
	before=$(chan | cut -d' ' -f2)
	lines=$(hostcall logcount "never asks for completions")
	evil flood 5000
	good_traffic
	after=$(chan | cut -d' ' -f2)
	assert_eq "$after" "$((before + 5000))" "completions dropped and counted"
	new=$(($(hostcall logcount "never asks for completions") - lines))
	# Per channel 5 lines per 5 s, however many packets.
	[ "$new" -le 20 ] || fail "$new log lines for 5000 bad packets"
	evil doorbells 5000
	alive
}

test_bounded() {
	good_traffic
	set -- $(hostcall proc)
	rss0=$(cat /tmp/rss0)
	assert_eq "$2" "$(cat /tmp/threads0)" "kvmbusd threads after every fault"
	# Six reopen cycles and floods: no growth beyond a little heap.
	[ "$1" -le $((rss0 + 16384)) ] ||
		fail "kvmbusd RSS grew from $rss0 KiB to $1 KiB"
	broken_lines=$(hostcall logcount ") broken: ")
	[ "$broken_lines" -ge 6 ] && [ "$broken_lines" -le 10 ] ||
		fail "$broken_lines 'broken' log lines for 6 broken channels"
	log "kvmbusd: $1 KiB resident (from $rss0), $2 threads, $broken_lines broken lines"
}

test_unload() {
	rmmod kvmbus_evil || fail "rmmod kvmbus_evil failed"
	rmmod kvmbus_echo || fail "rmmod kvmbus_echo failed"
	rmmod kvmbus || fail "rmmod kvmbus failed"
	set -- $(hostcall proc)
	assert_eq "$2" 1 "kvmbusd threads with no channel open"
}
