# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=sh disable=SC3028,SC3045
# (busybox ash: $RANDOM and read -t exist)
#
# kvmbus guest test runtime (busybox ash), installed as /tests/lib.sh.
#
# Sourced by /init (which runs the cases) and again in every case's own
# shell before the suite file.  docs/testing.md describes the whole harness.
#
# For suites:
#   log MSG...                   timestamped line on the console
#   fail MSG...                  end the case as FAILED with MSG
#   skip MSG...                  end the case as SKIPPED with MSG
#   assert_eq ACTUAL EXPECTED [MSG]
#   assert_match STRING REGEX [MSG]        (extended regex, unanchored)
#   assert_file_contains FILE REGEX [MSG]
#   wait_for SECS CMD [ARGS...]  retry CMD every 0.2 s until it succeeds
#                                (SECS x KVMTEST_SCALE on a slow kernel);
#                                "sh -c STRING" runs in a subshell of the
#                                case's shell (no exec)
#   scaled N [MIN]               N / KVMTEST_SCALE rounded up, at least MIN:
#                                an iteration count a slow kernel can afford
#   re_escape STRING             STRING quoted for use in a REGEX
#   json_num JSON KEY            the number after the last "KEY": in $JN
#   sort_n NUMBER...             the numbers ascending in $SN (no exec)
#   hostcall ARGS...             run "<suite>.host call ARGS..." on the host;
#                                prints its stdout, returns its exit status
#   KVMTEST_SUITE KVMTEST_CASE KVMTEST_KVER KVMTEST_TIMEOUT
#   KVMTEST_SCALE                how much slower this kernel is (the host's
#                                timeout-scale: 1 on the stock kernels, 4 on
#                                the debug kernel; KVMTEST_TIMEOUT is scaled)
#
# fail and skip exit the shell they run in.  Called in a subshell or a
# pipeline they still record the result (the first fail/skip wins), but only
# that subshell ends: follow them with "|| return 1" there.

KT_DIR=/run/kvmtest
KT_MARK=@@KVMBUS@@
KT_CHAN=/dev/ttyS1

# The dmesg rule: a new kernel log line matching this extended regex fails
# the case that was running.  This is the only copy of the list.
KT_DMESG_BAD='(^|[^A-Za-z0-9_])(WARNING|BUG|KASAN|UBSAN|kmemleak|refcount_t):'
KT_DMESG_BAD="$KT_DMESG_BAD"'|Oops|general protection fault|Kernel panic'
KT_DMESG_BAD="$KT_DMESG_BAD"'|possible circular locking|possible recursive locking'
KT_DMESG_BAD="$KT_DMESG_BAD"'|inconsistent lock state|suspicious RCU usage'
KT_DMESG_BAD="$KT_DMESG_BAD"'|INFO: possible irq lock inversion'
KT_DMESG_BAD="$KT_DMESG_BAD"'|blocked for more than|soft lockup|hard LOCKUP'
KT_DMESG_BAD="$KT_DMESG_BAD"'|list_add corruption|list_del corruption|Call Trace:'
KT_DMESG_BAD="$KT_DMESG_BAD"'|ODEBUG:'
# ...except these lines of a debug kernel's checkers saying hello, and
# kmemleak's scan summary: a suspected leak is judged by _kt_kmemleak below
# (ours or not), not by that line.
KT_DMESG_OK='kmemleak: Kernel memory leak detector initialized'
KT_DMESG_OK="$KT_DMESG_OK"'|kmemleak: [0-9]+ new suspected memory leaks'

# ---------------------------------------------------------------- for suites

_kt_now() {
	read -r _kt_up _kt_rest </proc/uptime
	echo "$_kt_up"
}

log() {
	read -r _kt_up _kt_rest </proc/uptime
	printf '[%10s] %s: %s\n' "$_kt_up" "${KVMTEST_SUITE}.${KVMTEST_CASE}" "$*"
}

