# A hostile host (issue #3): kvmbusd --test (host/evil.h) sends offers the
# guest must refuse, and spoils one echo device's host->guest ring in each
# way the framing allows.  The guest must carry on: no oops or WARNING
# (every case checks dmesg), the spoiled channel reported broken and
# recoverable by rebinding its driver, the bus and the other echo device
# still working.  docs/reliability.md lists each fault with its outcome.
# timeout: 300

ECHO_CLASS=fe7f9a81-8463-47a7-af62-b5deede655b6
ECHO_DRV=/sys/bus/kvmbus/drivers/kvmbus_echo

# The helpers wait_for polls use shell builtins only: a fork and an exec
# cost about 0.3 s on the debug kernel.
echo_devices() {
	for d in /sys/bus/kvmbus/devices/*; do
		_c=
		read -r _c 2>/dev/null <"$d/class_id"
		[ "$_c" = "$ECHO_CLASS" ] && echo "$d"
	done
}

# nth_echo N: the N-th echo device
nth_echo() {
	_k=0
	for d in /sys/bus/kvmbus/devices/*; do
		_c=
		read -r _c 2>/dev/null <"$d/class_id"
		[ "$_c" = "$ECHO_CLASS" ] || continue
		_k=$((_k + 1))
		[ "$_k" = "$1" ] && { echo "$d"; return 0; }
	done
	return 1
}

dev_a() { nth_echo 1; }
dev_b() { nth_echo 2; }

# Every device's relid, ascending, each followed by a space.
relids() {
	_all=
	for _f in /sys/bus/kvmbus/devices/*/relid; do
		_r=
		read -r _r 2>/dev/null <"$_f" && _all="$_all $_r"
	done
	# shellcheck disable=SC2086
	sort_n $_all
	for _r in $SN; do
		printf '%s ' "$_r"
	done
}

relids_are() {
	[ "$(relids)" = "$1" ]
}

devices_at_least() {
	set -- "$1" /sys/bus/kvmbus/devices/*
	_want=$1
	shift
	[ -e "$1" ] || set --
	[ $# -ge "$_want" ]
}

# kvmbusd's admin id of the device with relid $1
host_id() {
	hostcall kvmbusctl --json devices |
		sed -n "s/.*\"id\": *\([0-9]*\)[^}]*\"relid\": *$1[,} ].*/\1/p"
}

traffic() {
	echo "inband 100 700" >"$1/run" 2>/dev/null ||
		fail "$(basename "$1") no longer echoes: $(cat "$1/run")"
}

both_work() {
	traffic "$(dev_a)"
	traffic "$(dev_b)"
}

