// SPDX-License-Identifier: GPL-2.0-only
/*
 * balloon_parse(), the balloon VSP's reader of guest messages, against
 * arbitrary bytes over a RAM layout chosen by the input: it must never
 * read past the message, and whatever it accepts must be what the wire
 * format allows: a known guest->host type, ranges turned into whole-page
 * runs of the RAM file that lie inside guest RAM and add up to the
 * message's page count, adjacent runs merged, within the lowest and
 * highest frame it reports.  The host->guest direction of
 * kvmbus_balloon_msg_type() (DEFLATE_RANGE_REQ...) runs on the same bytes.
 *
 * Input: 9 layout bytes (fuzz_layout.h), then the message.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_layout.h"
#include "vsp_balloon.h"

static struct balloon_msg m;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct guestmem gm;
	uint8_t *msg;
	uint64_t bytes = 0;
	uint32_t len;
	unsigned int i;
	int ret;

	if (size < FUZZ_LAYOUT_LEN || fuzz_layout(data, &gm))
		return 0;
	len = (uint32_t)(size - FUZZ_LAYOUT_LEN);
	/* An exact copy, so ASan sees any read past the message. */
	msg = malloc(len ? len : 1);
	if (!msg)
		abort();
	memcpy(msg, data + FUZZ_LAYOUT_LEN, len);
	(void)kvmbus_balloon_msg_type(msg, len, false);
	ret = balloon_parse(&gm, msg, len, &m);
	if (ret) {
		if (ret != -EINVAL && ret != -EFAULT)
			abort();
		goto out;
	}
	if (m.type != kvmbus_balloon_msg_type(msg, len, true) ||
	    m.nr_runs > KVMBUS_BALLOON_MAX_RANGES)
		abort();
	for (i = 0; i < m.nr_runs; i++) {
		const struct guestmem_run *r = &m.runs[i];

		if (!r->len || r->len % KVMBUS_PAGE_SIZE ||
		    r->off % KVMBUS_PAGE_SIZE || r->off >= gm.layout.ram_size ||
		    r->len > gm.layout.ram_size - r->off)
			abort();
		if (i && m.runs[i - 1].off + m.runs[i - 1].len == r->off)
			abort();	/* should have been merged */
		bytes += r->len;
	}
	if (m.nr_runs && bytes != m.pages * KVMBUS_PAGE_SIZE)
		abort();
	/* The bounds a range deflate's answer is checked against (ranges
	 * may overlap: no count of pages follows from them). */
	if (m.nr_runs && m.lo_pfn >= m.hi_pfn)
		abort();
	if (!m.nr_runs && m.pages &&
	    !(m.type == KVMBUS_BALLOON_DEFLATED &&
	      (m.flags & KVMBUS_BALLOON_F_PRESSURE)))
		abort();
out:
	free(msg);
	return 0;
}
