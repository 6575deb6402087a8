// SPDX-License-Identifier: GPL-2.0-only
/*
 * kvmbus ring buffers, guest side: the memory half of docs/protocol.md
 * section 4.  The arithmetic and validation are in <kvmbus/wire.h>; this
 * file moves bytes and orders the accesses to the shared header.  Every
 * value the peer writes is loaded once and checked before use; a peer that
 * breaks the protocol marks the ring broken and it stops.
 *
 * The virt_*() barriers are used because the peer is the host, which runs
 * concurrently even with a uniprocessor guest.
 */
#include <linux/kernel.h>
#include <linux/string.h>
#include <asm/barrier.h>

#include "ring.h"

static const u8 kvmbus_ring_zeroes[KVMBUS_PKT_ALIGN];

/**
 * kvmbus_ring_create() - initialise a new, empty ring
 * @r: the private ring state
 * @hdr: the header page, shared with the host
 * @data: the data area, shared with the host
 * @size: bytes of @data; must satisfy kvmbus_ring_size_ok()
 *
 * The host must not see the ring before this returns.
 */
void kvmbus_ring_create(struct kvmbus_ring *r, struct kvmbus_ring_hdr *hdr,
			void *data, u32 size)
{
	memset(hdr, 0, sizeof(*hdr));
	hdr->features = cpu_to_le32(KVMBUS_RING_F_PENDING_SEND);
	*r = (struct kvmbus_ring) {
		.hdr = hdr,
		.data = data,
		.size = size,
	};
}

/**
 * kvmbus_ring_attach() - take over one end of a ring the peer created
 * @r: the private ring state
 * @hdr: the header page, shared with the peer
 * @data: the data area, shared with the peer
 * @size: bytes of @data, as agreed out of band (never read from @hdr)
 *
 * Both ends continue from the indices in the header, each loaded once and
 * checked, so a side that restarts picks up where the ring stands.
 *
 * Return: 0, or -EINVAL when @size or a shared index is not valid.
 */
int kvmbus_ring_attach(struct kvmbus_ring *r, struct kvmbus_ring_hdr *hdr,
		       void *data, u32 size)
{
	u32 wr = le32_to_cpu(READ_ONCE(hdr->write_index));
	u32 rd = le32_to_cpu(READ_ONCE(hdr->read_index));

	if (!kvmbus_ring_size_ok(size) || !kvmbus_ring_index_ok(wr, size) ||
	    !kvmbus_ring_index_ok(rd, size))
		return -EINVAL;
	*r = (struct kvmbus_ring) {
		.hdr = hdr,
		.data = data,
		.size = size,
		.wr = wr,
		.wr_pub = wr,
		.rd = rd,
		.rd_pub = rd,
	};
	return 0;
}

static void kvmbus_ring_copy_to(struct kvmbus_ring *r, u32 off,
				const void *src, u32 len)
{
	u32 first = min(len, r->size - off);

	memcpy(r->data + off, src, first);
	memcpy(r->data, src + first, len - first);
}

static void kvmbus_ring_copy_from(struct kvmbus_ring *r, u32 off, void *dst,
				  u32 len)
{
	u32 first = min(len, r->size - off);

	memcpy(dst, r->data + off, first);
	memcpy(dst + first, r->data, len - first);
}

/* Load the consumer's read index for the producer: once, then checked. */
static int kvmbus_ring_load_rd(struct kvmbus_ring *r, u32 *rd)
{
	/* Pairs with the release in kvmbus_ring_release(): the consumer is
	 * done with the bytes before we overwrite them.
	 */
	u32 v = le32_to_cpu(virt_load_acquire(&r->hdr->read_index));

	if (!kvmbus_ring_index_ok(v, r->size)) {
		r->broken = true;
		return -EIO;
	}
	*rd = v;
	return 0;
}

/* Load the producer's write index for the consumer: once, then checked. */
static int kvmbus_ring_load_wr(struct kvmbus_ring *r, u32 *wr)
{
	/* Pairs with the release in kvmbus_ring_commit(): the packet bytes
	 * are visible before the index that covers them.
	 */
	u32 v = le32_to_cpu(virt_load_acquire(&r->hdr->write_index));

	if (!kvmbus_ring_index_ok(v, r->size)) {
		r->broken = true;
		return -EIO;
	}
	*wr = v;
	return 0;
}