# _kt_record STATUS MSG: the first recorded fail/skip of a case wins.
# A multi-line MSG becomes one line, its lines joined with " | ".
_kt_record() {
	[ -e "$KT_DIR/result" ] && return 0
	{
		echo "$1"
		printf '%s\n' "$2" | awk 'NR > 1 { printf " | " } { printf "%s", $0 } END { print "" }'
	} >"$KT_DIR/result.$$"
	mv "$KT_DIR/result.$$" "$KT_DIR/result" 2>/dev/null
}

fail() {
	echo "FAIL: $*" >&2
	_kt_record FAIL "$*"
	exit 1
}

skip() {
	echo "SKIP: $*" >&2
	_kt_record SKIP "$*"
	exit 0
}

assert_eq() {
	[ "$1" = "$2" ] ||
		fail "${3:-assert_eq}: expected '$2', got '$1'"
}

assert_match() {
	printf '%s\n' "$1" | grep -Eq -- "$2" ||
		fail "${3:-assert_match}: '$1' does not match /$2/"
}

assert_file_contains() {
	[ -e "$1" ] || fail "${3:-assert_file_contains}: $1 does not exist"
	grep -Eq -- "$2" "$1" ||
		fail "${3:-assert_file_contains}: $1 has no line matching /$2/"
}

# re_escape STRING: STRING as a literal in an extended regex
# (kernel versions like 6.12.117+deb12-amd64 contain "+" and ".").
re_escape() {
	printf '%s\n' "$1" | sed 's#[][\\.^$*+?(){}|]#\\&#g'
}

# The slab checks below need the kmalloc caches debugged: a suite that
# calls them boots with "# append: slub_debug=U,kmalloc-*".  Without it
# SLUB counts every object of each CPU's current slabs as in use, so a
# snapshot is off by whole slabs (kmalloc-8 +884 objects, kmalloc-1k +14
# in one 49-round unload run that leaked nothing); a debugged cache keeps
# no per-CPU slabs, and "U" records who allocated each object.
KT_SLUB_DEBUG="slub_debug=U,kmalloc-*"

# slab_snapshot FILE: "cache active_objects" per slab cache,
# after dropping clean dentries and inodes and flushing every cache's
# per-CPU slabs, so only objects someone holds count; and FILE.sites:
# "cache<TAB>objects<TAB>call site" for each site that allocated from a
# plain kmalloc cache (slub_debug=U), a site in a module that is gone
# counted as one.  RCU-freed objects need a grace period first: wait a
# second.
slab_snapshot() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
	for _kt_s in /sys/kernel/slab/*/shrink; do
		echo 1 >"$_kt_s"
	done 2>/dev/null
	awk 'NR > 2 { print $1, $2 }' /proc/slabinfo >"$1"
	for _kt_s in /sys/kernel/debug/slab/kmalloc-[0-9]*/alloc_traces; do
		[ -r "$_kt_s" ] || continue
		_kt_c=${_kt_s%/alloc_traces}
		awk -v c="${_kt_c##*/}" '
		/^ *[0-9]+ / {
			n = $1
			sub(/^ *[0-9]+ /, "")
			sub(/ (waste|age)=.*/, "")
			if ($0 ~ /^0xffffffff[0-9a-f]+$/)
				$0 = "(a module unloaded since)"
			sites[$0] += n
		}
		END { for (s in sites) printf "%s\t%d\t%s\n", c, sites[s], s }' "$_kt_s"
	done >"$1.sites" 2>/dev/null
}

# slab_growth BEFORE AFTER: bytes the kmalloc caches that grew from
# snapshot BEFORE to AFTER grew by (caches that shrank do not offset
# them: a leak in one cache is not undone by another freeing a page of
# its own), then the kmalloc caches that grew most: "name +objects" (for
# the failure message).  Only the plain
# kmalloc-<size> caches: our modules allocate nothing else, and the other
# caches, memcg-accounted kmalloc-cg-* included, move with the test's own
# processes and with lazily freed vmalloc areas (module memory): +240 KiB
# in 49 rounds of loading a module that leaks nothing.
slab_growth() {
	awk 'NR == FNR { n[$1] = $2; next }
	     $1 !~ /^kmalloc-[0-9]+k?$/ { next }
	     {
		# The size the name says: slub_debug adds its metadata to
		# the object size that /proc/slabinfo shows.
		sz = substr($1, 9) + 0
		if ($1 ~ /k$/) sz *= 1024
		d = $2 - n[$1]
		if (d > 0) { total += d * sz; grow[$1] = d }
	     }
	     END {
		print total + 0
		for (i = 0; i < 5; i++) {
			best = ""
			for (c in grow) if (best == "" || grow[c] > grow[best]) best = c
			if (best == "") break
			printf "%s +%d\n", best, grow[best]
			delete grow[best]
		}
	     }' "$1" "$2"
}