# evil_offer MODE: the guest refuses it (no device for it), and the
# offers after it still work.  A hot-added echo device is the barrier:
# offers are handled in order, so once it appears the evil one was seen.
evil_offer() {
	known=$(relids)
	hostcall kvmbusctl evil-offer "$1" || fail "evil-offer $1 not sent"
	out=$(hostcall kvmbusctl add echo) || fail "kvmbusctl add echo: $out"
	# shellcheck disable=SC2086
	n=$(set -- $known; echo $(($# + 1)))
	wait_for 20 devices_at_least "$n" ||
		fail "$1: the echo device added after it never appeared"
	new=$(relids)
	for r in $new; do
		case " $known " in *" $r "*) continue ;; esac
		[ "$r" -ge 100000 ] && fail "$1: the guest took relid $r"
		added=$r
	done
	id=$(host_id "$added")
	hostcall kvmbusctl remove "$id" >/dev/null || fail "remove $id failed"
	wait_for 20 relids_are "$known" ||
		fail "$1: devices are now '$(relids)', were '$known'"
	both_work
}

# log_grew REGEX N: more than N kernel log lines match REGEX
log_grew() {
	[ "$(dmesg | grep -c "$1")" -gt "$2" ]
}

# evil_ring MODE: device A's channel broken, reported, B unharmed, A back
# after a rebind.
evil_ring() {
	a=$(dev_a)
	relid=$(cat "$a/relid")
	msg="channel $relid: the host broke the ring protocol"
	before=$(dmesg | grep -c "$msg")
	hostcall kvmbusctl echo-evil "$(host_id "$relid")" "$1" ||
		fail "echo-evil $1 not sent"
	wait_for 20 log_grew "$msg" "$before" ||
		fail "$1: the guest did not report channel $relid broken"
	traffic "$(dev_b)"
	echo "$(basename "$a")" >"$ECHO_DRV/unbind" || fail "unbind failed"
	echo "$(basename "$a")" >"$ECHO_DRV/bind" || fail "bind failed"
	wait_for 10 test -e "$a/run" || fail "$1: echo driver did not rebind"
	both_work
}

# host_drops MODE WHAT: kvmbusd drops the next such request of device A's
# and never answers.  The echo driver's probe fails after the control
# timeout (5 s) with the log saying what went unanswered; rings the host
# may still reach are never freed; B is unharmed; the next probe, which
# the host answers, binds A again.
host_drops() {
	a=$(dev_a)
	name=$(basename "$a")
	msg="no $2 answer for [0-9]* from kvmbusd"
	before=$(dmesg | grep -c "$msg")
	echo "$name" >"$ECHO_DRV/unbind" || fail "unbind failed"
	hostcall kvmbusctl evil-drop "$1" || fail "evil-drop $1 not armed"
	echo "$name" >"$ECHO_DRV/bind" 2>/dev/null &&
		fail "$1: the echo driver bound with the request unanswered"
	[ "$(dmesg | grep -c "$msg")" -gt "$before" ] ||
		fail "$1: no '$2' timeout in the log"
	[ ! -e "$a/run" ] || fail "$1: the device kept its driver"
	traffic "$(dev_b)"
	echo "$name" >"$ECHO_DRV/bind" || fail "$1: bind after the timeout failed"
	wait_for 10 test -e "$a/run" || fail "$1: echo driver did not rebind"
	both_work
}

test_setup() {
	modprobe kvmbus || fail "modprobe kvmbus failed"
	modprobe kvmbus_echo || fail "modprobe kvmbus_echo failed"
	wait_for 10 sh -c "[ \$(ls /sys/bus/kvmbus/devices/*/run | wc -l) -ge 2 ]" ||
		fail "the echo driver did not bind both devices"
	both_work
}

test_offer_relid_0() {
	evil_offer relid0
}

test_offer_vector_out_of_range() {
	evil_offer vector_big
}

test_offer_control_vector() {
	evil_offer vector0
}

test_offer_data_too_long() {
	evil_offer data_len
}

test_offer_short_message() {
	evil_offer short
}

test_offer_duplicate_relid() {
	evil_offer dup_relid
}

test_offer_subchannel_of_nothing() {
	evil_offer sub_unknown
}

test_offer_subchannel_index_too_big() {
	evil_offer sub_index_big
}

test_ring_write_index_unaligned() {
	evil_ring wr_unaligned
}

test_ring_write_index_past_ring() {
	evil_ring wr_past
}

test_ring_length_past_ring() {
	evil_ring len_past
}

test_ring_bad_data_offset() {
	evil_ring bad_offset
}

test_ring_unknown_type() {
	evil_ring bad_type
}

test_ring_lying_trailer() {
	evil_ring bad_trailer
}

test_completion_for_unknown_id() {
	a=$(dev_a)
	msg="channel $(cat "$a/relid"): the host broke the ring protocol"
	before=$(dmesg | grep -c "$msg")
	hostcall kvmbusctl echo-evil "$(host_id "$(cat "$a/relid")")" unknown_tid ||
		fail "echo-evil unknown_tid not sent"
	sleep 1
	[ "$(dmesg | grep -c "$msg")" = "$before" ] ||
		fail "a well-formed completion broke the channel"
	both_work
}

test_offer_unknown_class() {
	# Kept as a device no driver binds; the bus goes on.
	hostcall kvmbusctl evil-offer unknown_class || fail "not sent"
	wait_for 10 sh -c "grep -qx 100000 /sys/bus/kvmbus/devices/*/relid" ||
		fail "the unknown-class offer was not kept as a device"
	for d in /sys/bus/kvmbus/devices/*; do
		[ "$(cat "$d/relid")" = 100000 ] && [ -e "$d/driver" ] &&
			fail "a driver bound the unknown class"
	done
	both_work
}

test_host_drops_gpadl_create() {
	host_drops gpadl "GPADL created"
	dmesg | grep -q "host did not let go of the rings; leaking" ||
		fail "the unanswered GPADL's rings were not kept from reuse"
}

test_host_drops_open() {
	# The CLOSE after the timeout is answered: the rings are freed.
	leaks=$(dmesg | grep -c "host did not let go of the rings")
	host_drops open "channel open"
	[ "$(dmesg | grep -c "host did not let go of the rings")" = "$leaks" ] ||
		fail "the rings were leaked although the CLOSE was answered"
}

test_unload() {
	rmmod kvmbus_echo || fail "rmmod kvmbus_echo failed"
	rmmod kvmbus || fail "rmmod kvmbus failed"
	hostcall kvmbusctl status >/dev/null || fail "kvmbusd is not answering"
}
