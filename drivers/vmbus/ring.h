/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * kvmbus ring buffers, guest side: docs/protocol.md section 4.
 * Transport-free, so that KUnit runs it on UML against plain memory.
 */
#ifndef _KVMBUS_RING_H
#define _KVMBUS_RING_H

#include <linux/types.h>
#include <kvmbus/wire.h>

/**
 * struct kvmbus_ring - one direction of a channel
 * @hdr: the shared header page
 * @data: the shared data area, virtually contiguous
 * @size: bytes of @data; private, never re-read from shared memory
 * @wr: producer: where the next packet goes (not yet published)
 * @wr_pub: producer: the write index last published
 * @rd: consumer: where the next packet starts (not yet published)
 * @rd_pub: consumer: the read index last published
 * @waiting: producer: pending_send_sz is set
 * @signal_owed: producer: a batch was published early, its signal is owed
 * @broken: the peer broke the protocol on this ring; it is dead
 *
 * One producer and one consumer at a time: serialising each side is the
 * caller's job.
 */
struct kvmbus_ring {
	struct kvmbus_ring_hdr *hdr;
	u8 *data;
	u32 size;
	u32 wr;
	u32 wr_pub;
	u32 rd;
	u32 rd_pub;
	bool waiting;
	bool signal_owed;
	bool broken;
};

void kvmbus_ring_create(struct kvmbus_ring *r, struct kvmbus_ring_hdr *hdr,
			void *data, u32 size);
int kvmbus_ring_attach(struct kvmbus_ring *r, struct kvmbus_ring_hdr *hdr,
		       void *data, u32 size);
int kvmbus_ring_put(struct kvmbus_ring *r, const struct kvmbus_ring_pkt *p);
bool kvmbus_ring_commit(struct kvmbus_ring *r);
int kvmbus_ring_get(struct kvmbus_ring *r, void *buf, u32 buflen,
		    struct kvmbus_pkt_info *pi);
bool kvmbus_ring_release(struct kvmbus_ring *r);
bool kvmbus_ring_more(struct kvmbus_ring *r);
void kvmbus_ring_mask(struct kvmbus_ring *r);
bool kvmbus_ring_unmask(struct kvmbus_ring *r);

#endif /* _KVMBUS_RING_H */
