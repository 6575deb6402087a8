#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# make check: every test kvmbus has, in one run.  Each stage's output goes to
# the terminal and to build/logs/check/<stage>.log; each stage reports its
# own "N passed, N failed" (or cmocka's summary), which is added up here.  A
# stage that exits non-zero counts at least one failure even if it printed
# none, and a stage that ran no test at all counts as a failure.  The run
# goes on after a failure so one run shows everything; the last line is the
# grand total.
#
#   scripts/check.sh [STAGE...]     default: every stage, in order
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
export KVMBUS_CACHE=${KVMBUS_CACHE:-/var/cache/kvmbus}
logdir=build/logs/check
total_pass=0
total_fail=0
total_skip=0
report=()

# Limits per stage in seconds, so a hang cannot eat CI's 90 minutes.
declare -A limit=(
	[deps]=1200 [build]=900 [host-unit]=600 [checkpatch]=300 [sparse]=600
	[kunit]=1800 [fuzz]=900 [dkms]=600 [dkms-system]=600 [harness]=900
	[guest]=4800 [bench]=900
	[dkms-guest]=900 [clean-tree]=600
	[debug-kernel]=3600 [debug-guest]=5400 [debug-guest-full]=10800
)

count_results() {	# LOG RC -> "pass fail skip"
	local log=$1 rc=$2 line p=0 f=0 s=0
	line=$(grep -E '^([A-Za-z][A-Za-z0-9_-]*: )?[0-9]+ passed, [0-9]+ failed' \
		"$log" | tail -n 1)
	if [ -n "$line" ]; then
		p=$(sed -E 's/.*\b([0-9]+) passed.*/\1/' <<<"$line")
		f=$(sed -E 's/.*\b([0-9]+) failed.*/\1/' <<<"$line")
		if grep -q 'skipped' <<<"$line"; then
			s=$(sed -E 's/.*\b([0-9]+) skipped.*/\1/' <<<"$line")
		fi
	elif grep -qE '^\[  (PASSED|FAILED)  \] [0-9]+ test' "$log"; then
		p=$(grep -oE '^\[  PASSED  \] [0-9]+' "$log" |
			awk '{s += $NF} END {print s + 0}')
		f=$(grep -oE '^\[  FAILED  \] [0-9]+' "$log" |
			awk '{s += $NF} END {print s + 0}')
	elif [ "$rc" -eq 0 ]; then
		p=1
	fi
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
	fi
	if [ "$rc" -eq 0 ] && [ $((p + f + s)) -eq 0 ]; then
		echo "check: stage ran no test" >>"$log"
		f=1
	fi
	echo "$p $f $s"
}

