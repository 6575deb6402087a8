#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# DKMS for kvmbus.
#   scripts/dkms.sh install [KVER...]  stage /usr/src/kvmbus-VER, add, install
#   scripts/dkms.sh remove             remove every kernel's build and the source
#   scripts/dkms.sh check [KVER...]    dkms add + build in private trees under
#                                      build/dkms/ (the system's DKMS state is
#                                      left alone); default: both guest kernels
#
# KERNEL_SOURCES (from the Makefile) lists what goes into the DKMS source.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
name=kvmbus
ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' dkms.conf)
read -r -a sources <<<"${KERNEL_SOURCES:-Kbuild Makefile dkms.conf compat drivers include scripts/compat.sh}"
products=('*.o' '*.ko' '*.mod' '*.mod.c' '.*.cmd' '.*.d' '*.a' modules.order
	  Module.symvers generated)

stage() {	# DEST: copy the kernel-side sources into DEST
	local dest=$1 excl=() p
	for p in "${products[@]}"; do excl+=(--exclude="$p"); done
	rm -rf "$dest"
	mkdir -p "$dest"
	rsync -a --relative "${excl[@]}" "${sources[@]}" "$dest/"
}

guest_kernels() {
	local env=${KVMBUS_CACHE:-/var/cache/kvmbus}/kernels.env
	[ -f "$env" ] || { echo "dkms: no $env: run 'make deps'" >&2; exit 1; }
	# shellcheck disable=SC1090
	. "$env"
	echo "$KVER_61 $KVER_612"
}

cmd_install() {
	local k
	[ $# -gt 0 ] || set -- "$(uname -r)"
	stage "/usr/src/$name-$ver"
	dkms remove "$name/$ver" --all >/dev/null 2>&1 || true
	dkms add "$name/$ver"
	for k in "$@"; do
		dkms install "$name/$ver" -k "$k"
	done
}

cmd_remove() {
	# Not "dkms status | grep -q": with pipefail, grep's early exit would
	# make dkms die of SIGPIPE and the test fail.
	if [ -n "$(dkms status "$name/$ver" 2>/dev/null)" ]; then
		dkms remove "$name/$ver" --all
	fi
	rm -rf "/usr/src/$name-$ver"
}

# Unpack what DKMS built for kernel $2 into $1/guest/$2 as plain .ko files
# (DKMS compresses like the kernel does) and check each module's version.
guest_copy() {
	local top=$1 k=$2 out=$1/guest/$2 f n=0 v
	rm -rf "$out"
	mkdir -p "$out"
	while read -r f; do
		case $f in
		*.ko.xz)	xz -dc "$f" >"$out/$(basename "$f" .xz)" ;;
		*.ko.zst)	zstd -qdc "$f" >"$out/$(basename "$f" .zst)" ;;
		*.ko)		cp "$f" "$out/" ;;
		*)		continue ;;
		esac
		n=$((n + 1))
	done < <(find "$top/tree/$name/$ver/$k" -path '*/module/*' -name '*.ko*')
	if [ "$n" -ne 4 ]; then
		echo "FAIL  dkms build $k: $n modules built, expected 4"
		return 1
	fi
	for f in "$out"/*.ko; do
		v=$(modinfo -F version "$f")
		if [ "$v" != "$ver" ]; then
			echo "FAIL  dkms build $k: $(basename "$f") says version '$v', dkms.conf says '$ver'"
			return 1
		fi
	done
}

cmd_check() {
	local top=$root/build/dkms k pass=0 fail=0
	# shellcheck disable=SC2046
	[ $# -gt 0 ] || set -- $(guest_kernels)
	rm -rf "$top"
	stage "$top/source/$name-$ver"
	mkdir -p "$top/tree"
	dkms add -m "$name" -v "$ver" --sourcetree "$top/source" \
		--dkmstree "$top/tree" >"$top/add.log" 2>&1 ||
		{ cat "$top/add.log" >&2; echo "0 passed, 1 failed"; exit 1; }
	for k in "$@"; do
		if dkms build -m "$name" -v "$ver" -k "$k" \
			--sourcetree "$top/source" --dkmstree "$top/tree" \
			>"$top/build-$k.log" 2>&1; then
			if guest_copy "$top" "$k"; then
				echo "PASS  dkms build $k [modules: $top/guest/$k]"
				pass=$((pass + 1))
				continue
			fi
		else
			echo "FAIL  dkms build $k [log: $top/build-$k.log]"
			tail -n 30 "$top/build-$k.log" | sed 's/^/  | /'
			find "$top/tree/$name/$ver/build" -name make.log \
				-exec tail -n 30 {} \; 2>/dev/null | sed 's/^/  | /'
		fi
		fail=$((fail + 1))
	done
	echo "$pass passed, $fail failed"
	[ "$fail" -eq 0 ]
}

case ${1:-} in
install)	shift; cmd_install "$@" ;;
remove)		shift; cmd_remove ;;
check)		shift; cmd_check "$@" ;;
*)		echo "usage: $0 install [KVER...] | remove | check [KVER...]" >&2
		exit 2 ;;
esac