# slab_sites BEFORE AFTER: the three call sites whose kmalloc objects grew
# most from snapshot BEFORE to AFTER, "cache site +objects", one a line.
slab_sites() {
	awk -F '\t' 'NR == FNR { n[$1 FS $3] = $2; next }
		{ d = $2 - n[$1 FS $3]; if (d > 0) printf "%d\t%s %s +%d\n", d, $1, $3, d }' \
		"$1.sites" "$2.sites" 2>/dev/null | sort -rn | head -n 3 | cut -f 2
}

# slab_check BEFORE AFTER ROUNDS: fail unless the kmalloc caches grew by
# at most KT_SLAB_TOLERANCE bytes from snapshot BEFORE to AFTER, ROUNDS
# rounds of something apart.  Measured over the 49 rounds of
# tests/guest/unload.sh with the caches debugged (docs/testing.md,
# "Unload"): 3.8 KiB on 6.1, 3.1 KiB on 6.12, a few objects here and
# there.  So a leak of about 330 bytes a round or more fails (the
# self-test's 8 x 200-byte objects a round are 98 KiB in kmalloc-256);
# smaller leaks are kmemleak's to find, on the debug kernel.  The
# failure names the call sites that gained most.
KT_SLAB_TOLERANCE=$((16 * 1024))
slab_check() {
	# KASAN's quarantine holds freed objects in their caches (the debug
	# kernel: kmalloc-4k +6 in 4 clean rounds): kmemleak judges there.
	if [ -e /sys/kernel/debug/kmemleak ]; then
		log "slab check skipped: KASAN quarantine; kmemleak decides here"
		return 0
	fi
	[ "$(cat /sys/kernel/slab/kmalloc-64/store_user 2>/dev/null)" = 1 ] ||
		fail "slab_check: the kmalloc caches are not debugged, so" \
			"the counts are off by whole slabs: boot the suite with" \
			"'# append: $KT_SLUB_DEBUG' (tests/guest/lib.sh)"
	_kt_g=$(slab_growth "$1" "$2")
	_kt_b=$(echo "$_kt_g" | head -n 1)
	_kt_top=$(echo "$_kt_g" | tail -n +2 | tr '\n' ' ')
	_kt_top=${_kt_top% }
	log "kmalloc caches grew by $_kt_b bytes over $3 rounds; most: $_kt_top"
	[ "$_kt_b" -le "$KT_SLAB_TOLERANCE" ] && return 0
	_kt_sites=$(slab_sites "$1" "$2" | sed 's/$/;/' | tr '\n' ' ')
	fail "the slab grew by $_kt_b bytes over $3 rounds" \
		"(tolerance $KT_SLAB_TOLERANCE): $_kt_top; sites: ${_kt_sites% }"
}

# kmemleak_leaks [wait]: on a kernel with kmemleak (the debug kernel), scan
# and print one line per suspected leak the project's modules allocated:
# a backtrace frame in a kvmbus* module, or a module address that no
# longer resolves (the module was unloaded since; only ours are unloaded
# in these suites).  Leaks elsewhere in the kernel are not ours to judge
# (docs/testing.md).  Reported objects are then cleared, so each leak is
# printed once.  kmemleak ignores objects younger than 5 s: "wait" waits
# that long first.  No kmemleak: prints nothing.
kmemleak_leaks() {
	[ -w /sys/kernel/debug/kmemleak ] || return 0
	[ "${1:-}" = wait ] && sleep 6
	# A new leak shows up only in the second scan that finds it
	# unreferenced (measured on 6.1).
	echo scan >/sys/kernel/debug/kmemleak || return 0
	echo scan >/sys/kernel/debug/kmemleak
	awk '
	function flush() {
		if (obj != "" && ours != "")
			print obj ", allocated by " ours
		obj = ""; ours = ""
	}
	/^unreferenced object/ { flush(); obj = $0; sub(/:$/, "", obj); next }
	/^ +\[<[^>]*>\] / {
		if (ours == "" && ($0 ~ /\[kvmbus[A-Za-z0-9_]*\]$/ ||
				   $0 ~ /\] 0xffffffff[a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]$/)) {
			ours = $0
			sub(/^ +\[<[^>]*>\] /, "", ours)
		}
	}
	END { flush() }' /sys/kernel/debug/kmemleak
	echo clear >/sys/kernel/debug/kmemleak
}

