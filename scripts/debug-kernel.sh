#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Build (once) and install the kvmbus debug guest kernel: Debian's
# linux-source-6.1 with KASAN, lockdep, kmemleak, DEBUG_OBJECTS and
# DEBUG_ATOMIC_SLEEP, configured as allnoconfig merged with
# scripts/debug-kernel.config.
#
#   scripts/debug-kernel.sh          build if needed; print the KVER
#
# Everything lives outside the repository, in $KVMBUS_CACHE:
#   debug-kernel/linux-source-6.1/   a private source tree (scripts/linux-src.sh
#                                    unpacks it; KUnit's tree is hooked by
#                                    kunit.sh, this one is never touched)
#   debug-kernel/build-<key>/        the O= build directory, kept: the
#                                    out-of-tree modules compile against it
#   kernels/<KVER>/                  the same layout as the Debian kernels:
#                                    boot/vmlinuz-KVER, lib/modules/KVER
#                                    (modules_install), lib/modules/KVER/build
#                                    -> the build directory, and
#                                    timeout-scale (tests/run's time limits)
#   debug-kernel.env                 KVER_DEBUG=<KVER> (the Makefile's
#                                    guest-modules and tests/run read it)
# <key> is the kernel version plus a hash of the fragment and of the source
# tarball's identity, so a new fragment or package builds afresh; an unchanged key only checks the
# stamp and prints the KVER.  Concurrent callers are serialised with flock.
#
# Environment:
#   KVMBUS_CACHE   cache directory (default /var/cache/kvmbus)
#   DEBUG_KERNEL_JOBS  parallel make jobs (default: number of CPUs)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
CACHE=${KVMBUS_CACHE:-/var/cache/kvmbus}
TOP=$CACHE/debug-kernel
FRAGMENT=$REPO/scripts/debug-kernel.config
JOBS=${DEBUG_KERNEL_JOBS:-$(nproc)}
# KASAN, lockdep and kmemleak under TCG: how much slower than the stock
# kernels the suites run (docs/testing.md).
TIMEOUT_SCALE=4

log() { printf 'debug-kernel: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ -r "$FRAGMENT" ] || die "$FRAGMENT is missing"
mkdir -p "$TOP"

SRC=$(KVMBUS_CACHE=$TOP "$REPO/scripts/linux-src.sh") ||
	die "no kernel tree (scripts/linux-src.sh failed)"
srcver=$(make -s -C "$SRC" kernelversion)
hash=$(cat "$FRAGMENT" "$SRC/.kvmbus-unpacked" |
	sha256sum | cut -c1-12)
KEY=$srcver-$hash
BUILD=$TOP/build-$KEY
ENVFILE=$CACHE/debug-kernel.env

# The KVER is the source version plus CONFIG_LOCALVERSION.
localversion=$(sed -n 's/^CONFIG_LOCALVERSION="\(.*\)"$/\1/p' "$FRAGMENT")
KVER=$srcver$localversion
DEST=$CACHE/kernels/$KVER

installed() {
	[ -f "$DEST/.complete" ] && [ "$(cat "$DEST/.complete")" = "$KEY" ] &&
		[ -f "$ENVFILE" ] && grep -qxF "KVER_DEBUG=$KVER" "$ENVFILE"
}

if installed; then
	printf '%s\n' "$KVER"
	exit 0
fi

exec 9>"$TOP/.lock"
if ! flock -n 9; then
	log "another build holds $TOP/.lock, waiting"
	flock 9
fi
if installed; then
	printf '%s\n' "$KVER"
	exit 0
fi

# Every fragment line must survive olddefconfig: a symbol that does not
# exist or whose dependencies are missing would silently drop a checker.
check_config() {
	local line sym want got bad=0
	while IFS= read -r line; do
		case $line in
		CONFIG_*=*)
			sym=${line%%=*}
			want=$line ;;
		"# CONFIG_"*" is not set")
			sym=${line#\# }
			sym=${sym%% *}
			want=$line ;;
		*) continue ;;
		esac
		got=$(grep -E "^($sym=|# $sym is not set)" "$BUILD/.config" || true)
		# "not set" is also met by a symbol that vanished entirely.
		if [ "$got" != "$want" ] &&
		   ! { [ -z "$got" ] && [ "${want#\#}" != "$want" ]; }; then
			log "config: wanted '$want', got '${got:-(absent)}'"
			bad=1
		fi
	done <"$FRAGMENT"
	return "$bad"
}

build() {
	local t0=$SECONDS
	mkdir -p "$BUILD"
	if [ ! -f "$BUILD/.kvmbus-configured" ]; then
		log "configuring $BUILD (allnoconfig + ${FRAGMENT#"$REPO"/})"
		make -s -C "$SRC" O="$BUILD" allnoconfig >/dev/null
		(cd "$SRC" && scripts/kconfig/merge_config.sh -m -O "$BUILD" \
			"$BUILD/.config" "$FRAGMENT" >/dev/null)
		make -s -C "$SRC" O="$BUILD" olddefconfig >/dev/null
		check_config || die "the fragment does not apply to $srcver"
		touch "$BUILD/.kvmbus-configured"
	fi
	log "building $KVER in $BUILD with $JOBS jobs (cold: see docs/testing.md)"
	make -s -C "$SRC" O="$BUILD" -j"$JOBS" bzImage modules
	log "built in $((SECONDS - t0)) s"

	rm -rf "$DEST"
	mkdir -p "$DEST/boot"
	cp "$BUILD/arch/x86/boot/bzImage" "$DEST/boot/vmlinuz-$KVER"
	cp "$BUILD/System.map" "$DEST/boot/System.map-$KVER"
	cp "$BUILD/.config" "$DEST/boot/config-$KVER"
	make -s -C "$SRC" O="$BUILD" INSTALL_MOD_PATH="$DEST" \
		INSTALL_MOD_STRIP=1 DEPMOD=/sbin/depmod modules_install >/dev/null
	[ "$(cat "$BUILD/include/config/kernel.release")" = "$KVER" ] ||
		die "built $(cat "$BUILD/include/config/kernel.release"), expected $KVER"
	ln -sfn "$BUILD" "$DEST/lib/modules/$KVER/build"
	# tests/run multiplies every time limit of a boot on it by this.
	echo "$TIMEOUT_SCALE" >"$DEST/timeout-scale"
	printf '%s\n' "$KEY" >"$DEST/.complete"
	printf 'KVER_DEBUG=%s\n' "$KVER" >"$ENVFILE.tmp"
	mv "$ENVFILE.tmp" "$ENVFILE"
	# Older builds of other keys are dead weight (a few GiB each).
	find "$TOP" -maxdepth 1 -name 'build-*' ! -name "build-$KEY" \
		-exec rm -rf {} +
	log "ready: $KVER in $DEST"
}

build
printf '%s\n' "$KVER"
