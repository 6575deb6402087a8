# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=sh disable=SC2154
# (bench_* variables come from the host: eval "$(hostcall config DEV)")
#
# Guest side of the comparison benches, sourced by net.sh and disk.sh
# (a NAME.lib.sh file is copied into the guest but is not a suite).

# bench_now: seconds since boot, 1/100 s resolution
bench_now() {
	read -r _b_up _b_rest </proc/uptime
	echo "$_b_up"
}

# bench_config DEV: ask the host how DEV is set up (bench_* variables), skip
# the case if the device is not available, load its guest modules.
bench_config() {
	bench_dev=$1
	_b_cfg=$(hostcall config "$1") || fail "hostcall config $1 failed"
	eval "$_b_cfg"
	[ "$bench_status" = ok ] || skip "$bench_label: $bench_reason"
	for _b_m in $bench_modules; do
		modprobe "$_b_m" || fail "$bench_label: modprobe $_b_m failed"
	done
	log "$bench_label: modules $bench_modules loaded"
}

# dev_irqs SYSFS-DEVICE: interrupts so far of the PCI function behind a
# device (its MSI/MSI-X vectors, or its INTx line), summed over all CPUs.
# A kvmbus device counts the whole ivshmem function: one kvmbus device
# per bench.
dev_irqs() {
	_b_d=$(readlink -f "$1")
	while [ -n "$_b_d" ] && [ "$_b_d" != / ]; do
		if [ -d "$_b_d/msi_irqs" ] && [ -n "$(ls "$_b_d/msi_irqs")" ]; then
			_b_irqs=$(ls "$_b_d/msi_irqs")
			break
		fi
		if [ -f "$_b_d/vendor" ] && [ -f "$_b_d/irq" ]; then
			_b_irqs=$(cat "$_b_d/irq")
			break
		fi
		_b_d=${_b_d%/*}
	done
	[ -n "${_b_irqs:-}" ] || { echo -; return; }
	# shellcheck disable=SC2086
	echo $_b_irqs | awk -v ncpu="$(grep -c ^processor /proc/cpuinfo)" '
		NR == FNR { for (i = 1; i <= NF; i++) want[$i ":"] = 1; next }
		($1 in want) { for (i = 2; i <= ncpu + 1; i++) sum += $i }
		END { print sum + 0 }' - /proc/interrupts
}

# bench_wants TEST: is TEST among the tests of this run?
bench_wants() {
	case " $bench_tests " in
	*" $1 "*) return 0 ;;
	esac
	return 1
}

# bench_test TEST SYSFS-DEVICE CMD...: run CMD as TEST (unless this run
# leaves TEST out), counting the interrupts of the device behind
# SYSFS-DEVICE (dev_irqs) and the host's counters, and record it on the host
bench_test() {
	_b_test=$1 _b_sysdev=$2
	shift 2
	bench_wants "$_b_test" || return 0
	_b_irq0=$(dev_irqs "$_b_sysdev")
	hostcall mark "$bench_dev"
	_b_t0=$(bench_now)
	"$@" >/tmp/bench.out 2>&1
	_b_rc=$?
	_b_t1=$(bench_now)
	_b_irq1=$(dev_irqs "$_b_sysdev")
	bench_record "$_b_test" "$_b_rc" "$_b_t0" "$_b_t1" "$_b_irq0" "$_b_irq1" \
		/tmp/bench.out
}

# bench_record TEST STATUS T0 T1 IRQ0 IRQ1 OUTPUT-FILE
bench_record() {
	_b_secs=$(awk -v a="$3" -v b="$4" 'BEGIN { printf "%.2f", b - a }')
	_b_irqs=-
	[ "$5" != - ] && [ "$6" != - ] && _b_irqs=$(($6 - $5))
	[ "$2" = 0 ] || log "$bench_label: $1 failed (status $2): $(tail -n 3 "$7")"
	hostcall record "$bench_dev" "$1" "$2" "$_b_secs" "$_b_irqs" "$(cat "$7")" \
		"${bench_round:-1}" || fail "$bench_label: could not record $1"
}

# bench_run_rounds FUNCTION: run FUNCTION (every test of one device) once per
# round the host asked for (bench_rounds, --rounds); the host keeps each
# round's numbers and reports the median.
bench_run_rounds() {
	bench_round=1
	while [ "$bench_round" -le "${bench_rounds:-1}" ]; do
		[ "${bench_rounds:-1}" -gt 1 ] &&
			hostcall note "$bench_label: round $bench_round of $bench_rounds"
		"$1"
		bench_round=$((bench_round + 1))
	done
}

bench_done() {
	log "$bench_label: done"
}
