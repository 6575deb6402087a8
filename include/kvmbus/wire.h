/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * kvmbus wire helpers: the pure arithmetic both ends of a ring share.
 *
 * Nothing here touches shared memory.  Callers snapshot the shared values
 * once (READ_ONCE / acquire loads), pass the private copies in, and act on
 * the answer, so a hostile peer can never make a value change between its
 * check and its use.  The same code runs in the guest modules, in kvmbusd,
 * in KUnit and in the userspace unit tests and fuzzers.
 */
#ifndef _KVMBUS_WIRE_H
#define _KVMBUS_WIRE_H

#include "protocol.h"

#define KVMBUS_PKT_ALIGN		8u
#define KVMBUS_RING_GAP			KVMBUS_PKT_ALIGN
/* Largest packet either side accepts, whatever the ring size. */
#define KVMBUS_PKT_MAX_LEN		(1024u * 1024u)

static inline u64 kvmbus_align8(u64 x)
{
	return (x + KVMBUS_PKT_ALIGN - 1) & ~(u64)(KVMBUS_PKT_ALIGN - 1);
}

/**
 * kvmbus_pkt_ring_len() - ring bytes one packet occupies
 * @hdr_len: bytes of type-specific header after the descriptor
 * @data_len: payload bytes
 *
 * Return: descriptor, header, payload and padding plus the trailer, or 0
 * when the packet would exceed %KVMBUS_PKT_MAX_LEN or its payload offset
 * would not fit the descriptor's 16-bit data_offset.
 */
static inline u32 kvmbus_pkt_ring_len(u32 hdr_len, u32 data_len)
{
	u64 off = kvmbus_align8((u64)sizeof(struct kvmbus_pkt_desc) + hdr_len);
	u64 total = kvmbus_align8(off + data_len);

	if (off > 0xffff || total + sizeof(struct kvmbus_pkt_trailer) >
	    KVMBUS_PKT_MAX_LEN)
		return 0;
	return (u32)(total + sizeof(struct kvmbus_pkt_trailer));
}

/**
 * kvmbus_ring_size_ok() - is @size a usable ring data-area size?
 * @size: bytes of the data area
 *
 * Return: true for a whole number of pages, at least one, at most 1 GiB.
 */
static inline bool kvmbus_ring_size_ok(u32 size)
{
	return size >= KVMBUS_PAGE_SIZE && size <= (1u << 30) &&
	       !(size % KVMBUS_PAGE_SIZE);
}

/**
 * kvmbus_ring_index_ok() - may @idx be a read or write index of a ring?
 * @idx: the index as read from shared memory
 * @size: bytes of the data area
 *
 * Return: true when @idx is 8-byte aligned and inside the data area.
 */
static inline bool kvmbus_ring_index_ok(u32 idx, u32 size)
{
	return idx < size && !(idx % KVMBUS_PKT_ALIGN);
}

/**
 * kvmbus_ring_used() - bytes waiting to be read
 * @w: write index
 * @r: read index
 * @size: bytes of the data area
 *
 * Both indices must have passed kvmbus_ring_index_ok().
 *
 * Return: bytes between @r and @w.
 */
static inline u32 kvmbus_ring_used(u32 w, u32 r, u32 size)
{
	return w >= r ? w - r : size - r + w;
}

/**
 * kvmbus_ring_free() - bytes a producer may still write
 * @w: write index
 * @r: read index
 * @size: bytes of the data area
 *
 * The producer never fills the last %KVMBUS_RING_GAP bytes, so a full
 * ring never looks empty.
 *
 * Return: bytes available to the producer.
 */
static inline u32 kvmbus_ring_free(u32 w, u32 r, u32 size)
{
	return size - kvmbus_ring_used(w, r, size) - KVMBUS_RING_GAP;
}

/**
 * kvmbus_ring_advance() - move an index forward with wrap-around
 * @idx: a valid index
 * @len: bytes to move, at most @size
 * @size: bytes of the data area
 *
 * Return: the new index.
 */
static inline u32 kvmbus_ring_advance(u32 idx, u32 len, u32 size)
{
	return len >= size - idx ? len - (size - idx) : idx + len;
}

/**
 * kvmbus_producer_should_signal() - does a finished batch need a doorbell?
 * @old_write: the write index before the batch was published
 * @read_seen: the consumer's read index, loaded after the publish
 * @mask_seen: the consumer's interrupt mask, loaded after the publish
 *
 * Signal only on the empty -> non-empty transition that the consumer can
 * have missed: when it had consumed everything before this batch and has
 * not masked interrupts.  A consumer that is still behind @old_write will
 * find the batch without a signal.  The caller must order its publish of
 * the new write index before both loads with a full barrier, pairing with
 * the consumer's barrier between unmasking and its final emptiness check.
 *
 * Return: true if the consumer must be signalled.
 */
static inline bool kvmbus_producer_should_signal(u32 old_write, u32 read_seen,
						 u32 mask_seen)
{
	return !mask_seen && old_write == read_seen;
}

