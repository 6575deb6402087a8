#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Run the kvmbus KUnit suites (kunit/) on UML with kunit.py from Debian's
# linux-source-6.1 tree.
#
#   scripts/kunit.sh [kunit.py run options...]   e.g. 'kvmbus_wire.*'
#
# The kernel tree is unpacked once by scripts/linux-src.sh; the UML build
# directory lives outside the repository, in $KVMBUS_CACHE/kunit-build, so
# after the first (cold: 2.5 min measured on 2 cores) build only our files
# rebuild.
#
# Hooking kunit/ into the tree (idempotent, redone on every run because the
# repository path differs between clones):
#   <tree>/drivers/kvmbus_kunit  symlink to <this repo>/kunit, re-pointed
#   <tree>/drivers/Kconfig       + source "drivers/kvmbus_kunit/Kconfig"
#   <tree>/drivers/Makefile      + obj-$(CONFIG_KUNIT) += kvmbus_kunit/
# kunit/Kbuild derives the repository root from the symlink and puts it on
# the compiler command line, so moving to another clone rebuilds our files.
#
# Output: kunit.py's results, then as the last line "N passed, N failed"
# (KUnit test cases, each parameter of a parametrised case counted).  Exits
# non-zero on a failed or crashed test, a build error, or when no test ran.
#
# Environment:
#   KVMBUS_CACHE   cache directory (default /var/cache/kvmbus)
#   KUNIT_JOBS     parallel make jobs (default: number of CPUs)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
CACHE=${KVMBUS_CACHE:-/var/cache/kvmbus}
BUILD=$CACHE/kunit-build
JOBS=${KUNIT_JOBS:-$(nproc)}
LINK_NAME=kvmbus_kunit
KCONFIG_HOOK="source \"drivers/$LINK_NAME/Kconfig\""
MAKEFILE_HOOK="obj-\$(CONFIG_KUNIT) += $LINK_NAME/"
TICK=30

log() { printf 'kunit: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	echo "0 passed, 0 failed"
	exit 1
}

for f in Kconfig Kbuild .kunitconfig; do
	[ -f "$REPO/kunit/$f" ] || die "$REPO/kunit/$f is missing"
done
command -v python3 >/dev/null || die "python3 not found: run scripts/deps.sh"

SRC=$("$REPO/scripts/linux-src.sh") || die "no kernel tree (scripts/linux-src.sh failed)"

# One run at a time per cache: the hook in the shared tree points at one
# repository only.
mkdir -p "$CACHE"
exec 9>"$CACHE/.kunit.lock"
if ! flock -n 9; then
	log "another kunit run holds $CACHE/.kunit.lock, waiting"
	flock 9
fi

# A build directory belongs to one unpacked tree.  tar keeps the archive's
# timestamps, so after a new linux-source package make could take its old
# objects for up to date: start cold instead.
TREE_STAMP=$SRC/.kvmbus-unpacked
if [ -d "$BUILD" ] && ! cmp -s "$TREE_STAMP" "$BUILD/.kvmbus-tree"; then
	log "kernel tree changed since the last build: removing $BUILD"
	rm -rf -- "$BUILD"
fi
mkdir -p "$BUILD"
cp "$TREE_STAMP" "$BUILD/.kvmbus-tree"

# Append a line to a tree file unless it is already there.
hook_line() {
	local file=$1 line=$2
	grep -qxF -- "$line" "$file" && return 0
	log "hooking kvmbus into ${file#"$SRC"/}"
	printf '\n# kvmbus KUnit suites (added by kvmbus scripts/kunit.sh)\n%s\n' \
		"$line" >>"$file"
}

hook_tree() {
	local link=$SRC/drivers/$LINK_NAME

	if [ "$(readlink "$link" 2>/dev/null || true)" != "$REPO/kunit" ]; then
		[ -e "$link" ] && [ ! -L "$link" ] &&
			die "$link exists and is not a symlink"
		ln -sfn "$REPO/kunit" "$link"
		log "drivers/$LINK_NAME -> $REPO/kunit"
	fi
	hook_line "$SRC/drivers/Kconfig" "$KCONFIG_HOOK"
	hook_line "$SRC/drivers/Makefile" "$MAKEFILE_HOOK"
}

