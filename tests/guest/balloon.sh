# Dynamic memory (docs/protocol.md 7.2): kvmbus_balloon.ko against
# kvmbusd's balloon provider (balloon.host offers one balloon device,
# admin id 1), in a 1 GiB guest whose RAM file is on the host's /dev/shm.
# What the host gets back is measured on the host: the RAM file's
# allocated bytes (hostcall ram).
# memory: 1G
# timeout: 240

MIB=1048576
# (Re)load the balloon driver with PARAMS and wait for its first report.
balloon_load() {
	modprobe kvmbus || fail "modprobe kvmbus failed"
	rmmod kvmbus_balloon 2>/dev/null
	modprobe kvmbus_balloon "$@" || fail "modprobe kvmbus_balloon $* failed"
	wait_for 20 balloon_bound || fail "balloon driver not bound"
	wait_for 30 host_has_report || fail "no status report reached the host"
}

balloon_dev() {
	for d in /sys/bus/kvmbus/devices/*; do
		[ -e "$d/balloon" ] && { echo "$d"; return 0; }
	done
	return 1
}

balloon_bound() {
	balloon_dev >/dev/null
}

# SHORT: MiB of the 1 GiB this kernel keeps for itself beyond what a stock
# kernel keeps (0 there).  The debug kernel's KASAN shadow (an eighth of
# RAM), kmemleak's and lockdep's tables leave it about 780 MiB of MemTotal
# where the stock kernels have about 1000: its workloads and balloons are
# smaller by SHORT, or the 600 MiB fill alone runs it out of memory.
# MemTotal moves with the balloon (a case that failed leaves it inflated):
# what the balloon holds is added back.

# _balloon_attr NAME: the balloon device's attribute NAME in $BA, read
# with builtins (wait_for polls it; a fork and an exec cost about 0.3 s
# on the debug kernel).
_balloon_attr() {
	BA=
	for _d in /sys/bus/kvmbus/devices/*; do
		[ -e "$_d/balloon" ] || continue
		read -r BA 2>/dev/null <"$_d/$1"
		return
	done
	return 1
}

# SHORT (above), with the balloon read before and after MemTotal until it
# held still in between: a driver the case before loaded may still be
# moving to the host's last target.
_k=0
while :; do
	_b1=0 _b2=0
	_balloon_attr balloon && _b1=$BA
	SHORT=$(short_mib $((_b1 / MIB)))
	_balloon_attr balloon && _b2=$BA
	[ "$_b1" = "$_b2" ] && break
	_k=$((_k + 1))
	[ "$_k" -lt 100 ] || break
	sleep 0.2
done

# Bytes in the balloon, as the guest counts them.
guest_balloon() {
	_balloon_attr balloon && echo "$BA"
}

host_json() {
	hostcall kvmbusctl --json balloon 1
}

# host_field JSON KEY: the first "KEY": NUMBER of JSON.
host_field() {
	echo "$1" | tr ',{}' '\n\n\n' | sed -n "s/^ *\"$2\": *\([0-9][0-9]*\) *$/\1/p" | head -n 1
}

host_has_report() {
	host_json | grep -q '"guest"'
}

ram() {
	hostcall ram
}

mem_total() {
	sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo
}

# Set the guest memory target; wait until the guest balloon holds BYTES.
balloon_to() {
	hostcall kvmbusctl balloon 1 "$1" >/dev/null || fail "kvmbusctl balloon 1 $1 failed"
	wait_for "${3:-120}" balloon_is "$2" ||
		fail "balloon holds $(guest_balloon) bytes, not $2, after target $1: $(hostcall kvmbusctl balloon 1)"
}

balloon_is() {
	_balloon_attr balloon && [ "$BA" = "$1" ]
}

# Touch MIBS MiB of guest RAM (so the host file holds them) and free it.
touch_ram() {
	mkdir -p /run/touch
	mount -t tmpfs -o size=900M touch /run/touch || fail "mount tmpfs"
	dd if=/dev/zero of=/run/touch/fill bs=1M count="$1" 2>/dev/null
	ret=$?
	umount /run/touch
	[ $ret = 0 ] || fail "could not fill $1 MiB of tmpfs"
}

no_oom() {
	if dmesg | grep -Eq 'Out of memory|oom-kill|Killed process'; then
		fail "OOM killer ran: $(dmesg | grep -E 'Out of memory|Killed process' | head -n 3)"
	fi
}

test_report() {
	balloon_load
	j=$(host_json)
	log "$j"
	total=$(host_field "$j" total)
	[ "$total" -gt $(((900 - SHORT) * MIB)) ] && [ "$total" -le $((1024 * MIB)) ] ||
		fail "guest total $total bytes, expected about 1 GiB"
	avail=$(host_field "$j" available)
	[ "$avail" -gt 0 ] && [ "$avail" -le "$total" ] ||
		fail "guest available $avail bytes of $total"
	assert_eq "$(host_field "$j" rejected)" 0 "reports refused"
	assert_eq "$(host_field "$j" malformed)" 0 "malformed messages"
}

test_inflate_returns_ram() {
	# No free page reporting here: it would give the touched memory back
	# before the balloon does.
	balloon_load free_page_reporting=0
	total0=$(mem_total)
	b=$((512 - SHORT))
	touch_ram $((600 - SHORT))
	before=$(ram)
	balloon_to $((1024 - b))M $((b * MIB))
	after=$(ram)
	log "RAM file: $((before / MIB)) MiB before, $((after / MIB)) MiB after inflating $b MiB"
	[ $((before - after)) -ge $((b * MIB * 95 / 100)) ] ||
		fail "the host got back $(((before - after) / MIB)) MiB of $b"
	total1=$(mem_total)
	[ $((total0 - total1)) -ge $((b * 1024)) ] ||
		fail "MemTotal went from $total0 to $total1 kB"
	# The guest keeps working with what it has left.
	dd if=/dev/urandom of=/dev/shm/work bs=1M count=64 2>/dev/null || fail "guest cannot use its memory"
	sum1=$(md5sum </dev/shm/work)
	sum2=$(md5sum </dev/shm/work)
	assert_eq "$sum1" "$sum2" "a file in guest RAM reads back the same"
	rm -f /dev/shm/work
	balloon_to 1G 0
	assert_eq "$(mem_total)" "$total0" "MemTotal after deflating"
	j=$(host_json)
	assert_eq "$(host_field "$j" balloon)" 0 "host's balloon size"
	assert_eq "$(host_field "$j" rejected)" 0 "messages refused"
	no_oom
}

test_memory_hog_deflates() {
	balloon_load free_page_reporting=0
	b=$((576 - SHORT))
	balloon_to $((1024 - b))M $((b * MIB))
	# More than the guest has left (about 120 MiB), less than its
	# MemTotal (about 350 MiB): the balloon must make room.
	stress-ng --vm 1 --vm-bytes 300M --vm-keep --vm-method write64 -t $((15 * ${KVMTEST_SCALE:-1}))s \
		>/tmp/stress.log 2>&1 || fail "stress-ng failed: $(tail -n 3 /tmp/stress.log)"
	now=$(guest_balloon)
	log "balloon after the hog: $((now / MIB)) MiB"
	[ "$now" -lt $((b * MIB)) ] || fail "the balloon did not deflate"
	no_oom
	j=$(host_json)
	[ "$(host_field "$j" pressure_pages)" -gt 0 ] || fail "the host saw no pressure deflate: $j"
	balloon_to 1G 0
}

# The guest's reported count has not moved for 3 s (the kernel reports
# at most every 2 s).  The first call only records the count and the time.
reporting_settled() {
	_balloon_attr reported
	_r=$BA
	_kt_uptime	# sets _kt_s
	# shellcheck disable=SC2154
	[ "$_r" = "${_last_reported:-}" ] && [ $((_kt_s - _since)) -ge 3 ] && return 0
	[ "$_r" = "${_last_reported:-}" ] || { _last_reported=$_r; _since=$_kt_s; }
	return 1
}

# One line of what the return of freed memory depends on: MiB back in
# the host so far, MiB the guest counted reported, page cache and tmpfs
# (Cached) and the free 2 and 4 MiB blocks (the only sizes the kernel
# reports).
reporting_progress() {
	log "$1: $((got / MIB)) MiB back, guest reported $(($(cat "$(balloon_dev)/reported") / MIB)) MiB, $(sed -n 's/^Cached: *\([0-9]*\) kB/\1/p' /proc/meminfo) KiB cached, free 2/4 MiB blocks $(awk '$4 == "DMA32" { print $14 "/" $15 }' /proc/buddyinfo)"
}

test_free_page_reporting() {
	balloon_load
	# Loading the driver reports every free 2 MiB block once.  Let that
	# end first: memory used during it lands on blocks the host still
	# holds, the RAM file does not grow by it, and its return cannot show.
	wait_for 60 reporting_settled || fail "the guest's first report did not end"
	# Memory the guest uses, then frees: a tmpfs file, written, then
	# deleted.  (Reading a loop device over a sparse file, as this case
	# once did, leaves no page cache behind on these kernels: it measured
	# whatever the read happened to touch on its way.)
	fill=$((400 - SHORT))
	want=$(((200 - SHORT / 2) * MIB))
	pre=$(ram)
	dd if=/dev/zero of=/tmp/fill bs=1M count=$fill 2>/dev/null ||
		{ rm -f /tmp/fill; fail "writing $fill MiB to /tmp/fill"; }
	before=$(ram)
	log "writing /tmp/fill added $(((before - pre) / MIB)) MiB to the RAM file"
	got=0
	reporting_progress "before rm"
	rm -f /tmp/fill
	i=0
	while [ $i -lt $((60 * ${KVMTEST_SCALE:-1})) ]; do
		sleep 1
		got=$((before - $(ram)))
		[ $got -ge $want ] && break
		i=$((i + 1))
		[ $((i % 15)) -eq 0 ] && reporting_progress "$i s"
	done
	reporting_progress "returned in about $i s"
	[ $got -ge $want ] ||
		{
			# How the guest's free memory is split: the kernel
			# reports only 2 and 4 MiB blocks.
			log "free blocks per order 0-10: $(sed -n 's/.*zone *DMA32 *//p' /proc/buddyinfo)"
			fail "only $((got / MIB)) MiB of $fill came back: $(hostcall kvmbusctl balloon 1)"
		}
	[ "$(cat "$(balloon_dev)/reported")" -gt 0 ] || fail "the guest counted no reported pages"
}

