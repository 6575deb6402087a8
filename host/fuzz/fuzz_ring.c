// SPDX-License-Identifier: GPL-2.0-only
/*
 * The guest->host control ring as a hostile guest fills it: any bytes in
 * the data area, any indices in both headers, then doorbells.  The host
 * (ctl_doorbell() -> ctl_poll() -> ring.c -> ctl_handle_msg()) must never
 * read or write outside the two rings (they are one exact-size heap block
 * here, so ASan sees every stray byte), must terminate, and must end up
 * either serving or with the connection marked broken.
 *
 * Input: [pages - 2][g->h write_index x4][h->g read_index x4]
 *	  [h->g interrupt_mask x4][g->h pending_send_sz x4][data area...]
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "guestmem.h"

#define PAGE		KVMBUS_PAGE_SIZE
#define HDR_LEN		17

static int no_signal(void *opaque, unsigned int vector)
{
	(void)opaque;
	(void)vector;
	return 0;
}

static const struct ctl_ops ops = { .signal = no_signal };

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ctl *c;
	struct kvmbus_bar_hdr hdr;
	struct kvmbus_ring_hdr *g2h, *h2g;
	struct guestmem_layout l;
	struct guestmem gm;
	struct bar bar;
	struct device *dev;
	uint32_t pages, ring, n;
	uint8_t *mem;
	int i;

	if (size < HDR_LEN)
		return 0;
	if (!c) {
		/* Guest-triggered warnings are the point here: keep quiet. */
		log_init("fuzz_ring", LOG_TO_STDERR, LOG_ERR);
		c = malloc(sizeof(*c));
		if (!c)
			abort();
	}
	pages = 2 + data[0] % 3;
	ring = pages * PAGE;
	mem = calloc(1, 2 * (size_t)ring);	/* guest RAM: the rings only */
	if (!mem)
		abort();
	if (guestmem_layout_fixed(2 * ring, 2 * ring, &l))
		abort();
	guestmem_attach(&gm, mem, &l);
	memset(&hdr, 0, sizeof(hdr));
	bar = (struct bar){ .fd = -1, .hdr = &hdr, .size = 4096,
			    .nr_vectors = 4 };
	ctl_init(c, &bar, &gm, 4, &ops, NULL);
	ctl_device_add(c, dev_class_find("echo"), &dev);

	/* The guest connects with clean rings... */
	hdr.ctl_ring_pages = cpu_to_le32(pages);
	hdr.guest_generation = cpu_to_le32(1);
	hdr.guest_state = cpu_to_le32(KVMBUS_MBOX_CONNECT);
	ctl_doorbell(c);
	if (c->state != CTL_ONLINE)
		abort();

	/* ... then writes whatever it likes into them. */
	g2h = (struct kvmbus_ring_hdr *)mem;
	h2g = (struct kvmbus_ring_hdr *)(mem + ring);
	g2h->write_index = get32(data + 1);
	h2g->read_index = get32(data + 5);
	h2g->interrupt_mask = get32(data + 9);
	g2h->pending_send_sz = get32(data + 13);
	n = (uint32_t)(size - HDR_LEN);
	if (n > ring - PAGE)
		n = ring - PAGE;
	memcpy(mem + PAGE, data + HDR_LEN, n);

	for (i = 0; i < 64 && ctl_doorbell(c); i++)
		;
	if (i == 64 || (c->state != CTL_ONLINE && c->state != CTL_BROKEN))
		abort();
	if (c->outq_len > CTL_OUTQ_LEN)
		abort();
	/* Whatever happened, hot plug keeps working or is ignored. */
	ctl_device_add(c, dev_class_find("echo"), &dev);
	ctl_disconnect(c);
	free(mem);
	return 0;
}