# The command that runs stage NAME: a stage that is a shell function runs
# in a child bash (timeout can only start programs) that gets the
# functions and settings it needs.
stage_cmd() {	# CMD... -> STAGE_CMD
	STAGE_CMD=("$@")
	if declare -F "$1" >/dev/null; then
		STAGE_CMD=(bash -c "$(declare -f guest_kernels debug_guest debug_fits "$1")
			$(declare -p debug_est)
			DEBUG_SUITES='$DEBUG_SUITES' DEBUG_ORDER='$DEBUG_ORDER' debug_kernel_log='$debug_kernel_log'
			debug_kernel_bg='$debug_kernel_bg' check_start='$check_start'
			KVMBUS_CHECK_DEADLINE='$KVMBUS_CHECK_DEADLINE'; $1")
	fi
}

# Count a finished stage's results from its log and add its report line.
record_stage() {	# NAME RC START
	local name=$1 rc=$2 start=$3 log=$logdir/$1.log p f s secs verdict
	[ "$rc" -eq 124 ] && echo "check: $name timed out after ${limit[$name]:-600} s" | tee -a "$log"
	secs=$(( $(date +%s) - start ))
	read -r p f s < <(count_results "$log" "$rc")
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
	total_skip=$((total_skip + s))
	verdict=ok
	[ "$f" -eq 0 ] || verdict=FAILED
	report+=("$(printf '%-12s %-7s %4d passed %4d failed %4d skipped %5d s  %s' \
		"$name" "$verdict" "$p" "$f" "$s" "$secs" "$log")")
}

run_stage() {	# NAME CMD...
	local name=$1 start rc
	shift
	printf '\n==> %s: %s\n' "$name" "$*"
	start=$(date +%s)
	stage_cmd "$@"
	timeout -k 30 "${limit[$name]:-600}" "${STAGE_CMD[@]}" 2>&1 | tee "$logdir/$name.log"
	rc=${PIPESTATUS[0]}
	record_stage "$name" "$rc" "$start"
}

# A stage that runs beside the ones after it (its output only in its log,
# shown whole when it is collected): wait_stage NAME collects it.
declare -A bg_pid bg_start
run_stage_bg() {	# NAME CMD...
	local name=$1
	shift
	printf '\n==> %s, in the background (%s): %s\n' "$name" "$logdir/$name.log" "$*"
	bg_start[$name]=$(date +%s)
	stage_cmd "$@"
	timeout -k 30 "${limit[$name]:-600}" "${STAGE_CMD[@]}" \
		>"$logdir/$name.log" 2>&1 </dev/null &
	bg_pid[$name]=$!
}

wait_stage() {	# NAME
	local name=$1 rc
	[ -n "${bg_pid[$name]:-}" ] || return 0
	printf '\n==> %s: waiting for it (started %d s ago)\n' "$name" \
		$(( $(date +%s) - bg_start[$name] ))
	wait "${bg_pid[$name]}"
	rc=$?
	cat "$logdir/$name.log"
	record_stage "$name" "$rc" "${bg_start[$name]}"
	unset "bg_pid[$name]"
}

guest_kernels() {
	# shellcheck disable=SC1091
	. "$KVMBUS_CACHE/kernels.env" && echo "$KVER_61 $KVER_612"
}

stage_deps()       { run_stage deps scripts/deps.sh; }
stage_build()      { run_stage build make -s guest-modules host; }
stage_host_unit()  { run_stage host-unit make -s -C host check; }
stage_checkpatch() { run_stage checkpatch scripts/checkpatch.sh; }
stage_sparse()     { run_stage sparse scripts/sparse.sh; }
stage_kunit()      { run_stage kunit scripts/kunit.sh; }
stage_fuzz()       { run_stage fuzz make -s -C host fuzz-check; }
stage_dkms()       { run_stage dkms make -s dkms-check; }
stage_harness()    { run_stage harness tests/run --self-test; }
stage_guest()      { run_stage guest tests/run; }

# The comparison benches in their short mode: every device of both benches
# is set up, measured and reported (table, JSON, chart), which proves the
# machinery.  No timing is asserted; a kvmbus device kvmbusd cannot serve
# yet is a skip.  Output under build/bench/smoke.  Run it on its own with
# 'scripts/check.sh bench'; it is not among the default stages (below).
bench_smoke() {
	local b p=0 f=0
	# One test per tool and parser: iperf3 TCP and UDP, sockperf, fio, mkfs.
	declare -A tests=([net]=tcp_tx_1,udp_rx_64,latency
			  [disk]=seq_write_1m,rand_read_4k_qd1,mkfs)
	for b in net disk; do
		if tests/bench/bench "$b" --quick --seconds 1 --tests "${tests[$b]}" \
			--out build/bench/smoke; then
			echo "PASS  bench-$b --quick"
			p=$((p + 1))
		else
			echo "FAIL  bench-$b --quick"
			f=$((f + 1))
		fi
	done
	echo "$p passed, $f failed"
	[ "$f" -eq 0 ]
}
stage_bench()      { run_stage bench bench_smoke; }

# The modules DKMS built (stage dkms) load in a guest of their kernel.
dkms_guest() {
	local k args=()
	for k in $(guest_kernels); do
		args+=(--kernel "$k" --modules "$k=build/dkms/guest/$k")
	done
	tests/run "${args[@]}" modules
}
stage_dkms_guest() { run_stage dkms-guest dkms_guest; }

# make dkms-install and dkms-remove against the system's DKMS, for both
# guest kernels: the modules land where modprobe finds them, and remove
# leaves no trace.  An existing kvmbus DKMS install is never touched.
dkms_system() {
	local k ks p=0 f=0 left
	if [ -n "$(dkms status kvmbus 2>/dev/null)" ]; then
		echo "SKIP  kvmbus is already installed with DKMS here: not touching it"
		echo "0 passed, 0 failed, 1 skipped"
		return 0
	fi
	ks=$(guest_kernels)
	# shellcheck disable=SC2086
	if ! make -s dkms-install DKMS_KERNELS="$ks" >build/logs/check/dkms-install.out 2>&1; then
		tail -n 30 build/logs/check/dkms-install.out
		echo "0 passed, 1 failed"
		return 1
	fi
	for k in $ks; do
		if modinfo -k "$k" -F filename kvmbus_netvsc 2>/dev/null |
			grep -q "^/lib/modules/$k/updates/dkms/"; then
			echo "PASS  dkms-install $k: modprobe finds the DKMS modules"
			p=$((p + 1))
		else
			echo "FAIL  dkms-install $k: kvmbus_netvsc not installed for modprobe"
			f=$((f + 1))
		fi
	done
	make -s dkms-remove >>build/logs/check/dkms-install.out 2>&1 || f=$((f + 1))
	left=$(dkms status kvmbus 2>/dev/null; ls -d /usr/src/kvmbus-* 2>/dev/null
	       for k in $ks; do ls /lib/modules/"$k"/updates/dkms/kvmbus* 2>/dev/null; done)
	if [ -n "$left" ]; then
		echo "FAIL  dkms-remove left: $left"
		f=$((f + 1))
	else
		echo "PASS  dkms-remove leaves no trace"
		p=$((p + 1))
	fi
	echo "$p passed, $f failed"
	[ "$f" -eq 0 ]
}
stage_dkms_system() { run_stage dkms-system dkms_system; }

# The debug guest kernel (scripts/debug-kernel.sh: KASAN, lockdep,
# kmemleak, DEBUG_OBJECTS, DEBUG_ATOMIC_SLEEP), built once and cached in
# $KVMBUS_CACHE; the modules for it; the self-test proving each checker's
# report fails a case; then every guest suite on it, one boot each (any
# report fails the case: docs/testing.md, "The debug kernel").
#
# In 'make check' the debug kernel's suites run beside the other stages
# (stage debug-guest starts in the background right after build and is
# collected at the end): a TCG guest keeps about one of the two cores
# busy, so the stock kernels' suites and the debug kernel's share the
# machine instead of queueing (docs/testing.md has the numbers).  The
# suites in DEBUG_SUITES always run: the ones that load, reconnect and
# unload every module with traffic.  Every other suite starts only if its
# expected time on the debug kernel (debug_est, measured beside the stock
# suites, with a margin) ends before KVMBUS_CHECK_DEADLINE seconds after
# the start of the check: CI stops at 90 minutes, and a fresh machine
# (cold kernel, KUnit and package installs) may not fit them all.  A suite
# not started for that reason is a SKIP that names it; 'make check-debug'
# (stage debug-guest-full) runs every suite with no deadline.
#
# The cold kernel build (12-15 min of CPU) starts in the background right
# after deps (stage debug-kernel), at nice 19; debug-guest waits for it
# (the build's own lock) and counts it as one test.  Run alone,
# debug-guest builds in the foreground.
DEBUG_SUITES=${DEBUG_SUITES-"smoke modules bus restart unload"}
KVMBUS_CHECK_DEADLINE=${KVMBUS_CHECK_DEADLINE:-4800}
# Seconds per suite on the debug kernel, one boot, beside the stock
# kernels' suites (2 cores, TCG): what each took in the rehearsal of
# 8fc3763 (docs/testing.md, cold caches, the test helpers without forks),
# with about a third more, and 60 s more for net's case added since;
# the mandatory ones (always run) from the 7ea396c rehearsal.
# debug_fits adds a quarter.  A suite missing here counts as 900 s.
declare -A debug_est=(
	[smoke]=200 [modules]=250 [bus]=200 [restart]=850 [unload]=350
	[net]=400 [hostile_host]=200 [hostile]=200 [scsi]=400 [balloon]=300
	[subch]=450 [overcommit]=200 [channels]=200 [echo]=100
	[channels_shared]=100 [hostcall_selftest]=90
)
# The order the other suites start in: the NIC, the hostile host and
# guest, the sub-channels, then the rest in file order.
DEBUG_ORDER="net hostile_host hostile subch scsi balloon overcommit"
debug_kernel_log=$logdir/debug-kernel.log
debug_kernel_bg=
check_start=$(date +%s)

debug_fits() {	# SUITE: 0 if it should end before the deadline
	local est=${debug_est[$1]:-900} used
	used=$(( $(date +%s) - check_start ))
	[ $((used + est * 5 / 4)) -le "$KVMBUS_CHECK_DEADLINE" ]
}

debug_guest() {	# MODE: default (DEBUG_SUITES, then the rest by deadline) or full
	local mode=$1 p=0 f=0 s=0 line out t0=$SECONDS run suite kver more=()
	[ -n "$debug_kernel_bg" ] &&
		echo "debug-kernel: waiting for the background build ($debug_kernel_log)"
	if scripts/debug-kernel.sh >/dev/null 2>>"$debug_kernel_log"; then
		echo "PASS  debug-kernel: $(cat "$KVMBUS_CACHE/debug-kernel.env") (waited $((SECONDS - t0)) s)"
		p=1
	else
		tail -n 30 "$debug_kernel_log"
		echo "FAIL  debug-kernel: scripts/debug-kernel.sh failed ($debug_kernel_log)"
		echo "0 passed, 1 failed"
		return 1
	fi
	# Only the debug kernel's modules: the stock kernels' are in use by
	# stage guest meanwhile.
	kver=$(sed -n 's/^KVER_DEBUG=//p' "$KVMBUS_CACHE/debug-kernel.env")
	make -s guest-modules GUEST_KVERS="$kver" >/dev/null ||
		{ echo "1 passed, 1 failed"; return 1; }
	# Every suite of tests/guest not in DEBUG_SUITES, in DEBUG_ORDER and
	# then file order.
	for suite in $DEBUG_ORDER $(ls tests/guest/*.sh); do
		suite=$(basename "$suite" .sh)
		[ "$suite" = lib ] && continue
		[ -f "tests/guest/$suite.sh" ] || continue
		[[ " $DEBUG_SUITES ${more[*]} " == *" $suite "* ]] || more+=("$suite")
	done
	out=$(mktemp)
	for run in "--self-test selftest_debug" "$DEBUG_SUITES" "${more[@]}"; do
		[ -n "$run" ] || continue
		if [ "$mode" = default ] && [[ " ${more[*]} " == *" $run "* ]] &&
		   ! debug_fits "$run"; then
			echo "SKIP  debug  $run  not started: at $(( $(date +%s) - check_start )) s, its ~${debug_est[$run]:-900} s would end past make check's deadline of $KVMBUS_CHECK_DEADLINE s (make check-debug runs it)"
			s=$((s + 1))
			continue
		fi
		echo "debug-guest: $run, at $(( $(date +%s) - check_start )) s"
		# shellcheck disable=SC2086 # $run is a list
		tests/run --kernel debug $run | tee "$out"
		line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
		[ -n "$line" ] || { f=$((f + 1)); continue; }
		p=$((p + $(sed -E 's/^([0-9]+) passed.*/\1/' <<<"$line")))
		f=$((f + $(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")))
		grep -q skipped <<<"$line" &&
			s=$((s + $(sed -E 's/.* ([0-9]+) skipped.*/\1/' <<<"$line")))
	done
	rm -f "$out"
	echo "$p passed, $f failed, $s skipped"
	[ "$f" -eq 0 ]
}
debug_guest_default() { debug_guest default; }
debug_guest_full()    { debug_guest full; }
# In a whole make check: started after build, collected by debug_guest_wait.
stage_debug_guest_bg()   {
	# The hang guard: whatever is left of CI's 90 minutes less 5.
	limit[debug-guest]=$(( 5100 - ($(date +%s) - check_start) ))
	[ "${limit[debug-guest]}" -ge 600 ] || limit[debug-guest]=600
	run_stage_bg debug-guest debug_guest_default
}
stage_debug_guest_wait() { wait_stage debug-guest; }
# Alone ('scripts/check.sh debug-guest'): in the foreground.
stage_debug_guest()      { run_stage debug-guest debug_guest_default; }
stage_debug_guest_full() { run_stage debug-guest-full debug_guest_full; }

# Starts the debug kernel's build and returns at once; no result of its
# own (debug-guest reports it).  Nothing to do when it is built already.
stage_debug_kernel() {
	printf '\n==> debug-kernel: scripts/debug-kernel.sh in the background, nice 19 (%s)\n' \
		"$debug_kernel_log"
	: >"$debug_kernel_log"
	debug_kernel_bg=1
	timeout -k 30 "${limit[debug-kernel]}" nice -n 19 scripts/debug-kernel.sh \
		>>"$debug_kernel_log" 2>&1 </dev/null &
}

# A clean clone builds, and 'make clean' leaves nothing behind in it.
clean_tree() {
	local dir=build/clean-tree left
	rm -rf "$dir"
	git clone -q "$PWD" "$dir" || return 1
	make -s -C "$dir" modules host >/dev/null || return 1
	make -s -C "$dir" clean >/dev/null || return 1
	left=$(git -C "$dir" status --porcelain --ignored)
	rm -rf "$dir"
	if [ -n "$left" ]; then
		echo "FAIL  make clean left files behind:"
		echo "$left"
		echo "0 passed, 1 failed"
		return 1
	fi
	echo "PASS  make clean leaves nothing behind"
	echo "1 passed, 0 failed"
}
stage_clean_tree() { run_stage clean-tree clean_tree; }

all_stages=(deps debug_kernel build debug_guest_bg host_unit checkpatch sparse
	    kunit fuzz dkms dkms_system harness guest dkms_guest clean_tree
	    debug_guest_wait)
# Not in the default run: 'bench' (scripts/check.sh bench) took 5.4 min
# with the machine loaded 15-fold, beyond the ~3 min a default stage may.

main() {
	local st start
	mkdir -p "$logdir"
	start=$(date +%s)
	[ $# -gt 0 ] || set -- "${all_stages[@]}"
	for st in "$@"; do
		st=${st//-/_}
		declare -F "stage_$st" >/dev/null ||
			{ echo "check: unknown stage '$st' (stages: ${all_stages[*]})" >&2; exit 2; }
		"stage_$st"
	done
	# A background stage nobody collected is collected now; a background
	# build nobody waited for (debug-guest not run) ends here.
	for st in "${!bg_pid[@]}"; do wait_stage "$st"; done
	wait
	printf '\n==> summary (%d s)\n' $(( $(date +%s) - start ))
	printf '%s\n' "${report[@]}"
	if [ "$total_skip" -gt 0 ]; then
		echo "$total_pass passed, $total_fail failed, $total_skip skipped"
	else
		echo "$total_pass passed, $total_fail failed"
	fi
	[ "$total_fail" -eq 0 ]
}

main "$@"
