# SPDX-License-Identifier: GPL-2.0-only
#
# kvmbus: paravirtual channel bus, synthetic NIC, SCSI and balloon for KVM
# guests, plus the host backend.
#
#   make                 install dependencies, build modules (KDIR) and host/
#   make KDIR=<dir>      build the modules against another kernel build tree
#   make check           every test; ends with "N passed, N failed"
#   make demo            build, boot a guest with the modules, a short comparison
#   make bench-net       kvmbus NIC against e1000 and virtio-net (BENCH_QUICK=1: short)
#   make bench-disk      kvmbus SCSI against AHCI, virtio-blk, virtio-scsi
#   make help            everything else
#
# Guest kernels are Debian's own 6.1 and 6.12; scripts/deps.sh picks them,
# installs their headers and unpacks their images into $(KVMBUS_CACHE).

KVMBUS_CACHE ?= /var/cache/kvmbus
export KVMBUS_CACHE

-include $(KVMBUS_CACHE)/kernels.env
# The debug kernel, once scripts/debug-kernel.sh has built it.
-include $(KVMBUS_CACHE)/debug-kernel.env
GUEST_KVERS := $(strip $(KVER_61) $(KVER_612) $(KVER_DEBUG))

# The newest guest kernel the project installed, never the host's own.
ifeq ($(origin KDIR),undefined)
KDIR := $(if $(KVER_612),/lib/modules/$(KVER_612)/build)
endif

JOBS ?= $(shell nproc)
DKMS_VERSION := $(shell sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' dkms.conf)

# What a kernel-side build needs: copied into build/<KVER>/ and into DKMS.
KERNEL_SOURCES := Kbuild Makefile dkms.conf compat drivers include \
		  scripts/compat.sh tests/kmod
# Build products kbuild leaves next to the sources.
KBUILD_PRODUCTS := '*.o' '*.ko' '*.mod' '*.mod.c' '.*.cmd' '.*.d' '*.a' \
		   modules.order Module.symvers 'generated'

.PHONY: all deps modules clean-modules host guest-modules check kunit \
	sparse checkpatch dkms-check dkms-install dkms-remove guest-test \
	demo bench-net bench-disk bench-balloon bench-echo clean help \
	debug-kernel check-debug

all:
	scripts/deps.sh
	$(MAKE) modules host

help:
	@sed -n 's/^#   //p' Makefile
	@echo '  modules / host       one half of the build'
	@echo '  guest-modules        modules for every guest kernel, in build/<KVER>/'
	@echo '  guest-test           guest tests on every kernel (TESTS=suite[.case] KERNELS=6.1)'
	@echo '  kunit sparse checkpatch dkms-check   single stages of make check'
	@echo '  dkms-install dkms-remove             DKMS for DKMS_KERNELS (default: running kernel)'
	@echo '  debug-kernel         build the debug guest kernel (KASAN, lockdep, kmemleak) once'
	@echo '  check-debug          every guest suite on the debug kernel'
	@echo '  bench-balloon        kvmbus_balloon against virtio-balloon (BENCH_KERNEL=6.12)'
	@echo '  bench-echo           one echo channel: throughput, latency, signals per packet'
	@echo '  clean                remove every build product'

deps:
	scripts/deps.sh

modules:
	@test -n "$(KDIR)" || { echo "make: no guest kernel headers: run 'make deps' or pass KDIR=/lib/modules/<version>/build" >&2; exit 1; }
	scripts/compat.sh $(KDIR) compat/generated/kvmbus_config.h
	$(MAKE) -C $(KDIR) M=$(CURDIR) -j$(JOBS) KVMBUS_TESTS=$(KVMBUS_TESTS) modules

# Not kbuild's own clean: with M=$(CURDIR) it would also delete every
# module under build/, where the per-kernel builds live.
clean-modules:
	rm -rf compat/generated
	find . -path ./build -prune -o -path ./.git -prune -o -path ./host -prune -o \
		\( $(patsubst %,-name % -o,$(filter-out 'generated',$(KBUILD_PRODUCTS))) \
		-name '.module-common.o' \) -type f -print | xargs -r rm -f

host:
	$(MAKE) -C host

guest-modules:
	@test -n "$(GUEST_KVERS)" || { echo "make: no guest kernels: run 'make deps'" >&2; exit 1; }
	@set -e; for k in $(GUEST_KVERS); do \
		mkdir -p build/$$k; \
		rsync -a --delete --relative $(patsubst %,--exclude=%,$(KBUILD_PRODUCTS)) \
			$(KERNEL_SOURCES) build/$$k/; \
		echo "  MODULES $$k"; \
		kdir=$(KVMBUS_CACHE)/kernels/$$k/lib/modules/$$k/build; \
		[ -d $$kdir ] || kdir=/lib/modules/$$k/build; \
		$(MAKE) -s -C build/$$k KDIR=$$kdir KVMBUS_TESTS=1 modules; \
	done

check:
	scripts/check.sh

# The debug guest kernel (KASAN, lockdep, kmemleak...), built once into
# $(KVMBUS_CACHE); check-debug runs every guest suite on it (make check's
# debug-guest stage runs a subset: scripts/check.sh).
debug-kernel:
	scripts/debug-kernel.sh

check-debug:
	scripts/check.sh debug-guest-full

kunit:
	scripts/kunit.sh

sparse:
	scripts/sparse.sh

checkpatch:
	scripts/checkpatch.sh

dkms-check:
	KERNEL_SOURCES="$(KERNEL_SOURCES)" scripts/dkms.sh check

DKMS_KERNELS ?= $(shell uname -r)
dkms-install:
	KERNEL_SOURCES="$(KERNEL_SOURCES)" scripts/dkms.sh install $(DKMS_KERNELS)

dkms-remove:
	KERNEL_SOURCES="$(KERNEL_SOURCES)" scripts/dkms.sh remove

guest-test: guest-modules host
	tests/run $(patsubst %,--kernel %,$(KERNELS)) $(TESTS)

# The comparisons (docs/performance.md): one boot of the newest guest kernel
# with every device side by side; table on screen, build/bench/*.json and
# *.png.  BENCH_QUICK=1: a few seconds per test; BENCH_DEVICES=a,b: a subset.
bench-net bench-disk: guest-modules host
	tests/bench/bench $(@:bench-%=%)

demo:
	scripts/deps.sh
	$(MAKE) -s guest-modules host
	tests/demo/run

# One echo channel's throughput, latency and signals per packet:
# results in build/bench/echo.txt (docs/performance.md, "Echo channel").
bench-echo: guest-modules host
	@mkdir -p build/bench
	tests/run --kernel $(BENCH_KERNEL) --dir tests/echo-bench
	@grep -ah 'BENCH: ' build/logs/*$(BENCH_KERNEL)*/echo.console | \
		sed 's/.*BENCH: //' | tee build/bench/echo.txt

# The balloon comparison: results in build/bench/balloon.txt.
BENCH_KERNEL ?= 6.12
bench-balloon: guest-modules host
	@mkdir -p build/bench
	tests/run --kernel $(BENCH_KERNEL) --dir tests/balloon-bench
	@grep -ah 'BENCH: ' build/logs/*$(BENCH_KERNEL)*/compare.console | \
		sed 's/.*BENCH: //' | tee build/bench/balloon.txt

clean: clean-modules
	$(MAKE) -C host clean
	rm -rf build
