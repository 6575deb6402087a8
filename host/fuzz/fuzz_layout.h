/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Shared by the guest-memory fuzz targets: a guest RAM layout chosen by
 * the input, over one PROT_NONE reservation that is never touched.
 */
#ifndef KVMBUSD_FUZZ_LAYOUT_H
#define KVMBUSD_FUZZ_LAYOUT_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "guestmem.h"

#define FUZZ_RAM_MAX	(64ull << 30)	/* address space only */
#define FUZZ_LAYOUT_LEN	9

static uint8_t *fuzz_ram_base(void)
{
	static uint8_t *base;

	if (!base) {
		void *p = mmap(NULL, FUZZ_RAM_MAX, PROT_NONE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			       -1, 0);
		if (p == MAP_FAILED)
			abort();
		base = p;
	}
	return base;
}

/*
 * 9 bytes: a mode byte (machine, or an explicit split), then RAM pages
 * (4 bytes) and a max-ram-below-4g / low-size in pages (4 bytes).
 * Return: 0 with @gm attached, -1 for a layout QEMU would refuse too.
 */
static int fuzz_layout(const uint8_t *d, struct guestmem *gm)
{
	struct guestmem_layout l;
	uint32_t ram_pages, below_pages;
	uint64_t ram, below;
	int ret;

	memcpy(&ram_pages, d + 1, 4);
	memcpy(&below_pages, d + 5, 4);
	ram = ((uint64_t)ram_pages << 12) % (FUZZ_RAM_MAX + 1);
	below = (uint64_t)below_pages << 12;
	switch (d[0] % 4) {
	case 0:
		ret = guestmem_layout(GUESTMEM_Q35, ram, 0, &l);
		break;
	case 1:
		ret = guestmem_layout(GUESTMEM_PC, ram, 0, &l);
		break;
	case 2:
		ret = guestmem_layout(d[0] & 4 ? GUESTMEM_PC : GUESTMEM_Q35,
				      ram, below, &l);
		break;
	default:
		ret = guestmem_layout_fixed(ram, below, &l);
		break;
	}
	if (ret)
		return -1;
	if (l.low_size + l.high_size != l.ram_size || l.low_size > (1ull << 32))
		abort();
	guestmem_attach(gm, fuzz_ram_base(), &l);
	return 0;
}

#endif /* KVMBUSD_FUZZ_LAYOUT_H */