test_balancer_sets_the_budget() {
	balloon_load free_page_reporting=0
	# One VM under a 640 MiB budget: the balancer gives it all of it.
	out=$(hostcall balance --budget 640M --headroom 20 --rounds 1) ||
		fail "kvmbusctl balance failed: $out"
	log "$out"
	assert_match "$out" "round 1: .*: uses [0-9]+ MiB, demand [0-9]+ MiB, target 1024 -> 640 MiB"
	wait_for 120 balloon_is $((384 * MIB)) ||
		fail "balloon holds $(guest_balloon) bytes after balancing, not 384 MiB"
	# Enough budget for the whole guest: the balloon empties.
	hostcall balance --budget 4G --rounds 1 >/dev/null || fail "kvmbusctl balance failed"
	wait_for 120 balloon_is 0 || fail "balloon holds $(guest_balloon) bytes with budget to spare"
	no_oom
}

test_rmmod_inflated() {
	balloon_load free_page_reporting=0
	total0=$(mem_total)
	balloon_to 768M $((256 * MIB))
	rmmod kvmbus_balloon || fail "rmmod with an inflated balloon failed"
	assert_eq "$(mem_total)" "$total0" "MemTotal after rmmod"
	dmesg | grep -q 'balloon: 256 MiB returned to the kernel' ||
		fail "the driver did not say it returned 256 MiB"
	modprobe kvmbus_balloon || fail "modprobe after rmmod"
	wait_for 20 balloon_bound || fail "balloon driver not bound again"
	# The host's target is still 768 MiB: back to all of it, so that the
	# next case does not start with a balloon inflating.
	balloon_to 1G 0
}