# short_mib [HELD]: MiB of a 1 GiB guest's RAM this kernel keeps for
# itself beyond what a stock kernel keeps: 0 on the stock kernels; on the
# debug kernel (KVMTEST_SCALE above 1) KASAN's shadow and the checkers'
# tables leave about 780 MiB of MemTotal where a stock kernel has about
# 1000.  Memory suites shrink their workloads by it.  HELD: MiB a balloon
# holds now (they left MemTotal too, but are not the kernel's).
short_mib() {
	_sm=0
	if [ "${KVMTEST_SCALE:-1}" -gt 1 ]; then
		_sm=$((1000 - $(sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo) / 1024 - ${1:-0}))
		[ "$_sm" -ge 0 ] || _sm=0
	fi
	echo "$_sm"
}

# scaled N [MIN]: N divided by KVMTEST_SCALE, rounded up, at least MIN
# (default 1).  For iteration counts a slow kernel (the debug kernel) cannot
# afford in full where more rounds only repeat the same paths: the checkers
# judge the first round as well as the fiftieth.
scaled() {
	_kt_sc=$((($1 + ${KVMTEST_SCALE:-1} - 1) / ${KVMTEST_SCALE:-1}))
	[ "$_kt_sc" -ge "${2:-1}" ] || _kt_sc=${2:-1}
	echo "$_kt_sc"
}