/**
 * kvmbus_consumer_should_signal() - does freed space wake a producer?
 * @pending: the producer's pending_send_sz, loaded after the read index
 *	was published
 * @free_before: producer-visible free bytes before this read batch
 * @free_after: producer-visible free bytes after it
 *
 * A producer that found the ring full asked for a signal once @pending
 * bytes are free.  Signal only when this batch crossed that line; an
 * earlier batch would already have signalled a smaller crossing, and the
 * producer re-checks the space after setting @pending.
 *
 * Return: true if the producer must be signalled.
 */
static inline bool kvmbus_consumer_should_signal(u32 pending, u32 free_before,
						 u32 free_after)
{
	return pending && free_before < pending && free_after >= pending;
}

/**
 * struct kvmbus_ring_pkt - a packet to send
 * @type: enum kvmbus_pkt_type
 * @flags: KVMBUS_PKT_F_*
 * @trans_id: echoed by the peer in its completion
 * @hdr: type-specific header (a GPA list), or NULL
 * @hdr_len: bytes at @hdr
 * @data: payload
 * @data_len: bytes at @data
 */
struct kvmbus_ring_pkt {
	u16 type;
	u16 flags;
	u64 trans_id;
	const void *hdr;
	u32 hdr_len;
	const void *data;
	u32 data_len;
};

/* A descriptor decoded into CPU order, valid for the ring it came from. */
struct kvmbus_pkt_info {
	u16 type;
	u16 flags;
	u16 data_offset;
	u32 total_len;
	u32 data_len;
	u64 trans_id;
};

/**
 * kvmbus_pkt_decode() - validate a descriptor copied out of a ring
 * @d: the private copy of the descriptor
 * @used: bytes readable in the ring, starting at this descriptor
 * @max_len: largest packet the reader accepts (descriptor to trailer)
 * @pi: filled with the decoded descriptor on success
 *
 * Checks every field against the others and against what is readable,
 * so the caller can copy @pi->total_len + trailer bytes without further
 * checks.  The trailer itself is checked after it has been copied.
 *
 * Return: 0, or -EINVAL for a malformed descriptor and -EMSGSIZE for one
 * larger than @max_len.
 */
static inline int kvmbus_pkt_decode(const struct kvmbus_pkt_desc *d, u32 used,
				    u32 max_len, struct kvmbus_pkt_info *pi)
{
	u16 type = le16_to_cpu(d->type);
	u16 flags = le16_to_cpu(d->flags);
	u16 off = le16_to_cpu(d->data_offset);
	u32 total = le32_to_cpu(d->total_len);
	u32 dlen = le32_to_cpu(d->data_len);
	u64 need;

	if (type < KVMBUS_PKT_INBAND || type > KVMBUS_PKT_COMP)
		return -EINVAL;
	if (flags & ~KVMBUS_PKT_F_ALL)
		return -EINVAL;
	if (off < sizeof(*d) || off % KVMBUS_PKT_ALIGN ||
	    total % KVMBUS_PKT_ALIGN || total < off)
		return -EINVAL;
	if (type == KVMBUS_PKT_GPA &&
	    off < sizeof(*d) + sizeof(struct kvmbus_gpa_list))
		return -EINVAL;
	/* The payload fills the area up to the last 8-byte pad. */
	if (dlen > total - off || total - off - dlen >= KVMBUS_PKT_ALIGN)
		return -EINVAL;
	need = (u64)total + sizeof(struct kvmbus_pkt_trailer);
	if (need > max_len)
		return -EMSGSIZE;
	if (need > used)
		return -EINVAL;

	pi->type = type;
	pi->flags = flags;
	pi->data_offset = off;
	pi->total_len = total;
	pi->data_len = dlen;
	pi->trans_id = le64_to_cpu(d->trans_id);
	return 0;
}

/**
 * kvmbus_gpa_list_decode() - validate the range count of a GPA packet
 * @l: the private copy of the list header
 * @pi: the packet's decoded descriptor
 * @nr: the validated number of ranges on success
 *
 * Return: 0, or -EINVAL when the ranges do not fit the packet header.
 */
static inline int kvmbus_gpa_list_decode(const struct kvmbus_gpa_list *l,
					 const struct kvmbus_pkt_info *pi,
					 u32 *nr)
{
	u32 n = le32_to_cpu(l->nr_ranges);
	u64 end;

	if (pi->type != KVMBUS_PKT_GPA || !n || n > KVMBUS_MAX_GPA_RANGES)
		return -EINVAL;
	end = sizeof(struct kvmbus_pkt_desc) + sizeof(*l) +
	      (u64)n * sizeof(struct kvmbus_gpa_range);
	if (end > pi->data_offset)
		return -EINVAL;
	*nr = n;
	return 0;
}

/**
 * kvmbus_version_pick() - highest version two ranges have in common
 * @a_min: lowest version side A speaks
 * @a_max: highest version side A speaks
 * @b_min: lowest version side B speaks
 * @b_max: highest version side B speaks
 *
 * Return: the highest common version, or 0 when there is none or a range
 * is inverted.
 */
static inline u32 kvmbus_version_pick(u32 a_min, u32 a_max,
				      u32 b_min, u32 b_max)
{
	u32 lo = a_min > b_min ? a_min : b_min;
	u32 hi = a_max < b_max ? a_max : b_max;

	/* An inverted range on either side also ends up with lo > hi. */
	if (!a_min || !b_min || lo > hi)
		return 0;
	return hi;
}

#endif /* _KVMBUS_WIRE_H */
