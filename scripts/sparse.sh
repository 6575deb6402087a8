#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Build the kvmbus kernel modules with sparse against each guest kernel's
# headers and fail on any diagnostic that points at our files.
#
#   scripts/sparse.sh [KVER...]     default: KVER_61 and KVER_612 from
#                                   $KVMBUS_CACHE/kernels.env
#
# Per kernel, in a scratch copy of the repository (build/sparse/<KVER>/, so
# the source tree stays clean):
#   1. make KDIR=/lib/modules/<KVER>/build modules
#      the project's own build: compat probes, then kbuild; must succeed
#   2. make -C /lib/modules/<KVER>/build M=<scratch> C=2 CF=-D__CHECK_ENDIAN__ modules
#      C=2 runs sparse on every source file, built or up to date
#   3. the same on kunit/*.c, compiled as single objects (never linked:
#      Debian's kernels have no KUnit), so the suites and the driver files
#      they include are checked too
#
# A kernel fails when either step fails, when sparse checked no file, or
# when any warning or error (sparse, gcc or modpost) points into the
# scratch copy (drivers/, include/kvmbus/, compat/, tests/kmod/, ...) or
# anywhere outside the kernel's own header trees.  Diagnostics located in
# the kernel's headers (/lib/modules/<KVER>/build, its -common source
# tree) are not ours: they are counted, kept in the log and do not fail the
# run.  (With sparse 0.6.4 and Debian's 6.1 and 6.12 headers there were
# none when this was written; see docs/static-checks.md.)
#
# Output: per kernel PASS/FAIL with our findings (paths relative to the
# repository), full logs in build/sparse/<KVER>.log, and as the last line
# "N passed, N failed" (one item per kernel).  Exit status 1 on any failure.
#
# Environment:
#   KVMBUS_CACHE   cache directory (default /var/cache/kvmbus)
#   SPARSE_JOBS    parallel make jobs (default: number of CPUs)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
CACHE=${KVMBUS_CACHE:-/var/cache/kvmbus}
OUT=$REPO/build/sparse
JOBS=${SPARSE_JOBS:-$(nproc)}

log() { printf 'sparse: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	echo "0 passed, 1 failed"
	exit 1
}

command -v sparse >/dev/null || die "sparse not found: run scripts/deps.sh"
command -v rsync >/dev/null || die "rsync not found: run scripts/deps.sh"
command -v python3 >/dev/null || die "python3 not found: run scripts/deps.sh"
if [ ! -f "$REPO/Kbuild" ] || [ ! -f "$REPO/Makefile" ]; then
	die "no top-level Kbuild and Makefile in $REPO: nothing to build"
fi

