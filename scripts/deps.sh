#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Install everything kvmbus builds and tests with, and unpack the two guest
# kernels (Debian 6.1 and 6.12) into the cache.  Idempotent: a second run
# with everything in place only checks and returns.
#
# Guest kernel images are unpacked with dpkg -x into $KVMBUS_CACHE/kernels,
# never installed over the host's /boot.  Their headers are installed as
# packages, because DKMS and out-of-tree builds expect /lib/modules/KVER/build.
#
# Output (sourced by the Makefile and the test harness):
#   $KVMBUS_CACHE/kernels.env   KVER_61=... KVER_612=...
set -euo pipefail

CACHE=${KVMBUS_CACHE:-/var/cache/kvmbus}
ENVFILE=$CACHE/kernels.env
export DEBIAN_FRONTEND=noninteractive

PKGS=(
	build-essential bc bison flex kmod cpio xz-utils zstd rsync pkg-config
	python3 perl
	qemu-system-x86 qemu-utils busybox-static
	linux-source-6.1 sparse dkms libelf-dev libssl-dev
	liburing-dev libcmocka-dev libjson-c-dev clang libfuzzer-14-dev
	libclang-rt-14-dev
	iproute2 iperf3 sockperf fio ethtool sg3-utils e2fsprogs stress-ng util-linux
	gnuplot-nox jq socat
)

log() { printf 'deps: %s\n' "$*" >&2; }

missing_pkgs() {
	local p
	for p in "$@"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
			grep -q '^install ok installed$' || printf '%s\n' "$p"
	done
}

apt_updated=0
apt_update() {
	[ "$apt_updated" = 1 ] && return 0
	log "apt-get update"
	apt-get update -qq
	apt_updated=1
}

apt_install() {
	local need
	need=$(missing_pkgs "$@")
	[ -z "$need" ] && return 0
	apt_update
	# shellcheck disable=SC2086
	log "installing:" $need
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $need >/dev/null
}

# Newest ABI of a series for which both the unsigned image and the headers
# exist in the archive.  $1 is an extended regex matching the ABI name.
newest_abi() {
	local re=$1 abi
	apt-cache search --names-only "^linux-image-.*-unsigned\$" |
		awk '{print $1}' | sed -En "s/^linux-image-(${re})-unsigned\$/\1/p" |
		sort -V -r | while read -r abi; do
			if apt-cache show "linux-headers-$abi" >/dev/null 2>&1; then
				echo "$abi"
				break
			fi
		done
}

unpack_kernel() {
	local kver=$1 dir=$CACHE/kernels/$1 tmp
	[ -f "$dir/.complete" ] && return 0
	log "unpacking guest kernel $kver into $dir"
	tmp=$(mktemp -d "$CACHE/dl.XXXXXX")
	chmod 755 "$tmp"	# apt downloads as _apt
	(cd "$tmp" && apt-get download -qq "linux-image-$kver-unsigned")
	rm -rf "$dir"
	mkdir -p "$dir"
	dpkg -x "$tmp"/linux-image-"$kver"-unsigned_*.deb "$dir"
	rm -rf "$tmp"
	[ -f "$dir/boot/vmlinuz-$kver" ] || { log "no vmlinuz in $kver"; exit 1; }
	touch "$dir/.complete"
}

# Debian's busybox-static always runs its own applets (ip, modprobe,
# modinfo...) even when the real program is on PATH, so the guest image
# uses the dynamic busybox package.  It conflicts with busybox-static, so it
# is unpacked into the cache rather than installed.
unpack_busybox() {
	local dir=$CACHE/busybox tmp
	[ -x "$dir/bin/busybox" ] && return 0
	log "unpacking Debian's dynamic busybox into $dir"
	tmp=$(mktemp -d "$CACHE/dl.XXXXXX")
	chmod 755 "$tmp"	# apt downloads as _apt
	(cd "$tmp" && apt-get download -qq busybox)
	rm -rf "$dir"
	mkdir -p "$dir"
	dpkg -x "$tmp"/busybox_*.deb "$dir"
	rm -rf "$tmp"
	[ -x "$dir/bin/busybox" ] || { log "no busybox in the busybox package"; exit 1; }
}

main() {
	mkdir -p "$CACHE"
	if [ -f "$ENVFILE" ]; then
		# shellcheck disable=SC1090
		. "$ENVFILE"
	fi
	if [ -z "${KVER_61:-}" ] || [ -z "${KVER_612:-}" ]; then
		apt_update
		KVER_61=$(newest_abi '6\.1\.0-[0-9]+-amd64')
		KVER_612=$(newest_abi '6\.12\.[0-9]+\+deb12-amd64')
		[ -n "$KVER_61" ] || { log "no 6.1 guest kernel in the archive"; exit 1; }
		[ -n "$KVER_612" ] || { log "no 6.12 guest kernel in the archive"; exit 1; }
	fi
	apt_install "${PKGS[@]}" "linux-headers-$KVER_61" "linux-headers-$KVER_612"
	unpack_busybox
	unpack_kernel "$KVER_61"
	unpack_kernel "$KVER_612"
	printf 'KVER_61=%s\nKVER_612=%s\n' "$KVER_61" "$KVER_612" >"$ENVFILE.tmp"
	mv "$ENVFILE.tmp" "$ENVFILE"
	log "ready: guest kernels $KVER_61 and $KVER_612"
}

main "$@"
