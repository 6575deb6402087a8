#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Run the kernel's scripts/checkpatch.pl (from Debian's linux-source-6.1,
# unpacked by scripts/linux-src.sh) on every kernel-side C file of ours.
#
#   scripts/checkpatch.sh [FILE...]    default: every *.c and *.h under
#                                      drivers/ include/kvmbus/ kunit/
#                                      tests/kmod/ compat/ (those that exist)
#
# Mode: --no-tree --strict --terse -f.  Any ERROR, WARNING or CHECK fails
# the file.  Output: checkpatch's findings per failing file, then as the
# last line "N passed, N failed" (one item per file).  Exit 1 on failure.
#
# Environment:
#   KVMBUS_CACHE   cache directory (default /var/cache/kvmbus)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)

# Kernel-side code of the project.  compat/ holds the API probes and the
# compat header, which build against the guest kernels too.
DIRS=(drivers include/kvmbus kunit tests/kmod compat)

# Checkpatch types ignored, with why.  Only checks that cannot apply to an
# out-of-tree project belong here; never real style checks.
IGNORE=(
	# "added, moved or deleted file(s), does MAINTAINERS need updating?":
	# about the kernel's MAINTAINERS file, which this project does not
	# have.  (Raised on patches, listed so a future switch from -f to
	# patch mode does not fail on it.)
	FILE_PATH_CHANGES
	# "Avoid CamelCase": in a kernel tree checkpatch first learns the
	# CamelCase names the kernel's own headers define (struct Scsi_Host,
	# ...) and accepts them; with --no-tree it cannot, so every driver
	# of such a kernel type fails.
	CAMELCASE
)

log() { printf 'checkpatch: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	echo "0 passed, 1 failed"
	exit 1
}

command -v perl >/dev/null || die "perl not found: run scripts/deps.sh"
SRC=$("$REPO/scripts/linux-src.sh") || die "no kernel tree (scripts/linux-src.sh failed)"
CHECKPATCH=$SRC/scripts/checkpatch.pl
[ -f "$CHECKPATCH" ] || die "$CHECKPATCH not found"

# Our sources, not build products: in a git checkout, the files git tracks
# or would track (.gitignore drops *.mod.c, compat/generated/ and the like);
# elsewhere (an exported tarball), a find that skips the same products.
list_sources() {
	local d

	if git -C "$REPO" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git -C "$REPO" ls-files -z --cached --others --exclude-standard \
			-- "${DIRS[@]/%//*.c}" "${DIRS[@]/%//*.h}" |
			sort -zu
		return
	fi
	for d in "${DIRS[@]}"; do
		[ -d "$REPO/$d" ] || continue
		(cd "$REPO" && find "$d" -path '*/generated' -prune -o -type f \
			\( -name '*.c' -o -name '*.h' \) ! -name '*.mod.c' -print0)
	done | sort -zu
}

files=()
if [ $# -gt 0 ]; then
	files=("$@")
else
	cd "$REPO"
	while IFS= read -r -d '' f; do
		# ls-files also lists tracked files deleted in the work tree
		[ -f "$f" ] && files+=("$f")
	done < <(list_sources)
fi
[ ${#files[@]} -gt 0 ] || die "no kernel-side .c/.h file found under ${DIRS[*]}"

ignore=$(IFS=,; echo "${IGNORE[*]}")
passed=0
failed=0
for f in "${files[@]}"; do
	[ -f "$f" ] || { log "$f: no such file"; failed=$((failed + 1)); continue; }
	rc=0
	out=$(perl "$CHECKPATCH" --no-tree --strict --terse --show-types \
		--no-summary --ignore="$ignore" -f "$f" 2>&1) || rc=$?
	# Fail on the exit status and, belt and braces, on any reported line.
	if [ "$rc" -ne 0 ] || grep -qE '(ERROR|WARNING|CHECK):' <<<"$out"; then
		printf '%s\n' "$out"
		failed=$((failed + 1))
	else
		passed=$((passed + 1))
	fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
