// SPDX-License-Identifier: GPL-2.0-only
/*
 * The guest half of the BAR2 mailbox, as a hostile guest may write it:
 * snapshot, validate, and check that whatever passes is safe to use.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bar.h"
#include "fuzz_layout.h"
#include "guestmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kvmbus_bar_hdr hdr;
	struct guestmem gm;
	struct bar_mbox m;
	const char *why = NULL;
	void *rings = NULL;
	uint64_t total;
	uint8_t *p;
	int ret;

	if (size < FUZZ_LAYOUT_LEN + sizeof(hdr) ||
	    fuzz_layout(data, &gm))
		return 0;
	memcpy(&hdr, data + FUZZ_LAYOUT_LEN, sizeof(hdr));

	bar_mbox_read(&hdr, &m);
	if (m.state != le32_to_cpu(hdr.guest_state) ||
	    m.ring_pages != le32_to_cpu(hdr.ctl_ring_pages) ||
	    m.ctl_gpa != le64_to_cpu(hdr.ctl_gpa) ||
	    m.generation != le32_to_cpu(hdr.guest_generation))
		abort();

	ret = bar_mbox_check(&m, &gm, &rings, &why);
	if (ret) {
		if (!why || rings || (ret != -EINVAL && ret != -ERANGE &&
				      ret != -EFAULT))
			abort();
		return 0;
	}
	if (m.state != KVMBUS_MBOX_IDLE && m.state != KVMBUS_MBOX_CONNECT &&
	    m.state != KVMBUS_MBOX_RESET)
		abort();
	if (m.state != KVMBUS_MBOX_CONNECT)
		return 0;

	/* What the control-plane will map next must be sound. */
	if (m.ring_pages < BAR_CTL_RING_PAGES_MIN ||
	    m.ring_pages > BAR_CTL_RING_PAGES_MAX ||
	    m.ctl_gpa % KVMBUS_PAGE_SIZE)
		abort();
	total = 2 * (uint64_t)m.ring_pages * KVMBUS_PAGE_SIZE;
	p = guestmem_range(&gm, m.ctl_gpa, total);
	if (!p || p != rings || p < gm.base ||
	    (uint64_t)(p - gm.base) + total > gm.layout.ram_size)
		abort();
	return 0;
}