kvers=("$@")
if [ ${#kvers[@]} -eq 0 ]; then
	[ -f "$CACHE/kernels.env" ] ||
		die "$CACHE/kernels.env missing: run scripts/deps.sh"
	# shellcheck disable=SC1091
	. "$CACHE/kernels.env"
	kvers=(${KVER_61:+"$KVER_61"} ${KVER_612:+"$KVER_612"})
	[ ${#kvers[@]} -gt 0 ] || die "no kernel listed in $CACHE/kernels.env"
fi

mkdir -p "$OUT"
exec 9>"$OUT/.lock"
if ! flock -n 9; then
	log "another sparse run holds $OUT/.lock, waiting"
	flock 9
fi

# The scratch copy: every source the kernel build can need, none of the
# build products an in-tree build may have left, no userspace or VCS data.
copy_tree() {
	local dst=$1

	rm -rf -- "$dst"
	mkdir -p "$dst"
	rsync -a \
		--exclude=/.git --exclude=/build --exclude=/host \
		--exclude=/compat/generated \
		--exclude='*.o' --exclude='*.ko' --exclude='*.mod' \
		--exclude='*.mod.c' --exclude='.*.cmd' --exclude='*.a' \
		--exclude=modules.order --exclude=Module.symvers \
		"$REPO"/ "$dst"/
}

# Read a build log and sort every diagnostic: ours (fails), kernel header
# (ignored), or elsewhere (fails: nothing but the kernel's headers is
# excused).  Prints a report; exit 1 when something of ours was found.
classify() {
	python3 - "$@" <<'EOF'
import os, re, sys

log, scratch, kdirs = sys.argv[1], sys.argv[2], sys.argv[3:]
scratch = os.path.realpath(scratch)
kdirs = [os.path.realpath(d) for d in kdirs if d]
build_cwd = kdirs[0]

diag = re.compile(r'^(?P<path>[^\s:][^:]*):(?P<line>\d+):(?:\d+:)?\s(?P<rest>.*)$')
kind = re.compile(r'^(?:fatal error|error|warning):')
modpost = re.compile(r'^(WARNING|ERROR): modpost:')
loose = re.compile(r'\b(?:warning|error):')
# The kernel Makefile's note about a compiler version other than the one
# that built the kernel: about the host, not about our code.
env_note = re.compile(r'^warning: the compiler differs from the one used')
# make's own notes (jobserver, clock skew): not diagnostics of our code;
# a failing make is caught by its exit status.
make_note = re.compile(r'^g?make(\[\d+\])?: ')

def under(path, root):
    return path == root or path.startswith(root + os.sep)

def where(path):
    # Relative paths: ours first (so a doubt fails the run), then the
    # kernel trees (kbuild runs in the build dir).
    if os.path.isabs(path):
        cands = [path]
    else:
        cands = [os.path.join(scratch, path), os.path.join(build_cwd, path)] + \
            [os.path.join(d, path) for d in kdirs[1:]]
    for c in cands:
        if not os.path.exists(c):
            continue
        r = os.path.realpath(c)
        if under(r, scratch):
            return 'ours', os.path.relpath(r, scratch)
        if any(under(r, d) for d in kdirs):
            return 'kernel', r
        return 'other', r
    r = os.path.realpath(cands[0])
    if under(r, scratch):
        return 'ours', os.path.relpath(r, scratch)
    return 'other', path

ours, ignored, checked = [], [], 0
last = None			# where the previous diagnostic went
with open(log, errors='replace') as f:
    for raw in f:
        line = raw.rstrip('\n')
        if re.match(r'^\s+CHECK\s', line):
            checked += 1
            continue
        m = diag.match(line)
        if m:
            cls, shown = where(m.group('path'))
            text = f"{shown}:{m.group('line')}: {m.group('rest')}"
            if not kind.match(m.group('rest')):
                # sparse's "expected/got" continuation lines
                if last == 'ours':
                    ours.append('    ' + text)
                continue
            last = 'ours' if cls != 'kernel' else 'kernel'
            (ours if last == 'ours' else ignored).append(text)
            continue
        if env_note.match(line) or make_note.match(line):
            continue
        if modpost.match(line) or loose.search(line):
            # no location: a modpost complaint about our modules, or a
            # tool error; make's own "Error N" lines do not match.
            last = 'ours'
            ours.append(line.replace(scratch + '/', ''))

print(f"CHECKED {checked}")
print(f"IGNORED {len(ignored)}")
for l in ours:
    print(l)
sys.exit(1 if any(not l.startswith('    ') for l in ours) else 0)
EOF
}

# The kernel's header trees: the build dir, the -common tree its Makefile
# includes (Debian), and the "source" link when there is one.
kernel_dirs() {
	local kdir=$1 real common

	real=$(readlink -f "$kdir")
	echo "$real"
	common=$(sed -n 's|^include \(/.*\)/Makefile$|\1|p' "$real/Makefile" | head -n1)
	[ -n "$common" ] && echo "$common"
	[ -e "$kdir/../source" ] && readlink -f "$kdir/../source"
	return 0
}

check_kernel() {
	local kver=$1 kdir=/lib/modules/$1/build dst=$OUT/$1 logf=$OUT/$1.log
	local rc=0 report checked ignored findings f
	local -a kdirs kunit_objs

	if [ ! -f "$kdir/Makefile" ]; then
		log "$kver: FAIL: no kernel headers at $kdir (scripts/deps.sh)"
		return 1
	fi
	copy_tree "$dst"
	: >"$logf"

	log "$kver: building (make KDIR=$kdir modules)"
	# KVMBUS_TESTS=1: the test modules in tests/kmod/ are checked too.
	make -C "$dst" JOBS="$JOBS" KDIR="$kdir" KVMBUS_TESTS=1 modules \
		>>"$logf" 2>&1 || rc=$?
	if [ "$rc" -eq 0 ]; then
		log "$kver: running sparse (C=2)"
		make -C "$kdir" M="$dst" -j"$JOBS" C=2 CF="-D__CHECK_ENDIAN__" \
			KVMBUS_TESTS=1 modules >>"$logf" 2>&1 || rc=$?
	fi
	# The KUnit suites are not part of the module build (they run on UML):
	# compile each kunit/*.c as a single object against these headers, no
	# link, so sparse sees them and what they include from drivers/.
	kunit_objs=()
	for f in "$dst"/kunit/*.c; do
		[ -f "$f" ] && kunit_objs+=("$(basename "${f%.c}").o")
	done
	if [ "$rc" -eq 0 ] && [ ${#kunit_objs[@]} -gt 0 ]; then
		log "$kver: running sparse on the KUnit suites"
		make -C "$kdir" M="$dst/kunit" -j"$JOBS" C=2 \
			CF="-D__CHECK_ENDIAN__" "${kunit_objs[@]}" >>"$logf" 2>&1 || rc=$?
	fi

	mapfile -t kdirs < <(kernel_dirs "$kdir")
	report=$(classify "$logf" "$dst" "${kdirs[@]}") && findings=0 || findings=1
	checked=$(sed -n 's/^CHECKED //p' <<<"$report")
	ignored=$(sed -n 's/^IGNORED //p' <<<"$report")
	report=$(sed '/^CHECKED /d; /^IGNORED /d' <<<"$report")

	if [ "$ignored" -gt 0 ]; then
		log "$kver: $ignored diagnostic(s) in the kernel's own headers ignored (see $logf)"
	fi
	if [ "$rc" -ne 0 ]; then
		log "$kver: FAIL: build failed (exit $rc); end of $logf:"
		tail -n 30 "$logf" | sed "s|$dst/||g" >&2
		[ -n "$report" ] && printf '%s\n' "$report" >&2
		return 1
	fi
	if [ "$findings" -ne 0 ]; then
		log "$kver: FAIL: findings in our files:"
		printf '%s\n' "$report" >&2
		return 1
	fi
	if [ "$checked" -eq 0 ]; then
		log "$kver: FAIL: sparse checked no file (see $logf)"
		return 1
	fi
	log "$kver: PASS ($checked files checked, no findings)"
	return 0
}

passed=0
failed=0
for kver in "${kvers[@]}"; do
	if check_kernel "$kver"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
	fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