# offline_pages PFN COUNT: pages of [PFN, PFN+COUNT) that are PageOffline
# (KPF_OFFLINE, bit 23 of /proc/kpageflags): the balloon's pages.  PFN and
# COUNT are multiples of 512 (read 512 entries at a time).
offline_pages() {
	dd if=/proc/kpageflags bs=4096 skip=$(($1 / 512)) count=$(($2 / 512)) 2>/dev/null |
		od -A n -t x8 -v |
		awk '{ for (i = 1; i <= NF; i++) if (substr($i, 11, 1) ~ /[89a-f]/) n++ }
		     END { print n + 0 }'
}

range_state() {
	host_json | tr ',{}' '\n\n\n' | sed -n 's/^ *"state": *"\([a-z-]*\)" *$/\1/p' | head -n 1
}

range_state_is() {
	[ "$(range_state)" = "$1" ]
}

test_deflate_range() {
	balloon_load free_page_reporting=0
	dev=$(balloon_dev)
	ram_pages=$((1024 * 256))
	b=$((512 - SHORT))
	balloon_to $((1024 - b))M $((b * MIB))
	# Every ballooned page, and nothing else, is PageOffline.
	assert_eq "$(offline_pages 0 $ram_pages)" $((b * 256)) "PageOffline pages with $b MiB ballooned"
	# The range: GPA 384 MiB .. 512 MiB (frames 98304 .. 131071).
	pfn=$((384 * 256)) n=$((128 * 256))
	inside=$(offline_pages $pfn $n)
	log "ballooned pages inside [384 MiB, 512 MiB): $inside"
	[ "$inside" -gt 0 ] || fail "no ballooned page inside the range to deflate"
	holes=$(hostcall holes $((pfn * 4096)) $((n * 4096)))
	[ "$holes" -ge $((inside * 4096)) ] ||
		fail "the host holds ballooned pages of the range: $holes bytes punched for $inside pages"
	hostcall kvmbusctl balloon 1 deflate $((pfn * 4096)) 128M >/dev/null ||
		fail "kvmbusctl balloon 1 deflate failed"
	wait_for 60 range_state_is done || fail "range deflate not answered: $(hostcall kvmbusctl balloon 1)"
	# Exactly the pages inside came back, the rest stays ballooned.
	assert_eq "$(cat "$dev/range_deflated")" $((inside * 4096)) "bytes the guest returned by range"
	assert_eq "$(offline_pages $pfn $n)" 0 "PageOffline pages left inside the range"
	assert_eq "$(offline_pages 0 $ram_pages)" $((b * 256 - inside)) "PageOffline pages outside the range"
	assert_eq "$(guest_balloon)" $((b * MIB - inside * 4096)) "guest balloon after the range deflate"
	j=$(host_json)
	assert_eq "$(host_field "$j" range_deflated_pages)" "$inside" "host's count of pages returned by range"
	assert_eq "$(host_field "$j" balloon)" $((b * MIB - inside * 4096)) "host's balloon size"
	assert_eq "$(host_field "$j" rejected)" 0 "messages refused"
	# The target followed: the host does not inflate them away again.
	sleep 3
	assert_eq "$(guest_balloon)" $((b * MIB - inside * 4096)) "guest balloon 3 s later"
	# A second time: nothing left in the range.
	hostcall kvmbusctl balloon 1 deflate $((pfn * 4096)) 128M >/dev/null ||
		fail "kvmbusctl balloon 1 deflate (again) failed"
	wait_for 60 range_state_is done || fail "second range deflate not answered"
	assert_eq "$(cat "$dev/range_deflated")" $((inside * 4096)) "bytes returned by range after a second deflate"
	# A range that is not guest RAM (16 GiB up): refused, counted, no page moves.
	hostcall kvmbusctl balloon 1 deflate 16G 64M >/dev/null ||
		fail "kvmbusctl balloon 1 deflate 16G failed"
	wait_for 60 range_state_is refused || fail "range outside RAM not refused: $(hostcall kvmbusctl balloon 1)"
	assert_eq "$(cat "$dev/range_refused")" 1 "ranges the guest refused"
	assert_eq "$(host_field "$(host_json)" range_refused)" 1 "host's count of refused ranges"
	assert_eq "$(guest_balloon)" $((b * MIB - inside * 4096)) "guest balloon after a refused range"
	dmesg | grep -q 'range deflate refused' || fail "the guest did not log the refused range"
	balloon_to 1G 0
	assert_eq "$(offline_pages 0 $ram_pages)" 0 "PageOffline pages with the balloon empty"
	no_oom
}