/* Is there room for @len bytes after the unpublished batch? */
static int kvmbus_ring_room(struct kvmbus_ring *r, u32 len)
{
	u32 rd;
	int ret;

	ret = kvmbus_ring_load_rd(r, &rd);
	if (ret)
		return ret;
	if (kvmbus_ring_free(r->wr, rd, r->size) >= len)
		goto room;

	/* The consumer judges our request against the write index it can
	 * see, so publish the batch first: otherwise it counts the batch's
	 * bytes as free, believes the room is already there and never
	 * signals.  The signal this publish may call for is owed to the
	 * caller's next commit.
	 */
	if (r->wr != r->wr_pub && kvmbus_ring_commit(r))
		r->signal_owed = true;

	/* Ask the consumer to signal once @len bytes are free, then look
	 * again: it may have made room before it could see the request.
	 */
	WRITE_ONCE(r->hdr->pending_send_sz, cpu_to_le32(len));
	r->waiting = true;
	/* Pairs with the barrier in kvmbus_ring_release() between its
	 * read-index publish and its load of pending_send_sz.
	 */
	virt_mb();
	ret = kvmbus_ring_load_rd(r, &rd);
	if (ret)
		return ret;
	if (kvmbus_ring_free(r->wr, rd, r->size) < len)
		return -ENOSPC;
room:
	/* A request we no longer need would only cause spurious signals. */
	if (r->waiting) {
		WRITE_ONCE(r->hdr->pending_send_sz, 0);
		r->waiting = false;
	}
	return 0;
}

/**
 * kvmbus_ring_put() - add a packet to the current batch
 * @r: the ring, producer side
 * @p: the packet
 *
 * The packet is not visible to the consumer until kvmbus_ring_commit().
 * On -ENOSPC the batch so far has been published and the producer has
 * asked to be signalled when enough space is free: it must still call
 * kvmbus_ring_commit() (which tells it whether to signal) and then wait.
 *
 * Return: 0; -ENOSPC when the ring is full; -EMSGSIZE when the packet can
 * never fit; -EIO when the ring is broken.
 */
int kvmbus_ring_put(struct kvmbus_ring *r, const struct kvmbus_ring_pkt *p)
{
	u32 len = kvmbus_pkt_ring_len(p->hdr_len, p->data_len);
	u32 off = (u32)kvmbus_align8(sizeof(struct kvmbus_pkt_desc) +
				     p->hdr_len);
	struct kvmbus_pkt_trailer trailer = {};
	struct kvmbus_pkt_desc desc;
	u32 pos = r->wr, total;
	int ret;

	if (r->broken)
		return -EIO;
	if (!len || len > r->size - KVMBUS_RING_GAP)
		return -EMSGSIZE;
	ret = kvmbus_ring_room(r, len);
	if (ret)
		return ret;

	total = len - sizeof(trailer);
	desc = (struct kvmbus_pkt_desc) {
		.type = cpu_to_le16(p->type),
		.flags = cpu_to_le16(p->flags),
		.data_offset = cpu_to_le16(off),
		.total_len = cpu_to_le32(total),
		.data_len = cpu_to_le32(p->data_len),
		.trans_id = cpu_to_le64(p->trans_id),
	};
	trailer.start = cpu_to_le32(pos);

	kvmbus_ring_copy_to(r, pos, &desc, sizeof(desc));
	if (p->hdr_len)
		kvmbus_ring_copy_to(r, (pos + sizeof(desc)) % r->size, p->hdr,
				    p->hdr_len);
	kvmbus_ring_copy_to(r, (pos + sizeof(desc) + p->hdr_len) % r->size,
			    kvmbus_ring_zeroes,
			    off - sizeof(desc) - p->hdr_len);
	if (p->data_len)
		kvmbus_ring_copy_to(r, (pos + off) % r->size, p->data,
				    p->data_len);
	kvmbus_ring_copy_to(r, (pos + off + p->data_len) % r->size,
			    kvmbus_ring_zeroes, total - off - p->data_len);
	kvmbus_ring_copy_to(r, (pos + total) % r->size, &trailer,
			    sizeof(trailer));

	r->wr = kvmbus_ring_advance(pos, len, r->size);
	return 0;
}

/**
 * kvmbus_ring_commit() - publish the batch
 * @r: the ring, producer side
 *
 * One index update for all packets put since the last commit.
 *
 * Return: true if the consumer must be signalled (at most once per batch).
 */
bool kvmbus_ring_commit(struct kvmbus_ring *r)
{
	u32 old = r->wr_pub, rd, mask;
	bool owed = r->signal_owed;

	r->signal_owed = false;
	if (r->broken)
		return false;
	if (r->wr == old)
		return owed;

	/* Pairs with the acquire in kvmbus_ring_load_wr(). */
	virt_store_release(&r->hdr->write_index, cpu_to_le32(r->wr));
	r->wr_pub = r->wr;

	/* Order the publish before the loads of the consumer's state; pairs
	 * with the barrier in kvmbus_ring_unmask() (and the host's twin)
	 * between clearing the mask and the final emptiness check.
	 */
	virt_mb();
	mask = le32_to_cpu(READ_ONCE(r->hdr->interrupt_mask));
	rd = le32_to_cpu(READ_ONCE(r->hdr->read_index));
	return owed || kvmbus_producer_should_signal(old, rd, mask);
}

