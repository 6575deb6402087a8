// SPDX-License-Identifier: GPL-2.0-only
/*
 * guestmem_range() against arbitrary (gpa, len) pairs: every pointer it
 * returns must cover exactly the asked bytes inside the mapping, at the
 * file offset QEMU's layout implies, and every refusal must be counted.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_layout.h"
#include "guestmem.h"

#define FOUR_G	(1ull << 32)

/* Independent model: 128-bit arithmetic, no shortcuts. */
static uint8_t *model(const struct guestmem *gm, uint64_t gpa, uint64_t len)
{
	unsigned __int128 end = (unsigned __int128)gpa + len;
	const struct guestmem_layout *l = &gm->layout;

	if (!len || end > ((unsigned __int128)1 << 64))
		return NULL;
	if (gpa < l->low_size && end <= l->low_size)
		return gm->base + gpa;
	if (gpa >= FOUR_G && end <= (unsigned __int128)FOUR_G + l->high_size)
		return gm->base + l->low_size + (gpa - FOUR_G);
	return NULL;
}

/* Values near the interesting edges are far likelier to matter. */
static uint64_t anchored(const struct guestmem *gm, uint8_t sel,
			 uint64_t delta)
{
	const struct guestmem_layout *l = &gm->layout;
	uint64_t small = (uint64_t)(int64_t)(int16_t)delta;

	switch (sel % 8) {
	case 0: return small;
	case 1: return l->low_size + small;
	case 2: return FOUR_G + small;
	case 3: return FOUR_G + l->high_size + small;
	case 4: return l->ram_size + small;
	case 5: return UINT64_MAX - (delta & 0xffff);
	case 6: return delta & ~0xfffull;
	default: return delta;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct guestmem gm;
	uint64_t nulls = 0;

	if (size < FUZZ_LAYOUT_LEN || fuzz_layout(data, &gm))
		return 0;
	data += FUZZ_LAYOUT_LEN;
	size -= FUZZ_LAYOUT_LEN;

	while (size >= 18) {
		uint64_t a, b, gpa, len;
		uint8_t *p, *want;

		memcpy(&a, data + 2, 8);
		memcpy(&b, data + 10, 8);
		gpa = anchored(&gm, data[0], a);
		len = anchored(&gm, data[1], b);
		data += 18;
		size -= 18;

		p = guestmem_range(&gm, gpa, len);
		want = model(&gm, gpa, len);
		if (p != want)
			abort();
		if (!p) {
			nulls++;
			continue;
		}
		/* Inside the mapping, all @len bytes of it. */
		if (p < gm.base || len > gm.layout.ram_size ||
		    (uint64_t)(p - gm.base) > gm.layout.ram_size - len)
			abort();
	}
	if (gm.stats.rejected != nulls ||
	    gm.stats.rejected != gm.stats.rej_zero + gm.stats.rej_wrap +
				 gm.stats.rej_cross + gm.stats.rej_outside)
		abort();
	return 0;
}
