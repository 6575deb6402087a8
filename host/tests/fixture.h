/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Fixtures shared by the kvmbusd unit tests that play a guest (header-only,
 * static): guest RAM in a memfd, and the guest's end of the control rings
 * (test_ctl.c, test_chan.c), played with the guest's own ring code.
 */
#ifndef KVMBUSD_TEST_FIXTURE_H
#define KVMBUSD_TEST_FIXTURE_H

#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>

#include "helpers.h"
#include "ctl.h"
#include "guestmem.h"
#include "ring.h"

/*
 * Open @gm on a fresh memfd of @ram bytes of guest RAM, @low of them below
 * the 4 GiB hole (guestmem_layout_fixed()).
 */
static inline void guestmem_memfd(struct guestmem *gm, uint64_t ram,
				  uint64_t low)
{
	struct guestmem_layout l;
	int fd;

	fd = memfd_create("ram", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, ram), 0);
	assert_int_equal(guestmem_layout_fixed(ram, low, &l), 0);
	assert_int_equal(guestmem_open_fd(gm, fd, "memfd", &l), 0);
}

/* --- the guest's end of the control plane --------------------------------- */

/* Queue one message of @len bytes as @tid in the guest->host ring @out
 * (no commit). */
static inline void gctl_put(struct kvmbus_ring *out, uint64_t tid,
			    const void *msg, uint32_t len)
{
	struct kvmbus_ring_pkt p = {
		.type = KVMBUS_PKT_INBAND,
		.trans_id = tid,
		.data = msg,
		.data_len = len,
	};

	assert_int_equal(kvmbus_ring_put(out, &p), 0);
}

/* Ring doorbell 0 of @c until the host has nothing more to do. */
static inline void gctl_doorbell(struct ctl *c)
{
	while (ctl_doorbell(c))
		;
}

/* Commit what was put in @out and ring the doorbell. */
static inline void gctl_kick(struct ctl *c, struct kvmbus_ring *out)
{
	kvmbus_ring_commit(out);
	gctl_doorbell(c);
}

/*
 * The next message from the host in @in, copied into @msg (at least 128
 * bytes), its transaction id into @tid (if not NULL).
 * Return: its type, or 0 when the ring is empty.  The guest rings the
 * doorbell when its release made room the host waits for.
 */
static inline uint32_t gctl_recv(struct ctl *c, struct kvmbus_ring *in,
				 void *msg, uint64_t *tid)
{
	uint64_t buf[512 / 8];
	struct kvmbus_pkt_info pi;
	struct kvmbus_ctl_hdr h;
	int ret;

	ret = kvmbus_ring_get(in, buf, sizeof(buf), &pi);
	if (ret == -EAGAIN) {
		if (kvmbus_ring_release(in))
			gctl_doorbell(c);
		return 0;
	}
	assert_int_equal(ret, 0);
	assert_int_equal(pi.type, KVMBUS_PKT_INBAND);
	assert_true(pi.data_len >= sizeof(h) && pi.data_len <= 128);
	memcpy(msg, (uint8_t *)buf + pi.data_offset, pi.data_len);
	if (tid)
		*tid = pi.trans_id;
	if (kvmbus_ring_release(in))
		gctl_doorbell(c);
	memcpy(&h, msg, sizeof(h));
	return le32_to_cpu(h.type);
}

#endif /* KVMBUSD_TEST_FIXTURE_H */
