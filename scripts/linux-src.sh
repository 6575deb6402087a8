#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Print the path of an unpacked Linux 6.1 source tree (Debian's
# linux-source-6.1 package), unpacking it into the cache on first use.
#
#   scripts/linux-src.sh            -> $KVMBUS_CACHE/linux-source-6.1
#
# The tree is what KUnit (tools/testing/kunit/kunit.py) and checkpatch
# (scripts/checkpatch.pl) run from.  Unpacking happens once: into a
# temporary directory next to the destination, then a rename, so an
# interrupted run never leaves a half tree behind.  A stamp inside the tree
# records which tarball it came from; a new linux-source-6.1 package
# (different size or mtime) is unpacked afresh.  Concurrent callers are
# serialised with flock.  The second call only compares the stamp.
#
# Environment:
#   KVMBUS_CACHE         cache directory (default /var/cache/kvmbus)
#   KVMBUS_LINUX_TARBALL source tarball (default /usr/src/linux-source-6.1.tar.xz)
set -euo pipefail

CACHE=${KVMBUS_CACHE:-/var/cache/kvmbus}
TARBALL=${KVMBUS_LINUX_TARBALL:-/usr/src/linux-source-6.1.tar.xz}
NAME=linux-source-6.1
DEST=$CACHE/$NAME
STAMP_NAME=.kvmbus-unpacked

log() { printf 'linux-src: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ -r "$TARBALL" ] ||
	die "$TARBALL not found: run scripts/deps.sh (package linux-source-6.1)"

# Identity of the tarball: changes when the package is upgraded.
want=$(stat -L -c '%n %s %Y' -- "$TARBALL")

is_current() {
	[ -f "$DEST/$STAMP_NAME" ] && [ "$(cat "$DEST/$STAMP_NAME")" = "$want" ]
}

# Fast path, no lock: the stamp is written before the rename, so a tree
# with a matching stamp is complete.
if is_current; then
	printf '%s\n' "$DEST"
	exit 0
fi

mkdir -p "$CACHE"
exec 9>"$CACHE/.$NAME.lock"
flock 9
if is_current; then		# another caller unpacked it meanwhile
	printf '%s\n' "$DEST"
	exit 0
fi

tmp=$(mktemp -d "$CACHE/.$NAME.tmp.XXXXXX")
cleanup() { rm -rf -- "$tmp"; }
trap cleanup EXIT

log "unpacking $TARBALL into $DEST (once, 10 s to a minute)"
tar -xJf "$TARBALL" -C "$tmp"
if [ ! -f "$tmp/$NAME/Makefile" ] ||
   [ ! -x "$tmp/$NAME/tools/testing/kunit/kunit.py" ]; then
	die "$TARBALL does not hold a $NAME/ kernel tree with kunit.py"
fi
printf '%s\n' "$want" >"$tmp/$NAME/$STAMP_NAME"

# Move an outdated or partial tree aside first, then rename the new one in.
if [ -e "$DEST" ]; then
	log "replacing outdated $DEST"
	mv -- "$DEST" "$tmp/old"
fi
mv -- "$tmp/$NAME" "$DEST"
log "ready: $DEST"
printf '%s\n' "$DEST"