# A person watching a cold build (minutes without output from kunit.py)
# sees it is alive: elapsed time and objects compiled so far in this run.
ticker_pid=
start_ticker() {
	local start=$SECONDS marker=$BUILD/.kvmbus-run-start

	touch "$marker"
	(
		sleep_pid=
		trap 'kill "$sleep_pid" 2>/dev/null; exit 0' TERM
		while :; do
			sleep "$TICK" &
			sleep_pid=$!
			wait "$sleep_pid"
			n=$(find "$BUILD" -name '*.o' -newer "$marker" 2>/dev/null | wc -l)
			printf 'kunit: ... %ds elapsed, %d objects compiled in this run\n' \
				$((SECONDS - start)) "$n" >&2
		done
	) &
	ticker_pid=$!
}

stop_ticker() {
	if [ -n "$ticker_pid" ]; then
		kill "$ticker_pid" 2>/dev/null || true
		wait "$ticker_pid" 2>/dev/null || true
		ticker_pid=
	fi
}
trap stop_ticker EXIT

# Count KUnit test cases in kunit.py's JSON: leaves of the result tree, so a
# parametrised case counts once per parameter.  Prints "passed failed
# skipped".
count_results() {
	python3 - "$1" <<'EOF'
import json, sys

def walk(group, acc):
    for case in group.get("test_cases", []):
        status = case.get("status")
        if status == "PASS":
            acc[0] += 1
        elif status == "SKIP":
            acc[2] += 1
        else:
            acc[1] += 1
    for sub in group.get("sub_groups", []):
        walk(sub, acc)

acc = [0, 0, 0]
try:
    with open(sys.argv[1]) as f:
        walk(json.load(f), acc)
except (OSError, ValueError):
    pass
print(*acc)
EOF
}

main() {
	local json=$BUILD/.kvmbus-results.json rc=0 passed failed skipped t0

	hook_tree
	rm -f "$json"
	[ -f "$BUILD/.config" ] ||
		log "cold build: compiling a UML kernel first (2-8 min, depending on the machine)"
	log "tree $SRC, build dir $BUILD, $JOBS jobs"

	t0=$SECONDS
	start_ticker
	# Compiler messages name our files through the tree's symlink: show
	# them as repository paths.  kunit.py runs "stty sane" after UML,
	# which complains when stdin is not a terminal: drop that line.
	set +e
	python3 -u "$SRC/tools/testing/kunit/kunit.py" run \
		--arch=um \
		--build_dir="$BUILD" \
		--kunitconfig="$REPO/kunit/.kunitconfig" \
		--jobs="$JOBS" \
		--json="$json" \
		"$@" 2>&1 |
		LINK="$SRC/drivers/$LINK_NAME/" TARGET="$REPO/kunit/" awk '
			/^stty: .*Inappropriate ioctl for device$/ { next }
			{
				while ((i = index($0, ENVIRON["LINK"])) > 0)
					$0 = substr($0, 1, i - 1) ENVIRON["TARGET"] \
					     substr($0, i + length(ENVIRON["LINK"]))
				print
				fflush()
			}'
	rc=${PIPESTATUS[0]}
	set -e
	stop_ticker

	read -r passed failed skipped < <(count_results "$json")
	log "kunit.py finished in $((SECONDS - t0))s with status $rc"
	[ "$skipped" -gt 0 ] && log "$skipped test case(s) skipped"
	if [ "$rc" -ne 0 ]; then
		log "FAILED: kunit.py reported a build error, a failed or crashed test"
	elif [ $((passed + failed)) -eq 0 ]; then
		log "FAILED: no test ran"
		rc=1
	elif [ "$failed" -gt 0 ]; then
		rc=1
	fi
	echo "$passed passed, $failed failed"
	return "$rc"
}

main "$@"