/**
 * kvmbus_ring_get() - copy out and validate the next packet
 * @r: the ring, consumer side
 * @buf: receives the packet from its descriptor up to its trailer
 * @buflen: bytes at @buf: the largest packet this reader accepts
 * @pi: receives the validated descriptor; the payload is at
 *	@buf + @pi->data_offset
 *
 * The packet is consumed privately; kvmbus_ring_release() hands the space
 * back to the producer.
 *
 * Return: 0; -EAGAIN when the ring is empty; -EIO when the producer broke
 * the protocol (the ring is then broken for good).
 */
int kvmbus_ring_get(struct kvmbus_ring *r, void *buf, u32 buflen,
		    struct kvmbus_pkt_info *pi)
{
	struct kvmbus_pkt_trailer trailer;
	struct kvmbus_pkt_desc desc;
	u32 wr, used;
	int ret;

	if (r->broken)
		return -EIO;
	ret = kvmbus_ring_load_wr(r, &wr);
	if (ret)
		return ret;
	used = kvmbus_ring_used(wr, r->rd, r->size);
	if (!used)
		return -EAGAIN;
	if (used < sizeof(desc) + sizeof(trailer))
		goto broken;

	kvmbus_ring_copy_from(r, r->rd, &desc, sizeof(desc));
	if (kvmbus_pkt_decode(&desc, used, buflen + sizeof(trailer), pi))
		goto broken;
	kvmbus_ring_copy_from(r, r->rd, buf, pi->total_len);
	kvmbus_ring_copy_from(r, (r->rd + pi->total_len) % r->size, &trailer,
			      sizeof(trailer));
	if (le32_to_cpu(trailer.start) != r->rd)
		goto broken;

	r->rd = kvmbus_ring_advance(r->rd, pi->total_len + sizeof(trailer),
				    r->size);
	return 0;

broken:
	r->broken = true;
	return -EIO;
}

/**
 * kvmbus_ring_release() - hand consumed space back to the producer
 * @r: the ring, consumer side
 *
 * One index update for all packets got since the last release.
 *
 * Return: true if the producer waits for exactly this space and must be
 * signalled.
 */
bool kvmbus_ring_release(struct kvmbus_ring *r)
{
	u32 old = r->rd_pub, wr, pending;

	if (r->broken || r->rd == old)
		return false;

	/* Pairs with the acquire in kvmbus_ring_load_rd(): our copies out of
	 * the ring are complete before the producer may overwrite them.
	 */
	virt_store_release(&r->hdr->read_index, cpu_to_le32(r->rd));
	r->rd_pub = r->rd;

	/* Pairs with the barrier in kvmbus_ring_room() between setting
	 * pending_send_sz and re-reading the read index.
	 */
	virt_mb();
	pending = le32_to_cpu(READ_ONCE(r->hdr->pending_send_sz));
	if (!pending || kvmbus_ring_load_wr(r, &wr))
		return false;
	return kvmbus_consumer_should_signal(pending,
					     kvmbus_ring_free(wr, old, r->size),
					     kvmbus_ring_free(wr, r->rd, r->size));
}

/**
 * kvmbus_ring_more() - did packets arrive since the consumer last looked?
 * @r: the ring, consumer side, after kvmbus_ring_release()
 *
 * A producer that committed while we still had our last packets in hand
 * saw our old read index and, rightly, did not signal.  So a consumer
 * about to go idle must look once more after publishing its read index;
 * the full barrier in kvmbus_ring_release() orders that publish before
 * this load (pairing with the barrier in kvmbus_ring_commit()).
 *
 * Return: true if there is more to read (or the ring just broke).
 */
bool kvmbus_ring_more(struct kvmbus_ring *r)
{
	u32 wr;

	if (r->broken)
		return false;
	if (kvmbus_ring_load_wr(r, &wr))
		return true;	/* the next get reports the broken ring */
	return wr != r->rd;
}

/**
 * kvmbus_ring_mask() - ask the producer not to signal: we are polling
 * @r: the ring, consumer side
 */
void kvmbus_ring_mask(struct kvmbus_ring *r)
{
	WRITE_ONCE(r->hdr->interrupt_mask, cpu_to_le32(1));
}

/**
 * kvmbus_ring_unmask() - stop polling, ask for signals again
 * @r: the ring, consumer side
 *
 * Closes the race with a producer that saw the mask and did not signal.
 *
 * Return: true if packets arrived meanwhile: keep polling.
 */
bool kvmbus_ring_unmask(struct kvmbus_ring *r)
{
	u32 wr;

	WRITE_ONCE(r->hdr->interrupt_mask, 0);
	/* Pairs with the barrier in kvmbus_ring_commit() (and the host's
	 * twin) between publishing the write index and loading our mask.
	 */
	virt_mb();
	if (kvmbus_ring_load_wr(r, &wr))
		return true;	/* the next get reports the broken ring */
	return wr != r->rd;
}