wait_for() {
	_kt_uptime
	_kt_wf_end=$((_kt_s + $1 * ${KVMTEST_SCALE:-1}))
	shift
	# "sh -c STRING" is evaluated in a subshell of this one: a fork, no
	# exec of a new shell at each poll.
	if [ $# -eq 3 ] && [ "$1" = sh ] && [ "$2" = -c ]; then
		set -- _kt_eval "$3"
	fi
	until "$@"; do
		_kt_uptime
		[ "$_kt_s" -ge "$_kt_wf_end" ] && return 1
		sleep 0.2
	done
}

_kt_eval() {
	(eval "$1")
}

_kt_secs() {
	_kt_uptime
	echo "$_kt_s"
}

# _kt_uptime: the uptime in whole seconds in $_kt_s and in hundredths in
# $_kt_cs, without a fork.
_kt_uptime() {
	read -r _kt_up _kt_rest </proc/uptime
	_kt_s=${_kt_up%.*}
	_kt_centi "$_kt_up"
}

# _kt_centi N[.F]: N seconds as hundredths in $_kt_cs (integers only).
_kt_centi() {
	_kt_cf=${1#*.}
	[ "$_kt_cf" = "$1" ] && _kt_cf=
	_kt_cf=${_kt_cf}00
	_kt_cf=${_kt_cf%"${_kt_cf#??}"}
	_kt_ci=${1%%.*}
	_kt_cs=$(( ${_kt_ci:-0} * 100 + ${_kt_cf#0} ))
}

# sort_n NUMBER...: the numbers ascending, space-separated, in $SN (sort
# -n without its exec, for a handful of numbers).
sort_n() {
	SN=
	for _kt_n in "$@"; do
		_kt_new='' _kt_put=''
		for _kt_x in $SN; do
			if [ -z "$_kt_put" ] && [ "$_kt_n" -lt "$_kt_x" ]; then
				_kt_new="$_kt_new $_kt_n"
				_kt_put=1
			fi
			_kt_new="$_kt_new $_kt_x"
		done
		[ -n "$_kt_put" ] || _kt_new="$_kt_new $_kt_n"
		SN=${_kt_new# }
	done
}

# json_num JSON KEY: the number after the last "KEY": in JSON, in $JN
# (empty if none), without a fork.
json_num() {
	JN=
	_kt_jr=${1##*\""$2"\":}
	[ "$_kt_jr" != "$1" ] || return 1
	while :; do
		case $_kt_jr in
		[\ \	]*) _kt_jr=${_kt_jr#?} ;;
		*) break ;;
		esac
	done
	JN=${_kt_jr%%[!0-9]*}
	[ -n "$JN" ]
}

# modprobe MODULE: nothing to do, and no exec, when MODULE is loaded and
# live already (cases load what they need, most of it loaded by the case
# before).  Anything else goes to the real modprobe.
modprobe() {
	if [ $# -eq 1 ]; then
		case $1 in
		-* | */* | '') ;;
		*)
			_kt_mn=$1	# /sys/module spells - as _
			while :; do
				case $_kt_mn in
				*-*) _kt_mn=${_kt_mn%%-*}_${_kt_mn#*-} ;;
				*) break ;;
				esac
			done
			_kt_mp=
			read -r _kt_mp 2>/dev/null <"/sys/module/$_kt_mn/initstate"
			[ "$_kt_mp" = live ] && return 0 ;;
		esac
	fi
	command modprobe "$@"
}

# sleep SECS: sleep, without a fork and an exec.  A fork and an exec
# cost about 0.3 s of guest CPU on the debug kernel under TCG (20-50 ms on
# the stock ones), and the runner's watchdog and every wait_for poll
# slept with busybox's sleep.  This one waits in the shell's own read -t
# on a FIFO nobody writes to (init creates it), again until the time is
# up because a signal (SIGCHLD) ends a read early.  Anything but one
# plain number of seconds goes to the real sleep.
sleep() {
	if [ $# -ne 1 ] || [ -z "$1" ] || [ ! -p "$KT_DIR/sleep.fifo" ]; then
		command sleep "$@"
		return
	fi
	case $1 in
	*[!0-9.]* | *.*.* | .*)
		command sleep "$@"
		return ;;
	esac
	[ -n "${_kt_sl_open:-}" ] || { exec 8<>"$KT_DIR/sleep.fifo"; _kt_sl_open=1; }
	_kt_centi "$1"
	_kt_sl_left=$_kt_cs
	_kt_uptime
	_kt_sl_end=$((_kt_cs + _kt_sl_left))
	while [ "$_kt_sl_left" -gt 0 ]; do
		_kt_sl_f=$((_kt_sl_left % 100))
		[ "$_kt_sl_f" -ge 10 ] || _kt_sl_f=0$_kt_sl_f
		read -r -t "$((_kt_sl_left / 100)).$_kt_sl_f" _kt_sl_x <&8
		_kt_uptime
		_kt_sl_left=$((_kt_sl_end - _kt_cs))
	done
	return 0
}

# hostcall ARGS...: each argument travels in one line on ttyS1, as "-"
# (empty), "=WORD" (a plain word) or base64; the host answers on one line
#   @@KVMBUS@@ REPLY <id> <status> <stdout base64|-> <stderr base64|->
hostcall() {
	if [ $# -eq 0 ]; then
		echo "usage: hostcall ARGS..." >&2
		return 2
	fi
	_kt_uptime
	_kt_hc_id="$$.$RANDOM.$_kt_s"
	_kt_hc_req="$KT_MARK HOSTCALL $_kt_hc_id"
	for _kt_hc_arg in "$@"; do
		# Plain words go as they are ("=WORD"), saving base64's fork
		# and execs; anything else in base64.
		case $_kt_hc_arg in
		'') _kt_hc_req="$_kt_hc_req -" ;;
		*[!A-Za-z0-9._/:,+@%-]*)
			_kt_hc_req="$_kt_hc_req $(printf '%s' "$_kt_hc_arg" | base64 | tr -d '\n')" ;;
		*) _kt_hc_req="$_kt_hc_req =$_kt_hc_arg" ;;
		esac
	done
	_kt_lock || return 125
	(
		exec 9<>"$KT_CHAN"
		printf '%s\n' "$_kt_hc_req" >&9
		# 120 s on the host plus a margin; stale replies are skipped.
		while IFS= read -r -t 150 _kt_hc_line <&9; do
			case $_kt_hc_line in
			"$KT_MARK REPLY $_kt_hc_id "*) ;;
			*) continue ;;
			esac
			# shellcheck disable=SC2086
			set -- $_kt_hc_line
			[ "$5" = - ] || printf '%s' "$5" | base64 -d
			[ "${6:--}" = - ] || printf '%s' "$6" | base64 -d >&2
			exit "$4"
		done
		echo "hostcall: no reply from the host within 150 s" >&2
		exit 124
	)
	_kt_hc_rc=$?
	_kt_unlock
	return $_kt_hc_rc
}

# The channel is shared by hostcalls and the runner's reports.
_kt_lock() {
	_kt_lk=0
	until mkdir "$KT_DIR/chan.lock" 2>/dev/null; do
		_kt_lk=$((_kt_lk + 1))
		if [ "$_kt_lk" -ge 3000 ]; then
			echo "hostcall: channel stayed busy for 300 s" >&2
			return 1
		fi
		sleep 0.1
	done
}

_kt_unlock() {
	rmdir "$KT_DIR/chan.lock" 2>/dev/null
}

# --------------------------------------------------------------- the runner
# Everything below runs in /init (PID 1).

# _kt_put FD LINE: write LINE to FD, again if the write fails.  PID 1
# takes a SIGCHLD whenever an orphan exits, busybox ash installs its
# handlers without SA_RESTART, and a tty write that the signal catches
# before it wrote anything fails with EINTR: without the retry, a START
# or RESULT line was lost now and then, and the harness said the guest
# had died.  A torn line is harmless: the harness reads from the last
# marker of a line.
_kt_put() {
	_kt_put_fd=$1
	shift
	_kt_put_n=0
	until printf '%s\n' "$*" >&"$_kt_put_fd"; do
		_kt_put_n=$((_kt_put_n + 1))
		[ "$_kt_put_n" -lt 100 ] || return 1
	done
}

# _kt_say LINE: a control line on the console and on the channel (fd 7,
# which PID 1 holds open).
_kt_say() {
	_kt_put 1 "$*"
	_kt_put 7 "$*" || echo "kvmtest: cannot write to $KT_CHAN: $*"
}

_kt_oneline() {
	[ -n "$*" ] || return 0
	printf '%s' "$*" | tr '\n\r\t' '   ' | sed "s/$KT_MARK/@@/g" | cut -c1-400
}

_kt_kmsg_reader() {
	# cat ends if it falls behind the ring buffer (EPIPE); restarting it
	# re-reads old records, which the sequence-number filter skips.
	while :; do
		cat /dev/kmsg >>"$KT_DIR/kmsg" 2>/dev/null
		sleep 0.2
	done
}

# _kt_dmesg_check: print the first new kernel log line that breaks the
# dmesg rule (empty if none) and move the mark past what was read.
_kt_dmesg_check() {
	_kt_sync=$((${_kt_sync:-0} + 1))
	echo "<7>kvmtest: dmesg mark $_kt_sync" >/dev/kmsg
	_kt_last=-1
	[ -s "$KT_DIR/kmsg.last" ] && read -r _kt_last <"$KT_DIR/kmsg.last"
	# One awk per try (an exec is dear on the debug kernel): it exits 3,
	# changing nothing, until the reader has copied the mark.
	_kt_n=0
	until awk -v last="$_kt_last" -v mark="kvmtest: dmesg mark $_kt_sync" \
		-v bad="$KT_DMESG_BAD" -v ok="$KT_DMESG_OK" \
		-v lastfile="$KT_DIR/kmsg.last" '
		/^[0-9]/ {
			semi = index($0, ";")
			if (!semi) next
			split(substr($0, 1, semi - 1), h, ",")
			seq = h[2] + 0
			if (seq <= last) next
			if (seq > max) max = seq
			msg = substr($0, semi + 1)
			if (msg == mark) seen = 1
			if (hit == "" && msg ~ bad && msg !~ ok) hit = msg
		}
		END {
			if (!seen) exit 3
			print (max > last ? max : last) > lastfile
			if (hit != "") print hit
		}' "$KT_DIR/kmsg" 2>/dev/null; do
		_kt_n=$((_kt_n + 1))
		if [ "$_kt_n" -ge 100 ]; then
			echo "kernel log reader is stuck (no mark after 10 s)"
			return
		fi
		sleep 0.1
	done
}

_kt_watchdog() {
	_kt_uptime
	_kt_wd_end=$((_kt_s + $2))
	while sleep 1; do
		kill -0 "$1" 2>/dev/null || exit 0
		_kt_uptime
		[ "$_kt_s" -ge "$_kt_wd_end" ] && break
	done
	: >"$KT_DIR/timedout"
	kill -s KILL "-$1" 2>/dev/null || kill -s KILL "$1" 2>/dev/null
}

_kt_run_case() {
	_kt_id="$KVMTEST_SUITE.$1"
	# (rm only when there is something to remove: it is an exec)
	if [ -e "$KT_DIR/result" ] || [ -e "$KT_DIR/timedout" ]; then
		rm -f "$KT_DIR/result" "$KT_DIR/timedout"
	fi
	[ ! -e "$KT_DIR/chan.lock" ] || rm -rf "$KT_DIR/chan.lock"
	_kt_say "$KT_MARK START $_kt_id"
	# Own session and process group, so that a timeout or the cleanup
	# below reaches everything the case started.
	# shellcheck disable=SC2016
	KVMTEST_CASE=$1 setsid /bin/sh -c '. /tests/lib.sh && . "/tests/$KVMTEST_SUITE.sh" && "test_$KVMTEST_CASE"' \
		</dev/null &
	_kt_pid=$!
	_kt_watchdog "$_kt_pid" "$KVMTEST_TIMEOUT" &
	_kt_wd=$!
	wait "$_kt_pid"
	_kt_rc=$?
	kill "$_kt_wd" 2>/dev/null
	wait "$_kt_wd" 2>/dev/null
	kill -s KILL "-$_kt_pid" 2>/dev/null

	_kt_reason=
	if [ -e "$KT_DIR/timedout" ]; then
		_kt_status=FAIL _kt_reason="timed out after $KVMTEST_TIMEOUT s"
	elif [ -s "$KT_DIR/result" ]; then
		{ read -r _kt_status; read -r _kt_reason; } <"$KT_DIR/result"
	elif [ "$_kt_rc" -ne 0 ]; then
		_kt_status=FAIL _kt_reason="returned $_kt_rc"
	else
		_kt_status=PASS
	fi
	# A leak of ours fails the last case of the boot: the scan there
	# waits for young objects to count and covers every case before it.
	# Two scans cost 20-25 s under TCG (all of guest RAM's struct pages,
	# every object, every stack), as much as a whole stock suite's case,
	# so only with kvmtest.leakscan=case (KVMBUS_LEAK_SCAN=case tests/run)
	# does every case get its own, to tell which case leaked.
	_kt_leak=
	if [ -n "$2" ] || [ "$KT_LEAK_SCAN" = case ]; then
		_kt_t0=$(_kt_now)
		_kt_leak=$(kmemleak_leaks ${2:+wait} | head -n 1)
		[ -w /sys/kernel/debug/kmemleak ] &&
			echo "[$(_kt_now)] $_kt_id: leak scan $(awk "BEGIN { print $(_kt_now) - $_kt_t0 }") s"
	fi
	if [ -n "$_kt_leak" ]; then
		if [ "$_kt_status" = FAIL ]; then
			_kt_reason="$_kt_reason; kmemleak: $_kt_leak"
		else
			_kt_status=FAIL _kt_reason="kmemleak: $_kt_leak"
		fi
	fi
	_kt_bad=$(_kt_dmesg_check)
	if [ -n "$_kt_bad" ]; then
		if [ "$_kt_status" = FAIL ]; then
			_kt_reason="$_kt_reason; dmesg: $_kt_bad"
		else
			_kt_status=FAIL _kt_reason="dmesg: $_kt_bad"
		fi
	fi
	_kt_say "$KT_MARK RESULT $_kt_id $_kt_status $(_kt_oneline "$_kt_reason")"
}

# _kt_worker: an extra guest of a multi-guest suite (tests/lib/guests,
# kvmtest.worker=NAME on the kernel command line).  Runs no suite: reads
# "ID BASE64" lines from the control channel, runs each command (base64:
# it may span lines) with sh -c and answers with its output, then
# "MARK WDONE ID STATUS".
_kt_worker() {
	_kt_say "$KT_MARK WORKER READY $1 $(uname -r)"
	while IFS= read -r _kt_w_line <&7; do
		_kt_w_id=${_kt_w_line%% *}
		sh -c "$(echo "${_kt_w_line#* }" | base64 -d)" >"$KT_DIR/worker.out" 2>&1 </dev/null
		_kt_w_rc=$?
		cat "$KT_DIR/worker.out" >&7
		_kt_put 7 "$KT_MARK WDONE $_kt_w_id $_kt_w_rc"
	done
}

# _kt_main: read the plan from the kernel command line and run it.
#   kvmtest.suite=NAME kvmtest.cases=a,b kvmtest.timeout=N kvmtest.kver=KVER
#   kvmtest.scale=N kvmtest.leakscan=boot|case
_kt_main() {
	mkdir -p "$KT_DIR"
	mkfifo "$KT_DIR/sleep.fifo"	# for sleep (above)
	KVMTEST_SUITE='' KVMTEST_TIMEOUT=60 KVMTEST_KVER='' KVMTEST_SCALE=1 _kt_cases=
	KT_LEAK_SCAN=boot
	_kt_worker_name=
	# shellcheck disable=SC2013
	for _kt_w in $(cat /proc/cmdline); do
		case $_kt_w in
		kvmtest.suite=*) KVMTEST_SUITE=${_kt_w#*=} ;;
		kvmtest.cases=*) _kt_cases=${_kt_w#*=} ;;
		kvmtest.timeout=*) KVMTEST_TIMEOUT=${_kt_w#*=} ;;
		kvmtest.kver=*) KVMTEST_KVER=${_kt_w#*=} ;;
		kvmtest.scale=*) KVMTEST_SCALE=${_kt_w#*=} ;;
		kvmtest.leakscan=*) KT_LEAK_SCAN=${_kt_w#*=} ;;
		kvmtest.worker=*) _kt_worker_name=${_kt_w#*=} ;;
		esac
	done
	export KVMTEST_SUITE KVMTEST_TIMEOUT KVMTEST_KVER KVMTEST_SCALE KT_LEAK_SCAN

	_kt_kmsg_reader &
	# PID 1 keeps the channel open so its settings stay put.
	exec 7<>"$KT_CHAN"
	stty -F "$KT_CHAN" 115200 raw -echo -echoe -echok -echoctl -echoke clocal -crtscts -hupcl
	if [ -n "$_kt_worker_name" ]; then
		_kt_worker "$_kt_worker_name"
		return
	fi
	_kt_say "$KT_MARK READY $(uname -r) $(_kt_now)"

	if [ -z "$KVMTEST_SUITE" ]; then
		echo "kvmtest: no kvmtest.suite= on the kernel command line; starting a shell"
		setsid cttyhack sh -l
		return
	fi
	_kt_lastc=${_kt_cases##*,}
	for _kt_c in $(echo "$_kt_cases" | tr , ' '); do
		if [ -f "/tests/$KVMTEST_SUITE.sh" ]; then
			# The last case ends with a thorough kmemleak scan.
			_kt_run_case "$_kt_c" "$([ "$_kt_c" = "$_kt_lastc" ] && echo last)"
		else
			_kt_say "$KT_MARK START $KVMTEST_SUITE.$_kt_c"
			_kt_say "$KT_MARK RESULT $KVMTEST_SUITE.$_kt_c FAIL /tests/$KVMTEST_SUITE.sh is not in the initramfs"
		fi
	done
	_kt_say "$KT_MARK DONE $(_kt_now)"
	# Setting attributes waits until the channel's output is sent (TCSADRAIN).
	stty -F "$KT_CHAN" raw 2>/dev/null
}
